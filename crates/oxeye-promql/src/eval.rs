//! Evaluation of one step: selectors, operators and aggregations.
//!
//! Each call evaluates the AST at one timestamp against preloaded series and returns a
//! [`StepValue`]. Vector selectors take the latest non-stale sample within the lookback
//! window `(ts - lookback, ts]`; matrix selectors take the samples in the left-open
//! window `(ts - range, ts]` as a slice of the preloaded series (stale markers were
//! removed at preload).
//!
//! A subquery `expr[range:step]` at step `t` evaluates `expr` at every multiple of
//! `step` in `(t - offset - range, t - offset]` (absolute alignment, as Prometheus does)
//! and stitches the results into series. Inner results are cached per subquery and
//! inner timestamp, so consecutive outer steps whose windows overlap evaluate each inner
//! timestamp once.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::rc::Rc;

use oxeye_core::{Labels, METRIC_NAME, Sample, is_stale_nan};
use promql_parser::parser::{Expr, MatrixSelector, SubqueryExpr, VectorSelector};

use crate::PromqlError;
use crate::select::{Preloaded, at_ms, duration_ms, offset_ms};

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
    /// The query's resolution step (ms), 0 for instant queries; what `step()` answers.
    pub step_ms: i64,
    /// The query text and its AST, to locate expressions for annotation positions.
    pub query: Option<(&'a str, &'a Expr)>,
    pub lookback_ms: i64,
    pub max_samples: usize,
    pub annotations: std::cell::RefCell<Annotations>,
    /// When the query must stop with a timeout.
    pub deadline: Option<std::time::Instant>,
    /// Set by another thread to cancel the query.
    pub cancel: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    /// Step of subqueries written without one (`expr[5m:]`), ms.
    pub subquery_step_ms: i64,
    /// Inner results of subqueries: per subquery (by address), per inner timestamp.
    pub subquery_cache: RefCell<HashMap<usize, BTreeMap<i64, Rc<Vec<Elem>>>>>,
    /// Label sets of subquery series whose metric name is to be dropped, gathered while
    /// evaluating one function call's range argument.
    pub subquery_dropped: RefCell<HashSet<Labels>>,
    /// Label sets without their metric name, by label set: the same input series gets
    /// the same (shared) output labels at every step.
    pub without_name: RefCell<HashMap<Labels, Labels>>,
    /// Result labels of binary operations, by (operation address, many-side labels,
    /// one-side labels when `group_x` copies from them).
    pub metric_memo: RefCell<HashMap<(usize, Labels, Labels), Labels>>,
    /// Output labels of aggregation groups, by (aggregation address, group hash).
    pub group_memo: RefCell<HashMap<(usize, u64), Labels>>,
    /// Group hashes of aggregation inputs, by (aggregation address, input labels).
    pub group_key_memo: RefCell<HashMap<(usize, Labels), u64>>,
    /// Per selector, where the previous step's windows were.
    pub cursors: RefCell<HashMap<usize, Cursor>>,
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

