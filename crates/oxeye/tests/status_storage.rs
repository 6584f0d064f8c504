//! `/api/v1/status/storage` and `/api/v1/status/tenants` over the real stores: each
//! tenant's figures equal what was written to it, tenants stay apart, and a flush moves
//! the metrics figures from the head to a block.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::harness::Server;

async fn post(client: &reqwest::Client, url: String, tenant: &str, ct: &str, body: String) {
    let r = client
        .post(url)
        .header("X-Scope-OrgID", tenant)
        .header("Content-Type", ct)
        .body(body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
}

async fn get(client: &reqwest::Client, url: String) -> Value {
    let r = client.get(url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    serde_json::from_slice(&r.bytes().await.unwrap()).unwrap()
}

fn tenant<'a>(storage: &'a Value, name: &str) -> &'a Value {
    storage["data"]["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tenant"] == name)
        .unwrap_or_else(|| panic!("tenant {name} missing: {storage}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_figures_per_tenant_equal_what_was_written() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), Some("scrape_configs: []\n")).await;
    let client = reqwest::Client::new();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;

    // team-a: 5 series of 4 samples and 2 log streams of 3 lines; team-b: 2 series of 1
    // sample and one trace of 3 spans
    let mut a = String::new();
    for s in 0..5 {
        for i in 0..4 {
            a.push_str(&format!(
                "m_a{{s=\"{s}\"}} {i} {}\n",
                now - 30_000 + i * 10_000
            ));
        }
    }
    let import = format!("{}/api/v1/import/prometheus", server.http);
    post(&client, import.clone(), "team-a", "text/plain", a).await;
    post(
        &client,
        import,
        "team-b",
        "text/plain",
        format!("m_b{{x=\"1\"}} 1 {now}\nm_b{{x=\"2\"}} 2 {now}\n"),
    )
    .await;
    let ns = now * 1_000_000;
    let streams: Vec<Value> = ["api", "db"]
        .iter()
        .map(|app| {
            serde_json::json!({"stream": {"app": app},
                "values": (0..3).map(|i| [(ns + i).to_string(), format!("{app} line {i}")]).collect::<Vec<_>>()})
        })
        .collect();
    post(
        &client,
        format!("{}/loki/api/v1/push", server.http),
        "team-a",
        "application/json",
        serde_json::json!({ "streams": streams }).to_string(),
    )
    .await;
    let spans: Vec<Value> = (0..3)
        .map(|i| {
            serde_json::json!({"traceId": "0af7651916cd43dd8448eb211c80319c",
                "spanId": format!("b7ad6b71692033{i:02}"), "name": format!("op{i}"), "kind": 2,
                "startTimeUnixNano": (ns + i).to_string(), "endTimeUnixNano": (ns + 1_000_000).to_string()})
        })
        .collect();
    post(
        &client,
        format!("{}/v1/traces", server.otlp_http),
        "team-b",
        "application/json",
        serde_json::json!({"resourceSpans": [{"resource": {"attributes": [
            {"key": "service.name", "value": {"stringValue": "svc"}}]},
            "scopeSpans": [{"spans": spans}]}]})
        .to_string(),
    )
    .await;

    let storage = get(&client, format!("{}/api/v1/status/storage", server.http)).await;
    assert_eq!(storage["status"], "success");
    let names: Vec<&str> = storage["data"]["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["tenant"].as_str().unwrap())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "tenants come sorted");
    let ta = tenant(&storage, "team-a");
    assert_eq!(ta["metrics"]["head_series"], 5);
    assert_eq!(ta["metrics"]["head_samples"], 20);
    assert_eq!(ta["metrics"]["samples_appended"], 20);
    assert_eq!(ta["metrics"]["head_min_time"], now - 30_000);
    assert_eq!(ta["metrics"]["head_max_time"], now);
    assert_eq!(ta["logs"]["streams"], 2);
    assert_eq!(ta["logs"]["entries_ingested"], 6);
    assert!(ta["traces"].is_null(), "team-a wrote no spans: {ta}");
    let tb = tenant(&storage, "team-b");
    assert_eq!(tb["metrics"]["head_series"], 2);
    assert_eq!(tb["metrics"]["head_samples"], 2);
    assert_eq!(tb["traces"]["head_spans"], 3);
    assert_eq!(tb["traces"]["head_traces"], 1);
    assert_eq!(tb["traces"]["spans_ingested"], 3);
    assert!(tb["logs"].is_null(), "team-b wrote no logs: {tb}");

    let only = get(
        &client,
        format!("{}/api/v1/status/storage?tenant=team-b", server.http),
    )
    .await;
    assert_eq!(only["data"]["tenants"].as_array().unwrap().len(), 1);
    assert_eq!(only["data"]["tenants"][0]["tenant"], "team-b");

    let tenants = get(&client, format!("{}/api/v1/status/tenants", server.http)).await;
    let list = tenants["data"].as_array().unwrap();
    let find = |n: &str| list.iter().find(|t| t["tenant"] == n).cloned();
    assert_eq!(
        find("team-a").unwrap(),
        serde_json::json!({"tenant": "team-a", "metrics": true, "logs": true, "traces": false})
    );
    assert_eq!(
        find("team-b").unwrap(),
        serde_json::json!({"tenant": "team-b", "metrics": true, "logs": false, "traces": true})
    );

    // a flush cuts the heads: the series and samples are now counted in blocks
    let r = client
        .post(format!("{}/api/v1/admin/tsdb/flush", server.http))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let storage = get(&client, format!("{}/api/v1/status/storage", server.http)).await;
    let m = &tenant(&storage, "team-a")["metrics"];
    assert_eq!(m["head_samples"], 0, "{m}");
    assert_eq!(m["blocks"], 1);
    assert_eq!(m["block_series"], 5);
    assert_eq!(m["block_samples"], 20);
    assert!(m["block_bytes"].as_u64().unwrap() > 0);
    let t = &tenant(&storage, "team-b")["traces"];
    assert_eq!(
        t["head_spans"].as_u64().unwrap() + t["block_spans"].as_u64().unwrap(),
        3
    );
    assert!(server.stop());
}
