//! The results cache answers exactly what the engine answers, from as few evaluated
//! steps as the store's settled horizon allows.

use std::sync::RwLock;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use oxeye_core::{Labels, MetricsQuerier, MetricsQueryable, Sample, Settled, StoreError, TenantId};

use super::*;
use crate::promqltest::MemStore;

const MIN: i64 = 60_000;

/// A [`MemStore`] with a settled horizon and generation the test moves by hand.
struct Store {
    mem: RwLock<MemStore>,
    generation: AtomicU64,
    before: AtomicI64,
}

impl Store {
    fn new(mem: MemStore, before: i64) -> Self {
        Self {
            mem: RwLock::new(mem),
            generation: AtomicU64::new(0),
            before: AtomicI64::new(before),
        }
    }
}

impl MetricsQueryable for Store {
    fn querier(
        &self,
        tenant: &TenantId,
        mint: i64,
        maxt: i64,
    ) -> Result<Box<dyn MetricsQuerier>, StoreError> {
        self.mem.read().unwrap().querier(tenant, mint, maxt)
    }

    fn settled(&self, _tenant: &TenantId) -> Option<Settled> {
        Some(Settled {
            generation: self.generation.load(Ordering::SeqCst),
            before_ms: self.before.load(Ordering::SeqCst),
        })
    }
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs)
}

/// Three counters over `0..=minutes` at 15 s, one of them only after minute 50.
fn data(minutes: i64) -> MemStore {
    let mut m = MemStore::new();
    for (i, (job, inst)) in [("api", "a"), ("api", "b"), ("web", "c")]
        .iter()
        .enumerate()
    {
        let l = labels(&[("__name__", "reqs_total"), ("job", job), ("instance", inst)]);
        let first = if i == 2 { 50 * MIN } else { 0 };
        let samples = (first / 15_000..=minutes * 4)
            .map(|k| Sample::new(k * 15_000, (k * (i as i64 + 1)) as f64 + 0.5 * k as f64));
        m.add(l, samples);
    }
    m.add(
        labels(&[("__name__", "temp_celsius"), ("room", "x")]),
        (0..=minutes * 4).map(|k| Sample::new(k * 15_000, 20.0 + k as f64 % 7.0)),
    );
    m
}

fn tenant() -> TenantId {
    TenantId::new("t").unwrap()
}

fn both(
    cache: &ResultsCache,
    store: &Store,
    q: &str,
    start: i64,
    end: i64,
    step: i64,
) -> (Output, Output) {
    let engine = Engine::default();
    let cached = cache
        .range(&engine, store, &tenant(), q, start, end, step)
        .unwrap();
    let direct = engine.range(store, &tenant(), q, start, end, step).unwrap();
    (cached, direct)
}

#[test]
fn a_sliding_window_is_answered_from_the_cache_exactly() {
    let store = Store::new(data(120), 100 * MIN);
    let cache = ResultsCache::new(1 << 20);
    let q = "sum by (job) (rate(reqs_total[2m]))";
    let step = 60_000;
    let (first, direct) = both(&cache, &store, q, 0, 60 * MIN, step);
    assert_eq!(first, direct);
    let s = cache.stats();
    assert_eq!((s.hits, s.misses, s.entries), (0, 1, 1));
    assert_eq!(s.steps_evaluated, 61);
    // the window slides by 10 minutes; the steps up to minute 60 come from the cache
    let (second, direct) = both(&cache, &store, q, 10 * MIN, 70 * MIN, step);
    assert_eq!(second, direct);
    let s = cache.stats();
    assert_eq!((s.hits, s.misses), (1, 1));
    assert_eq!(s.steps_cached, 51);
    assert_eq!(s.steps_evaluated, 61 + 10);
    // the series that starts at minute 50 is in both parts, the others everywhere
    let Value::Matrix(m) = &second.value else {
        panic!("matrix expected")
    };
    assert_eq!(m.len(), 2);
    // the horizon (minute 100) bounds what is kept: past it, steps are evaluated each time
    let (third, direct) = both(&cache, &store, q, 60 * MIN, 120 * MIN, step);
    assert_eq!(third, direct);
    let (fourth, direct) = both(&cache, &store, q, 60 * MIN, 120 * MIN, step);
    assert_eq!(fourth, direct);
    let s = cache.stats();
    assert_eq!(s.steps_cached, 51 + 11 + 41);
    assert_eq!(s.steps_evaluated, 71 + 50 + 20);
}

