//! The notifier's configuration in Alertmanager's YAML format: `global`, the `route`
//! tree, `inhibit_rules`, `receivers` and `time_intervals`, parsed with serde and then
//! compiled ([`Config::parse`]) into matchers, durations in ms and checked references
//! (every receiver and time interval a route names must exist). `templates` is accepted
//! and ignored: receivers render with built-in texts.

use std::collections::{BTreeMap, HashSet};

use serde::Deserialize;

use super::matchers::{Matchers, parse_matchers};
use super::timeinterval::TimeInterval;
use crate::RulesError;

fn invalid(msg: impl Into<String>) -> RulesError {
    RulesError::Invalid(msg.into())
}

/// Parses a Prometheus/Alertmanager duration (`30s`, `1h30m`, `1d`, `1w`, `500ms`) in ms.
pub fn parse_duration(s: &str) -> Result<i64, RulesError> {
    crate::file::parse_duration(s)
}

/// `global:`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct GlobalConfig {
    /// How long an alert without `endsAt` stays firing without an update (default 5m).
    pub resolve_timeout: Option<String>,
    /// Default Slack incoming webhook URL.
    pub slack_api_url: Option<String>,
    /// Default PagerDuty events URL.
    pub pagerduty_url: Option<String>,
    /// Default sender address.
    pub smtp_from: Option<String>,
    /// Default SMTP server, `host:port`.
    pub smtp_smarthost: Option<String>,
    /// Default SMTP hello name.
    pub smtp_hello: Option<String>,
    /// Default SMTP user.
    pub smtp_auth_username: Option<String>,
    /// Default SMTP password.
    pub smtp_auth_password: Option<String>,
    /// Default for `require_tls`.
    pub smtp_require_tls: Option<bool>,
    /// Other global keys (http_config, opsgenie, ...) are accepted and unused.
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

/// One node of the `route:` tree as written.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RouteConfig {
    /// Receiver name (inherited when absent).
    pub receiver: Option<String>,
    /// Labels to group by; `...` groups by all labels.
    pub group_by: Option<Vec<String>>,
    /// Keep matching siblings after this route matched.
    #[serde(default, rename = "continue")]
    pub continue_: bool,
    /// Deprecated equality matchers.
    #[serde(default, rename = "match")]
    pub match_eq: BTreeMap<String, String>,
    /// Deprecated regex matchers.
    #[serde(default)]
    pub match_re: BTreeMap<String, String>,
    /// Matchers in the `a="b"` syntax.
    #[serde(default)]
    pub matchers: Vec<String>,
    /// Wait before the first notification of a group.
    pub group_wait: Option<String>,
    /// Wait between notifications of a changed group.
    pub group_interval: Option<String>,
    /// Wait before re-sending an unchanged group.
    pub repeat_interval: Option<String>,
    /// Time intervals in which notifications are muted.
    #[serde(default)]
    pub mute_time_intervals: Vec<String>,
    /// Time intervals outside which notifications are muted.
    #[serde(default)]
    pub active_time_intervals: Vec<String>,
    /// Child routes.
    #[serde(default)]
    pub routes: Vec<RouteConfig>,
}

/// One `inhibit_rules` entry as written.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct InhibitRuleConfig {
    #[serde(default)]
    source_matchers: Vec<String>,
    #[serde(default)]
    target_matchers: Vec<String>,
    #[serde(default)]
    source_match: BTreeMap<String, String>,
    #[serde(default)]
    source_match_re: BTreeMap<String, String>,
    #[serde(default)]
    target_match: BTreeMap<String, String>,
    #[serde(default)]
    target_match_re: BTreeMap<String, String>,
    #[serde(default)]
    equal: Vec<String>,
}

/// `webhook_configs` entry.
#[derive(Debug, Clone, Deserialize)]
pub struct WebhookConfig {
    /// Where to POST.
    pub url: String,
    /// Also notify about resolved alerts (default true).
    pub send_resolved: Option<bool>,
    /// Most alerts in one payload (0: all).
    #[serde(default)]
    pub max_alerts: usize,
    /// Authentication of the POST.
    #[serde(default)]
    pub http_config: HttpConfig,
}

