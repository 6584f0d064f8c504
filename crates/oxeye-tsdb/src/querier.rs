//! Reading a tenant: a querier snapshots the sources (active head, frozen heads, blocks
//! overlapping the range, each held by `Arc`) when it is created; `select` resolves the
//! matchers against each source's postings once, merges series by labels across sources
//! and returns them sorted. A series' samples are read lazily when its [`SeriesData`] is
//! iterated, into a decode buffer the thread reuses for the next series, and handed over
//! as one slice; several sources are merged by timestamp, the first source (newest)
//! winning on equal timestamps.

use std::cell::Cell;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::ops::ControlFlow;
use std::sync::Arc;

use oxeye_core::{
    Exemplar, Labels, Matcher, MetricMetadata, MetricsQuerier, Sample, SelectHints, Series,
    SeriesData, StoreError,
};

use crate::block::Block;
use crate::head::{Head, merge_dedup_into};
use crate::index::labels_match;
use crate::tenant::TenantDb;

/// Where one series' samples live.
#[derive(Clone)]
enum Part {
    Head(Arc<Head>, u64),
    Block(Arc<Block>, u32),
}

/// A snapshot of one tenant's sources over `[mint, maxt]`.
pub(crate) struct TenantQuerier {
    mint: i64,
    maxt: i64,
    /// Heads, newest first.
    heads: Vec<Arc<Head>>,
    /// Blocks overlapping the range, newest first.
    blocks: Vec<Arc<Block>>,
    tenant: Option<Arc<TenantDb>>,
}

impl TenantQuerier {
    pub fn new(tenant: Option<Arc<TenantDb>>, mint: i64, maxt: i64) -> Self {
        let mut q = TenantQuerier {
            mint,
            maxt,
            heads: Vec::new(),
            blocks: Vec::new(),
            tenant: None,
        };
        let Some(t) = tenant else { return q };
        // order matters: head, then frozen heads, then blocks (see tenant.rs)
        let head = t.head.read().clone();
        let frozen = t.frozen.read().clone();
        let blocks = t.blocks.read().clone();
        q.heads.push(head);
        for f in frozen.iter().rev() {
            if !q.heads.iter().any(|h| Arc::ptr_eq(h, &f.head)) {
                q.heads.push(f.head.clone());
            }
        }
        q.heads
            .retain(|h| h.time_range().is_some_and(|(a, b)| a <= maxt && b >= mint));
        q.blocks = blocks
            .into_iter()
            .rev()
            .filter(|b| b.overlaps(mint, maxt))
            .collect();
        q.tenant = Some(t);
        q
    }

    /// Series matching `matchers` with samples in range, merged across sources and sorted
    /// by labels; a series' parts are in source order (heads, then blocks, newest first).
    ///
    /// Each source yields a run sorted by labels (a block's series numbers are in label
    /// order, so its run needs one comparison per series to confirm it), and the runs are
    /// merged k ways: this is the hot part of a selection over thousands of series.
    fn collect(&self, matchers: &[Matcher]) -> Vec<(Arc<Labels>, Vec<Part>)> {
        let mut runs: Vec<Vec<(Arc<Labels>, Part)>> = Vec::new();
        for h in &self.heads {
            let mut run: Vec<(Arc<Labels>, Part)> = h
                .select(matchers)
                .into_iter()
                .filter_map(|r| {
                    let (labels, a, b) = h.series_info(r)?;
                    (a <= self.maxt && b >= self.mint).then(|| (labels, Part::Head(h.clone(), r)))
                })
                .collect();
            run.sort_unstable_by(|x, y| x.0.cmp(&y.0));
            runs.push(run);
        }
        for b in &self.blocks {
            let mut run: Vec<(Arc<Labels>, Part)> = b
                .index
                .select(matchers)
                .into_iter()
                .filter_map(|r| {
                    let s = b.series.get(r as usize)?;
                    (s.min_t <= self.maxt && s.max_t >= self.mint)
                        .then(|| (s.labels.clone(), Part::Block(b.clone(), r)))
                })
                .collect();
            if !run.is_sorted_by(|x, y| x.0 < y.0) {
                run.sort_unstable_by(|x, y| x.0.cmp(&y.0));
            }
            runs.push(run);
        }
        merge_runs(runs)
    }
}

