//! The group's evaluation and alert state machine against an in-memory store and the
//! real PromQL engine.

use std::sync::Arc;

use oxeye_core::{
    Labels, MetricsAppender, MetricsQueryable, Sample, SeriesWrite, TenantId, WriteBatch,
    is_stale_nan,
};

use super::*;
use crate::memory::MemMetrics;
use crate::query::{PromqlQuery, QueryFunc, Vector};

fn tenant() -> TenantId {
    TenantId::new("anonymous").unwrap()
}

struct Env {
    store: Arc<MemMetrics>,
    query: PromqlQuery,
}

impl Env {
    fn new() -> Self {
        let store = Arc::new(MemMetrics::new());
        let query = PromqlQuery {
            engine: oxeye_promql::Engine::new(),
            queryable: store.clone(),
        };
        Self { store, query }
    }

    fn push(&self, labels: &[(&str, &str)], t_ms: i64, v: f64) {
        let batch = WriteBatch {
            series: vec![SeriesWrite {
                labels: Labels::from_pairs(labels),
                samples: vec![Sample::new(t_ms, v)],
                exemplars: Vec::new(),
            }],
            metadata: Vec::new(),
        };
        self.store.append(&tenant(), batch).unwrap();
    }

    fn eval(&self, g: &mut Group, t_ms: i64) -> EvalOutcome {
        g.eval(t_ms, &self.query, self.store.as_ref())
    }

    /// Raw samples of the series with exactly `labels`, in the store.
    fn samples(&self, labels: &[(&str, &str)]) -> Vec<Sample> {
        let matchers: Vec<oxeye_core::Matcher> = labels
            .iter()
            .map(|(n, v)| oxeye_core::Matcher::new(oxeye_core::MatchOp::Equal, *n, *v).unwrap())
            .collect();
        let q = self.store.querier(&tenant(), i64::MIN, i64::MAX).unwrap();
        let want = Labels::from_pairs(labels);
        q.select(&matchers, &Default::default())
            .unwrap()
            .into_iter()
            .filter(|s| s.labels == want)
            .flat_map(|s| s.data.samples().unwrap())
            .collect()
    }
}

fn group(yaml: &str) -> Group {
    group_with(yaml, GroupOptions::default())
}

fn group_with(yaml: &str, options: GroupOptions) -> Group {
    let spec: crate::file::RuleGroupSpec = serde_saphyr::from_str(yaml).unwrap();
    Group::new(tenant(), "rules.yml", spec, RuleLanguage::Promql, options).unwrap()
}

#[test]
fn recording_rules_write_renamed_series_that_later_rules_read() {
    let env = Env::new();
    env.push(
        &[("__name__", "up"), ("job", "a"), ("instance", "1")],
        0,
        1.0,
    );
    env.push(
        &[("__name__", "up"), ("job", "a"), ("instance", "2")],
        0,
        0.0,
    );
    let mut g = group(
        r#"
name: g
labels: {team: infra, env: group}
rules:
  - record: job:up:sum
    expr: sum by (job) (up)
    labels: {env: rule}
  - record: job:up:double
    expr: job:up:sum * 2
"#,
    );
    let out = env.eval(&mut g, 10_000);
    assert_eq!(out.failed_rules, 0);
    assert_eq!(out.samples_appended, 2);
    let s = env.samples(&[
        ("__name__", "job:up:sum"),
        ("env", "rule"),
        ("job", "a"),
        ("team", "infra"),
    ]);
    assert_eq!(s, vec![Sample::new(10_000, 1.0)]);
    let s = env.samples(&[
        ("__name__", "job:up:double"),
        ("env", "group"),
        ("job", "a"),
        ("team", "infra"),
    ]);
    assert_eq!(s, vec![Sample::new(10_000, 2.0)]);
    let statuses = g.rule_statuses();
    assert_eq!(statuses.len(), 2);
    assert!(
        statuses
            .iter()
            .all(|s| s.health == "ok" && s.last_evaluation_ms == Some(10_000))
    );
    assert_eq!(g.last_evaluation().map(|l| l.0), Some(10_000));
}

