//! The series-major range evaluator against the step evaluator: every range eval of
//! Prometheus's promqltest files, and generated queries over random data, must give
//! identical results, annotations and errors on both paths.

use std::path::PathBuf;

use oxeye_core::{Labels, Sample, TenantId, stale_nan};
use oxeye_promql::promqltest::{MemStore, run_script, test_engine};
use oxeye_promql::vector::{Mode, take_mismatches, take_vectorized_count, with_mode};
use oxeye_promql::{Engine, Output, PromqlError};
use proptest::prelude::*;

fn promqltest_files() -> Vec<PathBuf> {
    let mut dir = Some(std::path::Path::new(env!("CARGO_MANIFEST_DIR")));
    while let Some(d) = dir {
        let candidate = d.join("shared").join("promqltest");
        if candidate.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(&candidate)
                .expect("promqltest directory is readable")
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "test"))
                .collect();
            files.sort();
            return files;
        }
        dir = d.parent();
    }
    // The files live beside the repository, not in it; a checkout elsewhere cannot run
    // them.
    eprintln!(
        "skipped: no shared/promqltest directory in any ancestor of {}",
        env!("CARGO_MANIFEST_DIR")
    );
    Vec::new()
}

#[test]
fn promqltest_range_evals_match_step_path() {
    let engine = test_engine();
    let mut mismatches = Vec::new();
    let mut vectorized = 0;
    take_mismatches();
    take_vectorized_count();
    let files = promqltest_files();
    if files.is_empty() {
        return;
    }
    for file in files {
        let text = std::fs::read_to_string(&file).expect("test file is readable");
        let verified =
            with_mode(Mode::Verify, || run_script(&text, &engine)).expect("script parses");
        for m in take_mismatches() {
            mismatches.push(format!("{}: {m}", file.display()));
        }
        vectorized += take_vectorized_count();
        // The outcome of every case is the same whichever path answers.
        let auto = with_mode(Mode::Auto, || run_script(&text, &engine)).expect("script parses");
        let step = with_mode(Mode::StepOnly, || run_script(&text, &engine)).expect("parses");
        for ((a, s), v) in auto.cases.iter().zip(&step.cases).zip(&verified.cases) {
            assert_eq!(
                a.outcome,
                s.outcome,
                "{}:{}: {}",
                file.display(),
                a.line,
                a.expr
            );
            assert_eq!(
                v.outcome,
                s.outcome,
                "{}:{}: {}",
                file.display(),
                a.line,
                a.expr
            );
        }
    }
    println!("{vectorized} range evaluations answered by the series-major path");
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    assert!(
        vectorized > 100,
        "only {vectorized} range evaluations vectorized"
    );
}

/// Query templates over the generated series (`c_total` counters with resets, `g`
/// gauges, both with gaps and stale markers).
const TEMPLATES: &[&str] = &[
    "c_total",
    "g",
    "-g",
    "g offset 1m",
    "g @ 300",
    "rate(c_total[1m])",
    "rate(c_total[5m])",
    "increase(c_total[2m] offset 30s)",
    "irate(c_total[3m])",
    "delta(g[2m])",
    "idelta(g[2m])",
    "deriv(g[3m])",
    "resets(c_total[5m])",
    "changes(g[5m])",
    "sum_over_time(g[2m])",
    "avg_over_time(g[2m])",
    "min_over_time(g[90s])",
    "max_over_time(g[90s])",
    "count_over_time(g[1m])",
    "last_over_time(g[1m])",
    "present_over_time(g[1m])",
    "stddev_over_time(g[3m])",
    "rate(g[2m])",
    "sum(rate(c_total[2m]))",
    "sum by (job) (rate(c_total[2m]))",
    "sum without (instance) (c_total)",
    "avg by (job) (g)",
    "min by (job) (g)",
    "max by (instance) (g)",
    "count by (job) (g)",
    "group by (job) (g)",
    "stddev by (job) (g)",
    "stdvar(g)",
    "sum by (__name__) (g)",
    "sum by (job) (g) * 2",
    "2 / sum by (job) (rate(c_total[2m]))",
    "g > 0",
    "0 < g",
    "g > bool 0",
    "g == 1",
    "g % 3",
    "g ^ 2",
    "abs(g)",
    "sqrt(abs(g))",
    "exp(g / 100)",
    "1 + 2 * 3",
    "-(2 > bool 1)",
    "last_over_time(g[1m]) + 1",
    "sum by (job) (increase(c_total[3m])) / 60",
    "max(abs(-g))",
    "g and c_total",
    "g > 0 and on (job) g < 10",
    "c_total unless g < 0",
    "g or c_total",
    "(g > 10) or ignoring (instance) (c_total > 100)",
    "sum by (job) (g > 0 or -g)",
    "rate(c_total[2m]) unless on (instance) (g == 1)",
    "topk(2, g)",
    "bottomk by (job) (1, g)",
    "topk(2, sum by (instance) (rate(c_total[2m])))",
    "bottomk(3, -g) > 0",
    "topk(0.5, g)",
    "quantile(0.9, g)",
    "quantile by (job) (0.25, rate(c_total[2m]))",
    "quantile(2, g)",
    "quantile_over_time(0.9, g[2m])",
    "quantile_over_time(-1, c_total[3m] offset 1m)",
    "histogram_quantile(0.9, sum by (le) (rate(h_bucket[2m])))",
    "histogram_quantile(0.5, rate(h_bucket[3m]))",
    "histogram_quantile(1.5, h_bucket)",
    "histogram_quantile(0.75, sum by (job, le) (h_bucket))",
    "c_total / g",
    "g > g",
    "c_total > bool on (job, instance) g",
    "g == ignoring (__name__) c_total",
    "sum by (job) (rate(c_total[2m])) / sum by (job) (g)",
    "g * on (job) group_left sum by (job) (g)",
    "sum by (job) (g) + on (job) group_right g",
    "c_total * on (instance) group_left (job) g",
    "g - ignoring (instance) g",
    "g / on (job) g",
    "rate(c_total[2m]) / on (instance, job) group_left count_over_time(g[2m])",
];

