//! `oxeye-bench query`: a dashboard query suite against oxeye, Prometheus and
//! VictoriaMetrics holding the same data.
//!
//! Flow: build two data sets ([`crate::dash`]: a "wide" one, many series over a short
//! time, and a "long" one, fewer series over a day) as remote-write requests merged in
//! time order; start each system on an empty directory and push the requests to it, one
//! system at a time; let every system settle (its CPU use drops to idle after at least
//! one oxeye maintenance pass and Prometheus head compaction, so queries meet each
//! system's steady state with blocks cut and compacted); check that all hold the same
//! series and samples; then time each panel query of [`crate::suite`] over each window,
//! visiting the systems in turn, and print the table with ratios and the peak RSS
//! during the suite.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;

use crate::dash::{self, Load, SERIES_PER_INSTANCE, SetShape};
use crate::peers::{self, Peer, QuerySettings};
use crate::suite::{self, QUERIES, Row, Window};

#[derive(Args, Debug)]
pub struct QueryArgs {
    /// Series of the wide data set.
    #[arg(long, default_value_t = 100_000)]
    wide_series: usize,
    /// Minutes of history of the wide set.
    #[arg(long, default_value_t = 60)]
    wide_minutes: i64,
    /// Scrape interval of the wide set, seconds.
    #[arg(long, default_value_t = 15)]
    wide_interval_s: i64,
    /// Series of the long data set.
    #[arg(long, default_value_t = 10_000)]
    long_series: usize,
    /// Hours of history of the long set.
    #[arg(long, default_value_t = 24)]
    long_hours: i64,
    /// Scrape interval of the long set, seconds.
    #[arg(long, default_value_t = 60)]
    long_interval_s: i64,
    /// Measured runs of each query per system (after one warm-up run).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Measured time each system may spend on one query case, seconds; a system slower
    /// than this over `runs` runs gets fewer runs (at least one).
    #[arg(long, default_value_t = 40)]
    case_budget_s: u64,
    /// Only queries whose name contains this text.
    #[arg(long)]
    filter: Option<String>,
    /// Systems to measure, comma-separated: oxeye, prometheus, victoria-metrics.
    #[arg(
        long,
        default_value = "oxeye,prometheus,victoria-metrics",
        value_delimiter = ','
    )]
    systems: Vec<String>,
    /// Keep VictoriaMetrics's rollup result cache on (off by default: the other two
    /// systems have no result cache, so it would time the cache, not the engine).
    #[arg(long)]
    vm_cache: bool,
    /// Per-query timeout for every system, seconds.
    #[arg(long, default_value_t = 300)]
    timeout_s: u64,
    /// Samples per remote-write request.
    #[arg(long, default_value_t = 10_000)]
    samples_per_request: usize,
    /// Concurrent connections pushing requests (one remote-write shard each).
    #[arg(long, default_value_t = 2)]
    concurrency: usize,
    /// Least time each system is left alone after its load before the suite, seconds.
    #[arg(long, default_value_t = 40)]
    settle_min_s: u64,
    /// Keep the systems running this long after the suite (for profiling), seconds.
    #[arg(long, default_value_t = 0)]
    hold_s: u64,
    /// The oxeye binary to measure (build it with `cargo build --release` first).
    #[arg(long, default_value = "target/release/oxeye")]
    oxeye_bin: PathBuf,
    /// Where data directories go (a temporary directory by default, removed at the end).
    #[arg(long)]
    work_dir: Option<PathBuf>,
}

pub fn run(args: QueryArgs) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(run_async(args))
}

fn now_ms() -> anyhow::Result<i64> {
    Ok(std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64)
}