/// `http_config` of an HTTP receiver: the credentials sent with each request.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct HttpConfig {
    /// HTTP basic authentication.
    pub basic_auth: Option<BasicAuth>,
    /// `Authorization: <type> <credentials>` (type defaults to `Bearer`).
    pub authorization: Option<Authorization>,
    /// Deprecated form of a bearer `authorization`.
    pub bearer_token: Option<String>,
}

/// `basic_auth`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct BasicAuth {
    /// User.
    pub username: String,
    /// Password.
    #[serde(default)]
    pub password: String,
}

/// `authorization`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Authorization {
    /// Scheme (default `Bearer`).
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Token.
    #[serde(default)]
    pub credentials: String,
}

impl HttpConfig {
    /// The `Authorization` header value, if any.
    pub fn authorization_header(&self) -> Option<String> {
        if let Some(b) = &self.basic_auth {
            let raw = format!("{}:{}", b.username, b.password);
            return Some(format!("Basic {}", super::smtp::base64(raw.as_bytes())));
        }
        if let Some(a) = &self.authorization {
            let kind = a.kind.as_deref().unwrap_or("Bearer");
            return Some(format!("{kind} {}", a.credentials));
        }
        self.bearer_token.as_ref().map(|t| format!("Bearer {t}"))
    }
}

/// `slack_configs` entry.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SlackConfig {
    /// Incoming webhook URL (default `global.slack_api_url`).
    pub api_url: Option<String>,
    /// Channel override.
    pub channel: Option<String>,
    /// Username override.
    pub username: Option<String>,
    /// Title (plain text; Go templates are not expanded, the built-in title is used when
    /// absent or templated).
    pub title: Option<String>,
    /// Text (same rule as `title`).
    pub text: Option<String>,
    /// Also notify about resolved alerts (default false).
    pub send_resolved: Option<bool>,
}

/// `pagerduty_configs` entry.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PagerdutyConfig {
    /// Events API v2 integration key.
    pub routing_key: Option<String>,
    /// Events URL (default `global.pagerduty_url`).
    pub url: Option<String>,
    /// Severity (default `error`).
    pub severity: Option<String>,
    /// Summary (plain; built-in when absent or templated).
    pub description: Option<String>,
    /// Extra custom details.
    #[serde(default)]
    pub details: BTreeMap<String, String>,
    /// Also notify about resolved alerts (default true).
    pub send_resolved: Option<bool>,
}

/// `email_configs` entry.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct EmailConfig {
    /// Recipient(s), comma separated.
    pub to: String,
    /// Sender (default `global.smtp_from`).
    pub from: Option<String>,
    /// `host:port` (default `global.smtp_smarthost`).
    pub smarthost: Option<String>,
    /// EHLO name (default `localhost`).
    pub hello: Option<String>,
    /// SMTP user.
    pub auth_username: Option<String>,
    /// SMTP password.
    pub auth_password: Option<String>,
    /// Extra headers (`Subject` overrides the built-in one).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// HTML body (plain; built-in when absent or templated).
    pub html: Option<String>,
    /// Text body.
    pub text: Option<String>,
    /// Require STARTTLS (default true).
    pub require_tls: Option<bool>,
    /// TLS settings for STARTTLS.
    pub tls_config: Option<TlsConfig>,
    /// Also notify about resolved alerts (default false).
    pub send_resolved: Option<bool>,
}

/// `tls_config` of an email config.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TlsConfig {
    /// PEM file with the CA certificates to trust instead of the web PKI roots.
    pub ca_file: Option<String>,
    /// Name to verify the server certificate against (default: the smarthost's host).
    pub server_name: Option<String>,
}

/// One `receivers` entry.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ReceiverConfig {
    /// Unique name.
    pub name: String,
    /// Webhooks.
    #[serde(default)]
    pub webhook_configs: Vec<WebhookConfig>,
    /// Slack incoming webhooks.
    #[serde(default)]
    pub slack_configs: Vec<SlackConfig>,
    /// PagerDuty Events v2.
    #[serde(default)]
    pub pagerduty_configs: Vec<PagerdutyConfig>,
    /// Email over SMTP.
    #[serde(default)]
    pub email_configs: Vec<EmailConfig>,
    /// Anything else (other integrations are refused by [`Config::parse`]).
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

