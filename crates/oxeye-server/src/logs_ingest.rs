//! Log ingest: the Loki push API (`POST /loki/api/v1/push`) and OTLP logs over HTTP
//! (`POST /v1/logs`, and `POST /otlp/v1/logs` where Loki serves it) and gRPC
//! (`LogsService/Export`).
//!
//! Every transport ends in one blocking task: decompress and decode the body
//! (`oxeye-proto`'s [`oxeye_proto::loki`] and OTLP logs mapping) into
//! [`PushStream`]s, validate them against the [`LogIngestLimits`] at the server clock's
//! now ([`validate`], which also adds Loki's `detected_level`, [`level`]), take the
//! accepted bytes from the tenant's rate limit ([`rate`], given back when the store then
//! refuses them), append what passed to the log store's
//! [`oxeye_core::logs::LogAppender`], count lines and bytes by protocol and discard
//! reason in the self metrics.
//!
//! Answers follow Loki: 204 when everything was stored; 400 with a plain-text body, one
//! problem per line, when some streams or entries were rejected (the valid ones are
//! stored all the same, as Loki's distributor does); 429 with `Retry-After` when the push
//! exceeds the tenant's ingestion rate (nothing stored); 429/503 with `Retry-After` when
//! the store asks senders to back off; 503 without a log store. OTLP answers a partial
//! rejection with a partial success (the OTLP way to say some records were refused) and
//! a whole rejection with 400 / `INVALID_ARGUMENT`.

pub mod level;
pub mod rate;
pub mod validate;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use oxeye_core::{StoreError, TenantId};
use oxeye_proto::loki::PushStream;
use oxeye_proto::otlp::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};

use crate::error::{ApiError, blocking};
use crate::otlp::{
    Encoding, encode, encoding_of, error_response, grpc_export, unsupported_media_type,
};
use crate::state::{LogStores, ServerState, TENANT_HEADER};
use crate::write::{proto_error, read_body, reject_reason};
pub use rate::RateLimiter;
pub use validate::{LogIngestLimits, Validated, rfc3339};

/// The log ingest settings and per-tenant state a server holds.
#[derive(Debug, Default)]
pub struct LogIngest {
    pub(crate) limits: LogIngestLimits,
    pub(crate) rate: RateLimiter,
}