#[test]
fn recording_rule_errors_mark_the_rule_unhealthy() {
    let env = Env::new();
    env.push(&[("__name__", "x"), ("a", "1")], 0, 1.0);
    env.push(&[("__name__", "x"), ("a", "2")], 0, 2.0);
    let mut g = group(
        r#"
name: g
limit: 1
rules:
  - record: same
    expr: x
    labels: {a: fixed}
  - record: too_many
    expr: x
  - record: text
    expr: '"hello"'
  - record: fine
    expr: sum(x)
"#,
    );
    let out = env.eval(&mut g, 1000);
    assert_eq!(out.failed_rules, 3);
    let st = g.rule_statuses();
    assert_eq!(
        st[0].last_error.as_deref(),
        Some("vector contains metrics with the same labelset after applying rule labels")
    );
    assert_eq!(
        st[1].last_error.as_deref(),
        Some("exceeded limit of 1 with 2 series")
    );
    assert_eq!(
        st[2].last_error.as_deref(),
        Some("rule result is not a vector or scalar")
    );
    assert_eq!(st[0].health, "err");
    assert_eq!(st[3].health, "ok");
    // Nothing of a failed rule is written.
    assert!(
        env.samples(&[("__name__", "too_many"), ("a", "1")])
            .is_empty()
    );
    assert_eq!(
        env.samples(&[("__name__", "fine")]),
        vec![Sample::new(1000, 3.0)]
    );
}

#[test]
fn disappearing_recorded_series_get_a_stale_marker() {
    let env = Env::new();
    env.push(&[("__name__", "x"), ("a", "1")], 0, 1.0);
    env.push(&[("__name__", "x"), ("a", "2")], 0, 1.0);
    env.push(&[("__name__", "x"), ("a", "2")], 15_000, 1.0);
    let mut g = group("name: g\nrules:\n  - record: r\n    expr: 'x unless x offset 0 < 0'\n");
    // At 10s both series are there; at 310s only a=2's sample (15s) is in the lookback.
    env.eval(&mut g, 10_000);
    env.eval(&mut g, 310_000);
    let a1 = env.samples(&[("__name__", "r"), ("a", "1")]);
    assert_eq!(a1.len(), 2);
    assert_eq!(a1[0], Sample::new(10_000, 1.0));
    assert_eq!(a1[1].t, 310_000);
    assert!(is_stale_nan(a1[1].v));
    let a2 = env.samples(&[("__name__", "r"), ("a", "2")]);
    assert_eq!(
        a2,
        vec![Sample::new(10_000, 1.0), Sample::new(310_000, 1.0)]
    );
}

#[test]
fn query_offset_evaluates_and_writes_in_the_past() {
    let env = Env::new();
    env.push(&[("__name__", "x")], 0, 1.0);
    env.push(&[("__name__", "x")], 60_000, 5.0);
    let mut g = group("name: g\nquery_offset: 1m\nrules:\n  - record: r\n    expr: x\n");
    env.eval(&mut g, 90_000);
    assert_eq!(
        env.samples(&[("__name__", "r")]),
        vec![Sample::new(30_000, 1.0)]
    );
}

const ALERT: &str = r#"
name: g
rules:
  - alert: High
    expr: x > 10
    for: 30s
    labels: {severity: page}
    annotations: {summary: high}
"#;

