//! Core traces -> OTLP protobuf messages, for answers that carry OTLP (Tempo's trace by
//! id, in protobuf or as OTLP JSON).
//!
//! Every field of the core model is carried over: ids, parent, trace state and flags,
//! kind, times, attributes of each value kind, events, links, status, dropped counts,
//! scopes and schema URLs. A root span's all-zero parent id becomes an empty field, as
//! OTLP senders leave it.

use opentelemetry_proto::tonic::common::v1::{
    AnyValue as OtlpAnyValue, ArrayValue, InstrumentationScope, KeyValue as OtlpKeyValue,
    KeyValueList, any_value,
};
use opentelemetry_proto::tonic::resource::v1::Resource as OtlpResource;
use opentelemetry_proto::tonic::trace::v1::{
    ResourceSpans as OtlpResourceSpans, ScopeSpans as OtlpScopeSpans, Span as OtlpSpan, Status,
    span,
};
use oxeye_core::trace::{
    AnyValue, KeyValue, Resource, ResourceSpans, Scope, ScopeSpans, Span, SpanEvent, SpanLink,
    Trace,
};

/// Every resource of `trace` as OTLP `ResourceSpans`, in stored order.
pub fn trace_to_otlp(trace: &Trace) -> Vec<OtlpResourceSpans> {
    trace.resource_spans.iter().map(resource_spans).collect()
}

/// One resource and its spans as OTLP.
pub fn resource_spans(rs: &ResourceSpans) -> OtlpResourceSpans {
    OtlpResourceSpans {
        resource: Some(resource(&rs.resource)),
        scope_spans: rs.scope_spans.iter().map(scope_spans).collect(),
        schema_url: rs.schema_url.clone(),
    }
}

fn resource(r: &Resource) -> OtlpResource {
    OtlpResource {
        attributes: key_values(&r.attributes),
        dropped_attributes_count: r.dropped_attributes_count,
        ..OtlpResource::default()
    }
}

fn scope(s: &Scope) -> InstrumentationScope {
    InstrumentationScope {
        name: s.name.clone(),
        version: s.version.clone(),
        attributes: key_values(&s.attributes),
        dropped_attributes_count: s.dropped_attributes_count,
    }
}

fn scope_spans(ss: &ScopeSpans) -> OtlpScopeSpans {
    OtlpScopeSpans {
        scope: Some(scope(&ss.scope)),
        spans: ss.spans.iter().map(span_to_otlp).collect(),
        schema_url: ss.schema_url.clone(),
    }
}

/// One span as OTLP.
pub fn span_to_otlp(s: &Span) -> OtlpSpan {
    OtlpSpan {
        trace_id: s.trace_id.to_vec(),
        span_id: s.span_id.to_vec(),
        trace_state: s.trace_state.clone(),
        parent_span_id: if s.is_root() {
            Vec::new()
        } else {
            s.parent_span_id.to_vec()
        },
        flags: s.flags,
        name: s.name.clone(),
        kind: s.kind as i32,
        start_time_unix_nano: s.start_unix_nano,
        end_time_unix_nano: s.end_unix_nano,
        attributes: key_values(&s.attributes),
        dropped_attributes_count: s.dropped_attributes_count,
        events: s.events.iter().map(event).collect(),
        dropped_events_count: s.dropped_events_count,
        links: s.links.iter().map(link).collect(),
        dropped_links_count: s.dropped_links_count,
        status: Some(Status {
            message: s.status_message.clone(),
            code: s.status_code as i32,
        }),
    }
}

fn event(e: &SpanEvent) -> span::Event {
    span::Event {
        time_unix_nano: e.time_unix_nano,
        name: e.name.clone(),
        attributes: key_values(&e.attributes),
        dropped_attributes_count: e.dropped_attributes_count,
    }
}

fn link(l: &SpanLink) -> span::Link {
    span::Link {
        trace_id: l.trace_id.to_vec(),
        span_id: l.span_id.to_vec(),
        trace_state: l.trace_state.clone(),
        attributes: key_values(&l.attributes),
        dropped_attributes_count: l.dropped_attributes_count,
        flags: l.flags,
    }
}

