//! `oxeye test rules` against `promtool test rules` on the corpus under
//! `tests/rules/unit/`: every test file must get the same verdict (exit code) from both.
//! Without promtool the verdicts recorded from it in `expected_verdicts.txt` are used.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::BIN;

const PROMTOOL: &str = "/usr/bin/promtool";

/// Files on which oxeye is known to answer differently from promtool 2.42, and why. The
/// test fails when one of them starts agreeing, so that it leaves this list.
const KNOWN_DIFFERENCES: &[(&str, &str)] = &[(
    "43_rate_closed_window.yml",
    "oxeye-promql's range selectors exclude the sample at the window's start (as \
     Prometheus 3 does); Prometheus 2.42 includes it, so rate(x[1m]) over 1m samples \
     has two points there and none here",
)];

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/rules/unit")
}

/// The test files of the corpus (`NN_name.yml`), sorted.
fn corpus() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().is_some_and(|e| e == "yml")
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(|c: char| c.is_ascii_digit()))
        })
        .collect();
    files.sort();
    files
}

/// Files whose report differs from promtool's although the verdict is the same:
/// their errors quote parser messages (YAML, series notation, PromQL), which are worded
/// differently.
const PARSER_MESSAGES: &[&str] = &[
    "28_invalid_yaml_field.yml",
    "29_invalid_series.yml",
    "30_invalid_rule_file.yml",
    "40_expr_error.yml",
    "42_exp_labels_invalid.yml",
];

/// stdout and stderr of a `test rules` run in the corpus directory.
fn streams(program: &str, name: &str) -> (String, String) {
    let out = Command::new(program)
        .args(["test", "rules", name])
        .current_dir(corpus_dir())
        .output()
        .unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn reports_match_promtool_byte_for_byte() {
    if !Path::new(PROMTOOL).exists() {
        eprintln!("note: {PROMTOOL} is absent; report texts are not compared");
        return;
    }
    let mut same = 0;
    let mut differing = Vec::new();
    let files = corpus();
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        if PARSER_MESSAGES.contains(&name.as_str())
            || KNOWN_DIFFERENCES.iter().any(|(f, _)| *f == name)
        {
            continue;
        }
        let ours = streams(BIN, &name);
        let theirs = streams(PROMTOOL, &name);
        if ours == theirs {
            same += 1;
        } else {
            differing.push(format!(
                "{name}:\n--- oxeye stdout\n{}--- oxeye stderr\n{}--- promtool stdout\n{}--- promtool stderr\n{}",
                ours.0, ours.1, theirs.0, theirs.1
            ));
        }
    }
    eprintln!(
        "oxeye's stdout and stderr are promtool's, byte for byte, on {same} of {} files",
        files.len()
    );
    assert!(differing.is_empty(), "{}", differing.join("\n\n"));
}

fn recorded_verdicts() -> BTreeMap<String, i32> {
    let text = std::fs::read_to_string(corpus_dir().join("expected_verdicts.txt")).unwrap();
    text.lines()
        .filter_map(|l| {
            let (name, code) = l.split_once(' ')?;
            Some((name.to_string(), code.trim().parse().ok()?))
        })
        .collect()
}

fn exit_code(cmd: &mut Command) -> (i32, String) {
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn verdicts_match_promtool_on_every_corpus_file() {
    let files = corpus();
    assert!(files.len() >= 30, "corpus holds {} files", files.len());
    let recorded = recorded_verdicts();
    let have_promtool = Path::new(PROMTOOL).exists();
    if !have_promtool {
        eprintln!("note: {PROMTOOL} is absent; comparing with the recorded promtool verdicts");
    }
    let mut disagreements = Vec::new();
    let mut known_count = 0;
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let (ours, our_text) = exit_code(
            Command::new(BIN)
                .args(["test", "rules"])
                .arg(&name)
                .current_dir(corpus_dir()),
        );
        assert!(
            our_text.starts_with(&format!("Unit Testing:  {name}\n")),
            "{name}: {our_text}"
        );
        let marker = if ours == 0 {
            "  SUCCESS\n"
        } else {
            "  FAILED:\n"
        };
        assert!(our_text.contains(marker), "{name}: {our_text}");
        let theirs = if have_promtool {
            let (code, _) = exit_code(
                Command::new(PROMTOOL)
                    .args(["test", "rules"])
                    .arg(&name)
                    .current_dir(corpus_dir()),
            );
            assert_eq!(
                recorded.get(&name),
                Some(&code),
                "{name}: expected_verdicts.txt is out of date"
            );
            code
        } else {
            *recorded
                .get(&name)
                .unwrap_or_else(|| panic!("{name} has no recorded verdict"))
        };
        let known = KNOWN_DIFFERENCES.iter().find(|(f, _)| *f == name);
        if let Some((_, why)) = known {
            assert_ne!(
                ours, theirs,
                "{name} now agrees with promtool: take it off KNOWN_DIFFERENCES"
            );
            eprintln!("known difference on {name}: {why}");
            known_count += 1;
            continue;
        }
        if ours != theirs {
            disagreements.push(format!(
                "{name}: oxeye exit {ours}, promtool exit {theirs}\n{our_text}"
            ));
        }
    }
    eprintln!(
        "oxeye and promtool agree on {} of {} files ({known_count} known differences)",
        files.len() - disagreements.len() - known_count,
        files.len()
    );
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
}

#[test]
fn several_files_in_one_run_fail_when_one_fails() {
    let dir = corpus_dir();
    let (code, text) = exit_code(
        Command::new(BIN)
            .args([
                "test",
                "rules",
                "17_missing_samples.yml",
                "19_stale_wrong.yml",
                "34_expanding_notation.yml",
            ])
            .current_dir(&dir),
    );
    assert_eq!(code, 1, "{text}");
    assert_eq!(text.matches("  SUCCESS\n").count(), 2, "{text}");
    assert!(
        text.contains(
            "    expr: \"heartbeat\", time: 3m,\n        exp: {__name__=\"heartbeat\", job=\"cron\"} 1E+00\n        got: nil"
        ),
        "{text}"
    );
}
