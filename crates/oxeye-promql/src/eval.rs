//! Evaluation of one step: selectors, operators and aggregations.
//!
//! Each call evaluates the AST at one timestamp against preloaded series and returns a
//! [`StepValue`]. Vector selectors take the latest non-stale sample within the lookback
//! window `(ts - lookback, ts]`; matrix selectors take the non-stale samples in the
//! left-open window `(ts - range, ts]`.

use std::collections::HashMap;

use oxeye_core::{Labels, METRIC_NAME, Sample, is_stale_nan};
use promql_parser::parser::{Expr, MatrixSelector, VectorSelector};

use crate::PromqlError;
use crate::select::{Preloaded, at_ms, offset_ms};

/// One element of an instant vector.
#[derive(Debug, Clone)]
pub(crate) struct Elem {
    pub labels: Labels,
    pub value: f64,
    /// Timestamp of the underlying sample for a plain selector, used by `timestamp()`.
    pub sample_t: Option<i64>,
    /// The metric name is to be removed when the query's result is returned (Prometheus 3
    /// delayed name removal): functions and operators set this instead of deleting
    /// `__name__`, so `label_replace` and `by (__name__)` still see it.
    pub drop_name: bool,
}

impl Elem {
    /// An element whose labels are kept as they are.
    pub(crate) fn new(labels: Labels, value: f64) -> Self {
        Self {
            labels,
            value,
            sample_t: None,
            drop_name: false,
        }
    }

    /// An element whose metric name is dropped from the final result.
    pub(crate) fn dropping(labels: Labels, value: f64) -> Self {
        Self {
            labels,
            value,
            sample_t: None,
            drop_name: true,
        }
    }
}

/// Warnings and infos gathered while evaluating a query, as Prometheus annotates results.
#[derive(Debug, Default, Clone)]
pub(crate) struct Annotations {
    pub warnings: std::collections::BTreeSet<String>,
    pub infos: std::collections::BTreeSet<String>,
}

/// The value of an expression at one step.
#[derive(Debug, Clone)]
pub(crate) enum StepValue {
    Scalar(f64),
    Vector(Vec<Elem>),
    Matrix(Vec<(Labels, Vec<Sample>)>),
    String(String),
}

pub(crate) struct Evaluator<'a> {
    pub data: &'a Preloaded,
    pub start: i64,
    pub end: i64,
    pub lookback_ms: i64,
    pub max_samples: usize,
    pub annotations: std::cell::RefCell<Annotations>,
    /// When the query must stop with a timeout.
    pub deadline: Option<std::time::Instant>,
    /// Set by another thread to cancel the query.
    pub cancel: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

/// `l` without its metric name.
pub(crate) fn drop_name(l: &Labels) -> Labels {
    if l.get(METRIC_NAME).is_none() {
        return l.clone();
    }
    let mut b = l.builder();
    b.del(METRIC_NAME);
    b.build()
}

