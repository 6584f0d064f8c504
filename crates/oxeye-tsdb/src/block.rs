//! Persistent blocks: immutable directories holding a time range of one tenant's data.
//!
//! ```text
//! <tenant>/blocks/<id>/meta.json   BlockMeta as JSON (id, tenant, range, counts, version, compaction)
//! <tenant>/blocks/<id>/index       checksummed: symbols, series (labels, min/max t, count), postings
//! <tenant>/blocks/<id>/chunks      checksummed: BlockEncoder output; series ref = position in index
//! ```
//! Index layout (varints, see `enc.rs`):
//! ```text
//! "OXIX" u8 version
//! uvarint nsym { str }                                  sorted unique label names and values
//! uvarint nseries { uvarint nlabels { uvarint name_sym uvarint value_sym }
//!                   varint min_t uvarint (max_t-min_t) uvarint num_samples
//!                   u64le value bits at max_t }                         sorted by labels
//! uvarint nnames { uvarint name_sym uvarint nvalues { uvarint value_sym uvarint nrefs { uvarint delta } } }
//! ```
//! Blocks are written through `BlockDirWriter` (temporary directory, fsync, rename), so a
//! crash never leaves half a block. A [`Block`] is shared as `Arc<Block>`: a querier keeps
//! the ones it reads alive; deleting a block only marks it and the directory goes away
//! when the last reference is dropped. Chunk data is read on demand and shared while any
//! reader holds it.

use std::cell::Cell;
use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use oxeye_core::{Label, Labels, Sample};
use oxeye_storage::block::{BlockDirWriter, dir_size, read_checksummed};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::TsdbError;
use crate::codec::{BlockDecoder, BlockEncoder, ColumnCache, PageCache};
use crate::enc::{DecodeError, Reader, put_str, put_u64, put_uvarint, put_varint};
use crate::index::LabelIndex;

/// Current block format version.
pub const BLOCK_VERSION: u32 = 1;
const INDEX_MAGIC: &[u8; 4] = b"OXIX";
const META_FILE: &str = "meta.json";
const INDEX_FILE: &str = "index";
const CHUNKS_FILE: &str = "chunks";

/// Compaction lineage of a block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct CompactionMeta {
    /// 1 for blocks cut from the head, +1 per compaction.
    pub level: u32,
    /// Ids of every block this one replaces (all ancestors).
    pub sources: Vec<String>,
}

/// `meta.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockMeta {
    /// Format version.
    pub version: u32,
    /// Block id (also the directory name).
    pub id: String,
    /// Owning tenant.
    pub tenant: String,
    /// Oldest sample timestamp, ms.
    pub min_t: i64,
    /// Newest sample timestamp, ms.
    pub max_t: i64,
    /// Number of series.
    pub num_series: u64,
    /// Number of samples.
    pub num_samples: u64,
    /// Lineage.
    pub compaction: CompactionMeta,
}

/// One series of a block's index.
#[derive(Debug, Clone)]
pub(crate) struct BlockSeries {
    pub labels: Arc<Labels>,
    pub min_t: i64,
    pub max_t: i64,
    /// Value bits of the sample at `max_t`.
    pub last_bits: u64,
}

/// A fresh block id: time-ordered hex, unique within the process.
pub(crate) fn new_block_id() -> String {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    format!(
        "{nanos:016x}{:04x}{:06x}",
        std::process::id() & 0xffff,
        SEQ.fetch_add(1, Ordering::Relaxed) & 0xff_ffff
    )
}

