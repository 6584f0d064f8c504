//! [`LogStore`]: the tenants' log stores behind core's log traits.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use oxeye_core::logs::{
    LogAppendStats, LogAppender, LogBatch, LogQueryable, LogSelect, LogSeries, LogStreamStats,
};
use oxeye_core::{Clock, Matcher, StoreError, TenantId};
use oxeye_storage::tenants::TenantRegistry;

use crate::tenant::{Tenant, TenantStats};
use crate::{LogStoreError, LogStoreOptions};

/// What one maintenance pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MaintenanceReport {
    /// Heads cut because of their size or age.
    pub heads_cut: usize,
    /// Chunk files written.
    pub files_written: usize,
    /// Chunk files deleted by retention.
    pub files_deleted: usize,
    /// Tenants whose maintenance failed (the error is logged); others still ran.
    pub failed_tenants: Vec<String>,
}

/// Figures for self metrics.
#[derive(Debug, Clone, Default)]
pub struct LogStoreStats {
    /// Streams known, all tenants.
    pub streams: u64,
    /// Bytes of chunk files on disk.
    pub disk_bytes: u64,
    /// Bytes of WAL segments on disk (entries not yet in chunk files, uncompressed).
    pub wal_bytes: u64,
    /// Bytes held in memory by heads.
    pub head_bytes: u64,
    /// Chunks in chunk files.
    pub chunks: u64,
    /// Chunk files.
    pub chunk_files: u64,
    /// Entries appended since open.
    pub entries_ingested: u64,
    /// Line bytes appended since open.
    pub bytes_ingested: u64,
    /// Chunk files set aside as corrupt since open.
    pub corrupt_files: u64,
    /// WAL bytes skipped at open because a segment before the last was damaged.
    pub wal_bytes_skipped: u64,
    /// Chunks that line filters ruled out for a query, since open.
    pub chunks_skipped: u64,
    /// Chunks decoded by queries, since open.
    pub chunks_decoded: u64,
    /// Per tenant.
    pub tenants: Vec<(String, TenantStats)>,
    /// Tenants that failed to open, with the error; the other tenants work.
    pub failed_tenants: Vec<(String, String)>,
}

/// The log store: one tenant store per directory under `<dir>/<tenant>/`.
pub struct LogStore {
    dir: PathBuf,
    opts: Arc<LogStoreOptions>,
    clock: Arc<dyn Clock>,
    tenants: TenantRegistry<Tenant>,
    closed: AtomicBool,
}

