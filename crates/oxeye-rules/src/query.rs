//! The one thing rules see of the data: a query function.
//!
//! [`QueryFunc`] evaluates an expression at an instant for a tenant and returns an
//! instant vector. [`PromqlQuery`] runs PromQL over a [`MetricsQueryable`];
//! [`LogqlQuery`] runs LogQL metric queries over the log store (Loki ruler rules).
//! Tests implement the trait over an in-memory store.

use std::sync::Arc;

use oxeye_core::{Labels, Matcher, MetricsQueryable, SelectHints, TenantId};

use crate::RulesError;

/// An instant vector: each series' labels and value. A scalar result is one element
/// with empty labels.
pub type Vector = Vec<(Labels, f64)>;

/// Evaluates rule expressions.
pub trait QueryFunc: Send + Sync {
    /// Evaluates `expr` for `tenant` at `t_ms`.
    fn instant(&self, tenant: &TenantId, expr: &str, t_ms: i64) -> Result<Vector, RulesError>;

    /// The last stored sample `(t_ms, value)` of the series with exactly `labels` in
    /// `[start_ms, end_ms]`, stale markers included (which queries never show): restoring
    /// `for` state must tell an alert that resolved (its series ends in a stale marker)
    /// from one that was still active at a shutdown. `None` when the query function has
    /// no access to stored samples; `Some(Ok(None))` when the series has no sample then.
    fn last_stored_sample(
        &self,
        tenant: &TenantId,
        labels: &Labels,
        start_ms: i64,
        end_ms: i64,
    ) -> Option<Result<Option<(i64, f64)>, RulesError>> {
        let _ = (tenant, labels, start_ms, end_ms);
        None
    }
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
        let out = self
            .engine
            .instant(self.queryable.as_ref(), tenant, expr, t_ms)
            .map_err(|e| RulesError::Query(e.to_string()))?;
        to_vector(out.value)
    }

    fn last_stored_sample(
        &self,
        tenant: &TenantId,
        labels: &Labels,
        start_ms: i64,
        end_ms: i64,
    ) -> Option<Result<Option<(i64, f64)>, RulesError>> {
        Some(last_stored(
            self.queryable.as_ref(),
            tenant,
            labels,
            start_ms,
            end_ms,
        ))
    }
}

/// See [`QueryFunc::last_stored_sample`].
fn last_stored(
    queryable: &dyn MetricsQueryable,
    tenant: &TenantId,
    labels: &Labels,
    start_ms: i64,
    end_ms: i64,
) -> Result<Option<(i64, f64)>, RulesError> {
    let failed = |e: oxeye_core::StoreError| {
        RulesError::Query(format!("reading the samples of {labels:?} failed: {e}"))
    };
    let querier = queryable
        .querier(tenant, start_ms, end_ms)
        .map_err(failed)?;
    let matchers: Vec<Matcher> = labels
        .iter()
        .map(|l| Matcher::equal(l.name.clone(), l.value.clone()))
        .collect();
    let hints = SelectHints {
        start: start_ms,
        end: end_ms,
        ..SelectHints::default()
    };
    let series = querier.select(&matchers, &hints).map_err(failed)?;
    let Some(series) = series.into_iter().find(|s| s.labels == *labels) else {
        return Ok(None);
    };
    let mut last = None;
    series
        .data
        .for_each_chunk(&mut |chunk| {
            if let Some(s) = chunk
                .iter()
                .rev()
                .find(|s| s.t >= start_ms && s.t <= end_ms)
            {
                last = Some((s.t, s.v));
            }
            std::ops::ControlFlow::Continue(())
        })
        .map_err(failed)?;
    Ok(last)
}

/// A query result as rules take it: vectors as they are, a scalar as one sample without
/// labels; anything else is an error, as in Prometheus.
pub fn to_vector(value: oxeye_promql::Value) -> Result<Vector, RulesError> {
    match value {
        oxeye_promql::Value::Vector(v) => Ok(v.into_iter().map(|(l, _, v)| (l, v)).collect()),
        oxeye_promql::Value::Scalar(_, v) => Ok(vec![(Labels::default(), v)]),
        oxeye_promql::Value::Matrix(_) | oxeye_promql::Value::String(..) => Err(RulesError::Query(
            "rule result is not a vector or scalar".into(),
        )),
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
        if let oxeye_logql::Expr::Log(_) =
            oxeye_logql::parse(expr).map_err(|e| RulesError::Query(e.to_string()))?
        {
            return Err(RulesError::Invalid(format!(
                "rule expression {expr:?} is a log query; rules need a metric query"
            )));
        }
        let t_ns = t_ms.saturating_mul(1_000_000);
        let query = oxeye_logql::Query {
            text: expr.to_string(),
            kind: oxeye_logql::QueryKind::Instant,
            start_ns: t_ns,
            end_ns: t_ns,
            step_ns: 0,
            interval_ns: None,
            direction: oxeye_core::logs::Direction::Backward,
            limit: usize::MAX,
            deadline: None,
        };
        let out = self
            .engine
            .query(tenant, &query)
            .map_err(|e| RulesError::Query(e.to_string()))?;
        match out.value {
            oxeye_logql::LogqlValue::Metric(v) => to_vector(v),
            oxeye_logql::LogqlValue::Streams(_) => Err(RulesError::Query(
                "rule result is not a vector or scalar".into(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oxeye_core::logs_mem::MemLogStore;
    use oxeye_promql::promqltest::MemStore;

    fn tenant() -> TenantId {
        TenantId::new("t").unwrap()
    }

    #[test]
    fn promql_vectors_and_scalars_become_vectors() {
        let q = PromqlQuery {
            engine: oxeye_promql::Engine::new(),
            queryable: Arc::new(MemStore::default()),
        };
        assert_eq!(
            q.instant(&tenant(), "1 + 1", 1000).unwrap(),
            vec![(Labels::default(), 2.0)]
        );
        let v = q.instant(&tenant(), "vector(3)", 1000).unwrap();
        assert_eq!(v, vec![(Labels::default(), 3.0)]);
        let e = q.instant(&tenant(), "\"text\"", 1000).unwrap_err();
        assert_eq!(e.to_string(), "rule result is not a vector or scalar");
        assert!(q.instant(&tenant(), "sum(", 1000).is_err());
    }

    #[test]
    fn logql_log_queries_are_refused() {
        let engine = oxeye_logql::Engine::new(
            Arc::new(MemLogStore::default()),
            oxeye_logql::EngineLimits::default(),
        );
        let q = LogqlQuery {
            engine: Arc::new(engine),
        };
        let e = q.instant(&tenant(), "{app=\"a\"}", 1000).unwrap_err();
        assert!(e.to_string().contains("log query"), "{e}");
        let v = q
            .instant(&tenant(), "sum(count_over_time({app=\"a\"}[1m]))", 1000)
            .unwrap();
        assert!(v.is_empty(), "{v:?}");
    }
}
