use std::time::Duration;

use axum::http::Request;
use http_body_util::BodyExt;
use oxeye_core::{MetricsAppender, Sample, SeriesWrite, WriteBatch, stale_nan};
use oxeye_proto::remote_read::decode_xor_chunk;
use tower::ServiceExt;

use super::*;
use crate::tests::{MemStore, send};
use crate::{ServerState, router};

fn series(pairs: &[(&str, &str)], samples: Vec<Sample>) -> SeriesWrite {
    SeriesWrite {
        labels: oxeye_core::Labels::from_pairs(pairs),
        samples,
        exemplars: vec![],
    }
}

fn ramp(n: usize, step: i64) -> Vec<Sample> {
    (0..n as i64)
        .map(|i| Sample::new(1_000 + i * step, i as f64 * 0.5))
        .collect()
}

fn store_with(tenant: &str, batch: WriteBatch) -> Arc<MemStore> {
    let store = MemStore::new();
    store
        .append(&TenantId::new(tenant).unwrap(), batch)
        .unwrap();
    store
}

fn demo_store() -> Arc<MemStore> {
    let mut stale = ramp(5, 1000);
    stale.push(Sample::new(9_000, stale_nan()));
    store_with(
        "anonymous",
        WriteBatch {
            series: vec![
                series(&[("__name__", "up"), ("job", "a")], ramp(300, 1000)),
                series(&[("__name__", "up"), ("job", "b")], stale),
                series(&[("__name__", "other"), ("job", "a")], ramp(3, 1000)),
            ],
            metadata: vec![],
        },
    )
}

fn state(store: Arc<MemStore>, limits: RemoteReadLimits) -> Arc<ServerState> {
    let s = ServerState::builder(store.clone(), store)
        .remote_read_limits(limits)
        .build();
    s.set_ready(true);
    s
}

fn eq(name: &str, value: &str) -> pb::LabelMatcher {
    pb::LabelMatcher {
        r#type: pb::MatcherType::Eq as i32,
        name: name.into(),
        value: value.into(),
    }
}

fn query(start: i64, end: i64, matchers: Vec<pb::LabelMatcher>) -> pb::Query {
    pb::Query {
        start_timestamp_ms: start,
        end_timestamp_ms: end,
        matchers,
        hints: None,
    }
}

fn request(queries: Vec<pb::Query>, types: &[pb::ResponseType]) -> Request<Body> {
    let req = pb::ReadRequest {
        queries,
        accepted_response_types: types.iter().map(|t| *t as i32).collect(),
    };
    Request::post("/api/v1/read")
        .header("content-type", "application/x-protobuf")
        .header("content-encoding", "snappy")
        .body(Body::from(rr::encode_read_request(&req)))
        .unwrap()
}

async fn raw(state: &Arc<ServerState>, req: Request<Body>) -> (u16, HeaderMap, Vec<u8>) {
    let resp = router(state.clone()).oneshot(req).await.unwrap();
    let (parts, body) = resp.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes().to_vec();
    (parts.status.as_u16(), parts.headers, bytes)
}

fn bits(s: &[Sample]) -> Vec<(i64, u64)> {
    s.iter().map(|x| (x.t, x.v.to_bits())).collect()
}

fn pb_bits(s: &[pb::Sample]) -> Vec<(i64, u64)> {
    s.iter().map(|x| (x.timestamp, x.value.to_bits())).collect()
}

