//! The Loki query API: LogQL queries, labels, series, live tail, index statistics,
//! volumes, detected fields and patterns, in Loki's shapes and status codes.
//!
//! Data flow: a handler reads the tenant from `X-Scope-OrgID` and its parameters from
//! the query string and, for POST forms, the body ([`params`], Loki's parsing rules and
//! messages). Store work waits for one of the query slots shared with PromQL and trace
//! queries, then runs on a blocking thread against the server's
//! [`oxeye_core::logs::LogQueryable`] ([`run_query`]), at most until `--query.timeout`.
//! LogQL goes through [`oxeye_logql::Engine`] ([`query`]); label, series, statistics and
//! volume answers come straight from the store's index ([`labels`]); detected fields and
//! patterns run `oxeye_logql::analysis` over the range's lines ([`drilldown`]); live tail
//! polls the store and streams new lines over a WebSocket ([`tail`]).
//!
//! Errors are answered as Loki does: a plain-text body with the HTTP status (400 for bad
//! parameters and queries, 503 without a log store, 504 when the query runs out of time).

pub mod drilldown;
pub mod labels;
pub mod params;
pub mod query;
pub mod tail;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{FromRequest, Request, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use oxeye_core::StatusCode;
use oxeye_core::logs::LogQueryable;

use crate::error::{ApiError, blocking};
use crate::params::Params;
use crate::state::ServerState;
use params::LokiParams;

/// The Loki query routes.
pub fn routes() -> Router<Arc<ServerState>> {
    Router::new()
        .route(
            "/loki/api/v1/query",
            get(query::instant).post(query::instant),
        )
        .route(
            "/loki/api/v1/query_range",
            get(query::range).post(query::range),
        )
        .route(
            "/loki/api/v1/format_query",
            get(query::format_query).post(query::format_query),
        )
        .route(
            "/loki/api/v1/labels",
            get(labels::labels).post(labels::labels),
        )
        .route("/loki/api/v1/label", get(labels::labels))
        .route(
            "/loki/api/v1/label/{name}/values",
            get(labels::label_values).post(labels::label_values),
        )
        .route(
            "/loki/api/v1/series",
            get(labels::series).post(labels::series),
        )
        .route(
            "/loki/api/v1/index/stats",
            get(labels::index_stats).post(labels::index_stats),
        )
        .route(
            "/loki/api/v1/index/volume",
            get(labels::volume).post(labels::volume),
        )
        .route(
            "/loki/api/v1/index/volume_range",
            get(labels::volume_range).post(labels::volume_range),
        )
        .route(
            "/loki/api/v1/detected_fields",
            get(drilldown::detected_fields),
        )
        .route(
            "/loki/api/v1/detected_field/{name}/values",
            get(drilldown::detected_field_values),
        )
        .route(
            "/loki/api/v1/detected_labels",
            get(drilldown::detected_labels),
        )
        .route("/loki/api/v1/patterns", get(drilldown::patterns))
        .route("/loki/api/v1/tail", get(tail::tail))
        .route("/loki/api/v1/status/buildinfo", get(buildinfo))
        .route("/loki/api/v1/drilldown-limits", get(drilldown_limits))
        .route("/ready", get(crate::admin::ready).head(crate::admin::ready))
}

/// An error answered as Loki does: plain text, 504 when the query ran out of time.
#[derive(Debug)]
pub struct LokiError(pub ApiError);

impl From<ApiError> for LokiError {
    fn from(e: ApiError) -> Self {
        LokiError(e)
    }
}

impl IntoResponse for LokiError {
    fn into_response(self) -> Response {
        let timeout = self.0.status_code() == StatusCode::Timeout;
        let mut resp = self.0.into_response();
        if timeout {
            *resp.status_mut() = axum::http::StatusCode::GATEWAY_TIMEOUT;
        }
        resp
    }
}

impl<S: Send + Sync> FromRequest<S> for LokiParams {
    type Rejection = LokiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        Params::from_request(req, state)
            .await
            .map(LokiParams)
            .map_err(|e| LokiError(e.0))
    }
}

/// The log store's read side, or 503 when this server has none.
pub fn log_queryable(state: &ServerState) -> Result<Arc<dyn LogQueryable>, ApiError> {
    Ok(state.log_stores()?.queryable.clone())
}

/// Runs store work for a query: waits for a query slot (shared with PromQL and trace
/// queries), runs `f` on a blocking thread with the deadline it must finish by, and
/// answers 504 once `--query.timeout` has passed. The slot is held until `f` returns.
pub async fn run_query<T, F>(state: &ServerState, f: F) -> Result<T, ApiError>
where
    F: FnOnce(Instant) -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    let (permit, deadline) = state.trace_query_slot().await?;
    let work = blocking(move || {
        let _slot = permit;
        f(deadline)
    });
    let left = deadline.saturating_duration_since(Instant::now());
    match tokio::time::timeout(left, work).await {
        Ok(r) => r,
        Err(_) => Err(ApiError::coded(
            StatusCode::Timeout,
            "context deadline exceeded: the query ran longer than the query timeout",
        )),
    }
}

/// JSON with Loki's content type.
pub fn json_response<T: serde::Serialize>(body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => ([(header::CONTENT_TYPE, "application/json")], bytes).into_response(),
        Err(e) => ApiError::Internal(format!("cannot encode answer: {e}")).into_response(),
    }
}

/// `GET /loki/api/v1/status/buildinfo`: Loki's build information object.
async fn buildinfo(State(state): State<Arc<ServerState>>) -> Response {
    let b = &state.build_info;
    json_response(&serde_json::json!({
        "version": b.version,
        "revision": b.revision,
        "branch": b.branch,
        "buildUser": b.build_user,
        "buildDate": b.build_date,
        "goVersion": b.go_version,
    }))
}

/// `GET /loki/api/v1/drilldown-limits`: what Grafana's Logs Drilldown reads on start to
/// decide which views to show. Only limits this server applies are published: volumes
/// and patterns are served, metric queries return at most the engine's series limit,
/// and queries stop at `--query.timeout`.
async fn drilldown_limits(State(state): State<Arc<ServerState>>) -> Response {
    let timeout = state.query_limits.timeout;
    json_response(&serde_json::json!({
        "limits": {
            "volume_enabled": true,
            "max_query_series": oxeye_logql::EngineLimits::default().max_series,
            "query_timeout": format!("{}s", timeout.as_secs()),
        },
        "pattern_ingester_enabled": true,
        "version": state.build_info.version,
    }))
}
