//! Reads over one tenant's snapshot: trace by id, scan, tag names, values, operations.
//!
//! A trace may be split across the head, frozen heads and several blocks (late spans,
//! block boundaries between flushes). Every read of a whole trace therefore gathers its
//! parts from each head and from each block whose bloom filter may hold the id (one page
//! per block), and merges them with duplicate span ids dropped.
//!
//! A scan walks sources newest first (heads, then blocks by newest span, their pages by
//! newest span), skipping blocks and pages outside the time range and blocks whose hint
//! filter rules the scan's hints out. Each trace id met for the first time is gathered
//! whole and visited once; later parts of it are skipped. Decoded pages are cached for
//! the duration of one read.
//!
//! A page or dictionary that fails verification (checksum, decoding) is logged, counted
//! and skipped, so the rest of the data is still served; a failure to read the disk fails
//! the whole query instead of answering as if the data were absent.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use oxeye_core::trace::{
    AnyValue, AttrScope, KeyValue, Operation, TagNames, Trace, TraceId, TraceScan,
};

use parking_lot::Mutex;

use crate::TraceError;
use crate::block::{Block, id_hash};
use crate::dict::Dict;
use crate::model::{StoredSpan, build_trace, overlaps};
use crate::page::TracePart;
use crate::stats::Counters;
use crate::tenant::Snapshot;

/// Decoded pages kept per read before the cache is emptied.
const PAGE_CACHE_ENTRIES: usize = 32;
/// Block dictionaries kept per tenant between tag queries.
const DICT_CACHE_ENTRIES: usize = 32;

/// The most recently used block dictionaries of a tenant.
#[derive(Default)]
pub(crate) struct DictCache(Mutex<VecDeque<(u64, Arc<Dict>)>>);

impl DictCache {
    fn get(&self, b: &Block) -> Result<Arc<Dict>, crate::TraceError> {
        {
            let mut q = self.0.lock();
            if let Some(pos) = q.iter().position(|(uid, _)| *uid == b.uid) {
                let hit = q.remove(pos);
                if let Some((uid, d)) = hit {
                    q.push_front((uid, d.clone()));
                    return Ok(d);
                }
            }
        }
        let d = Arc::new(b.dict()?);
        let mut q = self.0.lock();
        q.push_front((b.uid, d.clone()));
        q.truncate(DICT_CACHE_ENTRIES);
        Ok(d)
    }
}

pub(crate) struct Reader<'a> {
    snap: Snapshot,
    counters: &'a Counters,
    dicts: &'a DictCache,
    tenant: &'a str,
    pages: HashMap<(u64, usize), Arc<Vec<TracePart>>>,
}

fn note_bad_page(counters: &Counters, tenant: &str, b: &Block, i: usize, e: &crate::TraceError) {
    counters.corrupt_pages.fetch_add(1, Ordering::Relaxed);
    tracing::error!(tenant = %tenant, block = %b.meta.id, page = i, error = %e, "skipping unreadable trace page");
}

impl<'a> Reader<'a> {
    pub fn new(
        snap: Snapshot,
        counters: &'a Counters,
        dicts: &'a DictCache,
        tenant: &'a str,
    ) -> Self {
        Self {
            snap,
            counters,
            dicts,
            tenant,
            pages: HashMap::new(),
        }
    }