#[tokio::test]
async fn sampled_answers_raw_samples_per_query() {
    let st = state(demo_store(), RemoteReadLimits::default());
    let (code, headers, body) = raw(
        &st,
        request(
            vec![
                query(2_000, 10_000, vec![eq("__name__", "up")]),
                query(0, 1_000_000, vec![eq("job", "nope")]),
            ],
            &[],
        ),
    )
    .await;
    assert_eq!(code, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(headers["content-type"], "application/x-protobuf");
    assert_eq!(headers["content-encoding"], "snappy");
    let resp = rr::decode_read_response(&body, 1 << 30).unwrap();
    assert_eq!(resp.results.len(), 2);
    assert!(resp.results[1].timeseries.is_empty());
    let ts = &resp.results[0].timeseries;
    assert_eq!(ts.len(), 2);
    assert_eq!(ts[0].labels[1].value, "a");
    let want: Vec<Sample> = ramp(300, 1000)
        .into_iter()
        .filter(|s| (2_000..=10_000).contains(&s.t))
        .collect();
    assert_eq!(pb_bits(&ts[0].samples), bits(&want));
    // staleness markers travel bit-exactly, as Prometheus sends them
    let last = ts[1].samples.last().unwrap();
    assert_eq!(last.value.to_bits(), oxeye_core::STALE_NAN_BITS);
}

#[tokio::test]
async fn streamed_answers_framed_xor_chunks() {
    let st = state(demo_store(), RemoteReadLimits::default());
    let (code, headers, body) = raw(
        &st,
        request(
            vec![
                query(0, 1_000_000, vec![eq("job", "a")]),
                query(0, 1_000_000, vec![eq("__name__", "up"), eq("job", "b")]),
            ],
            &[
                pb::ResponseType::StreamedXorChunks,
                pb::ResponseType::Samples,
            ],
        ),
    )
    .await;
    assert_eq!(code, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(
        headers["content-type"],
        "application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse"
    );
    assert!(headers.get("content-encoding").is_none());
    let frames = rr::decode_chunked_responses(&body, 1 << 20).unwrap();
    // one frame per series, series in label order, queries in request order
    let seen: Vec<(i64, String)> = frames
        .iter()
        .map(|f| {
            assert_eq!(f.chunked_series.len(), 1);
            let l = &f.chunked_series[0].labels;
            (f.query_index, format!("{}/{}", l[0].value, l[1].value))
        })
        .collect();
    assert_eq!(
        seen,
        [
            (0, "other/a".into()),
            (0, "up/a".into()),
            (1, "up/b".into())
        ]
    );
    let up_a = &frames[1].chunked_series[0];
    assert_eq!(up_a.chunks.len(), 3, "300 samples in chunks of 120");
    let mut got = Vec::new();
    for c in &up_a.chunks {
        let s = decode_xor_chunk(&c.data).unwrap();
        assert!(s.len() <= 120);
        assert_eq!((c.min_time_ms, c.max_time_ms), (s[0].t, s[s.len() - 1].t));
        got.extend(s);
    }
    assert_eq!(bits(&got), bits(&ramp(300, 1000)));
    let up_b = decode_xor_chunk(&frames[2].chunked_series[0].chunks[0].data).unwrap();
    assert_eq!(up_b.last().unwrap().v.to_bits(), oxeye_core::STALE_NAN_BITS);
}

#[tokio::test]
async fn small_frame_budget_splits_a_series_over_frames() {
    let limits = RemoteReadLimits {
        max_bytes_in_frame: 100,
        ..RemoteReadLimits::default()
    };
    let st = state(demo_store(), limits);
    let (code, _, body) = raw(
        &st,
        request(
            vec![query(
                0,
                1_000_000,
                vec![eq("__name__", "up"), eq("job", "a")],
            )],
            &[pb::ResponseType::StreamedXorChunks],
        ),
    )
    .await;
    assert_eq!(code, 200);
    let frames = rr::decode_chunked_responses(&body, 1 << 20).unwrap();
    assert_eq!(frames.len(), 3);
    assert!(frames.iter().all(|f| f.chunked_series[0].chunks.len() == 1));
}

#[tokio::test]
async fn sample_limit_applies_to_sampled_answers_only() {
    let limits = RemoteReadLimits {
        sample_limit: 100,
        ..RemoteReadLimits::default()
    };
    let st = state(demo_store(), limits);
    let q = || vec![query(0, 1_000_000, vec![eq("__name__", "up")])];
    let (code, headers, body) = raw(&st, request(q(), &[])).await;
    assert_eq!(code, 400);
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    assert_eq!(
        String::from_utf8_lossy(&body),
        "exceeded sample limit (100)\n"
    );
    let (code, _, _) = raw(&st, request(q(), &[pb::ResponseType::StreamedXorChunks])).await;
    assert_eq!(code, 200);
    // under the limit is fine
    let small = vec![query(0, 1_000_000, vec![eq("__name__", "other")])];
    assert_eq!(raw(&st, request(small, &[])).await.0, 200);
}

#[tokio::test]
async fn bad_requests_answer_400_in_plain_text() {
    let st = state(demo_store(), RemoteReadLimits::default());
    let garbage = Request::post("/api/v1/read")
        .body(Body::from("not snappy at all"))
        .unwrap();
    let (code, body, _) = send(&st, garbage).await;
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("snappy"), "{body}");

    let mut q = query(0, 10, vec![eq("__name__", "up")]);
    q.matchers[0].r#type = 7;
    let (code, body, _) = send(&st, request(vec![q], &[])).await;
    assert_eq!(
        (code, body.as_str()),
        (400, "invalid matcher type 7 for label \"__name__\"\n")
    );

    let mut q = query(0, 10, vec![eq("__name__", "up")]);
    q.matchers[0].r#type = pb::MatcherType::Re as i32;
    q.matchers[0].value = "(unclosed".into();
    let (code, _, _) = send(&st, request(vec![q], &[])).await;
    assert_eq!(code, 400);

    let req = pb::ReadRequest {
        queries: vec![query(0, 10, vec![eq("__name__", "up")])],
        accepted_response_types: vec![5],
    };
    let http = Request::post("/api/v1/read")
        .body(Body::from(rr::encode_read_request(&req)))
        .unwrap();
    let (code, body, _) = send(&st, http).await;
    assert_eq!(code, 400);
    assert!(
        body.starts_with("server does not support any of the requested response types: [5]"),
        "{body}"
    );
}

#[tokio::test]
async fn tenants_see_only_their_data() {
    let store = demo_store();
    store
        .append(
            &TenantId::new("team-b").unwrap(),
            WriteBatch {
                series: vec![series(&[("__name__", "up"), ("job", "z")], ramp(2, 10))],
                metadata: vec![],
            },
        )
        .unwrap();
    let st = state(store, RemoteReadLimits::default());
    let q = || vec![query(0, 1_000_000, vec![eq("__name__", "up")])];
    let mut req = request(q(), &[]);
    req.headers_mut()
        .insert("x-scope-orgid", HeaderValue::from_static("team-b"));
    let (code, _, body) = raw(&st, req).await;
    assert_eq!(code, 200);
    let resp = rr::decode_read_response(&body, 1 << 30).unwrap();
    let jobs: Vec<&str> = resp.results[0]
        .timeseries
        .iter()
        .map(|t| t.labels[1].value.as_str())
        .collect();
    assert_eq!(jobs, ["z"]);

    let mut req = request(q(), &[]);
    req.headers_mut()
        .insert("x-scope-orgid", HeaderValue::from_static("bad/tenant"));
    let (code, body, _) = send(&st, req).await;
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("X-Scope-OrgID"), "{body}");
}

