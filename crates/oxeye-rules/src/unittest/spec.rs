//! The YAML model of a promtool rule unit-test file. Unknown keys are errors, as Go's
//! strict YAML decoding makes them.

use std::collections::BTreeMap;

use serde::Deserialize;

/// A whole test file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestFile {
    /// Rule file globs, relative to the test file's directory.
    #[serde(default)]
    pub rule_files: Vec<String>,
    /// How often the groups are evaluated (default `1m`).
    #[serde(default)]
    pub evaluation_interval: Option<String>,
    /// Group names in the order they are evaluated at each step.
    #[serde(default)]
    pub group_eval_order: Vec<String>,
    /// The test groups.
    #[serde(default)]
    pub tests: Vec<TestGroup>,
}

/// One `tests[]` entry.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestGroup {
    /// Step of the input series (default: the evaluation interval).
    #[serde(default)]
    pub interval: Option<String>,
    /// Series in expanding notation.
    #[serde(default)]
    pub input_series: Vec<InputSeries>,
    /// Alerts expected at given times.
    #[serde(default)]
    pub alert_rule_test: Vec<AlertTest>,
    /// Expressions expected at given times.
    #[serde(default)]
    pub promql_expr_test: Vec<ExprTest>,
    /// Visible to templates as `$externalLabels`.
    #[serde(default)]
    pub external_labels: BTreeMap<String, String>,
    /// Visible to templates as `$externalURL`.
    #[serde(default)]
    pub external_url: Option<String>,
    /// Named in failure reports of alert tests.
    #[serde(default)]
    pub name: Option<String>,
}

/// One input series.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSeries {
    /// `metric{label="value"}`.
    pub series: String,
    /// `1+2x3 _ stale ...`.
    #[serde(default)]
    pub values: Scalar,
}

/// One `alert_rule_test[]` entry.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertTest {
    /// When the alerts are checked.
    #[serde(default)]
    pub eval_time: Option<String>,
    /// The alert checked.
    #[serde(default)]
    pub alertname: String,
    /// The firing alerts expected.
    #[serde(default)]
    pub exp_alerts: Vec<ExpAlert>,
}

/// One expected alert.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpAlert {
    /// Labels besides `alertname`.
    #[serde(default)]
    pub exp_labels: BTreeMap<String, String>,
    /// Expanded annotations.
    #[serde(default)]
    pub exp_annotations: BTreeMap<String, String>,
}

/// One `promql_expr_test[]` entry.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExprTest {
    /// The expression.
    pub expr: String,
    /// When it is evaluated.
    #[serde(default)]
    pub eval_time: Option<String>,
    /// The samples expected (a set).
    #[serde(default)]
    pub exp_samples: Vec<ExpSample>,
}

/// One expected sample.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpSample {
    /// `metric{label="value"}`.
    #[serde(default)]
    pub labels: String,
    /// The value.
    #[serde(default)]
    pub value: f64,
}

/// A YAML scalar read as text (`values: 1` is as valid as `values: "1 2"`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(untagged)]
pub enum Scalar {
    /// Nothing given.
    #[default]
    Empty,
    /// Text.
    Text(String),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
}

impl Scalar {
    /// The scalar as text.
    pub fn text(&self) -> String {
        match self {
            Scalar::Empty => String::new(),
            Scalar::Text(s) => s.clone(),
            Scalar::Int(n) => n.to_string(),
            Scalar::Float(f) => f.to_string(),
        }
    }
}
