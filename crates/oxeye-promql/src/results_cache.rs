//! A cache of range query results, by step.
//!
//! A dashboard asks the same range queries again and again over a window that slides
//! with the clock (`now-24h` to `now`), and only its newest steps can have changed. This
//! cache keeps, per (tenant, query, step, lookback, subquery step), the result of one
//! contiguous run of steps (an extent) and answers a range query from it plus a range
//! query over the steps it lacks, as the results caches in front of Prometheus do.
//!
//! Data flow of [`ResultsCache::range`]:
//! 1. A query is cacheable when its start is a multiple of its step (so its steps are the
//!    same instants as those of a query that started earlier: the UI aligns its ranges,
//!    as Grafana does), it has no `@` modifier or negative offset (which make a step
//!    depend on data after it), and the store reports how far the tenant's data is
//!    settled ([`MetricsQueryable::settled`]). Anything else goes straight to the engine.
//! 2. Steps at or before the settled horizon are the only ones ever stored: a step's
//!    value depends only on samples at or before it, which the store promises not to
//!    change without a new generation. An extent of another generation is dropped.
//! 3. With an extent covering the query's start, only the steps after its end are
//!    evaluated; the two parts are merged series by series (disjoint steps in time
//!    order). Otherwise the whole query is evaluated.
//! 4. The result's settled steps become the key's extent, with the annotations (warnings
//!    and infos) of the evaluations that produced it: settled and unsettled steps are
//!    evaluated apart so that these are exactly the extent's own. Annotations belong to the whole
//!    query, not to a step, so an annotated extent is only used by a query starting at
//!    its first step (the same window reloaded): it can then not carry an annotation
//!    raised by a step outside the query. Answers carry exactly the engine's annotations.
//!
//! Memory is bounded by a byte budget; the least recently used extents go first and an
//! extent larger than a quarter of the budget is not kept.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use oxeye_core::{Labels, MetricsQueryable, Sample, TenantId};
use promql_parser::parser::{Expr, Offset};
use std::sync::{Mutex, MutexGuard};

use crate::{Engine, Output, PromqlError, Value};

/// What identifies a cached result.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    tenant: String,
    expr: String,
    step_ms: i64,
    lookback_ms: i64,
    subquery_step_ms: i64,
}

/// The result of one run of steps `from..=to` (every multiple of the step in between).
#[derive(Debug)]
struct Extent {
    generation: u64,
    from: i64,
    to: i64,
    series: Vec<(Labels, Vec<Sample>)>,
    notes: Notes,
    bytes: usize,
    used: u64,
}

/// Warnings and infos of an extent's evaluations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Notes {
    warnings: Vec<String>,
    infos: Vec<String>,
}

impl Notes {
    fn of(out: &Output) -> Self {
        Self {
            warnings: out.warnings.clone(),
            infos: out.infos.clone(),
        }
    }

    fn is_empty(&self) -> bool {
        self.warnings.is_empty() && self.infos.is_empty()
    }

