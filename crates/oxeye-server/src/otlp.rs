//! OTLP metrics ingest over HTTP (`POST /v1/metrics`) and gRPC (`MetricsService/Export`),
//! and the gRPC server that also carries the trace service of [`crate::traces_ingest`].
//!
//! Both transports end in [`ingest`]: convert the request into a [`oxeye_core::WriteBatch`]
//! with the tenant's delta-to-cumulative state (points that cannot be converted are
//! counted as rejected, not failed), append it, and report a partial success. HTTP answers
//! in the request's encoding (protobuf or JSON); undecodable bodies get a 400 with a
//! `google.rpc.Status` body, retryable failures 429/503 with `Retry-After`. gRPC maps the
//! same error kinds to `InvalidArgument`, `ResourceExhausted` and `Unavailable`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use oxeye_core::TenantId;
use prost::Message;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::error::{ApiError, blocking};
use crate::state::{ServerState, TENANT_HEADER};
use crate::write::{append, proto_error, read_body};

/// `google.rpc.Status`, the error body of OTLP/HTTP.
#[derive(Clone, PartialEq, prost::Message, serde::Serialize)]
pub struct RpcStatus {
    /// A `google.rpc.Code`.
    #[prost(int32, tag = "1")]
    pub code: i32,
    /// What went wrong.
    #[prost(string, tag = "2")]
    pub message: String,
}

/// Converts and stores one request for `tenant`; returns the response to send.
pub async fn ingest(
    state: &Arc<ServerState>,
    tenant: TenantId,
    req: ExportMetricsServiceRequest,
) -> Result<ExportMetricsServiceResponse, ApiError> {
    let conv_state = state.clone();
    let conv_tenant = tenant.clone();
    let converted = blocking(move || {
        // the map lock is held only to find the tenant's state, so tenants convert in
        // parallel; one tenant's requests convert one at a time, as delta order requires
        let delta = conv_state
            .otlp_delta
            .lock()
            .entry(conv_tenant)
            .or_insert_with(|| {
                Arc::new(parking_lot::Mutex::new(oxeye_proto::otlp::DeltaState::new(
                    conv_state.limits.otlp_max_delta_series,
                )))
            })
            .clone();
        let mut delta = delta.lock();
        Ok(oxeye_proto::otlp::convert_metrics(&req, &mut delta))
    })
    .await?;
    let rejected = converted.rejected_points;
    let message = converted.error_message;
    if rejected > 0 {
        state
            .metrics()
            .rejected("otlp", "unconvertible", rejected as usize);
    }
    append(state, tenant, converted.batch, "otlp").await?;
    let partial_success =
        (rejected > 0 || !message.is_empty()).then_some(ExportMetricsPartialSuccess {
            rejected_data_points: rejected as i64,
            error_message: message,
        });
    Ok(ExportMetricsServiceResponse { partial_success })
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    Protobuf,
    Json,
}

pub(crate) fn encoding_of(headers: &HeaderMap) -> Option<Encoding> {
    let ct = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let media = ct.split(';').next()?.trim().to_ascii_lowercase();
    match media.as_str() {
        "application/x-protobuf" | "application/protobuf" => Some(Encoding::Protobuf),
        "application/json" => Some(Encoding::Json),
        _ => None,
    }
}

pub(crate) fn encode<M: Message + serde::Serialize>(
    enc: Encoding,
    status: StatusCode,
    msg: &M,
) -> Response {
    let (ct, body) = match enc {
        Encoding::Protobuf => ("application/x-protobuf", msg.encode_to_vec()),
        Encoding::Json => (
            "application/json",
            serde_json::to_vec(msg).unwrap_or_else(|_| b"{}".to_vec()),
        ),
    };
    (status, [(header::CONTENT_TYPE, ct)], body).into_response()
}

