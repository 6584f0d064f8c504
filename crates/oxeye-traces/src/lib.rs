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
