//! Unit tests of the tenant store that need failure injection.

use std::sync::Arc;

use oxeye_core::logs::{LogBatch, LogEntry, LogSelect, LogStream};
use oxeye_core::{Labels, ManualClock};
use oxeye_storage::wal::{SyncPolicy, WalOptions};

use super::Tenant;
use crate::LogStoreOptions;
use crate::file::{EXT, FAIL_AFTER_RENAME, FAIL_WRITES};

fn opts() -> Arc<LogStoreOptions> {
    Arc::new(LogStoreOptions {
        chunk_target_bytes: 2000,
        zstd_level: 3,
        wal: WalOptions {
            sync: SyncPolicy::Never,
            ..WalOptions::default()
        },
        ..LogStoreOptions::default()
    })
}

fn all() -> LogSelect {
    LogSelect {
        start_ns: i64::MIN,
        end_ns: i64::MAX,
        line_contains: Vec::new(),
        metadata_equals: Vec::new(),
    }
}

fn entry_count(t: &Tenant) -> u64 {
    t.stream_stats(&[], i64::MIN, i64::MAX)
        .iter()
        .map(|s| s.entries)
        .sum()
}

fn aside_dirs(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("wal.corrupt-")
        })
        .count()
}

#[test]
fn damaged_wal_stays_until_what_replayed_is_in_a_chunk_file() {
    let dir = tempfile::tempdir().unwrap();
    let tdir = dir.path().join("acme");
    let clock = Arc::new(ManualClock::new(1_000_000));
    {
        let t = Tenant::open("acme", tdir.clone(), opts(), clock.clone()).unwrap();
        for i in 0..3 {
            let e = vec![LogEntry::new(i, format!("record {i} {}", "x".repeat(100)))];
            t.append(LogBatch {
                streams: vec![LogStream {
                    labels: Labels::from_pairs(&[("job", "a")]),
                    entries: e,
                }],
            })
            .unwrap();
        }
        t.close().unwrap();
    }
    let seg = std::fs::read_dir(tdir.join("wal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| std::fs::metadata(p).unwrap().len() > 0)
        .unwrap();
    // damage the second of three records: the first replays, the rest is corrupt
    let mut b = std::fs::read(&seg).unwrap();
    let mid = b.len() / 2;
    b[mid] ^= 0xff;
    std::fs::write(&seg, &b).unwrap();

    // writing the chunk file fails: the open fails and the wal stays where it is
    FAIL_WRITES.with(|f| f.set(true));
    let res = Tenant::open("acme", tdir.clone(), opts(), clock.clone());
    FAIL_WRITES.with(|f| f.set(false));
    assert!(res.is_err());
    assert_eq!(aside_dirs(&tdir), 0);
    assert_eq!(std::fs::read(&seg).unwrap(), b);

    // the next open recovers the replayed entry into a chunk file, then sets the wal aside
    let t = Tenant::open("acme", tdir.clone(), opts(), clock.clone()).unwrap();
    assert_eq!(entry_count(&t), 1);
    assert_eq!(t.stats().chunk_files, 1);
    assert_eq!(aside_dirs(&tdir), 1);
    assert_eq!(t.select(&[], &all()).len(), 1);
    t.close().unwrap();
    drop(t);
    let t = Tenant::open("acme", tdir, opts(), clock).unwrap();
    assert_eq!(entry_count(&t), 1);
}

#[test]
fn a_chunk_file_write_retried_after_a_late_failure_leaves_one_file() {
    let dir = tempfile::tempdir().unwrap();
    let tdir = dir.path().join("acme");
    let clock = Arc::new(ManualClock::new(1_000_000));
    let t = Tenant::open("acme", tdir.clone(), opts(), clock.clone()).unwrap();
    t.append(LogBatch {
        streams: vec![LogStream {
            labels: Labels::from_pairs(&[("job", "a")]),
            entries: vec![LogEntry::new(1, "one"), LogEntry::new(2, "two")],
        }],
    })
    .unwrap();
    // the file is renamed into place, then the write reports a failure
    FAIL_AFTER_RENAME.with(|f| f.set(true));
    let res = t.flush();
    FAIL_AFTER_RENAME.with(|f| f.set(false));
    assert!(res.is_err());
    t.flush().unwrap();
    let files = |d: &std::path::Path| {
        std::fs::read_dir(d.join("chunks"))
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == EXT)
            })
            .count()
    };
    assert_eq!(files(&tdir), 1);
    assert_eq!(entry_count(&t), 2);
    t.close().unwrap();
    drop(t);
    let t = Tenant::open("acme", tdir.clone(), opts(), clock).unwrap();
    assert_eq!(entry_count(&t), 2);
    assert_eq!(files(&tdir), 1);
}
