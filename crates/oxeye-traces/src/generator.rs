//! Span metrics and service graph, derived from ingested spans, as Tempo's
//! metrics-generator names and shapes them.
//!
//! Data flow: trace ingest calls [`Generator::observe`] with every stored batch (on the
//! ingest path, so it only updates in-memory counters: no I/O, and no allocation per span
//! once a series exists); every ~15 s the binary calls [`Generator::collect`] and appends
//! each tenant's [`WriteBatch`] to the metrics store of the same tenant. Samples are
//! cumulative and stamped with the clock's now; exemplars (`trace_id`, `span_id`) recorded
//! since the previous collect ride on the counters and buckets.
//!
//! Span metrics, per `service`, `span_name`, `span_kind` (`SPAN_KIND_SERVER`...) and
//! `status_code` (`STATUS_CODE_OK`/`STATUS_CODE_ERROR`/`STATUS_CODE_UNSET`):
//! `traces_spanmetrics_calls_total` and the `traces_spanmetrics_latency` histogram
//! (seconds).
//!
//! Service graph, per `client`, `server` and `connection_type` (empty, `messaging_system`,
//! `database` or `virtual_node`): `traces_service_graph_request_total`,
//! `traces_service_graph_request_failed_total` and the
//! `traces_service_graph_request_server_seconds` / `..._client_seconds` histograms. Client
//! and server halves of a request are paired in memory ([`graph`]) for at most
//! [`GeneratorOptions::edge_wait_ms`], with at most [`GeneratorOptions::max_pending_edges`]
//! waiting per tenant.
//!
//! Series not updated for [`GeneratorOptions::stale_after_ms`] are forgotten; a tenant
//! holds at most [`GeneratorOptions::max_active_series`] series, and observations that
//! would create more are refused and counted ([`GeneratorStats::refused_series`]).

mod graph;
mod series;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::Arc;

use oxeye_core::trace::{Span, SpanKind, SpanStatusCode, TraceBatch};
use oxeye_core::{Clock, Label, MetricMetadata, MetricType, TenantId, WriteBatch};
use parking_lot::{Mutex, RwLock};

use graph::{ConnType, PendingEdges, Request};
use series::{Counter, Ex, Histogram, clean_bounds, render_counter};

/// Tempo's default span-metrics latency buckets, seconds.
pub const SPAN_METRICS_BUCKETS: [f64; 14] = [
    0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096, 8.192,
    16.384,
];

/// Tempo's default service-graph latency buckets, seconds.
pub const SERVICE_GRAPH_BUCKETS: [f64; 8] = [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8];

const CALLS: &str = "traces_spanmetrics_calls_total";
const LATENCY: &str = "traces_spanmetrics_latency";
const REQUESTS: &str = "traces_service_graph_request_total";
const FAILED: &str = "traces_service_graph_request_failed_total";
const SERVER_SECONDS: &str = "traces_service_graph_request_server_seconds";
const CLIENT_SECONDS: &str = "traces_service_graph_request_client_seconds";

/// What the generator computes and the bounds it keeps to.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratorOptions {
    /// Compute span metrics.
    pub span_metrics: bool,
    /// Compute the service graph.
    pub service_graph: bool,
    /// Latency buckets of span metrics, seconds.
    pub span_metrics_buckets: Vec<f64>,
    /// Latency buckets of the service graph, seconds.
    pub service_graph_buckets: Vec<f64>,
    /// How long half an edge waits for its other half, ms.
    pub edge_wait_ms: i64,
    /// Edges waiting per tenant; spans that would open more are not paired.
    pub max_pending_edges: usize,
    /// Series not updated for this long are dropped, ms.
    pub stale_after_ms: i64,
    /// Series per tenant; observations that would create more are refused.
    pub max_active_series: usize,
    /// Span attributes naming the peer of an unpaired client span (first found wins).
    pub peer_attributes: Vec<String>,
}

impl Default for GeneratorOptions {
    fn default() -> Self {
        Self {
            span_metrics: true,
            service_graph: true,
            span_metrics_buckets: SPAN_METRICS_BUCKETS.to_vec(),
            service_graph_buckets: SERVICE_GRAPH_BUCKETS.to_vec(),
            edge_wait_ms: 10_000,
            max_pending_edges: 10_000,
            stale_after_ms: 15 * 60 * 1000,
            max_active_series: 100_000,
            peer_attributes: vec!["peer.service".into(), "db.name".into(), "db.system".into()],
        }
    }
}

/// One tenant's generator state, as reported for self metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GeneratorStats {
    /// Series held (each bucket, sum and count counts as one).
    pub active_series: usize,
    /// Observations refused because they would have gone over the series limit.
    pub refused_series: u64,
    /// Edges waiting for their other half.
    pub pending_edges: usize,
    /// Edges that expired before both halves were seen.
    pub expired_edges: u64,
    /// Spans not paired because too many edges were waiting.
    pub dropped_edges: u64,
}

