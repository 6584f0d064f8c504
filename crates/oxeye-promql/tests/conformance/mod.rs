//! Runs Prometheus's own promqltest files (`shared/promqltest/*.test`, found by walking up
//! from this crate to a directory holding `shared/`) through the library runner.
//!
//! Prints per-file counts and the skip reasons (native histograms only). Fails on any
//! failing case, printing each with expected vs got; set `PROMQLTEST_VERBOSE=1` to also
//! list the skipped cases.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use oxeye_promql::promqltest::{Outcome, Report, run_script, test_engine};

/// The `shared/promqltest` directory next to the workspace (or any ancestor).
fn promqltest_dir() -> Option<PathBuf> {
    let mut dir: Option<&Path> = Some(Path::new(env!("CARGO_MANIFEST_DIR")));
    while let Some(d) = dir {
        let candidate = d.join("shared").join("promqltest");
        if candidate.is_dir() {
            return Some(candidate);
        }
        dir = d.parent();
    }
    None
}

#[test]
fn prometheus_promqltest_files() {
    let Some(dir) = promqltest_dir() else {
        // The files live beside the repository, not in it; a checkout elsewhere cannot
        // run them.
        eprintln!(
            "skipped: no shared/promqltest directory in any ancestor of {}",
            env!("CARGO_MANIFEST_DIR")
        );
        return;
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("promqltest directory is readable")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "test"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .test files in {}", dir.display());
    let verbose = std::env::var_os("PROMQLTEST_VERBOSE").is_some();
    let engine = test_engine();
    let mut over: Vec<String> = Vec::new();
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    for file in &files {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let text = std::fs::read_to_string(file).expect("test file is readable");
        let report: Report = run_script(&text, &engine)
            .unwrap_or_else(|e| panic!("{name}: script does not parse: {e}"));
        println!(
            "{name}: {} passed, {} failed, {} skipped",
            report.passed(),
            report.failed(),
            report.skipped()
        );
        for c in &report.cases {
            match &c.outcome {
                Outcome::Failed(msg) => {
                    let line = format!(
                        "{name}:{}: {}\n    {}",
                        c.line,
                        c.expr,
                        msg.replace('\n', "\n    ")
                    );
                    println!("  FAILED {line}");
                    over.push(line);
                }
                Outcome::Skipped(r) if verbose => {
                    println!("  skipped {name}:{}: {} ({r})", c.line, c.expr)
                }
                Outcome::Skipped(_) | Outcome::Passed => {}
            }
        }
        for (r, n) in report.skip_reasons() {
            *reasons.entry(r.to_string()).or_insert(0) += n;
        }
        passed += report.passed();
        failed += report.failed();
        skipped += report.skipped();
    }
    for (r, n) in &reasons {
        println!("skipped {n}: {r}");
    }
    println!("{passed} passed, {failed} failed, {skipped} skipped");
    assert!(passed > 0, "no case passed");
    assert!(
        over.is_empty(),
        "{} promqltest cases failed:\n{}",
        over.len(),
        over.join("\n")
    );
}