/// One `time_intervals` (or deprecated `mute_time_intervals`) entry.
#[derive(Debug, Clone, Deserialize)]
pub struct NamedTimeInterval {
    name: String,
    #[serde(default)]
    time_intervals: Vec<super::timeinterval::TimeIntervalConfig>,
}

/// The whole file as written.
#[derive(Debug, Clone, Default, Deserialize)]
struct FileConfig {
    #[serde(default)]
    global: GlobalConfig,
    route: Option<RouteConfig>,
    #[serde(default)]
    inhibit_rules: Vec<InhibitRuleConfig>,
    #[serde(default)]
    receivers: Vec<ReceiverConfig>,
    #[serde(default)]
    time_intervals: Vec<NamedTimeInterval>,
    #[serde(default)]
    mute_time_intervals: Vec<NamedTimeInterval>,
    #[serde(default)]
    #[allow(dead_code)]
    templates: Vec<String>,
}

/// How a route groups alerts.
#[derive(Debug, Clone, PartialEq)]
pub enum GroupBy {
    /// By these label names.
    Labels(Vec<String>),
    /// By every label (`...`).
    All,
}

/// A compiled route.
#[derive(Debug, Clone)]
pub struct Route {
    /// `{}` for the root, parent key + `/` + matchers for children; prefix of group keys.
    pub key: String,
    /// Stable index of the route in a depth-first walk.
    pub id: usize,
    /// Receiver name.
    pub receiver: String,
    /// Grouping.
    pub group_by: GroupBy,
    /// Matchers (all must match).
    pub matchers: Matchers,
    /// Keep walking siblings after a match.
    pub continue_: bool,
    /// ms.
    pub group_wait_ms: i64,
    /// ms.
    pub group_interval_ms: i64,
    /// ms.
    pub repeat_interval_ms: i64,
    /// Muting time interval names.
    pub mute_time_intervals: Vec<String>,
    /// Active time interval names.
    pub active_time_intervals: Vec<String>,
    /// Children.
    pub routes: Vec<Route>,
}

/// A compiled inhibit rule.
#[derive(Debug, Clone)]
pub struct InhibitRule {
    /// Alerts that inhibit.
    pub source: Matchers,
    /// Alerts that are inhibited.
    pub target: Matchers,
    /// Labels whose values must be equal in both.
    pub equal: Vec<String>,
}

/// The compiled configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The YAML as given (for `/api/v2/status`).
    pub original: String,
    /// Globals.
    pub global: GlobalConfig,
    /// ms; alerts without `endsAt` resolve after this.
    pub resolve_timeout_ms: i64,
    /// Root route.
    pub route: Route,
    /// Inhibit rules.
    pub inhibit_rules: Vec<InhibitRule>,
    /// Receivers by name.
    pub receivers: BTreeMap<String, ReceiverConfig>,
    /// Time intervals by name.
    pub time_intervals: BTreeMap<String, Vec<TimeInterval>>,
}

/// Keys whose values are secrets, shown as `<secret>` by [`Config::masked_original`].
const SECRET_KEYS: [&str; 9] = [
    "auth_password",
    "smtp_auth_password",
    "password",
    "credentials",
    "bearer_token",
    "routing_key",
    "service_key",
    "api_url",
    "slack_api_url",
];

