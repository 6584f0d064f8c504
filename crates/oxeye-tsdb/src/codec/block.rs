//! The sealed block encoding: many series in one immutable byte buffer.
//!
//! A series spanning three hours or more is split into runs by aligned 2-hour windows
//! (compacted blocks), so reads skip by time; shorter ones are a single run. A run's values are
//! encoded by [`super::values`] into a value page; its timestamps form a column encoded as
//! delta-of-delta varints into a timestamp page. Series scraped together share their
//! timestamps exactly, so identical columns are stored once and referenced by every run
//! that has them: timestamps cost next to nothing per sample. Pages are compressed one by
//! one ([`PageCompression`]: LZMA2 by default, zstd optionally), so reading one series
//! decompresses one value page and one timestamp page, never the whole block.
//!
//! Layout: `"OXB1" | compression id u8 | pages | index (zstd frame) | footer`, where the footer
//! is `index offset u64 LE | index length u32 LE | index CRC32 u32 LE | "OXB1"`. The index
//! lists pages (offset, length, raw length, CRC32), timestamp columns (page, offset,
//! count) and runs (series ref, time range, count, column, value page, offset, length).

use std::collections::HashMap;
use std::sync::Arc;

use oxeye_core::Sample;
use parking_lot::Mutex;

use super::CodecError;
use super::compress::{PageCompression, compress, decompress};
use super::index::{ColMeta, HEADER_LEN, PageMeta, RunMeta, decode_index, encode_index};
use super::page_cache::PageCache;
use super::values::{ValueScratch, decode_values, encode_values};
use super::varint::{ByteReader, put_uvarint, put_varint};

const MAGIC: &[u8; 4] = b"OXB1";
const FOOTER_LEN: usize = 20;
/// Series are split into runs at multiples of this many milliseconds.
pub const RUN_WINDOW_MS: i64 = 2 * 3600 * 1000;
/// A page is compressed once its raw size reaches this.
const PAGE_TARGET: usize = 32 * 1024;
const ZSTD_LEVEL: i32 = 12;
/// Timestamp columns remembered for sharing, in encoded bytes.
const COLUMN_DICT_LIMIT: usize = 64 << 20;
/// Most recent pages a decoder keeps in front of the shared [`PageCache`].
const CACHE_PAGES: usize = 8;
/// Timestamps a [`ColumnCache`] holds at most (1 MiB).
const COLUMN_CACHE_MAX_SAMPLES: usize = 1 << 17;
/// Most samples `read_series` reserves room for up front.
const RESERVE_MAX_SAMPLES: usize = 1 << 20;

/// How values are encoded (the automatic choice is the production setting; the others
/// exist to measure alternatives).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ValueCoding {
    /// Per run: constant, decimal integers with delta coding, or XOR, whichever is smaller.
    #[default]
    Auto,
    /// Gorilla XOR for every run.
    XorOnly,
}

/// Tuning knobs of [`BlockEncoder`]; the defaults are what blocks are written with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockEncoderOptions {
    /// zstd level of the pages.
    pub zstd_level: i32,
    /// A page is compressed once its raw size reaches this many bytes.
    pub page_target: usize,
    /// Store identical timestamp columns once.
    pub share_timestamps: bool,
    /// Value encoding.
    pub values: ValueCoding,
    /// Page compression.
    pub compression: PageCompression,
}

impl Default for BlockEncoderOptions {
    fn default() -> Self {
        Self {
            zstd_level: ZSTD_LEVEL,
            page_target: PAGE_TARGET,
            share_timestamps: true,
            values: ValueCoding::Auto,
            compression: PageCompression::default(),
        }
    }
}

