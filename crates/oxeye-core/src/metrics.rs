//! The metric model and the narrow traits between ingest, the TSDB and query engines.
//!
//! Writes: a [`WriteBatch`] goes to a [`MetricsAppender`], which validates all of it
//! before storing any of it and returns only once it is durable.
//!
//! Reads: a [`MetricsQueryable`] hands out a [`MetricsQuerier`] for one tenant and time
//! range; [`MetricsQuerier::select`] returns [`Series`] whose samples are read chunk by
//! chunk through [`SeriesData`]. A querier keeps what it reads alive (a block being read is
//! never deleted under it) until it is dropped.

use std::ops::ControlFlow;
use std::sync::Arc;

use crate::{Labels, Matcher, StoreError, TenantId};

/// The bit pattern Prometheus uses for staleness markers.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// A staleness marker value.
pub fn stale_nan() -> f64 {
    f64::from_bits(STALE_NAN_BITS)
}

/// Whether `v` is a staleness marker (compared bit-exactly).
pub fn is_stale_nan(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

/// One float sample: milliseconds since the epoch and a value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Timestamp in milliseconds.
    pub t: i64,
    /// Value; NaN payloads are preserved bit-exactly.
    pub v: f64,
}

impl Sample {
    /// A sample.
    pub fn new(t: i64, v: f64) -> Self {
        Self { t, v }
    }
}

/// An exemplar: a sample of a trace or event linked to a series.
#[derive(Debug, Clone, PartialEq)]
pub struct Exemplar {
    /// Exemplar labels, e.g. `trace_id`, `span_id`.
    pub labels: Labels,
    /// Timestamp in milliseconds.
    pub t: i64,
    /// Value.
    pub v: f64,
}

/// The Prometheus metric type of a family.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum MetricType {
    /// Unknown or untyped.
    #[default]
    Unknown,
    /// A monotonic counter.
    Counter,
    /// A gauge.
    Gauge,
    /// A classic histogram.
    Histogram,
    /// An OpenMetrics gauge histogram.
    Gaugehistogram,
    /// A summary.
    Summary,
    /// OpenMetrics info.
    Info,
    /// OpenMetrics stateset.
    Stateset,
}

impl MetricType {
    /// The name as Prometheus's metadata API prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Unknown => "unknown",
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::Gaugehistogram => "gaugehistogram",
            MetricType::Summary => "summary",
            MetricType::Info => "info",
            MetricType::Stateset => "stateset",
        }
    }
}

/// Metadata of one metric family.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MetricMetadata {
    /// The family name (without `_total`, `_bucket`... suffixes where the source says so).
    pub metric_family: String,
    /// The type.
    pub metric_type: MetricType,
    /// Help text.
    pub help: String,
    /// Unit.
    pub unit: String,
}

/// Samples and exemplars for one series in a write.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SeriesWrite {
    /// The series' labels (validated by the decoder).
    pub labels: Labels,
    /// Samples, in any order.
    pub samples: Vec<Sample>,
    /// Exemplars.
    pub exemplars: Vec<Exemplar>,
}

/// One write request after decoding, before storing.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct WriteBatch {
    /// Series with their samples.
    pub series: Vec<SeriesWrite>,
    /// Family metadata carried by the request.
    pub metadata: Vec<MetricMetadata>,
}

impl WriteBatch {
    /// Total samples in the batch.
    pub fn sample_count(&self) -> usize {
        self.series.iter().map(|s| s.samples.len()).sum()
    }

    /// Total exemplars in the batch.
    pub fn exemplar_count(&self) -> usize {
        self.series.iter().map(|s| s.exemplars.len()).sum()
    }
}

/// What an append stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AppendStats {
    /// Samples stored.
    pub samples: usize,
    /// Exemplars stored.
    pub exemplars: usize,
    /// Metadata entries stored.
    pub metadata: usize,
    /// Series that did not exist before this write.
    pub series_created: usize,
}

/// The write side of a metrics store.
pub trait MetricsAppender: Send + Sync {
    /// Validates the whole batch, then stores it; returns once it is durable per the
    /// store's sync policy. A batch that fails validation stores nothing. Blocking: call
    /// from a blocking context.
    fn append(&self, tenant: &TenantId, batch: WriteBatch) -> Result<AppendStats, StoreError>;
}

