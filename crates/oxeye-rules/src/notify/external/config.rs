//! `alerting:` in the configuration file, with Prometheus's field names, and its checks.
//!
//! ```yaml
//! alerting:
//!   alertmanagers:
//!     - static_configs: [{targets: ["am-1:9093", "am-2:9093"]}]
//!       scheme: https          # http (default) or https
//!       path_prefix: /am       # Alertmanager behind a path
//!       timeout: 10s           # per request
//!       api_version: v2        # v1 was removed from Alertmanager 0.27 and is refused
//!       basic_auth: {username: u, password: p}
//! ```
//! Unknown keys are errors, so a Prometheus setting oxeye does not implement (service
//! discovery, relabelling, TLS files) is reported instead of silently ignored.

use serde::Deserialize;

use crate::RulesError;

/// `alerting:` in the configuration file (Prometheus's section).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertingConfig {
    /// The Alertmanagers alerts are sent to.
    #[serde(default)]
    pub alertmanagers: Vec<AlertmanagerConfig>,
}

/// One `alertmanagers[]` entry: a set of Alertmanagers sharing their settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertmanagerConfig {
    /// `host:port` lists.
    #[serde(default)]
    pub static_configs: Vec<StaticConfig>,
    /// `http` or `https`.
    #[serde(default = "default_scheme")]
    pub scheme: String,
    /// Prefix of the API path, e.g. `/alertmanager`.
    #[serde(default)]
    pub path_prefix: String,
    /// Per-request timeout, a Prometheus duration.
    #[serde(default = "default_timeout")]
    pub timeout: String,
    /// Only `v2`.
    #[serde(default = "default_api_version")]
    pub api_version: String,
    /// HTTP basic authentication.
    #[serde(default)]
    pub basic_auth: Option<BasicAuth>,
    /// Accepted for compatibility; redirects are always followed.
    #[serde(default)]
    pub follow_redirects: Option<bool>,
}

impl Default for AlertmanagerConfig {
    fn default() -> Self {
        Self {
            static_configs: Vec::new(),
            scheme: default_scheme(),
            path_prefix: String::new(),
            timeout: default_timeout(),
            api_version: default_api_version(),
            basic_auth: None,
            follow_redirects: None,
        }
    }
}

/// `static_configs[]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticConfig {
    /// `host:port` of each Alertmanager.
    #[serde(default)]
    pub targets: Vec<String>,
    /// Accepted as in Prometheus; target labels have no use when sending alerts.
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
}

/// `basic_auth`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    /// User name.
    #[serde(default)]
    pub username: String,
    /// Password.
    #[serde(default)]
    pub password: String,
}

fn default_scheme() -> String {
    "http".into()
}

fn default_timeout() -> String {
    "10s".into()
}

fn default_api_version() -> String {
    "v2".into()
}

/// One Alertmanager to post to, resolved from the config.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// `<scheme>://<host:port><path_prefix>/api/v2/alerts`.
    pub url: String,
    /// Per-request timeout.
    pub timeout: std::time::Duration,
    /// User name and password.
    pub basic_auth: Option<(String, String)>,
}

impl AlertingConfig {
    /// Checks the section and lists the Alertmanagers to post to.
    pub fn targets(&self) -> Result<Vec<Target>, RulesError> {
        let mut out = Vec::new();
        for (i, am) in self.alertmanagers.iter().enumerate() {
            let at =
                |msg: String| RulesError::Invalid(format!("alerting.alertmanagers[{i}]: {msg}"));
            match am.api_version.as_str() {
                "v2" => {}
                "v1" => {
                    return Err(at(
                        "api_version v1 is not supported: Alertmanager removed API v1 in 0.27; \
                         use api_version: v2"
                            .into(),
                    ));
                }
                other => return Err(at(format!("unknown api_version {other:?}, expected v2"))),
            }
            if am.scheme != "http" && am.scheme != "https" {
                return Err(at(format!(
                    "scheme {:?} is not supported, expected http or https",
                    am.scheme
                )));
            }
            let timeout_ms = crate::file::parse_duration(&am.timeout)
                .map_err(|e| at(format!("timeout: {e}")))?;
            let timeout = std::time::Duration::from_millis(u64::try_from(timeout_ms).unwrap_or(0));
            if timeout.is_zero() {
                return Err(at("timeout must be greater than 0".into()));
            }
            let prefix = am.path_prefix.trim_end_matches('/');
            if !prefix.is_empty() && !prefix.starts_with('/') {
                return Err(at(format!(
                    "path_prefix {:?} must start with /",
                    am.path_prefix
                )));
            }
            for sc in &am.static_configs {
                for t in &sc.targets {
                    let valid = !t.is_empty()
                        && !t.contains('/')
                        && !t.contains(char::is_whitespace)
                        && !t.contains('@');
                    if !valid {
                        return Err(at(format!(
                            "target {t:?} is not a host:port (no scheme or path: use scheme \
                             and path_prefix)"
                        )));
                    }
                    out.push(Target {
                        url: format!("{}://{t}{prefix}/api/v2/alerts", am.scheme),
                        timeout,
                        basic_auth: am
                            .basic_auth
                            .as_ref()
                            .map(|b| (b.username.clone(), b.password.clone())),
                    });
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<AlertingConfig, String> {
        serde_saphyr::from_str(yaml).map_err(|e| e.to_string())
    }

    #[test]
    fn prometheus_section_with_defaults() {
        let c = parse(
            "alertmanagers:\n  - static_configs:\n      - targets: ['a:9093', 'b:9093']\n  - scheme: https\n    path_prefix: /am/\n    timeout: 1m30s\n    basic_auth: {username: u, password: p}\n    follow_redirects: false\n    static_configs: [{targets: ['c:443']}]\n",
        )
        .expect("parse");
        let t = c.targets().expect("targets");
        assert_eq!(t.len(), 3);
        assert_eq!(t[0].url, "http://a:9093/api/v2/alerts");
        assert_eq!(t[0].timeout, std::time::Duration::from_secs(10));
        assert_eq!(t[2].url, "https://c:443/am/api/v2/alerts");
        assert_eq!(t[2].timeout, std::time::Duration::from_secs(90));
        assert_eq!(t[2].basic_auth, Some(("u".into(), "p".into())));
    }

    #[test]
    fn refusals_say_why() {
        let cases = [
            (
                "alertmanagers: [{api_version: v1}]",
                "api_version v1 is not supported",
            ),
            (
                "alertmanagers: [{scheme: ftp}]",
                "scheme \"ftp\" is not supported",
            ),
            ("alertmanagers: [{timeout: 10}]", "not a valid duration"),
            (
                "alertmanagers: [{static_configs: [{targets: ['http://a:9093']}]}]",
                "is not a host:port",
            ),
        ];
        for (yaml, want) in cases {
            let err = parse(yaml)
                .expect("parse")
                .targets()
                .expect_err(yaml)
                .to_string();
            assert!(err.contains(want), "{err}");
        }
        let err = parse("alertmanagers: [{relabel_configs: []}]").expect_err("unknown key");
        assert!(err.contains("relabel_configs"), "{err}");
    }
}
