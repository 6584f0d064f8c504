//! Receiver integrations: webhook (Alertmanager's version 4 payload), Slack incoming
//! webhooks, PagerDuty Events API v2 and email over SMTP ([`super::smtp`]).
//!
//! Texts are built in, not Go templates: a title like Alertmanager's
//! `[FIRING:2] alertname (group labels)` and one block per alert listing its status,
//! labels, `summary`, `description`, `runbook_url` and every other annotation. A config
//! `title`/`text`/`description`/`html` without `{{` is used as written.
//! An error says whether it is worth retrying (connection errors, 5xx, 429).

use serde_json::json;

use super::LabelSet;
use super::api::{WebhookAlert, WebhookMessage, common, format_time, hash_hex};
use super::config::{
    EmailConfig, GlobalConfig, PagerdutyConfig, ReceiverConfig, SlackConfig, WebhookConfig,
};
use crate::alert::Alert;

/// A notification for one group: what one integration sends.
#[derive(Debug, Clone)]
pub struct Notification {
    /// Receiver name.
    pub receiver: String,
    /// Group key.
    pub group_key: String,
    /// The group's labels.
    pub group_labels: LabelSet,
    /// `(fingerprint, alert, resolved)`; firing alerts carry no end.
    pub alerts: Vec<(u64, Alert, bool)>,
    /// The notifier's external URL.
    pub external_url: String,
    /// When the group flushed, ms.
    pub at_ms: i64,
}

impl Notification {
    fn firing(&self) -> usize {
        self.alerts.iter().filter(|a| !a.2).count()
    }

    fn status(&self) -> &'static str {
        if self.firing() > 0 {
            "firing"
        } else {
            "resolved"
        }
    }

    fn common_labels(&self) -> LabelSet {
        common(self.alerts.iter().map(|a| &a.1.labels))
    }

    /// `[FIRING:2] HighLatency (job="api")`.
    pub fn title(&self) -> String {
        let mut t = match self.status() {
            "firing" => format!("[FIRING:{}]", self.firing()),
            _ => "[RESOLVED]".to_string(),
        };
        let labels = self.common_labels();
        if let Some(name) = self
            .group_labels
            .get("alertname")
            .or(labels.get("alertname"))
        {
            t.push(' ');
            t.push_str(name);
        }
        let rest: Vec<String> = self
            .group_labels
            .iter()
            .filter(|(k, _)| *k != "alertname")
            .map(|(k, v)| format!("{k}={v:?}"))
            .collect();
        if !rest.is_empty() {
            t.push_str(&format!(" ({})", rest.join(" ")));
        }
        t
    }

    /// One block per alert: status, labels, summary, description, runbook and the other
    /// annotations.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for (_, a, resolved) in &self.alerts {
            let name = a.labels.get("alertname").map_or("", String::as_str);
            let status = if *resolved { "RESOLVED" } else { "FIRING" };
            out.push_str(&format!("*Alert:* {name} [{status}]\n"));
            for key in ["summary", "description", "runbook_url"] {
                if let Some(v) = a.annotations.get(key) {
                    out.push_str(&format!("*{key}:* {v}\n"));
                }
            }
            for (k, v) in &a.annotations {
                if !matches!(k.as_str(), "summary" | "description" | "runbook_url") {
                    out.push_str(&format!("*{k}:* {v}\n"));
                }
            }
            let labels: Vec<String> = a.labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
            out.push_str(&format!("*Labels:* {}\n", labels.join(", ")));
            if !a.generator_url.is_empty() {
                out.push_str(&format!("*Source:* {}\n", a.generator_url));
            }
            out.push('\n');
        }
        out
    }

    /// The webhook message, at most `max_alerts` alerts (0: all).
    pub fn webhook_message(&self, max_alerts: usize) -> WebhookMessage {
        let mut alerts: Vec<WebhookAlert> = self
            .alerts
            .iter()
            .map(|(fp, a, resolved)| WebhookAlert {
                status: if *resolved { "resolved" } else { "firing" }.into(),
                labels: a.labels.clone(),
                annotations: a.annotations.clone(),
                starts_at: format_time(Some(a.starts_at_ms)),
                ends_at: format_time(if *resolved { a.ends_at_ms } else { None }),
                generator_url: a.generator_url.clone(),
                fingerprint: format!("{fp:016x}"),
            })
            .collect();
        let mut truncated = 0;
        if max_alerts > 0 && alerts.len() > max_alerts {
            truncated = alerts.len() - max_alerts;
            alerts.truncate(max_alerts);
        }
        WebhookMessage {
            receiver: self.receiver.clone(),
            status: self.status().into(),
            alerts,
            group_labels: self.group_labels.clone(),
            common_labels: self.common_labels(),
            common_annotations: common(self.alerts.iter().map(|a| &a.1.annotations)),
            external_url: self.external_url.clone(),
            version: "4".into(),
            group_key: self.group_key.clone(),
            truncated_alerts: truncated,
        }
    }
}

