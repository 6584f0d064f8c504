//! Random batches come back identical (order-insensitive) from the head, after
//! flush + reopen, and after compaction.

use std::collections::BTreeMap;

use oxeye_core::ManualClock;
use oxeye_core::trace::{
    AnyValue, KeyValue, Resource, ResourceSpans, Scope, ScopeSpans, Span, SpanEvent, SpanKind,
    SpanLink, SpanStatusCode, Trace, TraceBatch, TraceQueryable,
};
use oxeye_traces::TraceStoreOptions;
use proptest::prelude::*;

use crate::common::*;

fn value() -> impl Strategy<Value = AnyValue> {
    let leaf = prop_oneof![
        Just(AnyValue::Empty),
        "[a-z]{0,6}".prop_map(AnyValue::String),
        any::<bool>().prop_map(AnyValue::Bool),
        any::<i64>().prop_map(AnyValue::Int),
        (-1e12f64..1e12).prop_map(AnyValue::Double),
        prop::collection::vec(any::<u8>(), 0..6).prop_map(AnyValue::Bytes),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(AnyValue::Array),
            prop::collection::vec(("[a-z]{1,4}", inner), 0..4).prop_map(|kvs| {
                AnyValue::KvList(kvs.into_iter().map(|(k, v)| KeyValue::new(k, v)).collect())
            }),
        ]
    })
}

fn attrs() -> impl Strategy<Value = Vec<KeyValue>> {
    prop::collection::vec(("[a-c]{1,3}", value()), 0..4)
        .prop_map(|kvs| kvs.into_iter().map(|(k, v)| KeyValue::new(k, v)).collect())
}

prop_compose! {
    fn event()(dt in -1000i64..100_000, name in "[a-z]{0,5}", attributes in attrs(), dropped in 0u32..3) -> (i64, String, Vec<KeyValue>, u32) {
        (dt, name, attributes, dropped)
    }
}

prop_compose! {
    fn span_strategy()(
        trace in 1u32..6,
        parent in any::<bool>(),
        trace_state in "[a-z=,]{0,6}",
        flags in any::<u32>(),
        name in "[a-z /]{0,8}",
        kind in 0i32..6,
        start in 0u64..3_600_000_000_000,
        dur in -5i64..10_000_000_000,
        attributes in attrs(),
        dropped in (0u32..3, 0u32..3, 0u32..3),
        events in prop::collection::vec(event(), 0..3),
        links in prop::collection::vec((any::<[u8; 16]>(), any::<[u8; 8]>(), "[a-z]{0,3}", attrs(), 0u32..3, any::<u32>()), 0..2),
        status in 0i32..3,
        status_message in "[a-z ]{0,6}",
    ) -> Span {
        let start = T0_NS + start;
        Span {
            trace_id: tid(trace),
            span_id: [0; 8],
            parent_span_id: if parent { sid(trace, 999) } else { [0; 8] },
            trace_state,
            flags,
            name,
            kind: SpanKind::from_i32(kind),
            start_unix_nano: start,
            end_unix_nano: start.wrapping_add(dur as u64),
            attributes,
            dropped_attributes_count: dropped.0,
            events: events
                .into_iter()
                .map(|(dt, name, attributes, d)| SpanEvent {
                    time_unix_nano: start.wrapping_add(dt as u64),
                    name,
                    attributes,
                    dropped_attributes_count: d,
                })
                .collect(),
            dropped_events_count: dropped.1,
            links: links
                .into_iter()
                .map(|(trace_id, span_id, trace_state, attributes, d, flags)| SpanLink {
                    trace_id,
                    span_id,
                    trace_state,
                    attributes,
                    dropped_attributes_count: d,
                    flags,
                })
                .collect(),
            dropped_links_count: dropped.2,
            status_code: SpanStatusCode::from_i32(status),
            status_message,
        }
    }
}

