use super::*;

fn label(name: &str, value: &str) -> pb::Label {
    pb::Label {
        name: name.into(),
        value: value.into(),
    }
}

fn ramp(n: usize) -> Vec<Sample> {
    (0..n)
        .map(|i| Sample::new(60_000 * i as i64, 100.0 * i as f64))
        .collect()
}

fn frames_of(samples: &[Sample], max_bytes: usize) -> Vec<pb::ChunkedReadResponse> {
    let labels = vec![
        label("__name__", "test_metric1"),
        label("b", "c"),
        label("baz", "qux"),
        label("d", "e"),
        label("foo", "bar3"),
    ];
    let mut f = SeriesFramer::new(1, labels, max_bytes);
    let mut body = Vec::new();
    for s in samples {
        if let Some(frame) = f.push(*s).unwrap() {
            body.extend_from_slice(&frame);
        }
    }
    if let Some(frame) = f.finish() {
        body.extend_from_slice(&frame);
    }
    decode_chunked_responses(&body, 1 << 20).unwrap()
}

#[test]
fn crc32c_known_vectors() {
    assert_eq!(crc32c(b"123456789"), 0xE306_9283);
    assert_eq!(crc32c(b""), 0);
    assert_eq!(crc32c(&[0u8; 32]), 0x8A91_36AA);
}

#[test]
fn frames_split_like_prometheus() {
    // the labels take 57 bytes; a full chunk of this ramp about 240, so a budget of
    // 57 + 480 bytes holds two chunks per frame
    let budget = 57 + 480;
    let sizes = |frames: &[pb::ChunkedReadResponse]| {
        frames
            .iter()
            .map(|f| f.chunked_series[0].chunks.len())
            .collect::<Vec<_>>()
    };
    assert_eq!(sizes(&frames_of(&ramp(120), budget)), [1]);
    assert_eq!(sizes(&frames_of(&ramp(121), budget)), [2]);
    assert_eq!(sizes(&frames_of(&ramp(241), budget)), [2, 1]);
    assert_eq!(sizes(&frames_of(&ramp(241), 1 << 20)), [3]);
    assert!(frames_of(&[], budget).is_empty());

    let frames = frames_of(&ramp(241), budget);
    let mut all = Vec::new();
    for f in &frames {
        assert_eq!(f.query_index, 1);
        let s = &f.chunked_series[0];
        assert_eq!(s.labels[0], label("__name__", "test_metric1"));
        for c in &s.chunks {
            assert_eq!(c.r#type, pb::ChunkEncoding::Xor as i32);
            let samples = decode_xor_chunk(&c.data).unwrap();
            assert!(samples.len() <= MAX_SAMPLES_PER_CHUNK);
            assert_eq!(samples.first().map(|s| s.t), Some(c.min_time_ms));
            assert_eq!(samples.last().map(|s| s.t), Some(c.max_time_ms));
            all.extend(samples);
        }
    }
    assert_eq!(all, ramp(241));
    let c = &frames[0].chunked_series[0].chunks;
    assert_eq!(
        (c[1].min_time_ms, c[1].max_time_ms),
        (7_200_000, 14_340_000)
    );
}

#[test]
fn frame_reader_rejects_damage() {
    let mut body = Vec::new();
    write_frame(&mut body, b"hello");
    write_frame(&mut body, &[7u8; 300]);
    let mut r = FrameReader::new(&body, 1000);
    assert_eq!(r.next_frame().unwrap(), Some(&b"hello"[..]));
    assert_eq!(r.next_frame().unwrap().map(<[u8]>::len), Some(300));
    assert_eq!(r.next_frame().unwrap(), None);

    let mut bad = body.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    let mut r = FrameReader::new(&bad, 1000);
    r.next_frame().unwrap();
    let e = r.next_frame().unwrap_err().to_string();
    assert!(e.contains("checksum mismatch"), "{e}");

    // every cut except the one between the frames leaves a truncated frame
    let first_len = 1 + 4 + 5;
    for n in (1..body.len()).filter(|&n| n != first_len) {
        let mut r = FrameReader::new(&body[..n], 1000);
        assert!(r.nth_err(2), "prefix of {n} bytes read without error");
    }
    assert!(FrameReader::new(&body, 100).nth_err(2));
}

impl FrameReader<'_> {
    /// Whether reading `n` frames fails.
    fn nth_err(&mut self, n: usize) -> bool {
        (0..n).any(|_| self.next_frame().is_err())
    }
}

#[test]
fn negotiation_follows_the_client_order() {
    assert_eq!(
        negotiate_response_type(&[]).unwrap(),
        pb::ResponseType::Samples
    );
    assert_eq!(
        negotiate_response_type(&[1, 0]).unwrap(),
        pb::ResponseType::StreamedXorChunks
    );
    assert_eq!(
        negotiate_response_type(&[7, 0]).unwrap(),
        pb::ResponseType::Samples
    );
    let e = negotiate_response_type(&[7]).unwrap_err();
    assert_eq!(e.status_code(), oxeye_core::StatusCode::BadData);
    assert!(
        e.to_string()
            .starts_with("server does not support any of the requested response types: [7]"),
        "{e}"
    );
}

#[test]
fn matchers_convert_and_fail_cleanly() {
    let q = pb::Query {
        matchers: vec![
            pb::LabelMatcher {
                r#type: pb::MatcherType::Eq as i32,
                name: "__name__".into(),
                value: "up".into(),
            },
            pb::LabelMatcher {
                r#type: pb::MatcherType::Nre as i32,
                name: "job".into(),
                value: "a|b".into(),
            },
        ],
        ..Default::default()
    };
    let m = query_matchers(&q).unwrap();
    assert_eq!(m[0].op, MatchOp::Equal);
    assert_eq!(m[1].op, MatchOp::NotRegex);
    assert!(!m[1].matches("a") && m[1].matches("c"));

    let mut bad = q.clone();
    bad.matchers[1].r#type = 9;
    let e = query_matchers(&bad).unwrap_err().to_string();
    assert_eq!(e, "invalid matcher type 9 for label \"job\"");
    let mut bad = q;
    bad.matchers[1].r#type = pb::MatcherType::Re as i32;
    bad.matchers[1].value = "(".into();
    assert!(query_matchers(&bad).is_err());
}

#[test]
fn request_and_response_round_trip() {
    let req = pb::ReadRequest {
        queries: vec![pb::Query {
            start_timestamp_ms: 1,
            end_timestamp_ms: 2,
            matchers: vec![],
            hints: Some(pb::ReadHints {
                step_ms: 15_000,
                func: "rate".into(),
                ..Default::default()
            }),
        }],
        accepted_response_types: vec![1, 0],
    };
    let body = encode_read_request(&req);
    assert_eq!(decode_read_request(&body, MAX_REQUEST_BYTES).unwrap(), req);
    assert!(decode_read_request(b"not snappy", MAX_REQUEST_BYTES).is_err());
    assert!(matches!(
        decode_read_request(&body, 3),
        Err(ProtoError::TooLarge { .. })
    ));

    let resp = pb::ReadResponse {
        results: vec![pb::QueryResult {
            timeseries: vec![pb::TimeSeries {
                labels: labels_to_pb(&Labels::from_pairs(&[("__name__", "up")])),
                samples: samples_to_pb(&[Sample::new(5, 1.0)]),
                exemplars: vec![],
                histograms: vec![],
            }],
        }],
    };
    let body = encode_read_response(&resp);
    assert_eq!(decode_read_response(&body, 1 << 20).unwrap(), resp);
}
