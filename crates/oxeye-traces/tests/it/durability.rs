//! Round trips through head, WAL replay and blocks; validation; late spans.

use std::sync::Arc;

use oxeye_core::ManualClock;
use oxeye_core::StoreError;
use oxeye_core::trace::{SpanAppender, TraceQueryable};
use oxeye_traces::TraceError;

use crate::common::*;

#[test]
fn every_field_round_trips_through_head_wal_and_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0_MS);
    let t = tenant("acme");
    let batch = full_batch();
    let want = flat_batch(&batch);
    {
        let store = open(dir.path(), &clock);
        let stats = store.append_spans(&t, batch.clone()).unwrap();
        assert_eq!(stats.spans, 2);
        let got = store.trace_by_id(&t, &tid(7), None).unwrap().unwrap();
        assert_eq!(flat(&got), want, "from the head");
        // schema urls live on the groups, not the spans
        let rs = got
            .resource_spans
            .iter()
            .find(|r| r.resource.service_name() == Some("shop"))
            .unwrap();
        assert_eq!(rs.schema_url, "https://opentelemetry.io/schemas/1.20.0");
        assert_eq!(
            rs.scope_spans[0].schema_url,
            "https://opentelemetry.io/schemas/1.21.0"
        );
        // dropped without flush or close: only the WAL has it
    }
    let store = open(dir.path(), &clock);
    let got = store.trace_by_id(&t, &tid(7), None).unwrap().unwrap();
    assert_eq!(flat(&got), want, "after wal replay");
    assert_eq!(store.stats().total.head_spans, 2);
    store.flush().unwrap();
    let s = store.stats().total;
    assert_eq!((s.head_spans, s.blocks, s.block_spans), (0, 1, 2));
    let got = store.trace_by_id(&t, &tid(7), None).unwrap().unwrap();
    assert_eq!(flat(&got), want, "from a block");
    drop(store);
    let store = open(dir.path(), &clock);
    let got = store.trace_by_id(&t, &tid(7), None).unwrap().unwrap();
    assert_eq!(flat(&got), want, "from a block after reopen");
    let rs = got
        .resource_spans
        .iter()
        .find(|r| r.resource.service_name() == Some("shop"))
        .unwrap();
    assert_eq!(rs.schema_url, "https://opentelemetry.io/schemas/1.20.0");
    assert_eq!(
        rs.scope_spans[0].schema_url,
        "https://opentelemetry.io/schemas/1.21.0"
    );
    // the block's WAL segments are gone: a reopen does not bring the spans back to the head
    assert_eq!(store.stats().total.head_spans, 0);
    assert!(store.trace_by_id(&t, &tid(8), None).unwrap().is_none());
}

#[test]
fn invalid_span_fails_the_whole_batch() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0_MS);
    let store = open(dir.path(), &clock);
    let t = tenant("a");
    let mut bad = span(2, 1, "broken", T0_NS, 10);
    bad.span_id = [0; 8];
    let batch = batch_of("svc", vec![span(1, 0, "fine", T0_NS, 10), bad]);
    let err = store.append_spans(&t, batch).unwrap_err();
    assert!(
        matches!(&err, StoreError::InvalidData(m) if m.contains("\"broken\"") && m.contains("span id is all zeros")),
        "{err}"
    );
    assert!(store.trace_by_id(&t, &tid(1), None).unwrap().is_none());
    let mut bad = span(3, 0, "no-trace", T0_NS, 10);
    bad.trace_id = [0; 16];
    let err = store.append(&t, batch_of("svc", vec![bad])).unwrap_err();
    assert!(
        matches!(err, TraceError::InvalidData(ref m) if m.contains("trace id is all zeros")),
        "{err}"
    );
    drop(store);
    // nothing of the failed batches reached the WAL
    let store = open(dir.path(), &clock);
    assert_eq!(store.stats().total.head_spans, 0);
}

