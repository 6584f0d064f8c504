//! The built-in notifier, an Alertmanager in-process: alerts in (from rules or the API v2),
//! notifications out.
//!
//! Data flow: alerts are merged into the per-tenant alert store; the dispatcher walks the
//! route tree for each alert, puts it into an aggregation group (`group_by`), and each
//! group flushes after `group_wait`, then every `group_interval`, re-sending unchanged
//! groups after `repeat_interval`; inhibited and silenced alerts are muted; receivers
//! (webhook, Slack, PagerDuty, email) get the group with retries and backoff. Silences
//! and the notification log persist in the data directory.
//!
//! Everything is driven by the injected clock: [`Notifier::flush_due`] does one round
//! (flush due groups, attempt due sends, retry failed ones with exponential backoff from
//! 1 s to 1 min until the group's next interval) and [`Notifier::run`] calls it every
//! [`TICK`].

pub mod api;
pub mod config;
mod dispatch;
pub mod external;
pub mod matchers;
pub mod receivers;
pub mod silence;
mod smtp;
pub mod store;
pub mod timeinterval;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use oxeye_core::{Clock, TenantId};
use parking_lot::{Mutex, RwLock};

use crate::RulesError;
pub use crate::alert::LabelSet;
use crate::alert::{Alert, AlertSink};
use config::{Config, Route};
use dispatch::{Delivery, TenantState};
use silence::{Silence, SilenceState};
use store::{AllNflogs, AllSilences, NFLOG_FILE, SILENCES_FILE};

/// How often [`Notifier::run`] looks for due groups and sends.
pub const TICK: Duration = Duration::from_millis(200);

/// The built-in notifier.
pub struct Notifier {
    data_dir: PathBuf,
    clock: Arc<dyn Clock>,
    config: RwLock<Arc<Config>>,
    tenants: Mutex<BTreeMap<String, TenantState>>,
    deliveries: Mutex<Vec<Delivery>>,
    external_url: RwLock<String>,
    http: reqwest::Client,
    started_ms: i64,
    persist: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("data_dir", &self.data_dir)
            .finish_non_exhaustive()
    }
}

/// An alert as the API shows it.
#[derive(Debug, Clone)]
pub struct AlertView {
    /// Fingerprint.
    pub fingerprint: u64,
    /// The alert.
    pub alert: Alert,
    /// Last update, ms.
    pub updated_at_ms: i64,
    /// Receivers of the routes it matches.
    pub receivers: Vec<String>,
    /// Active silences muting it.
    pub silenced_by: Vec<String>,
    /// Hex fingerprints of alerts inhibiting it.
    pub inhibited_by: Vec<String>,
}

impl AlertView {
    /// `active`, `suppressed`.
    pub fn state(&self) -> &'static str {
        if self.silenced_by.is_empty() && self.inhibited_by.is_empty() {
            "active"
        } else {
            "suppressed"
        }
    }
}

/// An aggregation group as the API shows it.
#[derive(Debug, Clone)]
pub struct GroupView {
    /// Group labels.
    pub labels: LabelSet,
    /// Receiver name.
    pub receiver: String,
    /// Its alerts (firing ones).
    pub alerts: Vec<AlertView>,
}

impl Notifier {
    /// A notifier configured by the Alertmanager-format `config_yaml` (empty: one receiver
    /// that notifies nowhere), keeping silences and the notification log in `data_dir`
    /// (loaded from there when present).
    pub fn new(
        config_yaml: &str,
        data_dir: PathBuf,
        clock: Arc<dyn Clock>,
    ) -> Result<Arc<Self>, RulesError> {
        let config = Config::parse(config_yaml)?;
        let silences: AllSilences = store::load(&data_dir, SILENCES_FILE)?;
        let nflogs: AllNflogs = store::load(&data_dir, NFLOG_FILE)?;
        let mut tenants: BTreeMap<String, TenantState> = BTreeMap::new();
        for (t, s) in silences {
            tenants.entry(t).or_default().silences = s;
        }
        for (t, l) in nflogs {
            tenants.entry(t).or_default().nflog = l;
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| RulesError::Notify(format!("building the http client: {e}")))?;
        Ok(Arc::new(Self {
            data_dir,
            started_ms: clock.now_ms(),
            clock,
            config: RwLock::new(Arc::new(config)),
            tenants: Mutex::new(tenants),
            deliveries: Mutex::new(Vec::new()),
            external_url: RwLock::new(String::new()),
            http,
            persist: tokio::sync::Mutex::new(()),
        }))
    }

