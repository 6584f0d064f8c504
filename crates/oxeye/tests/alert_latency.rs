//! Alert latency: from the moment a rule's condition becomes true (the sample is pushed)
//! to the built-in notifier's webhook POST arriving. Target: median within the evaluation
//! interval plus one second.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::alertmanager_external::push;
use crate::harness::Server;

const EVAL_INTERVAL: Duration = Duration::from_secs(1);
const ROUNDS: usize = 5;

/// Webhook POSTs as they arrive: arrival time and JSON body.
type Hooks = Arc<Mutex<Vec<(Instant, serde_json::Value)>>>;

/// An HTTP/1.1 listener answering 200 to every request and recording its body.
async fn webhook_listener() -> (u16, Hooks) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hooks: Hooks = Arc::default();
    let out = hooks.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let hooks = hooks.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                loop {
                    let end = loop {
                        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break p;
                        }
                        let mut chunk = [0u8; 8192];
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    buf.drain(..end + 4);
                    while buf.len() < len {
                        let mut chunk = [0u8; 65536];
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let body: Vec<u8> = buf.drain(..len).collect();
                    let at = Instant::now();
                    let json = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
                    hooks.lock().unwrap().push((at, json));
                    if sock
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    (port, out)
}

/// When the first webhook with a firing alert of `round` arrived.
fn arrival(hooks: &Hooks, round: usize) -> Option<Instant> {
    let want = round.to_string();
    hooks.lock().unwrap().iter().find_map(|(at, body)| {
        body["alerts"]
            .as_array()?
            .iter()
            .any(|a| a["status"] == "firing" && a["labels"]["round"] == want.as_str())
            .then_some(*at)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn condition_to_webhook_within_interval_plus_one_second() {
    let dir = tempfile::tempdir().unwrap();
    let (port, hooks) = webhook_listener().await;
    std::fs::write(
        dir.path().join("rules.yml"),
        "groups:\n  - name: latency\n    rules:\n      - alert: LatencyProbe\n        expr: latency_probe > 0\n        for: 0s\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("notifier.yml"),
        format!(
            "route:\n  receiver: hook\n  group_by: [round]\n  group_wait: 0s\n  group_interval: 1s\n  repeat_interval: 1h\nreceivers:\n  - name: hook\n    webhook_configs:\n      - url: http://127.0.0.1:{port}/hook\n"
        ),
    )
    .unwrap();
    let config = "global:\n  evaluation_interval: 1s\nrule_files: [rules.yml]\nnotifier:\n  config_file: notifier.yml\n";
    let server = Server::start(dir.path(), Some(config)).await;

    let mut latencies = Vec::with_capacity(ROUNDS);
    for round in 0..ROUNDS {
        // start at a different phase of the evaluation cycle each round
        tokio::time::sleep(Duration::from_millis(1300 + 170 * round as u64)).await;
        let t0 = Instant::now();
        push(&server, &format!("latency_probe{{round=\"{round}\"}} 1\n")).await;
        let deadline = t0 + Duration::from_secs(20);
        let at = loop {
            if let Some(at) = arrival(&hooks, round) {
                break at;
            }
            assert!(
                Instant::now() < deadline,
                "no webhook for round {round}: {:?}\n{}",
                hooks.lock().unwrap(),
                server.log()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        latencies.push(at.saturating_duration_since(t0));
        push(&server, &format!("latency_probe{{round=\"{round}\"}} 0\n")).await;
    }
    let mut sorted = latencies.clone();
    sorted.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let median = sorted[ROUNDS / 2];
    println!(
        "alert latency over {ROUNDS} rounds (evaluation interval {} ms): min {:.0} ms, median {:.0} ms, max {:.0} ms; all: {:?}",
        EVAL_INTERVAL.as_millis(),
        ms(sorted[0]),
        ms(median),
        ms(sorted[ROUNDS - 1]),
        latencies.iter().map(|d| ms(*d).round()).collect::<Vec<_>>()
    );
    assert!(
        median <= EVAL_INTERVAL + Duration::from_secs(1),
        "median alert latency {median:?} is over the evaluation interval + 1 s"
    );
    assert!(server.stop());
}
