//! One rule inside a group: recording or alerting, its health, the series it wrote at
//! its last evaluation (to mark them stale when they disappear), and for alerting rules
//! the alert state machine.
//!
//! Alert state follows Prometheus: a new result element becomes a pending alert active
//! since the evaluation time; it fires once it has been active for `for`; when its
//! element disappears a pending alert is dropped and a firing one resolves (unless
//! `keep_firing_for` keeps it firing a while longer); resolved alerts stay for the
//! resolved retention so they are re-sent as resolved.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Instant;

use oxeye_core::{Labels, METRIC_NAME, MetricsAppender, Sample, SeriesWrite, TenantId};

use super::{
    ActiveAlert, AlertState, EvalOutcome, GroupOptions, RuleKind, RuleStatus, generator_url,
    stale_batch,
};
use crate::RulesError;
use crate::alert::{Alert, LabelSet};
use crate::file::{RuleSpec, parse_duration};
use crate::query::QueryFunc;
use crate::template::{TemplateData, expand};

/// What every rule of one group evaluation shares.
pub(super) struct EvalContext<'a> {
    pub tenant: &'a TenantId,
    /// The evaluation time.
    pub t_ms: i64,
    /// The time queried and written: `t_ms - query_offset`.
    pub eval_t_ms: i64,
    pub interval_ms: i64,
    pub limit: u64,
    pub options: &'a GroupOptions,
    pub query: &'a dyn QueryFunc,
}

/// Alerting-only parts of a rule.
#[derive(Debug)]
pub(super) struct Alerting {
    pub for_ms: i64,
    pub keep_firing_for_ms: i64,
    /// Annotation templates.
    pub annotations: LabelSet,
    /// Alert instances by their labels.
    pub active: HashMap<Labels, ActiveAlert>,
    /// Whether `for` state was restored (or needs no restoring): alert series are only
    /// written once it is.
    pub restored: bool,
}

#[derive(Debug)]
pub(super) enum Kind {
    Recording,
    Alerting(Alerting),
}

/// One rule and its evaluation state.
#[derive(Debug)]
pub(super) struct Rule {
    pub name: String,
    pub expr: String,
    /// Group labels overridden by the rule's own (templates for alerting rules).
    pub labels: LabelSet,
    pub kind: Kind,
    health: &'static str,
    last_error: Option<String>,
    last_evaluation_ms: Option<i64>,
    evaluation_time_s: f64,
    /// Series written at the last successful evaluation.
    previous: HashSet<Labels>,
}

