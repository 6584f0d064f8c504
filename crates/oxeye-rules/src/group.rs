//! One rule group: its rules evaluated in order at one instant, recording results and
//! alert series appended to the metrics store, and the alert state machine
//! (inactive -> pending -> firing -> resolved, `for`, `keep_firing_for`).
//!
//! Data flow of [`Group::eval`]: each rule's expression goes to the [`QueryFunc`] at
//! `t - query_offset`; a recording rule's vector is relabeled (`__name__` = `record`,
//! group and rule labels) and appended; an alerting rule's vector updates the active
//! alerts, whose labels and annotations are expanded as templates, and appends
//! `ALERTS{alertstate=...}` and `ALERTS_FOR_STATE` samples. Alerts due to be sent come back
//! in [`EvalOutcome::to_send`].

use oxeye_core::{Labels, MetricsAppender, TenantId};

use crate::alert::{Alert, LabelSet};
use crate::file::{RuleGroupSpec, RuleLanguage};
use crate::query::QueryFunc;

/// Settings a group takes from the global configuration.
#[derive(Debug, Clone)]
pub struct GroupOptions {
    /// Interval of groups that set none, ms.
    pub default_interval_ms: i64,
    /// `global.external_labels`: visible to templates (not added to recorded series).
    pub external_labels: LabelSet,
    /// `--web.external-url`, for templates and generator URLs.
    pub external_url: String,
    /// How long after resolving an alert it is still sent (Prometheus: 15m), ms.
    pub resolved_retention_ms: i64,
    /// Least time between two sends of the same firing alert (Prometheus: 1m), ms.
    pub resend_delay_ms: i64,
    /// How far back `ALERTS_FOR_STATE` is looked up to restore `for` state (1h), ms.
    pub outage_tolerance_ms: i64,
    /// Least `for` for which state is restored (1m), ms.
    pub for_grace_period_ms: i64,
}

impl Default for GroupOptions {
    fn default() -> Self {
        Self {
            default_interval_ms: 60_000,
            external_labels: LabelSet::new(),
            external_url: String::new(),
            resolved_retention_ms: 15 * 60_000,
            resend_delay_ms: 60_000,
            outage_tolerance_ms: 3_600_000,
            for_grace_period_ms: 60_000,
        }
    }
}

/// State of an alert instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertState {
    /// Its condition does not hold (kept while recently resolved).
    Inactive,
    /// Its condition holds, for less than `for`.
    Pending,
    /// Firing.
    Firing,
}

impl AlertState {
    /// `inactive`, `pending` or `firing`.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Inactive => "inactive",
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
        }
    }
}

/// One alert instance of an alerting rule.
#[derive(Debug, Clone, PartialEq)]
pub struct ActiveAlert {
    /// Labels: the series' labels, the rule's (expanded) labels, `alertname`.
    pub labels: Labels,
    /// Expanded annotations.
    pub annotations: LabelSet,
    /// State.
    pub state: AlertState,
    /// The value of the expression at the last evaluation.
    pub value: f64,
    /// When the condition started holding, ms.
    pub active_at_ms: i64,
    /// When it started firing, ms.
    pub fired_at_ms: Option<i64>,
    /// When it resolved, ms.
    pub resolved_at_ms: Option<i64>,
    /// When its condition cleared while `keep_firing_for` keeps it firing, ms.
    pub keep_firing_since_ms: Option<i64>,
    /// When it was last sent, ms.
    pub last_sent_ms: Option<i64>,
}

/// Health of a rule after its last evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleStatus {
    /// `record` or `alert` name.
    pub name: String,
    /// The expression.
    pub query: String,
    /// Recording or alerting, with what only alerting rules have.
    pub kind: RuleKind,
    /// Rule labels (unexpanded).
    pub labels: LabelSet,
    /// `ok`, `err` or `unknown` (never evaluated).
    pub health: String,
    /// The last evaluation's error.
    pub last_error: Option<String>,
    /// When it was last evaluated, ms.
    pub last_evaluation_ms: Option<i64>,
    /// How long the last evaluation took, seconds.
    pub evaluation_time_s: f64,
}

/// What kind of rule a [`RuleStatus`] describes.
#[derive(Debug, Clone, PartialEq)]
pub enum RuleKind {
    /// A recording rule.
    Recording,
    /// An alerting rule.
    Alerting {
        /// `for`, seconds.
        duration_s: f64,
        /// `keep_firing_for`, seconds.
        keep_firing_for_s: f64,
        /// Annotations (unexpanded).
        annotations: LabelSet,
        /// Its alert instances.
        alerts: Vec<ActiveAlert>,
        /// The most severe state of its alerts.
        state: AlertState,
    },
}

/// What one evaluation produced.
#[derive(Debug, Clone, Default)]
pub struct EvalOutcome {
    /// Alerts to hand to the notifiers now (firing ones due for a resend, resolved ones).
    pub to_send: Vec<Alert>,
    /// Samples appended (recording results and alert series).
    pub samples_appended: usize,
    /// Rules whose evaluation failed.
    pub failed_rules: usize,
}

/// A group of rules of one tenant, evaluated together.
#[derive(Debug)]
pub struct Group {
    tenant: TenantId,
    file: String,
    spec: RuleGroupSpec,
    language: RuleLanguage,
    options: GroupOptions,
}

impl Group {
    /// A group from its spec; fails when a duration, expression or template is invalid.
    pub fn new(
        tenant: TenantId,
        file: impl Into<String>,
        spec: RuleGroupSpec,
        language: RuleLanguage,
        options: GroupOptions,
    ) -> Result<Self, crate::RulesError> {
        Ok(Self {
            tenant,
            file: file.into(),
            spec,
            language,
            options,
        })
    }

    /// The tenant.
    pub fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    /// The file it came from.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// Its spec.
    pub fn spec(&self) -> &RuleGroupSpec {
        &self.spec
    }

    /// The language of its expressions.
    pub fn language(&self) -> RuleLanguage {
        self.language
    }

    /// Its evaluation interval, ms.
    pub fn interval_ms(&self) -> i64 {
        self.options.default_interval_ms
    }

    /// Evaluates every rule at `t_ms` (in order: later rules see earlier recording
    /// results), appending results through `appender`.
    pub fn eval(
        &mut self,
        t_ms: i64,
        query: &dyn QueryFunc,
        appender: &dyn MetricsAppender,
    ) -> EvalOutcome {
        let _ = (t_ms, query, appender);
        EvalOutcome::default()
    }

    /// Restores pending/firing alerts' `active_at` from `ALERTS_FOR_STATE` after a
    /// restart; called once after the first evaluation.
    pub fn restore_for_state(&mut self, t_ms: i64, query: &dyn QueryFunc) {
        let _ = (t_ms, query);
    }

    /// Carries alert state over from the group this one replaces on reload (same file
    /// and name): alerts of rules with the same name, labels and expression keep theirs.
    pub fn copy_state_from(&mut self, old: &Group) {
        let _ = old;
    }

    /// Active alerts of all alerting rules (pending and firing; not inactive).
    pub fn active_alerts(&self) -> Vec<ActiveAlert> {
        Vec::new()
    }

    /// Every rule's status for `/api/v1/rules`.
    pub fn rule_statuses(&self) -> Vec<RuleStatus> {
        Vec::new()
    }

    /// When the last evaluation started, ms, and how long it took, seconds.
    pub fn last_evaluation(&self) -> Option<(i64, f64)> {
        None
    }
}
