//! Feature-by-feature checks of the engine.

use super::*;

fn api(instance: &str) -> Labels {
    l(&[
        ("__name__", "http_requests"),
        ("job", "api"),
        ("instance", instance),
    ])
}

#[test]
fn literals() {
    assert_eq!(scalar("1.5", 10), 1.5);
    assert_eq!(scalar("-2", 10), -2.0);
    match instant("\"hello\"", 10).unwrap() {
        Value::String(t, s) => {
            assert_eq!(t, 10_000);
            assert_eq!(s, "hello");
        }
        other => panic!("expected a string, got {other:?}"),
    }
}

#[test]
fn vector_selector_takes_latest_sample_in_lookback() {
    assert_eq!(
        vector("http_requests{job=\"api\"}", 300),
        vec![(api("a"), 50.0), (api("b"), 100.0)]
    );
    // Between samples: the latest one at or before t.
    assert_eq!(one("http_requests{instance=\"a\"}", 330), 50.0);
    // Last sample at 600s; lookback is 5m and left-open.
    assert_eq!(one("http_requests{instance=\"a\"}", 899), 100.0);
    assert!(vector("http_requests{instance=\"a\"}", 900).is_empty());
    // Regex matchers are anchored.
    assert_eq!(vector("http_requests{instance=~\"a|c\"}", 60).len(), 2);
    assert!(vector("http_requests{instance=~\"x\"}", 60).is_empty());
}

#[test]
fn staleness_marker_ends_a_series() {
    assert_eq!(one("stale_metric", 100), 2.0);
    assert!(vector("stale_metric", 120).is_empty());
    assert!(vector("stale_metric", 150).is_empty());
}

#[test]
fn offset_and_at_modifiers() {
    assert_eq!(one("http_requests{instance=\"a\"} offset 2m", 300), 30.0);
    assert_eq!(one("http_requests{instance=\"a\"} @ 120", 600), 20.0);
    assert_eq!(
        one("http_requests{instance=\"a\"} @ 300 offset 1m", 0),
        40.0
    );
    let engine = Engine::default();
    let got = engine
        .range(
            &store(),
            &tenant(),
            "http_requests{instance=\"a\"} @ start()",
            60_000,
            180_000,
            60_000,
        )
        .map(|o| o.value)
        .unwrap();
    let Value::Matrix(m) = got else {
        panic!("expected a matrix")
    };
    assert_eq!(m.len(), 1);
    let values: Vec<f64> = m[0].1.iter().map(|s| s.v).collect();
    assert_eq!(values, vec![10.0, 10.0, 10.0]);
    let got = engine
        .range(
            &store(),
            &tenant(),
            "http_requests{instance=\"a\"} @ end()",
            60_000,
            180_000,
            60_000,
        )
        .map(|o| o.value)
        .unwrap();
    let Value::Matrix(m) = got else {
        panic!("expected a matrix")
    };
    let values: Vec<f64> = m[0].1.iter().map(|s| s.v).collect();
    assert_eq!(values, vec![30.0, 30.0, 30.0]);
}

#[test]
fn matrix_selector_is_left_open() {
    match instant("http_requests{instance=\"a\"}[2m]", 240).unwrap() {
        Value::Matrix(m) => {
            assert_eq!(m.len(), 1);
            assert_eq!(m[0].0, api("a"));
            assert_eq!(m[0].1, vec![s(180, 30.0), s(240, 40.0)]);
        }
        other => panic!("expected a matrix, got {other:?}"),
    }
    // Stale markers are not part of ranges.
    match instant("stale_metric[5m]", 200).unwrap() {
        Value::Matrix(m) => assert_eq!(m[0].1, vec![s(0, 1.0), s(60, 2.0)]),
        other => panic!("expected a matrix, got {other:?}"),
    }
}