/// Writes a block from `series`, which must come sorted by labels, each with samples
/// sorted strictly by time. Series without samples are skipped; returns `None` when no
/// series has any (nothing is written).
pub(crate) fn write_block<I>(
    blocks_dir: &Path,
    tenant: &str,
    compaction: CompactionMeta,
    series: I,
) -> Result<Option<(BlockMeta, PathBuf)>, TsdbError>
where
    I: Iterator<Item = Result<(Arc<Labels>, Vec<Sample>), TsdbError>>,
{
    let mut enc = BlockEncoder::new();
    let mut entries: Vec<IndexEntry> = Vec::new();
    let (mut min_t, mut max_t, mut num_samples) = (i64::MAX, i64::MIN, 0u64);
    for item in series {
        let (labels, samples) = item?;
        let (Some(first), Some(last)) = (samples.first(), samples.last()) else {
            continue;
        };
        debug_assert!(entries.last().is_none_or(|e| e.labels < labels));
        let sref = u32::try_from(entries.len())
            .map_err(|_| TsdbError::Corrupt("block would exceed 2^32 series".into()))?;
        enc.add_series(sref, &samples)?;
        min_t = min_t.min(first.t);
        max_t = max_t.max(last.t);
        num_samples += samples.len() as u64;
        entries.push(IndexEntry {
            labels,
            min_t: first.t,
            max_t: last.t,
            num_samples: samples.len() as u64,
            last_bits: last.v.to_bits(),
        });
    }
    if entries.is_empty() {
        return Ok(None);
    }
    let chunks = enc.finish();
    let index = encode_index(&entries);
    let id = new_block_id();
    let meta = BlockMeta {
        version: BLOCK_VERSION,
        id: id.clone(),
        tenant: tenant.to_string(),
        min_t,
        max_t,
        num_series: entries.len() as u64,
        num_samples,
        compaction,
    };
    let meta_json = serde_json::to_vec_pretty(&meta)
        .map_err(|e| TsdbError::Corrupt(format!("cannot encode block meta: {e}")))?;
    let mut w = BlockDirWriter::create(blocks_dir, &id)?;
    w.write_file(CHUNKS_FILE, &chunks)?;
    w.write_file(INDEX_FILE, &index)?;
    w.write_raw_file(META_FILE, &meta_json)?;
    let path = w.commit()?;
    tracing::info!(
        tenant,
        block = %id,
        min_t,
        max_t,
        series = meta.num_series,
        samples = num_samples,
        "wrote block"
    );
    Ok(Some((meta, path)))
}

/// One series as the index file records it.
struct IndexEntry {
    labels: Arc<Labels>,
    min_t: i64,
    max_t: i64,
    num_samples: u64,
    last_bits: u64,
}

fn encode_index(entries: &[IndexEntry]) -> Vec<u8> {
    let mut symbols: BTreeMap<&str, u32> = BTreeMap::new();
    for e in entries {
        for lab in e.labels.iter() {
            symbols.insert(lab.name.as_str(), 0);
            symbols.insert(lab.value.as_str(), 0);
        }
    }
    for (i, v) in symbols.values_mut().enumerate() {
        *v = i as u32;
    }
    let mut buf = Vec::with_capacity(entries.len() * 64);
    buf.extend_from_slice(INDEX_MAGIC);
    buf.push(BLOCK_VERSION as u8);
    put_uvarint(&mut buf, symbols.len() as u64);
    for s in symbols.keys() {
        put_str(&mut buf, s);
    }
    let mut postings: BTreeMap<(u32, u32), Vec<u32>> = BTreeMap::new();
    put_uvarint(&mut buf, entries.len() as u64);
    for (i, e) in entries.iter().enumerate() {
        put_uvarint(&mut buf, e.labels.len() as u64);
        for lab in e.labels.iter() {
            let (ns, vs) = (symbols[lab.name.as_str()], symbols[lab.value.as_str()]);
            put_uvarint(&mut buf, u64::from(ns));
            put_uvarint(&mut buf, u64::from(vs));
            postings.entry((ns, vs)).or_default().push(i as u32);
        }
        put_varint(&mut buf, e.min_t);
        put_uvarint(&mut buf, e.max_t.wrapping_sub(e.min_t) as u64);
        put_uvarint(&mut buf, e.num_samples);
        put_u64(&mut buf, e.last_bits);
    }
    // group by name
    let mut by_name: BTreeMap<u32, Vec<(u32, &Vec<u32>)>> = BTreeMap::new();
    for ((n, v), refs) in &postings {
        by_name.entry(*n).or_default().push((*v, refs));
    }
    put_uvarint(&mut buf, by_name.len() as u64);
    for (n, values) in &by_name {
        put_uvarint(&mut buf, u64::from(*n));
        put_uvarint(&mut buf, values.len() as u64);
        for (v, refs) in values {
            put_uvarint(&mut buf, u64::from(*v));
            put_uvarint(&mut buf, refs.len() as u64);
            let mut prev = 0u32;
            for r in refs.iter() {
                put_uvarint(&mut buf, u64::from(r - prev));
                prev = *r;
            }
        }
    }
    buf
}

