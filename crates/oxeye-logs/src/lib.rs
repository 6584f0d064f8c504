//! The log store: streams keyed by label set, entries in time-ordered compressed chunks,
//! per-chunk filters for line searches, a WAL for durability, retention, tenants apart.
//!
//! It implements [`oxeye_core::logs::LogAppender`] and
//! [`oxeye_core::logs::LogQueryable`]; nothing above those traits sees its types.
//!
//! # Data flow
//! ```text
//! append_logs ─► validate batch ─► WAL record (group commit, fsync per policy) ─► head
//! head: per stream an open run of entries; at `chunk_target_bytes` of lines the run is
//!       sorted, deduplicated (same time and line) and sealed into a compressed chunk
//! cut (head over `head_max_bytes`, older than `head_max_age`, flush) ─► one chunk file
//!       per cut: chunks + footer (stream label sets, chunk time ranges, filters)
//! maintain ─► cuts, retention (files whose newest entry is older than `retention`)
//! select_logs ─► postings ─► streams ─► chunks overlapping the range whose filter
//!       admits every `line_contains` needle ─► decoded one at a time, in direction order
//! ```
//! On disk, `<dir>/<tenant>/wal/` holds the WAL and `<dir>/<tenant>/chunks/` the chunk
//! files; tenants never share a file. Chunk metadata and filters are kept in memory, so
//! a needle search reads only the chunks whose filters admit the needle.
//!
//! # Encoding, by measurement
//! The figures come from `measure::tests::print_encoding_figures` (a synthetic corpus of
//! nginx access lines, JSON app lines with trace ids, logfmt lines and multi-line stack
//! traces, four streams; run with `--nocapture` to see them).
//! (figures to follow)
//!
//! # Filters, by measurement
//! (figures to follow)

mod chunk;
mod codec;
mod error;
mod file;
mod filter;
mod head;
mod index;
#[cfg(test)]
mod measure;
mod read;
mod record;
mod store;
mod tenant;

use std::time::Duration;

use oxeye_storage::wal::WalOptions;

pub use error::LogStoreError;
pub use store::{LogStore, LogStoreStats, MaintenanceReport};
pub use tenant::TenantStats;

/// How the store behaves.
#[derive(Debug, Clone)]
pub struct LogStoreOptions {
    /// Chunk files whose newest entry is older than `now - retention` are deleted.
    pub retention: Duration,
    /// WAL options (segment size, sync policy).
    pub wal: WalOptions,
    /// A stream's open run is sealed into a chunk once its lines reach this many bytes.
    pub chunk_target_bytes: usize,
    /// zstd level of chunks.
    pub zstd_level: i32,
    /// A tenant's head is cut into a chunk file once it holds this many bytes (open
    /// entries counted in full, sealed chunks compressed); appends are refused while
    /// heads waiting for their files hold four times as much.
    pub head_max_bytes: u64,
    /// A tenant's head is cut once its first entry arrived this long ago.
    pub head_max_age: Duration,
    /// A tenant's head is cut once its entries (lines and metadata, uncompressed) reach
    /// this many bytes: it bounds the WAL and so the replay time after a crash.
    pub head_max_wal_bytes: u64,
}

impl Default for LogStoreOptions {
    fn default() -> Self {
        Self {
            retention: Duration::from_secs(30 * 24 * 3600),
            wal: WalOptions::default(),
            chunk_target_bytes: 1536 << 10,
            zstd_level: 9,
            head_max_bytes: 256 << 20,
            head_max_age: Duration::from_secs(3600),
            head_max_wal_bytes: 1 << 30,
        }
    }
}

impl LogStoreOptions {
    /// Checks the options; the error names the option.
    pub fn validate(&self) -> Result<(), LogStoreError> {
        if self.retention.is_zero() {
            return Err(LogStoreError::InvalidOption(
                "retention must be greater than zero".into(),
            ));
        }
        if self.chunk_target_bytes == 0 {
            return Err(LogStoreError::InvalidOption(
                "chunk_target_bytes must be greater than zero".into(),
            ));
        }
        if !zstd::compression_level_range().contains(&self.zstd_level) {
            return Err(LogStoreError::InvalidOption(format!(
                "zstd_level {} is outside {:?}",
                self.zstd_level,
                zstd::compression_level_range()
            )));
        }
        if self.head_max_bytes == 0 {
            return Err(LogStoreError::InvalidOption(
                "head_max_bytes must be greater than zero".into(),
            ));
        }
        Ok(())
    }
}