#[test]
fn rate_and_increase_extrapolate_like_prometheus() {
    // Window (0, 300]: 60..300, 10 per minute; start gap 60s < 1.1*avg, zero point at 0.
    assert_close!(
        one("rate(http_requests{instance=\"a\"}[5m])", 300),
        1.0 / 6.0
    );
    assert_close!(
        one("increase(http_requests{instance=\"a\"}[5m])", 300),
        50.0
    );
    // Both gaps 30s, under the threshold: extrapolated to the full 300s.
    assert_close!(
        one("increase(http_requests{instance=\"a\"}[5m])", 330),
        50.0
    );
    // sparse: 100,110,120 at 300..420s in (0,600]: gaps of 300s and 180s exceed
    // 1.1*60s, so each side extends by half an interval: 20 * 180/120.
    assert_close!(one("increase(sparse[10m])", 600), 30.0);
    assert_close!(one("rate(sparse[10m])", 600), 0.05);
    // resets: 10,2,6 in (0,180]: 6-10+10 = 6, start extends 60s: 6 * 180/120.
    assert_close!(one("increase(resets[3m])", 180), 9.0);
    // from_one: 1,11,21 in (0,180]: start extension limited to where the counter
    // would hit zero: 120 * 1/20 = 6s, so 20 * 126/120.
    assert_close!(one("increase(from_one[3m])", 180), 21.0);
    // delta does not apply the zero limit: 20 * 180/120.
    assert_close!(one("delta(from_one[3m])", 180), 30.0);
    // Fewer than two samples: no result.
    assert!(vector("rate(from_one[1m])", 180).is_empty());
    // The metric name is dropped.
    assert_eq!(
        vector("rate(http_requests{job=\"web\"}[5m])", 300)[0].0,
        l(&[("job", "web"), ("instance", "c")])
    );
    // offset shifts the window: (0,300] again.
    assert_close!(
        one("increase(http_requests{instance=\"a\"}[5m] offset 1m)", 360),
        50.0
    );
}

#[test]
fn irate_and_idelta() {
    assert_close!(one("irate(resets[3m])", 180), 4.0 / 60.0);
    // Counter reset between the last two samples: the last value is the increase.
    assert_close!(one("irate(resets[2m])", 120), 2.0 / 60.0);
    assert_close!(one("idelta(resets[3m])", 180), 4.0);
    assert_close!(one("idelta(resets[2m])", 120), -8.0);
}

#[test]
fn over_time_functions() {
    assert_eq!(one("sum_over_time(resets[3m])", 180), 18.0);
    assert_eq!(one("avg_over_time(resets[3m])", 180), 6.0);
    assert_eq!(one("count_over_time(resets[3m])", 180), 3.0);
    assert_eq!(one("min_over_time(resets[3m])", 180), 2.0);
    assert_eq!(one("max_over_time(resets[3m])", 180), 10.0);
    assert_eq!(one("present_over_time(resets[3m])", 180), 1.0);
    let last = vector("last_over_time(resets[3m])", 180);
    assert_eq!(last, vec![(l(&[("__name__", "resets")]), 6.0)]);
    assert_eq!(
        vector("sum_over_time(resets[3m])", 180)[0].0,
        Labels::default()
    );
}

#[test]
fn arithmetic_drops_the_metric_name() {
    assert_eq!(
        vector("http_requests{instance=\"a\"} * 2", 300),
        vec![(l(&[("job", "api"), ("instance", "a")]), 100.0)]
    );
    assert_eq!(one("2 - http_requests{instance=\"a\"}", 300), -48.0);
    assert_eq!(one("-http_requests{instance=\"a\"}", 300), -50.0);
    assert_eq!(one("http_requests{instance=\"a\"} % 7", 300), 1.0);
    assert_eq!(one("http_requests{instance=\"a\"} ^ 2", 300), 2500.0);
    assert_eq!(one("http_requests{instance=\"a\"} / 0", 300), f64::INFINITY);
    assert_eq!(scalar("2 * 3 + 1", 0), 7.0);
    assert_eq!(scalar("2 ^ 3 ^ 2", 0), 512.0);
}

