//! The write-ahead log shared by every store.
//!
//! Data flow: a store serialises one write into a record and calls [`Wal::append`], which
//! frames it (length + checksums), writes it to the current segment file and returns once
//! the record is durable per the [`SyncPolicy`]. With [`SyncPolicy::Always`] concurrent
//! appenders share fsyncs (group commit): the first waiter becomes the leader and fsyncs
//! without holding the lock while the others keep writing and wait; the next fsync covers
//! them all. At startup [`Wal::replay`] feeds every complete record back, truncating a torn
//! tail left by a crash, and the store then calls [`Wal::open`] to append to a fresh segment.
//! Once a segment's data is safely in a block, [`Wal::cut`] + [`Wal::remove_before`] drop it.
//!
//! On disk: `dir/00000001`, `dir/00000002`, ... (zero-padded segment index). Each record is
//! `len u32 LE | payload CRC32 u32 LE | header CRC32 u32 LE | payload`; the header CRC covers
//! the first 8 bytes (xored with a constant so zero-filled space never validates). Records
//! never span segments; a record larger than the segment size gets a segment of its own.

use std::fs::{self, File, OpenOptions};
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::{Condvar, Mutex, MutexGuard};

use crate::StorageError;
use crate::block::sync_dir;

/// The largest record the WAL accepts.
pub const MAX_RECORD_SIZE: usize = 1 << 30;
/// Bytes of framing before each record's payload.
pub const RECORD_HEADER_LEN: usize = 12;
const HEADER_CRC_XOR: u32 = 0x4f58_5741;

/// When appends are fsynced.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SyncPolicy {
    /// Every append returns only after an fsync covering it (shared between concurrent appenders).
    #[default]
    Always,
    /// A background thread fsyncs at this interval; appends return after the write.
    Interval(Duration),
    /// Appends are written but only fsynced when a segment is closed, on `sync` and on `close`.
    Never,
}

/// WAL settings.
#[derive(Clone, Debug)]
pub struct WalOptions {
    /// A new segment is started once the current one would exceed this size.
    pub segment_size: u64,
    /// When appends are fsynced.
    pub sync: SyncPolicy,
}

impl Default for WalOptions {
    fn default() -> Self {
        Self {
            segment_size: 128 << 20,
            sync: SyncPolicy::Always,
        }
    }
}

/// What a replay read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReplayStats {
    /// Complete records passed to the callback.
    pub records: u64,
    /// Segment files read.
    pub segments: u64,
    /// Bytes of complete records (framing included).
    pub bytes: u64,
    /// Bytes cut off the end of the last segment because they held a torn or corrupt record.
    pub truncated_tail_bytes: u64,
    /// Segments before the last with a damaged record whose remainder was skipped
    /// (only by [`Wal::replay_salvaging`]).
    pub damaged_segments: u64,
    /// Bytes skipped in those segments, from the damaged record to the segment's end.
    pub skipped_bytes: u64,
}

/// Counters of an open WAL.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WalStats {
    /// Records appended since open.
    pub records: u64,
    /// Bytes appended since open, framing included.
    pub bytes: u64,
    /// Fsyncs of segment files since open.
    pub fsyncs: u64,
    /// Segment files currently on disk.
    pub segments: u64,
    /// Index of the segment being appended to.
    pub current_segment: u64,
}

fn segment_path(dir: &Path, index: u64) -> PathBuf {
    dir.join(format!("{index:08}"))
}

/// Segment indexes present in `dir`, sorted; a missing directory has none.
pub fn list_segments(dir: &Path) -> Result<Vec<u64>, StorageError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StorageError::io_at("read dir", dir, e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| StorageError::io_at("read dir", dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if let Ok(index) = name.parse::<u64>() {
            out.push(index);
        }
    }
    out.sort_unstable();
    Ok(out)
}

fn encode_header(payload: &[u8]) -> [u8; RECORD_HEADER_LEN] {
    let mut h = [0u8; RECORD_HEADER_LEN];
    h[..4].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    h[4..8].copy_from_slice(&crc32fast::hash(payload).to_le_bytes());
    let hcrc = crc32fast::hash(&h[..8]) ^ HEADER_CRC_XOR;
    h[8..12].copy_from_slice(&hcrc.to_le_bytes());
    h
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut x = [0u8; 4];
    x.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(x)
}

