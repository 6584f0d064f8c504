//! `oxeye-bench logs`: log ingest through the Loki push API, stored bytes against
//! `zstd -3` of the raw text, and query latency against `rg` over the raw file.
//!
//! 1. A deterministic corpus ([`corpus`]) of nginx, JSON, logfmt, Java and Python lines
//!    (stack traces one entry each) is generated once: the raw file (each entry followed
//!    by a newline, multi-line entries with their own newlines, as the applications wrote
//!    them, all streams interleaved in time order) and the push bodies (snappy protobuf
//!    of about `--batch-kb` of lines each, cut across streams as Promtail batches), so
//!    that only the server's work is timed.
//! 2. A release `oxeye serve` is started with the tenant rate limit raised; `--concurrency`
//!    clients push the bodies. Ingest MB/s is raw line bytes over wall time, MB/s per core
//!    raw line bytes over the server's CPU seconds (/proc).
//! 3. After `POST /api/v1/admin/tsdb/flush`, the size of the `logs` directory is compared
//!    with the size of `zstd -3` of the raw file.
//! 4. The median of `--runs` runs (after one warm-up) of: a needle search for one trace
//!    id over the whole range, `| json | status >= 500` (limit 100, and its count), and
//!    `sum by (level) (count_over_time(...[5m]))` over the corpus via `query_range`; the
//!    needle is compared with `rg -F` over the raw file. Every answer is checked against
//!    what the generator wrote.

mod corpus;

use std::collections::BTreeMap;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use oxeye_core::logs::LogEntry;
use oxeye_storage::block::dir_size;
use serde_json::Value;

use crate::proc::{Server, free_port, wait_ready};
use corpus::{Corpus, LEVELS, Truth};

#[derive(Args, Debug)]
pub struct LogsArgs {
    /// Raw corpus size in MiB (the issue asks for at least 1024; smaller for a quick run).
    #[arg(long, default_value_t = 1024)]
    raw_mb: u64,
    /// Hours the corpus spans (it ends ten minutes before now).
    #[arg(long, default_value_t = 4)]
    hours: i64,
    /// Generator seed.
    #[arg(long, default_value_t = 0x5eed_1095)]
    seed: u64,
    /// Raw line bytes per push request, in KiB.
    #[arg(long, default_value_t = 1024)]
    batch_kb: usize,
    /// Concurrent push clients.
    #[arg(long, default_value_t = 3)]
    concurrency: usize,
    /// Timed runs of each query (the median is reported).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// The oxeye binary to measure (build it with `cargo build --release` first).
    #[arg(long, default_value = "target/release/oxeye")]
    oxeye_bin: PathBuf,
    /// Entry times with nanosecond jitter (default: the millisecond times the lines print,
    /// as an agent that parses the line's time sends them).
    #[arg(long)]
    ns_timestamps: bool,
    /// Where the corpus and the data directory go (a temporary directory by default).
    #[arg(long)]
    work_dir: Option<PathBuf>,
}

const TENANT: &str = "bench";

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / 1_048_576.0
}

/// Generates the raw file and the push bodies (u32 little-endian length + body).
fn generate(args: &LogsArgs, raw: &Path, bodies: &Path) -> anyhow::Result<(Corpus, u64)> {
    let span_ns = args.hours.max(1) * 3_600_000_000_000;
    let end_ns = now_ns() - 600_000_000_000;
    let mut c = Corpus::new(args.seed, args.raw_mb.max(1) << 20, span_ns, end_ns);
    c.ns_timestamps = args.ns_timestamps;
    let mut raw_out = BufWriter::with_capacity(1 << 20, std::fs::File::create(raw)?);
    let mut body_out = BufWriter::with_capacity(1 << 20, std::fs::File::create(bodies)?);
    let batch_bytes = args.batch_kb.max(1) << 10;
    let mut pending: BTreeMap<usize, Vec<LogEntry>> = BTreeMap::new();
    let mut pending_bytes = 0usize;
    let mut requests = 0u64;
    let mut flush = |pending: &mut BTreeMap<usize, Vec<LogEntry>>,
                     streams: &[Vec<(String, String)>]|
     -> anyhow::Result<()> {
        let batch: Vec<(Vec<(String, String)>, Vec<LogEntry>)> = std::mem::take(pending)
            .into_iter()
            .map(|(s, entries)| (streams[s].clone(), entries))
            .collect();
        let body = oxeye_proto::loki::encode_push(&batch);
        body_out.write_all(&(body.len() as u32).to_le_bytes())?;
        body_out.write_all(&body)?;
        requests += 1;
        Ok(())
    };
    while let Some(e) = c.next_entry() {
        raw_out.write_all(e.line.as_bytes())?;
        raw_out.write_all(b"\n")?;
        pending_bytes += e.line.len();
        pending
            .entry(e.stream)
            .or_default()
            .push(LogEntry::new(e.ts_ns, e.line));
        if pending_bytes >= batch_bytes {
            flush(&mut pending, &c.streams)?;
            pending_bytes = 0;
        }
    }
    if !pending.is_empty() {
        flush(&mut pending, &c.streams)?;
    }
    raw_out.flush()?;
    body_out.flush()?;
    Ok((c, requests))
}

