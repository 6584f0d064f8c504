//! Range aggregations: one pass over the selected streams turns every kept line into a
//! point `(ts, value)` of its series (its label set after the pipeline, or the
//! range aggregation's `by`/`without` grouping); each series' points are then swept
//! once across the steps with two cursors, windows being left-open `(t - range, t]`
//! shifted back by `offset`. Streams are read on up to four threads, each building its
//! own groups; the groups are merged by key before the sweep.
//!
//! The windows' starts and ends cut time into segments, each window being a run of
//! consecutive segments (when windows do not overlap, one segment each). Lines in no
//! window are skipped before the pipeline, and the operations that fold (`count`,
//! `rate`, `bytes_*`, `sum`, `avg`, `min`, `max`, `absent`) add each line to its
//! segment's accumulator instead of keeping a point, so memory is bounded by series x
//! steps, not by lines; the windows are then folded from the segments with a sliding
//! two-stack queue (no subtraction, so sums lose no precision).

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use oxeye_core::logs::{Direction, LogQueryable, LogSelect, LogSeries};
use oxeye_core::{Label, Labels, MatchOp, Sample, TenantId};

use crate::ast::{Grouping, RangeAgg, RangeOp, UnwrapConv};
use crate::pipeline::filters::LabelFilterEval;
use crate::pipeline::labels::ERROR;
use crate::pipeline::{LogPipeline, Scratch};
use crate::units::{parse_bytes, parse_duration};
use crate::{EngineLimits, LogqlError, QueryStats};

/// A series of points before windowing, or of per-step accumulators.
struct Group {
    labels: Labels,
    points: Vec<(i64, f64)>,
    /// `(segment index, accumulator)`, when the operation folds; an index may repeat
    /// (lines of several streams) until [`compact`].
    buckets: Vec<(usize, Acc)>,
}

/// What the folding operations need of one window's values.
#[derive(Debug, Clone, Copy)]
struct Acc {
    n: f64,
    sum: f64,
    min: f64,
    max: f64,
}

impl Acc {
    fn new(v: f64) -> Self {
        Self {
            n: 1.0,
            sum: v,
            min: v,
            max: v,
        }
    }

    fn merge(&mut self, o: &Acc) {
        self.n += o.n;
        self.sum += o.sum;
        self.min = self.min.min(o.min);
        self.max = self.max.max(o.max);
    }

    fn value(&self, agg: &RangeAgg) -> Option<f64> {
        let secs = agg.range_ns as f64 / 1e9;
        Some(match agg.op {
            RangeOp::Count => self.n,
            RangeOp::Rate if agg.unwrap.is_none() => self.n / secs,
            RangeOp::Rate | RangeOp::BytesRate => self.sum / secs,
            RangeOp::Bytes | RangeOp::Sum => self.sum,
            RangeOp::Avg => self.sum / self.n,
            RangeOp::Min => self.min,
            RangeOp::Max => self.max,
            _ => return None,
        })
    }
}

/// Whether `op` can be folded into per-step accumulators.
fn folds(op: RangeOp) -> bool {
    matches!(
        op,
        RangeOp::Count
            | RangeOp::Rate
            | RangeOp::Bytes
            | RangeOp::BytesRate
            | RangeOp::Sum
            | RangeOp::Avg
            | RangeOp::Min
            | RangeOp::Max
            | RangeOp::Absent
    )
}

/// The segments the steps' windows cut time into: segment `k` is `(bounds[k - 1],
/// bounds[k]]`; window `i` is the segments `spans[i].0 + 1 ..= spans[i].1`.
struct Segments {
    bounds: Vec<i64>,
    /// Whether a segment is in some window.
    covered: Vec<bool>,
    spans: Vec<(usize, usize)>,
}

