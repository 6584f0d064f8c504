//! The dashboard query suite: which range queries run over which window, how each one is
//! timed against every system, and the side-by-side table.

use std::time::{Duration, Instant};

use anyhow::Context;

/// One dashboard panel's query; `$c` stands for the data set's `cluster` label value.
pub struct PanelQuery {
    pub name: &'static str,
    pub expr: &'static str,
}

pub const QUERIES: &[PanelQuery] = &[
    PanelQuery {
        name: "rate sum by job",
        expr: r#"sum by (job) (rate(http_requests_total{cluster="$c"}[5m]))"#,
    },
    PanelQuery {
        name: "error ratio (regex)",
        expr: r#"sum by (job) (rate(http_requests_total{cluster="$c",code=~"5.."}[5m])) / sum by (job) (rate(http_requests_total{cluster="$c"}[5m]))"#,
    },
    PanelQuery {
        name: "p99 histogram_quantile",
        expr: r#"histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{cluster="$c"}[5m])))"#,
    },
    PanelQuery {
        name: "p90 by job",
        expr: r#"histogram_quantile(0.9, sum by (job, le) (rate(http_request_duration_seconds_bucket{cluster="$c"}[5m])))"#,
    },
    PanelQuery {
        name: "avg latency sum/count",
        expr: r#"sum by (job) (rate(http_request_duration_seconds_sum{cluster="$c"}[5m])) / sum by (job) (rate(http_request_duration_seconds_count{cluster="$c"}[5m]))"#,
    },
    PanelQuery {
        name: "topk 5 instances",
        expr: r#"topk(5, sum by (instance) (rate(http_requests_total{cluster="$c"}[5m])))"#,
    },
    PanelQuery {
        name: "quantile_over_time",
        expr: r#"quantile_over_time(0.9, queue_depth{cluster="$c",job="api"}[10m])"#,
    },
    PanelQuery {
        name: "max_over_time",
        expr: r#"max by (job) (max_over_time(go_goroutines{cluster="$c"}[5m]))"#,
    },
    PanelQuery {
        name: "group_left join",
        expr: r#"sum by (version) (sum by (job, instance) (rate(http_requests_total{cluster="$c"}[5m])) * on (job, instance) group_left (version) build_info{cluster="$c"})"#,
    },
    PanelQuery {
        name: "count by",
        expr: r#"count by (job) (up{cluster="$c"} == 1)"#,
    },
    PanelQuery {
        name: "regex handler, method!=",
        expr: r#"sum by (handler) (rate(http_requests_total{cluster="$c",handler=~"/api/v1/.*",method!="GET"}[5m]))"#,
    },
    PanelQuery {
        name: "increase 1h",
        expr: r#"sum by (job) (increase(http_requests_total{cluster="$c"}[1h]))"#,
    },
    PanelQuery {
        name: "gauge sum by job",
        expr: r#"sum by (job) (process_resident_memory_bytes{cluster="$c"})"#,
    },
];

/// A dashboard time range over one data set.
#[derive(Clone, Debug)]
pub struct Window {
    pub label: &'static str,
    pub cluster: String,
    pub range_ms: i64,
    pub step_ms: i64,
    /// Query end, aligned to the step as Grafana aligns it.
    pub end_ms: i64,
}

impl Window {
    pub fn points(&self) -> i64 {
        self.range_ms / self.step_ms + 1
    }
}

/// The outcome of one query against one system.
#[derive(Clone, Debug, Default)]
pub struct Timing {
    /// Median wall-clock milliseconds of the measured runs; None when the query failed.
    pub median_ms: Option<f64>,
    pub series: Option<usize>,
    pub error: Option<String>,
    /// Measured runs behind the median.
    pub runs: usize,
}

/// One row of the table.
pub struct Row {
    pub query: &'static str,
    pub window: String,
    pub per_system: Vec<Timing>,
}

pub fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// One GET /api/v1/query_range; returns the wall time and the number of result series.
pub async fn query_range(
    client: &reqwest::Client,
    base: &str,
    expr: &str,
    w: &Window,
) -> anyhow::Result<(Duration, usize)> {
    let start = (w.end_ms - w.range_ms) as f64 / 1000.0;
    let end = w.end_ms as f64 / 1000.0;
    let step = w.step_ms as f64 / 1000.0;
    let t = Instant::now();
    let resp = client
        .get(format!("{base}/api/v1/query_range"))
        .query(&[
            ("query", expr.to_string()),
            ("start", format!("{start:.3}")),
            ("end", format!("{end:.3}")),
            ("step", format!("{step}")),
        ])
        .send()
        .await?;
    let status = resp.status();
    let body = resp.bytes().await?;
    let took = t.elapsed();
    let v: serde_json::Value = serde_json::from_slice(&body)
        .with_context(|| format!("status {status}: body is not JSON"))?;
    if v["status"] != "success" {
        anyhow::bail!(
            "status {status}: {} {}",
            v["errorType"].as_str().unwrap_or(""),
            v["error"].as_str().unwrap_or("")
        );
    }
    let series = v["data"]["result"]
        .as_array()
        .map(Vec::len)
        .context("data.result is not an array")?;
    Ok((took, series))
}

