//! Slack, PagerDuty and email receivers against local endpoints.

use crate::notify_support::*;

#[tokio::test]
async fn slack_and_pagerduty_payloads() {
    let hook = Hook::start().await;
    let yaml = format!(
        r#"
global:
  slack_api_url: {0}/slack-global
route:
  receiver: chat
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1m
receivers:
- name: chat
  slack_configs:
  - channel: '#alerts'
    username: oxeye
    send_resolved: true
  pagerduty_configs:
  - routing_key: abc123
    url: {0}/pd
    severity: critical
    details:
      team: storage
"#,
        hook.url
    );
    let s = setup(&yaml);
    let a = firing(&[("alertname", "DiskFull"), ("instance", "db1")], T0, T0);
    s.send(vec![a.clone()]);
    s.at(0).await;
    let slack = hook.delivered("/slack-global");
    assert_eq!(slack.len(), 1);
    let att = &slack[0]["attachments"][0];
    assert_eq!(slack[0]["channel"], "#alerts");
    assert_eq!(slack[0]["username"], "oxeye");
    assert_eq!(att["title"], "[FIRING:1] DiskFull");
    assert_eq!(att["color"], "danger");
    let text = att["text"].as_str().unwrap();
    assert!(text.contains("something is wrong"), "{text}");
    assert!(text.contains("https://runbooks.example/x"), "{text}");
    let pd = hook.delivered("/pd");
    assert_eq!(pd.len(), 1);
    assert_eq!(pd[0]["routing_key"], "abc123");
    assert_eq!(pd[0]["event_action"], "trigger");
    assert_eq!(pd[0]["payload"]["severity"], "critical");
    assert_eq!(pd[0]["payload"]["summary"], "[FIRING:1] DiskFull");
    assert_eq!(pd[0]["payload"]["custom_details"]["team"], "storage");
    assert_eq!(pd[0]["payload"]["custom_details"]["num_firing"], "1");
    assert!(
        pd[0]["payload"]["custom_details"]["firing"]
            .as_str()
            .unwrap()
            .contains("runbook_url")
    );
    let dedup = pd[0]["dedup_key"].as_str().unwrap().to_string();
    assert!(!dedup.is_empty());

    s.clock.set(T0 + 10_000);
    s.send(vec![resolved(a, T0 + 10_000)]);
    s.at(60_000).await;
    let pd = hook.delivered("/pd");
    assert_eq!(pd.len(), 2);
    assert_eq!(pd[1]["event_action"], "resolve");
    assert_eq!(pd[1]["dedup_key"], dedup.as_str(), "same incident");
    let slack = hook.delivered("/slack-global");
    assert_eq!(slack.len(), 2);
    assert_eq!(slack[1]["attachments"][0]["color"], "good");
    assert_eq!(slack[1]["attachments"][0]["title"], "[RESOLVED] DiskFull");
}

#[tokio::test]
async fn email_is_sent_over_smtp_with_auth() {
    let smtp = Smtp::start().await;
    let yaml = format!(
        r#"
global:
  smtp_smarthost: {0}
  smtp_from: oxeye@example.org
  smtp_require_tls: false
route:
  receiver: mail
  group_wait: 0s
receivers:
- name: mail
  email_configs:
  - to: oncall@example.org, boss@example.org
    auth_username: user
    auth_password: pass
    headers:
      X-Team: storage
"#,
        smtp.addr
    );
    let s = setup(&yaml);
    s.send(vec![firing(
        &[("alertname", "DiskFull"), ("instance", "db1")],
        T0,
        T0,
    )]);
    s.at(0).await;
    let sessions = smtp.sessions.lock().clone();
    assert_eq!(sessions.len(), 1);
    let (cmds, msg) = &sessions[0];
    assert!(
        cmds.contains(&"AUTH PLAIN AHVzZXIAcGFzcw==".to_string()),
        "{cmds:?}"
    );
    assert!(
        cmds.contains(&"MAIL FROM:<oxeye@example.org>".to_string()),
        "{cmds:?}"
    );
    assert!(
        cmds.contains(&"RCPT TO:<oncall@example.org>".to_string()),
        "{cmds:?}"
    );
    assert!(
        cmds.contains(&"RCPT TO:<boss@example.org>".to_string()),
        "{cmds:?}"
    );
    assert!(msg.contains("Subject: [FIRING:1] DiskFull\r\n"), "{msg}");
    assert!(msg.contains("X-Team: storage\r\n"), "{msg}");
    assert!(
        msg.contains("Date: Mon, 06 May 2024 12:00:00 +0000\r\n"),
        "{msg}"
    );
    assert!(msg.contains("https://runbooks.example/x"), "{msg}");
}

