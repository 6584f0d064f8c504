//! `GET /api/v1/metadata`: metric family metadata (type, help, unit) in Prometheus's shape,
//! `{"metric_name": [{"type": "counter", "help": "...", "unit": ""}]}`, which Grafana reads
//! for autocomplete. Parameters as Prometheus: `metric`, `limit` (families),
//! `limit_per_metric` (entries per family).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::error::{ApiError, JsonApiError, blocking};
use crate::params::{MAX_TIME_MS, MIN_TIME_MS, Params};
use crate::read::Success;
use crate::state::{ReadTenant, ServerState};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
struct Entry {
    #[serde(rename = "type")]
    metric_type: &'static str,
    help: String,
    unit: String,
}

/// A limit as Prometheus reads it: any integer, `None` when absent; the error names the
/// parameter as Prometheus does (`limit must be a number`).
fn limit_param(params: &Params, name: &str) -> Result<Option<i64>, ApiError> {
    match params.get(name) {
        None | Some("") => Ok(None),
        Some(v) => crate::params::parse_go_int(v)
            .map(Some)
            .map_err(|_| ApiError::BadRequest(format!("{name} must be a number"))),
    }
}

/// `GET /api/v1/metadata`
pub async fn metadata(
    State(state): State<Arc<ServerState>>,
    ReadTenant(tenant): ReadTenant,
    params: Params,
) -> Result<Response, JsonApiError> {
    // a negative `limit` means no limit, zero answers nothing (as Prometheus)
    let limit = limit_param(&params, "limit")?
        .filter(|n| *n >= 0)
        .map(|n| usize::try_from(n).unwrap_or(usize::MAX));
    // `limit_per_metric` of zero or less means no limit
    let per_metric = limit_param(&params, "limit_per_metric")?
        .filter(|n| *n > 0)
        .map(|n| usize::try_from(n).unwrap_or(usize::MAX));
    let metric = params
        .get("metric")
        .filter(|m| !m.is_empty())
        .map(str::to_string);
    let queryable = state.queryable.clone();
    let found = blocking(move || {
        let q = queryable.querier(&tenant, MIN_TIME_MS, MAX_TIME_MS)?;
        Ok(q.metadata(metric.as_deref())?)
    })
    .await?;
    let mut out: BTreeMap<String, Vec<Entry>> = BTreeMap::new();
    for m in found {
        if limit.is_some_and(|n| out.len() >= n) && !out.contains_key(&m.metric_family) {
            continue;
        }
        let entries = out.entry(m.metric_family).or_default();
        let e = Entry {
            metric_type: m.metric_type.as_str(),
            help: m.help,
            unit: m.unit,
        };
        if entries.contains(&e) || per_metric.is_some_and(|n| entries.len() >= n) {
            continue;
        }
        entries.push(e);
    }
    Ok(Success::new(out).into_response())
}
