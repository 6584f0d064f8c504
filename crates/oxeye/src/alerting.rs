//! Wiring of rules, notifications and SLOs into the server: the rule manager over PromQL
//! (metrics store) and LogQL (log store), the built-in notifier, external Alertmanagers,
//! SLO specs turned into rule groups; applied at start and on every reload.
//!
//! Data flow: `rule_files` (PromQL), `log_rule_files` (LogQL) and the rules generated
//! from `slo_files` become [`RuleSource`]s of the default tenant, handed to the
//! [`RuleManager`] (all or nothing: a reload with an invalid file keeps the old rules).
//! The manager queries the lazily opened stores (until they are open its rules report
//! the store's 503 and are retried at the next interval), writes recording results and
//! alert series back into the metrics store, and sends alerts to both the built-in
//! notifier and the external Alertmanagers. Relative globs and the notifier's config
//! file resolve against the config file's directory.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use oxeye_core::{Clock, TenantId};
use oxeye_rules::alert::{Alert, AlertSink, Fanout, LabelSet};
use oxeye_rules::file::{self, RuleLanguage};
use oxeye_rules::group::GroupOptions;
use oxeye_rules::manager::{ManagerOptions, RuleManager, RuleSource};
use oxeye_rules::notify::Notifier;
use oxeye_rules::notify::external::ExternalAlertmanagers;
use oxeye_rules::query::{LogqlQuery, PromqlQuery, QueryFunc};
use oxeye_rules::slo::SloRegistry;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::store::{LazyLogs, LazyStore};

/// Rules, notifiers and SLOs of a running server.
pub struct Alerting {
    /// Rule groups and their evaluation.
    pub rules: Arc<RuleManager>,
    /// The built-in notifier.
    pub notifier: Arc<Notifier>,
    /// Sender to external Alertmanagers.
    pub external: Arc<ExternalAlertmanagers>,
    /// The SLOs of `slo_files` at start.
    pub slos: Arc<SloRegistry>,
    /// The built-in notifier's input: alerts with the external labels added.
    labeled: Arc<ExternalLabeled>,
    default_tenant: TenantId,
}

/// Adds `global.external_labels` to every alert handed to the built-in notifier, as
/// Prometheus's notifier does to every alert it sends (an alert's own label wins).
struct ExternalLabeled {
    labels: parking_lot::RwLock<LabelSet>,
    inner: Arc<dyn AlertSink>,
}

impl AlertSink for ExternalLabeled {
    fn send(&self, tenant: &TenantId, mut alerts: Vec<Alert>) {
        {
            let labels = self.labels.read();
            for alert in &mut alerts {
                for (name, value) in labels.iter() {
                    alert
                        .labels
                        .entry(name.clone())
                        .or_insert_with(|| value.clone());
                }
            }
        }
        self.inner.send(tenant, alerts);
    }
}

/// The group settings of `cfg`.
fn group_options(cfg: &Config, external_url: String) -> GroupOptions {
    let interval = cfg.global.evaluation_interval.get();
    GroupOptions {
        default_interval_ms: i64::try_from(interval.as_millis()).unwrap_or(60_000),
        external_labels: cfg.global.external_labels.clone(),
        external_url,
        ..GroupOptions::default()
    }
}

/// What `build` needs besides the config.
pub struct Inputs {
    /// The config file (relative paths resolve against its directory).
    pub config_path: PathBuf,
    /// `--storage.path`: the notifier state and ruler-API groups live under it.
    pub storage_path: PathBuf,
    /// `--web.external-url` (or the server's own address).
    pub external_url: String,
    /// The PromQL engine settings of `--query.*`.
    pub engine: oxeye_promql::Engine,
    /// The metrics store (queried and written).
    pub store: Arc<LazyStore>,
    /// The log store (LogQL rules).
    pub logs: Arc<LazyLogs>,
    /// Whose rules the files are.
    pub default_tenant: TenantId,
    /// Time source.
    pub clock: Arc<dyn Clock>,
}

