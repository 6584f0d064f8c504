//! The dashboards API over a temporary directory.

use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use serde_json::{Value, json};

use crate::ServerState;
use crate::tests::{MemStore, json as parse, send};

fn state(dir: &std::path::Path) -> Arc<ServerState> {
    let store = Arc::new(MemStore::default());
    let s = ServerState::builder(store.clone(), store)
        .dashboards_dir(dir.to_path_buf())
        .build();
    s.set_ready(true);
    s
}

async fn call(
    s: &Arc<ServerState>,
    method: &str,
    uri: &str,
    tenant: Option<&str>,
    body: Option<String>,
) -> (u16, Value) {
    let mut b = Request::builder().method(method).uri(uri);
    if let Some(t) = tenant {
        b = b.header("X-Scope-OrgID", t);
    }
    let req = b
        .body(body.map(Body::from).unwrap_or_else(Body::empty))
        .unwrap();
    let (code, text, _) = send(s, req).await;
    (code, parse(&text))
}

fn dash(uid: &str, title: &str) -> Value {
    json!({
        "uid": uid,
        "title": title,
        "tags": ["web"],
        "time": {"from": "now-1h", "to": "now"},
        "panels": [
            {"id": 1, "type": "timeseries", "title": "Rate", "gridPos": {"x": 0, "y": 0, "w": 12, "h": 8},
             "targets": [{"refId": "A", "expr": "sum(rate(x[5m]))", "datasource": {"type": "prometheus"}}]},
            {"type": "stat", "title": "Up", "targets": [{"expr": "up"}]}
        ]
    })
}

#[tokio::test]
async fn create_read_list_replace_delete() {
    let dir = tempfile::tempdir().unwrap();
    let s = state(dir.path());
    let (code, v) = call(
        &s,
        "PUT",
        "/api/v1/dashboards/web-1",
        Some("acme"),
        Some(dash("web-1", "Web").to_string()),
    )
    .await;
    assert_eq!(code, 200, "{v}");
    // the panel without an id gets the next free one, missing sections are filled in
    assert_eq!(v["data"]["dashboard"]["panels"][1]["id"], 2);
    assert_eq!(v["data"]["dashboard"]["templating"], json!({"list": []}));
    let file = dir.path().join("acme").join("web-1.json");
    let on_disk: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(on_disk, v["data"]["dashboard"]);
    // no temporary file is left behind
    assert_eq!(
        std::fs::read_dir(dir.path().join("acme")).unwrap().count(),
        1
    );

    let (code, got) = call(&s, "GET", "/api/v1/dashboards/web-1", Some("acme"), None).await;
    assert_eq!(code, 200);
    assert_eq!(got["data"]["dashboard"], on_disk);
    assert_eq!(got["data"]["builtin"], false);

    // the uid may be left out of the body; the path names it
    let mut d = dash("web-1", "Web renamed");
    d.as_object_mut().unwrap().remove("uid");
    let (code, _) = call(
        &s,
        "PUT",
        "/api/v1/dashboards/web-1",
        Some("acme"),
        Some(d.to_string()),
    )
    .await;
    assert_eq!(code, 200);
    call(
        &s,
        "PUT",
        "/api/v1/dashboards/a-first",
        Some("acme"),
        Some(dash("a-first", "Alpha").to_string()),
    )
    .await;

    let (code, list) = call(&s, "GET", "/api/v1/dashboards", Some("acme"), None).await;
    assert_eq!(code, 200);
    insta::assert_json_snapshot!("dashboards_list", list);

    let (code, v) = call(&s, "DELETE", "/api/v1/dashboards/web-1", Some("acme"), None).await;
    assert_eq!(code, 200, "{v}");
    assert!(!file.exists());
    let (code, v) = call(&s, "GET", "/api/v1/dashboards/web-1", Some("acme"), None).await;
    assert_eq!(
        (code, v["error"].as_str()),
        (404, Some("dashboard \"web-1\" not found"))
    );
    let (code, _) = call(&s, "DELETE", "/api/v1/dashboards/web-1", Some("acme"), None).await;
    assert_eq!(code, 404);
}

