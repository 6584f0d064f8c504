//! oxeye's own metrics, served on `/metrics`.
//!
//! Request counters and latencies are updated by a middleware around every route; ingest
//! handlers count samples by protocol and rejections by reason. Store statistics (head
//! series, bytes per series, WAL fsyncs, blocks...) are not copied into the registry but
//! pulled from a [`StatsFn`] each time `/metrics` is scraped, so they are always current.

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Whether a pulled statistic only goes up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatKind {
    /// Can go up and down.
    Gauge,
    /// Only goes up; exposed with a `_total` suffix.
    Counter,
}

/// One store statistic pulled at scrape time.
#[derive(Debug, Clone, PartialEq)]
pub struct StatValue {
    /// Metric name; for counters without the `_total` suffix.
    pub name: String,
    /// Help text.
    pub help: String,
    /// Gauge or counter.
    pub kind: StatKind,
    /// Labels of this value; values of one name differ in their labels.
    pub labels: Vec<(String, String)>,
    /// Current value.
    pub value: f64,
}

impl StatValue {
    /// A gauge statistic.
    pub fn gauge(name: &str, help: &str, value: f64) -> Self {
        Self {
            name: name.into(),
            help: help.into(),
            kind: StatKind::Gauge,
            labels: Vec::new(),
            value,
        }
    }

    /// A counter statistic (`name` without `_total`).
    pub fn counter(name: &str, help: &str, value: f64) -> Self {
        Self {
            name: name.into(),
            help: help.into(),
            kind: StatKind::Counter,
            labels: Vec::new(),
            value,
        }
    }

    /// The same statistic with a label added.
    pub fn with_label(mut self, name: &str, value: &str) -> Self {
        self.labels.push((name.to_string(), value.to_string()));
        self
    }
}

/// Produces the current store statistics.
pub type StatsFn = Arc<dyn Fn() -> Vec<StatValue> + Send + Sync>;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    handler: String,
    code: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HandlerLabel {
    handler: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProtocolLabel {
    protocol: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    protocol: String,
    reason: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: String,
}

struct StatsCollector(StatsFn);

impl std::fmt::Debug for StatsCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StatsCollector")
    }
}

impl Collector for StatsCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        // one descriptor per name, then every labelled value of it
        let mut families: Vec<(String, String, StatKind, Vec<(Vec<(String, String)>, f64)>)> =
            Vec::new();
        for stat in (self.0)() {
            match families.iter_mut().find(|f| f.0 == stat.name) {
                Some(f) => f.3.push((stat.labels, stat.value)),
                None => families.push((
                    stat.name,
                    stat.help,
                    stat.kind,
                    vec![(stat.labels, stat.value)],
                )),
            }
        }
        for (name, help, kind, values) in families {
            let ty = match kind {
                StatKind::Gauge => MetricType::Gauge,
                StatKind::Counter => MetricType::Counter,
            };
            let mut family = encoder.encode_descriptor(&name, &help, None, ty)?;
            let encode = |m: prometheus_client::encoding::MetricEncoder<'_>, value: f64| match kind
            {
                StatKind::Gauge => ConstGauge::new(value).encode(m),
                StatKind::Counter => ConstCounter::new(value).encode(m),
            };
            if let [(labels, value)] = values.as_slice()
                && labels.is_empty()
            {
                encode(family, *value)?;
                continue;
            }
            for (labels, value) in values {
                encode(family.encode_family(&labels)?, value)?;
            }
        }
        Ok(())
    }
}

/// The self-metrics registry and the handles the server updates.
#[derive(Debug)]
pub struct SelfMetrics {
    registry: Registry,
    requests: Family<HttpLabels, Counter>,
    durations: Family<HandlerLabel, Histogram>,
    ingested: Family<ProtocolLabel, Counter>,
    rejected: Family<ReasonLabel, Counter>,
    spans_ingested: Family<ProtocolLabel, Counter>,
    spans_rejected: Family<ReasonLabel, Counter>,
    log_lines: Family<ProtocolLabel, Counter>,
    log_bytes: Family<ProtocolLabel, Counter>,
    log_lines_rejected: Family<ReasonLabel, Counter>,
    log_bytes_rejected: Family<ReasonLabel, Counter>,
}

