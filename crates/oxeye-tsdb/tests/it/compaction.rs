//! Compaction and retention driven by a manual clock.

use std::time::Duration;

use oxeye_core::{ManualClock, Matcher, MetricsAppender, MetricsQueryable, SelectHints};

use crate::common::{HOUR, batch, labels, open, opts, samples_of, sw, tenant};

fn hourly(db: &oxeye_tsdb::Tsdb, hours: std::ops::Range<i64>) {
    let a = labels("a", &[]);
    let b = labels("b", &[("x", "y")]);
    for h in hours {
        let s: Vec<(i64, f64)> = (0..60)
            .map(|m| (h * HOUR + m * 60_000, (h * 60 + m) as f64))
            .collect();
        db.append_batch(&tenant("t"), batch(vec![sw(&a, &s), sw(&b, &s)]))
            .unwrap();
        db.flush().unwrap();
    }
}

#[test]
fn adjacent_blocks_are_compacted_into_a_larger_one() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(0);
    let mut o = opts();
    o.block_duration = Duration::from_secs(3600);
    let db = open(dir.path(), o.clone(), &clock);
    hourly(&db, 0..3);
    assert_eq!(db.stats().total.blocks, 3);
    // the 3 h window [0, 3h) is not complete yet: nothing to do
    let r = db.maintenance().unwrap();
    assert_eq!(r.compactions, 0);
    hourly(&db, 3..4);
    let r = db.maintenance().unwrap();
    assert_eq!(r.compactions, 1);
    let st = db.stats().total;
    assert_eq!(st.blocks, 2);
    assert_eq!(st.compactions_total, 1);
    let expected: Vec<(i64, f64)> = (0..240).map(|m| (m * 60_000, m as f64)).collect();
    assert_eq!(samples_of(&db, "t", "a"), expected);
    assert_eq!(samples_of(&db, "t", "b"), expected);
    // sources are deleted from disk, the new block records them
    let dirs: Vec<_> = std::fs::read_dir(dir.path().join("t").join("blocks"))
        .unwrap()
        .collect();
    assert_eq!(dirs.len(), 2);
    drop(db);
    let db = open(dir.path(), o, &clock);
    assert_eq!(samples_of(&db, "t", "a"), expected);
    assert_eq!(db.stats().total.blocks, 2);
}

#[test]
fn overlapping_blocks_are_merged() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(0);
    let mut o = opts();
    o.out_of_order_window = Duration::from_secs(24 * 3600);
    let db = open(dir.path(), o, &clock);
    let a = labels("a", &[]);
    db.append_batch(&tenant("t"), batch(vec![sw(&a, &[(10, 1.0), (30, 3.0)])]))
        .unwrap();
    db.flush().unwrap();
    db.append_batch(&tenant("t"), batch(vec![sw(&a, &[(20, 2.0), (40, 4.0)])]))
        .unwrap();
    db.flush().unwrap();
    assert_eq!(db.stats().total.blocks, 2);
    let r = db.maintenance().unwrap();
    assert_eq!(r.compactions, 1);
    assert_eq!(db.stats().total.blocks, 1);
    assert_eq!(
        samples_of(&db, "t", "a"),
        vec![(10, 1.0), (20, 2.0), (30, 3.0), (40, 4.0)]
    );
}

#[test]
fn time_retention_spares_blocks_a_querier_still_reads() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(0);
    let mut o = opts();
    o.block_duration = Duration::from_secs(3600);
    o.retention = Duration::from_secs(10 * 3600);
    let db = open(dir.path(), o, &clock);
    hourly(&db, 0..2);
    assert_eq!(db.stats().total.blocks, 2);
    let old_q = db.querier(&tenant("t"), 0, 2 * HOUR).unwrap();
    let old_series = old_q
        .select(&[Matcher::equal("__name__", "a")], &SelectHints::default())
        .unwrap();
    // 11 h later the first block (max_t just under 1 h) is beyond the 10 h retention
    clock.set(11 * HOUR);
    let r = db.maintenance().unwrap();
    assert_eq!(r.blocks_deleted_by_time, 1);
    assert_eq!(db.stats().total.blocks, 1);
    let now: Vec<i64> = samples_of(&db, "t", "a").iter().map(|s| s.0).collect();
    assert_eq!(now.first(), Some(&HOUR));
    // the querier opened before still reads the deleted block
    assert_eq!(old_series[0].data.samples().unwrap().len(), 120);
    let dirs = || {
        std::fs::read_dir(dir.path().join("t").join("blocks"))
            .unwrap()
            .count()
    };
    assert_eq!(dirs(), 2, "the directory stays while the querier holds it");
    drop(old_series);
    drop(old_q);
    assert_eq!(dirs(), 1, "the directory goes with the last reader");
}

