//! Appends, selects, reopen, ordering, duplicates, tenants, labels and stats.

use std::ops::ControlFlow;
use std::sync::Arc;

use oxeye_core::logs::{
    Direction, LogAppender, LogBatch, LogEntry, LogQueryable, LogSelect, LogStream,
};
use oxeye_core::{Labels, ManualClock, MatchOp, Matcher, StoreError, TenantId};
use oxeye_logs::{LogStore, LogStoreOptions};
use oxeye_storage::wal::{SyncPolicy, WalOptions};

pub fn tenant(name: &str) -> TenantId {
    TenantId::new(name).unwrap()
}

pub fn stream(labels: &[(&str, &str)], entries: Vec<LogEntry>) -> LogStream {
    LogStream {
        labels: Labels::from_pairs(labels),
        entries,
    }
}

pub fn batch(streams: Vec<LogStream>) -> LogBatch {
    LogBatch { streams }
}

pub fn all() -> LogSelect {
    LogSelect {
        start_ns: i64::MIN,
        end_ns: i64::MAX,
        line_contains: Vec::new(),
        metadata_equals: Vec::new(),
    }
}

pub fn small_opts() -> LogStoreOptions {
    LogStoreOptions {
        chunk_target_bytes: 2000,
        zstd_level: 3,
        wal: WalOptions {
            sync: SyncPolicy::Never,
            ..WalOptions::default()
        },
        ..LogStoreOptions::default()
    }
}

pub fn open(dir: &std::path::Path, clock: &Arc<ManualClock>) -> Arc<LogStore> {
    LogStore::open(dir, small_opts(), clock.clone()).unwrap()
}

pub fn lines(
    store: &LogStore,
    t: &TenantId,
    m: &[Matcher],
    sel: &LogSelect,
    dir: Direction,
) -> Vec<(i64, String)> {
    let mut out = Vec::new();
    for s in store.select_logs(t, m, sel).unwrap() {
        for e in s.data.entries(dir).unwrap() {
            out.push((e.ts_ns, e.line));
        }
    }
    out
}

#[test]
fn append_select_reopen_in_time_order() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(1_000_000));
    let t = tenant("acme");
    let store = open(dir.path(), &clock);
    // out of order within a stream, over several appends, with a duplicate
    let mut want = Vec::new();
    for round in 0..5i64 {
        let entries: Vec<LogEntry> = (0..40i64)
            .map(|i| {
                let ts = (i * 5 + round) * 1000;
                want.push((ts, format!("line {ts} of round {round} padding padding")));
                LogEntry::new(ts, format!("line {ts} of round {round} padding padding"))
            })
            .rev()
            .collect();
        let st = store
            .append_logs(&t, batch(vec![stream(&[("job", "api")], entries)]))
            .unwrap();
        assert_eq!(st.entries, 40);
        assert_eq!(st.streams_created, usize::from(round == 0));
    }
    store
        .append_logs(
            &t,
            batch(vec![stream(
                &[("job", "api")],
                vec![LogEntry::new(5000, "line 5000 of round 0 padding padding")],
            )]),
        )
        .unwrap();
    want.sort();
    let m = [Matcher::equal("job", "api")];
    assert_eq!(lines(&store, &t, &m, &all(), Direction::Forward), want);
    let mut back = want.clone();
    back.reverse();
    assert_eq!(lines(&store, &t, &m, &all(), Direction::Backward), back);

    // a range select is [start, end)
    let sel = LogSelect {
        start_ns: 10_000,
        end_ns: 20_000,
        line_contains: Vec::new(),
        metadata_equals: Vec::new(),
    };
    let got = lines(&store, &t, &m, &sel, Direction::Forward);
    assert_eq!(
        got,
        want.iter()
            .filter(|(ts, _)| (10_000..20_000).contains(ts))
            .cloned()
            .collect::<Vec<_>>()
    );

    // reopen without flush: the WAL brings everything back
    store.close().unwrap();
    assert!(
        store
            .append_logs(
                &t,
                batch(vec![stream(&[("job", "api")], vec![LogEntry::new(1, "x")])])
            )
            .is_err()
    );
    drop(store);
    let store = open(dir.path(), &clock);
    assert_eq!(lines(&store, &t, &m, &all(), Direction::Forward), want);
    // flush to chunk files, reopen again
    store.flush().unwrap();
    assert!(store.stats().chunk_files >= 1);
    assert_eq!(lines(&store, &t, &m, &all(), Direction::Forward), want);
    store.close().unwrap();
    drop(store);
    let store = open(dir.path(), &clock);
    assert_eq!(lines(&store, &t, &m, &all(), Direction::Backward), back);
    // late entries after the flush overlap the file's chunks and still read in order
    store
        .append_logs(
            &t,
            batch(vec![stream(
                &[("job", "api")],
                vec![
                    LogEntry::new(2500, "late"),
                    LogEntry::new(0, "line 0 of round 0 padding padding"),
                ],
            )]),
        )
        .unwrap();
    let mut with_late = want.clone();
    with_late.push((2500, "late".into()));
    with_late.sort();
    assert_eq!(lines(&store, &t, &m, &all(), Direction::Forward), with_late);
}

