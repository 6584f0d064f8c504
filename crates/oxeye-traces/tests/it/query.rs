//! Scans, hints and dictionaries over head and blocks.

use std::collections::HashSet;
use std::ops::ControlFlow;

use oxeye_core::ManualClock;
use oxeye_core::trace::{
    AnyValue, AttrScope, KeyValue, Operation, ScanHint, SpanAppender, SpanKind, TraceQueryable,
    TraceScan,
};

use crate::common::*;

#[test]
fn scan_is_newest_first_and_visits_each_trace_once_with_all_spans() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0_MS);
    let store = open(dir.path(), &clock);
    let t = tenant("a");
    // traces 0..10 in a first block, 10..20 in a second, 20..30 in the head
    for round in 0..3u32 {
        for n in round * 10..round * 10 + 10 {
            let start = T0_NS + u64::from(n) * SEC;
            store
                .append_spans(
                    &t,
                    batch_of(
                        "api",
                        vec![
                            span(n, 0, "root", start, 100),
                            span(n, 1, "child", start + 1, 10),
                        ],
                    ),
                )
                .unwrap();
        }
        if round < 2 {
            store.flush().unwrap();
        }
    }
    // late parts: trace 3 (block 1) gets a span in the head, trace 15 (block 2) too
    store
        .append_spans(
            &t,
            batch_of(
                "late",
                vec![
                    span(3, 2, "late", T0_NS + 3 * SEC + 5, 1),
                    span(15, 2, "late", T0_NS + 15 * SEC + 5, 1),
                ],
            ),
        )
        .unwrap();
    let traces = scan_all(&store, &t, &all_scan());
    assert_eq!(traces.len(), 30);
    let ids: HashSet<_> = traces.iter().map(|tr| tr.trace_id).collect();
    assert_eq!(ids.len(), 30, "a trace was visited twice");
    for tr in &traces {
        let n = u32::from_be_bytes(tr.trace_id[..4].try_into().unwrap());
        let want = if n == 3 || n == 15 { 3 } else { 2 };
        assert_eq!(tr.span_count(), want, "trace {n}");
    }
    // newest first, apart from traces pulled forward by their late head part
    let order: Vec<u32> = traces
        .iter()
        .map(|tr| u32::from_be_bytes(tr.trace_id[..4].try_into().unwrap()))
        .filter(|n| *n != 3 && *n != 15)
        .collect();
    let mut sorted = order.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(order, sorted);

    // a time range selects traces with a span inside it
    let scan = TraceScan {
        start_nanos: T0_NS + 12 * SEC,
        end_nanos: T0_NS + 14 * SEC,
        hints: Vec::new(),
    };
    let got: HashSet<u32> = scan_all(&store, &t, &scan)
        .iter()
        .map(|tr| u32::from_be_bytes(tr.trace_id[..4].try_into().unwrap()))
        .collect();
    assert_eq!(got, HashSet::from([12, 13, 14]));

    // the visitor can stop early
    let mut seen = 0;
    store
        .scan(&t, &all_scan(), &mut |_| {
            seen += 1;
            if seen == 5 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .unwrap();
    assert_eq!(seen, 5);
    // an unknown tenant scans nothing
    assert!(scan_all(&store, &tenant("other"), &all_scan()).is_empty());
}

fn ids_of(store: &oxeye_traces::TraceStore, hints: Vec<ScanHint>) -> HashSet<u32> {
    let scan = TraceScan {
        start_nanos: 0,
        end_nanos: u64::MAX,
        hints,
    };
    scan_all(store, &tenant("a"), &scan)
        .iter()
        .map(|tr| u32::from_be_bytes(tr.trace_id[..4].try_into().unwrap()))
        .collect()
}

#[test]
fn hints_prune_blocks_but_never_matches() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0_MS);
    let store = open(dir.path(), &clock);
    let t = tenant("a");
    let mut slow = span(1, 0, "checkout", T0_NS, 5 * SEC);
    slow.attributes
        .push(KeyValue::new("http.status_code", AnyValue::Int(500)));
    store
        .append_spans(&t, batch_of("shop", vec![slow]))
        .unwrap();
    store.flush().unwrap();
    store
        .append_spans(
            &t,
            batch_of("db", vec![span(2, 0, "query", T0_NS + SEC, 10)]),
        )
        .unwrap();
    store.flush().unwrap();
    // trace 1 gets a late part in a third block, from another service
    store
        .append_spans(
            &t,
            batch_of("db", vec![span(1, 1, "query", T0_NS + 2 * SEC, 10)]),
        )
        .unwrap();
    store.flush().unwrap();
    assert_eq!(store.stats().total.head_spans, 0);

    let res = |k: &str, v: &str| ScanHint::AttrEquals {
        scope: Some(AttrScope::Resource),
        key: k.into(),
        value: v.into(),
    };
    assert_eq!(
        ids_of(&store, vec![res("service.name", "shop")]),
        HashSet::from([1])
    );
    // matching through its late part still yields trace 1
    assert!(ids_of(&store, vec![res("service.name", "db")]).is_superset(&HashSet::from([1, 2])));
    assert!(ids_of(&store, vec![res("service.name", "nope")]).is_empty());
    // span-scoped attributes do not match resource hints and vice versa
    let span_attr = |k: &str, v: &str, scope| ScanHint::AttrEquals {
        scope,
        key: k.into(),
        value: v.into(),
    };
    assert!(
        ids_of(
            &store,
            vec![span_attr("service.name", "shop", Some(AttrScope::Span))]
        )
        .is_empty()
    );
    assert_eq!(
        ids_of(&store, vec![span_attr("service.name", "shop", None)]),
        HashSet::from([1])
    );
    assert!(
        ids_of(
            &store,
            vec![span_attr("http.method", "GET", Some(AttrScope::Span))]
        )
        .len()
            == 2
    );
    // a non-string attribute is matched by its text
    assert_eq!(
        ids_of(&store, vec![span_attr("http.status_code", "500", None)]),
        HashSet::from([1])
    );
    assert_eq!(
        ids_of(&store, vec![ScanHint::SpanName("checkout".into())]),
        HashSet::from([1])
    );
    assert!(ids_of(&store, vec![ScanHint::SpanName("missing".into())]).is_empty());
    assert_eq!(
        ids_of(&store, vec![ScanHint::MinSpanDuration(SEC)]),
        HashSet::from([1])
    );
    assert!(ids_of(&store, vec![ScanHint::MinSpanDuration(10 * SEC)]).is_empty());
    // every trace comes back whole whatever the hint
    let scan = TraceScan {
        start_nanos: 0,
        end_nanos: u64::MAX,
        hints: vec![ScanHint::SpanName("checkout".into())],
    };
    let traces = scan_all(&store, &t, &scan);
    assert_eq!(traces.len(), 1);
    assert_eq!(traces[0].span_count(), 2);
}

