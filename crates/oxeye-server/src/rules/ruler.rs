//! The Loki ruler's rule-group API: rule groups per tenant and namespace in YAML.
//!
//! `GET /loki/api/v1/rules` answers every namespace (`namespace: [groups]`),
//! `GET .../rules/{namespace}` one namespace, `GET .../rules/{namespace}/{group}` one
//! group; `POST .../rules/{namespace}` creates or replaces the group in the YAML body and
//! `DELETE` removes a group or a whole namespace, both answered `202 Accepted` like Loki.
//! Errors are plain text as Loki's ruler answers them: 400 for a bad group, 404 when
//! nothing matches, 503 without a rule manager.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode as HttpStatus, header};
use axum::response::{IntoResponse, Response};
use oxeye_core::{StatusCode, TenantId};
use oxeye_rules::RulesError;
use oxeye_rules::file::RuleGroupSpec;
use oxeye_rules::manager::RuleManager;

use crate::ServerState;
use crate::error::ApiError;
use crate::state::Tenant;

fn manager(state: &ServerState) -> Result<&Arc<RuleManager>, ApiError> {
    state
        .rules
        .as_ref()
        .ok_or_else(|| ApiError::coded(StatusCode::Unavailable, "the ruler is not enabled"))
}

fn rules_error(e: RulesError) -> ApiError {
    ApiError::coded(e.status_code(), e.to_string())
}

fn yaml<T: serde::Serialize>(value: &T) -> Result<Response, ApiError> {
    let text = oxeye_rules::file::to_yaml(value).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok((
        HttpStatus::OK,
        [(header::CONTENT_TYPE, "application/yaml")],
        text,
    )
        .into_response())
}

fn accepted() -> Response {
    (
        HttpStatus::ACCEPTED,
        axum::Json(serde_json::json!({
            "status": "success", "data": null, "errorType": "", "error": "",
        })),
    )
        .into_response()
}

fn no_groups() -> ApiError {
    ApiError::coded(StatusCode::NotFound, "no rule groups found")
}

fn namespaces(
    state: &ServerState,
    tenant: &TenantId,
) -> Result<BTreeMap<String, Vec<RuleGroupSpec>>, ApiError> {
    Ok(manager(state)?.namespaces(tenant))
}

/// `GET /loki/api/v1/rules`: every namespace of the tenant.
pub async fn list_all(
    State(state): State<Arc<ServerState>>,
    Tenant(tenant): Tenant,
) -> Result<Response, ApiError> {
    let all = namespaces(&state, &tenant)?;
    if all.is_empty() {
        return Err(no_groups());
    }
    yaml(&all)
}

/// `GET /loki/api/v1/rules/{namespace}`.
pub async fn list_namespace(
    State(state): State<Arc<ServerState>>,
    Tenant(tenant): Tenant,
    Path(namespace): Path<String>,
) -> Result<Response, ApiError> {
    let mut all = namespaces(&state, &tenant)?;
    let Some(groups) = all.remove(&namespace) else {
        return Err(no_groups());
    };
    yaml(&BTreeMap::from([(namespace, groups)]))
}

/// `GET /loki/api/v1/rules/{namespace}/{group}`.
pub async fn get_group(
    State(state): State<Arc<ServerState>>,
    Tenant(tenant): Tenant,
    Path((namespace, group)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let all = namespaces(&state, &tenant)?;
    let found = all
        .get(&namespace)
        .and_then(|groups| groups.iter().find(|g| g.name == group));
    match found {
        Some(g) => yaml(g),
        None => Err(ApiError::coded(
            StatusCode::NotFound,
            "group does not exist",
        )),
    }
}

/// `POST /loki/api/v1/rules/{namespace}`: creates or replaces the group in the body.
pub async fn set_group(
    State(state): State<Arc<ServerState>>,
    Tenant(tenant): Tenant,
    Path(namespace): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let m = manager(&state)?.clone();
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::BadRequest("rule group body is not valid UTF-8".into()))?;
    let spec = oxeye_rules::file::parse_group(text)
        .map_err(|e| ApiError::BadRequest(format!("invalid rule group: {e}")))?;
    if spec.name.is_empty() {
        return Err(ApiError::BadRequest(
            "invalid rules config: rule group name must not be empty".into(),
        ));
    }
    crate::error::blocking(move || m.set_group(&tenant, &namespace, spec).map_err(rules_error))
        .await?;
    Ok(accepted())
}

/// `DELETE /loki/api/v1/rules/{namespace}/{group}`.
pub async fn delete_group(
    State(state): State<Arc<ServerState>>,
    Tenant(tenant): Tenant,
    Path((namespace, group)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let m = manager(&state)?.clone();
    crate::error::blocking(move || {
        m.delete_group(&tenant, &namespace, &group)
            .map_err(rules_error)
    })
    .await?;
    Ok(accepted())
}

/// `DELETE /loki/api/v1/rules/{namespace}`.
pub async fn delete_namespace(
    State(state): State<Arc<ServerState>>,
    Tenant(tenant): Tenant,
    Path(namespace): Path<String>,
) -> Result<Response, ApiError> {
    let m = manager(&state)?.clone();
    crate::error::blocking(move || m.delete_namespace(&tenant, &namespace).map_err(rules_error))
        .await?;
    Ok(accepted())
}