/// Merges runs sorted by labels into one sorted list; equal labels of several runs become
/// one entry whose parts are in run order.
fn merge_runs(mut runs: Vec<Vec<(Arc<Labels>, Part)>>) -> Vec<(Arc<Labels>, Vec<Part>)> {
    runs.retain(|r| !r.is_empty());
    if runs.len() <= 1 {
        let run = runs.pop().unwrap_or_default();
        return run.into_iter().map(|(l, p)| (l, vec![p])).collect();
    }
    let total: usize = runs.iter().map(Vec::len).sum();
    let mut out: Vec<(Arc<Labels>, Vec<Part>)> = Vec::with_capacity(total);
    let mut iters: Vec<_> = runs.into_iter().map(|r| r.into_iter().peekable()).collect();
    // the heap holds each run's next labels; ties pop in run order
    let mut heap: BinaryHeap<Reverse<(Arc<Labels>, usize)>> = iters
        .iter_mut()
        .enumerate()
        .filter_map(|(i, it)| it.peek().map(|(l, _)| Reverse((l.clone(), i))))
        .collect();
    while let Some(Reverse((labels, i))) = heap.pop() {
        let Some((_, part)) = iters.get_mut(i).and_then(Iterator::next) else {
            continue;
        };
        match out.last_mut() {
            Some((last, parts)) if **last == *labels => parts.push(part),
            _ => {
                debug_assert!(out.last().is_none_or(|(l, _)| **l < *labels));
                out.push((labels, vec![part]));
            }
        }
        if let Some((next, _)) = iters.get_mut(i).and_then(|it| it.peek()) {
            heap.push(Reverse((next.clone(), i)));
        }
    }
    out
}

struct MergedData {
    parts: Vec<Part>,
    mint: i64,
    maxt: i64,
}

fn read_part(p: &Part, mint: i64, maxt: i64, out: &mut Vec<Sample>) -> Result<(), StoreError> {
    match p {
        Part::Head(h, r) => {
            h.read(*r, mint, maxt, out);
            Ok(())
        }
        Part::Block(b, r) => {
            let dec = b.decoder().map_err(StoreError::from)?;
            b.read(&dec, *r, mint, maxt, out).map_err(StoreError::from)
        }
    }
}

thread_local! {
    /// The decode buffer of the series read last on this thread, kept for the next one:
    /// a query reads thousands of series of similar length one after the other.
    static SCRATCH: Cell<Vec<Sample>> = const { Cell::new(Vec::new()) };
}

/// Runs `f` with this thread's decode buffer, emptied (a nested call gets a new one).
fn with_scratch<R>(f: impl FnOnce(&mut Vec<Sample>) -> R) -> R {
    let mut buf = SCRATCH.with(Cell::take);
    buf.clear();
    let r = f(&mut buf);
    if buf.capacity() <= SCRATCH_MAX_SAMPLES {
        SCRATCH.with(|s| s.set(buf));
    }
    r
}

/// Largest decode buffer kept per thread (1 MiB).
const SCRATCH_MAX_SAMPLES: usize = 1 << 16;

impl MergedData {
    /// Appends the merged samples of every part to `merged` (empty on entry).
    fn read_into(&self, merged: &mut Vec<Sample>) -> Result<(), StoreError> {
        let mut tmp: Vec<Sample> = Vec::new();
        let mut acc: Vec<Sample> = Vec::new();
        for (i, p) in self.parts.iter().enumerate() {
            if i == 0 {
                read_part(p, self.mint, self.maxt, merged)?;
                continue;
            }
            tmp.clear();
            read_part(p, self.mint, self.maxt, &mut tmp)?;
            if tmp.is_empty() {
                continue;
            }
            acc.clear();
            merge_dedup_into(merged, &tmp, &mut acc);
            std::mem::swap(merged, &mut acc);
        }
        Ok(())
    }
}

impl SeriesData for MergedData {
    /// The merged samples are handed over as one chunk: they are in memory already.
    fn for_each_chunk(
        &self,
        f: &mut dyn FnMut(&[Sample]) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        with_scratch(|merged| {
            self.read_into(merged)?;
            if !merged.is_empty() {
                let _ = f(merged);
            }
            Ok(())
        })
    }

    /// Decoded straight into the returned vector (a block read reserves its size).
    fn samples(&self) -> Result<Vec<Sample>, StoreError> {
        let mut out = Vec::new();
        self.read_into(&mut out)?;
        Ok(out)
    }
}

