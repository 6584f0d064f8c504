//! OTLP traces -> the core trace model ([`oxeye_core::trace`]).
//!
//! The server decompresses the body, [`decode_traces_request`] parses protobuf or OTLP/JSON
//! into an [`ExportTraceServiceRequest`], and [`convert_traces`] (or
//! [`convert_traces_owned`], which moves strings instead of copying them) maps it onto a
//! [`TraceBatch`] field by field: resources, scopes, spans, events, links, status and every
//! attribute value kind are carried over unchanged.
//!
//! A span whose ids are unusable (trace id not 16 bytes or all zero, span id not 8 bytes or
//! all zero, parent id neither empty nor 8 bytes) is rejected on its own; the others are
//! kept. The rejected count and a message naming the first few rejected spans and why form
//! the OTLP partial success. Resources and scopes left without spans are dropped.

use opentelemetry_proto::tonic::common::v1::{
    AnyValue as OtlpAnyValue, InstrumentationScope, KeyValue as OtlpKeyValue, any_value,
};
use opentelemetry_proto::tonic::trace::v1::{Span as OtlpSpan, span};
use oxeye_core::trace::{
    AnyValue, KeyValue, Resource, ResourceSpans, Scope, ScopeSpans, Span, SpanEvent, SpanId,
    SpanKind, SpanLink, SpanStatusCode, TraceBatch, TraceId,
};
use prost::Message;

use crate::ProtoError;

pub use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};

/// At most this many rejected spans are named in the partial-success message.
const MAX_NAMED: usize = 5;

/// Parses an OTLP/HTTP traces body (already decompressed): `application/x-protobuf` (or no
/// Content-Type) is protobuf, `application/json` is OTLP/JSON (camelCase fields, hex trace
/// and span ids, enums as integers, 64-bit integers as strings or numbers).
pub fn decode_traces_request(
    content_type: Option<&str>,
    body: &[u8],
) -> Result<ExportTraceServiceRequest, ProtoError> {
    let media = content_type
        .and_then(|ct| ct.split(';').next())
        .map(str::trim)
        .unwrap_or("");
    if media.is_empty()
        || media.eq_ignore_ascii_case("application/x-protobuf")
        || media.eq_ignore_ascii_case("application/protobuf")
    {
        return ExportTraceServiceRequest::decode(body)
            .map_err(|e| ProtoError::Protobuf(e.to_string()));
    }
    if media.eq_ignore_ascii_case("application/json") {
        return serde_json::from_slice(body).map_err(|e| ProtoError::Json(e.to_string()));
    }
    Err(ProtoError::UnsupportedMediaType(
        content_type.unwrap_or_default().to_string(),
    ))
}

/// The result of converting one trace export request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConvertedTraces {
    /// Every span that converted, grouped as sent.
    pub batch: TraceBatch,
    /// Spans rejected for unusable ids.
    pub rejected_spans: u64,
    /// Empty when nothing was rejected; otherwise which spans and why.
    pub error_message: String,
}

/// Converts a request, copying its strings; see [`convert_traces_owned`].
pub fn convert_traces(req: &ExportTraceServiceRequest) -> ConvertedTraces {
    convert_traces_owned(req.clone())
}

/// Converts a request, moving its strings and attribute values into the batch.
pub fn convert_traces_owned(req: ExportTraceServiceRequest) -> ConvertedTraces {
    let mut rejects = Rejects::default();
    let mut resource_spans = Vec::with_capacity(req.resource_spans.len());
    for rs in req.resource_spans {
        let resource = rs
            .resource
            .map(|r| Resource {
                attributes: key_values(r.attributes),
                dropped_attributes_count: r.dropped_attributes_count,
            })
            .unwrap_or_default();
        let mut scope_spans = Vec::with_capacity(rs.scope_spans.len());
        for ss in rs.scope_spans {
            let mut spans = Vec::with_capacity(ss.spans.len());
            for s in ss.spans {
                match convert_span(s) {
                    Ok(span) => spans.push(span),
                    Err(why) => rejects.add(why),
                }
            }
            if spans.is_empty() {
                continue;
            }
            scope_spans.push(ScopeSpans {
                scope: ss.scope.map(scope).unwrap_or_default(),
                spans,
                schema_url: ss.schema_url,
            });
        }
        if scope_spans.is_empty() {
            continue;
        }
        resource_spans.push(ResourceSpans {
            resource,
            scope_spans,
            schema_url: rs.schema_url,
        });
    }
    ConvertedTraces {
        batch: TraceBatch { resource_spans },
        rejected_spans: rejects.count,
        error_message: rejects.message(),
    }
}

#[derive(Default)]
struct Rejects {
    count: u64,
    named: Vec<String>,
}

impl Rejects {
    fn add(&mut self, why: String) {
        self.count += 1;
        if self.named.len() < MAX_NAMED {
            self.named.push(why);
        }
    }

    fn message(&self) -> String {
        if self.count == 0 {
            return String::new();
        }
        let mut msg = format!("rejected {} spans: {}", self.count, self.named.join("; "));
        let unnamed = self.count.saturating_sub(self.named.len() as u64);
        if unnamed > 0 {
            msg.push_str(&format!(" (and {unnamed} more)"));
        }
        msg
    }
}

