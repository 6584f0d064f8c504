//! Side-by-side benchmarks of oxeye against the peers it replaces.
//!
//! `oxeye-bench ingest` builds node_exporter-like data for N hosts from one real
//! node_exporter scrape, encodes it as Prometheus remote_write requests up front, then
//! pushes the same requests to each system in turn (oxeye, Prometheus with its remote
//! write receiver, VictoriaMetrics) and prints samples/s, CPU seconds, peak RSS, RSS per
//! active series and on-disk bytes per sample, with ratios against oxeye.
//!
//! `oxeye-bench query` loads the same dashboard data (HTTP request counters, latency
//! histograms, gauges, an info metric) into the three systems, lets them settle, checks
//! they hold the same data, then times a suite of dashboard range queries over 1 h, 6 h
//! and 24 h windows and prints latencies and ratios side by side.
//!
//! `oxeye-bench traces` pushes OTLP traces over HTTP and gRPC and prints spans/s per
//! core, stored bytes per span, trace-by-id p50/p99 with many spans stored and TraceQL
//! search latency.
//!
//! `oxeye-bench logs` generates a corpus of realistic log lines, pushes it through the
//! Loki push API and prints ingest MB/s per core, stored bytes against `zstd -3` of the
//! raw text, and needle, `| json` and metric query latency against `rg`.
//!
//! `oxeye-bench dashboard` loads 24 h of the dashboard data into a release oxeye, stores
//! a 10-panel dashboard over it and times its page load in headless Chromium (node +
//! playwright-core) from navigation to every panel drawn, plus the same queries
//! server-side.

mod dash;
mod dashload;
mod data;
mod ingest;
mod logs;
mod peers;
mod proc;
mod query;
mod suite;
mod traces;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "oxeye-bench", about = "side-by-side benchmarks for oxeye")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Remote-write ingest: throughput, CPU, memory and disk, against the peers.
    Ingest(ingest::IngestArgs),
    /// Dashboard range queries: latency side by side on the same data.
    Query(query::QueryArgs),
    /// OTLP trace ingest, bytes per span, trace-by-id and TraceQL search latency.
    Traces(traces::TracesArgs),
    /// Loki push ingest, stored bytes against zstd -3, log query latency against rg.
    Logs(logs::LogsArgs),
    /// A 10-panel dashboard over 24 h of data: page load in Chromium and server time.
    Dashboard(dashload::DashboardArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Ingest(args) => ingest::run(args),
        Cmd::Query(args) => query::run(args),
        Cmd::Traces(args) => traces::run(args),
        Cmd::Logs(args) => logs::run(args),
        Cmd::Dashboard(args) => dashload::run(args),
    }
}
