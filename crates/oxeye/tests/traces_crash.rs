//! Trace crash safety under load: concurrent OTLP/HTTP senders, kill -9, restart; every
//! span of every acknowledged export (HTTP 200) comes back, over several cycles.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;

use crate::harness::Server;

const SENDERS: usize = 3;
const SPANS_PER_TRACE: usize = 8;

#[derive(Clone, PartialEq, prost::Message)]
struct TraceByIdResponse {
    #[prost(message, optional, tag = "1")]
    trace: Option<TempoTrace>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct TempoTrace {
    #[prost(message, repeated, tag = "1")]
    resource_spans: Vec<ResourceSpans>,
}

fn trace_id(sender: usize, n: u64) -> [u8; 16] {
    let mut id = [0u8; 16];
    id[0] = 0xc0 | sender as u8;
    id[8..].copy_from_slice(&(n + 1).to_be_bytes());
    id
}

fn request(id: [u8; 16]) -> ExportTraceServiceRequest {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let spans = (0..SPANS_PER_TRACE)
        .map(|i| Span {
            trace_id: id.to_vec(),
            span_id: ((i as u64 + 1) << 8 | u64::from(id[15]))
                .to_be_bytes()
                .to_vec(),
            parent_span_id: if i == 0 {
                Vec::new()
            } else {
                (1u64 << 8 | u64::from(id[15])).to_be_bytes().to_vec()
            },
            name: format!("op-{i}"),
            kind: 2,
            start_time_unix_nano: now + i as u64 * 1_000,
            end_time_unix_nano: now + i as u64 * 1_000 + 500_000,
            ..Span::default()
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![KeyValue {
                    key: "service.name".into(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::StringValue("crash-test".into())),
                    }),
                    ..KeyValue::default()
                }],
                ..Resource::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..ScopeSpans::default()
            }],
            schema_url: String::new(),
        }],
    }
}

/// Exports traces until `stop` or the server goes away; returns the acknowledged ids.
async fn sender(s: Arc<Server>, id: usize, first: u64, stop: Arc<AtomicBool>) -> Vec<[u8; 16]> {
    let client = reqwest::Client::new();
    let mut acked = Vec::new();
    let mut n = first;
    while !stop.load(Ordering::Relaxed) {
        let tid = trace_id(id, n);
        let sent = client
            .post(format!("{}/v1/traces", s.http))
            .header("Content-Type", "application/x-protobuf")
            .body(request(tid).encode_to_vec())
            .send()
            .await;
        match sent {
            Ok(r) if r.status() == 200 => acked.push(tid),
            Ok(r) => panic!(
                "export refused: {} {}",
                r.status(),
                r.text().await.unwrap_or_default()
            ),
            Err(_) => break, // the connection died with the server: never acknowledged
        }
        n += 1;
    }
    acked
}

async fn check(s: &Server, acked: &[[u8; 16]]) {
    let client = reqwest::Client::new();
    for id in acked {
        let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
        let r = client
            .get(format!("{}/api/v2/traces/{hex}", s.http))
            .header("Accept", "application/protobuf")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "acknowledged trace {hex} lost");
        let body = r.bytes().await.unwrap();
        let t = TraceByIdResponse::decode(body.as_ref()).unwrap();
        let spans: usize = t
            .trace
            .unwrap_or_default()
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum();
        assert_eq!(
            spans, SPANS_PER_TRACE,
            "acknowledged trace {hex} lost spans"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_under_trace_load_loses_no_acknowledged_span() {
    let dir = tempfile::tempdir().unwrap();
    let mut acked: Vec<[u8; 16]> = Vec::new();
    let mut next = 0u64;
    for _cycle in 0..3 {
        let s = Arc::new(Server::start(dir.path(), Some("scrape_configs: []\n")).await);
        check(&s, &acked).await;
        let stop = Arc::new(AtomicBool::new(false));
        let tasks: Vec<_> = (0..SENDERS)
            .map(|w| tokio::spawn(sender(s.clone(), w, next, stop.clone())))
            .collect();
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        // SIGKILL while requests are in flight
        let pid = s.child.as_ref().map(|c| c.id()).unwrap();
        let killed = std::process::Command::new("kill")
            .arg("-9")
            .arg(pid.to_string())
            .status()
            .unwrap();
        assert!(killed.success());
        stop.store(true, Ordering::Relaxed);
        let mut cycle_acked = 0;
        for t in tasks {
            let ids = t.await.unwrap();
            cycle_acked += ids.len();
            acked.extend(ids);
        }
        assert!(cycle_acked > 0, "no export was acknowledged");
        next += 1_000_000;
        drop(s);
    }
    let s = Server::start(dir.path(), Some("scrape_configs: []\n")).await;
    check(&s, &acked).await;
    assert!(s.stop());
}
