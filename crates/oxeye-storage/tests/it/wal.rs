use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use oxeye_storage::StorageError;
use oxeye_storage::wal::{SyncPolicy, Wal, WalOptions};
use proptest::prelude::*;

fn replay_all(dir: &Path) -> Result<(Vec<Vec<u8>>, oxeye_storage::wal::ReplayStats), StorageError> {
    let mut out = Vec::new();
    let stats = Wal::replay(dir, &mut |r| {
        out.push(r.to_vec());
        Ok(())
    })?;
    Ok((out, stats))
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

fn record(i: usize) -> Vec<u8> {
    format!("record-{i}-{}", "x".repeat(i % 37)).into_bytes()
}

fn write_records(dir: &Path, n: usize, opts: WalOptions) -> Vec<Vec<u8>> {
    let wal = Wal::open(dir, opts).unwrap();
    let recs: Vec<Vec<u8>> = (0..n).map(record).collect();
    for r in &recs {
        wal.append(r).unwrap();
    }
    wal.close().unwrap();
    recs
}

#[test]
fn missing_dir_is_empty() {
    let dir = tempfile::tempdir().unwrap();
    let (recs, stats) = replay_all(&dir.path().join("nope")).unwrap();
    assert!(recs.is_empty());
    assert_eq!(stats.records, 0);
}

#[test]
fn round_trip_across_reopens_and_segments() {
    let dir = tempfile::tempdir().unwrap();
    let opts = WalOptions {
        segment_size: 200,
        sync: SyncPolicy::Always,
    };
    let mut expected = write_records(dir.path(), 50, opts.clone());
    expected.push(Vec::new());
    expected.push(vec![7u8; 5000]); // larger than a segment: gets its own
    let wal = Wal::open(dir.path(), opts).unwrap();
    wal.append(&[]).unwrap();
    wal.append(&[7u8; 5000]).unwrap();
    let stats = wal.stats();
    assert_eq!(stats.records, 2);
    assert!(stats.segments > 5, "{stats:?}");
    drop(wal);
    let (got, rstats) = replay_all(dir.path()).unwrap();
    assert_eq!(got, expected);
    assert_eq!(rstats.records, 52);
    assert_eq!(rstats.truncated_tail_bytes, 0);
    assert_eq!(rstats.segments as usize, segments(dir.path()).len());
}

#[test]
fn torn_last_record_is_truncated_at_every_offset() {
    let dir = tempfile::tempdir().unwrap();
    let expected = write_records(dir.path(), 5, WalOptions::default());
    let seg = segments(dir.path()).pop().unwrap();
    let full = fs::read(&seg).unwrap();
    let last_len = 12 + expected[4].len();
    let last_start = full.len() - last_len;
    for cut in last_start..full.len() {
        fs::write(&seg, &full[..cut]).unwrap();
        let (got, stats) = replay_all(dir.path()).unwrap();
        assert_eq!(got, expected[..4], "cut at {cut}");
        assert_eq!(stats.truncated_tail_bytes, (cut - last_start) as u64);
        assert_eq!(fs::metadata(&seg).unwrap().len(), last_start as u64);
        // A second replay finds a clean log.
        let (again, stats) = replay_all(dir.path()).unwrap();
        assert_eq!(again.len(), 4);
        assert_eq!(stats.truncated_tail_bytes, 0);
    }
}

#[test]
fn garbage_and_zero_fill_tails_are_truncated() {
    for tail in [
        vec![0u8; 4096],
        vec![0u8; 3],
        (0..2000u32).map(|i| (i * 31 + 7) as u8).collect(),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let expected = write_records(dir.path(), 10, WalOptions::default());
        let seg = segments(dir.path()).pop().unwrap();
        let before = fs::metadata(&seg).unwrap().len();
        OpenOptions::new()
            .append(true)
            .open(&seg)
            .unwrap()
            .write_all(&tail)
            .unwrap();
        let (got, stats) = replay_all(dir.path()).unwrap();
        assert_eq!(got, expected);
        assert_eq!(stats.truncated_tail_bytes, tail.len() as u64);
        assert_eq!(fs::metadata(&seg).unwrap().len(), before);
    }
}

#[test]
fn torn_tail_before_empty_newer_segment_is_still_a_tail() {
    let dir = tempfile::tempdir().unwrap();
    let expected = write_records(dir.path(), 3, WalOptions::default());
    let seg = segments(dir.path()).pop().unwrap();
    let len = fs::metadata(&seg).unwrap().len();
    OpenOptions::new()
        .write(true)
        .open(&seg)
        .unwrap()
        .set_len(len - 2)
        .unwrap();
    // A crash right after the next open created an empty segment.
    drop(Wal::open(dir.path(), WalOptions::default()).unwrap());
    let (got, stats) = replay_all(dir.path()).unwrap();
    assert_eq!(got, expected[..2]);
    assert!(stats.truncated_tail_bytes > 0);
}

#[test]
fn corruption_in_earlier_segment_is_fatal() {
    let dir = tempfile::tempdir().unwrap();
    write_records(dir.path(), 5, WalOptions::default());
    write_records(dir.path(), 5, WalOptions::default());
    let first = segments(dir.path()).remove(0);
    let mut bytes = fs::read(&first).unwrap();
    let n = bytes.len();
    bytes[n - 3] ^= 0xff;
    fs::write(&first, &bytes).unwrap();
    match replay_all(dir.path()) {
        Err(StorageError::Corrupt { path, detail }) => {
            assert_eq!(path, first);
            assert!(detail.contains("checksum"), "{detail}");
        }
        other => panic!("expected corrupt, got {other:?}"),
    }
    // A torn tail in an earlier segment is corruption too.
    let mut bytes = fs::read(&first).unwrap();
    bytes[n - 3] ^= 0xff;
    bytes.truncate(n - 1);
    fs::write(&first, &bytes).unwrap();
    assert!(matches!(
        replay_all(dir.path()),
        Err(StorageError::Corrupt { .. })
    ));
}

#[test]
fn corruption_in_the_middle_of_last_segment_is_fatal() {
    let dir = tempfile::tempdir().unwrap();
    write_records(dir.path(), 10, WalOptions::default());
    let seg = segments(dir.path()).pop().unwrap();
    let mut bytes = fs::read(&seg).unwrap();
    bytes[20] ^= 0x01; // inside the first record's payload
    fs::write(&seg, &bytes).unwrap();
    assert!(matches!(
        replay_all(dir.path()),
        Err(StorageError::Corrupt { .. })
    ));
    bytes[20] ^= 0x01;
    bytes[0] ^= 0x40; // the first record's length
    fs::write(&seg, &bytes).unwrap();
    assert!(matches!(
        replay_all(dir.path()),
        Err(StorageError::Corrupt { .. })
    ));
}

#[test]
fn callback_error_stops_replay() {
    let dir = tempfile::tempdir().unwrap();
    write_records(dir.path(), 10, WalOptions::default());
    let mut seen = 0;
    let err = Wal::replay(dir.path(), &mut |_| {
        seen += 1;
        if seen == 3 {
            return Err(StorageError::InvalidArgument("bad record".into()));
        }
        Ok(())
    })
    .unwrap_err();
    assert_eq!(seen, 3);
    assert!(matches!(err, StorageError::InvalidArgument(_)));
}

#[test]
fn group_commit_shares_fsyncs() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Arc::new(Wal::open(dir.path(), WalOptions::default()).unwrap());
    let threads = 8;
    let per = 100;
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let wal = Arc::clone(&wal);
            std::thread::spawn(move || {
                for i in 0..per {
                    wal.append(format!("{t}:{i}").as_bytes()).unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let stats = wal.stats();
    assert_eq!(stats.records, (threads * per) as u64);
    assert!(stats.fsyncs > 0);
    assert!(
        stats.fsyncs < stats.records,
        "fsyncs {} not shared across {} records",
        stats.fsyncs,
        stats.records
    );
    wal.close().unwrap();
    let (got, _) = replay_all(dir.path()).unwrap();
    assert_eq!(got.len(), threads * per);
    // Each thread's records stay in its own order.
    for t in 0..threads {
        let mine: Vec<String> = got
            .iter()
            .map(|r| String::from_utf8(r.clone()).unwrap())
            .filter(|s| s.starts_with(&format!("{t}:")))
            .collect();
        let want: Vec<String> = (0..per).map(|i| format!("{t}:{i}")).collect();
        assert_eq!(mine, want);
    }
}

#[test]
fn cut_and_remove_before() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), WalOptions::default()).unwrap();
    wal.append(b"a").unwrap();
    let first = wal.stats().current_segment;
    let next = wal.cut().unwrap();
    assert_eq!(next, first + 1);
    assert_eq!(wal.stats().current_segment, next);
    wal.append(b"b").unwrap();
    let third = wal.cut().unwrap();
    wal.append(b"c").unwrap();
    assert_eq!(wal.stats().segments, 3);
    wal.remove_before(third).unwrap();
    assert_eq!(wal.stats().segments, 1);
    assert_eq!(segments(dir.path()).len(), 1);
    // Never removes the segment being written.
    wal.remove_before(u64::MAX).unwrap();
    assert_eq!(segments(dir.path()).len(), 1);
    wal.close().unwrap();
    let (got, _) = replay_all(dir.path()).unwrap();
    assert_eq!(got, vec![b"c".to_vec()]);
}

