//! `GET /api/search`: TraceQL search (`q`), or the older tag search (`tags`, logfmt),
//! which is turned into the equivalent TraceQL first.
//!
//! Parameters are parsed with Tempo's rules and messages (`start`/`end` Unix seconds,
//! `minDuration`/`maxDuration` Go durations on the trace's duration, `limit` > 0, `spss`
//! spans per spanset, `q` and `tags` mutually exclusive). `oxeye-traceql` runs the query
//! over the store on a blocking thread. The answer is Tempo's `SearchResponse` as its
//! `jsonpb` writes it, limited to the fields Grafana's strict decoder knows: per trace
//! `traceID` (hex, leading zeros removed), `rootServiceName`, `rootTraceName`,
//! `startTimeUnixNano` (a string), `durationMs`, `spanSet` (the first spanset, for older
//! clients) and `spanSets`; `metrics` with `inspectedTraces` and `inspectedBytes`.

use std::sync::Arc;

use axum::Json;
use axum::extract::{RawQuery, State};
use oxeye_proto::otlp::trace_out::key_values;
use oxeye_proto::tempo::attrs_json;
use oxeye_traceql::{
    DEFAULT_LIMIT, DEFAULT_SPANS_PER_SPANSET, SearchRequest, SearchResponse, SpanSet, TraceqlError,
};
use serde_json::{Map, Value, json};

use super::params::{TempoParams, parse_go_duration};
use super::trace_id_hex;
use crate::error::{ApiError, blocking};
use crate::state::{ServerState, Tenant};

/// Builds the TraceQL search a request asks for.
fn parse_request(p: &TempoParams) -> Result<SearchRequest, ApiError> {
    let (start_nanos, end_nanos) = p.range_nanos()?;
    let q = p.0.get("q");
    let tags = p.0.get("tags");
    let query = match (q, tags) {
        (Some(_), Some(_)) => {
            return Err(ApiError::BadRequest(
                "invalid request: can't specify tags and q in the same query".into(),
            ));
        }
        (Some(q), None) => q.to_string(),
        (None, Some(tags)) => oxeye_traceql::tags_to_query(tags).map_err(|e| match e {
            TraceqlError::InvalidRequest(m) => ApiError::BadRequest(format!("invalid tags: {m}")),
            other => traceql_error(other),
        })?,
        (None, None) => String::new(),
    };
    let duration = |name: &str| -> Result<Option<u64>, ApiError> {
        p.get(name)
            .map(|v| {
                parse_go_duration(v)
                    .map_err(|e| ApiError::BadRequest(format!("invalid {name}: {e}")))
            })
            .transpose()
    };
    let min_duration_nanos = duration("minDuration")?;
    let max_duration_nanos = duration("maxDuration")?;
    if let (Some(min), Some(max)) = (min_duration_nanos, max_duration_nanos)
        && min > max
    {
        return Err(ApiError::BadRequest(
            "invalid maxDuration: must be greater than minDuration".into(),
        ));
    }
    let limit = match p.uint("limit")? {
        None => DEFAULT_LIMIT,
        Some(0) => {
            return Err(ApiError::BadRequest(
                "invalid limit: must be a positive number".into(),
            ));
        }
        Some(l) => usize::try_from(l).unwrap_or(usize::MAX),
    };
    let spans_per_spanset = match p.uint("spss")? {
        None => DEFAULT_SPANS_PER_SPANSET,
        Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
    };
    Ok(SearchRequest {
        query,
        start_nanos,
        end_nanos,
        limit,
        spans_per_spanset,
        min_duration_nanos,
        max_duration_nanos,
        deadline: None,
    })
}

/// A TraceQL failure as Tempo answers it: bad queries are 400 with a plain message.
fn traceql_error(e: TraceqlError) -> ApiError {
    let code = e.status_code();
    match e {
        TraceqlError::Parse { .. } => ApiError::BadRequest(format!("invalid TraceQL query: {e}")),
        TraceqlError::Store(s) => ApiError::Store(s),
        other => ApiError::coded(code, other.to_string()),
    }
}

