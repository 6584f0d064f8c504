//! Rules in the running binary: recording rules writing series, alerts going pending
//! then firing, the rule and alert APIs, reload of edited (and refusal of broken) rule
//! files, reload of the global evaluation interval and external labels (which the
//! built-in notifier's alerts carry), `for` state kept across a restart, and the Loki
//! ruler API evaluating LogQL groups per tenant.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::harness::Server;

const CONFIG: &str = "global:\n  evaluation_interval: 1s\nrule_files:\n  - rules/*.yml\n";

fn write_rules(dir: &Path, text: &str) {
    std::fs::create_dir_all(dir.join("rules")).unwrap();
    std::fs::write(dir.join("rules/main.yml"), text).unwrap();
}

async fn get_json(s: &Server, path: &str, tenant: Option<&str>) -> Value {
    let mut req = reqwest::Client::new().get(format!("{}{path}", s.http));
    if let Some(t) = tenant {
        req = req.header("X-Scope-OrgID", t);
    }
    let r = req.send().await.unwrap();
    serde_json::from_slice(&r.bytes().await.unwrap()).unwrap()
}

async fn import(s: &Server, text: &str) {
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/import/prometheus", s.http))
        .body(text.to_string())
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
}

/// The first value of an instant query, or `None` when the result is empty.
async fn value(s: &Server, expr: &str, tenant: Option<&str>) -> Option<f64> {
    let path = format!("/api/v1/query?query={}", urlencode(expr));
    let v = get_json(s, &path, tenant).await;
    v["data"]["result"][0]["value"][1]
        .as_str()
        .and_then(|x| x.parse().ok())
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Polls `check` every 100ms until it returns `Some`, at most `secs` seconds.
async fn eventually<T, F, Fut>(secs: u64, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn alert_state(s: &Server) -> Option<String> {
    let v = get_json(s, "/api/v1/alerts", None).await;
    v["data"]["alerts"][0]["state"].as_str().map(str::to_string)
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

const RULES: &str = r#"
groups:
  - name: load
    rules:
      - record: job:load:double
        expr: load * 2
      - alert: HighLoad
        expr: load > 10
        for: 2s
        labels: {severity: page}
        annotations: {summary: "load is {{ $value }}"}
"#;

#[tokio::test(flavor = "multi_thread")]
async fn recording_rules_alerts_and_reload() {
    let dir = tempfile::tempdir().unwrap();
    write_rules(dir.path(), RULES);
    let s = Server::start(dir.path(), Some(CONFIG)).await;
    import(&s, "load{job=\"api\"} 50\n").await;

    let v = eventually(10, "the recorded series", || {
        value(&s, "job:load:double", None)
    })
    .await;
    assert_eq!(v, 100.0);
    eventually(10, "a pending alert", || async {
        (alert_state(&s).await.as_deref() == Some("pending")).then_some(())
    })
    .await;
    eventually(10, "the alert firing", || async {
        (alert_state(&s).await.as_deref() == Some("firing")).then_some(())
    })
    .await;
    let alerts = get_json(&s, "/api/v1/alerts", None).await;
    let a = &alerts["data"]["alerts"][0];
    assert_eq!(a["labels"]["alertname"], "HighLoad");
    assert_eq!(a["labels"]["job"], "api");
    assert_eq!(a["labels"]["severity"], "page");
    assert_eq!(a["value"], "5e+01");
    let firing = value(
        &s,
        "ALERTS{alertname=\"HighLoad\",alertstate=\"firing\"}",
        None,
    )
    .await;
    assert_eq!(firing, Some(1.0));

    let rules = get_json(&s, "/api/v1/rules", None).await;
    let g = &rules["data"]["groups"][0];
    assert_eq!(g["name"], "load");
    assert!(
        g["file"].as_str().unwrap().ends_with("rules/main.yml"),
        "{g}"
    );
    assert_eq!(g["interval"], 1);

    // the evaluations show in the self metrics
    let metrics = reqwest::get(format!("{}/metrics", s.http))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let evaluations = metrics
        .lines()
        .find(|l| {
            l.starts_with("oxeye_rule_group_evaluations_total{")
                && l.contains("rules/main.yml;load")
        })
        .unwrap_or_else(|| panic!("no evaluation counter in:\n{metrics}"));
    let n: f64 = evaluations.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(n >= 2.0, "{evaluations}");
    assert!(
        metrics.contains("oxeye_notifications_queue_length 0"),
        "{metrics}"
    );
    assert_eq!(g["rules"][0]["health"], "ok");
    assert_eq!(g["rules"][1]["state"], "firing");

    // An edited file is picked up by a reload.
    write_rules(
        dir.path(),
        &RULES.replace(
            "job:load:double\n        expr: load * 2",
            "job:load:triple\n        expr: load * 3",
        ),
    );
    assert_eq!(reload(&s).await, 200);
    let v = eventually(10, "the edited rule's series", || {
        value(&s, "job:load:triple", None)
    })
    .await;
    assert_eq!(v, 150.0);
    assert_eq!(
        alert_state(&s).await.as_deref(),
        Some("firing"),
        "the alert kept its state"
    );

    // A broken file fails the reload and the rules stay.
    write_rules(
        dir.path(),
        "groups:\n  - name: load\n    rules:\n      - record: job:load:triple\n        expr: 'sum('\n",
    );
    assert_eq!(reload(&s).await, 500);
    let rules = get_json(&s, "/api/v1/rules", None).await;
    assert_eq!(
        rules["data"]["groups"][0]["rules"][0]["name"],
        "job:load:triple"
    );
    assert_eq!(
        rules["data"]["groups"][0]["rules"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert!(s.stop());
}

#[tokio::test(flavor = "multi_thread")]
async fn restart_keeps_pending_for_state() {
    let dir = tempfile::tempdir().unwrap();
    write_rules(
        dir.path(),
        "groups:\n  - name: slow\n    rules:\n      - alert: Slow\n        expr: load > 10\n        for: 1h\n",
    );
    let s = Server::start(dir.path(), Some(CONFIG)).await;
    import(&s, "load 50\n").await;
    let active_at = eventually(10, "the for state series", || {
        value(&s, "ALERTS_FOR_STATE", None)
    })
    .await;
    assert_eq!(alert_state(&s).await.as_deref(), Some("pending"));
    // Pending for a while before going down: that time must not be lost.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(s.stop());

    tokio::time::sleep(Duration::from_millis(1500)).await;
    let restarted_s = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        .floor();
    let s = Server::start(dir.path(), Some(CONFIG)).await;
    // Written by the evaluations after the restore: the restored active time.
    let restored = eventually(10, "the for state after the restart", || async {
        let expr = format!("ALERTS_FOR_STATE and (timestamp(ALERTS_FOR_STATE) > {restarted_s})");
        value(&s, &expr, None).await
    })
    .await;
    assert_eq!(alert_state(&s).await.as_deref(), Some("pending"));
    assert!(
        restored < restarted_s,
        "active since {restored}, restarted at {restarted_s}"
    );
    assert!(
        restored >= active_at,
        "restored {restored} before the original {active_at}"
    );
    // Only the downtime is added to the original active time.
    assert!(restored - active_at <= 10.0, "{restored} vs {active_at}");
    assert!(s.stop());
}

const LOG_GROUP: &str = r#"name: lines
interval: 1s
rules:
  - record: app:lines:count1m
    expr: 'sum by (app) (count_over_time({app="shop"}[1m]))'
"#;

async fn ruler(
    s: &Server,
    method: reqwest::Method,
    path: &str,
    tenant: &str,
    body: &str,
) -> (u16, String) {
    let r = reqwest::Client::new()
        .request(method, format!("{}{path}", s.http))
        .header("X-Scope-OrgID", tenant)
        .header("Content-Type", "application/yaml")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn loki_ruler_groups_evaluate_per_tenant() {
    use reqwest::Method;
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), None).await;
    let (code, body) = ruler(
        &s,
        Method::POST,
        "/loki/api/v1/rules/shop",
        "team-a",
        LOG_GROUP,
    )
    .await;
    assert_eq!(code, 202, "{body}");
    let (code, yaml) = ruler(&s, Method::GET, "/loki/api/v1/rules", "team-a", "").await;
    assert_eq!(code, 200);
    assert!(yaml.starts_with("shop:\n"), "{yaml}");
    assert!(yaml.contains("app:lines:count1m"), "{yaml}");
    let (code, _) = ruler(
        &s,
        Method::GET,
        "/loki/api/v1/rules/shop/lines",
        "team-b",
        "",
    )
    .await;
    assert_eq!(code, 404, "another tenant does not see the group");

    let now_ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    let values: Vec<String> = (0..5)
        .map(|i| format!("[\"{}\",\"order {i}\"]", now_ns - 1_000_000_000 + i))
        .collect();
    let push = format!(
        r#"{{"streams":[{{"stream":{{"app":"shop"}},"values":[{}]}}]}}"#,
        values.join(",")
    );
    for tenant in ["team-a", "team-b"] {
        let r = reqwest::Client::new()
            .post(format!("{}/loki/api/v1/push", s.http))
            .header("Content-Type", "application/json")
            .header("X-Scope-OrgID", tenant)
            .body(push.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
    }
    let v = eventually(10, "the LogQL recording rule's series", || {
        value(&s, "app:lines:count1m", Some("team-a"))
    })
    .await;
    assert_eq!(v, 5.0);
    assert_eq!(value(&s, "app:lines:count1m", Some("team-b")).await, None);
    let rules = get_json(&s, "/prometheus/api/v1/rules", Some("team-a")).await;
    assert_eq!(rules["data"]["groups"][0]["file"], "shop");
    assert_eq!(rules["data"]["groups"][0]["rules"][0]["health"], "ok");
    let rules = get_json(&s, "/api/v1/rules", Some("team-b")).await;
    assert_eq!(rules["data"]["groups"], serde_json::json!([]));

    let (code, _) = ruler(
        &s,
        Method::DELETE,
        "/loki/api/v1/rules/shop/lines",
        "team-a",
        "",
    )
    .await;
    assert_eq!(code, 202);
    let (code, _) = ruler(&s, Method::GET, "/loki/api/v1/rules", "team-a", "").await;
    assert_eq!(code, 404);
    let rules = get_json(&s, "/api/v1/rules", Some("team-a")).await;
    assert_eq!(rules["data"]["groups"], serde_json::json!([]));
    assert!(s.stop());
}

const RULES_X: &str = "groups:\n- name: g\n  rules:\n  - alert: X\n    expr: vector(1)\n    labels: {team: db}\n    annotations:\n      el: '{{ $externalLabels.site }}'\n  - alert: Own\n    expr: vector(1)\n    labels: {site: own}\n";

fn labeled_config(interval: &str, site: &str) -> String {
    format!(
        "global:\n  evaluation_interval: {interval}\n  external_labels: {{site: {site}}}\nrule_files:\n  - rules/*.yml\n"
    )
}

/// The labels of alert `name` as held by the built-in notifier, once one has `site`.
async fn notified_with_site(s: &Server, name: &str, site: &str) -> Option<Value> {
    let v = get_json(s, "/api/v2/alerts", None).await;
    v.as_array()?
        .iter()
        .find(|a| a["labels"]["alertname"] == name && a["labels"]["site"] == site)
        .map(|a| a["labels"].clone())
}

/// As Prometheus, a reload applies `global.evaluation_interval` and
/// `global.external_labels` to the running groups (which keep their alerts), and the
/// built-in notifier sees the external labels on every alert, as an Alertmanager fed by
/// Prometheus does (the alert's own labels win).
#[tokio::test]
async fn a_reload_applies_evaluation_interval_and_external_labels() {
    let dir = tempfile::tempdir().unwrap();
    write_rules(dir.path(), RULES_X);
    let s = Server::start(dir.path(), Some(&labeled_config("1s", "a"))).await;
    let group = |s: &Server| {
        let s = s.http.clone();
        async move {
            let r = reqwest::get(format!("{s}/api/v1/rules")).await.unwrap();
            let v: Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
            v["data"]["groups"][0].clone()
        }
    };
    eventually(20, "the alert with the first external labels", || async {
        (group(&s).await["rules"][0]["alerts"][0]["annotations"]["el"] == "a").then_some(())
    })
    .await;
    assert_eq!(group(&s).await["interval"], 1);
    let labels = eventually(20, "the alert at the notifier", || {
        notified_with_site(&s, "X", "a")
    })
    .await;
    assert_eq!(labels["team"], "db", "{labels}");
    let v = get_json(&s, "/api/v2/alerts", None).await;
    let own = v
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["labels"]["alertname"] == "Own")
        .map(|a| a["labels"]["site"].clone());
    assert_eq!(own, Some(Value::from("own")), "the alert's own label wins");
    let active_at = group(&s).await["rules"][0]["alerts"][0]["activeAt"].clone();

    // Firing alerts are resent after a minute; a new one goes out at once.
    write_rules(
        dir.path(),
        &format!("{RULES_X}  - alert: Y\n    expr: vector(1)\n"),
    );
    std::fs::write(dir.path().join("oxeye.yml"), labeled_config("3s", "b")).unwrap();
    assert_eq!(reload(&s).await, 200);
    assert_eq!(group(&s).await["interval"], 3, "interval after reload");
    eventually(
        20,
        "the alert with the reloaded external labels",
        || async {
            (group(&s).await["rules"][0]["alerts"][0]["annotations"]["el"] == "b").then_some(())
        },
    )
    .await;
    assert_eq!(
        group(&s).await["rules"][0]["alerts"][0]["activeAt"],
        active_at,
        "the alert is kept"
    );
    eventually(20, "the notifier's alert with the reloaded labels", || {
        notified_with_site(&s, "Y", "b")
    })
    .await;
}
