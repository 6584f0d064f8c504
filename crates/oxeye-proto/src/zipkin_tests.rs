use super::*;
use oxeye_core::StatusCode;
use oxeye_core::trace::attr;

fn one(body: &str) -> (Resource, Scope, Span) {
    let batch = decode_spans(body.as_bytes()).unwrap();
    assert_eq!(batch.span_count(), 1, "{batch:?}");
    let (r, s, sp) = batch.spans().next().unwrap();
    (r.clone(), s.clone(), sp.clone())
}

fn str_attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a str> {
    attr(attrs, key).and_then(AnyValue::as_str)
}

#[test]
fn maps_a_full_span() {
    let body = r#"[{
      "traceId": "5b8efff798038103d269b633813fc60c",
      "id": "eee19b7ec3c1b174",
      "parentId": "eee19b7ec3c1b173",
      "name": "get /api",
      "kind": "SERVER",
      "timestamp": 1472470996199000,
      "duration": 207000,
      "localEndpoint": {"serviceName": "frontend", "ipv4": "192.168.99.1", "port": 8080},
      "remoteEndpoint": {"serviceName": "browser", "ipv4": "172.19.0.2", "port": 58648},
      "annotations": [
        {"timestamp": 1472470996238000, "value": "ws"},
        {"timestamp": 1472470996403000, "value": "wr"}
      ],
      "tags": {"http.method": "GET", "http.path": "/api", "clnt/finagle.version": "6.45.0",
               "host.name": "node-1", "otel.library.name": "finagle",
               "otel.library.version": "6.45"},
      "debug": true,
      "shared": false
    }]"#;
    let (res, scope, span) = one(body);
    assert_eq!(
        res.attributes,
        vec![
            KeyValue::string("service.name", "frontend"),
            KeyValue::string("host.name", "node-1"),
        ]
    );
    assert_eq!(scope.name, "finagle");
    assert_eq!(scope.version, "6.45");
    assert_eq!(
        hex::encode(span.trace_id),
        "5b8efff798038103d269b633813fc60c"
    );
    assert_eq!(hex::encode(span.span_id), "eee19b7ec3c1b174");
    assert_eq!(hex::encode(span.parent_span_id), "eee19b7ec3c1b173");
    assert_eq!(span.name, "get /api");
    assert_eq!(span.kind, SpanKind::Server);
    assert_eq!(span.start_unix_nano, 1_472_470_996_199_000_000);
    assert_eq!(span.end_unix_nano, 1_472_470_996_406_000_000);
    assert_eq!(str_attr(&span.attributes, "http.method"), Some("GET"));
    assert_eq!(
        str_attr(&span.attributes, "clnt/finagle.version"),
        Some("6.45.0")
    );
    assert_eq!(
        str_attr(&span.attributes, "net.host.ip"),
        Some("192.168.99.1")
    );
    assert_eq!(
        attr(&span.attributes, "net.host.port"),
        Some(&AnyValue::Int(8080))
    );
    assert_eq!(str_attr(&span.attributes, "peer.service"), Some("browser"));
    assert_eq!(
        str_attr(&span.attributes, "net.peer.ip"),
        Some("172.19.0.2")
    );
    assert_eq!(
        attr(&span.attributes, "net.peer.port"),
        Some(&AnyValue::Int(58648))
    );
    // resource and scope tags are not span attributes
    assert!(attr(&span.attributes, "host.name").is_none());
    assert!(attr(&span.attributes, "otel.library.name").is_none());
    assert_eq!(
        span.events
            .iter()
            .map(|e| (e.name.as_str(), e.time_unix_nano))
            .collect::<Vec<_>>(),
        vec![
            ("ws", 1_472_470_996_238_000_000),
            ("wr", 1_472_470_996_403_000_000)
        ]
    );
    assert_eq!(span.status_code, SpanStatusCode::Unset);
}

#[test]
fn sixty_four_bit_and_short_ids_are_left_padded() {
    let (_, _, span) = one(
        r#"[{"traceId":"d269b633813fc60c","id":"b174","parentId":"b174","name":"x","timestamp":1}]"#,
    );
    assert_eq!(
        hex::encode(span.trace_id),
        "0000000000000000d269b633813fc60c"
    );
    assert_eq!(hex::encode(span.span_id), "000000000000b174");
    // a parent equal to the span itself means no parent
    assert!(span.is_root());
    assert_eq!(span.start_unix_nano, 1000);
}