impl Segments {
    fn new(agg: &RangeAgg, steps: &[i64]) -> Self {
        let windows: Vec<(i64, i64)> = steps.iter().map(|t| window(agg, *t)).collect();
        let mut bounds: Vec<i64> = windows.iter().flat_map(|(s, e)| [*s, *e]).collect();
        bounds.sort_unstable();
        bounds.dedup();
        let at = |x: i64| bounds.partition_point(|b| *b < x);
        let spans: Vec<(usize, usize)> = windows.iter().map(|(s, e)| (at(*s), at(*e))).collect();
        // How many windows start before each segment, less those that ended.
        let mut delta = vec![0i64; bounds.len() + 1];
        for (a, b) in &spans {
            if b > a {
                if let Some(d) = delta.get_mut(a + 1) {
                    *d += 1;
                }
                if let Some(d) = delta.get_mut(b + 1) {
                    *d -= 1;
                }
            }
        }
        let mut open = 0i64;
        let covered: Vec<bool> = delta
            .iter()
            .take(bounds.len())
            .map(|d| {
                open += d;
                open > 0
            })
            .collect();
        Self {
            bounds,
            covered,
            spans,
        }
    }

    /// The segment holding `ts`, when some window holds it.
    fn index(&self, ts: i64) -> Option<usize> {
        let k = self.bounds.partition_point(|b| *b < ts);
        self.covered.get(k).copied().unwrap_or(false).then_some(k)
    }
}

/// A FIFO of `(segment, accumulator)` that folds its content in amortised O(1): pushes go
/// to the back, with a running fold; pops come from the front, which holds suffix folds.
#[derive(Default)]
struct SlidingFold {
    front: Vec<(usize, Acc)>,
    back: Vec<(usize, Acc)>,
    back_fold: Option<Acc>,
}

impl SlidingFold {
    fn push(&mut self, k: usize, acc: Acc) {
        match &mut self.back_fold {
            Some(f) => f.merge(&acc),
            None => self.back_fold = Some(acc),
        }
        self.back.push((k, acc));
    }

    /// The segment of the oldest entry.
    fn oldest(&mut self) -> Option<usize> {
        if self.front.is_empty() {
            self.back_fold = None;
            while let Some((k, mut acc)) = self.back.pop() {
                if let Some((_, later)) = self.front.last() {
                    acc.merge(later);
                }
                self.front.push((k, acc));
            }
        }
        self.front.last().map(|(k, _)| *k)
    }

    fn pop(&mut self) {
        if self.oldest().is_some() {
            self.front.pop();
        }
    }

    fn fold(&self) -> Option<Acc> {
        match (self.front.last(), &self.back_fold) {
            (Some((_, f)), Some(b)) => {
                let mut f = *f;
                f.merge(b);
                Some(f)
            }
            (Some((_, f)), None) => Some(*f),
            (None, b) => *b,
        }
    }
}

/// Folds a group's compacted segments into one sample per step whose window holds any.
fn sweep_buckets(
    agg: &RangeAgg,
    buckets: &[(usize, Acc)],
    segments: &Segments,
    steps: &[i64],
) -> Vec<Sample> {
    let mut out = Vec::new();
    let mut q = SlidingFold::default();
    let mut next = 0usize;
    for (&t, &(a, b)) in steps.iter().zip(&segments.spans) {
        while let Some((k, acc)) = buckets.get(next).filter(|(k, _)| *k <= b) {
            q.push(*k, *acc);
            next += 1;
        }
        while q.oldest().is_some_and(|k| k <= a) {
            q.pop();
        }
        if let Some(v) = q.fold().and_then(|f| f.value(agg)) {
            out.push(Sample::new(t, v));
        }
    }
    out
}

/// Sorts a group's buckets by step and merges those of the same step.
fn compact(buckets: &mut Vec<(usize, Acc)>) {
    buckets.sort_by_key(|b| b.0);
    let mut out: Vec<(usize, Acc)> = Vec::with_capacity(buckets.len());
    for (i, acc) in buckets.drain(..) {
        match out.last_mut() {
            Some(last) if last.0 == i => last.1.merge(&acc),
            _ => out.push((i, acc)),
        }
    }
    *buckets = out;
}

