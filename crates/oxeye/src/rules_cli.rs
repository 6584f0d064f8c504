//! Rule tooling on the command line: `oxeye check rules` (promtool's checks and output),
//! `oxeye test rules` (promtool's unit-test format) and `oxeye slo generate` (the rules of
//! a Sloth SLO spec as a rule file).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// `oxeye check rules FILE...`: prints promtool's report; exit 1 when a file is invalid.
pub fn check_rules(files: &[PathBuf], logql: bool, out: &mut dyn Write) -> ExitCode {
    let _ = (files, logql, out);
    ExitCode::FAILURE
}

/// `oxeye test rules FILE...`.
pub fn test_rules(files: &[PathBuf], out: &mut dyn Write) -> ExitCode {
    ExitCode::from(oxeye_rules::unittest::run(files, out).clamp(0, 255) as u8)
}

/// `oxeye slo generate FILE`: prints the generated rule file as YAML.
pub fn slo_generate(file: &std::path::Path, out: &mut dyn Write) -> ExitCode {
    let _ = (file, out);
    ExitCode::FAILURE
}