#[test]
fn comparisons_filter_or_return_bool() {
    assert_eq!(
        vector("http_requests{job=\"api\"} > 60", 300),
        vec![(api("b"), 100.0)]
    );
    assert_eq!(
        vector("http_requests{job=\"api\"} > bool 60", 300),
        vec![
            (l(&[("job", "api"), ("instance", "a")]), 0.0),
            (l(&[("job", "api"), ("instance", "b")]), 1.0)
        ]
    );
    // Scalar on the left: the vector's value is kept.
    assert_eq!(
        vector("60 < http_requests{job=\"api\"}", 300),
        vec![(api("b"), 100.0)]
    );
    assert_eq!(scalar("1 < bool 2", 0), 1.0);
    assert_eq!(scalar("3 == bool 2", 0), 0.0);
}

#[test]
fn vector_matching_one_to_one() {
    let a = "http_requests{instance=\"a\"}";
    let b = "http_requests{instance=\"b\"}";
    assert_eq!(
        vector(&format!("{a} + on(job) {b}"), 300),
        vec![(l(&[("job", "api")]), 150.0)]
    );
    assert_eq!(
        vector(&format!("{a} - ignoring(instance) {b}"), 300),
        vec![(l(&[("job", "api")]), -50.0)]
    );
    // Same labels on both sides: matched series by series.
    assert_eq!(
        vector(
            "http_requests{job=\"api\"} + http_requests{job=\"api\"}",
            300
        ),
        vec![
            (l(&[("job", "api"), ("instance", "a")]), 100.0),
            (l(&[("job", "api"), ("instance", "b")]), 200.0)
        ]
    );
    // Comparison keeps the left side's labels.
    assert_eq!(
        vector(&format!("{b} > ignoring(instance) {a}"), 300),
        vec![(l(&[("__name__", "http_requests"), ("job", "api")]), 100.0)]
    );
    // No match: empty.
    assert!(vector(&format!("{a} + {b}"), 300).is_empty());
    // Two series per side for one signature: an error, not a guess.
    let err = instant("http_requests + on(job) http_requests", 300).unwrap_err();
    assert!(
        err.to_string()
            .contains("many-to-many matching not allowed"),
        "{err}"
    );
}

#[test]
fn aggregations() {
    let t = 300; // a=50, b=100, c=7
    assert_eq!(one("sum(http_requests)", t), 157.0);
    assert_eq!(
        vector("sum by (job) (http_requests)", t),
        vec![(l(&[("job", "api")]), 150.0), (l(&[("job", "web")]), 7.0)]
    );
    assert_eq!(
        vector("avg without (instance) (http_requests)", t),
        vec![(l(&[("job", "api")]), 75.0), (l(&[("job", "web")]), 7.0)]
    );
    assert_eq!(one("count(http_requests)", t), 3.0);
    assert_eq!(one("group(http_requests)", t), 1.0);
    assert_eq!(one("min(http_requests)", t), 7.0);
    assert_eq!(one("max(http_requests)", t), 100.0);
    assert_eq!(one("stddev(http_requests{job=\"api\"})", t), 25.0);
    assert_eq!(one("stdvar(http_requests{job=\"api\"})", t), 625.0);
    assert_eq!(vector("topk(1, http_requests)", t), vec![(api("b"), 100.0)]);
    assert_eq!(
        vector("bottomk(1, http_requests)", t),
        vec![(
            l(&[
                ("__name__", "http_requests"),
                ("job", "web"),
                ("instance", "c")
            ]),
            7.0
        )]
    );
    assert_eq!(vector("topk by (job) (1, http_requests)", t).len(), 2);
    assert_eq!(one("quantile(0.5, http_requests)", t), 50.0);
    assert_eq!(one("quantile(0.75, http_requests)", t), 75.0);
    assert_eq!(one("quantile(2, http_requests)", t), f64::INFINITY);
    assert!(vector("sum(nothing_here)", t).is_empty());
}

