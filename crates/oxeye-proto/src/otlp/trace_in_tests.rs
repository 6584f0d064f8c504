use super::*;
use opentelemetry_proto::tonic::common::v1::{ArrayValue, KeyValueList};
use opentelemetry_proto::tonic::resource::v1::Resource as OtlpResource;
use opentelemetry_proto::tonic::trace::v1::{
    ResourceSpans as OtlpResourceSpans, ScopeSpans as OtlpScopeSpans, Status,
};
use oxeye_core::StatusCode;

fn kv(k: &str, v: any_value::Value) -> OtlpKeyValue {
    OtlpKeyValue {
        key: k.into(),
        value: Some(OtlpAnyValue { value: Some(v) }),
        ..Default::default()
    }
}

fn s(v: &str) -> any_value::Value {
    any_value::Value::StringValue(v.into())
}

const TRACE: [u8; 16] = [
    0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03, 0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f, 0xc6, 0x0c,
];
const SPAN: [u8; 8] = [0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x74];
const PARENT: [u8; 8] = [0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x73];

/// A span with every field set.
fn full_span() -> OtlpSpan {
    OtlpSpan {
        trace_id: TRACE.to_vec(),
        span_id: SPAN.to_vec(),
        trace_state: "k=v".into(),
        parent_span_id: PARENT.to_vec(),
        flags: 257,
        name: "GET /cart".into(),
        kind: 2,
        start_time_unix_nano: 1_544_712_660_000_000_000,
        end_time_unix_nano: 1_544_712_661_000_000_000,
        attributes: vec![
            kv("http.method", s("GET")),
            kv("http.status_code", any_value::Value::IntValue(200)),
            kv("ratio", any_value::Value::DoubleValue(0.5)),
            kv("cached", any_value::Value::BoolValue(false)),
            kv(
                "tags",
                any_value::Value::ArrayValue(ArrayValue {
                    values: vec![
                        OtlpAnyValue {
                            value: Some(s("a")),
                        },
                        OtlpAnyValue {
                            value: Some(any_value::Value::IntValue(1)),
                        },
                    ],
                }),
            ),
            kv(
                "m",
                any_value::Value::KvlistValue(KeyValueList {
                    values: vec![kv("x", s("y"))],
                }),
            ),
            kv("raw", any_value::Value::BytesValue(vec![1, 2])),
            OtlpKeyValue {
                key: "empty".into(),
                value: None,
                ..Default::default()
            },
        ],
        dropped_attributes_count: 2,
        events: vec![span::Event {
            time_unix_nano: 1_544_712_660_500_000_000,
            name: "exception".into(),
            attributes: vec![kv("exception.message", s("out of stock"))],
            dropped_attributes_count: 3,
        }],
        dropped_events_count: 4,
        links: vec![span::Link {
            trace_id: [7; 16].to_vec(),
            span_id: [8; 8].to_vec(),
            trace_state: "a=b".into(),
            attributes: vec![kv("link.kind", s("follows"))],
            dropped_attributes_count: 5,
            flags: 1,
        }],
        dropped_links_count: 6,
        status: Some(Status {
            message: "boom".into(),
            code: 2,
        }),
    }
}

fn request(spans: Vec<OtlpSpan>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![OtlpResourceSpans {
            resource: Some(OtlpResource {
                attributes: vec![
                    kv("service.name", s("checkout")),
                    kv("process.pid", any_value::Value::IntValue(4242)),
                ],
                dropped_attributes_count: 1,
                ..Default::default()
            }),
            scope_spans: vec![OtlpScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "io.opentelemetry.http".into(),
                    version: "1.2.0".into(),
                    attributes: vec![kv("lib", any_value::Value::BoolValue(true))],
                    dropped_attributes_count: 9,
                }),
                spans,
                schema_url: "https://opentelemetry.io/schemas/1.21.0".into(),
            }],
            schema_url: "https://opentelemetry.io/schemas/1.20.0".into(),
        }],
    }
}

