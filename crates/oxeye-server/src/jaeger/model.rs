//! Core traces in the Jaeger query API's JSON (the UI model), mapped the way Jaeger's
//! OTLP translator maps OTLP spans.
//!
//! - Each distinct resource becomes a process `p1`, `p2`... (in order of first use):
//!   `serviceName` from `service.name`, every other resource attribute as a process tag.
//! - Tags: `otel.scope.name` / `otel.scope.version`, the span's attributes, `span.kind`
//!   (lowercase, absent when unspecified), `otel.status_code` (`OK` /
//!   `ERROR`), `error=true` on errors, `otel.status_description`, `w3c.tracestate`.
//! - The parent is a `CHILD_OF` reference; links are `FOLLOWS_FROM` references.
//! - Events become logs: the name as field `event`, then the event's attributes.
//! - Times and durations are microseconds; trace ids are hex (16 digits when the high
//!   half is zero, as Jaeger prints them), span ids 16 hex digits.
//! - Tag types are `string`, `bool`, `int64`, `float64` and `binary` (base64); arrays
//!   and maps are JSON text in a `string` tag.

use std::collections::BTreeMap;

use oxeye_core::trace::{
    AnyValue, KeyValue, Resource, Scope, Span, SpanKind, SpanStatusCode, Trace, TraceId,
};
use serde_json::{Map, Value, json};

/// Jaeger's text form of a trace id.
pub fn trace_id(id: &TraceId) -> String {
    let hex = crate::tempo::hex32(id);
    if id[..8] == [0; 8] {
        hex[16..].to_string()
    } else {
        hex
    }
}

/// Jaeger's text form of a span id.
pub fn span_id(id: &[u8; 8]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

fn tag(key: &str, v: &AnyValue) -> Value {
    let (ty, value) = match v {
        AnyValue::String(s) => ("string", json!(s)),
        AnyValue::Bool(b) => ("bool", json!(b)),
        AnyValue::Int(i) => ("int64", json!(i)),
        AnyValue::Double(d) if d.is_finite() => ("float64", json!(d)),
        AnyValue::Double(d) => ("string", json!(d.to_string())),
        AnyValue::Bytes(b) => ("binary", json!(oxeye_proto::base64::encode(b))),
        AnyValue::Empty => ("string", json!("")),
        AnyValue::Array(_) | AnyValue::KvList(_) => ("string", json!(json_text(v).to_string())),
    };
    json!({ "key": key, "type": ty, "value": value })
}

fn str_tag(key: &str, v: &str) -> Value {
    json!({ "key": key, "type": "string", "value": v })
}

/// An array or map value as JSON, how Jaeger's translator writes them into string tags.
fn json_text(v: &AnyValue) -> Value {
    match v {
        AnyValue::Empty => Value::Null,
        AnyValue::String(s) => json!(s),
        AnyValue::Bool(b) => json!(b),
        AnyValue::Int(i) => json!(i),
        AnyValue::Double(d) => json!(d),
        AnyValue::Bytes(b) => json!(oxeye_proto::base64::encode(b)),
        AnyValue::Array(a) => Value::Array(a.iter().map(json_text).collect()),
        AnyValue::KvList(kvs) => Value::Object(
            kvs.iter()
                .map(|kv| (kv.key.clone(), json_text(&kv.value)))
                .collect::<Map<_, _>>(),
        ),
    }
}

fn tags(kvs: &[KeyValue]) -> Vec<Value> {
    kvs.iter().map(|kv| tag(&kv.key, &kv.value)).collect()
}

/// Jaeger's span kind text (`""` for unspecified).
pub fn kind_text(kind: SpanKind) -> &'static str {
    match kind {
        SpanKind::Unspecified => "",
        other => other.as_str(),
    }
}

/// The span's tags as Jaeger's translator builds them.
pub fn span_tags(scope: &Scope, span: &Span) -> Vec<Value> {
    let mut out = Vec::with_capacity(span.attributes.len() + 6);
    if !scope.name.is_empty() {
        out.push(str_tag("otel.scope.name", &scope.name));
    }
    if !scope.version.is_empty() {
        out.push(str_tag("otel.scope.version", &scope.version));
    }
    out.extend(tags(&span.attributes));
    if span.kind != SpanKind::Unspecified {
        out.push(str_tag("span.kind", kind_text(span.kind)));
    }
    match span.status_code {
        SpanStatusCode::Unset => {}
        SpanStatusCode::Ok => out.push(str_tag("otel.status_code", "OK")),
        SpanStatusCode::Error => {
            out.push(str_tag("otel.status_code", "ERROR"));
            out.push(json!({ "key": "error", "type": "bool", "value": true }));
        }
    }
    if !span.status_message.is_empty() {
        out.push(str_tag("otel.status_description", &span.status_message));
    }
    if !span.trace_state.is_empty() {
        out.push(str_tag("w3c.tracestate", &span.trace_state));
    }
    out
}

