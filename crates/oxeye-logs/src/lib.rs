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
//! cut (head over `head_max_bytes` or `head_max_wal_bytes`, older than `head_max_age`,
//!       flush) ─► chunks recompressed at `zstd_level` ─► one chunk file per cut:
//!       chunks + footer (stream label sets, chunk time ranges, filters)
//! maintain ─► cuts, retention (files whose newest entry is older than `retention`)
//! select_logs ─► postings ─► streams ─► chunks overlapping the range whose line filter
//!       admits every `line_contains` needle and whose metadata filter admits every
//!       `metadata_equals` pair not named like a stream label ─► decoded one at a time,
//!       in direction order
//!       (overlapping chunks merged), lines lacking a needle dropped while decoding
//! ```
//! On disk, `<dir>/<tenant>/wal/` holds the WAL and `<dir>/<tenant>/chunks/` the chunk
//! files; tenants never share a file. Chunk metadata and filters are kept in memory
//! (line filters weigh about 3% of the stored bytes, metadata filters 2.5% where a third
//! of the lines carry trace and span ids), so a needle search reads only the
//! chunks whose filters admit the needle. A crash between writing a chunk file and
//! dropping the WAL segments it covers replays those entries again; reads merge the
//! copies away (same time and line), as they do for any duplicate.
//!
//! # Encoding, by measurement
//! Figures from the tests in `measure.rs` (release build, 16 MiB synthetic corpus:
//! nginx access lines, JSON app lines whose trace and span ids are also sent as
//! structured metadata, logfmt lines, multi-line Java stack traces; one stream each,
//! millisecond timestamps; 72 562 entries; the raw file is 2 794 931 bytes at
//! `zstd -3`). Per-stream chunks of 1.5 MiB of lines; bytes of compressed chunk data
//! against `zstd -3` of the raw file:
//!
//! | zstd level | row layout | columnar layout | columnar bytes/entry |
//! |-----------:|-----------:|----------------:|---------------------:|
//! | 1          | 1.106x     | 0.925x          | 35.6                 |
//! | 3          | 1.125x     | 0.947x          | 36.5                 |
//! | 6          | 1.019x     | 0.838x          | 32.3                 |
//! | 9          | 0.988x     | 0.798x          | 30.7                 |
//! | 10         | 0.969x     | 0.778x          | 30.0                 |
//! | 11         | 0.952x     | 0.760x          | 29.3                 |
//! | 15         | 0.923x     | 0.736x          | 28.4                 |
//! | 19         | 0.859x     | 0.674x          | 26.0                 |
//!
//! The columnar layout wins at every level that matters: timestamps become scaled
//! deltas (one byte for millisecond data), metadata values that repeat a piece of their
//! line (trace ids) become references, and lines sit back to back without framing.
//! Compression speed on an idle core was about 270 MB/s at level 1, 45 MB/s at 9 and
//! roughly half of that at 11; levels 15 and above (under 10 MB/s) are too slow for
//! ingest. Level 11 is the default for chunk files: 0.760x data plus 0.025x filters =
//! **0.785x `zstd -3`** stored. To keep that cost off the append path, the head seals
//! chunks at level 1 (fast; it bounds memory) and a cut recompresses them at level 11
//! on the maintenance thread. lz4 was not measured: its ratio is below zstd level 1's,
//! which is already far from the target.
//!
//! Chunk size hardly matters past 512 KiB (level 11, 32 MiB corpus: 0.766x at 512 KiB,
//! 0.760x at 1.5 MiB, 0.758x at 3 and 6 MiB); 1.5 MiB keeps a needle's decode small.
//! Timestamps matter more: with nanosecond receive times (random sub-millisecond
//! digits, which the raw file does not hold) a 4 MiB corpus stores at 0.845x data with
//! varint deltas, 0.832x with byte-plane deltas (0.857x with filters): about 3 bytes of
//! incompressible time per entry. With millisecond times both delta layouts store the
//! same (0.763x), so deltas are stored as byte planes.
//!
//! The figures above are of chunk payload version 2, lines as they are. Version 3 (written
//! now, version 2 still read) moves runs of 16 or more lowercase hex digits (trace, span
//! and request ids) into a column of packed nibbles and numbers of three digits or more
//! into a column of their own (module `hexruns`): random ids no longer break the matches
//! between lines of one template. On the bench corpus (`oxeye-bench logs`, 256 MiB, ids in
//! most lines) the store went from 0.93x to 0.83x `zstd -3` with the hex column and
//! 0.82x with the number column too, and ingest with sealing got cheaper (14.6 to 22.7
//! MiB/s per core: less for zstd to do); the price is a needle search that rebuilds a
//! whole chunk's lines before checking them (3.4 to 7-10 ms, 256 MiB).
//!
//! # Filters, by measurement
//! Same corpus cut into 67 chunks of 256 KiB (2 255 445 bytes compressed); "reads" is the
//! number of chunks a search for a 32-hex-digit trace id decodes (each id is in exactly
//! one chunk), for ids present and absent:
//!
//! | windows indexed                    | size (of data) | present id | absent id |
//! |------------------------------------|---------------:|-----------:|----------:|
//! | all 8-byte, 1 in 4, 4 bits         | 14.1%          | 1.20       | 0.85      |
//! | all 8-byte, 1 in 4, 2 bits         | 7.0%           | 2.40       | 4.38      |
//! | all 8-byte, 1 in 8, 4 bits         | 7.0%           | 6.89       | 11.8      |
//! | all 6-byte, 1 in 4, 4 bits         | 11.6%          | 1.04       | 1.04      |
//! | alphanumeric 8-byte, 1 in 4, 4 bits| 4.1%           | 1.03       | 0.38      |
//! | alphanumeric 8-byte, 1 in 4, 3 bits| **3.1%**       | **1.09**   | **0.60**  |
//! | alphanumeric 8-byte, 1 in 2, 2 bits| 4.1%           | 1.01       | 0.06      |
//!
//! Indexing only windows of letters and digits drops the unique windows of timestamps,
//! IPs and JSON punctuation that cost most and that needles rarely need; sampling one
//! window in four by hash keeps every id findable (a 32-digit id has about six sampled
//! windows, all of which must be present). The default (alphanumeric, 1 in 4, 3 bits)
//! skips 98.4% of the chunks for a present id and 99.1% for an absent one at 3.1% of
//! the data's size. Needles without an indexed window (shorter than 8 bytes, or with
//! punctuation every few bytes, such as an IP address) never skip anything.
//!
//! # Metadata filters
//! Each chunk also keeps a bloom filter of its distinct structured-metadata pairs
//! (`mdfilter`), stored as an optional footer section of chunk files (files without it
//! read as "any pair may be there"). It serves `| trace_id="..."` before any parser: a
//! trace id sent as OTLP or Loki structured metadata is found in one query across all
//! services, reading only the chunks that hold it. The query to link from a trace is
//! `{service_name=~".+"} | trace_id="<id>"`. A pair whose name is a label of the stream
//! is never used to skip (the query then tests the label). Figures: see below the
//! measurement of `measure.rs` (`print_metadata_filter_figures`, `print_store_figures`).
//!
//! | bits per pair, probes | size (of data) | absent trace id passes |
//! |-----------------------|---------------:|-----------------------:|
//! | 8, 3                  | 2.05%          | 3.01% of chunks        |
//! | **10, 4**             | **2.56%**      | **1.15%**              |
//! | 12, 5                 | 3.07%          | 0.45%                  |
//! | 16, 6                 | 4.09%          | 0.08%                  |
//!
//! (release build, 64 MiB of the corpus above, chunks at the defaults; the trace and
//! span ids, distinct per entry, make almost all of the size; filters build at about
//! 4 M pairs/s.) Through the store, a trace id looked up by metadata alone decodes 1.10
//! of 44 chunks (97.5% skipped; the 0.10 are false positives), 15 ms per lookup, against
//! 44 chunks without the hint.
mod chunk;
mod codec;
mod error;
mod file;
mod filter;
mod head;
mod hexruns;
mod index;
mod mdfilter;
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
    /// zstd level of chunks in chunk files (chosen by measurement, see above).
    pub zstd_level: i32,
    /// zstd level of chunks sealed in the head, on the append path; a cut recompresses
    /// them at `zstd_level` on the maintenance thread when the two differ.
    pub head_zstd_level: i32,
    /// A tenant's head is cut into a chunk file once it holds this many bytes (open
    /// entries counted in full, sealed chunks compressed); appends are refused while
    /// heads waiting for their files hold four times as much.
    pub head_max_bytes: u64,
    /// A tenant's head is cut once its first entry arrived this long ago.
    pub head_max_age: Duration,
    /// A tenant's head is cut once its entries (lines and metadata, uncompressed) reach
    /// this many bytes: it bounds the WAL and so the replay time after a crash.
    pub head_max_wal_bytes: u64,
    /// At most this many active streams per tenant (streams with entries in the head,
    /// that is since its last cut); 0 means no limit. An append that would create more
    /// fails as a whole; streams already active keep accepting entries.
    pub max_streams_per_tenant: usize,
}

impl Default for LogStoreOptions {
    fn default() -> Self {
        Self {
            retention: Duration::from_secs(30 * 24 * 3600),
            wal: WalOptions::default(),
            chunk_target_bytes: 1536 << 10,
            zstd_level: 11,
            head_zstd_level: 1,
            head_max_bytes: 256 << 20,
            head_max_age: Duration::from_secs(3600),
            head_max_wal_bytes: 512 << 20,
            max_streams_per_tenant: 5000,
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
        for (name, level) in [
            ("zstd_level", self.zstd_level),
            ("head_zstd_level", self.head_zstd_level),
        ] {
            if !zstd::compression_level_range().contains(&level) {
                return Err(LogStoreError::InvalidOption(format!(
                    "{name} {level} is outside {:?}",
                    zstd::compression_level_range()
                )));
            }
        }
        if self.head_max_bytes == 0 {
            return Err(LogStoreError::InvalidOption(
                "head_max_bytes must be greater than zero".into(),
            ));
        }
        Ok(())
    }
}
