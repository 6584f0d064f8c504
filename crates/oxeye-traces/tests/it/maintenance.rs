//! Head cuts, compaction, retention and tenant isolation, driven by a manual clock.

use std::ops::ControlFlow;
use std::time::Duration;

use oxeye_core::ManualClock;
use oxeye_core::trace::{SpanAppender, TraceQueryable};
use oxeye_traces::TraceStoreOptions;

use crate::common::*;

fn block_dirs(dir: &std::path::Path, tenant: &str) -> usize {
    std::fs::read_dir(dir.join(tenant).join("blocks"))
        .unwrap()
        .count()
}

#[test]
fn maintain_cuts_old_heads_and_compaction_keeps_every_span() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0_MS);
    let opts = TraceStoreOptions {
        compaction_max_blocks: 3,
        head_max_age: Duration::from_secs(60),
        ..TraceStoreOptions::default()
    };
    let store = open_with(dir.path(), &clock, opts.clone());
    let t = tenant("a");
    // four cuts within one window; trace 0 gets a span in each
    for round in 0..4u32 {
        let base = T0_NS + u64::from(round) * 60 * SEC;
        let mut spans = vec![span(0, round, "shared", base, 10)];
        for n in 0..50u32 {
            let id = 1 + round * 50 + n;
            spans.push(span(id, 0, "root", base + u64::from(n), 10));
            spans.push(span(id, 1, "child", base + u64::from(n) + 1, 5));
        }
        store.append_spans(&t, batch_of("api", spans)).unwrap();
        let r = store.maintain().unwrap();
        assert_eq!(r.heads_cut, 0, "the head is not old yet");
        clock.advance(61_000);
        let r = store.maintain().unwrap();
        assert_eq!((r.heads_cut, r.blocks_written), (1, 1));
        if round < 2 {
            assert_eq!(r.compactions, 0);
        }
    }
    let s = store.stats().total;
    // three level-1 blocks merged into one level-2 block; the fourth waits for two more
    // of its level rather than rewriting the bigger block
    assert_eq!((s.compactions, s.blocks), (1, 2), "{s:?}");
    assert_eq!(s.block_spans, 4 + 4 * 100);
    let shared = store.trace_by_id(&t, &tid(0), None).unwrap().unwrap();
    assert_eq!(shared.span_count(), 4);
    for id in 1..=200u32 {
        assert_eq!(
            store
                .trace_by_id(&t, &tid(id), None)
                .unwrap()
                .unwrap()
                .span_count(),
            2
        );
    }
    // once the window is over, everything in it becomes one block
    clock.advance(2 * 3600 * 1000);
    store.maintain().unwrap();
    let s = store.stats().total;
    assert_eq!(s.blocks, 1);
    assert_eq!(s.block_traces, 201, "trace parts merged into one");
    // the merged block's dictionaries and hint filter cover every source
    let ops: Vec<String> = store
        .operations(&t, Some("api"), 0, u64::MAX)
        .unwrap()
        .into_iter()
        .map(|o| o.name)
        .collect();
    assert_eq!(ops, vec!["child", "root", "shared"]);
    assert_eq!(
        store
            .tag_values(&t, None, "http.method", 0, u64::MAX, 10)
            .unwrap(),
        vec![oxeye_core::trace::AnyValue::String("GET".into())]
    );
    let scan = oxeye_core::trace::TraceScan {
        start_nanos: 0,
        end_nanos: u64::MAX,
        hints: vec![oxeye_core::trace::ScanHint::SpanName("shared".into())],
    };
    assert_eq!(scan_all(&store, &t, &scan).len(), 201);
    let scan = oxeye_core::trace::TraceScan {
        hints: vec![oxeye_core::trace::ScanHint::SpanName("absent".into())],
        ..scan
    };
    assert!(scan_all(&store, &t, &scan).is_empty());
    drop(store);
    assert_eq!(block_dirs(dir.path(), "a"), 1, "sources removed from disk");
    let store = open_with(dir.path(), &clock, opts);
    assert_eq!(
        scan_all(&store, &t, &all_scan())
            .iter()
            .map(|tr| tr.span_count())
            .sum::<usize>(),
        404
    );
}

