//! [`TraceStore`]: the tenants' trace stores behind core's span traits.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use oxeye_core::trace::{
    AnyValue, AttrScope, Operation, SpanAppendStats, SpanAppender, TagNames, Trace, TraceBatch,
    TraceId, TraceQueryable, TraceScan,
};
use oxeye_core::{Clock, StoreError, TenantId};
use parking_lot::{Mutex, RwLock};

use crate::query::Reader;
use crate::stats::TraceStoreStats;
use crate::tenant::Tenant;
use crate::{TraceError, TraceStoreOptions};

/// What one maintenance pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MaintenanceReport {
    /// Heads cut because of their size or age.
    pub heads_cut: usize,
    /// Blocks written from heads.
    pub blocks_written: usize,
    /// Compactions run.
    pub compactions: usize,
    /// Blocks deleted by retention.
    pub blocks_deleted: usize,
    /// Tenants whose maintenance failed (the error is logged); others still ran.
    pub failed_tenants: Vec<String>,
}

/// The trace store: one tenant store per directory under `<dir>/<tenant>/`.
pub struct TraceStore {
    dir: PathBuf,
    opts: Arc<TraceStoreOptions>,
    clock: Arc<dyn Clock>,
    tenants: RwLock<HashMap<String, Arc<Tenant>>>,
    create_lock: Mutex<()>,
    closed: AtomicBool,
}

