use oxeye_core::ManualClock;
use oxeye_core::trace::{KeyValue, Resource, ResourceSpans, ScopeSpans};

use super::*;

const T0: i64 = 1_700_000_000_000;
const NS: u64 = 1_700_000_000_000_000_000;

fn span(trace: u8, id: u8, parent: u8, name: &str, kind: SpanKind, ms: u64) -> Span {
    Span {
        trace_id: [trace; 16],
        span_id: [id; 8],
        parent_span_id: [parent; 8],
        name: name.into(),
        kind,
        start_unix_nano: NS,
        end_unix_nano: NS + ms * 1_000_000,
        ..Span::default()
    }
}

fn batch(service: &str, spans: Vec<Span>) -> TraceBatch {
    TraceBatch {
        resource_spans: vec![ResourceSpans {
            resource: Resource {
                attributes: vec![KeyValue::string("service.name", service)],
                ..Resource::default()
            },
            scope_spans: vec![ScopeSpans {
                spans,
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        }],
    }
}

fn setup(opts: GeneratorOptions) -> (Generator, ManualClock, TenantId) {
    let clock = ManualClock::new(T0);
    let g = Generator::new(opts, Arc::new(clock.clone()));
    (g, clock, TenantId::new("t1").unwrap())
}

/// The value of the series printed as `want` (Prometheus notation) in `b`.
fn value(b: &WriteBatch, want: &str) -> Option<f64> {
    b.series
        .iter()
        .find(|s| s.labels.to_string() == want)
        .map(|s| s.samples[0].v)
}

fn only(out: Vec<(TenantId, WriteBatch)>) -> WriteBatch {
    assert_eq!(out.len(), 1, "{out:?}");
    out.into_iter().next().unwrap().1
}

const CART_OK: &str = r#"service="cart", span_kind="SPAN_KIND_SERVER", span_name="GET /cart", status_code="STATUS_CODE_OK""#;
const CART_ERR: &str = r#"service="cart", span_kind="SPAN_KIND_SERVER", span_name="GET /cart", status_code="STATUS_CODE_ERROR""#;

#[test]
fn span_metrics_count_calls_and_latency_by_status() {
    let (g, _, t) = setup(GeneratorOptions::default());
    let mut ok1 = span(1, 1, 0, "GET /cart", SpanKind::Server, 3);
    ok1.status_code = SpanStatusCode::Ok;
    let mut ok2 = span(2, 1, 0, "GET /cart", SpanKind::Server, 100);
    ok2.status_code = SpanStatusCode::Ok;
    let mut err = span(3, 1, 0, "GET /cart", SpanKind::Server, 20_000);
    err.status_code = SpanStatusCode::Error;
    let internal = span(3, 2, 1, "render", SpanKind::Internal, 1);
    g.observe(&t, &batch("cart", vec![ok1, ok2, err, internal]));
    let b = only(g.collect());

    assert_eq!(
        value(&b, &format!("traces_spanmetrics_calls_total{{{CART_OK}}}")),
        Some(2.0)
    );
    assert_eq!(
        value(&b, &format!("traces_spanmetrics_calls_total{{{CART_ERR}}}")),
        Some(1.0)
    );
    let bucket = |labels: &str, le: &str| {
        value(
            &b,
            &format!("traces_spanmetrics_latency_bucket{{le=\"{le}\", {labels}}}"),
        )
    };
    // 3 ms lands in le=0.004, 100 ms in le=0.128; buckets are cumulative
    assert_eq!(bucket(CART_OK, "0.002"), Some(0.0));
    assert_eq!(bucket(CART_OK, "0.004"), Some(1.0));
    assert_eq!(bucket(CART_OK, "0.064"), Some(1.0));
    assert_eq!(bucket(CART_OK, "0.128"), Some(2.0));
    assert_eq!(bucket(CART_OK, "16.384"), Some(2.0));
    assert_eq!(bucket(CART_OK, "+Inf"), Some(2.0));
    // 20 s is above the last bound
    assert_eq!(bucket(CART_ERR, "16.384"), Some(0.0));
    assert_eq!(bucket(CART_ERR, "+Inf"), Some(1.0));
    let sum = value(&b, &format!("traces_spanmetrics_latency_sum{{{CART_OK}}}")).unwrap();
    assert!((sum - 0.103).abs() < 1e-9, "{sum}");
    assert_eq!(
        value(
            &b,
            &format!("traces_spanmetrics_latency_count{{{CART_OK}}}")
        ),
        Some(2.0)
    );
    assert_eq!(
        value(
            &b,
            r#"traces_spanmetrics_calls_total{service="cart", span_kind="SPAN_KIND_INTERNAL", span_name="render", status_code="STATUS_CODE_UNSET"}"#
        ),
        Some(1.0)
    );
    assert!(b.series.iter().all(|s| s.samples[0].t == T0));
    let families: Vec<(&str, MetricType)> = b
        .metadata
        .iter()
        .map(|m| (m.metric_family.as_str(), m.metric_type))
        .collect();
    assert_eq!(
        families,
        vec![
            ("traces_spanmetrics_calls_total", MetricType::Counter),
            ("traces_spanmetrics_latency", MetricType::Histogram),
        ]
    );
    // three label sets, each calls + 15 buckets + sum + count
    assert_eq!(b.series.len(), 3 * 18);
    assert_eq!(g.stats()[0].1.active_series, 3 * 18);
}

#[test]
fn values_are_cumulative_and_exemplars_carry_trace_ids_once() {
    let (g, clock, t) = setup(GeneratorOptions::default());
    let mut s = span(0xab, 0xcd, 0, "GET /cart", SpanKind::Server, 3);
    s.status_code = SpanStatusCode::Ok;
    g.observe(&t, &batch("cart", vec![s.clone()]));
    let b = only(g.collect());
    let calls = format!("traces_spanmetrics_calls_total{{{CART_OK}}}");
    let series = b
        .series
        .iter()
        .find(|x| x.labels.to_string() == calls)
        .unwrap();
    assert_eq!(series.exemplars.len(), 1);
    let ex = &series.exemplars[0];
    assert_eq!(
        ex.labels.get("trace_id"),
        Some("abababababababababababababababab")
    );
    assert_eq!(ex.labels.get("span_id"), Some("cdcdcdcdcdcdcdcd"));
    let bucket = b
        .series
        .iter()
        .find(|x| x.labels.get("le") == Some("0.004"))
        .unwrap();
    assert_eq!(bucket.exemplars.len(), 1);
    assert!((bucket.exemplars[0].v - 0.003).abs() < 1e-12);
    // buckets without observations carry none
    let empty = b
        .series
        .iter()
        .find(|x| x.labels.get("le") == Some("0.002"))
        .unwrap();
    assert!(empty.exemplars.is_empty());

    clock.advance(15_000);
    g.observe(&t, &batch("cart", vec![s.clone(), s]));
    clock.advance(15_000);
    let b = only(g.collect());
    assert_eq!(value(&b, &calls), Some(3.0));
    assert!(b.series.iter().all(|s| s.samples[0].t == T0 + 30_000));
    // a collect with nothing new keeps the value and sends no exemplar again
    clock.advance(15_000);
    let b = only(g.collect());
    assert_eq!(value(&b, &calls), Some(3.0));
    assert!(b.series.iter().all(|s| s.exemplars.is_empty()));
}

const GRAPH: &str = r#"client="frontend", server="cart""#;

#[test]
fn service_graph_pairs_client_and_server_across_batches() {
    let (g, clock, t) = setup(GeneratorOptions::default());
    // frontend calls cart; the client span arrives first, the server span later
    let client = span(1, 2, 1, "HTTP GET", SpanKind::Client, 300);
    g.observe(&t, &batch("frontend", vec![client]));
    assert_eq!(g.stats()[0].1.pending_edges, 1);
    clock.advance(2_000);
    let mut server = span(1, 3, 2, "GET /cart", SpanKind::Server, 250);
    server.status_code = SpanStatusCode::Error;
    g.observe(&t, &batch("cart", vec![server]));
    assert_eq!(g.stats()[0].1.pending_edges, 0);
    let b = only(g.collect());
    let total = format!("traces_service_graph_request_total{{{GRAPH}}}");
    assert_eq!(value(&b, &total), Some(1.0));
    assert_eq!(
        value(
            &b,
            &format!("traces_service_graph_request_failed_total{{{GRAPH}}}")
        ),
        Some(1.0)
    );
    let server_bucket = |le: &str| {
        value(
            &b,
            &format!(
                "traces_service_graph_request_server_seconds_bucket{{client=\"frontend\", le=\"{le}\", server=\"cart\"}}"
            ),
        )
    };
    assert_eq!(server_bucket("0.2"), Some(0.0));
    assert_eq!(server_bucket("0.4"), Some(1.0));
    assert_eq!(server_bucket("+Inf"), Some(1.0));
    let client_sum = value(
        &b,
        &format!("traces_service_graph_request_client_seconds_sum{{{GRAPH}}}"),
    )
    .unwrap();
    assert!((client_sum - 0.3).abs() < 1e-9);
    let server_sum = value(
        &b,
        &format!("traces_service_graph_request_server_seconds_sum{{{GRAPH}}}"),
    )
    .unwrap();
    assert!((server_sum - 0.25).abs() < 1e-9);
    let ex = &b
        .series
        .iter()
        .find(|s| s.labels.to_string() == total)
        .unwrap()
        .exemplars;
    assert_eq!(
        ex[0].labels.get("trace_id"),
        Some("01010101010101010101010101010101")
    );
    assert!(b.metadata.iter().any(|m| m.metric_family
        == "traces_service_graph_request_server_seconds"
        && m.metric_type == MetricType::Histogram));
}

#[test]
fn expired_root_server_span_gets_the_user_client() {
    let (g, clock, t) = setup(GeneratorOptions::default());
    // a root server span: nobody instrumented called it
    g.observe(
        &t,
        &batch(
            "gateway",
            vec![span(5, 1, 0, "GET /", SpanKind::Server, 50)],
        ),
    );
    // a non-root server span whose client never arrives
    g.observe(
        &t,
        &batch(
            "orphan",
            vec![span(6, 2, 9, "GET /x", SpanKind::Server, 50)],
        ),
    );
    clock.advance(9_999);
    let b = only(g.collect());
    assert!(
        !b.series
            .iter()
            .any(|s| s.labels.get("__name__") == Some("traces_service_graph_request_total")),
        "nothing before the wait is over"
    );
    clock.advance(1);
    let b = only(g.collect());
    let user = r#"traces_service_graph_request_total{client="user", connection_type="virtual_node", server="gateway"}"#;
    assert_eq!(value(&b, user), Some(1.0));
    assert!(
        !b.series
            .iter()
            .any(|s| s.labels.get("server") == Some("orphan")),
        "a non-root server span without client is dropped"
    );
    let st = g.stats()[0].1;
    assert_eq!(st.expired_edges, 2);
    assert_eq!(st.pending_edges, 0);
}

#[test]
fn unpaired_client_with_peer_becomes_a_virtual_server() {
    let (g, clock, t) = setup(GeneratorOptions::default());
    let mut call = span(7, 1, 0, "charge", SpanKind::Client, 80);
    call.attributes
        .push(KeyValue::string("peer.service", "payments-api"));
    let lost = span(8, 1, 0, "lost", SpanKind::Client, 80);
    g.observe(&t, &batch("checkout", vec![call, lost]));
    clock.advance(10_000);
    let b = only(g.collect());
    let v = r#"traces_service_graph_request_total{client="checkout", connection_type="virtual_node", server="payments-api"}"#;
    assert_eq!(value(&b, v), Some(1.0));
    let graph_totals = b
        .series
        .iter()
        .filter(|s| s.labels.get("__name__") == Some("traces_service_graph_request_total"))
        .count();
    assert_eq!(graph_totals, 1);
}

#[test]
fn database_and_messaging_connection_types() {
    let (g, _, t) = setup(GeneratorOptions::default());
    let mut db = span(9, 1, 0, "SELECT", SpanKind::Client, 5);
    db.attributes
        .push(KeyValue::string("db.system", "postgresql"));
    db.attributes.push(KeyValue::string("db.name", "orders"));
    let producer = span(10, 1, 0, "publish", SpanKind::Producer, 2);
    g.observe(&t, &batch("checkout", vec![db, producer]));
    g.observe(
        &t,
        &batch(
            "mailer",
            vec![span(10, 2, 1, "consume", SpanKind::Consumer, 40)],
        ),
    );
    let b = only(g.collect());
    // a database call completes without a server span
    let db = r#"traces_service_graph_request_total{client="checkout", connection_type="database", server="orders"}"#;
    assert_eq!(value(&b, db), Some(1.0));
    let mq = r#"traces_service_graph_request_total{client="checkout", connection_type="messaging_system", server="mailer"}"#;
    assert_eq!(value(&b, mq), Some(1.0));
    let plain_failed = r#"traces_service_graph_request_failed_total{client="checkout", connection_type="messaging_system", server="mailer"}"#;
    assert_eq!(value(&b, plain_failed), Some(0.0));
}

#[test]
fn pending_edges_are_bounded() {
    let opts = GeneratorOptions {
        max_pending_edges: 2,
        ..GeneratorOptions::default()
    };
    let (g, _, t) = setup(opts);
    let spans = (1..=4)
        .map(|i| span(i, 1, 0, "call", SpanKind::Client, 1))
        .collect();
    g.observe(&t, &batch("a", spans));
    let st = g.stats()[0].1;
    assert_eq!(st.pending_edges, 2);
    assert_eq!(st.dropped_edges, 2);
}

#[test]
fn series_limit_refuses_and_counts() {
    let opts = GeneratorOptions {
        service_graph: false,
        max_active_series: 2 * 18,
        ..GeneratorOptions::default()
    };
    let (g, _, t) = setup(opts);
    let spans = ["a", "b", "c", "a"]
        .iter()
        .map(|n| span(1, 1, 0, n, SpanKind::Server, 1))
        .collect();
    g.observe(&t, &batch("svc", spans));
    let st = g.stats()[0].1;
    assert_eq!(st.active_series, 2 * 18);
    assert_eq!(st.refused_series, 1);
    let b = only(g.collect());
    let calls = |n: &str| {
        value(
            &b,
            &format!(
                "traces_spanmetrics_calls_total{{service=\"svc\", span_kind=\"SPAN_KIND_SERVER\", span_name=\"{n}\", status_code=\"STATUS_CODE_UNSET\"}}"
            ),
        )
    };
    assert_eq!(calls("a"), Some(2.0));
    assert_eq!(calls("b"), Some(1.0));
    assert_eq!(calls("c"), None);
}

#[test]
fn stale_series_and_idle_tenants_are_dropped() {
    let (g, clock, t) = setup(GeneratorOptions::default());
    let other = TenantId::new("t2").unwrap();
    g.observe(
        &t,
        &batch("old", vec![span(1, 1, 0, "x", SpanKind::Internal, 1)]),
    );
    clock.advance(10 * 60 * 1000);
    g.observe(
        &other,
        &batch("new", vec![span(2, 1, 0, "y", SpanKind::Internal, 1)]),
    );
    let out = g.collect();
    assert_eq!(out.len(), 2);
    // tenants stay apart
    let t2 = &out.iter().find(|(id, _)| id == &other).unwrap().1;
    assert!(
        t2.series
            .iter()
            .all(|s| s.labels.get("service") != Some("old"))
    );
    clock.advance(6 * 60 * 1000);
    let out = g.collect();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, other);
    let stats = g.stats();
    assert_eq!(stats.len(), 1, "{stats:?}");
    // the forgotten tenant starts from zero
    g.observe(
        &t,
        &batch("old", vec![span(1, 1, 0, "x", SpanKind::Internal, 1)]),
    );
    let out = g.collect();
    let b = &out.iter().find(|(id, _)| id == &t).unwrap().1;
    assert_eq!(
        value(
            b,
            r#"traces_spanmetrics_calls_total{service="old", span_kind="SPAN_KIND_INTERNAL", span_name="x", status_code="STATUS_CODE_UNSET"}"#
        ),
        Some(1.0)
    );
}
