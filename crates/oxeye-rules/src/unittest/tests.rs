use std::io::Write as _;

use super::*;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    let mut f = std::fs::File::create(&p).unwrap();
    f.write_all(text.as_bytes()).unwrap();
    p
}

fn run_one(dir: &Path, name: &str, text: &str) -> (i32, String) {
    let p = write(dir, name, text);
    let mut out = Vec::new();
    let code = run(&[p], &mut out);
    (code, String::from_utf8(out).unwrap())
}

#[test]
fn expressions_over_input_series() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out) = run_one(
        dir.path(),
        "t.yml",
        r#"
tests:
- interval: 1m
  input_series:
  - series: 'up{job="a"}'
    values: '1+1x3 _ stale 7'
  - series: 'm'
    values: 5
  promql_expr_test:
  - expr: up
    eval_time: 3m
    exp_samples:
    - labels: 'up{job="a"}'
      value: 4
  - expr: up
    eval_time: 4m
    exp_samples:
    - labels: 'up{job="a"}'
      value: 4
  - expr: up
    eval_time: 5m
  - expr: up + m
    eval_time: 6m
    exp_samples:
    - labels: '{job="a"}'
      value: 12
"#,
    );
    assert_eq!(code, 1, "{out}");
    // Only the 6m check fails: m's one sample (at 0) is out of the 5m lookback, so
    // `up + m` is empty; the report shows both sides.
    assert!(out.starts_with("Unit Testing:  "), "{out}");
    assert!(out.contains("  FAILED:\n"), "{out}");
    assert!(
        out.contains(
            "    expr: \"up + m\", time: 6m,\n        exp: {job=\"a\"} 1.2E+01\n        got: nil"
        ),
        "{out}"
    );
    assert!(!out.contains("time: 3m"), "{out}");
    assert!(!out.contains("time: 4m"), "{out}");
    assert!(!out.contains("time: 5m"), "{out}");
}

#[test]
fn wrong_values_and_bad_labels_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out) = run_one(
        dir.path(),
        "t.yml",
        r#"
tests:
- input_series:
  - series: a
    values: '0.1'
  promql_expr_test:
  - expr: a * 3
    eval_time: 0m
    exp_samples:
    - labels: '{}'
      value: 0.3
  - expr: a * 3
    eval_time: 0m
    exp_samples:
    - labels: '{}'
      value: 0.31
  - expr: a
    exp_samples:
    - labels: 'a{'
      value: 1
  - expr: 'a{'
"#,
    );
    assert_eq!(code, 1);
    assert!(
        out.contains(
            "    expr: \"a * 3\", time: 0s,\n        exp: {} 3.1E-01\n        got: {} 3.0000000000000004E-01"
        ),
        "{out}"
    );
    // Within the tolerance: 0.1 * 3 meets 0.3.
    assert_eq!(out.matches("expr: \"a * 3\"").count(), 1, "{out}");
    assert!(
        out.contains("    expr: \"a\", time: 0s, err: labels \"a{\""),
        "{out}"
    );
    assert!(out.contains("    expr: \"a{\", time: 0s, err: "), "{out}");
}

#[test]
fn success_and_invalid_files() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out) = run_one(
        dir.path(),
        "ok.yml",
        "tests:\n- input_series:\n  - series: a\n    values: 1 2\n  promql_expr_test:\n  - expr: a\n    eval_time: 1m\n    exp_samples:\n    - labels: a\n      value: 2\n",
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.ends_with("  SUCCESS\n\n"), "{out}");

    let (code, out) = run_one(dir.path(), "bad.yml", "tests:\n- bogus: 1\n");
    assert_eq!(code, 1, "{out}");
    let (code, _) = run_one(
        dir.path(),
        "bad2.yml",
        "tests:\n- input_series:\n  - series: a\n    values: 1 zz\n",
    );
    assert_eq!(code, 1);
    let (code, out) = run_one(
        dir.path(),
        "order.yml",
        "group_eval_order: [a, b, a]\ntests: []\n",
    );
    assert_eq!(code, 1);
    assert!(
        out.contains("group name repeated in evaluation order: a"),
        "{out}"
    );
    let (code, out) = run_one(
        dir.path(),
        "noname.yml",
        "tests:\n- alert_rule_test:\n  - eval_time: 1m\n",
    );
    assert_eq!(code, 1);
    assert!(
        out.contains("misses required attribute alertname at eval_time 1m"),
        "{out}"
    );
    let (code, out) = run_one(
        dir.path(),
        "nofile.yml",
        "rule_files: [missing.yml]\ntests: []\n",
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("  WARNING: no file match pattern missing.yml"),
        "{out}"
    );
}

#[test]
fn several_files_fail_if_one_fails() {
    let dir = tempfile::tempdir().unwrap();
    let ok = write(dir.path(), "ok.yml", "tests: []\n");
    let bad = write(dir.path(), "bad.yml", "nonsense: [\n");
    let mut out = Vec::new();
    assert_eq!(run(&[ok.clone(), bad, ok], &mut out), 1);
    let out = String::from_utf8(out).unwrap();
    assert_eq!(out.matches("  SUCCESS").count(), 2, "{out}");
}

#[test]
fn value_tolerance() {
    assert!(exec::values_match(0.3, 0.1 * 3.0));
    assert!(exec::values_match(1.0, 0.999_999_999_999_9));
    assert!(!exec::values_match(1.0, 1.001));
    assert!(!exec::values_match(f64::NAN, f64::NAN));
    assert!(exec::values_match(f64::INFINITY, f64::INFINITY));
    assert!(!exec::values_match(0.0, 1e-300));
}

#[test]
fn split_streams_follow_promtool() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "t.yml",
        "rule_files: [nope.yml]\ntests:\n- input_series:\n  - series: a\n    values: 1\n  promql_expr_test:\n  - expr: a\n    exp_samples:\n    - labels: a\n      value: 2\n  - expr: a\n    exp_samples:\n    - labels: a\n      value: 3\n",
    );
    let (mut out, mut err) = (Vec::new(), Vec::new());
    assert_eq!(run_split(std::slice::from_ref(&p), &mut out, &mut err), 1);
    let (out, err) = (
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    );
    // One blank line per failure on stdout, then one after the file.
    assert_eq!(out, format!("Unit Testing:  {}\n\n\n\n", p.display()));
    assert!(
        err.starts_with(
            "  WARNING: no file match pattern nope.yml\n  FAILED:\n    expr: \"a\", time: 0s,\n"
        ),
        "{err}"
    );
    assert_eq!(err.matches("    expr: ").count(), 2, "{err}");
}