#[test]
fn math_functions() {
    let g = |f: &str| vector(f, 0);
    assert_eq!(
        g("abs(gauge)"),
        vec![(l(&[("k", "neg")]), 2.5), (l(&[("k", "pos")]), 16.0)]
    );
    assert_eq!(one("ceil(gauge{k=\"neg\"})", 0), -2.0);
    assert_eq!(one("floor(gauge{k=\"neg\"})", 0), -3.0);
    assert_eq!(one("round(gauge{k=\"neg\"})", 0), -2.0);
    assert_eq!(one("round(gauge{k=\"pos\"}, 5)", 0), 15.0);
    assert_eq!(one("sqrt(gauge{k=\"pos\"})", 0), 4.0);
    assert_eq!(one("log2(gauge{k=\"pos\"})", 0), 4.0);
    assert_close!(one("log10(gauge{k=\"pos\"})", 0), 16f64.log10());
    assert_close!(one("ln(gauge{k=\"pos\"})", 0), 16f64.ln());
    assert_close!(one("exp(gauge{k=\"neg\"})", 0), (-2.5f64).exp());
    assert!(one("sqrt(gauge{k=\"neg\"})", 0).is_nan());
    assert_eq!(
        g("clamp(gauge, 0, 10)"),
        vec![(l(&[("k", "neg")]), 0.0), (l(&[("k", "pos")]), 10.0)]
    );
    assert!(g("clamp(gauge, 10, 0)").is_empty());
    assert_eq!(one("clamp_min(gauge{k=\"neg\"}, 1)", 0), 1.0);
    assert_eq!(one("clamp_max(gauge{k=\"pos\"}, 1)", 0), 1.0);
}

#[test]
fn time_vector_scalar_timestamp() {
    assert_eq!(scalar("time()", 300), 300.0);
    assert_eq!(vector("vector(1)", 300), vec![(Labels::default(), 1.0)]);
    assert_eq!(scalar("scalar(http_requests{instance=\"a\"})", 300), 50.0);
    assert!(scalar("scalar(http_requests)", 300).is_nan());
    assert_eq!(one("timestamp(http_requests{instance=\"a\"})", 330), 300.0);
    assert_eq!(one("timestamp(vector(1))", 330), 330.0);
}

#[test]
fn unsupported_and_invalid_queries_are_errors() {
    let err = instant("info(up)", 0).unwrap_err();
    assert!(matches!(err, PromqlError::Unsupported(_)));
    assert_eq!(err.to_string(), "function info is not supported yet");
    assert!(matches!(instant("sum(", 0), Err(PromqlError::Parse(_))));
    let range = Engine::default()
        .range(&store(), &tenant(), "x[5m]", 0, 60_000, 1_000)
        .map(|o| o.value);
    assert!(matches!(range, Err(PromqlError::Execution(_))));
    let range = Engine::default()
        .range(&store(), &tenant(), "x", 0, 60_000, 0)
        .map(|o| o.value);
    assert!(matches!(range, Err(PromqlError::Execution(_))));
}

