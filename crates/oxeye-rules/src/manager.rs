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

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use oxeye_core::{Clock, MetricsAppender, TenantId};

use crate::RulesError;
use crate::alert::AlertSink;
use crate::file::{RuleFile, RuleGroupSpec, RuleLanguage};
use crate::group::{ActiveAlert, GroupOptions, RuleStatus};
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
}

/// Every tenant's rule groups.
#[allow(dead_code)]
pub struct RuleManager {
    options: ManagerOptions,
    promql: Arc<dyn QueryFunc>,
    logql: Option<Arc<dyn QueryFunc>>,
    appender: Arc<dyn MetricsAppender>,
    sink: Arc<dyn AlertSink>,
    clock: Arc<dyn Clock>,
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
            options,
            promql,
            logql,
            appender,
            sink,
            clock,
        }
    }

    /// Loads ruler-API groups persisted under the rules directory.
    pub fn load_persisted(&self) -> Result<(), RulesError> {
        Ok(())
    }

    /// Replaces the file-based groups (start and reload); groups that stay keep their
    /// alert state. Nothing changes when any source is invalid: every problem is returned.
    pub fn set_file_groups(&self, sources: Vec<RuleSource>) -> Result<(), Vec<RulesError>> {
        let _ = sources;
        Ok(())
    }

    /// Evaluates every group whose next evaluation time is at or before the clock's now;
    /// returns how many groups were evaluated. The scheduler calls it; tests call it after
    /// moving a manual clock.
    pub fn eval_due(&self) -> usize {
        0
    }

    /// Runs the scheduler until `shutdown` turns true: evaluations run off the async
    /// workers.
    pub async fn run(self: Arc<Self>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let _ = shutdown.changed().await;
    }

    /// Group statuses of `tenant`, by file then name.
    pub fn groups(&self, tenant: &TenantId) -> Vec<GroupStatus> {
        let _ = tenant;
        Vec::new()
    }

    /// Active alerts of `tenant`.
    pub fn alerts(&self, tenant: &TenantId) -> Vec<ActiveAlert> {
        let _ = tenant;
        Vec::new()
    }

    /// Ruler-API groups of `tenant` by namespace.
    pub fn namespaces(&self, tenant: &TenantId) -> BTreeMap<String, Vec<RuleGroupSpec>> {
        let _ = tenant;
        BTreeMap::new()
    }

    /// Creates or replaces a ruler-API group (LogQL) in `namespace`.
    pub fn set_group(
        &self,
        tenant: &TenantId,
        namespace: &str,
        spec: RuleGroupSpec,
    ) -> Result<(), RulesError> {
        let _ = (tenant, namespace, spec);
        Err(RulesError::Invalid("ruler api is not wired yet".into()))
    }

    /// Deletes one ruler-API group.
    pub fn delete_group(
        &self,
        tenant: &TenantId,
        namespace: &str,
        name: &str,
    ) -> Result<(), RulesError> {
        Err(RulesError::NotFound(format!(
            "no rule group {name:?} in namespace {namespace:?} of tenant {tenant}"
        )))
    }

    /// Deletes a ruler-API namespace with all its groups.
    pub fn delete_namespace(&self, tenant: &TenantId, namespace: &str) -> Result<(), RulesError> {
        Err(RulesError::NotFound(format!(
            "no namespace {namespace:?} of tenant {tenant}"
        )))
    }
}
