//! OTLP traces over HTTP (protobuf, JSON, gzip) against the in-memory trace store.

use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use oxeye_core::trace::{
    SpanAppendStats, SpanAppender, SpanKind, SpanStatusCode, TraceBatch, TraceQueryable,
};
use oxeye_core::trace_mem::MemTraceStore;
use oxeye_core::{StoreError, TenantId};
use parking_lot::Mutex;
use prost::Message;

use super::*;
use crate::state::TraceStores;

/// What the observer saw: (tenant, spans in the batch).
pub(crate) type Seen = Arc<Mutex<Vec<(String, usize)>>>;

/// A server over a fresh in-memory metrics store and `traces`, recording what the span
/// observer is shown.
pub(crate) fn trace_state(traces: Arc<dyn SpanAppender>) -> (Arc<ServerState>, Seen) {
    let seen: Seen = Arc::default();
    let seen2 = seen.clone();
    let metrics = MemStore::new();
    let stores = TraceStores {
        appender: traces,
        queryable: Arc::new(MemTraceStore::new()),
        observer: Some(Arc::new(move |t: &TenantId, b: &TraceBatch| {
            seen2.lock().push((t.as_str().to_string(), b.span_count()));
        })),
    };
    let s = ServerState::builder(metrics.clone(), metrics)
        .traces(stores)
        .build();
    s.set_ready(true);
    (s, seen)
}

pub(crate) fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        }),
        ..Default::default()
    }
}

pub(crate) fn span(trace: u8, id: u8, name: &str) -> Span {
    Span {
        trace_id: vec![trace; 16],
        span_id: vec![id; 8],
        name: name.into(),
        kind: 2,
        start_time_unix_nano: 1_700_000_000_000_000_000,
        end_time_unix_nano: 1_700_000_000_250_000_000,
        attributes: vec![kv("http.route", "/cart")],
        status: Some(Status {
            message: "boom".into(),
            code: 2,
        }),
        ..Default::default()
    }
}

pub(crate) fn request(service: &str, spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv("service.name", service)],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn post(body: Vec<u8>, ct: &str) -> Request<Body> {
    Request::post("/v1/traces")
        .header("content-type", ct)
        .body(Body::from(body))
        .unwrap()
}

fn tenant(t: &str) -> TenantId {
    TenantId::new(t).unwrap()
}

#[tokio::test]
async fn protobuf_and_json_store_spans_per_tenant() {
    let store = Arc::new(MemTraceStore::new());
    let (s, seen) = trace_state(store.clone());
    let req = request("checkout", vec![span(1, 1, "GET /cart")]);
    let (code, body, resp) = send(&s, post(req.encode_to_vec(), "application/x-protobuf")).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(resp.headers()["content-type"], "application/x-protobuf");
    let decoded = ExportTraceServiceResponse::decode(body.as_bytes()).unwrap();
    assert_eq!(decoded.partial_success, None);

    let req = request("cart", vec![span(2, 1, "POST /items")]);
    let mut r = post(serde_json::to_vec(&req).unwrap(), "application/json");
    r.headers_mut()
        .insert("X-Scope-OrgID", "team-a".parse().unwrap());
    let (code, body, resp) = send(&s, r).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(resp.headers()["content-type"], "application/json");
    assert_eq!(json(&body), serde_json::json!({}));

    let t = store
        .trace_by_id(&tenant("anonymous"), &[1; 16], None)
        .unwrap()
        .expect("stored for the default tenant");
    let (res, _, sp) = t.spans().next().unwrap();
    assert_eq!(res.service_name(), Some("checkout"));
    assert_eq!(sp.name, "GET /cart");
    assert_eq!(sp.kind, SpanKind::Server);
    assert_eq!(sp.status_code, SpanStatusCode::Error);
    assert_eq!(sp.status_message, "boom");
    assert_eq!(sp.duration_nanos(), 250_000_000);
    // tenants are apart
    assert!(
        store
            .trace_by_id(&tenant("anonymous"), &[2; 16], None)
            .unwrap()
            .is_none()
    );
    let t = store
        .trace_by_id(&tenant("team-a"), &[2; 16], None)
        .unwrap()
        .expect("stored for team-a");
    assert_eq!(t.resource_spans[0].resource.service_name(), Some("cart"));
    assert_eq!(
        *seen.lock(),
        vec![("anonymous".to_string(), 1), ("team-a".to_string(), 1)]
    );
}

