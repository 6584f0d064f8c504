//! `oxeye-bench traces`: OTLP trace ingest over HTTP and gRPC, stored bytes per span,
//! trace-by-id latency with many spans stored, and TraceQL search latency.
//!
//! Traces look like a small microservice call tree: a frontend server span, client
//! calls into a few backend services, their server spans, and database client spans
//! under them, with the attributes OpenTelemetry's HTTP and database conventions put
//! there. Requests are built up front for the throughput phases so that only the server's
//! work is timed; the load phase that fills the store builds them as it goes.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use oxeye_storage::block::dir_size;
use prost::Message;

use crate::proc::{Server, free_port, wait_ready};

#[derive(Args, Debug)]
pub struct TracesArgs {
    /// Spans in each throughput phase (HTTP, then gRPC).
    #[arg(long, default_value_t = 1_000_000)]
    throughput_spans: usize,
    /// Spans stored in total before the read phases.
    #[arg(long, default_value_t = 10_000_000)]
    stored_spans: usize,
    /// Spans per export request.
    #[arg(long, default_value_t = 1_000)]
    spans_per_request: usize,
    /// Concurrent senders.
    #[arg(long, default_value_t = 2)]
    concurrency: usize,
    /// Trace-by-id lookups timed.
    #[arg(long, default_value_t = 1_000)]
    lookups: usize,
    /// The oxeye binary to measure (build it with `cargo build --release` first).
    #[arg(long, default_value = "target/release/oxeye")]
    oxeye_bin: PathBuf,
    /// Where the data directory goes (a temporary directory by default).
    #[arg(long)]
    work_dir: Option<PathBuf>,
}

/// A small deterministic generator (xorshift64*), so runs are comparable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

const SERVICES: [&str; 8] = [
    "frontend", "cart", "checkout", "payment", "shipping", "catalog", "users", "ads",
];
const ROUTES: [&str; 6] = [
    "/api/cart",
    "/api/checkout",
    "/api/products/{id}",
    "/api/users/{id}",
    "/api/ads",
    "/api/ship",
];

fn kv(key: &str, v: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue { value: Some(v) }),
        ..KeyValue::default()
    }
}

fn s(key: &str, v: &str) -> KeyValue {
    kv(key, any_value::Value::StringValue(v.to_string()))
}

fn i(key: &str, v: i64) -> KeyValue {
    kv(key, any_value::Value::IntValue(v))
}

/// The trace ids and start times of what was generated, for lookups later.
#[derive(Default)]
struct Generated {
    ids: Vec<[u8; 16]>,
}

/// Builds one trace of about 20 spans, grouped by service into `out`.
fn build_trace(rng: &mut Rng, start_ns: u64, out: &mut Vec<(usize, Span)>) -> [u8; 16] {
    let mut trace_id = [0u8; 16];
    trace_id[..8].copy_from_slice(&rng.next().to_be_bytes());
    trace_id[8..].copy_from_slice(&rng.next().to_be_bytes());
    let new_id = |rng: &mut Rng| rng.next().max(1).to_be_bytes().to_vec();
    let route = ROUTES[rng.below(ROUTES.len() as u64) as usize];
    let status = if rng.below(50) == 0 { 500 } else { 200 };
    let root_id = new_id(rng);
    let total = 5_000_000 + rng.below(400_000_000);
    let span = |id: &[u8], parent: &[u8], name: &str, kind: i32, start: u64, dur: u64| Span {
        trace_id: trace_id.to_vec(),
        span_id: id.to_vec(),
        parent_span_id: parent.to_vec(),
        name: name.to_string(),
        kind,
        start_time_unix_nano: start,
        end_time_unix_nano: start + dur,
        ..Span::default()
    };
    let mut root = span(&root_id, &[], &format!("GET {route}"), 2, start_ns, total);
    root.attributes = vec![
        s("http.request.method", "GET"),
        s("http.route", route),
        i("http.response.status_code", status),
        s("url.scheme", "https"),
    ];
    if status >= 500 {
        root.status = Some(Status {
            message: "internal error".into(),
            code: 2,
        });
    }
    out.push((0, root));
    let calls = 2 + rng.below(4);
    let mut t = start_ns + 100_000;
    for _ in 0..calls {
        let svc = 1 + rng.below(SERVICES.len() as u64 - 1) as usize;
        let dur = total / (calls + 1);
        let client_id = new_id(rng);
        let mut client = span(&client_id, &root_id, "POST", 3, t, dur);
        client.attributes = vec![
            s("http.request.method", "POST"),
            s("server.address", SERVICES[svc]),
            i("http.response.status_code", status),
        ];
        out.push((0, client));
        let server_id = new_id(rng);
        let mut server = span(
            &server_id,
            &client_id,
            &format!("POST /{}", SERVICES[svc]),
            2,
            t + 50_000,
            dur - 100_000,
        );
        server.attributes = vec![
            s("http.request.method", "POST"),
            s("http.route", &format!("/{}", SERVICES[svc])),
            i("http.response.status_code", status),
        ];
        out.push((svc, server));
        let queries = 1 + rng.below(3);
        for q in 0..queries {
            let mut db = span(
                &new_id(rng),
                &server_id,
                "SELECT",
                3,
                t + 60_000 + q * 10_000,
                dur / 4,
            );
            db.attributes = vec![
                s("db.system", "postgresql"),
                s("db.name", SERVICES[svc]),
                s(
                    "db.statement",
                    &format!("SELECT * FROM {} WHERE id = $1", SERVICES[svc]),
                ),
            ];
            out.push((svc, db));
        }
        let mut internal = span(&new_id(rng), &server_id, "render", 1, t + 70_000, dur / 8);
        internal.attributes = vec![i("items", rng.below(100) as i64)];
        out.push((svc, internal));
        t += dur;
    }
    trace_id
}

