//! Selecting the series a query needs, once, before evaluation.
//!
//! The AST is walked to find every selector and the widest time span any step can read
//! (accounting for lookback, ranges, `offset` and `@`); one querier covers that span and
//! each selector's series are loaded into memory, keyed by the selector's address in the
//! AST, so every step of a range query reuses them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use oxeye_core::{
    Labels, METRIC_NAME, MatchOp, Matcher, MetricsQueryable, Sample, SelectHints, Series,
    StoreError, TenantId, is_stale_nan,
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
/// them, since a stale marker ends a series within the lookback window. `threads` read
/// the series of a selector (0 picks, 1 reads sequentially).
#[allow(clippy::too_many_arguments)]
pub(crate) fn preload(
    queryable: &dyn MetricsQueryable,
    tenant: &TenantId,
    ast: &Expr,
    start: i64,
    end: i64,
    step: i64,
    lookback: i64,
    max_samples: usize,
    threads: usize,
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
        let mut selected: Vec<Series> = Vec::new();
        for ms in &sets {
            for s in querier.select(ms, &hints)? {
                if sets.len() > 1 && selected.iter().any(|x| x.labels == s.labels) {
                    continue;
                }
                selected.push(s);
            }
        }
        let span = Span {
            lo,
            hi,
            drop_stale: f.range_ms > 0,
        };
        let mut loaded = load(selected, span, threads, max_samples, &mut total)?;
        if sets.len() > 1 {
            loaded.sort_by(|a, b| a.0.cmp(&b.0));
        }
        out.series.insert(key(f.vs), loaded);
    }
    Ok(out)
}

/// The samples a selector keeps: `lo < t <= hi`, without stale markers for ranges.
#[derive(Clone, Copy)]
struct Span {
    lo: i64,
    hi: i64,
    drop_stale: bool,
}

/// Fewest series worth reading on a second thread.
const MIN_PARALLEL_SERIES: usize = 64;

/// The kept samples of one series. A store decodes them into the vector it returns
/// (sized as it sees fit); only what lies outside the span or is a stale marker in a
/// range is removed, in place, and only when there is any.
fn read_series(s: &Series, span: Span) -> Result<Vec<Sample>, StoreError> {
    let mut out = s.data.samples()?;
    let b = out.partition_point(|x| x.t <= span.hi);
    out.truncate(b);
    let a = out.partition_point(|x| x.t <= span.lo);
    if a > 0 {
        out.drain(..a);
    }
    if span.drop_stale && out.iter().any(|x| is_stale_nan(x.v)) {
        out.retain(|x| !is_stale_nan(x.v));
    }
    Ok(out)
}

/// Reads the samples of `selected` in order, adding them to `total` against
/// `max_samples`. With several threads, workers read ahead over consecutive runs of the
/// series and stop once the samples read overall pass the limit; the series are then
/// taken in order exactly as a single reader takes them (a series a worker did not read
/// is read here), so the first error and the limit are met at the same series.
fn load(
    selected: Vec<Series>,
    span: Span,
    threads: usize,
    max_samples: usize,
    total: &mut usize,
) -> Result<Vec<(Labels, Vec<Sample>)>, PromqlError> {
    let threads = load_threads(threads, selected.len());
    let mut ahead: Vec<Option<Result<Vec<Sample>, StoreError>>> = Vec::new();
    if threads > 1 {
        let read = AtomicUsize::new(*total);
        let per = selected.len().div_ceil(threads).max(1);
        ahead = std::thread::scope(|scope| {
            let handles: Vec<_> = selected
                .chunks(per)
                .map(|run| {
                    let read = &read;
                    scope.spawn(move || read_ahead(run, span, read, max_samples))
                })
                .collect();
            let mut all = Vec::with_capacity(selected.len());
            for (h, run) in handles.into_iter().zip(selected.chunks(per)) {
                // a worker that panicked read nothing: its series are read below
                let mut got = h.join().unwrap_or_default();
                got.resize_with(run.len(), || None);
                all.extend(got);
            }
            all
        });
    }
    let mut ahead = ahead.into_iter();
    let mut loaded = Vec::with_capacity(selected.len());
    for s in selected {
        let samples = match ahead.next().flatten() {
            Some(r) => r?,
            None => read_series(&s, span)?,
        };
        *total = total.saturating_add(samples.len());
        if *total > max_samples {
            return Err(PromqlError::TooManySamples(max_samples));
        }
        loaded.push((s.labels, samples));
    }
    Ok(loaded)
}

