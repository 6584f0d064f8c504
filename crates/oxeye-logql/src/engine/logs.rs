//! Log queries: select the streams, run the pipeline over each stream's entries in the
//! asked direction (streams are spread over up to four threads), and keep the first
//! `limit` entries overall, grouped by their label sets.
//!
//! Each thread keeps its best `limit` entries in a heap whose top is the worst kept; a
//! stream is left as soon as its next entry comes after that worst entry in the asked
//! direction, so memory is bounded by threads x `limit` whatever the number of streams.
//! The threads' heaps are merged and cut to `limit`.
//!
//! With `interval`, Loki keeps an entry only when it is at least `interval` after the
//! previous entry kept across all streams, so the choice depends on the merged order:
//! a first pass records the time of every entry that passes the pipeline (8 bytes
//! each), the entries to keep are chosen on their merged order, and a second pass
//! builds just those entries.

use std::cmp::Ordering as CmpOrdering;
use std::collections::{BinaryHeap, HashMap};
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicU64, Ordering};

use oxeye_core::logs::{Direction, LogQueryable, LogSelect, LogSeries};
use oxeye_core::{Labels, TenantId};

use crate::ast::LogExpr;
use crate::pipeline::{LogPipeline, Scratch, result_entry};
use crate::{
    EngineLimits, LogqlError, LogqlValue, Output, Query, QueryStats, ResultEntry, StreamResult,
};

/// One kept entry with its labels. Ordered by `(rank, labels, seq)`: smaller comes
/// first in the asked direction (ties broken by labels so the answer does not depend on
/// store order, then by reading order).
struct Kept {
    rank: i64,
    seq: u64,
    labels: Labels,
    stream_labels: Labels,
    entry: ResultEntry,
}

impl Kept {
    fn key(&self) -> (i64, &Labels, u64) {
        (self.rank, &self.labels, self.seq)
    }
}

impl PartialEq for Kept {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for Kept {}

impl PartialOrd for Kept {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}

impl Ord for Kept {
    fn cmp(&self, other: &Self) -> CmpOrdering {
        self.key().cmp(&other.key())
    }
}

/// A timestamp as a rank: ascending ranks are the asked direction (`!ts` reverses the
/// order without overflow).
fn rank_of(direction: Direction, ts_ns: i64) -> i64 {
    match direction {
        Direction::Forward => ts_ns,
        Direction::Backward => !ts_ns,
    }
}

/// The best `limit` entries seen; the heap's top is the worst of them.
struct TopK {
    limit: usize,
    heap: BinaryHeap<Kept>,
}

impl TopK {
    fn new(limit: usize) -> Self {
        Self {
            limit,
            heap: BinaryHeap::new(),
        }
    }

    /// The rank of the worst kept entry once `limit` are kept: an entry ranked after it
    /// cannot be kept.
    fn bar(&self) -> Option<i64> {
        if self.heap.len() >= self.limit {
            self.heap.peek().map(|k| k.rank)
        } else {
            None
        }
    }

    fn push(&mut self, k: Kept) {
        if self.heap.len() < self.limit {
            self.heap.push(k);
        } else if self.heap.peek().is_some_and(|worst| k < *worst) {
            self.heap.pop();
            self.heap.push(k);
        }
    }
}

/// What a scan does with the entries that pass the pipeline.
enum Sink<'p> {
    /// Keeps the best `limit` entries.
    Top(TopK),
    /// Records the rank of every passing entry (first pass of an `interval` query).
    Ranks(Vec<i64>),
    /// Keeps the best entry at each of these ranks (ascending; second pass).
    At(&'p [i64], HashMap<i64, Kept>),
}

/// Most threads one log query reads its streams on.
const MAX_THREADS: usize = 4;

/// What the threads of one log query share.
struct Ctx<'a> {
    pipeline: &'a LogPipeline,
    deciding: Option<&'a LogPipeline>,
    q: &'a Query,
    limits: &'a EngineLimits,
    /// Entries read by all threads, against `max_entries_scanned`.
    scanned: &'a AtomicU64,
}