async fn start(args: &LogsArgs, dir: &Path) -> anyhow::Result<(Server, String)> {
    let http = free_port()?;
    let cfg = dir.join("oxeye.yml");
    std::fs::write(&cfg, "scrape_configs: []\n")?;
    let server = Server::spawn(
        "oxeye",
        Command::new(&args.oxeye_bin)
            .arg("serve")
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!("--storage.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{http}"))
            .arg(format!(
                "--otlp.grpc-listen-address=127.0.0.1:{}",
                free_port()?
            ))
            .arg(format!(
                "--otlp.http-listen-address=127.0.0.1:{}",
                free_port()?
            ))
            .arg("--logs.ingestion-rate-mb=1000000")
            .arg("--logs.ingestion-burst-size-mb=1000000"),
    )?;
    let base = format!("http://127.0.0.1:{http}");
    wait_ready(
        &reqwest::Client::new(),
        &format!("{base}/-/ready"),
        Duration::from_secs(120),
    )
    .await?;
    Ok((server, base))
}

/// Pushes every body of `path` with `concurrency` clients; returns wall seconds.
async fn push_all(base: &str, path: &Path, concurrency: usize) -> anyhow::Result<f64> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Vec<u8>>(concurrency * 4);
    let path = path.to_path_buf();
    let reader = std::thread::spawn(move || -> anyhow::Result<()> {
        let mut r = BufReader::with_capacity(1 << 20, std::fs::File::open(path)?);
        loop {
            let mut len = [0u8; 4];
            match r.read_exact(&mut len) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
                Err(e) => return Err(e.into()),
            }
            let mut body = vec![0u8; u32::from_le_bytes(len) as usize];
            r.read_exact(&mut body)?;
            if tx.blocking_send(body).is_err() {
                return Ok(());
            }
        }
    });
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    let url = format!("{base}/loki/api/v1/push");
    let t = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (rx, client, url) = (rx.clone(), client.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let Some(body) = rx.lock().await.recv().await else {
                    return anyhow::Ok(());
                };
                let r = client
                    .post(&url)
                    .header("Content-Type", "application/x-protobuf")
                    .header("X-Scope-OrgID", TENANT)
                    .body(body)
                    .send()
                    .await?;
                if r.status().as_u16() != 204 {
                    bail!("push refused: {} {}", r.status(), r.text().await?);
                }
            }
        }));
    }
    for task in tasks {
        task.await??;
    }
    let secs = t.elapsed().as_secs_f64();
    reader
        .join()
        .map_err(|_| anyhow::anyhow!("body reader panicked"))??;
    Ok(secs)
}

