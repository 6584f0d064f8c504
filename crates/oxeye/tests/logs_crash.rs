//! Log crash safety under load: concurrent Loki push clients (snappy protobuf), kill -9,
//! restart; every line of every acknowledged push (HTTP 204) comes back through the Loki
//! query API, over several cycles.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use oxeye_core::logs::LogEntry;

use crate::harness::Server;
use crate::logs::{all_rows, now_ns};

const SENDERS: usize = 3;
const LINES_PER_PUSH: usize = 20;

/// The line of `sender`'s `n`th entry. Timestamps are distinct across senders too, so the
/// check can page through all streams by time.
fn line(sender: usize, n: u64) -> String {
    format!("sender={sender} seq={n} msg=\"crash test line with some payload {n:08x}\"")
}

/// Pushes batches until `stop` or the server goes away; returns the acknowledged lines.
async fn sender(
    s: Arc<Server>,
    id: usize,
    base_ns: i64,
    first: u64,
    stop: Arc<AtomicBool>,
) -> Vec<String> {
    let client = reqwest::Client::new();
    let labels = vec![
        ("app".to_string(), "crash".to_string()),
        ("sender".to_string(), id.to_string()),
    ];
    let mut acked = Vec::new();
    let mut n = first;
    while !stop.load(Ordering::Relaxed) {
        let entries: Vec<LogEntry> = (n..n + LINES_PER_PUSH as u64)
            .map(|k| LogEntry::new(base_ns + k as i64 * 1_000 + id as i64, line(id, k)))
            .collect();
        let body = oxeye_proto::loki::encode_push(&[(labels.clone(), entries.clone())]);
        let sent = client
            .post(format!("{}/loki/api/v1/push", s.http))
            .header("Content-Type", "application/x-protobuf")
            .body(body)
            .send()
            .await;
        match sent {
            Ok(r) if r.status() == 204 => acked.extend(entries.into_iter().map(|e| e.line)),
            // over the ingestion rate: not stored, send the same lines again shortly
            Ok(r) if r.status() == 429 => {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            Ok(r) => panic!(
                "push refused: {} {}",
                r.status(),
                r.text().await.unwrap_or_default()
            ),
            Err(_) => break, // the connection died with the server: never acknowledged
        }
        n += LINES_PER_PUSH as u64;
    }
    acked
}

async fn check(s: &Server, base_ns: i64, acked: &[String]) {
    let rows = all_rows(
        s,
        "anonymous",
        r#"{app="crash"}"#,
        base_ns - 1,
        now_ns() + 600_000_000_000,
    )
    .await;
    let stored: BTreeSet<&str> = rows.iter().map(|r| r.line.as_str()).collect();
    let lost: Vec<&String> = acked
        .iter()
        .filter(|l| !stored.contains(l.as_str()))
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged lines lost, first: {:?}",
        lost.len(),
        acked.len(),
        lost.first()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_under_log_load_loses_no_acknowledged_line() {
    let dir = tempfile::tempdir().unwrap();
    // entries sit a little in the past, one microsecond apart, so they stay within the
    // accepted time window however long the test runs
    let base_ns = now_ns() - 600_000_000_000;
    let mut acked: Vec<String> = Vec::new();
    let mut next = 0u64;
    for _cycle in 0..3 {
        let s = Arc::new(Server::start(dir.path(), Some("scrape_configs: []\n")).await);
        check(&s, base_ns, &acked).await;
        let stop = Arc::new(AtomicBool::new(false));
        let tasks: Vec<_> = (0..SENDERS)
            .map(|w| tokio::spawn(sender(s.clone(), w, base_ns, next, stop.clone())))
            .collect();
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        // SIGKILL while pushes are in flight
        let pid = s.child.as_ref().map(|c| c.id()).unwrap();
        let killed = std::process::Command::new("kill")
            .arg("-9")
            .arg(pid.to_string())
            .status()
            .unwrap();
        assert!(killed.success());
        stop.store(true, Ordering::Relaxed);
        let mut cycle_acked = 0;
        for t in tasks {
            let lines = t.await.unwrap();
            cycle_acked += lines.len();
            acked.extend(lines);
        }
        assert!(cycle_acked > 0, "no push was acknowledged");
        next += 10_000_000;
        drop(s);
    }
    let s = Server::start(dir.path(), Some("scrape_configs: []\n")).await;
    check(&s, base_ns, &acked).await;
    assert!(s.stop());
}
