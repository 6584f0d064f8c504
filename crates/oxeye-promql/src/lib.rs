//! A PromQL engine over any [`MetricsQueryable`].
//!
//! Data flow: the query text is parsed with `promql_parser` into an AST; every vector and
//! matrix selector in it is selected once from a single querier covering the whole time
//! span the query can touch (lookback, ranges, `offset`, `@` and subquery windows
//! included), and the samples are kept in memory (matrix selectors without stale
//! markers). The AST is then evaluated once per step (once for an instant query) against
//! those preloaded series: matrix windows are slices of them, found by continuing from
//! the previous step's positions; per-step instant vectors are stitched into a matrix.
//! A large range query splits its steps into contiguous chunks evaluated on a few
//! threads, each with its own evaluator; chunks are appended in time order and their
//! annotations merged.
//!
//! Semantics follow Prometheus 3: left-open ranges, subqueries aligned to absolute
//! multiples of their step, one-to-one and `group_left`/`group_right` matching, set
//! operators, every aggregation, delayed metric-name removal, and Prometheus's error and
//! annotation texts. Anything not implemented answers [`PromqlError::Unsupported`].

mod aggregate;
mod binary;
mod eval;
mod format;
mod functions;
pub mod promqltest;
mod results_cache;
mod select;
pub mod vector;

use std::collections::HashMap;

use oxeye_core::{Labels, MetricsQueryable, Sample, StatusCode, StoreError, TenantId};

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

pub use crate::results_cache::{ResultsCache, ResultsCacheStats};

use crate::eval::{Annotations, Evaluator, StepValue};
use crate::select::{Preloaded, preload};

/// One thread's share of a range query: its series and annotations.
type Chunk = (Vec<(Labels, Vec<Sample>)>, Annotations);