#[tokio::test]
async fn tenants_do_not_see_each_others_dashboards() {
    let dir = tempfile::tempdir().unwrap();
    let s = state(dir.path());
    call(
        &s,
        "PUT",
        "/api/v1/dashboards/mine",
        Some("team-a"),
        Some(dash("mine", "A's").to_string()),
    )
    .await;
    let (code, _) = call(&s, "GET", "/api/v1/dashboards/mine", Some("team-b"), None).await;
    assert_eq!(code, 404);
    let (code, _) = call(&s, "GET", "/api/v1/dashboards/mine", None, None).await;
    assert_eq!(code, 404, "the default tenant is a tenant of its own");
    let (_, list) = call(&s, "GET", "/api/v1/dashboards", Some("team-b"), None).await;
    let uids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["uid"].as_str().unwrap())
        .collect();
    assert_eq!(uids, ["oxeye-health", "service-red"]);
    let (code, _) = call(
        &s,
        "DELETE",
        "/api/v1/dashboards/mine",
        Some("team-b"),
        None,
    )
    .await;
    assert_eq!(code, 404);
    let (code, _) = call(&s, "GET", "/api/v1/dashboards/mine", Some("team-a"), None).await;
    assert_eq!(code, 200);
    let (code, v) = call(&s, "GET", "/api/v1/dashboards", Some("bad/tenant"), None).await;
    assert_eq!(code, 400, "{v}");
    assert_eq!(v["status"], "error");
}

#[tokio::test]
async fn invalid_dashboards_are_refused_with_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let s = state(dir.path());
    let long = "x".repeat(41);
    let cases: Vec<(&str, String, &str)> = vec![
        ("bad.uid", dash("bad.uid", "x").to_string(), "invalid dashboard uid \"bad.uid\": character '.' is not one of [A-Za-z0-9_-]"),
        (long.as_str(), "{}".into(), "must be 1 to 40 characters"),
        ("import", dash("import", "x").to_string(), "the name is reserved"),
        ("u1", json!({"uid": "u1", "title": "  "}).to_string(), "dashboard title is required"),
        ("u1", json!({"uid": "other", "title": "t"}).to_string(), "dashboard uid \"other\" in the body differs from \"u1\" in the path"),
        ("u1", json!({"title": "t", "panels": [{"type": "heatmap"}]}).to_string(), "panel 0: unknown panel type \"heatmap\" (known: timeseries, stat, gauge, bar, table, logs, traces)"),
        ("u1", json!({"title": "t", "panels": [{"type": "stat", "gridPos": {"x": 30, "w": 4}}]}).to_string(), "panel 0: gridPos must fit 24 columns"),
        ("u1", json!({"title": "t", "panels": [{"type": "stat", "targets": [{"expr": "up", "datasource": {"type": "influxdb"}}]}]}).to_string(), "panel 0 target 0: unknown datasource type \"influxdb\""),
        ("u1", json!({"title": "t", "templating": {"list": [{"name": "a b", "type": "custom"}]}}).to_string(), "variable 0: name \"a b\" must be non-empty letters, digits or _"),
        ("u1", json!({"title": "t", "templating": {"list": [{"name": "v", "type": "adhoc"}]}}).to_string(), "variable \"v\": unknown type \"adhoc\""),
        ("u1", "[1, 2]".into(), "dashboard must be a JSON object"),
        ("u1", "{\"title\": ".into(), "dashboard body is not valid JSON"),
    ];
    for (uid, body, want) in cases {
        let (code, v) = call(
            &s,
            "PUT",
            &format!("/api/v1/dashboards/{uid}"),
            None,
            Some(body.clone()),
        )
        .await;
        assert_eq!(code, 400, "{uid} {body}: {v}");
        assert_eq!(v["errorType"], "bad_data");
        let msg = v["error"].as_str().unwrap();
        assert!(msg.contains(want), "{body}: got {msg:?}, want {want:?}");
    }
    // nothing was written
    assert!(!dir.path().join("anonymous").join("u1.json").exists());
    let big = format!("{{\"title\": \"{}\"}}", "x".repeat(super::MAX_BODY_BYTES));
    let (code, v) = call(&s, "PUT", "/api/v1/dashboards/big", None, Some(big)).await;
    assert_eq!(code, 413, "{v}");
}

