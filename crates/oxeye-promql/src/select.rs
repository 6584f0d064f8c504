//! Selecting the series a query needs, once, before evaluation.
//!
//! The AST is walked to find every selector and the widest time span any step can read
//! (accounting for lookback, ranges, `offset` and `@`); one querier covers that span and
//! each selector's series are loaded into memory, keyed by the selector's address in the
//! AST, so every step of a range query reuses them.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use oxeye_core::{
    Labels, METRIC_NAME, MatchOp, Matcher, MetricsQueryable, Sample, SelectHints, TenantId,
    is_stale_nan,
};
use promql_parser::label::MatchOp as PMatchOp;
use promql_parser::parser::{AtModifier, Expr, Offset, VectorSelector};

use crate::PromqlError;

/// The samples of every selector in a query, keyed by selector address.
#[derive(Debug, Default)]
pub struct Preloaded {
    pub(crate) series: HashMap<usize, Vec<(Labels, Vec<Sample>)>>,
}

impl Preloaded {
    /// How many series were loaded over all selectors.
    pub(crate) fn series_count(&self) -> usize {
        self.series.values().map(Vec::len).sum()
    }

    pub(crate) fn get(&self, vs: &VectorSelector) -> &[(Labels, Vec<Sample>)] {
        self.series
            .get(&key(vs))
            .map(|v| v.as_slice())
            .unwrap_or(&[])
    }
}

fn key(vs: &VectorSelector) -> usize {
    vs as *const VectorSelector as usize
}

/// A duration in ms, saturating.
pub(crate) fn duration_ms(d: &Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4)
}

/// The signed offset of a selector in ms (positive looks back).
pub(crate) fn offset_ms(o: &Option<Offset>) -> i64 {
    match o {
        None => 0,
        Some(Offset::Pos(d)) => duration_ms(d),
        Some(Offset::Neg(d)) => -duration_ms(d),
    }
}

/// The fixed evaluation time an `@` modifier pins, if any.
pub(crate) fn at_ms(at: &Option<AtModifier>, start: i64, end: i64) -> Option<i64> {
    match at {
        None => None,
        Some(AtModifier::Start) => Some(start),
        Some(AtModifier::End) => Some(end),
        Some(AtModifier::At(t)) => Some(match t.duration_since(SystemTime::UNIX_EPOCH) {
            Ok(d) => duration_ms(&d),
            Err(e) => -duration_ms(&e.duration()),
        }),
    }
}

/// Converts one list of parser matchers to core matchers, adding the metric name if needed.
fn convert(
    list: &[promql_parser::label::Matcher],
    name: Option<&String>,
) -> Result<Vec<Matcher>, PromqlError> {
    let mut out = Vec::with_capacity(list.len() + 1);
    for m in list {
        let op = match m.op {
            PMatchOp::Equal => MatchOp::Equal,
            PMatchOp::NotEqual => MatchOp::NotEqual,
            PMatchOp::Re(_) => MatchOp::Regex,
            PMatchOp::NotRe(_) => MatchOp::NotRegex,
        };
        let matcher = Matcher::new(op, m.name.clone(), m.value.clone())
            .map_err(|e| PromqlError::Parse(e.to_string()))?;
        out.push(matcher);
    }
    if let Some(name) = name
        && !out.iter().any(|m| m.name == METRIC_NAME)
    {
        out.push(Matcher::equal(METRIC_NAME, name.clone()));
    }
    if !out.iter().any(|m| !m.matches_empty()) {
        return Err(PromqlError::Parse(
            "vector selector must contain at least one non-empty matcher".into(),
        ));
    }
    Ok(out)
}

/// The selector's matcher sets: one set, or one per alternative of `{a="1" or b="2"}`
/// (a series matching any set is selected).
fn matcher_sets(vs: &VectorSelector) -> Result<Vec<Vec<Matcher>>, PromqlError> {
    let name = vs.name.as_ref();
    if vs.matchers.or_matchers.is_empty() {
        return Ok(vec![convert(&vs.matchers.matchers, name)?]);
    }
    let mut sets = Vec::with_capacity(vs.matchers.or_matchers.len());
    for alt in &vs.matchers.or_matchers {
        let mut list = vs.matchers.matchers.clone();
        list.extend(alt.iter().cloned());
        sets.push(convert(&list, name)?);
    }
    Ok(sets)
}

struct Found<'a> {
    vs: &'a VectorSelector,
    /// Range of a matrix selector; 0 for an instant vector selector.
    range_ms: i64,
    func: Option<String>,
    /// The evaluation times this selector can be evaluated at, inclusive.
    window: (i64, i64),
}

