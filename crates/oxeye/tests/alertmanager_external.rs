//! oxeye sending its alerts to the real Debian Alertmanager (`alerting.alertmanagers`):
//! a rule's alert arrives in Alertmanager's API, then resolves once the condition clears.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::harness::{Server, free_port};

const AM_BIN: &str = "/usr/bin/prometheus-alertmanager";

/// A running Debian Alertmanager, killed on drop.
pub struct RealAm {
    child: std::process::Child,
    pub port: u16,
}

impl Drop for RealAm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl RealAm {
    /// None (with a note) when the binary is not installed.
    pub async fn start(dir: &Path) -> Option<RealAm> {
        if !Path::new(AM_BIN).exists() {
            eprintln!("skipped: {AM_BIN} is not installed");
            return None;
        }
        let cfg = dir.join("am.yml");
        std::fs::write(
            &cfg,
            "route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n",
        )
        .unwrap();
        let client = reqwest::Client::new();
        for attempt in 0..3 {
            let port = free_port();
            let mut child = std::process::Command::new(AM_BIN)
                .arg(format!("--config.file={}", cfg.display()))
                .arg(format!(
                    "--storage.path={}",
                    dir.join(format!("am-data-{attempt}")).display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .arg("--cluster.listen-address=")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            let deadline = Instant::now() + Duration::from_secs(15);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if client
                    .get(format!("http://127.0.0.1:{port}/-/ready"))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success())
                {
                    return Some(RealAm { child, port });
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("alertmanager did not become ready");
    }

    pub async fn alerts(&self) -> Vec<serde_json::Value> {
        let r = reqwest::get(format!("http://127.0.0.1:{}/api/v2/alerts", self.port))
            .await
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
        v.as_array().cloned().unwrap_or_default()
    }
}

pub async fn push(server: &Server, text: &str) {
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/import/prometheus", server.http))
        .body(text.to_string())
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "import: {}", r.status());
}

fn named<'a>(alerts: &'a [serde_json::Value], name: &str) -> Option<&'a serde_json::Value> {
    alerts.iter().find(|a| a["labels"]["alertname"] == name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_alerts_reach_the_real_alertmanager_and_resolve() {
    let dir = tempfile::tempdir().unwrap();
    let Some(am) = RealAm::start(dir.path()).await else {
        return;
    };
    std::fs::write(
        dir.path().join("rules.yml"),
        r#"groups:
  - name: e2e
    rules:
      - alert: OxeyeToAlertmanager
        expr: am_e2e_probe > 0
        labels:
          severity: page
        annotations:
          summary: "probe is {{ $value }}"
          runbook_url: https://runbooks.example/probe
"#,
    )
    .unwrap();
    let config = format!(
        r#"global:
  evaluation_interval: 1s
  external_labels:
    cluster: e2e
rule_files: [rules.yml]
alerting:
  alertmanagers:
    - static_configs:
        - targets: ['127.0.0.1:{}']
      timeout: 5s
"#,
        am.port
    );
    let server = Server::start(dir.path(), Some(&config)).await;
    push(&server, "am_e2e_probe{instance=\"a\"} 3\n").await;

    let deadline = Instant::now() + Duration::from_secs(30);
    let firing = loop {
        let alerts = am.alerts().await;
        if let Some(a) = named(&alerts, "OxeyeToAlertmanager") {
            break a.clone();
        }
        assert!(
            Instant::now() < deadline,
            "alert never reached alertmanager: {alerts:?}\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(firing["status"]["state"], "active");
    assert_eq!(firing["labels"]["cluster"], "e2e", "external label");
    assert_eq!(firing["labels"]["instance"], "a");
    assert_eq!(firing["labels"]["severity"], "page");
    assert_eq!(firing["annotations"]["summary"], "probe is 3");
    assert_eq!(
        firing["annotations"]["runbook_url"],
        "https://runbooks.example/probe"
    );

    // the condition clears: oxeye sends the alert resolved and Alertmanager drops it
    push(&server, "am_e2e_probe{instance=\"a\"} 0\n").await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let alerts = am.alerts().await;
        if named(&alerts, "OxeyeToAlertmanager").is_none() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "alert never resolved: {alerts:?}\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(server.stop());
}