/// Builds the sealed encoding of a block; see the module docs.
#[derive(Debug)]
pub struct BlockEncoder {
    out: Vec<u8>,
    pages: Vec<PageMeta>,
    cols: Vec<ColMeta>,
    runs: Vec<RunMeta>,
    vpage: Vec<u8>,
    vpage_id: u32,
    tpage: Vec<u8>,
    tpage_id: u32,
    pending_v: Vec<usize>,
    pending_t: Vec<usize>,
    dict: HashMap<u64, Vec<(u32, usize, usize)>>,
    dict_bytes: Vec<u8>,
    last_ref: Option<u32>,
    scratch: ValueScratch,
    col_buf: Vec<u8>,
    bits: Vec<u64>,
    opts: BlockEncoderOptions,
    failed: Option<String>,
}

impl Default for BlockEncoder {
    fn default() -> Self {
        Self::new()
    }
}

impl BlockEncoder {
    /// An empty block.
    pub fn new() -> Self {
        Self::with_options(BlockEncoderOptions::default())
    }

    /// An empty block encoded with non-default options.
    pub fn with_options(opts: BlockEncoderOptions) -> Self {
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.push(opts.compression.id());
        Self {
            out,
            pages: Vec::new(),
            cols: Vec::new(),
            runs: Vec::new(),
            vpage: Vec::new(),
            vpage_id: u32::MAX,
            tpage: Vec::new(),
            tpage_id: u32::MAX,
            pending_v: Vec::new(),
            pending_t: Vec::new(),
            dict: HashMap::new(),
            dict_bytes: Vec::new(),
            last_ref: None,
            scratch: ValueScratch::default(),
            col_buf: Vec::new(),
            bits: Vec::new(),
            opts,
            failed: None,
        }
    }

    /// Adds the samples of one series. `series_ref` must be greater than every ref added
    /// before; `samples` must be non-empty and strictly increasing in time.
    pub fn add_series(&mut self, series_ref: u32, samples: &[Sample]) -> Result<(), CodecError> {
        if let Some(last) = self.last_ref
            && series_ref <= last
        {
            return Err(CodecError::InvalidInput(format!(
                "series ref {series_ref} added after {last}: refs must be strictly increasing"
            )));
        }
        if samples.is_empty() {
            return Err(CodecError::InvalidInput(format!(
                "series ref {series_ref} has no samples"
            )));
        }
        if let Some(i) = samples.windows(2).position(|w| w[1].t <= w[0].t) {
            return Err(CodecError::InvalidInput(format!(
                "series ref {series_ref}: sample {} at t={} does not follow t={}",
                i + 1,
                samples[i + 1].t,
                samples[i].t
            )));
        }
        if u32::try_from(samples.len()).is_err() {
            return Err(CodecError::InvalidInput(format!(
                "series ref {series_ref} has {} samples, more than a block holds",
                samples.len()
            )));
        }
        self.last_ref = Some(series_ref);
        // A series spanning less than 1.5 windows stays one run even when it
        // straddles an aligned boundary (blocks cut by span, not at aligned times).
        let span = samples[samples.len() - 1].t.wrapping_sub(samples[0].t);
        if (0..RUN_WINDOW_MS / 2 * 3).contains(&span) {
            return self.add_run(series_ref, samples);
        }
        let mut rest = samples;
        while let Some(first) = rest.first() {
            let window = first.t.div_euclid(RUN_WINDOW_MS);
            let n = rest
                .iter()
                .position(|s| s.t.div_euclid(RUN_WINDOW_MS) != window)
                .unwrap_or(rest.len());
            let (run, tail) = rest.split_at(n);
            self.add_run(series_ref, run)?;
            rest = tail;
        }
        Ok(())
    }

    fn add_run(&mut self, series_ref: u32, run: &[Sample]) -> Result<(), CodecError> {
        let col = self.column(run)?;
        self.bits.clear();
        self.bits.extend(run.iter().map(|s| s.v.to_bits()));
        let offset = self.vpage.len();
        encode_values(
            &self.bits,
            &mut self.vpage,
            &mut self.scratch,
            self.opts.values == ValueCoding::XorOnly,
        );
        let len = self.vpage.len() - offset;
        self.pending_v.push(self.runs.len());
        self.runs.push(RunMeta {
            series_ref,
            count: run.len() as u32,
            mint: run[0].t,
            maxt: run[run.len() - 1].t,
            col,
            page: 0,
            offset: to_u32(offset, "value page offset")?,
            len: to_u32(len, "value run length")?,
        });
        if self.vpage.len() >= self.opts.page_target {
            self.flush_values()?;
        }
        Ok(())
    }