#[test]
fn size_retention_deletes_the_oldest_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(0);
    let mut o = opts();
    o.block_duration = Duration::from_secs(3600);
    let db = open(dir.path(), o.clone(), &clock);
    hourly(&db, 0..3);
    let st = db.stats().total;
    assert_eq!(st.blocks, 3);
    drop(db);
    // allow exactly what the two newer blocks take: only the oldest must go
    o.retention_bytes =
        Some(st.block_bytes - oldest_block_bytes(&dir.path().join("t").join("blocks")));
    let db = open(dir.path(), o, &clock);
    let r = db.maintenance().unwrap();
    assert_eq!(r.blocks_deleted_by_size, 1);
    let first = samples_of(&db, "t", "a")[0].0;
    assert_eq!(first, HOUR);
}

#[test]
fn unaligned_blocks_are_compacted_by_their_first_sample() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(0);
    let mut o = opts();
    o.block_duration = Duration::from_secs(3600);
    let db = open(dir.path(), o, &clock);
    let a = labels("a", &[]);
    // blocks [0:30, 1:29], [1:30, 2:29], [2:30, 3:29]: the last one crosses 3 h
    for h in 0..3 {
        let s: Vec<(i64, f64)> = (0..60)
            .map(|m| (h * HOUR + HOUR / 2 + m * 60_000, m as f64))
            .collect();
        db.append_batch(&tenant("t"), batch(vec![sw(&a, &s)]))
            .unwrap();
        db.flush().unwrap();
    }
    let r = db.maintenance().unwrap();
    assert_eq!(r.compactions, 1);
    assert_eq!(db.stats().total.blocks, 1);
    assert_eq!(samples_of(&db, "t", "a").len(), 180);
}

/// Bytes of the block with the smallest `min_t` under `blocks`.
fn oldest_block_bytes(blocks: &std::path::Path) -> u64 {
    let mut oldest: Option<(i64, u64)> = None;
    for e in std::fs::read_dir(blocks).unwrap().flatten() {
        let meta: serde_json::Value =
            serde_json::from_slice(&std::fs::read(e.path().join("meta.json")).unwrap()).unwrap();
        let min_t = meta["min_t"].as_i64().unwrap();
        let size = oxeye_storage::block::dir_size(&e.path()).unwrap();
        if oldest.is_none_or(|(t, _)| min_t < t) {
            oldest = Some((min_t, size));
        }
    }
    oldest.unwrap().1
}

