//! Immutable trace blocks: writing ([`BlockWriter`]) and reading ([`Block`]).
//!
//! A block directory (written atomically through oxeye-storage's `BlockDirWriter`) holds:
//! - `data`: zstd-compressed [pages](crate::page) of whole traces, sorted by trace id;
//! - `index` (checksummed): per page its offset, length, CRC32, first and last trace id,
//!   trace count and time range; a bloom filter of the block's trace ids; the hint filter;
//! - `dict` (checksummed): the [dictionaries](crate::dict) of tag names, values and
//!   operations, read only by tag queries;
//! - `meta.json`: tenant, time range, span and trace counts, format version, compaction
//!   level and sources.
//!
//! Opening a block reads `meta.json` and `index` into memory (a few bytes per trace);
//! pages are read on demand with positioned reads and checked against their CRC, so a
//! trace-by-id lookup costs a bloom probe, a binary search and one page read.

use std::borrow::Cow;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use oxeye_core::trace::{ScanHint, TraceId};
use oxeye_storage::block::{BlockDirWriter, read_checksummed};
use serde::{Deserialize, Serialize};

use crate::TraceError;
use crate::bloom::{Bloom, hash_bytes};
use crate::dict::{Dict, HintFilter};
use crate::enc::{Dec, put_uvarint};
use crate::error::DecodeError;
use crate::model::{StoredSpan, time_range};
use crate::page::{TracePart, decode_page, decode_page_for, encode_page};

/// Version of the block layout written by this code.
pub const BLOCK_FORMAT_VERSION: u32 = 1;
const INDEX_VERSION: u8 = 1;
/// Largest uncompressed page accepted when reading.
const MAX_PAGE_RAW: u32 = 1 << 30;

/// A block's `meta.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlockMeta {
    /// Layout version.
    pub format_version: u32,
    /// Block id (also its directory name).
    pub id: String,
    /// The tenant whose spans it holds.
    pub tenant: String,
    /// Earliest span start, ns.
    pub min_time_ns: u64,
    /// Latest span end, ns.
    pub max_time_ns: u64,
    /// Spans stored.
    pub span_count: u64,
    /// Traces (or trace parts) stored.
    pub trace_count: u64,
    /// Pages in `data`.
    pub page_count: u64,
    /// Size of `data`.
    pub data_bytes: u64,
    /// 1 for blocks cut from the head, one more than the highest source for compacted ones.
    pub level: u32,
    /// Every block this one replaces (for compacted blocks).
    pub sources: Vec<String>,
    /// Earliest and latest placement time of its trace parts, ns: a part's earliest span
    /// start, or the time it was received when that start was implausibly far from it.
    /// Decides the block's time window. Absent in blocks written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placed_ns: Option<(u64, u64)>,
    /// Latest time a trace part of this block was received, ns; retention counts from
    /// it. Absent in blocks written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingested_max_ns: Option<u64>,
}

impl BlockMeta {
    /// The time deciding the block's window: its earliest placement time (its earliest
    /// span start for blocks without one).
    pub fn window_time_ns(&self) -> u64 {
        self.placed_ns.map_or(self.min_time_ns, |(lo, _)| lo)
    }

