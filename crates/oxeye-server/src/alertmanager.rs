//! The Alertmanager API v2 subset Grafana and `amtool` use, over the built-in notifier:
//! `/api/v2/alerts`, `/api/v2/alerts/groups`, `/api/v2/silences`, `/api/v2/silence/{id}`,
//! `/api/v2/status`, `/api/v2/receivers`, also under `/alertmanager` (Grafana's and
//! Mimir's prefix).
//!
//! Data flow: the handler takes the tenant from `X-Scope-OrgID`, decodes the query string
//! or the JSON body into the notifier's types ([`model`]), calls the notifier and answers
//! in the shapes of Alertmanager's OpenAPI spec. Errors are a JSON string with 400 (bad
//! input), 404 (unknown silence) or 503 (no notifier), as Alertmanager answers them.

mod model;

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use oxeye_rules::RulesError;
use oxeye_rules::notify::Notifier;
use oxeye_rules::notify::matchers::{Matchers, parse_matchers};

use crate::ServerState;
use crate::state::Tenant;
use model::{
    AlertsQuery, PostableAlert, PostableSilence, gettable_alert, gettable_group, gettable_silence,
};

/// An error answered as Alertmanager does: a JSON string.
#[derive(Debug)]
pub(crate) struct AmError(StatusCode, String);

impl AmError {
    pub(crate) fn bad(msg: impl Into<String>) -> Self {
        AmError(StatusCode::BAD_REQUEST, msg.into())
    }
}

impl From<RulesError> for AmError {
    fn from(e: RulesError) -> Self {
        let code = match &e {
            RulesError::NotFound(_) => StatusCode::NOT_FOUND,
            RulesError::Io(_) => StatusCode::INTERNAL_SERVER_ERROR,
            RulesError::Notify(_) => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        };
        AmError(code, e.to_string())
    }
}

