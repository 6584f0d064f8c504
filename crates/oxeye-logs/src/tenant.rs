//! One tenant's log store under `<dir>/<tenant>/`: WAL, head, frozen heads, chunk files.
//!
//! ```text
//! append ─► validate ─► WAL record (group commit) ─► head (per-stream open run ─► sealed chunks)
//!                                                     │ cut: size, age, flush
//!                                                     ▼
//!                        frozen head (still read) ─► chunk file ─► WAL segments removed
//!                                                     │ maintenance
//!                                                     ▼
//!                                      retention (by newest entry, injected clock)
//! ```
//! Appends hold `cut_lock` shared from the WAL write to the head insert, so a cut
//! (exclusive) falls between batches and every WAL segment after the cut holds only data
//! of the new head. Readers take the head, then the frozen heads, then the index; a cut
//! pushes the old head to the frozen list before it installs the new head, and registers
//! the chunk file in the index before it drops the frozen head, so a reader may see
//! entries twice (merged away: same time and line) but never misses any.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use oxeye_core::logs::{LogAppendStats, LogBatch, LogSelect, LogSeries, LogStreamStats};
use oxeye_core::{Clock, Labels, Matcher};
use oxeye_storage::StorageError;
use oxeye_storage::wal::Wal;
use parking_lot::{Mutex, RwLock};

use crate::chunk::{EncodedChunk, recompress};
use crate::file::{ChunkFile, EXT, write_file};
use crate::head::Head;
use crate::index::Index;
use crate::mdfilter::MetaFilter;
use crate::read::{Part, Source, StreamData};
use crate::record::{decode_batch, encode_batch, validate};
use crate::{LogStoreError, LogStoreOptions};

/// Appends are refused (retryably) while head and frozen heads hold more than this many
/// times `head_max_bytes`.
const HELD_LIMIT_FACTOR: u64 = 4;

struct Frozen {
    head: Arc<Head>,
    /// WAL segments before this index hold only this head's data (and older).
    wal_segment: u64,
    /// Sequence number of its chunk file, fixed when the head is frozen: a retry after a
    /// failed write (even one that failed after the file was renamed into place)
    /// replaces that file instead of adding a second copy.
    seq: u64,
}

/// Counters for self metrics.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub entries_ingested: AtomicU64,
    pub bytes_ingested: AtomicU64,
    pub corrupt_files: AtomicU64,
    /// WAL bytes skipped at open because a segment before the last was damaged.
    pub wal_bytes_skipped: AtomicU64,
    pub files_written: AtomicU64,
    pub files_deleted: AtomicU64,
    /// Chunks ruled out by their filters.
    pub chunks_skipped: AtomicU64,
    /// Chunks decoded by reads.
    pub chunks_decoded: Arc<AtomicU64>,
}

pub(crate) struct Tenant {
    pub name: String,
    dir: PathBuf,
    opts: Arc<LogStoreOptions>,
    clock: Arc<dyn Clock>,
    wal: Wal,
    cut_lock: RwLock<()>,
    index: RwLock<Index>,
    head: RwLock<Arc<Head>>,
    frozen: RwLock<Vec<Arc<Frozen>>>,
    files: RwLock<Vec<Arc<ChunkFile>>>,
    maint_lock: Mutex<()>,
    next_seq: AtomicU64,
    pub counters: Counters,
    /// Set while a background cut triggered by the head size runs.
    pub bg_cut: AtomicBool,
}

fn chunks_dir(dir: &Path) -> PathBuf {
    dir.join("chunks")
}

fn io_err(what: &str, p: &Path) -> impl FnOnce(std::io::Error) -> LogStoreError {
    let ctx = format!("{what} {}", p.display());
    move |e| LogStoreError::io(ctx, e)
}

