//! Runs the data-driven LogQL cases in `tests/data/*.test`.
//!
//! Format (indentation matters only for telling block lines from commands):
//!
//! ```text
//! # comment
//! load {app="api", env="prod"}
//!   10s "line text"
//!   20s "other line" {trace_id="abc"}        # structured metadata
//!
//! eval log [start=0s] [end=10m] [limit=100] [direction=backward] [interval=5s] <query>
//!   {all="labels", of="the stream"}
//!     20s "other line"
//!
//! eval range start=0s end=2m step=1m <query>
//!   {level="info"} 1 _ 3                      # one value per step, _ = absent
//!
//! eval instant time=1m <query>
//!   {level="info"} 2
//!   scalar 2
//!
//! eval_fail [log|range|instant ...] <query>
//!   <the exact error message>
//!
//! format <query>
//!   <its canonical text>
//! ```
//!
//! Timestamps are durations since the epoch (`10s`, `1m30s`) or plain nanoseconds.

use std::path::Path;
use std::sync::Arc;

use oxeye_core::logs::{Direction, LogAppender, LogBatch, LogEntry, LogStream};
use oxeye_core::logs_mem::MemLogStore;
use oxeye_core::{Labels, TenantId};
use oxeye_logql::{Engine, EngineLimits, LogqlValue, Query, QueryKind};

fn ts(text: &str) -> Result<i64, String> {
    if let Ok(n) = text.parse::<i64>() {
        return Ok(n);
    }
    oxeye_logql::units::parse_duration(text).ok_or_else(|| format!("bad timestamp {text:?}"))
}

/// Reads a Go/JSON-style double-quoted string at the start of `s`; returns it and the rest.
fn quoted(s: &str) -> Result<(String, &str), String> {
    let s = s.trim_start();
    if !s.starts_with('"') {
        return Err(format!("expected a quoted string at {s:?}"));
    }
    let b = s.as_bytes();
    let mut i = 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => break,
            _ => i += 1,
        }
    }
    let lit = s.get(..=i).ok_or("unterminated string")?;
    let v: String = serde_json::from_str(lit).map_err(|e| format!("bad string {lit}: {e}"))?;
    Ok((v, &s[i + 1..]))
}

/// Parses `{a="b", c="d"}`; returns the pairs and the rest of the text.
fn label_set(s: &str) -> Result<(Vec<(String, String)>, &str), String> {
    let s = s.trim_start();
    let mut rest = s
        .strip_prefix('{')
        .ok_or_else(|| format!("expected {{ at {s:?}"))?;
    let mut out = Vec::new();
    loop {
        rest = rest.trim_start();
        if let Some(r) = rest.strip_prefix('}') {
            return Ok((out, r));
        }
        let eq = rest.find('=').ok_or("expected =")?;
        let name = rest[..eq].trim().to_string();
        let (value, r) = quoted(&rest[eq + 1..])?;
        out.push((name, value));
        rest = r.trim_start();
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
}

fn labels(pairs: &[(String, String)]) -> Labels {
    Labels::from_pairs(pairs)
}

struct Case {
    line_no: usize,
    header: String,
    body: Vec<String>,
}

fn split_cases(text: &str) -> Vec<Case> {
    let mut out: Vec<Case> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if raw.starts_with(' ') || raw.starts_with('\t') {
            if let Some(c) = out.last_mut() {
                c.body.push(raw.to_string());
            }
            continue;
        }
        out.push(Case {
            line_no: i + 1,
            header: trimmed.to_string(),
            body: Vec::new(),
        });
    }
    out
}

/// Splits `key=value` options off the front of `s`.
fn options(mut s: &str) -> (Vec<(String, String)>, &str) {
    let mut opts = Vec::new();
    loop {
        s = s.trim_start();
        let word_end = s.find(' ').unwrap_or(s.len());
        let word = &s[..word_end];
        let Some((k, v)) = word.split_once('=') else {
            break;
        };
        if ![
            "start",
            "end",
            "limit",
            "direction",
            "interval",
            "step",
            "time",
        ]
        .contains(&k)
        {
            break;
        }
        opts.push((k.to_string(), v.to_string()));
        s = &s[word_end..];
    }
    (opts, s.trim())
}

