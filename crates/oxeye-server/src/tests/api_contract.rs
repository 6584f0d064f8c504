//! API contract: every Prometheus API endpoint's success and error bodies, with status
//! codes, pinned as JSON snapshots (`snapshots/`). Volatile fields (times measured at
//! request time, the working directory, thread counts) are replaced by placeholders
//! before snapshotting; everything else is exactly what a client receives.

use std::collections::HashMap;
use std::time::Duration;

use axum::http::header;
use oxeye_core::{
    Exemplar, Labels, ManualClock, MetricMetadata, MetricType, MetricsAppender, Sample,
    SeriesWrite, TenantId, WriteBatch,
};
use serde_json::{Value as Json, json};

use super::*;
use crate::state::{ActiveTarget, DroppedTarget, QueryLimits, StoreStatus, TargetsSnapshot};

/// The manual clock's time: 2023-11-14T22:13:20Z.
const NOW_MS: i64 = 1_700_000_000_000;

fn series(l: &[(&str, &str)], s: &[(i64, f64)]) -> SeriesWrite {
    SeriesWrite {
        labels: Labels::from_pairs(l),
        samples: s.iter().map(|(t, v)| Sample::new(*t, *v)).collect(),
        exemplars: Vec::new(),
    }
}

fn seeded_store() -> Arc<MemStore> {
    let store = MemStore::new();
    let mut bucket = series(
        &[
            ("__name__", "latency_bucket"),
            ("job", "api"),
            ("le", "0.5"),
        ],
        &[(0, 1.0), (60_000, 4.0)],
    );
    bucket.exemplars = vec![
        Exemplar {
            labels: Labels::from_pairs(&[("trace_id", "abc123")]),
            t: 30_500,
            v: 0.25,
        },
        Exemplar {
            labels: Labels::from_pairs(&[("trace_id", "def456")]),
            t: 90_000,
            v: 0.4,
        },
    ];
    let batch = WriteBatch {
        series: vec![
            series(
                &[("__name__", "reqs"), ("job", "api"), ("instance", "a")],
                &[(0, 0.0), (60_000, 60.0), (120_000, 120.0)],
            ),
            series(
                &[("__name__", "reqs"), ("job", "web"), ("instance", "a")],
                &[(0, 5.0), (60_000, 6.0), (120_000, 7.0)],
            ),
            series(
                &[("__name__", "errs"), ("job", "api"), ("instance", "a")],
                &[(0, 0.0), (60_000, 1.0), (120_000, 2.0)],
            ),
            bucket,
        ],
        metadata: vec![
            MetricMetadata {
                metric_family: "reqs".into(),
                metric_type: MetricType::Counter,
                help: "Requests served.".into(),
                unit: String::new(),
            },
            MetricMetadata {
                metric_family: "errs".into(),
                metric_type: MetricType::Counter,
                help: "Requests failed.".into(),
                unit: String::new(),
            },
        ],
    };
    store
        .append(&TenantId::new("anonymous").unwrap(), batch)
        .unwrap();
    store
}

fn targets() -> TargetsSnapshot {
    let map = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let active = |job: &str, url: &str| ActiveTarget {
        discovered_labels: map(&[("__address__", url), ("job", job)]),
        labels: map(&[("instance", url), ("job", job)]),
        scrape_pool: job.into(),
        scrape_url: format!("http://{url}/metrics"),
        global_url: format!("http://{url}/metrics"),
        last_error: String::new(),
        last_scrape: "2023-11-14T22:13:10.000Z".into(),
        last_scrape_duration: 0.012,
        health: "up".into(),
        scrape_interval: "15s".into(),
        scrape_timeout: "10s".into(),
    };
    TargetsSnapshot {
        active_targets: vec![active("web", "10.0.0.2:80"), active("api", "10.0.0.1:80")],
        dropped_targets: vec![DroppedTarget {
            discovered_labels: map(&[("__address__", "10.0.0.9:80"), ("job", "api")]),
        }],
    }
}

fn state_with_limits(limits: QueryLimits) -> Arc<ServerState> {
    let store = seeded_store();
    let s = ServerState::builder(store.clone(), store)
        .clock(Arc::new(ManualClock::new(NOW_MS)))
        .query_limits(limits)
        .targets(Arc::new(targets))
        .config_text(Arc::new(|| "global:\n  scrape_interval: 15s\n".to_string()))
        .flags(vec![
            ("query.timeout".into(), "2m".into()),
            ("query.max-samples".into(), "50000000".into()),
        ])
        .storage_retention("15d")
        .store_status(Arc::new(|_| StoreStatus {
            corruption_count: 0,
            head_min_t: Some(0),
            head_max_t: Some(120_000),
        }))
        .build();
    s.set_ready(true);
    s
}

