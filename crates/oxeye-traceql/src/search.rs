//! Trace search: what Tempo's `/api/search` answers, as plain structs.
//!
//! [`search`] parses the query, asks the store to visit the traces of the range with
//! hints derived from the query, keeps traces whose duration is within
//! `min/max_duration_nanos`, evaluates the query on each and stops at `limit` matches.
//! The store visits the newest data first, but a trace's position in that order is only
//! roughly its age, so the result is the first `limit` matches in scan order (sorted
//! by start time, newest first, before returning), not exactly the most recent ones.
//! Each matching trace reports its root span's service and name (or
//! [`ROOT_SPAN_NOT_YET_RECEIVED`]) and its spansets, each with at most
//! `spans_per_spanset` spans (earliest first) and the count of spans it matched.
//!
//! A request bounds its own cost: `limit` is clamped to [`MAX_LIMIT`],
//! `spans_per_spanset` to [`MAX_SPANS_PER_SPANSET`], and with a `deadline` the search
//! fails with [`TraceqlError::Timeout`] at the first trace visited after it.

use std::ops::ControlFlow;
use std::time::Instant;

use oxeye_core::TenantId;
use oxeye_core::trace::{KeyValue, SERVICE_NAME, SpanId, TraceId, TraceQueryable, TraceScan, attr};

use crate::ast::{Attribute, Intrinsic};
use crate::error::TraceqlError;
use crate::eval::push_unique;
use crate::lexer::AttrScopeKind;
use crate::{MatchedSpan, Query};

/// Traces returned when the request does not say.
pub const DEFAULT_LIMIT: usize = 20;
/// Spans per spanset returned when the request does not say.
pub const DEFAULT_SPANS_PER_SPANSET: usize = 3;
/// The most traces one search returns; larger limits are clamped to this.
pub const MAX_LIMIT: usize = 10_000;
/// The most spans per spanset one search returns; larger values are clamped to this.
pub const MAX_SPANS_PER_SPANSET: usize = 100;
/// The root service name of a trace whose root span has not arrived (Tempo's text).
pub const ROOT_SPAN_NOT_YET_RECEIVED: &str = "<root span not yet received>";

/// A search request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchRequest {
    /// TraceQL; empty means `{}`.
    pub query: String,
    /// Traces with a span ending at or after this, ns.
    pub start_nanos: u64,
    /// Traces with a span starting at or before this, ns.
    pub end_nanos: u64,
    /// Most traces to return; 0 means [`DEFAULT_LIMIT`], above [`MAX_LIMIT`] means
    /// [`MAX_LIMIT`].
    pub limit: usize,
    /// Most spans per spanset to return; 0 means [`DEFAULT_SPANS_PER_SPANSET`], above
    /// [`MAX_SPANS_PER_SPANSET`] means [`MAX_SPANS_PER_SPANSET`].
    pub spans_per_spanset: usize,
    /// Only traces lasting at least this long, ns.
    pub min_duration_nanos: Option<u64>,
    /// Only traces lasting at most this long, ns.
    pub max_duration_nanos: Option<u64>,
    /// When set, the search fails with [`TraceqlError::Timeout`] once this has passed
    /// (checked before evaluating each trace the store visits).
    pub deadline: Option<Instant>,
}

impl Default for SearchRequest {
    fn default() -> Self {
        SearchRequest {
            query: String::new(),
            start_nanos: 0,
            end_nanos: u64::MAX,
            limit: DEFAULT_LIMIT,
            spans_per_spanset: DEFAULT_SPANS_PER_SPANSET,
            min_duration_nanos: None,
            max_duration_nanos: None,
            deadline: None,
        }
    }
}

impl SearchRequest {
    /// A request for `query` over all time with default limits.
    pub fn new(query: impl Into<String>) -> Self {
        SearchRequest {
            query: query.into(),
            ..SearchRequest::default()
        }
    }
}