fn series() -> impl Strategy<Value = Vec<Option<f64>>> {
    // Per 15s slot over 10m: a value, a gap (None) or a stale marker (NaN payload).
    prop::collection::vec(
        prop_oneof![
            6 => (-50.0f64..50.0).prop_map(Some),
            2 => Just(None),
            1 => Just(Some(f64::from_bits(0x7ff0_0000_0000_0002))),
        ],
        40,
    )
}

fn store(data: &[Vec<Option<f64>>], jitter: &[i64]) -> MemStore {
    let mut st = MemStore::new();
    for (i, vals) in data.iter().enumerate() {
        let job = if i % 2 == 0 { "a" } else { "b" };
        let inst = i.to_string();
        let off = jitter.get(i).copied().unwrap_or(0);
        let mut counter = 0.0;
        let mut gauge = Vec::new();
        let mut ctr = Vec::new();
        for (k, v) in vals.iter().enumerate() {
            let t = k as i64 * 15_000 + off;
            let Some(v) = v else { continue };
            if v.to_bits() == 0x7ff0_0000_0000_0002 {
                gauge.push(Sample::new(t, stale_nan()));
                ctr.push(Sample::new(t, stale_nan()));
                continue;
            }
            gauge.push(Sample::new(t, v.round()));
            // A counter growing by |v|, reset to 0 when v < -40.
            counter = if *v < -40.0 { 0.0 } else { counter + v.abs() };
            ctr.push(Sample::new(t, counter));
        }
        let l = |name: &str| {
            Labels::from_pairs(&[("__name__", name), ("instance", &inst), ("job", job)])
        };
        // A classic histogram: the gauge's series become buckets of two histograms
        // (job), non-monotonic at times; one series has a malformed `le`.
        let le = ["0.5", "1", "5", "+Inf", "bad", "10"][i % 6];
        st.add(
            Labels::from_pairs(&[("__name__", "h_bucket"), ("job", job), ("le", le)]),
            ctr.clone(),
        );
        st.add(l("g"), gauge);
        st.add(l("c_total"), ctr);
    }
    st
}