/// Attributes as OTLP key-values.
pub fn key_values(kvs: &[KeyValue]) -> Vec<OtlpKeyValue> {
    kvs.iter()
        .map(|kv| OtlpKeyValue {
            key: kv.key.clone(),
            value: Some(any_value_to_otlp(&kv.value)),
            ..OtlpKeyValue::default()
        })
        .collect()
}

/// One attribute value as OTLP's `AnyValue` (`Empty` has no value set).
pub fn any_value_to_otlp(v: &AnyValue) -> OtlpAnyValue {
    let value = match v {
        AnyValue::Empty => None,
        AnyValue::String(s) => Some(any_value::Value::StringValue(s.clone())),
        AnyValue::Bool(b) => Some(any_value::Value::BoolValue(*b)),
        AnyValue::Int(i) => Some(any_value::Value::IntValue(*i)),
        AnyValue::Double(d) => Some(any_value::Value::DoubleValue(*d)),
        AnyValue::Array(a) => Some(any_value::Value::ArrayValue(ArrayValue {
            values: a.iter().map(any_value_to_otlp).collect(),
        })),
        AnyValue::KvList(kvs) => Some(any_value::Value::KvlistValue(KeyValueList {
            values: key_values(kvs),
        })),
        AnyValue::Bytes(b) => Some(any_value::Value::BytesValue(b.clone())),
    };
    OtlpAnyValue { value }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oxeye_core::trace::{SpanKind, SpanStatusCode};

    #[test]
    fn carries_every_span_field() {
        let s = Span {
            trace_id: [7; 16],
            span_id: [2; 8],
            parent_span_id: [1; 8],
            trace_state: "k=v".into(),
            flags: 0x301,
            name: "GET /".into(),
            kind: SpanKind::Client,
            start_unix_nano: 10,
            end_unix_nano: 25,
            attributes: vec![
                KeyValue::new("i", AnyValue::Int(-3)),
                KeyValue::new("a", AnyValue::Array(vec![AnyValue::Bool(true)])),
                KeyValue::new("e", AnyValue::Empty),
            ],
            dropped_attributes_count: 1,
            events: vec![SpanEvent {
                time_unix_nano: 12,
                name: "boom".into(),
                attributes: vec![KeyValue::new("b", AnyValue::Bytes(vec![1, 2]))],
                dropped_attributes_count: 2,
            }],
            dropped_events_count: 3,
            links: vec![SpanLink {
                trace_id: [9; 16],
                span_id: [8; 8],
                trace_state: "x=y".into(),
                attributes: vec![KeyValue::new("d", AnyValue::Double(1.5))],
                dropped_attributes_count: 4,
                flags: 1,
            }],
            dropped_links_count: 5,
            status_code: SpanStatusCode::Error,
            status_message: "bad".into(),
        };
        let o = span_to_otlp(&s);
        assert_eq!(o.trace_id, vec![7; 16]);
        assert_eq!(o.parent_span_id, vec![1; 8]);
        assert_eq!((o.kind, o.flags, o.trace_state.as_str()), (3, 0x301, "k=v"));
        assert_eq!((o.start_time_unix_nano, o.end_time_unix_nano), (10, 25));
        assert_eq!(
            o.attributes[0].value.as_ref().and_then(|v| v.value.clone()),
            Some(any_value::Value::IntValue(-3))
        );
        assert_eq!(o.attributes[2].value, Some(OtlpAnyValue { value: None }));
        assert_eq!(o.events[0].dropped_attributes_count, 2);
        assert_eq!(o.links[0].span_id, vec![8; 8]);
        assert_eq!(o.links[0].flags, 1);
        assert_eq!(
            (
                o.dropped_attributes_count,
                o.dropped_events_count,
                o.dropped_links_count
            ),
            (1, 3, 5)
        );
        let status = o.status.unwrap_or_default();
        assert_eq!((status.code, status.message.as_str()), (2, "bad"));
        let root = span_to_otlp(&Span::default());
        assert!(root.parent_span_id.is_empty());
    }
}
