//! `unittest::run` over real rule groups: recording results feed later expressions,
//! alerts go pending then firing with expanded annotations, and failures are reported
//! in promtool's layout.

use std::path::{Path, PathBuf};

use oxeye_rules::unittest::run;

const RULES: &str = r#"
groups:
  - name: g
    rules:
      - record: job:errors:sum
        expr: sum by (job) (errors_per_second)
      - alert: Errors
        expr: job:errors:sum > 1
        for: 1m
        labels:
          severity: "{{ if gt $value 5.0 }}page{{ else }}ticket{{ end }}"
        annotations:
          summary: "{{ $labels.job }} fails {{ $value | humanize }}/s"
"#;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn run_test(test: &str) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "rules.yml", RULES);
    let t = write(dir.path(), "test.yml", test);
    let mut out = Vec::new();
    let code = run(&[t], &mut out);
    (code, String::from_utf8(out).unwrap())
}

#[test]
fn recording_and_alerting_rules_pass() {
    let (code, out) = run_test(
        r#"
rule_files: [rules.yml]
tests:
  - interval: 1m
    input_series:
      - series: 'errors_per_second{job="api", instance="a"}'
        values: '0.5 1.5 2x8'
    promql_expr_test:
      - expr: job:errors:sum
        eval_time: 5m
        exp_samples:
          - labels: 'job:errors:sum{job="api"}'
            value: 2
    alert_rule_test:
      - eval_time: 1m
        alertname: Errors
        exp_alerts: []
      - eval_time: 3m
        alertname: Errors
        exp_alerts:
          - exp_labels: {job: api, severity: ticket}
            exp_annotations: {summary: "api fails 2/s"}
"#,
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.ends_with("  SUCCESS\n\n"), "{out}");
}

#[test]
fn a_wrong_expectation_fails_with_both_sides() {
    let (code, out) = run_test(
        r#"
rule_files: [rules.yml]
tests:
  - name: burst
    interval: 1m
    input_series:
      - series: 'errors_per_second{job="api"}'
        values: '10x10'
    alert_rule_test:
      - eval_time: 3m
        alertname: Errors
        exp_alerts:
          - exp_labels: {job: api, severity: ticket}
            exp_annotations: {summary: "api fails 10/s"}
"#,
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("    name: burst,\n    alertname: Errors, time: 3m, \n"),
        "{out}"
    );
    assert!(
        out.contains("Labels:{alertname=\"Errors\", job=\"api\", severity=\"page\"}"),
        "{out}"
    );
    assert!(
        out.contains("Annotations:{summary=\"api fails 10/s\"}"),
        "{out}"
    );
}

#[test]
fn an_invalid_rule_file_fails_the_test_file() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "rules.yml",
        "groups:\n  - name: g\n    rules:\n      - record: x\n        expr: sum(\n",
    );
    let t = write(
        dir.path(),
        "test.yml",
        "rule_files: [rules.yml]\ntests:\n  - input_series: []\n",
    );
    let mut out = Vec::new();
    assert_eq!(run(&[t], &mut out), 1);
    let out = String::from_utf8(out).unwrap();
    assert!(out.contains("could not parse expression"), "{out}");
}
