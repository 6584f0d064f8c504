//! The `prometheus/v1` spec: YAML model, loading and validation.
//!
//! Loading follows Sloth: the `version` must be `prometheus/v1`, at least one SLO is
//! required, and every SLO is checked (names, objective, SLI queries with their
//! `{{.window}}` variable, alert labels and annotations) with messages in Sloth's words.
//! SLI plugins are Go code Sloth loads at run time; oxeye has no plugin runtime and
//! rejects them with a message saying so.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::RulesError;

/// The only spec version understood.
pub const VERSION: &str = "prometheus/v1";

/// A whole spec file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Must be `prometheus/v1`.
    #[serde(default)]
    pub version: String,
    /// The service the SLOs belong to (`sloth_service`).
    #[serde(default)]
    pub service: String,
    /// Labels added to every generated rule.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// SLO plugin chains: Go plugins, not supported.
    #[serde(default)]
    pub slo_plugins: Option<serde_json::Value>,
    /// The SLOs.
    #[serde(default)]
    pub slos: Vec<SloSpec>,
}

/// One `slos[]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SloSpec {
    /// `sloth_slo`; the id is `<service>-<name>`.
    #[serde(default)]
    pub name: String,
    /// Free text shown by `/api/v1/slos`.
    #[serde(default)]
    pub description: String,
    /// Target in percent, e.g. `99.9`.
    #[serde(default)]
    pub objective: f64,
    /// SLO plugin chain: Go plugins, not supported.
    #[serde(default)]
    pub plugins: Option<serde_json::Value>,
    /// Labels of this SLO's rules (win over the spec's).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// How errors are measured.
    #[serde(default)]
    pub sli: SliSpec,
    /// The alerts.
    #[serde(default)]
    pub alerting: AlertingSpec,
}

/// `sli`: exactly one of `events`, `raw` (or `plugin`, rejected).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SliSpec {
    /// An error ratio query.
    #[serde(default)]
    pub raw: Option<SliRaw>,
    /// Error and total event queries.
    #[serde(default)]
    pub events: Option<SliEvents>,
    /// A Go SLI plugin.
    #[serde(default)]
    pub plugin: Option<serde_json::Value>,
}

/// `sli.raw`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SliRaw {
    /// The error ratio (0..1) over `{{.window}}`; Sloth's examples also spell it
    /// `errorRatioQuery`.
    #[serde(default, alias = "errorRatioQuery")]
    pub error_ratio_query: String,
}

/// `sli.events`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SliEvents {
    /// Rate of bad events over `{{.window}}` (also `errorQuery`).
    #[serde(default, alias = "errorQuery")]
    pub error_query: String,
    /// Rate of all events over `{{.window}}` (also `totalQuery`).
    #[serde(default, alias = "totalQuery")]
    pub total_query: String,
}

/// `alerting`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertingSpec {
    /// Name of both alerts.
    #[serde(default)]
    pub name: String,
    /// Labels of both alerts.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Annotations of both alerts.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// The fast-burn alert.
    #[serde(default)]
    pub page_alert: AlertSpec,
    /// The slow-burn alert.
    #[serde(default)]
    pub ticket_alert: AlertSpec,
}

/// `page_alert` / `ticket_alert`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertSpec {
    /// Generate no rule for this alert.
    #[serde(default)]
    pub disable: bool,
    /// Labels (win over `alerting.labels`).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Annotations (win over `alerting.annotations`).
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

/// The SLI of one SLO.
#[derive(Debug, Clone, PartialEq)]
pub enum Sli {
    /// `events`: error query and total query templates.
    Events {
        /// Bad events.
        error_query: String,
        /// All events.
        total_query: String,
    },
    /// `raw`: an error ratio query template.
    Raw {
        /// Error ratio.
        error_ratio_query: String,
    },
}

/// One alert after the spec's shared and per-alert settings are merged.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertMeta {
    /// The alert name.
    pub name: String,
    /// Merged labels.
    pub labels: BTreeMap<String, String>,
    /// Merged annotations.
    pub annotations: BTreeMap<String, String>,
}

