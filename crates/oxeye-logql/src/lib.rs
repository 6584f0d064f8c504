//! LogQL: the parser, the log pipeline and metric queries over any
//! [`oxeye_core::logs::LogQueryable`].
//!
//! The public surface is what the HTTP API and the rule engine call: [`parse`] (the
//! canonical text of an expression is its `Display`, used by `format_query`),
//! [`Engine::query`] for log and metric queries, instant or range. Metric results use the
//! PromQL engine's value type ([`oxeye_promql::Value`]) so they are formatted the same way.
//! The live tail compiles a log query's pipeline once with [`compile_log_query`] and runs
//! it on entries as they arrive; Drilldown's detected fields use [`parse_json_fields`]
//! and [`parse_logfmt_fields`], which name fields as the `json`/`logfmt` stages do.
//!
//! Data flow: `lexer` -> `parser` -> [`ast`] (with `Display` as canonical text) ->
//! `pipeline` (compiled line filters, parsers, label filters, templates over a reused
//! per-line label state) -> `engine`: log queries read each stream chunk by chunk in
//! the asked direction and stop once `limit` lines are final; metric queries turn each
//! range aggregation into per-step samples and hand the operators above them to the
//! PromQL engine (see `engine::metric`).

pub mod analysis;
pub mod ast;
mod engine;
mod lexer;
mod parser;
mod pipeline;
mod template;
pub mod units;

use std::sync::Arc;

pub use ast::Expr;
pub use parser::parse;
pub use pipeline::LogPipeline;
pub use pipeline::json::parse_json_fields;
pub use pipeline::logfmt::parse_logfmt_fields;

use oxeye_core::logs::{Direction, LogQueryable};
use oxeye_core::{Labels, StatusCode, StoreError, TenantId};

/// Why a LogQL query failed.
#[derive(Debug, thiserror::Error)]
pub enum LogqlError {
    /// The query text does not parse; the message names the position.
    #[error("parse error at line {line}, col {col}: {message}")]
    Parse {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        col: usize,
        /// What is wrong.
        message: String,
    },
    /// The query is valid but cannot be run as asked (bad step, limit, range).
    #[error("{0}")]
    BadQuery(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl LogqlError {
    /// How the API answers this error.
    pub fn status_code(&self) -> StatusCode {
        match self {
            LogqlError::Parse { .. } | LogqlError::BadQuery(_) => StatusCode::BadData,
            LogqlError::Store(e) => e.status_code(),
        }
    }
}

/// Compiles the pipeline of a log query (`{app="api"} |= "error" | json`) for the live
/// tail: [`LogPipeline::matchers`] selects the streams to follow and
/// [`LogPipeline::process`] runs the pipeline on each entry as it arrives. A metric query
/// is a [`LogqlError::BadQuery`].
pub fn compile_log_query(text: &str) -> Result<LogPipeline, LogqlError> {
    match parse(text)? {
        Expr::Log(log) => LogPipeline::compile(&log, None),
        Expr::Sample(_) => Err(LogqlError::BadQuery(
            "tail requires a log query, not a metric query".into(),
        )),
    }
}

/// Instant or range evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryKind {
    /// `/loki/api/v1/query`: evaluated at `end_ns` (log queries look back to `start_ns`).
    Instant,
    /// `/loki/api/v1/query_range`.
    Range,
}

/// One query as the API received it.
#[derive(Debug, Clone)]
pub struct Query {
    /// The LogQL text.
    pub text: String,
    /// Instant or range.
    pub kind: QueryKind,
    /// Start, ns, inclusive.
    pub start_ns: i64,
    /// End, ns (log queries: exclusive; metric queries: the last step).
    pub end_ns: i64,
    /// Step between metric evaluations, ns.
    pub step_ns: i64,
    /// For log queries over a range: return at most one entry per interval.
    pub interval_ns: Option<i64>,
    /// Order of log lines.
    pub direction: Direction,
    /// Most log lines returned (metric queries: most series).
    pub limit: usize,
}

/// One log line of a result, with its labels in Loki's categories.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultEntry {
    /// Nanoseconds since the epoch.
    pub ts_ns: i64,
    /// The line after `line_format`/`decolorize`.
    pub line: String,
    /// Structured metadata kept by the pipeline.
    pub structured_metadata: Vec<(String, String)>,
    /// Labels the pipeline extracted (parsers, `label_format`), `__error__` included.
    pub parsed: Vec<(String, String)>,
}

/// One stream of a log query's result.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamResult {
    /// All labels: stream labels, structured metadata and parsed labels (what Loki
    /// returns without `categorize-labels`).
    pub labels: Labels,
    /// The stream's own labels (after `drop`/`keep`).
    pub stream_labels: Labels,
    /// Its entries in the query's direction.
    pub entries: Vec<ResultEntry>,
}

/// A query's value.
#[derive(Debug, Clone, PartialEq)]
pub enum LogqlValue {
    /// Log lines grouped by stream.
    Streams(Vec<StreamResult>),
    /// A metric query's value.
    Metric(oxeye_promql::Value),
}

/// Counters Loki reports in `data.stats`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueryStats {
    /// Entries read from the store.
    pub entries_scanned: u64,
    /// Line bytes read from the store.
    pub bytes_scanned: u64,
    /// Chunks the store skipped thanks to line-filter hints (when it reports them).
    pub chunks_skipped: u64,
}

/// A query's value and what it cost.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    /// The result.
    pub value: LogqlValue,
    /// Figures for `data.stats`.
    pub stats: QueryStats,
}

/// Limits of the engine.
#[derive(Debug, Clone, Copy)]
pub struct EngineLimits {
    /// Most series a metric query may return.
    pub max_series: usize,
    /// Most entries one query may read before it fails.
    pub max_entries_scanned: u64,
}

impl Default for EngineLimits {
    fn default() -> Self {
        Self {
            max_series: 500,
            max_entries_scanned: 500_000_000,
        }
    }
}

/// Runs LogQL queries against a store.
#[derive(Clone)]
pub struct Engine {
    store: Arc<dyn LogQueryable>,
    limits: EngineLimits,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// An engine over `store`.
    pub fn new(store: Arc<dyn LogQueryable>, limits: EngineLimits) -> Self {
        Self { store, limits }
    }

    /// Runs `query` for `tenant`. Blocking: call from a blocking context.
    pub fn query(&self, tenant: &TenantId, query: &Query) -> Result<Output, LogqlError> {
        engine::query(self.store.as_ref(), &self.limits, tenant, query)
    }
}