fn decode_index(buf: &[u8]) -> Result<(Vec<BlockSeries>, LabelIndex<u32>), DecodeError> {
    let mut r = Reader::new(buf);
    if r.bytes(4)? != INDEX_MAGIC {
        return Err(DecodeError("bad index magic".into()));
    }
    let version = r.u8()?;
    if u32::from(version) != BLOCK_VERSION {
        return Err(DecodeError(format!("unsupported index version {version}")));
    }
    let max = buf.len();
    let nsym = r.len(max)?;
    let mut symbols: Vec<&str> = Vec::with_capacity(nsym);
    for _ in 0..nsym {
        symbols.push(r.str()?);
    }
    let sym = |i: u64| -> Result<&str, DecodeError> {
        usize::try_from(i)
            .ok()
            .and_then(|i| symbols.get(i).copied())
            .ok_or_else(|| DecodeError(format!("symbol {i} out of range")))
    };
    let nseries = r.len(max)?;
    let mut series = Vec::with_capacity(nseries);
    for _ in 0..nseries {
        let nl = r.len(max)?;
        let mut labels = Vec::with_capacity(nl);
        for _ in 0..nl {
            let name = sym(r.uvarint()?)?;
            let value = sym(r.uvarint()?)?;
            labels.push(Label::new(name, value));
        }
        let min_t = r.varint()?;
        let max_t = min_t.wrapping_add(r.uvarint()? as i64);
        let _num_samples = r.uvarint()?;
        let last_bits = r.u64()?;
        series.push(BlockSeries {
            labels: Arc::new(Labels::new(labels)),
            min_t,
            max_t,
            last_bits,
        });
    }
    let mut index = LabelIndex::new();
    index.set_all((0..nseries as u32).collect());
    let nnames = r.len(max)?;
    for _ in 0..nnames {
        let name = sym(r.uvarint()?)?;
        let nvalues = r.len(max)?;
        for _ in 0..nvalues {
            let value = sym(r.uvarint()?)?;
            let nrefs = r.len(nseries)?;
            let mut refs = Vec::with_capacity(nrefs);
            let mut prev = 0u64;
            for i in 0..nrefs {
                let d = r.uvarint()?;
                if i > 0 && d == 0 {
                    return Err(DecodeError("postings not strictly increasing".into()));
                }
                prev = prev.saturating_add(d);
                if prev >= nseries as u64 {
                    return Err(DecodeError(format!("posting {prev} out of range")));
                }
                refs.push(prev as u32);
            }
            index.add_postings(name, value, refs);
        }
    }
    if !r.is_empty() {
        return Err(DecodeError("trailing bytes after index".into()));
    }
    Ok((series, index))
}

/// Keeps the chunk data of the most recently read blocks in memory, up to a byte budget
/// shared by all tenants, so repeated queries do not re-read and re-verify files; and
/// holds the database's [`PageCache`] of decompressed pages, which block decoders share
/// under their block's process-unique id.
pub(crate) struct ChunkCache {
    budget: u64,
    lru: Mutex<VecDeque<(u64, Arc<BlockDecoder>, u64)>>,
    pages: Arc<PageCache>,
}

impl ChunkCache {
    pub fn new(budget: u64, page_budget: u64) -> Arc<Self> {
        Arc::new(Self {
            budget,
            lru: Mutex::new(VecDeque::new()),
            pages: PageCache::new(page_budget),
        })
    }

    /// The shared cache of decompressed pages.
    pub fn pages(&self) -> &PageCache {
        &self.pages
    }

    fn touch(&self, uid: u64, dec: &Arc<BlockDecoder>, bytes: u64) {
        let mut lru = self.lru.lock();
        if bytes > self.budget {
            lru.retain(|e| e.0 != uid);
            return;
        }
        match lru.iter().position(|e| e.0 == uid) {
            Some(pos) => {
                if let Some(e) = lru.remove(pos) {
                    lru.push_back(e);
                }
            }
            None => lru.push_back((uid, dec.clone(), bytes)),
        }
        let mut total: u64 = lru.iter().map(|e| e.2).sum();
        while total > self.budget {
            let Some(e) = lru.pop_front() else { break };
            total -= e.2;
        }
    }