/// Opens the chunk files of `cdir`: temporaries are removed, corrupt files renamed to
/// `*.corrupt` and counted; returns the files and the highest sequence number seen.
fn load_files(
    cdir: &Path,
    counters: &Counters,
) -> Result<(Vec<Arc<ChunkFile>>, u64), LogStoreError> {
    let mut files = Vec::new();
    let mut max_seq = 0;
    for entry in std::fs::read_dir(cdir).map_err(io_err("read", cdir))? {
        let entry = entry.map_err(io_err("read", cdir))?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some((stem, ext)) = name.split_once('.') else {
            continue;
        };
        let Ok(seq) = stem.parse::<u64>() else {
            continue;
        };
        max_seq = max_seq.max(seq);
        match ext {
            "tmp" => std::fs::remove_file(&path).map_err(io_err("remove", &path))?,
            e if e == EXT => match ChunkFile::open(&path, seq) {
                Ok(f) => files.push(Arc::new(f)),
                Err(LogStoreError::Corrupt(detail)) => {
                    tracing::error!(%detail, "setting aside corrupt chunk file");
                    counters.corrupt_files.fetch_add(1, Ordering::Relaxed);
                    let aside = path.with_extension("corrupt");
                    std::fs::rename(&path, &aside).map_err(io_err("rename", &path))?;
                }
                Err(e) => return Err(e),
            },
            _ => {}
        }
    }
    files.sort_by_key(|f| f.seq);
    Ok((files, max_seq))
}

impl Tenant {
    /// Opens (creating) the tenant in `dir`: loads chunk files (corrupt ones set aside),
    /// replays the WAL into the head, then opens the WAL for appending.
    pub fn open(
        name: &str,
        dir: PathBuf,
        opts: Arc<LogStoreOptions>,
        clock: Arc<dyn Clock>,
    ) -> Result<Tenant, LogStoreError> {
        let cdir = chunks_dir(&dir);
        // new directories are synced into their parents: a crash must not lose them
        oxeye_storage::tenants::create_dir_all_synced(&cdir)?;
        let counters = Counters::default();
        let (files, max_seq) = load_files(&cdir, &counters)?;
        let mut index = Index::default();
        for f in &files {
            index.add_file(f);
        }
        let head = Arc::new(Head::default());
        let wal_dir = dir.join("wal");
        let now = clock.now_ms();
        let mut replayed = 0u64;
        let res = Wal::replay_salvaging(&wal_dir, &mut |rec| {
            let batch = decode_batch(rec)
                .map_err(|e| StorageError::corrupt(&wal_dir, format!("wal record: {e}")))?;
            for s in batch.streams {
                let (id, _) = index.get_or_create(&s.labels);
                replayed += s.entries.len() as u64;
                head.append(
                    id,
                    s.entries,
                    now,
                    opts.chunk_target_bytes,
                    opts.head_zstd_level,
                );
            }
            Ok(())
        });
        let (mut files, mut max_seq) = (files, max_seq);
        let mut head = head;
        if let Ok(st) = &res
            && st.damaged_segments > 0
        {
            tracing::error!(
                tenant = name,
                damaged_segments = st.damaged_segments,
                skipped_bytes = st.skipped_bytes,
                "wal segments were damaged; skipped their damaged parts and replayed the rest"
            );
            counters
                .wal_bytes_skipped
                .fetch_add(st.skipped_bytes, Ordering::Relaxed);
        }
        if let Err(e) = res {
            if !matches!(e, StorageError::Corrupt { .. }) {
                return Err(e.into());
            }
            tracing::error!(tenant = name, error = %e, "wal is damaged; writing what replayed to a chunk file and setting the wal aside");
            // What replayed goes to a durable chunk file before the wal is set aside: a
            // failure here leaves the wal in place, so the next open replays it again.
            let streams = head_streams(&head, |id| index.get(id).map(|s| s.labels.clone()), &opts)?;
            if !streams.is_empty() {
                max_seq += 1;
                let file = Arc::new(write_file(&cdir, max_seq, &streams)?);
                index.add_file(&file);
                files.push(file);
                counters.files_written.fetch_add(1, Ordering::Relaxed);
            }
            head = Arc::new(Head::default());
            let aside = dir.join(format!("wal.corrupt-{now}"));
            std::fs::rename(&wal_dir, &aside).map_err(io_err("rename", &wal_dir))?;
            oxeye_storage::block::sync_dir(&dir)?;
        }
        if replayed > 0 {
            tracing::info!(tenant = name, entries = replayed, "replayed log wal");
        }
        let wal = Wal::open(&wal_dir, opts.wal.clone())?;
        Ok(Tenant {
            name: name.to_owned(),
            dir,
            opts,
            clock,
            wal,
            cut_lock: RwLock::new(()),
            index: RwLock::new(index),
            head: RwLock::new(head),
            frozen: RwLock::new(Vec::new()),
            files: RwLock::new(files),
            maint_lock: Mutex::new(()),
            next_seq: AtomicU64::new(max_seq + 1),
            counters,
            bg_cut: AtomicBool::new(false),
        })
    }

