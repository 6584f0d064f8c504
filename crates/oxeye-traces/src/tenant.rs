//! One tenant's trace store under `<dir>/<tenant>/`: WAL, head, frozen heads and blocks.
//!
//! ```text
//! append ──► validate batch ──► WAL record (group commit) ──► head
//!                                                   │ cut (size, age, flush)
//!                                                   ▼
//!            frozen head (still queried) ──► blocks per time window ──► WAL segments removed
//!                                                   │ maintenance
//!                                                   ▼
//!                        compaction (same window) · retention (by newest receive time)
//! ```
//! Lock discipline (as in the metrics TSDB): appends hold `cut_lock` shared from the WAL
//! write to the head insert, so a cut (exclusive) falls between batches and every WAL
//! segment after the cut holds only data of the new head. Readers snapshot head, frozen
//! heads and blocks in that order, and writers always add to a later list before removing
//! from an earlier one, so a snapshot may see spans twice (merged away by span id) but
//! never misses any. Blocks are `Arc`s: one removed by compaction or retention is deleted
//! from disk only when the last reader lets go.

use std::borrow::Cow;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use oxeye_core::Clock;
use oxeye_core::trace::{SpanId, TraceBatch, TraceId};
use oxeye_storage::StorageError;
use oxeye_storage::block::cleanup_tmp;
use oxeye_storage::wal::Wal;
use parking_lot::{Mutex, RwLock};

use crate::TraceError;
use crate::block::{Block, BlockWriter};
use crate::dict::Dict;
use crate::head::{Head, HeadTrace};
use crate::model::StoredSpan;
use crate::options::{TraceStoreOptions, dur_ns};
use crate::page::TracePart;
use crate::query::DictCache;
use crate::record::{decode_batch, encode_batch, validate};
use crate::stats::{Counters, TenantTraceStats};

/// Appends are refused (retryably) while head and frozen heads hold more than this
/// many times `head_max_bytes`.
const HELD_LIMIT_FACTOR: u64 = 4;
/// Once a window is over, blocks under `block_target_bytes / FINAL_MERGE_FRACTION` merge.
const FINAL_MERGE_FRACTION: u64 = 8;

/// A head that was cut and waits for its blocks.
pub(crate) struct Frozen {
    pub head: Arc<Head>,
    /// Segments before this index hold only this head's data (and older).
    pub wal_segment: u64,
}

/// What one tenant holds at an instant, for a query.
pub(crate) struct Snapshot {
    /// The head first, then frozen heads, newest first.
    pub heads: Vec<Arc<Head>>,
    pub blocks: Vec<Arc<Block>>,
}

pub(crate) struct Tenant {
    pub name: String,
    dir: PathBuf,
    opts: Arc<TraceStoreOptions>,
    clock: Arc<dyn Clock>,
    wal: Wal,
    cut_lock: RwLock<()>,
    head: RwLock<Arc<Head>>,
    frozen: RwLock<Vec<Arc<Frozen>>>,
    blocks: RwLock<Vec<Arc<Block>>>,
    /// Serialises head cuts and the block writes of frozen heads.
    maint_lock: Mutex<()>,
    /// Serialises compaction and retention (long merges never hold up head cuts).
    compact_lock: Mutex<()>,
    next_block: AtomicU64,
    pub counters: Counters,
    pub dicts: DictCache,
    /// Set while a background cut triggered by the head size runs.
    pub bg_cut: AtomicBool,
}

fn blocks_dir(dir: &Path) -> PathBuf {
    dir.join("blocks")
}

pub(crate) fn now_ns(clock: &dyn Clock) -> u64 {
    ms_to_ns(clock.now_ms())
}

fn ms_to_ns(ms: i64) -> u64 {
    u64::try_from(ms).unwrap_or(0).saturating_mul(1_000_000)
}

/// How far ahead of the receive time a trace part may start and still be placed by its
/// own start time.
const FUTURE_SLACK_NS: u64 = 10 * 60 * 1_000_000_000;
/// How many windows behind the receive time a trace part may start and still be placed
/// by its own start time.
const PAST_SLACK_WINDOWS: u64 = 2;

