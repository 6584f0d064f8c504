//! Sending alerts to external Alertmanagers (`alerting.alertmanagers`, as in
//! Prometheus's config): `POST /api/v2/alerts` to every configured instance, from a
//! bounded queue, firing alerts re-sent, resolved ones sent with `endsAt`.
//!
//! Data flow: [`AlertSink::send`] (called by the rule manager on every evaluation that
//! has alerts to (re)send) appends to a queue of at most [`QUEUE_CAPACITY`] alerts and
//! returns at once; when full, the oldest alerts are dropped with a warning and counted.
//! [`ExternalAlertmanagers::run`] takes batches of up to [`MAX_BATCH`] alerts of one
//! tenant off the queue and posts each batch to every Alertmanager concurrently, each
//! request bounded by its `timeout`. A failed post is logged and counted and not retried:
//! the rule manager sends firing alerts again on its resend interval, as Prometheus does.
//!
//! Tenancy: alerts of a tenant other than the default one carry `X-Scope-OrgID: <tenant>`,
//! the header Mimir's and Cortex's multi-tenant Alertmanagers read; a plain Alertmanager
//! ignores it. `external_labels` are added to every alert; the alert's own labels win.

mod config;

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use oxeye_core::{Clock, TenantId};
use parking_lot::Mutex;
use serde::Serialize;

pub use config::{AlertingConfig, AlertmanagerConfig, BasicAuth, StaticConfig, Target};

use crate::RulesError;
use crate::alert::{Alert, AlertSink, LabelSet};

/// Most alerts waiting to be sent (Prometheus's `--alertmanager.notification-queue-capacity`
/// default); beyond it the oldest are dropped.
pub const QUEUE_CAPACITY: usize = 10_000;
/// Most alerts in one request (Prometheus's batch size).
pub const MAX_BATCH: usize = 64;
/// The tenant whose alerts go out without `X-Scope-OrgID` unless changed with
/// [`ExternalAlertmanagers::set_default_tenant`].
pub const DEFAULT_TENANT: &str = "anonymous";

/// Counters of the sender, as Prometheus's `prometheus_notifications_*` metrics.
#[derive(Debug, Default)]
pub struct SenderStats {
    /// Alerts posted successfully, counted once per Alertmanager.
    pub sent: AtomicU64,
    /// Alerts whose post failed, counted once per Alertmanager.
    pub errors: AtomicU64,
    /// Alerts dropped because the queue was full (or no Alertmanager is configured).
    pub dropped: AtomicU64,
}

/// What the sender knows of one Alertmanager.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AlertmanagerStatus {
    /// Where alerts are posted.
    pub url: String,
    /// When a post last succeeded, ms (clock time).
    pub last_success_ms: Option<i64>,
    /// The last failure's message, cleared by a success.
    pub last_error: Option<String>,
}

struct State {
    queue: VecDeque<(TenantId, Alert)>,
    targets: Vec<Target>,
    status: Vec<AlertmanagerStatus>,
    default_tenant: TenantId,
}

/// The external Alertmanagers alerts are sent to.
pub struct ExternalAlertmanagers {
    state: Mutex<State>,
    wake: tokio::sync::Notify,
    external_labels: Mutex<LabelSet>,
    clock: Arc<dyn Clock>,
    client: reqwest::Client,
    stats: SenderStats,
}

impl std::fmt::Debug for ExternalAlertmanagers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.state.lock();
        f.debug_struct("ExternalAlertmanagers")
            .field("targets", &s.targets)
            .field("queued", &s.queue.len())
            .finish_non_exhaustive()
    }
}

/// An alert in Alertmanager's API v2 `postableAlert` shape.
#[derive(Debug, Serialize)]
struct PostableAlert<'a> {
    labels: LabelSet,
    annotations: &'a LabelSet,
    #[serde(rename = "startsAt")]
    starts_at: String,
    #[serde(rename = "endsAt", skip_serializing_if = "Option::is_none")]
    ends_at: Option<String>,
    #[serde(rename = "generatorURL", skip_serializing_if = "str::is_empty")]
    generator_url: &'a str,
}

