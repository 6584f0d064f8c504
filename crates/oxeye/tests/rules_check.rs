//! `oxeye check rules` against `promtool check rules` on the files under
//! `tests/rules/check/`: valid files, each kind of problem promtool reports, and its
//! duplicate-rule lint (reported, exit 0). Every file must get promtool's exit code;
//! without promtool the codes recorded from it in `expected_verdicts.txt` are used.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::BIN;

const PROMTOOL: &str = "/usr/bin/promtool";

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/rules/check")
}

fn run(program: &str, file: &Path) -> (i32, String, String) {
    let out = Command::new(program)
        .args(["check", "rules"])
        .arg(file)
        .current_dir(dir())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn exit_codes_match_promtool() {
    let recorded = std::fs::read_to_string(dir().join("expected_verdicts.txt")).unwrap();
    let have_promtool = Path::new(PROMTOOL).exists();
    if !have_promtool {
        eprintln!("note: {PROMTOOL} is absent; comparing with its recorded exit codes");
    }
    let mut checked = 0;
    for line in recorded.lines() {
        let Some((name, code)) = line.split_once(' ') else {
            continue;
        };
        let file = PathBuf::from(name);
        let expected: i32 = if have_promtool {
            run(PROMTOOL, &file).0
        } else {
            code.trim().parse().unwrap()
        };
        let (got, stdout, stderr) = run(BIN, &file);
        assert_eq!(
            got, expected,
            "{name}: stdout:\n{stdout}\nstderr:\n{stderr}"
        );
        assert!(
            stdout.starts_with(&format!("Checking {name}\n")),
            "{stdout}"
        );
        if got == 0 && !stderr.contains("lint error") {
            assert!(stdout.contains("  SUCCESS: "), "{name}: {stdout}");
        } else {
            assert!(stderr.starts_with("  FAILED:\n"), "{name}: {stderr}");
        }
        checked += 1;
    }
    assert!(checked >= 8, "only {checked} files checked");
}

#[test]
fn report_names_each_problem_and_counts_rules() {
    let (code, stdout, _) = run(BIN, Path::new("01_valid.yml"));
    assert_eq!(code, 0);
    assert_eq!(
        stdout,
        "Checking 01_valid.yml\n  SUCCESS: 4 rules found\n\n"
    );
    let (code, _, stderr) = run(BIN, Path::new("04_record_and_alert.yml"));
    assert_eq!(code, 1);
    assert!(stderr.contains("04_record_and_alert.yml: group \"g\", rule 1, \"job:up:sum\": only one of 'record' and 'alert' must be set"), "{stderr}");
    assert!(
        stderr.contains("rule 2, \"\": one of 'record' or 'alert' must be set"),
        "{stderr}"
    );
    let (code, _, stderr) = run(BIN, Path::new("09_duplicate_rules_lint.yml"));
    assert_eq!(code, 0);
    assert!(
        stderr.contains("lint error 1 duplicate rule(s) found.\nMetric: job:up:sum\n"),
        "{stderr}"
    );
    // Several files: each is reported, the exit code is 1 when any failed.
    let out = Command::new(BIN)
        .args([
            "check",
            "rules",
            "01_valid.yml",
            "02_bad_expr.yml",
            "11_empty.yml",
        ])
        .current_dir(dir())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.matches("Checking ").count(), 3, "{stdout}");
    assert!(
        stdout.contains("Checking 11_empty.yml\n  SUCCESS: 0 rules found"),
        "{stdout}"
    );
}

#[test]
fn logql_rule_files_are_checked_as_logql() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("logs.yml");
    std::fs::write(
        &file,
        "groups:\n- name: g\n  rules:\n  - record: app:errors:rate1m\n    expr: 'sum by (app) (rate({app=\"api\"} |= \"error\" [1m]))'\n",
    )
    .unwrap();
    let check = |logql: bool| {
        let mut cmd = Command::new(BIN);
        cmd.args(["check", "rules"]);
        if logql {
            cmd.arg("--logql");
        }
        cmd.arg(&file).output().unwrap().status.code()
    };
    assert_eq!(check(true), Some(0));
    assert_eq!(check(false), Some(1), "a LogQL expression is not PromQL");
}
