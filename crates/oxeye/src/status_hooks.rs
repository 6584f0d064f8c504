//! What the server's status and self-metrics hooks read from the stores: per-tenant head
//! ranges, every tenant's storage figures, scrape targets and store statistics. The
//! server crate never sees a store; `run.rs` hands it closures over these functions.

use oxeye_core::TenantId;
use oxeye_logs::LogStore;
use oxeye_scrape::ScrapeManager;
use oxeye_server::{
    ActiveTarget, DroppedTarget, LogStorageStats, MetricsStorageStats, StatValue, StoreStatus,
    TargetsSnapshot, TenantStorage, TraceStorageStats,
};
use oxeye_traces::TraceStore;
use oxeye_tsdb::Tsdb;

/// The head range and corruption count of a tenant, for the status endpoints.
pub(crate) fn store_status(tsdb: &Tsdb, tenant: &TenantId) -> StoreStatus {
    let s = tsdb.stats();
    let head = s.tenants.get(tenant.as_str());
    StoreStatus {
        corruption_count: s.total.corrupt_blocks_total + s.total.corrupt_wals_total,
        head_min_t: head.and_then(|h| h.head_min_t),
        head_max_t: head.and_then(|h| h.head_max_t),
    }
}

/// Every tenant's figures in the three stores, for `/api/v1/status/storage`; a store
/// still opening contributes nothing.
pub(crate) fn storage_stats(
    tsdb: Option<&Tsdb>,
    logs: Option<&LogStore>,
    traces: Option<&TraceStore>,
) -> Vec<TenantStorage> {
    let mut out: std::collections::BTreeMap<String, TenantStorage> = Default::default();
    fn get<'a>(
        out: &'a mut std::collections::BTreeMap<String, TenantStorage>,
        t: &str,
    ) -> &'a mut TenantStorage {
        out.entry(t.to_string()).or_insert_with(|| TenantStorage {
            tenant: t.to_string(),
            ..TenantStorage::default()
        })
    }
    if let Some(db) = tsdb {
        for (t, s) in db.stats().tenants {
            get(&mut out, &t).metrics = Some(MetricsStorageStats {
                head_series: s.head_series,
                head_samples: s.head_samples,
                head_bytes: s.head_bytes,
                head_min_time: s.head_min_t,
                head_max_time: s.head_max_t,
                blocks: s.blocks,
                block_series: s.block_series,
                block_samples: s.block_samples,
                block_bytes: s.block_bytes,
                samples_appended: s.samples_appended_total,
                exemplars: s.exemplars,
                wal_segments: s.wal_segments,
            });
        }
    }
    if let Some(l) = logs {
        for (t, s) in l.stats().tenants {
            get(&mut out, &t).logs = Some(LogStorageStats {
                streams: s.streams,
                chunks: s.chunks,
                chunk_files: s.chunk_files,
                disk_bytes: s.disk_bytes,
                head_bytes: s.head_bytes,
                wal_bytes: s.wal_bytes,
                entries_ingested: s.entries_ingested,
                bytes_ingested: s.bytes_ingested,
            });
        }
    }
    if let Some(tr) = traces {
        for (t, s) in tr.stats().tenants {
            get(&mut out, &t).traces = Some(TraceStorageStats {
                head_traces: s.head_traces,
                head_spans: s.head_spans,
                head_bytes: s.head_bytes,
                blocks: s.blocks,
                block_traces: s.block_traces,
                block_spans: s.block_spans,
                block_bytes: s.block_bytes,
                spans_ingested: s.spans_ingested,
                wal_bytes: s.wal_bytes,
            });
        }
    }
    out.into_values().collect()
}

fn label_map(l: &oxeye_core::Labels) -> std::collections::HashMap<String, String> {
    l.iter()
        .map(|l| (l.name.clone(), l.value.clone()))
        .collect()
}

pub(crate) fn targets_snapshot(manager: &ScrapeManager) -> TargetsSnapshot {
    let active_targets = manager
        .targets()
        .into_iter()
        .map(|t| ActiveTarget {
            discovered_labels: label_map(&t.discovered_labels),
            labels: label_map(&t.labels),
            scrape_pool: t.scrape_pool,
            scrape_url: t.scrape_url,
            global_url: t.global_url,
            last_error: t.last_error,
            last_scrape: t
                .last_scrape_ms
                .map(oxeye_server::params::format_rfc3339)
                .unwrap_or_else(|| "0001-01-01T00:00:00Z".to_string()),
            last_scrape_duration: t.last_scrape_duration.as_secs_f64(),
            health: t.health.as_str().to_string(),
            scrape_interval: oxeye_scrape::format_duration(t.scrape_interval),
            scrape_timeout: oxeye_scrape::format_duration(t.scrape_timeout),
        })
        .collect();
    let dropped_targets = manager
        .dropped_targets()
        .into_iter()
        .map(|d| DroppedTarget {
            discovered_labels: label_map(&d.discovered_labels),
        })
        .collect();
    TargetsSnapshot {
        active_targets,
        dropped_targets,
    }
}

