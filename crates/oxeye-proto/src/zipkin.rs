//! Zipkin v2 JSON spans (`POST /api/v2/spans`) -> the core trace model.
//!
//! [`decode_spans`] parses the JSON array and maps each span the way the OpenTelemetry
//! collector's Zipkin receiver does, so a span looks the same whether it arrived as Zipkin
//! or as OTLP:
//!
//! - ids are hex; 64-bit trace ids (16 characters) are left-padded to 128 bits, and
//!   shorter ids are left-padded with zeros as Zipkin does; a parent equal to the span's
//!   own id means no parent;
//! - `kind` CLIENT/SERVER/PRODUCER/CONSUMER maps to the span kind; without one, a
//!   `span.kind=internal` tag makes the span internal;
//! - `timestamp` and `duration` (µs) give the start and end (ns); a span without a
//!   timestamp (or a zero one) starts at 0 and carries
//!   `otel.zipkin.absentField.startTime=true`;
//! - `localEndpoint.serviceName` is the resource's `service.name`; spans are grouped by
//!   service into resources; tags naming resource attributes (`service.namespace`,
//!   `host.*`, `telemetry.sdk.*`...) go to the resource, `otel.library.name|version`
//!   (or `otel.scope.name|version`) to the scope;
//! - endpoint addresses become `net.host.ip`/`net.host.port` (local) and `peer.service`,
//!   `net.peer.ip`/`net.peer.port` (remote);
//! - `otel.status_code`/`otel.status_description` tags set the status; an `error` tag makes
//!   the status an error (its value, unless `true`, becomes the status message);
//!   `w3c.tracestate` sets the trace state; `otlp.link.N` tags become links; every other
//!   tag is a string attribute;
//! - annotations become events (an OTel-encoded `name|{json attributes}|dropped` value is
//!   split into its parts).
//!
//! Zipkin's `debug` and `shared` flags have no OTLP counterpart and, as in the collector,
//! are not kept. Any malformed span fails the whole request, as Zipkin answers.

use std::collections::{BTreeMap, HashMap};

use oxeye_core::trace::{
    AnyValue, KeyValue, Resource, ResourceSpans, Scope, ScopeSpans, Span, SpanEvent, SpanId,
    SpanKind, SpanLink, SpanStatusCode, TraceBatch, TraceId,
};
use serde::Deserialize;

use crate::ProtoError;