#[tokio::test]
async fn email_requiring_tls_fails_without_retry() {
    let smtp = Smtp::start().await;
    let yaml = format!(
        "route: {{receiver: mail, group_wait: 0s}}\nreceivers:\n- name: mail\n  email_configs:\n  - {{to: a@b.c, from: x@y.z, smarthost: '{}'}}\n",
        smtp.addr
    );
    let s = setup(&yaml);
    s.send(vec![firing(&[("alertname", "A")], T0, T0)]);
    s.at(0).await;
    assert_eq!(s.notifier.pending_retries(), 0, "not retried");
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let sessions = smtp.sessions.lock().clone();
    assert!(
        sessions
            .iter()
            .all(|(cmds, _)| !cmds.iter().any(|c| c.starts_with("MAIL"))),
        "no mail without TLS: {sessions:?}"
    );
}

#[tokio::test]
async fn email_upgrades_with_starttls() {
    let dir = tempfile::tempdir().unwrap();
    let Some((ca, cert, key)) = test_certs(dir.path()) else {
        eprintln!("openssl not available; skipping");
        return;
    };
    let smtp = Smtp::start_tls(&cert, &key).await;
    let yaml = format!(
        r#"
route: {{receiver: mail, group_wait: 0s}}
receivers:
- name: mail
  email_configs:
  - to: oncall@example.org
    from: oxeye@example.org
    smarthost: '{}'
    auth_username: user
    auth_password: pass
    tls_config:
      ca_file: {}
      server_name: localhost
"#,
        smtp.addr,
        ca.display()
    );
    let s = setup(&yaml);
    s.send(vec![firing(&[("alertname", "DiskFull")], T0, T0)]);
    s.at(0).await;
    // The server records a session when the client hangs up.
    for _ in 0..100 {
        if !smtp.sessions.lock().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let sessions = smtp.sessions.lock().clone();
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    let (cmds, msg) = &sessions[0];
    let tls_at = cmds
        .iter()
        .position(|c| c == "TLS OK")
        .expect("TLS handshake");
    let auth_at = cmds
        .iter()
        .position(|c| c.starts_with("AUTH PLAIN"))
        .expect("auth");
    assert!(
        tls_at < auth_at,
        "credentials only after STARTTLS: {cmds:?}"
    );
    assert!(msg.contains("Subject: [FIRING:1] DiskFull"), "{msg}");
}

#[tokio::test]
async fn webhook_http_config_sends_credentials() {
    let hook = Hook::start().await;
    let yaml = format!(
        r#"
route: {{receiver: hooks, group_wait: 0s}}
receivers:
- name: hooks
  webhook_configs:
  - url: {0}/basic
    http_config:
      basic_auth: {{username: alice, password: secret}}
  - url: {0}/bearer
    http_config:
      authorization: {{credentials: tok123}}
  - url: {0}/none
"#,
        hook.url
    );
    let s = setup(&yaml);
    s.send(vec![firing(&[("alertname", "A")], T0, T0)]);
    s.at(0).await;
    let auth = |path: &str| {
        hook.all()
            .into_iter()
            .find(|r| r.path == path)
            .and_then(|r| r.authorization)
    };
    assert_eq!(auth("/basic").as_deref(), Some("Basic YWxpY2U6c2VjcmV0"));
    assert_eq!(auth("/bearer").as_deref(), Some("Bearer tok123"));
    assert_eq!(auth("/none"), None);
}

#[test]
fn unsupported_integrations_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let err = oxeye_rules::notify::Notifier::new(
        "route: {receiver: a}\nreceivers:\n- name: a\n  opsgenie_configs: [{api_key: x}]\n",
        dir.path().to_path_buf(),
        std::sync::Arc::new(oxeye_core::ManualClock::new(T0)),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("opsgenie_configs is not supported"), "{err}");
}