#[test]
fn alerts_go_pending_then_firing_then_resolve() {
    let env = Env::new();
    let options = GroupOptions {
        external_url: "http://oxeye:9090/".into(),
        ..GroupOptions::default()
    };
    let mut g = group_with(ALERT, options);
    env.push(&[("__name__", "x"), ("i", "1")], 0, 20.0);
    let out = env.eval(&mut g, 10_000);
    assert!(out.to_send.is_empty(), "pending alerts are not sent");
    let active = g.active_alerts();
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].state, AlertState::Pending);
    assert_eq!(active[0].active_at_ms, 10_000);
    assert_eq!(
        active[0].labels,
        Labels::from_pairs(&[("alertname", "High"), ("i", "1"), ("severity", "page")])
    );
    assert_eq!(active[0].value, 20.0);
    let pending = [
        ("__name__", "ALERTS"),
        ("alertname", "High"),
        ("alertstate", "pending"),
        ("i", "1"),
        ("severity", "page"),
    ];
    assert_eq!(env.samples(&pending), vec![Sample::new(10_000, 1.0)]);
    let for_state = [
        ("__name__", "ALERTS_FOR_STATE"),
        ("alertname", "High"),
        ("i", "1"),
        ("severity", "page"),
    ];
    assert_eq!(env.samples(&for_state), vec![Sample::new(10_000, 10.0)]);

    // 29s after becoming active: still pending.
    env.push(&[("__name__", "x"), ("i", "1")], 30_000, 20.0);
    assert!(env.eval(&mut g, 39_000).to_send.is_empty());
    assert_eq!(g.active_alerts()[0].state, AlertState::Pending);

    // 30s: fires and is sent, valid for 4 resend delays.
    let out = env.eval(&mut g, 40_000);
    assert_eq!(g.active_alerts()[0].state, AlertState::Firing);
    assert_eq!(out.to_send.len(), 1);
    let sent = &out.to_send[0];
    assert_eq!(sent.starts_at_ms, 40_000);
    assert_eq!(sent.ends_at_ms, Some(40_000 + 4 * 60_000));
    assert_eq!(
        sent.annotations.get("summary").map(String::as_str),
        Some("high")
    );
    assert_eq!(
        sent.labels.get("alertname").map(String::as_str),
        Some("High")
    );
    assert_eq!(
        sent.generator_url,
        "http://oxeye:9090/graph?g0.expr=x+%3E+10&g0.tab=1"
    );
    let pend = env.samples(&pending);
    assert!(
        is_stale_nan(pend.last().unwrap().v),
        "pending series ends with a stale marker"
    );
    let firing = [
        ("__name__", "ALERTS"),
        ("alertname", "High"),
        ("alertstate", "firing"),
        ("i", "1"),
        ("severity", "page"),
    ];
    assert_eq!(env.samples(&firing), vec![Sample::new(40_000, 1.0)]);

    // Not re-sent before the resend delay, re-sent after it.
    env.push(&[("__name__", "x"), ("i", "1")], 60_000, 20.0);
    assert!(env.eval(&mut g, 100_000).to_send.is_empty());
    assert_eq!(env.eval(&mut g, 100_001).to_send.len(), 1);

    // Condition clears: resolved, sent with ends_at = resolution time.
    env.push(&[("__name__", "x"), ("i", "1")], 110_000, 1.0);
    let out = env.eval(&mut g, 120_000);
    assert_eq!(out.to_send.len(), 1);
    assert_eq!(out.to_send[0].ends_at_ms, Some(120_000));
    assert_eq!(out.to_send[0].starts_at_ms, 40_000);
    assert!(
        g.active_alerts().is_empty(),
        "resolved alerts are not active"
    );
    assert!(is_stale_nan(env.samples(&firing).last().unwrap().v));
    // Kept for the resolved retention and re-sent as resolved.
    assert_eq!(env.eval(&mut g, 200_000).to_send.len(), 1);
    let later = 120_000 + 15 * 60_000 + 1;
    assert!(
        env.eval(&mut g, later).to_send.is_empty(),
        "dropped after the retention"
    );
    match &g.rule_statuses()[0].kind {
        RuleKind::Alerting { alerts, state, .. } => {
            assert!(alerts.is_empty());
            assert_eq!(*state, AlertState::Inactive);
        }
        RuleKind::Recording => panic!("alerting rule expected"),
    }
}

#[test]
fn pending_alerts_whose_condition_clears_are_dropped_unsent() {
    let env = Env::new();
    let mut g = group(ALERT);
    env.push(&[("__name__", "x")], 0, 20.0);
    env.eval(&mut g, 1000);
    env.push(&[("__name__", "x")], 2000, 0.0);
    let out = env.eval(&mut g, 3000);
    assert!(out.to_send.is_empty());
    assert!(g.active_alerts().is_empty());
    // Active again: a new active_at.
    env.push(&[("__name__", "x")], 4000, 20.0);
    env.eval(&mut g, 5000);
    assert_eq!(g.active_alerts()[0].active_at_ms, 5000);
}

#[test]
fn for_zero_fires_at_once_and_keep_firing_for_holds_it() {
    let env = Env::new();
    let mut g = group("name: g\nrules:\n  - alert: A\n    expr: x > 0\n    keep_firing_for: 20s\n");
    env.push(&[("__name__", "x")], 0, 1.0);
    let out = env.eval(&mut g, 1000);
    assert_eq!(out.to_send.len(), 1);
    assert_eq!(g.active_alerts()[0].state, AlertState::Firing);
    env.push(&[("__name__", "x")], 2000, 0.0);
    env.eval(&mut g, 11_000);
    let a = &g.active_alerts()[0];
    assert_eq!(a.state, AlertState::Firing);
    assert_eq!(a.keep_firing_since_ms, Some(11_000));
    env.eval(&mut g, 30_000);
    assert_eq!(g.active_alerts()[0].state, AlertState::Firing);
    let out = env.eval(&mut g, 31_000);
    assert!(g.active_alerts().is_empty());
    assert_eq!(out.to_send[0].ends_at_ms, Some(31_000));
}