    /// Validates, logs and stores `batch`.
    pub fn append(&self, batch: LogBatch) -> Result<LogAppendStats, LogStoreError> {
        validate(&batch)?;
        let entries = batch.entry_count();
        if entries == 0 {
            return Ok(LogAppendStats::default());
        }
        let held = self.held_bytes();
        let limit = self.opts.head_max_bytes.saturating_mul(HELD_LIMIT_FACTOR);
        if held > limit {
            return Err(LogStoreError::Unavailable(format!(
                "tenant {} holds {held} bytes of log entries not yet written to chunk files, over the limit of {limit}; retry later",
                self.name
            )));
        }
        let bytes = batch.line_bytes();
        let mut buf = Vec::with_capacity(bytes + entries * 16 + 64);
        encode_batch(&mut buf, &batch);
        let now = self.clock.now_ms();
        let _shared = self.cut_lock.read();
        let head = self.head.read().clone();
        self.check_stream_limit(&head, &batch)?;
        self.wal.append(&buf)?;
        let mut created = 0;
        for s in batch.streams {
            let found = self.index.read().lookup(&s.labels);
            let id = match found {
                Some(id) => id,
                None => {
                    let (id, new) = self.index.write().get_or_create(&s.labels);
                    created += usize::from(new);
                    id
                }
            };
            head.append(
                id,
                s.entries,
                now,
                self.opts.chunk_target_bytes,
                self.opts.head_zstd_level,
            );
        }
        self.counters
            .entries_ingested
            .fetch_add(entries as u64, Ordering::Relaxed);
        self.counters
            .bytes_ingested
            .fetch_add(bytes as u64, Ordering::Relaxed);
        Ok(LogAppendStats {
            entries,
            bytes,
            streams_created: created,
        })
    }

    /// Refuses `batch` when the streams it would add to `head` take the tenant over
    /// `max_streams_per_tenant` active streams.
    fn check_stream_limit(&self, head: &Head, batch: &LogBatch) -> Result<(), LogStoreError> {
        let limit = self.opts.max_streams_per_tenant;
        if limit == 0 {
            return Ok(());
        }
        let active = head.stream_count();
        let index = self.index.read();
        let mut new: Vec<&Labels> = Vec::new();
        for s in &batch.streams {
            let in_head = index
                .lookup(&s.labels)
                .is_some_and(|id| head.stream(id).is_some());
            if !in_head && !new.contains(&&s.labels) {
                new.push(&s.labels);
            }
        }
        if new.is_empty() || active + new.len() <= limit {
            return Ok(());
        }
        tracing::debug!(tenant = %self.name, active, new = new.len(), limit, "refusing log streams over the per-tenant limit");
        Err(LogStoreError::LimitExceeded(format!(
            "maximum active stream limit exceeded, reduce the number of active streams (reduce labels or reduce label values), or contact your Loki administrator to see if the limit can be increased, user: '{}'",
            self.name
        )))
    }

    pub fn head_bytes(&self) -> u64 {
        self.head.read().bytes()
    }

    /// Whether the head has outgrown its memory or WAL bound (a cut is due).
    pub fn head_full(&self) -> bool {
        let h = self.head.read();
        h.bytes() > self.opts.head_max_bytes || h.raw_bytes() > self.opts.head_max_wal_bytes
    }