    fn forget(&self, uid: u64) {
        self.lru.lock().retain(|e| e.0 != uid);
        self.pages.forget_block(uid);
    }

    /// Bytes of chunk data held.
    pub fn bytes(&self) -> u64 {
        self.lru.lock().iter().map(|e| e.2).sum()
    }
}

thread_local! {
    /// The timestamp columns decoded last on this thread and the uid of their block.
    static COLUMNS: Cell<(u64, ColumnCache)> = Cell::new((0, ColumnCache::default()));
}

/// A loaded block.
pub(crate) struct Block {
    pub meta: BlockMeta,
    dir: PathBuf,
    pub bytes: u64,
    pub series: Vec<BlockSeries>,
    pub index: LabelIndex<u32>,
    decoder: Mutex<Weak<BlockDecoder>>,
    deleted: AtomicBool,
    /// Process-unique id for the chunk and page caches: never reused, so a deleted
    /// block's cached pages are never served for another block.
    uid: u64,
    chunk_bytes: u64,
    cache: Arc<ChunkCache>,
}

impl std::fmt::Debug for Block {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Block")
            .field("id", &self.meta.id)
            .field("min_t", &self.meta.min_t)
            .field("max_t", &self.meta.max_t)
            .finish_non_exhaustive()
    }
}

impl Block {
    /// Opens and fully verifies the block in `dir`: meta, index and chunk checksums, and
    /// that the chunks decode.
    pub fn open(dir: &Path, cache: Arc<ChunkCache>) -> Result<Block, TsdbError> {
        let meta_path = dir.join(META_FILE);
        let raw = std::fs::read(&meta_path)
            .map_err(|e| TsdbError::io(format!("read {}", meta_path.display()), e))?;
        let meta: BlockMeta = serde_json::from_slice(&raw)
            .map_err(|e| TsdbError::Corrupt(format!("invalid {}: {e}", meta_path.display())))?;
        if meta.version != BLOCK_VERSION {
            return Err(TsdbError::Corrupt(format!(
                "block {} has unsupported version {}",
                dir.display(),
                meta.version
            )));
        }
        let index_path = dir.join(INDEX_FILE);
        let index_bytes = read_checksummed(&index_path)?;
        let (series, index) = decode_index(&index_bytes).map_err(|e| {
            TsdbError::Corrupt(format!("invalid index {}: {}", index_path.display(), e.0))
        })?;
        if series.len() as u64 != meta.num_series {
            return Err(TsdbError::Corrupt(format!(
                "block {} index has {} series, meta.json says {}",
                dir.display(),
                series.len(),
                meta.num_series
            )));
        }
        static UID: AtomicU64 = AtomicU64::new(1);
        let uid = UID.fetch_add(1, Ordering::Relaxed);
        let (decoder, chunk_bytes) = Self::load_decoder(dir, &cache, uid)?;
        if decoder.series_count() != series.len() {
            return Err(TsdbError::Corrupt(format!(
                "block {} chunks hold {} series, index {}",
                dir.display(),
                decoder.series_count(),
                series.len()
            )));
        }
        let bytes = dir_size(dir)?;
        let block = Block {
            meta,
            dir: dir.to_path_buf(),
            bytes,
            series,
            index,
            decoder: Mutex::new(Weak::new()),
            deleted: AtomicBool::new(false),
            uid,
            chunk_bytes,
            cache,
        };
        // the verified data warms the cache
        let decoder = Arc::new(decoder);
        *block.decoder.lock() = Arc::downgrade(&decoder);
        block.cache.touch(block.uid, &decoder, chunk_bytes);
        Ok(block)
    }

    fn load_decoder(
        dir: &Path,
        cache: &ChunkCache,
        uid: u64,
    ) -> Result<(BlockDecoder, u64), TsdbError> {
        let path = dir.join(CHUNKS_FILE);
        let bytes = read_checksummed(&path)?;
        let len = bytes.len() as u64;
        let dec = BlockDecoder::open_cached(Arc::from(bytes), cache.pages.clone(), uid)
            .map_err(|e| TsdbError::Corrupt(format!("invalid chunks {}: {e}", path.display())))?;
        Ok((dec, len))
    }

