//! A PromQL engine over any [`MetricsQueryable`].
//!
//! Data flow: the query text is parsed with `promql_parser` into an AST; every vector and
//! matrix selector in it is selected once from a single querier covering the whole time
//! span the query can touch (`start - lookback - max range - max offset` to `end`), and the
//! samples are kept in memory. The AST is then evaluated once per step (once for an
//! instant query) against those preloaded series; per-step instant vectors are stitched
//! into a matrix for range queries.
//!
//! Supported so far: literals, vector/matrix selectors with `offset` and `@`, unary minus,
//! arithmetic and comparison operators with one-to-one `on`/`ignoring` matching, the
//! set operators `and`/`or`/`unless`,
//! the common aggregations and a set of range and math functions. Anything else answers
//! [`PromqlError::Unsupported`].

mod aggregate;
mod binary;
mod eval;
mod format;
mod functions;
pub mod promqltest;
mod select;

use std::collections::HashMap;

use oxeye_core::{Labels, MetricsQueryable, Sample, StatusCode, StoreError, TenantId};

use crate::eval::{Evaluator, StepValue};
use crate::select::{Preloaded, preload};

/// The result of a query, in the shapes of the Prometheus query API.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A scalar at a timestamp (ms).
    Scalar(i64, f64),
    /// An instant vector: labels, timestamp (ms), value.
    Vector(Vec<(Labels, i64, f64)>),
    /// A range vector: labels and samples.
    Matrix(Vec<(Labels, Vec<Sample>)>),
    /// A string at a timestamp (ms).
    String(i64, String),
}

/// A query's value and the annotations Prometheus would attach to it.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    /// The result.
    pub value: Value,
    /// Warnings (the result may be wrong or incomplete), sorted and deduplicated.
    pub warnings: Vec<String>,
    /// Infos (the query looks suspicious but the result is what was asked), sorted.
    pub infos: Vec<String>,
}