impl SelfMetrics {
    /// A registry; `stats` is called on every scrape of `/metrics`.
    pub fn new(version: &str, stats: Option<StatsFn>) -> Self {
        let mut registry = Registry::default();
        let requests = Family::<HttpLabels, Counter>::default();
        registry.register(
            "oxeye_http_requests",
            "HTTP requests by handler and status code",
            requests.clone(),
        );
        let durations = Family::<HandlerLabel, Histogram>::new_with_constructor(
            (|| Histogram::new(exponential_buckets(0.001, 4.0, 8))) as fn() -> Histogram,
        );
        registry.register(
            "oxeye_http_request_duration_seconds",
            "HTTP request latency by handler",
            durations.clone(),
        );
        let ingested = Family::<ProtocolLabel, Counter>::default();
        registry.register(
            "oxeye_samples_ingested",
            "Samples stored, by ingest protocol",
            ingested.clone(),
        );
        let rejected = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "oxeye_samples_rejected",
            "Samples refused, by ingest protocol and reason",
            rejected.clone(),
        );
        let spans_ingested = Family::<ProtocolLabel, Counter>::default();
        registry.register(
            "oxeye_spans_ingested",
            "Spans stored, by ingest protocol",
            spans_ingested.clone(),
        );
        let spans_rejected = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "oxeye_spans_rejected",
            "Spans refused, by ingest protocol and reason",
            spans_rejected.clone(),
        );
        let log_lines = Family::<ProtocolLabel, Counter>::default();
        registry.register(
            "oxeye_log_lines_ingested",
            "Log lines stored, by ingest protocol",
            log_lines.clone(),
        );
        let log_bytes = Family::<ProtocolLabel, Counter>::default();
        registry.register(
            "oxeye_log_bytes_ingested",
            "Bytes of log lines and structured metadata stored, by ingest protocol",
            log_bytes.clone(),
        );
        let log_lines_rejected = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "oxeye_log_lines_rejected",
            "Log lines refused, by ingest protocol and reason",
            log_lines_rejected.clone(),
        );
        let log_bytes_rejected = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "oxeye_log_bytes_rejected",
            "Bytes of log lines refused, by ingest protocol and reason",
            log_bytes_rejected.clone(),
        );
        let build = Family::<BuildLabels, Gauge>::default();
        build
            .get_or_create(&BuildLabels {
                version: version.to_string(),
            })
            .set(1);
        registry.register(
            "oxeye_build_info",
            "A metric with a constant 1 value labelled by the oxeye version",
            build,
        );
        if let Some(stats) = stats {
            registry.register_collector(Box::new(StatsCollector(stats)));
        }
        Self {
            registry,
            requests,
            durations,
            ingested,
            rejected,
            spans_ingested,
            spans_rejected,
            log_lines,
            log_bytes,
            log_lines_rejected,
            log_bytes_rejected,
        }
    }

    /// Counts log lines and their bytes stored through `protocol`.
    pub fn log_lines_ingested(&self, protocol: &str, lines: usize, bytes: usize) {
        let label = ProtocolLabel {
            protocol: protocol.to_string(),
        };
        self.log_lines.get_or_create(&label).inc_by(lines as u64);
        self.log_bytes.get_or_create(&label).inc_by(bytes as u64);
    }

    /// Counts log lines and their bytes refused through `protocol` for `reason`.
    pub fn log_lines_rejected(&self, protocol: &str, reason: &str, lines: usize, bytes: usize) {
        if lines == 0 {
            return;
        }
        let label = ReasonLabel {
            protocol: protocol.to_string(),
            reason: reason.to_string(),
        };
        self.log_lines_rejected
            .get_or_create(&label)
            .inc_by(lines as u64);
        self.log_bytes_rejected
            .get_or_create(&label)
            .inc_by(bytes as u64);
    }

    /// Records one finished HTTP request.
    pub fn observe_request(&self, handler: &str, code: u16, seconds: f64) {
        self.requests
            .get_or_create(&HttpLabels {
                handler: handler.to_string(),
                code: code.to_string(),
            })
            .inc();
        self.durations
            .get_or_create(&HandlerLabel {
                handler: handler.to_string(),
            })
            .observe(seconds);
    }

    /// Counts samples stored through `protocol`.
    pub fn ingested(&self, protocol: &str, samples: usize) {
        self.ingested
            .get_or_create(&ProtocolLabel {
                protocol: protocol.to_string(),
            })
            .inc_by(samples as u64);
    }

    /// Counts spans stored through `protocol`.
    pub fn spans_ingested(&self, protocol: &str, spans: usize) {
        self.spans_ingested
            .get_or_create(&ProtocolLabel {
                protocol: protocol.to_string(),
            })
            .inc_by(spans as u64);
    }

    /// Counts spans refused through `protocol` for `reason`.
    pub fn spans_rejected(&self, protocol: &str, reason: &str, spans: usize) {
        if spans == 0 {
            return;
        }
        self.spans_rejected
            .get_or_create(&ReasonLabel {
                protocol: protocol.to_string(),
                reason: reason.to_string(),
            })
            .inc_by(spans as u64);
    }

    /// Counts samples refused through `protocol` for `reason`.
    pub fn rejected(&self, protocol: &str, reason: &str, samples: usize) {
        if samples == 0 {
            return;
        }
        self.rejected
            .get_or_create(&ReasonLabel {
                protocol: protocol.to_string(),
                reason: reason.to_string(),
            })
            .inc_by(samples as u64);
    }

    /// The registry in the OpenMetrics text format.
    pub fn encode_openmetrics(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }

    /// The registry in the Prometheus text format 0.0.4: no `# EOF`/`# UNIT`, and counter
    /// families named with their `_total` suffix as their samples are.
    pub fn encode_prometheus_text(&self) -> Result<String, std::fmt::Error> {
        Ok(openmetrics_to_text(&self.encode_openmetrics()?))
    }
}