/// `ms` as RFC 3339 in UTC with milliseconds, e.g. `2024-05-01T12:00:00.250Z`.
pub fn rfc3339_ms(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000);
    let (y, m, d) = oxeye_core::civil::civil_from_days(days);
    let (h, rest) = (in_day / 3_600_000, in_day % 3_600_000);
    let (min, rest) = (rest / 60_000, rest % 60_000);
    let (s, milli) = (rest / 1000, rest % 1000);
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{s:02}.{milli:03}Z")
}

impl ExternalAlertmanagers {
    /// Senders for `config`; `external_labels` are added to every alert (its own labels
    /// win).
    pub fn new(
        config: &AlertingConfig,
        external_labels: LabelSet,
        clock: Arc<dyn Clock>,
    ) -> Result<Arc<Self>, RulesError> {
        let targets = config.targets()?;
        let client = reqwest::Client::builder()
            .build()
            .map_err(|e| RulesError::Notify(format!("cannot build the HTTP client: {e}")))?;
        let default_tenant = TenantId::new(DEFAULT_TENANT)
            .map_err(|e| RulesError::Invalid(format!("default tenant: {e}")))?;
        let status = statuses(&targets);
        Ok(Arc::new(Self {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                targets,
                status,
                default_tenant,
            }),
            wake: tokio::sync::Notify::new(),
            external_labels: Mutex::new(external_labels),
            clock,
            client,
            stats: SenderStats::default(),
        }))
    }

    /// Replaces the configuration (reload); queued alerts stay.
    pub fn apply_config(&self, config: &AlertingConfig) -> Result<(), RulesError> {
        let targets = config.targets()?;
        let mut s = self.state.lock();
        let old = std::mem::take(&mut s.status);
        s.status = statuses(&targets)
            .into_iter()
            .map(|st| old.iter().find(|o| o.url == st.url).cloned().unwrap_or(st))
            .collect();
        s.targets = targets;
        drop(s);
        self.wake.notify_one();
        Ok(())
    }

    /// Replaces the external labels (a reload changed `global.external_labels`); alerts
    /// still queued get the new ones.
    pub fn set_external_labels(&self, labels: LabelSet) {
        *self.external_labels.lock() = labels;
    }

    /// Alerts of `tenant` go out without `X-Scope-OrgID` (the server's default tenant).
    pub fn set_default_tenant(&self, tenant: TenantId) {
        self.state.lock().default_tenant = tenant;
    }

    /// The sender's counters.
    pub fn stats(&self) -> &SenderStats {
        &self.stats
    }

    /// Alerts waiting to be sent.
    pub fn queue_len(&self) -> usize {
        self.state.lock().queue.len()
    }

    /// Each configured Alertmanager and how posting to it went.
    pub fn alertmanagers(&self) -> Vec<AlertmanagerStatus> {
        self.state.lock().status.clone()
    }

    /// Sends queued alerts until `shutdown` turns true; what is still queued then is sent
    /// once more before returning.
    pub async fn run(self: Arc<Self>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        loop {
            if *shutdown.borrow() {
                break;
            }
            tokio::select! {
                changed = shutdown.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    continue;
                }
                () = self.wake.notified() => {}
            }
            self.drain().await;
        }
        self.drain().await;
    }

    /// Posts batches until the queue is empty.
    async fn drain(&self) {
        while let Some((tenant, batch, targets, default_tenant)) = self.next_batch() {
            self.post_all(&tenant, &batch, &targets, tenant == default_tenant)
                .await;
        }
    }

    /// Up to [`MAX_BATCH`] alerts of the first queued alert's tenant.
    #[allow(clippy::type_complexity)]
    fn next_batch(&self) -> Option<(TenantId, Vec<Alert>, Vec<Target>, TenantId)> {
        let mut s = self.state.lock();
        let tenant = s.queue.front()?.0.clone();
        if s.targets.is_empty() {
            let n = s.queue.len();
            s.queue.clear();
            self.stats.dropped.fetch_add(n as u64, Ordering::Relaxed);
            tracing::warn!(alerts = n, "no alertmanager is configured: alerts dropped");
            return None;
        }
        let mut batch = Vec::with_capacity(MAX_BATCH.min(s.queue.len()));
        let mut rest = VecDeque::with_capacity(s.queue.len());
        while let Some((t, a)) = s.queue.pop_front() {
            if batch.len() < MAX_BATCH && t == tenant {
                batch.push(a);
            } else {
                rest.push_back((t, a));
            }
            if batch.len() == MAX_BATCH {
                break;
            }
        }
        rest.extend(s.queue.drain(..));
        s.queue = rest;
        Some((tenant, batch, s.targets.clone(), s.default_tenant.clone()))
    }

    fn body(&self, batch: &[Alert]) -> Result<Vec<u8>, RulesError> {
        let external = self.external_labels.lock().clone();
        let alerts: Vec<PostableAlert<'_>> = batch
            .iter()
            .map(|a| {
                let mut labels = external.clone();
                labels.extend(a.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
                PostableAlert {
                    labels,
                    annotations: &a.annotations,
                    starts_at: rfc3339_ms(a.starts_at_ms),
                    ends_at: a.ends_at_ms.map(rfc3339_ms),
                    generator_url: &a.generator_url,
                }
            })
            .collect();
        serde_json::to_vec(&alerts)
            .map_err(|e| RulesError::Notify(format!("cannot encode alerts: {e}")))
    }

    async fn post_all(
        &self,
        tenant: &TenantId,
        batch: &[Alert],
        targets: &[Target],
        default: bool,
    ) {
        let body = match self.body(batch) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "alerts not sent");
                return;
            }
        };
        let mut posts = tokio::task::JoinSet::new();
        for (i, t) in targets.iter().enumerate() {
            let mut req = self
                .client
                .post(&t.url)
                .timeout(t.timeout)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone());
            if let Some((u, p)) = &t.basic_auth {
                req = req.basic_auth(u, Some(p));
            }
            if !default {
                req = req.header("X-Scope-OrgID", tenant.as_str());
            }
            let url = t.url.clone();
            posts.spawn(async move {
                let res = match req.send().await {
                    Ok(r) if r.status().is_success() => Ok(()),
                    Ok(r) => {
                        let code = r.status();
                        let text = r.text().await.unwrap_or_default();
                        let text: String = text.trim().chars().take(200).collect();
                        Err(format!("{url} answered {code}: {text}"))
                    }
                    Err(e) => Err(format!("{url}: {e}")),
                };
                (i, url, res)
            });
        }
        let n = batch.len() as u64;
        while let Some(joined) = posts.join_next().await {
            let Ok((_, url, res)) = joined else { continue };
            let now = self.clock.now_ms();
            let mut s = self.state.lock();
            let status = s.status.iter_mut().find(|st| st.url == url);
            match res {
                Ok(()) => {
                    self.stats.sent.fetch_add(n, Ordering::Relaxed);
                    if let Some(st) = status {
                        st.last_success_ms = Some(now);
                        st.last_error = None;
                    }
                }
                Err(e) => {
                    self.stats.errors.fetch_add(n, Ordering::Relaxed);
                    tracing::warn!(%tenant, alerts = n, error = %e, "error sending alerts to alertmanager");
                    if let Some(st) = status {
                        st.last_error = Some(e);
                    }
                }
            }
        }
    }
}

