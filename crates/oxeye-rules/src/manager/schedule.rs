//! When groups are evaluated: every `interval`, at an offset within the interval that
//! is stable for a group (a hash of its file and name, as Prometheus spreads groups), at
//! the scheduled time rather than the moment the scheduler woke up. Iterations missed
//! because an evaluation ran long or the process stalled are skipped, not back-filled:
//! the group is evaluated once at the latest missed slot.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use oxeye_core::{Labels, TenantId};

use super::{PendingStale, RuleManager, Slot};
use crate::RulesError;
use crate::file::RuleLanguage;
use crate::group::{Group, stale_batch};
use crate::query::{QueryFunc, Vector};

/// The first evaluation time at or after `now_ms` on the group's grid.
pub(super) fn next_eval_ms(group: &Group, now_ms: i64) -> i64 {
    let interval = group.interval_ms().max(1);
    let key = Labels::from_pairs(&[("file", group.file()), ("name", group.name())]);
    let offset = (key.stable_hash() % interval as u64) as i64;
    let base = now_ms - now_ms.rem_euclid(interval);
    let next = base + offset;
    if next < now_ms { next + interval } else { next }
}

/// Answers LogQL rules when the log store is not enabled.
struct NoLogs;

impl QueryFunc for NoLogs {
    fn instant(&self, _: &TenantId, _: &str, _: i64) -> Result<Vector, RulesError> {
        Err(RulesError::Query(
            "log rules need the log store, which is not enabled".into(),
        ))
    }
}

fn all_slots(m: &RuleManager) -> Vec<Slot> {
    let groups = m.groups.read();
    groups
        .files
        .values()
        .chain(groups.ruler.values())
        .flat_map(|g| g.values().cloned())
        .collect()
}

/// Writes stale markers at `now` for the series of removed groups whose time has come,
/// except those a current group of the same tenant wrote at its last evaluation (a
/// renamed or moved group keeps writing them).
fn flush_stale(m: &RuleManager, now: i64) {
    let due: Vec<PendingStale> = {
        let mut groups = m.groups.write();
        let (due, later) = std::mem::take(&mut groups.stale)
            .into_iter()
            .partition(|p| p.due_ms <= now);
        groups.stale = later;
        due
    };
    let mut written: HashMap<TenantId, HashSet<Labels>> = HashMap::new();
    for pending in due {
        let current = written.entry(pending.tenant.clone()).or_insert_with(|| {
            m.slots(&pending.tenant)
                .iter()
                .flat_map(|slot| slot.lock().group.previous_series())
                .collect()
        });
        let series: Vec<Labels> = pending
            .series
            .into_iter()
            .filter(|l| !current.contains(l))
            .collect();
        if series.is_empty() {
            continue;
        }
        if let Err(e) = m.appender.append(&pending.tenant, stale_batch(series, now)) {
            tracing::warn!(tenant = %pending.tenant, error = %e, "marking series of removed rule groups stale failed");
        }
    }
}

/// When the earliest queued stale marking is due, ms.
fn stale_due_ms(m: &RuleManager) -> Option<i64> {
    m.groups.read().stale.iter().map(|p| p.due_ms).min()
}

