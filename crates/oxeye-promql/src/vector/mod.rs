//! Series-major evaluation of range queries.
//!
//! The step evaluator walks the AST once per step and revisits every series each time.
//! This module evaluates a range query over all steps at once: every node yields, per
//! output series, one column of values over the steps plus a presence mask
//! ([`Col`]). Selectors move one forward cursor per series across the steps, range
//! functions two (window start and end), aggregations compute a series' group once and
//! accumulate into groups x steps arrays, operators combine columns step by step. The
//! per-window kernels, the compensated sums and the operator functions are the ones the
//! step evaluator calls, so the numbers are identical.
//!
//! Data flow: [`range`] is called by `Engine::range_on_threads` after preload. A static
//! check decides whether every node of the query is one this module evaluates; if not,
//! or if evaluation meets a case it leaves to the step evaluator (a duplicate label set
//! after name removal, the sample limit, a matching or parameter error), the whole query
//! is evaluated step by step instead, with fresh annotations, so the answer and the error
//! text are always the step evaluator's. Timeouts and cancellation are returned directly.
//! Annotations carry the same `(line:col)` suffixes, from the same AST nodes.
//!
//! Evaluated here: number literals, parentheses, unary minus, vector selectors (`offset`,
//! `@`, lookback, staleness), the single-argument range functions of `functions::range`
//! and `quantile_over_time` over a matrix selector, the element-wise math functions,
//! `histogram_quantile` on classic buckets, `sum`/`avg`/`min`/`max`/`count`/`group`/
//! `stddev`/`stdvar`/`topk`/`bottomk`/`quantile` with `by`/`without`, and arithmetic and
//! comparison operators between scalars and vectors with one-to-one and
//! `group_left`/`group_right` matching, and the set operators `and`/`or`/`unless`.
//! Everything else (subqueries, label functions, `absent`, `sort`, `count_values`,
//! `timestamp`, `limitk`, ...) falls back.
//!
//! [`with_mode`] selects the path for the calling thread: tests and benchmarks use it
//! to force the step path or to run both and record any difference.

mod matching;
mod nodes;
mod ranked;
mod series;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::time::Instant;

use oxeye_core::{Labels, Sample};
use promql_parser::parser::Expr;

use crate::eval::{Evaluator, drop_name};
use crate::select::Preloaded;
use crate::{Engine, Output, PromqlError, Value};

/// Which path `Engine::range` takes on the calling thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The series-major path when the query allows it, else the step path.
    Auto,
    /// Always the step path.
    StepOnly,
    /// Both paths when the series-major one applies; the step path's answer is returned
    /// and any difference is recorded (see [`take_mismatches`]).
    Verify,
}

thread_local! {
    static MODE: Cell<Mode> = const { Cell::new(Mode::Auto) };
    static MISMATCHES: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
    static VECTORIZED: Cell<usize> = const { Cell::new(0) };
}

/// Runs `f` with range queries on this thread evaluated in `mode`.
pub fn with_mode<R>(mode: Mode, f: impl FnOnce() -> R) -> R {
    let prev = MODE.with(|m| m.replace(mode));
    let r = f();
    MODE.with(|m| m.set(prev));
    r
}

/// The differences recorded in [`Mode::Verify`] on this thread since the last call.
pub fn take_mismatches() -> Vec<String> {
    MISMATCHES.with(|m| m.take())
}

/// How many range queries on this thread were answered (or, in [`Mode::Verify`],
/// checked) by the series-major path since the last call.
pub fn take_vectorized_count() -> usize {
    VECTORIZED.with(|c| c.replace(0))
}

/// One output series over all steps: labels, pending name removal, values and presence.
#[derive(Debug, Clone)]
pub(crate) struct Col {
    pub labels: Labels,
    pub drop_name: bool,
    pub vals: Vec<f64>,
    pub present: Vec<bool>,
}

/// The value of a node over all steps.
#[derive(Debug)]
pub(crate) enum Cols {
    Scalar(Vec<f64>),
    Vector(Vec<Col>),
}

/// Why the series-major path stopped.
#[derive(Debug)]
pub(crate) enum Stop {
    /// Leave the query to the step evaluator.
    Fallback,
    /// Return this error (timeout or cancellation).
    Err(PromqlError),
}

