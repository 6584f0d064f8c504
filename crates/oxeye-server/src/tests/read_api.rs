//! Read APIs, tenancy and operational endpoints through the router.

use axum::body::Body;
use axum::http::Request;
use oxeye_core::{Labels, MetricsAppender, Sample, SeriesWrite, TenantId, WriteBatch};

use super::*;

fn seed(store: &MemStore, tenant: &str, series: &[(&[(&str, &str)], &[(i64, f64)])]) {
    let batch = WriteBatch {
        series: series
            .iter()
            .map(|(l, s)| SeriesWrite {
                labels: Labels::from_pairs(l),
                samples: s.iter().map(|(t, v)| Sample::new(*t, *v)).collect(),
                exemplars: Vec::new(),
            })
            .collect(),
        metadata: Vec::new(),
    };
    store
        .append(&TenantId::new(tenant).unwrap(), batch)
        .unwrap();
}

fn seeded() -> Arc<ServerState> {
    let store = MemStore::new();
    seed(
        &store,
        "anonymous",
        &[
            (
                &[("__name__", "up"), ("job", "node"), ("instance", "a:9100")],
                &[(1_000, 1.0), (2_000, 0.0)],
            ),
            (
                &[("__name__", "up"), ("job", "prom"), ("instance", "b:9090")],
                &[(1_000, 1.0)],
            ),
            (
                &[("__name__", "node_load1"), ("job", "node")],
                &[(5_000, 0.25), (6_000, oxeye_core::stale_nan())],
            ),
        ],
    );
    seed(
        &store,
        "team-b",
        &[(&[("__name__", "secret"), ("job", "b")], &[(1_000, 7.0)])],
    );
    state_with(store)
}