    /// The column holding exactly `run`'s timestamps, shared when an identical one exists.
    fn column(&mut self, run: &[Sample]) -> Result<u32, CodecError> {
        let buf = &mut self.col_buf;
        buf.clear();
        put_uvarint(buf, run.len() as u64);
        put_varint(buf, run[0].t);
        let mut prev_delta = 0i64;
        for w in run.windows(2) {
            let delta = w[1].t.wrapping_sub(w[0].t);
            put_varint(buf, delta.wrapping_sub(prev_delta));
            prev_delta = delta;
        }
        let hash = xxhash_rust::xxh3::xxh3_64(buf);
        if !self.opts.share_timestamps {
            // Measurement mode: every run gets its own column.
        } else if let Some(cands) = self.dict.get(&hash) {
            for &(col, start, len) in cands {
                if self.dict_bytes.get(start..start + len) == Some(buf.as_slice()) {
                    return Ok(col);
                }
            }
        }
        let col = to_u32(self.cols.len(), "column count")?;
        let offset = to_u32(self.tpage.len(), "timestamp page offset")?;
        self.tpage.extend_from_slice(buf);
        self.pending_t.push(self.cols.len());
        self.cols.push(ColMeta {
            page: 0,
            offset,
            len: to_u32(buf.len(), "column length")?,
        });
        if self.dict_bytes.len() + buf.len() <= COLUMN_DICT_LIMIT {
            let start = self.dict_bytes.len();
            self.dict_bytes.extend_from_slice(buf);
            self.dict
                .entry(hash)
                .or_default()
                .push((col, start, buf.len()));
        }
        if self.tpage.len() >= self.opts.page_target {
            self.flush_timestamps()?;
        }
        Ok(col)
    }

    fn write_page(&mut self, raw: &[u8]) -> Result<u32, CodecError> {
        let compressed = compress(self.opts.compression, raw, self.opts.zstd_level)?;
        let id = to_u32(self.pages.len(), "page count")?;
        self.pages.push(PageMeta {
            offset: self.out.len() as u64,
            len: to_u32(compressed.len(), "page length")?,
            raw_len: to_u32(raw.len(), "raw page length")?,
            crc: crc32fast::hash(&compressed),
        });
        self.out.extend_from_slice(&compressed);
        Ok(id)
    }

    fn flush_values(&mut self) -> Result<(), CodecError> {
        if self.pending_v.is_empty() {
            return Ok(());
        }
        let raw = std::mem::take(&mut self.vpage);
        let id = self.write_page(&raw)?;
        for &i in &self.pending_v {
            self.runs[i].page = id;
        }
        self.pending_v.clear();
        self.vpage = raw;
        self.vpage.clear();
        self.vpage_id = id;
        Ok(())
    }

    fn flush_timestamps(&mut self) -> Result<(), CodecError> {
        if self.pending_t.is_empty() {
            return Ok(());
        }
        let raw = std::mem::take(&mut self.tpage);
        let id = self.write_page(&raw)?;
        for &i in &self.pending_t {
            self.cols[i].page = id;
        }
        self.pending_t.clear();
        self.tpage = raw;
        self.tpage.clear();
        self.tpage_id = id;
        Ok(())
    }

    /// Number of samples added so far.
    pub fn sample_count(&self) -> u64 {
        self.runs.iter().map(|r| u64::from(r.count)).sum()
    }