impl Rule {
    pub fn new(spec: &RuleSpec, group_labels: &LabelSet) -> Result<Self, RulesError> {
        let mut labels = group_labels.clone();
        labels.extend(spec.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
        let duration = |v: &Option<String>| v.as_deref().map(parse_duration).transpose();
        let (name, kind) = match (&spec.record, &spec.alert) {
            (Some(record), None) => (record.clone(), Kind::Recording),
            (None, Some(alert)) => (
                alert.clone(),
                Kind::Alerting(Alerting {
                    for_ms: duration(&spec.for_)?.unwrap_or(0),
                    keep_firing_for_ms: duration(&spec.keep_firing_for)?.unwrap_or(0),
                    annotations: spec.annotations.clone(),
                    active: HashMap::new(),
                    restored: true,
                }),
            ),
            _ => {
                return Err(RulesError::Invalid(
                    "one of 'record' or 'alert' must be set".into(),
                ));
            }
        };
        Ok(Self {
            name,
            expr: spec.expr.clone(),
            labels,
            kind,
            health: "unknown",
            last_error: None,
            last_evaluation_ms: None,
            evaluation_time_s: 0.0,
            previous: HashSet::new(),
        })
    }

    pub fn set_restored(&mut self, restored: bool) {
        if let Kind::Alerting(a) = &mut self.kind {
            a.restored = restored;
        }
    }

    /// Same name, kind and labels: the rule a reload keeps the state of.
    pub fn same_identity(&self, other: &Rule) -> bool {
        self.name == other.name
            && self.labels == other.labels
            && matches!(
                (&self.kind, &other.kind),
                (Kind::Recording, Kind::Recording) | (Kind::Alerting(_), Kind::Alerting(_))
            )
    }

    pub fn copy_state_from(&mut self, old: &Rule) {
        self.previous = old.previous.clone();
        self.health = old.health;
        self.last_error = old.last_error.clone();
        self.last_evaluation_ms = old.last_evaluation_ms;
        self.evaluation_time_s = old.evaluation_time_s;
        if let (Kind::Alerting(new), Kind::Alerting(old)) = (&mut self.kind, &old.kind) {
            new.active = old.active.clone();
            new.restored = old.restored;
        }
    }

    pub fn previous_series(&self) -> Vec<Labels> {
        self.previous.iter().cloned().collect()
    }

    pub fn alerts(&self) -> Vec<ActiveAlert> {
        let Kind::Alerting(a) = &self.kind else {
            return Vec::new();
        };
        let mut out: Vec<ActiveAlert> = a.active.values().cloned().collect();
        out.sort_by(|x, y| x.labels.cmp(&y.labels));
        out
    }

    pub fn status(&self) -> RuleStatus {
        let kind = match &self.kind {
            Kind::Recording => RuleKind::Recording,
            Kind::Alerting(a) => {
                let alerts: Vec<ActiveAlert> = self
                    .alerts()
                    .into_iter()
                    .filter(|x| x.state != AlertState::Inactive)
                    .collect();
                let state = alerts
                    .iter()
                    .map(|x| x.state)
                    .max_by_key(|s| match s {
                        AlertState::Inactive => 0,
                        AlertState::Pending => 1,
                        AlertState::Firing => 2,
                    })
                    .unwrap_or(AlertState::Inactive);
                RuleKind::Alerting {
                    duration_s: a.for_ms as f64 / 1000.0,
                    keep_firing_for_s: a.keep_firing_for_ms as f64 / 1000.0,
                    annotations: a.annotations.clone(),
                    alerts,
                    state,
                }
            }
        };
        RuleStatus {
            name: self.name.clone(),
            query: self.expr.clone(),
            kind,
            labels: self.labels.clone(),
            health: self.health.to_string(),
            last_error: self.last_error.clone(),
            last_evaluation_ms: self.last_evaluation_ms,
            evaluation_time_s: self.evaluation_time_s,
        }
    }

    /// Evaluates the rule, writes its samples and stale markers, and collects the alerts
    /// due to be sent.
    pub fn eval(
        &mut self,
        ctx: &EvalContext<'_>,
        appender: &dyn MetricsAppender,
        outcome: &mut EvalOutcome,
    ) {
        let started = Instant::now();
        let result = match &mut self.kind {
            Kind::Recording => eval_recording(&self.name, &self.expr, &self.labels, ctx),
            Kind::Alerting(a) => eval_alerting(&self.name, &self.expr, &self.labels, a, ctx),
        };
        self.last_evaluation_ms = Some(ctx.t_ms);
        match result {
            Err(e) => {
                tracing::debug!(rule = %self.name, error = %e, "rule evaluation failed");
                self.health = "err";
                self.last_error = Some(e.to_string());
                outcome.failed_rules += 1;
            }
            Ok(samples) => {
                self.health = "ok";
                self.last_error = None;
                if let Kind::Alerting(a) = &mut self.kind {
                    outcome.to_send.extend(alerts_to_send(a, &self.expr, ctx));
                }
                self.write(samples, ctx, appender, outcome);
            }
        }
        self.evaluation_time_s = started.elapsed().as_secs_f64();
    }

    /// Appends `samples` and stale markers for series written last time but not now.
    fn write(
        &mut self,
        samples: Vec<(Labels, f64)>,
        ctx: &EvalContext<'_>,
        appender: &dyn MetricsAppender,
        outcome: &mut EvalOutcome,
    ) {
        let current: HashSet<Labels> = samples.iter().map(|(l, _)| l.clone()).collect();
        let gone: Vec<Labels> = self.previous.difference(&current).cloned().collect();
        let mut batch = stale_batch(gone, ctx.eval_t_ms);
        batch
            .series
            .extend(samples.into_iter().map(|(labels, v)| SeriesWrite {
                labels,
                samples: vec![Sample::new(ctx.eval_t_ms, v)],
                exemplars: Vec::new(),
            }));
        self.previous = current;
        if batch.series.is_empty() {
            return;
        }
        match appender.append(ctx.tenant, batch) {
            Ok(stats) => outcome.samples_appended += stats.samples,
            Err(e) => {
                tracing::warn!(rule = %self.name, error = %e, "writing rule results failed");
                self.health = "err";
                self.last_error = Some(format!("writing results failed: {e}"));
                outcome.failed_rules += 1;
            }
        }
    }

    /// See [`super::Group::restore_for_state`].
    pub fn restore_for_state(
        &mut self,
        tenant: &TenantId,
        t_ms: i64,
        options: &GroupOptions,
        interval_ms: i64,
        query: &dyn QueryFunc,
    ) {
        let Kind::Alerting(a) = &mut self.kind else {
            return;
        };
        if a.restored {
            return;
        }
        a.restored = true;
        if a.for_ms < options.for_grace_period_ms {
            return;
        }
        for alert in a.active.values_mut() {
            if alert.state == AlertState::Inactive {
                continue;
            }
            match super::restore::restored_active_at(
                tenant,
                &alert.labels,
                a.for_ms,
                t_ms,
                options,
                interval_ms,
                query,
            ) {
                Ok(Some(active_at)) => alert.active_at_ms = active_at,
                Ok(None) => {}
                Err(e) => tracing::warn!(
                    alert = %self.name, error = %e, "restoring the for state failed"
                ),
            }
        }
    }
}

/// A recording rule's output: the result renamed and relabeled.
fn eval_recording(
    name: &str,
    expr: &str,
    labels: &LabelSet,
    ctx: &EvalContext<'_>,
) -> Result<Vec<(Labels, f64)>, RulesError> {
    let vector = ctx.query.instant(ctx.tenant, expr, ctx.eval_t_ms)?;
    let mut seen = HashSet::with_capacity(vector.len());
    let mut out = Vec::with_capacity(vector.len());
    for (metric, value) in vector {
        let mut b = metric.builder();
        b.set(METRIC_NAME, name);
        for (k, v) in labels {
            b.set(k, v);
        }
        let labels = b.build();
        if !seen.insert(labels.clone()) {
            return Err(RulesError::Query(
                "vector contains metrics with the same labelset after applying rule labels".into(),
            ));
        }
        out.push((labels, value));
    }
    let limit = ctx.limit as usize;
    if limit > 0 && out.len() > limit {
        return Err(RulesError::Query(format!(
            "exceeded limit of {limit} with {} series",
            out.len()
        )));
    }
    Ok(out)
}

fn expand_or_report(text: &str, data: &TemplateData, ctx: &EvalContext<'_>) -> String {
    match expand(text, data, ctx.t_ms, Some((ctx.query, ctx.tenant))) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "expanding alert template failed");
            format!("<error expanding template: {e}>")
        }
    }
}

