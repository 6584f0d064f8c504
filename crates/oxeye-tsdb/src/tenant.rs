//! One tenant's database: WAL, head, frozen heads and blocks under `<dir>/<tenant>/`.
//!
//! ```text
//! append ──► validate whole batch ──► WAL record (group commit) ──► head
//!                                                       │ cut (flush / maintenance)
//!                                                       ▼
//!                       frozen head (still queried) ──► block on disk ──► WAL segments removed
//! ```
//! Lock discipline: appends hold `cut_lock` shared from validation to head apply, so a cut
//! (exclusive) always falls between batches and every WAL segment after the cut holds only
//! data of the new head. Readers never take `cut_lock`; they snapshot head, frozen heads
//! and blocks in that order, while writers always add to a later list before removing
//! from an earlier one, so a snapshot may see data twice (merged away) but never miss it.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

use oxeye_core::{Clock, Exemplar, Labels, MetricMetadata};
use oxeye_storage::StorageError;
use oxeye_storage::block::cleanup_tmp;
use oxeye_storage::wal::Wal;
use parking_lot::{Mutex, RwLock};

use crate::TsdbError;
use crate::block::{Block, ChunkCache, CompactionMeta, write_block};
use crate::head::{Head, SHARD_BITS, series_hash};
use crate::options::{Limits, TsdbOptions, dur_ms};
use crate::record::{self, Decoded};
use crate::stats::{Counters, TenantStats};

/// A head that was cut and waits for its block.
pub(crate) struct Frozen {
    pub head: Arc<Head>,
    /// WAL segment index returned by the cut; segments before it hold this head's data.
    pub wal_segment: u64,
}

/// Exemplar ring buffer. Per series, exemplars must come in increasing time: one at or
/// before the series' newest exemplar (a retried write, say) is ignored, as Prometheus does.
pub(crate) struct Exemplars {
    pub ring: VecDeque<(Arc<Labels>, Exemplar)>,
    cap: usize,
    /// Newest exemplar timestamp of each series in the ring.
    newest: HashMap<Arc<Labels>, i64>,
}

impl Exemplars {
    pub fn new(cap: usize) -> Self {
        Self {
            ring: VecDeque::new(),
            cap,
            newest: HashMap::new(),
        }
    }

    /// Adds `e`; false when it was ignored.
    pub fn push(&mut self, series: Arc<Labels>, e: Exemplar) -> bool {
        if self.cap == 0 {
            return false;
        }
        if self.newest.get(&series).is_some_and(|t| e.t <= *t) {
            return false;
        }
        while self.ring.len() >= self.cap {
            let Some((s, old)) = self.ring.pop_front() else {
                break;
            };
            if self.newest.get(&s) == Some(&old.t) {
                self.newest.remove(&s);
            }
        }
        self.newest.insert(series.clone(), e.t);
        self.ring.push_back((series, e));
        true
    }
}

/// Token bucket for the samples/s limit, driven by the injected clock.
pub(crate) struct Bucket {
    tokens: f64,
    last_ms: i64,
}

impl Bucket {
    /// Takes `n` tokens if available.
    pub fn take(&mut self, n: usize, rate: f64, burst: f64, now_ms: i64) -> bool {
        let elapsed = (now_ms - self.last_ms).max(0) as f64 / 1000.0;
        self.tokens = (self.tokens + elapsed * rate).min(burst);
        self.last_ms = now_ms;
        if self.tokens >= n as f64 {
            self.tokens -= n as f64;
            return true;
        }
        false
    }
}

pub(crate) struct TenantDb {
    pub name: String,
    pub dir: PathBuf,
    pub opts: Arc<TsdbOptions>,
    pub limits: Limits,
    pub clock: Arc<dyn Clock>,
    pub cache: Arc<ChunkCache>,
    pub wal: Wal,
    pub cut_lock: RwLock<()>,
    pub head: RwLock<Arc<Head>>,
    pub frozen: RwLock<Vec<Arc<Frozen>>>,
    pub blocks: RwLock<Vec<Arc<Block>>>,
    /// Serialises cuts, block writes, compaction and retention of this tenant.
    pub maint_lock: Mutex<()>,
    /// Next series sequence number (refs are `seq << SHARD_BITS | shard`).
    pub seq: AtomicU64,
    /// Newest sample timestamp ever accepted.
    pub max_t: AtomicI64,
    /// Bumped after samples at or before the horizon (see [`settled_horizon`]) were
    /// stored, or blocks were deleted by retention: the data a results cache treats as
    /// settled changed.
    pub settled_gen: AtomicU64,
    /// The latest horizon handed to a reader: a wall clock stepped back must not lower
    /// the horizon writes are checked against below one a reader already cached up to.
    pub settled_mark: AtomicI64,
    pub exemplars: Mutex<Exemplars>,
    pub metadata: Mutex<HashMap<String, MetricMetadata>>,
    pub bucket: Mutex<Bucket>,
    pub counters: Counters,
    /// Set while a background cut triggered by `head_max_bytes` runs.
    pub bg_cut: AtomicBool,
}

