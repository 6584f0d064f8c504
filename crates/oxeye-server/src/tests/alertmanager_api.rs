//! The Alertmanager API v2 over the built-in notifier: JSON shapes through the router, and
//! the real `amtool` against a listening server.

use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use oxeye_core::ManualClock;
use oxeye_rules::notify::Notifier;

use super::*;

const CONFIG: &str = r#"
route:
  receiver: team
  group_by: [alertname]
  routes:
  - matchers: [severity="critical"]
    receiver: pager
inhibit_rules:
- source_matchers: [severity="critical"]
  target_matchers: [severity="warning"]
  equal: [alertname]
receivers:
- name: team
- name: pager
"#;

fn am_state() -> (Arc<ServerState>, Arc<Notifier>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(1_714_996_800_000));
    let n = Notifier::new(CONFIG, dir.path().to_path_buf(), clock).unwrap();
    let store = MemStore::new();
    let s = ServerState::builder(store.clone(), store)
        .notifier(n.clone())
        .build();
    s.set_ready(true);
    (s, n, dir)
}

async fn post(
    state: &Arc<ServerState>,
    uri: &str,
    body: &str,
    tenant: Option<&str>,
) -> (u16, String) {
    let mut req = Request::post(uri).header("content-type", "application/json");
    if let Some(t) = tenant {
        req = req.header("X-Scope-OrgID", t);
    }
    let (code, body, _) = send(state, req.body(Body::from(body.to_string())).unwrap()).await;
    (code, body)
}

const ALERTS: &str = r#"[
  {"labels": {"alertname": "Disk", "severity": "critical", "instance": "a"},
   "annotations": {"runbook_url": "https://rb/disk"},
   "startsAt": "2024-05-06T11:59:00Z", "generatorURL": "http://prom/x"},
  {"labels": {"alertname": "Disk", "severity": "warning", "instance": "b"}},
  {"labels": {"alertname": "Cpu", "severity": "warning"}}
]"#;

