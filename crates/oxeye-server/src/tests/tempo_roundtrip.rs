//! Spans sent over OTLP/HTTP come back unchanged through the Tempo API (protobuf, every
//! field) and with the same ids, parents, times and events through the Jaeger API.

use axum::body::Body;
use axum::http::Request;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use oxeye_core::trace::{Resource, Scope, Span, Trace};
use oxeye_core::trace_mem::MemTraceStore;
use oxeye_proto::otlp::trace_out::resource_spans;
use oxeye_proto::tempo::TraceByIdResponse;
use prost::Message;

use super::tempo_fixture::*;
use super::*;
use crate::TraceStores;

fn empty_state() -> Arc<ServerState> {
    let traces = Arc::new(MemTraceStore::new());
    let metrics = MemStore::new();
    let state = ServerState::builder(metrics.clone(), metrics)
        .traces(TraceStores {
            appender: traces.clone(),
            queryable: traces,
            observer: None,
        })
        .build();
    state.set_ready(true);
    state
}

/// Every span of `trace_id` in the fixture batch, with its resource and scope, by id.
fn sent(trace_id: [u8; 16]) -> Vec<(Resource, Scope, Span)> {
    let b = batch();
    let mut out: Vec<(Resource, Scope, Span)> = b
        .spans()
        .filter(|(_, _, s)| s.trace_id == trace_id)
        .map(|(r, sc, s)| (r.clone(), sc.clone(), s.clone()))
        .collect();
    out.sort_by_key(|(_, _, s)| s.span_id);
    out
}

fn flattened(t: &Trace) -> Vec<(Resource, Scope, Span)> {
    let mut out: Vec<(Resource, Scope, Span)> = t
        .spans()
        .map(|(r, sc, s)| (r.clone(), sc.clone(), s.clone()))
        .collect();
    out.sort_by_key(|(_, _, s)| s.span_id);
    out
}

#[tokio::test]
async fn otlp_in_tempo_and_jaeger_out() {
    let state = empty_state();
    let req = ExportTraceServiceRequest {
        resource_spans: batch().resource_spans.iter().map(resource_spans).collect(),
    };
    let post = Request::post("/v1/traces")
        .header("content-type", "application/x-protobuf")
        .body(Body::from(req.encode_to_vec()))
        .unwrap();
    let (code, body, _) = send(&state, post).await;
    assert_eq!(code, 200, "{body}");

    for (id, hex) in [(TRACE_A, A_HEX), (TRACE_B, "b0b")] {
        let get = Request::get(format!("/api/v2/traces/{hex}"))
            .header("accept", "application/protobuf")
            .body(Body::empty())
            .unwrap();
        let resp = crate::router(state.clone()).oneshot(get).await.unwrap();
        assert_eq!(resp.status(), 200);
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let r = TraceByIdResponse::decode(bytes).unwrap();
        let got = otlp_back(id, &r.trace.unwrap().resource_spans);
        assert_eq!(flattened(&got), sent(id), "trace {hex}");
    }

    let (code, body) = get(&state, &format!("/jaeger/api/traces/{A_HEX}")).await;
    assert_eq!(code, 200);
    let v = json(&body);
    let spans = v["data"][0]["spans"].as_array().unwrap();
    assert_eq!(spans.len(), 3);
    for (_, _, s) in sent(TRACE_A) {
        let sid: String = s.span_id.iter().map(|b| format!("{b:02x}")).collect();
        let js = spans.iter().find(|j| j["spanID"] == sid.as_str()).unwrap();
        assert_eq!(js["operationName"], s.name.as_str());
        assert_eq!(js["startTime"], s.start_unix_nano / 1_000);
        assert_eq!(js["duration"], s.duration_nanos() / 1_000);
        assert_eq!(js["logs"].as_array().unwrap().len(), s.events.len());
        let parent = js["references"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["refType"] == "CHILD_OF")
            .map(|r| r["spanID"].as_str().unwrap().to_string());
        let want = (!s.is_root()).then(|| {
            s.parent_span_id
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect()
        });
        assert_eq!(parent, want);
    }
}
