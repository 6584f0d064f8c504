//! Index answers: label names and values, series, `index/stats` and the volume
//! endpoints. All are answered from the store's index (label lookups and
//! [`oxeye_core::logs::LogQueryable::stream_stats`]), never from the lines themselves.
//!
//! Volumes follow Loki: bytes per group of streams, grouped by `targetLabels` (or, by
//! default, by the labels the selector names), or per label name with
//! `aggregateBy=labels`; the largest `limit` groups per bucket, as a Prometheus vector
//! (`index/volume`, one bucket ending at `end`) or matrix (`index/volume_range`, one
//! bucket per `step`, stamped with its end).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Response;
use oxeye_core::{Labels, Matcher};
use serde_json::json;

use super::params::{LokiParams, check_range, query_selectors};
use super::{LokiError, json_response, log_queryable, run_query};
use crate::error::ApiError;
use crate::state::{ServerState, Tenant};

/// Groups a volume answer holds per bucket when `limit` is absent.
const DEFAULT_VOLUME_LIMIT: usize = 100;

fn now_ns(state: &ServerState) -> i64 {
    state.clock.now_ms().saturating_mul(1_000_000)
}

fn success(data: serde_json::Value) -> Response {
    json_response(&json!({ "status": "success", "data": data }))
}

/// `GET|POST /loki/api/v1/labels`: label names of streams with entries in the range,
/// optionally only of streams matching `query`.
pub async fn labels(
    State(state): State<Arc<ServerState>>,
    Tenant(tenant): Tenant,
    params: LokiParams,
) -> Result<Response, LokiError> {
    let (start, end) = params.bounds(now_ns(&state))?;
    let matchers = params.query_matchers()?;
    let store = log_queryable(&state)?;
    let names = run_query(&state, move |_| {
        Ok(store.log_label_names(&tenant, &matchers, start, end.saturating_add(1))?)
    })
    .await?;
    Ok(success(json!(names)))
}

/// `GET|POST /loki/api/v1/label/{name}/values`.
pub async fn label_values(
    State(state): State<Arc<ServerState>>,
    Tenant(tenant): Tenant,
    Path(name): Path<String>,
    params: LokiParams,
) -> Result<Response, LokiError> {
    let (start, end) = params.bounds(now_ns(&state))?;
    let matchers = params.query_matchers()?;
    let store = log_queryable(&state)?;
    let values = run_query(&state, move |_| {
        Ok(store.log_label_values(&tenant, &name, &matchers, start, end.saturating_add(1))?)
    })
    .await?;
    Ok(success(json!(values)))
}

/// Labels of every stream matching any of `groups` (all streams when there is none)
/// with entries in `[start, end)`, sorted and without repeats.
fn matching_streams(
    store: &dyn oxeye_core::logs::LogQueryable,
    tenant: &oxeye_core::TenantId,
    groups: &[Vec<Matcher>],
    start: i64,
    end: i64,
) -> Result<Vec<oxeye_core::logs::LogStreamStats>, ApiError> {
    let all = [Vec::new()];
    let groups = if groups.is_empty() { &all[..] } else { groups };
    let mut seen: BTreeMap<Labels, oxeye_core::logs::LogStreamStats> = BTreeMap::new();
    for g in groups {
        for s in store.stream_stats(tenant, g, start, end)? {
            seen.entry(s.labels.clone()).or_insert(s);
        }
    }
    Ok(seen.into_values().collect())
}

/// `GET|POST /loki/api/v1/series`: the label sets of streams matching `match[]`.
pub async fn series(
    State(state): State<Arc<ServerState>>,
    Tenant(tenant): Tenant,
    params: LokiParams,
) -> Result<Response, LokiError> {
    let (start, end) = params.bounds(now_ns(&state))?;
    let mut groups = params.match_groups()?;
    if groups.is_empty() && !params.query().trim().is_empty() {
        groups = query_selectors(params.query())?;
    }
    let store = log_queryable(&state)?;
    let streams = run_query(&state, move |_| {
        matching_streams(
            store.as_ref(),
            &tenant,
            &groups,
            start,
            end.saturating_add(1),
        )
    })
    .await?;
    let data: Vec<serde_json::Value> = streams.iter().map(|s| label_object(&s.labels)).collect();
    Ok(success(json!(data)))
}

