//! Status endpoints: `/api/v1/status/{config,flags,runtimeinfo,tsdb,storage,tenants}`.
//!
//! Storage figures (`storage`, `tenants`) come from a hook the binary installs
//! ([`StorageStatsFn`]): it reads each store's per-tenant statistics, so the server never
//! sees a store. They cover every tenant, as `/metrics` does.
//!
//! Config and flags come from the binary at start (and the config text after each
//! reload); runtime information is read from the process and the state when asked. TSDB
//! cardinality statistics are computed per request from the tenant's series in the
//! store's in-memory head range (all stored data when the store reports no head): every
//! series' labels are counted into the four top-N lists Prometheus reports, and its chunks
//! are walked for the chunk count and time range.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use oxeye_core::{MatchOp, Matcher, SelectHints};
use serde::Serialize;

use crate::error::{ApiError, JsonApiError, blocking};
use crate::params::{MAX_TIME_MS, MIN_TIME_MS, Params, format_rfc3339};
use crate::read::Success;
use crate::state::{ReadTenant, ServerState};

/// `GET /api/v1/status/config`: the configuration file as loaded.
pub async fn config(State(state): State<Arc<ServerState>>) -> Response {
    let yaml = state.config_text.as_ref().map(|f| f()).unwrap_or_default();
    #[derive(Serialize)]
    struct Config {
        yaml: String,
    }
    Success::new(Config { yaml }).into_response()
}

/// `GET /api/v1/status/flags`: every command-line flag and its value.
pub async fn flags(State(state): State<Arc<ServerState>>) -> Response {
    let map: std::collections::BTreeMap<&str, &str> = state
        .flags
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    Success::new(map).into_response()
}

/// What `/api/v1/status/runtimeinfo` reports, with Prometheus's field names.
#[derive(Debug, Serialize)]
struct RuntimeInfo {
    #[serde(rename = "startTime")]
    start_time: String,
    #[serde(rename = "CWD")]
    cwd: String,
    hostname: String,
    #[serde(rename = "serverTime")]
    server_time: String,
    #[serde(rename = "reloadConfigSuccess")]
    reload_config_success: bool,
    #[serde(rename = "lastConfigTime")]
    last_config_time: String,
    #[serde(rename = "corruptionCount")]
    corruption_count: u64,
    /// Threads of the process (Prometheus reports goroutines).
    #[serde(rename = "goroutineCount")]
    goroutine_count: u64,
    /// Available parallelism.
    #[serde(rename = "GOMAXPROCS")]
    gomaxprocs: usize,
    /// No memory limit is set: Go's "unlimited".
    #[serde(rename = "GOMEMLIMIT")]
    gomemlimit: i64,
    #[serde(rename = "GOGC")]
    gogc: String,
    #[serde(rename = "GODEBUG")]
    godebug: String,
    #[serde(rename = "storageRetention")]
    storage_retention: String,
}

/// Threads of this process, from `/proc/self/status`.
fn thread_count() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Threads:"))
                .and_then(|n| n.trim().parse().ok())
        })
        .unwrap_or(0)
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_default()
}

/// `GET /api/v1/status/runtimeinfo`
pub async fn runtimeinfo(
    State(state): State<Arc<ServerState>>,
    ReadTenant(tenant): ReadTenant,
) -> Result<Response, JsonApiError> {
    let st = state.clone();
    let (corruption_count, threads, host) = blocking(move || {
        let corruption = st
            .store_status
            .as_ref()
            .map_or(0, |f| f(&tenant).corruption_count);
        Ok((corruption, thread_count(), hostname()))
    })
    .await?;
    let last = state.last_config_load();
    let info = RuntimeInfo {
        start_time: format_rfc3339(state.started_ms),
        cwd: std::env::current_dir()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        hostname: host,
        server_time: format_rfc3339(state.clock.now_ms()),
        reload_config_success: last.success,
        last_config_time: format_rfc3339(last.at_ms),
        corruption_count,
        goroutine_count: threads,
        gomaxprocs: std::thread::available_parallelism().map_or(1, |n| n.get()),
        gomemlimit: i64::MAX,
        gogc: String::new(),
        godebug: String::new(),
        storage_retention: state.storage_retention.clone(),
    };
    Ok(Success::new(info).into_response())
}