#[test]
fn head_is_cut_when_over_its_byte_limit() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0_MS);
    let opts = TraceStoreOptions {
        head_max_bytes: 64 << 10,
        ..TraceStoreOptions::default()
    };
    let store = open_with(dir.path(), &clock, opts);
    let t = tenant("a");
    for n in 0..2000u32 {
        store
            .append_spans(&t, batch_of("api", vec![span(n, 0, "op", T0_NS, 1)]))
            .unwrap();
    }
    // cuts run on a background thread; a flush waits for any running one
    store.flush().unwrap();
    let s = store.stats().total;
    assert!(s.blocks >= 3, "the head was cut several times: {s:?}");
    assert_eq!((s.head_spans, s.block_spans), (0, 2000));
    for n in (0..2000u32).step_by(97) {
        assert!(store.trace_by_id(&t, &tid(n), None).unwrap().is_some());
    }
}

#[test]
fn retention_deletes_old_blocks_but_not_under_a_reader() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0_MS);
    let store = open(dir.path(), &clock);
    let t = tenant("a");
    store
        .append_spans(&t, batch_of("api", vec![span(1, 0, "old", T0_NS, 10)]))
        .unwrap();
    store.flush().unwrap();
    // six days later, a newer block
    clock.advance(6 * 24 * 3600 * 1000);
    let t6 = T0_NS + 6 * 24 * 3600 * SEC;
    store
        .append_spans(&t, batch_of("api", vec![span(2, 0, "new", t6, 10)]))
        .unwrap();
    store.flush().unwrap();
    assert_eq!(store.maintain().unwrap().blocks_deleted, 0);
    // a day and a bit later the first block is past seven days
    clock.advance(24 * 3600 * 1000 + 1000);
    let mut visited = Vec::new();
    let mut deleted = 0;
    store
        .scan(&t, &all_scan(), &mut |tr| {
            if visited.is_empty() {
                deleted = store.maintain().unwrap().blocks_deleted;
            }
            visited.push(tr.trace_id);
            ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(deleted, 1);
    assert_eq!(
        visited,
        vec![tid(2), tid(1)],
        "the running scan still read the deleted block"
    );
    assert!(store.trace_by_id(&t, &tid(1), None).unwrap().is_none());
    assert!(store.trace_by_id(&t, &tid(2), None).unwrap().is_some());
    assert_eq!(block_dirs(dir.path(), "a"), 1);
    assert_eq!(store.stats().total.blocks_deleted, 1);
}

#[test]
fn tenants_are_isolated() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0_MS);
    let store = open(dir.path(), &clock);
    let (a, b) = (tenant("team-a"), tenant("team-b"));
    store
        .append_spans(&a, batch_of("api", vec![span(1, 0, "a-op", T0_NS, 10)]))
        .unwrap();
    store
        .append_spans(&b, batch_of("api", vec![span(2, 0, "b-op", T0_NS, 10)]))
        .unwrap();
    store.flush().unwrap();
    store
        .append_spans(&b, batch_of("api", vec![span(1, 5, "b-late", T0_NS, 10)]))
        .unwrap();
    let ta = store.trace_by_id(&a, &tid(1), None).unwrap().unwrap();
    assert_eq!(
        ta.span_count(),
        1,
        "team-b's span with the same trace id stays with team-b"
    );
    assert!(store.trace_by_id(&a, &tid(2), None).unwrap().is_none());
    assert_eq!(scan_all(&store, &b, &all_scan()).len(), 2);
    let ops = store.operations(&a, None, 0, u64::MAX).unwrap();
    assert_eq!(
        ops.iter().map(|o| o.name.as_str()).collect::<Vec<_>>(),
        vec!["a-op"]
    );
    assert!(dir.path().join("team-a").is_dir() && dir.path().join("team-b").is_dir());
    let s = store.stats();
    assert_eq!(s.tenants.len(), 2);
    assert_eq!(s.total.spans_ingested, 3);
}

