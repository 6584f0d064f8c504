//! [`Tsdb`]: the tenants' databases behind the core append/query traits.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use oxeye_core::{
    AppendStats, Clock, MetricsAppender, MetricsQuerier, MetricsQueryable, Settled, StoreError,
    TenantId, WriteBatch,
};
use parking_lot::{Mutex, RwLock};

use crate::block::ChunkCache;
use crate::querier::TenantQuerier;
use crate::stats::TsdbStats;
use crate::tenant::TenantDb;
use crate::{TsdbError, TsdbOptions};

/// What one maintenance pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MaintenanceReport {
    /// Heads cut into frozen heads.
    pub heads_cut: usize,
    /// Blocks written from heads.
    pub blocks_written: usize,
    /// Compactions done.
    pub compactions: usize,
    /// Blocks deleted by time retention.
    pub blocks_deleted_by_time: usize,
    /// Blocks deleted by size retention.
    pub blocks_deleted_by_size: usize,
    /// Tenants whose maintenance failed (the error is logged); others still ran.
    pub failed_tenants: Vec<String>,
}

/// The metrics TSDB: one [`TenantDb`] per tenant under `<dir>/<tenant>/`.
pub struct Tsdb {
    dir: PathBuf,
    opts: Arc<TsdbOptions>,
    clock: Arc<dyn Clock>,
    cache: Arc<ChunkCache>,
    tenants: RwLock<HashMap<String, Arc<TenantDb>>>,
    create_lock: Mutex<()>,
    closed: AtomicBool,
}