/// One entry of a top-N list.
#[derive(Debug, Serialize, PartialEq, Eq)]
struct Stat {
    name: String,
    value: u64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct HeadStats {
    num_series: u64,
    num_label_pairs: u64,
    chunk_count: u64,
    min_time: i64,
    max_time: i64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct TsdbStatus {
    head_stats: HeadStats,
    series_count_by_metric_name: Vec<Stat>,
    label_value_count_by_label_name: Vec<Stat>,
    memory_in_bytes_by_label_name: Vec<Stat>,
    series_count_by_label_value_pair: Vec<Stat>,
}

/// The `limit` largest entries, largest first, ties by name.
fn top(counts: impl IntoIterator<Item = (String, u64)>, limit: usize) -> Vec<Stat> {
    let mut v: Vec<Stat> = counts
        .into_iter()
        .map(|(name, value)| Stat { name, value })
        .collect();
    v.sort_by(|a, b| b.value.cmp(&a.value).then_with(|| a.name.cmp(&b.name)));
    v.truncate(limit);
    v
}

/// Most entries `limit` may ask for, as in Prometheus.
const MAX_TSDB_LIMIT: i64 = 10_000;

/// `GET /api/v1/status/tsdb`: cardinality statistics of the tenant's head.
pub async fn tsdb(
    State(state): State<Arc<ServerState>>,
    ReadTenant(tenant): ReadTenant,
    params: Params,
) -> Result<Response, JsonApiError> {
    let limit = match params.get("limit") {
        None | Some("") => 10,
        Some(v) => match crate::params::parse_go_int(v) {
            Ok(n) if (1..=MAX_TSDB_LIMIT).contains(&n) => usize::try_from(n).unwrap_or(10),
            Ok(n) if n > MAX_TSDB_LIMIT => {
                return Err(ApiError::BadRequest(format!(
                    "limit must not exceed {MAX_TSDB_LIMIT}"
                ))
                .into());
            }
            _ => {
                return Err(ApiError::BadRequest("limit must be a positive number".into()).into());
            }
        },
    };
    let st = state.clone();
    let status = blocking(move || {
        let store = st.store_status.as_ref().map(|f| f(&tenant));
        let (mint, maxt) = match store {
            Some(s) => match (s.head_min_t, s.head_max_t) {
                (Some(a), Some(b)) => (a, b),
                // an empty head holds nothing to count
                _ => (i64::MAX, i64::MIN),
            },
            None => (MIN_TIME_MS, MAX_TIME_MS),
        };
        let mut series_by_name: HashMap<String, u64> = HashMap::new();
        let mut pairs: HashMap<(String, String), u64> = HashMap::new();
        let (mut num_series, mut chunks) = (0u64, 0u64);
        let (mut min_t, mut max_t) = (i64::MAX, i64::MIN);
        if mint <= maxt {
            let q = st.queryable.querier(&tenant, mint, maxt)?;
            let all = Matcher::new(MatchOp::Regex, "__name__", ".+")
                .map_err(|e| ApiError::Internal(format!("cannot build matcher: {e}")))?;
            let hints = SelectHints {
                start: mint,
                end: maxt,
                ..SelectHints::default()
            };
            for s in q.select(&[all], &hints)? {
                num_series += 1;
                for l in &s.labels {
                    *pairs.entry((l.name.clone(), l.value.clone())).or_default() += 1;
                }
                if let Some(n) = s.labels.get("__name__") {
                    *series_by_name.entry(n.to_string()).or_default() += 1;
                }
                s.data.for_each_chunk(&mut |c| {
                    chunks += 1;
                    if let (Some(first), Some(last)) = (c.first(), c.last()) {
                        min_t = min_t.min(first.t);
                        max_t = max_t.max(last.t);
                    }
                    ControlFlow::Continue(())
                })?;
            }
        }
        if let Some(s) = store {
            min_t = s.head_min_t.unwrap_or(min_t);
            max_t = s.head_max_t.unwrap_or(max_t);
        }
        let mut values_by_name: HashMap<String, u64> = HashMap::new();
        let mut bytes_by_name: HashMap<String, u64> = HashMap::new();
        for ((name, value), n) in &pairs {
            *values_by_name.entry(name.clone()).or_default() += 1;
            *bytes_by_name.entry(name.clone()).or_default() +=
                (name.len() as u64 + value.len() as u64) * n;
        }
        Ok(TsdbStatus {
            head_stats: HeadStats {
                num_series,
                num_label_pairs: pairs.len() as u64,
                chunk_count: chunks,
                min_time: min_t,
                max_time: max_t,
            },
            series_count_by_metric_name: top(series_by_name, limit),
            label_value_count_by_label_name: top(values_by_name, limit),
            memory_in_bytes_by_label_name: top(bytes_by_name, limit),
            series_count_by_label_value_pair: top(
                pairs.into_iter().map(|((n, v), c)| (format!("{n}={v}"), c)),
                limit,
            ),
        })
    })
    .await?;
    Ok(Success::new(status).into_response())
}

/// One tenant's figures in the metrics store.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct MetricsStorageStats {
    /// Series in the in-memory head.
    pub head_series: u64,
    /// Samples in the in-memory head.
    pub head_samples: u64,
    /// Memory held by the head and heads waiting to be written.
    pub head_bytes: u64,
    /// Oldest sample of the head, ms.
    pub head_min_time: Option<i64>,
    /// Newest sample of the head, ms.
    pub head_max_time: Option<i64>,
    /// Blocks on disk.
    pub blocks: u64,
    /// Series summed over blocks (a series in several blocks counts once per block).
    pub block_series: u64,
    /// Samples in blocks.
    pub block_samples: u64,
    /// Bytes of blocks on disk.
    pub block_bytes: u64,
    /// Samples stored since start.
    pub samples_appended: u64,
    /// Exemplars held.
    pub exemplars: u64,
    /// WAL segment files on disk.
    pub wal_segments: u64,
}

/// One tenant's figures in the log store.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct LogStorageStats {
    /// Streams known (head and chunk files).
    pub streams: u64,
    /// Chunks in chunk files.
    pub chunks: u64,
    /// Chunk files on disk.
    pub chunk_files: u64,
    /// Bytes of chunk files on disk.
    pub disk_bytes: u64,
    /// Memory held by heads.
    pub head_bytes: u64,
    /// Bytes of WAL segments (entries not yet in chunk files).
    pub wal_bytes: u64,
    /// Entries stored since start.
    pub entries_ingested: u64,
    /// Line bytes stored since start.
    pub bytes_ingested: u64,
}

