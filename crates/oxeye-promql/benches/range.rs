//! Range-query timings of the step evaluator against the series-major evaluator over an
//! in-memory store shaped like the dashboard benchmark's data (HTTP services: request
//! counters by handler and code, a classic latency histogram, gauges, `up`, `build_info`).
//!
//! `cargo bench -p oxeye-promql --bench range`; `RANGE_BENCH_INSTANCES` (default 500, 33
//! series each) and `RANGE_BENCH_REPS` (default 3, the median is printed) size the run.
//! The query window is the data's full hour at a 15 s step (241 steps); each query's two
//! answers are checked to be identical before its times are printed.

use std::time::{Duration, Instant};

use oxeye_core::{Labels, Sample, TenantId};
use oxeye_promql::promqltest::MemStore;
use oxeye_promql::vector::{Mode, take_vectorized_count, with_mode};
use oxeye_promql::{Engine, Output};

const STEP_MS: i64 = 15_000;
const HOUR_MS: i64 = 3_600_000;

const QUERIES: &[(&str, &str)] = &[
    (
        "rate sum by job",
        "sum by (job) (rate(http_requests_total[5m]))",
    ),
    (
        "error ratio",
        r#"sum by (job) (rate(http_requests_total{code=~"5.."}[5m])) / sum by (job) (rate(http_requests_total[5m]))"#,
    ),
    (
        "p99 histogram_quantile",
        "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))",
    ),
    (
        "p90 by job",
        "histogram_quantile(0.9, sum by (job, le) (rate(http_request_duration_seconds_bucket[5m])))",
    ),
    (
        "avg latency sum/count",
        "sum by (job) (rate(http_request_duration_seconds_sum[5m])) / sum by (job) (rate(http_request_duration_seconds_count[5m]))",
    ),
    (
        "topk 5 instances",
        "topk(5, sum by (instance) (rate(http_requests_total[5m])))",
    ),
    (
        "quantile_over_time",
        r#"quantile_over_time(0.9, go_goroutines{job="job0"}[10m])"#,
    ),
    (
        "max_over_time",
        "max by (job) (max_over_time(go_goroutines[5m]))",
    ),
    (
        "group_left join",
        "sum by (version) (sum by (job, instance) (rate(http_requests_total[5m])) * on (job, instance) group_left (version) build_info)",
    ),
    ("count by", "count by (job) (up == 1)"),
    (
        "increase 1h",
        "sum by (job) (increase(http_requests_total[1h]))",
    ),
    ("gauge sum by job", "sum by (job) (go_goroutines)"),
];

/// A small deterministic generator, so every run times the same data.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn store(instances: usize) -> (MemStore, usize) {
    let mut st = MemStore::new();
    let mut rng = Lcg(42);
    let mut series = 0;
    let les = [
        "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "+Inf",
    ];
    for i in 0..instances {
        let job = format!("job{}", i % 10);
        let instance = format!("host{i}:9100");
        let offset = (i as i64 * 3_517) % STEP_MS;
        let times: Vec<i64> = (0..=HOUR_MS / STEP_MS)
            .map(|k| k * STEP_MS + offset - HOUR_MS / 6)
            .collect();
        let mut add = |st: &mut MemStore, pairs: &[(&str, &str)], values: Vec<f64>| {
            let mut all = vec![("job", job.as_str()), ("instance", instance.as_str())];
            all.extend_from_slice(pairs);
            st.add(
                Labels::from_pairs(&all),
                times.iter().zip(values).map(|(&t, v)| Sample::new(t, v)),
            );
            series += 1;
        };
        let counter = |rng: &mut Lcg, rate: f64| {
            let mut c = 0.0;
            times
                .iter()
                .map(|_| {
                    c += (rng.next() * rate).floor();
                    c
                })
                .collect::<Vec<f64>>()
        };
        for handler in ["/api/v1/query", "/api/v1/write", "/metrics", "/"] {
            for code in ["200", "201", "404", "500", "503"] {
                let v = counter(&mut rng, 50.0);
                add(
                    &mut st,
                    &[
                        ("__name__", "http_requests_total"),
                        ("handler", handler),
                        ("code", code),
                    ],
                    v,
                );
            }
        }
        let total = counter(&mut rng, 100.0);
        let mut frac = 0.05;
        for le in les {
            frac = if le == "+Inf" {
                1.0
            } else {
                (frac * 1.6f64).min(1.0)
            };
            let v = total.iter().map(|x| (x * frac).floor()).collect();
            add(
                &mut st,
                &[
                    ("__name__", "http_request_duration_seconds_bucket"),
                    ("le", le),
                ],
                v,
            );
        }
        let sum = total.iter().map(|x| x * 0.21).collect();
        add(
            &mut st,
            &[("__name__", "http_request_duration_seconds_sum")],
            sum,
        );
        add(
            &mut st,
            &[("__name__", "http_request_duration_seconds_count")],
            total,
        );
        let g = times.iter().map(|_| (rng.next() * 200.0).floor()).collect();
        add(&mut st, &[("__name__", "go_goroutines")], g);
        add(&mut st, &[("__name__", "up")], vec![1.0; times.len()]);
        let version = ["1.0", "1.1", "2.0"][i % 3];
        add(
            &mut st,
            &[("__name__", "build_info"), ("version", version)],
            vec![1.0; times.len()],
        );
    }
    (st, series)
}

fn run(mode: Mode, st: &MemStore, q: &str) -> (Duration, Output) {
    let tenant = TenantId::new("bench").expect("valid tenant");
    let started = Instant::now();
    let out = with_mode(mode, || {
        Engine::default().range(st, &tenant, q, 0, HOUR_MS, STEP_MS)
    })
    .unwrap_or_else(|e| panic!("{q}: {e}"));
    (started.elapsed(), out)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let instances = env("RANGE_BENCH_INSTANCES", 500);
    let reps = env("RANGE_BENCH_REPS", 3).max(1);
    let (st, series) = store(instances);
    println!("{series} series x 1h at 15s, range 1h step 15s (241 steps), median of {reps} runs");
    println!(
        "{:<24} {:>10} {:>10} {:>8}  path",
        "query", "step ms", "vector ms", "ratio"
    );
    let mut ratios = Vec::new();
    for (name, q) in QUERIES {
        let (mut step_times, mut vec_times) = (Vec::new(), Vec::new());
        take_vectorized_count();
        let mut answers = None;
        for _ in 0..reps {
            let (ts, a) = run(Mode::StepOnly, &st, q);
            let (tv, b) = run(Mode::Auto, &st, q);
            step_times.push(ts);
            vec_times.push(tv);
            answers = Some((a, b));
        }
        if let Some((a, b)) = answers {
            assert_eq!(format!("{a:?}"), format!("{b:?}"), "{q}: the paths differ");
        }
        let vectorized = take_vectorized_count() > 0;
        let (s, v) = (median(step_times), median(vec_times));
        let ratio = v.as_secs_f64() / s.as_secs_f64().max(1e-9);
        ratios.push(ratio);
        println!(
            "{:<24} {:>10.1} {:>10.1} {:>7.2}x  {}",
            name,
            s.as_secs_f64() * 1e3,
            v.as_secs_f64() * 1e3,
            ratio,
            if vectorized {
                "series-major"
            } else {
                "step (fallback)"
            }
        );
    }
    ratios.sort_by(f64::total_cmp);
    if let Some(m) = ratios.get(ratios.len() / 2) {
        println!("median vector/step time ratio {m:.2}x");
    }
}