impl Config {
    /// The configuration text with secret values (passwords, tokens, routing keys,
    /// Slack webhook URLs) replaced by `<secret>`, as Alertmanager shows its config.
    pub fn masked_original(&self) -> String {
        let flow = regex::Regex::new(&format!(
            r#"((?:^|[{{,\s])(?:{})\s*:\s*)("(?:[^"\\]|\\.)*"|'[^']*'|[^\s,}}][^,}}\n]*)"#,
            SECRET_KEYS.join("|")
        ))
        .ok();
        let mut out = String::with_capacity(self.original.len());
        for line in self.original.split_inclusive('\n') {
            if line.contains('{')
                && let Some(re) = &flow
            {
                out.push_str(&re.replace_all(line, "${1}<secret>"));
                continue;
            }
            let body = line.trim_start().trim_start_matches("- ");
            let masked = body.split_once(':').and_then(|(k, v)| {
                let k = k.trim().trim_matches(|c| c == '"' || c == '\'');
                let v = v.trim();
                (SECRET_KEYS.contains(&k) && !v.is_empty()).then_some(v)
            });
            match masked {
                Some(v) => {
                    let at = line.rfind(v).unwrap_or(line.len());
                    out.push_str(&line[..at]);
                    out.push_str("<secret>");
                    out.push_str(&line[at + v.len().min(line.len() - at)..]);
                }
                None => out.push_str(line),
            }
        }
        out
    }
}

/// The receiver used when no configuration is given: it notifies nowhere.
pub const DEFAULT_RECEIVER: &str = "default";

impl Config {
    /// Parses and checks `yaml`; empty text is a default config with one receiver that
    /// notifies nowhere.
    pub fn parse(yaml: &str) -> Result<Config, RulesError> {
        let file: FileConfig = if yaml.trim().is_empty() {
            FileConfig {
                route: Some(RouteConfig {
                    receiver: Some(DEFAULT_RECEIVER.into()),
                    ..Default::default()
                }),
                receivers: vec![ReceiverConfig {
                    name: DEFAULT_RECEIVER.into(),
                    ..Default::default()
                }],
                ..Default::default()
            }
        } else {
            serde_saphyr::from_str(yaml)
                .map_err(|e| invalid(format!("invalid notifier config: {e}")))?
        };
        let resolve_timeout_ms = match &file.global.resolve_timeout {
            Some(s) => parse_duration(s)?,
            None => 5 * 60_000,
        };
        let mut receivers = BTreeMap::new();
        for r in &file.receivers {
            if r.name.is_empty() {
                return Err(invalid("receiver with an empty name"));
            }
            if receivers.insert(r.name.clone(), r.clone()).is_some() {
                return Err(invalid(format!(
                    "notification config name {:?} is not unique",
                    r.name
                )));
            }
            check_receiver(r, &file.global)?;
        }
        let mut time_intervals = BTreeMap::new();
        for ti in file.time_intervals.iter().chain(&file.mute_time_intervals) {
            let compiled = ti
                .time_intervals
                .iter()
                .map(TimeInterval::compile)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| invalid(format!("time interval {:?}: {e}", ti.name)))?;
            if time_intervals.insert(ti.name.clone(), compiled).is_some() {
                return Err(invalid(format!(
                    "time interval {:?} is defined twice",
                    ti.name
                )));
            }
        }
        let Some(root) = &file.route else {
            return Err(invalid("no route provided in config"));
        };
        if root.receiver.as_deref().unwrap_or("").is_empty() {
            return Err(invalid("root route must specify a default receiver"));
        }
        if !root.match_eq.is_empty() || !root.match_re.is_empty() || !root.matchers.is_empty() {
            return Err(invalid("root route must not have any matchers"));
        }
        if root.continue_ {
            return Err(invalid("cannot have continue in root route"));
        }
        let defaults = Inherited {
            receiver: String::new(),
            group_by: GroupBy::Labels(Vec::new()),
            group_wait_ms: 30_000,
            group_interval_ms: 5 * 60_000,
            repeat_interval_ms: 4 * 3_600_000,
        };
        let mut next_id = 0;
        let route = compile_route(root, &defaults, None, &mut next_id)?;
        check_route_refs(&route, &receivers, &time_intervals)?;
        let mut inhibit_rules = Vec::new();
        for (i, r) in file.inhibit_rules.iter().enumerate() {
            let what = format!("inhibit rule {}", i + 1);
            let source = collect_matchers(
                &r.source_matchers,
                &r.source_match,
                &r.source_match_re,
                &what,
            )?;
            let target = collect_matchers(
                &r.target_matchers,
                &r.target_match,
                &r.target_match_re,
                &what,
            )?;
            inhibit_rules.push(InhibitRule {
                source,
                target,
                equal: r.equal.clone(),
            });
        }
        Ok(Config {
            original: yaml.to_string(),
            global: file.global,
            resolve_timeout_ms,
            route,
            inhibit_rules,
            receivers,
            time_intervals,
        })
    }
}