/// `jsonpb`'s form of a spanset.
fn span_set_json(set: &SpanSet) -> Value {
    let spans: Vec<Value> = set
        .spans
        .iter()
        .map(|s| {
            let mut m = Map::new();
            m.insert(
                "spanID".into(),
                json!(
                    s.span_id
                        .iter()
                        .map(|b| format!("{b:02x}"))
                        .collect::<String>()
                ),
            );
            if !s.name.is_empty() {
                m.insert("name".into(), json!(s.name));
            }
            m.insert(
                "startTimeUnixNano".into(),
                json!(s.start_time_unix_nano.to_string()),
            );
            m.insert("durationNanos".into(), json!(s.duration_nanos.to_string()));
            if !s.attributes.is_empty() {
                m.insert(
                    "attributes".into(),
                    Value::Array(attrs_json(&key_values(&s.attributes))),
                );
            }
            Value::Object(m)
        })
        .collect();
    let mut m = Map::new();
    m.insert("spans".into(), Value::Array(spans));
    m.insert("matched".into(), json!(set.matched));
    if !set.attributes.is_empty() {
        m.insert(
            "attributes".into(),
            Value::Array(attrs_json(&key_values(&set.attributes))),
        );
    }
    Value::Object(m)
}

/// Tempo's JSON of a search response.
pub fn response_json(resp: &SearchResponse) -> Value {
    let traces: Vec<Value> = resp
        .traces
        .iter()
        .map(|t| {
            let mut m = Map::new();
            m.insert("traceID".into(), json!(trace_id_hex(&t.trace_id)));
            if !t.root_service_name.is_empty() {
                m.insert("rootServiceName".into(), json!(t.root_service_name));
            }
            if !t.root_trace_name.is_empty() {
                m.insert("rootTraceName".into(), json!(t.root_trace_name));
            }
            m.insert(
                "startTimeUnixNano".into(),
                json!(t.start_time_unix_nano.to_string()),
            );
            if t.duration_ms != 0 {
                m.insert(
                    "durationMs".into(),
                    json!(u32::try_from(t.duration_ms).unwrap_or(u32::MAX)),
                );
            }
            let sets: Vec<Value> = t.span_sets.iter().map(span_set_json).collect();
            if let Some(first) = sets.first() {
                m.insert("spanSet".into(), first.clone());
            }
            m.insert("spanSets".into(), Value::Array(sets));
            Value::Object(m)
        })
        .collect();
    json!({
        "traces": traces,
        "metrics": {
            "inspectedTraces": resp.metrics.inspected_traces,
            "inspectedBytes": resp.metrics.inspected_bytes.to_string(),
        },
    })
}

/// `GET /api/search`.
pub async fn search(
    State(state): State<Arc<ServerState>>,
    Tenant(tenant): Tenant,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let p = TempoParams::parse(query.as_deref());
    let req = parse_request(&p)?;
    let store = state.trace_stores()?.queryable.clone();
    let (_permit, deadline) = state.trace_query_slot().await?;
    let req = SearchRequest {
        deadline: Some(deadline),
        ..req
    };
    let body = blocking(move || {
        let resp = oxeye_traceql::search(store.as_ref(), &tenant, &req).map_err(traceql_error)?;
        Ok(response_json(&resp))
    })
    .await?;
    Ok(Json(body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use oxeye_core::StatusCode;

    fn req(q: &str) -> Result<SearchRequest, String> {
        parse_request(&TempoParams::parse(Some(q))).map_err(|e| e.to_string())
    }

    #[test]
    fn parameters_follow_tempo() {
        let r = req("q=%7B%7D&start=10&end=20&limit=5&spss=2&minDuration=1ms").unwrap();
        assert_eq!(r.query, "{}");
        assert_eq!((r.limit, r.spans_per_spanset), (5, 2));
        assert_eq!(r.start_nanos, 10_000_000_000);
        assert_eq!(r.min_duration_nanos, Some(1_000_000));
        assert_eq!(
            req("q=%7B%7D&tags=a%3Db").unwrap_err(),
            "invalid request: can't specify tags and q in the same query"
        );
        assert_eq!(
            req("limit=0").unwrap_err(),
            "invalid limit: must be a positive number"
        );
        assert_eq!(
            req("minDuration=2s&maxDuration=1s").unwrap_err(),
            "invalid maxDuration: must be greater than minDuration"
        );
        assert_eq!(
            req("minDuration=xs").unwrap_err(),
            "invalid minDuration: time: invalid duration \"xs\""
        );
        let d = req("").unwrap();
        assert_eq!((d.limit, d.spans_per_spanset), (DEFAULT_LIMIT, 3));
        assert_eq!(
            StatusCode::BadData,
            ApiError::BadRequest(String::new()).status_code()
        );
    }
}
