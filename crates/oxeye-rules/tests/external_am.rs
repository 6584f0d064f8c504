//! The external Alertmanager sender: against the real Debian Alertmanager (the alert
//! arrives, then resolves), and against a recording HTTP listener for what goes on the
//! wire (batches, tenant header, external labels, basic auth, timeouts, queue bound).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use oxeye_core::{Clock, SystemClock, TenantId};
use oxeye_rules::alert::{Alert, AlertSink};
use oxeye_rules::notify::external::{AlertingConfig, ExternalAlertmanagers, QUEUE_CAPACITY};
use parking_lot::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const AM_BIN: &str = "/usr/bin/prometheus-alertmanager";

fn config(yaml: &str) -> AlertingConfig {
    serde_saphyr::from_str(yaml).expect("alerting config")
}

fn alert(name: &str, starts_at_ms: i64, ends_at_ms: Option<i64>) -> Alert {
    Alert {
        labels: BTreeMap::from([
            ("alertname".to_string(), name.to_string()),
            ("severity".to_string(), "page".to_string()),
        ]),
        annotations: BTreeMap::from([(
            "runbook_url".to_string(),
            "https://runbooks.example/high-errors".to_string(),
        )]),
        starts_at_ms,
        ends_at_ms,
        generator_url: "http://oxeye.example/graph?g0.expr=up".into(),
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A running Debian Alertmanager, killed on drop.
struct RealAm {
    child: std::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for RealAm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl RealAm {
    async fn start() -> Option<RealAm> {
        if !std::path::Path::new(AM_BIN).exists() {
            eprintln!("skipped: {AM_BIN} is not installed");
            return None;
        }
        for _attempt in 0..3 {
            let dir = tempfile::tempdir().expect("tempdir");
            let cfg = dir.path().join("am.yml");
            std::fs::write(
                &cfg,
                "route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n",
            )
            .expect("write config");
            let port = free_port();
            let child = std::process::Command::new(AM_BIN)
                .arg(format!("--config.file={}", cfg.display()))
                .arg(format!(
                    "--storage.path={}",
                    dir.path().join("data").display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .arg("--cluster.listen-address=")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("start alertmanager");
            let mut am = RealAm {
                child,
                port,
                _dir: dir,
            };
            let client = reqwest::Client::new();
            let deadline = Instant::now() + Duration::from_secs(15);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = am.child.try_wait() {
                    break; // port taken: try again on another
                }
                let ready = client
                    .get(format!("http://127.0.0.1:{port}/-/ready"))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success());
                if ready {
                    return Some(am);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let _ = am.child.kill();
        }
        panic!("alertmanager did not become ready");
    }

    async fn alerts(&self) -> Vec<serde_json::Value> {
        let r = reqwest::get(format!("http://127.0.0.1:{}/api/v2/alerts", self.port))
            .await
            .expect("get alerts");
        let v: serde_json::Value =
            serde_json::from_str(&r.text().await.expect("body")).expect("json");
        v.as_array().cloned().unwrap_or_default()
    }

    async fn wait_for(
        &self,
        what: &str,
        cond: impl Fn(&[serde_json::Value]) -> bool,
    ) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let a = self.alerts().await;
            if cond(&a) {
                return a;
            }
            assert!(Instant::now() < deadline, "{what}: alertmanager has {a:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn named<'a>(alerts: &'a [serde_json::Value], name: &str) -> Option<&'a serde_json::Value> {
    alerts.iter().find(|a| a["labels"]["alertname"] == name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_alertmanager_receives_then_resolves() {
    let Some(am) = RealAm::start().await else {
        return;
    };
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let sender = ExternalAlertmanagers::new(
        &config(&format!(
            "alertmanagers:\n  - static_configs:\n      - targets: ['127.0.0.1:{}']\n    timeout: 5s\n",
            am.port
        )),
        BTreeMap::from([("cluster".to_string(), "eu-1".to_string())]),
        clock.clone(),
    )
    .expect("sender");
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(sender.clone().run(stop_rx));
    let tenant = TenantId::new("anonymous").expect("tenant");

    let now = clock.now_ms();
    sender.send(
        &tenant,
        vec![alert("OxeyeExternalTest", now - 1000, Some(now + 300_000))],
    );
    let alerts = am
        .wait_for("firing alert arrives", |a| {
            named(a, "OxeyeExternalTest").is_some()
        })
        .await;
    let a = named(&alerts, "OxeyeExternalTest").expect("alert");
    assert_eq!(a["status"]["state"], "active");
    assert_eq!(a["labels"]["cluster"], "eu-1", "external label added");
    assert_eq!(a["labels"]["severity"], "page");
    assert_eq!(
        a["annotations"]["runbook_url"],
        "https://runbooks.example/high-errors"
    );
    assert_eq!(a["generatorURL"], "http://oxeye.example/graph?g0.expr=up");

    // resolved: endsAt now; Alertmanager stops listing it as an alert
    let now2 = clock.now_ms();
    sender.send(
        &tenant,
        vec![alert("OxeyeExternalTest", now - 1000, Some(now2))],
    );
    am.wait_for("resolved alert is gone", |a| {
        named(a, "OxeyeExternalTest").is_none()
    })
    .await;
    // a reload's new external labels apply to what is sent from then on
    sender.set_external_labels(BTreeMap::from([(
        "cluster".to_string(),
        "eu-2".to_string(),
    )]));
    let now3 = clock.now_ms();
    sender.send(
        &tenant,
        vec![alert("OxeyeRelabelled", now3, Some(now3 + 300_000))],
    );
    let alerts = am
        .wait_for("second alert arrives", |a| {
            named(a, "OxeyeRelabelled").is_some()
        })
        .await;
    assert_eq!(
        named(&alerts, "OxeyeRelabelled").expect("alert")["labels"]["cluster"],
        "eu-2"
    );
    let sent = sender
        .stats()
        .sent
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(sent >= 3, "{sent}");
    assert_eq!(
        sender
            .stats()
            .errors
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    let status = sender.alertmanagers();
    assert_eq!(status.len(), 1);
    assert!(status[0].last_success_ms.is_some() && status[0].last_error.is_none());

    let _ = stop_tx.send(true);
    let _ = task.await;
}

/// One request as the recording listener saw it.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    headers: BTreeMap<String, String>,
    body: serde_json::Value,
}

/// An HTTP/1.1 listener that records requests and answers 200 (or never, when `hang`).
async fn recorder(hang: bool) -> (u16, Arc<Mutex<Vec<Seen>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let out = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                loop {
                    // headers
                    let end = loop {
                        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break p;
                        }
                        let mut chunk = [0u8; 4096];
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..end]).to_string();
                    let mut lines = head.lines();
                    let path = lines
                        .next()
                        .and_then(|l| l.split_whitespace().nth(1))
                        .unwrap_or_default()
                        .to_string();
                    let headers: BTreeMap<String, String> = lines
                        .filter_map(|l| l.split_once(':'))
                        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
                        .collect();
                    let len: usize = headers
                        .get("content-length")
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0);
                    buf.drain(..end + 4);
                    while buf.len() < len {
                        let mut chunk = [0u8; 65536];
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let body: Vec<u8> = buf.drain(..len).collect();
                    seen.lock().push(Seen {
                        path,
                        headers,
                        body: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
                    });
                    if hang {
                        tokio::time::sleep(Duration::from_secs(60)).await;
                        return;
                    }
                    let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
                    if sock.write_all(ok).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (port, out)
}

async fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_tenant_header_labels_and_auth_on_the_wire() {
    let (port_a, seen_a) = recorder(false).await;
    let (port_b, seen_b) = recorder(false).await;
    let sender = ExternalAlertmanagers::new(
        &config(&format!(
            "alertmanagers:\n  - static_configs: [{{targets: ['127.0.0.1:{port_a}', '127.0.0.1:{port_b}']}}]\n    path_prefix: /am/\n    basic_auth: {{username: ox, password: secret}}\n"
        )),
        BTreeMap::from([
            ("cluster".to_string(), "eu-1".to_string()),
            ("severity".to_string(), "external-default".to_string()),
        ]),
        Arc::new(SystemClock),
    )
    .expect("sender");
    let default = TenantId::new("anonymous").expect("tenant");
    let team = TenantId::new("team-a").expect("tenant");
    // queued before the sender runs: 130 alerts of the default tenant, 1 of team-a
    let many: Vec<Alert> = (0..130)
        .map(|i| alert(&format!("A{i}"), 1_714_564_800_250, None))
        .collect();
    sender.send(&default, many);
    sender.send(&team, vec![alert("TeamAlert", 0, Some(1_714_564_860_000))]);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(sender.clone().run(stop_rx));
    sender.send(&default, vec![]); // an empty send is a no-op, and wakes nothing up
    wait_until("4 requests at each", || {
        seen_a.lock().len() >= 4 && seen_b.lock().len() >= 4
    })
    .await;
    for seen in [&seen_a, &seen_b] {
        let reqs = seen.lock().clone();
        let sizes: Vec<usize> = reqs
            .iter()
            .map(|r| r.body.as_array().map_or(0, Vec::len))
            .collect();
        assert_eq!(
            sizes,
            vec![64, 64, 2, 1],
            "batches of at most 64, tenants apart"
        );
        for r in &reqs {
            assert_eq!(r.path, "/am/api/v2/alerts");
            // "ox:secret" in base64
            assert_eq!(
                r.headers.get("authorization").map(String::as_str),
                Some("Basic b3g6c2VjcmV0")
            );
            assert_eq!(
                r.headers.get("content-type").map(String::as_str),
                Some("application/json")
            );
        }
        assert!(
            reqs[..3]
                .iter()
                .all(|r| !r.headers.contains_key("x-scope-orgid"))
        );
        assert_eq!(
            reqs[3].headers.get("x-scope-orgid").map(String::as_str),
            Some("team-a")
        );
        let first = &reqs[0].body[0];
        assert_eq!(first["labels"]["alertname"], "A0");
        assert_eq!(first["labels"]["cluster"], "eu-1");
        assert_eq!(
            first["labels"]["severity"], "page",
            "the alert's own label wins"
        );
        assert_eq!(first["startsAt"], "2024-05-01T12:00:00.250Z");
        assert!(first.get("endsAt").is_none(), "no endsAt when none is set");
        let team_alert = &reqs[3].body[0];
        assert_eq!(team_alert["endsAt"], "2024-05-01T12:01:00.000Z");
        assert_eq!(
            team_alert["annotations"]["runbook_url"],
            "https://runbooks.example/high-errors"
        );
    }
    // counted once the answers are in, which may be just after the listener saw them
    wait_until("all sent", || {
        sender
            .stats()
            .sent
            .load(std::sync::atomic::Ordering::Relaxed)
            == 2 * 131
    })
    .await;
    let _ = stop_tx.send(true);
    let _ = task.await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_alertmanager_times_out_and_is_counted() {
    let (port, seen) = recorder(true).await;
    let sender = ExternalAlertmanagers::new(
        &config(&format!(
            "alertmanagers:\n  - static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n    timeout: 200ms\n"
        )),
        BTreeMap::new(),
        Arc::new(SystemClock),
    )
    .expect("sender");
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(sender.clone().run(stop_rx));
    let t0 = Instant::now();
    sender.send(
        &TenantId::new("anonymous").expect("tenant"),
        vec![alert("Hang", 0, None)],
    );
    wait_until("error counted", || {
        sender
            .stats()
            .errors
            .load(std::sync::atomic::Ordering::Relaxed)
            == 1
    })
    .await;
    assert!(t0.elapsed() < Duration::from_secs(5), "timeout honoured");
    assert_eq!(seen.lock().len(), 1);
    let status = sender.alertmanagers();
    assert!(status[0].last_error.is_some(), "{status:?}");
    let _ = stop_tx.send(true);
    let _ = task.await;
}

#[test]
fn a_full_queue_drops_the_oldest_and_never_blocks() {
    let sender = ExternalAlertmanagers::new(
        &config("alertmanagers:\n  - static_configs: [{targets: ['127.0.0.1:9']}]\n"),
        BTreeMap::new(),
        Arc::new(SystemClock),
    )
    .expect("sender");
    let tenant = TenantId::new("anonymous").expect("tenant");
    let t0 = Instant::now();
    let batch: Vec<Alert> = (0..QUEUE_CAPACITY + 50)
        .map(|i| alert(&format!("Q{i}"), 0, None))
        .collect();
    sender.send(&tenant, batch);
    assert!(t0.elapsed() < Duration::from_secs(2));
    assert_eq!(sender.queue_len(), QUEUE_CAPACITY);
    assert_eq!(
        sender
            .stats()
            .dropped
            .load(std::sync::atomic::Ordering::Relaxed),
        50
    );
}

#[test]
fn reload_validates_and_keeps_the_queue() {
    let sender = ExternalAlertmanagers::new(
        &config("alertmanagers:\n  - static_configs: [{targets: ['127.0.0.1:9']}]\n"),
        BTreeMap::new(),
        Arc::new(SystemClock),
    )
    .expect("sender");
    sender.send(
        &TenantId::new("anonymous").expect("tenant"),
        vec![alert("Keep", 0, None)],
    );
    let err = sender
        .apply_config(&config("alertmanagers: [{api_version: v1}]"))
        .expect_err("v1 refused");
    assert!(
        err.to_string().contains("api_version v1 is not supported"),
        "{err}"
    );
    sender
        .apply_config(&config(
            "alertmanagers:\n  - static_configs: [{targets: ['127.0.0.1:10', '127.0.0.1:11']}]\n",
        ))
        .expect("reload");
    assert_eq!(sender.alertmanagers().len(), 2);
    assert_eq!(sender.queue_len(), 1);
    // without any Alertmanager nothing is queued
    let none = ExternalAlertmanagers::new(
        &AlertingConfig::default(),
        BTreeMap::new(),
        Arc::new(SystemClock),
    )
    .expect("sender");
    none.send(
        &TenantId::new("anonymous").expect("tenant"),
        vec![alert("Nowhere", 0, None)],
    );
    assert_eq!(none.queue_len(), 0);
}

/// A rule's condition as a switch: `probe` has one series while on, none while off.
struct Switch(std::sync::atomic::AtomicBool);

impl oxeye_rules::query::QueryFunc for Switch {
    fn instant(
        &self,
        _tenant: &TenantId,
        expr: &str,
        _t_ms: i64,
    ) -> Result<oxeye_rules::query::Vector, oxeye_rules::RulesError> {
        if expr.starts_with("probe") && self.0.load(std::sync::atomic::Ordering::SeqCst) {
            let labels =
                oxeye_core::Labels::from_pairs(&[("__name__", "probe"), ("instance", "a")]);
            return Ok(vec![(labels, 7.0)]);
        }
        Ok(Vec::new())
    }
}

/// Accepts and forgets `ALERTS` series.
struct Discard;

impl oxeye_core::MetricsAppender for Discard {
    fn append(
        &self,
        _tenant: &TenantId,
        _batch: oxeye_core::WriteBatch,
    ) -> Result<oxeye_core::AppendStats, oxeye_core::StoreError> {
        Ok(oxeye_core::AppendStats::default())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_group_alert_reaches_the_real_alertmanager_and_resolves() {
    let Some(am) = RealAm::start().await else {
        return;
    };
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let sender = ExternalAlertmanagers::new(
        &config(&format!(
            "alertmanagers:\n  - static_configs: [{{targets: ['127.0.0.1:{}']}}]\n",
            am.port
        )),
        BTreeMap::new(),
        clock.clone(),
    )
    .expect("sender");
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(sender.clone().run(stop_rx));
    let tenant = TenantId::new("anonymous").expect("tenant");
    let spec: oxeye_rules::file::RuleFile = oxeye_rules::file::parse(
        "groups:\n  - name: g\n    interval: 1s\n    rules:\n      - alert: RuleToAm\n        expr: probe > 0\n        annotations:\n          summary: 'probe at {{ $value }}'\n",
    )
    .expect("rule file");
    let mut group = oxeye_rules::group::Group::new(
        tenant.clone(),
        "rules.yml",
        spec.groups[0].clone(),
        oxeye_rules::file::RuleLanguage::Promql,
        oxeye_rules::group::GroupOptions::default(),
    )
    .expect("group");
    let switch = Switch(std::sync::atomic::AtomicBool::new(true));

    let out = group.eval(clock.now_ms(), &switch, &Discard);
    assert_eq!(out.to_send.len(), 1, "{:?}", out.to_send);
    sender.send(&tenant, out.to_send);
    let alerts = am
        .wait_for("rule alert arrives", |a| named(a, "RuleToAm").is_some())
        .await;
    let a = named(&alerts, "RuleToAm").expect("alert");
    assert_eq!(a["labels"]["instance"], "a");
    assert_eq!(a["annotations"]["summary"], "probe at 7");

    switch.0.store(false, std::sync::atomic::Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(20)).await;
    let out = group.eval(clock.now_ms(), &switch, &Discard);
    assert!(
        out.to_send.iter().any(|a| a.ends_at_ms.is_some()),
        "resolved alert sent: {:?}",
        out.to_send
    );
    sender.send(&tenant, out.to_send);
    am.wait_for("rule alert resolves", |a| named(a, "RuleToAm").is_none())
        .await;
    let _ = stop_tx.send(true);
    let _ = task.await;
}