/// Runs the pipeline over `series`, handing the entries that pass to `sink`.
fn scan<'s>(
    ctx: &Ctx<'_>,
    series: impl Iterator<Item = &'s LogSeries>,
    sink: &mut Sink<'_>,
) -> Result<QueryStats, LogqlError> {
    let q = ctx.q;
    let mut stats = QueryStats::default();
    let mut sc = Scratch::default();
    let mut over_limit = false;
    let mut seq = 0u64;
    let mut timed_out = false;
    for s in series {
        s.data.for_each_chunk(q.direction, &mut |chunk| {
            if super::past(q.deadline) {
                timed_out = true;
                return ControlFlow::Break(());
            }
            for entry in chunk {
                // Entries come in the asked direction: once one ranks after what can
                // still be kept, so do the rest of the stream.
                let rank = rank_of(q.direction, entry.ts_ns);
                match sink {
                    Sink::Top(top) if top.bar().is_some_and(|bar| rank > bar) => {
                        return ControlFlow::Break(());
                    }
                    Sink::At(picks, _) if picks.last().is_none_or(|last| rank > *last) => {
                        return ControlFlow::Break(());
                    }
                    _ => {}
                }
                stats.entries_scanned += 1;
                if stats.entries_scanned % super::DEADLINE_EVERY == 0 && super::past(q.deadline) {
                    timed_out = true;
                    return ControlFlow::Break(());
                }
                stats.bytes_scanned += entry.line.len() as u64;
                if ctx.scanned.fetch_add(1, Ordering::Relaxed) >= ctx.limits.max_entries_scanned {
                    over_limit = true;
                    return ControlFlow::Break(());
                }
                if entry.ts_ns < q.start_ns || entry.ts_ns >= q.end_ns {
                    continue;
                }
                if let Sink::At(picks, _) = sink
                    && picks.binary_search(&rank).is_err()
                {
                    continue;
                }
                if !ctx.pipeline.prefilter(&entry.line)
                    || ctx
                        .deciding
                        .is_some_and(|d| !d.run(&s.labels, entry, &mut sc))
                    || !ctx.pipeline.run(&s.labels, entry, &mut sc)
                {
                    continue;
                }
                if let Sink::Ranks(ranks) = sink {
                    ranks.push(rank);
                    continue;
                }
                seq += 1;
                let kept = Kept {
                    rank,
                    seq,
                    labels: sc.labels.to_labels(),
                    stream_labels: sc.labels.stream_labels(),
                    entry: result_entry(&sc, entry),
                };
                match sink {
                    Sink::Top(top) => top.push(kept),
                    Sink::At(_, best) => {
                        if best.get(&rank).is_none_or(|b| kept < *b) {
                            best.insert(rank, kept);
                        }
                    }
                    Sink::Ranks(_) => {}
                }
            }
            ControlFlow::Continue(())
        })?;
        if timed_out {
            return Err(LogqlError::Timeout {
                entries: ctx.scanned.load(Ordering::Relaxed),
            });
        }
        if over_limit {
            return Err(LogqlError::BadQuery(format!(
                "the query would read more than {} entries (max_entries_scanned)",
                ctx.limits.max_entries_scanned
            )));
        }
    }
    Ok(stats)
}

/// Runs `scan` over `series` on up to [`MAX_THREADS`] threads (streams interleaved, as
/// their sizes are unknown), each with its own sink from `sink`.
fn scan_all<'p>(
    ctx: &Ctx<'_>,
    series: &[LogSeries],
    sink: impl Fn() -> Sink<'p> + Sync,
) -> Result<(Vec<Sink<'p>>, QueryStats), LogqlError> {
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(MAX_THREADS)
        .min(series.len())
        .max(1);
    let parts: Vec<Result<(Sink<'p>, QueryStats), LogqlError>> = if workers == 1 {
        let mut s = sink();
        vec![scan(ctx, series.iter(), &mut s).map(|st| (s, st))]
    } else {
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..workers)
                .map(|w| {
                    let sink = &sink;
                    scope.spawn(move || {
                        let mut s = sink();
                        scan(ctx, series.iter().skip(w).step_by(workers), &mut s).map(|st| (s, st))
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(LogqlError::BadQuery("a log query worker failed".into()))
                    })
                })
                .collect()
        })
    };
    let mut stats = QueryStats::default();
    let mut sinks = Vec::with_capacity(parts.len());
    for part in parts {
        let (s, st) = part?;
        stats.entries_scanned += st.entries_scanned;
        stats.bytes_scanned += st.bytes_scanned;
        sinks.push(s);
    }
    Ok((sinks, stats))
}