fn state() -> Arc<ServerState> {
    state_with_limits(QueryLimits::default())
}

/// Replaces the values at these JSON pointers with a placeholder.
fn redact(mut v: Json, pointers: &[&str]) -> Json {
    for p in pointers {
        if let Some(x) = v.pointer_mut(p) {
            *x = Json::String("[redacted]".into());
        }
    }
    v
}

/// Status code and body of a GET.
async fn call(s: &Arc<ServerState>, uri: &str) -> Json {
    let (code, body) = get(s, uri).await;
    json!({"code": code, "body": json(&body)})
}

/// Status code and body of a form POST.
async fn post_form(s: &Arc<ServerState>, uri: &str, form: &str) -> Json {
    let req = Request::post(uri)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form.to_string()))
        .unwrap();
    let (code, body, _) = send(s, req).await;
    json!({"code": code, "body": json(&body)})
}

/// Status code and body of a GET as a tenant.
async fn call_as(s: &Arc<ServerState>, tenant: &str, uri: &str) -> Json {
    let req = Request::get(uri)
        .header("X-Scope-OrgID", tenant)
        .body(Body::empty())
        .unwrap();
    let (code, body, _) = send(s, req).await;
    json!({"code": code, "body": json(&body)})
}

macro_rules! snap {
    ($name:expr, $value:expr) => {
        insta::assert_json_snapshot!($name, $value)
    };
}

#[tokio::test]
async fn instant_queries() {
    let s = state();
    snap!(
        "query_vector",
        call(&s, "/api/v1/query?query=reqs&time=120").await
    );
    snap!(
        "query_scalar_rfc3339",
        call(&s, "/api/v1/query?query=1%2B1&time=1970-01-01T00:00:04.5Z").await
    );
    snap!(
        "query_string",
        call(&s, "/api/v1/query?query=%22hi%22&time=4").await
    );
    snap!(
        "query_matrix",
        call(&s, "/api/v1/query?query=errs%5B2m%5D&time=120").await
    );
    // Grafana's health check, as a form POST; unknown parameters are ignored
    snap!(
        "query_post_form",
        post_form(&s, "/api/v1/query", "query=1%2B1&time=4&foo=bar").await
    );
    snap!(
        "query_limit_truncates",
        call(&s, "/api/v1/query?query=reqs&time=120&limit=1").await
    );
    // the sample at 120s is within the default 5m lookback of 200s, not within 30s
    let default = call(&s, "/api/v1/query?query=reqs&time=200").await;
    assert_eq!(
        default["body"]["data"]["result"].as_array().unwrap().len(),
        2
    );
    snap!(
        "query_lookback_delta",
        call(&s, "/api/v1/query?query=reqs&time=200&lookback_delta=30s").await
    );
    let stats = call(&s, "/api/v1/query?query=reqs&time=120&stats=true").await;
    snap!(
        "query_stats",
        redact(
            stats,
            &[
                "/body/data/stats/timings/evalTotalTime",
                "/body/data/stats/timings/execQueueTime",
                "/body/data/stats/timings/execTotalTime",
            ]
        )
    );
    snap!(
        "query_stats_deprecated_value",
        redact(
            call(&s, "/api/v1/query?query=1&time=1&stats=yes").await,
            &[
                "/body/data/stats/timings/evalTotalTime",
                "/body/data/stats/timings/execQueueTime",
                "/body/data/stats/timings/execTotalTime",
            ]
        )
    );
}

#[tokio::test]
async fn instant_query_errors() {
    let s = state();
    snap!(
        "query_err_parse",
        call(&s, "/api/v1/query?query=sum(&time=1").await
    );
    snap!("query_err_empty", call(&s, "/api/v1/query").await);
    snap!(
        "query_err_unknown_function",
        call(&s, "/api/v1/query?query=nosuchfunc(reqs)&time=1").await
    );
    snap!(
        "query_err_bad_time",
        call(&s, "/api/v1/query?query=reqs&time=yesterday").await
    );
    snap!(
        "query_err_bad_limit",
        call(&s, "/api/v1/query?query=reqs&limit=-1").await
    );
    snap!(
        "query_err_bad_timeout",
        call(&s, "/api/v1/query?query=reqs&timeout=soon").await
    );
    snap!(
        "query_err_bad_lookback_delta",
        call(&s, "/api/v1/query?query=reqs&lookback_delta=x").await
    );
    snap!(
        "query_err_duplicate_labelset",
        call(
            &s,
            "/api/v1/query?query=rate(%7B__name__%3D~%22reqs%7Cerrs%22%2Cjob%3D%22api%22%7D%5B5m%5D)&time=120"
        )
        .await
    );
}

