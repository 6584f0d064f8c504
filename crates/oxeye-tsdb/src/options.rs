//! Configuration: [`TsdbOptions`] for the database and [`Limits`] per tenant.

use std::collections::HashMap;
use std::time::Duration;

use oxeye_storage::wal::WalOptions;

/// Per-tenant ingestion limits; `0` means unlimited for every field.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Most series a tenant's head may hold.
    pub max_active_series: usize,
    /// Sustained samples per second (token bucket refill rate).
    pub max_samples_per_second: f64,
    /// Token bucket size; `0` means one second's worth of `max_samples_per_second`.
    pub samples_burst: usize,
    /// Most labels on one series.
    pub max_labels_per_series: usize,
    /// Longest label name in bytes.
    pub max_label_name_len: usize,
    /// Longest label value in bytes.
    pub max_label_value_len: usize,
    /// Most exemplar label bytes (names plus values), as in OpenMetrics (128 runes).
    pub max_exemplar_labels_len: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_active_series: 5_000_000,
            max_samples_per_second: 0.0,
            samples_burst: 0,
            max_labels_per_series: 64,
            max_label_name_len: 1024,
            max_label_value_len: 4096,
            max_exemplar_labels_len: 128,
        }
    }
}

impl Limits {
    /// No limits at all.
    pub fn unlimited() -> Self {
        Self {
            max_active_series: 0,
            max_samples_per_second: 0.0,
            samples_burst: 0,
            max_labels_per_series: 0,
            max_label_name_len: 0,
            max_label_value_len: 0,
            max_exemplar_labels_len: 0,
        }
    }
}

/// Default of [`TsdbOptions::page_cache_bytes`]: 64 MiB.
pub const DEFAULT_PAGE_CACHE_BYTES: u64 = 64 << 20;

/// Database options.
#[derive(Debug, Clone)]
pub struct TsdbOptions {
    /// Blocks whose newest sample is older than `now - retention` are deleted.
    pub retention: Duration,
    /// When set, the oldest blocks are deleted until blocks take at most this many bytes.
    pub retention_bytes: Option<u64>,
    /// Span of head data cut into one block.
    pub block_duration: Duration,
    /// How far behind the tenant's newest sample a sample may be and still be accepted
    /// out of order; zero rejects any sample older than its series' newest one.
    pub out_of_order_window: Duration,
    /// WAL options (segment size, sync policy).
    pub wal: oxeye_storage::wal::WalOptions,
    /// Limits for tenants without an override.
    pub limits: Limits,
    /// Per-tenant limit overrides.
    pub tenant_limits: HashMap<String, Limits>,
    /// Exemplars kept per tenant (ring buffer).
    pub max_exemplars: usize,
    /// Cut a tenant's head early when its in-memory size exceeds this.
    pub head_max_bytes: Option<u64>,
    /// Memory for block chunk data kept between queries, shared by all tenants.
    pub chunk_cache_bytes: u64,
    /// Memory for decompressed block pages kept between queries, shared by all blocks of
    /// all tenants; 0 disables the cache (every read decompresses its pages).
    pub page_cache_bytes: u64,
}

impl Default for TsdbOptions {
    fn default() -> Self {
        Self {
            retention: Duration::from_secs(90 * 24 * 3600),
            retention_bytes: None,
            block_duration: Duration::from_secs(2 * 3600),
            out_of_order_window: Duration::ZERO,
            wal: WalOptions::default(),
            limits: Limits::default(),
            tenant_limits: HashMap::new(),
            max_exemplars: 100_000,
            head_max_bytes: None,
            chunk_cache_bytes: 256 << 20,
            page_cache_bytes: DEFAULT_PAGE_CACHE_BYTES,
        }
    }
}

impl TsdbOptions {
    /// The limits that apply to `tenant`.
    pub fn limits_for(&self, tenant: &str) -> &Limits {
        self.tenant_limits.get(tenant).unwrap_or(&self.limits)
    }
}

pub(crate) fn dur_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