/// The time that places a head trace part in a block window: its earliest span start
/// when that lies within `[received - 2 windows, received + 10 min]`, else the time it
/// was received (spans dated 1970 or 2100, or without a timestamp). The spans keep their
/// own times for range filtering.
fn placement_ns(t: &HeadTrace, window: u64) -> u64 {
    let received = ms_to_ns(t.ingest_ms);
    let lo = received.saturating_sub(window.saturating_mul(PAST_SLACK_WINDOWS));
    let hi = received.saturating_add(FUTURE_SLACK_NS);
    if (lo..=hi).contains(&t.min_start) {
        t.min_start
    } else {
        received
    }
}

impl Tenant {
    /// Opens (creating) the tenant in `dir`: loads blocks (corrupt ones set aside),
    /// replays the WAL into the head, then opens the WAL for appending.
    pub fn open(
        name: &str,
        dir: PathBuf,
        opts: Arc<TraceStoreOptions>,
        clock: Arc<dyn Clock>,
    ) -> Result<Tenant, TraceError> {
        let bdir = blocks_dir(&dir);
        std::fs::create_dir_all(&bdir)
            .map_err(|e| TraceError::io(format!("create {}", bdir.display()), e))?;
        cleanup_tmp(&bdir)?;
        let counters = Counters::default();
        let (blocks, max_seq) = load_blocks(&dir, &counters)?;
        let head = Arc::new(Head::new());
        let wal_dir = dir.join("wal");
        let corrupt_wal = replay_wal(name, &wal_dir, &head, clock.now_ms(), &counters)?;
        if corrupt_wal {
            set_aside(&dir, &wal_dir)?;
        }
        let wal = Wal::open(&wal_dir, opts.wal.clone())?;
        let t = Tenant {
            name: name.to_owned(),
            dir,
            opts,
            clock,
            wal,
            cut_lock: RwLock::new(()),
            head: RwLock::new(head),
            frozen: RwLock::new(Vec::new()),
            blocks: RwLock::new(blocks),
            maint_lock: Mutex::new(()),
            compact_lock: Mutex::new(()),
            next_block: AtomicU64::new(max_seq + 1),
            counters,
            dicts: DictCache::default(),
            bg_cut: AtomicBool::new(false),
        };
        if corrupt_wal {
            // what was replayed lives only in memory now: write it out at once
            t.flush()?;
        }
        Ok(t)
    }

    /// Validates, logs and stores `batch`; returns the spans newly stored.
    pub fn append(&self, batch: TraceBatch) -> Result<usize, TraceError> {
        validate(&batch)?;
        if batch.span_count() == 0 {
            return Ok(0);
        }
        let held = self.held_bytes();
        let limit = self.opts.head_max_bytes.saturating_mul(HELD_LIMIT_FACTOR);
        if held > limit {
            return Err(TraceError::Backpressure(format!(
                "tenant {} holds {held} bytes of spans not yet written to blocks, over the limit of {limit}; retry later",
                self.name
            )));
        }
        let mut buf = Vec::with_capacity(batch.span_count() * 160 + 64);
        encode_batch(&mut buf, &batch);
        let _shared = self.cut_lock.read();
        self.wal.append(&buf)?;
        let head = self.head.read().clone();
        let stored = head.insert(batch, self.clock.now_ms());
        self.counters
            .spans_ingested
            .fetch_add(stored as u64, Ordering::Relaxed);
        Ok(stored)
    }

    pub fn head_bytes(&self) -> u64 {
        self.head.read().bytes()
    }

    /// Bytes of the head and of frozen heads waiting for their blocks.
    fn held_bytes(&self) -> u64 {
        self.head_bytes()
            + self
                .frozen
                .read()
                .iter()
                .map(|f| f.head.bytes())
                .sum::<u64>()
    }

    pub fn snapshot(&self) -> Snapshot {
        let head = self.head.read().clone();
        let frozen = self.frozen.read().clone();
        let blocks = self.blocks.read().clone();
        let mut heads = vec![head];
        for f in frozen.iter().rev() {
            if !heads.iter().any(|h| Arc::ptr_eq(h, &f.head)) {
                heads.push(f.head.clone());
            }
        }
        Snapshot { heads, blocks }
    }