/// Runs `expr` over `w` against every system: one warm-up run each, then up to `runs`
/// rounds that visit the systems in turn, so a change in background load hits all alike.
/// A system whose warm-up took longer than `budget / runs` gets fewer measured runs (at
/// least one), so one slow system cannot stretch the suite without bound.
pub async fn time_query(
    client: &reqwest::Client,
    bases: &[String],
    expr: &str,
    w: &Window,
    runs: usize,
    budget: Duration,
) -> Vec<Timing> {
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); bases.len()];
    let mut out: Vec<Timing> = vec![Timing::default(); bases.len()];
    let mut allowed = vec![runs; bases.len()];
    for round in 0..=runs {
        for (i, base) in bases.iter().enumerate() {
            if out[i].error.is_some() || (round > 0 && samples[i].len() >= allowed[i]) {
                continue;
            }
            match query_range(client, base, expr, w).await {
                Ok((took, series)) => {
                    if round == 0 {
                        let fit = budget.as_secs_f64() / took.as_secs_f64().max(1e-6);
                        allowed[i] = (fit as usize).clamp(1, runs.max(1));
                    } else {
                        samples[i].push(took.as_secs_f64() * 1000.0);
                    }
                    out[i].series = Some(series);
                }
                Err(e) => out[i].error = Some(format!("{e:#}")),
            }
        }
    }
    for (o, s) in out.iter_mut().zip(samples.iter_mut()) {
        o.runs = s.len();
        if o.error.is_none() {
            o.median_ms = median(s);
        }
    }
    out
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

fn fmt_ms(t: &Timing) -> String {
    match (t.median_ms, &t.error) {
        (Some(ms), _) => format!("{ms:.1}"),
        (None, Some(_)) => "error".into(),
        _ => "-".into(),
    }
}

fn fmt_ratio(r: Option<f64>) -> String {
    r.map(|r| format!("{r:.2}x")).unwrap_or_else(|| "-".into())
}

/// Prints the markdown table; `systems` names the columns of `Row::per_system`.
pub fn print_table(rows: &[Row], systems: &[String]) {
    let ox = systems.iter().position(|s| s == "oxeye");
    let prom = systems.iter().position(|s| s == "prometheus");
    let vm = systems.iter().position(|s| s == "victoria-metrics");
    let mut header = "| query | range |".to_string();
    for s in systems {
        header.push_str(&format!(" {s} ms |"));
    }
    header.push_str(" oxeye/prometheus | oxeye/vm | series |");
    println!("{header}");
    println!("|{}", "---|".repeat(systems.len() + 5));
    let (mut r_prom, mut r_vm) = (Vec::new(), Vec::new());
    let get = |row: &Row, i: Option<usize>| i.and_then(|i| row.per_system.get(i)?.median_ms);
    for row in rows {
        let rp = ratio(get(row, ox), get(row, prom));
        let rv = ratio(get(row, ox), get(row, vm));
        r_prom.extend(rp);
        r_vm.extend(rv);
        let mut line = format!("| {} | {} |", row.query, row.window);
        for t in &row.per_system {
            line.push_str(&format!(" {} |", fmt_ms(t)));
        }
        let counts: Vec<String> = row
            .per_system
            .iter()
            .map(|t| {
                t.series
                    .map(|n| n.to_string())
                    .unwrap_or_else(|| "?".into())
            })
            .collect();
        let agree = row
            .per_system
            .iter()
            .filter_map(|t| t.series)
            .collect::<std::collections::HashSet<_>>()
            .len()
            <= 1;
        let mark = if agree { "" } else { " MISMATCH" };
        line.push_str(&format!(
            " {} | {} | {}{mark} |",
            fmt_ratio(rp),
            fmt_ratio(rv),
            counts.join("/")
        ));
        println!("{line}");
    }
    println!();
    let mp = median(&mut r_prom);
    let mv = median(&mut r_vm);
    println!(
        "median oxeye/prometheus over {} queries: {} (target <= 0.50x: {})",
        r_prom.len(),
        fmt_ratio(mp),
        verdict(mp, 0.5)
    );
    println!(
        "median oxeye/victoria-metrics over {} queries: {} (target <= 1.00x: {})",
        r_vm.len(),
        fmt_ratio(mv),
        verdict(mv, 1.0)
    );
    for row in rows {
        for (s, t) in systems.iter().zip(&row.per_system) {
            if let Some(e) = &t.error {
                println!("error: {s}, {} over {}: {e}", row.query, row.window);
            }
        }
    }
}

fn verdict(r: Option<f64>, target: f64) -> &'static str {
    match r {
        Some(r) if r <= target => "met",
        Some(_) => "missed",
        None => "no data",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&mut []), None);
    }

    #[test]
    fn every_query_names_its_data_set() {
        for q in QUERIES {
            assert!(q.expr.contains(r#"cluster="$c""#), "{}", q.name);
        }
    }
}
