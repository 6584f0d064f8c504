//! A runner for Prometheus's promqltest script format.
//!
//! Data flow: [`parse::parse_script`] turns the text into commands; `load` commands put
//! float samples into a [`MemStore`] (native-histogram series are only remembered by their
//! labels), `clear` empties it, and every `eval` runs through the [`Engine`] and is
//! compared with its expectations the way Prometheus's own runner compares them: values
//! equal within a relative 1e-6 (NaN equals NaN, a stale marker only another), exact
//! sample timestamps for range results, annotations checked only when `expect` lines ask.
//! An instant eval is also re-run as a range query around its time, and its middle step
//! must give the same answer.
//!
//! A case is skipped, with a reason, only when it needs native histograms (its query
//! selects a native-histogram series, or its expected output holds one) or experimental
//! syntax the PromQL parser does not accept. Everything else passes or fails; a query the
//! engine does not support fails.

mod at;
mod check;
mod labels;
pub mod parse;
mod store;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;

use oxeye_core::{Labels, StatusCode, TenantId};

pub use parse::{Command, Eval, Expect, ExpectKind, Load, MessageMatch, Point, SeriesDesc};
pub use store::MemStore;

use crate::Engine;

/// A script that does not follow the promqltest format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ScriptError {
    /// 1-based line of the offending text.
    pub line: usize,
    /// What is wrong with it.
    pub message: String,
}

impl ScriptError {
    /// How an API would answer this error: the script is bad input.
    pub fn status_code(&self) -> StatusCode {
        StatusCode::BadData
    }
}

/// Why a case was not run.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SkipReason {
    /// The query selects series loaded with native-histogram samples (`{{...}}`).
    NativeHistogramData,
    /// The query selects native histograms with custom buckets made by `load_with_nhcb`.
    CustomBucketHistogramData,
    /// The expected result holds native-histogram samples.
    NativeHistogramExpected,
    /// The query uses experimental syntax the parser does not accept.
    Experimental(String),
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::NativeHistogramData => {
                f.write_str("native histogram: query selects native-histogram series")
            }
            SkipReason::CustomBucketHistogramData => f.write_str(
                "native histogram: query selects custom-bucket histograms (load_with_nhcb)",
            ),
            SkipReason::NativeHistogramExpected => {
                f.write_str("native histogram: expected result holds native histograms")
            }
            SkipReason::Experimental(what) => write!(f, "experimental syntax not parsed: {what}"),
        }
    }
}

/// What happened to one eval.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Result and expectations agree.
    Passed,
    /// They do not; the text says how (expected vs got).
    Failed(String),
    /// Not run.
    Skipped(SkipReason),
}

/// One eval's outcome.
#[derive(Debug, Clone)]
pub struct CaseResult {
    /// 1-based line of the eval command.
    pub line: usize,
    /// The query.
    pub expr: String,
    /// What happened.
    pub outcome: Outcome,
}

/// The outcome of every eval in one script.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// In script order.
    pub cases: Vec<CaseResult>,
}

impl Report {
    /// Cases that passed.
    pub fn passed(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Passed))
    }

    /// Cases that failed.
    pub fn failed(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Failed(_)))
    }

    /// Cases skipped.
    pub fn skipped(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Skipped(_)))
    }

    fn count(&self, f: impl Fn(&Outcome) -> bool) -> usize {
        self.cases.iter().filter(|c| f(&c.outcome)).count()
    }

    /// Skipped cases per reason.
    pub fn skip_reasons(&self) -> BTreeMap<SkipReason, usize> {
        let mut out = BTreeMap::new();
        for c in &self.cases {
            if let Outcome::Skipped(r) = &c.outcome {
                *out.entry(r.clone()).or_insert(0) += 1;
            }
        }
        out
    }

    /// The failed cases.
    pub fn failures(&self) -> impl Iterator<Item = &CaseResult> {
        self.cases
            .iter()
            .filter(|c| matches!(c.outcome, Outcome::Failed(_)))
    }
}

/// Where loaded series live and which of them are native histograms.
#[derive(Default)]
struct State {
    store: MemStore,
    /// Series with native-histogram samples: kept out of the store, remembered to skip
    /// the queries that select them.
    histograms: Vec<Labels>,
    /// Custom-bucket histograms `load_with_nhcb` would have made.
    nhcb: Vec<Labels>,
}

impl State {
    fn load(&mut self, load: &Load) {
        for s in &load.series {
            if s.points.contains(&Point::Histogram) {
                self.histograms.push(s.labels.clone());
                continue;
            }
            let samples = s.points.iter().enumerate().filter_map(|(i, p)| match p {
                Point::Float(v) => Some(oxeye_core::Sample::new(i as i64 * load.interval, *v)),
                Point::Omitted | Point::Histogram => None,
            });
            self.store.add(s.labels.clone(), samples);
            if load.with_nhcb
                && let Some(base) = nhcb_base(&s.labels)
            {
                self.nhcb.push(base);
            }
        }
    }
}

/// The labels of the custom-bucket histogram a classic `_bucket`/`_count`/`_sum` series
/// is folded into: the suffix dropped from the name, and the `le` label dropped.
fn nhcb_base(labels: &Labels) -> Option<Labels> {
    let name = labels.metric_name()?;
    let base = ["_bucket", "_count", "_sum"]
        .iter()
        .find_map(|suf| name.strip_suffix(suf))?;
    if name.ends_with("_bucket") && labels.get("le").is_none() {
        return None;
    }
    let mut b = labels.builder();
    b.set(oxeye_core::METRIC_NAME, base).del("le");
    Some(b.build())
}

/// Runs a whole script with `engine`.
pub fn run_script(text: &str, engine: &Engine) -> Result<Report, ScriptError> {
    let cmds = parse::parse_script(text)?;
    let tenant = TenantId::new("promqltest").map_err(|e| ScriptError {
        line: 0,
        message: format!("tenant id rejected: {e}"),
    })?;
    let mut state = State::default();
    let mut report = Report::default();
    for cmd in &cmds {
        match cmd {
            Command::Clear => state = State::default(),
            Command::Load(load) => state.load(load),
            Command::Eval(ev) => {
                let outcome = check::run_eval(engine, &tenant, &state, ev);
                report.cases.push(CaseResult {
                    line: ev.line,
                    expr: ev.expr.clone(),
                    outcome,
                });
            }
        }
    }
    Ok(report)
}

/// The engine configured as Prometheus's test runner configures its engine
/// (5m lookback, 100s timeout).
pub fn test_engine() -> Engine {
    Engine {
        lookback_ms: 300_000,
        timeout: Some(std::time::Duration::from_secs(100)),
        ..Engine::default()
    }
}