/// Why a send failed, and whether to try again.
#[derive(Debug, Clone)]
pub struct SendError {
    /// What happened.
    pub message: String,
    /// Connection errors, 5xx and 429 are retried.
    pub retryable: bool,
}

/// One configured integration of a receiver.
#[derive(Debug, Clone)]
pub enum Integration {
    /// `webhook_configs[i]`.
    Webhook(WebhookConfig),
    /// `slack_configs[i]`.
    Slack(SlackConfig),
    /// `pagerduty_configs[i]`.
    Pagerduty(PagerdutyConfig),
    /// `email_configs[i]`.
    Email(EmailConfig),
}

impl Integration {
    /// Every integration of `r`, with its name and index (`webhook/0`).
    pub fn of(r: &ReceiverConfig) -> Vec<(String, Integration)> {
        let mut out = Vec::new();
        for (i, c) in r.webhook_configs.iter().enumerate() {
            out.push((format!("webhook/{i}"), Integration::Webhook(c.clone())));
        }
        for (i, c) in r.slack_configs.iter().enumerate() {
            out.push((format!("slack/{i}"), Integration::Slack(c.clone())));
        }
        for (i, c) in r.pagerduty_configs.iter().enumerate() {
            out.push((format!("pagerduty/{i}"), Integration::Pagerduty(c.clone())));
        }
        for (i, c) in r.email_configs.iter().enumerate() {
            out.push((format!("email/{i}"), Integration::Email(c.clone())));
        }
        out
    }

    /// Whether resolved alerts are notified (Alertmanager's per-integration defaults).
    pub fn send_resolved(&self) -> bool {
        match self {
            Integration::Webhook(c) => c.send_resolved.unwrap_or(true),
            Integration::Slack(c) => c.send_resolved.unwrap_or(false),
            Integration::Pagerduty(c) => c.send_resolved.unwrap_or(true),
            Integration::Email(c) => c.send_resolved.unwrap_or(false),
        }
    }

    /// Sends `n`.
    pub async fn send(
        &self,
        http: &reqwest::Client,
        global: &GlobalConfig,
        n: &Notification,
    ) -> Result<(), SendError> {
        match self {
            Integration::Webhook(c) => {
                let auth = c.http_config.authorization_header();
                post_json(http, &c.url, auth, &n.webhook_message(c.max_alerts)).await
            }
            Integration::Slack(c) => {
                let url = c
                    .api_url
                    .as_ref()
                    .or(global.slack_api_url.as_ref())
                    .cloned()
                    .unwrap_or_default();
                post_json(http, &url, None, &slack_payload(c, n)).await
            }
            Integration::Pagerduty(c) => {
                let url = c
                    .url
                    .as_ref()
                    .or(global.pagerduty_url.as_ref())
                    .cloned()
                    .unwrap_or_else(|| "https://events.pagerduty.com/v2/enqueue".into());
                post_json(http, &url, None, &pagerduty_payload(c, n)).await
            }
            Integration::Email(c) => super::smtp::send_email(c, global, n).await,
        }
    }
}

fn plain(configured: &Option<String>) -> Option<&str> {
    configured.as_deref().filter(|t| !t.contains("{{"))
}