    /// The time retention counts from: the latest receive time (the latest span end for
    /// blocks without one).
    pub fn retention_time_ns(&self) -> u64 {
        self.ingested_max_ns.unwrap_or(self.max_time_ns)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PageMeta {
    pub offset: u64,
    pub len: u32,
    pub raw_len: u32,
    pub crc: u32,
    pub first: TraceId,
    pub last: TraceId,
    pub traces: u32,
    pub min_t: u64,
    pub max_t: u64,
}

/// Streams sorted trace parts into a new block directory.
pub(crate) struct BlockWriter<'a> {
    dir: BlockDirWriter,
    name: String,
    data_path: PathBuf,
    data: BufWriter<File>,
    offset: u64,
    pages: Vec<PageMeta>,
    pending: Vec<(TraceId, Cow<'a, [StoredSpan]>)>,
    pending_bytes: usize,
    page_target: usize,
    zstd_level: i32,
    id_hashes: Vec<u64>,
    dict: Dict,
    /// Set when the dictionaries were given up front (merged from compaction sources).
    dict_given: bool,
    min_t: u64,
    max_t: u64,
    placed: Option<(u64, u64)>,
    ingested_max: Option<u64>,
    spans: u64,
    last: Option<TraceId>,
}

impl<'a> BlockWriter<'a> {
    pub fn create(
        parent: &Path,
        name: &str,
        page_target: usize,
        zstd_level: i32,
    ) -> Result<Self, TraceError> {
        let dir = BlockDirWriter::create(parent, name)?;
        let data_path = dir.tmp_path().join("data");
        let file = File::create(&data_path)
            .map_err(|e| TraceError::io(format!("create {}", data_path.display()), e))?;
        Ok(Self {
            dir,
            name: name.to_owned(),
            data_path,
            data: BufWriter::with_capacity(1 << 20, file),
            offset: 0,
            pages: Vec::new(),
            pending: Vec::new(),
            pending_bytes: 0,
            page_target,
            zstd_level,
            id_hashes: Vec::new(),
            dict: Dict::default(),
            dict_given: false,
            min_t: u64::MAX,
            max_t: 0,
            placed: None,
            ingested_max: None,
            spans: 0,
            last: None,
        })
    }

    /// Uses `dict` (the union of the dictionaries of every span that will be added)
    /// instead of building one span by span.
    pub fn with_dict(mut self, dict: Dict) -> Self {
        self.dict = dict;
        self.dict_given = true;
        self
    }

    /// Adds one trace's spans; ids must come in increasing order.
    pub fn add(&mut self, id: TraceId, spans: Cow<'a, [StoredSpan]>) -> Result<(), TraceError> {
        if spans.is_empty() {
            return Ok(());
        }
        debug_assert!(self.last.is_none_or(|l| l < id), "trace ids out of order");
        self.last = Some(id);
        for s in spans.iter() {
            if !self.dict_given {
                self.dict.add(s);
            }
            self.pending_bytes += page_bytes_estimate(&s.span);
        }
        self.spans += spans.len() as u64;
        self.id_hashes.push(id_hash(&id));
        self.pending.push((id, spans));
        if self.pending_bytes >= self.page_target {
            self.flush_page()?;
        }
        Ok(())
    }

    /// Records the placement times `[lo, hi]` and the latest receive time of trace parts
    /// added (for `meta.json`: they decide the block's window and its retention).
    pub fn note_placement(&mut self, lo: u64, hi: u64, ingested: u64) {
        self.placed = Some(match self.placed {
            None => (lo, hi),
            Some((a, b)) => (a.min(lo), b.max(hi)),
        });
        self.ingested_max = Some(self.ingested_max.map_or(ingested, |i| i.max(ingested)));
    }

    fn flush_page(&mut self) -> Result<(), TraceError> {
        let (Some(first), Some(last)) = (self.pending.first(), self.pending.last()) else {
            return Ok(());
        };
        let (first, last) = (first.0, last.0);
        let (min_t, max_t) = time_range(
            self.pending
                .iter()
                .flat_map(|(_, s)| s.iter().map(|x| &x.span)),
        )
        .unwrap_or((0, 0));
        let raw = encode_page(&self.pending);
        let compressed = zstd::bulk::compress(&raw, self.zstd_level)
            .map_err(|e| TraceError::io("compress page", e))?;
        let (Ok(len), Ok(raw_len)) = (u32::try_from(compressed.len()), u32::try_from(raw.len()))
        else {
            return Err(TraceError::InvalidData(format!(
                "a page of {} bytes is too large for a block; a single trace part is too big",
                raw.len()
            )));
        };
        self.data
            .write_all(&compressed)
            .map_err(|e| TraceError::io(format!("write {}", self.data_path.display()), e))?;
        self.pages.push(PageMeta {
            offset: self.offset,
            len,
            raw_len,
            crc: crc32fast::hash(&compressed),
            first,
            last,
            traces: self.pending.len() as u32,
            min_t,
            max_t,
        });
        self.offset += u64::from(len);
        self.min_t = self.min_t.min(min_t);
        self.max_t = self.max_t.max(max_t);
        self.pending.clear();
        self.pending_bytes = 0;
        Ok(())
    }

    /// Writes index, dictionaries and meta and commits the block; `None` when nothing
    /// was added (no directory is left behind).
    pub fn finish(
        mut self,
        tenant: &str,
        level: u32,
        sources: Vec<String>,
    ) -> Result<Option<(BlockMeta, PathBuf)>, TraceError> {
        self.flush_page()?;
        if self.pages.is_empty() {
            return Ok(None);
        }
        let file = self.data.into_inner().map_err(|e| {
            TraceError::io(
                format!("write {}", self.data_path.display()),
                e.into_error(),
            )
        })?;
        file.sync_all()
            .map_err(|e| TraceError::io(format!("fsync {}", self.data_path.display()), e))?;
        let mut index = vec![INDEX_VERSION];
        put_uvarint(&mut index, self.pages.len() as u64);
        for p in &self.pages {
            put_uvarint(&mut index, p.offset);
            put_uvarint(&mut index, u64::from(p.len));
            put_uvarint(&mut index, u64::from(p.raw_len));
            index.extend_from_slice(&p.crc.to_le_bytes());
            index.extend_from_slice(&p.first);
            index.extend_from_slice(&p.last);
            put_uvarint(&mut index, u64::from(p.traces));
            put_uvarint(&mut index, p.min_t);
            put_uvarint(&mut index, p.max_t);
        }
        Bloom::from_hashes(&self.id_hashes).encode(&mut index);
        self.dict.hint_filter().encode(&mut index);
        self.dir.write_file("index", &index)?;
        self.dir.write_file("dict", &self.dict.encode())?;
        let meta = BlockMeta {
            format_version: BLOCK_FORMAT_VERSION,
            id: self.name.clone(),
            tenant: tenant.to_owned(),
            min_time_ns: self.min_t,
            max_time_ns: self.max_t,
            span_count: self.spans,
            trace_count: self.id_hashes.len() as u64,
            page_count: self.pages.len() as u64,
            data_bytes: self.offset,
            level,
            sources,
            placed_ns: self.placed,
            ingested_max_ns: self.ingested_max,
        };
        let json = serde_json::to_vec_pretty(&meta)
            .map_err(|e| TraceError::Corrupt(format!("cannot encode block meta: {e}")))?;
        self.dir.write_raw_file("meta.json", &json)?;
        let path = self.dir.commit()?;
        Ok(Some((meta, path)))
    }
}

/// About what a span adds to an uncompressed page (strings are shared per page).
fn page_bytes_estimate(s: &oxeye_core::trace::Span) -> usize {
    40 + s.name.len() / 4
        + s.attributes.len() * 6
        + s.events.len() * 16
        + s.links.len() * 32
        + s.events
            .iter()
            .map(|e| e.attributes.len() * 6)
            .sum::<usize>()
}

/// The hash of a trace id that block bloom filters hold.
pub(crate) fn id_hash(id: &TraceId) -> u64 {
    hash_bytes(id)
}

static NEXT_UID: AtomicU64 = AtomicU64::new(1);

/// An open block. Shared behind `Arc`; once [`Block::mark_deleted`] its directory is
/// removed when the last reader drops it.
#[derive(Debug)]
pub(crate) struct Block {
    pub dir: PathBuf,
    pub meta: BlockMeta,
    pub uid: u64,
    pub bytes: u64,
    file: File,
    pages: Vec<PageMeta>,
    ids: Bloom,
    hints: HintFilter,
    deleted: AtomicBool,
    /// Set once a page failed to read back; such a block is left out of compaction.
    damaged: AtomicBool,
}

fn corrupt(dir: &Path, what: impl std::fmt::Display) -> TraceError {
    TraceError::Corrupt(format!("block {}: {what}", dir.display()))
}

fn decode_index(
    d: &mut Dec<'_>,
    data_bytes: u64,
) -> Result<(Vec<PageMeta>, Bloom, HintFilter), DecodeError> {
    let v = d.u8()?;
    if v != INDEX_VERSION {
        return Err(DecodeError(format!("unknown index version {v}")));
    }
    let n = d.count(40)?;
    let mut pages = Vec::with_capacity(n);
    let mut prev_end = 0u64;
    for i in 0..n {
        let p = PageMeta {
            offset: d.uvarint()?,
            len: d.u32v()?,
            raw_len: d.u32v()?,
            crc: d.u32le()?,
            first: d.array()?,
            last: d.array()?,
            traces: d.u32v()?,
            min_t: d.uvarint()?,
            max_t: d.uvarint()?,
        };
        if p.offset < prev_end || p.offset.saturating_add(u64::from(p.len)) > data_bytes {
            return Err(DecodeError(format!("page {i} lies outside the data file")));
        }
        if p.first > p.last || pages.last().is_some_and(|q: &PageMeta| q.last >= p.first) {
            return Err(DecodeError(format!("page {i} trace ids are out of order")));
        }
        prev_end = p.offset + u64::from(p.len);
        pages.push(p);
    }
    let ids = Bloom::decode(d)?;
    let hints = HintFilter::decode(d)?;
    Ok((pages, ids, hints))
}

impl Block {
    /// Opens and verifies the block in `dir` (meta, index checksum, data size).
    pub fn open(dir: &Path) -> Result<Block, TraceError> {
        let meta_path = dir.join("meta.json");
        let raw = std::fs::read(&meta_path)
            .map_err(|e| TraceError::io(format!("read {}", meta_path.display()), e))?;
        let meta: BlockMeta = serde_json::from_slice(&raw)
            .map_err(|e| corrupt(dir, format!("bad meta.json: {e}")))?;
        if meta.format_version != BLOCK_FORMAT_VERSION {
            return Err(corrupt(
                dir,
                format!("unsupported format version {}", meta.format_version),
            ));
        }
        let index = read_checksummed(&dir.join("index"))?;
        let (pages, ids, hints) = decode_index(&mut Dec::new(&index), meta.data_bytes)
            .map_err(|e| corrupt(dir, format!("bad index: {e}")))?;
        let data_path = dir.join("data");
        let file = File::open(&data_path)
            .map_err(|e| TraceError::io(format!("open {}", data_path.display()), e))?;
        let len = file
            .metadata()
            .map_err(|e| TraceError::io(format!("stat {}", data_path.display()), e))?
            .len();
        if len != meta.data_bytes {
            return Err(corrupt(
                dir,
                format!(
                    "data file holds {len} bytes, meta.json says {}",
                    meta.data_bytes
                ),
            ));
        }
        let bytes = oxeye_storage::block::dir_size(dir)?;
        Ok(Block {
            dir: dir.to_path_buf(),
            meta,
            uid: NEXT_UID.fetch_add(1, Ordering::Relaxed),
            bytes,
            file,
            pages,
            ids,
            hints,
            deleted: AtomicBool::new(false),
            damaged: AtomicBool::new(false),
        })
    }

    pub fn num_pages(&self) -> usize {
        self.pages.len()
    }

    pub fn page_range(&self, i: usize) -> Option<(u64, u64)> {
        self.pages.get(i).map(|p| (p.min_t, p.max_t))
    }

    /// The page that may hold `id` (whose [`id_hash`] is `h`), if the bloom filter does
    /// not rule it out.
    pub fn page_for(&self, id: &TraceId, h: u64) -> Option<usize> {
        if !self.ids.may_contain(h) {
            return None;
        }
        let i = self.pages.partition_point(|p| p.last < *id);
        self.pages.get(i).filter(|p| p.first <= *id).map(|_| i)
    }

    pub fn overlaps(&self, start: u64, end: u64) -> bool {
        self.meta.max_time_ns >= start && self.meta.min_time_ns <= end
    }

    pub fn may_match(&self, hints: &[ScanHint]) -> bool {
        self.hints.may_match(hints)
    }

    /// Whether a page of this block failed to read back.
    pub fn is_damaged(&self) -> bool {
        self.damaged.load(Ordering::Relaxed)
    }

    fn damaged(&self, e: TraceError) -> TraceError {
        if matches!(e, TraceError::Corrupt(_)) {
            self.damaged.store(true, Ordering::Relaxed);
        }
        e
    }

    /// Reads, verifies and decompresses page `i`.
    fn read_raw(&self, i: usize) -> Result<Vec<u8>, TraceError> {
        self.read_raw_unchecked(i).map_err(|e| self.damaged(e))
    }

    fn read_raw_unchecked(&self, i: usize) -> Result<Vec<u8>, TraceError> {
        let p = self
            .pages
            .get(i)
            .ok_or_else(|| corrupt(&self.dir, format!("no page {i}")))?;
        if p.raw_len > MAX_PAGE_RAW {
            return Err(corrupt(
                &self.dir,
                format!("page {i} claims {} uncompressed bytes", p.raw_len),
            ));
        }
        let mut buf = vec![0u8; p.len as usize];
        self.file
            .read_exact_at(&mut buf, p.offset)
            .map_err(|e| TraceError::io(format!("read page {i} of {}", self.dir.display()), e))?;
        if crc32fast::hash(&buf) != p.crc {
            return Err(corrupt(&self.dir, format!("page {i} checksum mismatch")));
        }
        let raw = zstd::bulk::decompress(&buf, p.raw_len as usize)
            .map_err(|e| corrupt(&self.dir, format!("page {i} does not decompress: {e}")))?;
        if raw.len() != p.raw_len as usize {
            return Err(corrupt(
                &self.dir,
                format!(
                    "page {i} decompressed to {} bytes, expected {}",
                    raw.len(),
                    p.raw_len
                ),
            ));
        }
        Ok(raw)
    }

    /// Reads, verifies and decodes page `i`.
    pub fn read_page(&self, i: usize) -> Result<Vec<TracePart>, TraceError> {
        let raw = self.read_raw(i)?;
        decode_page(&raw).map_err(|e| self.damaged(corrupt(&self.dir, format!("page {i}: {e}"))))
    }

    /// The spans of `id` in page `i`, decoding only that trace.
    pub fn read_trace(
        &self,
        i: usize,
        id: &TraceId,
    ) -> Result<Option<Vec<StoredSpan>>, TraceError> {
        let raw = self.read_raw(i)?;
        let parts = decode_page_for(&raw, Some(id))
            .map_err(|e| self.damaged(corrupt(&self.dir, format!("page {i}: {e}"))))?;
        Ok(parts.into_iter().find(|(pid, _)| pid == id).map(|(_, s)| s))
    }

    /// Reads the block's dictionaries.
    pub fn dict(&self) -> Result<Dict, TraceError> {
        let raw = read_checksummed(&self.dir.join("dict"))?;
        Dict::decode(&raw).map_err(|e| corrupt(&self.dir, format!("bad dict: {e}")))
    }

    /// Memory held by the open block.
    pub fn mem_bytes(&self) -> usize {
        self.pages.len() * std::mem::size_of::<PageMeta>() + self.ids.bytes() + self.hints.bytes()
    }

    /// Deletes the directory once the last holder drops the block.
    pub fn mark_deleted(&self) {
        self.deleted.store(true, Ordering::SeqCst);
    }
}

impl Drop for Block {
    fn drop(&mut self) {
        if !self.deleted.load(Ordering::SeqCst) {
            return;
        }
        match std::fs::remove_dir_all(&self.dir) {
            Ok(()) => tracing::info!(block = %self.meta.id, "removed trace block directory"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::error!(block = %self.meta.id, error = %e, "cannot remove deleted trace block")
            }
        }
    }
}
