//! OTLP metrics -> the Prometheus data model.
//!
//! The server decompresses the body ([`crate::compression::decode_content`]), then
//! [`decode_metrics_request`] parses protobuf or OTLP/JSON into an
//! [`ExportMetricsServiceRequest`], and [`convert_metrics`] maps it onto a [`WriteBatch`]
//! following the OpenTelemetry "Prometheus and OpenMetrics Compatibility" specification:
//!
//! - gauges -> gauges; monotonic sums -> counters named `..._total`; non-monotonic sums ->
//!   gauges; delta sums and histograms are accumulated into cumulative series by a per-tenant
//!   [`DeltaState`];
//! - histograms -> `_bucket{le}` (cumulative, with `le="+Inf"`), `_sum`, `_count`;
//!   summaries -> `{quantile}`, `_sum`, `_count`; exponential histograms are rejected (they
//!   need native histograms, which the store does not support yet);
//! - names get unit and type suffixes and are sanitised ([`naming`] rules); attributes
//!   become labels; `job` comes from `service.namespace/service.name`, `instance` from
//!   `service.instance.id`; the other resource attributes go to one `target_info` series per
//!   resource; the scope adds `otel_scope_name` / `otel_scope_version`;
//! - exemplars keep their filtered attributes plus `trace_id` / `span_id` in lowercase hex;
//! - the `NO_RECORDED_VALUE` flag becomes a staleness marker; timestamps go from ns to ms;
//! - one [`MetricMetadata`] per family (type, description as help, unit word).
//!
//! A data point that is invalid on its own (no timestamp, bucket counts that do not match
//! the bounds...) is rejected and counted; the rest of the request converts. The rejected
//! count and a message listing what was rejected and why form the OTLP partial success.

mod delta;
mod logs_in;
mod naming;
#[cfg(test)]
mod tests;
mod trace_in;
pub mod trace_out;

use std::collections::{HashMap, HashSet};
use std::hash::BuildHasher;

pub use delta::{DEFAULT_MAX_AGE_MS, DeltaState};
pub use logs_in::*;
pub use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::{
    Exemplar as OtlpExemplar, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics,
    SummaryDataPoint, exemplar, metric::Data, number_data_point,
};
use oxeye_core::{
    Exemplar, Label, Labels, METRIC_NAME, MetricMetadata, MetricType, Sample, SeriesWrite,
    WriteBatch, stale_nan,
};
pub use trace_in::*;

use crate::ProtoError;
use delta::{HistogramTotals, ns_to_ms};
use naming::{NameKind, format_float, label_name, metric_name, prometheus_unit, value_string};

/// `DataPointFlags.FLAG_NO_RECORDED_VALUE`.
const NO_RECORDED_VALUE: u32 = 1;
/// `AggregationTemporality` numbers.
const DELTA: i32 = 1;
const CUMULATIVE: i32 = 2;
/// At most this many distinct rejection reasons are listed in the message.
const MAX_REASONS: usize = 10;

/// Parses an OTLP/HTTP body (already decompressed) of any signal: `application/x-protobuf`
/// (or no Content-Type) is protobuf, `application/json` is OTLP/JSON (camelCase fields, hex
/// trace and span ids, enums as integers, 64-bit integers as strings or numbers).
pub fn decode_otlp_body<M>(content_type: Option<&str>, body: &[u8]) -> Result<M, ProtoError>
where
    M: prost::Message + Default + serde::de::DeserializeOwned,
{
    decode_otlp_body_with(content_type, body, |b| {
        serde_json::from_slice(b).map_err(|e| ProtoError::Json(e.to_string()))
    })
}

/// [`decode_otlp_body`] with the signal's own JSON decoder.
pub fn decode_otlp_body_with<M>(
    content_type: Option<&str>,
    body: &[u8],
    json: impl FnOnce(&[u8]) -> Result<M, ProtoError>,
) -> Result<M, ProtoError>
where
    M: prost::Message + Default,
{
    let media = content_type
        .and_then(|ct| ct.split(';').next())
        .map(str::trim)
        .unwrap_or("");
    if media.is_empty()
        || media.eq_ignore_ascii_case("application/x-protobuf")
        || media.eq_ignore_ascii_case("application/protobuf")
    {
        return M::decode(body).map_err(|e| ProtoError::Protobuf(e.to_string()));
    }
    if media.eq_ignore_ascii_case("application/json") {
        return json(body);
    }
    Err(ProtoError::UnsupportedMediaType(
        content_type.unwrap_or_default().to_string(),
    ))
}