    /// Replaces the configuration (reload); alerts, silences and the notification log
    /// stay, groups are rebuilt. Nothing changes when `config_yaml` is invalid.
    pub fn apply_config(&self, config_yaml: &str) -> Result<(), RulesError> {
        let cfg = Arc::new(Config::parse(config_yaml)?);
        let now = self.clock.now_ms();
        let mut tenants = self.tenants.lock();
        *self.config.write() = cfg.clone();
        for t in tenants.values_mut() {
            t.regroup(&cfg, now);
        }
        Ok(())
    }

    /// The URL notifications link back to (`externalURL`).
    pub fn set_external_url(&self, url: &str) {
        *self.external_url.write() = url.trim_end_matches('/').to_string();
    }

    /// The URL notifications link back to.
    pub fn external_url(&self) -> String {
        self.external_url.read().clone()
    }

    /// The current configuration.
    pub fn config(&self) -> Arc<Config> {
        self.config.read().clone()
    }

    /// When the notifier started, ms.
    pub fn started_ms(&self) -> i64 {
        self.started_ms
    }

    /// The clock's now, ms.
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Runs the dispatcher until `shutdown` turns true.
    pub async fn run(self: Arc<Self>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    // Sends run on in their own tasks; the next tick does not wait for them.
                    drop(self.start_round().await);
                }
                r = shutdown.changed() => {
                    if r.is_err() || *shutdown.borrow() {
                        return;
                    }
                }
            }
        }
    }

    /// One round at the clock's now: flushes due groups, makes due sends and waits for
    /// them (retries are scheduled with backoff, the notification log is persisted).
    pub async fn flush_due(self: &Arc<Self>) {
        for h in self.start_round().await {
            let _ = h.await;
        }
    }

    /// Flushes due groups and starts the due sends, each in a task of its own so a slow
    /// receiver holds up nobody else; returns the tasks.
    async fn start_round(self: &Arc<Self>) -> Vec<tokio::task::JoinHandle<()>> {
        let now = self.clock.now_ms();
        let cfg = self.config();
        let external_url = self.external_url();
        let mut routes: Vec<&Route> = Vec::new();
        cfg.route.walk(&mut routes);
        let (mut new, mut dirty_silences, mut dirty_log) = (Vec::new(), false, false);
        {
            let mut tenants = self.tenants.lock();
            for (name, t) in tenants.iter_mut() {
                let (s, l) = t.gc(now);
                dirty_silences |= s;
                dirty_log |= l;
                new.extend(t.flush_due(name, &cfg, &routes, &external_url, now));
                dirty_log |= std::mem::take(&mut t.nflog_dirty);
            }
        }
        let due = {
            let mut q = self.deliveries.lock();
            q.extend(new);
            let (due, later): (Vec<Delivery>, Vec<Delivery>) = std::mem::take(&mut *q)
                .into_iter()
                .partition(|d| d.next_attempt_ms <= now);
            *q = later;
            due
        };
        if dirty_log || dirty_silences {
            self.persist(dirty_silences, dirty_log).await;
        }
        due.into_iter()
            .map(|d| {
                let me = self.clone();
                let global = cfg.global.clone();
                tokio::spawn(async move { me.deliver(d, global).await })
            })
            .collect()
    }

    /// Makes one attempt of `d`: on success the notification log records it, on a
    /// retryable failure it is queued again after a backoff (1 s doubling to 1 min) unless
    /// that is past its deadline.
    async fn deliver(self: Arc<Self>, mut d: Delivery, global: config::GlobalConfig) {
        let result = d
            .integration
            .send(&self.http, &global, &d.notification)
            .await;
        let now = self.clock.now_ms();
        match result {
            Ok(()) => {
                tracing::debug!(tenant = %d.tenant, key = %d.log_key, "notification sent");
                {
                    let mut tenants = self.tenants.lock();
                    let t = tenants.entry(d.tenant.clone()).or_default();
                    t.nflog.insert(
                        d.log_key.clone(),
                        store::NflogEntry {
                            firing: d.firing,
                            resolved: d.resolved,
                            at_ms: now,
                        },
                    );
                }
                self.persist(false, true).await;
            }
            Err(e) => {
                d.attempts += 1;
                let backoff = (1000i64 << d.attempts.saturating_sub(1).min(6)).min(60_000);
                if e.retryable && now + backoff < d.deadline_ms {
                    tracing::warn!(tenant = %d.tenant, key = %d.log_key, attempt = d.attempts, error = %e.message, "notification failed, retrying");
                    d.next_attempt_ms = now + backoff;
                    self.deliveries.lock().push(d);
                } else {
                    tracing::error!(tenant = %d.tenant, key = %d.log_key, attempts = d.attempts, error = %e.message, "notification failed, giving up");
                }
            }
        }
    }

    /// Sends queued for a later attempt (retries).
    pub fn pending_retries(&self) -> usize {
        self.deliveries.lock().len()
    }

    async fn persist(&self, silences: bool, nflog: bool) {
        let _guard = self.persist.lock().await;
        let (s, l): (Option<AllSilences>, Option<AllNflogs>) = {
            let tenants = self.tenants.lock();
            (
                silences.then(|| {
                    tenants
                        .iter()
                        .map(|(k, t)| (k.clone(), t.silences.clone()))
                        .collect()
                }),
                nflog.then(|| {
                    tenants
                        .iter()
                        .map(|(k, t)| (k.clone(), t.nflog.clone()))
                        .collect()
                }),
            )
        };
        let dir = self.data_dir.clone();
        let r = tokio::task::spawn_blocking(move || {
            if let Some(s) = s {
                store::save(&dir, SILENCES_FILE, &s)?;
            }
            if let Some(l) = l {
                store::save(&dir, NFLOG_FILE, &l)?;
            }
            Ok::<(), RulesError>(())
        })
        .await;
        match r {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "persisting notifier state"),
            Err(e) => tracing::error!(error = %e, "persisting notifier state"),
        }
    }

    /// Takes alerts posted to the API: checks them like Alertmanager (labels present, no
    /// empty names or values, end not before start) and stores them.
    pub fn put_alerts(&self, tenant: &TenantId, alerts: Vec<Alert>) -> Result<(), RulesError> {
        for a in &alerts {
            if a.labels.is_empty() {
                return Err(RulesError::Invalid(
                    "at least one label pair required".into(),
                ));
            }
            for (k, v) in &a.labels {
                if k.is_empty()
                    || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    || k.starts_with(|c: char| c.is_ascii_digit())
                {
                    return Err(RulesError::Invalid(format!(
                        "invalid label set: invalid name {k:?}"
                    )));
                }
                if v.is_empty() {
                    return Err(RulesError::Invalid(format!(
                        "invalid label set: invalid value for label {k:?}: empty"
                    )));
                }
            }
            if a.ends_at_ms.is_some_and(|e| e < a.starts_at_ms) {
                return Err(RulesError::Invalid(
                    "start time must be before end time".into(),
                ));
            }
        }
        self.store_alerts(tenant, alerts);
        Ok(())
    }

    fn store_alerts(&self, tenant: &TenantId, alerts: Vec<Alert>) {
        let now = self.clock.now_ms();
        let cfg = self.config();
        let mut tenants = self.tenants.lock();
        let t = tenants.entry(tenant.as_str().to_string()).or_default();
        for a in alerts {
            t.put(&cfg, a, now);
        }
    }

    fn view(
        &self,
        cfg: &Config,
        t: &TenantState,
        fp: u64,
        alert: &Alert,
        updated_at_ms: i64,
        now: i64,
    ) -> AlertView {
        let mut routes = Vec::new();
        cfg.route.matching(&alert.labels, &mut routes);
        let mut receivers: Vec<String> = routes.iter().map(|r| r.receiver.clone()).collect();
        receivers.dedup();
        AlertView {
            fingerprint: fp,
            alert: alert.clone(),
            updated_at_ms,
            receivers,
            silenced_by: t.silenced_by(&alert.labels, now),
            inhibited_by: t.inhibited_by(cfg, &alert.labels, now),
        }
    }

    /// The tenant's unresolved alerts, by fingerprint order.
    pub fn alerts(&self, tenant: &TenantId) -> Vec<AlertView> {
        let now = self.clock.now_ms();
        let cfg = self.config();
        let tenants = self.tenants.lock();
        let Some(t) = tenants.get(tenant.as_str()) else {
            return Vec::new();
        };
        t.alerts
            .iter()
            .filter(|(_, a)| !a.alert.is_resolved_at(now))
            .map(|(fp, a)| self.view(&cfg, t, *fp, &a.alert, a.updated_at_ms, now))
            .collect()
    }

    /// The tenant's aggregation groups with their unresolved alerts.
    pub fn groups(&self, tenant: &TenantId) -> Vec<GroupView> {
        let now = self.clock.now_ms();
        let cfg = self.config();
        let tenants = self.tenants.lock();
        let Some(t) = tenants.get(tenant.as_str()) else {
            return Vec::new();
        };
        t.groups
            .values()
            .map(|g| {
                let mut alerts: Vec<AlertView> = g
                    .alerts
                    .iter()
                    .filter(|(_, a)| !a.is_resolved_at(now))
                    .map(|(fp, a)| {
                        let updated = t.alerts.get(fp).map_or(now, |s| s.updated_at_ms);
                        self.view(&cfg, t, *fp, a, updated, now)
                    })
                    .collect();
                alerts.sort_by(|a, b| dispatch::alert_order(&a.alert.labels, &b.alert.labels));
                GroupView {
                    labels: g.labels.clone(),
                    receiver: g.receiver.clone(),
                    alerts,
                }
            })
            .filter(|g| !g.alerts.is_empty())
            .collect()
    }

    /// The tenant's silences with their state now.
    pub fn silences(&self, tenant: &TenantId) -> Vec<(Silence, SilenceState)> {
        let now = self.clock.now_ms();
        let tenants = self.tenants.lock();
        tenants
            .get(tenant.as_str())
            .map(|t| {
                t.silences
                    .by_id
                    .values()
                    .map(|s| (s.clone(), s.state(now)))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// One silence.
    pub fn silence(
        &self,
        tenant: &TenantId,
        id: &str,
    ) -> Result<(Silence, SilenceState), RulesError> {
        let now = self.clock.now_ms();
        let tenants = self.tenants.lock();
        tenants
            .get(tenant.as_str())
            .and_then(|t| t.silences.by_id.get(id))
            .map(|s| (s.clone(), s.state(now)))
            .ok_or_else(|| RulesError::NotFound(format!("silence {id} not found")))
    }

    /// Creates (empty id) or updates a silence and persists the silences; its id.
    pub async fn upsert_silence(
        &self,
        tenant: &TenantId,
        s: Silence,
    ) -> Result<String, RulesError> {
        let now = self.clock.now_ms();
        let id = {
            let mut tenants = self.tenants.lock();
            tenants
                .entry(tenant.as_str().to_string())
                .or_default()
                .silences
                .upsert(s, now)?
        };
        self.persist(true, false).await;
        Ok(id)
    }

    /// Expires a silence and persists the silences.
    pub async fn expire_silence(&self, tenant: &TenantId, id: &str) -> Result<(), RulesError> {
        let now = self.clock.now_ms();
        {
            let mut tenants = self.tenants.lock();
            let Some(t) = tenants.get_mut(tenant.as_str()) else {
                return Err(RulesError::NotFound(format!("silence {id} not found")));
            };
            t.silences.expire(id, now)?;
        }
        self.persist(true, false).await;
        Ok(())
    }

    /// Receiver names of the configuration.
    pub fn receivers(&self) -> Vec<String> {
        self.config().receivers.keys().cloned().collect()
    }
}

impl AlertSink for Notifier {
    fn send(&self, tenant: &TenantId, alerts: Vec<Alert>) {
        self.store_alerts(tenant, alerts);
    }
}
