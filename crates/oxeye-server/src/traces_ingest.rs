//! Trace ingest: OTLP traces over HTTP (`POST /v1/traces`) and gRPC
//! (`TraceService/Export`), and Zipkin v2 JSON (`POST /api/v2/spans`).
//!
//! Every transport ends in one blocking task that converts the request into a
//! [`TraceBatch`] (`oxeye-proto`), appends it to the trace store's
//! [`oxeye_core::trace::SpanAppender`] and, once it is stored, hands it to the span
//! observer (span metrics, service graph). OTLP spans with unusable ids are rejected one by
//! one and reported as a partial success; the rest is stored.
//!
//! Errors follow the OTLP metrics endpoint ([`crate::otlp`]): HTTP answers in the request's
//! encoding with a `google.rpc.Status` body (400 malformed, 413 too large, 415 unsupported
//! content type, 429/503 with `Retry-After` when the store asks senders to back off, 503
//! when no trace store is configured); gRPC maps the same kinds to status codes, with a
//! `google.rpc.RetryInfo` on the retryable ones (OTLP clients retry `RESOURCE_EXHAUSTED`
//! only with one). Zipkin answers 202 with no body on success and a plain-text message
//! otherwise.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use oxeye_core::TenantId;
use oxeye_core::trace::{SpanAppendStats, TraceBatch};
use oxeye_proto::otlp::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};

use crate::error::{ApiError, blocking};
use crate::otlp::{
    Encoding, encode, encoding_of, error_response, grpc_export, unsupported_media_type,
};
use crate::state::{ServerState, TENANT_HEADER, TraceStores};
use crate::write::{proto_error, read_body};

/// The routes of this API family.
pub fn routes() -> Router<Arc<ServerState>> {
    Router::new()
        .route("/v1/traces", post(http_traces))
        .route("/api/v2/spans", post(zipkin_spans))
}

/// Stores `batch` for `tenant`, counts it in the self metrics under `protocol`, and once
/// stored shows it to the observer. Blocking.
fn store(
    state: &ServerState,
    stores: &TraceStores,
    protocol: &str,
    tenant: &TenantId,
    batch: TraceBatch,
) -> Result<SpanAppendStats, ApiError> {
    let stats = store_batch(stores, tenant, batch)?;
    state.metrics().spans_ingested(protocol, stats.spans);
    Ok(stats)
}

fn store_batch(
    stores: &TraceStores,
    tenant: &TenantId,
    batch: TraceBatch,
) -> Result<SpanAppendStats, ApiError> {
    if batch.resource_spans.is_empty() {
        return Ok(SpanAppendStats::default());
    }
    let Some(observer) = stores.observer.as_ref() else {
        return Ok(stores.appender.append_spans(tenant, batch)?);
    };
    // the appender takes the batch; the observer sees a copy once the append succeeded
    let copy = batch.clone();
    let stats = stores.appender.append_spans(tenant, batch)?;
    observer(tenant, &copy);
    Ok(stats)
}

/// Converts and stores one OTLP request for `tenant`. Blocking.
fn convert_and_store(
    state: &ServerState,
    stores: &TraceStores,
    tenant: &TenantId,
    req: ExportTraceServiceRequest,
) -> Result<ExportTraceServiceResponse, ApiError> {
    let converted = oxeye_proto::otlp::convert_traces_owned(req);
    let (rejected, message) = (converted.rejected_spans, converted.error_message);
    store(state, stores, "otlp", tenant, converted.batch)?;
    if rejected > 0 {
        tracing::debug!(rejected, message = %message, "otlp spans rejected");
        state.metrics().spans_rejected(
            "otlp",
            "invalid_id",
            usize::try_from(rejected).unwrap_or(usize::MAX),
        );
    }
    let partial_success =
        (rejected > 0 || !message.is_empty()).then(|| ExportTracePartialSuccess {
            rejected_spans: i64::try_from(rejected).unwrap_or(i64::MAX),
            error_message: message,
        });
    Ok(ExportTraceServiceResponse { partial_success })
}

/// Converts and stores one OTLP request for `tenant`; returns the response to send.
pub async fn ingest(
    state: &Arc<ServerState>,
    tenant: TenantId,
    req: ExportTraceServiceRequest,
) -> Result<ExportTraceServiceResponse, ApiError> {
    let stores = state.trace_stores()?.clone();
    let state = state.clone();
    blocking(move || convert_and_store(&state, &stores, &tenant, req)).await
}

