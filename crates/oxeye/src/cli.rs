//! Command-line interface, with Prometheus-style dotted flag names.
//!
//! `oxeye` alone serves (same flags as `oxeye serve`); `oxeye check config FILE` validates
//! a configuration file like promtool; `oxeye import FILE` sends an exposition file to a
//! running server.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// One binary for metrics ingest, storage and query.
#[derive(Debug, Parser)]
#[command(name = "oxeye", version, about, args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// What to do; serving when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Server flags when no subcommand is given.
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (the default).
    Serve(ServeArgs),
    /// Check files without starting anything.
    #[command(subcommand)]
    Check(CheckCommand),
    /// Send a Prometheus text or OpenMetrics file (optionally gzipped) with timestamps to a
    /// running server.
    Import(ImportArgs),
    /// Run unit tests.
    #[command(subcommand)]
    Test(TestCommand),
    /// Work with SLO specs.
    #[command(subcommand)]
    Slo(SloCommand),
    /// Run Prometheus promqltest scripts against the PromQL engine; exit 1 when a case
    /// fails, 2 when a file cannot be read.
    Promqltest {
        /// The `.test` files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

/// `oxeye check ...`
#[derive(Debug, Subcommand)]
pub enum CheckCommand {
    /// Validate a configuration file; exit 0 and print SUCCESS when it is valid.
    Config {
        /// The YAML files to check.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Validate rule files like `promtool check rules`; exit 1 when one is invalid.
    Rules {
        /// The rule files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The files hold LogQL rules (Loki ruler format).
        #[arg(long)]
        logql: bool,
    },
}

/// `oxeye test ...`
#[derive(Debug, Subcommand)]
pub enum TestCommand {
    /// Run rule unit tests in promtool's format; exit 1 when a test fails.
    Rules {
        /// The test files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

/// `oxeye slo ...`
#[derive(Debug, Subcommand)]
pub enum SloCommand {
    /// Print the rule file generated from a Sloth `prometheus/v1` SLO spec.
    Generate {
        /// The spec file.
        file: PathBuf,
    },
}

/// Log line format.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum LogFormat {
    /// `key=value` pairs.
    Logfmt,
    /// One JSON object per line.
    Json,
}

/// Flags of `oxeye serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Configuration file (YAML); an absent file means defaults.
    #[arg(long = "config.file", default_value = "oxeye.yml")]
    pub config_file: PathBuf,
    /// Directory of the database.
    #[arg(long = "storage.path", default_value = "./data")]
    pub storage_path: PathBuf,
    /// Address of the HTTP API.
    #[arg(long = "web.listen-address", default_value = "0.0.0.0:9700")]
    pub listen_address: String,
    /// The URL under which oxeye is reached (alert links, `externalURL` in templates);
    /// defaults to the HTTP listener's address.
    #[arg(long = "web.external-url")]
    pub external_url: Option<String>,
    /// Address of the OTLP gRPC receiver; empty disables it.
    #[arg(long = "otlp.grpc-listen-address", default_value = "0.0.0.0:4317")]
    pub otlp_grpc_address: String,
    /// Address of the OTLP HTTP receiver; empty disables it.
    #[arg(long = "otlp.http-listen-address", default_value = "0.0.0.0:4318")]
    pub otlp_http_address: String,
    /// Log line format.
    #[arg(long = "log.format", value_enum, default_value = "logfmt")]
    pub log_format: LogFormat,
    /// Lowest level logged: error, warn, info, debug or trace.
    #[arg(long = "log.level", default_value = "info")]
    pub log_level: String,
    /// How long data is kept, e.g. 90d (overrides storage.retention of the config file).
    #[arg(long = "storage.tsdb.retention.time")]
    pub retention_time: Option<String>,
    /// Most bytes blocks may take, e.g. 50GB (overrides storage.retention_size).
    #[arg(long = "storage.tsdb.retention.size")]
    pub retention_size: Option<String>,
    /// When the WAL is fsynced: always, never, or an interval such as 1s (overrides
    /// storage.wal_sync).
    #[arg(long = "storage.tsdb.wal-sync")]
    pub wal_sync: Option<String>,
    /// Memory for decompressed block pages kept between queries, shared by all tenants,
    /// e.g. 64MiB; 0 disables the cache.
    #[arg(long = "storage.tsdb.page-cache-size", default_value = "64MiB")]
    pub page_cache_size: String,
    /// How long spans are kept.
    #[arg(long = "storage.traces.retention.time", default_value = "7d")]
    pub traces_retention: String,

    /// How long log lines are kept.
    #[arg(long = "storage.logs.retention.time", default_value = "30d")]
    pub logs_retention: String,
    /// Sustained log ingest rate per tenant in MiB/s; pushes beyond it get 429.
    #[arg(long = "logs.ingestion-rate-mb", default_value_t = 4.0)]
    pub logs_ingestion_rate_mb: f64,
    /// Log ingest burst per tenant in MiB.
    #[arg(long = "logs.ingestion-burst-size-mb", default_value_t = 6.0)]
    pub logs_ingestion_burst_mb: f64,

    /// How often span metrics and the service graph are written to the metrics store.
    #[arg(long = "traces.generator-interval", default_value = "15s")]
    pub traces_generator_interval: String,

    /// Longest a query may run, including its wait for a slot.
    #[arg(long = "query.timeout", default_value = "2m")]
    pub query_timeout: String,
    /// Queries evaluated at once; further queries wait.
    #[arg(long = "query.max-concurrency", default_value_t = 20)]
    pub query_max_concurrency: usize,
    /// Most samples a single query may load into memory.
    #[arg(long = "query.max-samples", default_value_t = 50_000_000)]
    pub query_max_samples: usize,
    /// How far back an instant selector looks for the latest sample.
    #[arg(long = "query.lookback-delta", default_value = "5m")]
    pub query_lookback_delta: String,
    /// Memory for range query results kept by step, so that a dashboard reloaded over a
    /// sliding window evaluates only its newest steps; 0 turns the cache off.
    #[arg(long = "query.results-cache-size-mb", default_value_t = 64)]
    pub query_results_cache_mb: u64,
    /// Most samples one remote read query may return in a sampled answer; 0 means no
    /// limit (streamed answers are not limited).
    #[arg(
        long = "storage.remote.read-sample-limit",
        default_value_t = 50_000_000
    )]
    pub remote_read_sample_limit: usize,
    /// Most remote read requests served at once (more wait); 0 means no limit.
    #[arg(long = "storage.remote.read-concurrent-limit", default_value_t = 10)]
    pub remote_read_concurrent_limit: usize,
    /// Chunk bytes per streamed remote read frame.
    #[arg(
        long = "storage.remote.read-max-bytes-in-frame",
        default_value_t = 1_048_576
    )]
    pub remote_read_max_bytes_in_frame: usize,
}

