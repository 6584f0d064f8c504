//! Request bodies recorded from the OpenTelemetry Python SDK's OTLP/HTTP exporters
//! (`opentelemetry-exporter-otlp-proto-http` 1.45 with gzip, and
//! `opentelemetry-exporter-otlp-json-http` 0.66b1): a SERVER root span with a CLIENT child
//! (an event, an error status) and a PRODUCER child linking to the CLIENT span.

use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use oxeye_core::TenantId;
use oxeye_core::trace::{AnyValue, SpanKind, SpanStatusCode, TraceQueryable, attr};
use oxeye_core::trace_mem::MemTraceStore;

use super::traces_ingest_http::trace_state;
use super::*;

const PROTOBUF_GZIP: &[u8] = include_bytes!("traces_ingest_python_sdk.pb.gz");
const JSON: &str = include_str!("traces_ingest_python_sdk.json");

fn id<const N: usize>(hex: &str) -> [u8; N] {
    core::array::from_fn(|i| u8::from_str_radix(&hex[i * 2..i * 2 + 2], 16).unwrap())
}

/// The three spans' ids as the exporter generated them.
struct Ids {
    trace: &'static str,
    root: &'static str,
    client: &'static str,
}

#[tokio::test]
async fn python_sdk_protobuf_export_round_trips() {
    let r = Request::post("/v1/traces")
        .header("content-type", "application/x-protobuf")
        .header("content-encoding", "gzip")
        .header("user-agent", "OTel-OTLP-Exporter-Python/1.45.2")
        .body(Body::from(PROTOBUF_GZIP))
        .unwrap();
    let ids = Ids {
        trace: "398d05a4f5f69815cca43cb164dd0901",
        root: "c0c70a4962e83d3e",
        client: "2c855d9f1702b0f0",
    };
    round_trip(r, ids).await;
}

#[tokio::test]
async fn python_sdk_json_export_round_trips() {
    let r = Request::post("/v1/traces")
        .header("content-type", "application/json")
        .header("user-agent", "OTel-OTLP-JSON-Exporter-Python/0.66b1")
        .body(Body::from(JSON))
        .unwrap();
    let ids = Ids {
        trace: "7a5b4c6af0d6b7fb4f9d98cdf7823fb9",
        root: "228fc56360d98e8f",
        client: "3cbde934e36d9432",
    };
    round_trip(r, ids).await;
}

async fn round_trip(r: Request<Body>, ids: Ids) {
    let store = Arc::new(MemTraceStore::new());
    let (s, seen) = trace_state(store.clone());
    let (code, body, _) = send(&s, r).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(*seen.lock(), vec![("anonymous".to_string(), 3)]);

    let trace_id = id::<16>(ids.trace);
    let t = store
        .trace_by_id(&TenantId::new("anonymous").unwrap(), &trace_id, None)
        .unwrap()
        .expect("the trace is stored");
    assert_eq!(t.span_count(), 3);
    let (res, scope, root) = t
        .spans()
        .find(|(_, _, s)| s.name == "GET /checkout")
        .unwrap();
    assert_eq!(res.service_name(), Some("py-shop"));
    assert_eq!(
        attr(&res.attributes, "deployment.environment").and_then(AnyValue::as_str),
        Some("test")
    );
    assert_eq!(scope.name, "shop.checkout");
    assert_eq!(scope.version, "1.4.2");
    assert!(root.is_root());
    assert_eq!(root.span_id, id::<8>(ids.root));
    assert_eq!(root.flags, 256);
    assert_eq!(root.kind, SpanKind::Server);
    assert_eq!(root.status_code, SpanStatusCode::Ok);
    assert!(root.end_unix_nano > root.start_unix_nano);
    assert_eq!(
        attr(&root.attributes, "http.status_code"),
        Some(&AnyValue::Int(500))
    );
    assert_eq!(
        attr(&root.attributes, "ratio"),
        Some(&AnyValue::Double(0.25))
    );
    assert_eq!(
        attr(&root.attributes, "cached"),
        Some(&AnyValue::Bool(true))
    );
    assert_eq!(
        attr(&root.attributes, "tags"),
        Some(&AnyValue::Array(vec![
            AnyValue::String("a".into()),
            AnyValue::String("b".into())
        ]))
    );

    let (_, _, client) = t.spans().find(|(_, _, s)| s.name == "charge card").unwrap();
    assert_eq!(client.span_id, id::<8>(ids.client));
    assert_eq!(client.parent_span_id, root.span_id);
    assert_eq!(client.kind, SpanKind::Client);
    assert_eq!(client.status_code, SpanStatusCode::Error);
    assert_eq!(client.status_message, "card declined");
    assert_eq!(client.events.len(), 1);
    assert_eq!(client.events[0].name, "retry");
    assert!(client.events[0].time_unix_nano >= client.start_unix_nano);
    assert_eq!(
        attr(&client.events[0].attributes, "attempt"),
        Some(&AnyValue::Int(2))
    );

    let (_, _, producer) = t
        .spans()
        .find(|(_, _, s)| s.name == "publish order")
        .unwrap();
    assert_eq!(producer.kind, SpanKind::Producer);
    assert_eq!(producer.parent_span_id, root.span_id);
    assert_eq!(producer.links.len(), 1);
    assert_eq!(producer.links[0].trace_id, trace_id);
    assert_eq!(producer.links[0].span_id, client.span_id);
    assert_eq!(
        attr(&producer.links[0].attributes, "why").and_then(AnyValue::as_str),
        Some("caused-by")
    );
}