#[test]
fn closed_wal_refuses_appends() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), WalOptions::default()).unwrap();
    wal.append(b"x").unwrap();
    wal.close().unwrap();
    assert!(matches!(wal.append(b"y"), Err(StorageError::Closed)));
    assert!(matches!(wal.cut(), Err(StorageError::Closed)));
    wal.close().unwrap();
}

#[test]
fn interval_policy_syncs_in_background() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(
        dir.path(),
        WalOptions {
            sync: SyncPolicy::Interval(Duration::from_millis(10)),
            ..WalOptions::default()
        },
    )
    .unwrap();
    for i in 0..20 {
        wal.append(&record(i)).unwrap();
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while wal.stats().fsyncs == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(wal.stats().fsyncs >= 1);
    assert!(wal.stats().fsyncs < 20);
    wal.close().unwrap();
    assert_eq!(replay_all(dir.path()).unwrap().0.len(), 20);
}

#[test]
fn never_policy_syncs_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(
        dir.path(),
        WalOptions {
            sync: SyncPolicy::Never,
            ..WalOptions::default()
        },
    )
    .unwrap();
    for i in 0..10 {
        wal.append(&record(i)).unwrap();
    }
    assert_eq!(wal.stats().fsyncs, 0);
    wal.sync().unwrap();
    assert_eq!(wal.stats().fsyncs, 1);
    wal.sync().unwrap(); // nothing new: no fsync
    assert_eq!(wal.stats().fsyncs, 1);
    wal.close().unwrap();
}

