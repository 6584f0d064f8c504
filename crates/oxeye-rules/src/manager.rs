//! The rule manager: every tenant's rule groups, their scheduling on an injected clock,
//! reload without losing alert state, and the groups the Loki ruler API manages.
//!
//! Groups come from two places: rule files (the config's `rule_files` for PromQL,
//! `log_rule_files` for LogQL, and the groups generated from SLO specs), all of the
//! default tenant, handed over with [`RuleManager::set_file_groups`] on start and on each
//! reload; and per-tenant namespaces written through the ruler API
//! ([`RuleManager::set_group`]), persisted under the rules directory. Each group is
//! evaluated every `interval` at a fixed offset within it; alerts due to be sent go to
//! the [`AlertSink`].

mod ruler;
mod schedule;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use oxeye_core::{Clock, Labels, MetricsAppender, TenantId};
use parking_lot::{Mutex, RwLock};

use crate::RulesError;
use crate::alert::AlertSink;
use crate::file::{RuleFile, RuleGroupSpec, RuleLanguage};
use crate::group::{ActiveAlert, Group, GroupOptions, RuleStatus};
use crate::query::QueryFunc;

/// Rules of one source file (or generated source) for one tenant.
#[derive(Debug, Clone)]
pub struct RuleSource {
    /// File path (or a name such as `slo:<file>` for generated rules).
    pub name: String,
    /// Whose rules they are.
    pub tenant: TenantId,
    /// The language of their expressions.
    pub language: RuleLanguage,
    /// The parsed file.
    pub file: RuleFile,
}

/// How the manager runs.
#[derive(Debug, Clone)]
pub struct ManagerOptions {
    /// Settings handed to every group.
    pub group: GroupOptions,
    /// Where ruler-API groups are stored (`<dir>/<tenant>/<namespace>.yml`); none keeps
    /// them in memory only.
    pub rules_dir: Option<PathBuf>,
}

/// A group's status for `/api/v1/rules`.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupStatus {
    /// Group name.
    pub name: String,
    /// Source file (the namespace for ruler-API groups).
    pub file: String,
    /// Evaluation interval, seconds.
    pub interval_s: f64,
    /// `limit`.
    pub limit: u64,
    /// Its rules.
    pub rules: Vec<RuleStatus>,
    /// Last evaluation start, ms.
    pub last_evaluation_ms: Option<i64>,
    /// Last evaluation's duration, seconds.
    pub evaluation_time_s: f64,
    /// Evaluations of the group since start (kept across reloads).
    pub evaluations_total: u64,
    /// Rule evaluations that failed since start (kept across reloads).
    pub rule_failures_total: u64,
}

/// A group and when it is next evaluated.
#[derive(Debug)]
struct Scheduled {
    group: Group,
    /// Next evaluation time, ms.
    next_ms: i64,
    /// Evaluations left before `for` state is restored (groups loaded at start restore
    /// after their second evaluation); 0: nothing to restore.
    evals_until_restore: u8,
    /// Evaluations so far (self metrics).
    evaluations: u64,
    /// Failed rule evaluations so far (self metrics).
    rule_failures: u64,
}

/// What the status APIs read of a group: published after each evaluation, so reading it
/// never waits for an evaluation in progress.
#[derive(Debug, Clone)]
struct Snapshot {
    status: GroupStatus,
    alerts: Vec<ActiveAlert>,
}

/// One scheduled group: its state behind the evaluation lock, and what is read without it.
#[derive(Debug)]
struct GroupSlot {
    state: Mutex<Scheduled>,
    /// Mirror of `Scheduled::next_ms` for the scheduler.
    next_ms: AtomicI64,
    /// An evaluation was handed to a worker and has not finished.
    running: AtomicBool,
    /// Replaced or removed: not evaluated any more.
    retired: AtomicBool,
    snapshot: RwLock<Arc<Snapshot>>,
}

impl GroupSlot {
    fn new(s: Scheduled) -> Self {
        let snapshot = RwLock::new(Arc::new(snapshot_of(&s)));
        Self {
            next_ms: AtomicI64::new(s.next_ms),
            state: Mutex::new(s),
            running: AtomicBool::new(false),
            retired: AtomicBool::new(false),
            snapshot,
        }
    }