impl MetricsQuerier for TenantQuerier {
    fn select(&self, matchers: &[Matcher], hints: &SelectHints) -> Result<Vec<Series>, StoreError> {
        let series = self.collect(matchers);
        let limit = hints.limit.unwrap_or(usize::MAX);
        Ok(series
            .into_iter()
            .take(limit)
            .map(|(labels, parts)| Series {
                labels: (*labels).clone(),
                data: Arc::new(MergedData {
                    parts,
                    mint: self.mint,
                    maxt: self.maxt,
                }),
            })
            .collect())
    }

    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>, StoreError> {
        let mut names: BTreeSet<String> = BTreeSet::new();
        if matchers.is_empty() {
            for h in &self.heads {
                h.with_postings(|ix| names.extend(ix.label_names().map(str::to_string)));
            }
            for b in &self.blocks {
                names.extend(b.index.label_names().map(str::to_string));
            }
            return Ok(names.into_iter().collect());
        }
        for (labels, _) in self.collect(matchers) {
            for l in labels.iter() {
                if !names.contains(&l.name) {
                    names.insert(l.name.clone());
                }
            }
        }
        Ok(names.into_iter().collect())
    }

    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>, StoreError> {
        let mut values: BTreeSet<String> = BTreeSet::new();
        if matchers.is_empty() {
            for h in &self.heads {
                h.with_postings(|ix| values.extend(ix.label_values(name).map(str::to_string)));
            }
            for b in &self.blocks {
                values.extend(b.index.label_values(name).map(str::to_string));
            }
            return Ok(values.into_iter().collect());
        }
        for (labels, _) in self.collect(matchers) {
            if let Some(v) = labels.get(name)
                && !values.contains(v)
            {
                values.insert(v.to_string());
            }
        }
        Ok(values.into_iter().collect())
    }

    fn exemplars(&self, matchers: &[Matcher]) -> Result<Vec<(Labels, Vec<Exemplar>)>, StoreError> {
        let Some(t) = &self.tenant else {
            return Ok(Vec::new());
        };
        let mut out: BTreeMap<Labels, Vec<Exemplar>> = BTreeMap::new();
        let ring = t.exemplars.lock();
        for (series, e) in ring.ring.iter() {
            if e.t < self.mint || e.t > self.maxt || !labels_match(series, matchers) {
                continue;
            }
            out.entry((**series).clone()).or_default().push(e.clone());
        }
        drop(ring);
        Ok(out
            .into_iter()
            .map(|(l, mut v)| {
                v.sort_by_key(|e| e.t);
                (l, v)
            })
            .collect())
    }

    fn metadata(&self, metric: Option<&str>) -> Result<Vec<MetricMetadata>, StoreError> {
        let Some(t) = &self.tenant else {
            return Ok(Vec::new());
        };
        let map = t.metadata.lock();
        let mut out: Vec<MetricMetadata> = map
            .values()
            .filter(|m| metric.is_none_or(|name| m.metric_family == name))
            .cloned()
            .collect();
        out.sort_by(|a, b| a.metric_family.cmp(&b.metric_family));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(head: &Arc<Head>, items: &[(&str, u64)]) -> Vec<(Arc<Labels>, Part)> {
        items
            .iter()
            .map(|(v, r)| {
                (
                    Arc::new(Labels::from_pairs(&[("__name__", "m"), ("i", v)])),
                    Part::Head(head.clone(), *r),
                )
            })
            .collect()
    }

    fn shape(merged: &[(Arc<Labels>, Vec<Part>)]) -> Vec<(String, Vec<u64>)> {
        merged
            .iter()
            .map(|(l, parts)| {
                let refs = parts
                    .iter()
                    .map(|p| match p {
                        Part::Head(_, r) => *r,
                        Part::Block(_, r) => u64::from(*r),
                    })
                    .collect();
                (l.get("i").unwrap_or_default().to_string(), refs)
            })
            .collect()
    }

    #[test]
    fn runs_merge_sorted_with_parts_in_source_order() {
        let h = Arc::new(Head::new());
        // the same series in several sources keeps the sources' order: the newest first
        let merged = merge_runs(vec![
            run(&h, &[("b", 10), ("d", 11)]),
            Vec::new(),
            run(&h, &[("a", 20), ("b", 21), ("c", 22)]),
            run(&h, &[("b", 30), ("d", 31), ("e", 32)]),
        ]);
        assert_eq!(
            shape(&merged),
            vec![
                ("a".to_string(), vec![20]),
                ("b".to_string(), vec![10, 21, 30]),
                ("c".to_string(), vec![22]),
                ("d".to_string(), vec![11, 31]),
                ("e".to_string(), vec![32]),
            ]
        );
        assert_eq!(
            shape(&merge_runs(vec![run(&h, &[("x", 1), ("y", 2)])])),
            vec![("x".to_string(), vec![1]), ("y".to_string(), vec![2])]
        );
        assert!(merge_runs(Vec::new()).is_empty());
    }
}
