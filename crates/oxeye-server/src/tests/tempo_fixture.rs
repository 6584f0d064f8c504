//! Traces shared by the Tempo and Jaeger API tests, stored in a `MemTraceStore` through
//! its `SpanAppender`, and the reverse OTLP -> core mapping used to check protobuf
//! answers against what was stored.

use std::sync::Arc;

use opentelemetry_proto::tonic::common::v1::{
    AnyValue as OAnyValue, KeyValue as OKeyValue, any_value,
};
use opentelemetry_proto::tonic::trace::v1::ResourceSpans as OResourceSpans;
use oxeye_core::trace::{
    AnyValue, KeyValue, Resource, ResourceSpans, Scope, ScopeSpans, Span, SpanAppender, SpanEvent,
    SpanKind, SpanLink, SpanStatusCode, Trace, TraceBatch,
};
use oxeye_core::trace_mem::MemTraceStore;
use oxeye_core::{ManualClock, TenantId};

use super::MemStore;
use crate::{ServerState, TraceStores};

/// 2023-11-14T22:13:20Z in ns: the start of trace A.
pub const T0: u64 = 1_700_000_000_000_000_000;
/// The server clock, 100 s after `T0`, in ms.
pub const NOW_MS: i64 = 1_700_000_100_000;

/// Trace A: frontend -> payments, full 128-bit id.
pub const TRACE_A: [u8; 16] = [
    0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03, 0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f, 0xc6, 0x0c,
];
/// Trace B: one payments span, id with a zero high half.
pub const TRACE_B: [u8; 16] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0b, 0x0b];
/// Trace C: stored for tenant `other` only.
pub const TRACE_C: [u8; 16] = [0xcc; 16];

pub const A_HEX: &str = "5b8efff798038103d269b633813fc60c";

fn res(service: &str, extra: Vec<KeyValue>) -> Resource {
    let mut attributes = vec![KeyValue::string("service.name", service)];
    attributes.extend(extra);
    Resource {
        attributes,
        dropped_attributes_count: 0,
    }
}

fn scope() -> Scope {
    Scope {
        name: "io.opentelemetry.http".into(),
        version: "1.2.0".into(),
        attributes: vec![KeyValue::string("scope.attr", "s")],
        dropped_attributes_count: 0,
    }
}

fn span(
    trace: [u8; 16],
    id: u8,
    parent: u8,
    name: &str,
    kind: SpanKind,
    start_ms: u64,
    dur_ms: u64,
) -> Span {
    Span {
        trace_id: trace,
        span_id: [0, 0, 0, 0, 0, 0, 0, id],
        parent_span_id: [0, 0, 0, 0, 0, 0, 0, parent],
        name: name.into(),
        kind,
        start_unix_nano: T0 + start_ms * 1_000_000,
        end_unix_nano: T0 + (start_ms + dur_ms) * 1_000_000,
        flags: 1,
        ..Span::default()
    }
}

