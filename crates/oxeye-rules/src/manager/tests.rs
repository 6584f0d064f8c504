//! The manager on a manual clock: scheduling, reload, alert delivery, restore after a
//! restart and the ruler API's groups.

use std::sync::Arc;

use oxeye_core::logs::{LogAppender, LogBatch, LogEntry, LogStream};
use oxeye_core::logs_mem::MemLogStore;
use oxeye_core::{Labels, ManualClock, MetricsAppender, Sample, SeriesWrite, WriteBatch};
use parking_lot::Mutex;

use super::*;
use crate::alert::Alert;
use crate::memory::MemMetrics;
use crate::query::{LogqlQuery, PromqlQuery};

#[derive(Default)]
struct Sink(Mutex<Vec<(TenantId, Alert)>>);

impl AlertSink for Sink {
    fn send(&self, tenant: &TenantId, alerts: Vec<Alert>) {
        let mut sent = self.0.lock();
        sent.extend(alerts.into_iter().map(|a| (tenant.clone(), a)));
    }
}

fn anon() -> TenantId {
    TenantId::new("anonymous").unwrap()
}

struct Env {
    clock: ManualClock,
    metrics: Arc<MemMetrics>,
    logs: Arc<MemLogStore>,
    sink: Arc<Sink>,
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Self {
        Self {
            clock: ManualClock::new(1_000_000),
            metrics: Arc::new(MemMetrics::new()),
            logs: Arc::new(MemLogStore::new()),
            sink: Arc::new(Sink::default()),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn manager(&self) -> RuleManager {
        let promql = Arc::new(PromqlQuery {
            engine: oxeye_promql::Engine::new(),
            queryable: self.metrics.clone(),
        });
        let logql = Arc::new(LogqlQuery {
            engine: Arc::new(oxeye_logql::Engine::new(
                self.logs.clone(),
                oxeye_logql::EngineLimits::default(),
            )),
        });
        RuleManager::new(
            ManagerOptions {
                group: GroupOptions::default(),
                rules_dir: Some(self.dir.path().join("rules")),
            },
            promql,
            Some(logql),
            self.metrics.clone(),
            self.sink.clone(),
            Arc::new(self.clock.clone()),
        )
    }

    fn push(&self, name: &str, t_ms: i64, v: f64) {
        let series = vec![SeriesWrite {
            labels: Labels::from_pairs(&[("__name__", name)]),
            samples: vec![Sample::new(t_ms, v)],
            exemplars: Vec::new(),
        }];
        let batch = WriteBatch {
            series,
            metadata: Vec::new(),
        };
        self.metrics.append(&anon(), batch).unwrap();
    }

    fn value(&self, expr: &str) -> Option<f64> {
        let q = PromqlQuery {
            engine: oxeye_promql::Engine::new(),
            queryable: self.metrics.clone(),
        };
        q.instant(&anon(), expr, self.clock.now_ms())
            .unwrap()
            .first()
            .map(|x| x.1)
    }
}

fn source(name: &str, yaml: &str) -> RuleSource {
    RuleSource {
        name: name.into(),
        tenant: anon(),
        language: RuleLanguage::Promql,
        file: crate::file::parse(yaml).unwrap(),
    }
}

const RULES: &str = r#"
groups:
  - name: g
    interval: 10s
    rules:
      - record: x2
        expr: x * 2
      - alert: XHigh
        expr: x > 10
        for: 20s
        annotations: {summary: "x is high"}
"#;

#[test]
fn groups_run_on_their_interval_at_a_stable_offset_and_skip_missed_iterations() {
    let env = Env::new();
    let m = env.manager();
    m.set_file_groups(vec![source("a.yml", RULES)]).unwrap();
    let slot = m.slots(&anon()).pop().unwrap();
    let first = slot.lock().next_ms;
    assert!((1_000_000..1_010_000).contains(&first), "{first}");
    assert_eq!(first.rem_euclid(10_000), first.rem_euclid(10_000));
    env.clock.set(first - 1);
    assert_eq!(m.eval_due(), 0);
    env.clock.set(first);
    assert_eq!(m.eval_due(), 1);
    assert_eq!(m.eval_due(), 0, "not twice in one slot");
    assert_eq!(m.groups(&anon())[0].last_evaluation_ms, Some(first));
    // 35s later: one evaluation at the latest missed slot, then back on the grid.
    env.clock.set(first + 35_000);
    assert_eq!(m.eval_due(), 1);
    assert_eq!(
        m.groups(&anon())[0].last_evaluation_ms,
        Some(first + 30_000)
    );
    assert_eq!(slot.lock().next_ms, first + 40_000);
    // The same group gets the same offset in another manager.
    let m2 = env.manager();
    m2.set_file_groups(vec![source("a.yml", RULES)]).unwrap();
    assert_eq!(m2.slots(&anon())[0].lock().next_ms, first + 40_000);
}

#[test]
fn alerts_fire_and_reach_the_sink() {
    let env = Env::new();
    let m = env.manager();
    m.set_file_groups(vec![source("a.yml", RULES)]).unwrap();
    let start = m.slots(&anon())[0].lock().next_ms;
    for i in 0..4 {
        let t = start + i * 10_000;
        env.push("x", t - 1, 50.0);
        env.clock.set(t);
        m.eval_due();
    }
    assert_eq!(env.value("x2"), Some(100.0));
    let alerts = m.alerts(&anon());
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].state, crate::group::AlertState::Firing);
    let sent = env.sink.0.lock().clone();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(
        sent[0].1.labels.get("alertname").map(String::as_str),
        Some("XHigh")
    );
    assert_eq!(sent[0].1.starts_at_ms, start + 20_000);
    let statuses = m.groups(&anon());
    assert_eq!(statuses[0].file, "a.yml");
    assert_eq!(statuses[0].interval_s, 10.0);
    assert_eq!(statuses[0].rules.len(), 2);
}

