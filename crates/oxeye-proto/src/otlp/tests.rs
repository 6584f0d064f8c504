use super::*;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram,
    ScopeMetrics, Sum, Summary, metric, summary_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use oxeye_core::{StatusCode, is_stale_nan};
use prost::Message;

const T0: u64 = 1_700_000_000_000_000_000;
const SEC: u64 = 1_000_000_000;
const T0_MS: i64 = 1_700_000_000_000;

fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        }),
        ..Default::default()
    }
}

fn service() -> Vec<KeyValue> {
    vec![
        kv("service.name", "checkout"),
        kv("service.namespace", "shop"),
        kv("service.instance.id", "pod-1"),
        kv("host.name", "node-a"),
    ]
}

fn request(resource: Vec<KeyValue>, metrics: Vec<Metric>) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: resource,
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope {
                    name: "my.lib".into(),
                    version: "1.2".into(),
                    ..Default::default()
                }),
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn metric(name: &str, unit: &str, data: metric::Data) -> Metric {
    Metric {
        name: name.into(),
        description: "Some help.".into(),
        unit: unit.into(),
        data: Some(data),
        ..Default::default()
    }
}

fn number(t: u64, v: f64, attrs: Vec<KeyValue>) -> NumberDataPoint {
    NumberDataPoint {
        attributes: attrs,
        time_unix_nano: t,
        value: Some(number_data_point::Value::AsDouble(v)),
        ..Default::default()
    }
}

fn sum(
    points: Vec<NumberDataPoint>,
    temporality: AggregationTemporality,
    mono: bool,
) -> metric::Data {
    metric::Data::Sum(Sum {
        data_points: points,
        aggregation_temporality: temporality as i32,
        is_monotonic: mono,
    })
}

fn hist_point(t: u64, counts: Vec<u64>, bounds: Vec<f64>, sum: f64) -> HistogramDataPoint {
    HistogramDataPoint {
        time_unix_nano: t,
        count: counts.iter().sum(),
        sum: Some(sum),
        bucket_counts: counts,
        explicit_bounds: bounds,
        ..Default::default()
    }
}

/// `name{a="1", b="2"}` with the pairs in a canonical order, so tests can list them freely.
fn canon(s: &str) -> String {
    let (name, rest) = s.split_once('{').unwrap_or((s, "}"));
    let mut items: Vec<&str> = rest
        .trim_end_matches('}')
        .split(", ")
        .filter(|i| !i.is_empty())
        .collect();
    items.sort_unstable();
    format!("{name}{{{}}}", items.join(", "))
}

fn find<'a>(c: &'a Converted, series: &str) -> &'a SeriesWrite {
    c.batch
        .series
        .iter()
        .find(|s| canon(&s.labels.to_string()) == canon(series))
        .unwrap_or_else(|| {
            let all: Vec<String> = c
                .batch
                .series
                .iter()
                .map(|s| s.labels.to_string())
                .collect();
            panic!("series {series} not in {all:#?}")
        })
}

const RES: &str = "instance=\"pod-1\", job=\"shop/checkout\", otel_scope_name=\"my.lib\", otel_scope_version=\"1.2\"";

#[test]
fn gauge_resource_scope_and_target_info() {
    let req = request(
        service(),
        vec![metric(
            "queue.depth",
            "{item}",
            metric::Data::Gauge(Gauge {
                data_points: vec![number(
                    T0,
                    7.5,
                    vec![kv("queue.name", "q1"), kv("1st", "x")],
                )],
            }),
        )],
    );
    let c = convert_metrics(&req, &mut DeltaState::new(100));
    assert_eq!(c.rejected_points, 0);
    assert_eq!(c.error_message, "");
    let s = find(
        &c,
        &format!("queue_depth{{{RES}, key_1st=\"x\", queue_name=\"q1\"}}"),
    );
    assert_eq!(s.samples, vec![Sample::new(T0_MS, 7.5)]);
    let info = find(
        &c,
        "target_info{host_name=\"node-a\", instance=\"pod-1\", job=\"shop/checkout\"}",
    );
    assert_eq!(info.samples, vec![Sample::new(T0_MS, 1.0)]);
    assert_eq!(c.batch.series.len(), 2);
    let meta = &c.batch.metadata[0];
    assert_eq!(meta.metric_family, "queue_depth");
    assert_eq!(meta.metric_type, MetricType::Gauge);
    assert_eq!(meta.help, "Some help.");
    assert_eq!(c.batch.metadata[1].metric_family, "target_info");
}

