//! Differential PromQL test against the real Prometheus 2.42: the same generated data is
//! remote-written (1.0, snappy protobuf) into oxeye and into a fresh Debian `prometheus`
//! with its remote-write receiver; both must hold exactly the generated samples before
//! any query runs. Then every query of [`queries::all`] (range queries over several
//! windows and steps, instant queries at several times) is asked of both, and the answers
//! are compared by [`compare::differences`]. Each differing query is printed with its
//! differences (series, timestamp, both values; the first 25 of each query), followed by
//! `N queries, M equal, K different`. Queries Prometheus refused or answered empty are
//! listed too, so that a query that tests nothing stands out.
//!
//! The test fails on any difference not listed in [`KNOWN_DIFFERENCES`], on a known
//! difference that names no query, and when Prometheus answered too few queries with data
//! (a broken setup must not pass as "both empty").
//!
//! `PROMQL_DIFF_QUERY=text cargo test -p oxeye --test main promql_diff -- --nocapture`
//! runs only the queries containing `text` and prints both answers in full.

mod compare;
mod data;
mod edge;
mod queries;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use compare::{Answer, LabelSet};
use queries::{INSTANT_TIMES, Kind, Query, RANGE_WINDOWS};

use crate::compat::start_prometheus;
use crate::harness::Server;
use crate::ingest::now_ms;

/// Queries whose answers differ today while the engine is being completed, each with the
/// difference seen. The goal is an empty list.
const KNOWN_DIFFERENCES: &[(&str, &str)] = &[];

/// Queries asked at once (of each server).
const PARALLEL: usize = 3;

/// Posts one remote-write 1.0 request; panics unless accepted.
async fn write(client: &reqwest::Client, base: &str, body: Vec<u8>) {
    let resp = client
        .post(format!("{base}/api/v1/write"))
        .header("Content-Type", "application/x-protobuf")
        .header("Content-Encoding", "snappy")
        .header("X-Prometheus-Remote-Write-Version", "0.1.0")
        .body(body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("remote write to {base}: {e}"));
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    assert!(
        status == 204 || status == 200,
        "remote write to {base}: {status} {text}"
    );
}

fn secs(t: i64) -> String {
    format!("{}.{:03}", t / 1000, t.rem_euclid(1000))
}

/// Asks `base` one query at `t0`-relative times.
async fn ask(client: &reqwest::Client, base: &str, q: &Query, t0: i64) -> Answer {
    let text = queries::render(&q.text, t0);
    let req = match q.kind {
        Kind::Range(w) => {
            let (start, end, step) = RANGE_WINDOWS.get(w).copied().unwrap_or_default();
            client.get(format!("{base}/api/v1/query_range")).query(&[
                ("query", text),
                ("start", secs(t0 + start)),
                ("end", secs(t0 + end)),
                ("step", format!("{}", step / 1000)),
            ])
        }
        Kind::Instant(i) => {
            let t = INSTANT_TIMES.get(i).copied().unwrap_or_default();
            client
                .get(format!("{base}/api/v1/query"))
                .query(&[("query", text), ("time", secs(t0 + t))])
        }
    };
    match req.send().await {
        Ok(r) => {
            let status = r.status().as_u16();
            match r.text().await {
                Ok(body) => compare::parse(status, &body),
                Err(e) => Answer::Transport(e.to_string()),
            }
        }
        Err(e) => Answer::Transport(e.to_string()),
    }
}

/// The generated samples per label set, staleness markers left out (range selectors
/// never return them).
fn expected(series: &[data::GenSeries]) -> BTreeMap<LabelSet, Vec<(i64, u64)>> {
    series
        .iter()
        .map(|s| {
            let labels = s
                .labels
                .iter()
                .map(|l| (l.name.clone(), l.value.clone()))
                .collect();
            let samples = s
                .samples
                .iter()
                .filter(|x| !oxeye_core::is_stale_nan(x.v))
                .map(|x| (x.t, x.v.to_bits()))
                .collect();
            (labels, samples)
        })
        .collect()
}

