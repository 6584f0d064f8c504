//! oxeye-tsdb: the metrics time-series database.
//!
//! Data flow of a write: [`Tsdb`] (a [`oxeye_core::MetricsAppender`]) finds the tenant's
//! database (`<dir>/<tenant>/`, created on first write), which validates the whole batch,
//! writes one WAL record (`<tenant>/wal/`, group commit) and applies it to the in-memory
//! head (sharded series with compressed head chunks and a postings index). `flush` and
//! `maintenance` cut the head into an immutable block (`<tenant>/blocks/<id>/`: `meta.json`,
//! `index`, `chunks`) and drop the WAL segments it covers; maintenance also compacts
//! blocks and applies retention with the injected [`oxeye_core::Clock`].
//!
//! Reads: [`Tsdb`] is a [`oxeye_core::MetricsQueryable`]; a querier snapshots the head,
//! heads waiting for their block and the blocks overlapping its range, holding each by
//! `Arc` so nothing is deleted under it, and merges series across them.
//!
//! Modules: `append` (validation and write path), `head`, `index` (postings and matcher
//! resolution), `record` (WAL record format), `block` (block format), `compact`
//! (compaction and retention), `querier`, `tenant`, [`codec`] (sample compression).

mod append;
mod block;
pub mod codec;
mod compact;
mod db;
mod enc;
mod error;
mod head;
pub mod index;
mod options;
mod querier;
mod record;
mod stats;
mod tenant;

pub use block::{BLOCK_VERSION, BlockMeta, CompactionMeta};
pub use db::{MaintenanceReport, Tsdb};
pub use error::TsdbError;
pub use options::{DEFAULT_PAGE_CACHE_BYTES, Limits, TsdbOptions};
pub use oxeye_storage::wal::{SyncPolicy, WalOptions};
pub use stats::{RejectReason, TenantStats, TsdbStats};