fn openmetrics_to_text(om: &str) -> String {
    let counters: std::collections::HashSet<&str> = om
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(om.len());
    for line in om.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let rewritten = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(name)
                .then(|| format!("{prefix}{name}_total {tail}"))
        });
        match rewritten {
            Some(l) => out.push_str(&l),
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pulls_stats_on_every_encode() {
        let n = Arc::new(std::sync::atomic::AtomicU64::new(1));
        let n2 = n.clone();
        let stats: StatsFn = Arc::new(move || {
            vec![
                StatValue::gauge(
                    "oxeye_tsdb_head_series",
                    "Series in the head",
                    n2.load(std::sync::atomic::Ordering::SeqCst) as f64,
                ),
                StatValue::counter("oxeye_wal_fsyncs", "WAL fsyncs", 7.0),
                StatValue::gauge("oxeye_tenant_series", "Series per tenant", 3.0)
                    .with_label("tenant", "a"),
                StatValue::gauge("oxeye_tenant_series", "Series per tenant", 4.0)
                    .with_label("tenant", "b"),
            ]
        });
        let m = SelfMetrics::new("0.1.0", Some(stats));
        let om = m.encode_openmetrics().unwrap();
        assert!(om.contains("oxeye_tsdb_head_series 1"), "{om}");
        n.store(42, std::sync::atomic::Ordering::SeqCst);
        let text = m.encode_prometheus_text().unwrap();
        assert!(text.contains("oxeye_tsdb_head_series 42"), "{text}");
        assert!(
            text.contains("# TYPE oxeye_wal_fsyncs_total counter"),
            "{text}"
        );
        assert!(text.contains("oxeye_wal_fsyncs_total 7"), "{text}");
        assert!(!text.contains("# EOF"));
        assert!(
            text.contains("oxeye_tenant_series{tenant=\"a\"} 3"),
            "{text}"
        );
        assert!(
            text.contains("oxeye_tenant_series{tenant=\"b\"} 4"),
            "{text}"
        );
        assert_eq!(text.matches("# TYPE oxeye_tenant_series gauge").count(), 1);
    }

    #[test]
    fn request_and_ingest_counters() {
        let m = SelfMetrics::new("0.1.0", None);
        m.observe_request("/api/v1/write", 204, 0.002);
        m.ingested("remote_write", 10);
        m.rejected("otlp", "invalid", 2);
        let om = m.encode_openmetrics().unwrap();
        assert!(
            om.contains(r#"oxeye_http_requests_total{handler="/api/v1/write",code="204"} 1"#),
            "{om}"
        );
        assert!(om.contains(r#"oxeye_samples_ingested_total{protocol="remote_write"} 10"#));
        assert!(om.contains(r#"oxeye_samples_rejected_total{protocol="otlp",reason="invalid"} 2"#));
        assert!(om.contains(r#"oxeye_build_info{version="0.1.0"} 1"#));
        assert!(om.ends_with("# EOF\n"));
    }
}