async fn run_async(args: QueryArgs) -> anyhow::Result<()> {
    for s in &args.systems {
        if !peers::SYSTEMS.contains(&s.as_str()) {
            bail!("unknown system {s:?}: use oxeye, prometheus or victoria-metrics");
        }
    }
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .timeout(Duration::from_secs(args.timeout_s + 30))
        .build()?;
    let root = match &args.work_dir {
        Some(p) => p.clone(),
        None => std::env::temp_dir().join(format!("oxeye-bench-query-{}", std::process::id())),
    };
    std::fs::create_dir_all(&root)?;

    // data ends a minute ago: VictoriaMetrics hides the newest 30 s from queries
    let end_ms = now_ms()? - 60_000;
    let sets = [
        SetShape {
            cluster: "wide".into(),
            instances: args.wide_series.div_ceil(SERIES_PER_INSTANCE).max(1),
            steps: (args.wide_minutes * 60 / args.wide_interval_s.max(1)) as usize,
            interval_ms: args.wide_interval_s * 1000,
            end_ms,
        },
        SetShape {
            cluster: "long".into(),
            instances: args.long_series.div_ceil(SERIES_PER_INSTANCE).max(1),
            steps: (args.long_hours * 3600 / args.long_interval_s.max(1)) as usize,
            interval_ms: args.long_interval_s * 1000,
            end_ms,
        },
    ];
    let t = Instant::now();
    let load = Arc::new(dash::build(
        &sets,
        10 * 60_000,
        30 * 60_000,
        args.samples_per_request,
        args.concurrency,
        11,
    ));
    for s in &sets {
        println!(
            "set {:>4}: {} instances x {} series = {} series, {} scrapes at {} s ({:.1} h), {} samples",
            s.cluster,
            s.instances,
            SERIES_PER_INSTANCE,
            s.series(),
            s.steps,
            s.interval_ms / 1000,
            s.steps as f64 * s.interval_ms as f64 / 3.6e6,
            s.samples()
        );
    }
    println!(
        "load: {} series, {} samples in {} remote-write requests ({:.0} MiB), built in {:.1}s",
        load.series,
        load.samples,
        load.requests(),
        load.wire_bytes() as f64 / 1048576.0,
        t.elapsed().as_secs_f64()
    );

    let settings = QuerySettings {
        vm_disable_cache: !args.vm_cache,
        timeout_s: args.timeout_s,
    };
    let mut running: Vec<(Peer, Instant)> = Vec::new();
    for system in &args.systems {
        let dir = root.join(system);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let mut peer = peers::start(&client, system, &args.oxeye_bin, &dir, Some(settings)).await?;
        let cpu0 = peer.server.cpu_seconds()?;
        let t = Instant::now();
        let failed = push(&client, &peer.base, &load).await;
        let secs = t.elapsed().as_secs_f64();
        println!(
            "loaded {system:<17} in {secs:>6.1}s ({:.2} M samples/s, cpu {:.1}s), failed requests {failed}",
            load.samples as f64 / secs / 1e6,
            peer.server.cpu_seconds()? - cpu0
        );
        if failed > 0 {
            peer.server.stop(Duration::from_secs(10));
            bail!("{system} refused {failed} requests: it does not hold the data");
        }
        running.push((peer, Instant::now()));
    }

    settle(&client, &running, Duration::from_secs(args.settle_min_s)).await?;
    for (p, _) in &running {
        println!("state {:<17} {}", p.name, describe(&client, p, &root).await);
    }
    let peers: Vec<&Peer> = running.iter().map(|(p, _)| p).collect();
    verify(&client, &peers, &sets).await?;

    let windows = windows(&sets);
    for w in &windows {
        println!(
            "window {:>3} over set {}: step {} s, {} points",
            w.label,
            w.cluster,
            w.step_ms / 1000,
            w.points()
        );
    }
    for p in &peers {
        reset_peak_rss(p.server.pid());
    }
    let cpu0: Vec<f64> = peers
        .iter()
        .map(|p| p.server.cpu_seconds().unwrap_or(0.0))
        .collect();
    let bases: Vec<String> = peers.iter().map(|p| p.base.clone()).collect();
    let mut rows = Vec::new();
    let t = Instant::now();
    for q in QUERIES {
        if args
            .filter
            .as_ref()
            .is_some_and(|f| !q.name.contains(f.as_str()))
        {
            continue;
        }
        for w in &windows {
            let expr = q.expr.replace("$c", &w.cluster);
            let per_system = suite::time_query(
                &client,
                &bases,
                &expr,
                w,
                args.runs,
                Duration::from_secs(args.case_budget_s),
            )
            .await;
            let cells: Vec<String> = per_system
                .iter()
                .map(|t| match (t.median_ms, t.series) {
                    (Some(ms), Some(n)) => {
                        format!("{ms:>8.1} ms {n:>4} series {}x", t.runs)
                    }
                    _ => "   error".into(),
                })
                .collect();
            println!("{:<24} {:>3}  {}", q.name, w.label, cells.join("  "));
            rows.push(Row {
                query: q.name,
                window: w.label.to_string(),
                per_system,
            });
        }
    }
    println!("suite took {:.1}s", t.elapsed().as_secs_f64());
    println!();
    let names: Vec<String> = peers.iter().map(|p| p.name.clone()).collect();
    suite::print_table(&rows, &names);
    println!();
    println!("| system | peak RSS during suite MiB | RSS after suite MiB | CPU s during suite |");
    println!("|---|---|---|---|");
    for (p, c0) in peers.iter().zip(&cpu0) {
        let hwm = p.server.peak_rss().unwrap_or(0) as f64 / 1048576.0;
        let rss = crate::proc::status_kib(p.server.pid(), "VmRSS:").unwrap_or(0) as f64 / 1024.0;
        let cpu = p.server.cpu_seconds().unwrap_or(0.0) - c0;
        println!("| {} | {hwm:.0} | {rss:.0} | {cpu:.1} |", p.name);
    }

    if args.hold_s > 0 {
        for p in &peers {
            println!("holding {} at {} (pid {})", p.name, p.base, p.server.pid());
        }
        tokio::time::sleep(Duration::from_secs(args.hold_s)).await;
    }
    for (mut p, _) in running {
        p.server.stop(Duration::from_secs(30));
    }
    if args.work_dir.is_none() {
        let _ = std::fs::remove_dir_all(&root);
    }
    Ok(())
}

