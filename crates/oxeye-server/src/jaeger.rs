//! The Jaeger query API v1 (served under `/jaeger`), as Grafana's Jaeger datasource calls it.
//!
//! Data flow: a handler takes the tenant from `X-Scope-OrgID`, parses Jaeger's parameters
//! (µs times for search, ms for dependencies, Go durations, a JSON map of tags) and reads
//! the server's [`oxeye_core::trace::TraceQueryable`] on a blocking thread: services and
//! operations from its operation index, traces by id, and search and dependencies by
//! scanning the time range (with hints so the store can skip data) and filtering each
//! trace as Jaeger does. Traces leave in Jaeger's UI JSON ([`model`]). Every answer is
//! Jaeger's envelope `{"data":...,"total":N,"limit":0,"offset":0,"errors":...}`; errors
//! carry `[{"code":...,"msg":...}]` with the matching HTTP status.
//!
//! Tempo and Jaeger both use `/api/traces/{id}`, so this API lives under `/jaeger`:
//! Grafana's Jaeger datasource takes `http://<host>:<port>/jaeger` as its URL, while its
//! Tempo datasource takes `http://<host>:<port>`.

mod model;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::ControlFlow;
use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRequestParts, Path, RawQuery, State};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use oxeye_core::TenantId;
use oxeye_core::trace::{AttrScope, ScanHint, Trace, TraceScan};
use serde_json::{Value, json};

use crate::error::{ApiError, blocking};
use crate::state::{ServerState, TENANT_HEADER};
use crate::tempo::params::{TempoParams, parse_go_duration};

/// Search results when `limit` is absent.
pub const DEFAULT_LIMIT: usize = 20;
/// Most traces one search returns, whatever `limit` asks for.
pub const MAX_LIMIT: usize = 10_000;
/// Search window when neither `start` nor `lookback` is given.
const DEFAULT_LOOKBACK_NANOS: u64 = 3_600 * 1_000_000_000;
/// Dependency window when `lookback` is absent (Jaeger's default, 24h), ms.
const DEFAULT_DEPENDENCY_LOOKBACK_MS: u64 = 24 * 3_600 * 1_000;

/// The routes of this API family.
pub fn routes() -> Router<Arc<ServerState>> {
    Router::new()
        .route("/api/services", get(services))
        .route(
            "/api/services/{service}/operations",
            get(service_operations),
        )
        .route("/api/operations", get(operations))
        .route("/api/traces", get(search))
        .route("/api/traces/{id}", get(trace_by_id))
        .route("/api/dependencies", get(dependencies))
}

/// An error in Jaeger's JSON shape.
#[derive(Debug)]
pub struct JaegerError(pub ApiError);

impl From<ApiError> for JaegerError {
    fn from(e: ApiError) -> Self {
        JaegerError(e)
    }
}

impl IntoResponse for JaegerError {
    fn into_response(self) -> Response {
        let status = self.0.http_status();
        if status.is_server_error() {
            tracing::warn!(error = %self.0, status = status.as_u16(), "jaeger query failed");
        }
        let body = json!({
            "data": null,
            "total": 0,
            "limit": 0,
            "offset": 0,
            "errors": [{ "code": status.as_u16(), "msg": self.0.to_string() }],
        });
        (status, axum::Json(body)).into_response()
    }
}

fn bad(msg: impl Into<String>) -> JaegerError {
    JaegerError(ApiError::BadRequest(msg.into()))
}

/// The request's tenant; a bad header is refused in Jaeger's error shape.
pub struct JaegerTenant(pub TenantId);

impl FromRequestParts<Arc<ServerState>> for JaegerTenant {
    type Rejection = JaegerError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<ServerState>,
    ) -> Result<Self, Self::Rejection> {
        let raw = parts.headers.get(TENANT_HEADER).map(|v| v.as_bytes());
        Ok(JaegerTenant(state.tenant_from_header(raw)?))
    }
}

/// Jaeger's success envelope.
fn envelope(data: Value, total: usize) -> axum::Json<Value> {
    axum::Json(json!({
        "data": data,
        "total": total,
        "limit": 0,
        "offset": 0,
        "errors": null,
    }))
}

type JResult = Result<axum::Json<Value>, JaegerError>;

/// `GET /api/services`: every service name.
async fn services(State(state): State<Arc<ServerState>>, JaegerTenant(t): JaegerTenant) -> JResult {
    let store = state.trace_stores()?.queryable.clone();
    let ops = blocking(move || Ok(store.operations(&t, None, 0, u64::MAX)?)).await?;
    let names: BTreeSet<String> = ops.into_iter().map(|o| o.service).collect();
    let n = names.len();
    Ok(envelope(json!(names), n))
}