#[test]
fn huge_record_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let big: Vec<u8> = (0..(256usize << 20)).map(|i| (i >> 12) as u8).collect();
    {
        let wal = Wal::open(dir.path(), WalOptions::default()).unwrap();
        wal.append(b"before").unwrap();
        wal.append(&big).unwrap();
        wal.append(b"after").unwrap();
        wal.close().unwrap();
    }
    let mut n = 0;
    Wal::replay(dir.path(), &mut |r| {
        match n {
            0 => assert_eq!(r, b"before"),
            1 => assert!(r == big.as_slice()),
            _ => assert_eq!(r, b"after"),
        }
        n += 1;
        Ok(())
    })
    .unwrap();
    assert_eq!(n, 3);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]
    #[test]
    fn random_records_round_trip(
        recs in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..60),
        segment_size in 1u64..2000,
        reopen_every in 1usize..30,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let opts = WalOptions { segment_size, sync: SyncPolicy::Never };
        for chunk in recs.chunks(reopen_every) {
            let wal = Wal::open(dir.path(), opts.clone()).unwrap();
            for r in chunk {
                wal.append(r).unwrap();
            }
            wal.close().unwrap();
        }
        let (got, stats) = replay_all(dir.path()).unwrap();
        prop_assert_eq!(stats.truncated_tail_bytes, 0);
        prop_assert_eq!(got, recs);
    }
}