/// Pushes every request, wave after wave, one connection per shard; returns how many
/// failed.
pub(crate) async fn push(client: &reqwest::Client, base: &str, load: &Arc<Load>) -> usize {
    let failed = Arc::new(AtomicUsize::new(0));
    let url = format!("{base}/api/v1/write");
    for wave in 0..load.waves.len() {
        let mut tasks = Vec::new();
        for shard in 0..load.waves[wave].len() {
            let (client, load, failed, url) =
                (client.clone(), load.clone(), failed.clone(), url.clone());
            tasks.push(tokio::spawn(async move {
                for (i, body) in load.waves[wave][shard].iter().enumerate() {
                    let resp = client
                        .post(&url)
                        .header("Content-Type", "application/x-protobuf")
                        .header("Content-Encoding", "snappy")
                        .header("X-Prometheus-Remote-Write-Version", "0.1.0")
                        .body(body.clone())
                        .send()
                        .await;
                    let err = match resp {
                        Ok(r) if r.status().is_success() => continue,
                        Ok(r) => {
                            let status = r.status();
                            format!("{status} {}", r.text().await.unwrap_or_default().trim())
                        }
                        Err(e) => e.to_string(),
                    };
                    if failed.fetch_add(1, Ordering::Relaxed) < 3 {
                        eprintln!("wave {wave} shard {shard} request {i} failed: {err}");
                    }
                }
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
    }
    failed.load(Ordering::Relaxed)
}

/// Waits until every system has been left alone for `min` and then used less than 5%
/// of a core over two consecutive 5 s intervals (so flushes, block cuts, compactions
/// and merges are over); Prometheus also until its head spans at most 3 h, the point
/// after which it compacts the head into a block.
pub(crate) async fn settle(
    client: &reqwest::Client,
    running: &[(Peer, Instant)],
    min: Duration,
) -> anyhow::Result<()> {
    let t = Instant::now();
    let limit = Duration::from_secs(900);
    let mut quiet = vec![0u32; running.len()];
    let mut last: Vec<f64> = running
        .iter()
        .map(|(p, _)| p.server.cpu_seconds().unwrap_or(0.0))
        .collect();
    loop {
        tokio::time::sleep(Duration::from_secs(5)).await;
        let mut all = true;
        for (i, (p, loaded)) in running.iter().enumerate() {
            let cpu = p.server.cpu_seconds()?;
            let busy = (cpu - last[i]) / 5.0;
            last[i] = cpu;
            let head_ok =
                p.name != "prometheus" || prometheus_head_span_h(client, &p.base).await? <= 3.0;
            quiet[i] = if busy < 0.05 && head_ok {
                quiet[i] + 1
            } else {
                0
            };
            if loaded.elapsed() < min || quiet[i] < 2 {
                all = false;
            }
        }
        if all {
            println!("settled after {:.0}s", t.elapsed().as_secs_f64());
            return Ok(());
        }
        if t.elapsed() > limit {
            println!("warning: not every system went idle within {limit:?}; measuring anyway");
            return Ok(());
        }
    }
}

async fn prometheus_head_span_h(client: &reqwest::Client, base: &str) -> anyhow::Result<f64> {
    let v = client
        .get(format!("{base}/api/v1/status/tsdb"))
        .send()
        .await?
        .bytes()
        .await?;
    let v: serde_json::Value = serde_json::from_slice(&v)?;
    let h = &v["data"]["headStats"];
    let (a, b) = (h["minTime"].as_f64(), h["maxTime"].as_f64());
    match (a, b) {
        (Some(a), Some(b)) => Ok((b - a) / 3.6e6),
        _ => bail!("prometheus /api/v1/status/tsdb has no headStats: {v}"),
    }
}

/// Where each system keeps the data now: blocks and head for oxeye and Prometheus, disk
/// size for all.
async fn describe(client: &reqwest::Client, p: &Peer, root: &Path) -> String {
    let data = root.join(&p.name).join("data");
    let size = oxeye_storage::block::dir_size(&data).unwrap_or(0) as f64 / 1048576.0;
    let blocks = count_block_dirs(&data);
    let rss = crate::proc::status_kib(p.server.pid(), "VmRSS:").unwrap_or(0) / 1024;
    let mut s = format!("{size:.0} MiB on disk, RSS {rss} MiB");
    match p.name.as_str() {
        "prometheus" => {
            let span = prometheus_head_span_h(client, &p.base)
                .await
                .unwrap_or(f64::NAN);
            s.push_str(&format!(", {blocks} blocks + head spanning {span:.1} h"));
        }
        "oxeye" => s.push_str(&format!(", {blocks} blocks + head")),
        _ => {}
    }
    s
}

/// Directories holding a `meta.json` under `dir`, at any depth.
fn count_block_dirs(dir: &Path) -> usize {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut n = 0;
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            if p.join("meta.json").exists() {
                n += 1;
            } else {
                n += count_block_dirs(&p);
            }
        }
    }
    n
}

/// Resets the kernel's peak-RSS mark of `pid` (writing 5 to clear_refs), so VmHWM shows
/// the peak from now on.
fn reset_peak_rss(pid: u32) {
    if let Err(e) = std::fs::write(format!("/proc/{pid}/clear_refs"), "5") {
        eprintln!("could not reset peak RSS of pid {pid}: {e}");
    }
}

async fn instant(
    client: &reqwest::Client,
    base: &str,
    expr: &str,
    at_ms: i64,
) -> anyhow::Result<f64> {
    let v = client
        .get(format!("{base}/api/v1/query"))
        .query(&[
            ("query", expr),
            ("time", &format!("{:.3}", at_ms as f64 / 1000.0)),
        ])
        .send()
        .await?
        .bytes()
        .await?;
    let v: serde_json::Value = serde_json::from_slice(&v)?;
    if v["status"] != "success" {
        bail!("{}: {}", expr, v["error"]);
    }
    let s = v["data"]["result"][0]["value"][1]
        .as_str()
        .with_context(|| format!("{expr}: empty result"))?;
    Ok(s.parse()?)
}

/// Checks that every system holds every series and sample of each set, and that the
/// counter values agree, before anything is timed.
async fn verify(
    client: &reqwest::Client,
    peers: &[&Peer],
    sets: &[SetShape],
) -> anyhow::Result<()> {
    let mut bad = 0;
    for s in sets {
        let span_m = (s.end_ms - s.start_ms()) / 60_000 + 10;
        let at = s.end_ms + 1_000;
        // one term per metric name: Prometheus 2.x drops the name inside count_over_time
        // and refuses series that then share a label set
        let union = |agg: &str, func: &str, names: &[&str]| {
            names
                .iter()
                .map(|n| {
                    format!(
                        r#"{agg}({func}({n}{{cluster="{}"}}[{span_m}m]))"#,
                        s.cluster
                    )
                })
                .collect::<Vec<_>>()
                .join(" + ")
        };
        let checks = [
            (
                "series",
                union("count", "count_over_time", &dash::METRIC_NAMES),
                Some(s.series() as f64),
            ),
            (
                "samples",
                union("sum", "count_over_time", &dash::METRIC_NAMES),
                Some(s.samples() as f64),
            ),
            (
                "sum of request counters",
                union("sum", "sum_over_time", &["http_requests_total"]),
                None,
            ),
        ];
        for (what, expr, expected) in checks {
            let mut got = Vec::new();
            for p in peers {
                let v = instant(client, &p.base, &expr, at)
                    .await
                    .unwrap_or(f64::NAN);
                got.push(v);
            }
            let reference = expected.or(got.first().copied()).unwrap_or(f64::NAN);
            let ok = got
                .iter()
                .all(|v| ((v - reference) / reference.abs().max(1.0)).abs() <= 1e-9);
            if !ok {
                bad += 1;
            }
            let cells: Vec<String> = peers
                .iter()
                .zip(&got)
                .map(|(p, v)| format!("{}={v}", p.name))
                .collect();
            println!(
                "verify set {} {what}: {} {}",
                s.cluster,
                cells.join(" "),
                if ok { "agree" } else { "MISMATCH" }
            );
        }
    }
    if bad > 0 {
        println!("warning: {bad} data checks disagree; timings below compare different data");
    }
    Ok(())
}

/// The dashboard windows: 1 h over the wide set, 6 h and 24 h over the long set, with
/// the steps Grafana picks for a panel about 1000 px wide (240-720 points).
fn windows(sets: &[SetShape]) -> Vec<Window> {
    let mut out = Vec::new();
    let specs: [(&str, usize, i64, i64); 3] = [
        ("1h", 0, 3_600_000, 15_000),
        ("6h", 1, 6 * 3_600_000, 30_000),
        ("24h", 1, 24 * 3_600_000, 120_000),
    ];
    for (label, set, range_ms, step_ms) in specs {
        let Some(s) = sets.get(set) else { continue };
        let range_ms = range_ms.min(s.end_ms - s.start_ms());
        out.push(Window {
            label,
            cluster: s.cluster.clone(),
            range_ms,
            step_ms,
            end_ms: s.end_ms / step_ms * step_ms,
        });
    }
    out
}