/// One Loki API GET; the JSON answer and the seconds it took.
async fn loki_get(
    client: &reqwest::Client,
    base: &str,
    path: &str,
    params: &[(&str, String)],
) -> anyhow::Result<(Value, f64)> {
    let t = Instant::now();
    let r = client
        .get(format!("{base}{path}"))
        .header("X-Scope-OrgID", TENANT)
        .query(params)
        .send()
        .await?;
    let status = r.status();
    let body = r.bytes().await?;
    let secs = t.elapsed().as_secs_f64();
    if !status.is_success() {
        bail!(
            "{path} {params:?}: {status} {}",
            String::from_utf8_lossy(&body)
        );
    }
    Ok((serde_json::from_slice(&body)?, secs))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Runs `f` once to warm up, then `runs` times; the median seconds and the last answer.
async fn timed<F, Fut, T>(runs: usize, mut f: F) -> anyhow::Result<(f64, T)>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<(T, f64)>>,
{
    let (mut last, _) = f().await?;
    let mut times = Vec::new();
    for _ in 0..runs.max(1) {
        let (v, secs) = f().await?;
        times.push(secs);
        last = v;
    }
    Ok((median(times), last))
}

fn stream_entries(v: &Value) -> usize {
    v["data"]["result"]
        .as_array()
        .map(|streams| {
            streams
                .iter()
                .map(|s| s["values"].as_array().map_or(0, Vec::len))
                .sum()
        })
        .unwrap_or(0)
}

/// Times `rg -F needle raw`; `None` when rg is not installed.
fn time_rg(needle: &str, raw: &Path, runs: usize) -> anyhow::Result<Option<(f64, usize)>> {
    if Command::new("rg").arg("--version").output().is_err() {
        return Ok(None);
    }
    let mut times = Vec::new();
    let mut found = 0;
    for i in 0..=runs.max(1) {
        let t = Instant::now();
        let out = Command::new("rg").arg("-F").arg(needle).arg(raw).output()?;
        let secs = t.elapsed().as_secs_f64();
        found = out
            .stdout
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .count();
        if i > 0 {
            times.push(secs);
        }
    }
    Ok(Some((median(times), found)))
}

/// The size of `zstd -3` of `raw`.
fn zstd_size(raw: &Path) -> anyhow::Result<u64> {
    let out = raw.with_extension("zst");
    let status = Command::new("zstd")
        .args(["-3", "-q", "-f", "-o"])
        .arg(&out)
        .arg(raw)
        .status()
        .context("running zstd (install the zstd package)")?;
    if !status.success() {
        bail!("zstd failed: {status}");
    }
    let size = std::fs::metadata(&out)?.len();
    let _ = std::fs::remove_file(&out);
    Ok(size)
}

pub fn run(args: LogsArgs) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(run_async(args))
}