prop_compose! {
    fn scope_spans()(
        name in "[a-z]{0,4}", version in "[0-9.]{0,3}", attributes in attrs(), dropped in 0u32..2,
        schema_url in "(https://s/[a-z]{1,3})?", spans in prop::collection::vec(span_strategy(), 0..6),
    ) -> ScopeSpans {
        ScopeSpans { scope: Scope { name, version, attributes, dropped_attributes_count: dropped }, spans, schema_url }
    }
}

prop_compose! {
    fn resource_spans()(
        service in "[a-c]{1,2}", attributes in attrs(), dropped in 0u32..2,
        schema_url in "(https://r/[a-z]{1,3})?", scopes in prop::collection::vec(scope_spans(), 1..3),
    ) -> ResourceSpans {
        let mut attributes = attributes;
        attributes.insert(0, KeyValue::string("service.name", service));
        ResourceSpans { resource: Resource { attributes, dropped_attributes_count: dropped }, scope_spans: scopes, schema_url }
    }
}

fn batches() -> impl Strategy<Value = Vec<TraceBatch>> {
    prop::collection::vec(
        prop::collection::vec(resource_spans(), 1..3)
            .prop_map(|resource_spans| TraceBatch { resource_spans }),
        1..5,
    )
    .prop_map(|mut bs| {
        // unique span ids across everything
        let mut n = 0u32;
        for b in &mut bs {
            for rs in &mut b.resource_spans {
                for ss in &mut rs.scope_spans {
                    for s in &mut ss.spans {
                        n += 1;
                        s.span_id = sid(0, n);
                    }
                }
            }
        }
        bs
    })
}

type Flat = BTreeMap<[u8; 8], (Resource, String, Scope, String, Span)>;

fn flatten(rss: &[ResourceSpans], out: &mut BTreeMap<[u8; 16], Flat>) {
    for rs in rss {
        for ss in &rs.scope_spans {
            for s in &ss.spans {
                out.entry(s.trace_id).or_default().insert(
                    s.span_id,
                    (
                        rs.resource.clone(),
                        rs.schema_url.clone(),
                        ss.scope.clone(),
                        ss.schema_url.clone(),
                        s.clone(),
                    ),
                );
            }
        }
    }
}

fn stored(
    store: &oxeye_traces::TraceStore,
    ids: impl Iterator<Item = [u8; 16]>,
) -> BTreeMap<[u8; 16], Flat> {
    let mut out = BTreeMap::new();
    for id in ids {
        let t: Trace = store.trace_by_id(&tenant("p"), &id, None).unwrap().unwrap();
        assert_eq!(t.trace_id, id);
        flatten(&t.resource_spans, &mut out);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn random_batches_round_trip(bs in batches()) {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(T0_MS);
        let opts = TraceStoreOptions { page_target_bytes: 512, ..TraceStoreOptions::default() };
        let mut want = BTreeMap::new();
        for b in &bs {
            flatten(&b.resource_spans, &mut want);
        }
        let t = tenant("p");
        {
            let store = open_with(dir.path(), &clock, opts.clone());
            for (i, b) in bs.iter().enumerate() {
                store.append(&t, b.clone()).unwrap();
                if i % 2 == 1 {
                    store.flush().unwrap();
                }
            }
            prop_assert_eq!(&stored(&store, want.keys().copied()), &want);
            store.flush().unwrap();
        }
        let store = open_with(dir.path(), &clock, opts);
        prop_assert_eq!(&stored(&store, want.keys().copied()), &want);
        let scanned: usize = scan_all(&store, &t, &all_scan()).iter().map(|tr| tr.span_count()).sum();
        prop_assert_eq!(scanned, want.values().map(|f| f.len()).sum::<usize>());
        // compaction of everything (same window, long past) changes nothing visible
        clock.advance(3 * 3600 * 1000);
        store.maintain().unwrap();
        prop_assert!(store.stats().total.blocks <= 1);
        prop_assert_eq!(&stored(&store, want.keys().copied()), &want);
    }
}