/// An alerting rule's evaluation: updates the alert instances and returns the `ALERTS`
/// and `ALERTS_FOR_STATE` samples.
fn eval_alerting(
    name: &str,
    expr: &str,
    labels: &LabelSet,
    a: &mut Alerting,
    ctx: &EvalContext<'_>,
) -> Result<Vec<(Labels, f64)>, RulesError> {
    let t = ctx.t_ms;
    let vector = ctx.query.instant(ctx.tenant, expr, ctx.eval_t_ms)?;
    let mut results: HashMap<Labels, (LabelSet, f64)> = HashMap::with_capacity(vector.len());
    for (metric, value) in vector {
        let data = TemplateData {
            labels: metric
                .iter()
                .map(|l| (l.name.clone(), l.value.clone()))
                .collect(),
            value,
            external_labels: ctx.options.external_labels.clone(),
            external_url: ctx.options.external_url.clone(),
        };
        let mut b = metric.builder();
        b.del(METRIC_NAME);
        for (k, v) in labels {
            b.set(k, &expand_or_report(v, &data, ctx));
        }
        b.set("alertname", name);
        let alert_labels = b.build();
        let annotations: LabelSet = a
            .annotations
            .iter()
            .map(|(k, v)| (k.clone(), expand_or_report(v, &data, ctx)))
            .collect();
        if results.insert(alert_labels, (annotations, value)).is_some() {
            return Err(RulesError::Query(
                "vector contains metrics with the same labelset after applying alert labels".into(),
            ));
        }
    }
    for (labels, (annotations, value)) in &results {
        if let Some(existing) = a.active.get_mut(labels) {
            if existing.state != AlertState::Inactive {
                existing.value = *value;
                existing.annotations = annotations.clone();
                continue;
            }
        }
        a.active.insert(
            labels.clone(),
            ActiveAlert {
                labels: labels.clone(),
                annotations: annotations.clone(),
                state: AlertState::Pending,
                value: *value,
                active_at_ms: t,
                fired_at_ms: None,
                resolved_at_ms: None,
                keep_firing_since_ms: None,
                last_sent_ms: None,
            },
        );
    }
    let mut samples = Vec::new();
    let mut active_count = 0usize;
    let mut drop = Vec::new();
    for (labels, alert) in a.active.iter_mut() {
        if results.contains_key(labels) {
            alert.keep_firing_since_ms = None;
        } else {
            let mut keep_firing = false;
            if alert.state == AlertState::Firing && a.keep_firing_for_ms > 0 {
                let since = *alert.keep_firing_since_ms.get_or_insert(t);
                keep_firing = t - since < a.keep_firing_for_ms;
            }
            let expired = alert
                .resolved_at_ms
                .is_some_and(|r| t - r > ctx.options.resolved_retention_ms);
            if alert.state == AlertState::Pending || expired {
                drop.push(labels.clone());
            }
            if alert.state != AlertState::Inactive && !keep_firing {
                alert.state = AlertState::Inactive;
                alert.resolved_at_ms = Some(t);
            }
            if !keep_firing {
                continue;
            }
        }
        active_count += 1;
        if alert.state == AlertState::Pending && t - alert.active_at_ms >= a.for_ms {
            alert.state = AlertState::Firing;
            alert.fired_at_ms = Some(t);
        }
        if a.restored {
            samples.push((alert_series(labels, "ALERTS", Some(alert.state)), 1.0));
            samples.push((
                alert_series(labels, "ALERTS_FOR_STATE", None),
                alert.active_at_ms.div_euclid(1000) as f64,
            ));
        }
    }
    for labels in drop {
        a.active.remove(&labels);
    }
    let limit = ctx.limit as usize;
    if limit > 0 && active_count > limit {
        a.active.clear();
        return Err(RulesError::Query(format!(
            "exceeded limit of {limit} with {active_count} alerts"
        )));
    }
    Ok(samples)
}