#[test]
fn metadata_labels_matchers_and_tenants() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(1_000_000));
    let store = open(dir.path(), &clock);
    let a = tenant("a");
    let b = tenant("b");
    let mut e = LogEntry::new(10, "GET /x 200");
    e.metadata
        .push(("trace_id".into(), "4bf92f3577b34da6a3ce929d0e0e4736".into()));
    store
        .append_logs(
            &a,
            batch(vec![
                stream(&[("job", "api"), ("env", "prod")], vec![e.clone()]),
                stream(
                    &[("job", "db"), ("env", "dev")],
                    vec![LogEntry::new(20, "select 1")],
                ),
            ]),
        )
        .unwrap();
    store
        .append_logs(
            &b,
            batch(vec![stream(
                &[("job", "other")],
                vec![LogEntry::new(30, "b only")],
            )]),
        )
        .unwrap();
    assert!(store.stats().wal_bytes > 0);
    let got = store
        .select_logs(&a, &[Matcher::equal("job", "api")], &all())
        .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].data.entries(Direction::Forward).unwrap(),
        vec![e.clone()]
    );
    // tenants apart
    assert!(
        store
            .select_logs(&b, &[Matcher::equal("job", "api")], &all())
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .select_logs(&tenant("nobody"), &[], &all())
            .unwrap()
            .is_empty()
    );
    assert!(dir.path().join("a").is_dir() && dir.path().join("b").is_dir());
    // label names / values, with matchers and time ranges
    assert_eq!(
        store.log_label_names(&a, &[], 0, 100).unwrap(),
        vec!["env", "job"]
    );
    assert_eq!(
        store.log_label_values(&a, "job", &[], 0, 100).unwrap(),
        vec!["api", "db"]
    );
    let prod = Matcher::new(MatchOp::Regex, "env", "pr.*").unwrap();
    assert_eq!(
        store.log_label_values(&a, "job", &[prod], 0, 100).unwrap(),
        vec!["api"]
    );
    assert_eq!(
        store.log_label_values(&a, "job", &[], 15, 100).unwrap(),
        vec!["db"]
    );
    assert_eq!(
        store.log_label_values(&b, "job", &[], 0, 100).unwrap(),
        vec!["other"]
    );
    // stream stats from metadata, before and after a flush
    for round in 0..2 {
        let st = store.stream_stats(&a, &[], 0, 100).unwrap();
        assert_eq!(st.len(), 2, "round {round}");
        assert_eq!(
            st[0].labels,
            Labels::from_pairs(&[("job", "db"), ("env", "dev")])
        );
        assert_eq!((st[0].entries, st[0].bytes, st[0].chunks), (1, 8, 1));
        store.flush().unwrap();
    }
    let stats = store.stats();
    assert_eq!(stats.streams, 3);
    // flushed: the WAL holds nothing any more
    assert_eq!(stats.wal_bytes, 0);
    assert_eq!(stats.entries_ingested, 3);
    assert!(stats.disk_bytes > 0);
    // metadata survives files
    let got = store
        .select_logs(&a, &[Matcher::equal("job", "api")], &all())
        .unwrap();
    assert_eq!(got[0].data.entries(Direction::Forward).unwrap(), vec![e]);
}