impl Evaluator<'_> {
    /// Fails when the query was cancelled or ran past its deadline; called between steps
    /// and inside long loops.
    pub(crate) fn check_interrupt(&self) -> Result<(), PromqlError> {
        if let Some(c) = &self.cancel
            && c.load(std::sync::atomic::Ordering::Relaxed)
        {
            return Err(PromqlError::Canceled("expression evaluation"));
        }
        if let Some(d) = self.deadline
            && std::time::Instant::now() >= d
        {
            return Err(PromqlError::Timeout("expression evaluation"));
        }
        Ok(())
    }

    /// Records a warning annotation for the query.
    pub(crate) fn warn(&self, msg: impl Into<String>) {
        self.annotations.borrow_mut().warnings.insert(msg.into());
    }

    /// Records an info annotation for the query.
    pub(crate) fn info(&self, msg: impl Into<String>) {
        self.annotations.borrow_mut().infos.insert(msg.into());
    }

    /// Wraps a finished query's value with the annotations gathered evaluating it.
    pub(crate) fn output(&self, value: crate::Value) -> crate::Output {
        let a = self.annotations.take();
        crate::Output {
            value,
            warnings: a.warnings.into_iter().collect(),
            infos: a.infos.into_iter().collect(),
        }
    }

    pub(crate) fn eval(&self, e: &Expr, t: i64) -> Result<StepValue, PromqlError> {
        match e {
            Expr::NumberLiteral(n) => Ok(StepValue::Scalar(n.val)),
            Expr::StringLiteral(s) => Ok(StepValue::String(s.val.clone())),
            Expr::Paren(p) => self.eval(&p.expr, t),
            Expr::VectorSelector(vs) => Ok(StepValue::Vector(self.select_vector(vs, t))),
            Expr::MatrixSelector(ms) => {
                let m = self.select_matrix(ms, t)?;
                Ok(StepValue::Matrix(
                    m.into_iter().map(|(l, s, _)| (l, s)).collect(),
                ))
            }
            Expr::Unary(u) => match self.eval(&u.expr, t)? {
                StepValue::Scalar(v) => Ok(StepValue::Scalar(-v)),
                StepValue::Vector(v) => Ok(StepValue::Vector(
                    v.into_iter()
                        .map(|e| Elem::dropping(e.labels, -e.value))
                        .collect(),
                )),
                _ => Err(PromqlError::Execution(
                    "unary minus applies only to scalars and instant vectors".into(),
                )),
            },
            Expr::Binary(b) => self.binary(b, t),
            Expr::Aggregate(a) => self.aggregate(a, t),
            Expr::Call(c) => self.call(c, t),
            Expr::Subquery(_) => Err(PromqlError::Unsupported(
                "subqueries are not supported yet".into(),
            )),
            Expr::Extension(_) => Err(PromqlError::Unsupported(
                "extension expressions are not supported".into(),
            )),
        }
    }

    /// Evaluates a query's top-level expression, rejecting duplicate result label sets.
    ///
    /// Metric names flagged for removal are removed here, at the end, so the check sees
    /// the labels the user will see.
    pub(crate) fn eval_checked(&self, e: &Expr, t: i64) -> Result<StepValue, PromqlError> {
        match self.eval(e, t)? {
            StepValue::Vector(mut v) => {
                for e in &mut v {
                    if e.drop_name {
                        e.labels = drop_name(&e.labels);
                        e.drop_name = false;
                    }
                }
                unique(v)
            }
            other => Ok(other),
        }
    }

    pub(crate) fn eval_scalar(&self, e: &Expr, t: i64) -> Result<f64, PromqlError> {
        match self.eval(e, t)? {
            StepValue::Scalar(v) => Ok(v),
            _ => Err(PromqlError::Execution(format!(
                "expected a scalar argument, got {e}"
            ))),
        }
    }

    pub(crate) fn eval_vector(&self, e: &Expr, t: i64) -> Result<Vec<Elem>, PromqlError> {
        match self.eval(e, t)? {
            StepValue::Vector(v) => Ok(v),
            _ => Err(PromqlError::Execution(format!(
                "expected an instant vector argument, got {e}"
            ))),
        }
    }

    fn select_vector(&self, vs: &VectorSelector, t: i64) -> Vec<Elem> {
        let ts = at_ms(&vs.at, self.start, self.end)
            .unwrap_or(t)
            .saturating_sub(offset_ms(&vs.offset));
        let lo = ts.saturating_sub(self.lookback_ms);
        let mut out = Vec::new();
        for (labels, samples) in self.data.get(vs) {
            let idx = samples.partition_point(|s| s.t <= ts);
            let Some(last) = idx.checked_sub(1).and_then(|i| samples.get(i)) else {
                continue;
            };
            if last.t <= lo || is_stale_nan(last.v) {
                continue;
            }
            out.push(Elem {
                labels: labels.clone(),
                value: last.v,
                sample_t: Some(last.t),
                drop_name: false,
            });
        }
        out
    }

    /// The matrix at step `t` plus, per series, the range end used (ms).
    pub(crate) fn select_matrix(
        &self,
        ms: &MatrixSelector,
        t: i64,
    ) -> Result<Vec<(Labels, Vec<Sample>, i64)>, PromqlError> {
        let vs = &ms.vs;
        let ts = at_ms(&vs.at, self.start, self.end)
            .unwrap_or(t)
            .saturating_sub(offset_ms(&vs.offset));
        let range = i64::try_from(ms.range.as_millis()).unwrap_or(i64::MAX / 4);
        let lo = ts.saturating_sub(range);
        let mut out = Vec::new();
        let mut total = 0usize;
        for (labels, samples) in self.data.get(vs) {
            let a = samples.partition_point(|s| s.t <= lo);
            let b = samples.partition_point(|s| s.t <= ts);
            let window: Vec<Sample> = samples
                .get(a..b)
                .unwrap_or(&[])
                .iter()
                .filter(|s| !is_stale_nan(s.v))
                .copied()
                .collect();
            if window.is_empty() {
                continue;
            }
            total += window.len();
            if total > self.max_samples {
                return Err(PromqlError::TooManySamples(self.max_samples));
            }
            out.push((labels.clone(), window, ts));
        }
        Ok(out)
    }

    /// A range-vector argument (a matrix selector, or a subquery) at step `t`: per series,
    /// its samples in the window, the window's end and its length.
    pub(crate) fn eval_range(&self, e: &Expr, t: i64) -> Result<Vec<RangeSeries>, PromqlError> {
        match e {
            Expr::Paren(p) => self.eval_range(&p.expr, t),
            Expr::MatrixSelector(ms) => {
                let range_ms = i64::try_from(ms.range.as_millis()).unwrap_or(i64::MAX / 4);
                Ok(self
                    .select_matrix(ms, t)?
                    .into_iter()
                    .map(|(labels, samples, end)| RangeSeries {
                        labels,
                        samples,
                        end,
                        range_ms,
                    })
                    .collect())
            }
            Expr::Subquery(_) => Err(PromqlError::Unsupported(
                "subqueries are not supported yet".into(),
            )),
            other => Err(PromqlError::Execution(format!(
                "expected a range vector, got {other}"
            ))),
        }
    }
}

/// One series of a range-vector argument at one step.
#[derive(Debug, Clone)]
pub(crate) struct RangeSeries {
    pub labels: Labels,
    /// The non-stale samples in the window `(end - range_ms, end]`.
    pub samples: Vec<Sample>,
    /// The window's end (ms), after `offset` and `@`.
    pub end: i64,
    /// The window's length (ms).
    pub range_ms: i64,
}

/// Errors when dropping the metric name left two result elements with the same labels.
///
/// Checked on the final result of a step, so an aggregation over such elements (which
/// merges them) is still allowed, as with Prometheus's delayed name removal.
pub(crate) fn unique(v: Vec<Elem>) -> Result<StepValue, PromqlError> {
    let mut seen: HashMap<&Labels, ()> = HashMap::with_capacity(v.len());
    for e in &v {
        if seen.insert(&e.labels, ()).is_some() {
            return Err(PromqlError::Execution(format!(
                "vector cannot contain metrics with the same labelset {}",
                e.labels
            )));
        }
    }
    Ok(StepValue::Vector(v))
}