/// How far behind a tenant's newest sample its data counts as settled (see
/// [`oxeye_core::Settled`]): writes this late or later bump `settled_gen`.
pub(crate) const SETTLE_MS: i64 = 10 * 60 * 1000;

/// The time at or before which a tenant's data counts as settled: `SETTLE_MS` behind its
/// newest sample, or behind the clock when that sample is dated in the future. Without
/// the clock, one future-dated sample would put every ordinary write behind the horizon
/// and move the generation on each write. A writer checks against the larger of this and
/// the latest horizon handed to a reader (`settled_mark`), so a write at or behind what a
/// reader cached always moves the generation, even after the clock stepped back.
pub(crate) fn settled_horizon(newest_ms: i64, now_ms: i64) -> i64 {
    newest_ms.min(now_ms).saturating_sub(SETTLE_MS)
}

fn blocks_dir(dir: &Path) -> PathBuf {
    dir.join("blocks")
}

impl TenantDb {
    /// Opens (creating) the tenant in `dir`: loads and verifies blocks, replays the WAL,
    /// then opens the WAL for appending (a new segment after the replayed ones).
    pub fn open(
        name: &str,
        dir: PathBuf,
        opts: Arc<TsdbOptions>,
        clock: Arc<dyn Clock>,
        cache: Arc<ChunkCache>,
    ) -> Result<TenantDb, TsdbError> {
        let bdir = blocks_dir(&dir);
        std::fs::create_dir_all(&bdir)
            .map_err(|e| TsdbError::io(format!("create {}", bdir.display()), e))?;
        cleanup_tmp(&bdir)?;
        let counters = Counters::default();
        let blocks = load_blocks(&dir, &counters, &cache)?;
        let limits = opts.limits_for(name).clone();
        let burst = burst_of(&limits);
        let now = clock.now_ms();
        let head = Arc::new(Head::new());
        let wal_dir = dir.join("wal");
        let replayed = replay_wal(name, &wal_dir, &head, opts.max_exemplars)?;
        if let Some(why) = &replayed.corrupt {
            // keep what was replayed, set the damaged log aside and start a fresh one;
            // the replayed head is written to a block right after open
            tracing::error!(tenant = name, error = %why, "wal is corrupt before its tail, setting it aside");
            counters.corrupt_wals.fetch_add(1, Ordering::Relaxed);
            set_aside(&dir, &wal_dir)?;
        }
        let wal = Wal::open(&wal_dir, opts.wal.clone())?;
        let corrupt_wal = replayed.corrupt.is_some();
        let db = TenantDb {
            name: name.to_string(),
            wal,
            dir,
            limits,
            clock,
            cache,
            cut_lock: RwLock::new(()),
            head: RwLock::new(head),
            frozen: RwLock::new(Vec::new()),
            blocks: RwLock::new(blocks),
            maint_lock: Mutex::new(()),
            seq: AtomicU64::new(replayed.max_seq + 1),
            max_t: AtomicI64::new(replayed.max_t),
            settled_gen: AtomicU64::new(0),
            settled_mark: AtomicI64::new(i64::MIN),
            exemplars: Mutex::new(replayed.exemplars),
            metadata: Mutex::new(replayed.metadata),
            bucket: Mutex::new(Bucket {
                tokens: burst,
                last_ms: now,
            }),
            counters,
            bg_cut: AtomicBool::new(false),
            opts,
        };
        if let Some(max) = db.blocks.read().iter().map(|b| b.meta.max_t).max() {
            db.max_t.fetch_max(max, Ordering::Relaxed);
        }
        db.seed_from_blocks();
        if corrupt_wal {
            db.flush()?;
        }
        Ok(db)
    }