pub(crate) fn stats(tsdb: &Tsdb) -> Vec<StatValue> {
    let s = tsdb.stats();
    let t = &s.total;
    let mut out = vec![
        StatValue::gauge(
            "oxeye_tsdb_head_bytes",
            "Estimated bytes held by the heads",
            t.head_bytes as f64,
        ),
        StatValue::gauge(
            "oxeye_tsdb_head_bytes_per_series",
            "Active head bytes per series",
            t.head_bytes_per_series,
        ),
        StatValue::counter(
            "oxeye_tsdb_wal_fsyncs",
            "WAL fsyncs since start",
            t.wal_fsyncs_total as f64,
        ),
        StatValue::gauge(
            "oxeye_tsdb_wal_segments",
            "WAL segment files on disk",
            t.wal_segments as f64,
        ),
        StatValue::gauge("oxeye_tsdb_blocks", "Blocks on disk", t.blocks as f64),
        StatValue::gauge(
            "oxeye_tsdb_block_bytes",
            "Bytes of blocks on disk",
            t.block_bytes as f64,
        ),
        StatValue::counter(
            "oxeye_tsdb_compactions",
            "Compactions since start",
            t.compactions_total as f64,
        ),
        StatValue::counter(
            "oxeye_tsdb_out_of_order_samples",
            "Samples accepted out of order since start",
            t.out_of_order_samples_total as f64,
        ),
        StatValue::counter(
            "oxeye_tsdb_page_cache_hits",
            "Block pages read from the cache of decompressed pages since start",
            s.page_cache_hits_total as f64,
        ),
        StatValue::counter(
            "oxeye_tsdb_page_cache_misses",
            "Block pages decompressed since start (not in any cache)",
            s.page_cache_misses_total as f64,
        ),
        StatValue::gauge(
            "oxeye_tsdb_page_cache_bytes",
            "Bytes held by the cache of decompressed block pages",
            s.page_cache_bytes as f64,
        ),
        StatValue::gauge(
            "oxeye_tsdb_page_cache_capacity_bytes",
            "Byte budget of the cache of decompressed block pages (0: disabled)",
            s.page_cache_capacity_bytes as f64,
        ),
    ];
    for (tenant, ts) in &s.tenants {
        out.push(
            StatValue::gauge(
                "oxeye_tsdb_head_series",
                "Series in the active head, by tenant",
                ts.head_series as f64,
            )
            .with_label("tenant", tenant),
        );
        out.push(
            StatValue::counter(
                "oxeye_tsdb_samples_appended",
                "Samples stored since start, by tenant",
                ts.samples_appended_total as f64,
            )
            .with_label("tenant", tenant),
        );
    }
    for (reason, n) in &t.rejected_samples_total {
        out.push(
            StatValue::counter(
                "oxeye_tsdb_rejected_samples",
                "Samples the TSDB refused since start, by reason",
                *n as f64,
            )
            .with_label("reason", reason),
        );
    }
    out
}

/// Self metrics of the range query results cache.
pub(crate) fn results_cache_stats(s: &oxeye_promql::ResultsCacheStats) -> Vec<StatValue> {
    vec![
        StatValue::counter(
            "oxeye_query_results_cache_hits",
            "Range queries answered at least partly from the results cache",
            s.hits as f64,
        ),
        StatValue::counter(
            "oxeye_query_results_cache_misses",
            "Cacheable range queries evaluated in full",
            s.misses as f64,
        ),
        StatValue::counter(
            "oxeye_query_results_cache_uncacheable",
            "Range queries the results cache could not serve (unaligned start, @ modifier, negative offset, no data)",
            s.uncacheable as f64,
        ),
        StatValue::counter(
            "oxeye_query_results_cache_steps_cached",
            "Range query steps answered from the results cache",
            s.steps_cached as f64,
        ),
        StatValue::counter(
            "oxeye_query_results_cache_steps_evaluated",
            "Range query steps evaluated for cacheable queries",
            s.steps_evaluated as f64,
        ),
        StatValue::gauge(
            "oxeye_query_results_cache_bytes",
            "Estimated bytes held by the results cache",
            s.bytes as f64,
        ),
        StatValue::gauge(
            "oxeye_query_results_cache_entries",
            "Query results held by the results cache",
            s.entries as f64,
        ),
    ]
}

pub(crate) fn trace_stats(store: &TraceStore) -> Vec<StatValue> {
    let s = store.stats();
    let t = &s.total;
    vec![
        StatValue::gauge(
            "oxeye_traces_head_spans",
            "Spans in the trace heads",
            t.head_spans as f64,
        ),
        StatValue::gauge(
            "oxeye_traces_head_bytes",
            "Estimated bytes held by the trace heads",
            t.head_bytes as f64,
        ),
        StatValue::gauge(
            "oxeye_traces_blocks",
            "Trace blocks on disk",
            t.blocks as f64,
        ),
        StatValue::gauge(
            "oxeye_traces_block_bytes",
            "Bytes of trace blocks on disk",
            t.block_bytes as f64,
        ),
        StatValue::counter(
            "oxeye_traces_spans_ingested",
            "Spans stored since start",
            t.spans_ingested as f64,
        ),
        StatValue::counter(
            "oxeye_traces_corrupt_blocks",
            "Corrupt trace blocks found since start",
            t.corrupt_blocks as f64,
        ),
    ]
}
