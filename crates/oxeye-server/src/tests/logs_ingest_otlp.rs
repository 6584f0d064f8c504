//! OTLP logs over HTTP (protobuf, JSON, gzip) and gRPC against the in-memory log store.

use std::io::Write;
use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use oxeye_core::StoreError;
use oxeye_core::logs_mem::MemLogStore;
use oxeye_proto::otlp::{ExportLogsServiceRequest, ExportLogsServiceResponse};
use prost::Message;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::logs_ingest_loki::{FailingLogs, NOW_NS, log_state, log_state_with, stored};
use super::*;
use crate::logs_ingest::LogIngestLimits;

fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        }),
        ..Default::default()
    }
}

fn record(offset_ns: i64, body: &str) -> LogRecord {
    LogRecord {
        time_unix_nano: (NOW_NS + offset_ns) as u64,
        severity_number: 17,
        severity_text: "ERROR".into(),
        body: Some(AnyValue {
            value: Some(any_value::Value::StringValue(body.into())),
        }),
        attributes: vec![kv("http.status_code", "500")],
        trace_id: vec![0x11; 16],
        span_id: vec![0x22; 8],
        ..Default::default()
    }
}

fn logs_request(service: &str, records: Vec<LogRecord>) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![
                    kv("service.name", service),
                    kv("k8s.namespace.name", "shop"),
                    kv("host.name", "node-7"),
                ],
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                log_records: records,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn post(body: Vec<u8>, ct: &str, encoding: Option<&str>) -> Request<Body> {
    let mut b = Request::post("/v1/logs")
        .header("content-type", ct)
        .header("x-scope-orgid", "otel");
    if let Some(e) = encoding {
        b = b.header("content-encoding", e);
    }
    b.body(Body::from(body)).unwrap()
}

const STREAM: &str = r#"{k8s_namespace_name="shop", service_name="checkout"}"#;

#[tokio::test]
async fn protobuf_export_is_stored_with_loki_labels_and_metadata() {
    let (s, store, _) = log_state(LogIngestLimits::default());
    let req = logs_request("checkout", vec![record(1, "payment failed")]);
    let (code, body, resp) = send(
        &s,
        post(req.encode_to_vec(), "application/x-protobuf", None),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(resp.headers()["content-type"], "application/x-protobuf");
    let decoded = ExportLogsServiceResponse::decode(body.as_bytes()).unwrap();
    assert_eq!(decoded.partial_success, None);
    let got = stored(&store, "otel");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, STREAM);
    let e = &got[0].1[0];
    assert_eq!(e.ts_ns, NOW_NS + 1);
    assert_eq!(e.line, "payment failed");
    assert_eq!(
        e.metadata_value("trace_id"),
        Some("11111111111111111111111111111111")
    );
    assert_eq!(e.metadata_value("span_id"), Some("2222222222222222"));
    assert_eq!(e.metadata_value("severity_text"), Some("ERROR"));
    assert_eq!(e.metadata_value("severity_number"), Some("17"));
    assert_eq!(e.metadata_value("http_status_code"), Some("500"));
    assert_eq!(e.metadata_value("host_name"), Some("node-7"));
}