/// Span metrics and the service graph of every tenant.
#[derive(Debug)]
pub struct Generator {
    opts: GeneratorOptions,
    span_bounds: Vec<f64>,
    graph_bounds: Vec<f64>,
    clock: Arc<dyn Clock>,
    tenants: RwLock<HashMap<TenantId, Arc<Mutex<TenantState>>>>,
}

#[derive(Debug)]
struct SpanSeries {
    calls: Counter,
    latency: Histogram,
    last_ms: i64,
}

#[derive(Debug)]
struct GraphSeries {
    total: Counter,
    failed: Counter,
    server: Histogram,
    client: Histogram,
    last_ms: i64,
}

type GraphKey = (Arc<str>, Arc<str>, ConnType);

#[derive(Debug)]
struct TenantState {
    /// service -> span name -> (kind * 3 + status, series)
    spans: HashMap<String, HashMap<String, Vec<(u8, SpanSeries)>>>,
    graph: HashMap<GraphKey, GraphSeries>,
    edges: PendingEdges,
    active_series: usize,
    refused: u64,
    /// Set when the tenant was dropped from the map; observers then start over.
    removed: bool,
}

fn kind_label(k: SpanKind) -> &'static str {
    match k {
        SpanKind::Unspecified => "SPAN_KIND_UNSPECIFIED",
        SpanKind::Internal => "SPAN_KIND_INTERNAL",
        SpanKind::Server => "SPAN_KIND_SERVER",
        SpanKind::Client => "SPAN_KIND_CLIENT",
        SpanKind::Producer => "SPAN_KIND_PRODUCER",
        SpanKind::Consumer => "SPAN_KIND_CONSUMER",
    }
}

fn status_label(s: SpanStatusCode) -> &'static str {
    match s {
        SpanStatusCode::Unset => "STATUS_CODE_UNSET",
        SpanStatusCode::Ok => "STATUS_CODE_OK",
        SpanStatusCode::Error => "STATUS_CODE_ERROR",
    }
}

const KINDS: [SpanKind; 6] = [
    SpanKind::Unspecified,
    SpanKind::Internal,
    SpanKind::Server,
    SpanKind::Client,
    SpanKind::Producer,
    SpanKind::Consumer,
];
const STATUSES: [SpanStatusCode; 3] = [
    SpanStatusCode::Unset,
    SpanStatusCode::Ok,
    SpanStatusCode::Error,
];

fn slot(kind: SpanKind, status: SpanStatusCode) -> u8 {
    kind as u8 * 3 + status as u8
}

fn unslot(slot: u8) -> (SpanKind, SpanStatusCode) {
    let kind = KINDS
        .get(usize::from(slot / 3))
        .copied()
        .unwrap_or_default();
    let status = STATUSES
        .get(usize::from(slot % 3))
        .copied()
        .unwrap_or_default();
    (kind, status)
}

impl Generator {
    /// A generator with `opts`, timing by `clock`.
    pub fn new(opts: GeneratorOptions, clock: Arc<dyn Clock>) -> Self {
        Self {
            span_bounds: clean_bounds(&opts.span_metrics_buckets),
            graph_bounds: clean_bounds(&opts.service_graph_buckets),
            opts,
            clock,
            tenants: RwLock::new(HashMap::new()),
        }
    }

    /// Series a span-metrics label set holds: calls, buckets with `+Inf`, sum, count.
    fn span_cost(&self) -> usize {
        self.span_bounds.len() + 4
    }

    /// Series a service-graph label set holds: two counters and two histograms.
    fn graph_cost(&self) -> usize {
        2 + 2 * (self.graph_bounds.len() + 3)
    }

    fn tenant(&self, tenant: &TenantId) -> Arc<Mutex<TenantState>> {
        if let Some(s) = self.tenants.read().get(tenant) {
            return s.clone();
        }
        self.tenants
            .write()
            .entry(tenant.clone())
            .or_insert_with(|| {
                Arc::new(Mutex::new(TenantState {
                    spans: HashMap::new(),
                    graph: HashMap::new(),
                    edges: PendingEdges::new(self.opts.max_pending_edges, self.opts.edge_wait_ms),
                    active_series: 0,
                    refused: 0,
                    removed: false,
                }))
            })
            .clone()
    }