    /// The chunk decoder, loaded on first use and shared while anyone holds it.
    pub fn decoder(&self) -> Result<Arc<BlockDecoder>, TsdbError> {
        let mut slot = self.decoder.lock();
        let d = match slot.upgrade() {
            Some(d) => d,
            None => {
                let d = Arc::new(Self::load_decoder(&self.dir, &self.cache, self.uid)?.0);
                *slot = Arc::downgrade(&d);
                d
            }
        };
        drop(slot);
        self.cache.touch(self.uid, &d, self.chunk_bytes);
        Ok(d)
    }

    /// Samples of block series `sref` within `[mint, maxt]`.
    pub fn read(
        &self,
        decoder: &BlockDecoder,
        sref: u32,
        mint: i64,
        maxt: i64,
        out: &mut Vec<Sample>,
    ) -> Result<(), TsdbError> {
        // Timestamp columns stay decoded on this thread between reads of this block.
        let (uid, mut cols) = COLUMNS.with(Cell::take);
        if uid != self.uid {
            cols.clear();
        }
        let r = decoder.read_series_cached(sref, mint, maxt, out, &mut cols);
        COLUMNS.with(|c| c.set((self.uid, cols)));
        r?;
        Ok(())
    }

    pub fn overlaps(&self, mint: i64, maxt: i64) -> bool {
        self.meta.min_t <= maxt && self.meta.max_t >= mint
    }

    /// Marks the block deleted: its directory is removed once nobody holds it.
    pub fn mark_deleted(&self) {
        self.deleted.store(true, Ordering::SeqCst);
        self.cache.forget(self.uid);
    }
}

impl Drop for Block {
    fn drop(&mut self) {
        if !self.deleted.load(Ordering::SeqCst) {
            return;
        }
        match std::fs::remove_dir_all(&self.dir) {
            Ok(()) => tracing::info!(block = %self.meta.id, "removed block directory"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::error!(
                block = %self.meta.id,
                error = %e,
                "cannot remove deleted block directory"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_round_trip() {
        let a = Arc::new(Labels::from_pairs(&[("__name__", "a"), ("job", "x")]));
        let b = Arc::new(Labels::from_pairs(&[("__name__", "b"), ("job", "x")]));
        let e = |labels: &Arc<Labels>, min_t, max_t| IndexEntry {
            labels: labels.clone(),
            min_t,
            max_t,
            num_samples: 2,
            last_bits: 42,
        };
        let idx = encode_index(&[e(&a, 1, 10), e(&b, -5, 7)]);
        let (series, index) = decode_index(&idx).unwrap();
        assert_eq!(series.len(), 2);
        assert_eq!(*series[0].labels, *a);
        assert_eq!((series[1].min_t, series[1].max_t), (-5, 7));
        assert_eq!(series[1].last_bits, 42);
        assert_eq!(index.postings("job", "x"), &[0, 1]);
        assert_eq!(index.postings("__name__", "b"), &[1]);
        for cut in 0..idx.len() {
            assert!(decode_index(&idx[..cut]).is_err());
        }
    }

    #[test]
    fn chunk_cache_keeps_recent_blocks_within_budget() {
        let dec = || {
            let mut e = BlockEncoder::new();
            e.add_series(0, &[Sample::new(1, 1.0)]).unwrap();
            Arc::new(BlockDecoder::open(Arc::from(e.finish())).unwrap())
        };
        let cache = ChunkCache::new(250, 0);
        let (a, b, c) = (dec(), dec(), dec());
        cache.touch(1, &a, 100);
        cache.touch(2, &b, 100);
        assert_eq!(cache.bytes(), 200);
        // touching 1 makes 2 the oldest; adding 3 evicts it
        cache.touch(1, &a, 100);
        cache.touch(3, &c, 100);
        assert_eq!(cache.bytes(), 200);
        assert_eq!(Arc::strong_count(&b), 1);
        assert_eq!(Arc::strong_count(&a), 2);
        cache.forget(1);
        assert_eq!(Arc::strong_count(&a), 1);
        // larger than the budget: not kept, nothing else evicted
        cache.touch(4, &a, 1000);
        assert_eq!(cache.bytes(), 100);
    }
}
