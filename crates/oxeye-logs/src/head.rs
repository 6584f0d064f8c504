//! The head: entries appended since the last cut, per stream.
//!
//! Each stream keeps an *open* run of entries (any order; sorted when read or sealed)
//! and the *sealed* chunks it already filled: once the open run holds
//! `chunk_target_bytes` of lines it is sorted, deduplicated and encoded into a
//! compressed chunk with its filter, so the head holds most of its data compressed.
//! A cut writes every stream's sealed chunks and the rest of its open run to a chunk
//! file. Every stream has its own lock, so appenders to different streams (and readers)
//! do not wait on each other's encoding.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use oxeye_core::logs::LogEntry;
use parking_lot::{Mutex, RwLock};

use crate::chunk::{EncodedChunk, encode_chunk, sort_dedup};

/// Per-entry bookkeeping counted on top of line and metadata bytes.
const ENTRY_OVERHEAD: usize = 48;

pub(crate) fn entry_mem(e: &LogEntry) -> usize {
    ENTRY_OVERHEAD
        + e.line.len()
        + e.metadata
            .iter()
            .map(|(n, v)| n.len() + v.len() + 48)
            .sum::<usize>()
}

/// Bytes of an entry's line and metadata, as the WAL holds them (uncompressed).
pub(crate) fn raw_bytes(e: &LogEntry) -> usize {
    e.line.len()
        + e.metadata
            .iter()
            .map(|(n, v)| n.len() + v.len())
            .sum::<usize>()
}

/// One stream's part of the head.
#[derive(Debug, Default)]
pub(crate) struct HeadStream {
    pub sealed: Vec<Arc<EncodedChunk>>,
    /// Shared with readers: a query takes the `Arc` instead of copying the run, and an
    /// append copies it only while a reader still holds it (copy on write).
    open: Arc<Vec<LogEntry>>,
    /// The open run is sorted by time and line, without duplicates.
    open_sorted: bool,
    open_line_bytes: usize,
    open_mem: usize,
    pub min_ts: i64,
    pub max_ts: i64,
}

impl HeadStream {
    fn is_empty(&self) -> bool {
        self.sealed.is_empty() && self.open.is_empty()
    }

    /// Adds entries; returns the change in memory held (sealing shrinks it).
    fn push(&mut self, entries: Vec<LogEntry>, target: usize, level: i32) -> i64 {
        let mut delta = 0i64;
        for e in entries {
            if self.is_empty() {
                self.min_ts = e.ts_ns;
                self.max_ts = e.ts_ns;
            }
            self.min_ts = self.min_ts.min(e.ts_ns);
            self.max_ts = self.max_ts.max(e.ts_ns);
            if self.open.is_empty() {
                self.open_sorted = true;
            } else if let Some(last) = self.open.last()
                && (last.ts_ns, &last.line) >= (e.ts_ns, &e.line)
            {
                self.open_sorted = false;
            }
            let m = entry_mem(&e);
            self.open_line_bytes += e.line.len();
            self.open_mem += m;
            delta += m as i64;
            Arc::make_mut(&mut self.open).push(e);
            if self.open_line_bytes >= target {
                delta += self.seal(level);
            }
        }
        delta
    }

    fn sort_open(&mut self) {
        if !self.open_sorted {
            sort_dedup(Arc::make_mut(&mut self.open));
            self.open_sorted = true;
        }
    }

    /// Encodes the open run into a sealed chunk; returns the change in memory.
    fn seal(&mut self, level: i32) -> i64 {
        if self.open.is_empty() {
            return 0;
        }
        self.sort_open();
        let chunk = encode_chunk(&self.open, level);
        let freed = self.open_mem as i64;
        let added = chunk.mem_bytes() as i64;
        self.sealed.push(Arc::new(chunk));
        match Arc::get_mut(&mut self.open) {
            Some(v) => v.clear(),
            None => self.open = Arc::new(Vec::new()),
        }
        self.open_line_bytes = 0;
        self.open_mem = 0;
        added - freed
    }

    /// The open run, sorted and deduplicated, shared rather than copied, with the index
    /// range of its entries within `[start, end)`; `None` when no entry is in it.
    pub fn open_range(
        &mut self,
        start: i64,
        end: i64,
    ) -> Option<(Arc<Vec<LogEntry>>, Range<usize>)> {
        self.sort_open();
        let lo = self.open.partition_point(|e| e.ts_ns < start);
        let hi = self.open.partition_point(|e| e.ts_ns < end);
        (lo < hi).then(|| (self.open.clone(), lo..hi))
    }

    /// Count and line bytes of open entries within `[start, end)`.
    pub fn open_stats(&self, start: i64, end: i64) -> (u64, u64) {
        self.open
            .iter()
            .filter(|e| e.ts_ns >= start && e.ts_ns < end)
            .fold((0, 0), |(n, b), e| (n + 1, b + e.line.len() as u64))
    }

    /// Seals what is open and hands out every chunk (for a cut).
    pub fn drain_chunks(&mut self, level: i32) -> Vec<Arc<EncodedChunk>> {
        self.seal(level);
        self.sealed.clone()
    }

    pub fn overlaps(&self, start: i64, end: i64) -> bool {
        !self.is_empty() && self.min_ts < end && self.max_ts >= start
    }
}

