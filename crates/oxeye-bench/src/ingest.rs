//! `oxeye-bench ingest`: the same remote_write requests pushed to oxeye, Prometheus and
//! VictoriaMetrics, one after the other, each on a fresh data directory.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;

use crate::data::{self, DataSet, Shape, Templates};
use oxeye_storage::block::dir_size;

use crate::peers::{self, Peer};
use crate::proc::{Server, free_port, wait_ready};

#[derive(Args, Debug)]
pub struct IngestArgs {
    /// Approximate number of active series (hosts are added until it is reached).
    #[arg(long, default_value_t = 59_000)]
    series: usize,
    /// Scrapes per series.
    #[arg(long, default_value_t = 60)]
    steps: usize,
    /// Scrape interval of the simulated hosts, ms.
    #[arg(long, default_value_t = 15_000)]
    interval_ms: i64,
    /// Samples per remote_write request.
    #[arg(long, default_value_t = 4_900)]
    samples_per_request: usize,
    /// Concurrent connections pushing requests (one remote-write shard each).
    #[arg(long, default_value_t = 2)]
    concurrency: usize,
    /// Systems to measure, comma-separated: oxeye, prometheus, victoria-metrics.
    #[arg(
        long,
        default_value = "oxeye,prometheus,victoria-metrics",
        value_delimiter = ','
    )]
    systems: Vec<String>,
    /// The oxeye binary to measure (build it with `cargo build --release` first).
    #[arg(long, default_value = "target/release/oxeye")]
    oxeye_bin: PathBuf,
    /// Where data directories go (a temporary directory by default).
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// node_exporter binary used for the template scrape.
    #[arg(long, default_value = "/usr/bin/prometheus-node-exporter")]
    node_exporter: PathBuf,
}

struct Outcome {
    name: String,
    seconds: f64,
    samples_per_sec: f64,
    cpu_seconds: f64,
    peak_rss: u64,
    disk_bytes: u64,
    series_seen: usize,
    failed_requests: usize,
}

pub fn run(args: IngestArgs) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(run_async(args))
}

async fn run_async(args: IngestArgs) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .build()?;
    let tmp_root = match &args.work_dir {
        Some(p) => p.clone(),
        None => std::env::temp_dir().join(format!("oxeye-bench-{}", std::process::id())),
    };
    std::fs::create_dir_all(&tmp_root)?;

    let body = scrape_node_exporter(&client, &args.node_exporter).await?;
    let templates = Templates::from_exposition(&body, 42)?;
    let hosts = args.series.div_ceil(templates.len().max(1)).max(1);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64;
    let shape = Shape {
        hosts,
        steps: args.steps,
        interval_ms: args.interval_ms,
        samples_per_request: args.samples_per_request,
        shards: args.concurrency,
        start_ms: now - args.steps as i64 * args.interval_ms,
        seed: 7,
    };
    let t = Instant::now();
    let data = Arc::new(data::generate(&templates, &shape));
    let wire = data.wire_bytes();
    println!(
        "data: {} templates from a real node_exporter scrape x {} hosts = {} series, {} samples in {} requests ({:.1} MiB on the wire), built in {:.1}s",
        templates.len(),
        hosts,
        data.series,
        data.samples,
        data.request_count(),
        wire as f64 / 1048576.0,
        t.elapsed().as_secs_f64()
    );

    let mut outcomes = Vec::new();
    for system in &args.systems {
        let dir = tmp_root.join(system);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let outcome = measure(system, &args, &client, &data, &dir).await?;
        println!(
            "{:<17} {:>7.2}s  {:>6.2} M samples/s  cpu {:>6.1}s  peak rss {:>6.0} MiB  disk {:>6.3} B/sample  series {}  failed requests {}",
            outcome.name,
            outcome.seconds,
            outcome.samples_per_sec / 1e6,
            outcome.cpu_seconds,
            outcome.peak_rss as f64 / 1048576.0,
            outcome.disk_bytes as f64 / data.samples as f64,
            outcome.series_seen,
            outcome.failed_requests
        );
        outcomes.push(outcome);
    }
    let _ = std::fs::remove_dir_all(&tmp_root);
    report(&outcomes, &data);
    Ok(())
}

fn report(outcomes: &[Outcome], data: &DataSet) {
    println!();
    println!(
        "| system | samples/s | CPU s | peak RSS MiB | RSS bytes/series | disk bytes/sample |"
    );
    println!("|---|---|---|---|---|---|");
    for o in outcomes {
        println!(
            "| {} | {:.2} M | {:.1} | {:.0} | {:.0} | {:.3} |",
            o.name,
            o.samples_per_sec / 1e6,
            o.cpu_seconds,
            o.peak_rss as f64 / 1048576.0,
            o.peak_rss as f64 / data.series as f64,
            o.disk_bytes as f64 / data.samples as f64
        );
    }
    let Some(ox) = outcomes.iter().find(|o| o.name == "oxeye") else {
        return;
    };
    for o in outcomes.iter().filter(|o| o.name != "oxeye") {
        println!(
            "oxeye vs {}: ingest {:.2}x, cpu {:.2}x less, peak rss {:.2}x less, disk {:.2}x less",
            o.name,
            ox.samples_per_sec / o.samples_per_sec,
            o.cpu_seconds / ox.cpu_seconds.max(0.01),
            o.peak_rss as f64 / ox.peak_rss.max(1) as f64,
            o.disk_bytes as f64 / ox.disk_bytes.max(1) as f64
        );
    }
}