/// A label set as a JSON object.
pub fn label_object(labels: &Labels) -> serde_json::Value {
    let m: serde_json::Map<String, serde_json::Value> = labels
        .iter()
        .map(|l| (l.name.clone(), json!(l.value)))
        .collect();
    serde_json::Value::Object(m)
}

/// The selectors of the required `query` parameter.
fn required_selectors(params: &LokiParams) -> Result<Vec<Vec<Matcher>>, ApiError> {
    let q = params.query().trim();
    if q.is_empty() {
        return Err(ApiError::BadRequest(
            "parse error : syntax error: unexpected $end, expecting { or ( or vector".into(),
        ));
    }
    if q == "{}" {
        return Ok(Vec::new());
    }
    query_selectors(q)
}

/// `GET|POST /loki/api/v1/index/stats`: streams, chunks, bytes and entries the query's
/// selectors cover in the range: `{"streams":N,"chunks":N,"bytes":N,"entries":N}`.
pub async fn index_stats(
    State(state): State<Arc<ServerState>>,
    Tenant(tenant): Tenant,
    params: LokiParams,
) -> Result<Response, LokiError> {
    let (start, end) = params.ordered_bounds(now_ns(&state))?;
    let groups = required_selectors(&params)?;
    let store = log_queryable(&state)?;
    let streams = run_query(&state, move |_| {
        matching_streams(
            store.as_ref(),
            &tenant,
            &groups,
            start,
            end.saturating_add(1),
        )
    })
    .await?;
    let (chunks, bytes, entries) = streams.iter().fold((0u64, 0u64, 0u64), |a, s| {
        (a.0 + s.chunks, a.1 + s.bytes, a.2 + s.entries)
    });
    Ok(json_response(&json!({
        "streams": streams.len(),
        "chunks": chunks,
        "bytes": bytes,
        "entries": entries,
    })))
}

/// A volume group: label pairs in name order (an empty value names a label in
/// `aggregateBy=labels` answers).
type VolumeKey = Vec<(String, String)>;

fn key_object(k: &VolumeKey) -> serde_json::Value {
    serde_json::Value::Object(k.iter().map(|(n, v)| (n.clone(), json!(v))).collect())
}

/// `[<seconds>, "<bytes>"]` as Prometheus writes a sample.
fn point(t_ms: i64, bytes: u64) -> serde_json::Value {
    json!([crate::query::Timestamp(t_ms), bytes.to_string()])
}

/// How volumes are grouped.
#[derive(Debug, Clone)]
struct VolumeRequest {
    groups: Vec<Vec<Matcher>>,
    target_labels: Vec<String>,
    by_labels: bool,
    limit: usize,
}

fn volume_request(params: &LokiParams) -> Result<VolumeRequest, ApiError> {
    let groups = required_selectors(params)?;
    let limit = params.limit_max(DEFAULT_VOLUME_LIMIT, 0)?;
    let target_labels: Vec<String> = params
        .get("targetLabels")
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let by_labels = match params.get("aggregateBy") {
        None | Some("series") => false,
        Some("labels") => true,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "invalid aggregation option: {other}; must be one of series or labels"
            )));
        }
    };
    Ok(VolumeRequest {
        groups,
        target_labels,
        by_labels,
        limit,
    })
}

