//! The Tempo HTTP API: trace by id, TraceQL search, tag autocomplete, echo and buildinfo.
//!
//! Data flow: a handler takes the tenant from `X-Scope-OrgID`, parses its query string
//! the way Tempo does (times in Unix seconds, Go durations, hex trace ids left-padded to
//! 128 bits) and calls the [`oxeye_core::trace::TraceQueryable`] of the server's trace
//! stores on a blocking thread. Traces leave as OTLP: [`oxeye_proto::otlp::trace_out`]
//! builds the messages, which go out as protobuf (`tempopb.Trace` /
//! `tempopb.TraceByIDResponse`, when the client accepts `application/protobuf`, as
//! Grafana does) or as Tempo's JSON ([`oxeye_proto::tempo::trace_json`]). Search runs
//! TraceQL ([`search`]); tag names and values come from the store's dictionaries
//! ([`tags`]). Errors are answered as Tempo does: plain text with the HTTP status.

pub(crate) mod params;
mod search;
mod tags;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use opentelemetry_proto::tonic::trace::v1::ResourceSpans;
use oxeye_core::TenantId;
use oxeye_core::trace::TraceId;
use oxeye_proto::otlp::trace_out::trace_to_otlp;
use oxeye_proto::tempo::{self as tempopb, trace_json};
use prost::Message;

use crate::error::{ApiError, blocking};
use crate::state::{ServerState, Tenant};
use params::TempoParams;

/// The media type of protobuf answers.
pub const PROTOBUF: &str = "application/protobuf";

/// The routes of this API family.
pub fn routes() -> Router<Arc<ServerState>> {
    Router::new()
        .route("/api/echo", get(echo))
        .route("/api/status/buildinfo", get(buildinfo))
        .route("/api/traces/{id}", get(trace_v1))
        .route("/api/v2/traces/{id}", get(trace_v2))
        .route("/api/search", get(search::search))
        .route("/api/search/tags", get(tags::tags_v1))
        .route("/api/v2/search/tags", get(tags::tags_v2))
        .route("/api/search/tag/{tag}/values", get(tags::tag_values_v1))
        .route("/api/v2/search/tag/{tag}/values", get(tags::tag_values_v2))
}

/// `GET /api/echo`: Grafana's "save & test".
async fn echo() -> &'static str {
    "echo"
}

/// `GET /api/status/buildinfo`: Tempo's build information object.
async fn buildinfo(State(state): State<Arc<ServerState>>) -> Response {
    axum::Json(state.build_info.clone()).into_response()
}

/// Parses a trace id as Tempo does: hex only, at most 128 bits, left-padded with zeros.
pub fn parse_trace_id(id: &str) -> Result<TraceId, ApiError> {
    if let Some((i, c)) = id.chars().enumerate().find(|(_, c)| !c.is_ascii_hexdigit()) {
        return Err(ApiError::BadRequest(format!(
            "trace IDs can only contain hex characters: invalid character '{c}' at position {}",
            i + 1
        )));
    }
    let digits = id.trim_start_matches('0');
    if digits.len() > 32 {
        return Err(ApiError::BadRequest(
            "trace IDs can't be larger than 128 bits".into(),
        ));
    }
    let mut out = [0u8; 16];
    // digits are ASCII hex, so bytes and chars coincide
    for (i, b) in digits.bytes().rev().enumerate() {
        let nibble = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            _ => b - b'A' + 10,
        };
        let byte = 15 - i / 2;
        out[byte] |= if i % 2 == 0 { nibble } else { nibble << 4 };
    }
    Ok(out)
}

/// Lowercase hex of a trace id, leading zeros removed (Tempo's search and log form).
pub fn trace_id_hex(id: &TraceId) -> String {
    let full = hex32(id);
    let trimmed = full.trim_start_matches('0');
    if trimmed.is_empty() {
        "0".into()
    } else {
        trimmed.to_string()
    }
}

/// Lowercase hex of a trace id, all 32 digits.
pub fn hex32(id: &TraceId) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether the client asked for protobuf.
fn wants_protobuf(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|m| m.trim().starts_with(PROTOBUF)))
}

