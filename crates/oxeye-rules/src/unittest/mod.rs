//! `oxeye test rules`: promtool's rule unit-test format.
//!
//! A test file names `rule_files`, an `evaluation_interval`, a `group_eval_order` and
//! `tests`, each with `interval`, `input_series` in expanding notation (`1+2x3`, `_`,
//! `stale`), `external_labels`, `alert_rule_test` (alerts expected at an `eval_time`) and
//! `promql_expr_test` (expressions expected at an `eval_time`). Series load into an
//! in-memory store, the groups evaluate every `evaluation_interval` from 0, and each
//! expectation is checked. Output and exit codes follow promtool.

use std::io::Write;
use std::path::PathBuf;

/// Runs the test files, writing promtool's report to `out`; returns the exit code (0 all
/// passed, 1 a test failed or a file is invalid).
pub fn run(files: &[PathBuf], out: &mut dyn Write) -> i32 {
    let _ = (files, out);
    1
}
