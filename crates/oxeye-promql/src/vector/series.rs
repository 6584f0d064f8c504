//! The per-series loops of selectors and range functions, split over threads when a
//! query selects many series.
//!
//! Each loop walks a run of preloaded series independently of the others, so the series
//! are cut into consecutive runs, one per thread, and the runs' columns are concatenated
//! in order: the output is the same as a single pass. Workers stop early when the query
//! is cancelled or past its deadline; the caller then reports it with the evaluator's
//! error.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use oxeye_core::{Labels, Sample, is_stale_nan};

use super::Col;
use crate::functions::range::{Kernel, quantile_over_time};

/// Series between checks for cancellation and the deadline.
const CHECK_EVERY: usize = 1024;

/// Samples a range function may visit between two interrupt checks.
const CHECK_WORK: usize = 1 << 22;

/// Fewest series x steps worth a second thread when the count is picked automatically.
const MIN_PARALLEL_WORK: usize = 200_000;

/// Preloaded series of one selector.
pub(crate) type Series = (Labels, Vec<Sample>);

/// When workers must stop: the query's cancel flag and deadline.
#[derive(Clone)]
pub(crate) struct Interrupt {
    pub cancel: Option<Arc<AtomicBool>>,
    pub deadline: Option<Instant>,
}

impl Interrupt {
    fn hit(&self) -> bool {
        self.cancel
            .as_ref()
            .is_some_and(|c| c.load(Ordering::Relaxed))
            || self.deadline.is_some_and(|d| Instant::now() >= d)
    }
}

/// What one run of series produced.
#[derive(Default)]
pub(crate) struct Part {
    pub cols: Vec<Col>,
    /// Samples held per step (range functions), against the sample limit.
    pub totals: Vec<usize>,
    /// Labels of the series that had a non-empty window at some step.
    pub windowed: Vec<Labels>,
    /// The run stopped early because the query was interrupted.
    pub stopped: bool,
}

/// How many threads to use for `series` series over `steps` steps: `asked` 0 picks (at
/// most 2, only when the work is large), 1 is sequential.
pub(crate) fn threads(asked: usize, series: usize, steps: usize) -> usize {
    let t = match asked {
        0 => {
            let cpus = std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1);
            if series.saturating_mul(steps) < MIN_PARALLEL_WORK {
                1
            } else {
                cpus.min(2)
            }
        }
        n => n,
    };
    t.clamp(1, series.max(1))
}

/// Runs `f` over consecutive runs of `series`, on `threads` threads, parts in order.
pub(crate) fn split<F>(series: &[Series], threads: usize, f: F) -> Vec<Part>
where
    F: Fn(&[Series]) -> Part + Sync,
{
    if threads <= 1 {
        return vec![f(series)];
    }
    let per = series.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = series
            .chunks(per)
            .map(|run| {
                let f = &f;
                scope.spawn(move || f(run))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                // A panicking worker is a bug; its run is reported as interrupted so the
                // query fails instead of answering without those series.
                h.join().unwrap_or_else(|_| Part {
                    stopped: true,
                    ..Part::default()
                })
            })
            .collect()
    })
}

/// Vector selector over a run of series: one forward cursor per series. `at` pins the
/// evaluation time, `off` shifts it back.
pub(crate) fn select(
    run: &[Series],
    ts: &[i64],
    at: Option<i64>,
    off: i64,
    lookback: i64,
    stop: &Interrupt,
) -> Part {
    let n = ts.len();
    let mut part = Part::default();
    for (k, (labels, samples)) in run.iter().enumerate() {
        if k % CHECK_EVERY == 0 && stop.hit() {
            part.stopped = true;
            return part;
        }
        let mut vals = vec![0.0; n];
        let mut present = vec![false; n];
        let mut any = false;
        let mut idx = 0usize;
        for ((&t, v), p) in ts.iter().zip(vals.iter_mut()).zip(present.iter_mut()) {
            let target = at.unwrap_or(t).saturating_sub(off);
            let lo = target.saturating_sub(lookback);
            while samples.get(idx).is_some_and(|s| s.t <= target) {
                idx += 1;
            }
            let Some(last) = idx.checked_sub(1).and_then(|i| samples.get(i)) else {
                continue;
            };
            if last.t <= lo || is_stale_nan(last.v) {
                continue;
            }
            *v = last.v;
            *p = true;
            any = true;
        }
        if any {
            part.cols.push(Col {
                labels: labels.clone(),
                drop_name: false,
                vals,
                present,
            });
        }
    }
    part
}