/// One validated SLO, ready for rule generation.
#[derive(Debug, Clone, PartialEq)]
pub struct Slo {
    /// `<service>-<name>`.
    pub id: String,
    /// `sloth_slo`.
    pub name: String,
    /// `sloth_service`.
    pub service: String,
    /// Free text.
    pub description: String,
    /// Percent.
    pub objective: f64,
    /// Spec labels merged with the SLO's.
    pub labels: BTreeMap<String, String>,
    /// How errors are measured.
    pub sli: Sli,
    /// The page alert unless disabled.
    pub page_alert: Option<AlertMeta>,
    /// The ticket alert unless disabled.
    pub ticket_alert: Option<AlertMeta>,
}

/// Parses and validates a spec's YAML into its SLOs.
pub fn load(text: &str) -> Result<Vec<Slo>, RulesError> {
    if text.trim().is_empty() {
        return Err(RulesError::Invalid("spec is required".into()));
    }
    let spec: Spec = serde_saphyr::from_str(text).map_err(|e| {
        RulesError::Invalid(format!("could not unmarshal YAML spec correctly: {e}"))
    })?;
    if spec.version != VERSION {
        return Err(RulesError::Invalid(format!(
            "invalid spec version {:?}, should be {VERSION:?}",
            spec.version
        )));
    }
    if spec.slos.is_empty() {
        return Err(RulesError::Invalid("at least one SLO is required".into()));
    }
    if spec.slo_plugins.is_some() {
        return Err(RulesError::Invalid(
            "slo_plugins are not supported: SLO plugins are Go code oxeye cannot load".into(),
        ));
    }
    let mut out = Vec::with_capacity(spec.slos.len());
    let mut seen = std::collections::BTreeSet::new();
    for s in &spec.slos {
        let slo = map_slo(&spec, s)?;
        validate(&slo).map_err(|e| {
            RulesError::Invalid(format!("invalid SLO group: slo {:?}: {e}", slo.id))
        })?;
        if !seen.insert(slo.id.clone()) {
            return Err(RulesError::Invalid(format!(
                "invalid SLO group: slo {:?} is defined twice",
                slo.id
            )));
        }
        out.push(slo);
    }
    Ok(out)
}

fn merged(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut m = a.clone();
    m.extend(b.iter().map(|(k, v)| (k.clone(), v.clone())));
    m
}

fn map_slo(spec: &Spec, s: &SloSpec) -> Result<Slo, RulesError> {
    let id = format!("{}-{}", spec.service, s.name);
    if s.plugins.is_some() {
        return Err(RulesError::Invalid(format!(
            "slo {id:?}: plugins are not supported: SLO plugins are Go code oxeye cannot load"
        )));
    }
    let sli = match (&s.sli.events, &s.sli.raw, &s.sli.plugin) {
        (_, _, Some(_)) => {
            return Err(RulesError::Invalid(format!(
                "slo {id:?}: sli.plugin is not supported: SLI plugins are Go code oxeye cannot \
                 load; write the query as sli.raw.error_ratio_query or sli.events"
            )));
        }
        (Some(_), Some(_), None) => {
            return Err(RulesError::Invalid(format!(
                "invalid SLO group: slo {id:?}: invalid SLI: only one SLI type is allowed"
            )));
        }
        (Some(e), None, None) => Sli::Events {
            error_query: e.error_query.clone(),
            total_query: e.total_query.clone(),
        },
        (None, Some(r), None) => Sli::Raw {
            error_ratio_query: r.error_ratio_query.clone(),
        },
        (None, None, None) => {
            return Err(RulesError::Invalid(format!(
                "invalid SLO group: slo {id:?}: invalid SLI: at least one SLI type is required"
            )));
        }
    };
    let a = &s.alerting;
    let alert = |x: &AlertSpec| {
        (!x.disable).then(|| AlertMeta {
            name: a.name.clone(),
            labels: merged(&a.labels, &x.labels),
            annotations: merged(&a.annotations, &x.annotations),
        })
    };
    Ok(Slo {
        id,
        name: s.name.clone(),
        service: spec.service.clone(),
        description: s.description.clone(),
        objective: s.objective,
        labels: merged(&spec.labels, &s.labels),
        sli,
        page_alert: alert(&a.page_alert),
        ticket_alert: alert(&a.ticket_alert),
    })
}