/// What `full_span` in `request` must become.
fn expected_batch() -> TraceBatch {
    TraceBatch {
        resource_spans: vec![ResourceSpans {
            resource: Resource {
                attributes: vec![
                    KeyValue::string("service.name", "checkout"),
                    KeyValue::new("process.pid", AnyValue::Int(4242)),
                ],
                dropped_attributes_count: 1,
            },
            scope_spans: vec![ScopeSpans {
                scope: Scope {
                    name: "io.opentelemetry.http".into(),
                    version: "1.2.0".into(),
                    attributes: vec![KeyValue::new("lib", AnyValue::Bool(true))],
                    dropped_attributes_count: 9,
                },
                spans: vec![Span {
                    trace_id: TRACE,
                    span_id: SPAN,
                    parent_span_id: PARENT,
                    trace_state: "k=v".into(),
                    flags: 257,
                    name: "GET /cart".into(),
                    kind: SpanKind::Server,
                    start_unix_nano: 1_544_712_660_000_000_000,
                    end_unix_nano: 1_544_712_661_000_000_000,
                    attributes: vec![
                        KeyValue::string("http.method", "GET"),
                        KeyValue::new("http.status_code", AnyValue::Int(200)),
                        KeyValue::new("ratio", AnyValue::Double(0.5)),
                        KeyValue::new("cached", AnyValue::Bool(false)),
                        KeyValue::new(
                            "tags",
                            AnyValue::Array(vec![AnyValue::String("a".into()), AnyValue::Int(1)]),
                        ),
                        KeyValue::new("m", AnyValue::KvList(vec![KeyValue::string("x", "y")])),
                        KeyValue::new("raw", AnyValue::Bytes(vec![1, 2])),
                        KeyValue::new("empty", AnyValue::Empty),
                    ],
                    dropped_attributes_count: 2,
                    events: vec![SpanEvent {
                        time_unix_nano: 1_544_712_660_500_000_000,
                        name: "exception".into(),
                        attributes: vec![KeyValue::string("exception.message", "out of stock")],
                        dropped_attributes_count: 3,
                    }],
                    dropped_events_count: 4,
                    links: vec![SpanLink {
                        trace_id: [7; 16],
                        span_id: [8; 8],
                        trace_state: "a=b".into(),
                        attributes: vec![KeyValue::string("link.kind", "follows")],
                        dropped_attributes_count: 5,
                        flags: 1,
                    }],
                    dropped_links_count: 6,
                    status_code: SpanStatusCode::Error,
                    status_message: "boom".into(),
                }],
                schema_url: "https://opentelemetry.io/schemas/1.21.0".into(),
            }],
            schema_url: "https://opentelemetry.io/schemas/1.20.0".into(),
        }],
    }
}

#[test]
fn protobuf_carries_every_field() {
    let body = request(vec![full_span()]).encode_to_vec();
    let req = decode_traces_request(Some("application/x-protobuf"), &body).unwrap();
    let c = convert_traces(&req);
    assert_eq!(c.rejected_spans, 0);
    assert_eq!(c.error_message, "");
    assert_eq!(c.batch, expected_batch());
    // the owned conversion gives the same result
    assert_eq!(convert_traces_owned(req).batch, expected_batch());
}

/// A body in the shape the OpenTelemetry collector's OTLP/JSON encoder writes: int64 and
/// fixed64 values as strings, enums as integers, ids in hex, bytes in base64.
const COLLECTOR_JSON: &str = r#"{"resourceSpans":[{"resource":{"attributes":[
  {"key":"service.name","value":{"stringValue":"checkout"}},
  {"key":"process.pid","value":{"intValue":"4242"}}],"droppedAttributesCount":1},
 "scopeSpans":[{"scope":{"name":"io.opentelemetry.http","version":"1.2.0",
   "attributes":[{"key":"lib","value":{"boolValue":true}}],"droppedAttributesCount":9},
  "spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174",
   "traceState":"k=v","parentSpanId":"eee19b7ec3c1b173","flags":257,"name":"GET /cart","kind":2,
   "startTimeUnixNano":"1544712660000000000","endTimeUnixNano":"1544712661000000000",
   "attributes":[{"key":"http.method","value":{"stringValue":"GET"}},
    {"key":"http.status_code","value":{"intValue":"200"}},
    {"key":"ratio","value":{"doubleValue":0.5}},
    {"key":"cached","value":{"boolValue":false}},
    {"key":"tags","value":{"arrayValue":{"values":[{"stringValue":"a"},{"intValue":"1"}]}}},
    {"key":"m","value":{"kvlistValue":{"values":[{"key":"x","value":{"stringValue":"y"}}]}}},
    {"key":"raw","value":{"bytesValue":"AQI="}},
    {"key":"empty","value":{}}],
   "droppedAttributesCount":2,
   "events":[{"timeUnixNano":"1544712660500000000","name":"exception",
     "attributes":[{"key":"exception.message","value":{"stringValue":"out of stock"}}],
     "droppedAttributesCount":3}],
   "droppedEventsCount":4,
   "links":[{"traceId":"07070707070707070707070707070707","spanId":"0808080808080808",
     "traceState":"a=b","attributes":[{"key":"link.kind","value":{"stringValue":"follows"}}],
     "droppedAttributesCount":5,"flags":1}],
   "droppedLinksCount":6,
   "status":{"message":"boom","code":2}}],
  "schemaUrl":"https://opentelemetry.io/schemas/1.21.0"}],
 "schemaUrl":"https://opentelemetry.io/schemas/1.20.0"}]}"#;

#[test]
fn otlp_json_carries_every_field() {
    let req = decode_traces_request(
        Some("application/json; charset=utf-8"),
        COLLECTOR_JSON.as_bytes(),
    )
    .unwrap();
    let c = convert_traces(&req);
    assert_eq!(c.rejected_spans, 0, "{}", c.error_message);
    assert_eq!(c.batch, expected_batch());
}

