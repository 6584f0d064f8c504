//! The one thing rules see of the data: a query function.
//!
//! [`QueryFunc`] evaluates an expression at an instant for a tenant and returns an
//! instant vector. [`PromqlQuery`] runs PromQL over a [`MetricsQueryable`];
//! [`LogqlQuery`] runs LogQL metric queries over the log store (Loki ruler rules).
//! Tests implement the trait over an in-memory store.

use std::sync::Arc;

use oxeye_core::{Labels, MetricsQueryable, TenantId};

use crate::RulesError;

/// An instant vector: each series' labels and value. A scalar result is one element
/// with empty labels.
pub type Vector = Vec<(Labels, f64)>;

/// Evaluates rule expressions.
pub trait QueryFunc: Send + Sync {
    /// Evaluates `expr` for `tenant` at `t_ms`.
    fn instant(&self, tenant: &TenantId, expr: &str, t_ms: i64) -> Result<Vector, RulesError>;
}

/// PromQL over a metrics store.
pub struct PromqlQuery {
    /// The engine (lookback, sample limit, timeout).
    pub engine: oxeye_promql::Engine,
    /// Where series are read.
    pub queryable: Arc<dyn MetricsQueryable>,
}

impl std::fmt::Debug for PromqlQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PromqlQuery").finish_non_exhaustive()
    }
}

impl QueryFunc for PromqlQuery {
    fn instant(&self, tenant: &TenantId, expr: &str, t_ms: i64) -> Result<Vector, RulesError> {
        let _ = (tenant, expr, t_ms);
        Err(RulesError::Query("promql rules are not wired yet".into()))
    }
}

/// LogQL metric queries over the log store.
pub struct LogqlQuery {
    /// The LogQL engine.
    pub engine: Arc<oxeye_logql::Engine>,
}

impl std::fmt::Debug for LogqlQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogqlQuery").finish_non_exhaustive()
    }
}

impl QueryFunc for LogqlQuery {
    fn instant(&self, tenant: &TenantId, expr: &str, t_ms: i64) -> Result<Vector, RulesError> {
        let _ = (tenant, expr, t_ms);
        Err(RulesError::Query("logql rules are not wired yet".into()))
    }
}
