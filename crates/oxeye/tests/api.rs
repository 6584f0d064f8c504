//! The Prometheus query and status APIs of the real binary: the `--query.*` flags reach
//! the engine, the status endpoints report the running process and its TSDB.

use std::process::Command;

use serde_json::Value;

use crate::harness::{BIN, Server};
use crate::ingest::{batch, now_ms, remote_write_v1};

async fn get_json(s: &Server, path: &str) -> (u16, Value) {
    let r = reqwest::get(format!("{}{path}", s.http)).await.unwrap();
    let code = r.status().as_u16();
    let text = r.text().await.unwrap();
    let v = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}: {text}"));
    (code, v)
}

#[tokio::test(flavor = "multi_thread")]
async fn query_flags_reach_the_engine_and_status_reports_them() {
    let dir = tempfile::tempdir().unwrap();
    let config = "scrape_configs: []\n";
    let s = Server::start_with(
        dir.path(),
        Some(config),
        &[
            "--query.timeout=30s",
            "--query.max-samples=150",
            "--query.lookback-delta=1m",
            "--query.max-concurrency=4",
        ],
    )
    .await;
    let now = now_ms() / 1000 * 1000;
    let samples: Vec<(i64, f64)> = (0..100)
        .map(|i| (now - (99 - i) * 1000, i as f64))
        .collect();
    for job in ["api", "web"] {
        let b = batch("http_requests_total", &[("job", job)], &samples);
        assert_eq!(remote_write_v1(&s, &b, None).await.0, 204);
    }

    // an instant query, as Grafana's health check sends it
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/query", s.http))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!(
            "query=sum(http_requests_total)&time={}",
            now as f64 / 1000.0
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    assert_eq!(v["data"]["result"][0]["value"][1], "198", "{v}");

    // --query.lookback-delta=1m: 90s after the last sample nothing is selected
    let (_, v) = get_json(
        &s,
        &format!(
            "/api/v1/query?query=http_requests_total&time={}",
            (now + 90_000) / 1000
        ),
    )
    .await;
    assert_eq!(v["data"]["result"], serde_json::json!([]), "{v}");

    // --query.max-samples=150: 2 series over 100 steps is too many
    let (code, v) = get_json(
        &s,
        &format!(
            "/api/v1/query_range?query=http_requests_total&start={}&end={}&step=1",
            (now - 99_000) / 1000,
            now / 1000
        ),
    )
    .await;
    assert_eq!(code, 422, "{v}");
    assert_eq!(v["errorType"], "execution");
    assert_eq!(
        v["error"],
        "query processing would load too many samples into memory in query execution"
    );

    let (_, flags) = get_json(&s, "/api/v1/status/flags").await;
    assert_eq!(flags["data"]["query.timeout"], "30s", "{flags}");
    assert_eq!(flags["data"]["query.max-samples"], "150");
    assert_eq!(flags["data"]["query.max-concurrency"], "4");
    let (_, cfg) = get_json(&s, "/api/v1/status/config").await;
    assert_eq!(cfg["data"]["yaml"], config);

    let (_, tsdb) = get_json(&s, "/api/v1/status/tsdb").await;
    let head = &tsdb["data"]["headStats"];
    assert_eq!(head["numSeries"], 2, "{tsdb}");
    assert_eq!(head["minTime"], now - 99_000, "{tsdb}");
    assert_eq!(head["maxTime"], now, "{tsdb}");
    assert_eq!(
        tsdb["data"]["seriesCountByMetricName"][0],
        serde_json::json!({"name": "http_requests_total", "value": 2})
    );
    // another tenant's head is its own
    let r = reqwest::Client::new()
        .get(format!("{}/api/v1/status/tsdb", s.http))
        .header("X-Scope-OrgID", "team-b")
        .send()
        .await
        .unwrap();
    let v: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    assert_eq!(v["data"]["headStats"]["numSeries"], 0, "{v}");

    let (_, info) = get_json(&s, "/api/v1/status/runtimeinfo").await;
    assert_eq!(info["data"]["reloadConfigSuccess"], true, "{info}");
    assert!(info["data"]["goroutineCount"].as_u64().unwrap() > 1);
    assert!(
        !info["data"]["storageRetention"]
            .as_str()
            .unwrap()
            .is_empty()
    );
    // a failed reload is reported
    std::fs::write(dir.path().join("oxeye.yml"), "scrape_configs: [[[\n").unwrap();
    let r = reqwest::Client::new()
        .post(format!("{}/-/reload", s.http))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 500);
    let (_, info) = get_json(&s, "/api/v1/status/runtimeinfo").await;
    assert_eq!(info["data"]["reloadConfigSuccess"], false, "{info}");
    let (_, cfg) = get_json(&s, "/api/v1/status/config").await;
    assert_eq!(
        cfg["data"]["yaml"], config,
        "the loaded config is still served"
    );
    assert!(s.stop());
}

#[test]
fn bad_query_flags_refuse_to_start() {
    for flag in ["--query.timeout=soon", "--query.max-concurrency=0"] {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new(BIN)
            .arg("serve")
            .arg(format!("--storage.path={}", dir.path().display()))
            .arg("--web.listen-address=127.0.0.1:0")
            .arg("--otlp.http-listen-address=")
            .arg("--otlp.grpc-listen-address=")
            .arg(format!(
                "--config.file={}",
                dir.path().join("none.yml").display()
            ))
            .arg(flag)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{flag} was accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("query."), "{flag}: {err}");
    }
}