    /// Finishes the block and returns its bytes.
    pub fn finish(mut self) -> Vec<u8> {
        // Compression of in-memory buffers only fails on allocation failure; record it so
        // the block comes out without that page rather than panicking.
        if let Err(e) = self.flush_values().and_then(|()| self.flush_timestamps()) {
            self.failed = Some(e.to_string());
            tracing::error!(error = %e, "block encoding failed");
        }
        let index = encode_index(&self.pages, &self.cols, &self.runs);
        let compressed = zstd::bulk::compress(&index, self.opts.zstd_level).unwrap_or_default();
        let index_offset = self.out.len() as u64;
        self.out.extend_from_slice(&compressed);
        self.out.extend_from_slice(&index_offset.to_le_bytes());
        self.out
            .extend_from_slice(&(compressed.len() as u32).to_le_bytes());
        self.out
            .extend_from_slice(&crc32fast::hash(&compressed).to_le_bytes());
        self.out.extend_from_slice(MAGIC);
        self.out
    }
}

fn to_u32(v: usize, what: &str) -> Result<u32, CodecError> {
    u32::try_from(v).map_err(|_| CodecError::InvalidInput(format!("{what} {v} exceeds u32")))
}

/// Timestamp columns decoded by earlier reads of one block, kept for later reads: series
/// scraped together share their columns, so a query reading thousands of series decodes
/// each column once. Bounded; emptied when full.
#[derive(Debug, Default)]
pub struct ColumnCache {
    cols: HashMap<u32, Vec<i64>>,
    samples: usize,
}

impl ColumnCache {
    /// Forgets every column (before use with another block).
    pub fn clear(&mut self) {
        self.cols.clear();
        self.samples = 0;
    }
}

/// Reads a block produced by [`BlockEncoder`]; cheap to share between threads.
pub struct BlockDecoder {
    bytes: Arc<[u8]>,
    compression: PageCompression,
    pages: Vec<PageMeta>,
    cols: Vec<ColMeta>,
    runs: Vec<RunMeta>,
    /// Where each series' runs start in `runs`, by series ref (one more entry than refs),
    /// when the refs are dense: a read finds its runs without a binary search over all
    /// runs, whose probes miss the CPU cache on large blocks.
    run_start: Option<Vec<u32>>,
    series_count: usize,
    /// The last pages read, most recent first: consecutive series of one query mostly
    /// share their pages, and these reads need neither the shared cache nor its
    /// frequency signal (see [`PageCache`]).
    recent: Mutex<Vec<(u32, Arc<Vec<u8>>)>>,
    shared: Option<SharedPages>,
}

/// Where a decoder shares its decompressed pages, and under which block identity.
struct SharedPages {
    cache: Arc<PageCache>,
    block: u64,
}

impl std::fmt::Debug for BlockDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockDecoder")
            .field("bytes", &self.bytes.len())
            .field("pages", &self.pages.len())
            .field("series", &self.series_count)
            .field("runs", &self.runs.len())
            .finish_non_exhaustive()
    }
}

impl BlockDecoder {
    /// Parses and validates the footer and index of a block; decompressed pages are only
    /// kept in the decoder's own small cache.
    pub fn open(bytes: Arc<[u8]>) -> Result<Self, CodecError> {
        Self::open_inner(bytes, None)
    }

    /// Like [`BlockDecoder::open`], sharing decompressed pages through `cache` under the
    /// identity `block`. Decoders opened on the same bytes may share an identity; an
    /// identity must never be given to different bytes (use a number never reused, not
    /// a name or an address).
    pub fn open_cached(
        bytes: Arc<[u8]>,
        cache: Arc<PageCache>,
        block: u64,
    ) -> Result<Self, CodecError> {
        Self::open_inner(bytes, Some(SharedPages { cache, block }))
    }