#[test]
fn templates_see_labels_and_alert_identity_excludes_the_metric_name() {
    let env = Env::new();
    let mut g = group(
        "name: g\nrules:\n  - alert: A\n    expr: up == 0\n    labels: {team: ops, job: overridden}\n",
    );
    env.push(&[("__name__", "up"), ("job", "a")], 0, 0.0);
    env.eval(&mut g, 1000);
    let a = &g.active_alerts()[0];
    assert_eq!(
        a.labels,
        Labels::from_pairs(&[("alertname", "A"), ("job", "overridden"), ("team", "ops")])
    );
}

#[test]
fn duplicate_alert_label_sets_and_alert_limits_fail() {
    let env = Env::new();
    env.push(&[("__name__", "x"), ("i", "1")], 0, 1.0);
    env.push(&[("__name__", "x"), ("i", "2")], 0, 1.0);
    let mut g = group("name: g\nrules:\n  - alert: A\n    expr: x\n    labels: {i: same}\n");
    env.eval(&mut g, 1000);
    assert_eq!(
        g.rule_statuses()[0].last_error.as_deref(),
        Some("vector contains metrics with the same labelset after applying alert labels")
    );
    let mut g = group("name: g\nlimit: 1\nrules:\n  - alert: A\n    expr: x\n");
    env.eval(&mut g, 1000);
    assert_eq!(
        g.rule_statuses()[0].last_error.as_deref(),
        Some("exceeded limit of 1 with 2 alerts")
    );
    assert!(g.active_alerts().is_empty());
}

#[test]
fn reload_keeps_alert_state_of_unchanged_rules_and_stales_removed_ones() {
    let env = Env::new();
    env.push(&[("__name__", "x")], 0, 20.0);
    let two = "name: g\nrules:\n  - alert: High\n    expr: x > 10\n    for: 30s\n  - record: r\n    expr: x\n";
    let mut old = group(two);
    env.eval(&mut old, 1000);
    let mut new = group("name: g\nrules:\n  - alert: High\n    expr: x > 5\n    for: 30s\n");
    new.copy_state_from(&old);
    assert_eq!(new.active_alerts()[0].active_at_ms, 1000);
    env.eval(&mut new, 2000);
    let r = env.samples(&[("__name__", "r")]);
    assert_eq!(r.len(), 2);
    assert!(is_stale_nan(r[1].v) && r[1].t == 2000, "{r:?}");
}

#[test]
fn for_state_is_restored_after_a_restart() {
    let env = Env::new();
    env.push(&[("__name__", "x")], 0, 20.0);
    let yaml = "name: g\ninterval: 10s\nrules:\n  - alert: Slow\n    expr: x > 10\n    for: 10m\n";
    let mut g = group(yaml);
    // Active since 100s, evaluated until 160s, then down for 40s.
    for t in (100_000..=160_000).step_by(10_000) {
        env.push(&[("__name__", "x")], t - 1, 20.0);
        env.eval(&mut g, t);
    }
    let mut restarted = group(yaml);
    restarted.set_restore_pending(true);
    env.push(&[("__name__", "x")], 199_000, 20.0);
    env.eval(&mut restarted, 200_000);
    assert_eq!(restarted.active_alerts()[0].active_at_ms, 200_000);
    restarted.restore_for_state(200_000, &env.query);
    // 60s spent pending before the restart count: active_at moves by the 40s downtime.
    assert_eq!(restarted.active_alerts()[0].active_at_ms, 140_000);
    // Fires 10m of pending time later, not 10m after the restart.
    for t in (210_000..=740_000).step_by(10_000) {
        env.push(&[("__name__", "x")], t - 1, 20.0);
        env.eval(&mut restarted, t);
    }
    assert_eq!(restarted.active_alerts()[0].state, AlertState::Firing);
    assert_eq!(restarted.active_alerts()[0].fired_at_ms, Some(740_000));
}

#[test]
fn restore_near_the_end_of_for_leaves_a_grace_period() {
    let env = Env::new();
    let yaml = "name: g\ninterval: 10s\nrules:\n  - alert: Slow\n    expr: x > 10\n    for: 2m\n";
    let mut g = group(yaml);
    for t in (0..=100_000).step_by(10_000) {
        env.push(&[("__name__", "x")], t, 20.0);
        env.eval(&mut g, t);
    }
    let mut restarted = group(yaml);
    restarted.set_restore_pending(true);
    env.push(&[("__name__", "x")], 110_000, 20.0);
    env.eval(&mut restarted, 110_000);
    restarted.restore_for_state(110_000, &env.query);
    // 100s of 120s spent: 20s left is under the 1m grace period, so it fires in 1m.
    assert_eq!(
        restarted.active_alerts()[0].active_at_ms,
        110_000 + 60_000 - 120_000
    );
}

