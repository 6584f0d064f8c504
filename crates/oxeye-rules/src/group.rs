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

mod restore;
mod rule;
#[cfg(test)]
mod tests;

use std::time::Instant;

use oxeye_core::{Labels, MetricsAppender, Sample, SeriesWrite, TenantId, WriteBatch, stale_nan};

use crate::alert::{Alert, LabelSet};
use crate::file::{RuleGroupSpec, RuleLanguage, parse_duration};
use crate::query::QueryFunc;
use rule::Rule;

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
    interval_ms: i64,
    query_offset_ms: i64,
    rules: Vec<Rule>,
    last_evaluation: Option<(i64, f64)>,
    /// Series of rules dropped on reload: marked stale at the next evaluation.
    stale_series: Vec<Labels>,
}

impl Group {
    /// A group from its spec; fails when a duration, expression or template is invalid.
    ///
    /// Alert series are written from the first evaluation on; a group whose `for` state
    /// is to be restored after a restart is told so with [`Group::set_restore_pending`].
    pub fn new(
        tenant: TenantId,
        file: impl Into<String>,
        spec: RuleGroupSpec,
        language: RuleLanguage,
        options: GroupOptions,
    ) -> Result<Self, crate::RulesError> {
        let file = file.into();
        let single = crate::file::RuleFile {
            groups: vec![spec.clone()],
        };
        let problems = crate::file::validate(&single, language);
        if let Some(first) = problems.into_iter().next() {
            return Err(crate::RulesError::Invalid(format!("{file}: {first}")));
        }
        let interval_ms = match spec.interval.as_deref() {
            Some(text) => parse_duration(text)?,
            None => options.default_interval_ms,
        };
        let query_offset_ms = match spec.query_offset.as_deref() {
            Some(text) => parse_duration(text)?,
            None => 0,
        };
        let rules = spec
            .rules
            .iter()
            .map(|r| Rule::new(r, &spec.labels))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            tenant,
            file,
            spec,
            language,
            options,
            interval_ms: interval_ms.max(1),
            query_offset_ms,
            rules,
            last_evaluation: None,
            stale_series: Vec::new(),
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
        self.interval_ms
    }

    /// Its `query_offset`, ms.
    pub fn query_offset_ms(&self) -> i64 {
        self.query_offset_ms
    }

    /// The settings it was built with.
    pub fn options(&self) -> &GroupOptions {
        &self.options
    }

    /// Applies new settings (a reload of the global configuration): a group without its
    /// own `interval` takes the new default; alert state is kept.
    pub fn set_options(&mut self, options: GroupOptions) {
        if self.spec.interval.is_none() {
            self.interval_ms = options.default_interval_ms.max(1);
        }
        self.options = options;
    }

    /// Holds back alert series until [`Group::restore_for_state`] ran (`true`), as after
    /// a restart: the first evaluation must not write `ALERTS_FOR_STATE` samples that the
    /// restore would then read back instead of the ones from before the restart.
    pub fn set_restore_pending(&mut self, pending: bool) {
        for rule in &mut self.rules {
            rule.set_restored(!pending);
        }
    }

    /// Evaluates every rule at `t_ms` (in order: later rules see earlier recording
    /// results), appending results through `appender`.
    pub fn eval(
        &mut self,
        t_ms: i64,
        query: &dyn QueryFunc,
        appender: &dyn MetricsAppender,
    ) -> EvalOutcome {
        let started = Instant::now();
        let mut outcome = EvalOutcome::default();
        let ctx = rule::EvalContext {
            tenant: &self.tenant,
            t_ms,
            eval_t_ms: t_ms - self.query_offset_ms,
            interval_ms: self.interval_ms,
            limit: self.spec.limit,
            options: &self.options,
            query,
        };
        for rule in &mut self.rules {
            rule.eval(&ctx, appender, &mut outcome);
        }
        if !self.stale_series.is_empty() {
            let stale = std::mem::take(&mut self.stale_series);
            let batch = stale_batch(stale, ctx.eval_t_ms);
            match appender.append(&self.tenant, batch) {
                Ok(stats) => outcome.samples_appended += stats.samples,
                Err(e) => tracing::warn!(
                    group = %self.spec.name, file = %self.file, error = %e,
                    "writing stale markers of removed rules failed"
                ),
            }
        }
        self.last_evaluation = Some((t_ms, started.elapsed().as_secs_f64()));
        outcome
    }

    /// Restores pending/firing alerts' `active_at` from `ALERTS_FOR_STATE` after a
    /// restart; called once after the first evaluation.
    pub fn restore_for_state(&mut self, t_ms: i64, query: &dyn QueryFunc) {
        for rule in &mut self.rules {
            rule.restore_for_state(&self.tenant, t_ms, &self.options, self.interval_ms, query);
        }
    }

    /// Carries alert state over from the group this one replaces on reload (same file
    /// and name): alerts of rules with the same name and labels keep theirs; series of
    /// rules that are gone are marked stale at the next evaluation.
    pub fn copy_state_from(&mut self, old: &Group) {
        self.last_evaluation = old.last_evaluation;
        let mut taken = vec![false; old.rules.len()];
        for rule in &mut self.rules {
            let found =
                old.rules.iter().enumerate().find(|(i, o)| {
                    !taken.get(*i).copied().unwrap_or(true) && o.same_identity(rule)
                });
            if let Some((i, o)) = found {
                if let Some(slot) = taken.get_mut(i) {
                    *slot = true;
                }
                rule.copy_state_from(o);
            }
        }
        self.stale_series = old.stale_series.clone();
        for (i, o) in old.rules.iter().enumerate() {
            if !taken.get(i).copied().unwrap_or(true) {
                self.stale_series.extend(o.previous_series());
            }
        }
    }

    /// Every series the group wrote at its last evaluation; the manager marks them stale
    /// when the group goes away.
    pub fn previous_series(&self) -> Vec<Labels> {
        let mut out: Vec<Labels> = self.rules.iter().flat_map(Rule::previous_series).collect();
        out.extend(self.stale_series.iter().cloned());
        out
    }

    /// Active alerts of all alerting rules (pending and firing; not inactive).
    pub fn active_alerts(&self) -> Vec<ActiveAlert> {
        self.rules
            .iter()
            .flat_map(|r| r.alerts())
            .filter(|a| a.state != AlertState::Inactive)
            .collect()
    }

    /// Every rule's status for `/api/v1/rules`.
    pub fn rule_statuses(&self) -> Vec<RuleStatus> {
        self.rules.iter().map(Rule::status).collect()
    }

    /// When the last evaluation started, ms, and how long it took, seconds.
    pub fn last_evaluation(&self) -> Option<(i64, f64)> {
        self.last_evaluation
    }
}

/// One stale marker at `t_ms` for each of `series`.
pub(crate) fn stale_batch(series: Vec<Labels>, t_ms: i64) -> WriteBatch {
    WriteBatch {
        series: series
            .into_iter()
            .map(|labels| SeriesWrite {
                labels,
                samples: vec![Sample::new(t_ms, stale_nan())],
                exemplars: Vec::new(),
            })
            .collect(),
        metadata: Vec::new(),
    }
}

/// The link to an expression in the expression browser, as Prometheus builds it.
pub fn generator_url(external_url: &str, expr: &str) -> String {
    format!(
        "{}/graph?g0.expr={}&g0.tab=1",
        external_url.trim_end_matches('/'),
        query_escape(expr)
    )
}

/// URL query escaping like Go's `url.QueryEscape`: space as `+`, unreserved bytes kept.
fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