    fn open_inner(bytes: Arc<[u8]>, shared: Option<SharedPages>) -> Result<Self, CodecError> {
        let n = bytes.len();
        if n < HEADER_LEN + FOOTER_LEN {
            return Err(CodecError::Truncated(format!(
                "block of {n} bytes is shorter than its header and footer"
            )));
        }
        if &bytes[..4] != MAGIC || &bytes[n - 4..] != MAGIC {
            return Err(CodecError::Corrupt("block magic missing".into()));
        }
        let mut f = ByteReader::new(&bytes[n - FOOTER_LEN..n - 4], "block footer");
        let index_offset = f.u64_le()?;
        let lens = f.bytes(8)?;
        let index_len = u64::from(u32::from_le_bytes([lens[0], lens[1], lens[2], lens[3]]));
        let index_crc = u32::from_le_bytes([lens[4], lens[5], lens[6], lens[7]]);
        let index_end = (n - FOOTER_LEN) as u64;
        let compression = PageCompression::from_id(bytes[4])
            .ok_or_else(|| CodecError::Corrupt(format!("unknown page compression {}", bytes[4])))?;
        if index_offset < HEADER_LEN as u64
            || index_offset.checked_add(index_len) != Some(index_end)
        {
            return Err(CodecError::Corrupt(format!(
                "index at {index_offset}+{index_len} does not end at the footer ({index_end})"
            )));
        }
        let compressed = &bytes[index_offset as usize..index_end as usize];
        if crc32fast::hash(compressed) != index_crc {
            return Err(CodecError::Corrupt("block index checksum mismatch".into()));
        }
        let index = zstd::stream::decode_all(compressed)
            .map_err(|e| CodecError::Corrupt(format!("block index does not decompress: {e}")))?;
        let (pages, cols, runs) = decode_index(&index, index_offset)?;
        let mut series_count = 0;
        let mut prev = None;
        for r in &runs {
            if prev != Some(r.series_ref) {
                series_count += 1;
                prev = Some(r.series_ref);
            }
        }
        let run_start = run_offsets(&runs);
        Ok(Self {
            bytes,
            compression,
            pages,
            cols,
            runs,
            run_start,
            series_count,
            recent: Mutex::new(Vec::new()),
            shared,
        })
    }

    /// The encoded block.
    pub fn bytes(&self) -> &Arc<[u8]> {
        &self.bytes
    }

    /// Number of distinct series in the block.
    pub fn series_count(&self) -> usize {
        self.series_count
    }

    /// Distinct timestamp columns stored (series scraped together share one).
    pub fn column_count(&self) -> usize {
        self.cols.len()
    }

    /// Total samples in the block.
    pub fn sample_count(&self) -> u64 {
        self.runs.iter().map(|r| u64::from(r.count)).sum()
    }

    /// The series refs in the block, ascending.
    pub fn series_refs(&self) -> Vec<u32> {
        let mut v: Vec<u32> = self.runs.iter().map(|r| r.series_ref).collect();
        v.dedup();
        v
    }

    fn page(&self, id: u32) -> Result<Arc<Vec<u8>>, CodecError> {
        {
            let mut recent = self.recent.lock();
            if let Some(pos) = recent.iter().position(|(p, _)| *p == id) {
                let hit = recent.remove(pos);
                let data = Arc::clone(&hit.1);
                recent.insert(0, hit);
                return Ok(data);
            }
        }
        let raw = match &self.shared {
            Some(s) => s
                .cache
                .get_or_load(s.block, id, || self.decompress_page(id))?,
            None => Arc::new(self.decompress_page(id)?),
        };
        let mut recent = self.recent.lock();
        recent.insert(0, (id, Arc::clone(&raw)));
        recent.truncate(CACHE_PAGES);
        Ok(raw)
    }

    fn decompress_page(&self, id: u32) -> Result<Vec<u8>, CodecError> {
        let meta = self
            .pages
            .get(id as usize)
            .ok_or_else(|| CodecError::Corrupt(format!("page {id} does not exist")))?;
        let start = meta.offset as usize;
        let data = self
            .bytes
            .get(start..start + meta.len as usize)
            .ok_or_else(|| CodecError::Corrupt(format!("page {id} lies outside the block")))?;
        if crc32fast::hash(data) != meta.crc {
            return Err(CodecError::Corrupt(format!("page {id} checksum mismatch")));
        }
        decompress(
            self.compression,
            data,
            meta.raw_len as usize,
            &format!("page {id}"),
        )
    }

