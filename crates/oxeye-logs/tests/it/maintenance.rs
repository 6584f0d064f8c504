//! Retention, head cuts by size and age, needle filters, corrupt files.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

use oxeye_core::logs::{Direction, LogAppender, LogEntry, LogQueryable, LogSelect};
use oxeye_core::{ManualClock, Matcher, StoreError};
use oxeye_logs::{LogStore, LogStoreOptions};

use crate::basic::{all, batch, lines, small_opts, stream, tenant};

const MIN_NS: i64 = 60_000_000_000;
const DAY_MS: i64 = 24 * 3600 * 1000;

#[test]
fn retention_deletes_old_files_by_the_injected_clock() {
    let dir = tempfile::tempdir().unwrap();
    let day0 = 100 * DAY_MS;
    let clock = Arc::new(ManualClock::new(day0));
    let opts = LogStoreOptions {
        retention: Duration::from_secs(2 * 24 * 3600),
        ..small_opts()
    };
    let store = LogStore::open(dir.path(), opts, clock.clone()).unwrap();
    let t = tenant("acme");
    let ns = |ms: i64| ms * 1_000_000;
    store
        .append_logs(
            &t,
            batch(vec![stream(
                &[("job", "old")],
                vec![LogEntry::new(ns(day0), "old line")],
            )]),
        )
        .unwrap();
    store.flush().unwrap();
    clock.set(day0 + DAY_MS);
    store
        .append_logs(
            &t,
            batch(vec![stream(
                &[("job", "new")],
                vec![LogEntry::new(ns(day0 + DAY_MS), "new line")],
            )]),
        )
        .unwrap();
    store.flush().unwrap();
    assert_eq!(store.stats().chunk_files, 2);
    // two days after the old line: only its file goes; the stream is forgotten
    clock.set(day0 + 2 * DAY_MS + 1);
    let r = store.maintain().unwrap();
    assert_eq!(r.files_deleted, 1);
    assert!(r.failed_tenants.is_empty());
    assert_eq!(store.stats().chunk_files, 1);
    assert_eq!(
        lines(&store, &t, &[], &all(), Direction::Forward),
        vec![(ns(day0 + DAY_MS), "new line".to_string())]
    );
    assert_eq!(
        store
            .log_label_values(&t, "job", &[], i64::MIN, i64::MAX)
            .unwrap(),
        vec!["new"]
    );
    assert_eq!(
        std::fs::read_dir(dir.path().join("acme/chunks"))
            .unwrap()
            .count(),
        1
    );
    // and after a reopen too
    store.close().unwrap();
    drop(store);
    let store = LogStore::open(dir.path(), small_opts(), clock.clone()).unwrap();
    assert_eq!(store.stats().chunk_files, 1);
}

#[test]
fn maintain_cuts_heads_by_size_and_age() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(1_000_000));
    let opts = LogStoreOptions {
        head_max_bytes: 20_000,
        head_max_age: Duration::from_secs(600),
        ..small_opts()
    };
    let store = LogStore::open(dir.path(), opts, clock.clone()).unwrap();
    let t = tenant("acme");
    // small head: nothing to cut yet
    store
        .append_logs(
            &t,
            batch(vec![stream(&[("job", "a")], vec![LogEntry::new(1, "one")])]),
        )
        .unwrap();
    assert_eq!(store.maintain().unwrap().heads_cut, 0);
    // too old
    clock.advance(601_000);
    let r = store.maintain().unwrap();
    assert_eq!((r.heads_cut, r.files_written), (1, 1));
    assert_eq!(store.stats().head_bytes, 0);
    // too large (the cut runs in the background or in maintain)
    for i in 0..300u64 {
        let e: Vec<LogEntry> = (0..10u64)
            .map(|j| {
                LogEntry::new(
                    (i * 10 + j) as i64,
                    format!(
                        "{i} {j} {:016x}",
                        (i * 10 + j).wrapping_mul(0x9E37_79B9_7F4A_7C15)
                    ),
                )
            })
            .collect();
        // the store refuses writes (retryably) while cut heads wait for their files
        loop {
            match store.append_logs(&t, batch(vec![stream(&[("job", "b")], e.clone())])) {
                Ok(_) => break,
                Err(StoreError::Unavailable(_)) => std::thread::sleep(Duration::from_millis(5)),
                Err(e) => panic!("{e}"),
            }
        }
    }
    store.maintain().unwrap();
    let s = store.stats();
    assert!(s.head_bytes <= 20_000, "head holds {} bytes", s.head_bytes);
    assert!(s.chunk_files >= 2);
    assert_eq!(
        lines(
            &store,
            &t,
            &[Matcher::equal("job", "b")],
            &all(),
            Direction::Forward
        )
        .len(),
        3000
    );
}