    /// Gives series active in the newest blocks their newest timestamp and value again,
    /// as a head cut would have carried them over.
    fn seed_from_blocks(&self) {
        let tenant_max = self.max_t.load(Ordering::Relaxed);
        if tenant_max == i64::MIN {
            return;
        }
        let keep_after = tenant_max.saturating_sub(dur_ms(self.opts.block_duration));
        let head = self.head.read().clone();
        let blocks = self.blocks.read().clone();
        for b in blocks.iter().filter(|b| b.meta.max_t >= keep_after) {
            for s in b.series.iter().filter(|s| s.max_t >= keep_after) {
                head.seed(
                    &s.labels,
                    series_hash(&s.labels),
                    &self.seq,
                    (s.max_t, s.last_bits),
                );
            }
        }
    }

    pub fn merge_metadata(&self, md: Vec<MetricMetadata>) {
        if md.is_empty() {
            return;
        }
        let mut map = self.metadata.lock();
        for m in md {
            map.insert(m.metric_family.clone(), m);
        }
    }

    /// Cuts the head (when it holds samples) into a frozen head and starts a new WAL
    /// segment; returns whether a cut happened. Caller holds `maint_lock`.
    fn cut_head(&self) -> Result<bool, TsdbError> {
        {
            let _excl = self.cut_lock.write();
            let old = self.head.read().clone();
            let Some((_, old_max)) = old.time_range() else {
                return Ok(false);
            };
            let new = Arc::new(Head::new());
            // keep recently active series so ordering and duplicate checks survive the cut
            let keep_after = old_max.saturating_sub(dur_ms(self.opts.block_duration));
            old.for_each_series(|s| {
                if s.last.is_some_and(|(t, _)| t >= keep_after) {
                    new.create_with_ref(s.sref, s.labels.clone(), s.hash, s.last, false);
                }
            });
            let wal_segment = self.wal.cut()?;
            self.frozen.write().push(Arc::new(Frozen {
                head: old,
                wal_segment,
            }));
            *self.head.write() = new;
            // first record of the new segment, before any batch of the new head, so a
            // replay restores the ring in order (one fsync per cut, not per append)
            self.write_state_record()?;
        }
        Ok(true)
    }

    /// Writes the exemplar ring and metadata into the current WAL segment so they outlive
    /// the segments removed after a cut.
    fn write_state_record(&self) -> Result<(), TsdbError> {
        let mut buf = Vec::new();
        {
            let ex = self.exemplars.lock();
            let md = self.metadata.lock();
            if ex.ring.is_empty() && md.is_empty() {
                return Ok(());
            }
            let exs: Vec<(&Labels, &Exemplar)> =
                ex.ring.iter().map(|(l, e)| (l.as_ref(), e)).collect();
            let mds: Vec<&MetricMetadata> = md.values().collect();
            record::encode_state(&mut buf, &exs, &mds);
        }
        self.wal.append(&buf)?;
        Ok(())
    }

    /// Writes blocks for frozen heads, oldest first, and drops their WAL segments.
    fn persist_frozen(&self) -> Result<usize, TsdbError> {
        let mut written = 0;
        loop {
            let Some(f) = self.frozen.read().first().cloned() else {
                return Ok(written);
            };
            let mut refs: Vec<(Arc<Labels>, u64)> = Vec::with_capacity(f.head.num_series());
            f.head.for_each_series(|s| {
                if s.has_samples() {
                    refs.push((s.labels.clone(), s.sref));
                }
            });
            refs.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            let head = f.head.clone();
            let iter = refs.into_iter().map(|(labels, sref)| {
                let mut out = Vec::new();
                head.read(sref, i64::MIN, i64::MAX, &mut out);
                Ok((labels, out))
            });
            let written_block = write_block(
                &blocks_dir(&self.dir),
                &self.name,
                CompactionMeta {
                    level: 1,
                    sources: Vec::new(),
                },
                iter,
            )?;
            if let Some((_, path)) = written_block {
                let block = Block::open(&path, self.cache.clone())?;
                self.add_block(Arc::new(block));
                written += 1;
            }
            self.frozen.write().retain(|x| !Arc::ptr_eq(x, &f));
            self.wal.remove_before(f.wal_segment)?;
        }
    }

    pub fn add_block(&self, b: Arc<Block>) {
        let mut blocks = self.blocks.write();
        blocks.push(b);
        blocks.sort_by(|a, b| (a.meta.min_t, &a.meta.id).cmp(&(b.meta.min_t, &b.meta.id)));
    }

