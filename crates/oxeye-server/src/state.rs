//! What every handler is a function of: the stores behind the core traits, tenancy
//! settings, limits, hooks into the rest of the process, and self metrics.
//!
//! The server never sees a concrete store: the binary hands it `Arc<dyn MetricsAppender>`
//! and `Arc<dyn MetricsQueryable>` plus small closures (flush, statistics, scrape targets,
//! config reload), so a test can run the whole HTTP API over an in-memory store.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use oxeye_core::logs::{LogAppender, LogQueryable};
use oxeye_core::trace::{SpanAppender, TraceBatch, TraceQueryable};
use oxeye_core::{Clock, MetricsAppender, MetricsQueryable, StoreError, SystemClock, TenantId};
use parking_lot::Mutex;
use serde::Serialize;

use crate::error::{ApiError, JsonApiError};
use crate::self_metrics::{SelfMetrics, StatsFn};

/// The tenant header, as Cortex, Mimir, Loki and Tempo name it.
pub const TENANT_HEADER: &str = "x-scope-orgid";

/// Cuts the store's in-memory head into a persistent block now.
pub type FlushFn = Arc<dyn Fn() -> Result<(), StoreError> + Send + Sync>;
/// The current scrape targets.
pub type TargetsFn = Arc<dyn Fn() -> TargetsSnapshot + Send + Sync>;
/// Re-reads the configuration file and applies it; the error says what is wrong.
pub type ReloadFn =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// Sees every batch of spans after it is stored (span metrics, service graph).
pub type SpanObserverFn = Arc<dyn Fn(&TenantId, &TraceBatch) + Send + Sync>;

/// The trace store behind the trace ingest and query APIs.
#[derive(Clone)]
pub struct TraceStores {
    /// Where ingested spans go.
    pub appender: Arc<dyn SpanAppender>,
    /// Where trace queries read.
    pub queryable: Arc<dyn TraceQueryable>,
    /// Called with each stored batch.
    pub observer: Option<SpanObserverFn>,
}

impl std::fmt::Debug for TraceStores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceStores").finish_non_exhaustive()
    }
}

/// The log store behind the Loki push, OTLP logs and Loki query APIs.
#[derive(Clone)]
pub struct LogStores {
    /// Where ingested log lines go.
    pub appender: Arc<dyn LogAppender>,
    /// Where LogQL queries read.
    pub queryable: Arc<dyn LogQueryable>,
}

impl std::fmt::Debug for LogStores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogStores").finish_non_exhaustive()
    }
}

/// Request size limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest request body accepted as sent on the wire (413 above).
    pub max_request_bytes: usize,
    /// Largest body accepted after decompression (413 above).
    pub max_decoded_bytes: usize,
    /// Series whose cumulative state the OTLP delta conversion keeps per tenant.
    pub otlp_max_delta_series: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_request_bytes: 64 << 20,
            max_decoded_bytes: 256 << 20,
            otlp_max_delta_series: 1_000_000,
        }
    }
}

/// The protections every PromQL query runs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryLimits {
    /// Longest a query may run, including its wait for a slot (`--query.timeout`).
    pub timeout: Duration,
    /// Queries evaluated at once; others wait for a slot (`--query.max-concurrency`).
    pub max_concurrency: usize,
    /// Most samples one query may hold in memory (`--query.max-samples`).
    pub max_samples: usize,
    /// How far back an instant selector looks, ms (`--query.lookback-delta`).
    pub lookback_delta_ms: i64,
    /// Step of subqueries written without one, ms (the global evaluation interval).
    pub subquery_step_ms: i64,
}

impl Default for QueryLimits {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(120),
            max_concurrency: 20,
            max_samples: 50_000_000,
            lookback_delta_ms: 300_000,
            subquery_step_ms: 60_000,
        }
    }
}

/// What the store reports for the status endpoints.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStatus {
    /// Corrupt blocks and WAL segments found since start.
    pub corruption_count: u64,
    /// Earliest sample time in the tenant's in-memory head, ms.
    pub head_min_t: Option<i64>,
    /// Latest sample time in the tenant's in-memory head, ms.
    pub head_max_t: Option<i64>,
}