async fn scrape_node_exporter(client: &reqwest::Client, bin: &Path) -> anyhow::Result<Vec<u8>> {
    let port = free_port()?;
    let _ne = Server::spawn(
        "node_exporter",
        Command::new(bin).arg(format!("--web.listen-address=127.0.0.1:{port}")),
    )?;
    let url = format!("http://127.0.0.1:{port}/metrics");
    wait_ready(client, &url, Duration::from_secs(20)).await?;
    let body = client.get(&url).send().await?.bytes().await?;
    Ok(body.to_vec())
}

async fn measure(
    system: &str,
    args: &IngestArgs,
    client: &reqwest::Client,
    data: &Arc<DataSet>,
    dir: &Path,
) -> anyhow::Result<Outcome> {
    let mut target = peers::start(client, system, &args.oxeye_bin, dir, None).await?;
    let cpu0 = target.server.cpu_seconds()?;
    let failed = Arc::new(AtomicUsize::new(0));
    let url = format!("{}/api/v1/write", target.base);
    let t = Instant::now();
    let mut tasks = Vec::new();
    for shard in 0..data.shards.len() {
        let (client, data, failed, url) =
            (client.clone(), data.clone(), failed.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            for (i, body) in data.shards[shard].iter().enumerate() {
                let resp = client
                    .post(&url)
                    .header("Content-Type", "application/x-protobuf")
                    .header("Content-Encoding", "snappy")
                    .header("X-Prometheus-Remote-Write-Version", "0.1.0")
                    .body(body.clone())
                    .send()
                    .await;
                match resp {
                    Ok(r) if r.status().is_success() => {}
                    Ok(r) => {
                        let status = r.status();
                        let text = r.text().await.unwrap_or_default();
                        if failed.fetch_add(1, Ordering::Relaxed) < 3 {
                            eprintln!("request {i} failed: {status} {}", text.trim());
                        }
                    }
                    Err(e) => {
                        if failed.fetch_add(1, Ordering::Relaxed) < 3 {
                            eprintln!("request {i} failed: {e}");
                        }
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    let seconds = t.elapsed().as_secs_f64();
    let cpu_seconds = target.server.cpu_seconds()? - cpu0;
    let disk_bytes = persist_and_measure(system, client, &target, dir).await?;
    let peak_rss = target.server.peak_rss()?;
    // some systems make new series searchable only after a short delay
    let mut series_seen = 0;
    for _ in 0..20 {
        series_seen = count_series(client, &target.base).await.unwrap_or(0);
        if series_seen >= data.series {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    target.server.stop(Duration::from_secs(30));
    Ok(Outcome {
        name: system.to_string(),
        seconds,
        samples_per_sec: data.samples as f64 / seconds,
        cpu_seconds,
        peak_rss,
        disk_bytes,
        series_seen,
        failed_requests: failed.load(Ordering::Relaxed),
    })
}

/// Makes each system persist what it ingested into its long-term format, then measures it.
async fn persist_and_measure(
    system: &str,
    client: &reqwest::Client,
    target: &Peer,
    dir: &Path,
) -> anyhow::Result<u64> {
    let data_dir = dir.join("data");
    match system {
        "oxeye" => {
            let r = client
                .post(format!("{}/api/v1/admin/tsdb/flush", target.base))
                .send()
                .await?;
            if !r.status().is_success() {
                bail!("oxeye flush failed: {}", r.status());
            }
            Ok(dir_size(&data_dir)?)
        }
        "prometheus" => {
            // a snapshot writes the head into a persistent block, as compaction would
            let body = client
                .post(format!("{}/api/v1/admin/tsdb/snapshot", target.base))
                .send()
                .await?
                .bytes()
                .await?;
            let r: serde_json::Value = serde_json::from_slice(&body)?;
            let name = r["data"]["name"]
                .as_str()
                .context("snapshot name missing")?;
            Ok(dir_size(&data_dir.join("snapshots").join(name))?)
        }
        "victoria-metrics" => {
            client
                .get(format!("{}/internal/force_flush", target.base))
                .send()
                .await?;
            client
                .get(format!("{}/internal/force_merge", target.base))
                .send()
                .await?;
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok(dir_size(&data_dir)?)
        }
        other => bail!("unknown system {other}"),
    }
}

async fn count_series(client: &reqwest::Client, base: &str) -> anyhow::Result<usize> {
    let body = client
        .get(format!("{base}/api/v1/series"))
        .query(&[("match[]", "{job=\"node\"}")])
        .send()
        .await?
        .bytes()
        .await?;
    let v: serde_json::Value = serde_json::from_slice(&body)?;
    Ok(v["data"].as_array().map(Vec::len).unwrap_or(0))
}