    fn held_bytes(&self) -> u64 {
        self.head_bytes()
            + self
                .frozen
                .read()
                .iter()
                .map(|f| f.head.bytes())
                .sum::<u64>()
    }

    /// Cuts the head when it is too large or too old (or `force` and not empty), then
    /// writes every frozen head's chunk file; returns whether a cut happened and the
    /// files written.
    pub fn cut(&self, force: bool) -> Result<(bool, usize), LogStoreError> {
        let _m = self.maint_lock.lock();
        let now = self.clock.now_ms();
        let head = self.head.read().clone();
        let too_old = head
            .first_append_ms()
            .is_some_and(|t| now.saturating_sub(t) >= self.opts.head_max_age.as_millis() as i64);
        let cut = !head.is_empty()
            && (force
                || too_old
                || head.bytes() > self.opts.head_max_bytes
                || head.raw_bytes() > self.opts.head_max_wal_bytes);
        if cut {
            let _excl = self.cut_lock.write();
            let wal_segment = self.wal.cut()?;
            let old = self.head.read().clone();
            self.frozen.write().push(Arc::new(Frozen {
                head: old,
                wal_segment,
                seq: self.next_seq.fetch_add(1, Ordering::Relaxed),
            }));
            *self.head.write() = Arc::new(Head::default());
        }
        let written = self.write_frozen()?;
        Ok((cut, written))
    }

    /// Writes the frozen heads' chunk files, oldest first, dropping WAL segments behind
    /// them; stops at the first failure (the head stays frozen and is retried).
    fn write_frozen(&self) -> Result<usize, LogStoreError> {
        let mut written = 0;
        loop {
            let Some(fz) = self.frozen.read().first().cloned() else {
                return Ok(written);
            };
            let streams = head_streams(
                &fz.head,
                |id| self.index.read().get(id).map(|s| s.labels.clone()),
                &self.opts,
            )?;
            if !streams.is_empty() {
                let file = Arc::new(write_file(&chunks_dir(&self.dir), fz.seq, &streams)?);
                tracing::debug!(tenant = %self.name, file = %file.path.display(), chunks = file.chunks.len(), "wrote log chunk file");
                self.index.write().add_file(&file);
                self.files.write().push(file);
                self.counters.files_written.fetch_add(1, Ordering::Relaxed);
                written += 1;
            }
            self.frozen.write().retain(|f| !Arc::ptr_eq(f, &fz));
            self.wal.remove_before(fz.wal_segment)?;
        }
    }

    pub fn flush(&self) -> Result<(), LogStoreError> {
        self.cut(true).map(|_| ())
    }

    /// Deletes chunk files whose newest entry is older than the retention period and
    /// forgets streams left without data; returns the files deleted.
    pub fn apply_retention(&self) -> usize {
        let _m = self.maint_lock.lock();
        let now_ns = self.clock.now_ms().saturating_mul(1_000_000);
        let cutoff = now_ns
            .saturating_sub(i64::try_from(self.opts.retention.as_nanos()).unwrap_or(i64::MAX));
        let expired: Vec<Arc<ChunkFile>> = {
            let mut files = self.files.write();
            let (old, keep): (Vec<_>, Vec<_>) = files.drain(..).partition(|f| f.max_ts < cutoff);
            *files = keep;
            old
        };
        if expired.is_empty() {
            return 0;
        }
        // no append in flight: one may have created a stream it has not filled yet
        let _excl = self.cut_lock.write();
        let head = self.head.read().clone();
        let frozen: Vec<Arc<Frozen>> = self.frozen.read().clone();
        let mut index = self.index.write();
        for f in &expired {
            index.remove_file(f.seq);
            f.delete_when_unused();
            tracing::info!(tenant = %self.name, file = %f.path.display(), "deleting log chunk file past retention");
        }
        index.gc(|id| {
            head.stream(id).is_some() || frozen.iter().any(|f| f.head.stream(id).is_some())
        });
        self.counters
            .files_deleted
            .fetch_add(expired.len() as u64, Ordering::Relaxed);
        expired.len()
    }

