//! The trace model and the narrow traits between trace ingest, the trace store and
//! TraceQL.
//!
//! The model mirrors OTLP's nesting so nothing a sender set is lost on the way through:
//! a [`ResourceSpans`] holds a [`Resource`] and its [`ScopeSpans`], which hold [`Span`]s.
//! A [`Trace`] is every stored span of one trace id, regrouped the same way.
//!
//! Writes: decoders build a [`TraceBatch`] and hand it to a [`SpanAppender`], which
//! returns once it is durable. Reads: a [`TraceQueryable`] finds one trace by id, visits
//! the traces of a time range for search (TraceQL filters what it is given; the store may
//! use [`TraceScan::hints`] to skip data that cannot match), and lists tag names, tag
//! values and operations from its dictionaries.
//!
//! Times are nanoseconds since the epoch (`u64`, as OTLP carries them).

use std::collections::BTreeSet;
use std::ops::ControlFlow;

use crate::{StoreError, TenantId};

/// A 16-byte trace id.
pub type TraceId = [u8; 16];

/// An 8-byte span id.
pub type SpanId = [u8; 8];

/// An attribute value: OTLP's `AnyValue`.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum AnyValue {
    /// No value set.
    #[default]
    Empty,
    /// A string.
    String(String),
    /// A boolean.
    Bool(bool),
    /// A 64-bit integer.
    Int(i64),
    /// A double.
    Double(f64),
    /// An array of values.
    Array(Vec<AnyValue>),
    /// A nested key-value list.
    KvList(Vec<KeyValue>),
    /// Raw bytes.
    Bytes(Vec<u8>),
}

impl AnyValue {
    /// The value as a string, if it is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            AnyValue::String(s) => Some(s),
            _ => None,
        }
    }

    /// The value as text: strings as they are, other scalars in their usual form,
    /// arrays and lists as JSON-like text.
    pub fn to_text(&self) -> String {
        match self {
            AnyValue::Empty => String::new(),
            AnyValue::String(s) => s.clone(),
            AnyValue::Bool(b) => b.to_string(),
            AnyValue::Int(i) => i.to_string(),
            AnyValue::Double(d) => d.to_string(),
            AnyValue::Array(a) => {
                let parts: Vec<String> = a.iter().map(AnyValue::to_text).collect();
                format!("[{}]", parts.join(","))
            }
            AnyValue::KvList(kvs) => {
                let parts: Vec<String> = kvs
                    .iter()
                    .map(|kv| format!("{}:{}", kv.key, kv.value.to_text()))
                    .collect();
                format!("{{{}}}", parts.join(","))
            }
            AnyValue::Bytes(b) => b.iter().map(|x| format!("{x:02x}")).collect(),
        }
    }
}

/// A named attribute.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct KeyValue {
    /// The attribute name.
    pub key: String,
    /// Its value.
    pub value: AnyValue,
}

impl KeyValue {
    /// A string attribute.
    pub fn string(key: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            value: AnyValue::String(value.into()),
        }
    }

    /// An attribute of any value.
    pub fn new(key: impl Into<String>, value: AnyValue) -> Self {
        Self {
            key: key.into(),
            value,
        }
    }
}

/// The value of `key` among `attrs`, if present.
pub fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a AnyValue> {
    attrs.iter().find(|kv| kv.key == key).map(|kv| &kv.value)
}

/// The resource attribute naming the service.
pub const SERVICE_NAME: &str = "service.name";

/// OTLP's span kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum SpanKind {
    /// Not set.
    #[default]
    Unspecified = 0,
    /// Internal operation.
    Internal = 1,
    /// Server side of a synchronous call.
    Server = 2,
    /// Client side of a synchronous call.
    Client = 3,
    /// Sender of an asynchronous message.
    Producer = 4,
    /// Receiver of an asynchronous message.
    Consumer = 5,
}

impl SpanKind {
    /// From OTLP's integer (unknown values are `Unspecified`).
    pub fn from_i32(v: i32) -> Self {
        match v {
            1 => SpanKind::Internal,
            2 => SpanKind::Server,
            3 => SpanKind::Client,
            4 => SpanKind::Producer,
            5 => SpanKind::Consumer,
            _ => SpanKind::Unspecified,
        }
    }