/// The attribute marking a span that arrived without a start time.
pub const START_TIME_ABSENT: &str = "otel.zipkin.absentField.startTime";

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ZipkinSpan {
    trace_id: Option<String>,
    id: Option<String>,
    parent_id: Option<String>,
    name: Option<String>,
    kind: Option<String>,
    timestamp: Option<serde_json::Number>,
    duration: Option<serde_json::Number>,
    local_endpoint: Option<Endpoint>,
    remote_endpoint: Option<Endpoint>,
    annotations: Option<Vec<Annotation>>,
    tags: Option<BTreeMap<String, serde_json::Value>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Endpoint {
    service_name: Option<String>,
    ipv4: Option<String>,
    ipv6: Option<String>,
    port: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct Annotation {
    timestamp: Option<serde_json::Number>,
    value: Option<String>,
}

/// Decodes a Zipkin v2 JSON array of spans.
pub fn decode_spans(body: &[u8]) -> Result<TraceBatch, ProtoError> {
    let spans: Vec<ZipkinSpan> =
        serde_json::from_slice(body).map_err(|e| ProtoError::Json(e.to_string()))?;
    let mut batch = TraceBatch::default();
    let mut index = Index::default();
    for (i, z) in spans.into_iter().enumerate() {
        let (resource, scope, span) =
            convert(z).map_err(|e| ProtoError::Invalid(format!("span {i}: {e}")))?;
        index.add(&mut batch, resource, scope, span);
    }
    Ok(batch)
}

/// Where each resource and scope already sits in the batch, so grouping stays linear in
/// the number of spans however many distinct services a body names.
#[derive(Default)]
struct Index {
    resources: HashMap<String, usize>,
    scopes: HashMap<(usize, String), usize>,
}

impl Index {
    /// Puts a span under its resource and scope, creating them on first use.
    fn add(&mut self, batch: &mut TraceBatch, resource: Resource, scope: Scope, span: Span) {
        let rkey = format!("{resource:?}");
        let ri = *self.resources.entry(rkey).or_insert_with(|| {
            batch.resource_spans.push(ResourceSpans {
                resource,
                ..ResourceSpans::default()
            });
            batch.resource_spans.len() - 1
        });
        let Some(rs) = batch.resource_spans.get_mut(ri) else {
            debug_assert!(false, "resource index {ri} out of range");
            return;
        };
        let si = *self
            .scopes
            .entry((ri, format!("{scope:?}")))
            .or_insert_with(|| {
                rs.scope_spans.push(ScopeSpans {
                    scope,
                    ..ScopeSpans::default()
                });
                rs.scope_spans.len() - 1
            });
        if let Some(ss) = rs.scope_spans.get_mut(si) {
            ss.spans.push(span);
        }
    }
}

/// Parses 1 to `N * 2` hex characters into `N` bytes, left-padded with zeros.
fn parse_id<const N: usize>(field: &str, raw: &str) -> Result<[u8; N], String> {
    let bad = || {
        format!(
            "{field} {raw:?} is not 1 to {} hexadecimal characters",
            N * 2
        )
    };
    if raw.is_empty() || raw.len() > N * 2 || !raw.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    let padded = format!("{raw:0>width$}", width = N * 2);
    let mut out = [0u8; N];
    hex::decode_to_slice(padded, &mut out).map_err(|_| bad())?;
    Ok(out)
}

/// Microseconds as sent (integers, or floats some clients write) -> nanoseconds.
fn micros_to_nanos(field: &str, n: &serde_json::Number) -> Result<u64, String> {
    let micros = match n.as_u64() {
        Some(v) => v,
        None => match n.as_f64() {
            Some(f) if f >= 0.0 && f.is_finite() => f as u64,
            _ => {
                return Err(format!(
                    "{field} {n} is not a non-negative number of microseconds"
                ));
            }
        },
    };
    micros
        .checked_mul(1000)
        .ok_or_else(|| format!("{field} {n} is out of range"))
}

fn tag_text(v: serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s,
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Whether a tag names a resource attribute (OpenTelemetry's resource conventions).
fn is_resource_tag(key: &str) -> bool {
    const EXACT: &[&str] = &[
        "service.namespace",
        "service.instance.id",
        "service.version",
        "deployment.environment",
        "opencensus.exporterversion",
        "opencensus.resourcetype",
        "opencensus.starttime",
    ];
    const PREFIXES: &[&str] = &[
        "telemetry.sdk.",
        "telemetry.auto.",
        "host.",
        "container.",
        "k8s.",
        "process.",
        "cloud.",
        "os.",
        "faas.",
        "device.",
        "webengine.",
        "aws.ecs.",
        "aws.eks.",
        "aws.log.",
    ];
    EXACT.contains(&key) || PREFIXES.iter().any(|p| key.starts_with(p))
}

fn status_code(v: &str) -> SpanStatusCode {
    match v.to_ascii_uppercase().as_str() {
        "OK" | "STATUS_CODE_OK" => SpanStatusCode::Ok,
        "ERROR" | "STATUS_CODE_ERROR" => SpanStatusCode::Error,
        _ => SpanStatusCode::Unset,
    }
}

/// `{"k": "v", "n": 1}` as attributes: integral numbers as ints, others as doubles.
fn json_attributes(json: &str) -> Option<Vec<KeyValue>> {
    let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(json).ok()?;
    let mut out = Vec::with_capacity(map.len());
    for (k, v) in map {
        let value = match v {
            serde_json::Value::String(s) => AnyValue::String(s),
            serde_json::Value::Bool(b) => AnyValue::Bool(b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => AnyValue::Int(i),
                None => AnyValue::Double(n.as_f64().unwrap_or(0.0)),
            },
            _ => continue,
        };
        out.push(KeyValue::new(k, value));
    }
    Some(out)
}

/// An annotation value as the event's name, attributes and dropped count: plain values are
/// the name; `name|{json}|dropped` (how OTel exporters encode event attributes) is split.
fn event_parts(value: String) -> (String, Vec<KeyValue>, u32) {
    let parts: Vec<&str> = value.split('|').collect();
    if let [name, json @ .., dropped] = parts.as_slice()
        && !json.is_empty()
        && let (Some(attrs), Ok(dropped)) = (json_attributes(&json.join("|")), dropped.parse())
    {
        return (name.to_string(), attrs, dropped);
    }
    (value, Vec::new(), 0)
}

/// `traceid|spanid|tracestate|{json}|dropped`, how OTel exporters encode links as tags.
fn link_of(value: &str) -> Option<SpanLink> {
    let parts: Vec<&str> = value.split('|').collect();
    let [trace, span, state, json @ .., dropped] = parts.as_slice() else {
        return None;
    };
    if json.is_empty() {
        return None;
    }
    Some(SpanLink {
        trace_id: parse_id::<16>("link trace id", trace).ok()?,
        span_id: parse_id::<8>("link span id", span).ok()?,
        trace_state: state.to_string(),
        attributes: json_attributes(&json.join("|"))?,
        dropped_attributes_count: dropped.parse().ok()?,
        flags: 0,
    })
}

fn convert(z: ZipkinSpan) -> Result<(Resource, Scope, Span), String> {
    let trace_id: TraceId = parse_id("traceId", z.trace_id.as_deref().unwrap_or(""))?;
    let span_id: SpanId = parse_id("id", z.id.as_deref().unwrap_or(""))?;
    if trace_id == [0; 16] {
        return Err("traceId is all zeros".into());
    }
    if span_id == [0; 8] {
        return Err("id is all zeros".into());
    }
    let parent_span_id = match z.parent_id.as_deref() {
        None | Some("") => [0; 8],
        Some(p) => {
            let p: SpanId = parse_id("parentId", p)?;
            if p == span_id { [0; 8] } else { p }
        }
    };
    let mut tags: BTreeMap<String, String> = z
        .tags
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, tag_text(v)))
        .collect();

    let local = z.local_endpoint.unwrap_or_default();
    let mut resource = Resource::default();
    if let Some(svc) = local.service_name.as_deref().filter(|s| !s.is_empty()) {
        resource
            .attributes
            .push(KeyValue::string("service.name", svc));
    }
    let mut scope = Scope::default();
    let mut span = Span {
        trace_id,
        span_id,
        parent_span_id,
        name: z.name.unwrap_or_default(),
        ..Span::default()
    };

    span.kind = match z.kind.as_deref().map(str::to_ascii_uppercase).as_deref() {
        Some("CLIENT") => SpanKind::Client,
        Some("SERVER") => SpanKind::Server,
        Some("PRODUCER") => SpanKind::Producer,
        Some("CONSUMER") => SpanKind::Consumer,
        Some(other) if !other.is_empty() => return Err(format!("unknown kind {other:?}")),
        _ => match tags.remove("span.kind").as_deref() {
            Some("internal") => SpanKind::Internal,
            _ => SpanKind::Unspecified,
        },
    };
    if let Some(state) = tags.remove("w3c.tracestate") {
        span.trace_state = state;
    }
    if let Some(code) = tags.remove("otel.status_code") {
        span.status_code = status_code(&code);
        if let Some(msg) = tags.remove("otel.status_description") {
            span.status_message = msg;
        }
    }
    if let Some(err) = tags.remove("error") {
        span.status_code = SpanStatusCode::Error;
        if err != "true" && !err.is_empty() && span.status_message.is_empty() {
            span.status_message = err;
        }
    }
    for name_key in ["otel.library.name", "otel.scope.name"] {
        if let Some(v) = tags.remove(name_key) {
            scope.name = v;
        }
    }
    for version_key in ["otel.library.version", "otel.scope.version"] {
        if let Some(v) = tags.remove(version_key) {
            scope.version = v;
        }
    }
    let mut i = 0;
    while let Some(v) = tags.remove(&format!("otlp.link.{i}")) {
        span.links.extend(link_of(&v));
        i += 1;
    }
    for (k, v) in tags {
        if is_resource_tag(&k) {
            resource.attributes.push(KeyValue::string(k, v));
        } else {
            span.attributes.push(KeyValue::string(k, v));
        }
    }
    endpoint_attrs(&mut span.attributes, &local, "net.host.ip", "net.host.port");
    if let Some(remote) = z.remote_endpoint {
        if let Some(svc) = remote.service_name.as_deref().filter(|s| !s.is_empty()) {
            span.attributes.push(KeyValue::string("peer.service", svc));
        }
        endpoint_attrs(
            &mut span.attributes,
            &remote,
            "net.peer.ip",
            "net.peer.port",
        );
    }

    let duration = match &z.duration {
        Some(d) => micros_to_nanos("duration", d)?,
        None => 0,
    };
    let start = match &z.timestamp {
        Some(t) => micros_to_nanos("timestamp", t)?,
        None => 0,
    };
    if start == 0 {
        // absent and zero are the same to Zipkin
        span.attributes
            .push(KeyValue::new(START_TIME_ABSENT, AnyValue::Bool(true)));
    }
    span.start_unix_nano = start;
    span.end_unix_nano = span.start_unix_nano.saturating_add(duration);

    for a in z.annotations.unwrap_or_default() {
        let time_unix_nano = match &a.timestamp {
            Some(t) => micros_to_nanos("annotation timestamp", t)?,
            None => 0,
        };
        let (name, attributes, dropped_attributes_count) = event_parts(a.value.unwrap_or_default());
        span.events.push(SpanEvent {
            time_unix_nano,
            name,
            attributes,
            dropped_attributes_count,
        });
    }
    Ok((resource, scope, span))
}

fn endpoint_attrs(attrs: &mut Vec<KeyValue>, e: &Endpoint, ip_key: &str, port_key: &str) {
    // IPv6 wins when both are given, as in the collector
    for ip in [&e.ipv4, &e.ipv6].into_iter().flatten() {
        if ip.is_empty() {
            continue;
        }
        attrs.retain(|kv| kv.key != ip_key);
        attrs.push(KeyValue::string(ip_key, ip.as_str()));
    }
    if let Some(port) = e.port.filter(|p| *p > 0) {
        attrs.retain(|kv| kv.key != port_key);
        attrs.push(KeyValue::new(port_key, AnyValue::Int(port)));
    }
}

#[cfg(test)]
#[path = "zipkin_tests.rs"]
mod tests;
