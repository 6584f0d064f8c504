//! The Loki push API (`POST /loki/api/v1/push`) against the in-memory log store: every
//! body format, Loki's validation rules and answers, the rate limit, store back-pressure.

use std::io::Write;
use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use oxeye_core::logs::{
    Direction, LogAppendStats, LogAppender, LogBatch, LogEntry, LogQueryable, LogSelect,
};
use oxeye_core::logs_mem::MemLogStore;
use oxeye_core::{ManualClock, StoreError, TenantId};

use super::*;
use crate::logs_ingest::LogIngestLimits;
use crate::state::LogStores;

/// 2023-11-14T22:13:20Z, the clock of these tests.
pub(crate) const NOW_MS: i64 = 1_700_000_000_000;
pub(crate) const NOW_NS: i64 = NOW_MS * 1_000_000;

/// A server over `appender` (and a memory store to query) at [`NOW_MS`] under `limits`.
pub(crate) fn log_state_with(
    appender: Arc<dyn LogAppender>,
    queryable: Arc<dyn LogQueryable>,
    limits: LogIngestLimits,
) -> (Arc<ServerState>, ManualClock) {
    let clock = ManualClock::new(NOW_MS);
    let metrics = MemStore::new();
    let s = ServerState::builder(metrics.clone(), metrics)
        .clock(Arc::new(clock.clone()))
        .logs(LogStores {
            appender,
            queryable,
        })
        .log_ingest_limits(limits)
        .build();
    s.set_ready(true);
    (s, clock)
}

pub(crate) fn log_state(
    limits: LogIngestLimits,
) -> (Arc<ServerState>, Arc<MemLogStore>, ManualClock) {
    let store = Arc::new(MemLogStore::new());
    let (s, clock) = log_state_with(store.clone(), store.clone(), limits);
    (s, store, clock)
}

pub(crate) fn tenant(t: &str) -> TenantId {
    TenantId::new(t).unwrap()
}

