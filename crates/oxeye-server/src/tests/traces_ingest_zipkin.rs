//! Zipkin v2 JSON (`POST /api/v2/spans`) against the in-memory trace store.

use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use oxeye_core::TenantId;
use oxeye_core::trace::{SpanKind, SpanStatusCode, TraceQueryable};
use oxeye_core::trace_mem::MemTraceStore;

use super::traces_ingest_http::trace_state;
use super::*;

const SPANS: &str = r#"[
  {"traceId":"d269b633813fc60c","id":"0000000000000001","name":"get /cart","kind":"SERVER",
   "timestamp":1700000000000000,"duration":1500,
   "localEndpoint":{"serviceName":"cart","ipv4":"10.0.0.1","port":8080},
   "tags":{"http.method":"GET","error":"true"}},
  {"traceId":"d269b633813fc60c","id":"0000000000000002","parentId":"0000000000000001",
   "name":"select","kind":"CLIENT","timestamp":1700000000000100,"duration":700,
   "localEndpoint":{"serviceName":"cart"},"remoteEndpoint":{"serviceName":"postgres"},
   "annotations":[{"timestamp":1700000000000200,"value":"query sent"}]}
]"#;

fn post(body: &str) -> Request<Body> {
    Request::post("/api/v2/spans")
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

#[tokio::test]
async fn spans_are_accepted_with_202_and_stored() {
    let store = Arc::new(MemTraceStore::new());
    let (s, seen) = trace_state(store.clone());
    let mut r = post(SPANS);
    r.headers_mut()
        .insert("X-Scope-OrgID", "zipkin-team".parse().unwrap());
    let (code, body, _) = send(&s, r).await;
    assert_eq!(code, 202, "{body}");
    assert!(body.is_empty(), "{body}");

    let mut id = [0u8; 16];
    id[8..].copy_from_slice(&[0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f, 0xc6, 0x0c]);
    let t = store
        .trace_by_id(&TenantId::new("zipkin-team").unwrap(), &id, None)
        .unwrap()
        .expect("stored under the left-padded 128-bit id");
    assert_eq!(t.span_count(), 2);
    let mut spans: Vec<_> = t.spans().map(|(r, _, s)| (r.clone(), s.clone())).collect();
    spans.sort_by_key(|(_, s)| s.span_id);
    let (res, server) = &spans[0];
    assert_eq!(res.service_name(), Some("cart"));
    assert_eq!(server.kind, SpanKind::Server);
    assert_eq!(server.status_code, SpanStatusCode::Error);
    assert_eq!(server.duration_nanos(), 1_500_000);
    let (_, client) = &spans[1];
    assert_eq!(client.kind, SpanKind::Client);
    assert_eq!(client.parent_span_id, server.span_id);
    assert_eq!(client.events[0].name, "query sent");
    assert_eq!(*seen.lock(), vec![("zipkin-team".to_string(), 2)]);
    // other tenants see nothing
    assert!(
        store
            .trace_by_id(&TenantId::new("anonymous").unwrap(), &id, None)
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn gzip_and_no_content_type() {
    use std::io::Write;
    let store = Arc::new(MemTraceStore::new());
    let (s, _) = trace_state(store.clone());
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(SPANS.as_bytes()).unwrap();
    let r = Request::post("/api/v2/spans")
        .header("content-encoding", "gzip")
        .body(Body::from(gz.finish().unwrap()))
        .unwrap();
    let (code, body, _) = send(&s, r).await;
    assert_eq!(code, 202, "{body}");
    let ops = store
        .operations(
            &TenantId::new("anonymous").unwrap(),
            Some("cart"),
            0,
            u64::MAX,
        )
        .unwrap();
    assert_eq!(ops.len(), 2);
}

#[tokio::test]
async fn bad_json_is_400_with_a_message() {
    let store = Arc::new(MemTraceStore::new());
    let (s, seen) = trace_state(store);
    let (code, body, _) = send(&s, post("[{\"traceId\":")).await;
    assert_eq!(code, 400);
    assert!(body.contains("json decode failed"), "{body}");
    let (code, body, _) = send(&s, post(r#"[{"traceId":"xyz","id":"01"}]"#)).await;
    assert_eq!(code, 400);
    assert!(body.contains("span 0: traceId \"xyz\""), "{body}");
    let r = Request::post("/api/v2/spans")
        .header("content-type", "application/x-thrift")
        .body(Body::from("x"))
        .unwrap();
    let (code, _, _) = send(&s, r).await;
    assert_eq!(code, 415);
    assert!(seen.lock().is_empty());
}