impl LogIngest {
    /// Ingest under `limits`.
    pub fn new(limits: LogIngestLimits) -> Self {
        Self {
            limits,
            rate: RateLimiter::default(),
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &LogIngestLimits {
        &self.limits
    }
}

/// The log ingest routes.
pub fn routes() -> Router<Arc<ServerState>> {
    Router::new()
        .route("/loki/api/v1/push", post(loki_push))
        .route("/v1/logs", post(http_logs))
        // where Loki serves OTLP logs, for senders configured with a Loki endpoint
        .route("/otlp/v1/logs", post(http_logs))
}

/// Why an ingest failed as a whole.
#[derive(Debug)]
pub enum IngestError {
    /// Decoding, the store, or every entry being invalid.
    Api(ApiError),
    /// The tenant's ingestion rate limit refused the push.
    RateLimited {
        /// Loki's message.
        message: String,
        /// Seconds until the push would fit.
        retry_after_secs: u64,
    },
}

impl From<ApiError> for IngestError {
    fn from(e: ApiError) -> Self {
        IngestError::Api(e)
    }
}

impl IngestError {
    /// As an [`ApiError`] (the rate limit as a limit-exceeded store error).
    pub fn into_api(self) -> ApiError {
        match self {
            IngestError::Api(e) => e,
            IngestError::RateLimited { message, .. } => {
                ApiError::Store(StoreError::LimitExceeded(message))
            }
        }
    }
}

impl IntoResponse for IngestError {
    fn into_response(self) -> Response {
        match self {
            IngestError::Api(e) => e.into_response(),
            IngestError::RateLimited {
                message,
                retry_after_secs,
            } => {
                tracing::debug!(%message, "log push rate limited");
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    [
                        (
                            header::CONTENT_TYPE,
                            HeaderValue::from_static("text/plain; charset=utf-8"),
                        ),
                        (header::RETRY_AFTER, HeaderValue::from(retry_after_secs)),
                    ],
                    format!("{message}\n"),
                )
                    .into_response()
            }
        }
    }
}

/// What an ingest stored and refused.
#[derive(Debug, Default)]
pub struct IngestOutcome {
    /// Entries stored.
    pub accepted: usize,
    /// Entries refused.
    pub rejected: usize,
    /// One message per problem.
    pub messages: Vec<String>,
}

/// Validates, rate limits and stores decoded streams for `tenant`, counting the outcome
/// under `protocol`. Blocking.
pub fn ingest_streams(
    state: &ServerState,
    stores: &LogStores,
    protocol: &str,
    tenant: &TenantId,
    streams: Vec<PushStream>,
) -> Result<IngestOutcome, IngestError> {
    let now_ns = state.clock.now_ms().saturating_mul(1_000_000);
    let ingest = &state.log_ingest;
    let limits = &ingest.limits;
    let validated = validate::validate(limits, now_ns, streams);
    let metrics = state.metrics();
    for d in &validated.discarded {
        metrics.log_lines_rejected(protocol, d.reason, d.entries, d.bytes);
    }
    let rejected = validated.discarded_entries();
    let Validated {
        batch,
        bytes,
        messages,
        ..
    } = validated;
    let entries = batch.entry_count();
    if entries == 0 {
        return Ok(IngestOutcome {
            accepted: 0,
            rejected,
            messages,
        });
    }
    if let Err(retry_after_secs) = ingest.rate.allow(
        tenant,
        now_ns,
        bytes,
        limits.ingestion_rate_bytes,
        limits.ingestion_burst_bytes,
    ) {
        metrics.log_lines_rejected(protocol, "rate_limited", entries, bytes);
        return Err(IngestError::RateLimited {
            message: format!(
                "Ingestion rate limit exceeded for user {tenant} (limit: {} bytes/sec) while attempting to ingest '{entries}' lines totaling '{bytes}' bytes, reduce log volume or contact your Loki administrator to see if the limit can be increased",
                limits.ingestion_rate_bytes as u64
            ),
            retry_after_secs,
        });
    }
    match stores.appender.append_logs(tenant, batch) {
        Ok(stats) => metrics.log_lines_ingested(protocol, stats.entries, bytes),
        Err(e) => {
            // nothing was stored, so the push does not count against the rate
            ingest.rate.give_back(
                tenant,
                bytes,
                limits.ingestion_rate_bytes,
                limits.ingestion_burst_bytes,
            );
            let e = ApiError::Store(e);
            metrics.log_lines_rejected(protocol, reject_reason(&e), entries, bytes);
            return Err(e.into());
        }
    }
    Ok(IngestOutcome {
        accepted: entries,
        rejected,
        messages,
    })
}

fn header_string(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn is_json(content_type: Option<&str>) -> bool {
    content_type
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
}

/// `POST /loki/api/v1/push`
pub async fn loki_push(
    State(state): State<Arc<ServerState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let result = async {
        let tenant = state.tenant_from_header(headers.get(TENANT_HEADER).map(|v| v.as_bytes()))?;
        let stores = state.log_stores()?.clone();
        let raw = read_body(&headers, body, state.limits.max_request_bytes).await?;
        let encoding = header_string(&headers, header::CONTENT_ENCODING);
        let ct = header_string(&headers, header::CONTENT_TYPE);
        let max = state.limits.max_decoded_bytes;
        let state = state.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            // protobuf bodies are snappy blocks by definition, so a `snappy` encoding
            // names that and is undone by the decoder, as Loki reads it
            let snappy_proto = !is_json(ct.as_deref())
                && encoding
                    .as_deref()
                    .is_some_and(|e| e.trim().eq_ignore_ascii_case("snappy"));
            let decoded = if snappy_proto {
                raw.to_vec()
            } else {
                oxeye_proto::compression::decode_content(encoding.as_deref(), &raw, max)
                    .map_err(proto_error)?
            };
            drop(raw);
            let streams = oxeye_proto::loki::decode_push(ct.as_deref(), &decoded, max)
                .map_err(proto_error)?;
            drop(decoded);
            ingest_streams(&state, &stores, "loki", &tenant, streams)
        })
        .await
        .map_err(|e| ApiError::Internal(format!("push task failed: {e}")))??;
        Ok::<_, IngestError>(outcome)
    }
    .await;
    match result {
        Ok(outcome) if outcome.messages.is_empty() => StatusCode::NO_CONTENT.into_response(),
        Ok(outcome) => {
            tracing::debug!(
                accepted = outcome.accepted,
                rejected = outcome.rejected,
                "log push partly rejected"
            );
            (
                StatusCode::BAD_REQUEST,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                validate::rejection_body(&outcome.messages),
            )
                .into_response()
        }
        Err(e) => e.into_response(),
    }
}

