//! Range-query timings over an in-memory store: dashboard-style queries over 10k series
//! and one hour at a 15s scrape interval. Run with
//! `cargo bench -p oxeye-promql --bench engine`; prints the median of a few runs per
//! query, sequential (one thread) and with the engine's parallel step evaluation.

use std::sync::Arc;
use std::time::{Duration, Instant};

use oxeye_core::{
    Exemplar, Labels, Matcher, MetricMetadata, MetricsQuerier, MetricsQueryable, Sample,
    SelectHints, Series, StoreError, TenantId, VecSeriesData,
};
use oxeye_promql::Engine;

type Data = Arc<Vec<(Labels, Arc<VecSeriesData>)>>;

struct Store(Data);

struct Querier(Data);

impl MetricsQueryable for Store {
    fn querier(
        &self,
        _tenant: &TenantId,
        _mint: i64,
        _maxt: i64,
    ) -> Result<Box<dyn MetricsQuerier>, StoreError> {
        Ok(Box::new(Querier(self.0.clone())))
    }
}

impl MetricsQuerier for Querier {
    fn select(
        &self,
        matchers: &[Matcher],
        _hints: &SelectHints,
    ) -> Result<Vec<Series>, StoreError> {
        Ok(self
            .0
            .iter()
            .filter(|(l, _)| {
                matchers
                    .iter()
                    .all(|m| m.matches(l.get(&m.name).unwrap_or("")))
            })
            .map(|(l, d)| Series {
                labels: l.clone(),
                data: d.clone(),
            })
            .collect())
    }
    fn label_names(&self, _: &[Matcher]) -> Result<Vec<String>, StoreError> {
        Ok(Vec::new())
    }
    fn label_values(&self, _: &str, _: &[Matcher]) -> Result<Vec<String>, StoreError> {
        Ok(Vec::new())
    }
    fn exemplars(&self, _: &[Matcher]) -> Result<Vec<(Labels, Vec<Exemplar>)>, StoreError> {
        Ok(Vec::new())
    }
    fn metadata(&self, _: Option<&str>) -> Result<Vec<MetricMetadata>, StoreError> {
        Ok(Vec::new())
    }
}

const HOUR_MS: i64 = 3_600_000;
const SCRAPE_MS: i64 = 15_000;

fn store(series: usize) -> Store {
    let mut out = Vec::with_capacity(series + 1000);
    for i in 0..series {
        let labels = Labels::from_pairs(&[
            ("__name__", "http_requests_total".to_string()),
            ("job", format!("job-{}", i % 10)),
            ("instance", format!("host-{}", i / 10)),
            ("code", ["200", "404", "500"][i % 3].to_string()),
        ]);
        let mut samples = Vec::new();
        let mut v = 0.0;
        let mut t = (i as i64 * 37) % SCRAPE_MS;
        while t <= HOUR_MS {
            v += ((i * 7 + (t / SCRAPE_MS) as usize) % 13) as f64;
            samples.push(Sample::new(t, v));
            t += SCRAPE_MS;
        }
        out.push((labels, Arc::new(VecSeriesData(samples))));
    }
    for h in 0..series / 10 {
        let labels = Labels::from_pairs(&[
            ("__name__", "node_info".to_string()),
            ("instance", format!("host-{h}")),
            ("zone", format!("z{}", h % 3)),
        ]);
        let samples = (0..=HOUR_MS / SCRAPE_MS)
            .map(|k| Sample::new(k * SCRAPE_MS, 1.0))
            .collect();
        out.push((labels, Arc::new(VecSeriesData(samples))));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Store(Arc::new(out))
}

/// CPU time (user + system) this process used so far, from /proc (10 ms resolution);
/// zero where unavailable. Includes threads that already finished.
fn cpu_time() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return Duration::ZERO;
    };
    // Fields after the command name (which is in parentheses): utime is the 12th, stime
    // the 13th of them.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return Duration::ZERO;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0);
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

fn median(mut d: Vec<Duration>) -> Duration {
    d.sort();
    d[d.len() / 2]
}

fn main() {
    let series: usize = std::env::var("BENCH_SERIES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let st = store(series);
    let tenant = TenantId::new("bench").unwrap();
    let queries = [
        "rate(http_requests_total[5m])",
        "sum by (job) (rate(http_requests_total[5m]))",
        "topk(5, rate(http_requests_total[5m]))",
        "sum by (zone) (rate(http_requests_total[5m]) * on(instance) group_left(zone) node_info)",
        "max_over_time(sum by (job) (rate(http_requests_total[5m]))[30m:1m])",
        "http_requests_total",
    ];
    println!("{series} series, 1h range, 15s step, median of {runs} runs");
    println!(
        "{:<90} {:>12} {:>12} {:>12}",
        "query", "1 thread", "cpu", "parallel"
    );
    let only = std::env::var("BENCH_QUERY").ok();
    for q in queries {
        if only.as_deref().is_some_and(|o| !q.contains(o)) {
            continue;
        }
        let mut times = [Vec::new(), Vec::new()];
        let mut cpu = Vec::new();
        for (k, threads) in [1usize, 0].into_iter().enumerate() {
            let engine = Engine::default();
            for _ in 0..runs {
                let start = Instant::now();
                let cpu_start = cpu_time();
                let out = engine
                    .range_on_threads(&st, &tenant, q, 0, HOUR_MS, SCRAPE_MS, threads)
                    .expect("benchmark query runs");
                std::hint::black_box(out);
                times[k].push(start.elapsed());
                if threads == 1 {
                    cpu.push(cpu_time().saturating_sub(cpu_start));
                }
            }
        }
        let [seq, par] = times;
        println!(
            "{:<90} {:>10.1}ms {:>10.1}ms {:>10.1}ms",
            q,
            median(seq).as_secs_f64() * 1000.0,
            median(cpu).as_secs_f64() * 1000.0,
            median(par).as_secs_f64() * 1000.0
        );
    }
}