#[test]
fn otlp_json_accepts_numbers_for_64_bit_fields_and_omitted_fields() {
    // SDK encoders write 64-bit integers as JSON numbers and leave defaults out
    let body = r#"{"resourceSpans":[{"resource":{"attributes":[
      {"key":"service.name","value":{"stringValue":"cart"}}]},
      "scopeSpans":[{"scope":{"name":"opentelemetry.instrumentation.flask"},
       "spans":[{"traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"eee19b7ec3c1b174",
        "name":"root","kind":1,"startTimeUnixNano":1544712660000000000,
        "endTimeUnixNano":1544712660000001000,
        "attributes":[{"key":"n","value":{"intValue":7}}],"status":{}}]}]}]}"#;
    let req = decode_traces_request(Some("application/json"), body.as_bytes()).unwrap();
    let c = convert_traces(&req);
    assert_eq!(c.rejected_spans, 0, "{}", c.error_message);
    let (res, scope, span) = c.batch.spans().next().unwrap();
    assert_eq!(res.service_name(), Some("cart"));
    assert_eq!(scope.name, "opentelemetry.instrumentation.flask");
    assert_eq!(span.trace_id, TRACE);
    assert!(span.is_root());
    assert_eq!(span.kind, SpanKind::Internal);
    assert_eq!(span.duration_nanos(), 1000);
    assert_eq!(span.attributes, vec![KeyValue::new("n", AnyValue::Int(7))]);
    assert_eq!(span.status_code, SpanStatusCode::Unset);
}

#[test]
fn bad_ids_reject_only_their_span_and_are_named() {
    let good = full_span();
    let short_trace = OtlpSpan {
        name: "short-trace".into(),
        trace_id: vec![1; 15],
        ..full_span()
    };
    let zero_span = OtlpSpan {
        name: "zero-span".into(),
        span_id: vec![0; 8],
        ..full_span()
    };
    let bad_parent = OtlpSpan {
        name: "bad-parent".into(),
        parent_span_id: vec![1; 4],
        ..full_span()
    };
    let zero_trace = OtlpSpan {
        name: "zero-trace".into(),
        trace_id: vec![0; 16],
        ..full_span()
    };
    let req = request(vec![short_trace, good, zero_span, bad_parent, zero_trace]);
    let c = convert_traces(&req);
    assert_eq!(c.rejected_spans, 4);
    assert_eq!(c.batch, expected_batch());
    let m = &c.error_message;
    assert!(m.starts_with("rejected 4 spans: "), "{m}");
    assert!(
        m.contains(r#"span "short-trace""#) && m.contains("got 15 bytes"),
        "{m}"
    );
    assert!(
        m.contains(r#"span "zero-span""#) && m.contains("span id must be 8 bytes"),
        "{m}"
    );
    assert!(
        m.contains(r#"span "bad-parent""#) && m.contains("parent span id"),
        "{m}"
    );
    assert!(m.contains(r#"span "zero-trace""#), "{m}");
}

#[test]
fn message_names_the_first_few_and_counts_the_rest() {
    let spans = (0..8)
        .map(|i| OtlpSpan {
            name: format!("s{i}"),
            span_id: Vec::new(),
            ..full_span()
        })
        .collect();
    let c = convert_traces(&request(spans));
    assert_eq!(c.rejected_spans, 8);
    // nothing is left, so the resource and scope are dropped
    assert!(c.batch.resource_spans.is_empty());
    assert!(c.error_message.contains(r#""s4""#), "{}", c.error_message);
    assert!(!c.error_message.contains(r#""s5""#), "{}", c.error_message);
    assert!(
        c.error_message.ends_with("(and 3 more)"),
        "{}",
        c.error_message
    );
}

#[test]
fn missing_resource_and_scope_become_empty() {
    let req = ExportTraceServiceRequest {
        resource_spans: vec![OtlpResourceSpans {
            resource: None,
            scope_spans: vec![OtlpScopeSpans {
                scope: None,
                spans: vec![full_span()],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let c = convert_traces(&req);
    assert_eq!(c.batch.span_count(), 1);
    let (res, scope, _) = c.batch.spans().next().unwrap();
    assert_eq!(res, &Resource::default());
    assert_eq!(scope, &Scope::default());
}

#[test]
fn malformed_bodies_and_media_types() {
    let e = decode_traces_request(Some("application/json"), b"{\"resourceSpans\":[{").unwrap_err();
    assert_eq!(e.status_code(), StatusCode::BadData);
    assert!(e.to_string().starts_with("json decode failed"), "{e}");
    let e = decode_traces_request(Some("application/x-protobuf"), &[0xff, 0xff, 0xff]).unwrap_err();
    assert!(e.to_string().starts_with("protobuf decode failed"), "{e}");
    // an id that is not hex is malformed JSON for OTLP
    let e = decode_traces_request(
        Some("application/json"),
        br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"xyz"}]}]}]}"#,
    )
    .unwrap_err();
    assert_eq!(e.status_code(), StatusCode::BadData);
    let e = decode_traces_request(Some("text/plain"), b"").unwrap_err();
    assert!(matches!(e, ProtoError::UnsupportedMediaType(_)));
    // no content type is protobuf
    let empty = decode_traces_request(None, b"").unwrap();
    assert!(convert_traces(&empty).batch.resource_spans.is_empty());
}