    pub fn close(&self) -> Result<(), LogStoreError> {
        self.wal.close()?;
        Ok(())
    }

    /// The heads a reader sees: current first, then frozen, newest first.
    fn heads(&self) -> Vec<Arc<Head>> {
        let mut v = vec![self.head.read().clone()];
        v.extend(self.frozen.read().iter().rev().map(|f| f.head.clone()));
        v
    }

    /// The parts of stream `id` overlapping the select, skipping chunks whose filters
    /// rule out a needle or a metadata pair. A metadata pair whose name is a label of the
    /// stream is not used: the query tests the stream label, not the metadata.
    fn parts(
        &self,
        heads: &[Arc<Head>],
        index: &Index,
        id: u32,
        labels: &Labels,
        sel: &LogSelect,
    ) -> Vec<Part> {
        let needles: Vec<&[u8]> = sel.line_contains.iter().map(|s| s.as_bytes()).collect();
        let pairs: Vec<&(String, String)> = sel
            .metadata_equals
            .iter()
            .filter(|(n, _)| labels.get(n).is_none())
            .collect();
        let mut skipped = 0u64;
        let mut admits = |f: &crate::filter::LineFilter, md: Option<&MetaFilter>| {
            let ok = needles.iter().all(|n| f.may_contain(n))
                && md.is_none_or(|md| pairs.iter().all(|(n, v)| md.may_contain(n, v)));
            skipped += u64::from(!ok);
            ok
        };
        let mut out = Vec::new();
        for h in heads {
            let Some(s) = h.stream(id) else { continue };
            let mut s = s.lock();
            if !s.overlaps(sel.start_ns, sel.end_ns) {
                continue;
            }
            for c in &s.sealed {
                if c.meta.overlaps(sel.start_ns, sel.end_ns)
                    && admits(&c.filter, Some(&c.md_filter))
                {
                    out.push(Part {
                        min_ts: c.meta.min_ts,
                        max_ts: c.meta.max_ts,
                        source: Source::Sealed(c.clone()),
                    });
                }
            }
            // shared, not copied: the reader filters by time and needles as it loads
            if let Some((run, range)) = s.open_range(sel.start_ns, sel.end_ns)
                && let (Some(first), Some(last)) = (
                    run.get(range.start),
                    range.end.checked_sub(1).and_then(|i| run.get(i)),
                )
            {
                out.push(Part {
                    min_ts: first.ts_ns,
                    max_ts: last.ts_ns,
                    source: Source::Open(run, range),
                });
            }
        }
        if let Some(info) = index.get(id) {
            for r in &info.chunks {
                let Some(c) = r.file.chunks.get(r.idx as usize) else {
                    continue;
                };
                if c.meta.overlaps(sel.start_ns, sel.end_ns)
                    && admits(&c.filter, c.md_filter.as_ref())
                {
                    out.push(Part {
                        min_ts: c.meta.min_ts,
                        max_ts: c.meta.max_ts,
                        source: Source::File(r.file.clone(), r.idx as usize),
                    });
                }
            }
        }
        self.counters
            .chunks_skipped
            .fetch_add(skipped, Ordering::Relaxed);
        out
    }

    pub fn select(&self, matchers: &[Matcher], sel: &LogSelect) -> Vec<LogSeries> {
        if sel.start_ns >= sel.end_ns {
            return Vec::new();
        }
        let heads = self.heads();
        let index = self.index.read();
        let mut out = Vec::new();
        for id in index.select(matchers) {
            let Some(info) = index.get(id) else { continue };
            let parts = self.parts(&heads, &index, id, &info.labels, sel);
            if parts.is_empty() {
                continue;
            }
            let data = StreamData::new(
                parts,
                sel.start_ns,
                sel.end_ns,
                sel.line_contains.clone(),
                self.counters.chunks_decoded.clone(),
            );
            out.push(LogSeries {
                labels: info.labels.clone(),
                data: Arc::new(data),
            });
        }
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        out
    }