/// State the threads of one range query share.
struct Shared {
    /// Result samples produced so far, against the sample limit.
    total: AtomicUsize,
    /// Set when a thread failed, so the others stop early.
    failed: AtomicBool,
}

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
            0,
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
    ///
    /// A large query's steps are evaluated on up to as many threads as there are CPUs
    /// (at most 4).
    pub fn range(
        &self,
        queryable: &dyn MetricsQueryable,
        tenant: &TenantId,
        expr: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<Output, PromqlError> {
        self.range_on_threads(queryable, tenant, expr, start_ms, end_ms, step_ms, 0)
    }

    /// [`Engine::range`] with the number of threads evaluating steps chosen: 0 picks it
    /// as `range` does, 1 evaluates sequentially, more always splits the steps (when
    /// there are at least two per thread).
    pub fn range_on_threads(
        &self,
        queryable: &dyn MetricsQueryable,
        tenant: &TenantId,
        expr: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
        threads: usize,
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
            threads,
        )?;
        let deadline = self.deadline();
        vector::range(
            self,
            &data,
            expr,
            &ast,
            (start_ms, end_ms, step_ms),
            threads,
            deadline,
        )
    }

    /// Evaluates a range query step by step, the steps split over `threads` (the path
    /// for anything the series-major evaluator in [`vector`] leaves to it).
    #[allow(clippy::too_many_arguments)]
    fn range_steps(
        &self,
        data: &Preloaded,
        expr: &str,
        ast: &promql_parser::parser::Expr,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
        threads: usize,
        deadline: Option<std::time::Instant>,
    ) -> Result<Output, PromqlError> {
        let n_steps = usize::try_from((end_ms - start_ms) / step_ms)
            .unwrap_or(usize::MAX - 1)
            .saturating_add(1);
        let threads = step_threads(threads, n_steps, data.series_count());
        let shared = Shared {
            total: AtomicUsize::new(0),
            failed: AtomicBool::new(false),
        };
        let run = |steps: std::ops::Range<usize>| -> Result<Chunk, PromqlError> {
            self.eval_steps(
                data, expr, ast, start_ms, end_ms, step_ms, steps, deadline, &shared,
            )
        };
        let chunks: Vec<Result<Chunk, PromqlError>> = if threads <= 1 {
            vec![run(0..n_steps)]
        } else {
            let per = n_steps.div_ceil(threads);
            std::thread::scope(|scope| {
                let handles: Vec<_> = (0..threads)
                    .map(|k| {
                        let lo = (k * per).min(n_steps);
                        let hi = ((k + 1) * per).min(n_steps);
                        let run = &run;
                        scope.spawn(move || run(lo..hi))
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| {
                        h.join().unwrap_or_else(|_| {
                            Err(PromqlError::Execution(
                                "query evaluation thread panicked".into(),
                            ))
                        })
                    })
                    .collect()
            })
        };
        // Chunks cover consecutive step ranges, so appending keeps samples in time order.
        let mut index: HashMap<Labels, usize> = HashMap::new();
        let mut series: Vec<(Labels, Vec<Sample>)> = Vec::new();
        let mut annotations = Annotations::default();
        for chunk in chunks {
            let (part, notes) = chunk?;
            annotations.warnings.extend(notes.warnings);
            annotations.infos.extend(notes.infos);
            for (labels, samples) in part {
                match index.get(&labels) {
                    Some(&i) => {
                        if let Some((_, s)) = series.get_mut(i) {
                            s.extend(samples);
                        }
                    }
                    None => {
                        index.insert(labels.clone(), series.len());
                        series.push((labels, samples));
                    }
                }
            }
        }
        series.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(Output {
            value: Value::Matrix(series),
            warnings: annotations.warnings.into_iter().collect(),
            infos: annotations.infos.into_iter().collect(),
        })
    }

    /// Evaluates steps `steps` (indices from `start`) with an evaluator of its own.
    #[allow(clippy::too_many_arguments)]
    fn eval_steps(
        &self,
        data: &Preloaded,
        text: &str,
        ast: &promql_parser::parser::Expr,
        start: i64,
        end: i64,
        step: i64,
        steps: std::ops::Range<usize>,
        deadline: Option<std::time::Instant>,
        shared: &Shared,
    ) -> Result<Chunk, PromqlError> {
        let mut ev = self.evaluator(data, start, end, step);
        ev.deadline = deadline;
        ev.query = Some((text, ast));
        let mut index: HashMap<Labels, usize> = HashMap::new();
        let mut series: Vec<(Labels, Vec<Sample>)> = Vec::new();
        for k in steps {
            if shared.failed.load(Ordering::Relaxed) {
                break;
            }
            let Some(t) = i64::try_from(k)
                .ok()
                .and_then(|k| k.checked_mul(step))
                .and_then(|o| start.checked_add(o))
            else {
                break;
            };
            let result = ev.check_interrupt().and_then(|()| ev.eval_checked(ast, t));
            let value = match result {
                Ok(v) => v,
                Err(e) => {
                    shared.failed.store(true, Ordering::Relaxed);
                    return Err(e);
                }
            };
            let elems = match value {
                StepValue::Scalar(v) => vec![(Labels::default(), v)],
                StepValue::Vector(v) => v.into_iter().map(|e| (e.labels, e.value)).collect(),
                StepValue::Matrix(_) | StepValue::String(_) => {
                    shared.failed.store(true, Ordering::Relaxed);
                    return Err(PromqlError::Execution(
                        "range query step did not produce a scalar or instant vector".into(),
                    ));
                }
            };
            let total = shared.total.fetch_add(elems.len(), Ordering::Relaxed) + elems.len();
            if total > self.max_samples {
                shared.failed.store(true, Ordering::Relaxed);
                return Err(PromqlError::TooManySamples(self.max_samples));
            }
            for (labels, v) in elems {
                match index.get(&labels) {
                    Some(&i) => {
                        if let Some((_, samples)) = series.get_mut(i) {
                            samples.push(Sample::new(t, v));
                        }
                    }
                    None => {
                        index.insert(labels.clone(), series.len());
                        series.push((labels, vec![Sample::new(t, v)]));
                    }
                }
            }
        }
        let notes = ev.annotations.take();
        Ok((series, notes))
    }

    /// When a query started now must stop.
    fn deadline(&self) -> Option<std::time::Instant> {
        self.timeout.map(|d| std::time::Instant::now() + d)
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
            without_name: Default::default(),
            metric_memo: Default::default(),
            group_memo: Default::default(),
            group_key_memo: Default::default(),
            cursors: Default::default(),
        }
    }
}

/// How many threads evaluate the steps of a range query (`asked` as for
/// [`Engine::range_on_threads`]): automatically, one unless the query is large enough for
/// the split to pay.
fn step_threads(asked: usize, n_steps: usize, series: usize) -> usize {
    let (max, auto) = match asked {
        0 => (
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
                .min(4),
            true,
        ),
        n => (n, false),
    };
    let work = n_steps.saturating_mul(series.max(1));
    if max <= 1 || n_steps < 2 * max || (auto && work < 50_000) {
        return 1;
    }
    max
}