fn run(
    mode: Mode,
    st: &MemStore,
    q: &str,
    start: i64,
    end: i64,
    step: i64,
) -> Result<Output, PromqlError> {
    let tenant = TenantId::new("t1").expect("valid tenant");
    with_mode(mode, || {
        Engine::default().range(st, &tenant, q, start, end, step)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn generated_queries_match_step_path(
        data in prop::collection::vec(series(), 1..6),
        jitter in prop::collection::vec(0i64..15_000, 6),
        start in 0i64..120_000,
        step in prop::sample::select(vec![7_000i64, 15_000, 30_000, 60_000]),
    ) {
        let st = store(&data, &jitter);
        let end = start + 540_000;
        take_vectorized_count();
        for q in TEMPLATES {
            let want = run(Mode::StepOnly, &st, q, start, end, step);
            let got = run(Mode::Auto, &st, q, start, end, step);
            match (&want, &got) {
                (Ok(w), Ok(g)) => {
                    // Identical numbers: compare the debug forms (NaN equals NaN there).
                    prop_assert_eq!(format!("{w:?}"), format!("{g:?}"), "{}", q);
                }
                (Err(w), Err(g)) => prop_assert_eq!(w.to_string(), g.to_string(), "{}", q),
                _ => prop_assert!(false, "{q}: {want:?} vs {got:?}"),
            }
        }
        prop_assert!(take_vectorized_count() >= TEMPLATES.len() / 2);
    }
}

#[test]
fn duplicate_labelsets_after_name_removal_fail_as_step_path() {
    let mut st = MemStore::new();
    st.add(
        Labels::from_pairs(&[("__name__", "a_total"), ("job", "x")]),
        (0..20).map(|i| Sample::new(i * 15_000, i as f64)),
    );
    st.add(
        Labels::from_pairs(&[("__name__", "b_total"), ("job", "x")]),
        (0..20).map(|i| Sample::new(i * 15_000, 2.0 * i as f64)),
    );
    let q = r#"rate({__name__=~"a_total|b_total"}[1m])"#;
    let want = run(Mode::StepOnly, &st, q, 60_000, 240_000, 15_000);
    let got = run(Mode::Auto, &st, q, 60_000, 240_000, 15_000);
    let (Err(w), Err(g)) = (want, got) else {
        panic!("both paths must fail");
    };
    assert_eq!(w.to_string(), g.to_string());
    assert!(g.to_string().contains("same labelset"), "{g}");
}

#[test]
fn series_split_over_threads_matches_step_path() {
    let data: Vec<Vec<Option<f64>>> = (0..40)
        .map(|i| {
            (0..40)
                .map(|k| match (i * 7 + k * 3) % 11 {
                    0 => None,
                    1 => Some(-45.0),
                    x => Some(x as f64 * 1.5 - i as f64),
                })
                .collect()
        })
        .collect();
    let jitter: Vec<i64> = (0..40).map(|i| i * 311 % 15_000).collect();
    let st = store(&data, &jitter);
    let tenant = TenantId::new("t1").expect("valid tenant");
    take_vectorized_count();
    for q in TEMPLATES {
        let want = with_mode(Mode::StepOnly, || {
            Engine::default().range_on_threads(&st, &tenant, q, 30_000, 600_000, 15_000, 1)
        });
        let got = with_mode(Mode::Auto, || {
            Engine::default().range_on_threads(&st, &tenant, q, 30_000, 600_000, 15_000, 2)
        });
        assert_eq!(format!("{want:?}"), format!("{got:?}"), "{q}");
    }
    assert!(take_vectorized_count() >= TEMPLATES.len() / 2);
}

#[test]
fn sample_limit_fails_as_step_path() {
    let data: Vec<Vec<Option<f64>>> = (0..4)
        .map(|i| (0..40).map(|k| Some((i * k) as f64)).collect())
        .collect();
    let st = store(&data, &[0, 1000, 2000, 3000]);
    let tenant = TenantId::new("t1").expect("valid tenant");
    let engine = Engine {
        max_samples: 300,
        ..Engine::default()
    };
    for q in ["rate(c_total[5m])", "g * 2", "g", "max_over_time(g[10m])"] {
        let want = with_mode(Mode::StepOnly, || {
            engine.range(&st, &tenant, q, 0, 600_000, 5_000)
        });
        let got = with_mode(Mode::Auto, || {
            engine.range(&st, &tenant, q, 0, 600_000, 5_000)
        });
        assert!(want.is_err(), "{q}: the limit is small enough to fail");
        assert_eq!(format!("{want:?}"), format!("{got:?}"), "{q}");
    }
}

#[test]
fn cancelled_query_fails_as_step_path() {
    let data: Vec<Vec<Option<f64>>> = vec![(0..40).map(|k| Some(k as f64)).collect()];
    let st = store(&data, &[0]);
    let tenant = TenantId::new("t1").expect("valid tenant");
    let engine = Engine {
        cancel: Some(std::sync::Arc::new(std::sync::atomic::AtomicBool::new(
            true,
        ))),
        ..Engine::default()
    };
    let q = "sum(rate(c_total[5m]))";
    let want = with_mode(Mode::StepOnly, || {
        engine.range(&st, &tenant, q, 0, 600_000, 15_000)
    });
    let got = with_mode(Mode::Auto, || {
        engine.range(&st, &tenant, q, 0, 600_000, 15_000)
    });
    assert!(matches!(got, Err(PromqlError::Canceled(_))), "{got:?}");
    assert_eq!(format!("{want:?}"), format!("{got:?}"));
}