fn check_receiver(r: &ReceiverConfig, g: &GlobalConfig) -> Result<(), RulesError> {
    let name = &r.name;
    if let Some(key) = r.other.keys().next() {
        return Err(invalid(format!(
            "receiver {name:?}: {key} is not supported (webhook_configs, slack_configs, pagerduty_configs and email_configs are)"
        )));
    }
    for w in &r.webhook_configs {
        if !(w.url.starts_with("http://") || w.url.starts_with("https://")) {
            return Err(invalid(format!(
                "receiver {name:?}: webhook url {:?} is not an http(s) URL",
                w.url
            )));
        }
    }
    for s in &r.slack_configs {
        if s.api_url.is_none() && g.slack_api_url.is_none() {
            return Err(invalid(format!(
                "receiver {name:?}: no slack api_url and no global slack_api_url"
            )));
        }
    }
    for p in &r.pagerduty_configs {
        if p.routing_key.as_deref().unwrap_or("").is_empty() {
            return Err(invalid(format!(
                "receiver {name:?}: pagerduty config needs routing_key"
            )));
        }
    }
    for e in &r.email_configs {
        if e.to.is_empty() {
            return Err(invalid(format!(
                "receiver {name:?}: missing to address in email config"
            )));
        }
        if e.smarthost.is_none() && g.smtp_smarthost.is_none() {
            return Err(invalid(format!(
                "receiver {name:?}: no smarthost and no global smtp_smarthost"
            )));
        }
        if e.from.is_none() && g.smtp_from.is_none() {
            return Err(invalid(format!(
                "receiver {name:?}: no from address and no global smtp_from"
            )));
        }
    }
    Ok(())
}

struct Inherited {
    receiver: String,
    group_by: GroupBy,
    group_wait_ms: i64,
    group_interval_ms: i64,
    repeat_interval_ms: i64,
}

fn collect_matchers(
    new_syntax: &[String],
    eq: &BTreeMap<String, String>,
    re: &BTreeMap<String, String>,
    what: &str,
) -> Result<Matchers, RulesError> {
    let mut out = Matchers::default();
    for (k, v) in eq {
        out.push(oxeye_core::Matcher::equal(k.clone(), v.clone()));
    }
    for (k, v) in re {
        let m = oxeye_core::Matcher::new(oxeye_core::MatchOp::Regex, k.clone(), v.clone())
            .map_err(|e| invalid(format!("{what}: {e}")))?;
        out.push(m);
    }
    for s in new_syntax {
        for m in parse_matchers(s).map_err(|e| invalid(format!("{what}: {e}")))? {
            out.push(m);
        }
    }
    Ok(out)
}