#[test]
fn final_merge_leaves_big_blocks_alone() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0_MS);
    let t = tenant("a");
    let big_bytes = {
        let store = open(dir.path(), &clock);
        let spans: Vec<_> = (0..2000u32)
            .map(|n| span(n, 0, "op", T0_NS + u64::from(n), 10))
            .collect();
        store.append_spans(&t, batch_of("api", spans)).unwrap();
        store.flush().unwrap();
        let big = store.stats().total.block_bytes;
        for n in 0..2u32 {
            store
                .append_spans(
                    &t,
                    batch_of("api", vec![span(5000 + n, 0, "op", T0_NS, 10)]),
                )
                .unwrap();
            store.flush().unwrap();
        }
        assert_eq!(store.stats().total.blocks, 3);
        big
    };
    let opts = TraceStoreOptions {
        block_target_bytes: big_bytes * 2,
        ..TraceStoreOptions::default()
    };
    let store = open_with(dir.path(), &clock, opts);
    clock.advance(3 * 3600 * 1000);
    let r = store.maintain().unwrap();
    assert_eq!(r.compactions, 1, "the two small blocks merge");
    assert_eq!(
        store.maintain().unwrap().compactions,
        0,
        "the big one is left alone"
    );
    let s = store.stats().total;
    assert_eq!((s.blocks, s.block_spans), (2, 2002));
}

#[test]
fn sender_times_decide_neither_block_count_nor_retention() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0_MS);
    let store = open(dir.path(), &clock);
    let t = tenant("a");
    const HOUR: u64 = 3600 * SEC;
    // 2100-01-01T00:00:00Z
    const Y2100: u64 = 4_102_444_800 * SEC;
    let mut spans = Vec::new();
    // 1970 and 2100, each trace in a different hour; one span without a timestamp
    for i in 0..200u32 {
        spans.push(span(1 + i, 0, "old", HOUR + u64::from(i) * HOUR, 10));
        spans.push(span(1001 + i, 0, "future", Y2100 + u64::from(i) * HOUR, 10));
    }
    spans.push(span(5000, 0, "zero", 0, 0));
    spans.push(span(6000, 0, "now", T0_NS, 10));
    store.append_spans(&t, batch_of("api", spans)).unwrap();
    store.flush().unwrap();
    assert_eq!(store.stats().total.blocks, 1, "placed by the time received");
    assert_eq!(store.maintain().unwrap().blocks_deleted, 0);
    let found = |id: u32| store.trace_by_id(&t, &tid(id), None).unwrap().is_some();
    for id in [1, 200, 1001, 1200, 5000, 6000] {
        assert!(found(id), "trace {id}");
    }
    // scans over the spans' real times find them
    let ids = |start: u64, end: u64| -> Vec<[u8; 16]> {
        let scan = oxeye_core::trace::TraceScan {
            start_nanos: start,
            end_nanos: end,
            hints: Vec::new(),
        };
        let mut v: Vec<_> = scan_all(&store, &t, &scan)
            .into_iter()
            .map(|tr| tr.trace_id)
            .collect();
        v.sort();
        v
    };
    let mut want: Vec<_> = (1..=200).map(tid).collect();
    want.sort();
    assert_eq!(ids(HOUR, 300 * HOUR), want);
    let mut want: Vec<_> = (1001..=1200).map(tid).collect();
    want.sort();
    assert_eq!(ids(Y2100, Y2100 + 300 * HOUR), want);
    assert_eq!(ids(0, 0), vec![tid(5000)]);
    // kept for the whole retention after being received, then deleted
    clock.advance(7 * 24 * 3600 * 1000 - 60_000);
    assert_eq!(store.maintain().unwrap().blocks_deleted, 0);
    assert!(found(1) && found(1001) && found(5000));
    clock.advance(120_000);
    assert_eq!(store.maintain().unwrap().blocks_deleted, 1);
    assert!(!found(1001));
}
