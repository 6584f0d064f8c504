//! Property test: any sequence of appends (out of order, duplicates), flushes and
//! reopens reads back like a sorted, deduplicated model, in both directions and in any
//! time range.

use std::collections::BTreeSet;
use std::sync::Arc;

use oxeye_core::logs::{Direction, LogAppender, LogEntry, LogQueryable, LogSelect};
use oxeye_core::{ManualClock, Matcher};
use oxeye_logs::LogStore;
use proptest::prelude::*;

use crate::basic::{batch, small_opts, stream, tenant};

#[derive(Debug, Clone)]
enum Op {
    Append(u8, Vec<(i64, u8)>),
    Flush,
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0u8..3, proptest::collection::vec((0i64..400, 0u8..4), 1..60)).prop_map(|(s, e)| Op::Append(s, e)),
        1 => Just(Op::Flush),
        1 => Just(Op::Reopen),
    ]
}

fn entry(ts: i64, v: u8) -> LogEntry {
    // metadata depends on (ts, line) only, so duplicates are identical
    let mut e = LogEntry::new(ts, format!("line {v} at {ts} with text to fill the chunk"));
    if v % 2 == 0 {
        e.metadata
            .push(("trace_id".into(), format!("id{ts:08}{v}")));
    }
    e
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    #[test]
    fn reads_match_a_sorted_deduplicated_model(ops in proptest::collection::vec(op(), 1..25), lo in 0i64..400, len in 1i64..400) {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(1_000_000));
        let t = tenant("p");
        let mut store = LogStore::open(dir.path(), small_opts(), clock.clone()).unwrap();
        let mut model: Vec<BTreeSet<(i64, u8)>> = vec![BTreeSet::new(); 3];
        for op in ops {
            match op {
                Op::Append(s, es) => {
                    let entries = es.iter().map(|(ts, v)| entry(*ts, *v)).collect();
                    store.append_logs(&t, batch(vec![stream(&[("s", &s.to_string())], entries)])).unwrap();
                    model[s as usize].extend(es);
                }
                Op::Flush => store.flush().unwrap(),
                Op::Reopen => {
                    store.close().unwrap();
                    drop(store);
                    store = LogStore::open(dir.path(), small_opts(), clock.clone()).unwrap();
                }
            }
        }
        let ranges = [(i64::MIN, i64::MAX), (lo, lo + len)];
        for (s, want) in model.iter().enumerate() {
            for (start, end) in ranges {
                let sel = LogSelect { start_ns: start, end_ns: end, line_contains: Vec::new(), metadata_equals: Vec::new() };
                let mut want: Vec<LogEntry> = want
                    .iter()
                    .filter(|(ts, _)| *ts >= start && *ts < end)
                    .map(|(ts, v)| entry(*ts, *v))
                    .collect();
                want.sort_by(|a, b| (a.ts_ns, &a.line).cmp(&(b.ts_ns, &b.line)));
                let series = store.select_logs(&t, &[Matcher::equal("s", s.to_string())], &sel).unwrap();
                let got_fwd = series.first().map(|x| x.data.entries(Direction::Forward).unwrap()).unwrap_or_default();
                prop_assert_eq!(&got_fwd, &want);
                let got_bwd = series.first().map(|x| x.data.entries(Direction::Backward).unwrap()).unwrap_or_default();
                want.reverse();
                prop_assert_eq!(got_bwd, want);
            }
        }
    }
}
