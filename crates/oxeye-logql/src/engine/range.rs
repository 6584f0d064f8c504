//! Range aggregations: one pass over the selected streams turns every kept line into a
//! point `(ts, value)` of its series (its label set after the pipeline, or the
//! range aggregation's `by`/`without` grouping); each series' points are then swept
//! once across the steps with two cursors, windows being left-open `(t - range, t]`
//! shifted back by `offset`. Streams are read on up to four threads, each building its
//! own groups; the groups are merged by key before the sweep.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicU64, Ordering};

use oxeye_core::logs::{Direction, LogQueryable, LogSelect, LogSeries};
use oxeye_core::{Label, Labels, MatchOp, Sample, TenantId};

use crate::ast::{Grouping, RangeAgg, RangeOp, UnwrapConv};
use crate::pipeline::filters::LabelFilterEval;
use crate::pipeline::labels::ERROR;
use crate::pipeline::{LogPipeline, Scratch};
use crate::units::{parse_bytes, parse_duration};
use crate::{EngineLimits, LogqlError, QueryStats};

/// A series of points before windowing.
struct Group {
    labels: Labels,
    points: Vec<(i64, f64)>,
}

/// Which labels identify a series.
fn key_filter<'a>(grouping: Option<&'a Grouping>) -> Box<dyn Fn(&str) -> bool + Send + Sync + 'a> {
    match grouping {
        None => Box::new(|_| true),
        Some(g) if g.without => Box::new(move |n: &str| !g.labels.iter().any(|l| l == n)),
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
    };
    let series = store.select_logs(tenant, pipeline.matchers(), &select)?;
    let filter = key_filter(grouping);
    let scanned = AtomicU64::new(0);
    let ctx = Ctx {
        agg,
        pipeline: &pipeline,
        post: &post,
        filter: filter.as_ref(),
        start_ns: select.start_ns,
        end_ns: select.end_ns,
        limits,
        scanned: &scanned,
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
        return Ok(absent(agg, &groups, steps));
    }
    let mut out = Vec::with_capacity(groups.len());
    for mut g in groups {
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

fn too_many_leaf_series() -> LogqlError {
    LogqlError::BadQuery(format!(
        "maximum of series ({LEAF_MAX_SERIES}) reached for a range aggregation of a single \
         query: group it (sum by) or filter it"
    ))
}

/// What every thread reading streams of one range aggregation shares.
struct Ctx<'a> {
    agg: &'a RangeAgg,
    pipeline: &'a LogPipeline,
    post: &'a [LabelFilterEval],
    filter: &'a (dyn Fn(&str) -> bool + Send + Sync),
    start_ns: i64,
    end_ns: i64,
    limits: &'a EngineLimits,
    /// Entries read by all threads, against `max_entries_scanned`.
    scanned: &'a AtomicU64,
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
            for entry in chunk {
                out.bytes += entry.line.len() as u64;
                if entry.ts_ns < ctx.start_ns || entry.ts_ns >= ctx.end_ns {
                    continue;
                }
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
                            },
                        ));
                        index.insert(key.clone(), out.groups.len() - 1);
                        out.groups.len() - 1
                    }
                };
                if let Some((_, g)) = out.groups.get_mut(i) {
                    g.points.push((entry.ts_ns, value));
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
        if let Some(v) = aggregate(agg, win, start, end) {
            out.push(Sample::new(t, v));
        }
    }
    out
}

fn aggregate(agg: &RangeAgg, win: &[(i64, f64)], start: i64, end: i64) -> Option<f64> {
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
        RangeOp::RateCounter => return counter_rate(win, start, end),
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

/// Prometheus's extrapolated rate of a counter over `(start, end]` (ns).
fn counter_rate(win: &[(i64, f64)], start: i64, end: i64) -> Option<f64> {
    if win.len() < 2 {
        return None;
    }
    let first = win.first()?;
    let last = win.last()?;
    let mut delta = last.1 - first.1;
    let mut prev = first.1;
    for p in win.iter().skip(1) {
        if p.1 < prev {
            delta += prev;
        }
        prev = p.1;
    }
    let range_s = (end - start) as f64 / 1e9;
    let sampled = (last.0 - first.0) as f64 / 1e9;
    let avg_interval = sampled / (win.len() as f64 - 1.0);
    let mut to_start = (first.0 - start) as f64 / 1e9;
    let to_end = (end - last.0) as f64 / 1e9;
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
    if sampled == 0.0 {
        return None;
    }
    Some(delta * (extrapolate / sampled) / range_s)
}

/// `absent_over_time`: 1 at steps where no series has a point, labelled with the
/// selector's equality matchers.
fn absent(agg: &RangeAgg, groups: &[Group], steps: &[i64]) -> Vec<(Labels, Vec<Sample>)> {
    let mut all: Vec<i64> = groups
        .iter()
        .flat_map(|g| g.points.iter().map(|p| p.0))
        .collect();
    all.sort_unstable();
    let mut samples = Vec::new();
    for &t in steps {
        let (start, end) = window(agg, t);
        let lo = all.partition_point(|x| *x <= start);
        let hi = all.partition_point(|x| *x <= end);
        if lo >= hi {
            samples.push(Sample::new(t, 1.0));
        }
    }
    if samples.is_empty() {
        return Vec::new();
    }
    let mut labels: Vec<Label> = Vec::new();
    for m in &agg.log.matchers {
        if m.op == MatchOp::Equal && !labels.iter().any(|l| l.name == m.name) {
            labels.push(Label::new(m.name.clone(), m.value.clone()));
        }
    }
    vec![(Labels::new(labels), samples)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_and_variance() {
        let w: Vec<(i64, f64)> = [1.0, 2.0, 3.0, 4.0].iter().map(|v| (0, *v)).collect();
        assert_eq!(quantile(0.5, &w), 2.5);
        assert_eq!(quantile(1.0, &w), 4.0);
        assert_eq!(variance(&w), 1.25);
    }

    #[test]
    fn counter_rate_handles_resets() {
        let s = 1_000_000_000;
        let w = vec![(10 * s, 0.0), (20 * s, 10.0), (30 * s, 2.0), (40 * s, 12.0)];
        let r = counter_rate(&w, 0, 60 * s).unwrap();
        // delta 22 over 30s sampled; extrapolated to the zero point and to 45s.
        assert!(r > 0.0);
    }
}