/// One span of a returned spanset.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanMatch {
    /// The span id.
    pub span_id: SpanId,
    /// The span name.
    pub name: String,
    /// Start, ns.
    pub start_time_unix_nano: u64,
    /// Duration, ns.
    pub duration_nanos: u64,
    /// Attributes the query refers to, values `select()` added, and `service.name`.
    pub attributes: Vec<KeyValue>,
}

/// One returned spanset.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanSet {
    /// How many spans the spanset holds (more than `spans` when cut at spss).
    pub matched: usize,
    /// At most spss spans, earliest first.
    pub spans: Vec<SpanMatch>,
    /// `by()` groups and aggregate values.
    pub attributes: Vec<KeyValue>,
}

/// One matching trace.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceSearchMetadata {
    /// The trace id.
    pub trace_id: TraceId,
    /// The root span's `service.name`, or [`ROOT_SPAN_NOT_YET_RECEIVED`].
    pub root_service_name: String,
    /// The root span's name; empty without a root span.
    pub root_trace_name: String,
    /// Earliest span start, ns.
    pub start_time_unix_nano: u64,
    /// Latest span end minus earliest start, ms.
    pub duration_ms: u64,
    /// The spansets the query returned.
    pub span_sets: Vec<SpanSet>,
}

/// What a search looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SearchMetrics {
    /// Traces the store handed over.
    pub inspected_traces: u64,
    /// Spans in those traces.
    pub inspected_spans: u64,
    /// Bytes read, when the store reports it (0 when unknown).
    pub inspected_bytes: u64,
}

/// A search result.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SearchResponse {
    /// The first `limit` matching traces in the store's scan order (newest data
    /// first, so not necessarily the `limit` most recent matches), sorted by start
    /// time, newest first.
    pub traces: Vec<TraceSearchMetadata>,
    /// What was looked at.
    pub metrics: SearchMetrics,
}