/// Chunks passed to the reader for a select.
fn chunks_read(store: &LogStore, sel: &LogSelect) -> (usize, Vec<String>) {
    let mut n = 0;
    let mut hits = Vec::new();
    for s in store.select_logs(&tenant("acme"), &[], sel).unwrap() {
        s.data
            .for_each_chunk(Direction::Backward, &mut |es| {
                n += 1;
                hits.extend(
                    es.iter()
                        .filter(|e| {
                            sel.line_contains
                                .iter()
                                .all(|h| e.line.contains(h.as_str()))
                        })
                        .map(|e| e.line.clone()),
                );
                ControlFlow::Continue(())
            })
            .unwrap();
    }
    (n, hits)
}

#[test]
fn needle_hints_skip_chunks_and_time_ranges_skip_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(1_000_000));
    let store = LogStore::open(dir.path(), small_opts(), clock).unwrap();
    let t = tenant("acme");
    let id = |i: i64| {
        format!(
            "{:016x}{:016x}",
            (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
            (i as u64).wrapping_mul(0xD1B5_4A32_D192_ED03)
        )
    };
    for minute in 0..30i64 {
        let e = (0..20)
            .map(|j| {
                let i = minute * 20 + j;
                LogEntry::new(
                    minute * MIN_NS + j,
                    format!(
                        "level=info msg=\"request served\" trace_id={} took={}ms",
                        id(i),
                        i % 97
                    ),
                )
            })
            .collect();
        store
            .append_logs(&t, batch(vec![stream(&[("job", "api")], e)]))
            .unwrap();
        if minute == 15 {
            store.flush().unwrap();
        }
    }
    let (total, _) = chunks_read(&store, &all());
    assert!(total >= 20, "{total} chunks");
    // a needle in one chunk (one in the head, one in a file)
    for i in [7, 590] {
        let sel = LogSelect {
            line_contains: vec![id(i)],
            ..all()
        };
        let (n, hits) = chunks_read(&store, &sel);
        assert_eq!(hits.len(), 1);
        assert!(n <= 3, "needle read {n} of {total} chunks");
    }
    let st = store.stats();
    assert!(
        st.chunks_skipped >= 2 * (total as u64 - 3),
        "{} skipped",
        st.chunks_skipped
    );
    // a needle that matches everything skips nothing
    let sel = LogSelect {
        line_contains: vec!["request served".into()],
        ..all()
    };
    assert_eq!(chunks_read(&store, &sel).0, total);
    // a time range reads only overlapping chunks
    let sel = LogSelect {
        start_ns: 3 * MIN_NS,
        end_ns: 4 * MIN_NS,
        line_contains: Vec::new(),
        metadata_equals: Vec::new(),
    };
    let (n, _) = chunks_read(&store, &sel);
    assert!(n <= 2, "range read {n} of {total} chunks");
    assert_eq!(lines(&store, &t, &[], &sel, Direction::Forward).len(), 20);
}

#[test]
fn corrupt_files_are_reported_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(1_000_000));
    let t = tenant("acme");
    {
        let store = LogStore::open(dir.path(), small_opts(), clock.clone()).unwrap();
        for f in 0..2 {
            let e = (0..50)
                .map(|i| LogEntry::new(f * 1000 + i, format!("file {f} entry {i}")))
                .collect();
            store
                .append_logs(&t, batch(vec![stream(&[("job", "a")], e)]))
                .unwrap();
            store.flush().unwrap();
        }
        store.close().unwrap();
    }
    let cdir = dir.path().join("acme/chunks");
    let mut files: Vec<_> = std::fs::read_dir(&cdir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    // damage chunk data of the first file, the footer of the second
    let mut b = std::fs::read(&files[0]).unwrap();
    b[12] ^= 0xff;
    std::fs::write(&files[0], &b).unwrap();
    let mut b = std::fs::read(&files[1]).unwrap();
    let n = b.len();
    b[n - 25] ^= 0xff;
    std::fs::write(&files[1], &b).unwrap();

    let store = LogStore::open(dir.path(), small_opts(), clock).unwrap();
    let s = store.stats();
    assert_eq!((s.chunk_files, s.corrupt_files), (1, 1));
    assert!(files[1].with_extension("corrupt").exists());
    let series = store.select_logs(&t, &[], &all()).unwrap();
    let err = series[0].data.entries(Direction::Forward).unwrap_err();
    assert!(
        matches!(err, StoreError::Internal(ref m) if m.contains("checksum")),
        "{err}"
    );
}