#[test]
fn range_queries_evaluate_every_step() {
    let engine = Engine::default();
    let got = engine
        .range(
            &store(),
            &tenant(),
            "http_requests{job=\"api\"} * 2",
            0,
            120_000,
            60_000,
        )
        .map(|o| o.value)
        .unwrap();
    assert_eq!(
        got,
        Value::Matrix(vec![
            (
                l(&[("job", "api"), ("instance", "a")]),
                vec![s(0, 0.0), s(60, 20.0), s(120, 40.0)]
            ),
            (
                l(&[("job", "api"), ("instance", "b")]),
                vec![s(0, 0.0), s(60, 40.0), s(120, 80.0)]
            ),
        ])
    );
    // A scalar expression gives one series without labels.
    let got = engine
        .range(&store(), &tenant(), "time()", 0, 60_000, 30_000)
        .map(|o| o.value)
        .unwrap();
    assert_eq!(
        got,
        Value::Matrix(vec![(
            Labels::default(),
            vec![s(0, 0.0), Sample::new(30_000, 30.0), s(60, 60.0)]
        )])
    );
    // Series appear only at steps where they have a value.
    let got = engine
        .range(&store(), &tenant(), "stale_metric", 0, 180_000, 60_000)
        .map(|o| o.value)
        .unwrap();
    assert_eq!(
        got,
        Value::Matrix(vec![(
            l(&[("__name__", "stale_metric")]),
            vec![s(0, 1.0), s(60, 2.0)]
        )])
    );
    // rate per step matches the instant evaluation.
    let got = engine
        .range(
            &store(),
            &tenant(),
            "rate(http_requests{instance=\"a\"}[5m])",
            300_000,
            600_000,
            60_000,
        )
        .map(|o| o.value)
        .unwrap();
    let Value::Matrix(m) = got else {
        panic!("expected a matrix")
    };
    assert_eq!(m[0].1.len(), 6);
    for smp in &m[0].1 {
        assert_close!(smp.v, 1.0 / 6.0);
    }
}

#[test]
fn sample_limit_is_enforced() {
    let engine = Engine {
        max_samples: 3,
        ..Engine::default()
    };
    let err = engine
        .range(&store(), &tenant(), "http_requests", 0, 600_000, 60_000)
        .map(|o| o.value)
        .unwrap_err();
    assert!(matches!(err, PromqlError::TooManySamples(3)));
}

#[test]
fn nan_bounds_and_parameters() {
    // clamp propagates a NaN bound instead of ignoring it.
    assert!(one("clamp(gauge{k=\"pos\"}, 0, NaN)", 0).is_nan());
    assert!(one("clamp_min(gauge{k=\"pos\"}, NaN)", 0).is_nan());
    // A NaN k is an error even when nothing would be selected.
    let err = instant("topk(NaN, nothing_here)", 0).unwrap_err();
    assert!(err.to_string().contains("NaN"), "{err}");
}

#[test]
fn duplicate_label_sets_are_errors() {
    // Dropping the name leaves two series with the same labels.
    let err = instant("-{__name__=~\"resets|from_one\"}", 180).unwrap_err();
    assert!(err.to_string().contains("same labelset"), "{err}");
    // Aggregating them first is fine.
    assert_close!(
        one("sum(rate({__name__=~\"resets|from_one\"}[3m]))", 180),
        30.0 / 180.0
    );
    // Two left-hand series for one match group: an error even if filtering drops them.
    let err = instant(
        "http_requests{job=\"api\"} > on(job) http_requests{instance=\"a\"} * 100",
        300,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)"
    );
}

#[test]
fn set_operators() {
    let t = 300; // a=50, b=100, c=7
    assert_eq!(
        vector("http_requests and http_requests > 60", t),
        vec![(api("b"), 100.0)]
    );
    assert_eq!(
        vector("http_requests unless on(job) http_requests{job=\"web\"}", t),
        vec![(api("a"), 50.0), (api("b"), 100.0)]
    );
    // or: all of the left, plus right elements whose signature the left lacks.
    let got = vector(
        "http_requests{instance=\"a\"} or sum by (job) (http_requests)",
        t,
    );
    assert_eq!(
        got,
        vec![
            (api("a"), 50.0),
            (l(&[("job", "api")]), 150.0),
            (l(&[("job", "web")]), 7.0),
        ]
    );
}

#[test]
fn annotations_come_with_the_result() {
    let out = Engine::default()
        .instant(&store(), &tenant(), "rate(http_requests[5m])", 300_000)
        .unwrap();
    assert_eq!(
        out.infos,
        vec![
            "PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: \"http_requests\" (1:6)"
                .to_string()
        ]
    );
    assert!(out.warnings.is_empty());
    let out = Engine::default()
        .instant(&store(), &tenant(), "quantile(2, http_requests)", 300_000)
        .unwrap();
    assert_eq!(
        out.warnings,
        vec!["PromQL warning: quantile value should be between 0 and 1, got 2 (1:10)".to_string()]
    );
}