    /// Cuts the head when it holds spans. Caller holds `maint_lock`.
    fn cut_head(&self) -> Result<bool, TraceError> {
        let _excl = self.cut_lock.write();
        let old = self.head.read().clone();
        if old.is_empty() {
            return Ok(false);
        }
        let wal_segment = self.wal.cut()?;
        self.frozen.write().push(Arc::new(Frozen {
            head: old,
            wal_segment,
        }));
        *self.head.write() = Arc::new(Head::new());
        Ok(true)
    }

    fn block_name(&self) -> String {
        format!("{:016x}", self.next_block.fetch_add(1, Ordering::Relaxed))
    }

    /// Writes one block per time window for a frozen head. A trace part goes into the
    /// window of its placement time (see [`placement_ns`]), so a sender's clock never
    /// decides how many blocks a cut makes nor how long they are kept.
    fn write_head_blocks(&self, head: &Head) -> Result<Vec<Arc<Block>>, TraceError> {
        let window = self.opts.window_ns();
        head.with_sorted(|all| {
            let mut by_window: BTreeMap<u64, Vec<(usize, u64)>> = BTreeMap::new();
            for (i, (_, t)) in all.iter().enumerate() {
                let placed = placement_ns(t, window);
                by_window
                    .entry(placed / window)
                    .or_default()
                    .push((i, placed));
            }
            let mut out = Vec::new();
            for (_, idxs) in by_window {
                let mut w = BlockWriter::create(
                    &blocks_dir(&self.dir),
                    &self.block_name(),
                    self.opts.page_target_bytes,
                    self.opts.zstd_level,
                )?;
                for (i, placed) in idxs {
                    if let Some((id, t)) = all.get(i) {
                        w.note_placement(placed, placed, ms_to_ns(t.last_ms.max(t.ingest_ms)));
                        w.add(**id, Cow::Borrowed(&t.spans))?;
                    }
                }
                if let Some((_, path)) = w.finish(&self.name, 1, Vec::new())? {
                    out.push(Arc::new(Block::open(&path)?));
                }
            }
            Ok(out)
        })
    }

    fn add_blocks(&self, new: Vec<Arc<Block>>) {
        let mut blocks = self.blocks.write();
        blocks.extend(new);
        blocks.sort_by(|a, b| a.meta.id.cmp(&b.meta.id));
    }

    fn remove_blocks(&self, gone: &[Arc<Block>]) {
        self.blocks
            .write()
            .retain(|b| !gone.iter().any(|g| Arc::ptr_eq(g, b)));
        for b in gone {
            b.mark_deleted();
        }
    }

    /// Writes blocks for frozen heads, oldest first, and drops their WAL segments.
    fn persist_frozen(&self) -> Result<usize, TraceError> {
        let mut written = 0;
        loop {
            let Some(f) = self.frozen.read().first().cloned() else {
                return Ok(written);
            };
            let blocks = self.write_head_blocks(&f.head)?;
            written += blocks.len();
            self.add_blocks(blocks);
            self.frozen.write().retain(|x| !Arc::ptr_eq(x, &f));
            self.wal.remove_before(f.wal_segment)?;
        }
    }

    /// Cuts the head now and writes its blocks.
    pub fn flush(&self) -> Result<usize, TraceError> {
        let _m = self.maint_lock.lock();
        self.cut_head()?;
        self.persist_frozen()
    }

    /// Cuts the head if it is too large or too old, then writes pending blocks.
    /// Returns (cut, blocks written).
    pub fn maybe_cut(&self) -> Result<(bool, usize), TraceError> {
        let _m = self.maint_lock.lock();
        let head = self.head.read().clone();
        let now = self.clock.now_ms();
        let max_age = i64::try_from(self.opts.head_max_age.as_millis()).unwrap_or(i64::MAX);
        let age_due = head
            .first_ms()
            .is_some_and(|t| now.saturating_sub(t) >= max_age);
        let size_due = head.bytes() > self.opts.head_max_bytes;
        let cut = if (age_due || size_due) && !head.is_empty() {
            self.cut_head()?
        } else {
            false
        };
        Ok((cut, self.persist_frozen()?))
    }