#[test]
fn no_service_name_means_no_job_and_no_target_info_without_other_attributes() {
    let req = request(
        vec![kv("service.instance.id", "i-1")],
        vec![metric(
            "g",
            "",
            metric::Data::Gauge(Gauge {
                data_points: vec![number(T0, 1.0, vec![])],
            }),
        )],
    );
    let c = convert_metrics(&req, &mut DeltaState::new(100));
    assert_eq!(c.batch.series.len(), 1);
    assert_eq!(
        c.batch.series[0].labels.to_string(),
        "g{instance=\"i-1\", otel_scope_name=\"my.lib\", otel_scope_version=\"1.2\"}"
    );
}

#[test]
fn sums_counters_and_gauges() {
    let mut int_point = number(T0, 0.0, vec![kv("a", "1")]);
    int_point.value = Some(number_data_point::Value::AsInt(42));
    let req = request(
        service(),
        vec![
            metric(
                "http.requests",
                "{request}",
                sum(vec![int_point], AggregationTemporality::Cumulative, true),
            ),
            metric(
                "active.connections",
                "1",
                sum(
                    vec![number(T0, 3.0, vec![])],
                    AggregationTemporality::Cumulative,
                    false,
                ),
            ),
            metric(
                "cpu.utilization",
                "1",
                metric::Data::Gauge(Gauge {
                    data_points: vec![number(T0, 0.25, vec![])],
                }),
            ),
            metric(
                "net.io",
                "By",
                sum(
                    vec![number(T0, 9.0, vec![])],
                    AggregationTemporality::Cumulative,
                    true,
                ),
            ),
        ],
    );
    let c = convert_metrics(&req, &mut DeltaState::new(100));
    assert_eq!(
        find(&c, &format!("http_requests_total{{a=\"1\", {RES}}}")).samples[0].v,
        42.0
    );
    assert_eq!(
        find(&c, &format!("active_connections{{{RES}}}")).samples[0].v,
        3.0
    );
    assert_eq!(
        find(&c, &format!("cpu_utilization_ratio{{{RES}}}")).samples[0].v,
        0.25
    );
    assert_eq!(
        find(&c, &format!("net_io_bytes_total{{{RES}}}")).samples[0].v,
        9.0
    );
    let types: Vec<(&str, MetricType, &str)> = c
        .batch
        .metadata
        .iter()
        .map(|m| (m.metric_family.as_str(), m.metric_type, m.unit.as_str()))
        .collect();
    assert_eq!(
        types[..4],
        [
            ("http_requests_total", MetricType::Counter, ""),
            ("active_connections", MetricType::Gauge, ""),
            ("cpu_utilization_ratio", MetricType::Gauge, ""),
            ("net_io_bytes_total", MetricType::Counter, "bytes"),
        ]
    );
}

#[test]
fn delta_sums_accumulate_across_requests() {
    let mut state = DeltaState::new(100);
    let req = |start: u64, t: u64, v: f64| {
        let mut p = number(t, v, vec![]);
        p.start_time_unix_nano = start;
        request(
            service(),
            vec![metric(
                "jobs.done",
                "",
                sum(vec![p], AggregationTemporality::Delta, true),
            )],
        )
    };
    let name = format!("jobs_done_total{{{RES}}}");
    let c = convert_metrics(&req(T0, T0 + 10 * SEC, 5.0), &mut state);
    assert_eq!(find(&c, &name).samples[0].v, 5.0);
    let c = convert_metrics(&req(T0 + 10 * SEC, T0 + 20 * SEC, 3.0), &mut state);
    assert_eq!(
        find(&c, &name).samples,
        vec![Sample::new(T0_MS + 20_000, 8.0)]
    );
    // a replayed point is rejected, nothing else changes
    let c = convert_metrics(&req(T0 + 10 * SEC, T0 + 20 * SEC, 3.0), &mut state);
    assert_eq!(c.rejected_points, 1);
    assert_eq!(
        c.error_message,
        "1 data point of metric \"jobs.done\": delta point is not newer than the previous point of its series"
    );
    assert!(
        c.batch
            .series
            .iter()
            .all(|s| s.labels.metric_name() != Some("jobs_done_total"))
    );
    // a full state rejects new series
    let mut tiny = DeltaState::new(0);
    let c = convert_metrics(&req(T0, T0 + SEC, 1.0), &mut tiny);
    assert_eq!(c.rejected_points, 1);
    assert!(
        c.error_message
            .contains("delta accumulation limit of 0 series reached")
    );
}

