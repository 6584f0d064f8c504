//! Shared helpers: building batches and opening stores on a temporary directory.

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Arc;

use oxeye_core::ManualClock;
use oxeye_core::TenantId;
use oxeye_core::trace::{
    AnyValue, KeyValue, Resource, ResourceSpans, Scope, ScopeSpans, Span, SpanEvent, SpanKind,
    SpanLink, SpanStatusCode, Trace, TraceBatch, TraceQueryable, TraceScan,
};
use oxeye_traces::{TraceStore, TraceStoreOptions};

/// 2026-11-01T00:00:00Z in ms.
pub const T0_MS: i64 = 1_793_491_200_000;
pub const T0_NS: u64 = T0_MS as u64 * 1_000_000;
pub const SEC: u64 = 1_000_000_000;

pub fn tenant(s: &str) -> TenantId {
    TenantId::new(s).unwrap()
}

pub fn open(dir: &Path, clock: &ManualClock) -> TraceStore {
    open_with(dir, clock, TraceStoreOptions::default())
}

pub fn open_with(dir: &Path, clock: &ManualClock, opts: TraceStoreOptions) -> TraceStore {
    TraceStore::open(dir, opts, Arc::new(clock.clone())).unwrap()
}

pub fn tid(n: u32) -> [u8; 16] {
    let mut id = [0u8; 16];
    id[..4].copy_from_slice(&n.to_be_bytes());
    id[15] = (n % 251) as u8 + 1;
    id
}

pub fn sid(trace: u32, n: u32) -> [u8; 8] {
    let mut id = [0u8; 8];
    id[..4].copy_from_slice(&trace.to_be_bytes());
    id[4..].copy_from_slice(&(n + 1).to_be_bytes());
    id
}

/// A span with only the basics set.
pub fn span(trace: u32, n: u32, name: &str, start: u64, dur: u64) -> Span {
    Span {
        trace_id: tid(trace),
        span_id: sid(trace, n),
        parent_span_id: if n == 0 { [0; 8] } else { sid(trace, 0) },
        name: name.into(),
        kind: SpanKind::Server,
        start_unix_nano: start,
        end_unix_nano: start + dur,
        attributes: vec![KeyValue::string("http.method", "GET")],
        ..Span::default()
    }
}

pub fn batch_of(service: &str, spans: Vec<Span>) -> TraceBatch {
    TraceBatch {
        resource_spans: vec![ResourceSpans {
            resource: Resource {
                attributes: vec![KeyValue::string("service.name", service)],
                ..Resource::default()
            },
            scope_spans: vec![ScopeSpans {
                scope: Scope {
                    name: "lib".into(),
                    ..Scope::default()
                },
                spans,
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        }],
    }
}

/// A batch using every field of the model, every attribute value kind included.
pub fn full_batch() -> TraceBatch {
    let all_values = vec![
        KeyValue::string("s", "text"),
        KeyValue::new("b", AnyValue::Bool(true)),
        KeyValue::new("i", AnyValue::Int(-42)),
        KeyValue::new("d", AnyValue::Double(3.25)),
        KeyValue::new("e", AnyValue::Empty),
        KeyValue::new("bytes", AnyValue::Bytes(vec![0, 1, 254, 255])),
        KeyValue::new(
            "arr",
            AnyValue::Array(vec![
                AnyValue::Int(1),
                AnyValue::String("x".into()),
                AnyValue::Array(vec![AnyValue::Bool(false)]),
            ]),
        ),
        KeyValue::new(
            "kv",
            AnyValue::KvList(vec![
                KeyValue::new("nested", AnyValue::Double(-0.5)),
                KeyValue::new("deeper", AnyValue::KvList(vec![KeyValue::string("k", "v")])),
            ]),
        ),
    ];
    let root = Span {
        trace_id: tid(7),
        span_id: sid(7, 0),
        parent_span_id: [0; 8],
        trace_state: "vendor=a,b=c".into(),
        flags: 0x101,
        name: "GET /checkout".into(),
        kind: SpanKind::Server,
        start_unix_nano: T0_NS + 1_000,
        end_unix_nano: T0_NS + 9_000_123,
        attributes: all_values.clone(),
        dropped_attributes_count: 3,
        events: vec![
            SpanEvent {
                time_unix_nano: T0_NS + 5_000,
                name: "exception".into(),
                attributes: vec![KeyValue::string("exception.type", "IOError")],
                dropped_attributes_count: 1,
            },
            SpanEvent {
                // before the span start: stored as a negative offset
                time_unix_nano: T0_NS,
                name: "early".into(),
                ..SpanEvent::default()
            },
        ],
        dropped_events_count: 4,
        links: vec![SpanLink {
            trace_id: tid(99),
            span_id: sid(99, 3),
            trace_state: "x=y".into(),
            attributes: all_values.clone(),
            dropped_attributes_count: 5,
            flags: 1,
        }],
        dropped_links_count: 6,
        status_code: SpanStatusCode::Error,
        status_message: "payment failed".into(),
    };
    let child = Span {
        trace_id: tid(7),
        span_id: sid(7, 1),
        parent_span_id: sid(7, 0),
        name: "SELECT".into(),
        kind: SpanKind::Client,
        start_unix_nano: T0_NS + 2_000,
        // end before start must survive as sent
        end_unix_nano: T0_NS + 1_500,
        status_code: SpanStatusCode::Ok,
        ..Span::default()
    };
    TraceBatch {
        resource_spans: vec![
            ResourceSpans {
                resource: Resource {
                    attributes: vec![
                        KeyValue::string("service.name", "shop"),
                        KeyValue::new("host.cores", AnyValue::Int(8)),
                    ],
                    dropped_attributes_count: 2,
                },
                scope_spans: vec![ScopeSpans {
                    scope: Scope {
                        name: "io.opentelemetry.http".into(),
                        version: "1.2.3".into(),
                        attributes: vec![KeyValue::string("scope.attr", "z")],
                        dropped_attributes_count: 7,
                    },
                    spans: vec![root],
                    schema_url: "https://opentelemetry.io/schemas/1.21.0".into(),
                }],
                schema_url: "https://opentelemetry.io/schemas/1.20.0".into(),
            },
            ResourceSpans {
                resource: Resource {
                    attributes: vec![KeyValue::string("service.name", "db")],
                    ..Resource::default()
                },
                scope_spans: vec![ScopeSpans {
                    scope: Scope::default(),
                    spans: vec![child],
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            },
        ],
    }
}

/// Spans of a trace keyed by span id, with service and scope name, for
/// order-insensitive comparison.
pub fn flat(t: &Trace) -> BTreeMap<[u8; 8], (Resource, Scope, Span)> {
    t.spans()
        .map(|(r, s, sp)| (sp.span_id, (r.clone(), s.clone(), sp.clone())))
        .collect()
}

pub fn flat_batch(b: &TraceBatch) -> BTreeMap<[u8; 8], (Resource, Scope, Span)> {
    b.spans()
        .map(|(r, s, sp)| (sp.span_id, (r.clone(), s.clone(), sp.clone())))
        .collect()
}

pub fn all_scan() -> TraceScan {
    TraceScan {
        start_nanos: 0,
        end_nanos: u64::MAX,
        hints: Vec::new(),
    }
}

/// Every trace a scan visits, in order.
pub fn scan_all(store: &TraceStore, t: &TenantId, scan: &TraceScan) -> Vec<Trace> {
    let mut out = Vec::new();
    store
        .scan(t, scan, &mut |tr| {
            out.push(tr.clone());
            ControlFlow::Continue(())
        })
        .unwrap();
    out
}
