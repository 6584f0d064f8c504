//! `oxeye serve`: wiring and lifecycle.
//!
//! Start: load the config, bind the listeners, build the server state over the stores'
//! core traits (lazy until open), open the TSDB (`<storage.path>/metrics`) and the trace
//! store (`<storage.path>/traces`), replaying their WALs, start scraping, then report ready.
//! Running: a maintenance loop every 30s (compaction, retention, cutting trace heads) on a
//! blocking thread; span metrics and the service graph written to the TSDB every
//! `--traces.generator-interval`; SIGHUP or `POST /-/reload` re-reads the config and
//! re-applies the scrape jobs.
//! Stop (SIGINT/SIGTERM): stop the listeners (in-flight requests finish), stop scraping
//! (which writes staleness markers), then close both stores so their WALs are synced.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use oxeye_core::{Clock, SystemClock, TenantId};
use oxeye_logs::{LogStore, LogStoreOptions};
use oxeye_scrape::ScrapeManager;
use oxeye_server::{Limits as ServerLimits, Listeners, QueryLimits, ServerState};
use oxeye_traces::generator::{Generator, GeneratorOptions};
use oxeye_traces::{TraceStore, TraceStoreOptions};
use oxeye_tsdb::{Limits, Tsdb, TsdbOptions};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::cli::ServeArgs;
use crate::config::{Config, TenantLimitsConfig, parse_cache_size, parse_size, parse_wal_sync};
use crate::status_hooks::{
    results_cache_stats, stats, storage_stats, store_status, targets_snapshot, trace_stats,
};
use crate::store::{LazyLogs, LazyStore, LazyTraces};

const MAINTENANCE_EVERY: Duration = Duration::from_secs(30);
/// How long in-flight requests may run after a shutdown signal.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(15);

/// Builds the TSDB options from the config file, with flags taking precedence.
pub fn tsdb_options(cfg: &Config, args: &ServeArgs) -> anyhow::Result<TsdbOptions> {
    let mut o = TsdbOptions::default();
    if let Some(r) = cfg.storage.retention {
        o.retention = r.get();
    }
    if let Some(r) = &args.retention_time {
        o.retention = oxeye_scrape::parse_duration(r)
            .with_context(|| format!("invalid --storage.tsdb.retention.time {r:?}"))?;
    }
    if let Some(s) = args
        .retention_size
        .as_ref()
        .or(cfg.storage.retention_size.as_ref())
    {
        o.retention_bytes = Some(parse_size(s).context("invalid retention size")?);
    }
    if let Some(w) = cfg.storage.out_of_order_time_window {
        o.out_of_order_window = w.get();
    }
    if let Some(b) = cfg.storage.block_duration {
        o.block_duration = b.get();
    }
    if let Some(s) = args.wal_sync.as_ref().or(cfg.storage.wal_sync.as_ref()) {
        o.wal.sync = parse_wal_sync(s).context("invalid wal sync policy")?;
    }
    o.page_cache_bytes = parse_cache_size(&args.page_cache_size).with_context(|| {
        format!(
            "invalid --storage.tsdb.page-cache-size {:?}",
            args.page_cache_size
        )
    })?;
    let apply = |base: &Limits, l: &TenantLimitsConfig| {
        let mut out = base.clone();
        if let Some(n) = l.max_active_series {
            out.max_active_series = n;
        }
        if let Some(r) = l.max_samples_per_second {
            out.max_samples_per_second = r;
        }
        out
    };
    o.limits = apply(&o.limits, &cfg.tenancy.limits);
    for (tenant, l) in &cfg.tenancy.overrides {
        let merged = apply(&o.limits, l);
        o.tenant_limits.insert(tenant.clone(), merged);
    }
    Ok(o)
}

/// The log store options: retention from its flag, the WAL sync policy shared with the
/// TSDB.
fn log_options(args: &ServeArgs, tsdb: &TsdbOptions) -> anyhow::Result<LogStoreOptions> {
    let retention = oxeye_scrape::parse_duration(&args.logs_retention).with_context(|| {
        format!(
            "invalid --storage.logs.retention.time {:?}",
            args.logs_retention
        )
    })?;
    let mut wal = LogStoreOptions::default().wal;
    wal.sync = tsdb.wal.sync;
    Ok(LogStoreOptions {
        retention,
        wal,
        ..LogStoreOptions::default()
    })
}