#[test]
fn cumulative_histogram_with_exemplar() {
    let mut p = hist_point(T0, vec![1, 2, 0, 1], vec![0.5, 1.0, 2.5], 4.25);
    p.attributes = vec![kv("http.route", "/x")];
    p.exemplars = vec![OtlpExemplar {
        time_unix_nano: T0 - SEC,
        value: Some(exemplar::Value::AsDouble(0.7)),
        trace_id: vec![0xAB; 16],
        span_id: vec![0x0C; 8],
        filtered_attributes: vec![kv("user.id", "u1")],
    }];
    let req = request(
        service(),
        vec![metric(
            "http.server.duration",
            "s",
            metric::Data::Histogram(Histogram {
                data_points: vec![p],
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
            }),
        )],
    );
    let c = convert_metrics(&req, &mut DeltaState::new(100));
    let base = format!("http_route=\"/x\", {RES}");
    let bucket = |le: &str| {
        find(
            &c,
            &format!("http_server_duration_seconds_bucket{{{base}, le=\"{le}\"}}"),
        )
    };
    assert_eq!(bucket("0.5").samples[0].v, 1.0);
    assert_eq!(bucket("1").samples[0].v, 3.0);
    assert_eq!(bucket("2.5").samples[0].v, 3.0);
    assert_eq!(bucket("+Inf").samples[0].v, 4.0);
    assert_eq!(
        find(&c, &format!("http_server_duration_seconds_count{{{base}}}")).samples[0].v,
        4.0
    );
    assert_eq!(
        find(&c, &format!("http_server_duration_seconds_sum{{{base}}}")).samples[0].v,
        4.25
    );
    // the exemplar (0.7) belongs to the le="1" bucket
    let ex = &bucket("1").exemplars;
    assert_eq!(ex.len(), 1);
    assert_eq!(
        ex[0].labels.get("trace_id"),
        Some("abababababababababababababababab")
    );
    assert_eq!(ex[0].labels.get("span_id"), Some("0c0c0c0c0c0c0c0c"));
    assert_eq!(ex[0].labels.get("user_id"), Some("u1"));
    assert_eq!((ex[0].t, ex[0].v), (T0_MS - 1000, 0.7));
    assert!(bucket("0.5").exemplars.is_empty());
    let meta = c
        .batch
        .metadata
        .iter()
        .find(|m| m.metric_family == "http_server_duration_seconds")
        .unwrap();
    assert_eq!(meta.metric_type, MetricType::Histogram);
    assert_eq!(meta.unit, "seconds");
}

#[test]
fn delta_histograms_accumulate() {
    let mut state = DeltaState::new(100);
    let req = |t: u64, counts: Vec<u64>| {
        let mut p = hist_point(t, counts, vec![1.0], 1.0);
        p.start_time_unix_nano = t - SEC;
        request(
            vec![],
            vec![metric(
                "lat",
                "",
                metric::Data::Histogram(Histogram {
                    data_points: vec![p],
                    aggregation_temporality: AggregationTemporality::Delta as i32,
                }),
            )],
        )
    };
    convert_metrics(&req(T0 + SEC, vec![1, 0]), &mut state);
    let c = convert_metrics(&req(T0 + 2 * SEC, vec![2, 1]), &mut state);
    let scope = "otel_scope_name=\"my.lib\", otel_scope_version=\"1.2\"";
    assert_eq!(
        find(&c, &format!("lat_bucket{{le=\"1\", {scope}}}")).samples[0].v,
        3.0
    );
    assert_eq!(
        find(&c, &format!("lat_bucket{{le=\"+Inf\", {scope}}}")).samples[0].v,
        4.0
    );
    assert_eq!(find(&c, &format!("lat_sum{{{scope}}}")).samples[0].v, 2.0);
}