    /// The evaluation lock.
    fn lock(&self) -> parking_lot::MutexGuard<'_, Scheduled> {
        self.state.lock()
    }

    /// Publishes the state of `s` (held under [`GroupSlot::lock`]).
    fn publish(&self, s: &Scheduled) {
        self.next_ms.store(s.next_ms, Ordering::Release);
        *self.snapshot.write() = Arc::new(snapshot_of(s));
    }

    /// Stops the group being evaluated; returns the series it wrote last.
    fn retire(&self) -> Vec<Labels> {
        let s = self.lock();
        self.retired.store(true, Ordering::Release);
        s.group.previous_series()
    }
}

fn snapshot_of(s: &Scheduled) -> Snapshot {
    let g = &s.group;
    let (last, took) = g.last_evaluation().unzip();
    Snapshot {
        status: GroupStatus {
            name: g.name().to_string(),
            file: g.file().to_string(),
            interval_s: g.interval_ms() as f64 / 1000.0,
            limit: g.spec().limit,
            rules: g.rule_statuses(),
            last_evaluation_ms: last,
            evaluation_time_s: took.unwrap_or(0.0),
            evaluations_total: s.evaluations,
            rule_failures_total: s.rule_failures,
        },
        alerts: g.active_alerts(),
    }
}

type Slot = Arc<GroupSlot>;

/// Series of removed groups, marked stale once no current group writes them.
#[derive(Debug)]
struct PendingStale {
    tenant: TenantId,
    series: Vec<Labels>,
    /// Not before this time, ms: two intervals of the removed group after its removal,
    /// so that a renamed or moved group has written its series by then.
    due_ms: i64,
}

/// `(file, group name)` of a file group; `(namespace, group name)` of a ruler group.
type GroupKey = (String, String);

/// What the manager holds behind its lock.
#[derive(Default)]
struct Groups {
    /// File groups per tenant.
    files: BTreeMap<TenantId, BTreeMap<GroupKey, Slot>>,
    /// Ruler-API groups per tenant, by namespace then group name.
    ruler: BTreeMap<TenantId, BTreeMap<GroupKey, Slot>>,
    /// Ruler-API specs per tenant and namespace, in the order they were written.
    ruler_specs: BTreeMap<TenantId, BTreeMap<String, Vec<RuleGroupSpec>>>,
    /// Series of removed groups to mark stale when no group writes them any more.
    stale: Vec<PendingStale>,
    /// Whether file groups were set once: later groups need no `for` restore.
    started: bool,
}

/// Every tenant's rule groups.
pub struct RuleManager {
    options: RwLock<ManagerOptions>,
    promql: Arc<dyn QueryFunc>,
    logql: Option<Arc<dyn QueryFunc>>,
    appender: Arc<dyn MetricsAppender>,
    sink: Arc<dyn AlertSink>,
    clock: Arc<dyn Clock>,
    groups: RwLock<Groups>,
    /// Serializes changes of the groups (reloads, ruler API, options): they wait for
    /// evaluations in progress without holding `groups`, which the status APIs read.
    update: Mutex<()>,
    /// Woken when groups change, so the scheduler recomputes its next wake-up.
    changed: tokio::sync::Notify,
}

