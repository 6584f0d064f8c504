//! Damaged WAL tails, WAL records and block files are skipped and counted, never a panic.

use std::fs;
use std::path::{Path, PathBuf};

use oxeye_core::ManualClock;
use oxeye_core::trace::{SpanAppender, TraceQueryable};
use oxeye_storage::wal::{Wal, WalOptions};

use crate::common::*;

fn wal_segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir.join("a").join("wal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| fs::metadata(p).unwrap().len() > 0)
        .collect();
    v.sort();
    v
}

fn only_block(dir: &Path) -> PathBuf {
    let mut v: Vec<PathBuf> = fs::read_dir(dir.join("a").join("blocks"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v.pop().unwrap()
}

#[test]
fn torn_wal_tail_is_cut_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0_MS);
    let t = tenant("a");
    {
        let store = open(dir.path(), &clock);
        for n in 0..3u32 {
            store
                .append_spans(&t, batch_of("api", vec![span(n, 0, "op", T0_NS, 5)]))
                .unwrap();
        }
    }
    let seg = wal_segments(dir.path()).pop().unwrap();
    let len = fs::metadata(&seg).unwrap().len();
    // the last record loses its final bytes, as after a crash mid-write
    fs::OpenOptions::new()
        .write(true)
        .open(&seg)
        .unwrap()
        .set_len(len - 7)
        .unwrap();
    let store = open(dir.path(), &clock);
    assert!(store.trace_by_id(&t, &tid(0), None).unwrap().is_some());
    assert!(store.trace_by_id(&t, &tid(1), None).unwrap().is_some());
    assert!(store.trace_by_id(&t, &tid(2), None).unwrap().is_none());
    assert_eq!(store.stats().total.wal_torn_tails, 1);
    // garbage appended after valid records is a torn tail too
    drop(store);
    let seg = wal_segments(dir.path()).pop().unwrap();
    let mut data = fs::read(&seg).unwrap();
    data.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef, 1, 2, 3]);
    fs::write(&seg, data).unwrap();
    let store = open(dir.path(), &clock);
    assert_eq!(store.stats().total.head_spans, 2);
}

#[test]
fn undecodable_wal_record_is_skipped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0_MS);
    let t = tenant("a");
    {
        let store = open(dir.path(), &clock);
        store
            .append_spans(&t, batch_of("api", vec![span(1, 0, "op", T0_NS, 5)]))
            .unwrap();
    }
    {
        // a well-framed record whose payload is not a batch
        let wal = Wal::open(&dir.path().join("a").join("wal"), WalOptions::default()).unwrap();
        wal.append(&[1, 200, 200, 200]).unwrap();
        wal.append(&[9]).unwrap();
    }
    {
        let store = open(dir.path(), &clock);
        store
            .append_spans(&t, batch_of("api", vec![span(2, 0, "op", T0_NS, 5)]))
            .unwrap();
        let s = store.stats().total;
        assert_eq!(s.corrupt_wal_records, 2);
        assert_eq!(s.head_spans, 2);
    }
    let store = open(dir.path(), &clock);
    assert!(store.trace_by_id(&t, &tid(1), None).unwrap().is_some());
    assert!(store.trace_by_id(&t, &tid(2), None).unwrap().is_some());
}

fn store_with_two_blocks(dir: &Path, clock: &ManualClock) {
    let store = open(dir, clock);
    let t = tenant("a");
    store
        .append_spans(&t, batch_of("api", vec![span(1, 0, "first", T0_NS, 5)]))
        .unwrap();
    store.flush().unwrap();
    store
        .append_spans(&t, batch_of("api", vec![span(2, 0, "second", T0_NS, 5)]))
        .unwrap();
    store.flush().unwrap();
}

#[test]
fn corrupt_block_files_are_set_aside_at_open() {
    let clock = ManualClock::new(T0_MS);
    let t = tenant("a");
    let damage: [(&str, fn(&Path)); 4] = [
        ("index bit flip", |b| {
            let p = b.join("index");
            let mut d = fs::read(&p).unwrap();
            d[3] ^= 0x40;
            fs::write(&p, d).unwrap();
        }),
        ("truncated data", |b| {
            let p = b.join("data");
            let len = fs::metadata(&p).unwrap().len();
            fs::OpenOptions::new()
                .write(true)
                .open(&p)
                .unwrap()
                .set_len(len / 2)
                .unwrap();
        }),
        ("garbage meta", |b| {
            fs::write(b.join("meta.json"), b"{not json").unwrap()
        }),
        ("missing index", |b| {
            fs::remove_file(b.join("index")).unwrap()
        }),
    ];
    for (what, f) in damage {
        let dir = tempfile::tempdir().unwrap();
        store_with_two_blocks(dir.path(), &clock);
        f(&only_block(dir.path()));
        let store = open(dir.path(), &clock);
        assert_eq!(store.stats().total.corrupt_blocks, 1, "{what}");
        assert_eq!(store.stats().total.blocks, 1, "{what}");
        assert!(
            store.trace_by_id(&t, &tid(1), None).unwrap().is_some(),
            "{what}"
        );
        assert!(
            store.trace_by_id(&t, &tid(2), None).unwrap().is_none(),
            "{what}"
        );
        assert!(dir.path().join("a").join("corrupted").is_dir(), "{what}");
        // writes go on
        store
            .append_spans(&t, batch_of("api", vec![span(3, 0, "third", T0_NS, 5)]))
            .unwrap();
        store.flush().unwrap();
        assert!(
            store.trace_by_id(&t, &tid(3), None).unwrap().is_some(),
            "{what}"
        );
    }
}