/// The head of one tenant.
#[derive(Debug)]
pub(crate) struct Head {
    pub streams: RwLock<HashMap<u32, Arc<Mutex<HeadStream>>>>,
    bytes: AtomicU64,
    /// Bytes of lines and metadata appended (what the WAL holds for this head).
    raw_bytes: AtomicU64,
    /// Clock time (ms) of the first append, `i64::MAX` while empty.
    first_append_ms: AtomicI64,
    pub entries: AtomicU64,
}

impl Default for Head {
    fn default() -> Self {
        Self {
            streams: RwLock::new(HashMap::new()),
            bytes: AtomicU64::new(0),
            raw_bytes: AtomicU64::new(0),
            first_append_ms: AtomicI64::new(i64::MAX),
            entries: AtomicU64::new(0),
        }
    }
}

impl Head {
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    pub fn raw_bytes(&self) -> u64 {
        self.raw_bytes.load(Ordering::Relaxed)
    }

    pub fn first_append_ms(&self) -> Option<i64> {
        let v = self.first_append_ms.load(Ordering::Relaxed);
        (v != i64::MAX).then_some(v)
    }

    pub fn is_empty(&self) -> bool {
        self.entries.load(Ordering::Relaxed) == 0
    }

    pub fn stream(&self, id: u32) -> Option<Arc<Mutex<HeadStream>>> {
        self.streams.read().get(&id).cloned()
    }

    /// Appends `entries` to stream `id`.
    pub fn append(&self, id: u32, entries: Vec<LogEntry>, now_ms: i64, target: usize, level: i32) {
        if entries.is_empty() {
            return;
        }
        self.first_append_ms.fetch_min(now_ms, Ordering::Relaxed);
        self.entries
            .fetch_add(entries.len() as u64, Ordering::Relaxed);
        let raw: usize = entries.iter().map(raw_bytes).sum();
        self.raw_bytes.fetch_add(raw as u64, Ordering::Relaxed);
        let s = match self.stream(id) {
            Some(s) => s,
            None => self.streams.write().entry(id).or_default().clone(),
        };
        let delta = s.lock().push(entries, target, level);
        if delta >= 0 {
            self.bytes.fetch_add(delta as u64, Ordering::Relaxed);
        } else {
            let _ = self
                .bytes
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
                    Some(b.saturating_sub(delta.unsigned_abs()))
                });
        }
    }

    /// Number of streams with data.
    pub fn stream_count(&self) -> usize {
        self.streams.read().len()
    }

    /// Stream ids with data, sorted.
    pub fn stream_ids(&self) -> Vec<u32> {
        let mut v: Vec<u32> = self.streams.read().keys().copied().collect();
        v.sort_unstable();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_at_target_and_keeps_order() {
        let h = Head::default();
        for i in (0..100).rev() {
            h.append(1, vec![LogEntry::new(i, format!("line {i:03}"))], 5, 200, 3);
        }
        // duplicate (same ts and line) is dropped when read or sealed
        h.append(1, vec![LogEntry::new(99, "line 099")], 5, 200, 3);
        let s = h.stream(1).unwrap();
        let mut s = s.lock();
        assert!(!s.sealed.is_empty());
        let mut all: Vec<LogEntry> = s.sealed.iter().flat_map(|c| c.decode().unwrap()).collect();
        let (run, range) = s.open_range(i64::MIN, i64::MAX).unwrap();
        all.extend_from_slice(&run[range]);
        all.sort_by_key(|e| e.ts_ns);
        all.dedup_by(|b, a| a.ts_ns == b.ts_ns && a.line == b.line);
        assert_eq!(all.len(), 100);
        assert_eq!((s.min_ts, s.max_ts), (0, 99));
        assert_eq!(h.first_append_ms(), Some(5));
        let chunks = s.drain_chunks(3);
        let n: u32 = chunks.iter().map(|c| c.meta.entries).sum();
        // the late duplicate landed in a later chunk; reads merge it away
        assert_eq!(n, 101);
    }

    #[test]
    fn reads_share_the_open_run_instead_of_copying_it() {
        let h = Head::default();
        for i in (0..10).rev() {
            h.append(1, vec![LogEntry::new(i, format!("l{i}"))], 5, 1 << 20, 3);
        }
        let s = h.stream(1).unwrap();
        let (a, ra) = s.lock().open_range(2, 5).unwrap();
        let (b, rb) = s.lock().open_range(0, 100).unwrap();
        // both reads hold the one sorted run
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!((ra, rb), (2..5, 0..10));
        assert!(Arc::ptr_eq(&a, &s.lock().open));
        // an append while a reader holds the run leaves the reader's view unchanged
        h.append(1, vec![LogEntry::new(3, "l3 late")], 5, 1 << 20, 3);
        assert_eq!(a.len(), 10);
        let (c, rc) = s.lock().open_range(0, 100).unwrap();
        assert!(!Arc::ptr_eq(&a, &c));
        assert_eq!(rc, 0..11);
        assert!(s.lock().open_range(100, 200).is_none());
    }

    #[test]
    fn append_counts_line_and_metadata_bytes() {
        let h = Head::default();
        let mut e = LogEntry::new(1, "0123456789");
        e.metadata.push(("k".into(), "vv".into()));
        h.append(1, vec![e, LogEntry::new(2, "abc")], 5, 1 << 20, 3);
        h.append(2, vec![LogEntry::new(3, "xy")], 5, 1 << 20, 3);
        assert_eq!(h.raw_bytes(), 10 + 1 + 2 + 3 + 2);
    }
}