#[test]
fn invalid_batches_store_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(1_000_000));
    let store = open(dir.path(), &clock);
    let t = tenant("acme");
    let err = store
        .append_logs(
            &t,
            batch(vec![
                stream(&[("job", "ok")], vec![LogEntry::new(1, "fine")]),
                stream(&[], vec![LogEntry::new(1, "no labels")]),
            ]),
        )
        .unwrap_err();
    assert!(
        matches!(err, StoreError::InvalidData(ref m) if m.contains("no labels")),
        "{err}"
    );
    assert!(store.select_logs(&t, &[], &all()).unwrap().is_empty());
}

#[test]
fn backward_read_with_limit_stops_early() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(1_000_000));
    let store = open(dir.path(), &clock);
    let t = tenant("acme");
    for i in 0..2000i64 {
        store
            .append_logs(
                &t,
                batch(vec![stream(
                    &[("job", "api")],
                    vec![LogEntry::new(i, format!("entry number {i} with some text"))],
                )]),
            )
            .unwrap();
    }
    store.flush().unwrap();
    let s = store.select_logs(&t, &[], &all()).unwrap();
    let mut calls = 0;
    let mut got = Vec::new();
    s[0].data
        .for_each_chunk(Direction::Backward, &mut |es| {
            calls += 1;
            got.extend(es.iter().take(10 - got.len().min(10)).map(|e| e.ts_ns));
            if got.len() >= 10 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .unwrap();
    assert_eq!(calls, 1);
    assert_eq!(got, (1990..2000).rev().collect::<Vec<_>>());
    assert!(store.stats().chunks > 10);
}

#[test]
fn streams_over_the_per_tenant_limit_are_refused_whole() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(1_000));
    let opts = LogStoreOptions {
        max_streams_per_tenant: 2,
        ..small_opts()
    };
    assert_eq!(LogStoreOptions::default().max_streams_per_tenant, 5000);
    let store = LogStore::open(dir.path(), opts, clock).unwrap();
    let t = tenant("acme");
    let one = |job: &str, ts: i64| stream(&[("job", job)], vec![LogEntry::new(ts, job)]);
    store
        .append_logs(&t, batch(vec![one("a", 1), one("b", 1)]))
        .unwrap();
    // a third stream fails the whole batch, the entry for the known stream included
    let err = store
        .append_logs(&t, batch(vec![one("a", 2), one("c", 2)]))
        .unwrap_err();
    assert!(matches!(err, StoreError::LimitExceeded(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        "maximum active stream limit exceeded, reduce the number of active streams (reduce labels or reduce label values), or contact your Loki administrator to see if the limit can be increased, user: 'acme'"
    );
    assert_eq!(lines(&store, &t, &[], &all(), Direction::Forward).len(), 2);
    // streams already active keep accepting; other tenants have their own limit
    store
        .append_logs(&t, batch(vec![one("a", 3), one("b", 3), one("a", 4)]))
        .unwrap();
    assert_eq!(lines(&store, &t, &[], &all(), Direction::Forward).len(), 5);
    let other = tenant("other");
    store
        .append_logs(&other, batch(vec![one("x", 1), one("y", 1)]))
        .unwrap();
    // 0 means no limit
    let dir2 = tempfile::tempdir().unwrap();
    let opts = LogStoreOptions {
        max_streams_per_tenant: 0,
        ..small_opts()
    };
    let store = LogStore::open(dir2.path(), opts, Arc::new(ManualClock::new(1_000))).unwrap();
    let many: Vec<LogStream> = (0..50).map(|i| one(&format!("j{i}"), 1)).collect();
    store.append_logs(&t, batch(many)).unwrap();
}
