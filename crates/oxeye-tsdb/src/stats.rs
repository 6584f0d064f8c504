//! Counters and gauges the server exposes as self metrics.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// Why samples were rejected; each names a `rejected_samples_total{reason}` series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectReason {
    /// Older than the series' newest sample with no out-of-order window.
    OutOfOrder,
    /// Older than the out-of-order window allows.
    OutOfBounds,
    /// Same timestamp as a stored sample, different value.
    Duplicate,
    /// Bad labels or exemplar.
    InvalidLabels,
    /// Per-tenant series limit.
    SeriesLimit,
    /// Per-tenant ingestion rate limit.
    RateLimit,
}

impl RejectReason {
    /// All reasons.
    pub const ALL: [RejectReason; 6] = [
        RejectReason::OutOfOrder,
        RejectReason::OutOfBounds,
        RejectReason::Duplicate,
        RejectReason::InvalidLabels,
        RejectReason::SeriesLimit,
        RejectReason::RateLimit,
    ];

    /// Label value for metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::OutOfOrder => "out_of_order",
            RejectReason::OutOfBounds => "out_of_bounds",
            RejectReason::Duplicate => "duplicate",
            RejectReason::InvalidLabels => "invalid_labels",
            RejectReason::SeriesLimit => "series_limit",
            RejectReason::RateLimit => "rate_limit",
        }
    }
}

/// Monotonic counters of one tenant.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub samples_appended: AtomicU64,
    pub out_of_order_samples: AtomicU64,
    pub compactions: AtomicU64,
    pub corrupt_blocks: AtomicU64,
    pub corrupt_wals: AtomicU64,
    pub rejected: [AtomicU64; 6],
}

impl Counters {
    pub fn reject(&self, reason: RejectReason, n: usize) {
        let i = RejectReason::ALL
            .iter()
            .position(|r| *r == reason)
            .unwrap_or(0);
        self.rejected[i].fetch_add(n as u64, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> TenantStats {
        TenantStats {
            samples_appended_total: self.samples_appended.load(Ordering::Relaxed),
            out_of_order_samples_total: self.out_of_order_samples.load(Ordering::Relaxed),
            compactions_total: self.compactions.load(Ordering::Relaxed),
            corrupt_blocks_total: self.corrupt_blocks.load(Ordering::Relaxed),
            corrupt_wals_total: self.corrupt_wals.load(Ordering::Relaxed),
            rejected_samples_total: RejectReason::ALL
                .iter()
                .zip(self.rejected.iter())
                .map(|(r, c)| (r.as_str(), c.load(Ordering::Relaxed)))
                .collect(),
            ..TenantStats::default()
        }
    }
}

/// State and counters of one tenant (or the sum over tenants).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TenantStats {
    /// Series in the active head.
    pub head_series: u64,
    /// Bytes held by the active head and heads waiting for their block.
    pub head_bytes: u64,
    /// Active head bytes per series.
    pub head_bytes_per_series: f64,
    /// Samples in the active head.
    pub head_samples: u64,
    /// Oldest sample in the active head.
    pub head_min_t: Option<i64>,
    /// Newest sample in the active head.
    pub head_max_t: Option<i64>,
    /// Samples stored since open.
    pub samples_appended_total: u64,
    /// Exemplars held.
    pub exemplars: u64,
    /// WAL fsyncs since open.
    pub wal_fsyncs_total: u64,
    /// WAL bytes written since open.
    pub wal_bytes: u64,
    /// WAL segment files on disk.
    pub wal_segments: u64,
    /// Blocks on disk.
    pub blocks: u64,
    /// Bytes of blocks on disk.
    pub block_bytes: u64,
    /// Series summed over blocks (a series in several blocks counts once per block).
    pub block_series: u64,
    /// Samples in blocks.
    pub block_samples: u64,
    /// Compactions since open.
    pub compactions_total: u64,
    /// Blocks found corrupt and set aside since open.
    pub corrupt_blocks_total: u64,
    /// WALs found corrupt before their tail and set aside since open.
    pub corrupt_wals_total: u64,
    /// Samples accepted out of order since open.
    pub out_of_order_samples_total: u64,
    /// Samples rejected since open, by reason (see [`RejectReason::as_str`]).
    pub rejected_samples_total: BTreeMap<&'static str, u64>,
}

impl TenantStats {
    pub(crate) fn add(&mut self, o: &TenantStats) {
        self.head_series += o.head_series;
        self.head_bytes += o.head_bytes;
        self.head_samples += o.head_samples;
        self.head_min_t = match (self.head_min_t, o.head_min_t) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.head_max_t = match (self.head_max_t, o.head_max_t) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        self.samples_appended_total += o.samples_appended_total;
        self.exemplars += o.exemplars;
        self.wal_fsyncs_total += o.wal_fsyncs_total;
        self.wal_bytes += o.wal_bytes;
        self.wal_segments += o.wal_segments;
        self.blocks += o.blocks;
        self.block_bytes += o.block_bytes;
        self.block_series += o.block_series;
        self.block_samples += o.block_samples;
        self.compactions_total += o.compactions_total;
        self.corrupt_blocks_total += o.corrupt_blocks_total;
        self.corrupt_wals_total += o.corrupt_wals_total;
        self.out_of_order_samples_total += o.out_of_order_samples_total;
        for (k, v) in &o.rejected_samples_total {
            *self.rejected_samples_total.entry(k).or_default() += v;
        }
        self.head_bytes_per_series = if self.head_series > 0 {
            self.head_bytes as f64 / self.head_series as f64
        } else {
            0.0
        };
    }
}

/// Statistics of the whole database.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TsdbStats {
    /// Sum over tenants.
    pub total: TenantStats,
    /// Per tenant.
    pub tenants: BTreeMap<String, TenantStats>,
    /// Block chunk data held in memory by the shared cache.
    pub chunk_cache_bytes: u64,
    /// Block pages read from the shared cache of decompressed pages since open.
    pub page_cache_hits_total: u64,
    /// Block pages decompressed since open (not found in any cache).
    pub page_cache_misses_total: u64,
    /// Bytes held by the shared cache of decompressed pages.
    pub page_cache_bytes: u64,
    /// Byte budget of the page cache; 0 when it is disabled.
    pub page_cache_capacity_bytes: u64,
}
