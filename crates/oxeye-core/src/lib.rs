//! The data model every other oxeye crate speaks.
//!
//! Data flows `wire decoding -> ingest -> stores -> query engines -> APIs`; this crate owns
//! the types that cross those boundaries and the narrow traits at each one:
//!
//! - [`Labels`], [`Sample`], [`Exemplar`], [`MetricMetadata`]: the metric model.
//! - [`WriteBatch`]: one validated write request, what [`MetricsAppender::append`] takes.
//! - [`Matcher`]: `=`, `!=`, `=~`, `!~` with Prometheus's fully anchored regex semantics.
//! - [`MetricsQueryable`] / [`MetricsQuerier`] / [`SeriesData`]: the read side that query
//!   engines consume without knowing which store answers.
//! - [`trace`]: spans, traces and the [`trace::SpanAppender`] / [`trace::TraceQueryable`]
//!   traits between trace ingest, the trace store and TraceQL.
//! - [`logs`]: log streams and entries and the [`logs::LogAppender`] /
//!   [`logs::LogQueryable`] traits between log ingest, the log store and LogQL.
//! - [`TenantId`]: every read and write carries one.
//! - [`Clock`]: time is injected into everything time-driven so tests control it.
//! - [`StoreError`] and [`StatusCode`]: error kinds that map one-to-one to API status codes.
//!
//! This crate has no async and no HTTP dependencies.

pub mod civil;
mod clock;
pub mod duration;
mod error;
mod labels;
pub mod logs;
pub mod logs_mem;
mod matcher;
mod metrics;
mod tenant;
pub mod trace;
pub mod trace_mem;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{StatusCode, StoreError};
pub use labels::{
    Label, Labels, LabelsBuilder, METRIC_NAME, hash_label_pairs, validate_label_name,
    validate_metric_name,
};
pub use matcher::{MatchOp, Matcher, MatcherError, RegexShape};
pub use metrics::{
    AppendStats, Exemplar, MetricMetadata, MetricType, MetricsAppender, MetricsQuerier,
    MetricsQueryable, STALE_NAN_BITS, Sample, SelectHints, Series, SeriesData, SeriesWrite,
    Settled, VecSeriesData, WriteBatch, is_stale_nan, stale_nan,
};
pub use tenant::{TenantError, TenantId};
