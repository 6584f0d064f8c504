//! Remote read and federation against the real Prometheus 2.42:
//!
//! - a Prometheus with `remote_read` pointing at oxeye answers PromQL queries with oxeye's
//!   data (its 2.42 client asks for sampled responses) and none of another tenant's;
//! - the XOR chunks oxeye streams are byte-identical to the chunks Prometheus writes itself
//!   for the same samples (read from a Prometheus snapshot); the same remote read request
//!   sent to oxeye and to Prometheus's own endpoint gets the same samples (streamed) and
//!   the same message (sampled);
//! - a Prometheus scraping oxeye's `/federate` with `honor_labels: true` stores the newest
//!   samples with their labels and timestamps.
//!
//! Each test skips with a printed reason when `prometheus` is not installed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oxeye_core::{Labels, Sample, SeriesWrite, WriteBatch, stale_nan};
use oxeye_proto::remote_read::{self as rr, pb};

use crate::compat::{Peer, get_json, wait_ok};
use crate::harness::{Server, free_port};
use crate::ingest::{now_ms, post_rw};

type Points = Vec<(i64, u64)>;

fn prometheus_missing() -> bool {
    let missing = Command::new("prometheus")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_err();
    if missing {
        eprintln!("skipping: prometheus is not installed (apt-get install prometheus)");
    }
    missing
}

async fn start_prometheus(dir: &Path, config: &str, flags: &[&str]) -> Peer {
    let port = free_port();
    let cfg = dir.join(format!("prometheus-{port}.yml"));
    std::fs::write(&cfg, config).unwrap();
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join(format!("prom-{port}")).display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .args(flags)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus must be installed (apt-get install prometheus)");
    let url = format!("http://127.0.0.1:{port}");
    wait_ok(&format!("{url}/-/ready")).await;
    Peer { child, url }
}

/// A small deterministic generator, so failures reproduce.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo) as u64) as i64
    }
}

/// Irregular timestamps (jitter, one long gap) and values of several shapes.
fn irregular(rng: &mut Lcg, t0: i64, n: usize, shape: u8) -> Vec<Sample> {
    let mut out = Vec::with_capacity(n);
    let (mut t, mut counter) = (t0, 0.0f64);
    for i in 0..n {
        let v = match shape {
            0 => {
                counter += rng.range(0, 50) as f64;
                counter
            }
            1 => rng.range(-1_000_000, 1_000_000) as f64 / 997.0,
            _ => {
                if i % 7 < 4 {
                    0.25
                } else {
                    1e-9 * i as f64
                }
            }
        };
        out.push(Sample::new(t, v));
        t += 15_000 + rng.range(-300, 300);
        if i == n / 2 {
            t += 600_000;
        }
    }
    out
}

fn series(pairs: &[(&str, &str)], samples: Vec<Sample>) -> SeriesWrite {
    SeriesWrite {
        labels: Labels::from_pairs(pairs),
        samples,
        exemplars: vec![],
    }
}

fn points(samples: &[Sample]) -> Points {
    samples.iter().map(|s| (s.t, s.v.to_bits())).collect()
}

fn labels_map(v: &serde_json::Value) -> BTreeMap<String, String> {
    v.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

fn labels_of(l: &Labels) -> BTreeMap<String, String> {
    l.iter()
        .map(|x| (x.name.clone(), x.value.clone()))
        .collect()
}

fn value_bits(s: &str) -> u64 {
    match s {
        "NaN" => f64::NAN.to_bits(),
        "+Inf" => f64::INFINITY.to_bits(),
        "-Inf" => f64::NEG_INFINITY.to_bits(),
        _ => s.parse::<f64>().map(f64::to_bits).unwrap_or(u64::MAX),
    }
}

/// The raw samples of a matrix answer, per label set.
fn matrix(v: &serde_json::Value) -> BTreeMap<BTreeMap<String, String>, Points> {
    let mut out = BTreeMap::new();
    for r in v["data"]["result"].as_array().unwrap() {
        let pts = r["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                let t = (p[0].as_f64().unwrap() * 1000.0).round() as i64;
                (t, value_bits(p[1].as_str().unwrap()))
            })
            .collect();
        out.insert(labels_map(&r["metric"]), pts);
    }
    out
}