    /// Appends to `out` the samples of `series_ref` with `mint <= t <= maxt`, in time
    /// order. Returns `Ok(false)` when the series is not in the block.
    pub fn read_series(
        &self,
        series_ref: u32,
        mint: i64,
        maxt: i64,
        out: &mut Vec<Sample>,
    ) -> Result<bool, CodecError> {
        self.read_series_cached(series_ref, mint, maxt, out, &mut ColumnCache::default())
    }

    /// [`BlockDecoder::read_series`] taking the timestamp columns from `cols` when an
    /// earlier read decoded them. `cols` must only ever be used with this decoder (or
    /// cleared in between).
    pub fn read_series_cached(
        &self,
        series_ref: u32,
        mint: i64,
        maxt: i64,
        out: &mut Vec<Sample>,
        cols: &mut ColumnCache,
    ) -> Result<bool, CodecError> {
        let runs = self.runs_of(series_ref);
        if runs.is_empty() {
            return Ok(false);
        }
        let wanted = |r: &&RunMeta| r.maxt >= mint && r.mint <= maxt;
        // Counts come from disk: the reservation is capped, the vector grows past it.
        let count: usize = runs.iter().filter(wanted).map(|r| r.count as usize).sum();
        out.reserve(count.min(RESERVE_MAX_SAMPLES));
        let mut vals = Vec::new();
        for run in runs.iter().filter(wanted) {
            let n = run.count as usize;
            vals.clear();
            let ts = self.column(run.col, n, cols)?;
            let page = self.page(run.page)?;
            let off = run.offset as usize;
            let bytes = page.get(off..off + run.len as usize).ok_or_else(|| {
                CodecError::Corrupt(format!("run of series {series_ref} lies outside its page"))
            })?;
            let mut r = ByteReader::new(bytes, "value run");
            decode_values(&mut r, n, &mut vals)?;
            if vals.len() != n {
                return Err(CodecError::Corrupt(format!(
                    "series {series_ref}: {} values for {n} timestamps",
                    vals.len()
                )));
            }
            // Only the runs at the edges of the range hold samples outside it.
            let a = ts.partition_point(|&t| t < mint);
            let b = ts.partition_point(|&t| t <= maxt);
            let (ts, vals) = (ts.get(a..b).unwrap_or(&[]), vals.get(a..b).unwrap_or(&[]));
            out.extend(
                ts.iter()
                    .zip(vals)
                    .map(|(&t, &v)| Sample::new(t, f64::from_bits(v))),
            );
        }
        Ok(true)
    }

    /// The runs of series `series_ref`, in time order.
    fn runs_of(&self, series_ref: u32) -> &[RunMeta] {
        if let Some(offsets) = &self.run_start {
            let i = series_ref as usize;
            return match (offsets.get(i), offsets.get(i + 1)) {
                (Some(&a), Some(&b)) => self.runs.get(a as usize..b as usize).unwrap_or(&[]),
                _ => &[],
            };
        }
        let start = self.runs.partition_point(|r| r.series_ref < series_ref);
        let end = start + self.runs[start..].partition_point(|r| r.series_ref == series_ref);
        self.runs.get(start..end).unwrap_or(&[])
    }

