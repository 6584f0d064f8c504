//! Tempo's `tempopb` messages that trace-by-id answers carry, and Tempo's JSON form of
//! OTLP traces.
//!
//! Grafana's Tempo datasource decodes `tempopb.TraceByIDResponse` (`/api/v2/traces`) and
//! `tempopb.Trace` (`/api/traces`) from protobuf; both wrap OTLP `ResourceSpans`, so the
//! structs here reuse `opentelemetry-proto`'s messages with Tempo's field numbers.
//!
//! Tempo renders JSON with gogo's `jsonpb` defaults, which [`trace_json`] follows:
//! lowerCamelCase names, fields at their zero value left out, 64-bit integers as strings,
//! enums by name (`SPAN_KIND_SERVER`, `STATUS_CODE_ERROR`), bytes (trace and span ids
//! included) in padded standard base64.

use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, Span, span};
use serde_json::{Map, Value, json};

/// `tempopb.Trace`: every resource of one trace.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Trace {
    /// `resourceSpans = 1` (named `batches` in Tempo's v1 JSON).
    #[prost(message, repeated, tag = "1")]
    pub resource_spans: Vec<ResourceSpans>,
}

/// `tempopb.TraceByIDMetrics`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TraceByIdMetrics {
    /// `inspectedBytes = 1`.
    #[prost(uint64, tag = "1")]
    pub inspected_bytes: u64,
}

/// `tempopb.PartialStatus`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum PartialStatus {
    /// The whole trace.
    Complete = 0,
    /// Part of the trace (`message` says why).
    Partial = 1,
}

/// `tempopb.TraceByIDResponse`, the body of `/api/v2/traces/<id>`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TraceByIdResponse {
    /// `trace = 1`.
    #[prost(message, optional, tag = "1")]
    pub trace: Option<Trace>,
    /// `metrics = 2`.
    #[prost(message, optional, tag = "2")]
    pub metrics: Option<TraceByIdMetrics>,
    /// `status = 3`.
    #[prost(enumeration = "PartialStatus", tag = "3")]
    pub status: i32,
    /// `message = 4`.
    #[prost(string, tag = "4")]
    pub message: String,
}

/// The OTLP JSON of a trace as Tempo writes it: `{"<list_key>":[...resource spans...]}`,
/// where `list_key` is `batches` for the v1 API and `resourceSpans` inside v2's `trace`.
pub fn trace_json(resource_spans: &[ResourceSpans], list_key: &str) -> Value {
    let list: Vec<Value> = resource_spans.iter().map(resource_spans_json).collect();
    let mut m = Map::new();
    if !list.is_empty() {
        m.insert(list_key.to_string(), Value::Array(list));
    }
    Value::Object(m)
}

/// Inserts `v` under `k` unless it is the field's zero value.
struct Obj(Map<String, Value>);

impl Obj {
    fn new() -> Self {
        Obj(Map::new())
    }
    fn str(mut self, k: &str, v: &str) -> Self {
        if !v.is_empty() {
            self.0.insert(k.into(), Value::String(v.into()));
        }
        self
    }
    fn u32(mut self, k: &str, v: u32) -> Self {
        if v != 0 {
            self.0.insert(k.into(), json!(v));
        }
        self
    }
    fn u64(mut self, k: &str, v: u64) -> Self {
        if v != 0 {
            self.0.insert(k.into(), Value::String(v.to_string()));
        }
        self
    }
    fn bytes(mut self, k: &str, v: &[u8]) -> Self {
        if !v.is_empty() {
            self.0
                .insert(k.into(), Value::String(crate::base64::encode(v)));
        }
        self
    }
    fn list(mut self, k: &str, v: Vec<Value>) -> Self {
        if !v.is_empty() {
            self.0.insert(k.into(), Value::Array(v));
        }
        self
    }
    fn value(mut self, k: &str, v: Value) -> Self {
        self.0.insert(k.into(), v);
        self
    }
    fn done(self) -> Value {
        Value::Object(self.0)
    }
}

fn resource_spans_json(rs: &ResourceSpans) -> Value {
    let mut o = Obj::new();
    if let Some(r) = &rs.resource {
        o = o.value(
            "resource",
            Obj::new()
                .list("attributes", attrs_json(&r.attributes))
                .u32("droppedAttributesCount", r.dropped_attributes_count)
                .done(),
        );
    }
    let scopes = rs
        .scope_spans
        .iter()
        .map(|ss| {
            let mut o = Obj::new();
            if let Some(s) = &ss.scope {
                o = o.value("scope", scope_json(s));
            }
            o.list("spans", ss.spans.iter().map(span_json).collect())
                .str("schemaUrl", &ss.schema_url)
                .done()
        })
        .collect();
    o.list("scopeSpans", scopes)
        .str("schemaUrl", &rs.schema_url)
        .done()
}

fn scope_json(s: &InstrumentationScope) -> Value {
    Obj::new()
        .str("name", &s.name)
        .str("version", &s.version)
        .list("attributes", attrs_json(&s.attributes))
        .u32("droppedAttributesCount", s.dropped_attributes_count)
        .done()
}

/// OTLP's span kind enum names.
const KINDS: [&str; 6] = [
    "SPAN_KIND_UNSPECIFIED",
    "SPAN_KIND_INTERNAL",
    "SPAN_KIND_SERVER",
    "SPAN_KIND_CLIENT",
    "SPAN_KIND_PRODUCER",
    "SPAN_KIND_CONSUMER",
];

/// OTLP's status code enum names.
const STATUS_CODES: [&str; 3] = ["STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR"];

