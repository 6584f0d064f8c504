//! Head cuts into blocks, reopening, and merged reads across head and overlapping blocks.

use std::ops::ControlFlow;
use std::time::Duration;

use oxeye_core::{ManualClock, Matcher, MetricsQueryable, SelectHints};
use oxeye_tsdb::BlockMeta;

use crate::common::{HOUR, batch, labels, open, opts, query, samples_of, sw, tenant, tsv};

fn block_dirs(dir: &std::path::Path, t: &str) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir.join(t).join("blocks"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

#[test]
fn flush_writes_a_block_that_reopens_with_the_same_data() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(0);
    let db = open(dir.path(), opts(), &clock);
    let series: Vec<_> = (0..50)
        .map(|i| sw(&labels("m", &[("i", &i.to_string())]), &tsv(0..10_000, 15)))
        .collect();
    db.append_batch(&tenant("t"), batch(series)).unwrap();
    let before = query(
        &db,
        "t",
        &[Matcher::equal("__name__", "m")],
        i64::MIN,
        i64::MAX,
    );
    let st = db.stats().total;
    assert_eq!((st.head_series, st.head_samples), (50, 50 * 667));
    assert_eq!((st.block_series, st.block_samples), (0, 0));
    db.flush().unwrap();
    let st = db.stats().total;
    assert_eq!(st.blocks, 1);
    assert!(st.block_bytes > 0);
    assert_eq!((st.block_series, st.block_samples), (50, 50 * 667));
    assert_eq!(st.head_samples, 0, "the new head holds no samples");
    assert_eq!(st.head_min_t, None, "head is empty after the cut");
    let after = query(
        &db,
        "t",
        &[Matcher::equal("__name__", "m")],
        i64::MIN,
        i64::MAX,
    );
    assert_eq!(before, after);
    let dirs = block_dirs(dir.path(), "t");
    assert_eq!(dirs.len(), 1);
    let meta: BlockMeta =
        serde_json::from_slice(&std::fs::read(dirs[0].join("meta.json")).unwrap()).unwrap();
    assert_eq!((meta.min_t, meta.max_t), (0, 9990));
    assert_eq!(meta.num_series, 50);
    assert_eq!(meta.num_samples, 50 * 667);
    assert_eq!(meta.tenant, "t");
    assert_eq!(meta.compaction.level, 1);
    drop(db);
    let db = open(dir.path(), opts(), &clock);
    let reopened = query(
        &db,
        "t",
        &[Matcher::equal("__name__", "m")],
        i64::MIN,
        i64::MAX,
    );
    assert_eq!(before, reopened);
    // range restriction and limit
    let q = db.querier(&tenant("t"), 100, 200).unwrap();
    let hints = SelectHints {
        limit: Some(3),
        ..SelectHints::default()
    };
    let s = q
        .select(&[Matcher::equal("__name__", "m")], &hints)
        .unwrap();
    assert_eq!(s.len(), 3);
    let got: Vec<i64> = s[0].data.samples().unwrap().iter().map(|s| s.t).collect();
    assert_eq!(got, (105..=195).step_by(15).collect::<Vec<_>>());
}

#[test]
fn reads_merge_head_and_overlapping_blocks_without_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(0);
    let mut o = opts();
    o.out_of_order_window = Duration::from_secs(3600);
    let db = open(dir.path(), o.clone(), &clock);
    let a = labels("a", &[]);
    db.append_batch(&tenant("t"), batch(vec![sw(&a, &tsv(0..1000, 10))]))
        .unwrap();
    db.flush().unwrap();
    // overlaps the first block (same values on shared timestamps)
    db.append_batch(&tenant("t"), batch(vec![sw(&a, &tsv(500..1500, 10))]))
        .unwrap();
    db.flush().unwrap();
    db.append_batch(&tenant("t"), batch(vec![sw(&a, &tsv(1200..2000, 10))]))
        .unwrap();
    assert_eq!(db.stats().total.blocks, 2);
    assert_eq!(samples_of(&db, "t", "a"), tsv(0..2000, 10));
    let part = query(&db, "t", &[Matcher::equal("__name__", "a")], 950, 1250);
    let ts: Vec<i64> = part[0].1.iter().map(|s| s.t).collect();
    assert_eq!(ts, (950..=1250).step_by(10).collect::<Vec<_>>());
    // iteration can stop early
    let q = db.querier(&tenant("t"), i64::MIN, i64::MAX).unwrap();
    let s = q
        .select(&[Matcher::equal("__name__", "a")], &SelectHints::default())
        .unwrap();
    let mut calls = 0;
    s[0].data
        .for_each_chunk(&mut |c| {
            assert!(!c.is_empty());
            calls += 1;
            ControlFlow::Break(())
        })
        .unwrap();
    assert_eq!(calls, 1);
    drop(q);
    drop(db);
    let db = open(dir.path(), o, &clock);
    assert_eq!(samples_of(&db, "t", "a"), tsv(0..2000, 10));
}

#[test]
fn maintenance_cuts_a_head_spanning_the_block_duration() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(0);
    let mut o = opts();
    o.block_duration = Duration::from_secs(3600);
    let db = open(dir.path(), o, &clock);
    let a = labels("a", &[]);
    db.append_batch(
        &tenant("t"),
        batch(vec![sw(&a, &[(0, 1.0), (HOUR / 2, 2.0)])]),
    )
    .unwrap();
    let r = db.maintenance().unwrap();
    assert_eq!((r.heads_cut, r.blocks_written), (0, 0));
    db.append_batch(&tenant("t"), batch(vec![sw(&a, &[(HOUR, 3.0)])]))
        .unwrap();
    let r = db.maintenance().unwrap();
    assert_eq!((r.heads_cut, r.blocks_written), (1, 1));
    assert_eq!(db.stats().total.blocks, 1);
    assert_eq!(
        samples_of(&db, "t", "a"),
        vec![(0, 1.0), (HOUR / 2, 2.0), (HOUR, 3.0)]
    );
    // the WAL segments covered by the block are gone
    assert!(db.stats().total.wal_segments <= 2);
}

#[test]
fn head_max_bytes_cuts_off_the_append_path() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(0);
    let mut o = opts();
    o.head_max_bytes = Some(20_000);
    let db = open(dir.path(), o, &clock);
    let series: Vec<_> = (0..100)
        .map(|i| sw(&labels("m", &[("i", &i.to_string())]), &tsv(0..1000, 10)))
        .collect();
    db.append_batch(&tenant("t"), batch(series)).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while db.stats().total.blocks == 0 {
        assert!(std::time::Instant::now() < deadline, "no block was cut");
        std::thread::sleep(Duration::from_millis(20));
    }
    let got = query(
        &db,
        "t",
        &[Matcher::equal("__name__", "m")],
        i64::MIN,
        i64::MAX,
    );
    assert_eq!(got.len(), 100);
    assert!(got.iter().all(|(_, s)| s.len() == 100));
}