/// Every span of trace A and B, as stored.
pub fn batch() -> TraceBatch {
    let mut root = span(TRACE_A, 1, 0, "GET /checkout", SpanKind::Server, 0, 250);
    root.attributes = vec![
        KeyValue::string("http.method", "GET"),
        KeyValue::new("http.status_code", AnyValue::Int(200)),
    ];
    root.status_code = SpanStatusCode::Ok;
    root.trace_state = "vendor=1".into();
    let mut call = span(TRACE_A, 2, 1, "POST /pay", SpanKind::Client, 10, 200);
    call.attributes = vec![KeyValue::string("http.method", "POST")];
    let mut charge = span(TRACE_A, 3, 2, "charge", SpanKind::Server, 20, 150);
    charge.attributes = vec![
        KeyValue::string("http.method", "POST"),
        KeyValue::new("retry", AnyValue::Bool(true)),
        KeyValue::new("amount", AnyValue::Double(12.5)),
        KeyValue::new("attempt", AnyValue::Int(-2)),
        KeyValue::new("raw", AnyValue::Bytes(vec![0xde, 0xad])),
        KeyValue::new(
            "tags",
            AnyValue::Array(vec![AnyValue::String("a".into()), AnyValue::Int(1)]),
        ),
        KeyValue::new(
            "card",
            AnyValue::KvList(vec![KeyValue::string("brand", "visa")]),
        ),
        KeyValue::new("nothing", AnyValue::Empty),
    ];
    charge.dropped_attributes_count = 1;
    charge.status_code = SpanStatusCode::Error;
    charge.status_message = "card declined".into();
    charge.events = vec![SpanEvent {
        time_unix_nano: T0 + 100_000_000,
        name: "exception".into(),
        attributes: vec![KeyValue::string("exception.type", "Declined")],
        dropped_attributes_count: 2,
    }];
    charge.dropped_events_count = 3;
    charge.links = vec![SpanLink {
        trace_id: TRACE_B,
        span_id: [0, 0, 0, 0, 0, 0, 0, 9],
        trace_state: "l=1".into(),
        attributes: vec![KeyValue::string("link.kind", "batch")],
        dropped_attributes_count: 1,
        flags: 1,
    }];
    charge.dropped_links_count = 4;
    let settle = span(TRACE_B, 9, 0, "settle", SpanKind::Internal, 5_000, 40);
    let frontend = res(
        "frontend",
        vec![
            KeyValue::string("host.name", "h1"),
            KeyValue::new("process.pid", AnyValue::Int(42)),
        ],
    );
    let payments = res("payments", vec![KeyValue::string("host.name", "h2")]);
    let rs = |r: Resource, spans: Vec<Span>| ResourceSpans {
        resource: r,
        scope_spans: vec![ScopeSpans {
            scope: scope(),
            spans,
            schema_url: "https://opentelemetry.io/schemas/1.21.0".into(),
        }],
        schema_url: String::new(),
    };
    TraceBatch {
        resource_spans: vec![
            rs(frontend, vec![root, call]),
            rs(payments.clone(), vec![charge]),
            rs(payments, vec![settle]),
        ],
    }
}

