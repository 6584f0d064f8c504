//! Stores that become available once they have opened.
//!
//! The HTTP listeners start before the WAL replays, so `/-/healthy` answers at once and
//! `/-/ready` says 503 while the replays run; writes and reads in that window get a
//! retryable 503 ("storage is starting") instead of hanging in the accept queue.

use std::ops::ControlFlow;
use std::sync::{Arc, OnceLock};

use oxeye_core::logs::{
    LogAppendStats, LogAppender, LogBatch, LogQueryable, LogSelect, LogSeries, LogStreamStats,
};
use oxeye_core::trace::{
    AnyValue, AttrScope, Operation, SpanAppendStats, SpanAppender, TagNames, Trace, TraceBatch,
    TraceId, TraceQueryable, TraceScan,
};
use oxeye_core::{
    AppendStats, Matcher, MetricsAppender, MetricsQuerier, MetricsQueryable, StoreError, TenantId,
    WriteBatch,
};
use oxeye_logs::LogStore;
use oxeye_traces::TraceStore;
use oxeye_tsdb::Tsdb;

fn starting() -> StoreError {
    StoreError::Unavailable("storage is starting, retry later".into())
}

/// The TSDB once open.
#[derive(Debug, Default)]
pub struct LazyStore {
    db: OnceLock<Arc<Tsdb>>,
}

impl LazyStore {
    /// Makes the opened TSDB available; later calls are ignored.
    pub fn set(&self, db: Arc<Tsdb>) {
        let _ = self.db.set(db);
    }

    /// The TSDB, or Unavailable while it is still opening.
    pub fn get(&self) -> Result<&Arc<Tsdb>, StoreError> {
        self.db.get().ok_or_else(starting)
    }
}

/// The trace store once open.
#[derive(Debug, Default)]
pub struct LazyTraces {
    store: OnceLock<Arc<TraceStore>>,
}

impl LazyTraces {
    /// Makes the opened store available; later calls are ignored.
    pub fn set(&self, store: Arc<TraceStore>) {
        let _ = self.store.set(store);
    }

    /// The store, or Unavailable while it is still opening.
    pub fn get(&self) -> Result<&Arc<TraceStore>, StoreError> {
        self.store.get().ok_or_else(starting)
    }
}

impl SpanAppender for LazyTraces {
    fn append_spans(
        &self,
        tenant: &TenantId,
        batch: TraceBatch,
    ) -> Result<SpanAppendStats, StoreError> {
        self.get()?.append_spans(tenant, batch)
    }
}

impl TraceQueryable for LazyTraces {
    fn trace_by_id(
        &self,
        tenant: &TenantId,
        trace_id: &TraceId,
        range: Option<(u64, u64)>,
    ) -> Result<Option<Trace>, StoreError> {
        self.get()?.trace_by_id(tenant, trace_id, range)
    }

    fn scan(
        &self,
        tenant: &TenantId,
        scan: &TraceScan,
        visit: &mut dyn FnMut(&Trace) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        self.get()?.scan(tenant, scan, visit)
    }

    fn tag_names(&self, tenant: &TenantId, start: u64, end: u64) -> Result<TagNames, StoreError> {
        self.get()?.tag_names(tenant, start, end)
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
        self.get()?
            .tag_values(tenant, scope, key, start, end, limit)
    }

    fn operations(
        &self,
        tenant: &TenantId,
        service: Option<&str>,
        start: u64,
        end: u64,
    ) -> Result<Vec<Operation>, StoreError> {
        self.get()?.operations(tenant, service, start, end)
    }
}

/// The log store once open.
#[derive(Debug, Default)]
pub struct LazyLogs {
    store: OnceLock<Arc<LogStore>>,
}

impl LazyLogs {
    /// Makes the opened store available; later calls are ignored.
    pub fn set(&self, store: Arc<LogStore>) {
        let _ = self.store.set(store);
    }

    /// The store, or Unavailable while it is still opening.
    pub fn get(&self) -> Result<&Arc<LogStore>, StoreError> {
        self.store.get().ok_or_else(starting)
    }
}

impl LogAppender for LazyLogs {
    fn append_logs(
        &self,
        tenant: &TenantId,
        batch: LogBatch,
    ) -> Result<LogAppendStats, StoreError> {
        self.get()?.append_logs(tenant, batch)
    }
}

impl LogQueryable for LazyLogs {
    fn select_logs(
        &self,
        tenant: &TenantId,
        matchers: &[Matcher],
        select: &LogSelect,
    ) -> Result<Vec<LogSeries>, StoreError> {
        self.get()?.select_logs(tenant, matchers, select)
    }

    fn log_label_names(
        &self,
        tenant: &TenantId,
        matchers: &[Matcher],
        start_ns: i64,
        end_ns: i64,
    ) -> Result<Vec<String>, StoreError> {
        self.get()?
            .log_label_names(tenant, matchers, start_ns, end_ns)
    }

    fn log_label_values(
        &self,
        tenant: &TenantId,
        name: &str,
        matchers: &[Matcher],
        start_ns: i64,
        end_ns: i64,
    ) -> Result<Vec<String>, StoreError> {
        self.get()?
            .log_label_values(tenant, name, matchers, start_ns, end_ns)
    }

    fn stream_stats(
        &self,
        tenant: &TenantId,
        matchers: &[Matcher],
        start_ns: i64,
        end_ns: i64,
    ) -> Result<Vec<LogStreamStats>, StoreError> {
        self.get()?.stream_stats(tenant, matchers, start_ns, end_ns)
    }
}

impl MetricsAppender for LazyStore {
    fn append(&self, tenant: &TenantId, batch: WriteBatch) -> Result<AppendStats, StoreError> {
        self.get()?.append(tenant, batch)
    }
}

impl MetricsQueryable for LazyStore {
    fn querier(
        &self,
        tenant: &TenantId,
        mint: i64,
        maxt: i64,
    ) -> Result<Box<dyn MetricsQuerier>, StoreError> {
        self.get()?.querier(tenant, mint, maxt)
    }

    fn settled(&self, tenant: &TenantId) -> Option<oxeye_core::Settled> {
        self.get().ok()?.settled(tenant)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unavailable_until_set() {
        let dir = tempfile::tempdir().unwrap();
        let lazy = LazyStore::default();
        let t = TenantId::new("a").unwrap();
        let err = lazy.append(&t, WriteBatch::default()).unwrap_err();
        assert_eq!(err.status_code(), oxeye_core::StatusCode::Unavailable);
        assert!(lazy.querier(&t, 0, 1).is_err());
        let db = Tsdb::open(
            dir.path(),
            oxeye_tsdb::TsdbOptions::default(),
            Arc::new(oxeye_core::SystemClock),
        )
        .unwrap();
        lazy.set(db.clone());
        assert!(lazy.append(&t, WriteBatch::default()).is_ok());
        assert!(lazy.querier(&t, 0, 1).is_ok());
        db.close().unwrap();
    }
}