/// `ALERTS{alertstate=...}` or `ALERTS_FOR_STATE` for an alert's labels.
fn alert_series(labels: &Labels, metric: &str, state: Option<AlertState>) -> Labels {
    let mut b = labels.builder();
    b.set(METRIC_NAME, metric);
    if let Some(state) = state {
        b.set("alertstate", state.as_str());
    }
    b.build()
}

/// Firing and resolved alerts due to be (re)sent at `ctx.t_ms`, marked as sent.
fn alerts_to_send(a: &mut Alerting, expr: &str, ctx: &EvalContext<'_>) -> Vec<Alert> {
    let t = ctx.t_ms;
    let resend = ctx.options.resend_delay_ms;
    let valid_for = 4 * resend.max(ctx.interval_ms);
    let url = generator_url(&ctx.options.external_url, expr);
    let mut out = Vec::new();
    for alert in a.active.values_mut() {
        if alert.state == AlertState::Pending {
            continue;
        }
        let last_sent = alert.last_sent_ms;
        let resolved_since_sent = alert
            .resolved_at_ms
            .is_some_and(|r| last_sent.is_none_or(|s| r > s));
        let resend_due = last_sent.is_none_or(|s| s + resend < t);
        if !(resolved_since_sent || resend_due) {
            continue;
        }
        alert.last_sent_ms = Some(t);
        out.push(Alert {
            labels: alert
                .labels
                .iter()
                .map(|l| (l.name.clone(), l.value.clone()))
                .collect::<BTreeMap<_, _>>(),
            annotations: alert.annotations.clone(),
            starts_at_ms: alert.fired_at_ms.unwrap_or(alert.active_at_ms),
            ends_at_ms: Some(alert.resolved_at_ms.unwrap_or(t + valid_for)),
            generator_url: url.clone(),
        });
    }
    out.sort_by(|x, y| x.labels.cmp(&y.labels));
    out
}
