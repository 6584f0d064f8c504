//! Measures the trace store: append throughput (WAL encode + group-committed fsync + head
//! insert), bytes per span on disk, and trace-by-id latency over many blocks.
//!
//! `cargo run --release -p oxeye-traces --example trace_bench -- [spans] [threads]
//! [head MiB] [compact]` (defaults: 1000000 spans, 1 appender thread, 64 MiB head; with
//! `compact`, maintenance runs until no merge is left and lookups are measured again). Data goes to a temporary directory.

use std::sync::Arc;
use std::time::Instant;

use oxeye_core::trace::{
    AnyValue, KeyValue, Resource, ResourceSpans, Scope, ScopeSpans, Span, SpanKind, SpanStatusCode,
    TraceBatch, TraceQueryable,
};
use oxeye_core::{Clock, SystemClock, TenantId};
use oxeye_traces::{TraceStore, TraceStoreOptions};

/// The binary runs on mimalloc; measure with the same allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SPANS_PER_TRACE: u64 = 10;
const BATCH: u64 = 1000;

/// A small deterministic generator (xorshift) so runs are comparable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn trace_id(n: u64) -> [u8; 16] {
    let mut id = [0u8; 16];
    let h = n.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    id[..8].copy_from_slice(&h.to_be_bytes());
    id[8..].copy_from_slice(&n.to_be_bytes());
    id
}

/// One batch: `BATCH / SPANS_PER_TRACE` traces starting at trace `first`.
fn batch(first: u64, now_ns: u64, rng: &mut Rng) -> TraceBatch {
    let services = [
        "frontend",
        "cart",
        "checkout",
        "payment",
        "shipping",
        "email",
        "ads",
        "recommend",
    ];
    let mut by_service: Vec<Vec<Span>> = vec![Vec::new(); services.len()];
    for t in first..first + BATCH / SPANS_PER_TRACE {
        let tid = trace_id(t);
        let start = now_ns + (t % 1000) * 1_000_000;
        for s in 0..SPANS_PER_TRACE {
            let svc = ((t + s) % services.len() as u64) as usize;
            let mut span_id = [0u8; 8];
            span_id.copy_from_slice(&(t * 16 + s + 1).to_be_bytes());
            let parent = if s == 0 {
                [0; 8]
            } else {
                (t * 16 + 1).to_be_bytes()
            };
            let route = rng.next() % 40;
            by_service[svc].push(Span {
                trace_id: tid,
                span_id,
                parent_span_id: parent,
                name: format!("GET /api/v1/resource{route}"),
                kind: if s == 0 {
                    SpanKind::Server
                } else {
                    SpanKind::Client
                },
                start_unix_nano: start + s * 1000,
                end_unix_nano: start + s * 1000 + rng.next() % 50_000_000,
                attributes: vec![
                    KeyValue::string("http.method", "GET"),
                    KeyValue::string("http.route", format!("/api/v1/resource{route}")),
                    KeyValue::string(
                        "http.url",
                        format!(
                            "https://shop.example/api/v1/resource{route}?id={}",
                            rng.next() % 100_000
                        ),
                    ),
                    KeyValue::new(
                        "http.status_code",
                        AnyValue::Int(if rng.next() % 50 == 0 { 500 } else { 200 }),
                    ),
                    KeyValue::string("net.peer.name", services[(svc + 1) % services.len()]),
                    KeyValue::new("net.peer.port", AnyValue::Int(8080)),
                    KeyValue::string("user.id", format!("u{}", rng.next() % 10_000)),
                ],
                status_code: SpanStatusCode::Unset,
                ..Span::default()
            });
        }
    }
    TraceBatch {
        resource_spans: by_service
            .into_iter()
            .enumerate()
            .map(|(i, spans)| ResourceSpans {
                resource: Resource {
                    attributes: vec![
                        KeyValue::string("service.name", services[i]),
                        KeyValue::string("service.version", "1.4.2"),
                        KeyValue::string("host.name", format!("node-{}", i % 3)),
                        KeyValue::string("telemetry.sdk.language", "go"),
                    ],
                    ..Resource::default()
                },
                scope_spans: vec![ScopeSpans {
                    scope: Scope {
                        name: "go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
                            .into(),
                        version: "0.45.0".into(),
                        ..Scope::default()
                    },
                    spans,
                    schema_url: String::new(),
                }],
                schema_url: "https://opentelemetry.io/schemas/1.21.0".into(),
            })
            .collect(),
    }
}

