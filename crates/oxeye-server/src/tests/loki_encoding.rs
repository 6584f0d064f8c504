//! The shapes of LogQL answers, pinned in snapshots from engine outputs built by hand:
//! plain streams, `categorize-labels` streams (merged by stream labels, a 3-tuple per
//! value, `encodingFlags` written before `result`), matrices and vectors.

use oxeye_core::logs::Direction;
use oxeye_core::{Labels, Sample};
use oxeye_logql::{LogqlValue, Output, QueryStats, ResultEntry, StreamResult};

use crate::loki::query::encode_answer;

fn entry(ts: i64, line: &str, md: &[(&str, &str)], parsed: &[(&str, &str)]) -> ResultEntry {
    let pairs = |p: &[(&str, &str)]| {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    ResultEntry {
        ts_ns: ts,
        line: line.into(),
        structured_metadata: pairs(md),
        parsed: pairs(parsed),
    }
}

fn streams() -> Output {
    let stream = Labels::from_pairs(&[("service_name", "api")]);
    Output {
        value: LogqlValue::Streams(vec![
            StreamResult {
                labels: Labels::from_pairs(&[
                    ("level", "error"),
                    ("service_name", "api"),
                    ("trace_id", "abc"),
                ]),
                stream_labels: stream.clone(),
                entries: vec![entry(
                    1_700_000_010_000_000_000,
                    "level=error msg=boom",
                    &[("trace_id", "abc")],
                    &[("level", "error")],
                )],
            },
            StreamResult {
                labels: Labels::from_pairs(&[("level", "info"), ("service_name", "api")]),
                stream_labels: stream,
                entries: vec![
                    entry(
                        1_700_000_020_000_000_000,
                        "level=info msg=late",
                        &[],
                        &[("level", "info")],
                    ),
                    entry(1_700_000_000_000_000_001, "plain", &[], &[]),
                ],
            },
        ]),
        stats: QueryStats {
            entries_scanned: 3,
            bytes_scanned: 52,
            chunks_skipped: 0,
        },
    }
}

/// The answer with the timing figures zeroed, so it can be pinned.
fn answer(out: &Output, categorize: bool, direction: Direction) -> serde_json::Value {
    let text = encode_answer(out, categorize, direction, 0.0).unwrap();
    serde_json::from_slice(&text).unwrap()
}

#[test]
fn plain_streams_keep_all_labels_per_stream() {
    let v = answer(&streams(), false, Direction::Backward);
    insta::assert_json_snapshot!("loki_streams_plain", v);
    assert!(v["data"].get("encodingFlags").is_none());
}

#[test]
fn categorized_streams_merge_by_stream_labels() {
    let out = streams();
    let v = answer(&out, true, Direction::Backward);
    insta::assert_json_snapshot!("loki_streams_categorized", v);
    let values = v["data"]["result"][0]["values"].as_array().unwrap();
    assert_eq!(values.len(), 3, "one stream after merging: {v}");
    assert!(values.iter().all(|x| x.as_array().unwrap().len() == 3));
    // newest first when backward
    assert_eq!(values[0][0], "1700000020000000000");
    let fwd = answer(&out, true, Direction::Forward);
    assert_eq!(
        fwd["data"]["result"][0]["values"][0][0],
        "1700000000000000001"
    );
    // Loki's order: resultType, encodingFlags, result (Grafana's streaming decoder needs
    // the flags before the result)
    let text = encode_answer(&out, true, Direction::Backward, 0.0).unwrap();
    let text = String::from_utf8(text).unwrap();
    let kind = text.find("\"resultType\"").unwrap();
    let flags = text.find("\"encodingFlags\"").unwrap();
    let result = text.find("\"result\"").unwrap();
    assert!(kind < flags && flags < result, "{text}");
}

#[test]
fn metric_results_are_prometheus_shaped() {
    let matrix = Output {
        value: LogqlValue::Metric(oxeye_promql::Value::Matrix(vec![(
            Labels::from_pairs(&[("level", "info")]),
            vec![
                Sample {
                    t: 1_700_000_000_000,
                    v: 2.0,
                },
                Sample {
                    t: 1_700_000_015_500,
                    v: 0.25,
                },
            ],
        )])),
        stats: QueryStats::default(),
    };
    let v = answer(&matrix, true, Direction::Backward);
    insta::assert_json_snapshot!("loki_matrix", v);
    let vector = Output {
        value: LogqlValue::Metric(oxeye_promql::Value::Vector(vec![(
            Labels::default(),
            4_000_000_000_000,
            2.0,
        )])),
        stats: QueryStats::default(),
    };
    let v = answer(&vector, false, Direction::Backward);
    assert_eq!(v["data"]["resultType"], "vector");
    assert_eq!(
        v["data"]["result"],
        serde_json::json!([{"metric":{},"value":[4000000000u64,"2"]}])
    );
    let scalar = Output {
        value: LogqlValue::Metric(oxeye_promql::Value::Scalar(1_000, 1.5)),
        stats: QueryStats::default(),
    };
    let v = answer(&scalar, false, Direction::Backward);
    assert_eq!(v["data"]["resultType"], "scalar");
    assert_eq!(v["data"]["result"], serde_json::json!([1, "1.5"]));
}
