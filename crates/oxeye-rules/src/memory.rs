//! An in-memory metrics store that rules can both query and write to: what
//! `oxeye test rules` loads input series into and what tests evaluate groups against.
//! Every tenant sees the same series.

use oxeye_core::{
    AppendStats, MetricsAppender, MetricsQuerier, MetricsQueryable, StoreError, TenantId,
    WriteBatch,
};
use oxeye_promql::promqltest::MemStore;
use parking_lot::RwLock;

/// Float series in memory behind a lock; appends replace samples at equal timestamps.
#[derive(Debug, Default)]
pub struct MemMetrics {
    store: RwLock<MemStore>,
}

impl MemMetrics {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of series held.
    pub fn len(&self) -> usize {
        self.store.read().len()
    }

    /// Whether no series is held.
    pub fn is_empty(&self) -> bool {
        self.store.read().is_empty()
    }

    /// Drops every series.
    pub fn clear(&self) {
        self.store.write().clear();
    }
}

impl MetricsAppender for MemMetrics {
    fn append(&self, _tenant: &TenantId, batch: WriteBatch) -> Result<AppendStats, StoreError> {
        let mut stats = AppendStats::default();
        let mut store = self.store.write();
        for s in batch.series {
            stats.samples += s.samples.len();
            store.add(s.labels, s.samples);
        }
        Ok(stats)
    }
}

impl MetricsQueryable for MemMetrics {
    fn querier(
        &self,
        tenant: &TenantId,
        mint: i64,
        maxt: i64,
    ) -> Result<Box<dyn MetricsQuerier>, StoreError> {
        self.store.read().querier(tenant, mint, maxt)
    }
}