    /// TraceQL's name: `unspecified`, `internal`, `server`, `client`, `producer`, `consumer`.
    pub fn as_str(self) -> &'static str {
        match self {
            SpanKind::Unspecified => "unspecified",
            SpanKind::Internal => "internal",
            SpanKind::Server => "server",
            SpanKind::Client => "client",
            SpanKind::Producer => "producer",
            SpanKind::Consumer => "consumer",
        }
    }
}

/// OTLP's span status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum SpanStatusCode {
    /// Not set.
    #[default]
    Unset = 0,
    /// Explicitly successful.
    Ok = 1,
    /// Failed.
    Error = 2,
}

impl SpanStatusCode {
    /// From OTLP's integer (unknown values are `Unset`).
    pub fn from_i32(v: i32) -> Self {
        match v {
            1 => SpanStatusCode::Ok,
            2 => SpanStatusCode::Error,
            _ => SpanStatusCode::Unset,
        }
    }

    /// TraceQL's name: `unset`, `ok`, `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            SpanStatusCode::Unset => "unset",
            SpanStatusCode::Ok => "ok",
            SpanStatusCode::Error => "error",
        }
    }
}

/// A timed event within a span.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SpanEvent {
    /// When it happened, ns.
    pub time_unix_nano: u64,
    /// Its name.
    pub name: String,
    /// Its attributes.
    pub attributes: Vec<KeyValue>,
    /// Attributes the sender dropped.
    pub dropped_attributes_count: u32,
}

/// A link from a span to another span.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SpanLink {
    /// The linked span's trace.
    pub trace_id: TraceId,
    /// The linked span.
    pub span_id: SpanId,
    /// W3C trace state.
    pub trace_state: String,
    /// The link's attributes.
    pub attributes: Vec<KeyValue>,
    /// Attributes the sender dropped.
    pub dropped_attributes_count: u32,
    /// W3C trace flags.
    pub flags: u32,
}

/// One span.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Span {
    /// The trace it belongs to.
    pub trace_id: TraceId,
    /// Its id.
    pub span_id: SpanId,
    /// Its parent; all zero for a root span.
    pub parent_span_id: SpanId,
    /// W3C trace state.
    pub trace_state: String,
    /// W3C trace flags.
    pub flags: u32,
    /// The operation name.
    pub name: String,
    /// The kind.
    pub kind: SpanKind,
    /// Start, ns.
    pub start_unix_nano: u64,
    /// End, ns.
    pub end_unix_nano: u64,
    /// Span attributes.
    pub attributes: Vec<KeyValue>,
    /// Attributes the sender dropped.
    pub dropped_attributes_count: u32,
    /// Events.
    pub events: Vec<SpanEvent>,
    /// Events the sender dropped.
    pub dropped_events_count: u32,
    /// Links.
    pub links: Vec<SpanLink>,
    /// Links the sender dropped.
    pub dropped_links_count: u32,
    /// Status code.
    pub status_code: SpanStatusCode,
    /// Status message.
    pub status_message: String,
}

impl Span {
    /// Whether the span has no parent.
    pub fn is_root(&self) -> bool {
        self.parent_span_id == [0; 8]
    }

    /// Duration in ns (0 if the end precedes the start).
    pub fn duration_nanos(&self) -> u64 {
        self.end_unix_nano.saturating_sub(self.start_unix_nano)
    }
}

/// The entity that produced spans (a service instance).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Resource {
    /// Resource attributes (`service.name`...).
    pub attributes: Vec<KeyValue>,
    /// Attributes the sender dropped.
    pub dropped_attributes_count: u32,
}

impl Resource {
    /// The `service.name` attribute, if it is a string.
    pub fn service_name(&self) -> Option<&str> {
        attr(&self.attributes, SERVICE_NAME).and_then(AnyValue::as_str)
    }
}