#[test]
fn cancelled_and_timed_out_queries_stop() {
    let cancel = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let engine = Engine {
        cancel: Some(cancel),
        ..Engine::default()
    };
    let err = engine
        .range(&store(), &tenant(), "http_requests", 0, 600_000, 60_000)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "query was canceled in expression evaluation"
    );
    let engine = Engine {
        timeout: Some(std::time::Duration::ZERO),
        ..Engine::default()
    };
    let err = engine
        .range(&store(), &tenant(), "http_requests", 0, 600_000, 60_000)
        .unwrap_err();
    assert_eq!(err.to_string(), "query timed out in expression evaluation");
    assert_eq!(err.status_code().http_status(), 503);
}

#[test]
fn subqueries_align_steps_to_absolute_multiples() {
    // api/a is 10*i at 60*i s. At 330s, [2m:1m] covers (210, 330]: steps at 240 and 300,
    // reading 40 and 50.
    let got = instant("http_requests{instance=\"a\"}[2m:1m]", 330).unwrap();
    let Value::Matrix(m) = got else {
        panic!("expected a matrix, got {got:?}")
    };
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].1, vec![s(240, 40.0), s(300, 50.0)]);
    // Left-open: a step exactly at the window start is excluded.
    assert_close!(
        one("count_over_time(http_requests{instance=\"a\"}[2m:1m])", 300),
        2.0
    );
    // Default step is 1m; offset shifts the window.
    assert_close!(
        one(
            "sum_over_time(http_requests{instance=\"a\"}[3m:] offset 1m)",
            300
        ),
        20.0 + 30.0 + 40.0
    );
    // @ pins the window whatever the evaluation time.
    assert_close!(
        one(
            "max_over_time(http_requests{instance=\"a\"}[5m:30s] @ 120)",
            600
        ),
        20.0
    );
    // Nested subqueries and a rate over a subquery of a rate.
    assert_close!(
        one(
            "max_over_time(sum_over_time(http_requests{instance=\"b\"}[2m:1m])[3m:1m])",
            300
        ),
        80.0 + 100.0
    );
    assert_close!(
        one(
            "avg_over_time(rate(http_requests{instance=\"a\"}[2m])[4m:1m])",
            600
        ),
        10.0 / 60.0
    );
}

#[test]
fn subqueries_in_range_queries_and_name_dropping() {
    let out = Engine::default()
        .range(
            &store(),
            &tenant(),
            "sum_over_time(http_requests{instance=\"a\"}[2m:1m])",
            120_000,
            240_000,
            60_000,
        )
        .unwrap();
    let Value::Matrix(m) = out.value else {
        panic!("expected a matrix")
    };
    assert_eq!(m.len(), 1);
    let values: Vec<f64> = m[0].1.iter().map(|x| x.v).collect();
    assert_eq!(values, vec![10.0 + 20.0, 20.0 + 30.0, 30.0 + 40.0]);
    // last_over_time keeps the name, unless the subquery's expression dropped it.
    let v = vector("last_over_time(http_requests{instance=\"a\"}[2m:1m])", 300);
    assert_eq!(v, vec![(api("a"), 50.0)]);
    let v = vector(
        "last_over_time(abs(http_requests{instance=\"a\"})[2m:1m])",
        300,
    );
    assert_eq!(v, vec![(l(&[("job", "api"), ("instance", "a")]), 50.0)]);
}

