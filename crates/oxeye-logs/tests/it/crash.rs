//! Crash safety: a child process (this test binary re-run on one test) appends from two
//! threads and prints each acknowledged batch; the parent kills it with SIGKILL while
//! it writes, reopens the store and finds every acknowledged entry.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;

use oxeye_core::logs::{Direction, LogAppender, LogEntry, LogQueryable};
use oxeye_core::{ManualClock, Matcher, SystemClock};
use oxeye_logs::{LogStore, LogStoreOptions};

use crate::basic::{all, batch, stream, tenant};

const DIR_ENV: &str = "OXEYE_LOGS_CRASH_DIR";

fn crash_opts() -> LogStoreOptions {
    LogStoreOptions {
        chunk_target_bytes: 4000,
        zstd_level: 1,
        ..LogStoreOptions::default()
    }
}

/// The child: runs only when the parent sets the directory; writes until killed.
#[test]
fn crash_child_writer() {
    let Ok(dir) = std::env::var(DIR_ENV) else {
        return;
    };
    let store = LogStore::open(dir.as_ref(), crash_opts(), Arc::new(SystemClock)).unwrap();
    let t = tenant("crash");
    std::thread::scope(|s| {
        for w in 0..2u32 {
            let store = store.clone();
            let t = t.clone();
            s.spawn(move || {
                for n in 0u64.. {
                    let entries = (0..5)
                        .map(|i| {
                            LogEntry::new(
                                (n * 10 + i) as i64,
                                format!("w{w} n{n} i{i} some payload text"),
                            )
                        })
                        .collect();
                    store
                        .append_logs(
                            &t,
                            batch(vec![stream(&[("writer", &w.to_string())], entries)]),
                        )
                        .unwrap();
                    println!("ack {w} {n}");
                    if w == 0 && n % 97 == 50 {
                        store.flush().unwrap();
                    }
                }
            });
        }
    });
}

#[test]
fn kill_9_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args([
            "--exact",
            "crash::crash_child_writer",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(DIR_ENV, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut acked: HashSet<(u32, u64)> = HashSet::new();
    let mut reader = BufReader::new(stdout);
    let mut line = String::new();
    while acked.len() < 400 {
        line.clear();
        if reader.read_line(&mut line).unwrap() == 0 {
            panic!("child exited early after {} acks", acked.len());
        }
        if let Some(rest) = line.trim().strip_prefix("ack ") {
            let mut it = rest.split(' ');
            let w: u32 = it.next().unwrap().parse().unwrap();
            let n: u64 = it.next().unwrap().parse().unwrap();
            acked.insert((w, n));
        }
    }
    child.kill().unwrap();
    // acknowledgements printed before the kill landed still count
    for l in reader.lines() {
        let Ok(l) = l else { break };
        if let Some(rest) = l.trim().strip_prefix("ack ") {
            let mut it = rest.split(' ');
            if let (Some(Ok(w)), Some(Ok(n))) =
                (it.next().map(str::parse), it.next().map(str::parse))
            {
                acked.insert((w, n));
            }
        }
    }
    child.wait().unwrap();

    let clock = Arc::new(ManualClock::new(0));
    let store = LogStore::open(dir.path(), crash_opts(), clock).unwrap();
    let t = tenant("crash");
    let mut present: HashSet<String> = HashSet::new();
    for w in 0..2u32 {
        for s in store
            .select_logs(&t, &[Matcher::equal("writer", w.to_string())], &all())
            .unwrap()
        {
            for e in s.data.entries(Direction::Forward).unwrap() {
                present.insert(e.line);
            }
        }
    }
    let mut missing = Vec::new();
    for (w, n) in &acked {
        for i in 0..5 {
            let l = format!("w{w} n{n} i{i} some payload text");
            if !present.contains(&l) {
                missing.push(l);
            }
        }
    }
    assert!(
        missing.is_empty(),
        "{} acknowledged entries missing, e.g. {:?}",
        missing.len(),
        missing.first()
    );
    assert!(present.len() >= acked.len() * 5);
}