#[test]
fn summaries() {
    let p = SummaryDataPoint {
        time_unix_nano: T0,
        count: 10,
        sum: 2.5,
        quantile_values: vec![
            summary_data_point::ValueAtQuantile {
                quantile: 0.5,
                value: 0.2,
            },
            summary_data_point::ValueAtQuantile {
                quantile: 1.0,
                value: 0.9,
            },
        ],
        ..Default::default()
    };
    let mut bad = p.clone();
    bad.quantile_values[0].quantile = 1.5;
    bad.attributes = vec![kv("x", "y")];
    let req = request(
        service(),
        vec![metric(
            "rpc.latency",
            "ms",
            metric::Data::Summary(Summary {
                data_points: vec![p, bad],
            }),
        )],
    );
    let c = convert_metrics(&req, &mut DeltaState::new(100));
    let n = "rpc_latency_milliseconds";
    assert_eq!(
        find(&c, &format!("{n}{{{RES}, quantile=\"0.5\"}}")).samples[0].v,
        0.2
    );
    assert_eq!(
        find(&c, &format!("{n}{{{RES}, quantile=\"1\"}}")).samples[0].v,
        0.9
    );
    assert_eq!(find(&c, &format!("{n}_sum{{{RES}}}")).samples[0].v, 2.5);
    assert_eq!(find(&c, &format!("{n}_count{{{RES}}}")).samples[0].v, 10.0);
    assert_eq!(c.rejected_points, 1);
    assert_eq!(
        c.error_message,
        "1 data point of metric \"rpc.latency\": quantile 1.5 is outside [0, 1]"
    );
}

#[test]
fn invalid_points_are_rejected_individually() {
    let req = request(
        service(),
        vec![
            metric(
                "h",
                "",
                metric::Data::Histogram(Histogram {
                    data_points: vec![
                        hist_point(T0, vec![1, 2], vec![1.0, 2.0], 1.0),
                        hist_point(T0, vec![1, 2, 3], vec![1.0, 2.0], 1.0),
                        hist_point(T0, vec![1, 2, 3], vec![2.0, 1.0], 1.0),
                    ],
                    aggregation_temporality: AggregationTemporality::Cumulative as i32,
                }),
            ),
            metric(
                "g",
                "",
                metric::Data::Gauge(Gauge {
                    data_points: vec![number(0, 1.0, vec![]), number(T0, 2.0, vec![])],
                }),
            ),
            metric(
                "exp",
                "",
                metric::Data::ExponentialHistogram(ExponentialHistogram {
                    data_points: vec![ExponentialHistogramDataPoint::default(); 3],
                    aggregation_temporality: AggregationTemporality::Cumulative as i32,
                }),
            ),
            metric(
                "s",
                "",
                sum(
                    vec![number(T0, 1.0, vec![])],
                    AggregationTemporality::Unspecified,
                    true,
                ),
            ),
        ],
    );
    let c = convert_metrics(&req, &mut DeltaState::new(100));
    assert_eq!(c.rejected_points, 7);
    assert_eq!(
        c.error_message,
        "1 data point of metric \"h\": histogram has 2 bucket counts for 2 explicit bounds (expected 3); \
         1 data point of metric \"h\": histogram explicit bounds are not finite and strictly increasing; \
         1 data point of metric \"g\": data point has no timestamp; \
         3 data points of metric \"exp\": exponential histograms need native histograms, which are not supported yet; \
         1 data point of metric \"s\": sum has no valid aggregation temporality"
    );
    // the valid histogram point and gauge point converted
    assert_eq!(
        find(&c, &format!("h_bucket{{{RES}, le=\"+Inf\"}}")).samples[0].v,
        6.0
    );
    assert_eq!(find(&c, &format!("g{{{RES}}}")).samples[0].v, 2.0);
}

#[test]
fn no_recorded_value_is_a_staleness_marker() {
    let mut g = number(T0, 5.0, vec![]);
    g.flags = 1;
    let mut h = hist_point(T0, vec![1, 1], vec![1.0], 3.0);
    h.flags = 1;
    let req = request(
        service(),
        vec![
            metric(
                "g",
                "",
                metric::Data::Gauge(Gauge {
                    data_points: vec![g],
                }),
            ),
            metric(
                "h",
                "",
                metric::Data::Histogram(Histogram {
                    data_points: vec![h],
                    aggregation_temporality: AggregationTemporality::Delta as i32,
                }),
            ),
        ],
    );
    let mut state = DeltaState::new(100);
    let c = convert_metrics(&req, &mut state);
    let points: Vec<_> = c
        .batch
        .series
        .iter()
        .filter(|s| s.labels.metric_name() != Some("target_info"))
        .collect();
    assert_eq!(points.len(), 5, "g, 2 buckets, count, sum");
    assert!(points.iter().all(|s| is_stale_nan(s.samples[0].v)));
    assert!(
        state.is_empty(),
        "stale markers do not touch the delta state"
    );
}