/// The store's status for a tenant.
pub type StoreStatusFn = Arc<dyn Fn(&TenantId) -> StoreStatus + Send + Sync>;
/// The configuration file's text as last loaded.
pub type ConfigFn = Arc<dyn Fn() -> String + Send + Sync>;

/// Outcome of the last configuration (re)load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfigLoad {
    /// Whether it succeeded.
    pub success: bool,
    /// When it was attempted, ms.
    pub at_ms: i64,
}

/// What `/api/v1/status/buildinfo` reports.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildInfo {
    /// The release version.
    pub version: String,
    /// The source revision.
    pub revision: String,
    /// The branch built from.
    pub branch: String,
    /// Who built it.
    pub build_user: String,
    /// When it was built.
    pub build_date: String,
    /// The compiler version.
    pub go_version: String,
}

impl Default for BuildInfo {
    fn default() -> Self {
        Self {
            version: env!("CARGO_PKG_VERSION").to_string(),
            revision: String::new(),
            branch: String::new(),
            build_user: String::new(),
            build_date: String::new(),
            go_version: String::new(),
        }
    }
}

/// Writes a label map in name order, so answers are stable.
pub fn sorted_map<S: serde::Serializer>(
    m: &HashMap<String, String>,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_map(m.iter().collect::<std::collections::BTreeMap<_, _>>())
}

/// A scrape target in the shape of Prometheus's `/api/v1/targets` `activeTargets`.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ActiveTarget {
    /// Labels before relabeling.
    #[serde(serialize_with = "sorted_map")]
    pub discovered_labels: HashMap<String, String>,
    /// Labels after relabeling.
    #[serde(serialize_with = "sorted_map")]
    pub labels: HashMap<String, String>,
    /// The job.
    pub scrape_pool: String,
    /// The URL scraped.
    pub scrape_url: String,
    /// The URL as seen from outside.
    pub global_url: String,
    /// The last scrape's error, empty when it succeeded.
    pub last_error: String,
    /// RFC 3339 time of the last scrape.
    pub last_scrape: String,
    /// Seconds the last scrape took.
    pub last_scrape_duration: f64,
    /// `up`, `down` or `unknown`.
    pub health: String,
    /// The scrape interval, e.g. `15s`.
    pub scrape_interval: String,
    /// The scrape timeout, e.g. `10s`.
    pub scrape_timeout: String,
}

/// A target dropped by relabeling.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DroppedTarget {
    /// Labels before relabeling.
    #[serde(serialize_with = "sorted_map")]
    pub discovered_labels: HashMap<String, String>,
}

/// All targets, as `/api/v1/targets` returns them.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct TargetsSnapshot {
    /// Targets being scraped.
    pub active_targets: Vec<ActiveTarget>,
    /// Targets dropped by relabeling.
    pub dropped_targets: Vec<DroppedTarget>,
}