fn statuses(targets: &[Target]) -> Vec<AlertmanagerStatus> {
    targets
        .iter()
        .map(|t| AlertmanagerStatus {
            url: t.url.clone(),
            ..AlertmanagerStatus::default()
        })
        .collect()
}

impl AlertSink for ExternalAlertmanagers {
    fn send(&self, tenant: &TenantId, alerts: Vec<Alert>) {
        if alerts.is_empty() {
            return;
        }
        let mut s = self.state.lock();
        if s.targets.is_empty() {
            // no Alertmanager configured: nothing to queue for (as Prometheus)
            return;
        }
        for a in alerts {
            s.queue.push_back((tenant.clone(), a));
        }
        let over = s.queue.len().saturating_sub(QUEUE_CAPACITY);
        if over > 0 {
            s.queue.drain(..over);
            self.stats.dropped.fetch_add(over as u64, Ordering::Relaxed);
            tracing::warn!(
                dropped = over,
                capacity = QUEUE_CAPACITY,
                "alert notification queue full: oldest alerts dropped"
            );
        }
        drop(s);
        self.wake.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_with_millis() {
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_ms(1_714_564_800_250), "2024-05-01T12:00:00.250Z");
        assert_eq!(rfc3339_ms(-1), "1969-12-31T23:59:59.999Z");
    }
}