/// Sloth's safe names: alphanumeric at both ends, `-`, `_`, `.` inside.
fn valid_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("is required".into());
    }
    let bytes = name.as_bytes();
    let inner_ok = bytes
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    let ends_ok = bytes.len() >= 2
        && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric);
    if !inner_ok || !ends_ok {
        return Err(
            "name must start and end with an alphanumeric and can only contain alphanumeric, \
             '.', '_', and '-'"
                .into(),
        );
    }
    Ok(())
}

fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Whether `query` uses the `{{.window}}` variable (spaces allowed inside the braces).
pub(crate) fn has_window_var(query: &str) -> bool {
    window_regex().is_match(query)
}

pub(crate) fn window_regex() -> &'static regex::Regex {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| {
        // a literal pattern: cannot fail to compile
        regex::Regex::new(r"\{\{ *\.window *\}\}").unwrap_or_else(|_| unreachable!())
    })
}

fn valid_query(what: &str, query: &str) -> Result<(), String> {
    if query.is_empty() {
        return Err(format!("{what} query template: query template is required"));
    }
    if !has_window_var(query) {
        return Err(format!(
            "{what} query template: template must contain the {{{{ .window }}}} variable"
        ));
    }
    let rendered = super::rules::render_window(query, "5m")
        .map_err(|e| format!("{what} query template: {e}"))?;
    promql_parser::parser::parse(&rendered)
        .map_err(|e| format!("{what} query expression: invalid PromQL {rendered:?}: {e}"))?;
    Ok(())
}

fn valid_labels(kind: &str, labels: &BTreeMap<String, String>) -> Result<(), String> {
    for k in labels.keys() {
        if !valid_label_name(k) {
            return Err(format!(
                "invalid {kind} label key {k:?}: not a valid Prometheus label name"
            ));
        }
    }
    Ok(())
}

fn validate(slo: &Slo) -> Result<(), String> {
    valid_name(&slo.id).map_err(|e| format!("invalid SLO ID: {e}"))?;
    valid_name(&slo.name).map_err(|e| format!("invalid SLO name: {e}"))?;
    valid_name(&slo.service).map_err(|e| format!("invalid SLO service: {e}"))?;
    if !(slo.objective > 0.0 && slo.objective <= 100.0) {
        return Err(format!(
            "objective must >0 and <=100, got {}",
            super::rules::go_float(slo.objective)
        ));
    }
    valid_labels("SLO", &slo.labels)?;
    let sli = match &slo.sli {
        Sli::Events {
            error_query,
            total_query,
        } => {
            if error_query == total_query {
                Err("both error and total queries can't be the same".to_string())
            } else {
                valid_query("sli error", error_query)
                    .and_then(|()| valid_query("sli total", total_query))
            }
        }
        Sli::Raw { error_ratio_query } => valid_query("sli raw", error_ratio_query),
    };
    sli.map_err(|e| format!("invalid SLI: {e}"))?;
    for (kind, alert) in [("page", &slo.page_alert), ("ticket", &slo.ticket_alert)] {
        let Some(a) = alert else { continue };
        let check = || -> Result<(), String> {
            if a.name.is_empty() {
                return Err("alert name is required".into());
            }
            valid_labels("alert", &a.labels)?;
            for k in a.annotations.keys() {
                if !valid_label_name(k) {
                    return Err(format!(
                        "invalid alert annotation key {k:?}: not a valid Prometheus label name"
                    ));
                }
            }
            Ok(())
        };
        check().map_err(|e| format!("invalid alert: {kind} alert: {e}"))?;
    }
    Ok(())
}
