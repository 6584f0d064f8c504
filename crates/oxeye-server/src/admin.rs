//! Operational endpoints: health, readiness, self metrics, buildinfo, targets, flush and
//! reload, plus the middleware that counts every request.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::error::{ApiError, JsonApiError, blocking};
use crate::params::Params;
use crate::read::Success;
use crate::state::{ActiveTarget, ServerState, TargetsSnapshot};

/// `GET /-/healthy`
pub async fn healthy() -> &'static str {
    "oxeye is Healthy.\n"
}

/// `GET /-/ready`: 503 until the process finished starting.
pub async fn ready(State(state): State<Arc<ServerState>>) -> Response {
    if state.is_ready() {
        (StatusCode::OK, "oxeye is Ready.\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "oxeye is not ready.\n").into_response()
    }
}

/// `GET /metrics`: OpenMetrics when the scraper asks for it, Prometheus text otherwise.
pub async fn metrics(State(state): State<Arc<ServerState>>, headers: HeaderMap) -> Response {
    let wants_om = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/openmetrics-text"));
    // statistics callbacks may take store locks: keep them off the async threads
    let encoded = blocking(move || {
        let m = state.metrics();
        let r = if wants_om {
            m.encode_openmetrics()
        } else {
            m.encode_prometheus_text()
        };
        r.map_err(|_| ApiError::Internal("cannot encode metrics".into()))
    })
    .await;
    let ct = if wants_om {
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    } else {
        "text/plain; version=0.0.4; charset=utf-8"
    };
    match encoded {
        Ok(body) => ([(header::CONTENT_TYPE, ct)], body).into_response(),
        Err(e) => e.into_response(),
    }
}

/// `GET /api/v1/status/buildinfo`
pub async fn buildinfo(State(state): State<Arc<ServerState>>) -> Response {
    Success::new(state.build_info.clone()).into_response()
}

/// A dropped target in Prometheus's shape, with the pool it was dropped from.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct DroppedJson {
    #[serde(serialize_with = "crate::state::sorted_map")]
    discovered_labels: HashMap<String, String>,
    scrape_pool: String,
}

/// `/api/v1/targets`'s `data`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct TargetDiscovery {
    active_targets: Vec<ActiveTarget>,
    dropped_targets: Vec<DroppedJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dropped_target_counts: Option<BTreeMap<String, usize>>,
}

/// `GET /api/v1/targets`: `state` (`active`, `dropped`, `any`; case-insensitive; others
/// list neither, as Prometheus) and `scrapePool` filter the lists.
pub async fn targets(
    State(state): State<Arc<ServerState>>,
    params: Params,
) -> Result<Response, JsonApiError> {
    let snapshot = match state.targets.clone() {
        Some(f) => blocking(move || Ok(f())).await?,
        None => TargetsSnapshot::default(),
    };
    let which = params.get("state").unwrap_or("").to_ascii_lowercase();
    let pool = params.get("scrapePool").unwrap_or("");
    let show_active = matches!(which.as_str(), "" | "any" | "active");
    let show_dropped = matches!(which.as_str(), "" | "any" | "dropped");
    let in_pool = |p: &str| pool.is_empty() || p == pool;
    let mut active_targets: Vec<ActiveTarget> = if show_active {
        snapshot
            .active_targets
            .into_iter()
            .filter(|t| in_pool(&t.scrape_pool))
            .collect()
    } else {
        Vec::new()
    };
    active_targets.sort_by(|a, b| a.scrape_pool.cmp(&b.scrape_pool));
    let (dropped_targets, dropped_target_counts) = if show_dropped {
        let all: Vec<DroppedJson> = snapshot
            .dropped_targets
            .into_iter()
            .map(|d| {
                // a dropped target keeps its job label: the pool it came from
                let scrape_pool = d.discovered_labels.get("job").cloned().unwrap_or_default();
                DroppedJson {
                    discovered_labels: d.discovered_labels,
                    scrape_pool,
                }
            })
            .collect();
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for d in &all {
            *counts.entry(d.scrape_pool.clone()).or_default() += 1;
        }
        let mut kept: Vec<DroppedJson> = all
            .into_iter()
            .filter(|d| in_pool(&d.scrape_pool))
            .collect();
        kept.sort_by(|a, b| a.scrape_pool.cmp(&b.scrape_pool));
        (kept, Some(counts))
    } else {
        (Vec::new(), None)
    };
    Ok(Success::new(TargetDiscovery {
        active_targets,
        dropped_targets,
        dropped_target_counts,
    })
    .into_response())
}

/// Any path no route matches: Prometheus's JSON 404 under `/api/`, plain text elsewhere.
pub async fn not_found(uri: axum::http::Uri) -> Response {
    if uri.path().starts_with("/api/") {
        return JsonApiError(ApiError::coded(
            oxeye_core::StatusCode::NotFound,
            format!("unknown API endpoint {}", uri.path()),
        ))
        .into_response();
    }
    (StatusCode::NOT_FOUND, "404 page not found\n").into_response()
}

/// `POST|PUT /api/v1/admin/tsdb/flush`: cuts the head into a block now.
pub async fn flush(State(state): State<Arc<ServerState>>) -> Result<Response, JsonApiError> {
    let Some(f) = state.flush.clone() else {
        return Err(ApiError::coded(
            oxeye_core::StatusCode::Unavailable,
            "flushing is not supported by this store",
        )
        .into());
    };
    blocking(move || Ok(f()?)).await?;
    tracing::info!("head flushed on request");
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST|PUT /-/reload`: re-reads the configuration file.
pub async fn reload(State(state): State<Arc<ServerState>>) -> Response {
    if state.reload.is_none() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "reloading is not available\n",
        )
            .into_response();
    }
    match state.reload_config().await {
        Ok(()) => (StatusCode::OK, "config reloaded\n").into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("failed to reload config: {e}\n"),
        )
            .into_response(),
    }
}

/// Counts each request by route and status, and times it.
pub async fn track(State(state): State<Arc<ServerState>>, req: Request, next: Next) -> Response {
    let handler = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "other".to_string());
    let started = Instant::now();
    let resp = next.run(req).await;
    state.metrics().observe_request(
        &handler,
        resp.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    resp
}