#[test]
fn tag_names_values_and_operations_from_head_and_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0_MS);
    let store = open(dir.path(), &clock);
    let t = tenant("a");
    let mut s1 = span(1, 0, "GET /a", T0_NS, 10);
    s1.attributes
        .push(KeyValue::new("http.status_code", AnyValue::Int(200)));
    store.append_spans(&t, batch_of("api", vec![s1])).unwrap();
    store.flush().unwrap();
    let mut s2 = span(2, 0, "SELECT", T0_NS + 100 * SEC, 10);
    s2.kind = SpanKind::Client;
    s2.attributes = vec![
        KeyValue::string("db.system", "postgres"),
        KeyValue::string("http.method", "POST"),
    ];
    store.append_spans(&t, batch_of("db", vec![s2])).unwrap();

    let names = store.tag_names(&t, 0, u64::MAX).unwrap();
    assert!(names.resource.contains("service.name"));
    for k in ["http.method", "http.status_code", "db.system"] {
        assert!(names.span.contains(k), "{k}");
    }
    assert!(!names.span.contains("service.name"));
    // the block only
    let names = store.tag_names(&t, 0, T0_NS + 50 * SEC).unwrap();
    assert!(!names.span.contains("db.system"));

    let mut methods = store
        .tag_values(&t, Some(AttrScope::Span), "http.method", 0, u64::MAX, 100)
        .unwrap();
    methods.sort_by_key(|v| v.to_text());
    assert_eq!(
        methods,
        vec![
            AnyValue::String("GET".into()),
            AnyValue::String("POST".into())
        ]
    );
    assert_eq!(
        store
            .tag_values(&t, None, "http.method", 0, u64::MAX, 1)
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        store
            .tag_values(
                &t,
                Some(AttrScope::Span),
                "http.status_code",
                0,
                u64::MAX,
                10
            )
            .unwrap(),
        vec![AnyValue::Int(200)]
    );
    let mut services = store
        .tag_values(
            &t,
            Some(AttrScope::Resource),
            "service.name",
            0,
            u64::MAX,
            10,
        )
        .unwrap();
    services.sort_by_key(|v| v.to_text());
    assert_eq!(
        services,
        vec![
            AnyValue::String("api".into()),
            AnyValue::String("db".into())
        ]
    );
    assert!(
        store
            .tag_values(&t, Some(AttrScope::Span), "service.name", 0, u64::MAX, 10)
            .unwrap()
            .is_empty()
    );

    let ops = store.operations(&t, None, 0, u64::MAX).unwrap();
    assert_eq!(
        ops,
        vec![
            Operation {
                service: "api".into(),
                name: "GET /a".into(),
                kind: SpanKind::Server
            },
            Operation {
                service: "db".into(),
                name: "SELECT".into(),
                kind: SpanKind::Client
            },
        ]
    );
    let ops = store.operations(&t, Some("api"), 0, u64::MAX).unwrap();
    assert_eq!(ops.len(), 1);
    assert!(
        store
            .operations(&t, Some("db"), 0, T0_NS + 50 * SEC)
            .unwrap()
            .is_empty()
    );
    // the same answers after the head is flushed too
    store.flush().unwrap();
    assert_eq!(store.operations(&t, None, 0, u64::MAX).unwrap().len(), 2);
    assert!(
        store
            .tag_names(&t, 0, u64::MAX)
            .unwrap()
            .span
            .contains("db.system")
    );
}

#[test]
fn hints_match_array_elements() {
    // TraceQL's `=` matches an array attribute when any element is equal, so a block
    // holding `["a", "b"]` must not be skipped for the hint `tags = "b"`
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0_MS);
    let store = open(dir.path(), &clock);
    let t = tenant("a");
    let mut tagged = span(7, 0, "tagged", T0_NS, 10);
    tagged.attributes.push(KeyValue::new(
        "tags",
        AnyValue::Array(vec![
            AnyValue::String("a".into()),
            AnyValue::String("b".into()),
        ]),
    ));
    store
        .append_spans(&t, batch_of("shop", vec![tagged]))
        .unwrap();
    store.flush().unwrap();
    assert_eq!(store.stats().total.head_spans, 0);
    let hint = |v: &str| ScanHint::AttrEquals {
        scope: Some(AttrScope::Span),
        key: "tags".into(),
        value: v.into(),
    };
    assert_eq!(ids_of(&store, vec![hint("b")]), HashSet::from([7]));
    assert_eq!(ids_of(&store, vec![hint("a")]), HashSet::from([7]));
    assert!(ids_of(&store, vec![hint("c")]).is_empty());
}