fn other_batch() -> TraceBatch {
    TraceBatch {
        resource_spans: vec![ResourceSpans {
            resource: res("secret", Vec::new()),
            scope_spans: vec![ScopeSpans {
                scope: Scope::default(),
                spans: vec![span(TRACE_C, 1, 0, "hidden", SpanKind::Server, 0, 5)],
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

/// A server whose trace store holds [`batch`] for the default tenant and trace C for
/// tenant `other`.
pub fn trace_state() -> (Arc<ServerState>, Arc<MemTraceStore>) {
    trace_state_with(crate::QueryLimits::default())
}

/// [`trace_state`] under `limits`.
pub fn trace_state_with(limits: crate::QueryLimits) -> (Arc<ServerState>, Arc<MemTraceStore>) {
    let traces = Arc::new(MemTraceStore::new());
    let anon = TenantId::new("anonymous").unwrap();
    traces.append_spans(&anon, batch()).unwrap();
    let other = TenantId::new("other").unwrap();
    traces.append_spans(&other, other_batch()).unwrap();
    let metrics = MemStore::new();
    let state = ServerState::builder(metrics.clone(), metrics)
        .clock(Arc::new(ManualClock::new(NOW_MS)))
        .query_limits(limits)
        .traces(TraceStores {
            appender: traces.clone(),
            queryable: traces.clone(),
            observer: None,
        })
        .build();
    state.set_ready(true);
    (state, traces)
}

fn value_back(v: &OAnyValue) -> AnyValue {
    match &v.value {
        None => AnyValue::Empty,
        Some(any_value::Value::StringValue(s)) => AnyValue::String(s.clone()),
        Some(any_value::Value::BoolValue(b)) => AnyValue::Bool(*b),
        Some(any_value::Value::IntValue(i)) => AnyValue::Int(*i),
        Some(any_value::Value::DoubleValue(d)) => AnyValue::Double(*d),
        Some(any_value::Value::BytesValue(b)) => AnyValue::Bytes(b.clone()),
        Some(any_value::Value::ArrayValue(a)) => {
            AnyValue::Array(a.values.iter().map(value_back).collect())
        }
        Some(any_value::Value::KvlistValue(l)) => AnyValue::KvList(kvs_back(&l.values)),
        Some(any_value::Value::StringValueStrindex(_)) => panic!("string tables are not used"),
    }
}

fn kvs_back(kvs: &[OKeyValue]) -> Vec<KeyValue> {
    kvs.iter()
        .map(|kv| KeyValue::new(kv.key.clone(), value_back(kv.value.as_ref().unwrap())))
        .collect()
}

fn id16(b: &[u8]) -> [u8; 16] {
    b.try_into().unwrap()
}

fn id8(b: &[u8]) -> [u8; 8] {
    if b.is_empty() {
        return [0; 8];
    }
    b.try_into().unwrap()
}

/// Decoded OTLP back into the core model, field by field, to compare with what was stored.
pub fn otlp_back(trace_id: [u8; 16], rss: &[OResourceSpans]) -> Trace {
    let resource_spans = rss
        .iter()
        .map(|rs| {
            let r = rs.resource.clone().unwrap();
            ResourceSpans {
                resource: Resource {
                    attributes: kvs_back(&r.attributes),
                    dropped_attributes_count: r.dropped_attributes_count,
                },
                scope_spans: rs
                    .scope_spans
                    .iter()
                    .map(|ss| {
                        let sc = ss.scope.clone().unwrap();
                        ScopeSpans {
                            scope: Scope {
                                name: sc.name,
                                version: sc.version,
                                attributes: kvs_back(&sc.attributes),
                                dropped_attributes_count: sc.dropped_attributes_count,
                            },
                            spans: ss
                                .spans
                                .iter()
                                .map(|s| {
                                    let status = s.status.clone().unwrap();
                                    Span {
                                        trace_id: id16(&s.trace_id),
                                        span_id: id8(&s.span_id),
                                        parent_span_id: id8(&s.parent_span_id),
                                        trace_state: s.trace_state.clone(),
                                        flags: s.flags,
                                        name: s.name.clone(),
                                        kind: SpanKind::from_i32(s.kind),
                                        start_unix_nano: s.start_time_unix_nano,
                                        end_unix_nano: s.end_time_unix_nano,
                                        attributes: kvs_back(&s.attributes),
                                        dropped_attributes_count: s.dropped_attributes_count,
                                        events: s
                                            .events
                                            .iter()
                                            .map(|e| SpanEvent {
                                                time_unix_nano: e.time_unix_nano,
                                                name: e.name.clone(),
                                                attributes: kvs_back(&e.attributes),
                                                dropped_attributes_count: e
                                                    .dropped_attributes_count,
                                            })
                                            .collect(),
                                        dropped_events_count: s.dropped_events_count,
                                        links: s
                                            .links
                                            .iter()
                                            .map(|l| SpanLink {
                                                trace_id: id16(&l.trace_id),
                                                span_id: id8(&l.span_id),
                                                trace_state: l.trace_state.clone(),
                                                attributes: kvs_back(&l.attributes),
                                                dropped_attributes_count: l
                                                    .dropped_attributes_count,
                                                flags: l.flags,
                                            })
                                            .collect(),
                                        dropped_links_count: s.dropped_links_count,
                                        status_code: SpanStatusCode::from_i32(status.code),
                                        status_message: status.message,
                                    }
                                })
                                .collect(),
                            schema_url: ss.schema_url.clone(),
                        }
                    })
                    .collect(),
                schema_url: rs.schema_url.clone(),
            }
        })
        .collect();
    Trace {
        trace_id,
        resource_spans,
    }
}