/// Evaluates the group of `slot` when it is due at `now`; whether it was.
fn eval_slot(m: &RuleManager, slot: &Slot, now: i64) -> bool {
    let mut s = slot.lock();
    if s.next_ms > now || slot.retired.load(Ordering::Acquire) {
        return false;
    }
    let interval = s.group.interval_ms().max(1);
    if s.group.last_evaluation().is_none() && now - s.next_ms >= interval {
        // Never evaluated and its first slot long gone (evaluation started well after
        // the group was loaded): it starts at its next slot as a group loaded now would,
        // rather than with an evaluation in the past, which would also count towards the
        // evaluations awaited before restoring `for` state.
        s.next_ms = next_eval_ms(&s.group, now);
        slot.publish(&s);
        if s.next_ms > now {
            return false;
        }
    }
    let missed = (now - s.next_ms) / interval;
    if missed > 0 {
        tracing::warn!(
            group = %s.group.name(), file = %s.group.file(), missed,
            "rule group evaluation missed iterations"
        );
    }
    let t = s.next_ms + missed * interval;
    let query: &dyn QueryFunc = match s.group.language() {
        RuleLanguage::Promql => m.promql.as_ref(),
        RuleLanguage::Logql => m.logql.as_deref().unwrap_or(&NoLogs),
    };
    let outcome = s.group.eval(t, query, m.appender.as_ref());
    s.evaluations += 1;
    s.rule_failures += outcome.failed_rules as u64;
    // As Prometheus, `for` state is restored after the second evaluation since the
    // start: at the first one recent samples (and recording rules the alerts depend on)
    // may still be missing.
    if s.evals_until_restore > 0 {
        s.evals_until_restore -= 1;
        if s.evals_until_restore == 0 {
            s.group.restore_for_state(t, m.promql.as_ref());
        }
    }
    s.next_ms = t + interval;
    slot.publish(&s);
    let tenant = s.group.tenant().clone();
    drop(s);
    if !outcome.to_send.is_empty() {
        m.sink.send(&tenant, outcome.to_send);
    }
    true
}

/// See [`RuleManager::eval_due`].
pub(super) fn eval_due(m: &RuleManager) -> usize {
    let now = m.clock.now_ms();
    flush_stale(m, now);
    all_slots(m)
        .iter()
        .filter(|slot| eval_slot(m, slot, now))
        .count()
}

/// Clears a slot's `running` flag when its evaluation ends, even by a panic.
struct Running(Slot);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.running.store(false, Ordering::Release);
    }
}

/// See [`RuleManager::run`]: each due group is evaluated on a worker of its own, so a
/// slow group holds up neither the other groups nor their next evaluations; a group is
/// evaluated again only once its previous evaluation finished.
pub(super) async fn run(m: Arc<RuleManager>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let mut tasks = tokio::task::JoinSet::new();
    let flushing = Arc::new(AtomicBool::new(false));
    loop {
        if *shutdown.borrow() {
            break;
        }
        let now = m.clock.now_ms();
        let mut next = None::<i64>;
        for slot in all_slots(&m) {
            if slot.running.load(Ordering::Acquire) || slot.retired.load(Ordering::Acquire) {
                continue;
            }
            let due = slot.next_ms.load(Ordering::Acquire);
            if due > now {
                next = Some(next.map_or(due, |n| n.min(due)));
                continue;
            }
            slot.running.store(true, Ordering::Release);
            let worker = m.clone();
            tasks.spawn_blocking(move || {
                let running = Running(slot);
                eval_slot(&worker, &running.0, now);
            });
        }
        if let Some(due) = stale_due_ms(&m) {
            if due <= now && !flushing.swap(true, Ordering::AcqRel) {
                let worker = m.clone();
                let flag = flushing.clone();
                tasks.spawn_blocking(move || {
                    flush_stale(&worker, now);
                    flag.store(false, Ordering::Release);
                });
            } else if due > now {
                next = Some(next.map_or(due, |n| n.min(due)));
            }
        }
        let wait_ms = next.map_or(60_000, |n| (n - now).clamp(1, 60_000));
        tokio::select! {
            changed = shutdown.changed() => {
                if changed.is_err() {
                    break;
                }
            }
            _ = tokio::time::sleep(Duration::from_millis(wait_ms as u64)) => {}
            _ = m.changed.notified() => {}
            Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                if let Err(e) = done {
                    tracing::error!(error = %e, "rule evaluation task failed");
                }
            }
        }
    }
    // Evaluations in progress finish before the stores close.
    while let Some(done) = tasks.join_next().await {
        if let Err(e) = done {
            tracing::error!(error = %e, "rule evaluation task failed");
        }
    }
}