/// The trace store options: retention from its flag, the WAL sync policy shared with the
/// TSDB.
fn trace_options(args: &ServeArgs, tsdb: &TsdbOptions) -> anyhow::Result<TraceStoreOptions> {
    let retention = oxeye_scrape::parse_duration(&args.traces_retention).with_context(|| {
        format!(
            "invalid --storage.traces.retention.time {:?}",
            args.traces_retention
        )
    })?;
    let mut wal = TraceStoreOptions::default().wal;
    wal.sync = tsdb.wal.sync;
    Ok(TraceStoreOptions {
        retention,
        wal,
        ..TraceStoreOptions::default()
    })
}

fn server_limits(cfg: &Config) -> anyhow::Result<ServerLimits> {
    let mut l = ServerLimits::default();
    if let Some(s) = &cfg.limits.max_request_bytes {
        l.max_request_bytes = usize::try_from(parse_size(s)?).unwrap_or(usize::MAX);
    }
    if let Some(s) = &cfg.limits.max_decoded_bytes {
        l.max_decoded_bytes = usize::try_from(parse_size(s)?).unwrap_or(usize::MAX);
    }
    Ok(l)
}

/// The query protections from the `--query.*` flags.
fn query_limits(args: &ServeArgs, cfg: &Config) -> anyhow::Result<QueryLimits> {
    let timeout = oxeye_scrape::parse_duration(&args.query_timeout)
        .with_context(|| format!("invalid --query.timeout {:?}", args.query_timeout))?;
    let lookback = oxeye_scrape::parse_duration(&args.query_lookback_delta).with_context(|| {
        format!(
            "invalid --query.lookback-delta {:?}",
            args.query_lookback_delta
        )
    })?;
    anyhow::ensure!(
        args.query_max_concurrency > 0,
        "--query.max-concurrency must be at least 1"
    );
    Ok(QueryLimits {
        timeout,
        max_concurrency: args.query_max_concurrency,
        max_samples: args.query_max_samples,
        lookback_delta_ms: i64::try_from(lookback.as_millis()).unwrap_or(i64::MAX),
        subquery_step_ms: i64::try_from(cfg.global.evaluation_interval.get().as_millis())
            .unwrap_or(60_000),
    })
}

async fn bind(addr: &str, what: &str) -> anyhow::Result<Option<TcpListener>> {
    if addr.is_empty() {
        return Ok(None);
    }
    let l = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} ({what})"))?;
    Ok(Some(l))
}

/// The address oxeye scrapes itself on: the HTTP listener, via loopback when it listens
/// on all interfaces.
fn self_scrape_addr(local: SocketAddr) -> String {
    if local.ip().is_unspecified() {
        format!("127.0.0.1:{}", local.port())
    } else {
        local.to_string()
    }
}

