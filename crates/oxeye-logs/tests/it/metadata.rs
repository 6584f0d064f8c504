//! Structured-metadata hints: chunks without a hinted pair are skipped, stream labels of
//! the hinted name never are.

use std::ops::ControlFlow;
use std::sync::Arc;

use oxeye_core::logs::{Direction, LogAppender, LogEntry, LogQueryable, LogSelect};
use oxeye_core::{ManualClock, MatchOp, Matcher};
use oxeye_logs::LogStore;

use crate::basic::{all, batch, open, stream, tenant};

const MIN_NS: i64 = 60_000_000_000;

fn id(i: i64) -> String {
    format!(
        "{:016x}{:016x}",
        (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        (i as u64).wrapping_mul(0xD1B5_4A32_D192_ED03)
    )
}

fn by_trace(trace: &str) -> LogSelect {
    LogSelect {
        metadata_equals: vec![("trace_id".into(), trace.into())],
        ..all()
    }
}

/// Entries returned per stream (by its `job`) and chunks decoded for the select.
fn read(store: &LogStore, sel: &LogSelect, trace: &str) -> (u64, Vec<(String, usize, usize)>) {
    let before = store.stats().chunks_decoded;
    let any = [Matcher::new(MatchOp::Regex, "job", ".+").unwrap()];
    let mut out = Vec::new();
    for s in store.select_logs(&tenant("acme"), &any, sel).unwrap() {
        let (mut n, mut hits) = (0, 0);
        s.data
            .for_each_chunk(Direction::Forward, &mut |es| {
                n += es.len();
                hits += es
                    .iter()
                    .filter(|e| {
                        e.metadata
                            .iter()
                            .any(|(k, v)| k == "trace_id" && v == trace)
                    })
                    .count();
                ControlFlow::Continue(())
            })
            .unwrap();
        let job = s.labels.get("job").unwrap_or_default().to_string();
        out.push((job, n, hits));
    }
    (store.stats().chunks_decoded - before, out)
}

fn fill(store: &LogStore) {
    let t = tenant("acme");
    for minute in 0..30i64 {
        let api = (0..20)
            .map(|j| {
                let i = minute * 20 + j;
                let mut e = LogEntry::new(
                    minute * MIN_NS + j,
                    format!("level=info msg=\"request served\" took={}ms", i % 97),
                );
                e.metadata.push(("trace_id".into(), id(i)));
                e.metadata.push(("level".into(), "info".into()));
                e
            })
            .collect();
        // a stream whose own label is named trace_id: its entries carry no metadata,
        // and a query's `| trace_id="..."` tests the label, so it is never skipped
        let tagged = (0..20)
            .map(|j| LogEntry::new(minute * MIN_NS + j, format!("batch job step {j}")))
            .collect();
        store
            .append_logs(
                &t,
                batch(vec![
                    stream(&[("job", "api")], api),
                    stream(&[("job", "batch"), ("trace_id", &id(7))], tagged),
                ]),
            )
            .unwrap();
        if minute == 15 {
            store.flush().unwrap();
        }
    }
}

#[test]
fn metadata_hints_decode_only_chunks_holding_the_pair() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(1_000_000));
    let store = open(dir.path(), &clock);
    fill(&store);
    let (total, everything) = read(&store, &all(), "");
    assert!(total >= 12, "{total} chunks");
    assert_eq!(everything.len(), 2);
    let batch_entries = everything.iter().find(|s| s.0 == "batch").unwrap().1;
    let batch_chunks = {
        let only = LogSelect { ..all() };
        let before = store.stats().chunks_decoded;
        for s in store
            .select_logs(&tenant("acme"), &[Matcher::equal("job", "batch")], &only)
            .unwrap()
        {
            s.data
                .for_each_chunk(Direction::Forward, &mut |_| ControlFlow::Continue(()))
                .unwrap();
        }
        store.stats().chunks_decoded - before
    };
    let check = |store: &LogStore, when: &str| {
        // one trace in a chunk file, one in the head's sealed chunks
        for i in [7, 590] {
            let skipped = store.stats().chunks_skipped;
            let (decoded, streams) = read(store, &by_trace(&id(i)), &id(i));
            let api = streams.iter().find(|s| s.0 == "api").unwrap();
            assert_eq!(api.2, 1, "{when}: trace {i} found once");
            // the batch stream is read whole: its label trace_id is not metadata
            let batch = streams.iter().find(|s| s.0 == "batch").unwrap();
            assert_eq!(batch.1, batch_entries, "{when}: batch stream read whole");
            assert!(
                decoded <= batch_chunks + 2,
                "{when}: trace {i} decoded {decoded} of {total} chunks ({batch_chunks} of the batch stream)"
            );
            assert!(store.stats().chunks_skipped > skipped);
        }
        // an absent pair reads nothing of the api stream, a common pair all of it
        let (decoded, _) = read(store, &by_trace("nope"), "nope");
        assert!(
            decoded <= batch_chunks + 1,
            "{when}: absent decoded {decoded}"
        );
        let level = LogSelect {
            metadata_equals: vec![("level".into(), "info".into())],
            ..all()
        };
        // (the batch stream has no `level` label and no metadata: all of it is skipped)
        assert_eq!(read(store, &level, "").0, total - batch_chunks, "{when}");
        // the hint never decides: a pair absent from the filter on a stream labelled with
        // its name still returns the stream's entries
        let (_, streams) = read(store, &by_trace("other"), "other");
        assert!(
            streams
                .iter()
                .any(|s| s.0 == "batch" && s.1 == batch_entries)
        );
    };
    check(&store, "live");
    store.close().unwrap();
    drop(store);
    // chunk files keep their metadata filters across a reopen
    let store = open(dir.path(), &clock);
    assert_eq!(read(&store, &all(), "").1, everything);
    check(&store, "reopened");
}