#[test]
fn invalid_reloads_change_nothing_and_valid_ones_keep_alert_state() {
    let env = Env::new();
    let m = env.manager();
    m.set_file_groups(vec![source("a.yml", RULES)]).unwrap();
    let start = m.slots(&anon())[0].lock().next_ms;
    env.push("x", start - 1, 50.0);
    env.clock.set(start);
    m.eval_due();
    let bad = source(
        "b.yml",
        "groups:\n- name: b\n  rules:\n  - record: 'bad name'\n    expr: up\n  - alert: A\n    expr: 'sum('\n",
    );
    let errs = m
        .set_file_groups(vec![source("a.yml", RULES), bad])
        .unwrap_err();
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert!(
        errs[0]
            .to_string()
            .starts_with("b.yml: group \"b\", rule 1"),
        "{}",
        errs[0]
    );
    assert_eq!(m.groups(&anon()).len(), 1);

    // A valid reload that changes the record rule and adds a group keeps the alert.
    let edited = RULES.replace(
        "record: x2\n        expr: x * 2",
        "record: x3\n        expr: x * 3",
    );
    assert_ne!(edited, RULES);
    let other = source(
        "c.yml",
        "groups:\n- name: c\n  interval: 10s\n  rules:\n  - record: y\n    expr: vector(1)\n",
    );
    m.set_file_groups(vec![source("a.yml", &edited), other])
        .unwrap();
    assert_eq!(m.groups(&anon()).len(), 2);
    assert_eq!(m.alerts(&anon())[0].active_at_ms, start);
    env.push("x", start + 9_999, 50.0);
    env.clock.set(start + 10_000);
    m.eval_due();
    assert_eq!(env.value("x2"), None, "the removed rule's series is stale");
    assert_eq!(env.value("x3"), Some(150.0));
    env.push("x", start + 19_999, 50.0);
    env.clock.set(start + 20_000);
    m.eval_due();
    assert_eq!(env.value("y"), Some(1.0), "the added group runs");

    // Removing the file stales what its groups wrote, two intervals later (time for a
    // renamed group to take its series over).
    m.set_file_groups(vec![]).unwrap();
    assert!(m.groups(&anon()).is_empty());
    env.clock.set(start + 39_000);
    m.eval_due();
    assert_eq!(env.value("y"), Some(1.0), "not stale before two intervals");
    env.clock.set(start + 40_000);
    m.eval_due();
    assert_eq!(env.value("ALERTS"), None);
    assert_eq!(env.value("y"), None);
}