#[test]
fn the_settled_horizon_follows_the_newest_sample_and_late_data_moves_its_generation() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(2 * HOUR);
    let mut o = opts();
    o.block_duration = Duration::from_secs(3600);
    o.retention = Duration::from_secs(10 * 3600);
    o.out_of_order_window = Duration::from_secs(3600);
    let db = open(dir.path(), o, &clock);
    let t = tenant("t");
    assert_eq!(db.settled(&t), None, "an unknown tenant promises nothing");
    let min = 60_000;
    let a = labels("a", &[]);
    db.append(&t, batch(vec![sw(&a, &[(60 * min, 1.0)])]))
        .unwrap();
    let s0 = db.settled(&t).unwrap();
    assert_eq!(s0.before_ms, 50 * min);
    // in-order data, and data newer than the horizon, keep the generation
    db.append(&t, batch(vec![sw(&a, &[(61 * min, 1.0)])]))
        .unwrap();
    db.append(&t, batch(vec![sw(&labels("b", &[]), &[(52 * min, 1.0)])]))
        .unwrap();
    let s1 = db.settled(&t).unwrap();
    assert_eq!((s1.generation, s1.before_ms), (s0.generation, 51 * min));
    // a new series backfilled behind the horizon moves it
    db.append(&t, batch(vec![sw(&labels("c", &[]), &[(10 * min, 1.0)])]))
        .unwrap();
    let s2 = db.settled(&t).unwrap();
    assert_ne!(s2.generation, s1.generation);
    // so does an out-of-order sample behind it
    db.append(&t, batch(vec![sw(&a, &[(30 * min, 1.0)])]))
        .unwrap();
    let s3 = db.settled(&t).unwrap();
    assert_ne!(s3.generation, s2.generation);
    // and blocks deleted by retention
    db.flush().unwrap();
    assert_eq!(db.settled(&t), Some(s3));
    clock.set(12 * HOUR);
    assert!(db.maintenance().unwrap().blocks_deleted_by_time > 0);
    let s4 = db.settled(&t).unwrap();
    assert_ne!(s4.generation, s3.generation);
    // a sample dated ahead of the clock holds the horizon at the clock, so ordinary
    // writes at the clock's time stay ahead of it and keep the generation
    let now = 12 * HOUR;
    db.append(&t, batch(vec![sw(&a, &[(now - min, 1.0)])]))
        .unwrap();
    db.append(
        &t,
        batch(vec![sw(&labels("future", &[]), &[(now + 48 * HOUR, 1.0)])]),
    )
    .unwrap();
    let s5 = db.settled(&t).unwrap();
    assert_eq!(s5.before_ms, now - 10 * min);
    db.append(&t, batch(vec![sw(&a, &[(now - min / 2, 1.0)])]))
        .unwrap();
    db.append(
        &t,
        batch(vec![sw(&labels("d", &[]), &[(now - 5 * min, 1.0)])]),
    )
    .unwrap();
    assert_eq!(db.settled(&t).unwrap().generation, s5.generation);
    // and a write behind the clock's horizon still moves it
    db.append(
        &t,
        batch(vec![sw(&labels("e", &[]), &[(now - 20 * min, 1.0)])]),
    )
    .unwrap();
    let s6 = db.settled(&t).unwrap();
    assert_ne!(s6.generation, s5.generation);
    // a clock stepped back keeps the horizon a reader was given, and writes behind it
    // still move the generation
    clock.set(now - 30 * min);
    assert_eq!(db.settled(&t).unwrap().before_ms, s6.before_ms);
    db.append(
        &t,
        batch(vec![sw(&labels("f", &[]), &[(now - 15 * min, 1.0)])]),
    )
    .unwrap();
    assert_ne!(db.settled(&t).unwrap().generation, s6.generation);
}

#[test]
fn compaction_drops_the_cached_pages_of_the_blocks_it_replaces() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(0);
    let mut o = opts();
    o.block_duration = Duration::from_secs(3600);
    let db = open(dir.path(), o, &clock);
    hourly(&db, 0..4);
    let read_first_3h = |db: &oxeye_tsdb::Tsdb| {
        let q = db.querier(&tenant("t"), 0, 3 * HOUR - 1).unwrap();
        let s = q
            .select(&[Matcher::equal("__name__", "a")], &SelectHints::default())
            .unwrap();
        s[0].data.samples().unwrap()
    };
    let before = read_first_3h(&db);
    assert_eq!(before.len(), 180);
    let st = db.stats();
    assert!(st.page_cache_bytes > 0, "the read pages are cached");
    let misses = st.page_cache_misses_total;
    assert_eq!(read_first_3h(&db), before);
    assert_eq!(
        db.stats().page_cache_misses_total,
        misses,
        "read from the cache"
    );
    let r = db.maintenance().unwrap();
    assert_eq!(r.compactions, 1);
    let st = db.stats();
    assert_eq!(
        st.page_cache_bytes, 0,
        "the replaced blocks' pages leave the cache"
    );
    // the new block's pages are decompressed from the new block, not taken from the old
    assert_eq!(read_first_3h(&db), before);
    assert!(db.stats().page_cache_misses_total > st.page_cache_misses_total);
}

#[test]
fn a_zero_page_cache_reads_blocks_without_caching() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(0);
    let mut o = opts();
    o.block_duration = Duration::from_secs(3600);
    o.page_cache_bytes = 0;
    let db = open(dir.path(), o, &clock);
    hourly(&db, 0..2);
    let expected: Vec<(i64, f64)> = (0..120).map(|m| (m * 60_000, m as f64)).collect();
    assert_eq!(samples_of(&db, "t", "a"), expected);
    assert_eq!(samples_of(&db, "t", "a"), expected);
    let st = db.stats();
    assert_eq!((st.page_cache_bytes, st.page_cache_hits_total), (0, 0));
    assert_eq!(st.page_cache_capacity_bytes, 0);
    assert!(st.page_cache_misses_total > 0);
}
