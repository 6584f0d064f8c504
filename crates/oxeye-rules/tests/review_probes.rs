//! Review probes: behaviours compared with Prometheus's rules package.

use std::sync::Arc;

use oxeye_core::{Labels, MetricsAppender, Sample, SeriesWrite, TenantId, WriteBatch};
use oxeye_rules::file::{RuleLanguage, parse_group};
use oxeye_rules::group::{Group, GroupOptions};
use oxeye_rules::memory::MemMetrics;
use oxeye_rules::query::PromqlQuery;

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

    fn push(&self, name: &str, t_ms: i64, v: f64) {
        let batch = WriteBatch {
            series: vec![SeriesWrite {
                labels: Labels::from_pairs(&[("__name__", name)]),
                samples: vec![Sample::new(t_ms, v)],
                exemplars: Vec::new(),
            }],
            metadata: Vec::new(),
        };
        self.store.append(&tenant(), batch).unwrap();
    }
}

fn group(yaml: &str) -> Group {
    Group::new(
        tenant(),
        "rules.yml",
        parse_group(yaml).unwrap(),
        RuleLanguage::Promql,
        GroupOptions::default(),
    )
    .unwrap()
}

/// Prometheus reads the raw last `ALERTS_FOR_STATE` sample: when it is a stale marker
/// (the alert resolved before the shutdown) nothing is restored, whatever the group's
/// interval. With a 5m interval the alert below resolved at 15m (stale marker written),
/// the server went down at 16m and came back at 20m with the condition true again: the
/// new alert must be pending since 20m, not inherit the resolved alert's pending time.
#[test]
fn review_resolved_alert_not_restored_with_5m_interval() {
    let env = Env::new();
    let yaml = "name: g\ninterval: 5m\nrules:\n  - alert: Slow\n    expr: x > 10\n    for: 30m\n";
    let mut g = group(yaml);
    for t in [0, 300_000, 600_000] {
        env.push("x", t, 20.0);
        g.eval(t, &env.query, env.store.as_ref());
    }
    env.push("x", 900_000, 0.0);
    g.eval(900_000, &env.query, env.store.as_ref());
    assert!(g.active_alerts().is_empty());

    let mut restarted = group(yaml);
    restarted.set_restore_pending(true);
    env.push("x", 1_200_000, 20.0);
    restarted.eval(1_200_000, &env.query, env.store.as_ref());
    restarted.restore_for_state(1_200_000, &env.query);
    assert_eq!(
        restarted.active_alerts()[0].active_at_ms,
        1_200_000,
        "a resolved alert's for state was restored"
    );
}