    /// Whether stream `id` has entries (or chunks) overlapping `[start, end)`.
    fn has_data(&self, heads: &[Arc<Head>], index: &Index, id: u32, start: i64, end: i64) -> bool {
        heads
            .iter()
            .any(|h| h.stream(id).is_some_and(|s| s.lock().overlaps(start, end)))
            || index.get(id).is_some_and(|info| {
                info.chunks.iter().any(|r| {
                    r.file
                        .chunks
                        .get(r.idx as usize)
                        .is_some_and(|c| c.meta.overlaps(start, end))
                })
            })
    }

    /// Label sets of streams matching `matchers` with data in `[start, end)`.
    pub fn matching_labels(&self, matchers: &[Matcher], start: i64, end: i64) -> Vec<Labels> {
        let heads = self.heads();
        let index = self.index.read();
        index
            .select(matchers)
            .into_iter()
            .filter(|id| self.has_data(&heads, &index, *id, start, end))
            .filter_map(|id| index.get(id).map(|s| s.labels.clone()))
            .collect()
    }

    /// Entry, byte and chunk counts per stream from chunk metadata (the head's open run
    /// counts as one chunk and is counted exactly).
    pub fn stream_stats(&self, matchers: &[Matcher], start: i64, end: i64) -> Vec<LogStreamStats> {
        let heads = self.heads();
        let index = self.index.read();
        let mut out = Vec::new();
        for id in index.select(matchers) {
            let Some(info) = index.get(id) else { continue };
            let mut st = LogStreamStats {
                labels: info.labels.clone(),
                ..LogStreamStats::default()
            };
            let add = |st: &mut LogStreamStats, m: &crate::chunk::ChunkMeta| {
                if m.overlaps(start, end) {
                    st.chunks += 1;
                    st.entries += u64::from(m.entries);
                    st.bytes += m.line_bytes;
                }
            };
            for r in &info.chunks {
                if let Some(c) = r.file.chunks.get(r.idx as usize) {
                    add(&mut st, &c.meta);
                }
            }
            for h in &heads {
                let Some(s) = h.stream(id) else { continue };
                let s = s.lock();
                for c in &s.sealed {
                    add(&mut st, &c.meta);
                }
                let (n, b) = s.open_stats(start, end);
                if n > 0 {
                    st.chunks += 1;
                    st.entries += n;
                    st.bytes += b;
                }
            }
            if st.chunks > 0 {
                out.push(st);
            }
        }
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        out
    }

    pub fn stats(&self) -> TenantStats {
        let files = self.files.read();
        TenantStats {
            streams: self.index.read().len() as u64,
            head_bytes: self.held_bytes(),
            chunk_files: files.len() as u64,
            chunks: files.iter().map(|f| f.chunks.len() as u64).sum(),
            disk_bytes: files.iter().map(|f| f.size).sum(),
            wal_bytes: oxeye_storage::block::dir_size(self.wal.dir()).unwrap_or(0),
            entries_ingested: self.counters.entries_ingested.load(Ordering::Relaxed),
            bytes_ingested: self.counters.bytes_ingested.load(Ordering::Relaxed),
            corrupt_files: self.counters.corrupt_files.load(Ordering::Relaxed),
            wal_bytes_skipped: self.counters.wal_bytes_skipped.load(Ordering::Relaxed),
            chunks_skipped: self.counters.chunks_skipped.load(Ordering::Relaxed),
            chunks_decoded: self.counters.chunks_decoded.load(Ordering::Relaxed),
        }
    }
}

/// Every stream of `head` as its chunks (the open run sealed), at the options' file
/// compression level, with the labels `labels_of` gives.
fn head_streams(
    head: &Head,
    labels_of: impl Fn(u32) -> Option<Labels>,
    opts: &LogStoreOptions,
) -> Result<Vec<(Labels, Vec<Arc<EncodedChunk>>)>, LogStoreError> {
    let mut streams = Vec::new();
    for id in head.stream_ids() {
        let Some(labels) = labels_of(id) else {
            // retention keeps streams that heads hold, so this is a bug
            debug_assert!(false, "stream {id} of a head is not in the index");
            return Err(LogStoreError::Corrupt(format!(
                "stream {id} of a head is missing from the index; its entries stay in the wal"
            )));
        };
        let Some(s) = head.stream(id) else {
            continue;
        };
        let chunks = s.lock().drain_chunks(opts.head_zstd_level);
        if !chunks.is_empty() {
            streams.push((labels, chunks));
        }
    }
    if opts.head_zstd_level != opts.zstd_level {
        recompress_all(&mut streams, opts.zstd_level)?;
    }
    Ok(streams)
}

