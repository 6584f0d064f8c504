//! Function calls through the whole engine: labels, order, annotations and errors as
//! Prometheus gives them.

use super::*;
use oxeye_promql::Output;

/// Classic histogram `req_bucket` (job a, buckets 0.1/0.5/+Inf with counts 10/30/40),
/// one with a decreasing bucket (job b), and one with a malformed `le` (job c).
fn histo_store() -> VecStore {
    let bucket = |job: &str, le: &str, v: f64| {
        (
            l(&[("__name__", "req_bucket"), ("job", job), ("le", le)]),
            vec![s(0, v)],
        )
    };
    let mut st = store();
    st.0.extend([
        bucket("a", "0.1", 10.0),
        bucket("a", "0.5", 30.0),
        bucket("a", "+Inf", 40.0),
        bucket("b", "1", 10.0),
        bucket("b", "2", 8.0),
        bucket("b", "+Inf", 20.0),
        bucket("c", "oops", 5.0),
        (
            l(&[
                ("__name__", "info_metric"),
                ("src", "x-12"),
                ("n", "item10"),
            ]),
            vec![s(0, 1.0)],
        ),
        (
            l(&[("__name__", "info_metric"), ("src", "y-3"), ("n", "item9")]),
            vec![s(0, 2.0)],
        ),
    ]);
    st
}

fn run(expr: &str, t_sec: i64) -> Result<Output, PromqlError> {
    Engine::default().instant(&histo_store(), &tenant(), expr, t_sec * 1000)
}

fn elems(expr: &str, t_sec: i64) -> Vec<(Labels, f64)> {
    match run(expr, t_sec).map(|o| o.value) {
        Ok(Value::Vector(v)) => v.into_iter().map(|(l, _, v)| (l, v)).collect(),
        other => panic!("{expr}: expected a vector, got {other:?}"),
    }
}

#[test]
fn label_replace_expands_groups_and_keeps_order_of_labels() {
    let got = elems(
        r#"label_replace(info_metric, "dst", "${1}_$2", "src", "([a-z])-(\\d+)")"#,
        0,
    );
    let dsts: Vec<&str> = got.iter().filter_map(|(l, _)| l.get("dst")).collect();
    assert_eq!(dsts.len(), 2);
    assert!(dsts.contains(&"x_12") && dsts.contains(&"y_3"), "{dsts:?}");
    // The regex is anchored: a partial match changes nothing.
    let got = elems(
        r#"label_replace(info_metric, "dst", "$1", "src", "\\d+")"#,
        0,
    );
    assert!(got.iter().all(|(l, _)| l.get("dst").is_none()));
}