/// Runs the server until SIGINT/SIGTERM.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let http = bind(&args.listen_address, "--web.listen-address")
        .await?
        .context("--web.listen-address must not be empty")?;
    let local = http.local_addr()?;
    let config_path: PathBuf = args.config_file.clone();
    let cfg = Config::load(&config_path, &self_scrape_addr(local))?;
    let options = tsdb_options(&cfg, &args)?;
    let query_limits = query_limits(&args, &cfg)?;
    let config_text = Arc::new(std::sync::Mutex::new(
        std::fs::read_to_string(&config_path).unwrap_or_default(),
    ));
    let retention = oxeye_scrape::format_duration(options.retention);
    let otlp_http = bind(&args.otlp_http_address, "--otlp.http-listen-address").await?;
    let otlp_grpc = bind(&args.otlp_grpc_address, "--otlp.grpc-listen-address").await?;

    // serve first, so health checks answer and clients get 503 during the WAL replay
    let store = Arc::new(LazyStore::default());
    let traces = Arc::new(LazyTraces::default());
    let trace_opts = trace_options(&args, &options)?;
    let logs = Arc::new(LazyLogs::default());
    let log_opts = log_options(&args, &options)?;
    let generator_every = oxeye_scrape::parse_duration(&args.traces_generator_interval)
        .with_context(|| {
            format!(
                "invalid --traces.generator-interval {:?}",
                args.traces_generator_interval
            )
        })?;
    anyhow::ensure!(
        !generator_every.is_zero(),
        "--traces.generator-interval must be greater than zero"
    );
    let generator = Arc::new(Generator::new(GeneratorOptions::default(), clock.clone()));
    let default_tenant = TenantId::new(&cfg.tenancy.default_tenant)?;
    let manager = Arc::new(ScrapeManager::new(
        store.clone(),
        default_tenant.clone(),
        clock.clone(),
    ));
    let alerting = crate::alerting::Alerting::build(
        &cfg,
        crate::alerting::Inputs {
            config_path: config_path.clone(),
            storage_path: args.storage_path.clone(),
            external_url: args
                .external_url
                .clone()
                .unwrap_or_else(|| format!("http://{}", self_scrape_addr(local))),
            engine: oxeye_promql::Engine {
                lookback_ms: query_limits.lookback_delta_ms,
                max_samples: query_limits.max_samples,
                timeout: Some(query_limits.timeout),
                cancel: None,
                subquery_step_ms: query_limits.subquery_step_ms,
            },
            store: store.clone(),
            logs: logs.clone(),
            default_tenant: default_tenant.clone(),
            clock: clock.clone(),
        },
    )?;
    let reload = reload_fn(
        config_path.clone(),
        self_scrape_addr(local),
        manager.clone(),
        config_text.clone(),
        alerting.clone(),
    );
    let state = {
        let flush_db = store.clone();
        let stats_db = store.clone();
        let targets_mgr = manager.clone();
        let status_db = store.clone();
        let (storage_db, storage_logs, storage_traces) =
            (store.clone(), logs.clone(), traces.clone());
        let flush_traces = traces.clone();
        let stats_traces = traces.clone();
        let stats_alerting = alerting.clone();
        let results_cache = Arc::new(oxeye_promql::ResultsCache::new(
            usize::try_from(args.query_results_cache_mb.saturating_mul(1 << 20))
                .unwrap_or(usize::MAX),
        ));
        let stats_cache = results_cache.clone();
        let flush_logs = logs.clone();
        let observer = generator.clone();
        ServerState::builder(store.clone(), store.clone())
            .traces(oxeye_server::TraceStores {
                appender: traces.clone(),
                queryable: traces.clone(),
                observer: Some(Arc::new(move |tenant, batch| {
                    observer.observe(tenant, batch)
                })),
            })
            .logs(oxeye_server::LogStores {
                appender: logs.clone(),
                queryable: logs.clone(),
            })
            .log_ingest_limits(oxeye_server::logs_ingest::LogIngestLimits {
                ingestion_rate_bytes: args.logs_ingestion_rate_mb * 1048576.0,
                ingestion_burst_bytes: args.logs_ingestion_burst_mb * 1048576.0,
                ..Default::default()
            })
            .query_limits(query_limits)
            .results_cache(results_cache.clone())
            .flags(args.flag_values())
            .storage_retention(retention)
            .dashboards_dir(args.storage_path.join("dashboards"))
            .config_text(Arc::new(move || {
                config_text.lock().map(|t| t.clone()).unwrap_or_default()
            }))
            .store_status(Arc::new(move |tenant| {
                status_db
                    .get()
                    .map(|db| store_status(db, tenant))
                    .unwrap_or_default()
            }))
            .storage_stats(Arc::new(move || {
                storage_stats(
                    storage_db.get().ok().map(|d| d.as_ref()),
                    storage_logs.get().ok().map(|l| l.as_ref()),
                    storage_traces.get().ok().map(|t| t.as_ref()),
                )
            }))
            .default_tenant(default_tenant)
            .limits(server_limits(&cfg)?)
            .remote_read_limits(oxeye_server::remote_read::RemoteReadLimits {
                sample_limit: args.remote_read_sample_limit,
                concurrent_limit: args.remote_read_concurrent_limit,
                max_bytes_in_frame: args.remote_read_max_bytes_in_frame,
            })
            .clock(clock.clone())
            .flush(Arc::new(move || {
                flush_db.get()?.flush()?;
                flush_traces.get()?.flush()?;
                flush_logs.get()?.flush()?;
                Ok(())
            }))
            .stats(Arc::new(move || {
                let mut out = stats_db.get().map(|db| stats(db)).unwrap_or_default();
                if let Ok(t) = stats_traces.get() {
                    out.extend(trace_stats(t));
                }
                out.extend(stats_alerting.stats());
                out.extend(results_cache_stats(&stats_cache.stats()));
                out
            }))
            .targets(Arc::new(move || targets_snapshot(&targets_mgr)))
            .reload(reload.clone())
            .rules(alerting.rules.clone())
            .notifier(alerting.notifier.clone())
            .slos(alerting.slos.clone())
            .build()
    };

    let shutdown = CancellationToken::new();
    let listeners = Listeners {
        http,
        otlp_http,
        otlp_grpc,
    };
    let addr_of = |l: &Option<TcpListener>| {
        l.as_ref()
            .and_then(|l| l.local_addr().ok())
            .map_or_else(|| "disabled".to_string(), |a| a.to_string())
    };
    tracing::info!(
        http = %local,
        otlp_http = %addr_of(&listeners.otlp_http),
        otlp_grpc = %addr_of(&listeners.otlp_grpc),
        "listening"
    );
    let server = tokio::spawn(oxeye_server::serve(
        state.clone(),
        listeners,
        shutdown.clone(),
    ));

    tracing::info!(path = %args.storage_path.display(), "opening storage");
    let storage = args.storage_path.clone();
    let open_clock = clock.clone();
    let opened = tokio::task::spawn_blocking(move || {
        let tsdb = Tsdb::open(&storage.join("metrics"), options, open_clock.clone())
            .with_context(|| format!("cannot open the metrics store in {}", storage.display()))?;
        let traces = match TraceStore::open(&storage.join("traces"), trace_opts, open_clock.clone())
        {
            Ok(t) => Arc::new(t),
            Err(e) => {
                let _ = tsdb.close();
                return Err(anyhow::Error::from(e).context(format!(
                    "cannot open the trace store in {}",
                    storage.display()
                )));
            }
        };
        match LogStore::open(&storage.join("logs"), log_opts, open_clock) {
            Ok(l) => Ok((tsdb, traces, l)),
            Err(e) => {
                let _ = traces.close();
                let _ = tsdb.close();
                Err(anyhow::Error::from(e).context(format!(
                    "cannot open the log store in {}",
                    storage.display()
                )))
            }
        }
    })
    .await
    .map_err(anyhow::Error::from)
    .and_then(|r| r);
    let (tsdb, trace_store, log_store) = match opened {
        Ok(s) => s,
        Err(e) => {
            shutdown.cancel();
            let _ = server.await;
            return Err(e);
        }
    };
    store.set(tsdb.clone());
    traces.set(trace_store.clone());
    logs.set(log_store.clone());
    tracing::info!("storage opened");

    if let Err(e) = manager
        .apply_config(cfg.global.clone(), cfg.scrape_configs.clone())
        .await
    {
        shutdown.cancel();
        let _ = server.await;
        let _ = tokio::task::spawn_blocking(move || {
            let _ = trace_store.close();
            let _ = log_store.close();
            tsdb.close()
        })
        .await;
        return Err(anyhow::Error::from(e).context("cannot start scraping"));
    }
    let generating = tokio::spawn(generator_loop(
        generator.clone(),
        tsdb.clone(),
        generator_every,
        shutdown.clone(),
    ));
    let maintenance = tokio::spawn(maintenance_loop(
        tsdb.clone(),
        trace_store.clone(),
        log_store.clone(),
        shutdown.clone(),
    ));
    let alerting_tasks = alerting.spawn(shutdown.clone());
    state.set_ready(true);
    tracing::info!(ui = %format!("http://{}/", self_scrape_addr(local)), "server is ready");

    wait_for_signals(shutdown.clone(), state.clone()).await;
    state.set_ready(false);
    tracing::info!("shutting down: stopping listeners");
    shutdown.cancel();
    // in-flight requests may finish; a client holding a connection open does not stop us
    match tokio::time::timeout(DRAIN_TIMEOUT, server).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => tracing::error!(error = %e, "listener failed"),
        Ok(Err(e)) => tracing::error!(error = %e, "server task failed"),
        Err(_) => tracing::warn!(
            timeout = ?DRAIN_TIMEOUT,
            "requests still running after the drain timeout, closing anyway"
        ),
    }
    tracing::info!("stopping scrapes");
    manager.stop().await;
    let _ = maintenance.await;
    let _ = generating.await;
    crate::alerting::join_all(alerting_tasks, DRAIN_TIMEOUT).await;
    tracing::info!("closing storage");
    let closed = tokio::task::spawn_blocking(move || {
        let traces = trace_store
            .close()
            .context("cannot close the trace store cleanly");
        let logs = log_store
            .close()
            .context("cannot close the log store cleanly");
        let metrics = tsdb
            .close()
            .context("cannot close the metrics store cleanly");
        traces.and(logs).and(metrics)
    })
    .await?;
    closed?;
    tracing::info!("storage closed, bye");
    Ok(())
}