#[tokio::test]
async fn json_and_gzip_exports_are_stored() {
    let (s, store, _) = log_state(LogIngestLimits::default());
    let req = logs_request("checkout", vec![record(1, "json one")]);
    let (code, body, _) = send(
        &s,
        post(serde_json::to_vec(&req).unwrap(), "application/json", None),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body, "{}");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&logs_request("checkout", vec![record(2, "gzip two")]).encode_to_vec())
        .unwrap();
    let (code, body, _) = send(
        &s,
        post(gz.finish().unwrap(), "application/x-protobuf", Some("gzip")),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    // Loki's OTLP path
    let req = logs_request("checkout", vec![record(3, "loki path")]);
    let r = Request::post("/otlp/v1/logs")
        .header("content-type", "application/x-protobuf")
        .header("x-scope-orgid", "otel")
        .body(Body::from(req.encode_to_vec()))
        .unwrap();
    let (code, body, _) = send(&s, r).await;
    assert_eq!(code, 200, "{body}");
    let got = stored(&store, "otel");
    let lines: Vec<&str> = got[0].1.iter().map(|e| e.line.as_str()).collect();
    assert_eq!(lines, ["json one", "gzip two", "loki path"]);
    let (_, metrics) = get(&s, "/metrics").await;
    assert!(
        metrics.contains(r#"oxeye_log_lines_ingested_total{protocol="otlp"} 3"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn partly_invalid_exports_answer_a_partial_success_and_wholly_invalid_a_400() {
    let (s, store, _) = log_state(LogIngestLimits::default());
    let req = logs_request(
        "checkout",
        vec![
            record(1, "fine"),
            LogRecord {
                time_unix_nano: 1,
                ..record(0, "ancient")
            },
        ],
    );
    let (code, body, _) = send(
        &s,
        post(serde_json::to_vec(&req).unwrap(), "application/json", None),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    let v = json(&body);
    assert_eq!(v["partialSuccess"]["rejectedLogRecords"], 1, "{body}");
    let msg = v["partialSuccess"]["errorMessage"].as_str().unwrap();
    assert!(
        msg.contains("has timestamp too old: 1970-01-01T00:00:00Z"),
        "{msg}"
    );
    assert_eq!(stored(&store, "otel")[0].1.len(), 1);

    let old = logs_request(
        "checkout",
        vec![LogRecord {
            time_unix_nano: 1,
            ..record(0, "ancient")
        }],
    );
    let (code, body, _) = send(
        &s,
        post(serde_json::to_vec(&old).unwrap(), "application/json", None),
    )
    .await;
    assert_eq!(code, 400, "{body}");
    let status = json(&body);
    assert_eq!(status["code"], 3);
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .contains("timestamp too old"),
        "{body}"
    );
}

#[tokio::test]
async fn unsupported_media_type_and_bad_bodies() {
    let (s, _, _) = log_state(LogIngestLimits::default());
    let (code, _, _) = send(&s, post(b"x".to_vec(), "text/plain", None)).await;
    assert_eq!(code, 415);
    let (code, body, _) = send(
        &s,
        post(b"\xff\xff".to_vec(), "application/x-protobuf", None),
    )
    .await;
    assert_eq!(code, 400, "{body}");
    let (code, body, _) = send(&s, post(b"{".to_vec(), "application/json", None)).await;
    assert_eq!(code, 400, "{body}");
}

#[tokio::test]
async fn store_back_pressure_over_http_is_retryable() {
    let (s, _) = log_state_with(
        Arc::new(FailingLogs(|| StoreError::Unavailable("closing".into()))),
        Arc::new(MemLogStore::new()),
        LogIngestLimits::default(),
    );
    let req = logs_request("checkout", vec![record(1, "x")]);
    let (code, body, resp) = send(
        &s,
        post(req.encode_to_vec(), "application/x-protobuf", None),
    )
    .await;
    assert_eq!(code, 503, "{body}");
    assert!(resp.headers().contains_key("retry-after"));
}

async fn serve_grpc(
    state: Arc<ServerState>,
) -> (
    LogsServiceClient<tonic::transport::Channel>,
    CancellationToken,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let token = CancellationToken::new();
    tokio::spawn(crate::otlp::serve_grpc(state, listener, token.clone()));
    let client = LogsServiceClient::connect(format!("http://{addr}"))
        .await
        .unwrap()
        .send_compressed(tonic::codec::CompressionEncoding::Gzip)
        .accept_compressed(tonic::codec::CompressionEncoding::Gzip);
    (client, token)
}

#[tokio::test]
async fn grpc_export_stores_for_the_metadata_tenant() {
    let (s, store, _) = log_state(LogIngestLimits::default());
    let (mut client, token) = serve_grpc(s).await;
    let mut req = tonic::Request::new(logs_request("checkout", vec![record(1, "over grpc")]));
    req.metadata_mut()
        .insert("x-scope-orgid", "grpc-team".parse().unwrap());
    let resp = client.export(req).await.unwrap().into_inner();
    assert_eq!(resp.partial_success, None);
    let got = stored(&store, "grpc-team");
    assert_eq!(got[0].0, STREAM);
    assert_eq!(got[0].1[0].line, "over grpc");
    assert!(stored(&store, "anonymous").is_empty());
    token.cancel();
}

#[tokio::test]
async fn grpc_rate_limit_is_resource_exhausted_with_retry_info() {
    let (s, store, _) = log_state(LogIngestLimits {
        ingestion_rate_bytes: 10.0,
        ingestion_burst_bytes: 10.0,
        ..LogIngestLimits::default()
    });
    let (mut client, token) = serve_grpc(s).await;
    let err = client
        .export(logs_request(
            "checkout",
            vec![record(1, "a line longer than the burst")],
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::ResourceExhausted);
    assert!(
        err.message().contains("Ingestion rate limit exceeded"),
        "{}",
        err.message()
    );
    let details = crate::otlp::RpcStatusDetails::decode(err.details()).unwrap();
    assert_eq!(details.details[0].type_url, crate::otlp::RETRY_INFO_TYPE);
    assert!(stored(&store, "anonymous").is_empty());
    token.cancel();
}

/// The text the store answers a push over its per-tenant stream limit with.
const STREAM_LIMIT: &str = "Maximum active stream limit exceeded when trying to create stream {app=\"a\"}, reduce the number of active streams (reduce labels or reduce label values), or contact your Loki administrator to see if the limit can be increased, user: 'anonymous'";

fn stream_limit() -> StoreError {
    StoreError::LimitExceeded(STREAM_LIMIT.into())
}

#[tokio::test]
async fn store_stream_limit_is_429_with_the_store_text_on_every_protocol() {
    let (s, _) = log_state_with(
        Arc::new(FailingLogs(stream_limit)),
        Arc::new(MemLogStore::new()),
        LogIngestLimits::default(),
    );
    let push = oxeye_proto::loki::encode_push(&[(
        vec![("app".to_string(), "a".to_string())],
        vec![oxeye_core::logs::LogEntry::new(NOW_NS + 1, "x")],
    )]);
    let req = Request::post("/loki/api/v1/push")
        .header("content-type", "application/x-protobuf")
        .body(Body::from(push))
        .unwrap();
    let (code, body, resp) = send(&s, req).await;
    assert_eq!(code, 429, "{body}");
    assert_eq!(body.trim_end(), STREAM_LIMIT);
    assert!(resp.headers().contains_key("retry-after"));
    let (_, metrics) = get(&s, "/metrics").await;
    assert!(
        metrics.contains(r#"oxeye_log_lines_rejected_total{protocol="loki",reason="limit"} 1"#),
        "{metrics}"
    );

    let req = logs_request("checkout", vec![record(1, "x")]);
    let (code, body, resp) = send(
        &s,
        post(req.encode_to_vec(), "application/x-protobuf", None),
    )
    .await;
    assert_eq!(code, 429, "{body}");
    assert!(resp.headers().contains_key("retry-after"));
    let (mut client, token) = serve_grpc(s).await;
    let err = client
        .export(logs_request("checkout", vec![record(1, "x")]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::ResourceExhausted);
    assert_eq!(err.message(), STREAM_LIMIT);
    token.cancel();
}