/// Parses an OTLP/HTTP metrics body; see [`decode_otlp_body`].
pub fn decode_metrics_request(
    content_type: Option<&str>,
    body: &[u8],
) -> Result<ExportMetricsServiceRequest, ProtoError> {
    decode_otlp_body(content_type, body)
}

/// The result of converting one request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Converted {
    /// Everything that converted.
    pub batch: WriteBatch,
    /// OTLP data points that were rejected.
    pub rejected_points: i64,
    /// Empty when nothing was rejected; otherwise what was rejected and why.
    pub error_message: String,
}

/// Converts a request; `state` carries delta accumulation across requests of one tenant.
pub fn convert_metrics(req: &ExportMetricsServiceRequest, state: &mut DeltaState) -> Converted {
    let mut c = Converter {
        state,
        series: Vec::new(),
        index: HashMap::new(),
        hasher: std::hash::RandomState::new(),
        metadata: Vec::new(),
        families: HashSet::new(),
        rejected: 0,
        reasons: Vec::new(),
        more_reasons: 0,
    };
    for rm in &req.resource_metrics {
        c.resource(rm);
    }
    c.finish()
}

struct Converter<'s> {
    state: &'s mut DeltaState,
    series: Vec<SeriesWrite>,
    /// Label hash -> position in `series`.
    index: HashMap<u64, usize>,
    hasher: std::hash::RandomState,
    metadata: Vec<MetricMetadata>,
    families: HashSet<String>,
    rejected: i64,
    /// (metric, reason, points)
    reasons: Vec<(String, String, i64)>,
    more_reasons: usize,
}

/// Labels from attributes: sanitised names; attributes whose names collide after
/// sanitising are joined with `;` in the order of their original keys.
fn attribute_labels<'a>(attrs: impl Iterator<Item = &'a KeyValue>) -> Vec<Label> {
    let mut v: Vec<(String, &str, String)> = attrs
        .map(|kv| {
            (
                label_name(&kv.key),
                kv.key.as_str(),
                value_string(kv.value.as_ref()),
            )
        })
        .filter(|(name, _, value)| !name.is_empty() && !value.is_empty())
        .collect();
    v.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    let mut out: Vec<Label> = Vec::with_capacity(v.len() + 4);
    for (name, _, value) in v {
        match out.last_mut() {
            Some(prev) if prev.name == name => {
                prev.value.push(';');
                prev.value.push_str(&value);
            }
            _ => out.push(Label { name, value }),
        }
    }
    out
}

/// Point labels: attributes, then the resource/scope labels (which win), then the name
/// and an optional `le`/`quantile` (which win over everything).
fn series_labels(group: &[Label], name: &str, extra: Option<(&str, String)>) -> Labels {
    let mut v = Vec::with_capacity(group.len() + 2);
    v.extend_from_slice(group);
    v.push(Label::new(METRIC_NAME, name));
    if let Some((n, value)) = extra {
        v.push(Label::new(n, value));
    }
    Labels::new(v)
}

/// Like [`series_labels`], consuming the group (spares a copy of every label).
fn series_labels_owned(mut group: Vec<Label>, name: &str) -> Labels {
    group.push(Label::new(METRIC_NAME, name));
    Labels::new(group)
}

fn group_labels(attrs: &[KeyValue], base: &[Label]) -> Vec<Label> {
    let mut v = attribute_labels(attrs.iter());
    v.extend_from_slice(base);
    v
}

fn convert_exemplar(e: &OtlpExemplar, point_ms: i64) -> Exemplar {
    let mut labels = attribute_labels(e.filtered_attributes.iter());
    if e.trace_id.iter().any(|&b| b != 0) {
        labels.push(Label::new("trace_id", hex::encode(&e.trace_id)));
    }
    if e.span_id.iter().any(|&b| b != 0) {
        labels.push(Label::new("span_id", hex::encode(&e.span_id)));
    }
    let v = match e.value {
        Some(exemplar::Value::AsDouble(d)) => d,
        Some(exemplar::Value::AsInt(i)) => i as f64,
        None => 0.0,
    };
    let t = if e.time_unix_nano == 0 {
        point_ms
    } else {
        ns_to_ms(e.time_unix_nano)
    };
    Exemplar {
        labels: Labels::new(labels),
        t,
        v,
    }
}

fn point_count(data: &Data) -> usize {
    match data {
        Data::Gauge(g) => g.data_points.len(),
        Data::Sum(s) => s.data_points.len(),
        Data::Histogram(h) => h.data_points.len(),
        Data::ExponentialHistogram(e) => e.data_points.len(),
        Data::Summary(s) => s.data_points.len(),
    }
}