/// One export request of about `spans` spans starting near `start_ns`.
fn build_request(
    rng: &mut Rng,
    spans: usize,
    start_ns: u64,
    generated: &mut Generated,
) -> ExportTraceServiceRequest {
    let mut by_service: Vec<Vec<Span>> = vec![Vec::new(); SERVICES.len()];
    let mut n = 0;
    let mut buf = Vec::new();
    while n < spans {
        buf.clear();
        let offset = rng.below(1_000_000_000);
        generated
            .ids
            .push(build_trace(rng, start_ns + offset, &mut buf));
        for (svc, span) in buf.drain(..) {
            by_service[svc].push(span);
            n += 1;
        }
    }
    let resource_spans = by_service
        .into_iter()
        .enumerate()
        .filter(|(_, spans)| !spans.is_empty())
        .map(|(svc, spans)| ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    s("service.name", SERVICES[svc]),
                    s("service.version", "1.4.2"),
                    s("host.name", &format!("host-{}", svc % 3)),
                    s("telemetry.sdk.language", "rust"),
                ],
                ..Resource::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: None,
                spans,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        })
        .collect();
    ExportTraceServiceRequest { resource_spans }
}

fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

pub fn run(args: TracesArgs) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(run_async(args))
}

struct Ports {
    http: u16,
    grpc: u16,
}

async fn start(args: &TracesArgs, dir: &std::path::Path) -> anyhow::Result<(Server, Ports)> {
    let http = free_port()?;
    let grpc = free_port()?;
    let otlp_http = free_port()?;
    let cfg = dir.join("oxeye.yml");
    std::fs::write(&cfg, "scrape_configs: []\n")?;
    let server = Server::spawn(
        "oxeye",
        Command::new(&args.oxeye_bin)
            .arg("serve")
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!("--storage.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{http}"))
            .arg(format!("--otlp.grpc-listen-address=127.0.0.1:{grpc}"))
            .arg(format!("--otlp.http-listen-address=127.0.0.1:{otlp_http}")),
    )?;
    let client = reqwest::Client::new();
    wait_ready(
        &client,
        &format!("http://127.0.0.1:{http}/-/ready"),
        Duration::from_secs(120),
    )
    .await?;
    Ok((server, Ports { http, grpc }))
}