/// Parses a header; `None` if its own checksum fails or the length is out of range.
fn decode_header(h: &[u8; RECORD_HEADER_LEN]) -> Option<(usize, u32)> {
    if crc32fast::hash(&h[..8]) ^ HEADER_CRC_XOR != u32_at(h, 8) {
        return None;
    }
    let len = u32_at(h, 0) as usize;
    if len > MAX_RECORD_SIZE {
        return None;
    }
    Some((len, u32_at(h, 4)))
}

/// Whether a complete valid record starts at `buf[at..]`.
fn valid_record_at(buf: &[u8], at: usize) -> bool {
    let Some(h) = buf.get(at..at + RECORD_HEADER_LEN) else {
        return false;
    };
    let mut hdr = [0u8; RECORD_HEADER_LEN];
    hdr.copy_from_slice(h);
    let Some((len, crc)) = decode_header(&hdr) else {
        return false;
    };
    let start = at + RECORD_HEADER_LEN;
    buf.get(start..start + len)
        .is_some_and(|p| crc32fast::hash(p) == crc)
}

struct State {
    file: Arc<File>,
    seg_index: u64,
    seg_bytes: u64,
    written_seq: u64,
    synced_seq: u64,
    syncing: bool,
    closed: bool,
    poisoned: Option<String>,
    stats: WalStats,
    scratch: Vec<u8>,
}

struct Shared {
    dir: PathBuf,
    opts: WalOptions,
    state: Mutex<State>,
    synced: Condvar,
    stop: Mutex<bool>,
    stop_cv: Condvar,
}

/// An open write-ahead log; `Send + Sync`, meant to be shared behind an `Arc`.
pub struct Wal {
    shared: Arc<Shared>,
    syncer: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for Wal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wal")
            .field("dir", &self.shared.dir)
            .field("opts", &self.shared.opts)
            .finish_non_exhaustive()
    }
}

fn create_segment(dir: &Path, index: u64) -> Result<File, StorageError> {
    let path = segment_path(dir, index);
    let f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| StorageError::io_at("create segment", &path, e))?;
    sync_dir(dir)?;
    Ok(f)
}

impl Wal {
    /// Reads every complete record of the WAL in `dir` in order and passes it to `f`.
    ///
    /// A torn or corrupt record at the tail of the last non-empty segment (partial write,
    /// bad checksum, zero fill, garbage) is cut off (the file is shortened) and reported in
    /// [`ReplayStats::truncated_tail_bytes`]; so is a tail with a zero-filled page hole
    /// (unsynced pages persisted out of order by a crash), valid records after the hole
    /// included. A bad record followed by a valid one without such a hole, or a bad record
    /// in any earlier segment, is [`StorageError::Corrupt`]. A missing `dir` is an
    /// empty WAL. An error returned by `f` stops the replay and is returned as is.
    pub fn replay(
        dir: &Path,
        f: &mut dyn FnMut(&[u8]) -> Result<(), StorageError>,
    ) -> Result<ReplayStats, StorageError> {
        replay_dir(dir, false, f)
    }

    /// Like [`Wal::replay`], but a bad record in a segment before the last does not stop
    /// the replay: the rest of that segment is skipped (logged and counted in
    /// [`ReplayStats::damaged_segments`] and [`ReplayStats::skipped_bytes`]) and the
    /// later segments are still read, so damage in one segment does not hide the records
    /// acknowledged after it. Damage inside the last segment is handled as by
    /// [`Wal::replay`].
    pub fn replay_salvaging(
        dir: &Path,
        f: &mut dyn FnMut(&[u8]) -> Result<(), StorageError>,
    ) -> Result<ReplayStats, StorageError> {
        replay_dir(dir, true, f)
    }