/// Shared state of all handlers.
pub struct ServerState {
    pub(crate) appender: Arc<dyn MetricsAppender>,
    pub(crate) queryable: Arc<dyn MetricsQueryable>,
    pub(crate) flush: Option<FlushFn>,
    pub(crate) targets: Option<TargetsFn>,
    pub(crate) reload: Option<ReloadFn>,
    pub(crate) default_tenant: TenantId,
    pub(crate) limits: Limits,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) metrics: SelfMetrics,
    pub(crate) build_info: BuildInfo,
    pub(crate) ready: AtomicBool,
    pub(crate) query_limits: QueryLimits,
    /// One permit per query allowed to evaluate at once.
    pub(crate) query_slots: Arc<tokio::sync::Semaphore>,
    pub(crate) store_status: Option<StoreStatusFn>,
    pub(crate) storage_stats: Option<crate::status::StorageStatsFn>,
    pub(crate) config_text: Option<ConfigFn>,
    pub(crate) flags: Vec<(String, String)>,
    pub(crate) storage_retention: String,
    pub(crate) started_ms: i64,
    pub(crate) last_config: Mutex<ConfigLoad>,
    /// Per tenant: the cumulative state of OTLP delta series.
    pub(crate) otlp_delta: Mutex<HashMap<TenantId, Arc<Mutex<oxeye_proto::otlp::DeltaState>>>>,
    /// Remote read limits and its concurrency gate.
    pub(crate) remote_read: crate::remote_read::RemoteReadGate,
    /// The trace store; trace endpoints answer 503 without one.
    pub(crate) traces: Option<TraceStores>,
    /// The log store; log endpoints answer 503 without one.
    pub(crate) logs: Option<LogStores>,
    /// Log ingest limits and per-tenant rate limits.
    pub(crate) log_ingest: crate::logs_ingest::LogIngest,
    /// The rule manager; rule endpoints answer empty lists without one.
    pub(crate) rules: Option<Arc<oxeye_rules::manager::RuleManager>>,
    /// The built-in notifier behind the Alertmanager API v2; 503 without one.
    pub(crate) notifier: Option<Arc<oxeye_rules::notify::Notifier>>,
    /// Loaded SLOs behind `/api/v1/slos`.
    pub(crate) slos: Option<Arc<oxeye_rules::slo::SloRegistry>>,
    /// Where dashboards are stored as JSON files, one directory per tenant; without one
    /// only the built-in dashboards are served.
    pub(crate) dashboards_dir: Option<std::path::PathBuf>,
    /// Results of range queries kept by step; without one every query is evaluated.
    pub(crate) results_cache: Option<Arc<oxeye_promql::ResultsCache>>,
}

impl std::fmt::Debug for ServerState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerState")
            .field("default_tenant", &self.default_tenant)
            .field("limits", &self.limits)
            .field("ready", &self.ready)
            .finish_non_exhaustive()
    }
}

/// Builds a [`ServerState`].
pub struct ServerStateBuilder {
    state: ServerState,
    stats: Option<StatsFn>,
}

impl ServerStateBuilder {
    /// Hook for `/api/v1/admin/tsdb/flush`.
    pub fn flush(mut self, f: FlushFn) -> Self {
        self.state.flush = Some(f);
        self
    }

    /// Source of `/api/v1/targets`.
    pub fn targets(mut self, f: TargetsFn) -> Self {
        self.state.targets = Some(f);
        self
    }

    /// Hook for `POST /-/reload`.
    pub fn reload(mut self, f: ReloadFn) -> Self {
        self.state.reload = Some(f);
        self
    }

    /// Store statistics pulled on each `/metrics` scrape.
    pub fn stats(mut self, f: StatsFn) -> Self {
        self.stats = Some(f);
        self
    }

    /// The tenant of requests without `X-Scope-OrgID` (default `anonymous`).
    pub fn default_tenant(mut self, t: TenantId) -> Self {
        self.state.default_tenant = t;
        self
    }

    /// Request size limits.
    pub fn limits(mut self, l: Limits) -> Self {
        self.state.limits = l;
        self
    }

    /// The clock giving import timestamps to samples without one.
    pub fn clock(mut self, c: Arc<dyn Clock>) -> Self {
        self.state.clock = c;
        self
    }

    /// Limits of `POST /api/v1/read`.
    pub fn remote_read_limits(mut self, l: crate::remote_read::RemoteReadLimits) -> Self {
        self.state.remote_read = crate::remote_read::RemoteReadGate::new(l);
        self
    }

    /// The trace store behind the trace APIs.
    pub fn traces(mut self, t: TraceStores) -> Self {
        self.state.traces = Some(t);
        self
    }

    /// The log store behind the log APIs.
    pub fn logs(mut self, l: LogStores) -> Self {
        self.state.logs = Some(l);
        self
    }

    /// Limits of the log push APIs (Loki's defaults otherwise).
    pub fn log_ingest_limits(mut self, l: crate::logs_ingest::LogIngestLimits) -> Self {
        self.state.log_ingest = crate::logs_ingest::LogIngest::new(l);
        self
    }

    /// The rule manager behind `/api/v1/rules`, `/api/v1/alerts` and the ruler API.
    pub fn rules(mut self, r: Arc<oxeye_rules::manager::RuleManager>) -> Self {
        self.state.rules = Some(r);
        self
    }

