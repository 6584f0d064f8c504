//! The trace store: spans of a trace kept together, durable on acknowledgement.
//!
//! ```text
//! SpanAppender::append_spans ──► validate (ids) ──► WAL record (group commit, fsync) ──► head
//!                                                                                   │ cut: size / age / flush
//!                                                                                   ▼
//!          blocks per tenant and time window: zstd columnar pages of whole traces sorted
//!          by id, a page index + trace-id bloom filter, tag/operation dictionaries
//!                                                                                   │ maintain()
//!                                                                                   ▼
//!                                   compaction (same window, parts merged) · retention
//! TraceQueryable ◄── head + frozen heads + candidate blocks, parts of a trace merged
//! ```
//!
//! [`TraceStore`] implements core's [`oxeye_core::trace::SpanAppender`] and
//! [`oxeye_core::trace::TraceQueryable`]; each tenant lives in its own directory with its
//! own WAL. [`TraceStore::maintain`] is called periodically by the binary and is driven
//! by the injected clock. [`generator`] turns spans into RED metrics and a service graph,
//! written to whatever [`oxeye_core::MetricsAppender`] the binary wires.
//!
//! On disk, per tenant: `<dir>/<tenant>/wal/` (one record per batch), `blocks/<id>/`
//! (`data`, `index`, `dict`, `meta.json`; see [`BlockMeta`]) and `corrupted/` (blocks or a
//! WAL set aside at open). Memory is bounded: a head is cut at
//! [`TraceStoreOptions::head_max_bytes`] on a background thread, appends are refused with
//! a retryable [`TraceError::Backpressure`] while unwritten spans exceed four times that,
//! and blocks keep only their page index and bloom filters in memory.
//!
//! Module map: `record` (WAL codec, validation), `head` (in-memory traces), `page`
//! (columnar page codec), `dict` (tag dictionaries, hint filter), `bloom`, `block` (block
//! writer and reader), `tenant` (WAL, cuts, compaction, retention), `query` (trace by id,
//! scan, tag queries), `store` (tenants, traits).

mod block;
mod bloom;
mod dict;
mod enc;
mod error;
pub mod generator;
mod head;
mod model;
mod options;
mod page;
mod query;
mod record;
mod stats;
mod store;
mod tenant;

pub use block::{BLOCK_FORMAT_VERSION, BlockMeta};
pub use error::TraceError;
pub use options::TraceStoreOptions;
pub use stats::{TenantTraceStats, TraceStoreStats};
pub use store::{MaintenanceReport, TraceStore};
