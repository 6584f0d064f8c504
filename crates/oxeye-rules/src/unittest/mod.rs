//! `oxeye test rules`: promtool's rule unit-test format.
//!
//! A test file names `rule_files`, an `evaluation_interval`, a `group_eval_order` and
//! `tests`, each with `interval`, `input_series` in expanding notation (`1+2x3`, `_`,
//! `stale`), `external_labels`, `alert_rule_test` (alerts expected at an `eval_time`) and
//! `promql_expr_test` (expressions expected at an `eval_time`). Series load into an
//! in-memory store, the groups evaluate every `evaluation_interval` from 0, and each
//! expectation is checked. Output and exit codes follow promtool.
//!
//! [`spec`] is the file's YAML model, `exec` runs one test group, `format` renders
//! promtool's report.

mod exec;
mod format;
pub mod spec;

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::file::parse_duration;

/// Runs the test files, writing promtool's report to `out`; returns the exit code (0 all
/// passed, 1 a test failed or a file is invalid).
pub fn run(files: &[PathBuf], out: &mut dyn Write) -> i32 {
    run_streams(files, &mut Streams { out, err: None })
}

/// [`run`] with promtool's two streams: headings and verdicts to `out`, failures and
/// warnings to `err` (with a blank line on `out` for each failure, as promtool prints).
pub fn run_split(files: &[PathBuf], out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    run_streams(
        files,
        &mut Streams {
            out,
            err: Some(err),
        },
    )
}

/// Where the report goes: one stream, or promtool's stdout/stderr split.
struct Streams<'a> {
    out: &'a mut dyn Write,
    err: Option<&'a mut dyn Write>,
}

impl Streams<'_> {
    fn out(&mut self, line: &str) {
        let _ = writeln!(self.out, "{line}");
    }

    fn err(&mut self, line: &str) {
        let w: &mut dyn Write = match &mut self.err {
            Some(e) => &mut **e,
            None => &mut *self.out,
        };
        let _ = writeln!(w, "{line}");
    }
}

fn run_streams(files: &[PathBuf], s: &mut Streams<'_>) -> i32 {
    let mut failed = false;
    for f in files {
        s.out(&format!("Unit Testing:  {}", f.display()));
        let mut warnings = Vec::new();
        let errs = run_file(f, &mut warnings);
        for w in warnings {
            s.err(&w);
        }
        if errs.is_empty() {
            s.out("  SUCCESS");
        } else {
            failed = true;
            s.err("  FAILED:");
            for e in &errs {
                s.err(e);
                if s.err.is_some() {
                    s.out("");
                }
            }
        }
        s.out("");
    }
    i32::from(failed)
}

/// Runs one file; the failures found (empty: every test passed). Warnings (a rule file
/// pattern matching nothing) are added to `warnings`.
pub fn run_file(path: &Path, warnings: &mut Vec<String>) -> Vec<String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => return vec![format!("cannot read {}: {e}", path.display())],
    };
    let file: spec::TestFile = match serde_saphyr::from_str(&text) {
        Ok(f) => f,
        Err(e) => {
            // The parser's first line says what and where; the rest is a source excerpt.
            let e = e.to_string();
            let first = e.lines().next().unwrap_or("invalid yaml");
            return vec![format!("{}: {first}", path.display())];
        }
    };
    let eval_interval_ms = match &file.evaluation_interval {
        None => 60_000,
        Some(s) => match parse_duration(s) {
            Ok(0) => return vec![format!("evaluation_interval: must be positive: {s:?}")],
            Err(e) => return vec![format!("evaluation_interval: {e}")],
            Ok(ms) => ms,
        },
    };
    for (i, name) in file.group_eval_order.iter().enumerate() {
        if file
            .group_eval_order
            .get(..i)
            .is_some_and(|seen| seen.contains(name))
        {
            return vec![format!("group name repeated in evaluation order: {name}")];
        }
    }
    let base = path.parent().unwrap_or(Path::new("."));
    let mut rule_files = Vec::new();
    for pattern in &file.rule_files {
        match crate::file::expand_globs(std::slice::from_ref(pattern), base) {
            Ok(found) if found.is_empty() => {
                warnings.push(format!("  WARNING: no file match pattern {pattern}"));
            }
            Ok(found) => rule_files.extend(found),
            Err(e) => return vec![e.to_string()],
        }
    }
    let ctx = exec::FileContext {
        eval_interval_ms,
        group_order: &file.group_eval_order,
        rule_files: &rule_files,
    };
    let mut errs = Vec::new();
    for tg in &file.tests {
        errs.extend(exec::run_group(tg, &ctx));
    }
    errs
}

#[cfg(test)]
mod tests;