#[test]
fn kinds_status_and_error_tags() {
    let body = r#"[
      {"traceId":"01","id":"01","kind":"CLIENT","timestamp":1,"tags":{"error":"true"}},
      {"traceId":"01","id":"02","kind":"PRODUCER","timestamp":1,
       "tags":{"error":"connection refused"}},
      {"traceId":"01","id":"03","kind":"CONSUMER","timestamp":1,
       "tags":{"otel.status_code":"OK","otel.status_description":"all good"}},
      {"traceId":"01","id":"04","timestamp":1,
       "tags":{"span.kind":"internal","otel.status_code":"ERROR",
               "otel.status_description":"bad input","w3c.tracestate":"a=1"}},
      {"traceId":"01","id":"05","timestamp":1}
    ]"#;
    let batch = decode_spans(body.as_bytes()).unwrap();
    let spans: Vec<&Span> = batch.spans().map(|(_, _, s)| s).collect();
    assert_eq!(spans.len(), 5);
    assert_eq!(spans[0].kind, SpanKind::Client);
    assert_eq!(spans[0].status_code, SpanStatusCode::Error);
    assert_eq!(spans[0].status_message, "");
    assert!(attr(&spans[0].attributes, "error").is_none());
    assert_eq!(spans[1].kind, SpanKind::Producer);
    assert_eq!(spans[1].status_code, SpanStatusCode::Error);
    assert_eq!(spans[1].status_message, "connection refused");
    assert_eq!(spans[2].kind, SpanKind::Consumer);
    assert_eq!(spans[2].status_code, SpanStatusCode::Ok);
    assert_eq!(spans[3].kind, SpanKind::Internal);
    assert_eq!(spans[3].status_code, SpanStatusCode::Error);
    assert_eq!(spans[3].status_message, "bad input");
    assert_eq!(spans[3].trace_state, "a=1");
    assert!(spans[3].attributes.is_empty(), "{:?}", spans[3].attributes);
    assert_eq!(spans[4].kind, SpanKind::Unspecified);
    assert_eq!(spans[4].status_code, SpanStatusCode::Unset);
}

#[test]
fn spans_are_grouped_by_service() {
    let body = r#"[
      {"traceId":"01","id":"01","timestamp":1,"localEndpoint":{"serviceName":"api"}},
      {"traceId":"01","id":"02","timestamp":1,"localEndpoint":{"serviceName":"db"}},
      {"traceId":"01","id":"03","timestamp":1,"localEndpoint":{"serviceName":"api"}},
      {"traceId":"01","id":"04","timestamp":1}
    ]"#;
    let batch = decode_spans(body.as_bytes()).unwrap();
    let groups: Vec<(Option<&str>, usize)> = batch
        .resource_spans
        .iter()
        .map(|rs| {
            (
                rs.resource.service_name(),
                rs.scope_spans.iter().map(|s| s.spans.len()).sum(),
            )
        })
        .collect();
    assert_eq!(groups, vec![(Some("api"), 2), (Some("db"), 1), (None, 1)]);
}

#[test]
fn annotations_with_encoded_attributes_and_links() {
    let body = r#"[{"traceId":"01","id":"01","timestamp":10,"duration":5,
      "annotations":[{"timestamp":12,"value":"exception|{\"exception.type\":\"IOError\",\"n\":2,\"r\":0.5,\"ok\":true}|1"},
                     {"timestamp":13,"value":"plain|text"}],
      "tags":{"otlp.link.0":"0102030405060708090a0b0c0d0e0f10|0102030405060708|k=v|{\"why\":\"batch\"}|3"}}]"#;
    let (_, _, span) = one(body);
    assert_eq!(span.events.len(), 2);
    let e = &span.events[0];
    assert_eq!(e.name, "exception");
    assert_eq!(e.time_unix_nano, 12_000);
    assert_eq!(e.dropped_attributes_count, 1);
    assert_eq!(str_attr(&e.attributes, "exception.type"), Some("IOError"));
    assert_eq!(attr(&e.attributes, "n"), Some(&AnyValue::Int(2)));
    assert_eq!(attr(&e.attributes, "r"), Some(&AnyValue::Double(0.5)));
    assert_eq!(attr(&e.attributes, "ok"), Some(&AnyValue::Bool(true)));
    // not the encoded form: the whole value is the name
    assert_eq!(span.events[1].name, "plain|text");
    assert_eq!(span.links.len(), 1);
    let l = &span.links[0];
    assert_eq!(hex::encode(l.trace_id), "0102030405060708090a0b0c0d0e0f10");
    assert_eq!(hex::encode(l.span_id), "0102030405060708");
    assert_eq!(l.trace_state, "k=v");
    assert_eq!(str_attr(&l.attributes, "why"), Some("batch"));
    assert_eq!(l.dropped_attributes_count, 3);
    assert!(span.attributes.is_empty(), "{:?}", span.attributes);
}