#[tokio::test]
async fn series_by_selector_and_time() {
    let s = seeded();
    let (code, body) = get(&s, "/api/v1/series?match[]=up").await;
    assert_eq!(code, 200, "{body}");
    let v = json(&body);
    assert_eq!(v["status"], "success");
    assert_eq!(
        v["data"],
        serde_json::json!([
            {"__name__": "up", "instance": "a:9100", "job": "node"},
            {"__name__": "up", "instance": "b:9090", "job": "prom"},
        ])
    );
    // only the node series has a sample at t=2s
    let (_, body) = get(&s, "/api/v1/series?match[]=up&start=1.5&end=3").await;
    assert_eq!(json(&body)["data"].as_array().unwrap().len(), 1);
    // several selectors are unioned without duplicates
    let (_, body) = get(
        &s,
        "/api/v1/series?match[]=%7Bjob%3D%22node%22%7D&match[]=%7B__name__%3D~%22node_.*%22%7D",
    )
    .await;
    assert_eq!(json(&body)["data"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn series_post_form_and_limit() {
    let s = seeded();
    let req = Request::post("/api/v1/series")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from("match[]=up&limit=1"))
        .unwrap();
    let (code, body, _) = send(&s, req).await;
    assert_eq!(code, 200, "{body}");
    let v = json(&body);
    assert_eq!(v["data"].as_array().unwrap().len(), 1);
    assert_eq!(v["warnings"][0], "results truncated due to limit");
}

#[tokio::test]
async fn read_errors_are_prometheus_json() {
    let s = seeded();
    for (uri, needle) in [
        ("/api/v1/series", "no match[] parameter provided"),
        ("/api/v1/series?match[]=up%7B", "missing '}'"),
        (
            "/api/v1/series?match[]=%7Ba%3D%22%22%7D",
            "non-empty matcher",
        ),
        (
            "/api/v1/series?match[]=up&start=soon",
            "invalid parameter \"start\"",
        ),
        ("/api/v1/labels?limit=x", "invalid parameter \"limit\""),
        ("/api/v1/export", "no match[] parameter provided"),
    ] {
        let (code, body) = get(&s, uri).await;
        assert_eq!(code, 400, "{uri}: {body}");
        let v = json(&body);
        assert_eq!(v["status"], "error", "{uri}");
        assert_eq!(v["errorType"], "bad_data", "{uri}");
        assert!(
            v["error"].as_str().unwrap().contains(needle),
            "{uri}: {body}"
        );
    }
}

#[tokio::test]
async fn labels_and_values() {
    let s = seeded();
    let (_, body) = get(&s, "/api/v1/labels").await;
    assert_eq!(
        json(&body)["data"],
        serde_json::json!(["__name__", "instance", "job"])
    );
    let (_, body) = get(&s, "/api/v1/labels?match[]=node_load1").await;
    assert_eq!(json(&body)["data"], serde_json::json!(["__name__", "job"]));
    let (_, body) = get(&s, "/api/v1/label/__name__/values").await;
    assert_eq!(json(&body)["data"], serde_json::json!(["node_load1", "up"]));
    let (_, body) = get(
        &s,
        "/api/v1/label/instance/values?match[]=up%7Bjob%3D%22prom%22%7D",
    )
    .await;
    assert_eq!(json(&body)["data"], serde_json::json!(["b:9090"]));
    let (_, body) = get(&s, "/api/v1/label/nothing/values").await;
    assert_eq!(json(&body)["data"], serde_json::json!([]));
}

#[tokio::test]
async fn export_json_lines() {
    let s = seeded();
    let (code, body, resp) = send(
        &s,
        Request::get("/api/v1/export?match[]=%7Bjob%3D%22node%22%7D")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        resp.headers()["content-type"],
        "application/stream+json; charset=utf-8"
    );
    // staleness markers are not exported
    assert_eq!(
        body,
        concat!(
            r#"{"metric":{"__name__":"node_load1","job":"node"},"values":[0.25],"timestamps":[5000]}"#,
            "\n",
            r#"{"metric":{"__name__":"up","instance":"a:9100","job":"node"},"values":[1,0],"timestamps":[1000,2000]}"#,
            "\n"
        )
    );
    let (_, body) = get(&s, "/api/v1/export?match[]=up&start=1.5&end=2").await;
    assert_eq!(
        body,
        "{\"metric\":{\"__name__\":\"up\",\"instance\":\"a:9100\",\"job\":\"node\"},\"values\":[0],\"timestamps\":[2000]}\n"
    );
}

#[tokio::test]
async fn tenants_are_isolated() {
    let s = seeded();
    let req = |t: &str| {
        Request::get("/api/v1/label/__name__/values")
            .header("X-Scope-OrgID", t)
            .body(Body::empty())
            .unwrap()
    };
    let (_, body, _) = send(&s, req("team-b")).await;
    assert_eq!(json(&body)["data"], serde_json::json!(["secret"]));
    let (_, body, _) = send(&s, req("nobody")).await;
    assert_eq!(json(&body)["data"], serde_json::json!([]));
    let (_, body) = get(&s, "/api/v1/label/__name__/values").await;
    assert!(!body.contains("secret"), "{body}");
    let (code, body, _) = send(&s, req("a/b")).await;
    assert_eq!(code, 400);
    assert!(
        json(&body)["error"]
            .as_str()
            .unwrap()
            .contains("invalid X-Scope-OrgID header: tenant id contains unsupported character '/'"),
        "{body}"
    );
}

#[tokio::test]
async fn health_ready_and_metrics() {
    let store = MemStore::new();
    let s = ServerState::builder(store.clone(), store).build();
    assert_eq!(get(&s, "/-/healthy").await.0, 200);
    assert_eq!(get(&s, "/-/ready").await.0, 503);
    s.set_ready(true);
    assert_eq!(get(&s, "/-/ready").await.0, 200);
    let (code, body) = get(&s, "/metrics").await;
    assert_eq!(code, 200);
    assert!(body.contains("oxeye_build_info"), "{body}");
    // earlier requests are counted by route
    assert!(
        body.contains(r#"oxeye_http_requests_total{handler="/-/ready",code="503"} 1"#),
        "{body}"
    );
    let (_, body, resp) = send(
        &s,
        Request::get("/metrics")
            .header("accept", "application/openmetrics-text;version=1.0.0")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    assert!(body.ends_with("# EOF\n"));
}

#[tokio::test]
async fn buildinfo_targets_and_flush() {
    let store = MemStore::new();
    let flushes = store.clone();
    let counter = store.clone();
    let s = ServerState::builder(store.clone(), store)
        .flush(Arc::new(move || {
            flushes
                .flushes
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(())
        }))
        .targets(Arc::new(|| crate::TargetsSnapshot {
            active_targets: vec![crate::ActiveTarget {
                discovered_labels: Default::default(),
                labels: [("job".to_string(), "oxeye".to_string())].into(),
                scrape_pool: "oxeye".into(),
                scrape_url: "http://127.0.0.1:9700/metrics".into(),
                global_url: "http://127.0.0.1:9700/metrics".into(),
                last_error: String::new(),
                last_scrape: "2026-01-01T00:00:00.000Z".into(),
                last_scrape_duration: 0.01,
                health: "up".into(),
                scrape_interval: "15s".into(),
                scrape_timeout: "10s".into(),
            }],
            dropped_targets: vec![],
        }))
        .build();
    let (code, body) = get(&s, "/api/v1/status/buildinfo").await;
    assert_eq!(code, 200);
    assert_eq!(json(&body)["data"]["version"], env!("CARGO_PKG_VERSION"));
    let (_, body) = get(&s, "/api/v1/targets").await;
    let v = json(&body);
    assert_eq!(v["data"]["activeTargets"][0]["scrapePool"], "oxeye");
    assert_eq!(v["data"]["activeTargets"][0]["health"], "up");
    assert_eq!(v["data"]["droppedTargets"], serde_json::json!([]));
    let (code, _, _) = send(
        &s,
        Request::post("/api/v1/admin/tsdb/flush")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(code, 204);
    assert_eq!(counter.flushes.load(std::sync::atomic::Ordering::SeqCst), 1);
}