    /// Opens the WAL in `dir` for appending (creating `dir`): appends go to a new segment
    /// numbered after the existing ones. Call [`Wal::replay`] first.
    pub fn open(dir: &Path, opts: WalOptions) -> Result<Wal, StorageError> {
        if opts.segment_size == 0 {
            return Err(StorageError::InvalidArgument(
                "wal segment size must be greater than zero".into(),
            ));
        }
        if let SyncPolicy::Interval(d) = opts.sync
            && d.is_zero()
        {
            return Err(StorageError::InvalidArgument(
                "wal sync interval must be greater than zero".into(),
            ));
        }
        crate::tenants::create_dir_all_synced(dir)?;
        let existing = list_segments(dir)?;
        let index = existing.last().map_or(0, |i| i + 1);
        let file = create_segment(dir, index)?;
        let state = State {
            file: Arc::new(file),
            seg_index: index,
            seg_bytes: 0,
            written_seq: 0,
            synced_seq: 0,
            syncing: false,
            closed: false,
            poisoned: None,
            stats: WalStats {
                segments: existing.len() as u64 + 1,
                current_segment: index,
                ..WalStats::default()
            },
            scratch: Vec::new(),
        };
        let policy = opts.sync;
        let shared = Arc::new(Shared {
            dir: dir.to_path_buf(),
            opts,
            state: Mutex::new(state),
            synced: Condvar::new(),
            stop: Mutex::new(false),
            stop_cv: Condvar::new(),
        });
        let syncer = match policy {
            SyncPolicy::Interval(every) => {
                let s = Arc::clone(&shared);
                let handle = std::thread::Builder::new()
                    .name("wal-sync".into())
                    .spawn(move || interval_syncer(&s, every))
                    .map_err(StorageError::Io)?;
                Some(handle)
            }
            SyncPolicy::Always | SyncPolicy::Never => None,
        };
        Ok(Wal {
            shared,
            syncer: Mutex::new(syncer),
        })
    }

    /// Appends one record; returns once it is durable per the sync policy.
    pub fn append(&self, record: &[u8]) -> Result<(), StorageError> {
        if record.len() > MAX_RECORD_SIZE {
            return Err(StorageError::RecordTooLarge {
                len: record.len(),
                max: MAX_RECORD_SIZE,
            });
        }
        let shared = &*self.shared;
        let mut st = shared.state.lock();
        check_open(&st)?;
        let frame_len = (RECORD_HEADER_LEN + record.len()) as u64;
        if st.seg_bytes > 0 && st.seg_bytes + frame_len > shared.opts.segment_size {
            rotate(shared, &mut st)?;
        }
        write_record(shared, &mut st, record)?;
        st.written_seq += 1;
        st.stats.records += 1;
        st.stats.bytes += frame_len;
        let seq = st.written_seq;
        match shared.opts.sync {
            SyncPolicy::Always => sync_upto(shared, &mut st, seq),
            SyncPolicy::Interval(_) | SyncPolicy::Never => Ok(()),
        }
    }

    /// Closes the current segment (fsynced) and starts a new one; returns its index.
    /// Every record appended after this returns lives in segments `>=` that index.
    pub fn cut(&self) -> Result<u64, StorageError> {
        let mut st = self.shared.state.lock();
        check_open(&st)?;
        rotate(&self.shared, &mut st)?;
        Ok(st.seg_index)
    }

    /// Deletes the segment files with index `< segment`, never the one being appended to.
    pub fn remove_before(&self, segment: u64) -> Result<(), StorageError> {
        let mut st = self.shared.state.lock();
        let dir = &self.shared.dir;
        let mut removed = 0;
        for index in list_segments(dir)? {
            if index >= segment || index >= st.seg_index {
                break;
            }
            let path = segment_path(dir, index);
            fs::remove_file(&path).map_err(|e| StorageError::io_at("remove", &path, e))?;
            removed += 1;
        }
        if removed > 0 {
            sync_dir(dir)?;
            st.stats.segments = st.stats.segments.saturating_sub(removed);
            tracing::debug!(removed, before = segment, "removed wal segments");
        }
        Ok(())
    }

    /// Fsyncs everything appended so far.
    pub fn sync(&self) -> Result<(), StorageError> {
        let shared = &*self.shared;
        let mut st = shared.state.lock();
        if let Some(p) = &st.poisoned {
            return Err(StorageError::Poisoned(p.clone()));
        }
        let target = st.written_seq;
        sync_upto(shared, &mut st, target)
    }

    /// Fsyncs and closes the WAL; later appends fail with [`StorageError::Closed`].
    pub fn close(&self) -> Result<(), StorageError> {
        let res = {
            let shared = &*self.shared;
            let mut st = shared.state.lock();
            if st.closed {
                return Ok(());
            }
            let target = st.written_seq;
            let res = sync_upto(shared, &mut st, target);
            st.closed = true;
            res
        };
        self.stop_syncer();
        res
    }

    /// Current counters.
    pub fn stats(&self) -> WalStats {
        self.shared.state.lock().stats
    }

    /// The directory holding the segments.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    fn stop_syncer(&self) {
        *self.shared.stop.lock() = true;
        self.shared.stop_cv.notify_all();
        if let Some(handle) = self.syncer.lock().take() {
            let _ = handle.join();
        }
    }
}