/// An enum by name, or its number when it has none (as jsonpb does); zero is left out.
fn enum_json(o: Obj, k: &str, v: i32, names: &[&str]) -> Obj {
    if v == 0 {
        return o;
    }
    let name = usize::try_from(v).ok().and_then(|i| names.get(i));
    match name {
        Some(n) => o.value(k, Value::String((*n).into())),
        None => o.value(k, json!(v)),
    }
}

fn span_json(s: &Span) -> Value {
    let mut o = Obj::new()
        .bytes("traceId", &s.trace_id)
        .bytes("spanId", &s.span_id)
        .str("traceState", &s.trace_state)
        .bytes("parentSpanId", &s.parent_span_id)
        .u32("flags", s.flags)
        .str("name", &s.name);
    o = enum_json(o, "kind", s.kind, &KINDS);
    o = o
        .u64("startTimeUnixNano", s.start_time_unix_nano)
        .u64("endTimeUnixNano", s.end_time_unix_nano)
        .list("attributes", attrs_json(&s.attributes))
        .u32("droppedAttributesCount", s.dropped_attributes_count)
        .list("events", s.events.iter().map(event_json).collect())
        .u32("droppedEventsCount", s.dropped_events_count)
        .list("links", s.links.iter().map(link_json).collect())
        .u32("droppedLinksCount", s.dropped_links_count);
    if let Some(st) = &s.status {
        let so = enum_json(
            Obj::new().str("message", &st.message),
            "code",
            st.code,
            &STATUS_CODES,
        );
        o = o.value("status", so.done());
    }
    o.done()
}

fn event_json(e: &span::Event) -> Value {
    Obj::new()
        .u64("timeUnixNano", e.time_unix_nano)
        .str("name", &e.name)
        .list("attributes", attrs_json(&e.attributes))
        .u32("droppedAttributesCount", e.dropped_attributes_count)
        .done()
}

fn link_json(l: &span::Link) -> Value {
    Obj::new()
        .bytes("traceId", &l.trace_id)
        .bytes("spanId", &l.span_id)
        .str("traceState", &l.trace_state)
        .list("attributes", attrs_json(&l.attributes))
        .u32("droppedAttributesCount", l.dropped_attributes_count)
        .u32("flags", l.flags)
        .done()
}

/// OTLP key-values in Tempo's JSON.
pub fn attrs_json(kvs: &[KeyValue]) -> Vec<Value> {
    kvs.iter()
        .map(|kv| {
            let v = kv.value.as_ref().map(any_value_json).unwrap_or(json!({}));
            Obj::new().str("key", &kv.key).value("value", v).done()
        })
        .collect()
}

/// One OTLP value in Tempo's JSON (`{"stringValue":"x"}`, `{"intValue":"3"}`...).
pub fn any_value_json(v: &AnyValue) -> Value {
    let Some(v) = &v.value else {
        return json!({});
    };
    match v {
        any_value::Value::StringValue(s) => json!({ "stringValue": s }),
        any_value::Value::BoolValue(b) => json!({ "boolValue": b }),
        any_value::Value::IntValue(i) => json!({ "intValue": i.to_string() }),
        any_value::Value::DoubleValue(d) => json!({ "doubleValue": double_json(*d) }),
        any_value::Value::ArrayValue(a) => {
            let values: Vec<Value> = a.values.iter().map(any_value_json).collect();
            json!({ "arrayValue": Obj::new().list("values", values).done() })
        }
        any_value::Value::KvlistValue(l) => {
            json!({ "kvlistValue": Obj::new().list("values", attrs_json(&l.values)).done() })
        }
        any_value::Value::BytesValue(b) => json!({ "bytesValue": crate::base64::encode(b) }),
        any_value::Value::StringValueStrindex(i) => json!({ "stringValueStrindex": i }),
    }
}

/// A double as jsonpb writes it: a number, or `"NaN"` / `"Infinity"` / `"-Infinity"`.
fn double_json(d: f64) -> Value {
    if d.is_nan() {
        Value::String("NaN".into())
    } else if d.is_infinite() {
        Value::String(if d > 0.0 { "Infinity" } else { "-Infinity" }.into())
    } else {
        json!(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn response_round_trips_with_tempo_field_numbers() {
        let resp = TraceByIdResponse {
            trace: Some(Trace {
                resource_spans: vec![ResourceSpans::default()],
            }),
            metrics: Some(TraceByIdMetrics { inspected_bytes: 5 }),
            status: PartialStatus::Partial as i32,
            message: "m".into(),
        };
        let bytes = resp.encode_to_vec();
        // field 1 (trace), length-delimited, holding field 1 (resourceSpans), empty
        assert_eq!(&bytes[..4], &[0x0a, 0x02, 0x0a, 0x00]);
        assert_eq!(TraceByIdResponse::decode(bytes.as_slice()).ok(), Some(resp));
    }

    #[test]
    fn json_leaves_out_zero_values_and_names_enums() {
        let s = Span {
            trace_id: vec![0; 16],
            span_id: vec![1; 8],
            kind: 2,
            start_time_unix_nano: 1_700_000_000_000_000_001,
            status: Some(Default::default()),
            attributes: vec![KeyValue {
                key: "n".into(),
                value: Some(AnyValue {
                    value: Some(any_value::Value::IntValue(7)),
                }),
                ..KeyValue::default()
            }],
            ..Span::default()
        };
        assert_eq!(
            span_json(&s),
            json!({
                "traceId": "AAAAAAAAAAAAAAAAAAAAAA==",
                "spanId": "AQEBAQEBAQE=",
                "kind": "SPAN_KIND_SERVER",
                "startTimeUnixNano": "1700000000000000001",
                "attributes": [{"key": "n", "value": {"intValue": "7"}}],
                "status": {}
            })
        );
    }
}