/// Loki's `interval`: from the merged ranks, the first, then each that is at least
/// `interval` after the last one chosen, up to `limit`.
fn pick(mut ranks: Vec<i64>, interval: i64, limit: usize) -> Vec<i64> {
    ranks.sort_unstable();
    let mut picks: Vec<i64> = Vec::new();
    for r in ranks {
        if picks.len() >= limit {
            break;
        }
        if picks
            .last()
            .is_none_or(|last| r >= last.saturating_add(interval))
        {
            picks.push(r);
        }
    }
    picks
}

/// Runs a log query.
pub(crate) fn run(
    store: &dyn LogQueryable,
    limits: &EngineLimits,
    tenant: &TenantId,
    expr: &LogExpr,
    q: &Query,
) -> Result<Output, LogqlError> {
    let pipeline = LogPipeline::compile(expr, None)?;
    // Decides which lines pass while extracting only the labels later stages read; the
    // full pipeline then runs on the lines that pass, to return all their labels.
    let deciding =
        Some(LogPipeline::compile(expr, Some(&[]))?).filter(LogPipeline::extracts_selectively);
    let select = LogSelect {
        start_ns: q.start_ns,
        end_ns: q.end_ns,
        line_contains: pipeline.line_hints().to_vec(),
        metadata_equals: pipeline.metadata_hints().to_vec(),
    };
    let series = store.select_logs(tenant, pipeline.matchers(), &select)?;
    let scanned = AtomicU64::new(0);
    let ctx = Ctx {
        pipeline: &pipeline,
        deciding: deciding.as_ref(),
        q,
        limits,
        scanned: &scanned,
    };
    let (kept, stats) = match q.interval_ns.filter(|i| *i > 0) {
        None => {
            let (sinks, stats) = scan_all(&ctx, &series, || Sink::Top(TopK::new(q.limit)))?;
            let mut kept: Vec<Kept> = Vec::new();
            for s in sinks {
                if let Sink::Top(top) = s {
                    kept.extend(top.heap.into_vec());
                }
            }
            kept.sort_unstable();
            kept.truncate(q.limit);
            (kept, stats)
        }
        Some(interval) => {
            let (sinks, mut stats) = scan_all(&ctx, &series, || Sink::Ranks(Vec::new()))?;
            let mut ranks: Vec<i64> = Vec::new();
            for s in sinks {
                if let Sink::Ranks(r) = s {
                    ranks.extend(r);
                }
            }
            let picks = pick(ranks, interval, q.limit);
            let (sinks, more) = scan_all(&ctx, &series, || Sink::At(&picks, HashMap::new()))?;
            stats.entries_scanned += more.entries_scanned;
            stats.bytes_scanned += more.bytes_scanned;
            let mut best: HashMap<i64, Kept> = HashMap::new();
            for s in sinks {
                if let Sink::At(_, b) = s {
                    for (rank, k) in b {
                        if best.get(&rank).is_none_or(|have| k < *have) {
                            best.insert(rank, k);
                        }
                    }
                }
            }
            let mut kept: Vec<Kept> = best.into_values().collect();
            kept.sort_unstable();
            (kept, stats)
        }
    };
    let mut index: HashMap<Labels, usize> = HashMap::new();
    let mut streams: Vec<StreamResult> = Vec::new();
    for k in kept {
        let i = *index.entry(k.labels.clone()).or_insert_with(|| {
            streams.push(StreamResult {
                labels: k.labels.clone(),
                stream_labels: k.stream_labels.clone(),
                entries: Vec::new(),
            });
            streams.len() - 1
        });
        if let Some(s) = streams.get_mut(i) {
            s.entries.push(k.entry);
        }
    }
    streams.sort_by(|a, b| a.labels.cmp(&b.labels));
    Ok(Output {
        value: LogqlValue::Streams(streams),
        stats,
    })
}