/// What a range function computes per window.
pub(crate) enum Apply {
    /// A single-argument kernel.
    Kernel(Kernel),
    /// `quantile_over_time` with the quantile per step.
    Quantile(Vec<f64>),
    /// `rate` (`is_rate`) or `increase`: the series' counter resets are found once, so a
    /// window without resets costs O(1) instead of a scan; the float operations are the
    /// kernel's, in the kernel's order.
    Counter { is_rate: bool },
}

/// The parameters of a range function over a matrix selector.
pub(crate) struct RangeFn {
    pub apply: Apply,
    pub at: Option<i64>,
    pub off: i64,
    pub range_ms: i64,
    pub keep_name: bool,
}

/// A range function over a run of series: two forward cursors (window start and end) per
/// series, the kernel applied to each step's window.
pub(crate) fn range(run: &[Series], ts: &[i64], rf: &RangeFn, stop: &Interrupt) -> Part {
    let n = ts.len();
    let mut part = Part {
        totals: vec![0; n],
        ..Part::default()
    };
    // Samples visited since the last interrupt check: one series with huge windows over
    // many steps must not run on unchecked after its client went away.
    let mut work = 0usize;
    for (k, (labels, samples)) in run.iter().enumerate() {
        if k % CHECK_EVERY == 0 && stop.hit() {
            part.stopped = true;
            return part;
        }
        let mut vals = vec![0.0; n];
        let mut present = vec![false; n];
        let (mut any_window, mut any) = (false, false);
        let (mut a, mut b) = (0usize, 0usize);
        // For counters: indices i where a reset happened (samples[i] < samples[i - 1]),
        // and a cursor to the first one inside the current window.
        let resets: Vec<usize> = match rf.apply {
            Apply::Counter { .. } => samples
                .windows(2)
                .enumerate()
                .filter_map(|(i, w)| match w {
                    [prev, cur] if cur.v < prev.v => Some(i + 1),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        let mut r = 0usize;
        let cells = ts
            .iter()
            .zip(vals.iter_mut())
            .zip(present.iter_mut())
            .zip(part.totals.iter_mut());
        for (i, (((&t, v), p), total)) in cells.enumerate() {
            let end = rf.at.unwrap_or(t).saturating_sub(rf.off);
            let lo = end.saturating_sub(rf.range_ms);
            while samples.get(a).is_some_and(|s| s.t <= lo) {
                a += 1;
            }
            while samples.get(b).is_some_and(|s| s.t <= end) {
                b += 1;
            }
            let window: &[Sample] = samples.get(a..b).unwrap_or(&[]);
            if window.is_empty() {
                continue;
            }
            any_window = true;
            *total += window.len();
            work += window.len();
            if work >= CHECK_WORK {
                work = 0;
                if stop.hit() {
                    part.stopped = true;
                    return part;
                }
            }
            let value = match &rf.apply {
                Apply::Kernel(kernel) => kernel(window, end, rf.range_ms),
                Apply::Counter { is_rate } => {
                    // Resets inside the window are those at indices a+1..b.
                    while resets.get(r).is_some_and(|&i| i <= a) {
                        r += 1;
                    }
                    counter_window(samples, window, &resets[r..], b, end, rf.range_ms, *is_rate)
                }
                Apply::Quantile(q) => {
                    quantile_over_time(q.get(i).copied().unwrap_or(f64::NAN), window)
                }
            };
            if let Some(x) = value {
                *v = x;
                *p = true;
                any = true;
            }
        }
        if any_window {
            part.windowed.push(labels.clone());
        }
        if any {
            part.cols.push(Col {
                labels: labels.clone(),
                drop_name: !rf.keep_name,
                vals,
                present,
            });
        }
    }
    part
}

/// `rate`/`increase` over `window` (= `samples[..b]`'s tail) given the reset indices from
/// the window's second sample on: the same additions as the kernel, in the same order.
fn counter_window(
    samples: &[Sample],
    window: &[Sample],
    resets: &[usize],
    b: usize,
    end: i64,
    range_ms: i64,
    is_rate: bool,
) -> Option<f64> {
    let (first, last) = (window.first()?, window.last()?);
    if window.len() < 2 {
        return None;
    }
    let mut result = last.v - first.v;
    for &i in resets.iter().take_while(|&&i| i < b) {
        if let Some(prev) = i.checked_sub(1).and_then(|p| samples.get(p)) {
            result += prev.v;
        }
    }
    Some(crate::functions::range::extrapolate(
        first,
        last,
        window.len(),
        result,
        end,
        range_ms,
        true,
        is_rate,
    ))
}
