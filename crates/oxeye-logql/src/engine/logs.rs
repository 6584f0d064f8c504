//! Log queries: select the streams, run the pipeline over each stream's entries in the
//! asked direction (stopping once `limit` entries are kept; streams are spread over up
//! to four threads), merge the streams, keep the first `limit` entries overall and
//! group them by their label sets.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicU64, Ordering};

use oxeye_core::logs::{Direction, LogQueryable, LogSelect, LogSeries};
use oxeye_core::{Labels, TenantId};

use crate::ast::LogExpr;
use crate::pipeline::{LogPipeline, Scratch, result_entry};
use crate::{
    EngineLimits, LogqlError, LogqlValue, Output, Query, QueryStats, ResultEntry, StreamResult,
};

/// One kept entry with its labels.
struct Kept {
    labels: Labels,
    stream_labels: Labels,
    entry: ResultEntry,
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

/// Runs the pipeline over `series`, keeping at most `limit` entries per stream (the
/// first ones in the query's direction).
fn scan<'s>(
    ctx: &Ctx<'_>,
    series: impl Iterator<Item = &'s LogSeries>,
) -> Result<(Vec<Kept>, QueryStats), LogqlError> {
    let q = ctx.q;
    let mut stats = QueryStats::default();
    let mut kept: Vec<Kept> = Vec::new();
    let mut sc = Scratch::default();
    let interval = q.interval_ns.filter(|i| *i > 0);
    let mut over_limit = false;
    for s in series {
        let mut n = 0usize;
        let mut last_ts: Option<i64> = None;
        s.data.for_each_chunk(q.direction, &mut |chunk| {
            for entry in chunk {
                stats.entries_scanned += 1;
                stats.bytes_scanned += entry.line.len() as u64;
                if ctx.scanned.fetch_add(1, Ordering::Relaxed) >= ctx.limits.max_entries_scanned {
                    over_limit = true;
                    return ControlFlow::Break(());
                }
                if entry.ts_ns < q.start_ns || entry.ts_ns >= q.end_ns {
                    continue;
                }
                if let (Some(iv), Some(last)) = (interval, last_ts) {
                    let far_enough = match q.direction {
                        Direction::Forward => entry.ts_ns >= last.saturating_add(iv),
                        Direction::Backward => entry.ts_ns <= last.saturating_sub(iv),
                    };
                    if !far_enough {
                        continue;
                    }
                }
                if !ctx.pipeline.prefilter(&entry.line)
                    || ctx
                        .deciding
                        .is_some_and(|d| !d.run(&s.labels, entry, &mut sc))
                    || !ctx.pipeline.run(&s.labels, entry, &mut sc)
                {
                    continue;
                }
                last_ts = Some(entry.ts_ns);
                kept.push(Kept {
                    labels: sc.labels.to_labels(),
                    stream_labels: sc.labels.stream_labels(),
                    entry: result_entry(&sc, entry),
                });
                n += 1;
                if n >= q.limit {
                    return ControlFlow::Break(());
                }
            }
            ControlFlow::Continue(())
        })?;
        if over_limit {
            return Err(LogqlError::BadQuery(format!(
                "the query would read more than {} entries (max_entries_scanned)",
                ctx.limits.max_entries_scanned
            )));
        }
    }
    Ok((kept, stats))
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
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(MAX_THREADS)
        .min(series.len())
        .max(1);
    let parts: Vec<Result<(Vec<Kept>, QueryStats), LogqlError>> = if workers == 1 {
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
                        Err(LogqlError::BadQuery("a log query worker failed".into()))
                    })
                })
                .collect()
        })
    };
    let mut stats = QueryStats::default();
    let mut kept: Vec<Kept> = Vec::new();
    for part in parts {
        let (mut k, st) = part?;
        stats.entries_scanned += st.entries_scanned;
        stats.bytes_scanned += st.bytes_scanned;
        kept.append(&mut k);
    }
    // The first `limit` entries in the asked direction; ties broken by labels so the
    // answer does not depend on store order.
    match q.direction {
        Direction::Forward => {
            kept.sort_by(|a, b| (a.entry.ts_ns, &a.labels).cmp(&(b.entry.ts_ns, &b.labels)))
        }
        Direction::Backward => {
            kept.sort_by(|a, b| (b.entry.ts_ns, &a.labels).cmp(&(a.entry.ts_ns, &b.labels)))
        }
    }
    kept.truncate(q.limit);
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