/// Sends `bodies` over HTTP with `concurrency` senders; returns wall seconds.
async fn send_http(
    client: &reqwest::Client,
    url: &str,
    bodies: Arc<Vec<Vec<u8>>>,
    concurrency: usize,
) -> anyhow::Result<f64> {
    let next = Arc::new(AtomicUsize::new(0));
    let t = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, url, bodies, next) = (
            client.clone(),
            url.to_string(),
            bodies.clone(),
            next.clone(),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(body) = bodies.get(i) else {
                    return anyhow::Ok(());
                };
                let r = client
                    .post(&url)
                    .header("Content-Type", "application/x-protobuf")
                    .body(body.clone())
                    .send()
                    .await?;
                if !r.status().is_success() {
                    bail!("export refused: {} {}", r.status(), r.text().await?);
                }
            }
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(t.elapsed().as_secs_f64())
}

/// Sends `reqs` over gRPC with `concurrency` senders; returns wall seconds.
async fn send_grpc(
    endpoint: &str,
    reqs: Arc<Vec<ExportTraceServiceRequest>>,
    concurrency: usize,
) -> anyhow::Result<f64> {
    let next = Arc::new(AtomicUsize::new(0));
    let t = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let mut client = TraceServiceClient::connect(endpoint.to_string())
            .await?
            .max_decoding_message_size(64 << 20)
            .max_encoding_message_size(64 << 20);
        let (reqs, next) = (reqs.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(req) = reqs.get(i) else {
                    return anyhow::Ok(());
                };
                client.export(req.clone()).await?;
            }
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(t.elapsed().as_secs_f64())
}