/// CPU seconds used by this process so far (user + system), from /proc.
fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or_default();
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // fields after the command: state is 0, utime is 11, stime is 12 (clock ticks, 100/s)
    (ticks(11) + ticks(12)) / 100.0
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let total: u64 = args
        .get(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let threads: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1);
    let head_mb: u64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(64);
    let dir = tempfile::tempdir()?;
    let opts = TraceStoreOptions {
        head_max_bytes: head_mb << 20,
        ..TraceStoreOptions::default()
    };
    let store = Arc::new(TraceStore::open(dir.path(), opts, Arc::new(SystemClock))?);
    let tenant = TenantId::new("bench")?;
    let now_ns = u64::try_from(SystemClock.now_ms()).unwrap_or(0) * 1_000_000;
    let compact = args.get(4).is_some_and(|a| a == "compact");

    // pre-build the measured batches so only the store is measured; the rest of the data
    // (for the lookup figures) is generated and appended unmeasured afterwards
    let measured = total.min(300_000);
    let batches_per_thread = measured / BATCH / threads;
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut per_thread: Vec<Vec<TraceBatch>> = Vec::new();
    for th in 0..threads {
        per_thread.push(
            (0..batches_per_thread)
                .map(|b| {
                    batch(
                        (th * batches_per_thread + b) * (BATCH / SPANS_PER_TRACE),
                        now_ns,
                        &mut rng,
                    )
                })
                .collect(),
        );
    }
    let n_spans = batches_per_thread * threads * BATCH;
    let c0 = cpu_secs();
    let t0 = Instant::now();
    let handles: Vec<_> = per_thread
        .into_iter()
        .map(|batches| {
            let store = store.clone();
            let tenant = tenant.clone();
            std::thread::spawn(move || -> anyhow::Result<()> {
                for b in batches {
                    // stay clear of the store's backpressure limit (4x the head limit)
                    while store.stats().total.head_bytes > 3 * (head_mb << 20) {
                        std::thread::sleep(std::time::Duration::from_millis(1));
                    }
                    store.append(&tenant, b)?;
                }
                Ok(())
            })
        })
        .collect();
    for h in handles {
        h.join()
            .map_err(|_| anyhow::anyhow!("appender panicked"))??;
    }
    let secs = t0.elapsed().as_secs_f64();
    let cpu = cpu_secs() - c0;
    let s = store.stats().total;
    println!(
        "append: {n_spans} spans in {secs:.2}s = {:.0} spans/s wall, {:.0} spans per cpu-second ({threads} threads, {} fsyncs, {} blocks cut meanwhile)",
        n_spans as f64 / secs,
        n_spans as f64 / cpu.max(0.01),
        s.wal_fsyncs,
        s.blocks
    );
    let in_head = store.stats().total.head_spans;
    let c1 = cpu_secs();
    let t1 = Instant::now();
    store.flush()?;
    let fs = t1.elapsed().as_secs_f64();
    let fc = cpu_secs() - c1;
    println!(
        "flush of the remaining head: {in_head} spans in {fs:.2}s = {:.0} spans/s wall, {:.0} spans per cpu-second",
        in_head as f64 / fs,
        in_head as f64 / fc.max(0.01)
    );
    let s = store.stats().total;
    println!(
        "blocks: {}, spans in blocks {}, bytes {} = {:.1} bytes/span, index memory {} bytes",
        s.blocks,
        s.block_spans,
        s.block_bytes,
        s.block_bytes as f64 / s.block_spans.max(1) as f64,
        s.index_mem_bytes
    );
    let mut done = n_spans;
    let mut rng = Rng(7);
    let mut refused = 0u64;
    while done < total {
        let b = batch(done / SPANS_PER_TRACE, now_ns + done * 1000, &mut rng);
        refused += append_retrying(&store, &tenant, b)?;
        done += BATCH;
    }
    println!("fill: {refused} appends refused for backpressure and retried");
    store.flush()?;
    let s = store.stats().total;
    println!(
        "after filling to {done} spans: {} blocks, {:.1} bytes/span on disk, index memory {} bytes",
        s.blocks,
        s.block_bytes as f64 / s.block_spans.max(1) as f64,
        s.index_mem_bytes
    );
    let traces = done / SPANS_PER_TRACE;
    lookups(&store, &tenant, traces, "many blocks")?;
    let q = Instant::now();
    let mut visited = 0;
    store.scan(
        &tenant,
        &oxeye_core::trace::TraceScan {
            start_nanos: 0,
            end_nanos: u64::MAX,
            hints: Vec::new(),
        },
        &mut |_| {
            visited += 1;
            if visited >= 1000 {
                std::ops::ControlFlow::Break(())
            } else {
                std::ops::ControlFlow::Continue(())
            }
        },
    )?;
    println!(
        "scan of first 1000 traces: {:.1} ms",
        q.elapsed().as_secs_f64() * 1e3
    );
    if !compact {
        return Ok(());
    }
    let c = Instant::now();
    let c0 = cpu_secs();
    let mut compactions = 0;
    loop {
        let r = store.maintain()?;
        if r.compactions == 0 {
            break;
        }
        compactions += r.compactions;
    }
    let s = store.stats().total;
    println!(
        "maintain: {} compactions in {:.1}s ({:.1} cpu-s), now {} blocks, {:.1} bytes/span",
        compactions,
        c.elapsed().as_secs_f64(),
        cpu_secs() - c0,
        s.blocks,
        s.block_bytes as f64 / s.block_spans.max(1) as f64
    );
    lookups(&store, &tenant, traces, "after compaction")?;
    Ok(())
}

