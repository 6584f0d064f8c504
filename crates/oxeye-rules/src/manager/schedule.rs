//! When groups are evaluated: every `interval`, at an offset within the interval that
//! is stable for a group (a hash of its file and name, as Prometheus spreads groups), at
//! the scheduled time rather than the moment the scheduler woke up. Iterations missed
//! because an evaluation ran long or the process stalled are skipped, not back-filled:
//! the group is evaluated once at the latest missed slot.

use std::sync::Arc;
use std::time::Duration;

use oxeye_core::{Labels, TenantId};

use super::{RuleManager, Slot};
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

/// Writes the stale markers queued for series of removed groups.
fn flush_stale(m: &RuleManager, now: i64) {
    let stale = std::mem::take(&mut m.groups.write().stale);
    for (tenant, series) in stale {
        if let Err(e) = m.appender.append(&tenant, stale_batch(series, now)) {
            tracing::warn!(tenant = %tenant, error = %e, "marking series of removed rule groups stale failed");
        }
    }
}

/// Evaluates the group of `slot` when it is due at `now`; whether it was.
fn eval_slot(m: &RuleManager, slot: &Slot, now: i64) -> bool {
    let mut s = slot.lock();
    if s.next_ms > now {
        return false;
    }
    let interval = s.group.interval_ms().max(1);
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
    if s.restore_after_eval {
        s.group.restore_for_state(t, m.promql.as_ref());
        s.restore_after_eval = false;
    }
    s.next_ms = t + interval;
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

/// The earliest next evaluation time of any group, ms.
fn next_due_ms(m: &RuleManager) -> Option<i64> {
    all_slots(m).iter().map(|s| s.lock().next_ms).min()
}

/// See [`RuleManager::run`].
pub(super) async fn run(m: Arc<RuleManager>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    loop {
        if *shutdown.borrow() {
            return;
        }
        let now = m.clock.now_ms();
        let wait_ms = next_due_ms(&m).map_or(60_000, |n| (n - now).clamp(0, 60_000));
        if wait_ms > 0 {
            tokio::select! {
                changed = shutdown.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
                _ = tokio::time::sleep(Duration::from_millis(wait_ms as u64)) => {}
                _ = m.changed.notified() => {}
            }
            continue;
        }
        // Due groups are evaluated side by side, so a slow group does not hold up the
        // others; the next round waits for all of them.
        let now = m.clock.now_ms();
        let flusher = m.clone();
        let mut tasks = vec![tokio::task::spawn_blocking(move || {
            flush_stale(&flusher, now);
        })];
        for slot in all_slots(&m) {
            if slot.lock().next_ms > now {
                continue;
            }
            let worker = m.clone();
            tasks.push(tokio::task::spawn_blocking(move || {
                eval_slot(&worker, &slot, now);
            }));
        }
        for task in tasks {
            if let Err(e) = task.await {
                tracing::error!(error = %e, "rule evaluation task failed");
            }
        }
    }
}
