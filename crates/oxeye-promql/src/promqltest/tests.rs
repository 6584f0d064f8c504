//! Unit tests of the script parser, the value comparison and the runner's verdicts.

use oxeye_core::{
    Labels, MatchOp, Matcher, MetricsQueryable, Sample, SelectHints, TenantId, is_stale_nan,
};

use super::check::{almost_equal, check_annotations};
use super::labels::parse_labels;
use super::parse::{
    Command, ExpectKind, Point, duration_ms, parse_expect, parse_script, parse_series, unquote,
};
use super::{MemStore, Outcome, SkipReason, run_script, test_engine};

fn floats(line: &str) -> Vec<Option<f64>> {
    parse_series(line)
        .unwrap_or_else(|e| panic!("{line}: {e}"))
        .points
        .into_iter()
        .map(|p| match p {
            Point::Float(v) => Some(v),
            Point::Omitted => None,
            Point::Histogram => panic!("{line}: unexpected histogram"),
        })
        .collect()
}

fn some(v: &[f64]) -> Vec<Option<f64>> {
    v.iter().copied().map(Some).collect()
}

#[test]
fn series_notation_expands_like_prometheus() {
    assert_eq!(floats("m 1+2x3"), some(&[1.0, 3.0, 5.0, 7.0]));
    assert_eq!(floats("m 5-1x2"), some(&[5.0, 4.0, 3.0]));
    assert_eq!(floats("m -1-1x2"), some(&[-1.0, -2.0, -3.0]));
    assert_eq!(floats("m -2+3x1"), some(&[-2.0, 1.0]));
    assert_eq!(floats("m 3x2"), some(&[3.0, 3.0, 3.0]));
    assert_eq!(floats("m 7x0"), some(&[7.0]));
    // `0x2` is repetition in series notation, not hex.
    assert_eq!(floats("m 0x2 60"), some(&[0.0, 0.0, 0.0, 60.0]));
    // An exponent sign is not the step sign.
    assert_eq!(floats("m 1e-3x1"), some(&[0.001, 0.001]));
    assert_eq!(floats("m 1e3+1e2x1"), some(&[1000.0, 1100.0]));
    assert_eq!(floats("m 1.5+0.25x2"), some(&[1.5, 1.75, 2.0]));
    assert_eq!(
        floats("m _ 1 _x2 2"),
        vec![None, Some(1.0), None, None, Some(2.0)]
    );
    let v = floats("m Inf -Inf +Inf NaN stale");
    assert_eq!(
        v[..3],
        some(&[f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY])
    );
    assert!(v[3].is_some_and(|x| x.is_nan() && !is_stale_nan(x)));
    assert!(v[4].is_some_and(is_stale_nan));
    // Steps accumulate by repeated addition, as Prometheus does.
    let acc = floats("m 0+0.1x3");
    let mut x = 0.0;
    for got in acc {
        assert_eq!(got, Some(x));
        x += 0.1;
    }
    assert!(parse_series("m 1+x3").is_err());
    assert!(parse_series("m 1xa").is_err());
    assert!(parse_series("m foo").is_err());
}

#[test]
fn histogram_items_count_as_points() {
    let s = parse_series("m {{schema:0 sum:1 count:1 buckets:[1 2]}} 3 {{sum:2}}x2").unwrap();
    assert_eq!(
        s.points,
        vec![
            Point::Histogram,
            Point::Float(3.0),
            Point::Histogram,
            Point::Histogram,
            Point::Histogram
        ]
    );
    let s = parse_series("m {{count:1}}+{{count:2}}x1 _").unwrap();
    assert_eq!(
        s.points,
        vec![Point::Histogram, Point::Histogram, Point::Omitted]
    );
    assert!(parse_series("m {{count:1} 1").is_err());
}