fn reload_fn(
    path: PathBuf,
    self_addr: String,
    manager: Arc<ScrapeManager>,
    config_text: Arc<std::sync::Mutex<String>>,
    alerting: Arc<crate::alerting::Alerting>,
) -> oxeye_server::ReloadFn {
    Arc::new(move || {
        let path = path.clone();
        let self_addr = self_addr.clone();
        let manager = manager.clone();
        let config_text = config_text.clone();
        let alerting = alerting.clone();
        Box::pin(async move {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let cfg = Config::load(&path, &self_addr).map_err(|e| format!("{e:#}"))?;
            // Replacing rule groups waits for their evaluations in progress: off the
            // async workers.
            let applied = {
                let (cfg, path) = (cfg.clone(), path.clone());
                tokio::task::spawn_blocking(move || alerting.apply(&cfg, &path))
                    .await
                    .map_err(|e| format!("applying the rules configuration failed: {e}"))?
            };
            applied?;
            manager
                .apply_config(cfg.global.clone(), cfg.scrape_configs.clone())
                .await
                .map_err(|e| e.to_string())?;
            if let Ok(mut t) = config_text.lock() {
                *t = text;
            }
            tracing::info!(path = %path.display(), "configuration reloaded");
            Ok(())
        })
    })
}

/// Writes span metrics and the service graph into each tenant's metrics every `every`.
async fn generator_loop(
    generator: Arc<Generator>,
    tsdb: Arc<Tsdb>,
    every: Duration,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let (g, db) = (generator.clone(), tsdb.clone());
        let written = tokio::task::spawn_blocking(move || g.collect_into(db.as_ref())).await;
        if let Err(e) = written {
            tracing::error!(error = %e, "span metrics task failed");
        }
    }
}