fn hex(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "<empty>".to_string();
    }
    hex::encode(bytes)
}

/// Names a span in a rejection message: its name, span id and trace id as sent.
fn describe(s: &OtlpSpan) -> String {
    format!(
        "span {:?} (span id {}, trace id {})",
        s.name,
        hex(&s.span_id),
        hex(&s.trace_id)
    )
}

fn trace_id(bytes: &[u8]) -> Option<TraceId> {
    let id: TraceId = bytes.try_into().ok()?;
    (id != [0; 16]).then_some(id)
}

fn span_id(bytes: &[u8]) -> Option<SpanId> {
    let id: SpanId = bytes.try_into().ok()?;
    (id != [0; 8]).then_some(id)
}

fn convert_span(s: OtlpSpan) -> Result<Span, String> {
    let Some(tid) = trace_id(&s.trace_id) else {
        return Err(format!(
            "{}: trace id must be 16 bytes and not all zero, got {} bytes",
            describe(&s),
            s.trace_id.len()
        ));
    };
    let Some(sid) = span_id(&s.span_id) else {
        return Err(format!(
            "{}: span id must be 8 bytes and not all zero, got {} bytes",
            describe(&s),
            s.span_id.len()
        ));
    };
    let parent: SpanId = match s.parent_span_id.len() {
        0 => [0; 8],
        _ => match <SpanId>::try_from(s.parent_span_id.as_slice()) {
            Ok(p) => p,
            Err(_) => {
                return Err(format!(
                    "{}: parent span id must be empty or 8 bytes, got {} bytes",
                    describe(&s),
                    s.parent_span_id.len()
                ));
            }
        },
    };
    let (status_code, status_message) = match s.status {
        Some(st) => (SpanStatusCode::from_i32(st.code), st.message),
        None => (SpanStatusCode::Unset, String::new()),
    };
    Ok(Span {
        trace_id: tid,
        span_id: sid,
        parent_span_id: parent,
        trace_state: s.trace_state,
        flags: s.flags,
        name: s.name,
        kind: SpanKind::from_i32(s.kind),
        start_unix_nano: s.start_time_unix_nano,
        end_unix_nano: s.end_time_unix_nano,
        attributes: key_values(s.attributes),
        dropped_attributes_count: s.dropped_attributes_count,
        events: s.events.into_iter().map(event).collect(),
        dropped_events_count: s.dropped_events_count,
        links: s.links.into_iter().map(link).collect(),
        dropped_links_count: s.dropped_links_count,
        status_code,
        status_message,
    })
}

fn event(e: span::Event) -> SpanEvent {
    SpanEvent {
        time_unix_nano: e.time_unix_nano,
        name: e.name,
        attributes: key_values(e.attributes),
        dropped_attributes_count: e.dropped_attributes_count,
    }
}

/// A link keeps its ids as sent, zero-padded or cut to the model's fixed sizes (a link to
/// a malformed id is still worth showing; it does not make the span unusable).
fn link(l: span::Link) -> SpanLink {
    let mut trace_id = [0u8; 16];
    let n = l.trace_id.len().min(16);
    trace_id[..n].copy_from_slice(&l.trace_id[..n]);
    let mut span_id = [0u8; 8];
    let n = l.span_id.len().min(8);
    span_id[..n].copy_from_slice(&l.span_id[..n]);
    SpanLink {
        trace_id,
        span_id,
        trace_state: l.trace_state,
        attributes: key_values(l.attributes),
        dropped_attributes_count: l.dropped_attributes_count,
        flags: l.flags,
    }
}

fn scope(s: InstrumentationScope) -> Scope {
    Scope {
        name: s.name,
        version: s.version,
        attributes: key_values(s.attributes),
        dropped_attributes_count: s.dropped_attributes_count,
    }
}

fn key_values(kvs: Vec<OtlpKeyValue>) -> Vec<KeyValue> {
    kvs.into_iter()
        .map(|kv| KeyValue {
            key: kv.key,
            value: kv.value.map(any_value_of).unwrap_or_default(),
        })
        .collect()
}

/// OTLP's `AnyValue` as the model's; a string-table index (a profiles-only encoding that
/// has no meaning in a trace request) is no value.
pub fn any_value_of(v: OtlpAnyValue) -> AnyValue {
    match v.value {
        None | Some(any_value::Value::StringValueStrindex(_)) => AnyValue::Empty,
        Some(any_value::Value::StringValue(s)) => AnyValue::String(s),
        Some(any_value::Value::BoolValue(b)) => AnyValue::Bool(b),
        Some(any_value::Value::IntValue(i)) => AnyValue::Int(i),
        Some(any_value::Value::DoubleValue(d)) => AnyValue::Double(d),
        Some(any_value::Value::ArrayValue(a)) => {
            AnyValue::Array(a.values.into_iter().map(any_value_of).collect())
        }
        Some(any_value::Value::KvlistValue(l)) => AnyValue::KvList(key_values(l.values)),
        Some(any_value::Value::BytesValue(b)) => AnyValue::Bytes(b),
    }
}

#[cfg(test)]
#[path = "trace_in_tests.rs"]
mod tests;