async fn query(base: &str, q: &str, time_ms: i64) -> serde_json::Value {
    let r = reqwest::Client::new()
        .get(format!("{base}/api/v1/query"))
        .query(&[
            ("query", q),
            ("time", &format!("{}", time_ms as f64 / 1000.0)),
        ])
        .send()
        .await
        .unwrap();
    let code = r.status().as_u16();
    let v: serde_json::Value = r.text().await.unwrap().parse().unwrap();
    assert_eq!(code, 200, "{q}: {v}");
    v
}

#[tokio::test(flavor = "multi_thread")]
async fn prometheus_queries_oxeye_through_remote_read() {
    if prometheus_missing() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), Some("")).await;
    let now = now_ms();
    // 100 samples 15s apart plus a 10m gap end about a minute before now
    let t0 = now - 36 * 60_000;
    let mut rng = Lcg(42);
    let a = irregular(&mut rng, t0, 100, 0);
    let b = irregular(&mut rng, t0 + 7, 100, 1);
    let stale_at = now - 120_000;
    let mut gone = vec![
        Sample::new(stale_at - 30_000, 3.0),
        Sample::new(stale_at - 15_000, 4.0),
    ];
    gone.push(Sample::new(stale_at, stale_nan()));
    let written = WriteBatch {
        series: vec![
            series(
                &[("__name__", "rr_metric"), ("job", "rr"), ("k", "a")],
                a.clone(),
            ),
            series(
                &[("__name__", "rr_metric"), ("job", "rr"), ("k", "b")],
                b.clone(),
            ),
            series(&[("__name__", "rr_stale"), ("job", "rr")], gone),
        ],
        metadata: vec![],
    };
    // another tenant holds decoys under the same names
    let decoy = WriteBatch {
        series: vec![
            series(
                &[("__name__", "rr_metric"), ("job", "rr"), ("k", "a")],
                vec![Sample::new(t0 + 1, -1.0)],
            ),
            series(
                &[("__name__", "rr_metric"), ("job", "rr"), ("k", "decoy")],
                vec![Sample::new(t0 + 1, -1.0)],
            ),
        ],
        metadata: vec![],
    };
    for (batch, tenant) in [(&written, None), (&decoy, Some("team-b"))] {
        let body = oxeye_proto::remote_write::encode_v1(batch);
        let ((code, text), _) = post_rw(&s, body, "application/x-protobuf", tenant).await;
        assert_eq!(code, 204, "{text}");
    }

    // (Debian's Prometheus 2.42 does not send remote_read `headers`, so it reads the
    // default tenant)
    let config = format!(
        "global:\n  scrape_interval: 1h\nremote_read:\n  - url: {}/api/v1/read\n    read_recent: true\n",
        s.http
    );
    let prom = start_prometheus(dir.path(), &config, &[]).await;

    // raw samples through a range selector: exactly what was written, bit for bit
    let v = query(&prom.url, "rr_metric[45m]", now).await;
    let got = matrix(&v);
    let want: BTreeMap<_, _> = written.series[..2]
        .iter()
        .map(|s| (labels_of(&s.labels), points(&s.samples)))
        .collect();
    assert_eq!(got, want, "prometheus answered {v}");

    let v = query(&prom.url, "count(rr_metric)", now).await;
    assert_eq!(v["data"]["result"][0]["value"][1], "2", "{v}");
    let v = query(&prom.url, "sum(rr_metric{k=\"a\"})", now).await;
    let last_a = a.last().unwrap().v;
    assert_eq!(
        v["data"]["result"][0]["value"][1].as_str().map(value_bits),
        Some(last_a.to_bits()),
        "{v}"
    );

    // the staleness marker arrives: the series ends at it instead of lingering 5m
    let v = query(&prom.url, "rr_stale", stale_at - 1_000).await;
    assert_eq!(v["data"]["result"][0]["value"][1], "4", "{v}");
    let v = query(&prom.url, "rr_stale", stale_at + 1_000).await;
    assert_eq!(v["data"]["result"], serde_json::json!([]), "{v}");

    // the series API reads remotely too
    let (code, v) = get_json(&format!(
        "{}/api/v1/series?match[]=rr_metric&start={}&end={}",
        prom.url,
        (t0 - 60_000) / 1000,
        now / 1000
    ))
    .await;
    assert_eq!(code, 200, "{v}");
    let mut found: Vec<_> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(labels_map)
        .collect();
    found.sort();
    assert_eq!(found, want.keys().cloned().collect::<Vec<_>>());
}