    /// The built-in notifier behind the Alertmanager API v2.
    pub fn notifier(mut self, n: Arc<oxeye_rules::notify::Notifier>) -> Self {
        self.state.notifier = Some(n);
        self
    }

    /// The SLOs behind `/api/v1/slos`.
    pub fn slos(mut self, s: Arc<oxeye_rules::slo::SloRegistry>) -> Self {
        self.state.slos = Some(s);
        self
    }

    /// What buildinfo reports.
    pub fn build_info(mut self, b: BuildInfo) -> Self {
        self.state.build_info = b;
        self
    }

    /// Query timeout, concurrency, sample limit and lookback delta.
    pub fn query_limits(mut self, l: QueryLimits) -> Self {
        self.state.query_limits = l;
        self
    }

    /// Source of the store's corruption count and head range (status endpoints).
    pub fn store_status(mut self, f: StoreStatusFn) -> Self {
        self.state.store_status = Some(f);
        self
    }

    /// The cache range queries are answered from where they can be.
    pub fn results_cache(mut self, c: Arc<oxeye_promql::ResultsCache>) -> Self {
        self.state.results_cache = Some(c);
        self
    }

    /// Source of `/api/v1/status/storage` and `/api/v1/status/tenants`.
    pub fn storage_stats(mut self, f: crate::status::StorageStatsFn) -> Self {
        self.state.storage_stats = Some(f);
        self
    }

    /// Source of `/api/v1/status/config`.
    pub fn config_text(mut self, f: ConfigFn) -> Self {
        self.state.config_text = Some(f);
        self
    }

    /// The command-line flags `/api/v1/status/flags` reports, name without dashes.
    pub fn flags(mut self, flags: Vec<(String, String)>) -> Self {
        self.state.flags = flags;
        self
    }

    /// The directory dashboards are stored in (`<storage.path>/dashboards`).
    pub fn dashboards_dir(mut self, dir: std::path::PathBuf) -> Self {
        self.state.dashboards_dir = Some(dir);
        self
    }

    /// The retention `/api/v1/status/runtimeinfo` reports, e.g. `15d`.
    pub fn storage_retention(mut self, r: impl Into<String>) -> Self {
        self.state.storage_retention = r.into();
        self
    }

    /// The finished state; not ready until [`ServerState::set_ready`].
    pub fn build(mut self) -> Arc<ServerState> {
        let now = self.state.clock.now_ms();
        self.state.started_ms = now;
        *self.state.last_config.lock() = ConfigLoad {
            success: true,
            at_ms: now,
        };
        self.state.query_slots = Arc::new(tokio::sync::Semaphore::new(
            self.state.query_limits.max_concurrency.max(1),
        ));
        self.state.metrics = SelfMetrics::new(&self.state.build_info.version, self.stats);
        Arc::new(self.state)
    }
}

impl ServerState {
    /// A builder over the two store traits.
    pub fn builder(
        appender: Arc<dyn MetricsAppender>,
        queryable: Arc<dyn MetricsQueryable>,
    ) -> ServerStateBuilder {
        let build_info = BuildInfo::default();
        ServerStateBuilder {
            state: ServerState {
                appender,
                queryable,
                flush: None,
                targets: None,
                reload: None,
                default_tenant: TenantId::new("anonymous")
                    .unwrap_or_else(|_| unreachable!("\"anonymous\" is a valid tenant id")),
                limits: Limits::default(),
                clock: Arc::new(SystemClock),
                metrics: SelfMetrics::new(&build_info.version, None),
                build_info,
                ready: AtomicBool::new(false),
                query_limits: QueryLimits::default(),
                query_slots: Arc::new(tokio::sync::Semaphore::new(
                    QueryLimits::default().max_concurrency,
                )),
                store_status: None,
                storage_stats: None,
                config_text: None,
                flags: Vec::new(),
                storage_retention: String::new(),
                started_ms: 0,
                last_config: Mutex::new(ConfigLoad {
                    success: true,
                    at_ms: 0,
                }),
                otlp_delta: Mutex::new(HashMap::new()),
                remote_read: crate::remote_read::RemoteReadGate::default(),
                traces: None,
                logs: None,
                log_ingest: crate::logs_ingest::LogIngest::default(),
                rules: None,
                notifier: None,
                slos: None,
                dashboards_dir: None,
                results_cache: None,
            },
            stats: None,
        }
    }

