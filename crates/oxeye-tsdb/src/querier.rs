//! Reading a tenant: a querier snapshots the sources (active head, frozen heads, blocks
//! overlapping the range, each held by `Arc`) when it is created; `select` resolves the
//! matchers against each source's postings once, merges series by labels across sources
//! and returns them sorted. A series' samples are read lazily when its [`SeriesData`] is
//! iterated, into a decode buffer the thread reuses for the next series, and handed over
//! as one slice; several sources are merged by timestamp, the first source (newest)
//! winning on equal timestamps.

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
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

    /// Series matching `matchers` with samples in range, merged across sources.
    fn collect(&self, matchers: &[Matcher]) -> BTreeMap<Arc<Labels>, Vec<Part>> {
        let mut out: BTreeMap<Arc<Labels>, Vec<Part>> = BTreeMap::new();
        for h in &self.heads {
            for r in h.select(matchers) {
                let Some((labels, a, b)) = h.series_info(r) else {
                    continue;
                };
                if a <= self.maxt && b >= self.mint {
                    out.entry(labels)
                        .or_default()
                        .push(Part::Head(h.clone(), r));
                }
            }
        }
        for b in &self.blocks {
            for r in b.index.select(matchers) {
                let Some(s) = b.series.get(r as usize) else {
                    continue;
                };
                if s.min_t <= self.maxt && s.max_t >= self.mint {
                    out.entry(s.labels.clone())
                        .or_default()
                        .push(Part::Block(b.clone(), r));
                }
            }
        }
        out
    }
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
        for labels in self.collect(matchers).keys() {
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
        for labels in self.collect(matchers).keys() {
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