#[test]
fn pending_for_state_survives_a_restart() {
    let env = Env::new();
    let rules = RULES.replace("for: 20s", "for: 10m");
    let m = env.manager();
    m.set_file_groups(vec![source("a.yml", &rules)]).unwrap();
    let start = m.slots(&anon())[0].lock().next_ms;
    for i in 0..6 {
        env.push("x", start + i * 10_000 - 1, 50.0);
        env.clock.set(start + i * 10_000);
        m.eval_due();
    }
    assert_eq!(m.alerts(&anon())[0].active_at_ms, start);
    drop(m);
    // Down for 30s; the new process evaluates twice, then restores.
    let m = env.manager();
    m.set_file_groups(vec![source("a.yml", &rules)]).unwrap();
    let restart = start + 80_000;
    env.push("x", restart - 1, 50.0);
    env.clock.set(restart);
    m.eval_due();
    assert_eq!(
        m.alerts(&anon())[0].active_at_ms,
        restart,
        "not restored at the first evaluation"
    );
    env.push("x", restart + 9_999, 50.0);
    env.clock.set(restart + 10_000);
    m.eval_due();
    let a = &m.alerts(&anon())[0];
    assert_eq!(a.state, crate::group::AlertState::Pending);
    // 50s pending before going down at start+50s; the 40s since are not counted.
    assert_eq!(a.active_at_ms, start + 40_000);
}

fn push_logs(env: &Env, tenant: &str, n: usize, t_ns: i64) {
    let entries = (0..n)
        .map(|i| LogEntry::new(t_ns + i as i64, format!("line {i}")))
        .collect();
    let batch = LogBatch {
        streams: vec![LogStream {
            labels: Labels::from_pairs(&[("app", "api")]),
            entries,
        }],
    };
    env.logs
        .append_logs(&TenantId::new(tenant).unwrap(), batch)
        .unwrap();
}

fn logql_group(name: &str) -> RuleGroupSpec {
    serde_saphyr::from_str(&format!(
        "name: {name}\ninterval: 10s\nrules:\n  - record: api:lines:count1m\n    expr: 'sum(count_over_time({{app=\"api\"}}[1m]))'\n"
    ))
    .unwrap()
}

