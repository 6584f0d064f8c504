use oxeye_core::logs::LogEntry;
use prost::Message;

use super::*;

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

#[test]
fn parses_stream_label_text() {
    assert_eq!(
        parse_stream_labels(r#"{app="api", env="prod"}"#).unwrap(),
        pairs(&[("app", "api"), ("env", "prod")])
    );
    assert_eq!(
        parse_stream_labels(" { a = 'x' , b=`raw\\n` , } ").unwrap(),
        pairs(&[("a", "x"), ("b", "raw\\n")])
    );
    assert_eq!(
        parse_stream_labels(r#"{msg="say \"hi\"\n\t\u00e9\x41"}"#).unwrap(),
        pairs(&[("msg", "say \"hi\"\n\téA")])
    );
    assert_eq!(parse_stream_labels("{}").unwrap(), pairs(&[]));
    assert_eq!(
        parse_stream_labels(r#"up{job="x"}"#).unwrap(),
        pairs(&[("__name__", "up"), ("job", "x")])
    );
}

#[test]
fn refuses_bad_label_text_naming_the_offset() {
    for (text, want) in [
        (r#"{app="api""#, "unexpected end of labels"),
        (r#"{app="api" x}"#, "expected \",\" or \"}\" at offset 11"),
        (r#"{app=~"api"}"#, "must be matched with \"=\""),
        (r#"{app!="api"}"#, "must be matched with \"=\""),
        (r#"{1app="x"}"#, "expected a label name at offset 1"),
        (r#"{app=api}"#, "expected a quoted label value at offset 5"),
        (r#"{app="api"} x"#, "unexpected text after"),
        (r#"{a="\q"}"#, "unknown escape \\q"),
        (r#"{a="open}"#, "unterminated label value"),
        ("", "expected \"{\""),
        (r#"{a:b="x"}"#, "invalid label name \"a:b\""),
    ] {
        let err = parse_stream_labels(text).unwrap_err();
        assert!(err.contains(want), "{text}: {err}");
    }
}

#[test]
fn label_text_round_trips_through_format() {
    let p = pairs(&[("a", "quote \" back \\ nl \n"), ("b", "plain")]);
    let text = format_labels(&p);
    assert_eq!(text, r#"{a="quote \" back \\ nl \n", b="plain"}"#);
    assert_eq!(parse_stream_labels(&text).unwrap(), p);
}

#[test]
fn decodes_snappy_protobuf_with_structured_metadata() {
    let mut e2 = LogEntry::new(1_700_000_000_123_456_789, "second");
    e2.metadata.push(("trace_id".into(), "abc".into()));
    let body = encode_push(&[(
        pairs(&[("app", "api")]),
        vec![
            LogEntry::new(1_700_000_000_000_000_001, "first"),
            e2.clone(),
        ],
    )]);
    let streams = decode_push(Some("application/x-protobuf"), &body, 1 << 20).unwrap();
    assert_eq!(streams.len(), 1);
    assert_eq!(streams[0].labels_text, r#"{app="api"}"#);
    assert_eq!(streams[0].labels, Ok(pairs(&[("app", "api")])));
    assert_eq!(
        streams[0].entries,
        vec![LogEntry::new(1_700_000_000_000_000_001, "first"), e2]
    );
    // no content type is protobuf too, as Loki reads it
    assert_eq!(decode_push(None, &body, 1 << 20).unwrap(), streams);
}

#[test]
fn protobuf_field_numbers_match_loki() {
    // StreamAdapter{labels=1, entries=2{timestamp=1{seconds=1,nanos=2}, line=2,
    // structuredMetadata=3{name=1,value=2}}} written by hand
    let entry = [
        &[0x0a, 0x04, 0x08, 0x01, 0x10, 0x02][..], // timestamp 1s 2ns
        &[0x12, 0x01, b'l'],
        &[0x1a, 0x06, 0x0a, 0x01, b'k', 0x12, 0x01, b'v'],
    ]
    .concat();
    let labels = br#"{a="b"}"#;
    let mut stream = vec![0x0a, labels.len() as u8];
    stream.extend_from_slice(labels);
    stream.push(0x12);
    stream.push(entry.len() as u8);
    stream.extend_from_slice(&entry);
    let mut req = vec![0x0a, stream.len() as u8];
    req.extend_from_slice(&stream);
    let got = decode_push_protobuf(&req).unwrap();
    assert_eq!(got[0].labels, Ok(pairs(&[("a", "b")])));
    let e = &got[0].entries[0];
    assert_eq!(e.ts_ns, 1_000_000_002);
    assert_eq!(e.line, "l");
    assert_eq!(e.metadata, pairs(&[("k", "v")]));
}

#[test]
fn keeps_streams_whose_labels_do_not_parse_for_the_caller_to_reject() {
    let req = PushRequest {
        streams: vec![StreamAdapter {
            labels: "{broken".into(),
            entries: vec![EntryAdapter {
                timestamp: Some(Timestamp::from_nanos(5)),
                line: "x".into(),
                structured_metadata: vec![],
            }],
            hash: 0,
        }],
    };
    let got = decode_push_protobuf(&req.encode_to_vec()).unwrap();
    assert_eq!(got[0].labels_text, "{broken");
    assert!(got[0].labels.is_err());
    assert_eq!(got[0].entries.len(), 1);
}

#[test]
fn refuses_bodies_that_are_not_snappy_protobuf() {
    let err = decode_push(Some("application/x-protobuf"), b"not snappy", 1 << 20).unwrap_err();
    assert!(matches!(err, ProtoError::Decompress { .. }), "{err}");
    let not_proto = crate::compression::snappy_block_encode(&[0xff, 0xff, 0xff]);
    let err = decode_push(None, &not_proto, 1 << 20).unwrap_err();
    assert!(matches!(err, ProtoError::Protobuf(_)), "{err}");
    let big = encode_push(&[(
        pairs(&[("a", "b")]),
        vec![LogEntry::new(1, "x".repeat(4096))],
    )]);
    let err = decode_push(None, &big, 1024).unwrap_err();
    assert!(matches!(err, ProtoError::TooLarge { .. }), "{err}");
}

#[test]
fn decodes_json_with_metadata_and_both_timestamp_forms() {
    let body = br#"{"streams":[{"stream":{"env":"prod","app":"api"},
        "values":[["1700000000000000001","one"],
                  [1700000000000000002,"two",{"trace_id":"t1","user":"u"}]]}]}"#;
    let got = decode_push(Some("application/json; charset=utf-8"), body, 1 << 20).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].labels_text, r#"{app="api", env="prod"}"#);
    assert_eq!(got[0].labels, Ok(pairs(&[("app", "api"), ("env", "prod")])));
    assert_eq!(
        got[0].entries[0],
        LogEntry::new(1_700_000_000_000_000_001, "one")
    );
    assert_eq!(got[0].entries[1].ts_ns, 1_700_000_000_000_000_002);
    assert_eq!(got[0].entries[1].metadata_value("trace_id"), Some("t1"));
    assert_eq!(got[0].entries[1].metadata_value("user"), Some("u"));
}

#[test]
fn refuses_malformed_json_entries() {
    for body in [
        &br#"{"streams":[{"stream":{"a":"b"},"values":[["x","line"]]}]}"#[..],
        br#"{"streams":[{"stream":{"a":"b"},"values":[["1"]]}]}"#,
        br#"{"streams":[{"stream":{"a":"b"},"values":[["1","l",{},"extra"]]}]}"#,
        br#"{"streams":[{"stream":{"a":"b"},"values":[["1","l",{"k":1}]]}]}"#,
        br#"{"streams":"#,
    ] {
        let err = decode_push(Some("application/json"), body, 1 << 20).unwrap_err();
        assert!(matches!(err, ProtoError::Json(_)), "{err}");
    }
    let got = decode_push(
        Some("application/json"),
        br#"{"streams":[{"stream":{"bad-name":"b"},"values":[["1","l"]]}]}"#,
        1 << 20,
    )
    .unwrap();
    assert_eq!(got[0].labels, Err("invalid label name \"bad-name\"".into()));
}

#[test]
fn timestamps_convert_both_ways() {
    for ns in [0, 1, 1_700_000_000_123_456_789, -1, -1_000_000_001] {
        assert_eq!(Timestamp::from_nanos(ns).to_nanos(), ns);
    }
    assert_eq!(
        Timestamp {
            seconds: i64::MAX,
            nanos: 0
        }
        .to_nanos(),
        i64::MAX
    );
}