fn header_string(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Reads an OTLP/HTTP traces body, then decompresses, decodes, converts and stores it in
/// one blocking task (one hand-off per request).
async fn ingest_http(
    state: &Arc<ServerState>,
    tenant: TenantId,
    headers: &HeaderMap,
    body: Body,
) -> Result<ExportTraceServiceResponse, ApiError> {
    // refuse before reading the body when spans could not be stored anyway
    let stores = state.trace_stores()?.clone();
    let raw = read_body(headers, body, state.limits.max_request_bytes).await?;
    let encoding = header_string(headers, header::CONTENT_ENCODING);
    let ct = header_string(headers, header::CONTENT_TYPE);
    let max = state.limits.max_decoded_bytes;
    let state = state.clone();
    blocking(move || {
        let decoded = oxeye_proto::compression::decode_content(encoding.as_deref(), &raw, max)
            .map_err(proto_error)?;
        drop(raw);
        let req = oxeye_proto::otlp::decode_traces_request(ct.as_deref(), &decoded)
            .map_err(proto_error)?;
        drop(decoded);
        convert_and_store(&state, &stores, &tenant, req)
    })
    .await
}

/// `POST /v1/traces`
pub async fn http_traces(
    State(state): State<Arc<ServerState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(enc) = encoding_of(&headers) else {
        return unsupported_media_type(&headers);
    };
    let result = async {
        let tenant = state.tenant_from_header(headers.get(TENANT_HEADER).map(|v| v.as_bytes()))?;
        ingest_http(&state, tenant, &headers, body).await
    }
    .await;
    match result {
        // a full success is `{}` in JSON, as OTLP/JSON leaves unset messages out
        Ok(resp) if enc == Encoding::Json && resp.partial_success.is_none() => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            "{}",
        )
            .into_response(),
        Ok(resp) => encode(enc, StatusCode::OK, &resp),
        Err(e) => error_response(enc, e),
    }
}

/// `POST /api/v2/spans`: a JSON array of Zipkin v2 spans; 202 with no body when stored.
pub async fn zipkin_spans(
    State(state): State<Arc<ServerState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let result = async {
        let tenant = state.tenant_from_header(headers.get(TENANT_HEADER).map(|v| v.as_bytes()))?;
        if let Some(ct) = header_string(&headers, header::CONTENT_TYPE) {
            let media = ct
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            if media != "application/json" {
                return Err(ApiError::UnsupportedMediaType(format!(
                    "unsupported content type {ct:?}: zipkin spans are accepted as application/json"
                )));
            }
        }
        let stores = state.trace_stores()?.clone();
        let raw = read_body(&headers, body, state.limits.max_request_bytes).await?;
        let encoding = header_string(&headers, header::CONTENT_ENCODING);
        let max = state.limits.max_decoded_bytes;
        let state = state.clone();
        blocking(move || {
            let decoded = oxeye_proto::compression::decode_content(encoding.as_deref(), &raw, max)
                .map_err(proto_error)?;
            let batch = oxeye_proto::zipkin::decode_spans(&decoded).map_err(proto_error)?;
            store(&state, &stores, "zipkin", &tenant, batch)
        })
        .await
    }
    .await;
    match result {
        Ok(_) => StatusCode::ACCEPTED.into_response(),
        Err(e) => e.into_response(),
    }
}

/// The OTLP/gRPC trace service.
#[derive(Debug, Clone)]
pub struct OtlpTraceGrpc {
    state: Arc<ServerState>,
}

impl OtlpTraceGrpc {
    /// A service storing into `state`'s trace store.
    pub fn new(state: Arc<ServerState>) -> Self {
        Self { state }
    }

    /// The tonic server for this service: gzip accepted and sent, message size limited.
    pub fn into_server(self) -> TraceServiceServer<Self> {
        let max = self.state.limits.max_decoded_bytes;
        TraceServiceServer::new(self)
            .accept_compressed(tonic::codec::CompressionEncoding::Gzip)
            .send_compressed(tonic::codec::CompressionEncoding::Gzip)
            .max_decoding_message_size(max)
    }
}

#[tonic::async_trait]
impl TraceService for OtlpTraceGrpc {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        grpc_export(
            &self.state,
            request,
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            |state, tenant, req| async move { ingest(&state, tenant, req).await },
        )
        .await
    }
}
