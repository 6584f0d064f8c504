//! Compatibility with the peers users replace: the same data written to Prometheus 2.42 (its
//! remote-write receiver) and to VictoriaMetrics 1.79 (its import API) must read back the
//! same through oxeye's series/labels/label values and export APIs.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{Server, free_port};
use crate::ingest::{export, now_ms, post_rw};
use oxeye_core::{Labels, Sample, SeriesWrite, WriteBatch};

/// A peer process, killed on drop.
pub struct Peer {
    pub child: Child,
    pub url: String,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub async fn wait_ok(url: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let client = reqwest::Client::new();
    while Instant::now() < deadline {
        if let Ok(r) = client.get(url).send().await
            && r.status().is_success()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{url} did not answer");
}

/// A fresh Prometheus with its remote-write receiver on a free loopback port.
pub async fn start_prometheus(dir: &Path) -> Peer {
    let port = free_port();
    let cfg = dir.join("prometheus.yml");
    std::fs::write(&cfg, "global:\n  scrape_interval: 1h\n").unwrap();
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("prom").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--web.enable-remote-write-receiver")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus must be installed (apt-get install prometheus)");
    let url = format!("http://127.0.0.1:{port}");
    wait_ok(&format!("{url}/-/ready")).await;
    Peer { child, url }
}

async fn start_victoria(dir: &Path) -> Peer {
    let port = free_port();
    let child = Command::new("victoria-metrics")
        .arg(format!("-storageDataPath={}", dir.join("vm").display()))
        .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("victoria-metrics must be installed (apt-get install victoria-metrics)");
    let url = format!("http://127.0.0.1:{port}");
    wait_ok(&format!("{url}/health")).await;
    Peer { child, url }
}

pub async fn get_json(url: &str) -> (u16, serde_json::Value) {
    let r = reqwest::Client::new().get(url).send().await.unwrap();
    let code = r.status().as_u16();
    (code, r.text().await.unwrap().parse().unwrap())
}

fn sample_batch(t0: i64) -> WriteBatch {
    let series = |pairs: &[(&str, &str)], vals: &[f64]| SeriesWrite {
        labels: Labels::from_pairs(pairs),
        samples: vals
            .iter()
            .enumerate()
            .map(|(i, v)| Sample::new(t0 + i as i64 * 15_000, *v))
            .collect(),
        exemplars: vec![],
    };
    WriteBatch {
        series: vec![
            series(
                &[
                    ("__name__", "http_requests_total"),
                    ("code", "200"),
                    ("job", "api"),
                ],
                &[1.0, 5.0, 9.0],
            ),
            series(
                &[
                    ("__name__", "http_requests_total"),
                    ("code", "500"),
                    ("job", "api"),
                ],
                &[0.0, 1.0],
            ),
            series(
                &[
                    ("__name__", "node_load1"),
                    ("instance", "h:9100"),
                    ("job", "node"),
                ],
                &[0.25, 0.5],
            ),
            series(
                &[("__name__", "up"), ("instance", "h:9100"), ("job", "node")],
                &[1.0],
            ),
        ],
        metadata: vec![],
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn read_apis_match_prometheus() {
    let dir = tempfile::tempdir().unwrap();
    let prom = start_prometheus(dir.path()).await;
    let s = Server::start(dir.path(), Some("")).await;
    let t0 = now_ms() - 120_000;
    let body = oxeye_proto::remote_write::encode_v1(&sample_batch(t0));
    let resp = reqwest::Client::new()
        .post(format!("{}/api/v1/write", prom.url))
        .header("Content-Type", "application/x-protobuf")
        .header("Content-Encoding", "snappy")
        .header("X-Prometheus-Remote-Write-Version", "0.1.0")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    assert_eq!(
        post_rw(&s, body, "application/x-protobuf", None).await.0.0,
        204
    );

    let start = (t0 - 1000) as f64 / 1000.0;
    let end = (t0 + 60_000) as f64 / 1000.0;
    for q in [
        "/api/v1/series?match[]=http_requests_total".to_string(),
        "/api/v1/series?match[]=%7Bjob%3D%22node%22%7D&match[]=up".to_string(),
        "/api/v1/series?match[]=%7B__name__%3D~%22.%2Bload.*%22%7D".to_string(),
        format!("/api/v1/series?match[]=%7Bjob%3D~%22.%2B%22%7D&start={start}&end={end}"),
        "/api/v1/labels".to_string(),
        "/api/v1/labels?match[]=up".to_string(),
        "/api/v1/label/job/values".to_string(),
        "/api/v1/label/__name__/values".to_string(),
        "/api/v1/label/code/values?match[]=%7Bjob%3D%22api%22%7D".to_string(),
        "/api/v1/label/nothing/values".to_string(),
        // errors: same status and type
        "/api/v1/series".to_string(),
        "/api/v1/series?match[]=up&start=x".to_string(),
    ] {
        let (pc, pv) = get_json(&format!("{}{q}", prom.url)).await;
        let (oc, ov) = get_json(&format!("{}{q}", s.http)).await;
        assert_eq!(oc, pc, "{q}: oxeye {ov} vs prometheus {pv}");
        if pc == 200 {
            let empty = pv["data"].as_array().is_some_and(|a| a.is_empty());
            assert_eq!(empty, q.contains("nothing"), "{q}: {pv}");
            assert_eq!(ov, pv, "{q}");
        } else {
            assert_eq!(ov["status"], pv["status"], "{q}");
            assert_eq!(ov["errorType"], pv["errorType"], "{q}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn export_matches_victoriametrics() {
    let dir = tempfile::tempdir().unwrap();
    let vm = start_victoria(dir.path()).await;
    let s = Server::start(dir.path(), Some("")).await;
    let t0 = now_ms() - 120_000;
    let mut text = String::new();
    for (i, v) in [1.0, 2.5, 1e6, -3.0, 0.125].iter().enumerate() {
        text.push_str(&format!(
            "exp_metric{{job=\"a\",path=\"/x\"}} {v} {}\n",
            t0 + i as i64 * 10_000
        ));
    }
    text.push_str(&format!("exp_other{{job=\"b\"}} 42 {t0}\n"));
    for base in [&vm.url, &s.http] {
        let r = reqwest::Client::new()
            .post(format!("{base}/api/v1/import/prometheus"))
            .body(text.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204, "{base}");
    }
    let _ = reqwest::Client::new()
        .get(format!("{}/internal/force_flush", vm.url))
        .send()
        .await;
    let selector = "{__name__=~\"exp_.*\"}";
    let mut vm_rows = Vec::new();
    for _ in 0..50 {
        let resp = reqwest::Client::new()
            .get(format!("{}/api/v1/export", vm.url))
            .query(&[("match[]", selector)])
            .send()
            .await
            .unwrap();
        vm_rows = resp
            .text()
            .await
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .collect();
        if vm_rows.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let key = |v: &serde_json::Value| v["metric"]["__name__"].as_str().unwrap().to_string();
    assert_eq!(vm_rows.len(), 2, "{vm_rows:?}");
    vm_rows.sort_by_key(key);
    let mut ox_rows = export(&s, selector, None).await;
    ox_rows.sort_by_key(key);
    assert_eq!(ox_rows, vm_rows);
    // VictoriaMetrics also refuses a missing match[]
    let (code, _) = get_json(&format!("{}/api/v1/export", s.http)).await;
    assert_eq!(code, 400);
}