/// Every stream of `tenant` with its entries, oldest first, as `(labels text, entries)`.
pub(crate) fn stored(store: &MemLogStore, t: &str) -> Vec<(String, Vec<LogEntry>)> {
    let select = LogSelect {
        start_ns: i64::MIN,
        end_ns: i64::MAX,
        line_contains: vec![],
        metadata_equals: Vec::new(),
    };
    store
        .select_logs(&tenant(t), &[], &select)
        .unwrap()
        .into_iter()
        .map(|s| {
            (
                s.labels.to_string(),
                s.data.entries(Direction::Forward).unwrap(),
            )
        })
        .collect()
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

fn entry(offset_ns: i64, line: &str) -> LogEntry {
    LogEntry::new(NOW_NS + offset_ns, line)
}

fn push_req(body: Vec<u8>, ct: &str, encoding: Option<&str>, org: Option<&str>) -> Request<Body> {
    let mut b = Request::post("/loki/api/v1/push").header("content-type", ct);
    if let Some(e) = encoding {
        b = b.header("content-encoding", e);
    }
    if let Some(o) = org {
        b = b.header("x-scope-orgid", o);
    }
    b.body(Body::from(body)).unwrap()
}

/// A protobuf push of raw label texts (sent as written, to exercise the parser).
fn proto_push(streams: &[(&str, Vec<LogEntry>)]) -> Vec<u8> {
    use oxeye_proto::loki::{
        EntryAdapter, LabelPairAdapter, PushRequest, StreamAdapter, Timestamp,
    };
    use prost::Message;
    let req = PushRequest {
        streams: streams
            .iter()
            .map(|(labels, entries)| StreamAdapter {
                labels: labels.to_string(),
                entries: entries
                    .iter()
                    .map(|e| EntryAdapter {
                        timestamp: Some(Timestamp::from_nanos(e.ts_ns)),
                        line: e.line.clone(),
                        structured_metadata: e
                            .metadata
                            .iter()
                            .map(|(n, v)| LabelPairAdapter {
                                name: n.clone(),
                                value: v.clone(),
                            })
                            .collect(),
                    })
                    .collect(),
                hash: 0,
            })
            .collect(),
    };
    oxeye_proto::compression::snappy_block_encode(&req.encode_to_vec())
}

async fn push(s: &Arc<ServerState>, streams: &[(&str, Vec<LogEntry>)]) -> (u16, String) {
    let (code, body, _) = send(
        s,
        push_req(proto_push(streams), "application/x-protobuf", None, None),
    )
    .await;
    (code, body)
}

#[tokio::test]
async fn protobuf_snappy_push_is_stored_for_the_tenant_with_metadata() {
    let (s, store, _) = log_state(LogIngestLimits {
        discover_log_levels: false,
        ..LogIngestLimits::default()
    });
    let mut traced = entry(2, "GET /cart 500");
    traced.metadata = pairs(&[("trace_id", "0af7651916cd43dd8448eb211c80319c")]);
    let body = oxeye_proto::loki::encode_push(&[(
        pairs(&[("app", "shop"), ("env", "prod")]),
        vec![entry(1, "GET /cart 200"), traced.clone()],
    )]);
    let (code, text, _) = send(
        &s,
        push_req(body, "application/x-protobuf", None, Some("team-a")),
    )
    .await;
    assert_eq!(code, 204, "{text}");
    let got = stored(&store, "team-a");
    assert_eq!(got.len(), 1);
    // Loki's service name discovery adds service_name from `app`
    assert_eq!(got[0].0, r#"{app="shop", env="prod", service_name="shop"}"#);
    assert_eq!(got[0].1, vec![entry(1, "GET /cart 200"), traced]);
    assert!(stored(&store, "anonymous").is_empty(), "tenants apart");
}

#[tokio::test]
async fn snappy_content_encoding_and_gzip_protobuf_are_accepted() {
    let (s, store, _) = log_state(LogIngestLimits::default());
    let body = proto_push(&[(r#"{job="a"}"#, vec![entry(1, "one")])]);
    let (code, text, _) = send(
        &s,
        push_req(body.clone(), "application/x-protobuf", Some("snappy"), None),
    )
    .await;
    assert_eq!(code, 204, "{text}");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&proto_push(&[(r#"{job="a"}"#, vec![entry(2, "two")])]))
        .unwrap();
    let (code, text, _) = send(
        &s,
        push_req(
            gz.finish().unwrap(),
            "application/x-protobuf",
            Some("gzip"),
            None,
        ),
    )
    .await;
    assert_eq!(code, 204, "{text}");
    let got = stored(&store, "anonymous");
    let lines: Vec<(i64, &str)> = got[0]
        .1
        .iter()
        .map(|e| (e.ts_ns, e.line.as_str()))
        .collect();
    assert_eq!(lines, [(NOW_NS + 1, "one"), (NOW_NS + 2, "two")]);
}

#[tokio::test]
async fn json_push_plain_gzip_and_deflate() {
    let (s, store, _) = log_state(LogIngestLimits::default());
    let json_body = |ts: i64, line: &str| {
        format!(
            r#"{{"streams":[{{"stream":{{"service_name":"api","level":"error"}},"values":[["{ts}","{line}",{{"trace_id":"t-{line}"}}]]}}]}}"#
        )
        .into_bytes()
    };
    let (code, text, _) = send(
        &s,
        push_req(
            json_body(NOW_NS + 1, "plain"),
            "application/json",
            None,
            None,
        ),
    )
    .await;
    assert_eq!(code, 204, "{text}");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&json_body(NOW_NS + 2, "gz")).unwrap();
    let (code, text, _) = send(
        &s,
        push_req(gz.finish().unwrap(), "application/json", Some("gzip"), None),
    )
    .await;
    assert_eq!(code, 204, "{text}");
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    z.write_all(&json_body(NOW_NS + 3, "deflate")).unwrap();
    let (code, text, _) = send(
        &s,
        push_req(
            z.finish().unwrap(),
            "application/json",
            Some("deflate"),
            None,
        ),
    )
    .await;
    assert_eq!(code, 204, "{text}");
    let got = stored(&store, "anonymous");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, r#"{level="error", service_name="api"}"#);
    let lines: Vec<_> = got[0].1.iter().map(|e| e.line.as_str()).collect();
    assert_eq!(lines, ["plain", "gz", "deflate"]);
    assert_eq!(got[0].1[1].metadata_value("trace_id"), Some("t-gz"));
}

#[tokio::test]
async fn malformed_bodies_are_400_and_store_nothing() {
    let (s, store, _) = log_state(LogIngestLimits::default());
    for (body, ct, enc) in [
        (b"not snappy".to_vec(), "application/x-protobuf", None),
        (b"{\"streams\":[".to_vec(), "application/json", None),
        (
            b"\x1f\x8b garbage".to_vec(),
            "application/json",
            Some("gzip"),
        ),
    ] {
        let (code, text, _) = send(&s, push_req(body, ct, enc, None)).await;
        assert_eq!(code, 400, "{text}");
    }
    let (code, text, _) = send(
        &s,
        push_req(b"{}".to_vec(), "application/json", Some("br"), None),
    )
    .await;
    assert_eq!(code, 400, "{text}");
    assert!(text.contains("unsupported content encoding"), "{text}");
    assert!(stored(&store, "anonymous").is_empty());
}

#[tokio::test]
async fn service_name_discovery_follows_loki_order_and_can_be_turned_off() {
    let (s, store, _) = log_state(LogIngestLimits::default());
    let (code, _) = push(
        &s,
        &[
            (r#"{job="batch", container="worker"}"#, vec![entry(1, "a")]),
            (r#"{host="h1"}"#, vec![entry(1, "b")]),
            (r#"{service_name="given", app="x"}"#, vec![entry(1, "c")]),
        ],
    )
    .await;
    assert_eq!(code, 204);
    let labels: Vec<String> = stored(&store, "anonymous")
        .into_iter()
        .map(|s| s.0)
        .collect();
    assert_eq!(
        labels,
        [
            r#"{app="x", service_name="given"}"#,
            r#"{container="worker", job="batch", service_name="worker"}"#,
            r#"{host="h1", service_name="unknown_service"}"#,
        ]
    );
    let (s, store, _) = log_state(LogIngestLimits {
        discover_service_name: vec![],
        ..LogIngestLimits::default()
    });
    let (code, _) = push(&s, &[(r#"{host="h1"}"#, vec![entry(1, "b")])]).await;
    assert_eq!(code, 204);
    assert_eq!(stored(&store, "anonymous")[0].0, r#"{host="h1"}"#);
}

#[tokio::test]
async fn bad_streams_are_rejected_with_loki_messages_and_the_rest_stored() {
    let limits = LogIngestLimits {
        max_label_names_per_series: 3,
        max_label_name_length: 10,
        max_label_value_length: 8,
        discover_service_name: vec![],
        discover_log_levels: false,
        ..LogIngestLimits::default()
    };
    let (s, store, _) = log_state(limits);
    let (code, body) = push(
        &s,
        &[
            (r#"{app="good"}"#, vec![entry(1, "kept")]),
            ("{}", vec![entry(1, "no labels")]),
            (r#"{a="", b=""}"#, vec![entry(1, "empty values")]),
            (r#"{app="x""#, vec![entry(1, "unparsable")]),
            (
                r#"{a="1", b="2", c="3", d="4"}"#,
                vec![entry(1, "too many")],
            ),
            (
                r#"{averyveryverylongname="1"}"#,
                vec![entry(1, "long name")],
            ),
            (r#"{a="much too long"}"#, vec![entry(1, "long value")]),
            (r#"{a="1", a="2"}"#, vec![entry(1, "dup")]),
        ],
    )
    .await;
    assert_eq!(code, 400, "{body}");
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(
        lines,
        [
            "error at least one label pair is required per stream",
            "error at least one label pair is required per stream",
            r#"Error parsing labels '{app="x"' with error: unexpected end of labels, expected "}" at offset 8"#,
            r#"entry for stream '{a="1", b="2", c="3", d="4"}' has 4 label names; limit 3"#,
            r#"stream '{averyveryverylongname="1"}' has label name too long: 'averyveryverylongname'"#,
            r#"stream '{a="much too long"}' has label value too long: 'much too long'"#,
            r#"stream '{a="1", a="2"}' has duplicate label name: 'a'"#,
        ]
    );
    let got = stored(&store, "anonymous");
    assert_eq!(
        got,
        vec![(r#"{app="good"}"#.to_string(), vec![entry(1, "kept")])]
    );
    let (_, metrics) = get(&s, "/metrics").await;
    for want in [
        r#"oxeye_log_lines_ingested_total{protocol="loki"} 1"#,
        r#"oxeye_log_lines_rejected_total{protocol="loki",reason="missing_labels"} 2"#,
        r#"oxeye_log_lines_rejected_total{protocol="loki",reason="invalid_labels"} 1"#,
        r#"oxeye_log_lines_rejected_total{protocol="loki",reason="max_label_names_per_series"} 1"#,
        r#"oxeye_log_lines_rejected_total{protocol="loki",reason="duplicate_label_names"} 1"#,
        r#"oxeye_log_bytes_ingested_total{protocol="loki"} 4"#,
    ] {
        assert!(metrics.contains(want), "{want} missing from\n{metrics}");
    }
}

#[tokio::test]
async fn bad_entries_are_rejected_one_by_one() {
    let limits = LogIngestLimits {
        max_line_size: 10,
        max_structured_metadata_size: 20,
        max_structured_metadata_entries: 2,
        ..LogIngestLimits::default()
    };
    let (s, store, _) = log_state(limits);
    let week = 7 * 24 * 3600 * 1_000_000_000;
    let mut big_meta = entry(5, "meta big");
    big_meta.metadata = pairs(&[("k", &"v".repeat(30))]);
    let mut many_meta = entry(6, "meta many");
    many_meta.metadata = pairs(&[("a", "1"), ("b", "2"), ("c", "3")]);
    let (code, body) = push(
        &s,
        &[(
            r#"{app="a"}"#,
            vec![
                entry(1, "ok 1"),
                entry(2, "this line is too long"),
                entry(-week - 1_000_000_000, "too old"),
                entry(-week + 1_000_000_000, "old but ok"),
                entry(11 * 60 * 1_000_000_000, "too new"),
                entry(9 * 60 * 1_000_000_000, "soon ok"),
                big_meta,
                many_meta,
            ],
        )],
    )
    .await;
    assert_eq!(code, 400, "{body}");
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(
        lines,
        [
            r#"Max entry size '10' bytes exceeded for stream '{app="a"}' while adding an entry with length '21' bytes"#,
            r#"entry for stream '{app="a"}' has timestamp too old: 2023-11-07T22:13:19Z, oldest acceptable timestamp is: 2023-11-07T22:13:20Z"#,
            r#"entry for stream '{app="a"}' has timestamp too new: 2023-11-14T22:24:20Z"#,
            r#"stream '{app="a"}' has structured metadata too large: '31' bytes, limit: '20' bytes"#,
            r#"stream '{app="a"}' has too many structured metadata labels: '3', limit: '2'"#,
        ]
    );
    let got = stored(&store, "anonymous");
    let lines: Vec<&str> = got[0].1.iter().map(|e| e.line.as_str()).collect();
    assert_eq!(lines, ["old but ok", "ok 1", "soon ok"]);
    let (_, metrics) = get(&s, "/metrics").await;
    for want in [
        r#"oxeye_log_lines_rejected_total{protocol="loki",reason="line_too_long"} 1"#,
        r#"oxeye_log_lines_rejected_total{protocol="loki",reason="greater_than_max_sample_age"} 1"#,
        r#"oxeye_log_lines_rejected_total{protocol="loki",reason="too_far_in_future"} 1"#,
        r#"oxeye_log_bytes_rejected_total{protocol="loki",reason="line_too_long"} 21"#,
    ] {
        assert!(metrics.contains(want), "{want} missing from\n{metrics}");
    }
}

#[tokio::test]
async fn old_samples_pass_when_not_rejected_and_long_lines_truncate_when_asked() {
    let (s, store, _) = log_state(LogIngestLimits {
        reject_old_samples: false,
        max_line_size: 4,
        max_line_size_truncate: true,
        ..LogIngestLimits::default()
    });
    let (code, body) = push(
        &s,
        &[(
            r#"{app="a"}"#,
            vec![LogEntry::new(1, "ancient"), entry(0, "héllo")],
        )],
    )
    .await;
    assert_eq!(code, 204, "{body}");
    let got = stored(&store, "anonymous");
    let lines: Vec<&str> = got[0].1.iter().map(|e| e.line.as_str()).collect();
    // cut at a character boundary: "hé" is 3 bytes, the next char would make 4+
    assert_eq!(lines, ["anci", "hél"]);
}

#[tokio::test]
async fn rate_limit_refuses_whole_pushes_with_retry_after_until_refilled() {
    let (s, store, clock) = log_state(LogIngestLimits {
        ingestion_rate_bytes: 100.0,
        ingestion_burst_bytes: 150.0,
        ..LogIngestLimits::default()
    });
    let line = "x".repeat(100);
    let (code, body) = push(&s, &[(r#"{app="a"}"#, vec![entry(1, &line)])]).await;
    assert_eq!(code, 204, "{body}");
    let (code, body, resp) = send(
        &s,
        push_req(
            proto_push(&[(r#"{app="a"}"#, vec![entry(2, &line)])]),
            "application/x-protobuf",
            None,
            None,
        ),
    )
    .await;
    assert_eq!(code, 429, "{body}");
    assert_eq!(resp.headers()["retry-after"], "1");
    assert_eq!(
        body.trim_end(),
        "Ingestion rate limit exceeded for user anonymous (limit: 100 bytes/sec) while attempting to ingest '1' lines totaling '100' bytes, reduce log volume or contact your Loki administrator to see if the limit can be increased"
    );
    // another tenant has its own bucket
    let (code, text, _) = send(
        &s,
        push_req(
            proto_push(&[(r#"{app="a"}"#, vec![entry(2, &line)])]),
            "application/x-protobuf",
            None,
            Some("other"),
        ),
    )
    .await;
    assert_eq!(code, 204, "{text}");
    clock.advance(1000);
    let (code, body) = push(&s, &[(r#"{app="a"}"#, vec![entry(3, &line)])]).await;
    assert_eq!(code, 204, "{body}");
    assert_eq!(stored(&store, "anonymous")[0].1.len(), 2);
    let (_, metrics) = get(&s, "/metrics").await;
    assert!(
        metrics
            .contains(r#"oxeye_log_lines_rejected_total{protocol="loki",reason="rate_limited"} 1"#),
        "{metrics}"
    );
}

pub(crate) struct FailingLogs(pub fn() -> StoreError);

impl LogAppender for FailingLogs {
    fn append_logs(&self, _: &TenantId, _: LogBatch) -> Result<LogAppendStats, StoreError> {
        Err((self.0)())
    }
}

#[tokio::test]
async fn store_back_pressure_is_retryable_and_no_store_is_503() {
    for (err, want) in [
        (
            (|| StoreError::LimitExceeded("too many streams".into())) as fn() -> StoreError,
            429,
        ),
        (|| StoreError::Unavailable("closing".into()), 503),
    ] {
        let (s, _) = log_state_with(
            Arc::new(FailingLogs(err)),
            Arc::new(MemLogStore::new()),
            LogIngestLimits::default(),
        );
        let (code, body, resp) = send(
            &s,
            push_req(
                proto_push(&[(r#"{app="a"}"#, vec![entry(1, "x")])]),
                "application/x-protobuf",
                None,
                None,
            ),
        )
        .await;
        assert_eq!(code, want, "{body}");
        assert!(resp.headers().contains_key("retry-after"));
    }
    let s = state_with(MemStore::new());
    let (code, body, _) = send(
        &s,
        push_req(
            proto_push(&[(r#"{app="a"}"#, vec![entry(1, "x")])]),
            "application/x-protobuf",
            None,
            None,
        ),
    )
    .await;
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("log storage is not enabled"), "{body}");
}

#[tokio::test]
async fn bad_tenant_is_refused() {
    let (s, _, _) = log_state(LogIngestLimits::default());
    let (code, body, _) = send(
        &s,
        push_req(
            proto_push(&[(r#"{app="a"}"#, vec![entry(1, "x")])]),
            "application/x-protobuf",
            None,
            Some("../etc"),
        ),
    )
    .await;
    assert_eq!(code, 400, "{body}");
}

#[tokio::test]
async fn many_problems_are_listed_up_to_a_bound() {
    let (s, _, _) = log_state(LogIngestLimits::default());
    let entries: Vec<LogEntry> = (0..25).map(|i| LogEntry::new(i, "old")).collect();
    let (code, body) = push(&s, &[(r#"{app="a"}"#, entries)]).await;
    assert_eq!(code, 400);
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(lines.len(), 21, "{body}");
    assert_eq!(lines[20], "and 5 more errors");
}

#[tokio::test]
async fn detected_level_is_added_as_loki_does() {
    let (s, store, _) = log_state(LogIngestLimits::default());
    let mut given = entry(4, "no level words");
    given.metadata = pairs(&[("detected_level", "custom")]);
    let (code, body) = push(
        &s,
        &[
            (
                r#"{app="a"}"#,
                vec![
                    entry(1, r#"{"level":"warning","msg":"x"}"#),
                    entry(2, "GET / 200"),
                    entry(3, "2024-01-01 ERROR boom"),
                    given,
                ],
            ),
            (
                r#"{app="b", level="debug"}"#,
                vec![entry(1, "error in text")],
            ),
        ],
    )
    .await;
    assert_eq!(code, 204, "{body}");
    let got = stored(&store, "anonymous");
    let levels = |i: usize| -> Vec<Option<String>> {
        got[i]
            .1
            .iter()
            .map(|e| e.metadata_value("detected_level").map(str::to_string))
            .collect()
    };
    let some =
        |v: &[&str]| -> Vec<Option<String>> { v.iter().map(|s| Some(s.to_string())).collect() };
    assert_eq!(levels(0), some(&["warn", "unknown", "error", "custom"]));
    assert_eq!(levels(1), some(&["debug"]));
    // a given level is kept, not repeated
    assert_eq!(got[0].1[3].metadata.len(), 1);
}

/// The memory store behind the disk store's batch check: a batch holding a structured
/// metadata pair with an empty name is refused whole.
struct StrictLogs(Arc<MemLogStore>);

impl LogAppender for StrictLogs {
    fn append_logs(&self, t: &TenantId, batch: LogBatch) -> Result<LogAppendStats, StoreError> {
        let empty = batch
            .streams
            .iter()
            .flat_map(|s| &s.entries)
            .any(|e| e.metadata.iter().any(|(n, _)| n.is_empty()));
        if empty {
            return Err(StoreError::InvalidData(
                "entry has structured metadata with an empty name".into(),
            ));
        }
        self.0.append_logs(t, batch)
    }
}

#[tokio::test]
async fn empty_metadata_names_are_dropped_and_valid_lines_stored() {
    let store = Arc::new(MemLogStore::new());
    let (s, _) = log_state_with(
        Arc::new(StrictLogs(store.clone())),
        store.clone(),
        LogIngestLimits::default(),
    );
    let body = format!(
        r#"{{"streams":[{{"stream":{{"app":"a"}},"values":[["{}","odd",{{"":"x","user":"bob"}}]]}},{{"stream":{{"app":"b"}},"values":[["{}","fine"]]}}]}}"#,
        NOW_NS + 1,
        NOW_NS + 2
    );
    let (code, text, _) = send(
        &s,
        push_req(body.into_bytes(), "application/json", None, None),
    )
    .await;
    assert_eq!(code, 204, "{text}");
    let got = stored(&store, "anonymous");
    let lines: Vec<&str> = got
        .iter()
        .flat_map(|(_, es)| es.iter().map(|e| e.line.as_str()))
        .collect();
    assert_eq!(lines, ["odd", "fine"]);
    let odd = &got[0].1[0];
    assert!(odd.metadata.iter().all(|(n, _)| !n.is_empty()), "{odd:?}");
    assert_eq!(odd.metadata_value("user"), Some("bob"));
}

#[tokio::test]
async fn pushed_metadata_names_are_normalised_as_loki_does() {
    let (s, store, _) = log_state(LogIngestLimits::default());
    let body = format!(
        r#"{{"streams":[{{"stream":{{"app":"a"}},"values":[["{}","json",{{"trace.id":"abc","9x":"n","v":"a\ufffdb"}}]]}}]}}"#,
        NOW_NS + 1
    );
    let (code, text, _) = send(
        &s,
        push_req(body.into_bytes(), "application/json", None, None),
    )
    .await;
    assert_eq!(code, 204, "{text}");
    let mut e = entry(2, "proto");
    e.metadata = pairs(&[("http.method", "GET")]);
    let (code, text) = push(&s, &[(r#"{app="a"}"#, vec![e])]).await;
    assert_eq!(code, 204, "{text}");
    let got = stored(&store, "anonymous");
    let entries = &got[0].1;
    assert_eq!(entries[0].metadata_value("trace_id"), Some("abc"));
    assert_eq!(entries[0].metadata_value("trace.id"), None);
    assert_eq!(entries[0].metadata_value("key_9x"), Some("n"));
    assert_eq!(entries[0].metadata_value("v"), Some("ab"));
    assert_eq!(entries[1].metadata_value("http_method"), Some("GET"));
    assert_eq!(entries[1].metadata_value("http.method"), None);
}

#[tokio::test]
async fn streams_without_entries_are_skipped_before_their_labels_are_read() {
    let (s, store, _) = log_state(LogIngestLimits::default());
    let (code, text) = push(
        &s,
        &[
            ("{app=", vec![]),
            ("{}", vec![]),
            (r#"{app="a"}"#, vec![entry(1, "kept")]),
        ],
    )
    .await;
    assert_eq!(code, 204, "{text}");
    let body = r#"{"streams":[{"stream":{"bad-name":"x"},"values":[]}]}"#;
    let (code, text, _) = send(&s, push_req(body.into(), "application/json", None, None)).await;
    assert_eq!(code, 204, "{text}");
    let got = stored(&store, "anonymous");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].1[0].line, "kept");
}

/// A memory store that refuses the next `fail` appends as unavailable.
struct FlakyLogs {
    store: Arc<MemLogStore>,
    fail: std::sync::atomic::AtomicUsize,
}

impl LogAppender for FlakyLogs {
    fn append_logs(&self, t: &TenantId, batch: LogBatch) -> Result<LogAppendStats, StoreError> {
        use std::sync::atomic::Ordering;
        if self
            .fail
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(StoreError::Unavailable("store is closing".into()));
        }
        self.store.append_logs(t, batch)
    }
}

#[tokio::test]
async fn a_push_the_store_refuses_does_not_use_up_the_rate() {
    let store = Arc::new(MemLogStore::new());
    let (s, _) = log_state_with(
        Arc::new(FlakyLogs {
            store: store.clone(),
            fail: 2.into(),
        }),
        store.clone(),
        LogIngestLimits {
            ingestion_rate_bytes: 100.0,
            ingestion_burst_bytes: 150.0,
            ..LogIngestLimits::default()
        },
    );
    let line = "x".repeat(100);
    for _ in 0..2 {
        let (code, body) = push(&s, &[(r#"{app="a"}"#, vec![entry(1, &line)])]).await;
        assert_eq!(code, 503, "{body}");
    }
    // same instant: the refused bytes were given back, so the retry fits
    let (code, body) = push(&s, &[(r#"{app="a"}"#, vec![entry(1, &line)])]).await;
    assert_eq!(code, 204, "{body}");
    assert_eq!(stored(&store, "anonymous")[0].1.len(), 1);
    let (code, body) = push(&s, &[(r#"{app="a"}"#, vec![entry(2, &line)])]).await;
    assert_eq!(code, 429, "{body}");
}