pub(crate) fn error_response(enc: Encoding, e: ApiError) -> Response {
    let status = e.http_status();
    let code = match e.status_code() {
        oxeye_core::StatusCode::BadData => 3,       // INVALID_ARGUMENT
        oxeye_core::StatusCode::TooLarge => 3,      // INVALID_ARGUMENT
        oxeye_core::StatusCode::LimitExceeded => 8, // RESOURCE_EXHAUSTED
        oxeye_core::StatusCode::NotFound => 5,
        oxeye_core::StatusCode::Timeout => 4,
        oxeye_core::StatusCode::Unavailable => 14,
        oxeye_core::StatusCode::Internal => 13,
    };
    if status.is_server_error() {
        tracing::warn!(error = %e, "otlp request failed");
    }
    let mut resp = encode(
        enc,
        status,
        &RpcStatus {
            code,
            message: e.to_string(),
        },
    );
    if matches!(status.as_u16(), 429 | 503) {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    }
    resp
}

/// The 415 of an OTLP/HTTP body in neither protobuf nor JSON, as a JSON `google.rpc.Status`.
pub(crate) fn unsupported_media_type(headers: &HeaderMap) -> Response {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    error_response(
        Encoding::Json,
        ApiError::UnsupportedMediaType(format!(
            "unsupported content type {ct:?}: use application/x-protobuf or application/json"
        )),
    )
}

/// `POST /v1/metrics`
pub async fn http_metrics(
    State(state): State<Arc<ServerState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(enc) = encoding_of(&headers) else {
        return unsupported_media_type(&headers);
    };
    let result = async {
        let tenant = state.tenant_from_header(headers.get(TENANT_HEADER).map(|v| v.as_bytes()))?;
        let raw = read_body(&headers, body, state.limits.max_request_bytes).await?;
        let encoding = headers
            .get(header::CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let ct = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let max = state.limits.max_decoded_bytes;
        let req = blocking(move || {
            let decoded = oxeye_proto::compression::decode_content(encoding.as_deref(), &raw, max)
                .map_err(proto_error)?;
            oxeye_proto::otlp::decode_metrics_request(ct.as_deref(), &decoded).map_err(proto_error)
        })
        .await?;
        ingest(&state, tenant, req).await
    }
    .await;
    match result {
        Ok(resp) => encode(enc, StatusCode::OK, &resp),
        Err(e) => error_response(enc, e),
    }
}

/// The gRPC service.
#[derive(Debug, Clone)]
pub struct OtlpGrpc {
    state: Arc<ServerState>,
}

impl OtlpGrpc {
    /// A service storing into `state`'s appender.
    pub fn new(state: Arc<ServerState>) -> Self {
        Self { state }
    }

    /// The tonic server for this service: gzip accepted and sent, message size limited.
    pub fn into_server(self) -> MetricsServiceServer<Self> {
        let max = self.state.limits.max_decoded_bytes;
        MetricsServiceServer::new(self)
            .accept_compressed(tonic::codec::CompressionEncoding::Gzip)
            .send_compressed(tonic::codec::CompressionEncoding::Gzip)
            .max_decoding_message_size(max)
    }
}

/// Maps an error to the gRPC status OTLP prescribes.
/// The gRPC status of `e` without details.
fn base_grpc_status(e: &ApiError) -> tonic::Status {
    let msg = e.to_string();
    match e.status_code() {
        oxeye_core::StatusCode::BadData | oxeye_core::StatusCode::TooLarge => {
            tonic::Status::invalid_argument(msg)
        }
        oxeye_core::StatusCode::LimitExceeded => tonic::Status::resource_exhausted(msg),
        oxeye_core::StatusCode::Unavailable | oxeye_core::StatusCode::Timeout => {
            tonic::Status::unavailable(msg)
        }
        oxeye_core::StatusCode::NotFound => tonic::Status::not_found(msg),
        oxeye_core::StatusCode::Internal => tonic::Status::internal(msg),
    }
}

/// `google.protobuf.Duration`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ProtoDuration {
    /// Whole seconds.
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    /// Nanoseconds past the seconds.
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

/// `google.rpc.RetryInfo`: how long a client should wait before retrying.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RetryInfo {
    /// The delay.
    #[prost(message, optional, tag = "1")]
    pub retry_delay: Option<ProtoDuration>,
}