/// Runs a TraceQL search against `store`.
pub fn search(
    store: &dyn TraceQueryable,
    tenant: &TenantId,
    req: &SearchRequest,
) -> Result<SearchResponse, TraceqlError> {
    let text = if req.query.trim().is_empty() {
        "{}"
    } else {
        req.query.as_str()
    };
    let query = Query::parse(text)?;
    if let (Some(min), Some(max)) = (req.min_duration_nanos, req.max_duration_nanos) {
        if min > max {
            return Err(TraceqlError::InvalidRequest(format!(
                "invalid maxDuration: {max}ns is less than minDuration {min}ns"
            )));
        }
    }
    if req.start_nanos > req.end_nanos {
        return Err(TraceqlError::InvalidRequest(format!(
            "invalid time range: start {} is after end {}",
            req.start_nanos, req.end_nanos
        )));
    }
    let limit = if req.limit == 0 {
        DEFAULT_LIMIT
    } else {
        req.limit.min(MAX_LIMIT)
    };
    let spss = if req.spans_per_spanset == 0 {
        DEFAULT_SPANS_PER_SPANSET
    } else {
        req.spans_per_spanset.min(MAX_SPANS_PER_SPANSET)
    };
    let scan = TraceScan {
        start_nanos: req.start_nanos,
        end_nanos: req.end_nanos,
        hints: query.hints(),
    };
    let referenced = query.referenced_attributes();
    // span fields already carry name, times and ids; other intrinsics a query tests
    // are shown as attributes, as Tempo does for `{ status = error }`
    let shown: Vec<Intrinsic> = query
        .referenced_intrinsics()
        .into_iter()
        .filter(|i| {
            matches!(
                i,
                Intrinsic::Status | Intrinsic::StatusMessage | Intrinsic::Kind
            )
        })
        .collect();
    let mut resp = SearchResponse::default();
    let mut timed_out = false;
    store.scan(tenant, &scan, &mut |trace| {
        if req.deadline.is_some_and(|d| Instant::now() >= d) {
            timed_out = true;
            return ControlFlow::Break(());
        }
        resp.metrics.inspected_traces += 1;
        resp.metrics.inspected_spans += trace.span_count() as u64;
        let Some((start, end)) = trace.time_range() else {
            return ControlFlow::Continue(());
        };
        let duration = end.saturating_sub(start);
        if req.min_duration_nanos.is_some_and(|min| duration < min)
            || req.max_duration_nanos.is_some_and(|max| duration > max)
        {
            return ControlFlow::Continue(());
        }
        let sets = query.evaluate(trace);
        if sets.is_empty() {
            return ControlFlow::Continue(());
        }
        let root = trace
            .spans()
            .filter(|(_, _, s)| s.is_root())
            .min_by_key(|(_, _, s)| s.start_unix_nano);
        let (root_service_name, root_trace_name) = match root {
            Some((res, _, span)) => (
                res.service_name().unwrap_or_default().to_string(),
                span.name.clone(),
            ),
            None => (ROOT_SPAN_NOT_YET_RECEIVED.to_string(), String::new()),
        };
        let span_sets = sets
            .into_iter()
            .map(|set| {
                let matched = set.spans.len();
                let mut spans = set.spans;
                spans.sort_by_key(|m| (m.span.start_unix_nano, m.span.span_id));
                spans.truncate(spss);
                SpanSet {
                    matched,
                    spans: spans
                        .into_iter()
                        .map(|m| span_match(m, &referenced, &shown))
                        .collect(),
                    attributes: set.attributes,
                }
            })
            .collect();
        resp.traces.push(TraceSearchMetadata {
            trace_id: trace.trace_id,
            root_service_name,
            root_trace_name,
            start_time_unix_nano: start,
            duration_ms: duration / 1_000_000,
            span_sets,
        });
        if resp.traces.len() >= limit {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })?;
    if timed_out {
        return Err(TraceqlError::Timeout {
            inspected: resp.metrics.inspected_traces,
        });
    }
    resp.traces
        .sort_by_key(|t| std::cmp::Reverse((t.start_time_unix_nano, t.trace_id)));
    tracing::debug!(
        query = text,
        traces = resp.traces.len(),
        inspected = resp.metrics.inspected_traces,
        "traceql search"
    );
    Ok(resp)
}

fn span_match(m: MatchedSpan<'_>, referenced: &[Attribute], shown: &[Intrinsic]) -> SpanMatch {
    let mut attributes: Vec<KeyValue> = Vec::new();
    for a in referenced {
        let found = match a.scope {
            AttrScopeKind::Span => attr(&m.span.attributes, &a.name),
            AttrScopeKind::Resource => attr(&m.resource.attributes, &a.name),
            AttrScopeKind::Unscoped => {
                attr(&m.span.attributes, &a.name).or_else(|| attr(&m.resource.attributes, &a.name))
            }
            AttrScopeKind::Instrumentation => attr(&m.scope.attributes, &a.name),
            AttrScopeKind::Event | AttrScopeKind::Link => None,
        };
        if let Some(v) = found {
            push_unique(&mut attributes, KeyValue::new(a.name.clone(), v.clone()));
        }
    }
    for i in shown {
        let v = match i {
            Intrinsic::Status => m.span.status_code.as_str().to_string(),
            Intrinsic::Kind => m.span.kind.as_str().to_string(),
            _ => m.span.status_message.clone(),
        };
        push_unique(&mut attributes, KeyValue::string(i.as_str(), v));
    }
    for kv in m.selected {
        push_unique(&mut attributes, kv);
    }
    if let Some(v) = attr(&m.resource.attributes, SERVICE_NAME) {
        push_unique(&mut attributes, KeyValue::new(SERVICE_NAME, v.clone()));
    }
    SpanMatch {
        span_id: m.span.span_id,
        name: m.span.name.clone(),
        start_time_unix_nano: m.span.start_unix_nano,
        duration_nanos: m.span.duration_nanos(),
        attributes,
    }
}