#[tokio::test]
async fn builtins_are_listed_served_and_read_only() {
    let dir = tempfile::tempdir().unwrap();
    let s = state(dir.path());
    for uid in ["oxeye-health", "service-red"] {
        let (code, v) = call(&s, "GET", &format!("/api/v1/dashboards/{uid}"), None, None).await;
        assert_eq!(code, 200);
        assert_eq!(v["data"]["builtin"], true);
        // a built-in passes the same validation as a stored dashboard
        let d = v["data"]["dashboard"].clone();
        let normalised = super::model::validate(uid, d.clone()).unwrap();
        assert_eq!(normalised, d, "{uid} is stored normalised");
        let (code, v) = call(
            &s,
            "DELETE",
            &format!("/api/v1/dashboards/{uid}"),
            None,
            None,
        )
        .await;
        assert_eq!(code, 405);
        assert_eq!(
            v["error"],
            format!("dashboard \"{uid}\" is built in and cannot be deleted")
        );
        let (code, _) = call(
            &s,
            "PUT",
            &format!("/api/v1/dashboards/{uid}"),
            None,
            Some(d.to_string()),
        )
        .await;
        assert_eq!(code, 405);
    }
    let (_, v) = call(&s, "GET", "/api/v1/dashboards/service-red", None, None).await;
    let red = v["data"]["dashboard"].to_string();
    for needle in [
        "traces_spanmetrics_calls_total",
        "traces_spanmetrics_latency_bucket",
        "traces_service_graph_request_failed_total",
        "label_values(traces_spanmetrics_calls_total, service)",
        "histogram_quantile(0.99",
    ] {
        assert!(red.contains(needle), "service RED uses {needle}");
    }
    // without a directory only the built-ins are served
    let store = Arc::new(MemStore::default());
    let bare = ServerState::builder(store.clone(), store).build();
    let (code, v) = call(&bare, "GET", "/api/v1/dashboards", None, None).await;
    assert_eq!((code, v["data"].as_array().unwrap().len()), (200, 2));
    let (code, _) = call(&bare, "GET", "/api/v1/dashboards/nope", None, None).await;
    assert_eq!(code, 404);
    let (code, _) = call(
        &bare,
        "PUT",
        "/api/v1/dashboards/nope",
        None,
        Some(dash("nope", "n").to_string()),
    )
    .await;
    assert_eq!(code, 503);
}

const EXPORT: &str = include_str!("testdata/grafana-export.json");