impl std::fmt::Debug for Tsdb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tsdb")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl Tsdb {
    /// Opens the database in `dir` (created if missing): every tenant directory found is
    /// opened (blocks verified, corrupt ones set aside, WAL replayed, tmp dirs removed).
    pub fn open(
        dir: &Path,
        opts: TsdbOptions,
        clock: Arc<dyn Clock>,
    ) -> Result<Arc<Tsdb>, TsdbError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| TsdbError::io(format!("create {}", dir.display()), e))?;
        let cache = ChunkCache::new(opts.chunk_cache_bytes, opts.page_cache_bytes);
        let opts = Arc::new(opts);
        let mut tenants = HashMap::new();
        let entries = std::fs::read_dir(dir)
            .map_err(|e| TsdbError::io(format!("read {}", dir.display()), e))?;
        for entry in entries {
            let entry = entry.map_err(|e| TsdbError::io(format!("read {}", dir.display()), e))?;
            if !entry.path().is_dir() {
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            if TenantId::new(&name).is_err() {
                tracing::warn!(dir = %entry.path().display(), "ignoring directory that is not a tenant id");
                continue;
            }
            let t = TenantDb::open(
                &name,
                entry.path(),
                opts.clone(),
                clock.clone(),
                cache.clone(),
            )?;
            tenants.insert(name, Arc::new(t));
        }
        Ok(Arc::new(Tsdb {
            dir: dir.to_path_buf(),
            opts,
            clock,
            cache,
            tenants: RwLock::new(tenants),
            create_lock: Mutex::new(()),
            closed: AtomicBool::new(false),
        }))
    }

    fn check_open(&self) -> Result<(), TsdbError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(TsdbError::Closed);
        }
        Ok(())
    }

    fn tenant(&self, tenant: &str) -> Option<Arc<TenantDb>> {
        self.tenants.read().get(tenant).cloned()
    }

    fn tenant_for_write(&self, tenant: &TenantId) -> Result<Arc<TenantDb>, TsdbError> {
        if let Some(t) = self.tenant(tenant.as_str()) {
            return Ok(t);
        }
        let _g = self.create_lock.lock();
        if let Some(t) = self.tenant(tenant.as_str()) {
            return Ok(t);
        }
        let t = Arc::new(TenantDb::open(
            tenant.as_str(),
            self.dir.join(tenant.as_str()),
            self.opts.clone(),
            self.clock.clone(),
            self.cache.clone(),
        )?);
        self.tenants
            .write()
            .insert(tenant.as_str().to_string(), t.clone());
        Ok(t)
    }

    fn all_tenants(&self) -> Vec<Arc<TenantDb>> {
        let mut v: Vec<Arc<TenantDb>> = self.tenants.read().values().cloned().collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// Validates and stores `batch` for `tenant`, returning once it is durable.
    pub fn append_batch(
        &self,
        tenant: &TenantId,
        batch: WriteBatch,
    ) -> Result<AppendStats, TsdbError> {
        self.check_open()?;
        let t = self.tenant_for_write(tenant)?;
        let stats = t.append(batch)?;
        if let Some(max) = self.opts.head_max_bytes
            && t.head.read().bytes() > max
            && !t.bg_cut.swap(true, Ordering::AcqRel)
        {
            // cut and write the block off the append path
            let t2 = t.clone();
            let spawned = std::thread::Builder::new()
                .name("tsdb-head-cut".into())
                .spawn(move || {
                    if let Err(e) = t2.maybe_cut() {
                        tracing::error!(tenant = %t2.name, error = %e, "head cut failed");
                    }
                    t2.bg_cut.store(false, Ordering::Release);
                });
            if let Err(e) = spawned {
                t.bg_cut.store(false, Ordering::Release);
                tracing::error!(error = %e, "cannot start head cut thread");
            }
        }
        Ok(stats)
    }

    /// Cuts every tenant's head into a block now.
    pub fn flush(&self) -> Result<(), TsdbError> {
        self.check_open()?;
        for t in self.all_tenants() {
            t.flush()?;
        }
        Ok(())
    }

    /// Periodic upkeep: cut heads that span a block duration or exceed `head_max_bytes`,
    /// write pending blocks, compact, then apply time and size retention.
    pub fn maintenance(&self) -> Result<MaintenanceReport, TsdbError> {
        self.check_open()?;
        let mut report = MaintenanceReport::default();
        let now = self.clock.now_ms();
        let mut first_err = None;
        for t in self.all_tenants() {
            let r = (|| -> Result<(), TsdbError> {
                let (cut, written) = t.maybe_cut()?;
                report.heads_cut += usize::from(cut);
                report.blocks_written += written;
                let _m = t.maint_lock.lock();
                report.compactions += t.compact()?;
                report.blocks_deleted_by_time += t.apply_time_retention(now);
                Ok(())
            })();
            if let Err(e) = r {
                tracing::error!(tenant = %t.name, error = %e, "tsdb maintenance failed");
                report.failed_tenants.push(t.name.clone());
                first_err.get_or_insert(e);
            }
        }
        if let Some(limit) = self.opts.retention_bytes {
            report.blocks_deleted_by_size = self.apply_size_retention(limit);
        }
        if report.failed_tenants.len() == self.tenants.read().len()
            && let Some(e) = first_err
        {
            return Err(e);
        }
        Ok(report)
    }

    /// Deletes the oldest blocks across tenants until blocks total at most `limit` bytes.
    fn apply_size_retention(&self, limit: u64) -> usize {
        let tenants = self.all_tenants();
        let mut all: Vec<(usize, Arc<crate::block::Block>)> = Vec::new();
        for (i, t) in tenants.iter().enumerate() {
            for b in t.blocks.read().iter() {
                all.push((i, b.clone()));
            }
        }
        let mut total: u64 = all.iter().map(|(_, b)| b.bytes).sum();
        all.sort_by(|a, b| (a.1.meta.max_t, &a.1.meta.id).cmp(&(b.1.meta.max_t, &b.1.meta.id)));
        let mut deleted = 0;
        for (i, b) in all {
            if total <= limit {
                break;
            }
            let Some(t) = tenants.get(i) else { continue };
            tracing::info!(tenant = %t.name, block = %b.meta.id, total, limit, "block deleted by size retention");
            total = total.saturating_sub(b.bytes);
            t.remove_blocks(std::slice::from_ref(&b));
            t.settled_gen.fetch_add(1, Ordering::SeqCst);
            deleted += 1;
        }
        deleted
    }

    /// Graceful shutdown: syncs and closes every WAL; the head is rebuilt from the WAL on
    /// the next open. Appends afterwards fail with [`TsdbError::Closed`].
    pub fn close(&self) -> Result<(), TsdbError> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        for t in self.all_tenants() {
            // wait for in-flight appends
            let _excl = t.cut_lock.write();
            t.wal.sync()?;
            t.wal.close()?;
        }
        Ok(())
    }

    /// Statistics per tenant and in total.
    pub fn stats(&self) -> TsdbStats {
        let pages = self.cache.pages().stats();
        let mut out = TsdbStats {
            chunk_cache_bytes: self.cache.bytes(),
            page_cache_hits_total: pages.hits,
            page_cache_misses_total: pages.misses,
            page_cache_bytes: pages.bytes,
            page_cache_capacity_bytes: pages.capacity,
            ..TsdbStats::default()
        };
        for t in self.all_tenants() {
            let s = t.stats();
            out.total.add(&s);
            out.tenants.insert(t.name.clone(), s);
        }
        out
    }

    /// The database directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl MetricsAppender for Tsdb {
    fn append(&self, tenant: &TenantId, batch: WriteBatch) -> Result<AppendStats, StoreError> {
        self.append_batch(tenant, batch).map_err(StoreError::from)
    }
}

impl MetricsQueryable for Tsdb {
    fn querier(
        &self,
        tenant: &TenantId,
        mint: i64,
        maxt: i64,
    ) -> Result<Box<dyn MetricsQuerier>, StoreError> {
        Ok(Box::new(TenantQuerier::new(
            self.tenant(tenant.as_str()),
            mint,
            maxt,
        )))
    }

    fn settled(&self, tenant: &TenantId) -> Option<Settled> {
        let t = self.tenant(tenant.as_str())?;
        // The generation first: a late write bumps it only after its samples are stored.
        let generation = t.settled_gen.load(Ordering::SeqCst);
        let newest = t.max_t.load(Ordering::SeqCst);
        if newest == i64::MIN {
            return None;
        }
        let horizon = crate::tenant::settled_horizon(newest, self.clock.now_ms());
        // never below one handed out before (the clock may step back)
        let before_ms = t
            .settled_mark
            .fetch_max(horizon, Ordering::SeqCst)
            .max(horizon);
        Some(Settled {
            generation,
            before_ms,
        })
    }
}
