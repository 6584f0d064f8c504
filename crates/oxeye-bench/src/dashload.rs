//! `oxeye-bench dashboard`: how long a 10-panel dashboard over 24 h of the dashboard
//! bench data takes to load in a browser, and what its queries cost the server.
//!
//! Flow: build the "long" data set of [`crate::dash`] (24 h at 60 s by default) as
//! remote-write requests, start a release oxeye on an empty directory, push them with
//! the query benchmark's loader, let it settle (blocks cut, CPU idle), store a realistic
//! 10-panel dashboard (rates, error ratios, histogram quantiles, sums by label, a stat, a
//! gauge, a bar gauge, a table) through `PUT /api/v1/dashboards/{uid}`, then run
//! `ui-tests/bench/dashboard-load.mjs` (node + playwright-core in headless Debian
//! Chromium): one warm-up load, then `--runs` loads each in a fresh browser context,
//! timed from navigation start to every panel drawn. The page's own query requests are
//! then replayed from here, one at a time and all at once, for the server-side time.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use serde_json::{Value, json};

use crate::dash::{self, SERIES_PER_INSTANCE, SetShape};
use crate::peers;
use crate::query::{push, settle};
use crate::suite::median;

#[derive(Args, Debug)]
pub struct DashboardArgs {
    /// Series of the data set.
    #[arg(long, default_value_t = 10_000)]
    series: usize,
    /// Hours of history.
    #[arg(long, default_value_t = 24)]
    hours: i64,
    /// Scrape interval, seconds.
    #[arg(long, default_value_t = 60)]
    interval_s: i64,
    /// Measured page loads (after one warm-up load).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Least time oxeye is left alone after the load, seconds.
    #[arg(long, default_value_t = 20)]
    settle_min_s: u64,
    /// The oxeye binary to measure (build it with `cargo build --release` first).
    #[arg(long, default_value = "target/release/oxeye")]
    oxeye_bin: PathBuf,
    /// The page-load script.
    #[arg(long, default_value = "ui-tests/bench/dashboard-load.mjs")]
    script: PathBuf,
    /// Where the data directory goes (a temporary directory by default, removed at the end).
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Keep oxeye running this long after the measurement (to look at it), seconds.
    #[arg(long, default_value_t = 0)]
    hold_s: u64,
}

pub fn run(args: DashboardArgs) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(run_async(args))
}

const UID: &str = "bench-10";
const TENANT: &str = "anonymous";

fn prom(expr: &str, legend: &str, instant: bool) -> Value {
    let mut t = json!({"refId": "A", "expr": expr, "datasource": {"type": "prometheus"}});
    if !legend.is_empty() {
        t["legendFormat"] = json!(legend);
    }
    if instant {
        t["queryType"] = json!("instant");
    }
    t
}