#[test]
fn corrupt_page_is_skipped_at_read_time() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0_MS);
    let t = tenant("a");
    store_with_two_blocks(dir.path(), &clock);
    let p = only_block(dir.path()).join("data");
    let mut d = fs::read(&p).unwrap();
    let mid = d.len() / 2;
    d[mid] ^= 0xff;
    fs::write(&p, d).unwrap();
    let store = open(dir.path(), &clock);
    assert_eq!(
        store.stats().total.blocks,
        2,
        "the page is only checked when read"
    );
    assert!(store.trace_by_id(&t, &tid(2), None).unwrap().is_none());
    assert!(store.trace_by_id(&t, &tid(1), None).unwrap().is_some());
    assert_eq!(scan_all(&store, &t, &all_scan()).len(), 1);
    assert!(store.stats().total.corrupt_pages >= 2);
    // the damaged block is kept out of compaction instead of failing it on every pass
    clock.advance(3 * 3600 * 1000);
    let r = store.maintain().unwrap();
    assert!(r.failed_tenants.is_empty());
    assert_eq!(r.compactions, 0);
    assert_eq!(store.stats().total.blocks, 2);
    assert!(store.trace_by_id(&t, &tid(1), None).unwrap().is_some());
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

#[test]
fn crash_leftovers_are_cleaned_up_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0_MS);
    let t = tenant("a");
    store_with_two_blocks(dir.path(), &clock);
    let blocks_dir = dir.path().join("a").join("blocks");
    let elsewhere = tempfile::tempdir().unwrap();
    let saved = elsewhere.path().join("saved");
    for e in fs::read_dir(&blocks_dir).unwrap() {
        let e = e.unwrap();
        copy_dir(&e.path(), &saved.join(e.file_name()));
    }
    {
        let store = open(dir.path(), &clock);
        clock.advance(3 * 3600 * 1000);
        assert_eq!(store.maintain().unwrap().compactions, 1);
    }
    // a crash between writing the compacted block and deleting its sources leaves both;
    // an interrupted block write leaves a .tmp directory
    for e in fs::read_dir(&saved).unwrap() {
        let e = e.unwrap();
        copy_dir(&e.path(), &blocks_dir.join(e.file_name()));
    }
    fs::create_dir(blocks_dir.join("00000000000000ff.tmp")).unwrap();
    let store = open(dir.path(), &clock);
    let s = store.stats().total;
    assert_eq!((s.blocks, s.block_spans, s.corrupt_blocks), (1, 2, 0));
    assert!(!blocks_dir.join("00000000000000ff.tmp").exists());
    assert_eq!(scan_all(&store, &t, &all_scan()).len(), 2);
    // an empty batch stores nothing and is not an error
    assert_eq!(
        store
            .append(&t, oxeye_core::trace::TraceBatch::default())
            .unwrap()
            .spans,
        0
    );
}

#[test]
fn read_failures_are_errors_not_missing_data() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0_MS);
    let t = tenant("a");
    store_with_two_blocks(dir.path(), &clock);
    let store = open(dir.path(), &clock);
    let block = only_block(dir.path());
    // the open block's data file loses its pages: reading them fails, it is no checksum
    // mismatch
    fs::OpenOptions::new()
        .write(true)
        .open(block.join("data"))
        .unwrap()
        .set_len(0)
        .unwrap();
    let internal = |r: Result<_, oxeye_core::StoreError>, what: &str| match r {
        Err(oxeye_core::StoreError::Internal(m)) => assert!(m.contains("read page"), "{what}: {m}"),
        Err(e) => panic!("{what}: unexpected error {e:?}"),
        Ok(_) => panic!("{what}: a failed read answered as if the data were absent"),
    };
    internal(
        store.trace_by_id(&t, &tid(2), None).map(|_| ()),
        "trace by id",
    );
    internal(
        store.scan(
            &t,
            &all_scan(),
            &mut |_| std::ops::ControlFlow::Continue(()),
        ),
        "scan",
    );
    assert!(store.trace_by_id(&t, &tid(1), None).unwrap().is_some());
    assert_eq!(store.stats().total.corrupt_pages, 0);
    // a dictionary that cannot be read fails tag queries
    fs::remove_file(block.join("dict")).unwrap();
    fs::create_dir(block.join("dict")).unwrap();
    for (what, r) in [
        ("tag names", store.tag_names(&t, 0, u64::MAX).map(|_| ())),
        (
            "tag values",
            store
                .tag_values(&t, None, "http.method", 0, u64::MAX, 10)
                .map(|_| ()),
        ),
        (
            "operations",
            store.operations(&t, None, 0, u64::MAX).map(|_| ()),
        ),
    ] {
        match r {
            Err(oxeye_core::StoreError::Internal(m)) => assert!(m.contains("dict"), "{what}: {m}"),
            other => panic!("{what}: {other:?}"),
        }
    }
}