impl Drop for Wal {
    fn drop(&mut self) {
        if let Err(e) = self.close() {
            tracing::warn!(error = %e, "wal sync on drop failed");
        }
    }
}

fn check_open(st: &State) -> Result<(), StorageError> {
    if st.closed {
        return Err(StorageError::Closed);
    }
    if let Some(p) = &st.poisoned {
        return Err(StorageError::Poisoned(p.clone()));
    }
    Ok(())
}

fn write_record(shared: &Shared, st: &mut State, record: &[u8]) -> Result<(), StorageError> {
    let header = encode_header(record);
    let file = Arc::clone(&st.file);
    let res = if record.len() <= 64 * 1024 {
        st.scratch.clear();
        st.scratch.extend_from_slice(&header);
        st.scratch.extend_from_slice(record);
        (&*file).write_all(&st.scratch)
    } else {
        (&*file)
            .write_all(&header)
            .and_then(|()| (&*file).write_all(record))
    };
    let path = segment_path(&shared.dir, st.seg_index);
    if let Err(e) = res {
        // Cut a partial frame off so later records do not land behind garbage.
        if let Err(te) = file.set_len(st.seg_bytes) {
            st.poisoned = Some(format!(
                "could not truncate {} after a failed write: {te}",
                path.display()
            ));
        }
        return Err(StorageError::io_at("write", path, e));
    }
    st.seg_bytes += (RECORD_HEADER_LEN + record.len()) as u64;
    Ok(())
}

fn rotate(shared: &Shared, st: &mut MutexGuard<'_, State>) -> Result<(), StorageError> {
    let old = segment_path(&shared.dir, st.seg_index);
    if let Err(e) = st.file.sync_data() {
        let err = StorageError::io_at("fsync", &old, e);
        st.poisoned = Some(err.to_string());
        return Err(err);
    }
    st.stats.fsyncs += 1;
    st.synced_seq = st.written_seq;
    shared.synced.notify_all();
    let index = st.seg_index + 1;
    let file = create_segment(&shared.dir, index)?;
    st.file = Arc::new(file);
    st.seg_index = index;
    st.seg_bytes = 0;
    st.stats.segments += 1;
    st.stats.current_segment = index;
    Ok(())
}

/// Waits until every record up to `target` is fsynced, becoming the fsync leader when none runs.
fn sync_upto(
    shared: &Shared,
    st: &mut MutexGuard<'_, State>,
    target: u64,
) -> Result<(), StorageError> {
    loop {
        if let Some(p) = &st.poisoned {
            return Err(StorageError::Poisoned(p.clone()));
        }
        if st.synced_seq >= target {
            return Ok(());
        }
        if st.syncing {
            shared.synced.wait(st);
            continue;
        }
        st.syncing = true;
        let file = Arc::clone(&st.file);
        let upto = st.written_seq;
        let index = st.seg_index;
        let res = MutexGuard::unlocked(st, || file.sync_data());
        st.syncing = false;
        match res {
            Ok(()) => {
                st.stats.fsyncs += 1;
                st.synced_seq = st.synced_seq.max(upto);
            }
            Err(e) => {
                let err = StorageError::io_at("fsync", segment_path(&shared.dir, index), e);
                tracing::error!(error = %err, "wal fsync failed; refusing further writes");
                st.poisoned = Some(err.to_string());
            }
        }
        shared.synced.notify_all();
    }
}

fn interval_syncer(shared: &Shared, every: Duration) {
    loop {
        {
            let mut stop = shared.stop.lock();
            if *stop {
                return;
            }
            shared.stop_cv.wait_for(&mut stop, every);
            if *stop {
                return;
            }
        }
        let mut st = shared.state.lock();
        if st.closed || st.poisoned.is_some() {
            return;
        }
        let target = st.written_seq;
        if let Err(e) = sync_upto(shared, &mut st, target) {
            tracing::error!(error = %e, "periodic wal fsync failed");
        }
    }
}

/// Whether a page-aligned, page-sized run of zero bytes lies within `buf[from..to]`.
fn has_zero_page(buf: &[u8], from: usize, to: usize) -> bool {
    const PAGE: usize = 4096;
    let mut p = from.div_ceil(PAGE) * PAGE;
    while p + PAGE <= to.min(buf.len()) {
        if buf[p..p + PAGE].iter().all(|&b| b == 0) {
            return true;
        }
        p += PAGE;
    }
    false
}