/// Which labels identify a series. `__error__` always does, whatever the grouping, so a
/// pipeline error reaches the check after the scan (as Loki groups only lines without
/// an error).
fn key_filter<'a>(grouping: Option<&'a Grouping>) -> Box<dyn Fn(&str) -> bool + Send + Sync + 'a> {
    match grouping {
        None => Box::new(|_| true),
        Some(g) if g.without => {
            Box::new(move |n: &str| n == ERROR || !g.labels.iter().any(|l| l == n))
        }
        Some(g) => Box::new(move |n: &str| n == ERROR || g.labels.iter().any(|l| l == n)),
    }
}

fn convert(conv: UnwrapConv, v: &str) -> Result<f64, String> {
    let v = v.trim();
    match conv {
        UnwrapConv::Number => v
            .parse::<f64>()
            .map_err(|_| format!("strconv.ParseFloat: parsing {v:?}: invalid syntax")),
        UnwrapConv::Duration | UnwrapConv::DurationSeconds => parse_duration(v)
            .map(|ns| ns as f64 / 1e9)
            .ok_or_else(|| format!("time: invalid duration {v:?}")),
        UnwrapConv::Bytes => parse_bytes(v)
            .map(|b| b as f64)
            .ok_or_else(|| format!("invalid bytes value {v:?}")),
    }
}