    /// Runs at most `max` merges of blocks of the same time window (one call does a
    /// bounded amount of work; the next maintenance pass continues); returns how many ran.
    pub fn compact(&self, max: usize) -> Result<usize, TraceError> {
        let _c = self.compact_lock.lock();
        let mut done = 0;
        while done < max {
            let Some(group) = self.plan_compaction() else {
                break;
            };
            self.merge(&group)?;
            done += 1;
        }
        Ok(done)
    }

    /// The next group of blocks to merge, if any. Blocks are grouped by time window;
    /// within a window, `compaction_max_blocks` blocks of one level merge into one block
    /// of the next level (so data is rewritten a logarithmic number of times while the
    /// window is current), and once the window ended `compaction_delay` ago the blocks
    /// left in it that are still small merge, up to `block_target_bytes` per block.
    fn plan_compaction(&self) -> Option<Vec<Arc<Block>>> {
        let window = self.opts.window_ns();
        let now = now_ns(&*self.clock);
        let delay = dur_ns(self.opts.compaction_delay);
        let target = self.opts.block_target_bytes;
        let mut by_window: BTreeMap<u64, Vec<Arc<Block>>> = BTreeMap::new();
        for b in self.blocks.read().iter() {
            // a block with an unreadable page stays as it is (its readable data is still
            // served) until retention removes it
            if b.meta.data_bytes < target && !b.is_damaged() {
                by_window
                    .entry(b.meta.window_time_ns() / window)
                    .or_default()
                    .push(b.clone());
            }
        }
        for (w, mut blocks) in by_window {
            if blocks.len() < 2 {
                continue;
            }
            blocks.sort_by(|a, b| a.meta.id.cmp(&b.meta.id));
            let mut by_level: BTreeMap<u32, Vec<Arc<Block>>> = BTreeMap::new();
            for b in &blocks {
                by_level.entry(b.meta.level).or_default().push(b.clone());
            }
            for same in by_level.into_values() {
                if same.len() >= self.opts.compaction_max_blocks {
                    let group = take_upto(same, target, self.opts.compaction_max_blocks);
                    if group.len() >= 2 {
                        return Some(group);
                    }
                }
            }
            let window_end = w.saturating_add(1).saturating_mul(window);
            if window_end.saturating_add(delay) <= now {
                // big blocks are left as they are: rewriting them buys little
                let small: Vec<Arc<Block>> = blocks
                    .into_iter()
                    .filter(|b| b.meta.data_bytes < target / FINAL_MERGE_FRACTION)
                    .collect();
                let group = take_upto(small, target, usize::MAX);
                if group.len() >= 2 {
                    return Some(group);
                }
            }
        }
        None
    }

