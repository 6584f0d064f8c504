//! oxeye's HTTP and gRPC APIs.
//!
//! Data flow: a request enters [`router`] (axum) or the OTLP gRPC service (tonic); the
//! tenant comes from `X-Scope-OrgID` (or the configured default); write bodies are size
//! limited, decompressed and decoded by `oxeye-proto` into a [`oxeye_core::WriteBatch`],
//! which goes to the [`oxeye_core::MetricsAppender`] on a blocking thread; reads open a
//! [`oxeye_core::MetricsQuerier`] from the [`oxeye_core::MetricsQueryable`]. Every error
//! becomes an [`ApiError`], whose [`oxeye_core::StatusCode`] decides the HTTP status in one
//! place ([`error`]).
//!
//! PromQL queries ([`query`]) wait for one of the state's query slots and run the engine
//! on a blocking thread under the configured [`QueryLimits`]; exemplars, status and
//! cardinality endpoints live in [`exemplars`] and [`status`]. Unknown `/api/` paths
//! answer Prometheus's JSON error with 404.
//!
//! Main types: [`ServerState`] (stores, hooks, tenancy, limits, self metrics), [`router`],
//! and [`serve`] which binds the listeners and shuts them down gracefully.

pub mod admin;
pub mod alertmanager;
pub mod dashboards;
pub mod error;
pub mod exemplars;
pub mod federate;
pub mod jaeger;
pub mod logs_ingest;
pub mod loki;
pub mod metadata;
pub mod otlp;
pub mod params;
pub mod query;
pub mod read;
pub mod remote_read;
pub mod rules;
pub mod selector;
pub mod self_metrics;
pub mod serve;
pub mod slos;
pub mod state;
pub mod status;
pub mod tempo;
pub mod traces_ingest;
pub mod ui;
pub mod write;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

pub use error::{ApiError, JsonApiError, QueryFailure};
pub use self_metrics::{SelfMetrics, StatKind, StatValue, StatsFn};
pub use serve::{Listeners, serve};
pub use state::{
    ActiveTarget, BuildInfo, ConfigFn, ConfigLoad, DroppedTarget, FlushFn, Limits, LogStores,
    QueryLimits, ReloadFn, ServerState, ServerStateBuilder, SpanObserverFn, StoreStatus,
    StoreStatusFn, TENANT_HEADER, TargetsFn, TargetsSnapshot, TraceStores,
};
pub use status::{
    LogStorageStats, MetricsStorageStats, StorageStatsFn, TenantStorage, TraceStorageStats,
};

/// The HTTP API over `state`.
pub fn router(state: Arc<ServerState>) -> Router {
    let api = Router::new()
        .route("/-/healthy", get(admin::healthy).head(admin::healthy))
        .route("/-/ready", get(admin::ready).head(admin::ready))
        .route("/-/reload", post(admin::reload).put(admin::reload))
        .route("/metrics", get(admin::metrics))
        .route("/api/v1/status/buildinfo", get(admin::buildinfo))
        .route("/api/v1/status/config", get(status::config))
        .route("/api/v1/status/flags", get(status::flags))
        .route("/api/v1/status/runtimeinfo", get(status::runtimeinfo))
        .route("/api/v1/status/tsdb", get(status::tsdb))
        .route("/api/v1/status/storage", get(status::storage))
        .route("/api/v1/status/tenants", get(status::tenants))
        .route("/api/v1/targets", get(admin::targets))
        .route(
            "/api/v1/admin/tsdb/flush",
            post(admin::flush).put(admin::flush),
        )
        .route("/api/v1/query", get(query::query).post(query::query))
        .route(
            "/api/v1/query_range",
            get(query::query_range).post(query::query_range),
        )
        .route(
            "/api/v1/query_exemplars",
            get(exemplars::query_exemplars).post(exemplars::query_exemplars),
        )
        .route(
            "/api/v1/format_query",
            get(query::format_query).post(query::format_query),
        )
        .route("/api/v1/series", get(read::series).post(read::series))
        .route("/api/v1/labels", get(read::labels).post(read::labels))
        .route(
            "/api/v1/label/{name}/values",
            get(read::label_values).post(read::label_values),
        )
        .route("/api/v1/export", get(read::export).post(read::export))
        .route("/api/v1/metadata", get(metadata::metadata))
        .route("/api/v1/read", post(remote_read::remote_read))
        .route(
            "/federate",
            get(federate::federate).layer(federate::compression()),
        )
        .route("/api/v1/write", post(write::remote_write))
        .route("/api/v1/import/prometheus", post(write::import_prometheus))
        .route("/v1/metrics", post(otlp::http_metrics))
        .merge(traces_ingest::routes())
        .merge(tempo::routes())
        .merge(logs_ingest::routes())
        .merge(loki::routes())
        .merge(rules::routes())
        .merge(alertmanager::routes())
        .merge(slos::routes())
        .merge(dashboards::routes())
        .merge(ui::routes())
        .nest("/jaeger", jaeger::routes());
    api.fallback(admin::not_found)
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            admin::track,
        ))
        // write handlers enforce their own, configurable body limits
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
}