/// Evaluates a range aggregation at each step (ms). `grouping` is the aggregation's own
/// `by`/`without`, or one pushed down from an enclosing `sum by`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn eval(
    store: &dyn LogQueryable,
    limits: &EngineLimits,
    tenant: &TenantId,
    agg: &RangeAgg,
    grouping: Option<&Grouping>,
    steps: &[i64],
    deadline: Option<Instant>,
    stats: &mut QueryStats,
) -> Result<Vec<(Labels, Vec<Sample>)>, LogqlError> {
    let (Some(&first), Some(&last)) = (steps.first(), steps.last()) else {
        return Ok(Vec::new());
    };
    let needed: Option<Vec<String>> = match grouping {
        Some(g) if !g.without => {
            let mut n = g.labels.clone();
            if let Some(u) = &agg.unwrap {
                n.push(u.label.clone());
                // Label filters after the unwrap read labels too.
                for f in &u.post_filters {
                    if let Ok(eval) = LabelFilterEval::new(f) {
                        eval.names(&mut n);
                    }
                }
            }
            Some(n)
        }
        _ => None,
    };
    let pipeline = LogPipeline::compile(&agg.log, needed.as_deref())?;
    let post: Vec<LabelFilterEval> = match &agg.unwrap {
        Some(u) => u
            .post_filters
            .iter()
            .map(LabelFilterEval::new)
            .collect::<Result<_, _>>()
            .map_err(LogqlError::BadQuery)?,
        None => Vec::new(),
    };
    let range = agg.range_ns;
    let offset = agg.offset_ns;
    let select = LogSelect {
        start_ns: first
            .saturating_mul(1_000_000)
            .saturating_sub(offset)
            .saturating_sub(range)
            .saturating_add(1),
        end_ns: last
            .saturating_mul(1_000_000)
            .saturating_sub(offset)
            .saturating_add(1),
        line_contains: pipeline.line_hints().to_vec(),
        metadata_equals: pipeline.metadata_hints().to_vec(),
    };
    let series = store.select_logs(tenant, pipeline.matchers(), &select)?;
    let filter = key_filter(grouping);
    let scanned = AtomicU64::new(0);
    let segments = Segments::new(agg, steps);
    let ctx = Ctx {
        segments: &segments,
        fold: folds(agg.op),
        steps: steps.len(),
        agg,
        pipeline: &pipeline,
        post: &post,
        filter: filter.as_ref(),
        start_ns: select.start_ns,
        end_ns: select.end_ns,
        limits,
        scanned: &scanned,
        deadline,
    };
    // Streams are spread over a few threads (interleaved, as their sizes are unknown);
    // each builds its own groups, merged by key afterwards.
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(MAX_THREADS)
        .min(series.len())
        .max(1);
    let parts: Vec<Result<Scanned, LogqlError>> = if workers == 1 {
        vec![scan(&ctx, series.iter())]
    } else {
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..workers)
                .map(|w| {
                    let ctx = &ctx;
                    let series = &series;
                    scope.spawn(move || scan(ctx, series.iter().skip(w).step_by(workers)))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(LogqlError::BadQuery(
                            "a range aggregation worker failed".into(),
                        ))
                    })
                })
                .collect()
        })
    };
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut groups: Vec<Group> = Vec::new();
    for part in parts {
        let part = part?;
        stats.entries_scanned += part.entries;
        stats.bytes_scanned += part.bytes;
        for (key, g) in part.groups {
            match index.get(&key) {
                Some(&i) => {
                    if let Some(existing) = groups.get_mut(i) {
                        existing.points.extend(g.points);
                        existing.buckets.extend(g.buckets);
                    }
                }
                None => {
                    index.insert(key, groups.len());
                    groups.push(g);
                }
            }
        }
        if groups.len() > LEAF_MAX_SERIES {
            return Err(too_many_leaf_series());
        }
    }
    if let Some(g) = groups.iter().find(|g| g.labels.get(ERROR).is_some()) {
        let kind = g.labels.get(ERROR).unwrap_or("");
        return Err(LogqlError::BadQuery(format!(
            "pipeline error: '{kind}' for series: '{}'. Use a label filter to intentionally \
             skip this error. (e.g | __error__!=\"{kind}\"). To skip all potential errors you \
             can match empty errors. (e.g __error__=\"\"). The label filter can also be \
             specified after unwrap. (e.g | unwrap latency | __error__=\"\")",
            format_labels(&g.labels)
        )));
    }
    if agg.op == RangeOp::Absent {
        return Ok(absent(agg, &mut groups, &segments, steps));
    }
    let mut out = Vec::with_capacity(groups.len());
    for mut g in groups {
        if ctx.fold {
            compact(&mut g.buckets);
            let samples = sweep_buckets(agg, &g.buckets, &segments, steps);
            if !samples.is_empty() {
                out.push((g.labels, samples));
            }
            continue;
        }
        if !g.points.windows(2).all(|w| w[0].0 <= w[1].0) {
            g.points.sort_by_key(|p| p.0);
        }
        let samples = sweep(agg, &g.points, steps);
        if !samples.is_empty() {
            out.push((g.labels, samples));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Most threads one range aggregation reads its streams on.
const MAX_THREADS: usize = 4;

/// Most series one range aggregation may build before the operators above it reduce
/// them (the result itself is held to `EngineLimits::max_series`); a bound on memory.
pub(crate) const LEAF_MAX_SERIES: usize = 1_000_000;

fn timeout(ctx: &Ctx<'_>) -> LogqlError {
    LogqlError::Timeout {
        entries: ctx.scanned.load(Ordering::Relaxed),
    }
}

fn too_many_leaf_series() -> LogqlError {
    LogqlError::BadQuery(format!(
        "maximum of series ({LEAF_MAX_SERIES}) reached for a range aggregation of a single \
         query: group it (sum by) or filter it"
    ))
}

/// What every thread reading streams of one range aggregation shares.
struct Ctx<'a> {
    agg: &'a RangeAgg,
    /// The segments of the steps' windows.
    segments: &'a Segments,
    /// Whether lines are folded into per-segment accumulators rather than kept as points.
    fold: bool,
    /// How many steps there are.
    steps: usize,
    pipeline: &'a LogPipeline,
    post: &'a [LabelFilterEval],
    filter: &'a (dyn Fn(&str) -> bool + Send + Sync),
    start_ns: i64,
    end_ns: i64,
    limits: &'a EngineLimits,
    /// Entries read by all threads, against `max_entries_scanned`.
    scanned: &'a AtomicU64,
    /// When to give up.
    deadline: Option<Instant>,
}

/// The groups one thread built, keyed, and what it read.
struct Scanned {
    groups: Vec<(String, Group)>,
    entries: u64,
    bytes: u64,
}

/// Runs the pipeline over `series`, turning kept lines into points of their groups.
fn scan<'s>(
    ctx: &Ctx<'_>,
    series: impl Iterator<Item = &'s LogSeries>,
) -> Result<Scanned, LogqlError> {
    let agg = ctx.agg;
    let mut out = Scanned {
        groups: Vec::new(),
        entries: 0,
        bytes: 0,
    };
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut sc = Scratch::default();
    let mut key = String::new();
    let mut order = Vec::new();
    let mut failure: Option<LogqlError> = None;
    for s in series {
        s.data.for_each_chunk(Direction::Forward, &mut |chunk| {
            if super::past(ctx.deadline) {
                failure = Some(timeout(ctx));
                return ControlFlow::Break(());
            }
            out.entries += chunk.len() as u64;
            let total =
                ctx.scanned.fetch_add(chunk.len() as u64, Ordering::Relaxed) + chunk.len() as u64;
            if total > ctx.limits.max_entries_scanned {
                failure = Some(LogqlError::BadQuery(format!(
                    "the query would read more than {} entries (max_entries_scanned)",
                    ctx.limits.max_entries_scanned
                )));
                return ControlFlow::Break(());
            }
            for (i, entry) in chunk.iter().enumerate() {
                if (i as u64 + 1) % super::DEADLINE_EVERY == 0 && super::past(ctx.deadline) {
                    failure = Some(timeout(ctx));
                    return ControlFlow::Break(());
                }
                out.bytes += entry.line.len() as u64;
                if entry.ts_ns < ctx.start_ns || entry.ts_ns >= ctx.end_ns {
                    continue;
                }
                let Some(segment) = ctx.segments.index(entry.ts_ns) else {
                    // In no step's window.
                    continue;
                };
                if !ctx.pipeline.prefilter(&entry.line)
                    || !ctx.pipeline.run(&s.labels, entry, &mut sc)
                {
                    continue;
                }
                let value = match (&agg.unwrap, agg.op) {
                    (Some(u), _) => {
                        let Some(raw) = sc.labels.get(&u.label) else {
                            continue;
                        };
                        if raw.is_empty() {
                            continue;
                        }
                        let v = match convert(u.conv, raw) {
                            Ok(v) => v,
                            Err(e) => {
                                sc.labels.set_error("SampleExtractionErr", &e);
                                0.0
                            }
                        };
                        sc.labels.del(&u.label);
                        if !ctx.post.iter().all(|f| f.keep(&mut sc.labels)) {
                            continue;
                        }
                        v
                    }
                    (None, RangeOp::Bytes | RangeOp::BytesRate) => {
                        sc.line(&entry.line).len() as f64
                    }
                    (None, _) => 1.0,
                };
                sc.labels.key(&mut key, ctx.filter, &mut order);
                let i = match index.get(key.as_str()) {
                    Some(i) => *i,
                    None => {
                        if out.groups.len() >= LEAF_MAX_SERIES {
                            failure = Some(too_many_leaf_series());
                            return ControlFlow::Break(());
                        }
                        out.groups.push((
                            key.clone(),
                            Group {
                                labels: sc.labels.labels_filtered(ctx.filter),
                                points: Vec::new(),
                                buckets: Vec::new(),
                            },
                        ));
                        index.insert(key.clone(), out.groups.len() - 1);
                        out.groups.len() - 1
                    }
                };
                let Some((_, g)) = out.groups.get_mut(i) else {
                    continue;
                };
                if !ctx.fold {
                    g.points.push((entry.ts_ns, value));
                    continue;
                }
                match g.buckets.last_mut() {
                    Some(last) if last.0 == segment => last.1.merge(&Acc::new(value)),
                    _ => {
                        g.buckets.push((segment, Acc::new(value)));
                        // Streams feeding one group interleave segments: merge them
                        // before they outnumber the segments.
                        if g.buckets.len() > ctx.steps.saturating_mul(4).max(64) {
                            compact(&mut g.buckets);
                        }
                    }
                }
            }
            ControlFlow::Continue(())
        })?;
        if let Some(f) = failure.take() {
            return Err(f);
        }
    }
    Ok(out)
}