impl std::fmt::Debug for TraceStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceStore")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl TraceStore {
    /// Opens the store in `dir` (created if missing): every tenant directory found is
    /// opened (blocks verified, corrupt ones set aside, WAL replayed into the head).
    pub fn open(
        dir: &Path,
        opts: TraceStoreOptions,
        clock: Arc<dyn Clock>,
    ) -> Result<TraceStore, TraceError> {
        opts.validate()?;
        std::fs::create_dir_all(dir)
            .map_err(|e| TraceError::io(format!("create {}", dir.display()), e))?;
        let opts = Arc::new(opts);
        let mut tenants = HashMap::new();
        let entries = std::fs::read_dir(dir)
            .map_err(|e| TraceError::io(format!("read {}", dir.display()), e))?;
        for entry in entries {
            let entry = entry.map_err(|e| TraceError::io(format!("read {}", dir.display()), e))?;
            if !entry.path().is_dir() {
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            if TenantId::new(&name).is_err() {
                tracing::warn!(dir = %entry.path().display(), "ignoring directory that is not a tenant id");
                continue;
            }
            let t = Tenant::open(&name, entry.path(), opts.clone(), clock.clone())?;
            tenants.insert(name, Arc::new(t));
        }
        Ok(TraceStore {
            dir: dir.to_path_buf(),
            opts,
            clock,
            tenants: RwLock::new(tenants),
            create_lock: Mutex::new(()),
            closed: AtomicBool::new(false),
        })
    }

    fn check_open(&self) -> Result<(), TraceError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(TraceError::Closed);
        }
        Ok(())
    }

    fn tenant(&self, tenant: &str) -> Option<Arc<Tenant>> {
        self.tenants.read().get(tenant).cloned()
    }

    fn tenant_for_write(&self, tenant: &TenantId) -> Result<Arc<Tenant>, TraceError> {
        if let Some(t) = self.tenant(tenant.as_str()) {
            return Ok(t);
        }
        let _g = self.create_lock.lock();
        if let Some(t) = self.tenant(tenant.as_str()) {
            return Ok(t);
        }
        let t = Arc::new(Tenant::open(
            tenant.as_str(),
            self.dir.join(tenant.as_str()),
            self.opts.clone(),
            self.clock.clone(),
        )?);
        self.tenants
            .write()
            .insert(tenant.as_str().to_owned(), t.clone());
        Ok(t)
    }

    fn all_tenants(&self) -> Vec<Arc<Tenant>> {
        let mut v: Vec<Arc<Tenant>> = self.tenants.read().values().cloned().collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// Validates and stores `batch` for `tenant`, returning once it is durable (per the
    /// WAL sync policy). A batch with an invalid span stores nothing.
    pub fn append(
        &self,
        tenant: &TenantId,
        batch: TraceBatch,
    ) -> Result<SpanAppendStats, TraceError> {
        self.check_open()?;
        let t = self.tenant_for_write(tenant)?;
        let res = t.append(batch);
        // a refused append must start a cut as well, or nothing would ever drain the head
        if t.head_bytes() > self.opts.head_max_bytes {
            start_background_cut(&t);
        }
        Ok(SpanAppendStats { spans: res? })
    }

    /// Cuts every tenant's head into blocks now.
    pub fn flush(&self) -> Result<(), TraceError> {
        self.check_open()?;
        for t in self.all_tenants() {
            t.flush()?;
        }
        Ok(())
    }

    /// Periodic upkeep, driven by the store's clock: cut heads that are too large or too
    /// old, write their blocks, compact, apply retention. A failing tenant is logged and
    /// reported; the others still run.
    pub fn maintain(&self) -> Result<MaintenanceReport, TraceError> {
        self.check_open()?;
        let mut report = MaintenanceReport::default();
        let tenants = self.all_tenants();
        let mut first_err = None;
        let mut failed = |t: &Tenant, e: TraceError, report: &mut MaintenanceReport| {
            tracing::error!(tenant = %t.name, error = %e, "trace store maintenance failed");
            if !report.failed_tenants.contains(&t.name) {
                report.failed_tenants.push(t.name.clone());
            }
            first_err.get_or_insert(e);
        };
        // head cuts first for every tenant: they bound memory, merges can wait
        for t in &tenants {
            match t.maybe_cut() {
                Ok((cut, written)) => {
                    report.heads_cut += usize::from(cut);
                    report.blocks_written += written;
                }
                Err(e) => failed(t, e, &mut report),
            }
        }
        for t in &tenants {
            match t.compact(self.opts.compactions_per_pass) {
                Ok(n) => report.compactions += n,
                Err(e) => failed(t, e, &mut report),
            }
            report.blocks_deleted += t.apply_retention();
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
    /// next open). Appends afterwards fail with [`TraceError::Closed`].
    pub fn close(&self) -> Result<(), TraceError> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        for t in self.all_tenants() {
            t.close()?;
        }
        Ok(())
    }

    /// Statistics per tenant and in total.
    pub fn stats(&self) -> TraceStoreStats {
        let mut out = TraceStoreStats::default();
        for t in self.all_tenants() {
            let s = t.stats();
            out.total.add(&s);
            out.tenants.insert(t.name.clone(), s);
        }
        out
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn reader<R>(&self, tenant: &TenantId, f: impl FnOnce(&mut Reader<'_>) -> R) -> Option<R> {
        let t = self.tenant(tenant.as_str())?;
        let mut r = Reader::new(t.snapshot(), &t.counters, &t.dicts, &t.name);
        Some(f(&mut r))
    }
}

/// Cuts `t`'s head and writes its blocks on a thread of its own, again and again while
/// the head keeps outgrowing its limit; at most one such thread per tenant.
fn start_background_cut(t: &Arc<Tenant>) {
    if t.bg_cut.swap(true, Ordering::AcqRel) {
        return;
    }
    let t2 = t.clone();
    let spawned = std::thread::Builder::new()
        .name("trace-head-cut".into())
        .spawn(move || {
            loop {
                match t2.maybe_cut() {
                    Ok((true, _)) => continue,
                    Ok((false, _)) => break,
                    Err(e) => {
                        tracing::error!(tenant = %t2.name, error = %e, "trace head cut failed");
                        break;
                    }
                }
            }
            t2.bg_cut.store(false, Ordering::Release);
        });
    if let Err(e) = spawned {
        t.bg_cut.store(false, Ordering::Release);
        tracing::error!(error = %e, "cannot start trace head cut thread");
    }
}

impl SpanAppender for TraceStore {
    fn append_spans(
        &self,
        tenant: &TenantId,
        batch: TraceBatch,
    ) -> Result<SpanAppendStats, StoreError> {
        self.append(tenant, batch).map_err(StoreError::from)
    }
}

impl TraceQueryable for TraceStore {
    fn trace_by_id(
        &self,
        tenant: &TenantId,
        trace_id: &TraceId,
        range: Option<(u64, u64)>,
    ) -> Result<Option<Trace>, StoreError> {
        Ok(self
            .reader(tenant, |r| r.trace_by_id(trace_id, range))
            .transpose()?
            .flatten())
    }

    fn scan(
        &self,
        tenant: &TenantId,
        scan: &TraceScan,
        visit: &mut dyn FnMut(&Trace) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        self.reader(tenant, |r| r.scan(scan, visit)).transpose()?;
        Ok(())
    }

    fn tag_names(&self, tenant: &TenantId, start: u64, end: u64) -> Result<TagNames, StoreError> {
        Ok(self
            .reader(tenant, |r| r.tag_names(start, end))
            .transpose()?
            .unwrap_or_default())
    }

    fn tag_values(
        &self,
        tenant: &TenantId,
        scope: Option<AttrScope>,
        key: &str,
        start: u64,
        end: u64,
        limit: usize,
    ) -> Result<Vec<AnyValue>, StoreError> {
        Ok(self
            .reader(tenant, |r| r.tag_values(scope, key, start, end, limit))
            .transpose()?
            .unwrap_or_default())
    }

    fn operations(
        &self,
        tenant: &TenantId,
        service: Option<&str>,
        start: u64,
        end: u64,
    ) -> Result<Vec<Operation>, StoreError> {
        Ok(self
            .reader(tenant, |r| r.operations(service, start, end))
            .transpose()?
            .unwrap_or_default())
    }
}