#[test]
fn label_replace_and_join_errors() {
    let err = run(r#"label_replace(info_metric, "dst", "", "src", "(.*")"#, 0).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid regular expression in label_replace(): (.*"
    );
    let err = run(r#"label_replace(info_metric, "", "", "src", ".*")"#, 0).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid destination label name in label_replace(): "
    );
    // Overwriting the only distinguishing labels leaves duplicates.
    let err = run(r#"label_join(info_metric, "src", "", "nope")"#, 0);
    assert!(err.is_ok(), "src and n still differ");
    let err = run(
        r#"label_replace(label_join(info_metric, "src", "", "nope"), "n", "", "n", ".*")"#,
        0,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "vector cannot contain metrics with the same labelset"
    );
}

#[test]
fn writing_the_metric_name_keeps_it_past_a_function() {
    let got = elems(r#"label_join(abs(gauge), "__name__", "", "k")"#, 0);
    let names: Vec<&str> = got.iter().filter_map(|(l, _)| l.get("__name__")).collect();
    assert_eq!(names.len(), 2, "{got:?}");
    assert!(names.contains(&"neg") && names.contains(&"pos"));
    // Without writing it, abs drops the name.
    assert!(
        elems("abs(gauge)", 0)
            .iter()
            .all(|(l, _)| l.get("__name__").is_none())
    );
    // last_over_time keeps it, sum_over_time does not.
    assert!(
        elems("last_over_time(gauge[1m])", 0)
            .iter()
            .all(|(l, _)| l.get("__name__") == Some("gauge"))
    );
    assert!(
        elems("sum_over_time(gauge[1m])", 0)
            .iter()
            .all(|(l, _)| l.get("__name__").is_none())
    );
}

#[test]
fn sort_order_reaches_the_result() {
    let vals: Vec<f64> = elems("sort_desc(http_requests)", 300)
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    assert_eq!(vals, vec![100.0, 50.0, 7.0]);
    let vals: Vec<f64> = elems("sort(http_requests)", 300)
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    assert_eq!(vals, vec![7.0, 50.0, 100.0]);
    // Natural order: item9 before item10.
    let ns: Vec<String> = elems(r#"sort_by_label(info_metric, "n")"#, 0)
        .into_iter()
        .filter_map(|(l, _)| l.get("n").map(str::to_string))
        .collect();
    assert_eq!(ns, vec!["item9", "item10"]);
    let out = Engine::default()
        .range(
            &histo_store(),
            &tenant(),
            "sort(http_requests)",
            0,
            60_000,
            30_000,
        )
        .unwrap();
    assert_eq!(
        out.warnings,
        vec![
            "PromQL warning: sort is ineffective for range queries since results are always ordered by labels (1:1)"
        ]
    );
}

#[test]
fn histogram_quantile_on_classic_buckets() {
    let got = elems("histogram_quantile(0.5, req_bucket)", 0);
    let a = got
        .iter()
        .find(|(l, _)| l.get("job") == Some("a"))
        .map(|(_, v)| *v);
    // rank 20 of 40 lies half-way through (0.1, 0.5].
    assert_close!(a.unwrap(), 0.3);
    let out = run("histogram_quantile(0.5, req_bucket)", 0).unwrap();
    assert_eq!(
        out.warnings,
        vec![
            r#"PromQL warning: bucket label "le" is missing or has a malformed value of "oops" for metric name "req_bucket" (1:25)"#
        ]
    );
    assert_eq!(
        out.infos,
        vec![
            r#"PromQL info: input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile) for metric name "req_bucket" (1:25)"#
        ]
    );
    let out = run("histogram_quantile(1.5, req_bucket{job=\"a\"})", 0).unwrap();
    assert_eq!(
        out.warnings,
        vec!["PromQL warning: quantile value should be between 0 and 1, got 1.5 (1:20)"]
    );
    let frac = elems("histogram_fraction(0, 0.1, req_bucket{job=\"a\"})", 0);
    assert_eq!(frac.len(), 1);
    assert_close!(frac[0].1, 0.25);
}

#[test]
fn rate_on_a_non_counter_name_gives_an_info() {
    let out = run("rate(http_requests[5m])", 300).unwrap();
    assert_eq!(
        out.infos,
        vec![
            r#"PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: "http_requests" (1:6)"#
        ]
    );
    assert!(
        run("irate(http_requests[5m])", 300)
            .unwrap()
            .infos
            .is_empty()
    );
}

#[test]
fn range_functions_through_the_engine() {
    // resets: 5, 10, 2, 6 has one decrease.
    assert_eq!(one("resets(resets[5m])", 180), 1.0);
    assert_eq!(one("changes(resets[5m])", 180), 3.0);
    // http_requests{instance="a"} grows by 10 a minute: deriv 1/6 per second.
    assert_close!(
        one(r#"deriv(http_requests{instance="a"}[5m])"#, 300),
        1.0 / 6.0
    );
    assert_close!(
        one(
            r#"predict_linear(http_requests{instance="a"}[5m], 60)"#,
            300
        ),
        60.0
    );
    assert_close!(
        one(
            r#"quantile_over_time(0.5, http_requests{instance="a"}[5m])"#,
            300
        ),
        30.0
    );
    assert_close!(
        one(r#"mad_over_time(http_requests{instance="a"}[5m])"#, 300),
        10.0
    );
    assert_eq!(
        one(
            r#"ts_of_max_over_time(http_requests{instance="a"}[5m])"#,
            300
        ),
        300.0
    );
    assert_eq!(one(r#"absent_over_time(nope{job="x"}[5m])"#, 300), 1.0);
    let err = instant(
        r#"double_exponential_smoothing(http_requests{instance="a"}[5m], 1, 0.5)"#,
        300,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid smoothing factor. Expected: 0 < sf < 1, got: 1.000000"
    );
}

#[test]
fn date_functions_with_and_without_argument() {
    assert_eq!(one("year()", 0), 1970.0);
    assert_eq!(one("day_of_week()", 0), 4.0);
    assert_eq!(one("hour(vector(1136239445))", 0), 22.0);
    assert_eq!(one("days_in_month(vector(1454284800))", 0), 29.0);
}