/// `{a="b", c="d"}`.
pub(crate) fn format_labels(l: &Labels) -> String {
    let parts: Vec<String> = l
        .iter()
        .map(|l| format!("{}={}", l.name, crate::ast::quote(&l.value)))
        .collect();
    format!("{{{}}}", parts.join(", "))
}

/// Window bounds (ns, left-open) of the step at `t_ms`.
fn window(agg: &RangeAgg, t_ms: i64) -> (i64, i64) {
    let end = t_ms.saturating_mul(1_000_000).saturating_sub(agg.offset_ns);
    (end.saturating_sub(agg.range_ns), end)
}

fn sweep(agg: &RangeAgg, points: &[(i64, f64)], steps: &[i64]) -> Vec<Sample> {
    let mut out = Vec::new();
    let (mut lo, mut hi) = (0usize, 0usize);
    for &t in steps {
        let (start, end) = window(agg, t);
        while hi < points.len() && points.get(hi).is_some_and(|p| p.0 <= end) {
            hi += 1;
        }
        while lo < hi && points.get(lo).is_some_and(|p| p.0 <= start) {
            lo += 1;
        }
        let Some(win) = points.get(lo..hi) else {
            continue;
        };
        if win.is_empty() {
            continue;
        }
        if let Some(v) = aggregate(agg, win) {
            out.push(Sample::new(t, v));
        }
    }
    out
}