/// Evaluates a range query whose AST is `ast`, series-major when possible; `bounds` are
/// start, end and step (ms), `threads` and `deadline` as `Engine::range_on_threads` got
/// them.
pub(crate) fn range(
    engine: &Engine,
    data: &Preloaded,
    expr: &str,
    ast: &Expr,
    bounds: (i64, i64, i64),
    threads: usize,
    deadline: Option<Instant>,
) -> Result<Output, PromqlError> {
    let (start, end, step) = bounds;
    let mode = MODE.with(|m| m.get());
    if mode == Mode::StepOnly || !nodes::supported(ast) {
        return engine.range_steps(data, expr, ast, start, end, step, threads, deadline);
    }
    let result = {
        let mut ev = engine.evaluator(data, start, end, step);
        ev.deadline = deadline;
        ev.query = Some((expr, ast));
        vectorized(&ev, ast, start, end, step, engine.max_samples, threads)
    };
    let out = match result {
        Ok(v) => v,
        Err(Stop::Err(e)) => return Err(e),
        Err(Stop::Fallback) => {
            return engine.range_steps(data, expr, ast, start, end, step, threads, deadline);
        }
    };
    VECTORIZED.with(|c| c.set(c.get() + 1));
    if mode == Mode::Auto {
        return Ok(out);
    }
    let reference = engine.range_steps(data, expr, ast, start, end, step, threads, deadline);
    let diff = match &reference {
        Ok(r) => compare(r, &out),
        Err(e) => Some(format!(
            "step path failed with {e}, series-major path answered"
        )),
    };
    if let Some(d) = diff {
        MISMATCHES.with(|m| {
            m.borrow_mut()
                .push(format!("{expr} [{start}..{end} step {step}]: {d}"))
        });
    }
    reference
}

/// The steps of a range query, as the step loop visits them.
fn steps(start: i64, end: i64, step: i64) -> Vec<i64> {
    let mut ts = Vec::new();
    let mut t = start;
    while t <= end {
        ts.push(t);
        t = match t.checked_add(step) {
            Some(n) => n,
            None => break,
        };
    }
    ts
}

fn vectorized(
    ev: &Evaluator<'_>,
    ast: &Expr,
    start: i64,
    end: i64,
    step: i64,
    max_samples: usize,
    threads: usize,
) -> Result<Output, Stop> {
    ev.check_interrupt().map_err(Stop::Err)?;
    let ts = steps(start, end, step);
    let cx = nodes::Cx {
        ev,
        ts: &ts,
        threads,
    };
    let value = match cx.eval(ast)? {
        Cols::Scalar(vals) => {
            if vals.len() > max_samples {
                return Err(Stop::Fallback);
            }
            let samples = ts
                .iter()
                .zip(vals)
                .map(|(&t, v)| Sample::new(t, v))
                .collect();
            Value::Matrix(vec![(Labels::default(), samples)])
        }
        Cols::Vector(cols) => Value::Matrix(assemble(cols, &ts, max_samples)?),
    };
    Ok(ev.output(value))
}

/// Final labels (pending name removal applied), duplicate check per step, merge of
/// columns that end with the same labels at disjoint steps, sorted by labels.
fn assemble(
    cols: Vec<Col>,
    ts: &[i64],
    max_samples: usize,
) -> Result<Vec<(Labels, Vec<Sample>)>, Stop> {
    let total: usize = cols
        .iter()
        .map(|c| c.present.iter().filter(|p| **p).count())
        .sum();
    if total > max_samples {
        return Err(Stop::Fallback);
    }
    let mut index: HashMap<Labels, usize> = HashMap::with_capacity(cols.len());
    let mut groups: Vec<(Labels, Vec<Col>)> = Vec::with_capacity(cols.len());
    for c in cols {
        if !c.present.iter().any(|p| *p) {
            continue;
        }
        let labels = if c.drop_name {
            drop_name(&c.labels)
        } else {
            c.labels.clone()
        };
        match index.get(&labels) {
            Some(&i) => {
                if let Some(g) = groups.get_mut(i) {
                    g.1.push(c);
                }
            }
            None => {
                index.insert(labels.clone(), groups.len());
                groups.push((labels, vec![c]));
            }
        }
    }
    let mut out = Vec::with_capacity(groups.len());
    for (labels, members) in groups {
        let mut samples = Vec::new();
        for (i, &t) in ts.iter().enumerate() {
            let mut found: Option<f64> = None;
            for c in &members {
                if c.present.get(i).copied().unwrap_or(false) {
                    if found.is_some() {
                        // "vector cannot contain metrics with the same labelset": the
                        // step evaluator reports it with its own ordering of errors.
                        return Err(Stop::Fallback);
                    }
                    found = c.vals.get(i).copied();
                }
            }
            if let Some(v) = found {
                samples.push(Sample::new(t, v));
            }
        }
        out.push((labels, samples));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

fn same_f64(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

/// A description of how `got` differs from `want`, if it does.
fn compare(want: &Output, got: &Output) -> Option<String> {
    if want.warnings != got.warnings {
        return Some(format!(
            "warnings {:?} != {:?}",
            want.warnings, got.warnings
        ));
    }
    if want.infos != got.infos {
        return Some(format!("infos {:?} != {:?}", want.infos, got.infos));
    }
    let (Value::Matrix(a), Value::Matrix(b)) = (&want.value, &got.value) else {
        return Some(format!("{:?} != {:?}", want.value, got.value));
    };
    if a.len() != b.len() {
        return Some(format!("{} series != {} series", a.len(), b.len()));
    }
    for ((la, sa), (lb, sb)) in a.iter().zip(b) {
        if la != lb {
            return Some(format!("series {la} != {lb}"));
        }
        if sa.len() != sb.len()
            || sa
                .iter()
                .zip(sb)
                .any(|(x, y)| x.t != y.t || !same_f64(x.v, y.v))
        {
            return Some(format!("series {la}: {sa:?} != {sb:?}"));
        }
    }
    None
}