    /// Writes one block holding every trace of `group` (parts merged, duplicate span ids
    /// dropped), adds it, then removes the sources.
    fn merge(&self, group: &[Arc<Block>]) -> Result<(), TraceError> {
        let mut cursors: Vec<Cursor> = group
            .iter()
            .map(|b| Cursor {
                block: b.clone(),
                page: 0,
                items: VecDeque::new(),
            })
            .collect();
        let mut heap = BinaryHeap::new();
        let mut current: Vec<Option<TracePart>> = Vec::with_capacity(cursors.len());
        for (i, c) in cursors.iter_mut().enumerate() {
            let item = c.next()?;
            if let Some((id, _)) = &item {
                heap.push(Reverse((*id, i)));
            }
            current.push(item);
        }
        let name = self.block_name();
        let mut dict = Dict::default();
        for b in group {
            dict.merge(&b.dict()?);
        }
        let mut w = BlockWriter::create(
            &blocks_dir(&self.dir),
            &name,
            self.opts.page_target_bytes,
            self.opts.zstd_level,
        )?
        .with_dict(dict);
        for b in group {
            let (lo, hi) = b
                .meta
                .placed_ns
                .unwrap_or((b.meta.min_time_ns, b.meta.min_time_ns));
            w.note_placement(lo, hi, b.meta.retention_time_ns());
        }
        while let Some(Reverse((id, i))) = heap.pop() {
            let mut spans: Vec<StoredSpan> = Vec::new();
            let mut take = |i: usize,
                            spans: &mut Vec<StoredSpan>,
                            heap: &mut BinaryHeap<Reverse<(TraceId, usize)>>|
             -> Result<(), TraceError> {
                if let (Some(slot), Some(c)) = (current.get_mut(i), cursors.get_mut(i)) {
                    if let Some((_, s)) = slot.take() {
                        spans.extend(s);
                    }
                    *slot = c.next()?;
                    if let Some((nid, _)) = slot {
                        heap.push(Reverse((*nid, i)));
                    }
                }
                Ok(())
            };
            take(i, &mut spans, &mut heap)?;
            while heap.peek().is_some_and(|Reverse((nid, _))| *nid == id) {
                if let Some(Reverse((_, j))) = heap.pop() {
                    take(j, &mut spans, &mut heap)?;
                }
            }
            let mut seen: HashSet<SpanId> = HashSet::with_capacity(spans.len());
            spans.retain(|s| seen.insert(s.span.span_id));
            w.add(id, Cow::Owned(spans))?;
        }
        let level = group.iter().map(|b| b.meta.level).max().unwrap_or(1) + 1;
        let mut sources: Vec<String> = Vec::new();
        for b in group {
            sources.push(b.meta.id.clone());
            sources.extend(b.meta.sources.iter().cloned());
        }
        let new = match w.finish(&self.name, level, sources)? {
            Some((_, path)) => vec![Arc::new(Block::open(&path)?)],
            None => Vec::new(),
        };
        tracing::info!(
            tenant = %self.name,
            sources = group.len(),
            output = %name,
            "compacted trace blocks"
        );
        self.add_blocks(new);
        self.remove_blocks(group);
        self.counters.compactions.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Deletes blocks whose newest trace part was received before `now - retention`
    /// (never by the spans' own times, which a sender may date 1970 or 2100).
    pub fn apply_retention(&self) -> usize {
        let _c = self.compact_lock.lock();
        let cutoff = now_ns(&*self.clock).saturating_sub(dur_ns(self.opts.retention));
        let old: Vec<Arc<Block>> = self
            .blocks
            .read()
            .iter()
            .filter(|b| b.meta.retention_time_ns() < cutoff)
            .cloned()
            .collect();
        for b in &old {
            tracing::info!(tenant = %self.name, block = %b.meta.id, "trace block deleted by retention");
        }
        self.remove_blocks(&old);
        self.counters
            .blocks_deleted
            .fetch_add(old.len() as u64, Ordering::Relaxed);
        old.len()
    }

    /// Syncs and closes the WAL once in-flight appends are done.
    pub fn close(&self) -> Result<(), TraceError> {
        let _excl = self.cut_lock.write();
        self.wal.sync()?;
        self.wal.close()?;
        Ok(())
    }

    pub fn stats(&self) -> TenantTraceStats {
        let snap = self.snapshot();
        let mut s = self.counters.snapshot();
        for h in &snap.heads {
            s.head_spans += h.num_spans();
            s.head_traces += h.num_traces();
            s.head_bytes += h.bytes();
        }
        s.blocks = snap.blocks.len() as u64;
        for b in &snap.blocks {
            s.block_bytes += b.bytes;
            s.block_spans += b.meta.span_count;
            s.block_traces += b.meta.trace_count;
            s.index_mem_bytes += b.mem_bytes() as u64;
        }
        let wal = self.wal.stats();
        s.wal_segments = wal.segments;
        s.wal_fsyncs = wal.fsyncs;
        s.wal_bytes = wal.bytes;
        s
    }
}

/// The first blocks (at most `max`) whose data stays within `target` bytes; always at
/// least two when there are two.
fn take_upto(blocks: Vec<Arc<Block>>, target: u64, max: usize) -> Vec<Arc<Block>> {
    let mut group = Vec::new();
    let mut bytes = 0u64;
    for b in blocks {
        if group.len() >= max || (group.len() >= 2 && bytes + b.meta.data_bytes > target) {
            break;
        }
        bytes += b.meta.data_bytes;
        group.push(b);
    }
    group
}

/// Reads a block's pages in order, one page decoded at a time.
struct Cursor {
    block: Arc<Block>,
    page: usize,
    items: VecDeque<TracePart>,
}

impl Cursor {
    fn next(&mut self) -> Result<Option<TracePart>, TraceError> {
        loop {
            if let Some(x) = self.items.pop_front() {
                return Ok(Some(x));
            }
            if self.page >= self.block.num_pages() {
                return Ok(None);
            }
            self.items = self.block.read_page(self.page)?.into();
            self.page += 1;
        }
    }
}

/// Replays the WAL into `head`; returns true when it is corrupt before its tail (the
/// caller sets it aside after keeping what was read).
fn replay_wal(
    name: &str,
    wal_dir: &Path,
    head: &Head,
    now_ms: i64,
    counters: &Counters,
) -> Result<bool, TraceError> {
    let mut bad = 0u64;
    let result = Wal::replay(wal_dir, &mut |rec| {
        match decode_batch(rec) {
            Ok(batch) => {
                head.insert(batch, now_ms);
            }
            Err(e) => {
                bad += 1;
                tracing::error!(tenant = %name, error = %e, "skipping undecodable trace wal record");
            }
        }
        Ok(())
    });
    counters
        .corrupt_wal_records
        .fetch_add(bad, Ordering::Relaxed);
    match result {
        Ok(stats) => {
            if stats.truncated_tail_bytes > 0 {
                counters.wal_torn_tails.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    tenant = %name,
                    bytes = stats.truncated_tail_bytes,
                    "trace wal had a torn tail; it was cut off"
                );
            }
            tracing::info!(
                tenant = %name,
                records = stats.records,
                segments = stats.segments,
                spans = head.num_spans(),
                "replayed trace wal"
            );
            Ok(false)
        }
        Err(e @ StorageError::Corrupt { .. }) => {
            counters.corrupt_wals.fetch_add(1, Ordering::Relaxed);
            tracing::error!(tenant = %name, error = %e, "trace wal is corrupt before its tail, setting it aside");
            Ok(true)
        }
        Err(e) => Err(e.into()),
    }
}