/// Fetches one trace, honouring `start`/`end` (Unix seconds): a trace with no span in
/// that range is not found, as in Tempo where the range selects the blocks searched. The
/// lookup, the conversion and `render` run on a blocking thread, since a large trace
/// takes a while to encode.
async fn trace_response(
    state: &Arc<ServerState>,
    tenant: TenantId,
    id: &str,
    query: Option<String>,
    render: impl FnOnce(Vec<ResourceSpans>) -> Response + Send + 'static,
) -> Result<Response, ApiError> {
    let trace_id = parse_trace_id(id)?;
    let params = TempoParams::parse(query.as_deref());
    let range = params.range_nanos()?;
    let store = state.trace_stores()?.queryable.clone();
    let narrowed = (range.0 != 0 || range.1 != u64::MAX).then_some(range);
    blocking(move || {
        let trace = store.trace_by_id(&tenant, &trace_id, narrowed)?;
        let found = trace.filter(|t| {
            t.spans()
                .any(|(_, _, s)| s.end_unix_nano >= range.0 && s.start_unix_nano <= range.1)
        });
        Ok(match found {
            Some(t) => render(trace_to_otlp(&t)),
            None => not_found(),
        })
    })
    .await
}

fn not_found() -> Response {
    ApiError::coded(oxeye_core::StatusCode::NotFound, "trace not found").into_response()
}

fn with_type(body: impl IntoResponse, content_type: &'static str) -> Response {
    let mut resp = body.into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

/// `GET /api/traces/<id>`: `{"batches":[...]}` or protobuf `tempopb.Trace`.
async fn trace_v1(
    State(state): State<Arc<ServerState>>,
    Tenant(tenant): Tenant,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let protobuf = wants_protobuf(&headers);
    trace_response(&state, tenant, &id, query, move |resource_spans| {
        if protobuf {
            let body = tempopb::Trace { resource_spans }.encode_to_vec();
            return with_type(body, PROTOBUF);
        }
        axum::Json(trace_json(&resource_spans, "batches")).into_response()
    })
    .await
}

/// `GET /api/v2/traces/<id>`: `{"trace":{"resourceSpans":[...]}}` or protobuf
/// `tempopb.TraceByIDResponse`. The status is `COMPLETE`, which Tempo's JSON leaves out
/// as the zero value.
async fn trace_v2(
    State(state): State<Arc<ServerState>>,
    Tenant(tenant): Tenant,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let protobuf = wants_protobuf(&headers);
    trace_response(&state, tenant, &id, query, move |resource_spans| {
        if protobuf {
            let body = tempopb::TraceByIdResponse {
                trace: Some(tempopb::Trace { resource_spans }),
                metrics: None,
                status: tempopb::PartialStatus::Complete as i32,
                message: String::new(),
            }
            .encode_to_vec();
            return with_type(body, PROTOBUF);
        }
        let body = serde_json::json!({ "trace": trace_json(&resource_spans, "resourceSpans") });
        axum::Json(body).into_response()
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_ids_parse_like_tempo() {
        let id = parse_trace_id("abc").unwrap();
        assert_eq!(hex32(&id), "00000000000000000000000000000abc");
        let full = "0123456789ABCDEF0123456789abcdef";
        assert_eq!(hex32(&parse_trace_id(full).unwrap()), full.to_lowercase());
        assert_eq!(
            parse_trace_id("00000000000000000000000000000000000001")
                .map(|i| i[15])
                .ok(),
            Some(1)
        );
        let err = parse_trace_id("12x4").unwrap_err().to_string();
        assert_eq!(
            err,
            "trace IDs can only contain hex characters: invalid character 'x' at position 3"
        );
        let long = "1".repeat(33);
        assert_eq!(
            parse_trace_id(&long).unwrap_err().to_string(),
            "trace IDs can't be larger than 128 bits"
        );
        assert_eq!(trace_id_hex(&parse_trace_id("00ab").unwrap()), "ab");
    }
}