    /// Counts every span of `batch` for `tenant` and pairs its client and server spans.
    pub fn observe(&self, tenant: &TenantId, batch: &TraceBatch) {
        if !self.opts.span_metrics && !self.opts.service_graph {
            return;
        }
        let now = self.clock.now_ms();
        loop {
            let state = self.tenant(tenant);
            let mut st = state.lock();
            if st.removed {
                // collected away between the lookup and the lock: use the new state
                continue;
            }
            let mut done = Vec::new();
            if self.opts.service_graph {
                st.edges.expire(now, &mut done);
            }
            for rs in &batch.resource_spans {
                let service = rs.resource.service_name();
                for span in rs.scope_spans.iter().flat_map(|ss| &ss.spans) {
                    if self.opts.span_metrics {
                        self.record_span(&mut st, service.unwrap_or(""), span, now);
                    }
                    if self.opts.service_graph
                        && let Some(svc) = service
                    {
                        let peers = &self.opts.peer_attributes;
                        done.extend(st.edges.observe(&rs.resource, svc, span, now, peers));
                    }
                }
            }
            for r in done {
                self.record_request(&mut st, r, now);
            }
            return;
        }
    }

    fn record_span(&self, st: &mut TenantState, service: &str, span: &Span, now: i64) {
        let key = slot(span.kind, span.status_code);
        let secs = span.duration_nanos() as f64 / 1e9;
        let ex = |value| Ex {
            trace_id: span.trace_id,
            span_id: span.span_id,
            value,
            t_ms: now,
        };
        let found = st
            .spans
            .get_mut(service)
            .and_then(|names| names.get_mut(span.name.as_str()))
            .and_then(|v| v.iter_mut().find(|(k, _)| *k == key));
        if let Some((_, s)) = found {
            s.calls.inc(Some(ex(1.0)));
            s.latency.observe(&self.span_bounds, secs, Some(ex(secs)));
            s.last_ms = now;
            return;
        }
        let cost = self.span_cost();
        if st.active_series.saturating_add(cost) > self.opts.max_active_series {
            st.refused += 1;
            return;
        }
        st.active_series += cost;
        let mut s = SpanSeries {
            calls: Counter::default(),
            latency: Histogram::new(&self.span_bounds),
            last_ms: now,
        };
        s.calls.inc(Some(ex(1.0)));
        s.latency.observe(&self.span_bounds, secs, Some(ex(secs)));
        st.spans
            .entry(service.to_string())
            .or_default()
            .entry(span.name.clone())
            .or_default()
            .push((key, s));
    }

    fn record_request(&self, st: &mut TenantState, r: Request, now: i64) {
        let ex = |value| Ex {
            trace_id: r.trace_id,
            span_id: r.span_id,
            value,
            t_ms: now,
        };
        let key = (r.client.clone(), r.server.clone(), r.conn);
        if !st.graph.contains_key(&key) {
            let cost = self.graph_cost();
            if st.active_series.saturating_add(cost) > self.opts.max_active_series {
                st.refused += 1;
                return;
            }
            st.active_series += cost;
            st.graph.insert(
                key.clone(),
                GraphSeries {
                    total: Counter::default(),
                    failed: Counter::default(),
                    server: Histogram::new(&self.graph_bounds),
                    client: Histogram::new(&self.graph_bounds),
                    last_ms: now,
                },
            );
        }
        let Some(g) = st.graph.get_mut(&key) else {
            return;
        };
        g.total.inc(Some(ex(1.0)));
        if r.failed {
            g.failed.inc(Some(ex(1.0)));
        }
        g.server
            .observe(&self.graph_bounds, r.server_secs, Some(ex(r.server_secs)));
        g.client
            .observe(&self.graph_bounds, r.client_secs, Some(ex(r.client_secs)));
        g.last_ms = now;
    }

    /// Every tenant's active series as cumulative samples at the clock's now, with the
    /// exemplars recorded since the last collect. Expires waiting edges and forgets stale
    /// series first; tenants left with nothing are dropped.
    pub fn collect(&self) -> Vec<(TenantId, WriteBatch)> {
        let now = self.clock.now_ms();
        let cutoff = now.saturating_sub(self.opts.stale_after_ms);
        let tenants: Vec<(TenantId, Arc<Mutex<TenantState>>)> = self
            .tenants
            .read()
            .iter()
            .map(|(t, s)| (t.clone(), s.clone()))
            .collect();
        let mut out = Vec::new();
        let mut idle = Vec::new();
        for (tenant, state) in tenants {
            let mut st = state.lock();
            let mut done = Vec::new();
            st.edges.expire(now, &mut done);
            for r in done {
                self.record_request(&mut st, r, now);
            }
            self.drop_stale(&mut st, cutoff);
            if st.spans.is_empty() && st.graph.is_empty() && st.edges.is_empty() {
                idle.push(tenant);
                continue;
            }
            let batch = self.render(&mut st, now);
            if !batch.series.is_empty() {
                out.push((tenant, batch));
            }
        }
        if !idle.is_empty() {
            let mut map = self.tenants.write();
            for t in idle {
                let Some(state) = map.get(&t).cloned() else {
                    continue;
                };
                let mut st = state.lock();
                if st.spans.is_empty() && st.graph.is_empty() && st.edges.is_empty() {
                    st.removed = true;
                    map.remove(&t);
                }
            }
        }
        out
    }