#[test]
fn group_left_and_group_right_copy_labels_from_the_one_side() {
    let t = 300; // a=50, b=100, c=7
    // Many-to-one: each api series divided by the job total, keeping its own labels and
    // taking `instance` from nowhere (the one side has none, so it is removed).
    let got = vector(
        "http_requests / on(job) group_left sum by (job) (http_requests)",
        t,
    );
    assert_eq!(got.len(), 3);
    assert_close!(got[0].1, 50.0 / 150.0);
    assert_eq!(got[0].0, l(&[("job", "api"), ("instance", "a")]));
    // group_left(label) copies the label from the one side; two results with the same
    // labels for one match group are an error.
    let err = instant(
        "sum by (job, instance) (http_requests) * on(job) group_left(instance) http_requests{instance=\"b\"}",
        t,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "multiple matches for labels: grouping labels must ensure unique matches"
    );
    let got = vector(
        "sum by (job) (http_requests) * on(job) group_left(instance) http_requests{instance=\"b\"}",
        t,
    );
    assert_eq!(
        got,
        vec![(l(&[("job", "api"), ("instance", "b")]), 150.0 * 100.0)]
    );
    // group_right: the right side is the many side; values still left op right.
    let got = vector(
        "http_requests{instance=\"b\"} - on(job) group_right http_requests",
        t,
    );
    assert_eq!(
        got,
        vec![
            (l(&[("job", "api"), ("instance", "a")]), 50.0),
            (l(&[("job", "api"), ("instance", "b")]), 0.0),
        ]
    );
    // Comparisons filter and keep the many side's name.
    let got = vector(
        "http_requests > on(job) group_left sum by (job) (http_requests) / 3",
        t,
    );
    assert_eq!(got, vec![(api("b"), 100.0), (web_c(), 7.0)]);
    // Duplicates on the one side are many-to-many.
    let err = instant(
        "sum by (job) (http_requests) + on(job) group_left http_requests",
        t,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "found duplicate series for the match group {job=\"api\"} on the right hand-side of the operation: [{__name__=\"http_requests\", instance=\"a\", job=\"api\"}, {__name__=\"http_requests\", instance=\"b\", job=\"api\"}];many-to-many matching not allowed: matching labels must be unique on one side"
    );
}

fn web_c() -> Labels {
    l(&[
        ("__name__", "http_requests"),
        ("job", "web"),
        ("instance", "c"),
    ])
}

#[test]
fn aggregations_follow_prometheus_numerics_and_grouping() {
    let t = 300; // a=50, b=100, c=7
    // count_values labels each group with the value, formatted as Prometheus does.
    assert_eq!(
        vector("count_values(\"v\", http_requests > 10)", t),
        vec![(l(&[("v", "100")]), 1.0), (l(&[("v", "50")]), 1.0)]
    );
    assert_eq!(
        vector("count_values by (job) (\"v\", http_requests * 0)", t),
        vec![
            (l(&[("job", "api"), ("v", "0")]), 2.0),
            (l(&[("job", "web"), ("v", "0")]), 1.0),
        ]
    );
    let err = instant("count_values(\"\", http_requests)", t).unwrap_err();
    assert_eq!(err.to_string(), "invalid label name \"\"");
    // topk/bottomk per group keep the elements' labels.
    assert_eq!(
        vector("topk by (job) (1, http_requests)", t),
        vec![(api("b"), 100.0), (web_c(), 7.0)]
    );
    assert_eq!(vector("bottomk(1, http_requests)", t), vec![(web_c(), 7.0)]);
    // limitk keeps the first k of each group.
    assert_eq!(vector("limitk by (job) (5, http_requests)", t).len(), 3);
    assert_eq!(vector("limitk(1, http_requests)", t).len(), 1);
    let err = instant("limitk(NaN, http_requests)", t).unwrap_err();
    assert_eq!(err.to_string(), "Parameter value is NaN");
    // limit_ratio: a ratio and its complement split the series between them.
    let r = vector("limit_ratio(0.5, http_requests)", t).len();
    let c = vector("limit_ratio(-0.5, http_requests)", t).len();
    assert_eq!(r + c, 3);
    assert_eq!(vector("limit_ratio(1, http_requests)", t).len(), 3);
    let err = instant("limit_ratio(NaN, http_requests)", t).unwrap_err();
    assert_eq!(err.to_string(), "Ratio value is NaN");
    // Grouping by the metric name keeps it; without drops it.
    assert_eq!(
        vector("sum by (__name__) (http_requests)", t),
        vec![(l(&[("__name__", "http_requests")]), 157.0)]
    );
    assert_eq!(
        vector("max without (instance) (http_requests)", t),
        vec![(l(&[("job", "api")]), 100.0), (l(&[("job", "web")]), 7.0)]
    );
    // Population standard deviation and variance.
    assert_close!(one("stdvar(http_requests{job=\"api\"})", t), 625.0);
    assert_close!(one("stddev(http_requests{job=\"api\"})", t), 25.0);
    assert_close!(one("quantile(0.5, http_requests)", t), 50.0);
}