#[test]
fn missing_timestamp_is_marked() {
    for body in [
        r#"[{"traceId":"01","id":"01","duration":7}]"#,
        r#"[{"traceId":"01","id":"01","duration":7,"timestamp":0}]"#,
    ] {
        let (_, _, span) = one(body);
        assert_eq!(span.start_unix_nano, 0);
        assert_eq!(span.end_unix_nano, 7000);
        assert_eq!(
            attr(&span.attributes, START_TIME_ABSENT),
            Some(&AnyValue::Bool(true))
        );
    }
    let (_, _, span) = one(r#"[{"traceId":"01","id":"01","timestamp":3}]"#);
    assert!(attr(&span.attributes, START_TIME_ABSENT).is_none());
}

#[test]
fn non_string_tags_become_strings() {
    let (_, _, span) = one(
        r#"[{"traceId":"01","id":"01","timestamp":1,"tags":{"http.status_code":200,"cached":false}}]"#,
    );
    assert_eq!(str_attr(&span.attributes, "http.status_code"), Some("200"));
    assert_eq!(str_attr(&span.attributes, "cached"), Some("false"));
}

#[test]
fn malformed_requests_are_errors() {
    for (body, want) in [
        ("{", "json decode failed"),
        (r#"{"traceId":"01"}"#, "json decode failed"),
        (r#"[{"id":"01"}]"#, "span 0: traceId"),
        (r#"[{"traceId":"01","id":"zz"}]"#, "span 0: id \"zz\""),
        (
            r#"[{"traceId":"01","id":"01"},{"traceId":"0123456789abcdef0123456789abcdef0","id":"01"}]"#,
            "span 1: traceId",
        ),
        (r#"[{"traceId":"00","id":"01"}]"#, "traceId is all zeros"),
        (r#"[{"traceId":"01","id":"0"}]"#, "id is all zeros"),
        (
            r#"[{"traceId":"01","id":"01","kind":"SIDEWAYS"}]"#,
            "unknown kind",
        ),
        (
            r#"[{"traceId":"01","id":"01","timestamp":-5}]"#,
            "timestamp -5",
        ),
    ] {
        let e = decode_spans(body.as_bytes()).unwrap_err();
        assert_eq!(e.status_code(), StatusCode::BadData);
        assert!(e.to_string().contains(want), "{body}: {e}");
    }
    assert_eq!(decode_spans(b"[]").unwrap(), TraceBatch::default());
}

#[test]
fn many_services_group_once_each() {
    // 20 000 spans from 10 000 services, two spans each, in an interleaved order
    let mut spans = Vec::new();
    for round in 0..2 {
        for svc in 0..10_000 {
            spans.push(serde_json::json!({
                "traceId": format!("{:032x}", svc + 1),
                "id": format!("{:016x}", round * 100_000 + svc + 1),
                "name": "op",
                "timestamp": 1_700_000_000_000_000u64,
                "duration": 10,
                "localEndpoint": {"serviceName": format!("svc-{svc}")}
            }));
        }
    }
    let body = serde_json::to_vec(&spans).unwrap();
    let batch = decode_spans(&body).unwrap();
    assert_eq!(batch.resource_spans.len(), 10_000);
    assert!(
        batch
            .resource_spans
            .iter()
            .all(|rs| rs.scope_spans.len() == 1 && rs.scope_spans[0].spans.len() == 2)
    );
    assert_eq!(batch.span_count(), 20_000);
}