#[tokio::test]
async fn range_queries() {
    let s = state();
    snap!(
        "query_range_matrix",
        call(
            &s,
            "/api/v1/query_range?query=rate(reqs%5B2m%5D)&start=60&end=120&step=1m"
        )
        .await
    );
    snap!(
        "query_range_post_float_step",
        post_form(
            &s,
            "/api/v1/query_range",
            "query=errs&start=1970-01-01T00:01:00Z&end=120&step=30"
        )
        .await
    );
    for (name, uri) in [
        (
            "query_range_err_bad_start",
            "/api/v1/query_range?query=reqs&start=x&end=60&step=15",
        ),
        (
            "query_range_err_missing_end",
            "/api/v1/query_range?query=reqs&start=0&step=15",
        ),
        (
            "query_range_err_end_before_start",
            "/api/v1/query_range?query=reqs&start=60&end=0&step=15",
        ),
        (
            "query_range_err_bad_step",
            "/api/v1/query_range?query=reqs&start=0&end=60&step=fast",
        ),
        (
            "query_range_err_zero_step",
            "/api/v1/query_range?query=reqs&start=0&end=60&step=0",
        ),
        (
            "query_range_err_too_many_points",
            "/api/v1/query_range?query=reqs&start=0&end=100000&step=1",
        ),
        (
            "query_range_err_range_vector",
            "/api/v1/query_range?query=reqs%5B1m%5D&start=0&end=60&step=15",
        ),
        (
            "query_range_err_parse",
            "/api/v1/query_range?query=rate(reqs&start=0&end=60&step=15",
        ),
    ] {
        snap!(name, call(&s, uri).await);
    }
}

#[tokio::test]
async fn query_protections() {
    let s = state_with_limits(QueryLimits {
        max_samples: 2,
        ..QueryLimits::default()
    });
    snap!(
        "query_err_too_many_samples",
        call(&s, "/api/v1/query_range?query=reqs&start=0&end=120&step=15").await
    );
    // every slot taken: a query waits until its timeout, then fails as Prometheus does
    let s = state_with_limits(QueryLimits {
        max_concurrency: 1,
        ..QueryLimits::default()
    });
    let held = s.query_slots.clone().acquire_owned().await.unwrap();
    let started = std::time::Instant::now();
    snap!(
        "query_err_queue_timeout",
        call(&s, "/api/v1/query?query=reqs&time=120&timeout=0.05").await
    );
    assert!(started.elapsed() >= Duration::from_millis(50));
    drop(held);
    let (code, _) = get(&s, "/api/v1/query?query=reqs&time=120&timeout=1").await;
    assert_eq!(code, 200, "a freed slot serves the next query");
}

#[tokio::test]
async fn exemplars_and_format_query() {
    let s = state();
    snap!(
        "exemplars",
        call(
            &s,
            "/api/v1/query_exemplars?query=histogram_quantile(0.9%2Crate(latency_bucket%5B5m%5D))&start=0&end=60"
        )
        .await
    );
    // Grafana's probe sends milliseconds; Prometheus reads them as seconds and answers
    snap!(
        "exemplars_grafana_probe",
        call(
            &s,
            "/api/v1/query_exemplars?query=test&start=1700000000000&end=1700000600000"
        )
        .await
    );
    snap!(
        "exemplars_no_selector",
        call(&s, "/api/v1/query_exemplars?query=1%2B1").await
    );
    snap!(
        "exemplars_err_parse",
        call(&s, "/api/v1/query_exemplars?query=rate(").await
    );
    snap!(
        "exemplars_err_end_before_start",
        call(&s, "/api/v1/query_exemplars?query=up&start=10&end=1").await
    );
    snap!(
        "exemplars_err_bad_time",
        call(&s, "/api/v1/query_exemplars?query=up&start=x").await
    );
    snap!(
        "format_query",
        call(
            &s,
            "/api/v1/format_query?query=sum%20by(job)(rate(reqs%7Bjob%3D%22api%22%7D%5B5m%5D))"
        )
        .await
    );
    snap!(
        "format_query_err",
        call(&s, "/api/v1/format_query?query=sum(").await
    );
}