/// The dashboard: ten panels of the kinds a service dashboard has, over `cluster`.
pub fn dashboard(cluster: &str) -> Value {
    let sel = |extra: &str| format!(r#"cluster="{cluster}",job=~"$job"{extra}"#);
    let r = "$__rate_interval";
    let panel = |id: u32, ty: &str, title: &str, pos: [u32; 4], targets: Vec<Value>, unit: &str| {
        json!({
            "id": id, "type": ty, "title": title,
            "gridPos": {"x": pos[0], "y": pos[1], "w": pos[2], "h": pos[3]},
            "targets": targets,
            "fieldConfig": {"defaults": if unit.is_empty() { json!({}) } else { json!({"unit": unit}) }},
            "options": {},
        })
    };
    let mut ratio_target = prom(
        &format!(
            r#"sum(rate(http_requests_total{{{}}}[1h])) / sum(rate(http_requests_total{{{}}}[1h]))"#,
            sel(r#",code=~"5..""#),
            sel("")
        ),
        "",
        true,
    );
    ratio_target["refId"] = json!("A");
    let mut gauge = panel(
        7,
        "gauge",
        "Error ratio, last hour",
        [6, 0, 6, 5],
        vec![ratio_target],
        "percentunit",
    );
    gauge["fieldConfig"]["defaults"]["min"] = json!(0);
    gauge["fieldConfig"]["defaults"]["max"] = json!(0.05);
    gauge["fieldConfig"]["defaults"]["thresholds"] = json!({"mode": "absolute", "steps": [
        {"value": null, "color": "green"}, {"value": 0.02, "color": "orange"}, {"value": 0.03, "color": "red"}]});
    let mut table_b = prom(
        &format!(r#"sum by (job) (go_goroutines{{{}}})"#, sel("")),
        "goroutines",
        true,
    );
    table_b["refId"] = json!("B");
    let panels = vec![
        panel(
            6,
            "stat",
            "Requests / s",
            [0, 0, 6, 5],
            vec![prom(
                &format!(r#"sum(rate(http_requests_total{{{}}}[{r}]))"#, sel("")),
                "",
                false,
            )],
            "reqps",
        ),
        gauge,
        panel(
            8,
            "bar",
            "Requests by handler, last hour",
            [12, 0, 12, 5],
            vec![prom(
                &format!(
                    r#"sum by (handler) (rate(http_requests_total{{{}}}[1h]))"#,
                    sel("")
                ),
                "{{handler}}",
                true,
            )],
            "reqps",
        ),
        panel(
            1,
            "timeseries",
            "Request rate by job",
            [0, 5, 12, 8],
            vec![prom(
                &format!(
                    r#"sum by (job) (rate(http_requests_total{{{}}}[{r}]))"#,
                    sel("")
                ),
                "{{job}}",
                false,
            )],
            "reqps",
        ),
        panel(
            2,
            "timeseries",
            "Error ratio by job",
            [12, 5, 12, 8],
            vec![prom(
                &format!(
                    r#"sum by (job) (rate(http_requests_total{{{}}}[{r}])) / sum by (job) (rate(http_requests_total{{{}}}[{r}]))"#,
                    sel(r#",code=~"5..""#),
                    sel("")
                ),
                "{{job}}",
                false,
            )],
            "percentunit",
        ),
        panel(
            3,
            "timeseries",
            "p99 latency",
            [0, 13, 8, 8],
            vec![prom(
                &format!(
                    r#"histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{{{}}}[{r}])))"#,
                    sel("")
                ),
                "p99",
                false,
            )],
            "s",
        ),
        panel(
            4,
            "timeseries",
            "p90 latency by job",
            [8, 13, 8, 8],
            vec![prom(
                &format!(
                    r#"histogram_quantile(0.9, sum by (job, le) (rate(http_request_duration_seconds_bucket{{{}}}[{r}])))"#,
                    sel("")
                ),
                "{{job}}",
                false,
            )],
            "s",
        ),
        panel(
            5,
            "timeseries",
            "Memory by job",
            [16, 13, 8, 8],
            vec![prom(
                &format!(
                    r#"sum by (job) (process_resident_memory_bytes{{{}}})"#,
                    sel("")
                ),
                "{{job}}",
                false,
            )],
            "bytes",
        ),
        panel(
            9,
            "table",
            "Instances and goroutines by job",
            [0, 21, 12, 7],
            vec![
                prom(
                    &format!(r#"count by (job) (up{{{}}} == 1)"#, sel("")),
                    "instances",
                    true,
                ),
                table_b,
            ],
            "",
        ),
        panel(
            10,
            "timeseries",
            "Queue depth (max)",
            [12, 21, 12, 7],
            vec![prom(
                &format!(r#"max by (queue) (queue_depth{{{}}})"#, sel("")),
                "{{queue}}",
                false,
            )],
            "",
        ),
    ];
    json!({
        "uid": UID,
        "title": "Bench: services over 24 h",
        "tags": ["bench"],
        "time": {"from": "now-24h", "to": "now"},
        "templating": {"list": [{
            "name": "job", "type": "query", "label": "Job", "includeAll": true,
            "query": format!(r#"label_values(up{{cluster="{cluster}"}}, job)"#),
            "current": {"value": "$__all"},
        }]},
        "panels": panels,
    })
}

async fn run_async(args: DashboardArgs) -> anyhow::Result<()> {
    if !args.oxeye_bin.exists() {
        bail!(
            "{} not found: build it with cargo build --release -p oxeye",
            args.oxeye_bin.display()
        );
    }
    if !args.script.exists() {
        bail!(
            "{} not found: run from the workspace root",
            args.script.display()
        );
    }
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(4)
        .timeout(Duration::from_secs(300))
        .build()?;
    let root = match &args.work_dir {
        Some(p) => p.clone(),
        None => std::env::temp_dir().join(format!("oxeye-bench-dashboard-{}", std::process::id())),
    };
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root)?;
    let end_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64
        - 60_000;
    let set = SetShape {
        cluster: "long".into(),
        instances: args.series.div_ceil(SERIES_PER_INSTANCE).max(1),
        steps: (args.hours * 3600 / args.interval_s.max(1)) as usize,
        interval_ms: args.interval_s * 1000,
        end_ms,
    };
    let t = Instant::now();
    let load = Arc::new(dash::build(
        std::slice::from_ref(&set),
        10 * 60_000,
        30 * 60_000,
        10_000,
        2,
        11,
    ));
    println!(
        "data: {} series x {} scrapes at {} s ({} h), {} samples in {} requests, built in {:.1}s",
        load.series,
        set.steps,
        args.interval_s,
        args.hours,
        load.samples,
        load.requests(),
        t.elapsed().as_secs_f64()
    );
    let mut peer = peers::start(&client, "oxeye", &args.oxeye_bin, &root, None).await?;
    let t = Instant::now();
    let failed = push(&client, &peer.base, &load).await;
    println!(
        "loaded in {:.1}s, failed requests {failed}",
        t.elapsed().as_secs_f64()
    );
    if failed > 0 {
        peer.server.stop(Duration::from_secs(10));
        bail!("oxeye refused {failed} requests");
    }
    let running = vec![(peer, Instant::now())];
    settle(&client, &running, Duration::from_secs(args.settle_min_s)).await?;
    let peer = &running[0].0;

    let put = client
        .put(format!("{}/api/v1/dashboards/{UID}", peer.base))
        .header("X-Scope-OrgID", TENANT)
        .header("Content-Type", "application/json")
        .body(serde_json::to_vec(&dashboard(&set.cluster))?)
        .send()
        .await?;
    if !put.status().is_success() {
        bail!(
            "storing the dashboard: {} {}",
            put.status(),
            put.text().await.unwrap_or_default()
        );
    }

    let out = Command::new("node")
        .arg(&args.script)
        .arg(&peer.base)
        .arg(TENANT)
        .arg(UID)
        .arg(args.runs.to_string())
        .output()
        .context("running node (is it installed?)")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "{} failed: {}\n{}",
            args.script.display(),
            stdout,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut lines: Vec<&str> = stdout.lines().collect();
    let last = lines.pop().context("no output from the page-load script")?;
    for l in &lines {
        println!("browser {l}");
    }
    let report: Value = serde_json::from_str(last).context("the script's last line is not JSON")?;
    let first_ms = report["first"]["doneAtMs"].as_f64().unwrap_or(f64::NAN);
    let runs = report["runs"].as_array().cloned().unwrap_or_default();
    let mut load_ms: Vec<f64> = runs.iter().filter_map(|r| r["doneAtMs"].as_f64()).collect();
    let mut panels_ms: Vec<f64> = runs.iter().filter_map(|r| r["panelsMs"].as_f64()).collect();
    let failed: u64 = runs.iter().filter_map(|r| r["failed"].as_u64()).sum();
    load_ms.sort_by(f64::total_cmp);
    let (min, max) = (
        load_ms.first().copied().unwrap_or(f64::NAN),
        load_ms.last().copied().unwrap_or(f64::NAN),
    );
    let med = median(&mut load_ms).unwrap_or(f64::NAN);
    let med_panels = median(&mut panels_ms).unwrap_or(f64::NAN);
    println!();
    println!(
        "first load after start (server caches cold), navigation to all 10 panels drawn: {first_ms:.0} ms"
    );
    println!(
        "page load, navigation to all 10 panels drawn, {} runs: min {min:.0} ms, median {med:.0} ms, max {max:.0} ms (panel queries + drawing median {med_panels:.0} ms), panels failed {failed}",
        runs.len()
    );
    let mut reload_ms: Vec<f64> = report["reloadMs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_f64)
        .collect();
    if let Some(med) = median(&mut reload_ms) {
        println!(
            "reload in the same tab (the browser's cache warm, the UI's files revalidated), {} runs: median {med:.0} ms",
            reload_ms.len()
        );
    }
    if let Some(steal) = report["runsStealPct"].as_f64() {
        println!(
            "CPU time the hypervisor gave to other guests during those runs: {steal:.0} % (figures on a quiet machine come with a few %)"
        );
    }
    println!(
        "target < 1000 ms (median): {}",
        if failed > 0 {
            "invalid (panels failed)"
        } else if med < 1000.0 {
            "met"
        } else {
            "missed"
        }
    );

    // the same queries, server-side
    let queries: Vec<(String, String)> = report["queries"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|q| {
            let path = q["path"].as_str()?;
            let body = q["body"]
                .as_str()
                .filter(|b| !b.is_empty())
                .or(q["query"].as_str())?;
            Some((path.to_string(), body.to_string()))
        })
        .collect();
    println!();
    println!(
        "| query (as the page sent it) | server median ms, evaluated (`Cache-Control: no-cache`) | as served (results cache) |"
    );
    println!("|---|---|---|");
    let mut sums = [0.0, 0.0];
    for (path, body) in &queries {
        let mut cols = [0.0, 0.0];
        for (i, no_cache) in [true, false].into_iter().enumerate() {
            let mut ms = Vec::new();
            for _ in 0..5 {
                ms.push(time_one(&client, &peer.base, path, body, no_cache).await?);
            }
            cols[i] = median(&mut ms).unwrap_or(f64::NAN);
            sums[i] += cols[i];
        }
        let q = form_value(body, "query").unwrap_or_else(|| path.clone());
        println!(
            "| `{}` | {:.1} | {:.1} |",
            q.replace('|', "\\|"),
            cols[0],
            cols[1]
        );
    }
    for (no_cache, what) in [(true, "evaluated"), (false, "as served")] {
        let mut together = Vec::new();
        for _ in 0..5 {
            let t = Instant::now();
            let futs = queries.iter().map(|(p, b)| {
                let (client, base, p, b) =
                    (client.clone(), peer.base.clone(), p.clone(), b.clone());
                async move { time_one(&client, &base, &p, &b, no_cache).await }
            });
            for r in futures_join(futs).await {
                r?;
            }
            together.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        let sum = if no_cache { sums[0] } else { sums[1] };
        println!(
            "server, {what}: {} queries, sum of medians one at a time {sum:.0} ms, all at once median {:.0} ms",
            queries.len(),
            median(&mut together).unwrap_or(f64::NAN)
        );
    }
    if args.hold_s > 0 {
        println!("holding oxeye at {} for {} s", peer.base, args.hold_s);
        tokio::time::sleep(Duration::from_secs(args.hold_s)).await;
    }
    for (mut p, _) in running {
        p.server.stop(Duration::from_secs(30));
    }
    if args.work_dir.is_none() {
        let _ = std::fs::remove_dir_all(&root);
    }
    Ok(())
}

/// Runs futures concurrently on this task and returns their outputs in order.
async fn futures_join<F>(futs: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futs.map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        if let Ok(v) = h.await {
            out.push(v);
        }
    }
    out
}

fn form_value(body: &str, key: &str) -> Option<String> {
    url_decode_pairs(body)
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}

fn url_decode_pairs(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            Some((decode(k), decode(v)))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One request as the page sent it (POST form for queries, GET for label values); ms.
async fn time_one(
    client: &reqwest::Client,
    base: &str,
    path: &str,
    body: &str,
    no_cache: bool,
) -> anyhow::Result<f64> {
    let t = Instant::now();
    let req = if path.contains("/label/") {
        client.get(format!("{base}{path}?{body}"))
    } else {
        client
            .post(format!("{base}{path}"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body.to_string())
    };
    let req = if no_cache {
        req.header("Cache-Control", "no-cache")
    } else {
        req
    };
    let resp = req.header("X-Scope-OrgID", TENANT).send().await?;
    let status = resp.status();
    let text = resp.bytes().await?;
    if !status.is_success() {
        bail!("{path} {body}: {status} {}", String::from_utf8_lossy(&text));
    }
    Ok(t.elapsed().as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dashboard_has_ten_panels_over_the_data_set() {
        let d = dashboard("long");
        let panels = d["panels"].as_array().unwrap();
        assert_eq!(panels.len(), 10);
        let types: std::collections::HashSet<&str> =
            panels.iter().map(|p| p["type"].as_str().unwrap()).collect();
        for t in ["timeseries", "stat", "gauge", "bar", "table"] {
            assert!(types.contains(t), "{t}");
        }
        for p in panels {
            for t in p["targets"].as_array().unwrap() {
                assert!(
                    t["expr"].as_str().unwrap().contains(r#"cluster="long""#),
                    "{p}"
                );
            }
        }
    }

    #[test]
    fn form_bodies_decode() {
        assert_eq!(
            form_value("query=sum%28up%29+%2B+1&start=1", "query").as_deref(),
            Some("sum(up) + 1")
        );
        assert_eq!(decode("a%2"), "a%2");
    }
}