fn aggregate(agg: &RangeAgg, win: &[(i64, f64)]) -> Option<f64> {
    let secs = agg.range_ns as f64 / 1e9;
    let n = win.len() as f64;
    let sum = || win.iter().map(|p| p.1).sum::<f64>();
    Some(match agg.op {
        RangeOp::Count => n,
        RangeOp::Rate if agg.unwrap.is_none() => n / secs,
        RangeOp::Rate => sum() / secs,
        RangeOp::Bytes => sum(),
        RangeOp::BytesRate => sum() / secs,
        RangeOp::Sum => sum(),
        RangeOp::Avg => sum() / n,
        RangeOp::Min => win.iter().map(|p| p.1).fold(f64::INFINITY, f64::min),
        RangeOp::Max => win.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max),
        RangeOp::First => win.first()?.1,
        RangeOp::Last => win.last()?.1,
        RangeOp::Stddev => variance(win).sqrt(),
        RangeOp::Stdvar => variance(win),
        RangeOp::Quantile => quantile(agg.param.unwrap_or(0.5), win),
        RangeOp::RateCounter => counter_rate(win, agg.range_ns),
        RangeOp::Absent => return None,
    })
}

/// Population variance (Welford).
fn variance(win: &[(i64, f64)]) -> f64 {
    let (mut mean, mut m2, mut n) = (0.0, 0.0, 0.0);
    for p in win {
        n += 1.0;
        let d = p.1 - mean;
        mean += d / n;
        m2 += d * (p.1 - mean);
    }
    m2 / n
}