#[tokio::test]
async fn status_endpoints() {
    let s = state();
    snap!(
        "buildinfo",
        redact(
            call(&s, "/api/v1/status/buildinfo").await,
            &["/body/data/version"]
        )
    );
    snap!("config", call(&s, "/api/v1/status/config").await);
    snap!("flags", call(&s, "/api/v1/status/flags").await);
    snap!(
        "runtimeinfo",
        redact(
            call(&s, "/api/v1/status/runtimeinfo").await,
            &[
                "/body/data/CWD",
                "/body/data/hostname",
                "/body/data/goroutineCount",
                "/body/data/GOMAXPROCS",
            ]
        )
    );
    snap!("tsdb", call(&s, "/api/v1/status/tsdb").await);
    snap!("tsdb_limit", call(&s, "/api/v1/status/tsdb?limit=1").await);
    snap!(
        "tsdb_err_limit",
        call(&s, "/api/v1/status/tsdb?limit=0").await
    );
    snap!(
        "tsdb_err_limit_too_large",
        call(&s, "/api/v1/status/tsdb?limit=10001").await
    );
    snap!(
        "tsdb_other_tenant",
        call_as(&s, "team-b", "/api/v1/status/tsdb").await
    );
    snap!("targets", call(&s, "/api/v1/targets").await);
    snap!(
        "targets_dropped",
        call(&s, "/api/v1/targets?state=Dropped").await
    );
    snap!(
        "targets_pool",
        call(&s, "/api/v1/targets?state=active&scrapePool=web").await
    );
    snap!("unknown_endpoint", call(&s, "/api/v1/nope").await);
}

#[tokio::test]
async fn metadata_and_label_endpoints() {
    let s = state();
    for (name, uri) in [
        ("series", "/api/v1/series?match[]=reqs&start=0&end=120"),
        (
            "series_limit",
            "/api/v1/series?match[]=reqs&match[]=errs&limit=2",
        ),
        ("series_err_no_match", "/api/v1/series"),
        ("series_err_bad_match", "/api/v1/series?match[]=reqs%7B"),
        (
            "series_err_empty_matcher",
            "/api/v1/series?match[]=%7Bjob%3D%22%22%7D",
        ),
        (
            "series_err_bad_start",
            "/api/v1/series?match[]=reqs&start=x",
        ),
        (
            "series_end_before_start",
            "/api/v1/series?match[]=reqs&start=10&end=1",
        ),
        ("labels", "/api/v1/labels"),
        ("labels_match_limit", "/api/v1/labels?match[]=errs&limit=2"),
        ("labels_err_limit", "/api/v1/labels?limit=x"),
        ("label_values", "/api/v1/label/job/values"),
        (
            "label_values_match",
            "/api/v1/label/__name__/values?match[]=%7Bjob%3D%22web%22%7D",
        ),
        ("label_values_limit", "/api/v1/label/job/values?limit=1"),
        (
            "label_values_utf8_escaped",
            "/api/v1/label/U__jo_62_/values",
        ),
        ("metadata", "/api/v1/metadata"),
        ("metadata_metric", "/api/v1/metadata?metric=errs"),
        ("metadata_limit", "/api/v1/metadata?limit=1"),
        ("metadata_limit_zero", "/api/v1/metadata?limit=0"),
        ("metadata_err_limit", "/api/v1/metadata?limit=x"),
        (
            "metadata_err_limit_per_metric",
            "/api/v1/metadata?limit_per_metric=x",
        ),
    ] {
        snap!(name, call(&s, uri).await);
    }
}

#[tokio::test]
async fn tenants_on_every_query_endpoint() {
    let s = state();
    for uri in [
        "/api/v1/query?query=reqs&time=120",
        "/api/v1/query_range?query=reqs&start=0&end=120&step=60",
        "/api/v1/query_exemplars?query=latency_bucket&start=0&end=60",
        "/api/v1/series?match[]=reqs",
        "/api/v1/labels",
        "/api/v1/status/tsdb",
    ] {
        let v = call_as(&s, "team-b", uri).await;
        assert_eq!(v["code"], 200, "{uri}: {v}");
        let data = &v["body"]["data"];
        let empty = data.as_array().is_some_and(|a| a.is_empty())
            || data["result"].as_array().is_some_and(|a| a.is_empty())
            || data["headStats"]["numSeries"] == 0;
        assert!(empty, "{uri} leaked another tenant's data: {v}");
        let bad = call_as(&s, "bad/tenant", uri).await;
        assert_eq!(bad["code"], 400, "{uri}: {bad}");
        assert_eq!(bad["body"]["errorType"], "bad_data", "{uri}");
    }
    snap!(
        "bad_tenant",
        call_as(&s, "bad/tenant", "/api/v1/query?query=1").await
    );
}