#[test]
fn a_new_generation_drops_what_was_cached() {
    let store = Store::new(data(60), 60 * MIN);
    let cache = ResultsCache::new(1 << 20);
    let q = "sum(reqs_total)";
    let (before, _) = both(&cache, &store, q, 0, 30 * MIN, MIN);
    // an old sample changes without the store saying so: the cache still answers the
    // old value (so it really answered from memory) ...
    store.mem.write().unwrap().add(
        labels(&[
            ("__name__", "reqs_total"),
            ("job", "api"),
            ("instance", "a"),
        ]),
        [Sample::new(10 * MIN, 1e6)],
    );
    let (stale, direct) = both(&cache, &store, q, 0, 30 * MIN, MIN);
    assert_eq!(stale, before);
    assert_ne!(stale, direct);
    // ... and once the generation moves, the new data is answered
    store.generation.fetch_add(1, Ordering::SeqCst);
    let (fresh, direct) = both(&cache, &store, q, 0, 30 * MIN, MIN);
    assert_eq!(fresh, direct);
    assert_ne!(fresh, before);
}

#[test]
fn steps_past_the_horizon_are_always_evaluated() {
    let store = Store::new(data(60), 20 * MIN);
    let cache = ResultsCache::new(1 << 20);
    let q = "sum(reqs_total)";
    both(&cache, &store, q, 0, 30 * MIN, MIN);
    store.mem.write().unwrap().add(
        labels(&[
            ("__name__", "reqs_total"),
            ("job", "api"),
            ("instance", "a"),
        ]),
        [Sample::new(25 * MIN, 1e6)],
    );
    let (after, direct) = both(&cache, &store, q, 0, 30 * MIN, MIN);
    assert_eq!(after, direct);
    assert_eq!(cache.stats().steps_cached, 21);
}

#[test]
fn queries_whose_steps_are_not_independent_or_aligned_bypass_the_cache() {
    let store = Store::new(data(60), 60 * MIN);
    let cache = ResultsCache::new(1 << 20);
    for (q, start) in [
        ("sum(reqs_total)", 30_000),
        ("sum(reqs_total @ 600)", 0),
        ("sum(reqs_total offset -5m)", 0),
        ("sum(rate(reqs_total[5m:1m] @ end()))", 0),
        ("vector(end()) - time()", 0),
        ("sum(reqs_total) + start() + range()", 0),
    ] {
        let (a, b) = both(&cache, &store, q, start, 30 * MIN + start, MIN);
        assert_eq!(a, b, "{q}");
        // a window that slides would see the first answer's bounds
        let (a, b) = both(&cache, &store, q, 5 * MIN + start, 35 * MIN + start, MIN);
        assert_eq!(a, b, "{q}");
    }
    let s = cache.stats();
    assert_eq!((s.uncacheable, s.entries), (12, 0));
}

#[test]
fn an_unaligned_end_keeps_later_steps_on_the_grid() {
    let store = Store::new(data(60), 60 * MIN);
    let cache = ResultsCache::new(1 << 20);
    let q = "sum(reqs_total)";
    let (a, b) = both(&cache, &store, q, 0, 25 * MIN + 30_000, MIN);
    assert_eq!(a, b);
    let (a, b) = both(&cache, &store, q, 10 * MIN, 45 * MIN, MIN);
    assert_eq!(a, b);
    assert_eq!(cache.stats().hits, 1);
}

/// The test data plus a gauge scraped every 15 s from minute 40 to minute 60, settled
/// up to `horizon`.
fn with_late_gauge(horizon: i64) -> Store {
    let mut mem = data(60);
    mem.add(
        labels(&[("__name__", "late_gauge")]),
        (160..=240).map(|k| Sample::new(k * 15_000, k as f64)),
    );
    Store::new(mem, horizon)
}