fn replay_dir(
    dir: &Path,
    salvage: bool,
    f: &mut dyn FnMut(&[u8]) -> Result<(), StorageError>,
) -> Result<ReplayStats, StorageError> {
    let segments = list_segments(dir)?;
    let mut sizes = Vec::with_capacity(segments.len());
    for &index in &segments {
        let path = segment_path(dir, index);
        let len = fs::metadata(&path)
            .map_err(|e| StorageError::io_at("stat", &path, e))?
            .len();
        sizes.push(len);
    }
    let last_non_empty = segments
        .iter()
        .zip(&sizes)
        .rev()
        .find(|(_, len)| **len > 0)
        .map(|(i, _)| *i);
    let mut stats = ReplayStats::default();
    let mut payload = Vec::new();
    for (&index, &len) in segments.iter().zip(&sizes) {
        stats.segments += 1;
        if len == 0 {
            continue;
        }
        let path = segment_path(dir, index);
        let is_last = Some(index) == last_non_empty;
        replay_segment(&path, len, is_last, salvage, &mut payload, &mut stats, f)?;
    }
    Ok(stats)
}

fn replay_segment(
    path: &Path,
    len: u64,
    is_last: bool,
    salvage: bool,
    payload: &mut Vec<u8>,
    stats: &mut ReplayStats,
    f: &mut dyn FnMut(&[u8]) -> Result<(), StorageError>,
) -> Result<(), StorageError> {
    let file = File::open(path).map_err(|e| StorageError::io_at("open", path, e))?;
    let mut r = BufReader::with_capacity(1 << 20, file);
    let mut offset = 0u64;
    let bad = loop {
        if offset == len {
            return Ok(());
        }
        if len - offset < RECORD_HEADER_LEN as u64 {
            break "partial record header";
        }
        let mut hdr = [0u8; RECORD_HEADER_LEN];
        r.read_exact(&mut hdr)
            .map_err(|e| StorageError::io_at("read", path, e))?;
        let Some((plen, crc)) = decode_header(&hdr) else {
            break "bad record header checksum";
        };
        let end = offset + (RECORD_HEADER_LEN + plen) as u64;
        if end > len {
            break "record extends past the end of the segment";
        }
        payload.resize(plen, 0);
        r.read_exact(payload)
            .map_err(|e| StorageError::io_at("read", path, e))?;
        if crc32fast::hash(payload) != crc {
            break "record payload checksum mismatch";
        }
        f(payload)?;
        stats.records += 1;
        stats.bytes += end - offset;
        offset = end;
    };
    if !is_last && salvage {
        tracing::error!(
            path = %path.display(),
            offset,
            skipped_bytes = len - offset,
            reason = bad,
            "damaged record in a wal segment that is not the last; skipping the rest of the segment"
        );
        stats.damaged_segments += 1;
        stats.skipped_bytes += len - offset;
        return Ok(());
    }
    if !is_last {
        return Err(StorageError::corrupt(
            path,
            format!("{bad} at offset {offset} in a segment that is not the last"),
        ));
    }
    // A bad record followed by a valid one is damage in the middle, not a torn tail,
    // unless a whole zero page lies between them: pages of unsynced writes can reach the
    // disk out of order in a crash, leaving a hole that reads as zeros.
    drop(r);
    let all = fs::read(path).map_err(|e| StorageError::io_at("read", path, e))?;
    let start = usize::try_from(offset).unwrap_or(usize::MAX);
    if let Some(pos) = (start + 1..all.len()).find(|&p| valid_record_at(&all, p)) {
        if !has_zero_page(&all, start, pos) {
            return Err(StorageError::corrupt(
                path,
                format!("{bad} at offset {offset} followed by a valid record at offset {pos}"),
            ));
        }
        tracing::warn!(
            path = %path.display(),
            offset,
            next_valid = pos,
            "wal tail has a zero-filled hole from an interrupted write; dropping everything after it"
        );
    }
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| StorageError::io_at("open", path, e))?;
    file.set_len(offset)
        .and_then(|()| file.sync_all())
        .map_err(|e| StorageError::io_at("truncate", path, e))?;
    tracing::warn!(
        path = %path.display(),
        offset,
        dropped_bytes = len - offset,
        reason = bad,
        "truncated torn wal tail"
    );
    stats.truncated_tail_bytes += len - offset;
    Ok(())
}