/// The XOR chunks of a Prometheus block's chunk segment files.
fn block_chunks(snapshot: &Path) -> Vec<Vec<u8>> {
    let mut files: Vec<PathBuf> = Vec::new();
    for block in std::fs::read_dir(snapshot).unwrap() {
        let chunks = block.unwrap().path().join("chunks");
        if let Ok(rd) = std::fs::read_dir(&chunks) {
            files.extend(rd.map(|e| e.unwrap().path()));
        }
    }
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let data = std::fs::read(&f).unwrap();
        assert_eq!(&data[..4], &[0x85, 0xBD, 0x40, 0xDD], "{}", f.display());
        let mut pos = 8;
        while pos < data.len() {
            let (mut len, mut shift) = (0usize, 0);
            loop {
                let b = data[pos];
                pos += 1;
                len |= usize::from(b & 0x7f) << shift;
                if b < 0x80 {
                    break;
                }
                shift += 7;
            }
            if len == 0 {
                break;
            }
            let encoding = data[pos];
            let chunk = &data[pos + 1..pos + 1 + len];
            let crc = u32::from_be_bytes(data[pos + 1 + len..pos + 5 + len].try_into().unwrap());
            // the file's CRC32 (Castagnoli) covers the encoding byte and the data
            assert_eq!(
                rr::crc32c(&data[pos..pos + 1 + len]),
                crc,
                "{}",
                f.display()
            );
            pos += len + 5;
            if encoding == 1 {
                out.push(chunk.to_vec());
            }
        }
    }
    out
}

async fn post_read(
    base: &str,
    req: &pb::ReadRequest,
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let r = reqwest::Client::new()
        .post(format!("{base}/api/v1/read"))
        .header("Content-Type", "application/x-protobuf")
        .header("Content-Encoding", "snappy")
        .header("X-Prometheus-Remote-Read-Version", "0.1.0")
        .body(rr::encode_read_request(req))
        .send()
        .await
        .unwrap();
    let code = r.status().as_u16();
    let headers = r.headers().clone();
    (code, headers, r.bytes().await.unwrap().to_vec())
}

fn pb_labels(labels: &[pb::Label]) -> BTreeMap<String, String> {
    labels
        .iter()
        .map(|l| (l.name.clone(), l.value.clone()))
        .collect()
}