/// `google.protobuf.Any`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ProtoAny {
    /// The type of `value`.
    #[prost(string, tag = "1")]
    pub type_url: String,
    /// The encoded message.
    #[prost(bytes = "vec", tag = "2")]
    pub value: Vec<u8>,
}

/// `google.rpc.Status` with details, what gRPC carries in `grpc-status-details-bin`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RpcStatusDetails {
    /// A `google.rpc.Code`.
    #[prost(int32, tag = "1")]
    pub code: i32,
    /// What went wrong.
    #[prost(string, tag = "2")]
    pub message: String,
    /// Typed details.
    #[prost(message, repeated, tag = "3")]
    pub details: Vec<ProtoAny>,
}

/// The `type_url` of [`RetryInfo`].
pub const RETRY_INFO_TYPE: &str = "type.googleapis.com/google.rpc.RetryInfo";

/// Seconds a client is asked to wait before retrying, as HTTP's `Retry-After` says.
const RETRY_AFTER_SECS: i64 = 5;

/// The gRPC status of `e`; `RESOURCE_EXHAUSTED` and `UNAVAILABLE` carry a `RetryInfo`, as
/// OTLP requires for a client to retry a `RESOURCE_EXHAUSTED`.
pub fn grpc_status(e: &ApiError) -> tonic::Status {
    let status = base_grpc_status(e);
    if !matches!(
        status.code(),
        tonic::Code::ResourceExhausted | tonic::Code::Unavailable
    ) {
        return status;
    }
    let retry = RetryInfo {
        retry_delay: Some(ProtoDuration {
            seconds: RETRY_AFTER_SECS,
            nanos: 0,
        }),
    };
    let details = RpcStatusDetails {
        code: status.code() as i32,
        message: status.message().to_string(),
        details: vec![ProtoAny {
            type_url: RETRY_INFO_TYPE.to_string(),
            value: retry.encode_to_vec(),
        }],
    };
    tonic::Status::with_details(
        status.code(),
        status.message(),
        details.encode_to_vec().into(),
    )
}

/// One OTLP gRPC export of any signal: the tenant from `x-scope-orgid`, `ingest`, the
/// request recorded in the self metrics under `path`, errors as gRPC statuses.
pub(crate) async fn grpc_export<Req, Resp, F, Fut>(
    state: &Arc<ServerState>,
    request: tonic::Request<Req>,
    path: &'static str,
    ingest: F,
) -> Result<tonic::Response<Resp>, tonic::Status>
where
    F: FnOnce(Arc<ServerState>, TenantId, Req) -> Fut,
    Fut: std::future::Future<Output = Result<Resp, ApiError>>,
{
    let tenant = state
        .tenant_from_header(request.metadata().get(TENANT_HEADER).map(|v| v.as_bytes()))
        .map_err(|e| grpc_status(&e))?;
    let started = std::time::Instant::now();
    let result = ingest(state.clone(), tenant, request.into_inner()).await;
    let code = match &result {
        Ok(_) => 200,
        Err(e) => e.http_status().as_u16(),
    };
    state
        .metrics()
        .observe_request(path, code, started.elapsed().as_secs_f64());
    result
        .map(tonic::Response::new)
        .map_err(|e| grpc_status(&e))
}

#[tonic::async_trait]
impl MetricsService for OtlpGrpc {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        grpc_export(
            &self.state,
            request,
            "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
            |state, tenant, req| async move { ingest(&state, tenant, req).await },
        )
        .await
    }
}

/// Serves OTLP/gRPC on `listener` until `shutdown` is cancelled.
pub async fn serve_grpc(
    state: Arc<ServerState>,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    tonic::transport::Server::builder()
        .add_service(OtlpGrpc::new(state.clone()).into_server())
        .add_service(crate::traces_ingest::OtlpTraceGrpc::new(state.clone()).into_server())
        .add_service(crate::logs_ingest::OtlpLogsGrpc::new(state).into_server())
        .serve_with_incoming_shutdown(incoming, shutdown.cancelled_owned())
        .await
        .map_err(std::io::Error::other)
}
