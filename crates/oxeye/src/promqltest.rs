//! `oxeye promqltest FILE...`: runs promqltest scripts against the PromQL engine.
//!
//! Each file is read and run with [`oxeye_promql::promqltest::run_script`]; every failing
//! eval is printed as `file:line: query` with expected vs got, then one count line per
//! file, the skip reasons, and the total `N passed, M failed, K skipped`.
//! Exit code: 0 when nothing failed, 1 when a case failed, 2 when a file could not be read
//! or is not a valid script.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use oxeye_promql::promqltest::{Outcome, run_script, test_engine};

/// Runs `files` and prints the report to `out`; returns the process exit code.
pub fn run(files: &[PathBuf], out: &mut dyn Write) -> ExitCode {
    let engine = test_engine();
    let (mut passed, mut failed, mut skipped) = (0usize, 0usize, 0usize);
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    let mut unreadable = false;
    // Write errors on stdout (e.g. a closed pipe) cannot be reported anywhere useful.
    for file in files {
        let name = file.display();
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("{name}: cannot read: {e}");
                unreadable = true;
                continue;
            }
        };
        let report = match run_script(&text, &engine) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("{name}: invalid test script: {e}");
                unreadable = true;
                continue;
            }
        };
        for case in &report.cases {
            if let Outcome::Failed(msg) = &case.outcome {
                let _ = writeln!(out, "FAILED {name}:{}: {}", case.line, case.expr);
                for line in msg.lines() {
                    let _ = writeln!(out, "    {line}");
                }
            }
        }
        let _ = writeln!(
            out,
            "{name}: {} passed, {} failed, {} skipped",
            report.passed(),
            report.failed(),
            report.skipped()
        );
        for (reason, n) in report.skip_reasons() {
            *reasons.entry(reason.to_string()).or_insert(0) += n;
        }
        passed += report.passed();
        failed += report.failed();
        skipped += report.skipped();
    }
    for (reason, n) in &reasons {
        let _ = writeln!(out, "skipped {n}: {reason}");
    }
    let _ = writeln!(out, "{passed} passed, {failed} failed, {skipped} skipped");
    if unreadable {
        ExitCode::from(2)
    } else if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