async fn run_async(args: LogsArgs) -> anyhow::Result<()> {
    let root = match &args.work_dir {
        Some(p) => p.clone(),
        None => std::env::temp_dir().join(format!("oxeye-bench-logs-{}", std::process::id())),
    };
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root)?;
    let raw = root.join("corpus.log");
    let bodies = root.join("push.bodies");

    let t = Instant::now();
    let (corpus, requests) = generate(&args, &raw, &bodies)?;
    let truth: &Truth = &corpus.truth;
    let raw_file = std::fs::metadata(&raw)?.len();
    println!(
        "corpus: {} entries, {:.1} MiB of lines ({:.1} MiB raw file), {} streams, {} push requests of ~{} KiB, generated in {:.1}s",
        truth.entries,
        mib(truth.bytes),
        mib(raw_file),
        corpus.streams.len(),
        requests,
        args.batch_kb,
        t.elapsed().as_secs_f64()
    );

    let (mut server, base) = start(&args, &root).await?;
    let cpu0 = server.cpu_seconds()?;
    let secs = push_all(&base, &bodies, args.concurrency).await?;
    let cpu = server.cpu_seconds()? - cpu0;
    let mbs = mib(truth.bytes) / secs;
    println!(
        "ingest: {:.1} MiB/s wall ({:.1}s, {} clients), {:.1} MiB/s per core ({:.1} CPU s), peak RSS {:.0} MiB",
        mbs,
        secs,
        args.concurrency,
        mib(truth.bytes) / cpu.max(1e-9),
        cpu,
        mib(server.peak_rss().unwrap_or(0))
    );

    let client = reqwest::Client::new();
    let r = client
        .post(format!("{base}/api/v1/admin/tsdb/flush"))
        .send()
        .await?;
    if !r.status().is_success() {
        bail!("flush failed: {} {}", r.status(), r.text().await?);
    }
    // sealing compresses chunks again when heads are cut: count that work too
    let cpu_all = server.cpu_seconds()? - cpu0;
    println!(
        "ingest with the flush that seals every chunk: {:.1} MiB/s per core ({:.1} CPU s)",
        mib(truth.bytes) / cpu_all.max(1e-9),
        cpu_all
    );
    let stored = dir_size(&root.join("data").join("logs"))?;
    let zstd = zstd_size(&raw)?;
    println!(
        "storage: logs dir {:.1} MiB, zstd -3 of the raw file {:.1} MiB: ratio {:.2} (target <= 0.8), {:.2} bytes per raw byte",
        mib(stored),
        mib(zstd),
        stored as f64 / zstd as f64,
        stored as f64 / raw_file as f64
    );

    let start = corpus.start_ns.to_string();
    let end = (now_ns() + 60_000_000_000).to_string();
    let all = r#"{app=~".+"}"#;

    // needle: one trace id over the whole range
    let needle_q = format!(r#"{all} |= "{}""#, truth.needle);
    let (needle_secs, answer) = timed(args.runs, || {
        let params = vec![
            ("query", needle_q.clone()),
            ("start", start.clone()),
            ("end", end.clone()),
            ("limit", "100".to_string()),
        ];
        let (client, base) = (client.clone(), base.clone());
        async move { loki_get(&client, &base, "/loki/api/v1/query_range", &params).await }
    })
    .await?;
    let found = stream_entries(&answer);
    if found != 1 {
        bail!("needle query found {found} lines, want 1: {answer}");
    }
    let rg = time_rg(&truth.needle, &raw, args.runs)?;
    match rg {
        Some((rg_secs, rg_found)) => println!(
            "needle: {:.1} ms ({} line); rg -F over the raw file {:.1} ms ({} line): {:.1}x faster (target >= 10x)",
            needle_secs * 1e3,
            found,
            rg_secs * 1e3,
            rg_found,
            rg_secs / needle_secs
        ),
        None => println!(
            "needle: {:.1} ms ({found} line); rg is not installed (apt-get install ripgrep): no comparison",
            needle_secs * 1e3
        ),
    }

    // | json | status >= 500, limit 100, and its count over the corpus
    let json_q = r#"{app="checkout"} | json | status >= 500"#.to_string();
    let (json_secs, answer) = timed(args.runs, || {
        let params = vec![
            ("query", json_q.clone()),
            ("start", start.clone()),
            ("end", end.clone()),
            ("limit", "100".to_string()),
        ];
        let (client, base) = (client.clone(), base.clone());
        async move { loki_get(&client, &base, "/loki/api/v1/query_range", &params).await }
    })
    .await?;
    let got = stream_entries(&answer);
    let want = truth.checkout_5xx.min(100) as usize;
    if got != want {
        bail!("json query answered {got} lines, want {want}");
    }
    let range_s = (now_ns() + 60_000_000_000 - corpus.start_ns) / 1_000_000_000;
    // the count extracts only `status`, so the engine's per-query series limit, applied
    // before `sum`, is not hit by the per-request fields of every line
    let count_q = format!(
        r#"sum(count_over_time({{app="checkout"}} | json status="status" | status >= 500 [{range_s}s]))"#
    );
    let (count_secs, answer) = timed(args.runs, || {
        let params = vec![("query", count_q.clone()), ("time", end.clone())];
        let (client, base) = (client.clone(), base.clone());
        async move { loki_get(&client, &base, "/loki/api/v1/query", &params).await }
    })
    .await?;
    let count: f64 = answer["data"]["result"][0]["value"][1]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or(-1.0);
    if count as u64 != truth.checkout_5xx {
        bail!(
            "count answered {count}, want {}: {answer}",
            truth.checkout_5xx
        );
    }
    println!(
        "json | status >= 500: {:.1} ms for the first 100 lines, {:.1} ms to count all {}",
        json_secs * 1e3,
        count_secs * 1e3,
        truth.checkout_5xx
    );

    // sum by (level) (count_over_time(...[5m])) over the corpus
    let level_q = format!("sum by (level) (count_over_time({all}[5m]))");
    let (level_secs, answer) = timed(args.runs, || {
        let params = vec![
            ("query", level_q.clone()),
            ("start", start.clone()),
            ("end", end.clone()),
            ("step", "300".to_string()),
        ];
        let (client, base) = (client.clone(), base.clone());
        async move { loki_get(&client, &base, "/loki/api/v1/query_range", &params).await }
    })
    .await?;
    let mut per_level = [0u64; 3];
    for series in answer["data"]["result"].as_array().into_iter().flatten() {
        let level = series["metric"]["level"].as_str().unwrap_or_default();
        let total: f64 = series["values"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p[1].as_str().and_then(|v| v.parse::<f64>().ok()))
            .sum();
        if let Some(i) = LEVELS.iter().position(|l| *l == level) {
            per_level[i] = total as u64;
        }
    }
    if per_level != truth.per_level {
        bail!(
            "sum by (level) answered {per_level:?}, want {:?}",
            truth.per_level
        );
    }
    println!(
        "sum by (level) (count_over_time({all}[5m])) over {}h: {:.1} ms ({} entries counted)",
        args.hours,
        level_secs * 1e3,
        truth.entries
    );

    server.stop(Duration::from_secs(60));
    if args.work_dir.is_none() {
        let _ = std::fs::remove_dir_all(&root);
    }
    Ok(())
}
