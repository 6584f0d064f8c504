//! Command-line behaviour that needs no running server.

use std::process::Command;

use crate::harness::BIN;

#[test]
fn help_lists_flags_and_commands() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "--web.listen-address",
        "--storage.path",
        "--config.file",
        "--otlp.grpc-listen-address",
        "--storage.tsdb.retention.time",
        "serve",
        "check",
        "import",
    ] {
        assert!(text.contains(needle), "--help lacks {needle}:\n{text}");
    }
    let out = Command::new(BIN).arg("--version").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains(env!("CARGO_PKG_VERSION")));
}

#[test]
fn check_config_accepts_the_example() {
    let example = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../config/oxeye.example.yml"
    );
    let out = Command::new(BIN)
        .args(["check", "config", example])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("SUCCESS"));
}

#[test]
fn check_config_names_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    for (text, needle) in [
        ("storage:\n  retension: 1d\n", "retension"),
        (
            "scrape_configs:\n  - job_name: a\n  - job_name: a\n",
            "multiple scrape configs",
        ),
        ("tenancy:\n  default_tenant: \"a/b\"\n", "default_tenant"),
        ("storage:\n  wal_sync: sometimes\n", "wal_sync"),
    ] {
        let path = dir.path().join("bad.yml");
        std::fs::write(&path, text).unwrap();
        let out = Command::new(BIN)
            .args(["check", "config"])
            .arg(&path)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{text}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{text}: {err}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn json_logs_and_flag_errors() {
    let dir = tempfile::tempdir().unwrap();
    let s = crate::harness::Server::start_with(dir.path(), Some(""), &["--log.format=json"]).await;
    assert!(s.stop());
    let log = std::fs::read_to_string(
        std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .find(|e| e.file_name().to_string_lossy().ends_with(".log"))
            .unwrap()
            .path(),
    )
    .unwrap();
    let mut messages = Vec::new();
    for line in log.lines() {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
        messages.push(v["message"].as_str().unwrap_or_default().to_string());
    }
    assert!(
        messages.iter().any(|m| m == "server is ready"),
        "{messages:?}"
    );
    assert!(
        messages.iter().any(|m| m == "storage closed, bye"),
        "{messages:?}"
    );

    // a bad flag value fails fast with a message
    let out = Command::new(BIN)
        .args([
            "--storage.tsdb.wal-sync=sometimes",
            "--web.listen-address=127.0.0.1:0",
        ])
        .arg(format!(
            "--storage.path={}",
            dir.path().join("d2").display()
        ))
        .arg(format!(
            "--config.file={}",
            dir.path().join("none.yml").display()
        ))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("wal sync"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn promqltest_reports_failures_and_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let script = "\
load 1m
  up{job=\"a\"} 1+1x5
  hist {{schema:0 sum:1 count:1}}

eval instant at 2m up
  up{job=\"a\"} 3

eval range from 0 to 2m step 1m up * 2
  {job=\"a\"} 2 4 6

eval instant at 2m up
  up{job=\"a\"} 4

eval instant at 0 hist
  hist {{schema:0 sum:1 count:1}}
";
    let mixed = dir.path().join("mixed.test");
    std::fs::write(&mixed, script).unwrap();
    let out = Command::new(BIN)
        .arg("promqltest")
        .arg(&mixed)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a failing case exits 1:\n{text}"
    );
    assert!(
        text.contains("mixed.test:11: up"),
        "the failing eval is named by file and line:\n{text}"
    );
    assert!(text.contains("expected 4"), "expected value shown:\n{text}");
    assert!(text.contains("up{job=\"a\"} 3"), "got value shown:\n{text}");
    assert!(
        !text.contains("mixed.test:5:"),
        "passing cases are not listed:\n{text}"
    );
    assert!(
        text.contains("skipped 1: native histogram"),
        "skip reasons are counted:\n{text}"
    );
    assert_eq!(
        text.lines().last(),
        Some("2 passed, 1 failed, 1 skipped"),
        "{text}"
    );

    let passing = dir.path().join("passing.test");
    std::fs::write(&passing, "load 1m\n  m 5\n\neval instant at 0 m\n  m 5\n").unwrap();
    let out = Command::new(BIN)
        .arg("promqltest")
        .arg(&passing)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert_eq!(text.lines().last(), Some("1 passed, 0 failed, 0 skipped"));

    let missing = dir.path().join("missing.test");
    let out = Command::new(BIN)
        .arg("promqltest")
        .arg(&passing)
        .arg(&missing)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "an unreadable file exits 2");
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.test"));
}

#[test]
fn example_rule_and_slo_files_are_valid() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config");
    let out = Command::new(BIN)
        .args(["check", "rules", &format!("{dir}/rules/oxeye.yml")])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("SUCCESS: 2 rules found"));
    let out = Command::new(BIN)
        .args(["slo", "generate", &format!("{dir}/slos/oxeye-api.yml")])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let generated = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(generated.path(), &out.stdout).unwrap();
    let out = Command::new(BIN)
        .args(["check", "rules"])
        .arg(generated.path())
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("SUCCESS: 17 rules found"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