impl std::fmt::Debug for RuleManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleManager")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl RuleManager {
    /// A manager without groups; `logql` serves LogQL rules (absent: they are rejected).
    pub fn new(
        options: ManagerOptions,
        promql: Arc<dyn QueryFunc>,
        logql: Option<Arc<dyn QueryFunc>>,
        appender: Arc<dyn MetricsAppender>,
        sink: Arc<dyn AlertSink>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            options: RwLock::new(options),
            promql,
            logql,
            appender,
            sink,
            clock,
            groups: RwLock::new(Groups::default()),
            update: Mutex::new(()),
            changed: tokio::sync::Notify::new(),
        }
    }

    /// The settings groups are built with.
    pub fn options(&self) -> ManagerOptions {
        self.options.read().clone()
    }

    /// Applies new group settings (reload of `global.evaluation_interval`,
    /// `global.external_labels`): every group keeps its alert state; a group whose
    /// interval changes is rescheduled on its new grid.
    pub fn set_group_options(&self, options: GroupOptions) {
        let _update = self.update.lock();
        self.options.write().group = options.clone();
        let now = self.clock.now_ms();
        let slots: Vec<Slot> = {
            let groups = self.groups.read();
            groups
                .files
                .values()
                .chain(groups.ruler.values())
                .flat_map(|g| g.values().cloned())
                .collect()
        };
        for slot in slots {
            let mut s = slot.lock();
            let before = s.group.interval_ms();
            s.group.set_options(options.clone());
            if s.group.interval_ms() != before {
                s.next_ms = schedule::next_eval_ms(&s.group, now);
            }
            slot.publish(&s);
        }
        self.changed.notify_one();
    }

    /// Loads ruler-API groups persisted under the rules directory.
    pub fn load_persisted(&self) -> Result<(), RulesError> {
        ruler::load_persisted(self)
    }

    /// Replaces the file-based groups (start and reload); groups that stay keep their
    /// alert state. Nothing changes when any source is invalid: every problem is returned.
    pub fn set_file_groups(&self, sources: Vec<RuleSource>) -> Result<(), Vec<RulesError>> {
        let mut errors = Vec::new();
        let mut built: BTreeMap<TenantId, BTreeMap<GroupKey, Group>> = BTreeMap::new();
        for source in sources {
            let problems = crate::file::validate(&source.file, source.language);
            if !problems.is_empty() {
                errors.extend(
                    problems
                        .into_iter()
                        .map(|e| RulesError::Invalid(format!("{}: {e}", source.name))),
                );
                continue;
            }
            if source.language == RuleLanguage::Logql && self.logql.is_none() {
                errors.push(RulesError::Invalid(format!(
                    "{}: log rules need the log store, which is not enabled",
                    source.name
                )));
                continue;
            }
            for spec in source.file.groups {
                let key = (source.name.clone(), spec.name.clone());
                match Group::new(
                    source.tenant.clone(),
                    source.name.clone(),
                    spec,
                    source.language,
                    self.options.read().group.clone(),
                ) {
                    Ok(g) => {
                        if built
                            .entry(source.tenant.clone())
                            .or_default()
                            .insert(key.clone(), g)
                            .is_some()
                        {
                            errors.push(RulesError::Invalid(format!(
                                "{}: groupname: {:?} is repeated",
                                key.0, key.1
                            )));
                        }
                    }
                    Err(e) => errors.push(e),
                }
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let _update = self.update.lock();
        let now = self.clock.now_ms();
        let (restore, mut old_all) = {
            let groups = self.groups.read();
            (!groups.started, groups.files.clone())
        };
        let mut files = BTreeMap::new();
        let mut stale = Vec::new();
        for (tenant, tenant_groups) in built {
            let mut old = old_all.remove(&tenant).unwrap_or_default();
            let mut slots = BTreeMap::new();
            for (key, group) in tenant_groups {
                let slot = self.schedule(group, old.remove(&key), now, restore);
                slots.insert(key, slot);
            }
            stale.extend(retire_removed(&tenant, old, now));
            files.insert(tenant, slots);
        }
        for (tenant, old) in old_all {
            stale.extend(retire_removed(&tenant, old, now));
        }
        let mut groups = self.groups.write();
        groups.files = files;
        groups.stale.extend(stale);
        groups.started = true;
        drop(groups);
        self.changed.notify_one();
        Ok(())
    }

    /// Wraps `group` for the scheduler: it takes over the state and schedule of the group
    /// it replaces, or is scheduled at its offset from `now`.
    fn schedule(&self, mut group: Group, old: Option<Slot>, now: i64, restore: bool) -> Slot {
        let (next_ms, evals_until_restore, counts) = match old {
            Some(old) => {
                let o = old.lock();
                old.retired.store(true, Ordering::Release);
                group.copy_state_from(&o.group);
                let next = if o.group.interval_ms() == group.interval_ms() {
                    o.next_ms
                } else {
                    schedule::next_eval_ms(&group, now)
                };
                (
                    next,
                    o.evals_until_restore,
                    (o.evaluations, o.rule_failures),
                )
            }
            None => {
                group.set_restore_pending(restore);
                (
                    schedule::next_eval_ms(&group, now),
                    if restore { 2 } else { 0 },
                    (0, 0),
                )
            }
        };
        Arc::new(GroupSlot::new(Scheduled {
            group,
            next_ms,
            evals_until_restore,
            evaluations: counts.0,
            rule_failures: counts.1,
        }))
    }

    /// Evaluates every group whose next evaluation time is at or before the clock's now;
    /// returns how many groups were evaluated. The scheduler calls it; tests call it after
    /// moving a manual clock.
    pub fn eval_due(&self) -> usize {
        schedule::eval_due(self)
    }

    /// Runs the scheduler until `shutdown` turns true: evaluations run off the async
    /// workers.
    pub async fn run(self: Arc<Self>, shutdown: tokio::sync::watch::Receiver<bool>) {
        schedule::run(self, shutdown).await;
    }

    /// Every group slot of `tenant`: file groups by file and name, then ruler groups by
    /// namespace and name.
    fn slots(&self, tenant: &TenantId) -> Vec<Slot> {
        let groups = self.groups.read();
        let files = groups
            .files
            .get(tenant)
            .into_iter()
            .flat_map(|m| m.values());
        let ruler = groups
            .ruler
            .get(tenant)
            .into_iter()
            .flat_map(|m| m.values());
        files.chain(ruler).cloned().collect()
    }

    /// Group statuses of `tenant`, by file then name, as of their last evaluation;
    /// never waits for an evaluation in progress.
    pub fn groups(&self, tenant: &TenantId) -> Vec<GroupStatus> {
        self.slots(tenant)
            .iter()
            .map(|slot| slot.snapshot.read().status.clone())
            .collect()
    }

    /// Every tenant's group statuses (self metrics); never waits for an evaluation.
    pub fn all_groups(&self) -> Vec<(TenantId, GroupStatus)> {
        let groups = self.groups.read();
        let mut out = Vec::new();
        for map in [&groups.files, &groups.ruler] {
            for (tenant, slots) in map {
                for slot in slots.values() {
                    out.push((tenant.clone(), slot.snapshot.read().status.clone()));
                }
            }
        }
        out
    }

    /// Active alerts of `tenant` as of their groups' last evaluation; never waits for
    /// an evaluation in progress.
    pub fn alerts(&self, tenant: &TenantId) -> Vec<ActiveAlert> {
        self.slots(tenant)
            .iter()
            .flat_map(|slot| slot.snapshot.read().alerts.clone())
            .collect()
    }

    /// Ruler-API groups of `tenant` by namespace.
    pub fn namespaces(&self, tenant: &TenantId) -> BTreeMap<String, Vec<RuleGroupSpec>> {
        self.groups
            .read()
            .ruler_specs
            .get(tenant)
            .cloned()
            .unwrap_or_default()
    }

    /// Creates or replaces a ruler-API group (LogQL) in `namespace`.
    pub fn set_group(
        &self,
        tenant: &TenantId,
        namespace: &str,
        spec: RuleGroupSpec,
    ) -> Result<(), RulesError> {
        ruler::set_group(self, tenant, namespace, spec)
    }

    /// Deletes one ruler-API group.
    pub fn delete_group(
        &self,
        tenant: &TenantId,
        namespace: &str,
        name: &str,
    ) -> Result<(), RulesError> {
        ruler::delete_group(self, tenant, namespace, name)
    }

    /// Deletes a ruler-API namespace with all its groups.
    pub fn delete_namespace(&self, tenant: &TenantId, namespace: &str) -> Result<(), RulesError> {
        ruler::delete_namespace(self, tenant, namespace)
    }
}

/// Retires the `removed` groups; what they wrote is to be marked stale two of their
/// intervals after `now` unless another group writes it by then.
fn retire_removed(
    tenant: &TenantId,
    removed: BTreeMap<GroupKey, Slot>,
    now: i64,
) -> Vec<PendingStale> {
    removed
        .into_values()
        .filter_map(|slot| {
            let interval = slot.lock().group.interval_ms();
            let series = slot.retire();
            (!series.is_empty()).then(|| PendingStale {
                tenant: tenant.clone(),
                series,
                due_ms: now.saturating_add(interval.saturating_mul(2)),
            })
        })
        .collect()
}