/// Loads every block under `<dir>/blocks`: corrupt ones are set aside into
/// `<dir>/corrupted/`, blocks a compacted block replaces are deleted. Returns the blocks
/// and the highest block sequence number seen.
fn load_blocks(dir: &Path, counters: &Counters) -> Result<(Vec<Arc<Block>>, u64), TraceError> {
    let bdir = blocks_dir(dir);
    let entries = std::fs::read_dir(&bdir)
        .map_err(|e| TraceError::io(format!("read {}", bdir.display()), e))?;
    let mut blocks = Vec::new();
    let mut max_seq = 0u64;
    for entry in entries {
        let entry = entry.map_err(|e| TraceError::io(format!("read {}", bdir.display()), e))?;
        let path = entry.path();
        if !path.is_dir() {
            continue;
        }
        if let Some(seq) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| u64::from_str_radix(n, 16).ok())
        {
            max_seq = max_seq.max(seq);
        }
        match Block::open(&path) {
            Ok(b) => blocks.push(Arc::new(b)),
            Err(e) => {
                counters.corrupt_blocks.fetch_add(1, Ordering::Relaxed);
                tracing::error!(block = %path.display(), error = %e, "corrupt trace block set aside");
                set_aside(dir, &path)?;
            }
        }
    }
    let replaced: HashSet<String> = blocks
        .iter()
        .flat_map(|b| b.meta.sources.iter().cloned())
        .collect();
    blocks.retain(|b| {
        if replaced.contains(&b.meta.id) {
            tracing::info!(block = %b.meta.id, "deleting trace block replaced by a compacted block");
            b.mark_deleted();
            return false;
        }
        true
    });
    blocks.sort_by(|a, b| a.meta.id.cmp(&b.meta.id));
    Ok((blocks, max_seq))
}

/// Moves a block (or WAL) directory to `<tenant>/corrupted/`.
fn set_aside(tenant_dir: &Path, path: &Path) -> Result<(), TraceError> {
    let cdir = tenant_dir.join("corrupted");
    std::fs::create_dir_all(&cdir)
        .map_err(|e| TraceError::io(format!("create {}", cdir.display()), e))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "block".into());
    let mut target = cdir.join(&name);
    let mut n = 1;
    while target.exists() {
        target = cdir.join(format!("{name}.{n}"));
        n += 1;
    }
    std::fs::rename(path, &target)
        .map_err(|e| TraceError::io(format!("move {} aside", path.display()), e))
}
