//! Alerts as rules hand them to notifiers, in the shape of Alertmanager's API v2
//! `postableAlert`.
//!
//! A firing alert is sent with `ends_at_ms` in the future (its validity: when a notifier
//! hears nothing more it resolves the alert then); a resolved one with `ends_at_ms` at
//! its resolution time. [`AlertSink`] is the notifier side: the external Alertmanager
//! client and the built-in notifier both implement it.

use std::collections::BTreeMap;

use oxeye_core::TenantId;
use serde::{Deserialize, Serialize};

/// A label set or annotation set, ordered by name.
pub type LabelSet = BTreeMap<String, String>;

/// One alert instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Identifying labels (`alertname` included).
    pub labels: LabelSet,
    /// Annotations after template expansion.
    #[serde(default)]
    pub annotations: LabelSet,
    /// When the alert started firing, ms.
    pub starts_at_ms: i64,
    /// When it resolves (resolved alerts) or stops being valid without a resend (firing
    /// alerts), ms.
    #[serde(default)]
    pub ends_at_ms: Option<i64>,
    /// Link back to the rule's expression.
    #[serde(default)]
    pub generator_url: String,
}

impl Alert {
    /// Whether the alert is resolved at `now_ms`.
    pub fn is_resolved_at(&self, now_ms: i64) -> bool {
        self.ends_at_ms.is_some_and(|e| e <= now_ms)
    }
}

/// Receives alerts from the rule manager; must not block (queue and return).
pub trait AlertSink: Send + Sync {
    /// Hands over alerts of `tenant` to be notified.
    fn send(&self, tenant: &TenantId, alerts: Vec<Alert>);
}

/// Hands every batch to several sinks (external Alertmanagers and the built-in notifier).
#[derive(Default)]
pub struct Fanout {
    sinks: Vec<std::sync::Arc<dyn AlertSink>>,
}

impl std::fmt::Debug for Fanout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fanout")
            .field("sinks", &self.sinks.len())
            .finish()
    }
}

impl Fanout {
    /// Sends to each of `sinks`.
    pub fn new(sinks: Vec<std::sync::Arc<dyn AlertSink>>) -> Self {
        Self { sinks }
    }
}

impl AlertSink for Fanout {
    fn send(&self, tenant: &TenantId, alerts: Vec<Alert>) {
        let Some((last, rest)) = self.sinks.split_last() else {
            return;
        };
        for sink in rest {
            sink.send(tenant, alerts.clone());
        }
        last.send(tenant, alerts);
    }
}