/// What `base` holds of `name` over the whole data span, compared with the generated
/// samples; `None` when identical, else the first difference.
async fn data_difference(
    client: &reqwest::Client,
    base: &str,
    name: &str,
    want: &BTreeMap<LabelSet, Vec<(i64, u64)>>,
    at: i64,
) -> Option<String> {
    let query = format!("{{__name__=\"{name}\"}}[3h]");
    let resp = client
        .get(format!("{base}/api/v1/query"))
        .query(&[("query", query.as_str()), ("time", &secs(at))])
        .send()
        .await;
    let answer = match resp {
        Ok(r) => {
            let status = r.status().as_u16();
            compare::parse(status, &r.text().await.unwrap_or_default())
        }
        Err(e) => Answer::Transport(e.to_string()),
    };
    let Answer::Matrix(m) = answer else {
        return Some(format!("{query}: {answer:?}"));
    };
    let got: BTreeMap<LabelSet, Vec<(i64, u64)>> = m
        .into_iter()
        .map(|(l, p)| (l, p.into_iter().map(|(t, v)| (t, v.to_bits())).collect()))
        .collect();
    let want: BTreeMap<&LabelSet, &Vec<(i64, u64)>> = want
        .iter()
        .filter(|(l, _)| l.get("__name__").map(String::as_str) == Some(name))
        .collect();
    if got.len() != want.len() {
        return Some(format!(
            "{name}: {} series, {} generated",
            got.len(),
            want.len()
        ));
    }
    for (l, w) in want {
        let g = got.get(l);
        if g != Some(w) {
            return Some(format!(
                "{}: {} samples, {} generated",
                compare::show(l),
                g.map(Vec::len).unwrap_or(0),
                w.len()
            ));
        }
    }
    None
}