fn timestamp(ns: u64) -> Option<i64> {
    (ns != 0).then(|| ns_to_ms(ns))
}

impl Converter<'_> {
    fn reject(&mut self, metric: &str, reason: &str, points: usize) {
        if points == 0 {
            return;
        }
        let points = i64::try_from(points).unwrap_or(i64::MAX);
        self.rejected = self.rejected.saturating_add(points);
        if let Some(r) = self
            .reasons
            .iter_mut()
            .find(|(m, r, _)| m == metric && r == reason)
        {
            r.2 += points;
            return;
        }
        if self.reasons.len() < MAX_REASONS {
            self.reasons
                .push((metric.to_string(), reason.to_string(), points));
        } else {
            self.more_reasons += 1;
        }
    }

    /// Adds a sample to its series, creating the series on first use. Series are found by
    /// label hash; on the (rare) hash collision the series list is searched.
    fn push(&mut self, labels: Labels, sample: Sample, exemplars: Vec<Exemplar>) {
        let hash = self.hasher.hash_one(&labels);
        let found = match self.index.get(&hash) {
            Some(&i) if self.series.get(i).is_some_and(|s| s.labels == labels) => Some(i),
            Some(_) => self.series.iter().position(|s| s.labels == labels),
            None => None,
        };
        if let Some(s) = found.and_then(|i| self.series.get_mut(i)) {
            s.samples.push(sample);
            s.exemplars.extend(exemplars);
            return;
        }
        self.index.entry(hash).or_insert(self.series.len());
        self.series.push(SeriesWrite {
            labels,
            samples: vec![sample],
            exemplars,
        });
    }

    fn meta(&mut self, family: &str, metric_type: MetricType, help: &str, unit: String) {
        if self.families.insert(family.to_string()) {
            self.metadata.push(MetricMetadata {
                metric_family: family.to_string(),
                metric_type,
                help: help.to_string(),
                unit,
            });
        }
    }

    fn resource(&mut self, rm: &ResourceMetrics) {
        let attrs: &[KeyValue] = rm.resource.as_ref().map_or(&[], |r| &r.attributes);
        let get = |key: &str| {
            attrs
                .iter()
                .find(|kv| kv.key == key)
                .map(|kv| value_string(kv.value.as_ref()))
                .filter(|v| !v.is_empty())
        };
        let job = match (get("service.namespace"), get("service.name")) {
            (Some(ns), Some(name)) => Some(format!("{ns}/{name}")),
            (None, Some(name)) => Some(name),
            _ => None,
        };
        let mut base = Vec::new();
        if let Some(job) = job {
            base.push(Label::new("job", job));
        }
        if let Some(instance) = get("service.instance.id") {
            base.push(Label::new("instance", instance));
        }
        let mut newest: Option<i64> = None;
        for sm in &rm.scope_metrics {
            let mut scope_base = base.clone();
            if let Some(scope) = &sm.scope {
                if !scope.name.is_empty() {
                    scope_base.push(Label::new("otel_scope_name", scope.name.as_str()));
                }
                if !scope.version.is_empty() {
                    scope_base.push(Label::new("otel_scope_version", scope.version.as_str()));
                }
            }
            for m in &sm.metrics {
                if let Some(t) = self.metric(m, &scope_base) {
                    newest = Some(newest.map_or(t, |n| n.max(t)));
                }
            }
        }
        let others = attrs.iter().filter(|kv| {
            !matches!(
                kv.key.as_str(),
                "service.name" | "service.namespace" | "service.instance.id"
            )
        });
        let mut info = attribute_labels(others);
        if let (Some(t), false) = (newest, info.is_empty()) {
            info.extend(base);
            self.push(
                series_labels(&info, "target_info", None),
                Sample::new(t, 1.0),
                Vec::new(),
            );
            self.meta(
                "target_info",
                MetricType::Gauge,
                "Target metadata",
                String::new(),
            );
        }
    }

    /// Converts one metric; returns the newest timestamp converted.
    fn metric(&mut self, m: &Metric, base: &[Label]) -> Option<i64> {
        let data = m.data.as_ref()?;
        let kind = match data {
            Data::Sum(s) if s.is_monotonic => NameKind::Counter,
            Data::Gauge(_) => NameKind::Gauge,
            _ => NameKind::Other,
        };
        let name = metric_name(&m.name, &m.unit, kind);
        if name.is_empty() {
            let reason = "metric name has no letters or digits";
            self.reject(&m.name, reason, point_count(data));
            return None;
        }
        match data {
            Data::Gauge(g) => {
                self.numbers(m, &name, &g.data_points, MetricType::Gauge, false, base)
            }
            Data::Sum(s) => {
                if s.aggregation_temporality != DELTA && s.aggregation_temporality != CUMULATIVE {
                    let reason = "sum has no valid aggregation temporality";
                    self.reject(&m.name, reason, s.data_points.len());
                    return None;
                }
                let t = if s.is_monotonic {
                    MetricType::Counter
                } else {
                    MetricType::Gauge
                };
                let delta = s.aggregation_temporality == DELTA;
                self.numbers(m, &name, &s.data_points, t, delta, base)
            }
            Data::Histogram(h) => {
                if h.aggregation_temporality != DELTA && h.aggregation_temporality != CUMULATIVE {
                    let reason = "histogram has no valid aggregation temporality";
                    self.reject(&m.name, reason, h.data_points.len());
                    return None;
                }
                let delta = h.aggregation_temporality == DELTA;
                self.histograms(m, &name, &h.data_points, delta, base)
            }
            Data::ExponentialHistogram(e) => {
                let reason =
                    "exponential histograms need native histograms, which are not supported yet";
                self.reject(&m.name, reason, e.data_points.len());
                None
            }
            Data::Summary(s) => self.summaries(m, &name, &s.data_points, base),
        }
    }

    fn numbers(
        &mut self,
        m: &Metric,
        name: &str,
        points: &[NumberDataPoint],
        metric_type: MetricType,
        delta: bool,
        base: &[Label],
    ) -> Option<i64> {
        let mut newest = None;
        for p in points {
            let Some(t) = timestamp(p.time_unix_nano) else {
                self.reject(&m.name, "data point has no timestamp", 1);
                continue;
            };
            let labels = series_labels_owned(group_labels(&p.attributes, base), name);
            let v = if p.flags & NO_RECORDED_VALUE != 0 {
                stale_nan()
            } else {
                let raw = match p.value {
                    Some(number_data_point::Value::AsDouble(d)) => d,
                    Some(number_data_point::Value::AsInt(i)) => i as f64,
                    None => {
                        self.reject(&m.name, "data point has no value", 1);
                        continue;
                    }
                };
                if delta {
                    let added =
                        self.state
                            .add_sum(&labels, p.start_time_unix_nano, p.time_unix_nano, raw);
                    match added {
                        Ok(total) => total,
                        Err(e) => {
                            self.reject(&m.name, &e.message(), 1);
                            continue;
                        }
                    }
                } else {
                    raw
                }
            };
            let exemplars = p.exemplars.iter().map(|e| convert_exemplar(e, t)).collect();
            self.push(labels, Sample::new(t, v), exemplars);
            newest = newest.max(Some(t));
        }
        if newest.is_some() {
            self.meta(name, metric_type, &m.description, prometheus_unit(&m.unit));
        }
        newest
    }

    fn histograms(
        &mut self,
        m: &Metric,
        name: &str,
        points: &[HistogramDataPoint],
        delta: bool,
        base: &[Label],
    ) -> Option<i64> {
        let mut newest = None;
        let (bucket_name, sum_name, count_name) = (
            format!("{name}_bucket"),
            format!("{name}_sum"),
            format!("{name}_count"),
        );
        for p in points {
            let Some(t) = timestamp(p.time_unix_nano) else {
                self.reject(&m.name, "data point has no timestamp", 1);
                continue;
            };
            if let Err(reason) = check_histogram(p) {
                self.reject(&m.name, &reason, 1);
                continue;
            }
            let group = group_labels(&p.attributes, base);
            let stale = p.flags & NO_RECORDED_VALUE != 0;
            let point = HistogramTotals {
                bounds: p.explicit_bounds.clone(),
                counts: p.bucket_counts.clone(),
                count: p.count,
                sum: p.sum,
            };
            let totals = if delta && !stale {
                let key = series_labels(&group, name, None);
                match self.state.add_histogram(
                    &key,
                    p.start_time_unix_nano,
                    p.time_unix_nano,
                    &point,
                ) {
                    Ok(totals) => totals,
                    Err(e) => {
                        self.reject(&m.name, &e.message(), 1);
                        continue;
                    }
                }
            } else {
                point
            };
            let value = |x: f64| if stale { stale_nan() } else { x };
            // exemplars go to the first bucket whose bound holds their value
            let mut per_bucket: Vec<Vec<Exemplar>> = vec![Vec::new(); totals.bounds.len() + 1];
            for e in &p.exemplars {
                let ex = convert_exemplar(e, t);
                let i = totals
                    .bounds
                    .iter()
                    .position(|b| ex.v <= *b)
                    .unwrap_or(totals.bounds.len());
                if let Some(slot) = per_bucket.get_mut(i) {
                    slot.push(ex);
                }
            }
            let mut per_bucket = per_bucket.into_iter();
            let mut cumulative: u64 = 0;
            for (bound, count) in totals.bounds.iter().zip(&totals.counts) {
                cumulative = cumulative.saturating_add(*count);
                let labels =
                    series_labels(&group, &bucket_name, Some(("le", format_float(*bound))));
                let ex = per_bucket.next().unwrap_or_default();
                self.push(labels, Sample::new(t, value(cumulative as f64)), ex);
            }
            let labels = series_labels(&group, &bucket_name, Some(("le", "+Inf".to_string())));
            let ex = per_bucket.next().unwrap_or_default();
            self.push(labels, Sample::new(t, value(totals.count as f64)), ex);
            let labels = series_labels(&group, &count_name, None);
            self.push(
                labels,
                Sample::new(t, value(totals.count as f64)),
                Vec::new(),
            );
            if let Some(sum) = totals.sum {
                let labels = series_labels(&group, &sum_name, None);
                self.push(labels, Sample::new(t, value(sum)), Vec::new());
            }
            newest = newest.max(Some(t));
        }
        if newest.is_some() {
            self.meta(
                name,
                MetricType::Histogram,
                &m.description,
                prometheus_unit(&m.unit),
            );
        }
        newest
    }

    fn summaries(
        &mut self,
        m: &Metric,
        name: &str,
        points: &[SummaryDataPoint],
        base: &[Label],
    ) -> Option<i64> {
        let mut newest = None;
        let (sum_name, count_name) = (format!("{name}_sum"), format!("{name}_count"));
        for p in points {
            let Some(t) = timestamp(p.time_unix_nano) else {
                self.reject(&m.name, "data point has no timestamp", 1);
                continue;
            };
            if let Some(q) = p
                .quantile_values
                .iter()
                .find(|q| !(0.0..=1.0).contains(&q.quantile))
            {
                let reason = format!("quantile {} is outside [0, 1]", format_float(q.quantile));
                self.reject(&m.name, &reason, 1);
                continue;
            }
            let group = group_labels(&p.attributes, base);
            let stale = p.flags & NO_RECORDED_VALUE != 0;
            let value = |x: f64| if stale { stale_nan() } else { x };
            for q in &p.quantile_values {
                let labels =
                    series_labels(&group, name, Some(("quantile", format_float(q.quantile))));
                self.push(labels, Sample::new(t, value(q.value)), Vec::new());
            }
            let labels = series_labels(&group, &sum_name, None);
            self.push(labels, Sample::new(t, value(p.sum)), Vec::new());
            let labels = series_labels(&group, &count_name, None);
            self.push(labels, Sample::new(t, value(p.count as f64)), Vec::new());
            newest = newest.max(Some(t));
        }
        if newest.is_some() {
            self.meta(
                name,
                MetricType::Summary,
                &m.description,
                prometheus_unit(&m.unit),
            );
        }
        newest
    }

    fn finish(self) -> Converted {
        let mut msg = String::new();
        for (i, (metric, reason, points)) in self.reasons.iter().enumerate() {
            if i > 0 {
                msg.push_str("; ");
            }
            let noun = if *points == 1 { "point" } else { "points" };
            msg.push_str(&format!(
                "{points} data {noun} of metric {metric:?}: {reason}"
            ));
        }
        if self.more_reasons > 0 {
            msg.push_str(&format!("; and {} more", self.more_reasons));
        }
        Converted {
            batch: WriteBatch {
                series: self.series,
                metadata: self.metadata,
            },
            rejected_points: self.rejected,
            error_message: msg,
        }
    }
}

/// A histogram point is convertible when its bucket counts match its bounds and the
/// bounds are finite and strictly increasing.
fn check_histogram(p: &HistogramDataPoint) -> Result<(), String> {
    let (counts, bounds) = (p.bucket_counts.len(), p.explicit_bounds.len());
    if counts == 0 && bounds > 0 {
        return Err(format!(
            "histogram has {bounds} explicit bounds but no bucket counts"
        ));
    }
    if counts > 0 && counts != bounds + 1 {
        return Err(format!(
            "histogram has {counts} bucket counts for {bounds} explicit bounds (expected {})",
            bounds + 1
        ));
    }
    let increasing = p.explicit_bounds.windows(2).all(|w| w[0] < w[1]);
    if !increasing || p.explicit_bounds.iter().any(|b| !b.is_finite()) {
        return Err("histogram explicit bounds are not finite and strictly increasing".into());
    }
    Ok(())
}