async fn run_async(args: TracesArgs) -> anyhow::Result<()> {
    let root = match &args.work_dir {
        Some(p) => p.clone(),
        None => std::env::temp_dir().join(format!("oxeye-bench-traces-{}", std::process::id())),
    };
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root)?;
    let (mut server, ports) = start(&args, &root).await?;
    let base = format!("http://127.0.0.1:{}", ports.http);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .build()?;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut generated = Generated::default();
    let per_req = args.spans_per_request.max(1);
    // spread the data over the last hour so the read phases see many blocks' worth
    let start_ns = now_ns() - 3_600_000_000_000;
    let requests = args.throughput_spans.div_ceil(per_req);
    let step = 3_600_000_000_000 / (args.stored_spans.div_ceil(per_req).max(1) as u64);
    let mut sent_spans = 0usize;
    let mut req_index = 0u64;

    let t = Instant::now();
    let mut build = |rng: &mut Rng, generated: &mut Generated| {
        let r = build_request(rng, per_req, start_ns + req_index * step, generated);
        req_index += 1;
        r
    };
    let http_reqs: Vec<ExportTraceServiceRequest> = (0..requests)
        .map(|_| build(&mut rng, &mut generated))
        .collect();
    let grpc_reqs: Vec<ExportTraceServiceRequest> = (0..requests)
        .map(|_| build(&mut rng, &mut generated))
        .collect();
    let span_count = |reqs: &[ExportTraceServiceRequest]| -> usize {
        reqs.iter()
            .flat_map(|r| &r.resource_spans)
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum()
    };
    let http_spans = span_count(&http_reqs);
    let grpc_spans = span_count(&grpc_reqs);
    let bodies: Vec<Vec<u8>> = http_reqs.iter().map(|r| r.encode_to_vec()).collect();
    let wire: usize = bodies.iter().map(Vec::len).sum();
    drop(http_reqs);
    println!(
        "data: {} requests of ~{} spans per transport ({:.1} MiB of protobuf for HTTP), built in {:.1}s",
        requests,
        per_req,
        wire as f64 / 1048576.0,
        t.elapsed().as_secs_f64()
    );

    let cpu0 = server.cpu_seconds()?;
    let secs = send_http(
        &client,
        &format!("{base}/v1/traces"),
        Arc::new(bodies),
        args.concurrency,
    )
    .await?;
    let cpu = server.cpu_seconds()? - cpu0;
    sent_spans += http_spans;
    println!(
        "ingest otlp/http  {:>9} spans  {:>6.2}s  {:>8.0} spans/s  cpu {:>6.2}s  {:>8.0} spans/s per core",
        http_spans,
        secs,
        http_spans as f64 / secs,
        cpu,
        http_spans as f64 / cpu.max(1e-9)
    );

    let cpu0 = server.cpu_seconds()?;
    let endpoint = format!("http://127.0.0.1:{}", ports.grpc);
    let secs = send_grpc(&endpoint, Arc::new(grpc_reqs), args.concurrency).await?;
    let cpu = server.cpu_seconds()? - cpu0;
    sent_spans += grpc_spans;
    println!(
        "ingest otlp/grpc  {:>9} spans  {:>6.2}s  {:>8.0} spans/s  cpu {:>6.2}s  {:>8.0} spans/s per core",
        grpc_spans,
        secs,
        grpc_spans as f64 / secs,
        cpu,
        grpc_spans as f64 / cpu.max(1e-9)
    );

    // fill the store, building requests as we go (not timed as throughput)
    let t = Instant::now();
    let mut grpc = TraceServiceClient::connect(endpoint.clone())
        .await?
        .max_encoding_message_size(64 << 20);
    while sent_spans < args.stored_spans {
        let batch: Vec<ExportTraceServiceRequest> =
            (0..16).map(|_| build(&mut rng, &mut generated)).collect();
        sent_spans += span_count(&batch);
        for req in batch {
            grpc.export(req).await.context("load export")?;
        }
    }
    println!(
        "load: {} spans stored in total ({} traces), load phase {:.1}s",
        sent_spans,
        generated.ids.len(),
        t.elapsed().as_secs_f64()
    );
    let r = client
        .post(format!("{base}/api/v1/admin/tsdb/flush"))
        .send()
        .await?;
    if !r.status().is_success() {
        bail!("flush failed: {}", r.status());
    }
    let rss = server.peak_rss()?;
    let traces_dir = root.join("data").join("traces");
    let disk = dir_size(&traces_dir).unwrap_or(0);
    println!(
        "disk: {:.1} MiB in {} = {:.1} bytes/span; peak rss {:.0} MiB",
        disk as f64 / 1048576.0,
        traces_dir.display(),
        disk as f64 / sent_spans as f64,
        rss as f64 / 1048576.0
    );

    // trace by id, protobuf as Grafana asks for it
    let mut lat = Vec::with_capacity(args.lookups);
    let mut missing = 0;
    for _ in 0..args.lookups {
        let id = generated.ids[rng.below(generated.ids.len() as u64) as usize];
        let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
        let t = Instant::now();
        let r = client
            .get(format!("{base}/api/v2/traces/{hex}"))
            .header("Accept", "application/protobuf")
            .send()
            .await?;
        let status = r.status();
        let body = r.bytes().await?;
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
        if !status.is_success() || body.is_empty() {
            missing += 1;
        }
    }
    lat.sort_by(|a, b| a.total_cmp(b));
    println!(
        "trace by id: {} lookups  p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms  not found {}",
        lat.len(),
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        lat.last().copied().unwrap_or(f64::NAN),
        missing
    );

    let end_s = now_ns() / 1_000_000_000 + 60;
    let start_s = end_s - 2 * 3600;
    for q in [
        r#"{ resource.service.name = "payment" && span.http.response.status_code = 500 }"#,
        r#"{ duration > 400ms }"#,
        r#"{ resource.service.name = "frontend" } >> { span.db.system = "postgresql" }"#,
        r#"{ kind = server } | count() > 3"#,
        r#"{ status = error } | avg(duration) > 10ms"#,
    ] {
        let mut lat = Vec::new();
        let mut found = 0;
        for _ in 0..5 {
            let t = Instant::now();
            let r = client
                .get(format!("{base}/api/search"))
                .query(&[
                    ("q", q),
                    ("limit", "20"),
                    ("start", &start_s.to_string()),
                    ("end", &end_s.to_string()),
                ])
                .send()
                .await?;
            let status = r.status();
            let v: serde_json::Value =
                serde_json::from_slice(&r.bytes().await?).unwrap_or_default();
            lat.push(t.elapsed().as_secs_f64() * 1000.0);
            if !status.is_success() {
                bail!("search {q} failed: {status} {v}");
            }
            found = v["traces"].as_array().map(Vec::len).unwrap_or(0);
        }
        lat.sort_by(|a, b| a.total_cmp(b));
        println!(
            "search {:<80} p50 {:>8.1} ms  traces {}",
            q,
            percentile(&lat, 0.5),
            found
        );
    }
    server.stop(Duration::from_secs(30));
    let _ = std::fs::remove_dir_all(&root);
    Ok(())
}