/// One tenant's figures in the trace store.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct TraceStorageStats {
    /// Traces in the heads.
    pub head_traces: u64,
    /// Spans in the heads.
    pub head_spans: u64,
    /// Memory held by the heads.
    pub head_bytes: u64,
    /// Blocks on disk.
    pub blocks: u64,
    /// Trace parts in blocks (a trace split across blocks counts once per block).
    pub block_traces: u64,
    /// Spans in blocks.
    pub block_spans: u64,
    /// Bytes of blocks on disk.
    pub block_bytes: u64,
    /// Spans stored since start.
    pub spans_ingested: u64,
    /// WAL bytes written since start.
    pub wal_bytes: u64,
}

/// A tenant's figures in each store that holds anything for it.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct TenantStorage {
    /// The tenant id.
    pub tenant: String,
    /// The metrics store's figures; `null` when it has nothing of the tenant.
    pub metrics: Option<MetricsStorageStats>,
    /// The log store's figures; `null` when it has nothing of the tenant.
    pub logs: Option<LogStorageStats>,
    /// The trace store's figures; `null` when it has nothing of the tenant.
    pub traces: Option<TraceStorageStats>,
}

impl TenantStorage {
    fn has_metrics(&self) -> bool {
        self.metrics
            .as_ref()
            .is_some_and(|m| m.head_series + m.block_series > 0)
    }

    fn has_logs(&self) -> bool {
        self.logs.as_ref().is_some_and(|l| l.streams > 0)
    }

    fn has_traces(&self) -> bool {
        self.traces
            .as_ref()
            .is_some_and(|t| t.head_spans + t.block_spans > 0)
    }
}

/// Every tenant's storage figures, one entry per tenant, in any order (the endpoints
/// sort by tenant).
pub type StorageStatsFn = Arc<dyn Fn() -> Vec<TenantStorage> + Send + Sync>;

/// The storage figures from the state's hook, sorted by tenant.
async fn storage_stats(state: &Arc<ServerState>) -> Result<Vec<TenantStorage>, JsonApiError> {
    let Some(f) = state.storage_stats.clone() else {
        return Ok(Vec::new());
    };
    let mut all = blocking(move || Ok(f())).await?;
    all.sort_by(|a, b| a.tenant.cmp(&b.tenant));
    Ok(all)
}

#[derive(Debug, Serialize)]
struct StorageAnswer {
    tenants: Vec<TenantStorage>,
}

