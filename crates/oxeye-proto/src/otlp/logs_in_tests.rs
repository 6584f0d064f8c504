use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList, any_value,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;

use super::*;

fn s(v: &str) -> Option<AnyValue> {
    Some(AnyValue {
        value: Some(any_value::Value::StringValue(v.into())),
    })
}

fn kv(k: &str, value: Option<AnyValue>) -> KeyValue {
    KeyValue {
        key: k.into(),
        value,
        ..Default::default()
    }
}

fn request(resource: Vec<KeyValue>, records: Vec<LogRecord>) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: resource,
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                scope: Some(InstrumentationScope {
                    name: "my.lib".into(),
                    version: "1.2".into(),
                    attributes: vec![kv("scope.attr", s("x"))],
                    ..Default::default()
                }),
                log_records: records,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn meta<'a>(e: &'a LogEntry, name: &str) -> Option<&'a str> {
    e.metadata_value(name)
}

#[test]
fn promotes_default_resource_attributes_to_labels_and_the_rest_to_metadata() {
    let record = LogRecord {
        time_unix_nano: 1_700_000_000_000_000_000,
        observed_time_unix_nano: 1_700_000_000_500_000_000,
        severity_number: 9,
        severity_text: "INFO".into(),
        body: s("user logged in"),
        attributes: vec![
            kv("http.method", s("GET")),
            kv(
                "user",
                Some(AnyValue {
                    value: Some(any_value::Value::KvlistValue(KeyValueList {
                        values: vec![kv("id", s("42"))],
                    })),
                }),
            ),
        ],
        trace_id: vec![0xab; 16],
        span_id: vec![0xcd; 8],
        flags: 1,
        ..Default::default()
    };
    let req = request(
        vec![
            kv("service.name", s("checkout")),
            kv("k8s.pod.name", s("checkout-7d9")),
            kv("deployment.environment.name", s("prod")),
            kv("host.name", s("node-1")),
        ],
        vec![record],
    );
    let streams = convert_logs(req, 0);
    assert_eq!(streams.len(), 1);
    let labels = streams[0].labels.clone().unwrap();
    assert_eq!(
        labels,
        vec![
            ("service_name".to_string(), "checkout".to_string()),
            ("k8s_pod_name".into(), "checkout-7d9".into()),
            ("deployment_environment_name".into(), "prod".into()),
        ]
    );
    let e = &streams[0].entries[0];
    assert_eq!(e.ts_ns, 1_700_000_000_000_000_000);
    assert_eq!(e.line, "user logged in");
    assert_eq!(meta(e, "host_name"), Some("node-1"));
    assert_eq!(meta(e, "scope_name"), Some("my.lib"));
    assert_eq!(meta(e, "scope_version"), Some("1.2"));
    assert_eq!(meta(e, "scope_attr"), Some("x"));
    assert_eq!(meta(e, "http_method"), Some("GET"));
    assert_eq!(meta(e, "user_id"), Some("42"));
    assert_eq!(
        meta(e, "trace_id"),
        Some("abababababababababababababababab")
    );
    assert_eq!(meta(e, "span_id"), Some("cdcdcdcdcdcdcdcd"));
    assert_eq!(meta(e, "severity_text"), Some("INFO"));
    assert_eq!(meta(e, "severity_number"), Some("9"));
    assert_eq!(meta(e, "flags"), Some("1"));
    assert_eq!(meta(e, "observed_timestamp"), Some("1700000000500000000"));
    assert_eq!(meta(e, "service_name"), None, "labels are not repeated");
}

#[test]
fn unknown_service_and_timestamp_fallbacks() {
    let req = request(
        vec![],
        vec![
            LogRecord {
                observed_time_unix_nano: 77,
                body: s("observed only"),
                ..Default::default()
            },
            LogRecord {
                body: s("no time"),
                trace_id: vec![0; 16],
                ..Default::default()
            },
        ],
    );
    let streams = convert_logs(req, 1234);
    assert_eq!(
        streams[0].labels,
        Ok(vec![(
            "service_name".to_string(),
            "unknown_service".to_string()
        )])
    );
    assert_eq!(streams[0].entries[0].ts_ns, 77);
    assert_eq!(streams[0].entries[1].ts_ns, 1234);
    assert_eq!(
        meta(&streams[0].entries[1], "trace_id"),
        None,
        "all-zero id"
    );
    assert_eq!(meta(&streams[0].entries[1], "severity_number"), None);
}