/// The process's tags: resource attributes other than `service.name`.
pub fn process_tags(res: &Resource) -> Vec<Value> {
    res.attributes
        .iter()
        .filter(|kv| kv.key != oxeye_core::trace::SERVICE_NAME)
        .map(|kv| tag(&kv.key, &kv.value))
        .collect()
}

/// The service name Jaeger shows for a resource.
pub fn service_name(res: &Resource) -> String {
    res.service_name().unwrap_or_default().to_string()
}

fn micros(nanos: u64) -> u64 {
    nanos / 1_000
}

fn span_json(trace_hex: &str, process: &str, scope: &Scope, s: &Span) -> Value {
    let mut refs = Vec::new();
    if !s.is_root() {
        refs.push(json!({
            "refType": "CHILD_OF",
            "traceID": trace_hex,
            "spanID": span_id(&s.parent_span_id),
        }));
    }
    for l in &s.links {
        refs.push(json!({
            "refType": "FOLLOWS_FROM",
            "traceID": trace_id(&l.trace_id),
            "spanID": span_id(&l.span_id),
        }));
    }
    let logs: Vec<Value> = s
        .events
        .iter()
        .map(|e| {
            let mut fields = Vec::new();
            if !e.name.is_empty() {
                fields.push(str_tag("event", &e.name));
            }
            fields.extend(tags(&e.attributes));
            json!({ "timestamp": micros(e.time_unix_nano), "fields": fields })
        })
        .collect();
    let mut m = Map::new();
    m.insert("traceID".into(), json!(trace_hex));
    m.insert("spanID".into(), json!(span_id(&s.span_id)));
    let flags = s.flags & 0xff;
    if flags != 0 {
        m.insert("flags".into(), json!(flags));
    }
    m.insert("operationName".into(), json!(s.name));
    m.insert("references".into(), Value::Array(refs));
    m.insert("startTime".into(), json!(micros(s.start_unix_nano)));
    m.insert("duration".into(), json!(micros(s.duration_nanos())));
    m.insert("tags".into(), Value::Array(span_tags(scope, s)));
    m.insert("logs".into(), Value::Array(logs));
    m.insert("processID".into(), json!(process));
    m.insert("warnings".into(), Value::Null);
    Value::Object(m)
}

/// One trace in Jaeger's JSON: `{traceID, spans, processes, warnings}`; spans in stored
/// order.
pub fn trace_json(trace: &Trace) -> Value {
    let trace_hex = trace_id(&trace.trace_id);
    let mut processes: Vec<(&Resource, String)> = Vec::new();
    let mut spans = Vec::new();
    for rs in &trace.resource_spans {
        let key = match processes.iter().find(|(r, _)| *r == &rs.resource) {
            Some((_, k)) => k.clone(),
            None => {
                let k = format!("p{}", processes.len() + 1);
                processes.push((&rs.resource, k.clone()));
                k
            }
        };
        for ss in &rs.scope_spans {
            for s in &ss.spans {
                spans.push(span_json(&trace_hex, &key, &ss.scope, s));
            }
        }
    }
    let procs: BTreeMap<String, Value> = processes
        .into_iter()
        .map(|(r, k)| {
            (
                k,
                json!({ "serviceName": service_name(r), "tags": process_tags(r) }),
            )
        })
        .collect();
    json!({
        "traceID": trace_hex,
        "spans": spans,
        "processes": procs,
        "warnings": null,
    })
}

/// A tag's value as text, the form Jaeger compares search tags in.
pub fn tag_value_text(tag: &Value) -> Option<String> {
    match tag.get("value")? {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_print_like_jaeger() {
        let mut id = [0u8; 16];
        id[15] = 0xab;
        assert_eq!(trace_id(&id), "00000000000000ab");
        id[0] = 1;
        assert_eq!(trace_id(&id), "010000000000000000000000000000ab");
        assert_eq!(span_id(&[0, 0, 0, 0, 0, 0, 1, 2]), "0000000000000102");
    }

    #[test]
    fn complex_values_are_json_text() {
        let v = AnyValue::KvList(vec![KeyValue::new(
            "a",
            AnyValue::Array(vec![AnyValue::Int(1), AnyValue::String("x".into())]),
        )]);
        assert_eq!(
            tag("k", &v),
            json!({"key": "k", "type": "string", "value": "{\"a\":[1,\"x\"]}"})
        );
        assert_eq!(
            tag_value_text(&tag("n", &AnyValue::Int(5))).as_deref(),
            Some("5")
        );
    }
}