/// The instrumentation library that recorded spans.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Scope {
    /// Library name.
    pub name: String,
    /// Library version.
    pub version: String,
    /// Scope attributes.
    pub attributes: Vec<KeyValue>,
    /// Attributes the sender dropped.
    pub dropped_attributes_count: u32,
}

/// Spans of one instrumentation scope.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ScopeSpans {
    /// The scope.
    pub scope: Scope,
    /// Its spans.
    pub spans: Vec<Span>,
    /// Schema URL.
    pub schema_url: String,
}

/// Spans of one resource.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ResourceSpans {
    /// The resource.
    pub resource: Resource,
    /// Spans grouped by scope.
    pub scope_spans: Vec<ScopeSpans>,
    /// Schema URL.
    pub schema_url: String,
}

fn span_count(rs: &[ResourceSpans]) -> usize {
    rs.iter()
        .flat_map(|r| &r.scope_spans)
        .map(|s| s.spans.len())
        .sum()
}

fn flat_spans(rs: &[ResourceSpans]) -> impl Iterator<Item = (&Resource, &Scope, &Span)> {
    rs.iter().flat_map(|rs| {
        rs.scope_spans.iter().flat_map(move |ss| {
            ss.spans
                .iter()
                .map(move |span| (&rs.resource, &ss.scope, span))
        })
    })
}

/// One write of spans, what [`SpanAppender::append_spans`] takes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TraceBatch {
    /// Spans grouped by resource and scope, as OTLP sends them.
    pub resource_spans: Vec<ResourceSpans>,
}

impl TraceBatch {
    /// Total spans in the batch.
    pub fn span_count(&self) -> usize {
        span_count(&self.resource_spans)
    }

    /// Every span with its resource and scope.
    pub fn spans(&self) -> impl Iterator<Item = (&Resource, &Scope, &Span)> {
        flat_spans(&self.resource_spans)
    }
}

/// Every stored span of one trace, grouped by resource and scope.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Trace {
    /// The trace id.
    pub trace_id: TraceId,
    /// Its spans.
    pub resource_spans: Vec<ResourceSpans>,
}

impl Trace {
    /// Total spans.
    pub fn span_count(&self) -> usize {
        span_count(&self.resource_spans)
    }

    /// Every span with its resource and scope.
    pub fn spans(&self) -> impl Iterator<Item = (&Resource, &Scope, &Span)> {
        flat_spans(&self.resource_spans)
    }

    /// Earliest span start and latest span end, ns; `None` without spans.
    pub fn time_range(&self) -> Option<(u64, u64)> {
        self.spans().fold(None, |acc, (_, _, s)| match acc {
            None => Some((s.start_unix_nano, s.end_unix_nano)),
            Some((a, b)) => Some((a.min(s.start_unix_nano), b.max(s.end_unix_nano))),
        })
    }

    /// The root span (no parent) with its resource; when several or none have no
    /// parent, the earliest-starting candidate.
    pub fn root(&self) -> Option<(&Resource, &Span)> {
        let mut best: Option<(&Resource, &Span)> = None;
        for (res, _, span) in self.spans() {
            let better = match best {
                None => true,
                Some((_, b)) => {
                    (span.is_root(), std::cmp::Reverse(span.start_unix_nano))
                        > (b.is_root(), std::cmp::Reverse(b.start_unix_nano))
                }
            };
            if better {
                best = Some((res, span));
            }
        }
        best
    }
}

/// What an append stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SpanAppendStats {
    /// Spans stored.
    pub spans: usize,
}

/// The write side of a trace store.
pub trait SpanAppender: Send + Sync {
    /// Validates the whole batch, then stores it; returns once it is durable per the
    /// store's sync policy. A batch that fails validation stores nothing. Blocking: call
    /// from a blocking context.
    fn append_spans(
        &self,
        tenant: &TenantId,
        batch: TraceBatch,
    ) -> Result<SpanAppendStats, StoreError>;
}

/// Where an attribute lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AttrScope {
    /// On the resource.
    Resource,
    /// On the span.
    Span,
}