#[test]
fn avg_switches_to_an_incremental_mean_instead_of_overflowing() {
    let big = f64::MAX / 2.0;
    let store = VecStore(vec![
        (l(&[("__name__", "big"), ("i", "1")]), vec![s(0, big)]),
        (l(&[("__name__", "big"), ("i", "2")]), vec![s(0, big)]),
        (l(&[("__name__", "big"), ("i", "3")]), vec![s(0, big)]),
    ]);
    let out = Engine::default()
        .instant(&store, &tenant(), "avg(big)", 0)
        .unwrap();
    let Value::Vector(v) = out.value else {
        panic!("expected a vector")
    };
    assert_close!(v[0].2 / big, 1.0);
    let out = Engine::default()
        .instant(&store, &tenant(), "sum(big)", 0)
        .unwrap();
    let Value::Vector(v) = out.value else {
        panic!("expected a vector")
    };
    assert!(v[0].2.is_infinite());
    // Compensated summation: 1e100 + 1 - 1e100 loses nothing.
    let store = VecStore(vec![
        (l(&[("__name__", "k"), ("i", "1")]), vec![s(0, 1e100)]),
        (l(&[("__name__", "k"), ("i", "2")]), vec![s(0, 1.0)]),
        (l(&[("__name__", "k"), ("i", "3")]), vec![s(0, -1e100)]),
    ]);
    for (q, want) in [("sum(k)", 1.0), ("avg(k)", 1.0 / 3.0)] {
        let out = Engine::default().instant(&store, &tenant(), q, 0).unwrap();
        let Value::Vector(v) = out.value else {
            panic!("expected a vector")
        };
        assert_close!(v[0].2, want);
    }
}

#[test]
fn parallel_range_evaluation_matches_sequential_and_instant_results() {
    let queries = [
        "http_requests",
        "rate(http_requests[2m])",
        "sum by (job) (http_requests) / on(job) group_left count by (job) (http_requests)",
        "max_over_time(http_requests{instance=\"b\"}[3m:1m]) - http_requests{instance=\"b\"}",
        "stale_metric or sparse",
        "topk(1, http_requests)",
    ];
    let (start, end, step) = (0, 600_000, 100);
    for q in queries {
        let run = |threads: usize| match Engine::default().range_on_threads(
            &store(),
            &tenant(),
            q,
            start,
            end,
            step,
            threads,
        ) {
            Ok(out) => out.value,
            Err(e) => panic!("{q}: {e}"),
        };
        let sequential = run(1);
        assert_eq!(sequential, run(3), "{q}");
        let Value::Matrix(m) = sequential else {
            panic!("{q}: expected a matrix")
        };
        for t in (start..=end).step_by(9_700) {
            let Ok(Value::Vector(v)) = Engine::default()
                .instant(&store(), &tenant(), q, t)
                .map(|o| o.value)
            else {
                panic!("{q}: instant query failed")
            };
            for (labels, _, value) in &v {
                let series = m.iter().find(|(l, _)| l == labels);
                let got = series.and_then(|(_, s)| s.iter().find(|x| x.t == t));
                assert_eq!(got.map(|x| x.v), Some(*value), "{q} at {t}");
            }
            let present = m.iter().filter(|(_, s)| s.iter().any(|x| x.t == t)).count();
            assert_eq!(present, v.len(), "{q} at {t}");
        }
    }
}