/// Readers racing appends and cuts never miss an acknowledged entry nor see one twice.
#[test]
fn reads_during_cuts_see_every_acknowledged_entry_once() {
    use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(1_000_000));
    let store = LogStore::open(dir.path(), small_opts(), clock).unwrap();
    let t = tenant("acme");
    let acked = AtomicI64::new(0);
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            for i in 1..=1500i64 {
                let e = vec![LogEntry::new(i, format!("entry {i} of the racing writer"))];
                store
                    .append_logs(&t, batch(vec![stream(&[("job", "race")], e)]))
                    .unwrap();
                acked.store(i, Ordering::SeqCst);
                // cuts of its own too, so files exist however the flusher is scheduled
                if i % 500 == 0 {
                    store.flush().unwrap();
                }
            }
            done.store(true, Ordering::SeqCst);
        });
        s.spawn(|| {
            while !done.load(Ordering::SeqCst) {
                store.flush().unwrap();
                std::thread::sleep(Duration::from_millis(2));
            }
        });
        s.spawn(|| {
            let mut rounds = 0;
            while !done.load(Ordering::SeqCst) || rounds < 3 {
                rounds += 1;
                let before = acked.load(Ordering::SeqCst);
                let got: Vec<i64> = lines(&store, &t, &[], &all(), Direction::Forward)
                    .into_iter()
                    .map(|(ts, _)| ts)
                    .collect();
                // a prefix 1..=n with n at least what was acknowledged before the read
                assert!(
                    got.len() as i64 >= before,
                    "read {} entries, {before} acknowledged",
                    got.len()
                );
                assert!(
                    got.iter().enumerate().all(|(i, ts)| *ts == i as i64 + 1),
                    "gap or duplicate"
                );
            }
        });
    });
    assert!(store.stats().chunk_files >= 2);
}

#[test]
fn damaged_wal_is_set_aside_and_what_replayed_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(1_000_000));
    let t = tenant("acme");
    {
        let store = LogStore::open(dir.path(), small_opts(), clock.clone()).unwrap();
        for i in 0..3 {
            let e = vec![LogEntry::new(i, format!("record {i} {}", "x".repeat(100)))];
            store
                .append_logs(&t, batch(vec![stream(&[("job", "a")], e)]))
                .unwrap();
        }
        store.close().unwrap();
    }
    let wal = dir.path().join("acme/wal");
    let mut segs: Vec<_> = std::fs::read_dir(&wal)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| std::fs::metadata(p).unwrap().len() > 0)
        .collect();
    segs.sort();
    assert_eq!(segs.len(), 1);
    // damage the second of three records: the first replays, the rest is set aside
    let mut b = std::fs::read(&segs[0]).unwrap();
    let second = b.len() / 2;
    b[second] ^= 0xff;
    std::fs::write(&segs[0], &b).unwrap();

    let store = LogStore::open(dir.path(), small_opts(), clock).unwrap();
    let got = lines(&store, &t, &[], &all(), Direction::Forward);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, 0);
    let aside = std::fs::read_dir(dir.path().join("acme"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("wal.corrupt-")
        })
        .count();
    assert_eq!(aside, 1);
    // the store keeps working
    store
        .append_logs(
            &t,
            batch(vec![stream(
                &[("job", "a")],
                vec![LogEntry::new(9, "after")],
            )]),
        )
        .unwrap();
    assert_eq!(lines(&store, &t, &[], &all(), Direction::Forward).len(), 2);
}

