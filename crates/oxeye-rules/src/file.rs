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

mod validate;

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

/// Parses one group (the body of a ruler-API `POST`).
pub fn parse_group(text: &str) -> Result<RuleGroupSpec, RulesError> {
    serde_saphyr::from_str(text).map_err(|e| RulesError::Invalid(e.to_string()))
}

/// Rule files, groups or namespace maps as YAML.
pub fn to_yaml<T: Serialize>(value: &T) -> Result<String, RulesError> {
    serde_saphyr::to_string(value).map_err(|e| RulesError::Io(format!("cannot encode rules: {e}")))
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
    validate::validate_file(file, language)
}

/// Rules defined twice in a file (same `record`/`alert` name and labels), as
/// `promtool check rules`'s lint reports them: each duplicated name with its labels.
pub fn duplicate_rules(file: &RuleFile) -> Vec<(String, BTreeMap<String, String>)> {
    let mut seen: Vec<(String, BTreeMap<String, String>)> = file
        .groups
        .iter()
        .flat_map(|g| g.rules.iter())
        .filter_map(|r| {
            let name = r.record.as_deref().or(r.alert.as_deref())?;
            Some((name.to_string(), r.labels.clone()))
        })
        .collect();
    seen.sort();
    let mut out: Vec<(String, BTreeMap<String, String>)> = seen
        .windows(2)
        .filter(|w| w[0] == w[1])
        .map(|w| w[0].clone())
        .collect();
    out.dedup();
    out
}

/// Parses a Prometheus duration (`1h30m`, `5m`, `0s`, `1d`, `2w`, `1y`) into ms, with
/// promtool's error texts.
pub fn parse_duration(s: &str) -> Result<i64, RulesError> {
    use oxeye_core::duration::{DurationError, parse_duration_ms};
    parse_duration_ms(s).map_err(|e| match e {
        DurationError::Empty => RulesError::Invalid("empty duration string".into()),
        DurationError::Invalid => {
            RulesError::Invalid(format!("not a valid duration string: {s:?}"))
        }
        DurationError::OutOfRange => RulesError::Invalid(format!("duration out of range: {s:?}")),
    })
}

/// Formats ms as Prometheus prints durations (`1h30m`, `5m`, `0s`).
pub fn format_duration(ms: i64) -> String {
    oxeye_core::duration::format_duration_ms(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_like_prometheus() {
        assert_eq!(parse_duration("0").unwrap(), 0);
        assert_eq!(parse_duration("0s").unwrap(), 0);
        assert_eq!(parse_duration("5m").unwrap(), 300_000);
        assert_eq!(parse_duration("1h30m").unwrap(), 5_400_000);
        assert_eq!(parse_duration("1d").unwrap(), 86_400_000);
        assert_eq!(parse_duration("2w").unwrap(), 14 * 86_400_000);
        assert_eq!(parse_duration("1y").unwrap(), 365 * 86_400_000);
        assert_eq!(parse_duration("1m500ms").unwrap(), 60_500);
        assert_eq!(parse_duration("250ms").unwrap(), 250);
        for bad in [
            "", "5", "m", "1m1h", "1s1s", "1.5m", "-1m", "1 m", "5x", "1ms1s",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} must be rejected");
        }
        assert_eq!(
            parse_duration("5x").unwrap_err().to_string(),
            "not a valid duration string: \"5x\""
        );
    }

    #[test]
    fn durations_format_like_prometheus() {
        assert_eq!(format_duration(0), "0s");
        assert_eq!(format_duration(5_400_000), "1h30m");
        assert_eq!(format_duration(60_500), "1m500ms");
        assert_eq!(format_duration(86_400_000), "1d");
        for ms in [1, 999, 61_000, 90_061_001] {
            assert_eq!(parse_duration(&format_duration(ms)).unwrap(), ms);
        }
    }
}