fn build_query(kind: &str, opts: &[(String, String)], text: &str) -> Result<Query, String> {
    let get = |k: &str| opts.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let mut q = Query {
        text: text.to_string(),
        kind: if kind == "instant" {
            QueryKind::Instant
        } else {
            QueryKind::Range
        },
        start_ns: ts(get("start").unwrap_or("0"))?,
        end_ns: ts(get("end").unwrap_or("2000000000s"))?,
        step_ns: ts(get("step").unwrap_or("1m"))?,
        interval_ns: get("interval").map(ts).transpose()?,
        direction: match get("direction") {
            Some("forward") => Direction::Forward,
            _ => Direction::Backward,
        },
        limit: get("limit").map_or(Ok(1000), |l| l.parse().map_err(|_| "bad limit".to_string()))?,
        deadline: None,
    };
    if let Some(t) = get("time") {
        q.end_ns = ts(t)?;
        q.start_ns = q.end_ns;
    }
    Ok(q)
}

fn approx(a: f64, b: f64) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1e-9)
}

fn format_value(v: &LogqlValue) -> String {
    format!("{v:#?}")
}

/// Checks a result against the expected body lines.
fn check_result(q: &Query, value: &LogqlValue, body: &[String]) -> Result<(), String> {
    match value {
        LogqlValue::Streams(streams) => {
            let mut expected: Vec<(Labels, Vec<(i64, String)>)> = Vec::new();
            for line in body {
                let t = line.trim();
                if t.starts_with('{') {
                    let (pairs, _) = label_set(t)?;
                    expected.push((labels(&pairs), Vec::new()));
                } else {
                    let (tstext, rest) = t.split_once(' ').ok_or("bad entry line")?;
                    let (text, _) = quoted(rest)?;
                    expected
                        .last_mut()
                        .ok_or("entry before a stream")?
                        .1
                        .push((ts(tstext)?, text));
                }
            }
            let got: Vec<(Labels, Vec<(i64, String)>)> = streams
                .iter()
                .map(|s| {
                    (
                        s.labels.clone(),
                        s.entries
                            .iter()
                            .map(|e| (e.ts_ns, e.line.clone()))
                            .collect(),
                    )
                })
                .collect();
            expected.sort_by(|a, b| a.0.cmp(&b.0));
            if got != expected {
                return Err(format!("expected {expected:?}\ngot {got:?}"));
            }
            Ok(())
        }
        LogqlValue::Metric(m) => check_metric(q, m, body),
    }
}

fn check_metric(q: &Query, m: &oxeye_promql::Value, body: &[String]) -> Result<(), String> {
    use oxeye_promql::Value;
    let mut expected: Vec<(Labels, Vec<Option<f64>>)> = Vec::new();
    let mut scalar: Option<f64> = None;
    for line in body {
        let t = line.trim();
        if let Some(v) = t.strip_prefix("scalar ") {
            scalar = Some(v.trim().parse().map_err(|_| "bad scalar")?);
            continue;
        }
        let (pairs, rest) = label_set(t)?;
        let vals = rest
            .split_whitespace()
            .map(|v| {
                if v == "_" {
                    Ok(None)
                } else {
                    v.parse::<f64>()
                        .map(Some)
                        .map_err(|_| format!("bad value {v}"))
                }
            })
            .collect::<Result<Vec<_>, String>>()?;
        expected.push((labels(&pairs), vals));
    }
    let got: Vec<(Labels, Vec<Option<f64>>)> = match m {
        Value::Scalar(_, v) => {
            return match scalar {
                Some(e) if approx(e, *v) => Ok(()),
                _ => Err(format!("expected scalar {scalar:?}, got scalar {v}")),
            };
        }
        Value::Vector(v) => v
            .iter()
            .map(|(l, _, x)| (l.clone(), vec![Some(*x)]))
            .collect(),
        Value::Matrix(mx) => {
            let step_ms = (q.step_ns / 1_000_000).max(1);
            let start_ms = q.start_ns / 1_000_000;
            let steps = ((q.end_ns / 1_000_000 - start_ms) / step_ms + 1).max(1) as usize;
            mx.iter()
                .map(|(l, samples)| {
                    let mut vals = vec![None; steps];
                    for s in samples {
                        let i = ((s.t - start_ms) / step_ms) as usize;
                        if let Some(slot) = vals.get_mut(i) {
                            *slot = Some(s.v);
                        }
                    }
                    (l.clone(), vals)
                })
                .collect()
        }
        Value::String(_, s) => return Err(format!("unexpected string result {s}")),
    };
    let mut e_sorted = expected.clone();
    let mut g_sorted = got.clone();
    // Sorting functions keep their order; everything else is compared as a set.
    if !q.text.trim_start().starts_with("sort")
        && !q.text.contains("topk")
        && !q.text.contains("bottomk")
    {
        e_sorted.sort_by(|a, b| a.0.cmp(&b.0));
        g_sorted.sort_by(|a, b| a.0.cmp(&b.0));
    } else if q.text.contains("topk") || q.text.contains("bottomk") {
        e_sorted.sort_by(|a, b| a.0.cmp(&b.0));
        g_sorted.sort_by(|a, b| a.0.cmp(&b.0));
    }
    let same = e_sorted.len() == g_sorted.len()
        && e_sorted.iter().zip(&g_sorted).all(|(e, g)| {
            e.0 == g.0
                && e.1.len() == g.1.len()
                && e.1.iter().zip(&g.1).all(|(a, b)| match (a, b) {
                    (None, None) => true,
                    (Some(a), Some(b)) => approx(*a, *b),
                    _ => false,
                })
        });
    if !same {
        return Err(format!("expected {e_sorted:?}\ngot {g_sorted:?}"));
    }
    Ok(())
}