#[test]
fn label_sets_parse_with_quotes_and_escapes() {
    let l = parse_series(r#"http{job="a}b", path='x y',  code=`5"0`}	1"#).unwrap();
    assert_eq!(
        l.labels,
        Labels::from_pairs(&[
            ("__name__", "http"),
            ("code", "5\"0"),
            ("job", "a}b"),
            ("path", "x y")
        ])
    );
    assert_eq!(parse_labels("{}").unwrap(), Labels::default());
    assert_eq!(
        parse_labels(r#"{__name__="m", a="\"q\"\n"}"#).unwrap(),
        Labels::from_pairs(&[("__name__", "m"), ("a", "\"q\"\n")])
    );
    assert_eq!(
        parse_labels(r#"{"my.metric", "a.b"="c"}"#).unwrap(),
        Labels::from_pairs(&[("__name__", "my.metric"), ("a.b", "c")])
    );
    assert_eq!(
        parse_labels("metric").unwrap(),
        Labels::from_pairs(&[("__name__", "metric")])
    );
    assert!(parse_labels(r#"m{a="b" c="d"}"#).is_err());
    assert!(parse_labels(r#"m{a="b", a="c"}"#).is_err());
    assert!(parse_labels(r#"{a=b}"#).is_err());
    assert!(parse_labels("1bad").is_err());
    assert_eq!(unquote(r#""\u00e9\x41\101""#).as_deref(), Some("éAA"));
    assert_eq!(unquote(r#"" Foo ""#).as_deref(), Some(" Foo "));
    assert_eq!(unquote("`a\\n`").as_deref(), Some("a\\n"));
    assert_eq!(unquote(r#""a"b""#), None);
    assert_eq!(unquote(r#""\xc5""#), None, "lone byte is not utf-8");
    assert_eq!(unquote("\"abc"), None);
}

#[test]
fn durations() {
    assert_eq!(duration_ms("0"), Some(0));
    assert_eq!(duration_ms("90"), Some(90_000));
    assert_eq!(duration_ms("10s53ms"), Some(10_053));
    assert_eq!(duration_ms("1h30m"), Some(5_400_000));
    assert_eq!(duration_ms("2d"), Some(172_800_000));
    assert_eq!(duration_ms("5x"), None);
    assert_eq!(duration_ms("30m1h"), None, "units must be descending");
    assert_eq!(duration_ms(""), None);
}

#[test]
fn expect_lines() {
    let e = parse_expect("expect fail").unwrap();
    assert_eq!(e.kind, ExpectKind::Fail);
    assert!(e.message.matches("anything at all"));
    let e = parse_expect("expect fail msg: vector cannot contain metrics").unwrap();
    assert!(e.message.matches("vector cannot contain metrics"));
    assert!(
        !e.message
            .matches("vector cannot contain metrics with the same labelset")
    );
    let e = parse_expect(r"expect warn regex: quantile .* got NaN \(1:\d+\)").unwrap();
    assert_eq!(e.kind, ExpectKind::Warn);
    // Unanchored search, as Go's MatchString.
    assert!(
        e.message
            .matches("PromQL warning: quantile value got NaN (1:12) trailing")
    );
    assert!(!e.message.matches("quantile value got NaN (2:1)"));
    assert_eq!(
        parse_expect("expect no_warn").unwrap().kind,
        ExpectKind::NoWarn
    );
    assert_eq!(
        parse_expect("expect no_info").unwrap().kind,
        ExpectKind::NoInfo
    );
    assert_eq!(parse_expect("expect info").unwrap().kind, ExpectKind::Info);
    assert_eq!(
        parse_expect("expect ordered").unwrap().kind,
        ExpectKind::Ordered
    );
    assert!(parse_expect("expect ordered msg: x").is_err());
    assert!(parse_expect("expect sorted").is_err());
    assert!(parse_expect("expect warn message: x").is_err());
    assert!(parse_expect("expect warn regex: (").is_err());
}

#[test]
fn script_structure() {
    let text = "\
# comment
load 1m
  a{x=\"1\"} 1 2

clear
load_with_nhcb 30s
  h_bucket{le=\"1\"} 1

eval instant at 1m a
  expect no_warn
  a{x=\"1\"} 2

eval_fail instant at 0 foo(

eval instant at 0 1
  1
eval range from 0 to 2m step 1m a
  a{x=\"1\"} 1 _ 3

eval instant at 50m (\"Foo\")
  expect string \" Foo \"

eval instant at 1m a[1m]
  expect range vector from 10s to 1m step 10s
  a 1 2 3
";
    let cmds = parse_script(text).unwrap();
    let kinds: Vec<&str> = cmds
        .iter()
        .map(|c| match c {
            Command::Load(_) => "load",
            Command::Clear => "clear",
            Command::Eval(_) => "eval",
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "load", "clear", "load", "eval", "eval", "eval", "eval", "eval", "eval"
        ]
    );
    let Some(Command::Load(l)) = cmds.get(2) else {
        panic!("third command is a load")
    };
    assert!(l.with_nhcb);
    assert_eq!(l.interval, 30_000);
    let evals: Vec<_> = cmds
        .iter()
        .filter_map(|c| match c {
            Command::Eval(e) => Some(e),
            _ => None,
        })
        .collect();
    assert_eq!(evals[0].line, 9);
    assert_eq!(evals[2].line, 15);
    assert_eq!(evals[0].start, 60_000);
    assert!(evals[0].has(ExpectKind::NoWarn));
    assert!(evals[1].has(ExpectKind::Fail), "eval_fail is expect fail");
    assert_eq!(evals[1].expr, "foo(");
    // A scalar result ends the body: the range eval after it is a command again.
    assert_eq!(evals[2].expected.scalar, Some(1.0));
    assert_eq!(evals[3].range, Some((120_000, 60_000)));
    assert_eq!(
        evals[3].expected.series[0].points,
        vec![Point::Float(1.0), Point::Omitted, Point::Float(3.0)]
    );
    assert_eq!(evals[4].expected.string.as_deref(), Some(" Foo "));
    assert_eq!(
        evals[5].expected.range_vector,
        Some((10_000, 60_000, 10_000))
    );

    // Several values for an instant eval need `expect range vector`.
    assert!(parse_script("eval instant at 0 a\n  a 1 2\n").is_err());
    assert!(parse_script("eval instant at 0 a\n  expect info\n  expect no_info\n").is_err());
    assert!(parse_script("eval instant at 0 a\n  expect fail\n  expect fail msg: x\n").is_err());
    assert!(parse_script("load 1m\n  a 1\n\nbogus\n").is_err());
    assert!(parse_script("eval range from 5m to 1m step 1m a\n").is_err());
    let e = parse_script("load 1m\n  a 1 q\n").unwrap_err();
    assert_eq!(e.line, 2, "errors name the offending line: {e}");
}

#[test]
fn almost_equal_follows_prometheus() {
    assert!(almost_equal(1.0, 1.0 + 1e-7));
    assert!(!almost_equal(1.0, 1.00001));
    assert!(almost_equal(1e20, 1e20 * (1.0 + 1e-7)));
    assert!(!almost_equal(0.0, 1e-300), "zero needs an absolute match");
    assert!(almost_equal(f64::NAN, f64::NAN));
    assert!(!almost_equal(f64::NAN, oxeye_core::stale_nan()));
    assert!(almost_equal(
        oxeye_core::stale_nan(),
        oxeye_core::stale_nan()
    ));
    assert!(almost_equal(f64::INFINITY, f64::INFINITY));
    assert!(!almost_equal(f64::INFINITY, f64::NEG_INFINITY));
    assert!(!almost_equal(1.0, f64::NAN));
}

#[test]
fn mem_store_filters_by_matchers_and_time() {
    let mut s = MemStore::new();
    let a = Labels::from_pairs(&[("__name__", "a"), ("j", "x")]);
    let b = Labels::from_pairs(&[("__name__", "b"), ("j", "y")]);
    s.add(a.clone(), [Sample::new(0, 1.0), Sample::new(2000, 3.0)]);
    s.add(a.clone(), [Sample::new(1000, 2.0), Sample::new(2000, 4.0)]);
    s.add(b.clone(), [Sample::new(5000, 9.0)]);
    let tenant = TenantId::new("t").unwrap();
    let q = s.querier(&tenant, 1000, 4000).unwrap();
    let got = q
        .select(
            &[Matcher::new(MatchOp::Regex, "j", "x|y").unwrap()],
            &SelectHints::default(),
        )
        .unwrap();
    assert_eq!(got.len(), 1, "b has no sample in [1s, 4s]");
    assert_eq!(got[0].labels, a);
    assert_eq!(
        got[0].data.samples().unwrap(),
        vec![Sample::new(1000, 2.0), Sample::new(2000, 4.0)]
    );
    let q = s.querier(&tenant, 0, 10_000).unwrap();
    let none = q
        .select(&[Matcher::equal("__name__", "c")], &SelectHints::default())
        .unwrap();
    assert!(none.is_empty());
    assert_eq!(q.label_values("j", &[]).unwrap(), ["x", "y"]);
    s.clear();
    assert!(s.is_empty());
}

fn outcomes(text: &str) -> Vec<Outcome> {
    run_script(text, &test_engine())
        .unwrap()
        .cases
        .into_iter()
        .map(|c| c.outcome)
        .collect()
}

#[test]
fn runner_verdicts() {
    let text = "\
load 1m
  m{i=\"a\"} 0+1x10
  m{i=\"b\"} 5x10

eval instant at 2m m
  m{i=\"a\"} 2
  m{i=\"b\"} 5

eval instant at 2m m
  m{i=\"a\"} 2
  m{i=\"b\"} 6

eval instant at 2m m
  m{i=\"a\"} 2

eval instant at 2m m{i=\"a\"}
  m{i=\"a\"} 2
  m{i=\"c\"} 2

eval range from 0 to 2m step 1m m{i=\"a\"}
  m{i=\"a\"} 0 1 2

eval range from 0 to 2m step 1m m{i=\"a\"}
  m{i=\"a\"} 0 _ 2

eval range from 0 to 2m step 1m m{i=\"a\"}
  m{i=\"a\"} 0 1 2 3

eval instant at 0 1 + 1
  2

eval instant at 0 1 + 1
  m 2

eval instant at 0 sum(m) +
  expect fail

eval instant at 0 m
  expect fail

eval instant at 0 (\"Foo\")
  expect string \"Foo\"

eval instant at 2m m{i=\"a\"}
  {i=\"a\"} 2
";
    let got = outcomes(text);
    let pass: Vec<bool> = got.iter().map(|o| *o == Outcome::Passed).collect();
    assert_eq!(
        pass,
        [
            true,  // exact match
            false, // wrong value
            false, // series missing from expectation
            false, // expected series missing from result
            true,  // range with exact positions
            false, // a gap where the result has a point
            false, // more points than the range can hold
            true,  // scalar
            false, // scalar where a vector was expected
            true,  // parse error expected
            false, // expected failure that succeeds
            true,  // string
            false, // labels must match exactly (name kept)
        ],
        "{got:#?}"
    );
    for o in &got {
        if let Outcome::Failed(msg) = o {
            assert!(
                msg.contains("expected"),
                "failure says what was expected: {msg}"
            );
        }
    }
}

#[test]
fn native_histogram_cases_are_skipped_with_reason() {
    let text = "\
load 1m
  f 1 2
  h {{schema:0 sum:1 count:1}} {{schema:0 sum:2 count:2}}
  c_bucket{le=\"1\"} 1

eval instant at 1m f
  f 2

eval instant at 1m h
  h {{schema:0 sum:2 count:2}}

eval instant at 1m count({__name__=~\"f|h\"})
  {} 2

eval instant at 1m f * 2
  {} {{sum:1}}

clear
load_with_nhcb 1m
  c_bucket{le=\"1\"} 1
  c_bucket{le=\"+Inf\"} 2

eval instant at 0 c_bucket{le=\"1\"}
  c_bucket{le=\"1\"} 1

eval instant at 0 histogram_count(c)
  {} 2
";
    let got = outcomes(text);
    assert_eq!(
        got,
        vec![
            Outcome::Passed,
            Outcome::Skipped(SkipReason::NativeHistogramExpected),
            Outcome::Skipped(SkipReason::NativeHistogramData),
            Outcome::Skipped(SkipReason::NativeHistogramExpected),
            Outcome::Passed,
            Outcome::Skipped(SkipReason::CustomBucketHistogramData),
        ]
    );
}

#[test]
fn failure_reports_use_exponents_for_huge_values() {
    let text = "load 1m\n  big 9.9e307\n\neval instant at 0 big\n  big 1e300\n";
    let report = run_script(text, &test_engine()).unwrap();
    let Outcome::Failed(msg) = &report.cases[0].outcome else {
        panic!("a wrong value fails: {:?}", report.cases[0].outcome)
    };
    assert!(msg.contains("expected 1e300"), "{msg}");
    assert!(msg.contains("got 9.9e307"), "{msg}");
}

fn eval_of(script: &str) -> super::Eval {
    match parse_script(script).unwrap().into_iter().next() {
        Some(Command::Eval(e)) => *e,
        other => panic!("not an eval: {other:?}"),
    }
}

fn annotated(warnings: &[&str], infos: &[&str]) -> crate::Output {
    crate::Output {
        value: crate::Value::Scalar(0, 1.0),
        warnings: warnings.iter().map(|s| s.to_string()).collect(),
        infos: infos.iter().map(|s| s.to_string()).collect(),
    }
}

#[test]
fn annotations_are_checked_only_when_asked() {
    let none = eval_of("eval instant at 0 1\n  1\n");
    assert!(check_annotations(&none, &annotated(&["w"], &["i"])).is_ok());

    let warn = eval_of("eval instant at 0 1\n  expect warn\n  1\n");
    assert!(check_annotations(&warn, &annotated(&["w"], &[])).is_ok());
    assert!(
        check_annotations(&warn, &annotated(&[], &["i"])).is_err(),
        "warning missing"
    );

    let exact = eval_of("eval instant at 0 1\n  expect warn msg: PromQL warning: a (1:1)\n  1\n");
    assert!(check_annotations(&exact, &annotated(&["PromQL warning: a (1:1)"], &[])).is_ok());
    assert!(check_annotations(&exact, &annotated(&["PromQL warning: a"], &[])).is_err());
    // Every warning must match some expect line once one is given.
    assert!(
        check_annotations(
            &exact,
            &annotated(&["PromQL warning: a (1:1)", "other"], &[])
        )
        .is_err()
    );

    let no = eval_of("eval instant at 0 1\n  expect no_warn\n  expect no_info\n  1\n");
    assert!(check_annotations(&no, &annotated(&[], &[])).is_ok());
    assert!(check_annotations(&no, &annotated(&[], &["i"])).is_err());
    assert!(check_annotations(&no, &annotated(&["w"], &[])).is_err());

    let info = eval_of("eval_info instant at 0 1\n  1\n");
    assert!(
        check_annotations(&info, &annotated(&[], &[])).is_err(),
        "eval_info needs an info"
    );
    assert!(check_annotations(&info, &annotated(&[], &["x"])).is_ok());

    let re = eval_of("eval instant at 0 1\n  expect info regex: fixed .* \\(1:\\d+\\)\n  1\n");
    assert!(
        check_annotations(
            &re,
            &annotated(&[], &["PromQL info: fixed for monotonicity (1:21)"])
        )
        .is_ok()
    );
    assert!(check_annotations(&re, &annotated(&[], &["PromQL info: fixed (2:21)"])).is_err());
}

#[test]
fn matrix_result_of_an_instant_query_needs_expect_range_vector() {
    let text = "\
load 10s
  m 1+1x5

eval instant at 1m m[1m]
  expect range vector from 10s to 1m step 10s
  m 2 3 4 5 6

eval instant at 1m m[1m]
  expect range vector from 10s to 1m step 10s
  m 2 3 4 5 7

eval instant at 1m m[1m]
  m 6
";
    let got = outcomes(text);
    assert_eq!(got[0], Outcome::Passed, "{got:?}");
    assert!(matches!(got[1], Outcome::Failed(_)), "{got:?}");
    assert!(
        matches!(&got[2], Outcome::Failed(m) if m.contains("cannot return")),
        "{got:?}"
    );
}