fn lookups(store: &TraceStore, tenant: &TenantId, traces: u64, what: &str) -> anyhow::Result<()> {
    let mut lat = Vec::new();
    let mut rng = Rng(42);
    for _ in 0..2000 {
        let id = trace_id(rng.next() % traces);
        let q = Instant::now();
        let t = store.trace_by_id(tenant, &id, None)?;
        lat.push(q.elapsed().as_secs_f64() * 1e3);
        anyhow::ensure!(
            t.is_some_and(|t| t.span_count() as u64 == SPANS_PER_TRACE),
            "trace missing"
        );
    }
    lat.sort_by(f64::total_cmp);
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    println!(
        "trace by id, {what} (hit): p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        pct(0.5),
        pct(0.99),
        pct(1.0)
    );
    let mut miss = Vec::new();
    for i in 0..2000 {
        let id = trace_id(traces + 1_000_000 + i);
        let q = Instant::now();
        let _ = store.trace_by_id(tenant, &id, None)?;
        miss.push(q.elapsed().as_secs_f64() * 1e3);
    }
    miss.sort_by(f64::total_cmp);
    println!(
        "trace by id, {what} (miss): p50 {:.3} ms, p99 {:.3} ms",
        miss[1000], miss[1980]
    );
    Ok(())
}

/// Appends, retrying while the store asks for backpressure; returns the refusals.
fn append_retrying(store: &TraceStore, tenant: &TenantId, b: TraceBatch) -> anyhow::Result<u64> {
    let mut refused = 0;
    loop {
        match store.append(tenant, b.clone()) {
            Ok(_) => return Ok(refused),
            Err(oxeye_traces::TraceError::Backpressure(_)) => {
                refused += 1;
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            Err(e) => return Err(e.into()),
        }
    }
}