#[test]
fn late_spans_merge_with_a_flushed_trace() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0_MS);
    let store = open(dir.path(), &clock);
    let t = tenant("a");
    store
        .append_spans(
            &t,
            batch_of(
                "api",
                vec![
                    span(1, 0, "root", T0_NS, 100),
                    span(1, 1, "a", T0_NS + 1, 10),
                ],
            ),
        )
        .unwrap();
    store.flush().unwrap();
    // a late span, plus a retried copy of one already in the block
    store
        .append_spans(
            &t,
            batch_of(
                "worker",
                vec![
                    span(1, 2, "late", T0_NS + 50, 10),
                    span(1, 1, "a", T0_NS + 1, 10),
                ],
            ),
        )
        .unwrap();
    let got = store.trace_by_id(&t, &tid(1), None).unwrap().unwrap();
    assert_eq!(got.span_count(), 3);
    store.flush().unwrap();
    store
        .append_spans(
            &t,
            batch_of("worker", vec![span(1, 3, "later", T0_NS + 60, 10)]),
        )
        .unwrap();
    assert_eq!(store.stats().total.blocks, 2);
    let got = store.trace_by_id(&t, &tid(1), None).unwrap().unwrap();
    assert_eq!(got.span_count(), 4);
    let services: Vec<_> = got
        .resource_spans
        .iter()
        .filter_map(|r| r.resource.service_name())
        .collect();
    assert_eq!(services, vec!["api", "worker"]);
    // a range that only covers the block still returns the head part
    let got = store
        .trace_by_id(&t, &tid(1), Some((T0_NS, T0_NS + 5)))
        .unwrap()
        .unwrap();
    assert_eq!(got.span_count(), 4);
    // a range wholly after the blocks skips them
    let got = store
        .trace_by_id(&t, &tid(1), Some((T0_NS + 1000 * SEC, u64::MAX)))
        .unwrap()
        .unwrap();
    assert_eq!(got.span_count(), 1);
}

#[test]
fn concurrent_appenders_share_fsyncs_and_all_land() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0_MS);
    let store = Arc::new(open(dir.path(), &clock));
    let t = tenant("a");
    let threads: Vec<_> = (0..8u32)
        .map(|w| {
            let store = store.clone();
            let t = t.clone();
            std::thread::spawn(move || {
                for i in 0..25u32 {
                    let n = w * 1000 + i;
                    store
                        .append_spans(&t, batch_of("s", vec![span(n, 0, "op", T0_NS, 5)]))
                        .unwrap();
                }
            })
        })
        .collect();
    for th in threads {
        th.join().unwrap();
    }
    let s = store.stats().total;
    assert_eq!(s.spans_ingested, 200);
    assert!(s.wal_fsyncs <= 200, "fsyncs {}", s.wal_fsyncs);
    drop(store);
    let store = open(dir.path(), &clock);
    for w in 0..8u32 {
        for i in 0..25u32 {
            assert!(
                store
                    .trace_by_id(&t, &tid(w * 1000 + i), None)
                    .unwrap()
                    .is_some()
            );
        }
    }
}

#[test]
fn closed_store_refuses_appends() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0_MS);
    let store = open(dir.path(), &clock);
    let t = tenant("a");
    store
        .append_spans(&t, batch_of("s", vec![span(1, 0, "op", T0_NS, 5)]))
        .unwrap();
    store.close().unwrap();
    let err = store
        .append_spans(&t, batch_of("s", vec![span(2, 0, "op", T0_NS, 5)]))
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)));
    drop(store);
    let store = open(dir.path(), &clock);
    assert!(store.trace_by_id(&t, &tid(1), None).unwrap().is_some());
}

#[test]
fn reads_never_miss_acknowledged_spans_while_heads_are_cut() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0_MS);
    let store = Arc::new(open(dir.path(), &clock));
    let t = tenant("a");
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flusher = {
        let (store, stop) = (store.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut flushes = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                store.flush().unwrap();
                flushes += 1;
            }
            flushes
        })
    };
    for n in 0..300u32 {
        // each trace gets a span now and a late one after some cuts happened
        store
            .append_spans(&t, batch_of("api", vec![span(n, 0, "op", T0_NS, 5)]))
            .unwrap();
        if n >= 10 {
            store
                .append_spans(&t, batch_of("api", vec![span(n - 10, 1, "late", T0_NS, 5)]))
                .unwrap();
        }
        let got = store.trace_by_id(&t, &tid(n), None).unwrap();
        assert_eq!(got.map(|tr| tr.span_count()), Some(1), "trace {n}");
        if n >= 10 {
            let got = store.trace_by_id(&t, &tid(n - 10), None).unwrap();
            assert_eq!(got.map(|tr| tr.span_count()), Some(2), "trace {}", n - 10);
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let flushes = flusher.join().unwrap();
    assert!(flushes > 1);
    let traces = scan_all(&store, &t, &all_scan());
    assert_eq!(traces.len(), 300);
    assert_eq!(traces.iter().map(|tr| tr.span_count()).sum::<usize>(), 590);
}