/// `GET /api/services/{service}/operations`: the service's span names.
async fn service_operations(
    State(state): State<Arc<ServerState>>,
    JaegerTenant(t): JaegerTenant,
    Path(service): Path<String>,
) -> JResult {
    let store = state.trace_stores()?.queryable.clone();
    let ops = blocking(move || Ok(store.operations(&t, Some(&service), 0, u64::MAX)?)).await?;
    let names: BTreeSet<String> = ops.into_iter().map(|o| o.name).collect();
    let n = names.len();
    Ok(envelope(json!(names), n))
}

/// `GET /api/operations?service=&spanKind=`: `[{name, spanKind}]`.
async fn operations(
    State(state): State<Arc<ServerState>>,
    JaegerTenant(t): JaegerTenant,
    RawQuery(query): RawQuery,
) -> JResult {
    let p = TempoParams::parse(query.as_deref());
    let Some(service) = p.get("service").map(str::to_string) else {
        return Err(bad("parameter 'service' is required"));
    };
    let kind = p.get("spanKind").map(str::to_string);
    let store = state.trace_stores()?.queryable.clone();
    let ops = blocking(move || Ok(store.operations(&t, Some(&service), 0, u64::MAX)?)).await?;
    let pairs: BTreeSet<(String, &'static str)> = ops
        .into_iter()
        .map(|o| (o.name, model::kind_text(o.kind)))
        .filter(|(_, k)| kind.as_deref().is_none_or(|want| want == *k))
        .collect();
    let data: Vec<Value> = pairs
        .iter()
        .map(|(name, kind)| json!({ "name": name, "spanKind": kind }))
        .collect();
    let n = data.len();
    Ok(envelope(Value::Array(data), n))
}

/// Parses a Jaeger trace id: 1 to 32 hex digits.
fn parse_trace_id(id: &str) -> Result<oxeye_core::trace::TraceId, JaegerError> {
    if id.is_empty() {
        return Err(bad("trace id is empty"));
    }
    if id.len() > 32 {
        return Err(bad(format!(
            "trace id cannot be longer than 32 hex characters: {id}"
        )));
    }
    crate::tempo::parse_trace_id(id).map_err(JaegerError)
}

/// `GET /api/traces/{id}`.
async fn trace_by_id(
    State(state): State<Arc<ServerState>>,
    JaegerTenant(t): JaegerTenant,
    Path(id): Path<String>,
) -> JResult {
    let trace_id = parse_trace_id(&id)?;
    let store = state.trace_stores()?.queryable.clone();
    // the lookup and the JSON of a large trace take a while: both off the runtime
    let trace = blocking(move || {
        let trace = store.trace_by_id(&t, &trace_id, None)?;
        Ok(trace
            .filter(|t| t.span_count() > 0)
            .map(|t| model::trace_json(&t)))
    })
    .await?;
    match trace {
        Some(trace) => Ok(envelope(json!([trace]), 0)),
        None => Err(JaegerError(ApiError::coded(
            oxeye_core::StatusCode::NotFound,
            "trace not found",
        ))),
    }
}

/// A Jaeger search.
#[derive(Debug, Clone, Default)]
struct SearchQuery {
    service: String,
    operation: Option<String>,
    tags: Vec<(String, String)>,
    start_nanos: u64,
    end_nanos: u64,
    min_duration: Option<u64>,
    max_duration: Option<u64>,
    limit: usize,
}

fn micros_param(p: &TempoParams, name: &str) -> Result<Option<u64>, JaegerError> {
    p.get(name)
        .map(|v| {
            crate::tempo::params::parse_uint(v)
                .map(|us| us.saturating_mul(1_000))
                .map_err(|e| bad(format!("unable to parse param '{name}': {e}")))
        })
        .transpose()
}

fn parse_search(p: &TempoParams, now_nanos: u64) -> Result<SearchQuery, JaegerError> {
    let Some(service) = p.get("service") else {
        return Err(bad("parameter 'service' is required"));
    };
    let end = micros_param(p, "end")?.unwrap_or(now_nanos);
    let lookback = match p.get("lookback") {
        None | Some("custom") => DEFAULT_LOOKBACK_NANOS,
        Some(v) => parse_go_duration(v)
            .map_err(|e| bad(format!("unable to parse param 'lookback': {e}")))?,
    };
    let start = micros_param(p, "start")?.unwrap_or(end.saturating_sub(lookback));
    let duration = |name: &str| {
        p.get(name)
            .map(|v| {
                parse_go_duration(v)
                    .map_err(|e| bad(format!("unable to parse param '{name}': {e}")))
            })
            .transpose()
    };
    let min_duration = duration("minDuration")?;
    let max_duration = duration("maxDuration")?;
    if let (Some(a), Some(b)) = (min_duration, max_duration)
        && b < a
    {
        return Err(bad("'maxDuration' should be greater than 'minDuration'"));
    }
    if end < start {
        return Err(bad("'start' should be before 'end'"));
    }
    let limit = match p.get("limit") {
        None => DEFAULT_LIMIT,
        Some(v) => crate::tempo::params::parse_uint(v)
            .map_err(|e| bad(format!("unable to parse param 'limit': {e}")))
            .map(|l| usize::try_from(l).unwrap_or(usize::MAX).min(MAX_LIMIT))?,
    };
    let mut tags = Vec::new();
    for raw in p.0.all("tags").into_iter().filter(|v| !v.is_empty()) {
        let map: BTreeMap<String, Value> = serde_json::from_str(raw)
            .map_err(|e| bad(format!("malformed 'tags' parameter: {e}")))?;
        for (k, v) in map {
            let text = match v {
                Value::String(s) => s,
                other => other.to_string(),
            };
            tags.push((k, text));
        }
    }
    for raw in p.0.all("tag") {
        let Some((k, v)) = raw.split_once(':') else {
            return Err(bad(format!(
                "malformed 'tag' parameter, expecting key:value, received: {raw}"
            )));
        };
        tags.push((k.to_string(), v.to_string()));
    }
    Ok(SearchQuery {
        service: service.to_string(),
        operation: p.get("operation").map(str::to_string),
        tags,
        start_nanos: start,
        end_nanos: end,
        min_duration,
        max_duration,
        limit: if limit == 0 { DEFAULT_LIMIT } else { limit },
    })
}

/// Whether some span of `trace` satisfies every condition of `q` on its own, as Jaeger
/// matches: the process's service, the operation, the duration range, and each tag among
/// the span's tags, its process's tags or its log fields.
fn trace_matches(trace: &Trace, q: &SearchQuery) -> bool {
    trace.resource_spans.iter().any(|rs| {
        if model::service_name(&rs.resource) != q.service {
            return false;
        }
        let process_tags = model::process_tags(&rs.resource);
        rs.scope_spans.iter().any(|ss| {
            ss.spans.iter().any(|s| {
                if q.operation.as_ref().is_some_and(|op| *op != s.name) {
                    return false;
                }
                let d = s.duration_nanos();
                if q.min_duration.is_some_and(|m| d < m) || q.max_duration.is_some_and(|m| d > m) {
                    return false;
                }
                if q.tags.is_empty() {
                    return true;
                }
                let span_tags = model::span_tags(&ss.scope, s);
                let log_fields: Vec<Value> = s
                    .events
                    .iter()
                    .flat_map(|e| {
                        let mut f = vec![json!({"key": "event", "value": e.name})];
                        f.extend(
                            e.attributes
                                .iter()
                                .map(|kv| json!({"key": kv.key, "value": kv.value.to_text()})),
                        );
                        f
                    })
                    .collect();
                q.tags.iter().all(|(k, v)| {
                    span_tags
                        .iter()
                        .chain(&process_tags)
                        .chain(&log_fields)
                        .any(|t| {
                            t.get("key").and_then(Value::as_str) == Some(k.as_str())
                                && model::tag_value_text(t).as_deref() == Some(v.as_str())
                        })
                })
            })
        })
    })
}

/// `GET /api/traces`: search (`service`, `operation`, `tags`, `start`/`end` µs,
/// `lookback`, `minDuration`, `maxDuration`, `limit`), or the traces named by repeated
/// `traceID` parameters.
async fn search(
    State(state): State<Arc<ServerState>>,
    JaegerTenant(t): JaegerTenant,
    RawQuery(query): RawQuery,
) -> JResult {
    let p = TempoParams::parse(query.as_deref());
    let store = state.trace_stores()?.queryable.clone();
    let ids: Vec<&str> = p.0.all("traceID");
    if !ids.is_empty() {
        let ids = ids
            .into_iter()
            .map(parse_trace_id)
            .collect::<Result<Vec<_>, _>>()?;
        let traces = blocking(move || {
            let mut out = Vec::new();
            for id in ids {
                if let Some(tr) = store.trace_by_id(&t, &id, None)?
                    && tr.span_count() > 0
                {
                    out.push(model::trace_json(&tr));
                }
            }
            Ok(out)
        })
        .await?;
        let n = traces.len();
        return Ok(envelope(Value::Array(traces), n));
    }
    let now_nanos = u64::try_from(state.clock.now_ms())
        .unwrap_or(0)
        .saturating_mul(1_000_000);
    let q = parse_search(&p, now_nanos)?;
    let (_permit, deadline) = state.trace_query_slot().await?;
    let traces = blocking(move || {
        let mut hints = vec![ScanHint::AttrEquals {
            scope: Some(AttrScope::Resource),
            key: oxeye_core::trace::SERVICE_NAME.into(),
            value: q.service.clone(),
        }];
        if let Some(op) = &q.operation {
            hints.push(ScanHint::SpanName(op.clone()));
        }
        if let Some(m) = q.min_duration {
            hints.push(ScanHint::MinSpanDuration(m));
        }
        let scan = TraceScan {
            start_nanos: q.start_nanos,
            end_nanos: q.end_nanos,
            hints,
        };
        let mut out = Vec::new();
        let mut timed_out = false;
        store.scan(&t, &scan, &mut |trace| {
            if std::time::Instant::now() > deadline {
                timed_out = true;
                return ControlFlow::Break(());
            }
            if trace_matches(trace, &q) {
                out.push(model::trace_json(trace));
            }
            if out.len() >= q.limit {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })?;
        if timed_out {
            return Err(timed_out_error());
        }
        Ok(out)
    })
    .await?;
    let n = traces.len();
    Ok(envelope(Value::Array(traces), n))
}

/// The answer when a search or dependency scan runs past `--query.timeout`.
fn timed_out_error() -> ApiError {
    ApiError::coded(
        oxeye_core::StatusCode::Timeout,
        "query timed out: narrow the time range or the search",
    )
}

fn millis_param(p: &TempoParams, name: &str) -> Result<Option<u64>, JaegerError> {
    p.get(name)
        .map(|v| {
            crate::tempo::params::parse_uint(v)
                .map_err(|e| bad(format!("unable to parse param '{name}': {e}")))
        })
        .transpose()
}

/// `GET /api/dependencies?endTs=<ms>&lookback=<ms>`: `[{parent, child, callCount}]`,
/// one entry per pair of services where a span of `child` has its parent span in
/// `parent`, counted over the traces of the window.
async fn dependencies(
    State(state): State<Arc<ServerState>>,
    JaegerTenant(t): JaegerTenant,
    RawQuery(query): RawQuery,
) -> JResult {
    let p = TempoParams::parse(query.as_deref());
    let now_ms = u64::try_from(state.clock.now_ms()).unwrap_or(0);
    let end_ms = millis_param(&p, "endTs")?.unwrap_or(now_ms);
    let lookback_ms = millis_param(&p, "lookback")?.unwrap_or(DEFAULT_DEPENDENCY_LOOKBACK_MS);
    let scan = TraceScan {
        start_nanos: end_ms.saturating_sub(lookback_ms).saturating_mul(1_000_000),
        end_nanos: end_ms.saturating_mul(1_000_000),
        hints: Vec::new(),
    };
    let store = state.trace_stores()?.queryable.clone();
    let (_permit, deadline) = state.trace_query_slot().await?;
    let links = blocking(move || {
        let mut counts: BTreeMap<(String, String), u64> = BTreeMap::new();
        let mut timed_out = false;
        store.scan(&t, &scan, &mut |trace| {
            if std::time::Instant::now() > deadline {
                timed_out = true;
                return ControlFlow::Break(());
            }
            let mut service_of = HashMap::new();
            for (res, _, s) in trace.spans() {
                service_of.insert(s.span_id, model::service_name(res));
            }
            for (res, _, s) in trace.spans() {
                if s.is_root() {
                    continue;
                }
                let Some(parent) = service_of.get(&s.parent_span_id) else {
                    continue;
                };
                let child = model::service_name(res);
                if *parent != child {
                    *counts.entry((parent.clone(), child)).or_default() += 1;
                }
            }
            ControlFlow::Continue(())
        })?;
        if timed_out {
            return Err(timed_out_error());
        }
        Ok(counts)
    })
    .await?;
    let data: Vec<Value> = links
        .into_iter()
        .map(|((parent, child), n)| json!({ "parent": parent, "child": child, "callCount": n }))
        .collect();
    let n = data.len();
    Ok(envelope(Value::Array(data), n))
}