async fn maintenance_loop(
    tsdb: Arc<Tsdb>,
    traces: Arc<TraceStore>,
    logs: Arc<LogStore>,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(MAINTENANCE_EVERY);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let db = tsdb.clone();
        match tokio::task::spawn_blocking(move || db.maintenance()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "storage maintenance failed"),
            Err(e) => tracing::error!(error = %e, "storage maintenance task failed"),
        }
        let t = traces.clone();
        match tokio::task::spawn_blocking(move || t.maintain()).await {
            Ok(Ok(r)) if !r.failed_tenants.is_empty() => {
                tracing::warn!(tenants = ?r.failed_tenants, "trace maintenance failed for some tenants")
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "trace store maintenance failed"),
            Err(e) => tracing::error!(error = %e, "trace store maintenance task failed"),
        }
        let l = logs.clone();
        match tokio::task::spawn_blocking(move || l.maintain()).await {
            Ok(Ok(r)) if !r.failed_tenants.is_empty() => {
                tracing::warn!(tenants = ?r.failed_tenants, "log maintenance failed for some tenants")
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "log store maintenance failed"),
            Err(e) => tracing::error!(error = %e, "log store maintenance task failed"),
        }
    }
}

/// Waits for SIGINT/SIGTERM; SIGHUP reloads the configuration meanwhile.
async fn wait_for_signals(shutdown: CancellationToken, state: Arc<ServerState>) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        tracing::error!("cannot install signal handlers; stop with the shutdown token only");
        shutdown.cancelled().await;
        return;
    };
    loop {
        tokio::select! {
            _ = term.recv() => { tracing::info!("received SIGTERM"); return; }
            _ = int.recv() => { tracing::info!("received SIGINT"); return; }
            _ = shutdown.cancelled() => return,
            _ = hup.recv() => {
                tracing::info!("received SIGHUP, reloading configuration");
                if let Err(e) = state.reload_config().await {
                    tracing::error!(error = %e, "configuration reload failed");
                }
            }
        }
    }
}