/// A condition every trace a scan returns could satisfy; a store uses hints only to skip
/// data that cannot match, never to decide a match.
#[derive(Debug, Clone, PartialEq)]
pub enum ScanHint {
    /// Some span (or its resource, for `AttrScope::Resource`) has `key` equal to the
    /// string `value`.
    AttrEquals {
        /// Resource or span; `None` for either.
        scope: Option<AttrScope>,
        /// The attribute name.
        key: String,
        /// The string value.
        value: String,
    },
    /// Some span has this name.
    SpanName(String),
    /// Some span has at least this duration, ns.
    MinSpanDuration(u64),
}

/// A request to visit the traces of a time range.
#[derive(Debug, Clone, Default)]
pub struct TraceScan {
    /// Traces with a span ending at or after this, ns.
    pub start_nanos: u64,
    /// Traces with a span starting at or before this, ns (`u64::MAX` for no bound).
    pub end_nanos: u64,
    /// Conditions for skipping data; may be ignored.
    pub hints: Vec<ScanHint>,
}

/// Tag names per scope.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TagNames {
    /// Resource attribute names.
    pub resource: BTreeSet<String>,
    /// Span attribute names.
    pub span: BTreeSet<String>,
}

/// One operation: a span name seen for a service, with its kind.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Operation {
    /// The resource's `service.name`.
    pub service: String,
    /// The span name.
    pub name: String,
    /// The span kind.
    pub kind: SpanKind,
}

/// The read side of a trace store.
pub trait TraceQueryable: Send + Sync {
    /// Every stored span of `trace_id` for `tenant`, or `None` when it has none. With
    /// `range` (ns, inclusive), data wholly outside it may be skipped.
    fn trace_by_id(
        &self,
        tenant: &TenantId,
        trace_id: &TraceId,
        range: Option<(u64, u64)>,
    ) -> Result<Option<Trace>, StoreError>;

    /// Calls `visit` with whole traces that have a span within the scan's range, newest
    /// data first, until it returns `Break`. Each trace is visited once, with every
    /// stored span of it.
    fn scan(
        &self,
        tenant: &TenantId,
        scan: &TraceScan,
        visit: &mut dyn FnMut(&Trace) -> ControlFlow<()>,
    ) -> Result<(), StoreError>;

    /// Attribute names seen in `[start, end]` (ns).
    fn tag_names(&self, tenant: &TenantId, start: u64, end: u64) -> Result<TagNames, StoreError>;

    /// Distinct values of attribute `key` in `scope` (either, when `None`) seen in
    /// `[start, end]`, at most `limit`.
    fn tag_values(
        &self,
        tenant: &TenantId,
        scope: Option<AttrScope>,
        key: &str,
        start: u64,
        end: u64,
        limit: usize,
    ) -> Result<Vec<AnyValue>, StoreError>;

    /// Operations seen in `[start, end]`, for one service or all, sorted.
    fn operations(
        &self,
        tenant: &TenantId,
        service: Option<&str>,
        start: u64,
        end: u64,
    ) -> Result<Vec<Operation>, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(id: u8, parent: u8, start: u64) -> Span {
        Span {
            span_id: [id; 8],
            parent_span_id: [parent; 8],
            start_unix_nano: start,
            end_unix_nano: start + 10,
            ..Span::default()
        }
    }

    #[test]
    fn root_prefers_parentless_then_earliest() {
        let trace = Trace {
            trace_id: [1; 16],
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![span(2, 1, 5), span(1, 0, 20), span(3, 1, 1)],
                    ..ScopeSpans::default()
                }],
                ..ResourceSpans::default()
            }],
        };
        assert_eq!(trace.root().map(|(_, s)| s.span_id), Some([1; 8]));
        assert_eq!(trace.time_range(), Some((1, 30)));
        assert_eq!(trace.span_count(), 3);
    }

    #[test]
    fn values_render_as_text() {
        let v = AnyValue::Array(vec![AnyValue::Int(1), AnyValue::Bool(true)]);
        assert_eq!(v.to_text(), "[1,true]");
        assert_eq!(AnyValue::Bytes(vec![0xab, 1]).to_text(), "ab01");
    }
}