/// `GET /api/v1/status/storage[?tenant=<id>]`: each tenant's figures in the metrics, log
/// and trace stores (all tenants, as `/metrics` reports them; `tenant` keeps one).
pub async fn storage(
    State(state): State<Arc<ServerState>>,
    params: Params,
) -> Result<Response, JsonApiError> {
    let only = params.get("tenant").unwrap_or("").to_string();
    let mut tenants = storage_stats(&state).await?;
    if !only.is_empty() {
        tenants.retain(|t| t.tenant == only);
    }
    Ok(Success::new(StorageAnswer { tenants }).into_response())
}

/// An entry of `/api/v1/status/tenants`.
#[derive(Debug, Serialize)]
struct TenantEntry {
    tenant: String,
    metrics: bool,
    logs: bool,
    traces: bool,
}

/// `GET /api/v1/status/tenants`: the tenants some store holds data of, sorted, each with
/// the stores that do.
pub async fn tenants(State(state): State<Arc<ServerState>>) -> Result<Response, JsonApiError> {
    let all = storage_stats(&state).await?;
    let list: Vec<TenantEntry> = all
        .into_iter()
        .map(|t| TenantEntry {
            metrics: t.has_metrics(),
            logs: t.has_logs(),
            traces: t.has_traces(),
            tenant: t.tenant,
        })
        .filter(|e| e.metrics || e.logs || e.traces)
        .collect();
    Ok(Success::new(list).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::{MemStore, get, json};

    fn state(hook: Option<StorageStatsFn>) -> Arc<ServerState> {
        let store = Arc::new(MemStore::default());
        let mut b = ServerState::builder(store.clone(), store);
        if let Some(f) = hook {
            b = b.storage_stats(f);
        }
        let s = b.build();
        s.set_ready(true);
        s
    }

    #[tokio::test]
    async fn storage_and_tenants_answer_from_the_hook_sorted_and_filtered() {
        let hook: StorageStatsFn = Arc::new(|| {
            vec![
                TenantStorage {
                    tenant: "zeta".into(),
                    traces: Some(TraceStorageStats {
                        block_spans: 4,
                        ..Default::default()
                    }),
                    ..Default::default()
                },
                TenantStorage {
                    tenant: "alpha".into(),
                    metrics: Some(MetricsStorageStats {
                        head_series: 3,
                        head_samples: 9,
                        ..Default::default()
                    }),
                    logs: Some(LogStorageStats::default()),
                    ..Default::default()
                },
                // known to the log store but holding nothing: not a tenant with data
                TenantStorage {
                    tenant: "empty".into(),
                    logs: Some(LogStorageStats::default()),
                    ..Default::default()
                },
            ]
        });
        let s = state(Some(hook));
        let (code, body) = get(&s, "/api/v1/status/storage").await;
        assert_eq!(code, 200, "{body}");
        let v = json(&body);
        let names: Vec<&str> = v["data"]["tenants"]
            .as_array()
            .expect("tenants")
            .iter()
            .filter_map(|t| t["tenant"].as_str())
            .collect();
        assert_eq!(names, ["alpha", "empty", "zeta"]);
        assert_eq!(v["data"]["tenants"][0]["metrics"]["head_series"], 3);
        assert_eq!(v["data"]["tenants"][0]["metrics"]["head_samples"], 9);
        assert!(v["data"]["tenants"][0]["traces"].is_null());

        let (_, body) = get(&s, "/api/v1/status/storage?tenant=zeta").await;
        let v = json(&body);
        assert_eq!(v["data"]["tenants"].as_array().map(Vec::len), Some(1));
        assert_eq!(v["data"]["tenants"][0]["traces"]["block_spans"], 4);

        let (code, body) = get(&s, "/api/v1/status/tenants").await;
        assert_eq!(code, 200);
        assert_eq!(
            json(&body)["data"],
            serde_json::json!([
                {"tenant": "alpha", "metrics": true, "logs": false, "traces": false},
                {"tenant": "zeta", "metrics": false, "logs": false, "traces": true},
            ])
        );
    }

    #[tokio::test]
    async fn without_a_hook_the_lists_are_empty() {
        let s = state(None);
        let (_, body) = get(&s, "/api/v1/status/storage").await;
        assert_eq!(
            json(&body),
            serde_json::json!({"status": "success", "data": {"tenants": []}})
        );
        let (_, body) = get(&s, "/api/v1/status/tenants").await;
        assert_eq!(
            json(&body),
            serde_json::json!({"status": "success", "data": []})
        );
    }
}