/// Why a query failed.
#[derive(Debug, thiserror::Error)]
pub enum PromqlError {
    /// The query text does not parse.
    #[error("parse error: {0}")]
    Parse(String),
    /// The query uses a feature this engine does not implement yet.
    #[error("{0}")]
    Unsupported(String),
    /// The query parsed but cannot be evaluated (bad types, ambiguous matching).
    #[error("{0}")]
    Execution(String),
    /// The query would hold more samples in memory than allowed.
    #[error("query processing would load too many samples into memory (limit {0})")]
    TooManySamples(usize),
    /// The query ran longer than the engine's timeout.
    #[error("query timed out in {0}")]
    Timeout(&'static str),
    /// The query was cancelled, e.g. because its client went away.
    #[error("query was canceled in {0}")]
    Canceled(&'static str),
    /// The store failed.
    #[error("store error: {0}")]
    Store(#[from] StoreError),
}

impl PromqlError {
    /// How an API should answer this error.
    pub fn status_code(&self) -> StatusCode {
        match self {
            PromqlError::Parse(_) | PromqlError::Unsupported(_) | PromqlError::Execution(_) => {
                StatusCode::BadData
            }
            PromqlError::TooManySamples(_) => StatusCode::LimitExceeded,
            PromqlError::Timeout(_) | PromqlError::Canceled(_) => StatusCode::Timeout,
            PromqlError::Store(e) => e.status_code(),
        }
    }
}

/// Evaluates PromQL queries.
#[derive(Debug, Clone)]
pub struct Engine {
    /// How far back a vector selector looks for the latest sample, ms.
    pub lookback_ms: i64,
    /// Most samples a query may hold at once.
    pub max_samples: usize,
    /// How long one query may run; `None` means no limit.
    pub timeout: Option<std::time::Duration>,
    /// Set from another thread to stop the query (its client went away).
    pub cancel: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    /// Step of subqueries written without one (`expr[5m:]`), ms; Prometheus uses its
    /// global evaluation interval (1m by default).
    pub subquery_step_ms: i64,
}

impl Default for Engine {
    fn default() -> Self {
        Self {
            lookback_ms: 300_000,
            max_samples: 50_000_000,
            timeout: Some(std::time::Duration::from_secs(120)),
            cancel: None,
            subquery_step_ms: 60_000,
        }
    }
}

impl Engine {
    /// An engine with default lookback (5m) and sample limit.
    pub fn new() -> Self {
        Self::default()
    }

    /// Evaluates `expr` at `t_ms`.
    pub fn instant(
        &self,
        queryable: &dyn MetricsQueryable,
        tenant: &TenantId,
        expr: &str,
        t_ms: i64,
    ) -> Result<Output, PromqlError> {
        let ast = promql_parser::parser::parse(expr).map_err(PromqlError::Parse)?;
        let data = preload(
            queryable,
            tenant,
            &ast,
            t_ms,
            t_ms,
            0,
            self.lookback_ms,
            self.max_samples,
        )?;
        let mut ev = self.evaluator(&data, t_ms, t_ms, 0);
        ev.query = Some((expr, &ast));
        let out = ev.eval_checked(&ast, t_ms)?;
        let value = match out {
            StepValue::Scalar(v) => Value::Scalar(t_ms, v),
            StepValue::String(s) => Value::String(t_ms, s),
            StepValue::Vector(v) => {
                Value::Vector(v.into_iter().map(|e| (e.labels, t_ms, e.value)).collect())
            }
            StepValue::Matrix(m) => Value::Matrix(m),
        };
        Ok(ev.output(value))
    }

    /// Evaluates `expr` at every step from `start_ms` to `end_ms` inclusive.
    pub fn range(
        &self,
        queryable: &dyn MetricsQueryable,
        tenant: &TenantId,
        expr: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<Output, PromqlError> {
        if step_ms <= 0 {
            return Err(PromqlError::Execution(format!(
                "step must be positive, got {step_ms}ms"
            )));
        }
        if end_ms < start_ms {
            return Err(PromqlError::Execution(format!(
                "end time {end_ms}ms is before start time {start_ms}ms"
            )));
        }
        let ast = promql_parser::parser::parse(expr).map_err(PromqlError::Parse)?;
        use promql_parser::parser::value::ValueType;
        match ast.value_type() {
            ValueType::Scalar | ValueType::Vector => {}
            other => {
                return Err(PromqlError::Execution(format!(
                    "invalid expression type {other} for range query, must be scalar or instant vector"
                )));
            }
        }
        let data = preload(
            queryable,
            tenant,
            &ast,
            start_ms,
            end_ms,
            step_ms,
            self.lookback_ms,
            self.max_samples,
        )?;
        let mut ev = self.evaluator(&data, start_ms, end_ms, step_ms);
        ev.query = Some((expr, &ast));
        let mut index: HashMap<Labels, usize> = HashMap::new();
        let mut series: Vec<(Labels, Vec<Sample>)> = Vec::new();
        let mut total = 0usize;
        let mut t = start_ms;
        while t <= end_ms {
            ev.check_interrupt()?;
            let step = ev.eval_checked(&ast, t)?;
            let elems = match step {
                StepValue::Scalar(v) => vec![(Labels::default(), v)],
                StepValue::Vector(v) => v.into_iter().map(|e| (e.labels, e.value)).collect(),
                StepValue::Matrix(_) | StepValue::String(_) => {
                    return Err(PromqlError::Execution(
                        "range query step did not produce a scalar or instant vector".into(),
                    ));
                }
            };
            total += elems.len();
            if total > self.max_samples {
                return Err(PromqlError::TooManySamples(self.max_samples));
            }
            for (labels, v) in elems {
                let i = *index.entry(labels.clone()).or_insert_with(|| {
                    series.push((labels, Vec::new()));
                    series.len() - 1
                });
                if let Some((_, samples)) = series.get_mut(i) {
                    samples.push(Sample::new(t, v));
                }
            }
            t = match t.checked_add(step_ms) {
                Some(next) => next,
                None => break,
            };
        }
        series.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(ev.output(Value::Matrix(series)))
    }

    fn evaluator<'a>(
        &'a self,
        data: &'a Preloaded,
        start: i64,
        end: i64,
        step_ms: i64,
    ) -> Evaluator<'a> {
        Evaluator {
            data,
            start,
            end,
            step_ms,
            query: None,
            lookback_ms: self.lookback_ms,
            max_samples: self.max_samples,
            annotations: Default::default(),
            deadline: self.timeout.map(|d| std::time::Instant::now() + d),
            cancel: self.cancel.clone(),
            subquery_step_ms: self.subquery_step_ms,
            subquery_cache: Default::default(),
            subquery_dropped: Default::default(),
        }
    }
}
