//! Starting the systems under test: oxeye, Prometheus and VictoriaMetrics, each on its
//! own data directory and loopback port.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, bail};

use crate::proc::{Server, free_port, wait_ready};

/// The systems a benchmark may measure.
pub const SYSTEMS: [&str; 3] = ["oxeye", "prometheus", "victoria-metrics"];

/// A running system.
pub struct Peer {
    pub name: String,
    pub server: Server,
    /// `http://127.0.0.1:<port>`
    pub base: String,
}

/// Extra settings for query benchmarks.
#[derive(Clone, Copy, Default)]
pub struct QuerySettings {
    /// Turn off VictoriaMetrics's rollup result cache, so repeated queries are computed
    /// again as they are by oxeye and Prometheus, which have no result cache.
    pub vm_disable_cache: bool,
    /// Per-query timeout given to every system.
    pub timeout_s: u64,
}

/// Starts `system` on `dir` and waits until it is ready.
pub async fn start(
    client: &reqwest::Client,
    system: &str,
    oxeye_bin: &Path,
    dir: &Path,
    q: Option<QuerySettings>,
) -> anyhow::Result<Peer> {
    let port = free_port()?;
    let base = format!("http://127.0.0.1:{port}");
    let (server, ready) = match system {
        "oxeye" => {
            let cfg = dir.join("oxeye.yml");
            std::fs::write(&cfg, "scrape_configs: []\n")?;
            let grpc = free_port()?;
            let http = free_port()?;
            let s = Server::spawn(
                "oxeye",
                Command::new(oxeye_bin)
                    .arg("serve")
                    .arg(format!("--config.file={}", cfg.display()))
                    .arg(format!("--storage.path={}", dir.join("data").display()))
                    .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                    .arg(format!("--otlp.grpc-listen-address=127.0.0.1:{grpc}"))
                    .arg(format!("--otlp.http-listen-address=127.0.0.1:{http}")),
            )?;
            (s, "/-/ready")
        }
        "prometheus" => {
            let cfg = dir.join("prometheus.yml");
            std::fs::write(&cfg, "global:\n  scrape_interval: 15s\n")?;
            let mut cmd = Command::new("prometheus");
            cmd.arg(format!("--config.file={}", cfg.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.join("data").display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .arg("--web.enable-remote-write-receiver")
                .arg("--web.enable-admin-api");
            if let Some(q) = q {
                cmd.arg(format!("--query.timeout={}s", q.timeout_s));
            }
            (Server::spawn("prometheus", &mut cmd)?, "/-/ready")
        }
        "victoria-metrics" => {
            let mut cmd = Command::new("victoria-metrics");
            cmd.arg(format!("-storageDataPath={}", dir.join("data").display()))
                .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
                .arg("-retentionPeriod=10y")
                .arg("-search.maxSeries=10000000");
            if let Some(q) = q {
                cmd.arg("-search.maxUniqueTimeseries=10000000")
                    .arg(format!("-search.maxQueryDuration={}s", q.timeout_s));
                if q.vm_disable_cache {
                    cmd.arg("-search.disableCache");
                }
            }
            (Server::spawn("victoria-metrics", &mut cmd)?, "/health")
        }
        other => bail!("unknown system {other:?}: use oxeye, prometheus or victoria-metrics"),
    };
    wait_ready(client, &format!("{base}{ready}"), Duration::from_secs(60))
        .await
        .with_context(|| format!("{system} did not become ready"))?;
    Ok(Peer {
        name: system.to_string(),
        server,
        base,
    })
}