/// Waits until both servers hold exactly the generated samples.
async fn wait_same_data(
    client: &reqwest::Client,
    bases: [&str; 2],
    series: &[data::GenSeries],
    t0: i64,
) {
    let want = expected(series);
    let names: std::collections::BTreeSet<&str> = want
        .keys()
        .filter_map(|l| l.get("__name__").map(String::as_str))
        .collect();
    let at = t0 + (data::SCRAPES + 20) * data::INTERVAL_MS + 500;
    let deadline = Instant::now() + Duration::from_secs(30);
    for base in bases {
        for name in &names {
            loop {
                let Some(d) = data_difference(client, base, name, &want, at).await else {
                    break;
                };
                assert!(
                    Instant::now() < deadline,
                    "{base} does not hold the generated data: {d}"
                );
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    }
}

/// Whether the order of an instant query's answer counts.
fn ordered(q: &Query) -> bool {
    matches!(q.kind, Kind::Instant(_))
        && (q.text.starts_with("sort(") || q.text.starts_with("sort_desc("))
}

fn describe(q: &Query) -> String {
    match q.kind {
        Kind::Range(w) => {
            let (s, e, step) = RANGE_WINDOWS.get(w).copied().unwrap_or_default();
            format!(
                "range {} (t0{:+}s..t0{:+}s step {}s)",
                q.text,
                s as f64 / 1000.0,
                e as f64 / 1000.0,
                step / 1000
            )
        }
        Kind::Instant(i) => format!(
            "instant {} (t0{:+}s)",
            q.text,
            INSTANT_TIMES.get(i).copied().unwrap_or_default() as f64 / 1000.0
        ),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn promql_answers_match_prometheus() {
    let began = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let prom = start_prometheus(dir.path()).await;
    let s = Server::start(dir.path(), Some("")).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();

    // 90 minutes of data ending about 25 minutes ago, t0 on a whole minute
    let t0 = (now_ms() - 115 * 60_000) / 60_000 * 60_000;
    let series = data::generate(t0);
    for b in data::batches(&series, t0, 10 * 60_000) {
        let body = oxeye_proto::remote_write::encode_v1(&b);
        write(&client, &prom.url, body.clone()).await;
        write(&client, &s.http, body).await;
    }
    wait_same_data(&client, [prom.url.as_str(), s.http.as_str()], &series, t0).await;
    let loaded = began.elapsed();

    // PROMQL_DIFF_QUERY=text runs only the queries containing text and prints both answers
    let only = std::env::var("PROMQL_DIFF_QUERY").ok();
    let mut all = queries::all();
    if let Some(f) = &only {
        all.retain(|q| q.text.contains(f.as_str()));
    }
    let queries = Arc::new(all);
    let ranges = queries
        .iter()
        .filter(|q| matches!(q.kind, Kind::Range(_)))
        .count();
    assert!(
        only.is_some() || ranges >= 300,
        "only {ranges} range queries"
    );

    let sem = Arc::new(tokio::sync::Semaphore::new(PARALLEL));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..queries.len() {
        let (sem, queries, client) = (sem.clone(), queries.clone(), client.clone());
        let (pu, ou) = (prom.url.clone(), s.http.clone());
        let show = only.is_some();
        tasks.spawn(async move {
            let _permit = sem.acquire().await;
            let q = queries.get(i)?;
            let (want, got) = tokio::join!(ask(&client, &pu, q, t0), ask(&client, &ou, q, t0));
            if show {
                println!("{}\n  prometheus: {want:?}\n  oxeye: {got:?}", describe(q));
            }
            let prom_error = match &want {
                Answer::Error(e) => Some(e.clone()),
                _ => None,
            };
            let prom_data = want.len() > 0;
            let note = compare::error_note(&want, &got);
            Some((
                i,
                prom_error,
                prom_data,
                note,
                compare::differences(want, got, ordered(q)),
            ))
        });
    }
    let mut results = Vec::new();
    while let Some(r) = tasks.join_next().await {
        if let Some(x) = r.expect("query task panicked") {
            results.push(x);
        }
    }
    results.sort_by_key(|r| r.0);

    let known: BTreeMap<&str, &str> = KNOWN_DIFFERENCES.iter().copied().collect();
    let (mut equal, mut different, mut unexpected) = (0, 0, Vec::new());
    let (mut prom_errors, mut prom_with_data) = (0, 0);
    for (i, prom_error, prom_data, note, diffs) in &results {
        let Some(q) = queries.get(*i) else { continue };
        if let Some(n) = note {
            println!("both failed, differently: {}: {n}", describe(q));
        }
        if let Some(e) = prom_error {
            prom_errors += 1;
            println!("prometheus failed: {}: {e}", describe(q));
        }
        prom_with_data += usize::from(*prom_data);
        if !*prom_data && prom_error.is_none() {
            println!("prometheus answered no data: {}", describe(q));
        }
        if diffs.is_empty() {
            equal += 1;
            if known.contains_key(q.text.as_str()) {
                println!("NOW EQUAL (remove from KNOWN_DIFFERENCES): {}", describe(q));
            }
            continue;
        }
        different += 1;
        let note = known.get(q.text.as_str());
        println!(
            "DIFFERENT{}: {} ({} differences)",
            if note.is_some() { " (known)" } else { "" },
            describe(q),
            diffs.len()
        );
        for d in diffs.iter().take(25) {
            println!("    {d}");
        }
        if diffs.len() > 25 {
            println!("    ... and {} more", diffs.len() - 25);
        }
        if note.is_none() {
            unexpected.push(q.text.clone());
        }
    }
    println!(
        "{} queries, {equal} equal, {different} different ({} known, {} unexpected); {ranges} range queries; prometheus failed {prom_errors} and answered {prom_with_data} with data; loaded in {:.1}s, total {:.1}s",
        results.len(),
        different - unexpected.len(),
        unexpected.len(),
        loaded.as_secs_f64(),
        began.elapsed().as_secs_f64()
    );
    assert_eq!(results.len(), queries.len(), "some queries were not run");
    let stale: Vec<&str> = known
        .keys()
        .filter(|k| !queries.iter().any(|q| q.text == **k))
        .copied()
        .collect();
    assert!(
        only.is_some() || stale.is_empty(),
        "KNOWN_DIFFERENCES names no query: {stale:?}"
    );
    assert!(
        only.is_some() || prom_with_data * 10 >= results.len() * 8,
        "prometheus answered only {prom_with_data} of {} queries with data",
        results.len()
    );
    assert!(
        unexpected.is_empty(),
        "{} queries answer differently from prometheus 2.42: {unexpected:#?}",
        unexpected.len()
    );
}