/// One worker of [`load`]: reads `run` until an error or until `read` passes the limit.
fn read_ahead(
    run: &[Series],
    span: Span,
    read: &AtomicUsize,
    max_samples: usize,
) -> Vec<Option<Result<Vec<Sample>, StoreError>>> {
    let mut out = Vec::with_capacity(run.len());
    for s in run {
        if read.load(Ordering::Relaxed) > max_samples {
            break;
        }
        let r = read_series(s, span);
        let failed = match &r {
            Ok(samples) => {
                read.fetch_add(samples.len(), Ordering::Relaxed);
                false
            }
            Err(_) => true,
        };
        out.push(Some(r));
        if failed {
            break;
        }
    }
    out
}

/// Threads reading `series` series: `asked` 0 picks (at most 2, only for many series),
/// 1 is sequential.
fn load_threads(asked: usize, series: usize) -> usize {
    let t = match asked {
        0 if series < MIN_PARALLEL_SERIES => 1,
        0 => std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .min(2),
        n => n,
    };
    t.clamp(1, series.max(1))
}

#[cfg(test)]
mod tests {
    use std::ops::ControlFlow;
    use std::sync::Arc;

    use oxeye_core::{SeriesData, stale_nan};

    use super::*;

    /// Samples handed out in chunks of `chunk` samples; `fail` makes reading an error.
    struct Chunked {
        samples: Vec<Sample>,
        chunk: usize,
        fail: bool,
    }

    impl SeriesData for Chunked {
        fn for_each_chunk(
            &self,
            f: &mut dyn FnMut(&[Sample]) -> ControlFlow<()>,
        ) -> Result<(), StoreError> {
            if self.fail {
                return Err(StoreError::Internal("chunk checksum mismatch".into()));
            }
            for c in self.samples.chunks(self.chunk) {
                if f(c).is_break() {
                    break;
                }
            }
            Ok(())
        }
    }

    /// `n` series of 100 samples at t = 0..100 s (a stale marker at 50 s), chunked by 7;
    /// series `fail` cannot be read.
    fn series(n: usize, fail: Option<usize>) -> Vec<Series> {
        (0..n)
            .map(|i| {
                let samples = (0..100)
                    .map(|k| {
                        let v = if k == 50 { stale_nan() } else { (i * k) as f64 };
                        Sample::new(k as i64 * 1000, v)
                    })
                    .collect();
                Series {
                    labels: Labels::from_pairs(&[("i", &format!("{i:04}"))]),
                    data: Arc::new(Chunked {
                        samples,
                        chunk: 7,
                        fail: fail == Some(i),
                    }),
                }
            })
            .collect()
    }

    const SPAN: Span = Span {
        lo: 10_000,
        hi: 60_000,
        drop_stale: true,
    };

    fn bits(loaded: &[(Labels, Vec<Sample>)]) -> Vec<(Labels, Vec<(i64, u64)>)> {
        loaded
            .iter()
            .map(|(l, s)| (l.clone(), s.iter().map(|x| (x.t, x.v.to_bits())).collect()))
            .collect()
    }

    #[test]
    fn reading_keeps_the_span_without_stale_markers() {
        let s = &series(2, None)[1];
        let got = read_series(s, SPAN).unwrap();
        let want: Vec<i64> = (11..=60).filter(|k| *k != 50).map(|k| k * 1000).collect();
        assert_eq!(got.iter().map(|x| x.t).collect::<Vec<_>>(), want);
        let kept = read_series(
            s,
            Span {
                drop_stale: false,
                ..SPAN
            },
        )
        .unwrap();
        assert_eq!(kept.len(), 50);
        assert!(is_stale_nan(kept[39].v));
    }

    #[test]
    fn threads_read_the_same_series_in_the_same_order() {
        let (mut t1, mut t2) = (0, 0);
        let one = load(series(200, None), SPAN, 1, usize::MAX, &mut t1).unwrap();
        let two = load(series(200, None), SPAN, 2, usize::MAX, &mut t2).unwrap();
        assert_eq!(one.len(), 200);
        assert_eq!(bits(&one), bits(&two));
        assert_eq!((t1, t2), (200 * 49, 200 * 49));
    }

    #[test]
    fn threads_meet_the_limit_and_errors_at_the_same_series() {
        for threads in [1, 2, 3] {
            // the limit is passed at series 150, after the failing one
            let mut total = 0;
            let err = load(series(200, Some(120)), SPAN, threads, 150 * 49, &mut total);
            assert!(
                matches!(err, Err(PromqlError::Store(_))),
                "{threads}: {err:?}"
            );
            // the limit is passed at series 101, before it
            let mut total = 0;
            let err = load(series(200, Some(120)), SPAN, threads, 100 * 49, &mut total);
            assert!(
                matches!(err, Err(PromqlError::TooManySamples(_))),
                "{threads}: {err:?}"
            );
            // samples of earlier selectors count too
            let mut total = 100 * 49;
            let err = load(series(200, None), SPAN, threads, 150 * 49, &mut total);
            assert!(
                matches!(err, Err(PromqlError::TooManySamples(_))),
                "{threads}: {err:?}"
            );
        }
    }
}