/// A query annotated (rate over a gauge) only at the steps the late gauge has data for.
const LATE_Q: &str = "rate(late_gauge[5m]) or rate(reqs_total[5m])";

#[test]
fn notes_of_unsettled_steps_are_not_kept() {
    // a gauge under rate() from minute 40 on, past the horizon at minute 30
    let store = with_late_gauge(30 * MIN);
    let cache = ResultsCache::new(1 << 20);
    let q = LATE_Q;
    let (a, b) = both(&cache, &store, q, 0, 50 * MIN, MIN);
    assert_eq!(a, b);
    assert!(!a.infos.is_empty());
    // the same start over steps without the gauge: no note
    let (a, b) = both(&cache, &store, q, 0, 35 * MIN, MIN);
    assert_eq!(a, b);
    assert!(a.infos.is_empty());
    assert_eq!(cache.stats().hits, 1);
}

#[test]
fn annotated_answers_are_reused_only_from_their_first_step() {
    let store = Store::new(data(60), 60 * MIN);
    let cache = ResultsCache::new(1 << 20);
    // rate over a gauge is annotated, whatever the window
    let q = "rate(temp_celsius[5m]) or rate(reqs_total[5m])";
    for _ in 0..2 {
        let (a, b) = both(&cache, &store, q, 0, 30 * MIN, MIN);
        assert_eq!(a, b);
        assert!(!a.infos.is_empty());
    }
    assert_eq!(cache.stats().hits, 1);
    // a slid window could carry a note of a step it no longer has: evaluated in full
    let (a, b) = both(&cache, &store, q, 5 * MIN, 35 * MIN, MIN);
    assert_eq!(a, b);
    let s = cache.stats();
    assert_eq!((s.hits, s.misses), (1, 2));
    // and the extent starting there serves the same window again, notes included
    let (a, b) = both(&cache, &store, q, 5 * MIN, 40 * MIN, MIN);
    assert_eq!(a, b);
    assert_eq!(cache.stats().hits, 2);
}

#[test]
fn an_unannotated_extent_joins_an_annotated_rest() {
    // the gauge's series starts at minute 40: the early steps have no note, the later do
    let store = with_late_gauge(60 * MIN);
    let cache = ResultsCache::new(1 << 20);
    let q = LATE_Q;
    let (a, b) = both(&cache, &store, q, 0, 30 * MIN, MIN);
    assert_eq!(a, b);
    assert!(a.infos.is_empty());
    let (a, b) = both(&cache, &store, q, 0, 50 * MIN, MIN);
    assert_eq!(a, b);
    assert!(!a.infos.is_empty());
    assert_eq!(cache.stats().hits, 1);
}

#[test]
fn the_byte_budget_is_kept() {
    let store = Store::new(data(60), 60 * MIN);
    let unbounded = ResultsCache::new(1 << 30);
    let q = |i: i64| format!("sum by (job) (reqs_total) + {i}");
    both(&unbounded, &store, &q(0), 0, 60 * MIN, MIN);
    let one = unbounded.stats().bytes;
    assert!(one > 0);
    // room for four extents (and an extent may take a quarter): the oldest go first
    let cache = ResultsCache::new(one * 4);
    for i in 0..6 {
        both(&cache, &store, &q(i), 0, 60 * MIN, MIN);
        assert!(cache.stats().bytes <= one * 4);
    }
    assert_eq!(cache.stats().entries, 4);
    // the newest is still there
    both(&cache, &store, &q(5), 0, 60 * MIN, MIN);
    assert_eq!(cache.stats().hits, 1);
    // a zero budget keeps nothing and still answers
    let none = ResultsCache::new(0);
    let (a, b) = both(&none, &store, &q(0), 0, 60 * MIN, MIN);
    assert_eq!(a, b);
    assert_eq!(none.stats().entries, 0);
}