impl ServeArgs {
    /// Every flag and its value, named as on the command line without the dashes (what
    /// `/api/v1/status/flags` reports).
    pub fn flag_values(&self) -> Vec<(String, String)> {
        let opt = |v: &Option<String>| v.clone().unwrap_or_default();
        let format = match self.log_format {
            LogFormat::Logfmt => "logfmt",
            LogFormat::Json => "json",
        };
        [
            ("config.file", self.config_file.display().to_string()),
            ("storage.path", self.storage_path.display().to_string()),
            ("web.listen-address", self.listen_address.clone()),
            ("web.external-url", opt(&self.external_url)),
            ("otlp.grpc-listen-address", self.otlp_grpc_address.clone()),
            ("otlp.http-listen-address", self.otlp_http_address.clone()),
            ("log.format", format.to_string()),
            ("log.level", self.log_level.clone()),
            ("storage.tsdb.retention.time", opt(&self.retention_time)),
            ("storage.tsdb.retention.size", opt(&self.retention_size)),
            ("storage.tsdb.wal-sync", opt(&self.wal_sync)),
            ("storage.tsdb.page-cache-size", self.page_cache_size.clone()),
            (
                "storage.traces.retention.time",
                self.traces_retention.clone(),
            ),
            ("storage.logs.retention.time", self.logs_retention.clone()),
            (
                "logs.ingestion-rate-mb",
                self.logs_ingestion_rate_mb.to_string(),
            ),
            (
                "logs.ingestion-burst-size-mb",
                self.logs_ingestion_burst_mb.to_string(),
            ),
            (
                "traces.generator-interval",
                self.traces_generator_interval.clone(),
            ),
            ("query.timeout", self.query_timeout.clone()),
            (
                "query.max-concurrency",
                self.query_max_concurrency.to_string(),
            ),
            ("query.max-samples", self.query_max_samples.to_string()),
            ("query.lookback-delta", self.query_lookback_delta.clone()),
            (
                "query.results-cache-size-mb",
                self.query_results_cache_mb.to_string(),
            ),
            (
                "storage.remote.read-sample-limit",
                self.remote_read_sample_limit.to_string(),
            ),
            (
                "storage.remote.read-concurrent-limit",
                self.remote_read_concurrent_limit.to_string(),
            ),
            (
                "storage.remote.read-max-bytes-in-frame",
                self.remote_read_max_bytes_in_frame.to_string(),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }
}

/// Flags of `oxeye import`.
#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    /// The file; `.gz` or gzip content is decompressed.
    pub file: PathBuf,
    /// The server to send to.
    #[arg(long, default_value = "http://127.0.0.1:9700")]
    pub url: String,
    /// Tenant (sent as X-Scope-OrgID).
    #[arg(long)]
    pub tenant: Option<String>,
    /// Bytes of text per request.
    #[arg(long, default_value_t = 4 << 20)]
    pub chunk_bytes: usize,
    /// Do not draw a progress bar.
    #[arg(long)]
    pub quiet: bool,
}