/// Recompresses every chunk at `level`, on up to four threads.
fn recompress_all(
    streams: &mut [(Labels, Vec<Arc<EncodedChunk>>)],
    level: i32,
) -> Result<(), LogStoreError> {
    let jobs: Vec<(usize, usize)> = streams
        .iter()
        .enumerate()
        .flat_map(|(s, (_, cs))| (0..cs.len()).map(move |c| (s, c)))
        .collect();
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 4)
        .min(jobs.len().max(1));
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, usize, EncodedChunk)>> =
        Mutex::new(Vec::with_capacity(jobs.len()));
    let failed: Mutex<Option<LogStoreError>> = Mutex::new(None);
    let streams_ref = &*streams;
    std::thread::scope(|sc| {
        for _ in 0..workers {
            sc.spawn(|| {
                while let Some(&(s, c)) = jobs.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let Some((labels, chunk)) = streams_ref
                        .get(s)
                        .and_then(|(l, cs)| cs.get(c).map(|ch| (l, ch)))
                    else {
                        continue;
                    };
                    match recompress(chunk, level) {
                        Ok(e) => results.lock().push((s, c, e)),
                        Err(e) => {
                            *failed.lock() = Some(LogStoreError::Corrupt(format!(
                                "head chunk of stream {labels}: {e}"
                            )));
                            return;
                        }
                    }
                }
            });
        }
    });
    if let Some(e) = failed.into_inner() {
        return Err(e);
    }
    for (s, c, e) in results.into_inner() {
        if let Some(slot) = streams.get_mut(s).and_then(|(_, cs)| cs.get_mut(c)) {
            *slot = Arc::new(e);
        }
    }
    Ok(())
}

/// Figures of one tenant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TenantStats {
    /// Streams known (head and chunk files).
    pub streams: u64,
    /// Bytes held in memory by the head and heads being written.
    pub head_bytes: u64,
    /// Chunk files on disk.
    pub chunk_files: u64,
    /// Chunks in chunk files.
    pub chunks: u64,
    /// Bytes of chunk files.
    pub disk_bytes: u64,
    /// Bytes of WAL segments (entries not yet in chunk files, uncompressed).
    pub wal_bytes: u64,
    /// Entries appended since open.
    pub entries_ingested: u64,
    /// Line bytes appended since open.
    pub bytes_ingested: u64,
    /// Chunk files set aside as corrupt since open.
    pub corrupt_files: u64,
    /// WAL bytes skipped at open because a segment before the last held a damaged
    /// record (the records after it in that segment are lost; later segments replay).
    pub wal_bytes_skipped: u64,
    /// Chunks that line filters ruled out for a query, since open.
    pub chunks_skipped: u64,
    /// Chunks decoded by queries, since open.
    pub chunks_decoded: u64,
}

impl TenantStats {
    pub(crate) fn add(&mut self, o: &TenantStats) {
        self.streams += o.streams;
        self.head_bytes += o.head_bytes;
        self.chunk_files += o.chunk_files;
        self.chunks += o.chunks;
        self.disk_bytes += o.disk_bytes;
        self.wal_bytes += o.wal_bytes;
        self.entries_ingested += o.entries_ingested;
        self.bytes_ingested += o.bytes_ingested;
        self.corrupt_files += o.corrupt_files;
        self.wal_bytes_skipped += o.wal_bytes_skipped;
        self.chunks_skipped += o.chunks_skipped;
        self.chunks_decoded += o.chunks_decoded;
    }
}

#[cfg(test)]
#[path = "tenant_tests.rs"]
mod tests;