#[tokio::test]
async fn alerts_groups_status_and_receivers_have_alertmanagers_shapes() {
    let (s, _n, _dir) = am_state();
    let (code, body) = post(&s, "/api/v2/alerts", ALERTS, None).await;
    assert_eq!(code, 200, "{body}");
    let (code, body) = get(&s, "/api/v2/alerts").await;
    assert_eq!(code, 200, "{body}");
    let v = json(&body);
    let alerts = v.as_array().unwrap();
    assert_eq!(alerts.len(), 3);
    let crit = alerts
        .iter()
        .find(|a| a["labels"]["severity"] == "critical")
        .unwrap();
    assert_eq!(crit["status"]["state"], "active");
    assert_eq!(crit["receivers"], serde_json::json!([{"name": "pager"}]));
    assert_eq!(crit["startsAt"], "2024-05-06T11:59:00Z");
    assert_eq!(
        crit["endsAt"], "2024-05-06T12:05:00Z",
        "resolve_timeout default 5m"
    );
    assert_eq!(crit["annotations"]["runbook_url"], "https://rb/disk");
    assert_eq!(crit["generatorURL"], "http://prom/x");
    let fp = crit["fingerprint"].as_str().unwrap().to_string();
    let warn = alerts
        .iter()
        .find(|a| a["labels"]["instance"] == "b")
        .unwrap();
    assert_eq!(warn["status"]["state"], "suppressed");
    assert_eq!(warn["status"]["inhibitedBy"], serde_json::json!([fp]));
    assert!(
        warn.get("generatorURL").is_none(),
        "an empty generatorURL is left out, as Alertmanager does: {warn}"
    );
    let fps: Vec<&str> = alerts
        .iter()
        .map(|a| a["fingerprint"].as_str().unwrap())
        .collect();
    assert!(fps.is_sorted(), "listed by fingerprint: {fps:?}");

    // Filters.
    let (_, body) = get(&s, "/api/v2/alerts?filter=alertname%3D%22Cpu%22").await;
    assert_eq!(json(&body).as_array().unwrap().len(), 1);
    let (_, body) = get(&s, "/api/v2/alerts?inhibited=false").await;
    assert_eq!(json(&body).as_array().unwrap().len(), 2);
    let (_, body) = get(&s, "/api/v2/alerts?receiver=pag.*").await;
    assert_eq!(json(&body).as_array().unwrap().len(), 1);
    let (code, body) = get(&s, "/api/v2/alerts?filter=nonsense").await;
    assert_eq!(code, 400, "{body}");
    assert!(json(&body).as_str().unwrap().contains("bad matcher format"));

    // Tenants are separate.
    let (code, _) = post(
        &s,
        "/api/v2/alerts",
        r#"[{"labels":{"alertname":"Other"}}]"#,
        Some("t2"),
    )
    .await;
    assert_eq!(code, 200);
    let (_, body) = get(&s, "/api/v2/alerts").await;
    assert_eq!(json(&body).as_array().unwrap().len(), 3);

    let (_, body) = get(&s, "/alertmanager/api/v2/alerts/groups").await;
    let groups = json(&body);
    let groups = groups.as_array().unwrap();
    assert_eq!(groups.len(), 3, "{groups:?}");
    let team_disk = groups
        .iter()
        .find(|g| g["receiver"]["name"] == "team" && g["labels"]["alertname"] == "Disk")
        .unwrap();
    assert_eq!(team_disk["alerts"].as_array().unwrap().len(), 1);

    let (code, body) = get(&s, "/api/v2/status").await;
    assert_eq!(code, 200);
    let st = json(&body);
    assert_eq!(st["cluster"]["status"], "disabled");
    assert_eq!(st["config"]["original"], CONFIG);
    assert!(
        st["uptime"]
            .as_str()
            .unwrap()
            .starts_with("2024-05-06T12:00:00")
    );
    let (_, body) = get(&s, "/api/v2/receivers").await;
    assert_eq!(
        json(&body),
        serde_json::json!([{"name": "pager"}, {"name": "team"}])
    );

    // Bad input.
    let (code, body) = post(&s, "/api/v2/alerts", r#"[{"labels":{}}]"#, None).await;
    assert_eq!(code, 400);
    assert!(body.contains("at least one label pair required"), "{body}");
    let (code, _) = post(&s, "/api/v2/alerts", "not json", None).await;
    assert_eq!(code, 400);
    let (code, body) = post(
        &s,
        "/api/v2/alerts",
        r#"[{"labels":{"a":"b"},"startsAt":"yesterday"}]"#,
        None,
    )
    .await;
    assert_eq!(code, 400, "{body}");
}

#[tokio::test]
async fn silences_create_list_update_and_expire() {
    let (s, _n, _dir) = am_state();
    let body = r#"{"matchers":[{"name":"alertname","value":"Cpu","isRegex":false,"isEqual":true}],
        "startsAt":"2024-05-06T12:00:00Z","endsAt":"2024-05-06T14:00:00Z","createdBy":"ops","comment":"deploy"}"#;
    let (code, resp) = post(&s, "/api/v2/silences", body, None).await;
    assert_eq!(code, 200, "{resp}");
    let id = json(&resp)["silenceID"].as_str().unwrap().to_string();
    post(&s, "/api/v2/alerts", ALERTS, None).await;
    let (_, list) = get(&s, "/api/v2/alerts?filter=alertname%3D%22Cpu%22").await;
    assert_eq!(
        json(&list)[0]["status"]["silencedBy"],
        serde_json::json!([id])
    );
    let (_, list) = get(&s, "/api/v2/alerts?silenced=false").await;
    assert_eq!(json(&list).as_array().unwrap().len(), 2);

    let (code, one) = get(&s, &format!("/api/v2/silence/{id}")).await;
    assert_eq!(code, 200);
    let one = json(&one);
    assert_eq!(one["status"]["state"], "active");
    assert_eq!(one["createdBy"], "ops");
    assert_eq!(one["matchers"][0]["isEqual"], true);
    assert_eq!(one["endsAt"], "2024-05-06T14:00:00Z");

    // Update in place: same matchers, new end.
    let upd =
        body.replace("14:00:00Z", "15:00:00Z")
            .replacen('{', &format!("{{\"id\":\"{id}\","), 1);
    let (code, resp) = post(&s, "/api/v2/silences", &upd, None).await;
    assert_eq!(code, 200, "{resp}");
    assert_eq!(json(&resp)["silenceID"], id.as_str());

    let (code, _) = send(
        &s,
        Request::delete(format!("/api/v2/silence/{id}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await
    .into_tuple();
    assert_eq!(code, 200);
    let (_, all) = get(&s, "/api/v2/silences").await;
    assert_eq!(json(&all)[0]["status"]["state"], "expired");
    let (code, _) = get(&s, "/api/v2/silence/00000000-0000-4000-8000-000000000000").await;
    assert_eq!(code, 404);

    let (code, resp) = post(
        &s,
        "/api/v2/silences",
        &body.replace("\"ops\"", "\"\""),
        None,
    )
    .await;
    assert_eq!(code, 200, "Alertmanager takes an empty creator: {resp}");
    let (code, resp) = post(
        &s,
        "/api/v2/silences",
        &body.replace("\"deploy\"", "\"\""),
        None,
    )
    .await;
    assert_eq!(code, 200, "and an empty comment: {resp}");
    let (code, resp) = post(
        &s,
        "/api/v2/silences",
        &body.replace("14:00:00Z", "12:00:00Z"),
        None,
    )
    .await;
    assert_eq!(code, 400, "{resp}");
    assert!(
        resp.contains("start time must be before end time"),
        "an empty window is refused: {resp}"
    );
    let (code, resp) = post(
        &s,
        "/api/v2/silences",
        &body
            .replace("2024-05-06T12:00:00Z", "2024-05-06T10:00:00Z")
            .replace("2024-05-06T14:00:00Z", "2024-05-06T11:00:00Z"),
        None,
    )
    .await;
    assert_eq!(code, 400, "{resp}");
    assert!(
        resp.contains("end time can't be in the past"),
        "a window in the past says so: {resp}"
    );
    let (code, _) = post(&s, "/api/v2/silences", r#"{"matchers":[]}"#, None).await;
    assert_eq!(code, 400);
}

#[tokio::test]
async fn without_a_notifier_the_api_is_unavailable() {
    let s = state_with(MemStore::new());
    let (code, body) = get(&s, "/api/v2/alerts").await;
    assert_eq!(code, 503);
    assert!(body.contains("not enabled"));
}

trait IntoTuple {
    fn into_tuple(self) -> (u16, String);
}

impl<T> IntoTuple for (u16, String, T) {
    fn into_tuple(self) -> (u16, String) {
        (self.0, self.1)
    }
}

fn amtool(url: &str, args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new("/usr/bin/amtool")
        .arg(format!("--alertmanager.url={url}"))
        .args(args)
        .output()
        .unwrap();
    // stdout first: `silence add` prints the new id on its first line.
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amtool_adds_queries_and_expires() {
    if !std::path::Path::new("/usr/bin/amtool").exists() {
        eprintln!("amtool not installed; skipping");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let n = Notifier::new(
        CONFIG,
        dir.path().to_path_buf(),
        Arc::new(oxeye_core::SystemClock),
    )
    .unwrap();
    let store = MemStore::new();
    let s = ServerState::builder(store.clone(), store)
        .notifier(n)
        .build();
    s.set_ready(true);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = crate::router(s);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let run = |args: Vec<&'static str>| {
        let url = url.clone();
        tokio::task::spawn_blocking(move || amtool(&url, &args))
    };
    let (ok, out) = run(vec![
        "alert",
        "add",
        "alertname=DiskFull",
        "severity=warning",
        "--annotation=summary=disk is full",
    ])
    .await
    .unwrap();
    assert!(ok, "{out}");
    let (ok, out) = run(vec!["alert", "query"]).await.unwrap();
    assert!(ok, "{out}");
    assert!(
        out.contains("DiskFull") && out.contains("disk is full"),
        "{out}"
    );

    let (ok, out) = run(vec![
        "silence",
        "add",
        "alertname=DiskFull",
        "--comment=replacing disk",
        "--author=ops",
        "--duration=1h",
    ])
    .await
    .unwrap();
    assert!(ok, "{out}");
    let id = out.lines().next().unwrap_or("").trim().to_string();
    assert_eq!(id.len(), 36, "{out}");
    let (ok, out) = run(vec!["silence", "query"]).await.unwrap();
    assert!(
        ok && out.contains(&id) && out.contains("replacing disk"),
        "{out}"
    );
    let (ok, out) = run(vec!["alert", "query", "--silenced"]).await.unwrap();
    assert!(ok && out.contains("DiskFull"), "{out}");
    let (ok, out) = run(vec!["alert", "query"]).await.unwrap();
    assert!(
        ok && !out.contains("DiskFull"),
        "silenced alerts are hidden by default: {out}"
    );

    let expire = {
        let url = url.clone();
        let id = id.clone();
        tokio::task::spawn_blocking(move || amtool(&url, &["silence", "expire", &id]))
    };
    let (ok, out) = expire.await.unwrap();
    assert!(ok, "{out}");
    let (ok, out) = run(vec!["silence", "query", "--expired"]).await.unwrap();
    assert!(ok && out.contains(&id), "{out}");
    let (ok, out) = run(vec!["alert", "query"]).await.unwrap();
    assert!(ok && out.contains("DiskFull"), "{out}");
    let (ok, out) = run(vec!["config", "show"]).await.unwrap();
    assert!(ok && out.contains("receiver: pager"), "{out}");
}