#[test]
fn structured_bodies_render_as_loki_does() {
    let map = AnyValue {
        value: Some(any_value::Value::KvlistValue(KeyValueList {
            values: vec![
                kv("msg", s("hi")),
                kv(
                    "n",
                    Some(AnyValue {
                        value: Some(any_value::Value::IntValue(3)),
                    }),
                ),
            ],
        })),
    };
    assert_eq!(any_value_string(&map), r#"{"msg":"hi","n":3}"#);
    let arr = AnyValue {
        value: Some(any_value::Value::ArrayValue(ArrayValue {
            values: vec![
                s("a").unwrap(),
                AnyValue {
                    value: Some(any_value::Value::BoolValue(true)),
                },
            ],
        })),
    };
    assert_eq!(any_value_string(&arr), r#"["a",true]"#);
    let bytes = AnyValue {
        value: Some(any_value::Value::BytesValue(b"hi".to_vec())),
    };
    assert_eq!(any_value_string(&bytes), "aGk=");
    let dbl = AnyValue {
        value: Some(any_value::Value::DoubleValue(1.5)),
    };
    assert_eq!(any_value_string(&dbl), "1.5");
}

#[test]
fn sanitizes_names_like_loki() {
    assert_eq!(sanitize_name("http.method"), "http_method");
    assert_eq!(sanitize_name("a-b/c"), "a_b_c");
    assert_eq!(sanitize_name("9lives"), "key_9lives");
    assert_eq!(sanitize_name("_private"), "key_private");
    assert_eq!(sanitize_name("__reserved"), "__reserved");
}

#[test]
fn empty_attribute_keys_are_skipped_not_stored_as_empty_names() {
    let record = LogRecord {
        time_unix_nano: 1_700_000_000_000_000_000,
        body: s("hello"),
        attributes: vec![kv("", s("x")), kv("user", s("bob"))],
        ..Default::default()
    };
    let streams = convert_logs(request(vec![kv("service.name", s("api"))], vec![record]), 0);
    let entries: Vec<&LogEntry> = streams.iter().flat_map(|s| &s.entries).collect();
    assert_eq!(entries.len(), 1);
    assert!(
        entries[0].metadata.iter().all(|(n, _)| !n.is_empty()),
        "{:?}",
        entries[0].metadata
    );
    assert_eq!(meta(entries[0], "user"), Some("bob"));
}

#[test]
fn decodes_protobuf_and_json_with_named_severities() {
    let req = request(
        vec![kv("service.name", s("api"))],
        vec![LogRecord {
            time_unix_nano: 5,
            body: s("x"),
            ..Default::default()
        }],
    );
    let pb = decode_logs_request(Some("application/x-protobuf"), &req.encode_to_vec()).unwrap();
    assert_eq!(pb, req);
    let json = br#"{"resourceLogs":[{"resource":{"attributes":[
        {"key":"service.name","value":{"stringValue":"api"}}]},
        "scopeLogs":[{"logRecords":[{"timeUnixNano":"5","severityNumber":"SEVERITY_NUMBER_WARN2",
        "severityText":"WARN","body":{"kvlistValue":{}},
        "traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708"}]}]}]}"#;
    let got = decode_logs_request(Some("application/json"), json).unwrap();
    let r = &got.resource_logs[0].scope_logs[0].log_records[0];
    assert_eq!(r.severity_number, 14);
    assert_eq!(r.trace_id, (1..=16).collect::<Vec<u8>>());
    let streams = convert_logs(got, 0);
    assert_eq!(streams[0].entries[0].line, "{}");
    assert_eq!(
        meta(&streams[0].entries[0], "trace_id"),
        Some("0102030405060708090a0b0c0d0e0f10")
    );
    let err = decode_logs_request(Some("application/json"), b"{\"resourceLogs\":1}").unwrap_err();
    assert!(matches!(err, ProtoError::Json(_)), "{err}");
    let err = decode_logs_request(Some("text/plain"), b"x").unwrap_err();
    assert!(matches!(err, ProtoError::UnsupportedMediaType(_)), "{err}");
}

#[test]
fn severity_names_map_to_numbers() {
    assert_eq!(severity_number("SEVERITY_NUMBER_UNSPECIFIED"), Some(0));
    assert_eq!(severity_number("SEVERITY_NUMBER_TRACE"), Some(1));
    assert_eq!(severity_number("SEVERITY_NUMBER_INFO"), Some(9));
    assert_eq!(severity_number("SEVERITY_NUMBER_INFO4"), Some(12));
    assert_eq!(severity_number("SEVERITY_NUMBER_FATAL4"), Some(24));
    assert_eq!(severity_number("SEVERITY_NUMBER_LOUD"), None);
    assert_eq!(severity_number("SEVERITY_NUMBER_INFO5"), None);
}
