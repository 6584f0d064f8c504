//! TraceQL: parsing and evaluation over core's [`oxeye_core::trace::TraceQueryable`].
//!
//! Data flow: query text -> [`lexer`] tokens -> [`parser`] -> [`ast::SpansetExpr`]
//! (checked for types, regexes compiled) -> [`Query`]. [`search`] derives scan hints
//! from the query, asks the store to visit the traces of the requested range, evaluates
//! the query on each trace ([`Query::evaluate`]) and collects the matching traces with
//! their spansets into a [`SearchResponse`] until the limit is reached.
//!
//! Semantics follow Tempo's TraceQL documentation: a query is evaluated on one trace at
//! a time, and the trace matches when the final stage yields at least one spanset.
//! [`tags_to_query`] turns Tempo's legacy logfmt `tags` search into TraceQL.
//!
//! Not covered: TraceQL metrics (`rate()`, `quantile_over_time()`...), which fail to
//! parse with a message saying so; query hints (`with (most_recent=true)`) are accepted
//! and ignored. A search returns the first `limit` matching traces in the store's scan
//! order, which visits the newest data first, so results lean towards recent traces
//! but are not guaranteed to be the `limit` most recent matches; the returned traces
//! are sorted by start time, newest first.

pub mod ast;
mod error;
mod eval;
mod hints;
pub mod lexer;
pub mod parser;
mod request;
mod search;
mod tags;
mod types;

use oxeye_core::trace::{KeyValue, Resource, ScanHint, Scope, Span, Trace};

pub use error::TraceqlError;
pub use request::{lenient_filter, parse_duration, trace_id_to_hex};
pub use search::{
    DEFAULT_LIMIT, DEFAULT_SPANS_PER_SPANSET, MAX_LIMIT, MAX_SPANS_PER_SPANSET,
    ROOT_SPAN_NOT_YET_RECEIVED, SearchMetrics, SearchRequest, SearchResponse, SpanMatch, SpanSet,
    TraceSearchMetadata, search,
};
pub use tags::tags_to_query;

/// A parsed, checked TraceQL query.
#[derive(Debug, Clone)]
pub struct Query {
    source: String,
    expr: ast::SpansetExpr,
}

/// One span a query matched, with the values `select()` attached to it.
#[derive(Debug, Clone)]
pub struct MatchedSpan<'t> {
    /// The span.
    pub span: &'t Span,
    /// Its resource.
    pub resource: &'t Resource,
    /// Its instrumentation scope.
    pub scope: &'t Scope,
    /// Selected values, keyed by attribute name (without scope) or intrinsic name.
    pub selected: Vec<KeyValue>,
}

/// One spanset a query returned for a trace.
#[derive(Debug, Clone)]
pub struct MatchedSpanset<'t> {
    /// The spans, in the trace's order.
    pub spans: Vec<MatchedSpan<'t>>,
    /// Spanset values: `by(...)` groups and aggregate results (`count()`...).
    pub attributes: Vec<KeyValue>,
}

impl Query {
    /// Parses and checks `src`.
    pub fn parse(src: &str) -> Result<Self, TraceqlError> {
        let expr = parser::parse(src)?;
        Ok(Query {
            source: src.to_string(),
            expr,
        })
    }

    /// The query text as given.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The syntax tree.
    pub fn expr(&self) -> &ast::SpansetExpr {
        &self.expr
    }

    /// Conditions every matching trace satisfies, for a store to skip data with.
    pub fn hints(&self) -> Vec<ScanHint> {
        hints::derive(&self.expr)
    }

    /// The spansets this query yields for `trace`; empty when the trace does not match.
    pub fn evaluate<'t>(&self, trace: &'t Trace) -> Vec<MatchedSpanset<'t>> {
        let cx = eval::TraceCtx::new(trace);
        let sets = eval::eval_trace(&self.expr, &cx);
        sets.into_iter()
            .map(|mut set| MatchedSpanset {
                spans: set
                    .spans
                    .iter()
                    .filter_map(|&i| {
                        let s = cx.spans.get(i)?;
                        Some(MatchedSpan {
                            span: s.span,
                            resource: s.resource,
                            scope: s.scope,
                            selected: set.selected.remove(&i).unwrap_or_default(),
                        })
                    })
                    .collect(),
                attributes: set.attrs,
            })
            .collect()
    }

    /// Attributes the query refers to, for showing them with matched spans.
    pub fn referenced_attributes(&self) -> Vec<ast::Attribute> {
        let mut out = hints::Refs::default();
        hints::collect_attributes(&self.expr, &mut out);
        out.attrs
    }

    /// Intrinsics the query refers to.
    pub fn referenced_intrinsics(&self) -> Vec<ast::Intrinsic> {
        let mut out = hints::Refs::default();
        hints::collect_attributes(&self.expr, &mut out);
        out.intrinsics
    }
}

/// Checks that `query` is valid TraceQL.
pub fn validate(query: &str) -> Result<(), TraceqlError> {
    parser::parse(query).map(|_| ())
}
