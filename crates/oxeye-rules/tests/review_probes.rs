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

/// Answers `vector(1)` for every expression; expressions containing `slow` take 3s, as a
/// heavy query (a 30d SLO window, a LogQL scan) does.
struct SlowQuery;

impl oxeye_rules::query::QueryFunc for SlowQuery {
    fn instant(
        &self,
        _: &TenantId,
        expr: &str,
        _: i64,
    ) -> Result<oxeye_rules::query::Vector, oxeye_rules::RulesError> {
        if expr.contains("slow") {
            std::thread::sleep(std::time::Duration::from_secs(3));
        }
        Ok(vec![(Labels::default(), 1.0)])
    }
}

struct Recorder(parking_lot::Mutex<Vec<(String, std::time::Instant)>>);

impl oxeye_rules::alert::AlertSink for Recorder {
    fn send(&self, _: &TenantId, alerts: Vec<oxeye_rules::alert::Alert>) {
        let now = std::time::Instant::now();
        let mut seen = self.0.lock();
        for a in alerts {
            let name = a.labels.get("alertname").cloned().unwrap_or_default();
            seen.push((name, now));
        }
    }
}

/// Prometheus runs every group in its own goroutine: a slow group never delays the
/// evaluation (and so the alerts) of another. Here a group whose query takes 3s must not
/// hold back a 1s group's first alert by those 3s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn review_slow_group_delays_neither_other_groups_nor_status() {
    use oxeye_rules::manager::{ManagerOptions, RuleManager, RuleSource};
    let store = Arc::new(MemMetrics::new());
    let sink = Arc::new(Recorder(parking_lot::Mutex::new(Vec::new())));
    let m = Arc::new(RuleManager::new(
        ManagerOptions {
            group: GroupOptions::default(),
            rules_dir: None,
        },
        Arc::new(SlowQuery),
        None,
        store,
        sink.clone(),
        Arc::new(oxeye_core::SystemClock),
    ));
    let file = oxeye_rules::file::parse(
        "groups:\n- name: slow\n  interval: 1s\n  rules:\n  - record: s\n    expr: slow_metric\n- name: fast\n  interval: 1s\n  rules:\n  - alert: Fast\n    expr: vector(1)\n",
    )
    .unwrap();
    m.set_file_groups(vec![RuleSource {
        name: "rules.yml".into(),
        tenant: tenant(),
        language: RuleLanguage::Promql,
        file,
    }])
    .unwrap();
    let (tx, rx) = tokio::sync::watch::channel(false);
    let handle = tokio::spawn(m.clone().run(rx));
    let poller = m.clone();
    let polled = tokio::task::spawn_blocking(move || {
        let mut evals = std::collections::BTreeSet::new();
        let mut slowest_status = 0.0f64;
        let until = std::time::Instant::now() + std::time::Duration::from_secs(8);
        while std::time::Instant::now() < until {
            let t = std::time::Instant::now();
            let groups = poller.groups(&tenant());
            slowest_status = slowest_status.max(t.elapsed().as_secs_f64());
            for g in groups.iter().filter(|g| g.name == "fast") {
                evals.extend(g.last_evaluation_ms);
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        (evals.len(), slowest_status)
    })
    .await
    .unwrap();
    let _ = tx.send(true);
    let _ = handle.await;
    let (fast_evals, slowest_status) = polled;
    // Prometheus: about 8 evaluations of the 1s group in 8s, and its rules API never
    // waits for an evaluation to finish.
    assert!(
        fast_evals >= 6 && slowest_status < 1.0,
        "the 1s group was evaluated {fast_evals} times in 8s; reading group statuses \
         waited up to {slowest_status:.1}s for an evaluation"
    );
}

fn manager(
    store: &Arc<MemMetrics>,
    clock: &Arc<oxeye_core::ManualClock>,
) -> Arc<oxeye_rules::manager::RuleManager> {
    struct Drop_;
    impl oxeye_rules::alert::AlertSink for Drop_ {
        fn send(&self, _: &TenantId, _: Vec<oxeye_rules::alert::Alert>) {}
    }
    Arc::new(oxeye_rules::manager::RuleManager::new(
        oxeye_rules::manager::ManagerOptions {
            group: GroupOptions::default(),
            rules_dir: None,
        },
        Arc::new(PromqlQuery {
            engine: oxeye_promql::Engine::new(),
            queryable: store.clone(),
        }),
        None,
        store.clone(),
        Arc::new(Drop_),
        clock.clone(),
    ))
}

fn load(m: &oxeye_rules::manager::RuleManager, yaml: &str) {
    m.set_file_groups(vec![oxeye_rules::manager::RuleSource {
        name: "rules.yml".into(),
        tenant: tenant(),
        language: RuleLanguage::Promql,
        file: oxeye_rules::file::parse(yaml).unwrap(),
    }])
    .unwrap();
}

/// Prometheus restores `for` state only after the second evaluation following a start
/// ("during the first eval we might not have enough data scraped, and recording rules
/// would not have updated the latest values"). An alert on a recorded series that only
/// exists again from the first post-restart evaluation on (down longer than the 5m
/// lookback) must still get its pending time back.
#[test]
fn review_for_state_restored_when_alert_reappears_at_second_eval() {
    let store = Arc::new(MemMetrics::new());
    let clock = Arc::new(oxeye_core::ManualClock::new(0));
    let yaml = "groups:\n- name: g\n  interval: 10s\n  rules:\n  - alert: A\n    expr: rec > 0\n    for: 10m\n  - record: rec\n    expr: src\n";
    let env = Env {
        store: store.clone(),
        query: PromqlQuery {
            engine: oxeye_promql::Engine::new(),
            queryable: store.clone(),
        },
    };
    let m = manager(&store, &clock);
    load(&m, yaml);
    let mut t = 0;
    while t <= 300_000 {
        env.push("src", t, 1.0);
        clock.set(t);
        m.eval_due();
        t += 1_000;
    }
    let before = m.alerts(&tenant())[0].active_at_ms;
    drop(m);
    // Down for 10 minutes; `src` is scraped again from the restart on.
    let m = manager(&store, &clock);
    load(&m, yaml);
    let restart = 900_000;
    let mut t = restart;
    while t <= restart + 30_000 {
        env.push("src", t, 1.0);
        clock.set(t);
        m.eval_due();
        t += 1_000;
    }
    let after = m.alerts(&tenant())[0].active_at_ms;
    assert!(
        after < restart,
        "pending since {before} before the restart, since {after} after it: not restored"
    );
}

/// Renaming a group (or moving it to another file) keeps its rules: Prometheus marks the
/// old group's series stale only two intervals later, at the time it stopped, so a series
/// the renamed group keeps writing never goes stale. Here `rec` must stay queryable all
/// along, or alerts on it resolve and dashboards show a gap.
#[test]
fn review_renamed_group_series_do_not_go_stale() {
    let store = Arc::new(MemMetrics::new());
    let clock = Arc::new(oxeye_core::ManualClock::new(0));
    let env = Env {
        store: store.clone(),
        query: PromqlQuery {
            engine: oxeye_promql::Engine::new(),
            queryable: store.clone(),
        },
    };
    let yaml = |name: &str| {
        format!(
            "groups:\n- name: {name}\n  interval: 10s\n  rules:\n  - record: rec\n    expr: src\n"
        )
    };
    let m = manager(&store, &clock);
    load(&m, &yaml("before"));
    let mut gaps = Vec::new();
    let mut t = 0;
    while t <= 120_000 {
        env.push("src", t, 1.0);
        clock.set(t);
        if t == 60_000 {
            load(&m, &yaml("after"));
        }
        m.eval_due();
        if t >= 30_000 {
            let v =
                oxeye_rules::query::QueryFunc::instant(&env.query, &tenant(), "rec", t).unwrap();
            if v.is_empty() {
                gaps.push(t);
            }
        }
        t += 1_000;
    }
    assert!(gaps.is_empty(), "rec absent at {gaps:?}");
}