    /// The timestamps of column `col`, which a run of `n` samples uses, from `cache` or
    /// decoded into it.
    fn column<'c>(
        &self,
        col: u32,
        n: usize,
        cache: &'c mut ColumnCache,
    ) -> Result<&'c [i64], CodecError> {
        if !cache.cols.contains_key(&col) {
            let mut ts = Vec::new();
            self.decode_column(col, n, &mut ts)?;
            if cache.samples + ts.len() > COLUMN_CACHE_MAX_SAMPLES {
                cache.clear();
            }
            cache.samples += ts.len();
            cache.cols.insert(col, ts);
        }
        let ts = cache.cols.get(&col).map(Vec::as_slice).unwrap_or(&[]);
        if ts.len() != n {
            return Err(CodecError::Corrupt(format!(
                "timestamp column {col} holds {} timestamps, run needs {n}",
                ts.len()
            )));
        }
        Ok(ts)
    }

    fn decode_column(&self, col: u32, n: usize, out: &mut Vec<i64>) -> Result<(), CodecError> {
        let meta = self
            .cols
            .get(col as usize)
            .ok_or_else(|| CodecError::Corrupt(format!("timestamp column {col} does not exist")))?;
        let page = self.page(meta.page)?;
        let off = meta.offset as usize;
        let bytes = page.get(off..off + meta.len as usize).ok_or_else(|| {
            CodecError::Corrupt(format!("timestamp column {col} lies outside its page"))
        })?;
        let mut r = ByteReader::new(bytes, "timestamp column");
        let count = r.len(u32::MAX as usize, "timestamp count")?;
        if count != n {
            return Err(CodecError::Corrupt(format!(
                "timestamp column {col} holds {count} timestamps, run needs {n}"
            )));
        }
        // Every timestamp takes at least one byte: bounds allocations on corrupt counts.
        if count > bytes.len() {
            return Err(CodecError::Corrupt(format!(
                "timestamp column {col} claims {count} timestamps in {} bytes",
                bytes.len()
            )));
        }
        out.reserve(n);
        let mut t = r.varint()?;
        out.push(t);
        let mut delta = 0i64;
        for _ in 1..n {
            delta = delta.wrapping_add(r.varint()?);
            t = t.wrapping_add(delta);
            out.push(t);
        }
        Ok(())
    }
}

/// Where each series' runs start in `runs` (sorted by series ref), by ref, with one entry
/// past the last ref; `None` when the runs are not sorted by ref or the refs are too
/// sparse for a table (more than four entries per run), and a search is used instead.
fn run_offsets(runs: &[RunMeta]) -> Option<Vec<u32>> {
    let limit = runs.len().saturating_mul(4);
    if u32::try_from(runs.len()).is_err() {
        return None;
    }
    let mut offsets: Vec<u32> = Vec::new();
    let mut prev = 0u32;
    for (i, r) in runs.iter().enumerate() {
        // checked per run: a ref out of order could be far larger than the last one
        if r.series_ref < prev || r.series_ref as usize > limit {
            return None;
        }
        prev = r.series_ref;
        while offsets.len() <= r.series_ref as usize {
            offsets.push(i as u32);
        }
    }
    // one entry past the last ref (refs ascend, so the last is the largest)
    while offsets.len() < prev as usize + 2 {
        offsets.push(runs.len() as u32);
    }
    debug_assert!(offsets.windows(2).all(|w| w[0] <= w[1]));
    Some(offsets)
}

#[cfg(test)]
mod run_offset_tests {
    use super::*;

    fn runs(refs: &[u32]) -> Vec<RunMeta> {
        refs.iter()
            .map(|&series_ref| RunMeta {
                series_ref,
                count: 1,
                ..RunMeta::default()
            })
            .collect()
    }

    #[test]
    fn offsets_point_at_each_series_runs_and_gaps_are_empty() {
        // series 1 and 4 have no runs; series 2 has three
        let r = runs(&[0, 2, 2, 2, 3, 5]);
        let offsets = run_offsets(&r).expect("dense refs get a table");
        assert_eq!(offsets, vec![0, 1, 1, 4, 5, 5, 6]);
        assert_eq!(run_offsets(&[]), Some(vec![0, 0]));
    }

    #[test]
    fn sparse_or_unsorted_refs_fall_back_to_a_search() {
        assert_eq!(run_offsets(&runs(&[0, 1_000_000])), None);
        assert_eq!(run_offsets(&runs(&[0, 3, 2])), None);
        assert_eq!(run_offsets(&runs(&[0, 4_000_000_000, 2])), None);
    }
}