#[test]
fn concurrent_appends_cuts_and_removals() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Arc::new(
        Wal::open(
            dir.path(),
            WalOptions {
                segment_size: 4096,
                sync: SyncPolicy::Always,
            },
        )
        .unwrap(),
    );
    let writers: Vec<_> = (0..4)
        .map(|t| {
            let wal = Arc::clone(&wal);
            std::thread::spawn(move || {
                for i in 0..300 {
                    wal.append(format!("{t}:{i}:{}", "p".repeat(i % 50)).as_bytes())
                        .unwrap();
                }
            })
        })
        .collect();
    let cutter = {
        let wal = Arc::clone(&wal);
        std::thread::spawn(move || {
            for _ in 0..20 {
                let seg = wal.cut().unwrap();
                wal.remove_before(seg).unwrap();
                std::thread::sleep(Duration::from_millis(1));
            }
        })
    };
    for w in writers {
        w.join().unwrap();
    }
    cutter.join().unwrap();
    let last = wal.cut().unwrap();
    wal.append(b"tail").unwrap();
    wal.remove_before(last).unwrap();
    wal.close().unwrap();
    let (got, stats) = replay_all(dir.path()).unwrap();
    assert_eq!(got, vec![b"tail".to_vec()]);
    assert_eq!(stats.truncated_tail_bytes, 0);
}

#[test]
fn zero_page_hole_in_last_segment_is_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let recs: Vec<Vec<u8>> = (0..40u8).map(|i| vec![i + 1; 1000]).collect();
    {
        let wal = Wal::open(dir.path(), WalOptions::default()).unwrap();
        for r in &recs {
            wal.append(r).unwrap();
        }
        wal.close().unwrap();
    }
    let seg = segments(dir.path()).pop().unwrap();
    let mut bytes = fs::read(&seg).unwrap();
    // The third page never reached the disk.
    bytes[8192..12288].fill(0);
    fs::write(&seg, &bytes).unwrap();
    let (got, stats) = replay_all(dir.path()).unwrap();
    // Records are 1012 bytes framed: the 9th starts at 8096 and crosses into the hole.
    assert_eq!(got, recs[..8]);
    assert_eq!(stats.truncated_tail_bytes, bytes.len() as u64 - 8 * 1012);
    assert_eq!(fs::metadata(&seg).unwrap().len(), 8 * 1012);
}

#[test]
fn salvaging_replay_skips_a_damaged_segment_and_reads_later_ones() {
    let dir = tempfile::tempdir().unwrap();
    // three segments of five records each (each open starts a new segment)
    let mut all = Vec::new();
    for _ in 0..3 {
        all.extend(write_records(dir.path(), 5, WalOptions::default()));
    }
    let segs: Vec<PathBuf> = segments(dir.path())
        .into_iter()
        .filter(|p| fs::metadata(p).unwrap().len() > 0)
        .collect();
    assert_eq!(segs.len(), 3);
    let mut bytes = fs::read(&segs[1]).unwrap();
    bytes[20] ^= 0x01; // inside the first record's payload of the middle segment
    fs::write(&segs[1], &bytes).unwrap();
    assert!(matches!(
        replay_all(dir.path()),
        Err(StorageError::Corrupt { .. })
    ));
    let mut got = Vec::new();
    let stats = Wal::replay_salvaging(dir.path(), &mut |r| {
        got.push(r.to_vec());
        Ok(())
    })
    .unwrap();
    let mut want = all[..5].to_vec();
    want.extend_from_slice(&all[10..]);
    assert_eq!(got, want);
    assert_eq!(stats.damaged_segments, 1);
    assert_eq!(stats.skipped_bytes, bytes.len() as u64);
}