    /// Flush: cut the head now and write its block.
    pub fn flush(&self) -> Result<usize, TsdbError> {
        let _m = self.maint_lock.lock();
        self.cut_head()?;
        self.persist_frozen()
    }

    /// Cuts the head if its span reached the block duration or it exceeds
    /// `head_max_bytes`, then writes pending blocks. Returns (cut, blocks written).
    pub fn maybe_cut(&self) -> Result<(bool, usize), TsdbError> {
        let _m = self.maint_lock.lock();
        let head = self.head.read().clone();
        let span_due = head
            .time_range()
            .is_some_and(|(a, b)| b.saturating_sub(a) >= dur_ms(self.opts.block_duration));
        let bytes_due = self
            .opts
            .head_max_bytes
            .is_some_and(|max| head.bytes() > max);
        let cut = if span_due || bytes_due {
            self.cut_head()?
        } else {
            false
        };
        Ok((cut, self.persist_frozen()?))
    }

    pub fn stats(&self) -> TenantStats {
        let head = self.head.read().clone();
        let frozen = self.frozen.read().clone();
        let blocks = self.blocks.read().clone();
        let wal = self.wal.stats();
        let mut s = self.counters.snapshot();
        s.head_series = head.num_series() as u64;
        s.head_samples = head.num_samples();
        s.head_bytes = head.bytes() + frozen.iter().map(|f| f.head.bytes()).sum::<u64>();
        s.head_bytes_per_series = if s.head_series > 0 {
            head.bytes() as f64 / s.head_series as f64
        } else {
            0.0
        };
        let range = head.time_range();
        s.head_min_t = range.map(|r| r.0);
        s.head_max_t = range.map(|r| r.1);
        s.exemplars = self.exemplars.lock().ring.len() as u64;
        s.wal_fsyncs_total = wal.fsyncs;
        s.wal_bytes = wal.bytes;
        s.wal_segments = wal.segments;
        s.blocks = blocks.len() as u64;
        s.block_bytes = blocks.iter().map(|b| b.bytes).sum();
        s.block_series = blocks.iter().map(|b| b.meta.num_series).sum();
        s.block_samples = blocks.iter().map(|b| b.meta.num_samples).sum();
        s
    }
}

/// Sequence numbers handed out when a replayed series cannot keep its WAL ref; far above
/// any sequence normal operation reaches.
const FRESH_SEQ_START: u64 = 1 << 40;

/// What replaying a tenant's WAL rebuilt.
struct Replayed {
    max_seq: u64,
    max_t: i64,
    exemplars: Exemplars,
    metadata: HashMap<String, MetricMetadata>,
    /// Set when replay stopped at a corrupt record before the tail.
    corrupt: Option<String>,
}

fn merge_md(map: &mut HashMap<String, MetricMetadata>, md: Vec<MetricMetadata>) {
    for m in md {
        map.insert(m.metric_family.clone(), m);
    }
}