fn base_dir(config_path: &Path) -> PathBuf {
    config_path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// The notifier's Alertmanager config text (empty: keep and show alerts only).
fn notifier_yaml(cfg: &Config, config_path: &Path) -> anyhow::Result<String> {
    let Some(file) = &cfg.notifier.config_file else {
        return Ok(String::new());
    };
    let path = base_dir(config_path).join(file);
    std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read the notifier config {}", path.display()))
}

/// The SLO spec files as `(name, text)`.
fn slo_specs(cfg: &Config, config_path: &Path) -> Result<Vec<(String, String)>, String> {
    let paths =
        file::expand_globs(&cfg.slo_files, &base_dir(config_path)).map_err(|e| e.to_string())?;
    paths
        .into_iter()
        .map(|p| {
            std::fs::read_to_string(&p)
                .map(|t| (p.display().to_string(), t))
                .map_err(|e| format!("cannot read {}: {e}", p.display()))
        })
        .collect()
}

/// Every rule source of the config: rule files, log rule files, generated SLO rules.
fn sources(cfg: &Config, config_path: &Path, tenant: &TenantId) -> Result<Vec<RuleSource>, String> {
    let base = base_dir(config_path);
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for (patterns, language) in [
        (&cfg.rule_files, RuleLanguage::Promql),
        (&cfg.log_rule_files, RuleLanguage::Logql),
    ] {
        for path in file::expand_globs(patterns, &base).map_err(|e| e.to_string())? {
            match file::load(&path) {
                Ok(f) => out.push(RuleSource {
                    name: path.display().to_string(),
                    tenant: tenant.clone(),
                    language,
                    file: f,
                }),
                Err(e) => problems.push(e.to_string()),
            }
        }
    }
    for (name, text) in slo_specs(cfg, config_path)? {
        match oxeye_rules::slo::generate(&text) {
            Ok(f) => out.push(RuleSource {
                name,
                tenant: tenant.clone(),
                language: RuleLanguage::Promql,
                file: f,
            }),
            Err(e) => problems.push(format!("{name}: {e}")),
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems.join("; "))
    }
}

impl Alerting {
    /// Builds everything from the config and loads the rules; an invalid rule file, SLO
    /// spec or notifier config fails the start.
    pub fn build(cfg: &Config, inputs: Inputs) -> anyhow::Result<Arc<Self>> {
        let promql: Arc<dyn QueryFunc> = Arc::new(PromqlQuery {
            engine: inputs.engine,
            queryable: inputs.store.clone(),
        });
        let logql: Arc<dyn QueryFunc> = Arc::new(LogqlQuery {
            engine: Arc::new(oxeye_logql::Engine::new(
                inputs.logs.clone(),
                oxeye_logql::EngineLimits::default(),
            )),
        });
        let notifier = Notifier::new(
            &notifier_yaml(cfg, &inputs.config_path)?,
            inputs.storage_path.join("notifier"),
            inputs.clock.clone(),
        )
        .context("invalid notifier configuration")?;
        let external_labels = cfg.global.external_labels.clone();
        let external = ExternalAlertmanagers::new(
            &cfg.alerting,
            external_labels.clone(),
            inputs.clock.clone(),
        )
        .context("invalid alerting configuration")?;
        external.set_default_tenant(inputs.default_tenant.clone());
        let labeled = Arc::new(ExternalLabeled {
            labels: parking_lot::RwLock::new(external_labels.clone()),
            inner: notifier.clone(),
        });
        let sink: Arc<dyn AlertSink> = Arc::new(Fanout::new(vec![
            labeled.clone() as Arc<dyn AlertSink>,
            external.clone() as Arc<dyn AlertSink>,
        ]));
        let specs = slo_specs(cfg, &inputs.config_path).map_err(anyhow::Error::msg)?;
        let slos = Arc::new(SloRegistry::new(specs, promql.clone())?);
        let options = ManagerOptions {
            group: group_options(cfg, inputs.external_url),
            rules_dir: Some(inputs.storage_path.join("rules")),
        };
        let rules = Arc::new(RuleManager::new(
            options,
            promql,
            Some(logql),
            inputs.store,
            sink,
            inputs.clock,
        ));
        if let Err(e) = rules.load_persisted() {
            tracing::error!(error = %e, "some ruler rule groups could not be loaded");
        }
        let sources = sources(cfg, &inputs.config_path, &inputs.default_tenant)
            .map_err(anyhow::Error::msg)?;
        rules
            .set_file_groups(sources)
            .map_err(|errs| anyhow::anyhow!("invalid rules: {}", join(&errs)))?;
        Ok(Arc::new(Self {
            rules,
            notifier,
            external,
            slos,
            labeled,
            default_tenant: inputs.default_tenant,
        }))
    }

    /// Re-applies rule files, SLO rules and SLOs, the notifier config, the Alertmanagers
    /// and external labels (reload). Everything is checked first: when anything is
    /// invalid, nothing changes and the reload fails with the reasons.
    pub fn apply(&self, cfg: &Config, config_path: &Path) -> Result<(), String> {
        let sources = sources(cfg, config_path, &self.default_tenant)?;
        let specs = slo_specs(cfg, config_path)?;
        let yaml = notifier_yaml(cfg, config_path).map_err(|e| format!("{e:#}"))?;
        oxeye_rules::notify::config::Config::parse(&yaml)
            .map_err(|e| format!("invalid notifier configuration: {e}"))?;
        cfg.alerting
            .targets()
            .map_err(|e| format!("invalid alerting configuration: {e}"))?;
        self.rules
            .set_file_groups(sources)
            .map_err(|errs| format!("invalid rules: {}", join(&errs)))?;
        let external_url = self.rules.options().group.external_url;
        self.rules
            .set_group_options(group_options(cfg, external_url));
        *self.labeled.labels.write() = cfg.global.external_labels.clone();
        self.slos
            .replace(specs)
            .map_err(|e| format!("invalid slo file: {e}"))?;
        self.notifier
            .apply_config(&yaml)
            .map_err(|e| format!("invalid notifier configuration: {e}"))?;
        self.external
            .apply_config(&cfg.alerting)
            .map_err(|e| format!("invalid alerting configuration: {e}"))?;
        self.external
            .set_external_labels(cfg.global.external_labels.clone());
        Ok(())
    }

    /// Starts rule evaluation and both notifiers until `shutdown` is cancelled; await the
    /// handles before closing the stores.
    pub fn spawn(&self, shutdown: CancellationToken) -> Vec<tokio::task::JoinHandle<()>> {
        let (tx, rx) = tokio::sync::watch::channel(false);
        let bridge = tokio::spawn(async move {
            shutdown.cancelled().await;
            let _ = tx.send(true);
        });
        vec![
            bridge,
            tokio::spawn(self.rules.clone().run(rx.clone())),
            tokio::spawn(self.notifier.clone().run(rx.clone())),
            tokio::spawn(self.external.clone().run(rx)),
        ]
    }
}

/// Waits for the tasks of [`Alerting::spawn`], at most `limit`.
pub async fn join_all(handles: Vec<tokio::task::JoinHandle<()>>, limit: Duration) {
    let all = async {
        for h in handles {
            let _ = h.await;
        }
    };
    if tokio::time::timeout(limit, all).await.is_err() {
        tracing::warn!("rule evaluation or notifications still running at shutdown");
    }
}

fn join(errs: &[oxeye_rules::RulesError]) -> String {
    errs.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl Alerting {
    /// Self metrics of rule evaluation and of the sender to external Alertmanagers, read at
    /// scrape time (Prometheus's `prometheus_rule_group_*` and `prometheus_notifications_*`
    /// under oxeye's prefix).
    pub fn stats(&self) -> Vec<oxeye_server::StatValue> {
        use oxeye_server::StatValue;
        use std::sync::atomic::Ordering;
        let mut out = Vec::new();
        for (tenant, g) in self.rules.all_groups() {
            let key = format!("{};{}", g.file, g.name);
            let labelled = |s: StatValue| {
                s.with_label("rule_group", &key)
                    .with_label("tenant", tenant.as_str())
            };
            out.push(labelled(StatValue::counter(
                "oxeye_rule_group_evaluations",
                "Evaluations of the rule group",
                g.evaluations_total as f64,
            )));
            out.push(labelled(StatValue::counter(
                "oxeye_rule_evaluation_failures",
                "Rule evaluations of the group that failed",
                g.rule_failures_total as f64,
            )));
            out.push(labelled(StatValue::gauge(
                "oxeye_rule_group_last_duration_seconds",
                "Duration of the group's last evaluation",
                g.evaluation_time_s,
            )));
            out.push(labelled(StatValue::gauge(
                "oxeye_rule_group_rules",
                "Rules in the group",
                g.rules.len() as f64,
            )));
            if let Some(ms) = g.last_evaluation_ms {
                out.push(labelled(StatValue::gauge(
                    "oxeye_rule_group_last_evaluation_timestamp_seconds",
                    "When the group was last evaluated",
                    ms as f64 / 1000.0,
                )));
            }
        }
        let s = self.external.stats();
        out.push(StatValue::counter(
            "oxeye_notifications_sent",
            "Alerts posted to external Alertmanagers, once per Alertmanager",
            s.sent.load(Ordering::Relaxed) as f64,
        ));
        out.push(StatValue::counter(
            "oxeye_notifications_errors",
            "Alerts whose post to an external Alertmanager failed",
            s.errors.load(Ordering::Relaxed) as f64,
        ));
        out.push(StatValue::counter(
            "oxeye_notifications_dropped",
            "Alerts dropped because the queue to external Alertmanagers was full",
            s.dropped.load(Ordering::Relaxed) as f64,
        ));
        out.push(StatValue::gauge(
            "oxeye_notifications_queue_length",
            "Alerts waiting to be sent to external Alertmanagers",
            self.external.queue_len() as f64,
        ));
        out
    }
}