    fn drop_stale(&self, st: &mut TenantState, cutoff: i64) {
        let (span_cost, graph_cost) = (self.span_cost(), self.graph_cost());
        let mut freed = 0;
        st.spans.retain(|_, names| {
            names.retain(|_, v| {
                let before = v.len();
                v.retain(|(_, s)| s.last_ms >= cutoff);
                freed += (before - v.len()) * span_cost;
                !v.is_empty()
            });
            !names.is_empty()
        });
        st.graph.retain(|_, g| {
            let keep = g.last_ms >= cutoff;
            if !keep {
                freed += graph_cost;
            }
            keep
        });
        st.active_series = st.active_series.saturating_sub(freed);
    }

    fn render(&self, st: &mut TenantState, now: i64) -> WriteBatch {
        let mut series = Vec::with_capacity(st.active_series);
        for (service, names) in st.spans.iter_mut() {
            for (name, v) in names.iter_mut() {
                for (key, s) in v.iter_mut() {
                    let (kind, status) = unslot(*key);
                    let base = [
                        Label::new("service", service.as_str()),
                        Label::new("span_kind", kind_label(kind)),
                        Label::new("span_name", name.as_str()),
                        Label::new("status_code", status_label(status)),
                    ];
                    render_counter(&mut s.calls, CALLS, &base, now, &mut series);
                    s.latency
                        .render(LATENCY, &self.span_bounds, &base, now, &mut series);
                }
            }
        }
        for ((client, server, conn), g) in st.graph.iter_mut() {
            let base = [
                Label::new("client", &**client),
                Label::new("connection_type", conn.label()),
                Label::new("server", &**server),
            ];
            render_counter(&mut g.total, REQUESTS, &base, now, &mut series);
            render_counter(&mut g.failed, FAILED, &base, now, &mut series);
            g.server
                .render(SERVER_SECONDS, &self.graph_bounds, &base, now, &mut series);
            g.client
                .render(CLIENT_SECONDS, &self.graph_bounds, &base, now, &mut series);
        }
        WriteBatch {
            series,
            metadata: self.metadata(!st.spans.is_empty(), !st.graph.is_empty()),
        }
    }

    fn metadata(&self, spans: bool, graph: bool) -> Vec<MetricMetadata> {
        let meta = |family: &str, metric_type, help: &str, unit: &str| MetricMetadata {
            metric_family: family.to_string(),
            metric_type,
            help: help.to_string(),
            unit: unit.to_string(),
        };
        let mut out = Vec::new();
        if spans {
            out.push(meta(
                CALLS,
                MetricType::Counter,
                "Spans received, per service, span name, span kind and status code",
                "",
            ));
            out.push(meta(
                LATENCY,
                MetricType::Histogram,
                "Span durations in seconds, per service, span name, span kind and status code",
                "seconds",
            ));
        }
        if graph {
            out.push(meta(
                REQUESTS,
                MetricType::Counter,
                "Requests between two services, from paired client and server spans",
                "",
            ));
            out.push(meta(
                FAILED,
                MetricType::Counter,
                "Requests between two services where either span failed",
                "",
            ));
            out.push(meta(
                SERVER_SECONDS,
                MetricType::Histogram,
                "Server-side duration of requests between two services in seconds",
                "seconds",
            ));
            out.push(meta(
                CLIENT_SECONDS,
                MetricType::Histogram,
                "Client-side duration of requests between two services in seconds",
                "seconds",
            ));
        }
        out
    }

    /// Per-tenant state sizes and refusal counts, for self metrics.
    pub fn stats(&self) -> Vec<(TenantId, GeneratorStats)> {
        let tenants: Vec<(TenantId, Arc<Mutex<TenantState>>)> = self
            .tenants
            .read()
            .iter()
            .map(|(t, s)| (t.clone(), s.clone()))
            .collect();
        let mut out: Vec<(TenantId, GeneratorStats)> = tenants
            .into_iter()
            .map(|(t, s)| {
                let st = s.lock();
                let stats = GeneratorStats {
                    active_series: st.active_series,
                    refused_series: st.refused,
                    pending_edges: st.edges.len(),
                    expired_edges: st.edges.expired,
                    dropped_edges: st.edges.dropped,
                };
                (t, stats)
            })
            .collect();
        out.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
        out
    }
}