fn compile_route(
    rc: &RouteConfig,
    parent: &Inherited,
    parent_key: Option<&str>,
    next_id: &mut usize,
) -> Result<Route, RulesError> {
    let id = *next_id;
    *next_id += 1;
    let what = format!("route {id}");
    let matchers = collect_matchers(&rc.matchers, &rc.match_eq, &rc.match_re, &what)?;
    let key = match parent_key {
        None => "{}".to_string(),
        Some(p) => format!("{p}/{matchers}"),
    };
    let group_by = match &rc.group_by {
        None => parent.group_by.clone(),
        Some(g) if g.iter().any(|l| l == "...") => {
            if g.len() > 1 {
                return Err(invalid(format!(
                    "{what}: cannot have wildcard group_by (`...`) and other labels at the same time"
                )));
            }
            GroupBy::All
        }
        Some(g) => {
            let mut seen = HashSet::new();
            for l in g {
                if !seen.insert(l) {
                    return Err(invalid(format!(
                        "{what}: duplicated label {l:?} in group_by"
                    )));
                }
            }
            GroupBy::Labels(g.clone())
        }
    };
    let dur = |v: &Option<String>, d: i64| -> Result<i64, RulesError> {
        v.as_deref().map_or(Ok(d), parse_duration)
    };
    let group_interval_ms = dur(&rc.group_interval, parent.group_interval_ms)?;
    let repeat_interval_ms = dur(&rc.repeat_interval, parent.repeat_interval_ms)?;
    if group_interval_ms <= 0 {
        return Err(invalid(format!("{what}: group_interval cannot be zero")));
    }
    if repeat_interval_ms <= 0 {
        return Err(invalid(format!("{what}: repeat_interval cannot be zero")));
    }
    let here = Inherited {
        receiver: rc
            .receiver
            .clone()
            .unwrap_or_else(|| parent.receiver.clone()),
        group_by,
        group_wait_ms: dur(&rc.group_wait, parent.group_wait_ms)?,
        group_interval_ms,
        repeat_interval_ms,
    };
    let mut routes = Vec::new();
    for child in &rc.routes {
        routes.push(compile_route(child, &here, Some(&key), next_id)?);
    }
    Ok(Route {
        key,
        id,
        receiver: here.receiver,
        group_by: here.group_by,
        matchers,
        continue_: rc.continue_,
        group_wait_ms: here.group_wait_ms,
        group_interval_ms: here.group_interval_ms,
        repeat_interval_ms: here.repeat_interval_ms,
        mute_time_intervals: rc.mute_time_intervals.clone(),
        active_time_intervals: rc.active_time_intervals.clone(),
        routes,
    })
}

fn check_route_refs(
    r: &Route,
    receivers: &BTreeMap<String, ReceiverConfig>,
    intervals: &BTreeMap<String, Vec<TimeInterval>>,
) -> Result<(), RulesError> {
    if !receivers.contains_key(&r.receiver) {
        return Err(invalid(format!(
            "undefined receiver {:?} used in route",
            r.receiver
        )));
    }
    for t in r.mute_time_intervals.iter().chain(&r.active_time_intervals) {
        if !intervals.contains_key(t) {
            return Err(invalid(format!(
                "undefined time interval {t:?} used in route"
            )));
        }
    }
    r.routes
        .iter()
        .try_for_each(|c| check_route_refs(c, receivers, intervals))
}

impl Route {
    /// The routes `labels` goes to, depth first: a route matches when its matchers do;
    /// the deepest matching children win, siblings after a match only when it has
    /// `continue`; a matching route without matching children takes the alert itself.
    pub fn matching<'a>(&'a self, labels: &super::LabelSet, out: &mut Vec<&'a Route>) {
        if !self.matchers.matches(labels) {
            return;
        }
        let before = out.len();
        for child in &self.routes {
            let n = out.len();
            child.matching(labels, out);
            if out.len() > n && !child.continue_ {
                break;
            }
        }
        if out.len() == before {
            out.push(self);
        }
    }

    /// Every route of the tree, depth first.
    pub fn walk<'a>(&'a self, out: &mut Vec<&'a Route>) {
        out.push(self);
        for c in &self.routes {
            c.walk(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked_in_the_shown_config() {
        let yaml = "global:\n  slack_api_url: https://hooks.slack.com/T/B/X\n  smtp_auth_password: 'hunter2'\nroute: {receiver: a}\nreceivers:\n- name: a\n  pagerduty_configs: [{routing_key: abc123, severity: page}]\n  webhook_configs:\n  - url: http://x/y\n    http_config:\n      basic_auth:\n        username: u\n        password: p,w\n";
        let cfg = Config::parse(yaml).unwrap();
        let shown = cfg.masked_original();
        for secret in ["hooks.slack.com", "hunter2", "abc123", "p,w"] {
            assert!(!shown.contains(secret), "{secret} visible in {shown}");
        }
        assert!(shown.contains("severity: page"), "{shown}");
        assert!(shown.contains("username: u"), "{shown}");
        assert!(shown.contains("url: http://x/y"), "{shown}");
        assert_eq!(shown.matches("<secret>").count(), 4, "{shown}");
    }
}
