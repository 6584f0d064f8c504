//! Measurements behind the encoding and filter choices (printed with `--nocapture`).
//!
//! The corpus is synthetic but shaped like real logs: nginx access lines, JSON app logs
//! with trace ids (also sent as structured metadata, as OTLP ingest does), logfmt lines
//! and multi-line Java stack traces, one stream each, interleaved in time in the raw
//! file. `OXEYE_LOGS_MEASURE_MB` scales it (default 1 MiB, quick in debug builds).

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use oxeye_core::logs::LogEntry;

    use crate::chunk::{encode_chunk, encode_payload};
    use crate::codec::{put_bytes, put_ivarint, put_uvarint};
    use crate::filter::{FilterParams, LineFilter};

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n.max(1)
        }
        fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
            xs.get(self.below(xs.len() as u64) as usize)
                .copied()
                .unwrap_or("")
        }
    }

    const PATHS: &[&str] = &[
        "/api/v1/users",
        "/api/v1/orders",
        "/static/app.js",
        "/healthz",
        "/api/v1/cart/items",
        "/login",
    ];
    const AGENTS: &[&str] = &[
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
        "curl/8.4.0",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
        "Prometheus/2.48.0",
    ];
    const MSGS: &[&str] = &[
        "order placed",
        "payment authorized",
        "cart updated",
        "user logged in",
        "inventory reserved",
        "email queued",
    ];
    const LEVELS: &[&str] = &["info", "info", "info", "debug", "warn", "error"];

    /// (stream index, entry) in time order.
    pub(crate) fn corpus(bytes: usize) -> (Vec<Vec<LogEntry>>, Vec<u8>, Vec<String>) {
        let mut r = Rng(0x2545_F491_4F6C_DD1D);
        let mut streams: Vec<Vec<LogEntry>> = vec![Vec::new(); 4];
        let mut raw = Vec::new();
        let mut ids = Vec::new();
        // OXEYE_LOGS_MEASURE_NS=1: nanosecond timestamps (receive times) instead
        let ns_jitter = std::env::var("OXEYE_LOGS_MEASURE_NS").is_ok();
        let mut ts: i64 = 1_763_800_000_000_000_000;
        // millisecond timestamps, as parsed from the lines
        while raw.len() < bytes {
            ts += 1_000_000 * (1 + r.below(3) as i64);
            if ns_jitter {
                ts += r.below(1_000_000) as i64;
            }
            let secs = ts / 1_000_000_000;
            let (h, m, s) = ((secs / 3600) % 24, (secs / 60) % 60, secs % 60);
            let ms = (ts / 1_000_000) % 1000;
            let k = r.below(10);
            let (si, line, md) = if k < 4 {
                let ip = format!("10.{}.{}.{}", r.below(4), r.below(256), r.below(256));
                let status = [200, 200, 200, 200, 201, 304, 404, 500][r.below(8) as usize];
                let line = format!(
                    "{ip} - - [22/Nov/2026:{h:02}:{m:02}:{s:02} +0000] \"GET {}/{}?page={} HTTP/1.1\" {status} {} \"-\" \"{}\"",
                    r.pick(PATHS),
                    r.below(100_000),
                    r.below(20),
                    r.below(50_000),
                    r.pick(AGENTS)
                );
                (0, line, vec![])
            } else if k < 7 {
                let trace = format!("{:016x}{:016x}", r.next(), r.next());
                let span = format!("{:016x}", r.next());
                ids.push(trace.clone());
                let line = format!(
                    "{{\"ts\":\"2026-11-22T{h:02}:{m:02}:{s:02}.{ms:03}Z\",\"level\":\"{}\",\"service\":\"checkout\",\"msg\":\"{}\",\"order_id\":{},\"trace_id\":\"{trace}\",\"span_id\":\"{span}\",\"duration_ms\":{}.{}}}",
                    r.pick(LEVELS),
                    r.pick(MSGS),
                    r.below(10_000_000),
                    r.below(500),
                    r.below(10)
                );
                (
                    1,
                    line,
                    vec![
                        ("trace_id".to_string(), trace),
                        ("span_id".to_string(), span),
                    ],
                )
            } else if k < 9 {
                let line = format!(
                    "ts=2026-11-22T{h:02}:{m:02}:{s:02}.{ms:03}Z level={} caller=store/db.go:{} msg=\"query done\" table={} rows={} elapsed={}.{}ms user=u{}",
                    r.pick(LEVELS),
                    100 + r.below(300),
                    r.pick(&["users", "orders", "items", "sessions"]),
                    r.below(500),
                    r.below(50),
                    r.below(10),
                    r.below(5000)
                );
                (2, line, vec![])
            } else {
                let mut line = format!(
                    "2026-11-22 {h:02}:{m:02}:{s:02}.{ms:03} ERROR [worker-{}] c.e.shop.OrderService - order {} failed\njava.lang.IllegalStateException: inventory mismatch for sku {}",
                    r.below(16),
                    r.below(10_000_000),
                    r.below(100_000)
                );
                for f in 0..(6 + r.below(10)) {
                    line.push_str(&format!(
                        "\n\tat com.example.shop.{}.{}({}.java:{})",
                        r.pick(&[
                            "OrderService",
                            "InventoryClient",
                            "Repository",
                            "HttpHandler"
                        ]),
                        r.pick(&["place", "reserve", "load", "handle", "apply"]),
                        r.pick(&[
                            "OrderService",
                            "InventoryClient",
                            "Repository",
                            "HttpHandler"
                        ]),
                        20 + f * 7 + r.below(5)
                    ));
                }
                (3, line, vec![])
            };
            raw.extend_from_slice(line.as_bytes());
            raw.push(b'\n');
            if let Some(s) = streams.get_mut(si) {
                s.push(LogEntry {
                    ts_ns: ts,
                    line,
                    metadata: md,
                });
            }
        }
        (streams, raw, ids)
    }

    fn encode_rows(entries: &[LogEntry], buf: &mut Vec<u8>) {
        put_uvarint(buf, entries.len() as u64);
        for e in entries {
            put_ivarint(buf, e.ts_ns);
            put_bytes(buf, e.line.as_bytes());
            put_uvarint(buf, e.metadata.len() as u64);
            for (n, v) in &e.metadata {
                put_bytes(buf, n.as_bytes());
                put_bytes(buf, v.as_bytes());
            }
        }
    }

    /// Splits each stream into runs of about `target` line bytes.
    fn chunked(streams: &[Vec<LogEntry>], target: usize) -> Vec<&[LogEntry]> {
        let mut out = Vec::new();
        for s in streams {
            let mut start = 0;
            let mut bytes = 0;
            for (i, e) in s.iter().enumerate() {
                bytes += e.line.len();
                if bytes >= target {
                    out.push(&s[start..=i]);
                    start = i + 1;
                    bytes = 0;
                }
            }
            if start < s.len() {
                out.push(&s[start..]);
            }
        }
        out
    }

    fn mb() -> usize {
        std::env::var("OXEYE_LOGS_MEASURE_MB")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1)
    }

    #[test]
    fn print_encoding_figures() {
        let (streams, raw, _) = corpus(mb() << 20);
        let entries: usize = streams.iter().map(Vec::len).sum();
        let z3 = zstd::bulk::compress(&raw, 3).unwrap().len();
        println!(
            "corpus: {} bytes raw, {entries} entries, zstd -3 of the raw file {z3} bytes",
            raw.len()
        );
        let target = 1536 << 10;
        // level 19 is slow in debug builds: only with an explicit corpus size
        let slow = std::env::var("OXEYE_LOGS_MEASURE_MB").is_ok();
        let levels: &[i32] = if slow {
            &[1, 3, 6, 9, 10, 11, 12, 15, 19]
        } else {
            &[1, 3, 9, 12]
        };
        for &level in levels {
            for columnar in [false, true] {
                let t = Instant::now();
                let mut stored = 0;
                for c in chunked(&streams, target) {
                    let mut buf = Vec::new();
                    if columnar {
                        encode_payload(c, &mut buf);
                    } else {
                        encode_rows(c, &mut buf);
                    }
                    stored += zstd::bulk::compress(&buf, level).unwrap().len();
                }
                let secs = t.elapsed().as_secs_f64();
                println!(
                    "level {level:2} {:8}: {stored:9} bytes, {:.3}x zstd -3, {:.2} bytes/entry, {:.1} MB/s",
                    if columnar { "columnar" } else { "rows" },
                    stored as f64 / z3 as f64,
                    stored as f64 / entries as f64,
                    raw.len() as f64 / secs / 1e6
                );
            }
        }
        // chunk size at the default level
        if slow {
            for kib in [512usize, 1536, 3072, 6144] {
                let level = crate::LogStoreOptions::default().zstd_level;
                let stored: usize = chunked(&streams, kib << 10)
                    .iter()
                    .map(|c| encode_chunk(c, level).data.len())
                    .sum();
                println!(
                    "{kib:5} KiB chunks at level {level}: {stored} bytes, {:.3}x zstd -3",
                    stored as f64 / z3 as f64
                );
            }
        }
        // the store's own chunks at its defaults: data plus filters, against the target
        let opts = crate::LogStoreOptions::default();
        let mut data = 0;
        let mut filters = 0;
        for c in chunked(&streams, opts.chunk_target_bytes) {
            let e = encode_chunk(c, opts.zstd_level);
            data += e.data.len();
            filters += e.filter.encoded_len();
        }
        println!(
            "defaults (level {}, {} KiB chunks): data {data} + filters {filters} = {:.3}x zstd -3",
            opts.zstd_level,
            opts.chunk_target_bytes >> 10,
            (data + filters) as f64 / z3 as f64
        );
        assert!(
            data < z3,
            "chunks must compress better than the raw file at zstd -3"
        );
    }

    #[test]
    fn print_filter_figures() {
        let (streams, _, ids) = corpus(mb() << 20);
        let target = 256 << 10;
        let chunks = chunked(&streams, target);
        let data: usize = chunks
            .iter()
            .map(|c| {
                let mut b = Vec::new();
                encode_payload(c, &mut b);
                zstd::bulk::compress(&b, 9).map(|z| z.len()).unwrap_or(0)
            })
            .sum();
        println!(
            "{} chunks of ~{} KiB, {data} bytes compressed",
            chunks.len(),
            target >> 10
        );
        for (gram, sample_div, bits, alnum_only) in [
            (8, 4, 4, false),
            (8, 4, 2, false),
            (8, 8, 4, false),
            (6, 4, 4, false),
            (8, 2, 4, false),
            (8, 4, 4, true),
            (8, 4, 3, true),
            (8, 2, 3, true),
            (8, 2, 2, true),
        ] {
            let params = FilterParams {
                gram,
                sample_div,
                bits_per_gram: bits,
                alnum_only,
            };
            let t = Instant::now();
            let filters: Vec<LineFilter> = chunks
                .iter()
                .map(|c| LineFilter::build_with(params, c.iter().map(|e| e.line.as_bytes())))
                .collect();
            let secs = t.elapsed().as_secs_f64();
            let size: usize = filters.iter().map(LineFilter::encoded_len).sum();
            // present needles: each id is in one chunk; count chunks read per needle
            let sample: Vec<&String> = ids.iter().step_by((ids.len() / 200).max(1)).collect();
            let mut read = 0usize;
            for id in &sample {
                read += filters
                    .iter()
                    .filter(|f| f.may_contain(id.as_bytes()))
                    .count();
            }
            let mut absent_read = 0usize;
            for i in 0..200u64 {
                let id = format!("{:016x}{:016x}", i.wrapping_mul(0x9E37_79B9_7F4A_7C15), !i);
                absent_read += filters
                    .iter()
                    .filter(|f| f.may_contain(id.as_bytes()))
                    .count();
            }
            let n = chunks.len() as f64;
            println!(
                "gram {gram} sample 1/{sample_div} {bits} bits alnum-only {alnum_only}: {size} bytes ({:.1}% of data), present id reads {:.2} chunks ({:.1}% skipped), absent id reads {:.3} ({:.2}% skipped), build {:.1} MB/s",
                size as f64 * 100.0 / data as f64,
                read as f64 / sample.len() as f64,
                100.0 * (1.0 - read as f64 / sample.len() as f64 / n),
                absent_read as f64 / 200.0,
                100.0 * (1.0 - absent_read as f64 / 200.0 / n),
                chunks
                    .iter()
                    .map(|c| c.iter().map(|e| e.line.len()).sum::<usize>())
                    .sum::<usize>() as f64
                    / secs
                    / 1e6
            );
            // a needle is never wrongly ruled out
            for id in &sample {
                assert!(filters.iter().any(|f| f.may_contain(id.as_bytes())));
            }
        }
    }

    /// End to end through the store: ingest rate, stored bytes against `zstd -3` of the
    /// raw file, and needle searches against `rg` over the raw file (when installed).
    #[test]
    fn print_store_figures() {
        use std::ops::ControlFlow;
        use std::sync::Arc;

        use oxeye_core::logs::{
            Direction, LogAppender, LogBatch, LogQueryable, LogSelect, LogStream,
        };
        use oxeye_core::{Labels, ManualClock, MatchOp, Matcher, TenantId};

        use crate::{LogStore, LogStoreOptions};

        let (streams, raw, ids) = corpus(mb() << 20);
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(1_763_800_000_000));
        let mut opts = LogStoreOptions::default();
        opts.wal.sync = oxeye_storage::wal::SyncPolicy::Never;
        let store = LogStore::open(dir.path(), opts, clock).unwrap();
        let t = TenantId::new("bench").unwrap();
        let names = ["nginx", "app", "db", "worker"];
        let t0 = Instant::now();
        for (si, s) in streams.iter().enumerate() {
            for part in s.chunks(1000) {
                let b = LogBatch {
                    streams: vec![LogStream {
                        labels: Labels::from_pairs(&[("job", names[si])]),
                        entries: part.to_vec(),
                    }],
                };
                store.append_logs(&t, b).unwrap();
            }
        }
        let append = t0.elapsed().as_secs_f64();
        store.flush().unwrap();
        let ingest = t0.elapsed().as_secs_f64();
        let z3 = zstd::bulk::compress(&raw, 3).unwrap().len();
        let st = store.stats();
        println!(
            "store: appends {:.1} MB/s, with the flush {:.1} MB/s (one thread), {} chunk files, {} chunks, {} bytes = {:.3}x zstd -3 ({z3})",
            raw.len() as f64 / append / 1e6,
            raw.len() as f64 / ingest / 1e6,
            st.chunk_files,
            st.chunks,
            st.disk_bytes,
            st.disk_bytes as f64 / z3 as f64
        );
        let raw_path = dir.path().join("raw.log");
        std::fs::write(&raw_path, &raw).unwrap();
        let all_streams = [Matcher::new(MatchOp::Regex, "job", ".+").unwrap()];
        let needles: Vec<&String> = ids
            .iter()
            .step_by((ids.len() / 20).max(1))
            .take(20)
            .collect();
        let before = store.stats();
        let t0 = Instant::now();
        for id in &needles {
            let sel = LogSelect {
                start_ns: i64::MIN,
                end_ns: i64::MAX,
                line_contains: vec![(*id).clone()],
            };
            let mut hits = 0;
            for s in store.select_logs(&t, &all_streams, &sel).unwrap() {
                s.data
                    .for_each_chunk(Direction::Backward, &mut |es| {
                        hits += es.iter().filter(|e| e.line.contains(id.as_str())).count();
                        ControlFlow::Continue(())
                    })
                    .unwrap();
            }
            assert_eq!(hits, 1, "{id}");
        }
        let per = t0.elapsed().as_secs_f64() / needles.len() as f64;
        let after = store.stats();
        let decoded = (after.chunks_decoded - before.chunks_decoded) as f64 / needles.len() as f64;
        println!(
            "needle search: {:.2} ms each, {decoded:.2} of {} chunks decoded per needle",
            per * 1e3,
            st.chunks
        );
        if let Some(id) = needles.first() {
            let t0 = Instant::now();
            let out = std::process::Command::new("rg")
                .arg("-c")
                .arg(id.as_str())
                .arg(&raw_path)
                .output();
            if let Ok(out) = out {
                println!(
                    "rg over the raw file: {:.2} ms ({})",
                    t0.elapsed().as_secs_f64() * 1e3,
                    String::from_utf8_lossy(&out.stdout).trim()
                );
            }
        }
    }
}