fn run_file(path: &Path) -> (usize, Vec<String>) {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let store = Arc::new(MemLogStore::new());
    let tenant = TenantId::new("conformance").expect("tenant");
    let engine = Engine::new(store.clone(), EngineLimits::default());
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let mut failures = Vec::new();
    let mut cases = 0;
    for case in split_cases(&text) {
        let at = format!("{name}:{}", case.line_no);
        let (cmd, rest) = case.header.split_once(' ').unwrap_or((&case.header, ""));
        let result: Result<(), String> = (|| match cmd {
            "load" => {
                let (pairs, _) = label_set(rest)?;
                let mut entries = Vec::new();
                for line in &case.body {
                    let t = line.trim();
                    let (tstext, rest) = t.split_once(' ').ok_or("bad entry line")?;
                    let (text, rest) = quoted(rest)?;
                    let mut e = LogEntry::new(ts(tstext)?, text);
                    let rest = rest.trim();
                    if rest.starts_with('{') {
                        e.metadata = label_set(rest)?.0;
                    }
                    entries.push(e);
                }
                let batch = LogBatch {
                    streams: vec![LogStream {
                        labels: labels(&pairs),
                        entries,
                    }],
                };
                store
                    .append_logs(&tenant, batch)
                    .map_err(|e| e.to_string())?;
                Ok(())
            }
            "format" => {
                cases += 1;
                let expr = oxeye_logql::parse(rest).map_err(|e| e.to_string())?;
                let got = expr.to_string();
                let want = case.body.first().map(|s| s.trim()).unwrap_or("");
                if got != want {
                    return Err(format!("format: expected {want:?}, got {got:?}"));
                }
                let again = oxeye_logql::parse(&got).map_err(|e| format!("reparse: {e}"))?;
                if again != expr {
                    return Err("format does not round-trip".into());
                }
                Ok(())
            }
            "eval" | "eval_fail" => {
                cases += 1;
                let (kind, rest) = rest.split_once(' ').ok_or("missing kind")?;
                let (opts, query) = options(rest);
                let q = build_query(kind, &opts, query)?;
                let res = engine.query(&tenant, &q);
                if cmd == "eval_fail" {
                    let want = case.body.first().map(|s| s.trim()).unwrap_or("");
                    return match res {
                        Err(e) if e.to_string() == want => Ok(()),
                        Err(e) => Err(format!("expected error {want:?}, got {:?}", e.to_string())),
                        Ok(o) => Err(format!(
                            "expected error {want:?}, got {}",
                            format_value(&o.value)
                        )),
                    };
                }
                let out = res.map_err(|e| format!("query failed: {e}"))?;
                if kind == "log" && !matches!(out.value, LogqlValue::Streams(_)) {
                    return Err("expected streams".into());
                }
                check_result(&q, &out.value, &case.body)
            }
            other => Err(format!("unknown command {other:?}")),
        })();
        if let Err(e) = result {
            failures.push(format!("{at}: {}\n{e}", case.header));
        }
    }
    (cases, failures)
}

#[test]
fn conformance() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/data")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "test"))
        .collect();
    files.sort();
    let mut total = 0;
    let mut failures = Vec::new();
    for f in &files {
        let (n, mut fails) = run_file(f);
        total += n;
        failures.append(&mut fails);
    }
    eprintln!("{total} conformance cases in {} files", files.len());
    assert!(total > 0, "no cases found");
    assert!(
        failures.is_empty(),
        "{} of {total} cases failed:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