#[test]
fn ruler_groups_evaluate_logql_persist_and_stay_per_tenant() {
    let env = Env::new();
    let m = env.manager();
    let t1 = TenantId::new("team-1").unwrap();
    let t2 = TenantId::new("team-2").unwrap();
    m.set_group(&t1, "my ns", logql_group("lines")).unwrap();
    assert_eq!(m.namespaces(&t1).get("my ns").map(Vec::len), Some(1));
    assert!(m.namespaces(&t2).is_empty());
    assert!(m.groups(&t2).is_empty());
    assert_eq!(m.groups(&t1)[0].file, "my ns");

    // Log queries and broken expressions are refused.
    let mut bad = logql_group("bad");
    bad.rules[0].expr = "{app=\"api\"}".into();
    assert!(matches!(
        m.set_group(&t1, "ns", bad),
        Err(RulesError::Invalid(_))
    ));

    push_logs(&env, "team-1", 7, env.clock.now_ms() * 1_000_000);
    let next = m.slots(&t1)[0].lock().next_ms;
    env.clock.set(next + 1);
    m.eval_due();
    let q = PromqlQuery {
        engine: oxeye_promql::Engine::new(),
        queryable: env.metrics.clone(),
    };
    let v = q.instant(&t1, "api:lines:count1m", next + 1).unwrap();
    assert_eq!(v.first().map(|x| x.1), Some(7.0), "{v:?}");
    assert_eq!(m.groups(&t1)[0].rules[0].health, "ok");

    // A new manager loads the persisted namespace.
    let m2 = env.manager();
    m2.load_persisted().unwrap();
    assert_eq!(m2.namespaces(&t1), m.namespaces(&t1));
    assert_eq!(m2.groups(&t1).len(), 1);

    assert!(matches!(
        m.delete_group(&t2, "my ns", "lines"),
        Err(RulesError::NotFound(_))
    ));
    m.delete_group(&t1, "my ns", "lines").unwrap();
    assert!(m.namespaces(&t1).is_empty());
    assert!(m.groups(&t1).is_empty());
    let m3 = env.manager();
    m3.load_persisted().unwrap();
    assert!(m3.namespaces(&t1).is_empty());

    m.set_group(&t2, "a", logql_group("one")).unwrap();
    m.set_group(&t2, "a", logql_group("two")).unwrap();
    m.set_group(&t2, "a", logql_group("one")).unwrap();
    assert_eq!(m.namespaces(&t2)["a"].len(), 2, "same name replaces");
    m.delete_namespace(&t2, "a").unwrap();
    assert!(m.groups(&t2).is_empty());
    assert!(matches!(
        m.delete_namespace(&t2, "a"),
        Err(RulesError::NotFound(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_evaluates_due_groups_until_shut_down() {
    let env = Env::new();
    let m = Arc::new(env.manager());
    m.set_file_groups(vec![source("a.yml", RULES)]).unwrap();
    let first = m.slots(&anon())[0].lock().next_ms;
    env.push("x", first - 1, 50.0);
    env.clock.set(first);
    let (tx, rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(m.clone().run(rx));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while m.groups(&anon())[0].last_evaluation_ms.is_none() {
        assert!(std::time::Instant::now() < deadline, "no evaluation");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(m.groups(&anon())[0].last_evaluation_ms, Some(first));
    assert_eq!(env.value("x2"), Some(100.0));
    tx.send(true).unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(5), task)
        .await
        .expect("the scheduler stops on shutdown")
        .unwrap();
}

#[test]
fn for_state_is_restored_when_the_alert_reappears_at_the_second_evaluation() {
    // The alert reads a recorded series that exists again only from the first
    // evaluation after the restart on (down longer than the lookback): as Prometheus,
    // the restore waits for the second evaluation.
    let env = Env::new();
    let rules = "groups:\n- name: g\n  interval: 10s\n  rules:\n  - alert: A\n    expr: rec > 0\n    for: 10m\n  - record: rec\n    expr: src\n";
    let m = env.manager();
    m.set_file_groups(vec![source("a.yml", rules)]).unwrap();
    let start = env.clock.now_ms();
    let mut t = start;
    while t <= start + 300_000 {
        env.push("src", t, 1.0);
        env.clock.set(t);
        m.eval_due();
        t += 1_000;
    }
    let before = m.alerts(&anon())[0].active_at_ms;
    drop(m);
    // Down for 10 minutes; `src` is written again from the restart on.
    let restart = start + 900_000;
    env.clock.set(restart);
    let m = env.manager();
    m.set_file_groups(vec![source("a.yml", rules)]).unwrap();
    let mut t = restart;
    while t <= restart + 30_000 {
        env.push("src", t, 1.0);
        env.clock.set(t);
        m.eval_due();
        t += 1_000;
    }
    let after = m.alerts(&anon())[0].active_at_ms;
    assert!(
        after < restart,
        "pending since {before} before the restart, since {after} after it: not restored"
    );
}

#[test]
fn a_group_loaded_long_before_its_first_evaluation_starts_at_its_next_slot() {
    let env = Env::new();
    let m = env.manager();
    m.set_file_groups(vec![source("a.yml", RULES)]).unwrap();
    let first = m.slots(&anon())[0].lock().next_ms;
    env.clock.set(first + 65_000);
    assert_eq!(m.eval_due(), 0, "no evaluation in the past");
    assert_eq!(m.slots(&anon())[0].lock().next_ms, first + 70_000);
    env.clock.set(first + 70_000);
    assert_eq!(m.eval_due(), 1);
}

#[test]
fn series_of_a_renamed_group_do_not_go_stale() {
    // Renaming a group (or moving it to another file) keeps writing its series: the old
    // group's series are only marked stale when no group writes them two intervals on.
    let env = Env::new();
    let rules = |name: &str| {
        format!(
            "groups:\n- name: {name}\n  interval: 10s\n  rules:\n  - record: rec\n    expr: src\n  - record: gone_{name}\n    expr: src\n"
        )
    };
    let m = env.manager();
    m.set_file_groups(vec![source("a.yml", &rules("before"))])
        .unwrap();
    let start = env.clock.now_ms();
    let mut gaps = Vec::new();
    let mut t = start;
    while t <= start + 120_000 {
        env.push("src", t, 1.0);
        env.clock.set(t);
        if t == start + 60_000 {
            m.set_file_groups(vec![source("b.yml", &rules("after"))])
                .unwrap();
        }
        m.eval_due();
        if t >= start + 30_000 && env.value("rec").is_none() {
            gaps.push(t - start);
        }
        t += 1_000;
    }
    assert!(gaps.is_empty(), "rec absent at {gaps:?}");
    assert_eq!(
        env.value("gone_before"),
        None,
        "what nobody writes goes stale"
    );
    assert_eq!(env.value("gone_after"), Some(1.0));
}

/// Answers `vector(1)`; expressions containing `slow` block until released (at most
/// 30s), as a heavy query does.
#[derive(Default)]
struct BlockingQuery {
    released: Mutex<bool>,
    cond: parking_lot::Condvar,
}

impl QueryFunc for BlockingQuery {
    fn instant(
        &self,
        _: &TenantId,
        expr: &str,
        _: i64,
    ) -> Result<crate::query::Vector, RulesError> {
        if expr.contains("slow") {
            let mut released = self.released.lock();
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
            while !*released {
                if self.cond.wait_until(&mut released, deadline).timed_out() {
                    break;
                }
            }
        }
        Ok(vec![(Labels::default(), 1.0)])
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_group_delays_neither_other_groups_nor_the_status_apis() {
    let env = Env::new();
    let query = Arc::new(BlockingQuery::default());
    let m = Arc::new(RuleManager::new(
        ManagerOptions {
            group: GroupOptions::default(),
            rules_dir: None,
        },
        query.clone(),
        None,
        env.metrics.clone(),
        env.sink.clone(),
        Arc::new(oxeye_core::SystemClock),
    ));
    m.set_file_groups(vec![source(
        "a.yml",
        "groups:\n- name: slow\n  interval: 100ms\n  rules:\n  - record: s\n    expr: slow_metric\n- name: fast\n  interval: 100ms\n  rules:\n  - alert: Fast\n    expr: vector(1)\n",
    )])
    .unwrap();
    let (tx, rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(m.clone().run(rx));
    let poller = m.clone();
    let (fast_evals, slow_status) = tokio::task::spawn_blocking(move || {
        // While the slow group's first evaluation hangs, the fast group keeps being
        // evaluated and the status APIs answer (they would hang for 30s otherwise).
        let mut evals = std::collections::BTreeSet::new();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while evals.len() < 5 && std::time::Instant::now() < deadline {
            let groups = poller.groups(&anon());
            evals.extend(
                groups
                    .iter()
                    .filter(|g| g.name == "fast")
                    .filter_map(|g| g.last_evaluation_ms),
            );
            assert!(!poller.alerts(&anon()).is_empty() || evals.is_empty());
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let slow = poller
            .groups(&anon())
            .into_iter()
            .find(|g| g.name == "slow");
        (evals.len(), slow.and_then(|g| g.last_evaluation_ms))
    })
    .await
    .unwrap();
    *query.released.lock() = true;
    query.cond.notify_all();
    assert!(
        fast_evals >= 5,
        "the fast group was evaluated {fast_evals} times"
    );
    assert_eq!(
        slow_status, None,
        "the slow group's evaluation had not finished"
    );
    assert!(
        env.sink
            .0
            .lock()
            .iter()
            .any(|(_, a)| a.labels["alertname"] == "Fast"),
        "the fast group's alert was sent"
    );
    tx.send(true).unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(10), task)
        .await
        .expect("the scheduler stops once the slow evaluation ends")
        .unwrap();
    let slow = m
        .groups(&anon())
        .into_iter()
        .find(|g| g.name == "slow")
        .unwrap();
    assert!(
        slow.last_evaluation_ms.is_some(),
        "the slow evaluation completed before the stop"
    );
}