/// Replays the WAL in `wal_dir` into `head`, exemplars and metadata.
fn replay_wal(
    name: &str,
    wal_dir: &Path,
    head: &Head,
    max_exemplars: usize,
) -> Result<Replayed, TsdbError> {
    let mut out = Replayed {
        max_seq: 0,
        max_t: i64::MIN,
        exemplars: Exemplars::new(max_exemplars),
        metadata: HashMap::new(),
        corrupt: None,
    };
    let mut by_ref: HashMap<u64, Arc<Labels>> = HashMap::new();
    // WAL ref -> head ref (they differ only when a ref had to be remapped)
    let mut alias: HashMap<u64, u64> = HashMap::new();
    let fresh = AtomicU64::new(FRESH_SEQ_START);
    let mut bad_records = 0u64;
    let mut unknown_refs = 0u64;
    let result = Wal::replay(wal_dir, &mut |rec| {
        let decoded = match record::decode(rec) {
            Ok(d) => d,
            Err(e) => {
                bad_records += 1;
                tracing::error!(tenant = %name, error = %e.0, "skipping undecodable wal record");
                return Ok(());
            }
        };
        match decoded {
            Decoded::Batch(b) => {
                for (wal_ref, labels) in b.defs {
                    let labels = Arc::new(labels);
                    let hash = series_hash(&labels);
                    out.max_seq = out.max_seq.max(wal_ref >> SHARD_BITS);
                    let sref = head.replay_series(wal_ref, labels.clone(), hash, &fresh);
                    alias.insert(wal_ref, sref);
                    by_ref.insert(wal_ref, labels);
                }
                for (wal_ref, start, end) in b.entries {
                    let Some(samples) = b.samples.get(start..end) else {
                        continue;
                    };
                    let Some(&sref) = alias.get(&wal_ref) else {
                        unknown_refs += 1;
                        continue;
                    };
                    match head.apply(sref, samples, false) {
                        Some(_) => {
                            if let Some(last) = samples.last() {
                                out.max_t = out.max_t.max(last.t);
                            }
                        }
                        None => unknown_refs += 1,
                    }
                }
                for (sref, e) in b.exemplars {
                    if let Some(l) = by_ref.get(&sref) {
                        out.exemplars.push(l.clone(), e);
                    }
                }
                merge_md(&mut out.metadata, b.metadata);
            }
            Decoded::State(s) => {
                for (series, e) in s.exemplars {
                    out.exemplars.push(Arc::new(series), e);
                }
                merge_md(&mut out.metadata, s.metadata);
            }
        }
        Ok(())
    });
    let stats = match result {
        Ok(stats) => stats,
        Err(e @ StorageError::Corrupt { .. }) => {
            out.corrupt = Some(e.to_string());
            oxeye_storage::wal::ReplayStats::default()
        }
        Err(e) => return Err(e.into()),
    };
    let fresh = fresh.load(Ordering::Relaxed);
    if fresh > FRESH_SEQ_START {
        out.max_seq = out.max_seq.max(fresh - 1);
    }
    if bad_records > 0 || unknown_refs > 0 {
        tracing::error!(
            tenant = %name,
            bad_records,
            unknown_refs,
            "wal replay skipped data it could not apply"
        );
    }
    tracing::info!(
        tenant = %name,
        records = stats.records,
        segments = stats.segments,
        truncated_tail_bytes = stats.truncated_tail_bytes,
        series = head.num_series(),
        samples = head.num_samples(),
        "replayed wal"
    );
    Ok(out)
}

fn burst_of(l: &Limits) -> f64 {
    if l.samples_burst > 0 {
        l.samples_burst as f64
    } else {
        l.max_samples_per_second
    }
}

pub(crate) fn tenant_burst(l: &Limits) -> f64 {
    burst_of(l)
}

/// Loads every block under `<dir>/blocks`, setting corrupt ones aside into
/// `<dir>/corrupted/` and deleting blocks a compacted block already replaces.
fn load_blocks(
    dir: &Path,
    counters: &Counters,
    cache: &Arc<ChunkCache>,
) -> Result<Vec<Arc<Block>>, TsdbError> {
    let bdir = blocks_dir(dir);
    let entries = std::fs::read_dir(&bdir)
        .map_err(|e| TsdbError::io(format!("read {}", bdir.display()), e))?;
    let mut blocks = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| TsdbError::io(format!("read {}", bdir.display()), e))?;
        let path = entry.path();
        if !path.is_dir() {
            continue;
        }
        match Block::open(&path, cache.clone()) {
            Ok(b) => blocks.push(Arc::new(b)),
            Err(e) => {
                counters.corrupt_blocks.fetch_add(1, Ordering::Relaxed);
                tracing::error!(block = %path.display(), error = %e, "corrupt block set aside");
                set_aside(dir, &path)?;
            }
        }
    }
    let replaced: HashSet<String> = blocks
        .iter()
        .flat_map(|b| b.meta.compaction.sources.iter().cloned())
        .collect();
    blocks.retain(|b| {
        if replaced.contains(&b.meta.id) {
            tracing::info!(block = %b.meta.id, "deleting block replaced by a compacted block");
            b.mark_deleted();
            return false;
        }
        true
    });
    blocks.sort_by(|a, b| (a.meta.min_t, &a.meta.id).cmp(&(b.meta.min_t, &b.meta.id)));
    Ok(blocks)
}

/// Moves a block (or WAL) directory to `<tenant>/corrupted/`.
pub(crate) fn set_aside(tenant_dir: &Path, block: &Path) -> Result<(), TsdbError> {
    let cdir = tenant_dir.join("corrupted");
    std::fs::create_dir_all(&cdir)
        .map_err(|e| TsdbError::io(format!("create {}", cdir.display()), e))?;
    let name = block
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "block".into());
    let mut target = cdir.join(&name);
    let mut n = 1;
    while target.exists() {
        target = cdir.join(format!("{name}.{n}"));
        n += 1;
    }
    std::fs::rename(block, &target)
        .map_err(|e| TsdbError::io(format!("move {} aside", block.display()), e))
}