/// Hints a query engine passes to `select`; stores may use them to read less.
#[derive(Debug, Clone, Default)]
pub struct SelectHints {
    /// Start of the data needed, ms, inclusive.
    pub start: i64,
    /// End of the data needed, ms, inclusive.
    pub end: i64,
    /// Evaluation step in ms (0 for instant queries).
    pub step: i64,
    /// The function around the selector, if any (`rate`, `series`...).
    pub func: Option<String>,
    /// Return at most this many series.
    pub limit: Option<usize>,
}

/// The samples of one series, read chunk by chunk.
pub trait SeriesData: Send + Sync {
    /// Calls `f` with the series' samples in time order, one decoded chunk at a time,
    /// restricted to the querier's time range, without duplicate timestamps. `f` may stop
    /// the iteration early with `ControlFlow::Break`.
    fn for_each_chunk(
        &self,
        f: &mut dyn FnMut(&[Sample]) -> ControlFlow<()>,
    ) -> Result<(), StoreError>;

    /// All samples, collected.
    fn samples(&self) -> Result<Vec<Sample>, StoreError> {
        let mut out = Vec::new();
        self.for_each_chunk(&mut |chunk| {
            out.extend_from_slice(chunk);
            ControlFlow::Continue(())
        })?;
        Ok(out)
    }
}

/// Samples already in memory; useful for stores of computed data and for tests.
#[derive(Debug, Clone, Default)]
pub struct VecSeriesData(pub Vec<Sample>);

impl SeriesData for VecSeriesData {
    fn for_each_chunk(
        &self,
        f: &mut dyn FnMut(&[Sample]) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        let _ = f(&self.0);
        Ok(())
    }
}

/// A series returned by a querier.
#[derive(Clone)]
pub struct Series {
    /// The series' labels.
    pub labels: Labels,
    /// Its samples in the querier's range.
    pub data: Arc<dyn SeriesData>,
}

impl std::fmt::Debug for Series {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Series")
            .field("labels", &self.labels)
            .finish_non_exhaustive()
    }
}

/// What a store promises about the stability of a tenant's older data, so that results
/// computed from it can be cached: samples at or before `before_ms` change (late writes,
/// backfill, retention) only together with a change of `generation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settled {
    /// Changes whenever data at or before a previously reported `before_ms` changed.
    pub generation: u64,
    /// Samples at or before this time (ms) are settled.
    pub before_ms: i64,
}

/// Hands out queriers over a tenant's data.
pub trait MetricsQueryable: Send + Sync {
    /// A querier over `[mint, maxt]` (ms, inclusive) of `tenant`'s data.
    fn querier(
        &self,
        tenant: &TenantId,
        mint: i64,
        maxt: i64,
    ) -> Result<Box<dyn MetricsQuerier>, StoreError>;

    /// How far `tenant`'s data is settled; `None` (the default) promises nothing, so
    /// nothing computed from it is cached.
    fn settled(&self, tenant: &TenantId) -> Option<Settled> {
        let _ = tenant;
        None
    }
}

/// Reads one tenant's series over a fixed time range.
pub trait MetricsQuerier: Send + Sync {
    /// Series matching all `matchers` with at least one sample in range, sorted by labels.
    fn select(&self, matchers: &[Matcher], hints: &SelectHints) -> Result<Vec<Series>, StoreError>;

    /// Label names of series matching `matchers` (all series when empty), sorted.
    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>, StoreError>;

    /// Values of label `name` over series matching `matchers`, sorted.
    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>, StoreError>;

    /// Exemplars of series matching `matchers`, grouped by series.
    fn exemplars(&self, matchers: &[Matcher]) -> Result<Vec<(Labels, Vec<Exemplar>)>, StoreError>;

    /// Known metric metadata, optionally only for `metric`.
    fn metadata(&self, metric: Option<&str>) -> Result<Vec<MetricMetadata>, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_nan_is_bit_exact() {
        assert!(is_stale_nan(stale_nan()));
        assert!(!is_stale_nan(f64::NAN));
    }

    #[test]
    fn vec_series_data_collects() {
        let d = VecSeriesData(vec![Sample::new(1, 1.0), Sample::new(2, 2.0)]);
        assert_eq!(d.samples().unwrap().len(), 2);
    }
}