impl std::fmt::Debug for LogStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogStore")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl LogStore {
    /// Opens (or creates) the store in `dir`: every tenant directory found is opened
    /// (chunk files indexed, corrupt ones set aside, WAL replayed into the head). A
    /// tenant that fails to open is logged and listed in
    /// [`LogStoreStats::failed_tenants`]; the store opens with the others.
    pub fn open(
        dir: &Path,
        options: LogStoreOptions,
        clock: Arc<dyn Clock>,
    ) -> Result<Arc<Self>, LogStoreError> {
        options.validate()?;
        let opts = Arc::new(options);
        let tenants = TenantRegistry::open(dir, |name, path| {
            Tenant::open(name, path, opts.clone(), clock.clone())
        })?;
        Ok(Arc::new(LogStore {
            dir: dir.to_path_buf(),
            opts,
            clock,
            tenants,
            closed: AtomicBool::new(false),
        }))
    }

    fn check_open(&self) -> Result<(), LogStoreError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(LogStoreError::Closed);
        }
        Ok(())
    }

    /// Validates and stores `batch` for `tenant`; returns once it is durable (per the WAL
    /// sync policy). A batch with an invalid stream or entry stores nothing.
    pub fn append(
        &self,
        tenant: &TenantId,
        batch: LogBatch,
    ) -> Result<LogAppendStats, LogStoreError> {
        self.check_open()?;
        let t = self.tenants.get_or_create(tenant, |name, path| {
            Tenant::open(name, path, self.opts.clone(), self.clock.clone())
        })?;
        let res = t.append(batch);
        // a refused append must start a cut as well, or nothing would ever drain the head
        if t.head_full() {
            start_background_cut(&t);
        }
        res
    }

    /// Writes everything in memory to chunk files (`POST /api/v1/admin/tsdb/flush`).
    pub fn flush(&self) -> Result<(), LogStoreError> {
        self.check_open()?;
        for (_, t) in self.tenants.all() {
            t.flush()?;
        }
        Ok(())
    }

    /// One maintenance pass, driven by the store's clock: cut heads that are too large
    /// or too old into chunk files, apply retention. A failing tenant is logged and
    /// reported; the others still run.
    pub fn maintain(&self) -> Result<MaintenanceReport, LogStoreError> {
        self.check_open()?;
        let mut report = MaintenanceReport::default();
        let tenants = self.tenants.all();
        let mut first_err = None;
        for (name, t) in &tenants {
            match t.cut(false) {
                Ok((cut, written)) => {
                    report.heads_cut += usize::from(cut);
                    report.files_written += written;
                }
                Err(e) => {
                    tracing::error!(tenant = %name, error = %e, "log store maintenance failed");
                    report.failed_tenants.push(name.clone());
                    first_err.get_or_insert(e);
                }
            }
            report.files_deleted += t.apply_retention();
        }
        if !tenants.is_empty()
            && report.failed_tenants.len() == tenants.len()
            && let Some(e) = first_err
        {
            return Err(e);
        }
        Ok(report)
    }

    /// Graceful shutdown: syncs and closes every WAL (the head is rebuilt from it on the
    /// next open). Appends afterwards fail with [`LogStoreError::Closed`].
    pub fn close(&self) -> Result<(), LogStoreError> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        for (_, t) in self.tenants.all() {
            t.close()?;
        }
        Ok(())
    }

    /// Figures for self metrics.
    pub fn stats(&self) -> LogStoreStats {
        let mut total = TenantStats::default();
        let mut tenants = Vec::new();
        for (name, t) in self.tenants.all() {
            let s = t.stats();
            total.add(&s);
            tenants.push((name, s));
        }
        LogStoreStats {
            streams: total.streams,
            disk_bytes: total.disk_bytes,
            wal_bytes: total.wal_bytes,
            head_bytes: total.head_bytes,
            chunks: total.chunks,
            chunk_files: total.chunk_files,
            entries_ingested: total.entries_ingested,
            bytes_ingested: total.bytes_ingested,
            corrupt_files: total.corrupt_files,
            wal_bytes_skipped: total.wal_bytes_skipped,
            chunks_skipped: total.chunks_skipped,
            chunks_decoded: total.chunks_decoded,
            tenants,
            failed_tenants: self.tenants.failed(),
        }
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Cuts `t`'s head and writes its chunk file on a thread of its own; at most one such
/// thread per tenant.
fn start_background_cut(t: &Arc<Tenant>) {
    if t.bg_cut.swap(true, Ordering::AcqRel) {
        return;
    }
    let t2 = t.clone();
    let spawned = std::thread::Builder::new()
        .name("log-head-cut".into())
        .spawn(move || {
            if let Err(e) = t2.cut(false) {
                tracing::error!(tenant = %t2.name, error = %e, "log head cut failed");
            }
            t2.bg_cut.store(false, Ordering::Release);
        });
    if let Err(e) = spawned {
        t.bg_cut.store(false, Ordering::Release);
        tracing::error!(error = %e, "cannot start log head cut thread");
    }
}

impl LogAppender for LogStore {
    fn append_logs(
        &self,
        tenant: &TenantId,
        batch: LogBatch,
    ) -> Result<LogAppendStats, StoreError> {
        self.append(tenant, batch).map_err(StoreError::from)
    }
}

impl LogQueryable for LogStore {
    fn select_logs(
        &self,
        tenant: &TenantId,
        matchers: &[Matcher],
        select: &LogSelect,
    ) -> Result<Vec<LogSeries>, StoreError> {
        Ok(self
            .tenants
            .get(tenant.as_str())
            .map(|t| t.select(matchers, select))
            .unwrap_or_default())
    }

    fn log_label_names(
        &self,
        tenant: &TenantId,
        matchers: &[Matcher],
        start_ns: i64,
        end_ns: i64,
    ) -> Result<Vec<String>, StoreError> {
        let Some(t) = self.tenants.get(tenant.as_str()) else {
            return Ok(Vec::new());
        };
        let mut names: Vec<String> = t
            .matching_labels(matchers, start_ns, end_ns)
            .iter()
            .flat_map(|l| l.iter().map(|l| l.name.clone()).collect::<Vec<_>>())
            .collect();
        names.sort_unstable();
        names.dedup();
        Ok(names)
    }

    fn log_label_values(
        &self,
        tenant: &TenantId,
        name: &str,
        matchers: &[Matcher],
        start_ns: i64,
        end_ns: i64,
    ) -> Result<Vec<String>, StoreError> {
        let Some(t) = self.tenants.get(tenant.as_str()) else {
            return Ok(Vec::new());
        };
        let mut values: Vec<String> = t
            .matching_labels(matchers, start_ns, end_ns)
            .iter()
            .filter_map(|l| l.get(name).map(str::to_owned))
            .collect();
        values.sort_unstable();
        values.dedup();
        Ok(values)
    }

    fn stream_stats(
        &self,
        tenant: &TenantId,
        matchers: &[Matcher],
        start_ns: i64,
        end_ns: i64,
    ) -> Result<Vec<LogStreamStats>, StoreError> {
        Ok(self
            .tenants
            .get(tenant.as_str())
            .map(|t| t.stream_stats(matchers, start_ns, end_ns))
            .unwrap_or_default())
    }
}