#[test]
fn head_is_cut_once_its_entries_reach_head_max_wal_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(1_000));
    let opts = LogStoreOptions {
        head_max_wal_bytes: 1000,
        ..small_opts()
    };
    let store = LogStore::open(dir.path(), opts, clock.clone()).unwrap();
    let t = tenant("acme");
    // 400 lines of 100 bytes: about 40 KB, far under head_max_bytes and head_max_age
    let entries: Vec<LogEntry> = (0..400)
        .map(|i| LogEntry::new(MIN_NS + i, format!("{i:0>100}")))
        .collect();
    store
        .append_logs(&t, batch(vec![stream(&[("job", "a")], entries)]))
        .unwrap();
    store.maintain().unwrap();
    assert!(
        store.stats().chunk_files >= 1,
        "a head over head_max_wal_bytes must be cut into a chunk file"
    );
    assert_eq!(
        lines(&store, &t, &[], &all(), Direction::Forward).len(),
        400
    );
}

#[test]
fn damaged_wal_segment_does_not_hide_later_segments() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(1_000_000));
    let t = tenant("acme");
    // each open starts a new segment: [a0] [b1 b2] [c3]
    for group in [vec!["a"], vec!["b", "b"], vec!["c"]] {
        let store = LogStore::open(dir.path(), small_opts(), clock.clone()).unwrap();
        let base = lines(&store, &t, &[], &all(), Direction::Forward).len() as i64;
        for (i, p) in group.iter().enumerate() {
            let ts = base + i as i64;
            let e = vec![LogEntry::new(ts, format!("{p}{ts} {}", "x".repeat(100)))];
            store
                .append_logs(&t, batch(vec![stream(&[("job", "a")], e)]))
                .unwrap();
        }
        store.close().unwrap();
    }
    let wal = dir.path().join("acme/wal");
    let mut segs: Vec<_> = std::fs::read_dir(&wal)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| std::fs::metadata(p).unwrap().len() > 0)
        .collect();
    segs.sort();
    assert_eq!(segs.len(), 3);
    // damage the second record of the middle segment
    let mut b = std::fs::read(&segs[1]).unwrap();
    let at = b.len() * 3 / 4;
    b[at] ^= 0xff;
    std::fs::write(&segs[1], &b).unwrap();

    let store = LogStore::open(dir.path(), small_opts(), clock).unwrap();
    let got: Vec<i64> = lines(&store, &t, &[], &all(), Direction::Forward)
        .into_iter()
        .map(|(ts, _)| ts)
        .collect();
    assert_eq!(
        got,
        vec![0, 1, 3],
        "the segment after the damage must replay"
    );
    assert!(store.stats().wal_bytes_skipped > 0);
}

#[test]
fn a_tenant_that_fails_to_open_does_not_stop_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(1_000_000));
    let (good, bad) = (tenant("good"), tenant("bad"));
    {
        let store = LogStore::open(dir.path(), small_opts(), clock.clone()).unwrap();
        for t in [&good, &bad] {
            store
                .append_logs(
                    t,
                    batch(vec![stream(&[("job", "a")], vec![LogEntry::new(1, "x")])]),
                )
                .unwrap();
        }
        store.flush().unwrap();
        store.close().unwrap();
    }
    // the bad tenant's chunk directory becomes a file: it cannot open
    let chunks = dir.path().join("bad/chunks");
    std::fs::remove_dir_all(&chunks).unwrap();
    std::fs::write(&chunks, b"not a directory").unwrap();

    let store = LogStore::open(dir.path(), small_opts(), clock).unwrap();
    assert_eq!(
        lines(&store, &good, &[], &all(), Direction::Forward),
        vec![(1, "x".to_string())]
    );
    let failed = store.stats().failed_tenants;
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].0, "bad");
    assert!(failed[0].1.contains("chunks"), "{failed:?}");
    // writes to the bad tenant fail; the good one keeps working
    assert!(
        store
            .append_logs(
                &bad,
                batch(vec![stream(&[("job", "a")], vec![LogEntry::new(2, "y")])]),
            )
            .is_err()
    );
    store
        .append_logs(
            &good,
            batch(vec![stream(&[("job", "a")], vec![LogEntry::new(2, "y")])]),
        )
        .unwrap();
    assert_eq!(
        lines(&store, &good, &[], &all(), Direction::Forward).len(),
        2
    );
}