#[tokio::test]
async fn hand_written_otlp_json_is_accepted() {
    let store = Arc::new(MemTraceStore::new());
    let (s, _) = trace_state(store.clone());
    let body = r#"{"resourceSpans":[{"resource":{"attributes":[
      {"key":"service.name","value":{"stringValue":"curl"}}]},
      "scopeSpans":[{"spans":[{"traceId":"0102030405060708090a0b0c0d0e0f10",
        "spanId":"0102030405060708","name":"hand","kind":3,
        "startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000001000000000"}]}]}]}"#;
    let (code, body, _) = send(&s, post(body.into(), "application/json")).await;
    assert_eq!(code, 200, "{body}");
    let id: [u8; 16] = core::array::from_fn(|i| i as u8 + 1);
    let t = store
        .trace_by_id(&tenant("anonymous"), &id, None)
        .unwrap()
        .unwrap();
    let (_, _, sp) = t.spans().next().unwrap();
    assert_eq!(sp.kind, SpanKind::Client);
    assert_eq!(sp.name, "hand");
}

#[tokio::test]
async fn gzip_body() {
    use std::io::Write;
    let store = Arc::new(MemTraceStore::new());
    let (s, _) = trace_state(store.clone());
    let req = request("gz", vec![span(3, 1, "zipped")]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&req.encode_to_vec()).unwrap();
    let r = Request::post("/v1/traces")
        .header("content-type", "application/x-protobuf")
        .header("content-encoding", "gzip")
        .body(Body::from(gz.finish().unwrap()))
        .unwrap();
    let (code, body, _) = send(&s, r).await;
    assert_eq!(code, 200, "{body}");
    assert!(
        store
            .trace_by_id(&tenant("anonymous"), &[3; 16], None)
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn partial_success_names_rejected_spans() {
    let store = Arc::new(MemTraceStore::new());
    let (s, seen) = trace_state(store.clone());
    let bad = Span {
        span_id: vec![9; 7],
        ..span(4, 2, "broken-id")
    };
    let req = request("mixed", vec![span(4, 1, "fine"), bad]);
    let (code, body, _) = send(
        &s,
        post(serde_json::to_vec(&req).unwrap(), "application/json"),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    let v = json(&body);
    assert_eq!(v["partialSuccess"]["rejectedSpans"], 1, "{body}");
    let msg = v["partialSuccess"]["errorMessage"].as_str().unwrap();
    assert!(
        msg.contains("broken-id") && msg.contains("span id must be 8 bytes"),
        "{msg}"
    );
    let t = store
        .trace_by_id(&tenant("anonymous"), &[4; 16], None)
        .unwrap()
        .unwrap();
    assert_eq!(t.span_count(), 1);
    // the observer sees only what was stored
    assert_eq!(*seen.lock(), vec![("anonymous".to_string(), 1)]);
    // and the self metrics count both
    let (code, metrics) = get(&s, "/metrics").await;
    assert_eq!(code, 200);
    assert!(
        metrics.contains(r#"oxeye_spans_ingested_total{protocol="otlp"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"oxeye_spans_rejected_total{protocol="otlp",reason="invalid_id"} 1"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn malformed_too_large_and_unsupported() {
    let store = Arc::new(MemTraceStore::new());
    let (s, _) = trace_state(store.clone());
    let (code, body, _) = send(&s, post(b"{nope".to_vec(), "application/json")).await;
    assert_eq!(code, 400);
    let v = json(&body);
    assert_eq!(v["code"], 3);
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("json decode failed"),
        "{body}"
    );
    let (code, body, _) = send(&s, post(vec![0xff, 0xff, 0xff], "application/x-protobuf")).await;
    assert_eq!(code, 400);
    let status = crate::otlp::RpcStatus::decode(body.as_bytes()).unwrap();
    assert_eq!(status.code, 3);
    assert!(status.message.contains("protobuf decode failed"));
    let (code, body, _) = send(&s, post(vec![], "text/plain")).await;
    assert_eq!(code, 415, "{body}");
    // a bad tenant header
    let mut r = post(
        request("x", vec![span(5, 1, "a")]).encode_to_vec(),
        "application/x-protobuf",
    );
    r.headers_mut()
        .insert("X-Scope-OrgID", "a/b".parse().unwrap());
    let (code, _, _) = send(&s, r).await;
    assert_eq!(code, 400);
    // over the size limit
    let metrics = MemStore::new();
    let small = ServerState::builder(metrics.clone(), metrics)
        .limits(crate::Limits {
            max_request_bytes: 64,
            ..Default::default()
        })
        .traces(TraceStores {
            appender: store.clone(),
            queryable: store.clone(),
            observer: None,
        })
        .build();
    let big = request("big", (0..10).map(|i| span(6, i + 1, "s")).collect());
    let (code, body, _) = send(&small, post(big.encode_to_vec(), "application/x-protobuf")).await;
    assert_eq!(code, 413, "{body}");
    let status = crate::otlp::RpcStatus::decode(body.as_bytes()).unwrap();
    assert!(
        status.message.contains("exceeds the limit"),
        "{}",
        status.message
    );
    assert!(
        store
            .trace_by_id(&tenant("anonymous"), &[6; 16], None)
            .unwrap()
            .is_none()
    );
    // small on the wire, over the limit once decompressed
    use std::io::Write;
    let metrics = MemStore::new();
    let small_decoded = ServerState::builder(metrics.clone(), metrics)
        .limits(crate::Limits {
            max_decoded_bytes: 1024,
            ..Default::default()
        })
        .traces(TraceStores {
            appender: store.clone(),
            queryable: store.clone(),
            observer: None,
        })
        .build();
    let big = request("big", (0..50).map(|i| span(7, i + 1, "s")).collect());
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&serde_json::to_vec(&big).unwrap()).unwrap();
    let zipped = gz.finish().unwrap();
    assert!(zipped.len() < 1024);
    let r = Request::post("/v1/traces")
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(Body::from(zipped))
        .unwrap();
    let (code, body, _) = send(&small_decoded, r).await;
    assert_eq!(code, 413, "{body}");
    assert_eq!(json(&body)["code"], 3);
}

/// An appender that always fails with the error `make` builds.
pub(crate) struct Failing(pub fn() -> StoreError);

impl SpanAppender for Failing {
    fn append_spans(&self, _: &TenantId, _: TraceBatch) -> Result<SpanAppendStats, StoreError> {
        Err((self.0)())
    }
}

#[tokio::test]
async fn store_backpressure_is_retryable() {
    let (s, seen) = trace_state(Arc::new(Failing(|| {
        StoreError::LimitExceeded("trace ingest rate limit".into())
    })));
    let req = request("svc", vec![span(7, 1, "a")]);
    let (code, body, resp) = send(
        &s,
        post(serde_json::to_vec(&req).unwrap(), "application/json"),
    )
    .await;
    assert_eq!(code, 429, "{body}");
    assert!(resp.headers().contains_key("retry-after"));
    assert_eq!(json(&body)["code"], 8);
    let (s, _) = trace_state(Arc::new(Failing(|| {
        StoreError::Unavailable("store closing".into())
    })));
    let (code, body, resp) = send(&s, post(req.encode_to_vec(), "application/x-protobuf")).await;
    assert_eq!(code, 503, "{body}");
    assert!(resp.headers().contains_key("retry-after"));
    assert_eq!(
        crate::otlp::RpcStatus::decode(body.as_bytes())
            .unwrap()
            .code,
        14
    );
    // nothing was observed when nothing was stored
    assert!(seen.lock().is_empty());
}

#[tokio::test]
async fn no_trace_store_is_503() {
    let metrics = MemStore::new();
    let s = state_with(metrics);
    let req = request("svc", vec![span(8, 1, "a")]);
    let (code, body, resp) = send(&s, post(req.encode_to_vec(), "application/x-protobuf")).await;
    assert_eq!(code, 503, "{body}");
    assert!(resp.headers().contains_key("retry-after"));
    let status = crate::otlp::RpcStatus::decode(body.as_bytes()).unwrap();
    assert!(status.message.contains("trace storage is not enabled"));
}