/// Prometheus's quantile: linear interpolation between closest ranks.
fn quantile(q: f64, win: &[(i64, f64)]) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    let mut v: Vec<f64> = win.iter().map(|p| p.1).collect();
    v.sort_by(f64::total_cmp);
    let n = v.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let w = rank - lower;
    let a = v.get(lower as usize).copied().unwrap_or(f64::NAN);
    let b = v.get(upper as usize).copied().unwrap_or(f64::NAN);
    a * (1.0 - w) + b * w
}

/// Loki's `rate_counter`: Prometheus's extrapolated counter rate, except that the range
/// is taken to end at the last sample and start `range` before the first one (times
/// in milliseconds). Fewer than two samples give 0.
fn counter_rate(win: &[(i64, f64)], range_ns: i64) -> f64 {
    let (Some(first), Some(last)) = (win.first(), win.last()) else {
        return 0.0;
    };
    if win.len() < 2 {
        return 0.0;
    }
    let ms = |ns: i64| ns.div_euclid(1_000_000);
    let range_ms = range_ns / 1_000_000;
    let mut delta = last.1 - first.1;
    let mut prev = 0.0;
    for p in win {
        if p.1 < prev {
            delta += prev;
        }
        prev = p.1;
    }
    let sampled = ms(last.0).saturating_sub(ms(first.0)) as f64 / 1000.0;
    let avg_interval = sampled / (win.len() as f64 - 1.0);
    let mut to_start = range_ms as f64 / 1000.0;
    let to_end = 0.0;
    if delta > 0.0 && first.1 >= 0.0 {
        let to_zero = sampled * (first.1 / delta);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    let threshold = avg_interval * 1.1;
    let mut extrapolate = sampled;
    extrapolate += if to_start < threshold {
        to_start
    } else {
        avg_interval / 2.0
    };
    extrapolate += if to_end < threshold {
        to_end
    } else {
        avg_interval / 2.0
    };
    delta * (extrapolate / sampled) / (range_ns as f64 / 1e9)
}

/// `absent_over_time`: 1 at steps where no series has a point, labelled with the
/// selector's equality matchers.
fn absent(
    agg: &RangeAgg,
    groups: &mut [Group],
    segments: &Segments,
    steps: &[i64],
) -> Vec<(Labels, Vec<Sample>)> {
    let mut all: Vec<i64> = groups
        .iter()
        .flat_map(|g| g.points.iter().map(|p| p.0))
        .collect();
    all.sort_unstable();
    // The segments holding lines of any group.
    let mut held: Vec<usize> = groups
        .iter_mut()
        .flat_map(|g| g.buckets.drain(..).map(|(k, _)| k))
        .collect();
    held.sort_unstable();
    held.dedup();
    let mut samples = Vec::new();
    for (&t, &(a, b)) in steps.iter().zip(&segments.spans) {
        let (start, end) = window(agg, t);
        let lo = all.partition_point(|x| *x <= start);
        let hi = all.partition_point(|x| *x <= end);
        let seg_lo = held.partition_point(|k| *k <= a);
        let seg_hi = held.partition_point(|k| *k <= b);
        if lo >= hi && seg_lo >= seg_hi {
            samples.push(Sample::new(t, 1.0));
        }
    }
    if samples.is_empty() {
        return Vec::new();
    }
    // As Loki: a name with a non-equality matcher or a second matcher is left out.
    let mut labels: Vec<Label> = Vec::new();
    let mut dropped: Vec<&str> = Vec::new();
    for m in &agg.log.matchers {
        if m.name == "__name__" {
            continue;
        }
        if m.op == MatchOp::Equal && !labels.iter().any(|l| l.name == m.name) {
            labels.push(Label::new(m.name.clone(), m.value.clone()));
        } else {
            dropped.push(&m.name);
        }
    }
    labels.retain(|l| !dropped.contains(&l.name.as_str()));
    vec![(Labels::new(labels), samples)]
}

#[cfg(test)]
mod tests;