    /// Marks the server ready (or not) for `/-/ready`.
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
    }

    /// Whether `/-/ready` answers 200.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    /// Re-reads the configuration through the reload hook and records the outcome for
    /// `/api/v1/status/runtimeinfo`.
    pub async fn reload_config(&self) -> Result<(), String> {
        let Some(f) = self.reload.clone() else {
            return Err("reloading is not available".into());
        };
        let r = f().await;
        *self.last_config.lock() = ConfigLoad {
            success: r.is_ok(),
            at_ms: self.clock.now_ms(),
        };
        r
    }

    /// The outcome of the last configuration load.
    pub fn last_config_load(&self) -> ConfigLoad {
        *self.last_config.lock()
    }

    /// Waits for a query slot (shared with PromQL, `--query.max-concurrency`) for a trace
    /// query; returns the permit and the deadline the query must finish by
    /// (`--query.timeout`, counted from now, the wait included).
    pub async fn trace_query_slot(
        &self,
    ) -> Result<(tokio::sync::OwnedSemaphorePermit, std::time::Instant), ApiError> {
        let timeout = self.query_limits.timeout;
        let deadline = std::time::Instant::now() + timeout;
        match tokio::time::timeout(timeout, self.query_slots.clone().acquire_owned()).await {
            Ok(Ok(p)) => Ok((p, deadline)),
            Ok(Err(_)) => Err(ApiError::Internal("query slots are closed".into())),
            Err(_) => Err(ApiError::Coded {
                code: oxeye_core::StatusCode::Timeout,
                message: "query timed out in query queue".into(),
            }),
        }
    }

    /// The trace store, or 503 when this server has none.
    pub fn trace_stores(&self) -> Result<&TraceStores, ApiError> {
        self.traces.as_ref().ok_or_else(|| ApiError::Coded {
            code: oxeye_core::StatusCode::Unavailable,
            message: "trace storage is not enabled".into(),
        })
    }

    /// The log store, or 503 when this server has none.
    pub fn log_stores(&self) -> Result<&LogStores, ApiError> {
        self.logs.as_ref().ok_or_else(|| ApiError::Coded {
            code: oxeye_core::StatusCode::Unavailable,
            message: "log storage is not enabled".into(),
        })
    }

    /// The self-metrics registry.
    pub fn metrics(&self) -> &SelfMetrics {
        &self.metrics
    }

    /// The tenant named by a header value, or the default tenant when there is none.
    pub fn tenant_from_header(&self, value: Option<&[u8]>) -> Result<TenantId, ApiError> {
        let Some(raw) = value else {
            return Ok(self.default_tenant.clone());
        };
        let s = std::str::from_utf8(raw).map_err(|_| {
            ApiError::BadRequest("invalid X-Scope-OrgID header: not valid UTF-8".into())
        })?;
        TenantId::new(s.trim())
            .map_err(|e| ApiError::BadRequest(format!("invalid X-Scope-OrgID header: {e}")))
    }
}

/// The request's tenant; a bad header is refused with a plain-text 400.
#[derive(Debug, Clone)]
pub struct Tenant(pub TenantId);

impl FromRequestParts<Arc<ServerState>> for Tenant {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<ServerState>,
    ) -> Result<Self, Self::Rejection> {
        let raw = parts.headers.get(TENANT_HEADER).map(|v| v.as_bytes());
        state.tenant_from_header(raw).map(Tenant)
    }
}

/// The request's tenant; a bad header is refused with Prometheus's JSON error.
#[derive(Debug, Clone)]
pub struct ReadTenant(pub TenantId);

impl FromRequestParts<Arc<ServerState>> for ReadTenant {
    type Rejection = JsonApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<ServerState>,
    ) -> Result<Self, Self::Rejection> {
        let raw = parts.headers.get(TENANT_HEADER).map(|v| v.as_bytes());
        Ok(ReadTenant(state.tenant_from_header(raw)?))
    }
}