/// Slack's incoming-webhook JSON.
pub fn slack_payload(c: &SlackConfig, n: &Notification) -> serde_json::Value {
    let color = if n.firing() > 0 { "danger" } else { "good" };
    let title = plain(&c.title).map_or_else(|| n.title(), str::to_string);
    let text = plain(&c.text).map_or_else(|| n.text(), str::to_string);
    let mut v = json!({
        "attachments": [{
            "title": title,
            "title_link": n.external_url,
            "text": text,
            "fallback": title,
            "color": color,
            "mrkdwn_in": ["fallback", "pretext", "text"],
        }],
    });
    if let Some(ch) = &c.channel {
        v["channel"] = json!(ch);
    }
    if let Some(u) = &c.username {
        v["username"] = json!(u);
    }
    v
}

/// PagerDuty Events API v2 JSON: trigger while any alert fires, resolve after.
pub fn pagerduty_payload(c: &PagerdutyConfig, n: &Notification) -> serde_json::Value {
    let firing = n.firing();
    let mut details: serde_json::Map<String, serde_json::Value> = serde_json::Map::new();
    details.insert(
        "firing".into(),
        json!(
            n.alerts
                .iter()
                .filter(|a| !a.2)
                .map(|a| alert_line(&a.1))
                .collect::<Vec<_>>()
                .join("\n")
        ),
    );
    details.insert(
        "resolved".into(),
        json!(
            n.alerts
                .iter()
                .filter(|a| a.2)
                .map(|a| alert_line(&a.1))
                .collect::<Vec<_>>()
                .join("\n")
        ),
    );
    details.insert("num_firing".into(), json!(firing.to_string()));
    details.insert(
        "num_resolved".into(),
        json!((n.alerts.len() - firing).to_string()),
    );
    for (k, v) in &c.details {
        if !v.contains("{{") {
            details.insert(k.clone(), json!(v));
        }
    }
    let mut summary = plain(&c.description).map_or_else(|| n.title(), str::to_string);
    if summary.len() > 1024 {
        let mut cut = 1021;
        while !summary.is_char_boundary(cut) {
            cut -= 1;
        }
        summary.truncate(cut);
        summary.push_str("...");
    }
    json!({
        "routing_key": c.routing_key.clone().unwrap_or_default(),
        "event_action": if firing > 0 { "trigger" } else { "resolve" },
        "dedup_key": hash_hex(&n.group_key),
        "client": "oxeye",
        "client_url": n.external_url,
        "payload": {
            "summary": summary,
            "source": if n.external_url.is_empty() { "oxeye" } else { n.external_url.as_str() },
            "severity": c.severity.clone().filter(|s| !s.contains("{{")).unwrap_or_else(|| "error".into()),
            "custom_details": details,
        },
    })
}

/// `alertname summary (runbook)`, one alert on one line.
fn alert_line(a: &Alert) -> String {
    let mut s = a.labels.get("alertname").cloned().unwrap_or_default();
    for k in ["summary", "description", "runbook_url"] {
        if let Some(v) = a.annotations.get(k) {
            s.push_str(&format!(" {k}={v:?}"));
        }
    }
    s
}

async fn post_json<T: serde::Serialize>(
    http: &reqwest::Client,
    url: &str,
    authorization: Option<String>,
    body: &T,
) -> Result<(), SendError> {
    let bytes = serde_json::to_vec(body).map_err(|e| SendError {
        message: format!("encoding the payload for {url}: {e}"),
        retryable: false,
    })?;
    let mut req = http
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json");
    if let Some(auth) = authorization {
        req = req.header(reqwest::header::AUTHORIZATION, auth);
    }
    let resp = req.body(bytes).send().await.map_err(|e| SendError {
        message: format!("POST {url}: {e}"),
        retryable: true,
    })?;
    let status = resp.status();
    if status.is_success() {
        return Ok(());
    }
    let text = resp.text().await.unwrap_or_default();
    let text: String = text.chars().take(512).collect();
    Err(SendError {
        message: format!("POST {url}: unexpected status {status}: {text}"),
        retryable: status.is_server_error() || status.as_u16() == 429,
    })
}
