//! Review probes: reload behaviour of the running binary compared with Prometheus, whose
//! reload applies `global.evaluation_interval` and `global.external_labels` to the rule
//! manager and whose SLO report should follow the reloaded `slo_files`.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::Server;

const RULES: &str = "groups:\n- name: g\n  rules:\n  - alert: X\n    expr: vector(1)\n    annotations:\n      el: '{{ $externalLabels.site }}'\n";

fn slo(name: &str) -> String {
    format!(
        "version: prometheus/v1\nservice: svc\nslos:\n  - name: {name}\n    objective: 99.9\n    sli:\n      events:\n        error_query: sum(rate(req{{code=\"500\"}}[{{{{.window}}}}]))\n        total_query: sum(rate(req[{{{{.window}}}}]))\n    alerting:\n      page_alert: {{disable: true}}\n      ticket_alert: {{disable: true}}\n"
    )
}

fn config(interval: &str, site: &str, slo_file: &str) -> String {
    format!(
        "global:\n  evaluation_interval: {interval}\n  external_labels: {{site: {site}}}\nrule_files: [rules.yml]\nslo_files: [{slo_file}]\n"
    )
}

async fn get_json(s: &Server, path: &str) -> Value {
    let r = reqwest::get(format!("{}{path}", s.http)).await.unwrap();
    serde_json::from_slice(&r.bytes().await.unwrap()).unwrap()
}

async fn reload(s: &Server) -> u16 {
    reqwest::Client::new()
        .post(format!("{}/-/reload", s.http))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn group_g(s: &Server) -> Value {
    let v = get_json(s, "/api/v1/rules").await;
    v["data"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "g")
        .cloned()
        .unwrap()
}

async fn started(dir: &std::path::Path) -> Server {
    std::fs::write(dir.join("rules.yml"), RULES).unwrap();
    std::fs::write(dir.join("a.yml"), slo("avail")).unwrap();
    std::fs::write(dir.join("b.yml"), slo("latency")).unwrap();
    let s = Server::start(dir, Some(&config("1s", "a", "a.yml"))).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while group_g(&s).await["rules"][0]["alerts"][0]["annotations"]["el"] != "a" {
        assert!(Instant::now() < deadline, "alert never appeared");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    std::fs::write(dir.join("oxeye.yml"), config("3s", "b", "b.yml")).unwrap();
    assert_eq!(reload(&s).await, 200);
    tokio::time::sleep(Duration::from_secs(4)).await;
    s
}

#[tokio::test]
async fn review_reload_applies_evaluation_interval() {
    let dir = tempfile::tempdir().unwrap();
    let s = started(dir.path()).await;
    let g = group_g(&s).await;
    assert_eq!(g["interval"], 3, "interval after reload: {}", g["interval"]);
}

#[tokio::test]
async fn review_reload_applies_external_labels() {
    let dir = tempfile::tempdir().unwrap();
    let s = started(dir.path()).await;
    let g = group_g(&s).await;
    assert_eq!(
        g["rules"][0]["alerts"][0]["annotations"]["el"], "b",
        "$externalLabels after reload"
    );
}

#[tokio::test]
async fn review_reload_applies_slo_files_to_slo_api() {
    let dir = tempfile::tempdir().unwrap();
    let s = started(dir.path()).await;
    let v = get_json(&s, "/api/v1/slos").await;
    let names: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|x| x["slo"].as_str())
        .collect();
    assert_eq!(names, ["latency"], "/api/v1/slos after reload");
}

/// Prometheus attaches `global.external_labels` to every alert it hands to an
/// Alertmanager (alert labels win). The built-in notifier stands in for that
/// Alertmanager, so its alerts (and routes matching on e.g. `cluster`) must see them too,
/// as the external Alertmanager sender already does.
#[tokio::test]
async fn review_builtin_notifier_alerts_carry_external_labels() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.yml"), RULES).unwrap();
    std::fs::write(dir.path().join("a.yml"), slo("avail")).unwrap();
    let s = Server::start(dir.path(), Some(&config("1s", "a", "a.yml"))).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let alert = loop {
        let v = get_json(&s, "/api/v2/alerts").await;
        if let Some(a) = v
            .as_array()
            .and_then(|a| a.iter().find(|x| x["labels"]["alertname"] == "X"))
        {
            break a.clone();
        }
        assert!(
            Instant::now() < deadline,
            "alert never reached the notifier"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(alert["labels"]["site"], "a", "labels: {}", alert["labels"]);
}