#[test]
fn resolved_alerts_are_not_restored() {
    let env = Env::new();
    let yaml = "name: g\ninterval: 10s\nrules:\n  - alert: Slow\n    expr: x > 10\n    for: 5m\n";
    let mut g = group(yaml);
    env.push(&[("__name__", "x")], 0, 20.0);
    env.eval(&mut g, 10_000);
    env.push(&[("__name__", "x")], 15_000, 0.0);
    env.eval(&mut g, 20_000);
    let mut restarted = group(yaml);
    restarted.set_restore_pending(true);
    env.push(&[("__name__", "x")], 55_000, 20.0);
    env.eval(&mut restarted, 60_000);
    restarted.restore_for_state(60_000, &env.query);
    assert_eq!(restarted.active_alerts()[0].active_at_ms, 60_000);

    // A query function without access to stored samples tells it from queries.
    let mut restarted = group(yaml);
    restarted.set_restore_pending(true);
    env.eval(&mut restarted, 60_000);
    restarted.restore_for_state(60_000, &QueriesOnly(&env.query));
    assert_eq!(restarted.active_alerts()[0].active_at_ms, 60_000);
}

/// Forwards queries only: no access to stored samples.
struct QueriesOnly<'a>(&'a dyn QueryFunc);

impl QueryFunc for QueriesOnly<'_> {
    fn instant(&self, t: &TenantId, expr: &str, t_ms: i64) -> Result<Vector, crate::RulesError> {
        self.0.instant(t, expr, t_ms)
    }
}

#[test]
fn resolved_alerts_are_not_restored_whatever_the_interval() {
    // With a 5m interval the stale marker written when the alert resolved lies a whole
    // lookback after the last sample: only the stored samples tell it resolved.
    let env = Env::new();
    let yaml = "name: g\ninterval: 5m\nrules:\n  - alert: Slow\n    expr: x > 10\n    for: 30m\n";
    let mut g = group(yaml);
    for t in [0, 300_000, 600_000] {
        env.push(&[("__name__", "x")], t, 20.0);
        env.eval(&mut g, t);
    }
    env.push(&[("__name__", "x")], 900_000, 0.0);
    env.eval(&mut g, 900_000);
    assert!(g.active_alerts().is_empty());

    // Down at 16m, back at 20m with the condition true again: pending since 20m.
    let mut restarted = group(yaml);
    restarted.set_restore_pending(true);
    env.push(&[("__name__", "x")], 1_200_000, 20.0);
    env.eval(&mut restarted, 1_200_000);
    restarted.restore_for_state(1_200_000, &env.query);
    assert_eq!(restarted.active_alerts()[0].active_at_ms, 1_200_000);

    // Had it not resolved, it would have kept its pending time.
    let mut restarted = group(yaml);
    restarted.set_restore_pending(true);
    let mut still = group(yaml);
    let env2 = Env::new();
    for t in [0, 300_000, 600_000] {
        env2.push(&[("__name__", "x")], t, 20.0);
        env2.eval(&mut still, t);
    }
    env2.push(&[("__name__", "x")], 1_200_000, 20.0);
    env2.eval(&mut restarted, 1_200_000);
    restarted.restore_for_state(1_200_000, &env2.query);
    assert_eq!(restarted.active_alerts()[0].active_at_ms, 600_000);
}

/// A query function answering fixed vectors, to check what rules send for given input.
struct Fixed(parking_lot::Mutex<Result<Vector, String>>);

impl QueryFunc for Fixed {
    fn instant(&self, _: &TenantId, _: &str, _: i64) -> Result<Vector, crate::RulesError> {
        self.0.lock().clone().map_err(crate::RulesError::Query)
    }
}

#[test]
fn query_errors_keep_alert_state() {
    let store = MemMetrics::new();
    let q = Fixed(parking_lot::Mutex::new(Ok(vec![(
        Labels::from_pairs(&[("a", "b")]),
        1.0,
    )])));
    let mut g = group(ALERT);
    g.eval(1000, &q, &store);
    *q.0.lock() = Err("store unavailable".into());
    let out = g.eval(2000, &q, &store);
    assert_eq!(out.failed_rules, 1);
    assert_eq!(g.rule_statuses()[0].health, "err");
    assert_eq!(
        g.rule_statuses()[0].last_error.as_deref(),
        Some("store unavailable")
    );
    assert_eq!(g.active_alerts().len(), 1);
    *q.0.lock() = Ok(vec![(Labels::from_pairs(&[("a", "b")]), 1.0)]);
    g.eval(31_000, &q, &store);
    assert_eq!(g.active_alerts()[0].state, AlertState::Firing);
    assert_eq!(g.rule_statuses()[0].health, "ok");
}