    /// Page `i` of `b`; a page that fails verification is logged, counted and skipped
    /// (`None`); a failure to read it is an error.
    fn page(&mut self, b: &Block, i: usize) -> Result<Option<Arc<Vec<TracePart>>>, TraceError> {
        if let Some(p) = self.pages.get(&(b.uid, i)) {
            return Ok(Some(p.clone()));
        }
        match b.read_page(i) {
            Ok(p) => {
                if self.pages.len() >= PAGE_CACHE_ENTRIES {
                    self.pages.clear();
                }
                let p = Arc::new(p);
                self.pages.insert((b.uid, i), p.clone());
                Ok(Some(p))
            }
            Err(e) if e.is_corruption() => {
                note_bad_page(self.counters, self.tenant, b, i, &e);
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Every stored span of `id`, from heads and candidate blocks. With `lookup`, only
    /// that trace is decoded from each page (one-off reads); otherwise whole pages are
    /// decoded and cached for the traces next to it (scans).
    fn gather(
        &mut self,
        id: &TraceId,
        range: Option<(u64, u64)>,
        lookup: bool,
    ) -> Result<Vec<StoredSpan>, TraceError> {
        let mut spans = Vec::new();
        for h in &self.snap.heads {
            if let Some(s) = h.get(id) {
                spans.extend(s);
            }
        }
        let blocks = self.snap.blocks.clone();
        let h = id_hash(id);
        for b in &blocks {
            if let Some((start, end)) = range
                && !b.overlaps(start, end)
            {
                continue;
            }
            let Some(i) = b.page_for(id, h) else { continue };
            if lookup {
                match b.read_trace(i, id) {
                    Ok(Some(s)) => spans.extend(s),
                    Ok(None) => {}
                    Err(e) if e.is_corruption() => {
                        note_bad_page(self.counters, self.tenant, b, i, &e)
                    }
                    Err(e) => return Err(e),
                }
                continue;
            }
            let Some(page) = self.page(b, i)? else {
                continue;
            };
            if let Ok(k) = page.binary_search_by(|(pid, _)| pid.cmp(id))
                && let Some((_, s)) = page.get(k)
            {
                spans.extend(s.iter().cloned());
            }
        }
        Ok(spans)
    }

    pub fn trace_by_id(
        &mut self,
        id: &TraceId,
        range: Option<(u64, u64)>,
    ) -> Result<Option<Trace>, TraceError> {
        let spans = self.gather(id, range, true)?;
        if spans.is_empty() {
            return Ok(None);
        }
        Ok(Some(build_trace(*id, spans)))
    }

    pub fn scan(
        &mut self,
        scan: &TraceScan,
        visit: &mut dyn FnMut(&Trace) -> ControlFlow<()>,
    ) -> Result<(), TraceError> {
        let (start, end) = (scan.start_nanos, scan.end_nanos);
        let mut visited: HashSet<TraceId> = HashSet::new();
        let mut emit =
            |reader: &mut Reader<'_>, id: TraceId| -> Result<ControlFlow<()>, TraceError> {
                if !visited.insert(id) {
                    return Ok(ControlFlow::Continue(()));
                }
                let spans = reader.gather(&id, None, false)?;
                if spans.is_empty() {
                    return Ok(ControlFlow::Continue(()));
                }
                let trace = build_trace(id, spans);
                if !overlaps(&trace, start, end) {
                    return Ok(ControlFlow::Continue(()));
                }
                Ok(visit(&trace))
            };
        let heads = self.snap.heads.clone();
        for h in &heads {
            let mut ids: Vec<(TraceId, u64, u64)> = h
                .ids()
                .into_iter()
                .filter(|(_, min, max)| *max >= start && *min <= end)
                .collect();
            ids.sort_unstable_by_key(|x| std::cmp::Reverse((x.1, x.0)));
            for (id, _, _) in ids {
                if emit(self, id)?.is_break() {
                    return Ok(());
                }
            }
        }
        let mut blocks: Vec<Arc<Block>> = self
            .snap
            .blocks
            .iter()
            .filter(|b| b.overlaps(start, end) && b.may_match(&scan.hints))
            .cloned()
            .collect();
        blocks.sort_by(|a, b| {
            b.meta
                .max_time_ns
                .cmp(&a.meta.max_time_ns)
                .then_with(|| b.meta.id.cmp(&a.meta.id))
        });
        for b in &blocks {
            let mut pages: Vec<(usize, u64)> = (0..b.num_pages())
                .filter_map(|i| b.page_range(i).map(|(lo, hi)| (i, lo, hi)))
                .filter(|(_, lo, hi)| *hi >= start && *lo <= end)
                .map(|(i, _, hi)| (i, hi))
                .collect();
            pages.sort_unstable_by_key(|x| std::cmp::Reverse(x.1));
            for (i, _) in pages {
                let Some(page) = self.page(b, i)? else {
                    continue;
                };
                let mut ids: Vec<(u64, TraceId)> = page
                    .iter()
                    .map(|(id, spans)| {
                        let newest = spans
                            .iter()
                            .map(|s| s.span.start_unix_nano)
                            .max()
                            .unwrap_or(0);
                        (newest, *id)
                    })
                    .collect();
                ids.sort_unstable_by(|a, b| b.cmp(a));
                for (_, id) in ids {
                    if emit(self, id)?.is_break() {
                        return Ok(());
                    }
                }
            }
        }
        Ok(())
    }

    fn blocks_in(&self, start: u64, end: u64) -> Vec<Arc<Block>> {
        self.snap
            .blocks
            .iter()
            .filter(|b| b.overlaps(start, end))
            .cloned()
            .collect()
    }

    /// Calls `f` for every head span overlapping `[start, end]`.
    fn head_spans(&self, start: u64, end: u64, mut f: impl FnMut(&StoredSpan)) {
        for h in &self.snap.heads {
            h.for_each(|_, t| {
                if t.max_end < start || t.min_start > end {
                    return;
                }
                for s in &t.spans {
                    if s.span.end_unix_nano.max(s.span.start_unix_nano) >= start
                        && s.span.start_unix_nano <= end
                    {
                        f(s);
                    }
                }
            });
        }
    }

    /// The dictionaries of the blocks overlapping `[start, end]`; one that fails
    /// verification is logged, counted and skipped, a failure to read one is an error.
    fn dicts_in(&self, start: u64, end: u64) -> Result<Vec<Arc<Dict>>, TraceError> {
        let mut out = Vec::new();
        for b in self.blocks_in(start, end) {
            match self.dicts.get(&b) {
                Ok(d) => out.push(d),
                Err(e) if e.is_corruption() => {
                    self.counters.corrupt_pages.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(tenant = %self.tenant, block = %b.meta.id, error = %e, "skipping corrupt trace block dictionary");
                }
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    pub fn tag_names(&self, start: u64, end: u64) -> Result<TagNames, TraceError> {
        let mut out = TagNames::default();
        self.head_spans(start, end, |s| {
            for kv in &s.res.resource.attributes {
                if !out.resource.contains(&kv.key) {
                    out.resource.insert(kv.key.clone());
                }
            }
            for kv in &s.span.attributes {
                if !out.span.contains(&kv.key) {
                    out.span.insert(kv.key.clone());
                }
            }
        });
        for d in self.dicts_in(start, end)? {
            out.resource.extend(d.resource.keys().cloned());
            out.span.extend(d.span.keys().cloned());
        }
        Ok(out)
    }

    pub fn tag_values(
        &self,
        scope: Option<AttrScope>,
        key: &str,
        start: u64,
        end: u64,
        limit: usize,
    ) -> Result<Vec<AnyValue>, TraceError> {
        let mut seen: HashSet<String> = HashSet::new();
        let mut out = Vec::new();
        let mut add = |v: &AnyValue, out: &mut Vec<AnyValue>| {
            if out.len() < limit && seen.insert(format!("{v:?}")) {
                out.push(v.clone());
            }
        };
        let want_res = scope != Some(AttrScope::Span);
        let want_span = scope != Some(AttrScope::Resource);
        let pick = |attrs: &[KeyValue],
                    out: &mut Vec<AnyValue>,
                    add: &mut dyn FnMut(&AnyValue, &mut Vec<AnyValue>)| {
            for kv in attrs.iter().filter(|kv| kv.key == key) {
                add(&kv.value, out);
            }
        };
        self.head_spans(start, end, |s| {
            if want_res {
                pick(&s.res.resource.attributes, &mut out, &mut add);
            }
            if want_span {
                pick(&s.span.attributes, &mut out, &mut add);
            }
        });
        if out.len() >= limit {
            return Ok(out);
        }
        for d in self.dicts_in(start, end)? {
            for (want, map) in [(want_res, &d.resource), (want_span, &d.span)] {
                if !want {
                    continue;
                }
                if let Some(kvs) = map.get(key) {
                    for v in &kvs.values {
                        add(v, &mut out);
                    }
                }
            }
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    pub fn operations(
        &self,
        service: Option<&str>,
        start: u64,
        end: u64,
    ) -> Result<Vec<Operation>, TraceError> {
        let mut ops: BTreeSet<Operation> = BTreeSet::new();
        let mut seen: HashSet<u64> = HashSet::new();
        self.head_spans(start, end, |s| {
            let svc = s.res.resource.service_name().unwrap_or_default();
            if service.is_some_and(|x| x != svc) {
                return;
            }
            let mut key = Vec::with_capacity(svc.len() + s.span.name.len() + 2);
            key.extend_from_slice(svc.as_bytes());
            key.push(0);
            key.extend_from_slice(s.span.name.as_bytes());
            key.push(s.span.kind as u8);
            if seen.insert(crate::bloom::hash_bytes(&key)) {
                ops.insert(Operation {
                    service: svc.to_owned(),
                    name: s.span.name.clone(),
                    kind: s.span.kind,
                });
            }
        });
        for d in self.dicts_in(start, end)? {
            ops.extend(
                d.operations()
                    .filter(|o| service.is_none_or(|x| x == o.service)),
            );
        }
        Ok(ops.into_iter().collect())
    }
}