/// The evaluation times an expression evaluated over `window` reads through a modifier
/// pinning `at` and shifting by `offset` back `back` ms further.
fn shifted(window: (i64, i64), at: Option<i64>, off: i64, back: i64) -> (i64, i64) {
    let (s, e) = match at {
        Some(t) => (t, t),
        None => window,
    };
    (
        s.saturating_sub(off).saturating_sub(back),
        e.saturating_sub(off),
    )
}

fn walk<'a>(
    e: &'a Expr,
    func: Option<&str>,
    window: (i64, i64),
    bounds: (i64, i64),
    out: &mut Vec<Found<'a>>,
) {
    match e {
        Expr::VectorSelector(vs) => out.push(Found {
            vs,
            range_ms: 0,
            func: func.map(str::to_string),
            window,
        }),
        Expr::MatrixSelector(ms) => out.push(Found {
            vs: &ms.vs,
            range_ms: duration_ms(&ms.range).max(1),
            func: func.map(str::to_string),
            window,
        }),
        Expr::Aggregate(a) => {
            walk(&a.expr, None, window, bounds, out);
            if let Some(p) = &a.param {
                walk(p, None, window, bounds, out);
            }
        }
        Expr::Unary(u) => walk(&u.expr, None, window, bounds, out),
        Expr::Binary(b) => {
            walk(&b.lhs, None, window, bounds, out);
            walk(&b.rhs, None, window, bounds, out);
        }
        Expr::Paren(p) => walk(&p.expr, func, window, bounds, out),
        Expr::Subquery(s) => {
            let inner = shifted(
                window,
                at_ms(&s.at, bounds.0, bounds.1),
                offset_ms(&s.offset),
                duration_ms(&s.range),
            );
            walk(&s.expr, None, inner, bounds, out)
        }
        Expr::Call(c) => {
            for a in &c.args.args {
                walk(a, Some(c.func.name), window, bounds, out);
            }
        }
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
}

/// Selects and loads every selector's series for evaluation over `[start, end]`.
///
/// Series of matrix selectors are loaded without stale markers (a range never returns
/// them), so steps can hand out windows as plain slices; instant vector selectors keep
/// them, since a stale marker ends a series within the lookback window.
pub(crate) fn preload(
    queryable: &dyn MetricsQueryable,
    tenant: &TenantId,
    ast: &Expr,
    start: i64,
    end: i64,
    step: i64,
    lookback: i64,
    max_samples: usize,
) -> Result<Preloaded, PromqlError> {
    let mut found = Vec::new();
    walk(ast, None, (start, end), (start, end), &mut found);
    let mut out = Preloaded::default();
    if found.is_empty() {
        return Ok(out);
    }
    // Per selector: the span it reads; overall: the union.
    let mut spans = Vec::with_capacity(found.len());
    let (mut mint, mut maxt) = (i64::MAX, i64::MIN);
    for f in &found {
        let back = if f.range_ms > 0 { f.range_ms } else { lookback };
        let (lo, hi) = shifted(
            f.window,
            at_ms(&f.vs.at, start, end),
            offset_ms(&f.vs.offset),
            back,
        );
        mint = mint.min(lo);
        maxt = maxt.max(hi);
        spans.push((lo, hi));
    }
    let querier = queryable.querier(tenant, mint, maxt)?;
    let mut total = 0usize;
    for (f, (lo, hi)) in found.iter().zip(spans) {
        let hints = SelectHints {
            start: lo,
            end: hi,
            step,
            func: f.func.clone(),
            limit: None,
        };
        let sets = matcher_sets(f.vs)?;
        let mut loaded: Vec<(Labels, Vec<Sample>)> = Vec::new();
        for ms in &sets {
            for s in querier.select(ms, &hints)? {
                if sets.len() > 1 && loaded.iter().any(|(l, _)| *l == s.labels) {
                    continue;
                }
                let mut samples = s.data.samples()?;
                // Only the span this selector reads is kept.
                let a = samples.partition_point(|x| x.t <= lo);
                let b = samples.partition_point(|x| x.t <= hi);
                samples.truncate(b);
                samples.drain(..a);
                if f.range_ms > 0 {
                    samples.retain(|x| !is_stale_nan(x.v));
                }
                total = total.saturating_add(samples.len());
                if total > max_samples {
                    return Err(PromqlError::TooManySamples(max_samples));
                }
                loaded.push((s.labels, samples));
            }
        }
        if sets.len() > 1 {
            loaded.sort_by(|a, b| a.0.cmp(&b.0));
        }
        out.series.insert(key(f.vs), loaded);
    }
    Ok(out)
}