/// Bytes per group over `[start, end)`, largest first (ties by name), at most `limit`.
fn volumes(
    store: &dyn oxeye_core::logs::LogQueryable,
    tenant: &oxeye_core::TenantId,
    req: &VolumeRequest,
    start: i64,
    end: i64,
) -> Result<Vec<(VolumeKey, u64)>, ApiError> {
    let streams = matching_streams(store, tenant, &req.groups, start, end)?;
    let selector_names: BTreeSet<&str> = req
        .groups
        .iter()
        .flatten()
        .map(|m| m.name.as_str())
        .collect();
    let mut acc: BTreeMap<VolumeKey, u64> = BTreeMap::new();
    for s in &streams {
        if req.by_labels {
            for l in s.labels.iter() {
                if req.target_labels.is_empty() || req.target_labels.contains(&l.name) {
                    *acc.entry(vec![(l.name.clone(), String::new())])
                        .or_default() += s.bytes;
                }
            }
            continue;
        }
        let keep = |name: &str| {
            if req.target_labels.is_empty() {
                selector_names.contains(name)
            } else {
                req.target_labels.iter().any(|t| t == name)
            }
        };
        let mut key: VolumeKey = s
            .labels
            .iter()
            .filter(|l| keep(&l.name))
            .map(|l| (l.name.clone(), l.value.clone()))
            .collect();
        if key.is_empty() {
            if !req.target_labels.is_empty() {
                continue;
            }
            key = s
                .labels
                .iter()
                .map(|l| (l.name.clone(), l.value.clone()))
                .collect();
        }
        *acc.entry(key).or_default() += s.bytes;
    }
    let mut out: Vec<(VolumeKey, u64)> = acc.into_iter().collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    out.truncate(req.limit);
    Ok(out)
}

/// `GET|POST /loki/api/v1/index/volume`: one vector of bytes per group over the range,
/// stamped at `end`.
pub async fn volume(
    State(state): State<Arc<ServerState>>,
    Tenant(tenant): Tenant,
    params: LokiParams,
) -> Result<Response, LokiError> {
    let (start, end) = params.ordered_bounds(now_ns(&state))?;
    let req = volume_request(&params)?;
    let store = log_queryable(&state)?;
    let vols = run_query(&state, move |_| {
        volumes(store.as_ref(), &tenant, &req, start, end.saturating_add(1))
    })
    .await?;
    let t_ms = end.div_euclid(1_000_000);
    let result: Vec<serde_json::Value> = vols
        .iter()
        .map(|(k, b)| json!({ "metric": key_object(k), "value": point(t_ms, *b) }))
        .collect();
    Ok(success(json!({ "resultType": "vector", "result": result })))
}

/// `GET|POST /loki/api/v1/index/volume_range`: bytes per group per `step` bucket, each
/// stamped with its bucket's end; a matrix.
pub async fn volume_range(
    State(state): State<Arc<ServerState>>,
    Tenant(tenant): Tenant,
    params: LokiParams,
) -> Result<Response, LokiError> {
    let (start, end) = params.bounds(now_ns(&state))?;
    let step = params.step(start, end)?;
    check_range(start, end, step)?;
    let req = volume_request(&params)?;
    let store = log_queryable(&state)?;
    let series = run_query(&state, move |deadline| {
        let mut by_group: BTreeMap<VolumeKey, Vec<(i64, u64)>> = BTreeMap::new();
        let mut b_start = start;
        while b_start < end {
            if std::time::Instant::now() > deadline {
                return Err(ApiError::coded(
                    oxeye_core::StatusCode::Timeout,
                    "context deadline exceeded: the query ran longer than the query timeout",
                ));
            }
            // buckets are aligned to the step, the first one starting at `start`
            let aligned = b_start - b_start.rem_euclid(step);
            let b_end = aligned.saturating_add(step).min(end);
            for (l, bytes) in volumes(store.as_ref(), &tenant, &req, b_start, b_end)? {
                by_group
                    .entry(l)
                    .or_default()
                    .push((b_end.div_euclid(1_000_000), bytes));
            }
            b_start = b_end;
        }
        Ok(by_group)
    })
    .await?;
    let mut series: Vec<(VolumeKey, Vec<(i64, u64)>)> = series.into_iter().collect();
    // as Loki: largest first sample first, ties by labels
    series.sort_by(|a, b| {
        let va = a.1.first().map_or(0, |s| s.1);
        let vb = b.1.first().map_or(0, |s| s.1);
        vb.cmp(&va).then_with(|| a.0.cmp(&b.0))
    });
    let result: Vec<serde_json::Value> = series
        .iter()
        .map(|(k, samples)| {
            let values: Vec<serde_json::Value> =
                samples.iter().map(|(t, b)| point(*t, *b)).collect();
            json!({ "metric": key_object(k), "values": values })
        })
        .collect();
    Ok(success(json!({ "resultType": "matrix", "result": result })))
}