    /// Both sets of annotations, sorted and deduplicated as the engine returns them.
    fn union(&self, other: &Notes) -> Notes {
        let join = |a: &[String], b: &[String]| {
            let mut v: Vec<String> = a.iter().chain(b).cloned().collect();
            v.sort();
            v.dedup();
            v
        };
        Notes {
            warnings: join(&self.warnings, &other.warnings),
            infos: join(&self.infos, &other.infos),
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    extents: HashMap<Key, Extent>,
    bytes: usize,
    tick: u64,
}

/// Counters of a [`ResultsCache`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResultsCacheStats {
    /// Range queries answered at least partly from the cache.
    pub hits: u64,
    /// Cacheable range queries evaluated in full.
    pub misses: u64,
    /// Range queries the cache could not serve (unaligned, `@`, unsettled store).
    pub uncacheable: u64,
    /// Steps answered from the cache.
    pub steps_cached: u64,
    /// Steps evaluated for cacheable queries.
    pub steps_evaluated: u64,
    /// Extents held.
    pub entries: usize,
    /// Bytes held (estimated).
    pub bytes: usize,
}

/// A byte-bounded cache of range query results; see the module docs.
#[derive(Debug)]
pub struct ResultsCache {
    budget: usize,
    inner: Mutex<Inner>,
    hits: AtomicU64,
    misses: AtomicU64,
    uncacheable: AtomicU64,
    steps_cached: AtomicU64,
    steps_evaluated: AtomicU64,
}

impl ResultsCache {
    /// A cache holding at most `budget` bytes of results.
    pub fn new(budget: usize) -> Self {
        Self {
            budget,
            inner: Mutex::new(Inner::default()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            uncacheable: AtomicU64::new(0),
            steps_cached: AtomicU64::new(0),
            steps_evaluated: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The map stays consistent under a panic elsewhere: every update is one call.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The cache's counters.
    pub fn stats(&self) -> ResultsCacheStats {
        let inner = self.lock();
        ResultsCacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            uncacheable: self.uncacheable.load(Ordering::Relaxed),
            steps_cached: self.steps_cached.load(Ordering::Relaxed),
            steps_evaluated: self.steps_evaluated.load(Ordering::Relaxed),
            entries: inner.extents.len(),
            bytes: inner.bytes,
        }
    }

    /// [`Engine::range`], answered from the cache where it can be; see the module docs.
    #[allow(clippy::too_many_arguments)]
    pub fn range(
        &self,
        engine: &Engine,
        queryable: &dyn MetricsQueryable,
        tenant: &TenantId,
        expr: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<Output, PromqlError> {
        let direct = || engine.range(queryable, tenant, expr, start_ms, end_ms, step_ms);
        if self.budget == 0
            || step_ms <= 0
            || end_ms.checked_sub(start_ms).is_none_or(|span| span < 0)
            || start_ms % step_ms != 0
        {
            self.uncacheable.fetch_add(1, Ordering::Relaxed);
            return direct();
        }
        let Ok(ast) = promql_parser::parser::parse(expr) else {
            return direct();
        };
        if !steps_independent(&ast) {
            self.uncacheable.fetch_add(1, Ordering::Relaxed);
            return direct();
        }
        // Read before evaluating: a late write bumps the generation after storing.
        let Some(settled) = queryable.settled(tenant) else {
            self.uncacheable.fetch_add(1, Ordering::Relaxed);
            return direct();
        };
        let horizon = settled
            .before_ms
            .div_euclid(step_ms)
            .saturating_mul(step_ms);
        let key = Key {
            tenant: tenant.as_str().to_string(),
            expr: expr.to_string(),
            step_ms,
            lookback_ms: engine.lookback_ms,
            subquery_step_ms: engine.subquery_step_ms,
        };
        // The last step at or before both the horizon and the end, on the query's grid.
        let settled_to = {
            let bound = horizon.min(end_ms);
            (bound >= start_ms).then(|| start_ms + (bound - start_ms).div_euclid(step_ms) * step_ms)
        };
        let eval =
            |from: i64, to: i64| -> Result<(Vec<(Labels, Vec<Sample>)>, Notes), PromqlError> {
                self.steps_evaluated
                    .fetch_add(steps(from, to, step_ms), Ordering::Relaxed);
                let out = engine.range(queryable, tenant, expr, from, to, step_ms)?;
                let notes = Notes::of(&out);
                match out.value {
                    Value::Matrix(m) => Ok((m, notes)),
                    _ => Err(PromqlError::Execution(
                        "range query did not produce a matrix".into(),
                    )),
                }
            };
        let answer = |series: Vec<(Labels, Vec<Sample>)>, notes: Notes| Output {
            value: Value::Matrix(series),
            warnings: notes.warnings,
            infos: notes.infos,
        };
        let cached = self.lookup(&key, settled.generation, start_ms, end_ms);
        let Some((cached_to, cached_series, cached_notes)) = cached else {
            self.misses.fetch_add(1, Ordering::Relaxed);
            let Some(to) = settled_to else {
                self.steps_evaluated
                    .fetch_add(steps(start_ms, end_ms, step_ms), Ordering::Relaxed);
                return direct();
            };
            // The settled steps and the rest are evaluated apart, so the extent keeps
            // exactly the annotations of its own steps.
            let (kept, kept_notes) = eval(start_ms, to)?;
            let (rest, rest_notes) = if to.saturating_add(step_ms) <= end_ms {
                eval(to + step_ms, end_ms)?
            } else {
                Default::default()
            };
            let notes = kept_notes.union(&rest_notes);
            let series = merge(kept.clone(), &rest);
            self.store(key, settled.generation, (start_ms, to), kept, kept_notes);
            return Ok(answer(series, notes));
        };
        self.hits.fetch_add(1, Ordering::Relaxed);
        self.steps_cached.fetch_add(
            steps(start_ms, cached_to.min(end_ms), step_ms),
            Ordering::Relaxed,
        );
        // Steps are `start + k * step`: none is left after `to` once `to + step > end`.
        if cached_to.saturating_add(step_ms) > end_ms {
            return Ok(answer(cached_series, cached_notes));
        }
        debug_assert!((cached_to - start_ms) % step_ms == 0);
        let (kept, kept_notes, kept_to) = match settled_to {
            Some(to) if to > cached_to => {
                let (more, more_notes) = eval(cached_to + step_ms, to)?;
                let kept = merge(cached_series, &more);
                let notes = cached_notes.union(&more_notes);
                self.store(
                    key,
                    settled.generation,
                    (start_ms, to),
                    kept.clone(),
                    notes.clone(),
                );
                (kept, notes, to)
            }
            _ => (cached_series, cached_notes, cached_to),
        };
        if kept_to.saturating_add(step_ms) > end_ms {
            return Ok(answer(kept, kept_notes));
        }
        let (rest, rest_notes) = eval(kept_to + step_ms, end_ms)?;
        Ok(answer(merge(kept, &rest), kept_notes.union(&rest_notes)))
    }

    /// The cached series of `key` from `start` on (up to `end`), the last step they cover
    /// and their annotations, when an extent of `generation` covers `start` (and starts
    /// there if it is annotated).
    fn lookup(
        &self,
        key: &Key,
        generation: u64,
        start: i64,
        end: i64,
    ) -> Option<(i64, Vec<(Labels, Vec<Sample>)>, Notes)> {
        let mut inner = self.lock();
        inner.tick += 1;
        let tick = inner.tick;
        let e = inner.extents.get_mut(key)?;
        if e.generation != generation {
            let gone = e.bytes;
            inner.extents.remove(key);
            inner.bytes = inner.bytes.saturating_sub(gone);
            return None;
        }
        if e.from > start || e.to < start || (e.from != start && !e.notes.is_empty()) {
            return None;
        }
        e.used = tick;
        let to = e.to.min(end);
        Some((to, slice(&e.series, start, to), e.notes.clone()))
    }

    /// Keeps `series` (steps `from..=to`) and their annotations as `key`'s extent, evicting the least recently
    /// used extents to stay within the budget.
    fn store(
        &self,
        key: Key,
        generation: u64,
        (from, to): (i64, i64),
        series: Vec<(Labels, Vec<Sample>)>,
        notes: Notes,
    ) {
        debug_assert!(from <= to);
        debug_assert!((to - from) % key.step_ms == 0, "an extent ends on its grid");
        let bytes = weigh(&key, &series)
            + notes
                .warnings
                .iter()
                .chain(&notes.infos)
                .map(|n| n.len() + 24)
                .sum::<usize>();
        let mut inner = self.lock();
        if let Some(old) = inner.extents.remove(&key) {
            inner.bytes = inner.bytes.saturating_sub(old.bytes);
        }
        if bytes > self.budget / 4 {
            return;
        }
        while inner.bytes + bytes > self.budget {
            let Some(victim) = inner
                .extents
                .iter()
                .min_by_key(|(_, e)| e.used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some(e) = inner.extents.remove(&victim) {
                inner.bytes = inner.bytes.saturating_sub(e.bytes);
            }
        }
        inner.tick += 1;
        let used = inner.tick;
        inner.bytes += bytes;
        inner.extents.insert(
            key,
            Extent {
                generation,
                from,
                to,
                series,
                notes,
                bytes,
                used,
            },
        );
    }
}

/// Number of steps in `start..=end`.
fn steps(start: i64, end: i64, step: i64) -> u64 {
    if end < start || step <= 0 {
        return 0;
    }
    end.checked_sub(start)
        .and_then(|span| u64::try_from(span / step + 1).ok())
        .unwrap_or(0)
}

/// The samples of `series` in `[from, to]`, without series left empty.
fn slice(series: &[(Labels, Vec<Sample>)], from: i64, to: i64) -> Vec<(Labels, Vec<Sample>)> {
    series
        .iter()
        .filter_map(|(l, s)| {
            let lo = s.partition_point(|x| x.t < from);
            let hi = s.partition_point(|x| x.t <= to);
            (lo < hi).then(|| (l.clone(), s[lo..hi].to_vec()))
        })
        .collect()
}

/// `earlier` followed by `later` (whose steps all come after), series by series, sorted
/// by labels as the engine returns them.
fn merge(
    earlier: Vec<(Labels, Vec<Sample>)>,
    later: &[(Labels, Vec<Sample>)],
) -> Vec<(Labels, Vec<Sample>)> {
    let mut out = earlier;
    let mut index: HashMap<Labels, usize> = out
        .iter()
        .enumerate()
        .map(|(i, (l, _))| (l.clone(), i))
        .collect();
    for (l, s) in later {
        match index.get(l) {
            Some(&i) => {
                if let Some((_, samples)) = out.get_mut(i) {
                    debug_assert!(
                        samples
                            .last()
                            .is_none_or(|a| s.first().is_none_or(|b| a.t < b.t))
                    );
                    samples.extend_from_slice(s);
                }
            }
            None => {
                index.insert(l.clone(), out.len());
                out.push((l.clone(), s.clone()));
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Estimated heap bytes of an extent.
fn weigh(key: &Key, series: &[(Labels, Vec<Sample>)]) -> usize {
    let labels: usize = series
        .iter()
        .map(|(l, s)| {
            l.iter()
                .map(|x| x.name.len() + x.value.len() + 48)
                .sum::<usize>()
                + s.len() * std::mem::size_of::<Sample>()
                + 64
        })
        .sum();
    labels + key.expr.len() + key.tenant.len() + 128
}

/// Whether every step of `e` depends only on data at or before it and not on the query's
/// bounds: no `@` modifier (a fixed or query-relative time), no negative offset and no
/// `start()`, `end()` or `range()` anywhere.
fn steps_independent(e: &Expr) -> bool {
    let at_ok = |at: &Option<promql_parser::parser::AtModifier>, off: &Option<Offset>| {
        at.is_none() && !matches!(off, Some(Offset::Neg(_)))
    };
    match e {
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => true,
        Expr::VectorSelector(vs) => at_ok(&vs.at, &vs.offset),
        Expr::MatrixSelector(ms) => at_ok(&ms.vs.at, &ms.vs.offset),
        Expr::Paren(p) => steps_independent(&p.expr),
        Expr::Unary(u) => steps_independent(&u.expr),
        Expr::Binary(b) => steps_independent(&b.lhs) && steps_independent(&b.rhs),
        Expr::Aggregate(a) => {
            steps_independent(&a.expr) && a.param.as_deref().is_none_or(steps_independent)
        }
        Expr::Subquery(s) => at_ok(&s.at, &s.offset) && steps_independent(&s.expr),
        // `start()`, `end()` and `range()` answer the query's own bounds.
        Expr::Call(c) => {
            !matches!(c.func.name, "start" | "end" | "range")
                && c.args.args.iter().all(|a| steps_independent(a))
        }
    }
}

#[cfg(test)]
#[path = "results_cache_tests.rs"]
mod tests;