/// Samples per series of a streamed answer; also checks each chunk's time range.
fn streamed_points(body: &[u8]) -> BTreeMap<BTreeMap<String, String>, Points> {
    let mut out: BTreeMap<_, Points> = BTreeMap::new();
    for frame in rr::decode_chunked_responses(body, 50 << 20).unwrap() {
        assert_eq!(frame.query_index, 0);
        for cs in frame.chunked_series {
            let entry = out.entry(pb_labels(&cs.labels)).or_default();
            for c in cs.chunks {
                assert_eq!(c.r#type, pb::ChunkEncoding::Xor as i32);
                let samples = rr::decode_xor_chunk(&c.data).unwrap();
                assert_eq!(samples.first().map(|s| s.t), Some(c.min_time_ms));
                assert_eq!(samples.last().map(|s| s.t), Some(c.max_time_ms));
                entry.extend(points(&samples));
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn streamed_chunks_are_the_chunks_prometheus_writes() {
    if prometheus_missing() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), Some("")).await;
    let prom = start_prometheus(
        dir.path(),
        "global:\n  scrape_interval: 1h\n",
        &[
            "--web.enable-remote-write-receiver",
            "--web.enable-admin-api",
        ],
    )
    .await;
    let now = now_ms();
    let t0 = now - 65 * 60_000;
    let mut rng = Lcg(7);
    let batch = WriteBatch {
        series: (0..3u8)
            .map(|i| {
                let k = i.to_string();
                series(
                    &[("__name__", "cmp_metric"), ("k", k.as_str())],
                    irregular(&mut rng, t0 + i64::from(i), 200, i),
                )
            })
            .collect(),
        metadata: vec![],
    };
    let body = oxeye_proto::remote_write::encode_v1(&batch);
    let ((code, text), _) = post_rw(&s, body.clone(), "application/x-protobuf", None).await;
    assert_eq!(code, 204, "{text}");
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/write", prom.url))
        .header("Content-Type", "application/x-protobuf")
        .header("Content-Encoding", "snappy")
        .header("X-Prometheus-Remote-Write-Version", "0.1.0")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);

    // Prometheus's own chunks, from a snapshot of its head
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/admin/tsdb/snapshot", prom.url))
        .send()
        .await
        .unwrap();
    let v: serde_json::Value = r.text().await.unwrap().parse().unwrap();
    let name = v["data"]["name"].as_str().unwrap_or_else(|| panic!("{v}"));
    let prom_dir = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.join("snapshots").join(name).exists())
        .unwrap();
    let chunks = block_chunks(&prom_dir.join("snapshots").join(name));
    assert!(
        chunks.len() >= 6,
        "only {} chunks in the snapshot",
        chunks.len()
    );
    let mut prom_points = BTreeSet::new();
    for c in &chunks {
        let samples = rr::decode_xor_chunk(c).unwrap();
        assert!(!samples.is_empty());
        let mine = rr::encode_xor_chunk(&samples).unwrap();
        // Prometheus 2.x kept a spare zero byte after byte-aligned writes; otherwise the
        // bytes are the same
        let mut padded = mine.clone();
        padded.push(0);
        assert!(
            *c == mine || *c == padded,
            "chunk of {} samples differs:\nprometheus {c:02x?}\noxeye      {mine:02x?}",
            samples.len()
        );
        prom_points.extend(points(&samples));
    }
    let written: BTreeSet<(i64, u64)> = batch
        .series
        .iter()
        .flat_map(|s| points(&s.samples))
        .collect();
    assert_eq!(prom_points, written);

    // the same remote read request to oxeye and to Prometheus's own endpoint
    let req = pb::ReadRequest {
        queries: vec![pb::Query {
            start_timestamp_ms: t0 - 1,
            end_timestamp_ms: now,
            matchers: vec![pb::LabelMatcher {
                r#type: pb::MatcherType::Eq as i32,
                name: "__name__".into(),
                value: "cmp_metric".into(),
            }],
            hints: None,
        }],
        accepted_response_types: vec![pb::ResponseType::StreamedXorChunks as i32],
    };
    let want: BTreeMap<_, _> = batch
        .series
        .iter()
        .map(|s| (labels_of(&s.labels), points(&s.samples)))
        .collect();
    let (code, headers, body) = post_read(&s.http, &req).await;
    assert_eq!(code, 200, "{}", String::from_utf8_lossy(&body));
    let (pcode, pheaders, pbody) = post_read(&prom.url, &req).await;
    assert_eq!(pcode, 200, "{}", String::from_utf8_lossy(&pbody));
    assert_eq!(headers["content-type"], pheaders["content-type"]);
    assert_eq!(streamed_points(&body), want);
    assert_eq!(streamed_points(&pbody), want);
    // oxeye cuts chunks at 120 samples; one series per frame, frames in label order
    let frames = rr::decode_chunked_responses(&body, 50 << 20).unwrap();
    let order: Vec<_> = frames
        .iter()
        .map(|f| pb_labels(&f.chunked_series[0].labels))
        .collect();
    assert!(order.windows(2).all(|w| w[0] <= w[1]), "{order:?}");
    for f in &frames {
        for c in &f.chunked_series[0].chunks {
            let n = rr::decode_xor_chunk(&c.data).unwrap().len();
            assert!(n <= rr::MAX_SAMPLES_PER_CHUNK);
        }
    }

    // the sampled answers are the same message
    let sampled = pb::ReadRequest {
        accepted_response_types: vec![pb::ResponseType::Samples as i32],
        ..req.clone()
    };
    let (code, headers, body) = post_read(&s.http, &sampled).await;
    let (pcode, pheaders, pbody) = post_read(&prom.url, &sampled).await;
    assert_eq!((code, pcode), (200, 200));
    for h in ["content-type", "content-encoding"] {
        assert_eq!(headers[h], pheaders[h], "{h}");
    }
    let ours = rr::decode_read_response(&body, 1 << 30).unwrap();
    let theirs = rr::decode_read_response(&pbody, 1 << 30).unwrap();
    assert_eq!(ours, theirs);
    assert_eq!(ours.results[0].timeseries.len(), 3);

    // refusals: an unsupported response type and an undecodable body answer 400 on both
    let unsupported = pb::ReadRequest {
        accepted_response_types: vec![9],
        ..req
    };
    for base in [&s.http, &prom.url] {
        let (code, _, body) = post_read(base, &unsupported).await;
        let text = String::from_utf8_lossy(&body).to_string();
        assert_eq!(code, 400, "{base}: {text}");
        assert!(
            text.starts_with("server does not support any of the requested response types"),
            "{base}: {text}"
        );
        let r = reqwest::Client::new()
            .post(format!("{base}/api/v1/read"))
            .body("definitely not snappy")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{base}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn prometheus_federates_from_oxeye() {
    if prometheus_missing() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), Some("")).await;
    let now = now_ms();
    let batch = WriteBatch {
        series: vec![
            series(
                &[("__name__", "fed_metric"), ("job", "fed"), ("k", "a")],
                vec![
                    Sample::new(now - 20_000, 1.5),
                    Sample::new(now - 10_000, 2.5),
                ],
            ),
            series(
                &[
                    ("__name__", "fed_metric"),
                    ("instance", "h:1"),
                    ("job", "fed"),
                    ("k", "b"),
                ],
                vec![Sample::new(now - 5_000, -3e-7)],
            ),
            // older than the 5m lookback
            series(
                &[("__name__", "fed_old"), ("job", "fed")],
                vec![Sample::new(now - 400_000, 1.0)],
            ),
            // ended by a staleness marker
            series(
                &[("__name__", "fed_gone"), ("job", "fed")],
                vec![
                    Sample::new(now - 9_000, 1.0),
                    Sample::new(now - 8_000, stale_nan()),
                ],
            ),
            // not selected
            series(
                &[("__name__", "fed_metric"), ("job", "other")],
                vec![Sample::new(now - 5_000, 9.0)],
            ),
        ],
        metadata: vec![],
    };
    let body = oxeye_proto::remote_write::encode_v1(&batch);
    let ((code, text), _) = post_rw(&s, body, "application/x-protobuf", None).await;
    assert_eq!(code, 204, "{text}");

    let addr = s.http.trim_start_matches("http://");
    let config = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: federate\n    honor_labels: true\n    metrics_path: /federate\n    params:\n      'match[]': ['{{job=\"fed\"}}']\n    static_configs:\n      - targets: ['{addr}']\n"
    );
    let prom = start_prometheus(dir.path(), &config, &[]).await;

    let deadline = Instant::now() + Duration::from_secs(60);
    let got = loop {
        let v = query(&prom.url, "{job=\"fed\"}[10m]", now_ms()).await;
        let got = matrix(&v);
        if got.len() >= 2 || Instant::now() > deadline {
            break got;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let key = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let want: BTreeMap<_, _> = [
        (
            key(&[("__name__", "fed_metric"), ("job", "fed"), ("k", "a")]),
            vec![(now - 10_000, 2.5f64.to_bits())],
        ),
        (
            key(&[
                ("__name__", "fed_metric"),
                ("instance", "h:1"),
                ("job", "fed"),
                ("k", "b"),
            ]),
            vec![(now - 5_000, (-3e-7f64).to_bits())],
        ),
    ]
    .into_iter()
    .collect();
    assert_eq!(got, want);
    let v = query(&prom.url, "up{job=\"federate\"}", now_ms()).await;
    assert_eq!(v["data"]["result"][0]["value"][1], "1", "{v}");

    // Prometheus federating the same data answers the same text
    let twin = start_prometheus(
        dir.path(),
        "global:\n  scrape_interval: 1h\n",
        &["--web.enable-remote-write-receiver"],
    )
    .await;
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/write", twin.url))
        .header("Content-Type", "application/x-protobuf")
        .header("Content-Encoding", "snappy")
        .header("X-Prometheus-Remote-Write-Version", "0.1.0")
        .body(oxeye_proto::remote_write::encode_v1(&batch))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    for selectors in [
        &["{job=\"fed\"}"][..],
        &["fed_metric", "{k=\"b\"}", "fed_gone"][..],
        &["nothing_here"][..],
    ] {
        let params: Vec<(&str, &str)> = selectors.iter().map(|m| ("match[]", *m)).collect();
        let mut bodies = Vec::new();
        for base in [&s.http, &twin.url] {
            let r = reqwest::Client::new()
                .get(format!("{base}/federate"))
                .query(&params)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{base}");
            let ct = r.headers()["content-type"].to_str().unwrap().to_string();
            bodies.push((ct, r.text().await.unwrap()));
        }
        assert_eq!(bodies[0], bodies[1], "{selectors:?}");
        assert_eq!(
            bodies[0].1.contains("fed_metric{"),
            selectors[0] != "nothing_here",
            "{selectors:?}: {}",
            bodies[0].1
        );
    }
    let r = reqwest::Client::new()
        .get(format!("{}/federate?match[]=%7B", s.http))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}