impl IntoResponse for AmError {
    fn into_response(self) -> Response {
        let body = serde_json::Value::String(self.1).to_string();
        (
            self.0,
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response()
    }
}

fn json<T: serde::Serialize>(v: &T) -> Response {
    match serde_json::to_vec(v) {
        Ok(b) => (
            StatusCode::OK,
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            b,
        )
            .into_response(),
        Err(e) => AmError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

fn notifier(state: &ServerState) -> Result<&Arc<Notifier>, AmError> {
    state.notifier.as_ref().ok_or_else(|| {
        AmError(
            StatusCode::SERVICE_UNAVAILABLE,
            "the built-in notifier is not enabled".into(),
        )
    })
}

fn v2() -> Router<Arc<ServerState>> {
    Router::new()
        .route("/api/v2/alerts", get(get_alerts).post(post_alerts))
        .route("/api/v2/alerts/groups", get(get_groups))
        .route("/api/v2/silences", get(get_silences).post(post_silence))
        .route(
            "/api/v2/silence/{id}",
            get(get_silence).delete(delete_silence),
        )
        .route("/api/v2/status", get(status))
        .route("/api/v2/receivers", get(receivers))
}

/// The Alertmanager routes.
pub fn routes() -> Router<Arc<ServerState>> {
    v2().nest("/alertmanager", v2())
}

async fn get_alerts(
    State(state): State<Arc<ServerState>>,
    Tenant(tenant): Tenant,
    RawQuery(q): RawQuery,
) -> Result<Response, AmError> {
    let n = notifier(&state)?;
    let q = AlertsQuery::parse(q.as_deref().unwrap_or(""))?;
    let out: Vec<_> = n
        .alerts(&tenant)
        .iter()
        .filter(|a| q.keep(a))
        .map(gettable_alert)
        .collect();
    Ok(json(&out))
}

async fn post_alerts(
    State(state): State<Arc<ServerState>>,
    Tenant(tenant): Tenant,
    body: Bytes,
) -> Result<Response, AmError> {
    let n = notifier(&state)?;
    let posted: Vec<PostableAlert> = serde_json::from_slice(&body)
        .map_err(|e| AmError::bad(format!("invalid alerts payload: {e}")))?;
    let now = n.now_ms();
    let alerts = posted
        .into_iter()
        .map(|a| a.into_alert(now))
        .collect::<Result<Vec<_>, _>>()?;
    n.put_alerts(&tenant, alerts)?;
    Ok(StatusCode::OK.into_response())
}

async fn get_groups(
    State(state): State<Arc<ServerState>>,
    Tenant(tenant): Tenant,
    RawQuery(q): RawQuery,
) -> Result<Response, AmError> {
    let n = notifier(&state)?;
    let q = AlertsQuery::parse(q.as_deref().unwrap_or(""))?;
    let out: Vec<_> = n
        .groups(&tenant)
        .into_iter()
        .filter(|g| q.receiver.as_ref().is_none_or(|r| r.matches(&g.receiver)))
        .filter_map(|mut g| {
            g.alerts.retain(|a| q.keep(a));
            (!g.alerts.is_empty()).then(|| gettable_group(&g))
        })
        .collect();
    Ok(json(&out))
}

async fn get_silences(
    State(state): State<Arc<ServerState>>,
    Tenant(tenant): Tenant,
    RawQuery(q): RawQuery,
) -> Result<Response, AmError> {
    let n = notifier(&state)?;
    let mut filter = Matchers::default();
    for (k, v) in form_urlencoded::parse(q.as_deref().unwrap_or("").as_bytes()) {
        if k == "filter" {
            for m in parse_matchers(&v).map_err(AmError::bad)? {
                filter.push(m);
            }
        }
    }
    let mut list = n.silences(&tenant);
    // Active first, then pending, then expired, as Alertmanager sorts them.
    list.sort_by_key(|(s, st)| {
        let rank = match st.as_str() {
            "active" => 0,
            "pending" => 1,
            _ => 2,
        };
        (
            rank,
            if rank == 2 {
                -s.ends_at_ms
            } else {
                s.ends_at_ms
            },
        )
    });
    let out: Vec<_> = list
        .iter()
        .filter(|(s, _)| {
            filter.0.iter().all(|f| {
                s.matchers
                    .iter()
                    .any(|m| m.name == f.name && f.matches(&m.value))
            })
        })
        .map(|(s, st)| gettable_silence(s, *st))
        .collect();
    Ok(json(&out))
}

async fn post_silence(
    State(state): State<Arc<ServerState>>,
    Tenant(tenant): Tenant,
    body: Bytes,
) -> Result<Response, AmError> {
    let n = notifier(&state)?;
    let posted: PostableSilence = serde_json::from_slice(&body)
        .map_err(|e| AmError::bad(format!("invalid silence payload: {e}")))?;
    let silence = posted.into_silence()?;
    let id = n.upsert_silence(&tenant, silence).await?;
    Ok(json(&serde_json::json!({ "silenceID": id })))
}

async fn get_silence(
    State(state): State<Arc<ServerState>>,
    Tenant(tenant): Tenant,
    Path(id): Path<String>,
) -> Result<Response, AmError> {
    let n = notifier(&state)?;
    let (s, st) = n.silence(&tenant, &id)?;
    Ok(json(&gettable_silence(&s, st)))
}

async fn delete_silence(
    State(state): State<Arc<ServerState>>,
    Tenant(tenant): Tenant,
    Path(id): Path<String>,
) -> Result<Response, AmError> {
    let n = notifier(&state)?;
    n.expire_silence(&tenant, &id).await?;
    Ok(StatusCode::OK.into_response())
}

async fn status(State(state): State<Arc<ServerState>>) -> Result<Response, AmError> {
    let n = notifier(&state)?;
    let b = &state.build_info;
    Ok(json(&serde_json::json!({
        "cluster": { "status": "disabled", "peers": [] },
        "versionInfo": {
            "branch": b.branch,
            "buildDate": b.build_date,
            "buildUser": b.build_user,
            "goVersion": b.go_version,
            "revision": b.revision,
            "version": b.version,
        },
        "config": { "original": n.config().masked_original() },
        "uptime": oxeye_rules::notify::api::format_time(Some(n.started_ms())),
    })))
}

async fn receivers(State(state): State<Arc<ServerState>>) -> Result<Response, AmError> {
    let n = notifier(&state)?;
    let out: Vec<_> = n
        .receivers()
        .into_iter()
        .map(|name| serde_json::json!({ "name": name }))
        .collect();
    Ok(json(&out))
}