impl<'a> Evaluator<'a> {
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
                    m.into_iter().map(|(l, s, _)| (l, s.to_vec())).collect(),
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
            Expr::Call(c) => {
                if !c.args.args.iter().any(|a| is_subquery(a)) {
                    return self.call(c, t);
                }
                // A range function over a subquery keeps the subquery series' pending
                // name removal (e.g. `last_over_time(abs(x)[5m:])` has no name).
                let saved = self.subquery_dropped.take();
                let result = self.call(c, t);
                let flagged = self.subquery_dropped.replace(saved);
                let mut result = result?;
                if let StepValue::Vector(v) = &mut result
                    && !flagged.is_empty()
                {
                    for e in v.iter_mut() {
                        if flagged.contains(&e.labels) {
                            e.drop_name = true;
                        }
                    }
                }
                Ok(result)
            }
            Expr::Subquery(sq) => {
                let series = self.eval_subquery(sq, t)?;
                Ok(StepValue::Matrix(
                    series
                        .into_iter()
                        .map(|(labels, samples, dropping)| {
                            let labels = if dropping { drop_name(&labels) } else { labels };
                            (labels, samples)
                        })
                        .collect(),
                ))
            }
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
                let mut cache = self.without_name.borrow_mut();
                for e in &mut v {
                    if e.drop_name {
                        e.labels = match cache.get(&e.labels) {
                            Some(l) => l.clone(),
                            None => {
                                let dropped = drop_name(&e.labels);
                                cache.insert(e.labels.clone(), dropped.clone());
                                dropped
                            }
                        };
                        e.drop_name = false;
                    }
                }
                drop(cache);
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
        let series = self.data.get(vs);
        let mut out = Vec::with_capacity(series.len());
        let mut cursors = self.cursors.borrow_mut();
        let cursor = cursors.entry(selector_key(vs)).or_default();
        let forward = cursor.reset(ts, series.len());
        for (i, (labels, samples)) in series.iter().enumerate() {
            let Some((_, b)) = cursor.positions.get_mut(i) else {
                continue;
            };
            *b = seek(samples, *b, forward, ts);
            let idx = *b;
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

    /// The matrix at step `t` plus, per series, the range end used (ms); each window is a
    /// slice of the preloaded samples.
    pub(crate) fn select_matrix(
        &self,
        ms: &MatrixSelector,
        t: i64,
    ) -> Result<Vec<(Labels, &'a [Sample], i64)>, PromqlError> {
        let vs = &ms.vs;
        let ts = at_ms(&vs.at, self.start, self.end)
            .unwrap_or(t)
            .saturating_sub(offset_ms(&vs.offset));
        let range = duration_ms(&ms.range);
        let lo = ts.saturating_sub(range);
        let data: &'a Preloaded = self.data;
        let series = data.get(vs);
        let mut out = Vec::with_capacity(series.len());
        let mut total = 0usize;
        let mut cursors = self.cursors.borrow_mut();
        let cursor = cursors.entry(selector_key(vs)).or_default();
        let forward = cursor.reset(ts, series.len());
        for (i, (labels, samples)) in series.iter().enumerate() {
            let Some((a, b)) = cursor.positions.get_mut(i) else {
                continue;
            };
            *a = seek(samples, *a, forward, lo);
            *b = seek(samples, (*b).max(*a), forward, ts);
            let window = samples.get(*a..*b).unwrap_or(&[]);
            debug_assert!(window.iter().all(|s| !is_stale_nan(s.v)));
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
    pub(crate) fn eval_range(&self, e: &Expr, t: i64) -> Result<Vec<RangeSeries<'a>>, PromqlError> {
        match e {
            Expr::Paren(p) => self.eval_range(&p.expr, t),
            Expr::MatrixSelector(ms) => {
                let range_ms = duration_ms(&ms.range);
                Ok(self
                    .select_matrix(ms, t)?
                    .into_iter()
                    .map(|(labels, samples, end)| RangeSeries {
                        labels,
                        samples: Cow::Borrowed(samples),
                        end,
                        range_ms,
                    })
                    .collect())
            }
            Expr::Subquery(sq) => {
                let range_ms = duration_ms(&sq.range);
                let end = self.subquery_end(sq, t);
                let series = self.eval_subquery(sq, t)?;
                let mut flagged = self.subquery_dropped.borrow_mut();
                Ok(series
                    .into_iter()
                    .map(|(labels, samples, dropping)| {
                        if dropping {
                            flagged.insert(labels.clone());
                        }
                        RangeSeries {
                            labels,
                            samples: Cow::Owned(samples),
                            end,
                            range_ms,
                        }
                    })
                    .collect())
            }
            other => Err(PromqlError::Execution(format!(
                "expected a range vector, got {other}"
            ))),
        }
    }

    /// The end of a subquery's window at outer step `t`, after `@` and `offset`.
    fn subquery_end(&self, sq: &SubqueryExpr, t: i64) -> i64 {
        at_ms(&sq.at, self.start, self.end)
            .unwrap_or(t)
            .saturating_sub(offset_ms(&sq.offset))
    }

    /// The series of subquery `sq` at outer step `t`: labels, samples at the inner
    /// timestamps, and whether the series' metric name is to be dropped.
    pub(crate) fn eval_subquery(
        &self,
        sq: &SubqueryExpr,
        t: i64,
    ) -> Result<Vec<(Labels, Vec<Sample>, bool)>, PromqlError> {
        let range = duration_ms(&sq.range);
        let step = sq
            .step
            .as_ref()
            .map(duration_ms)
            .filter(|s| *s > 0)
            .unwrap_or(self.subquery_step_ms)
            .max(1);
        let end = self.subquery_end(sq, t);
        let lo = end.saturating_sub(range);
        // The first multiple of the step after the window's (open) start.
        let first = lo.div_euclid(step).saturating_add(1).saturating_mul(step);
        let key = sq as *const SubqueryExpr as usize;
        let mut index: HashMap<Labels, usize> = HashMap::new();
        let mut out: Vec<(Labels, Vec<Sample>, bool)> = Vec::new();
        let mut total = 0usize;
        let mut ti = first;
        while ti <= end {
            let cached = self
                .subquery_cache
                .borrow()
                .get(&key)
                .and_then(|m| m.get(&ti).cloned());
            let elems = match cached {
                Some(v) => v,
                None => {
                    self.check_interrupt()?;
                    let v = match self.eval(&sq.expr, ti)? {
                        StepValue::Vector(v) => v,
                        StepValue::Scalar(x) => vec![Elem::new(Labels::default(), x)],
                        _ => {
                            return Err(PromqlError::Execution(format!(
                                "subquery is only allowed on instant vector, got {}",
                                sq.expr
                            )));
                        }
                    };
                    let v = Rc::new(v);
                    self.subquery_cache
                        .borrow_mut()
                        .entry(key)
                        .or_default()
                        .insert(ti, v.clone());
                    v
                }
            };
            total += elems.len();
            if total > self.max_samples {
                return Err(PromqlError::TooManySamples(self.max_samples));
            }
            for e in elems.iter() {
                let i = *index.entry(e.labels.clone()).or_insert_with(|| {
                    out.push((e.labels.clone(), Vec::new(), false));
                    out.len() - 1
                });
                if let Some((_, samples, dropping)) = out.get_mut(i) {
                    samples.push(Sample::new(ti, e.value));
                    *dropping |= e.drop_name;
                }
            }
            ti = match ti.checked_add(step) {
                Some(n) => n,
                None => break,
            };
        }
        // Later steps only look at later inner timestamps: forget the ones before this
        // window.
        if let Some(m) = self.subquery_cache.borrow_mut().get_mut(&key) {
            let keep = m.split_off(&first);
            *m = keep;
        }
        Ok(out)
    }
}

/// Per selector, where the previous step's windows ended, so the next step (usually a
/// little later) continues from there instead of searching each series again.
#[derive(Debug, Default)]
pub(crate) struct Cursor {
    /// The window end of the previous evaluation.
    last_ts: Option<i64>,
    /// Per series: index of the first sample after the window start, and of the first
    /// sample after the window end.
    positions: Vec<(usize, usize)>,
}

impl Cursor {
    /// Prepares for an evaluation at `ts`: whether positions may be advanced from the
    /// previous ones (time moved forward) or must be searched afresh.
    fn reset(&mut self, ts: i64, n: usize) -> bool {
        let forward = self.last_ts.is_some_and(|l| ts >= l) && self.positions.len() == n;
        if !forward {
            self.positions.clear();
            self.positions.resize(n, (0, 0));
        }
        self.last_ts = Some(ts);
        forward
    }
}

/// The index of the first sample with `t > bound`, starting from `from` when moving
/// forward (a short linear scan, then a binary search of the rest), else searching all.
fn seek(samples: &[Sample], from: usize, forward: bool, bound: i64) -> usize {
    if !forward {
        return samples.partition_point(|s| s.t <= bound);
    }
    let mut i = from;
    for _ in 0..4 {
        match samples.get(i) {
            Some(s) if s.t <= bound => i += 1,
            _ => return i,
        }
    }
    i + samples
        .get(i..)
        .map_or(0, |rest| rest.partition_point(|s| s.t <= bound))
}

fn selector_key(vs: &VectorSelector) -> usize {
    vs as *const VectorSelector as usize
}

/// Whether `e` is a subquery, possibly in parentheses.
fn is_subquery(e: &Expr) -> bool {
    match e {
        Expr::Paren(p) => is_subquery(&p.expr),
        Expr::Subquery(_) => true,
        _ => false,
    }
}

/// One series of a range-vector argument at one step.
#[derive(Debug, Clone)]
pub(crate) struct RangeSeries<'a> {
    pub labels: Labels,
    /// The non-stale samples in the window `(end - range_ms, end]`: a slice of the
    /// preloaded series for a matrix selector, owned for a subquery.
    pub samples: Cow<'a, [Sample]>,
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