/// Converts and stores one OTLP logs request for `tenant`. Blocking.
fn convert_and_store(
    state: &ServerState,
    stores: &LogStores,
    tenant: &TenantId,
    req: ExportLogsServiceRequest,
) -> Result<ExportLogsServiceResponse, ApiError> {
    let now_ns = state.clock.now_ms().saturating_mul(1_000_000);
    let streams = oxeye_proto::otlp::convert_logs(req, now_ns);
    let outcome =
        ingest_streams(state, stores, "otlp", tenant, streams).map_err(IngestError::into_api)?;
    if outcome.messages.is_empty() {
        return Ok(ExportLogsServiceResponse {
            partial_success: None,
        });
    }
    let message = validate::rejection_body(&outcome.messages)
        .trim_end()
        .to_string();
    if outcome.accepted == 0 {
        return Err(ApiError::BadRequest(message));
    }
    Ok(ExportLogsServiceResponse {
        partial_success: Some(ExportLogsPartialSuccess {
            rejected_log_records: i64::try_from(outcome.rejected).unwrap_or(i64::MAX),
            error_message: message,
        }),
    })
}

/// Converts and stores one OTLP logs request for `tenant`; returns the response to send.
pub async fn ingest_otlp(
    state: &Arc<ServerState>,
    tenant: TenantId,
    req: ExportLogsServiceRequest,
) -> Result<ExportLogsServiceResponse, ApiError> {
    let stores = state.log_stores()?.clone();
    let state = state.clone();
    blocking(move || convert_and_store(&state, &stores, &tenant, req)).await
}

/// `POST /v1/logs`
pub async fn http_logs(
    State(state): State<Arc<ServerState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(enc) = encoding_of(&headers) else {
        return unsupported_media_type(&headers);
    };
    let result = async {
        let tenant = state.tenant_from_header(headers.get(TENANT_HEADER).map(|v| v.as_bytes()))?;
        let stores = state.log_stores()?.clone();
        let raw = read_body(&headers, body, state.limits.max_request_bytes).await?;
        let encoding = header_string(&headers, header::CONTENT_ENCODING);
        let ct = header_string(&headers, header::CONTENT_TYPE);
        let max = state.limits.max_decoded_bytes;
        let state = state.clone();
        blocking(move || {
            let decoded = oxeye_proto::compression::decode_content(encoding.as_deref(), &raw, max)
                .map_err(proto_error)?;
            drop(raw);
            let req = oxeye_proto::otlp::decode_logs_request(ct.as_deref(), &decoded)
                .map_err(proto_error)?;
            drop(decoded);
            convert_and_store(&state, &stores, &tenant, req)
        })
        .await
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

/// The OTLP/gRPC logs service.
#[derive(Debug, Clone)]
pub struct OtlpLogsGrpc {
    state: Arc<ServerState>,
}

impl OtlpLogsGrpc {
    /// A service storing into `state`'s log store.
    pub fn new(state: Arc<ServerState>) -> Self {
        Self { state }
    }

    /// The tonic server for this service: gzip accepted and sent, message size limited.
    pub fn into_server(self) -> LogsServiceServer<Self> {
        let max = self.state.limits.max_decoded_bytes;
        LogsServiceServer::new(self)
            .accept_compressed(tonic::codec::CompressionEncoding::Gzip)
            .send_compressed(tonic::codec::CompressionEncoding::Gzip)
            .max_decoding_message_size(max)
    }
}

#[tonic::async_trait]
impl LogsService for OtlpLogsGrpc {
    async fn export(
        &self,
        request: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, tonic::Status> {
        grpc_export(
            &self.state,
            request,
            "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
            |state, tenant, req| async move { ingest_otlp(&state, tenant, req).await },
        )
        .await
    }
}