#[tokio::test]
async fn concurrency_limit_queues_requests() {
    // enough frames (well over the channel's few 64 KiB batches) that the producer of
    // an unread streamed answer blocks, holding its slot
    let many: Vec<SeriesWrite> = (0..2000)
        .map(|i| {
            let job = format!("j{i:04}");
            series(
                &[("__name__", "up"), ("job", job.as_str())],
                ramp(120, 1000),
            )
        })
        .collect();
    let store = store_with(
        "anonymous",
        WriteBatch {
            series: many,
            metadata: vec![],
        },
    );
    let limits = RemoteReadLimits {
        concurrent_limit: 1,
        ..RemoteReadLimits::default()
    };
    let st = state(store, limits);
    let q = || vec![query(0, 1_000_000, vec![eq("__name__", "up")])];
    let first = router(st.clone())
        .oneshot(request(q(), &[pb::ResponseType::StreamedXorChunks]))
        .await
        .unwrap();
    assert_eq!(first.status(), 200);
    // the first answer is not read yet: its slot is taken, the second request waits
    let second =
        tokio::time::timeout(Duration::from_millis(300), raw(&st, request(q(), &[]))).await;
    assert!(second.is_err(), "second request was not queued");
    let first_body = first.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(
        rr::decode_chunked_responses(&first_body, 1 << 20)
            .unwrap()
            .len(),
        2000
    );
    let (code, _, _) = tokio::time::timeout(Duration::from_secs(5), raw(&st, request(q(), &[])))
        .await
        .expect("slot was not released");
    assert_eq!(code, 200);
}
