use oxeye_core::{ManualClock, MetricsAppender, SeriesWrite, TenantId, WriteBatch, stale_nan};

use super::*;
use crate::tests::{MemStore, get, send};

const NOW: i64 = 1_700_000_000_000;

fn series(pairs: &[(&str, &str)], samples: &[(i64, f64)]) -> SeriesWrite {
    SeriesWrite {
        labels: Labels::from_pairs(pairs),
        samples: samples.iter().map(|&(t, v)| Sample::new(t, v)).collect(),
        exemplars: vec![],
    }
}

fn state() -> Arc<ServerState> {
    state_with_lookback(crate::state::QueryLimits::default())
}

fn state_with_lookback(limits: crate::state::QueryLimits) -> Arc<ServerState> {
    let store = MemStore::new();
    let batch = WriteBatch {
        series: vec![
            series(
                &[("__name__", "up"), ("job", "b"), ("instance", "h:1")],
                &[(NOW - 20_000, 0.0), (NOW - 5_000, 1.0)],
            ),
            series(&[("__name__", "up"), ("job", "a")], &[(NOW - 60_000, 1.0)]),
            // too old for the 5m lookback
            series(
                &[("__name__", "up"), ("job", "old")],
                &[(NOW - 301_000, 1.0)],
            ),
            // ended with a staleness marker
            series(
                &[("__name__", "up"), ("job", "gone")],
                &[(NOW - 30_000, 1.0), (NOW - 15_000, stale_nan())],
            ),
            // in the future of the evaluation time
            series(
                &[("__name__", "up"), ("job", "future")],
                &[(NOW + 1_000, 1.0)],
            ),
            series(
                &[("__name__", "http_requests_total"), ("path", "/a\"b\\c\nd")],
                &[(NOW - 1_000, 1234567.0)],
            ),
            series(
                &[("__name__", "aaa"), ("x", "1")],
                &[(NOW - 1_000, 0.000012)],
            ),
        ],
        metadata: vec![],
    };
    store
        .append(&TenantId::new("anonymous").unwrap(), batch)
        .unwrap();
    store
        .append(
            &TenantId::new("other").unwrap(),
            WriteBatch {
                series: vec![series(&[("__name__", "up"), ("job", "o")], &[(NOW, 7.0)])],
                metadata: vec![],
            },
        )
        .unwrap();
    let s = ServerState::builder(store.clone(), store)
        .clock(Arc::new(ManualClock::new(NOW)))
        .query_limits(limits)
        .build();
    s.set_ready(true);
    s
}

#[tokio::test]
async fn newest_sample_per_series_in_text_format() {
    let st = state();
    let (code, body, resp) = send(
        &st,
        axum::http::Request::get("/federate?match[]=up&match[]=%7B__name__%3D~%22a.%2B%7Chttp.%2B%22%7D&match[]=up%7Bjob%3D%22a%22%7D")
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    // families by name; within a family, series in label order (as Prometheus's merged
    // series set yields them)
    assert_eq!(
        resp.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let want = format!(
        "# TYPE aaa untyped\n\
         aaa{{x=\"1\",instance=\"\"}} 1.2e-05 {t1}\n\
         # TYPE http_requests_total untyped\n\
         http_requests_total{{path=\"/a\\\"b\\\\c\\nd\",instance=\"\"}} 1.234567e+06 {t1}\n\
         # TYPE up untyped\n\
         up{{instance=\"h:1\",job=\"b\"}} 1 {t5}\n\
         up{{job=\"a\",instance=\"\"}} 1 {t60}\n",
        t1 = NOW - 1_000,
        t60 = NOW - 60_000,
        t5 = NOW - 5_000,
    );
    assert_eq!(body, want);
}

#[tokio::test]
async fn selectors_errors_and_tenants() {
    let st = state();
    // no match[] selects nothing
    let (code, body) = get(&st, "/federate").await;
    assert_eq!((code, body.as_str()), (200, ""));
    let (code, body) = get(&st, "/federate?match[]=%7Bjob%3D~%22.*%22%7D").await;
    assert_eq!(code, 400);
    assert!(body.contains("at least one non-empty matcher"), "{body}");
    let (code, _) = get(&st, "/federate?match[]=up%7B").await;
    assert_eq!(code, 400);

    let req = axum::http::Request::get("/federate?match[]=up")
        .header("x-scope-orgid", "other")
        .body(axum::body::Body::empty())
        .unwrap();
    let (code, body, _) = send(&st, req).await;
    assert_eq!(code, 200);
    assert_eq!(
        body,
        format!("# TYPE up untyped\nup{{job=\"o\",instance=\"\"}} 7 {NOW}\n")
    );
}

#[tokio::test]
async fn gzip_when_accepted() {
    use std::io::Read;
    let st = state();
    let plain = get(&st, "/federate?match[]=up").await.1;
    let req = axum::http::Request::get("/federate?match[]=up")
        .header("accept-encoding", "gzip")
        .body(axum::body::Body::empty())
        .unwrap();
    let resp = tower::ServiceExt::oneshot(crate::router(st.clone()), req)
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-encoding"], "gzip");
    let bytes = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .unwrap()
        .to_bytes();
    let mut text = String::new();
    flate2::read::GzDecoder::new(&bytes[..])
        .read_to_string(&mut text)
        .unwrap();
    assert_eq!(text, plain);
    assert!(plain.contains("up{job=\"a\",instance=\"\"} 1"), "{plain}");
}

#[tokio::test]
async fn the_lookback_delta_bounds_the_newest_sample() {
    let st = state_with_lookback(crate::state::QueryLimits {
        lookback_delta_ms: 30_000,
        ..Default::default()
    });
    let (code, body) = get(&st, "/federate?match[]=up").await;
    assert_eq!(code, 200);
    // job="a" last wrote 60s ago, beyond a 30s lookback
    assert_eq!(
        body,
        format!(
            "# TYPE up untyped\nup{{instance=\"h:1\",job=\"b\"}} 1 {}\n",
            NOW - 5_000
        )
    );
}

#[test]
fn floats_as_go_formats_them() {
    let cases = [
        (1.0, "1"),
        (-1.0, "-1"),
        (0.0, "0"),
        (-0.0, "0"),
        (0.5, "0.5"),
        (123.456, "123.456"),
        (100000.0, "100000"),
        (1e6, "1e+06"),
        (1234567.0, "1.234567e+06"),
        (0.0001, "0.0001"),
        (0.00001234, "1.234e-05"),
        (1e21, "1e+21"),
        (1.5e300, "1.5e+300"),
        (5e-324, "5e-324"),
        (f64::INFINITY, "+Inf"),
        (f64::NEG_INFINITY, "-Inf"),
        (f64::NAN, "NaN"),
        (-2.5e-7, "-2.5e-07"),
        (999999.0, "999999"),
    ];
    for (v, want) in cases {
        let mut s = String::new();
        push_go_float(&mut s, v);
        assert_eq!(s, want, "{v:e}");
    }
}