#[test]
fn colliding_attribute_names_are_joined() {
    let req = request(
        vec![],
        vec![metric(
            "g",
            "",
            metric::Data::Gauge(Gauge {
                data_points: vec![number(T0, 1.0, vec![kv("a_b", "2"), kv("a.b", "1")])],
            }),
        )],
    );
    let c = convert_metrics(&req, &mut DeltaState::new(10));
    assert_eq!(c.batch.series[0].labels.get("a_b"), Some("1;2"));
}

#[test]
fn points_of_one_series_merge_into_one_series_write() {
    let req = request(
        vec![],
        vec![metric(
            "g",
            "",
            metric::Data::Gauge(Gauge {
                data_points: vec![number(T0, 1.0, vec![]), number(T0 + SEC, 2.0, vec![])],
            }),
        )],
    );
    let c = convert_metrics(&req, &mut DeltaState::new(10));
    assert_eq!(c.batch.series.len(), 1);
    assert_eq!(
        c.batch.series[0].samples,
        vec![Sample::new(T0_MS, 1.0), Sample::new(T0_MS + 1000, 2.0)]
    );
}

const JSON: &str = r#"{
  "resourceMetrics": [{
    "resource": {"attributes": [
      {"key": "service.name", "value": {"stringValue": "checkout"}},
      {"key": "service.namespace", "value": {"stringValue": "shop"}},
      {"key": "service.instance.id", "value": {"stringValue": "pod-1"}},
      {"key": "process.pid", "value": {"intValue": "4242"}},
      {"key": "host.arch.64bit", "value": {"boolValue": true}}
    ]},
    "scopeMetrics": [{
      "scope": {"name": "my.lib", "version": "1.2"},
      "metrics": [
        {"name": "http.server.request.count", "unit": "{request}", "description": "Requests.",
         "sum": {"aggregationTemporality": 2, "isMonotonic": true, "dataPoints": [
           {"attributes": [{"key": "http.route", "value": {"stringValue": "/cart"}}],
            "startTimeUnixNano": "1700000000000000000", "timeUnixNano": "1700000010000000000",
            "asInt": "42",
            "exemplars": [{"timeUnixNano": "1700000009000000000", "asDouble": 1.5,
              "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174",
              "filteredAttributes": [{"key": "user", "value": {"stringValue": "u1"}}]}]}
         ]}},
        {"name": "http.server.duration", "unit": "ms", "description": "Latency.",
         "histogram": {"aggregationTemporality": 2, "dataPoints": [
           {"timeUnixNano": 1700000010000000000, "count": "3", "sum": 17.5,
            "bucketCounts": ["1", "1", 1], "explicitBounds": [5, 10.5]}
         ]}},
        {"name": "memory.usage", "unit": "By",
         "gauge": {"dataPoints": [{"timeUnixNano": "1700000010000000000", "asDouble": 1048576.5, "flags": 0}]}}
      ]
    }]
  }]
}"#;

#[test]
fn otlp_json_payload() {
    let req = decode_metrics_request(Some("application/json"), JSON.as_bytes()).unwrap();
    let c = convert_metrics(&req, &mut DeltaState::new(100));
    assert_eq!(c.rejected_points, 0, "{}", c.error_message);
    let t = T0_MS + 10_000;
    let s = find(
        &c,
        &format!("http_server_request_count_total{{http_route=\"/cart\", {RES}}}"),
    );
    assert_eq!(s.samples, vec![Sample::new(t, 42.0)]);
    let ex = &s.exemplars[0];
    assert_eq!(
        ex.labels.get("trace_id"),
        Some("5b8efff798038103d269b633813fc60c")
    );
    assert_eq!(ex.labels.get("span_id"), Some("eee19b7ec3c1b174"));
    assert_eq!(ex.labels.get("user"), Some("u1"));
    assert_eq!((ex.t, ex.v), (t - 1000, 1.5));
    let b = find(
        &c,
        &format!("http_server_duration_milliseconds_bucket{{{RES}, le=\"10.5\"}}"),
    );
    assert_eq!(b.samples[0].v, 2.0);
    assert_eq!(
        find(&c, &format!("memory_usage_bytes{{{RES}}}")).samples[0].v,
        1048576.5
    );
    let info = find(
        &c,
        "target_info{host_arch_64bit=\"true\", instance=\"pod-1\", job=\"shop/checkout\", process_pid=\"4242\"}",
    );
    assert_eq!(info.samples, vec![Sample::new(t, 1.0)]);
}