#[tokio::test]
async fn grafana_export_is_imported_with_what_was_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let s = state(dir.path());
    let (code, v) = call(
        &s,
        "POST",
        "/api/v1/dashboards/import",
        Some("acme"),
        Some(EXPORT.into()),
    )
    .await;
    assert_eq!(code, 200, "{v}");
    insta::assert_json_snapshot!("grafana_import", v);
    let d = &v["data"]["dashboard"];
    let types: Vec<&str> = d["panels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["type"].as_str().unwrap())
        .collect();
    // graph → timeseries, the row's children kept, singlestat → stat, bargauge → bar
    assert_eq!(
        types,
        [
            "timeseries",
            "timeseries",
            "stat",
            "bar",
            "logs",
            "timeseries"
        ]
    );
    let dropped: Vec<&str> = v["data"]["dropped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    assert_eq!(
        dropped,
        [
            "variable \"ds\": unsupported variable type \"datasource\"",
            "panel \"Latency (old graph)\" target B: unsupported datasource type \"elasticsearch\"",
            "panel \"Heat\": unsupported panel type \"heatmap\"",
        ]
    );
    // mixed panel: one target by its input, one by its shape
    let mixed = &d["panels"][5]["targets"];
    assert_eq!(mixed[0]["datasource"]["type"], "loki");
    assert_eq!(mixed[1]["datasource"]["type"], "prometheus");
    // stored, and listed for the tenant
    let (code, got) = call(&s, "GET", "/api/v1/dashboards/http-svc", Some("acme"), None).await;
    assert_eq!(code, 200);
    assert_eq!(&got["data"]["dashboard"], d);

    // wrapped as Grafana's API answers it, without uid: a uid from the title
    let mut g: Value = serde_json::from_str(EXPORT).unwrap();
    g.as_object_mut().unwrap().remove("uid");
    g["title"] = json!("Wrapped: HTTP / v2");
    let wrapped = json!({"dashboard": g, "meta": {"slug": "x"}});
    let (code, v) = call(
        &s,
        "POST",
        "/api/v1/dashboards/import",
        Some("acme"),
        Some(wrapped.to_string()),
    )
    .await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["data"]["dashboard"]["uid"], "wrapped-http-v2");

    // an import over a built-in is refused
    let over = json!({"uid": "service-red", "title": "mine"});
    let (code, _) = call(
        &s,
        "POST",
        "/api/v1/dashboards/import",
        Some("acme"),
        Some(over.to_string()),
    )
    .await;
    assert_eq!(code, 405);
    let (code, v) = call(
        &s,
        "POST",
        "/api/v1/dashboards/import",
        Some("acme"),
        Some("\"x\"".into()),
    )
    .await;
    assert_eq!(
        (code, v["error"].as_str()),
        (400, Some("grafana dashboard must be a JSON object"))
    );
}

#[test]
fn legacy_rows_get_grid_positions() {
    let g = json!({
        "title": "old",
        "rows": [
            {"height": "300px", "panels": [
                {"type": "graph", "span": 6, "title": "a", "targets": [{"expr": "up"}]},
                {"type": "singlestat", "span": 6, "title": "b", "targets": [{"expr": "up"}]}]},
            {"panels": [{"type": "table", "span": 12, "title": "c"}]}
        ]
    });
    let got = super::import::import(g).unwrap();
    let pos: Vec<Value> = got.dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["gridPos"].clone())
        .collect();
    assert_eq!(
        pos,
        [
            json!({"x": 0, "y": 0, "w": 12, "h": 10}),
            json!({"x": 12, "y": 0, "w": 12, "h": 10}),
            json!({"x": 0, "y": 10, "w": 24, "h": 8}),
        ]
    );
    assert!(got.dropped.is_empty());
}

#[test]
fn logql_and_promql_targets_are_told_apart_by_shape() {
    for (expr, want) in [
        ("sum(rate(x[5m]))", "prometheus"),
        ("up{job!=\"a\"}", "prometheus"),
        ("{job=\"a\"} |= \"x\"", "loki"),
        ("rate({job=\"a\"} | logfmt [1m])", "loki"),
    ] {
        let g =
            json!({"title": "t", "panels": [{"type": "timeseries", "targets": [{"expr": expr}]}]});
        let got = super::import::import(g).unwrap();
        assert_eq!(
            got.dashboard["panels"][0]["targets"][0]["datasource"]["type"], want,
            "{expr}"
        );
    }
}

#[test]
fn a_panels_minimum_interval_survives_import() {
    let g = json!({"title": "t", "panels": [
        {"type": "timeseries", "interval": "1m", "targets": [{"expr": "rate(x[$__rate_interval])"}]},
        {"type": "stat", "targets": [{"expr": "x"}]}
    ]});
    let got = super::import::import(g).unwrap();
    assert_eq!(got.dashboard["panels"][0]["interval"], "1m");
    assert!(got.dashboard["panels"][1].get("interval").is_none());
}