#[test]
fn protobuf_round_trip_and_content_types() {
    let req = decode_metrics_request(Some("application/json"), JSON.as_bytes()).unwrap();
    let bytes = req.encode_to_vec();
    for ct in [
        None,
        Some("application/x-protobuf"),
        Some("application/protobuf"),
    ] {
        assert_eq!(decode_metrics_request(ct, &bytes).unwrap(), req);
    }
    let e = decode_metrics_request(Some("text/plain"), &bytes).unwrap_err();
    assert!(matches!(e, ProtoError::UnsupportedMediaType(_)));
    let e =
        decode_metrics_request(Some("application/json"), b"{\"resourceMetrics\": 3}").unwrap_err();
    assert!(matches!(e, ProtoError::Json(_)), "{e}");
    assert_eq!(e.status_code(), StatusCode::BadData);
    let e = decode_metrics_request(None, b"\xff\xff\xff").unwrap_err();
    assert!(matches!(e, ProtoError::Protobuf(_)));
}

#[test]
fn gzip_body_through_the_compression_helper() {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(JSON.as_bytes()).unwrap();
    let gz = enc.finish().unwrap();
    let body = crate::compression::decode_content(Some("gzip"), &gz, 1 << 20).unwrap();
    let req = decode_metrics_request(Some("application/json; charset=utf-8"), &body).unwrap();
    assert_eq!(req.resource_metrics[0].scope_metrics[0].metrics.len(), 3);
}

proptest::proptest! {
    #[test]
    fn arbitrary_bodies_never_panic(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256)) {
        for ct in [None, Some("application/json")] {
            if let Ok(req) = decode_metrics_request(ct, &body) {
                let _ = convert_metrics(&req, &mut DeltaState::new(10));
            }
        }
    }
}

/// Requests exported by the OpenTelemetry Python SDK 1.45 over OTLP/HTTP (protobuf), once
/// with cumulative and once with delta temporality for counters and histograms.
#[test]
fn real_python_sdk_exports() {
    let scope = "otel_scope_name=\"shop.checkout.metrics\", otel_scope_version=\"0.9.1\"";
    let res = format!("instance=\"pod-1\", job=\"shop/checkout\", {scope}");
    for (body, delta) in [
        (
            &include_bytes!("../../testdata/otel_python_sdk_cumulative.pb")[..],
            false,
        ),
        (
            &include_bytes!("../../testdata/otel_python_sdk_delta.pb")[..],
            true,
        ),
    ] {
        let req = decode_metrics_request(Some("application/x-protobuf"), body).unwrap();
        let mut state = DeltaState::new(100);
        let c = convert_metrics(&req, &mut state);
        assert_eq!(c.rejected_points, 0, "{}", c.error_message);
        let cart = format!(
            "http_server_requests_total{{http_request_method=\"GET\", http_route=\"/cart\", {res}}}"
        );
        assert_eq!(find(&c, &cart).samples[0].v, 5.0);
        let hist = "http_server_request_duration_seconds";
        let count = find(&c, &format!("{hist}_count{{http_route=\"/cart\", {res}}}"));
        assert_eq!(count.samples[0].v, 5.0);
        let sum = find(&c, &format!("{hist}_sum{{http_route=\"/cart\", {res}}}"));
        assert!((sum.samples[0].v - 3.743).abs() < 1e-9);
        let inf = format!("{hist}_bucket{{http_route=\"/cart\", le=\"+Inf\", {res}}}");
        assert_eq!(find(&c, &inf).samples[0].v, 5.0);
        let le5 = format!("{hist}_bucket{{http_route=\"/cart\", le=\"5\", {res}}}");
        assert_eq!(find(&c, &le5).samples[0].v, 5.0);
        assert_eq!(find(&c, &format!("queue_size{{{res}}}")).samples[0].v, 7.0);
        let cpu = format!("cpu_utilization_ratio{{cpu=\"0\", {res}}}");
        assert_eq!(find(&c, &cpu).samples[0].v, 0.42);
        let info = c
            .batch
            .series
            .iter()
            .find(|s| s.labels.metric_name() == Some("target_info"))
            .unwrap();
        assert_eq!(info.labels.get("deployment_environment"), Some("test"));
        assert_eq!(info.labels.get("telemetry_sdk_language"), Some("python"));
        assert_eq!(info.labels.get("job"), Some("shop/checkout"));
        assert_eq!(
            state.len(),
            if delta { 3 } else { 0 },
            "two counters, one histogram"
        );
    }
}
