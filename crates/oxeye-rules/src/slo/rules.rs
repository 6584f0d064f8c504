//! The rules Sloth generates for one SLO, with its names, labels and expression text.
//!
//! Three groups per SLO: `sloth-slo-sli-recordings-<id>` (the error ratio over the seven
//! alert windows from the SLI queries, and over the 30-day period as the mean of the 5m
//! ratio), `sloth-slo-meta-recordings-<id>` (objective, budget, period, burn rates, budget
//! remaining, `sloth_slo_info`) and `sloth-slo-alerts-<id>` (the multi-window
//! multi-burn-rate page and ticket alerts of Google's SRE workbook). Numbers are printed
//! the way Go's `%g`/`%v` prints them so the text equals Sloth's output.

use std::collections::BTreeMap;

use super::spec::{AlertMeta, Sli, Slo};
use crate::RulesError;
use crate::file::{RuleGroupSpec, RuleSpec};

/// The SLO period (Sloth's default and the only one its `prometheus/v1` CLI uses here).
pub const PERIOD: &str = "30d";
const PERIOD_HOURS: f64 = 30.0 * 24.0;

/// The alert windows in Sloth's order (short, then long).
pub const WINDOWS: [&str; 7] = ["5m", "30m", "1h", "2h", "6h", "1d", "3d"];

/// Value of `sloth_mode` on `sloth_slo_info`: rules generated from a CLI spec.
pub const MODE: &str = "cli-gen-prom";
/// Value of `sloth_version` on `sloth_slo_info`.
pub const VERSION_LABEL: &str = concat!("oxeye-", env!("CARGO_PKG_VERSION"));

/// One multi-window alert condition: budget share consumed over the long window.
struct Mwmb {
    short: &'static str,
    long: &'static str,
    long_hours: f64,
    budget_percent: f64,
}

impl Mwmb {
    /// Sloth's burn factor: hours of the period the share would take, per long window hour.
    fn factor(&self) -> f64 {
        let hours_required = self.budget_percent * PERIOD_HOURS / 100.0;
        hours_required / self.long_hours
    }
}

const PAGE_QUICK: Mwmb = Mwmb {
    short: "5m",
    long: "1h",
    long_hours: 1.0,
    budget_percent: 2.0,
};
const PAGE_SLOW: Mwmb = Mwmb {
    short: "30m",
    long: "6h",
    long_hours: 6.0,
    budget_percent: 5.0,
};
const TICKET_QUICK: Mwmb = Mwmb {
    short: "2h",
    long: "1d",
    long_hours: 24.0,
    budget_percent: 10.0,
};
const TICKET_SLOW: Mwmb = Mwmb {
    short: "6h",
    long: "3d",
    long_hours: 72.0,
    budget_percent: 10.0,
};

/// `slo:sli_error:ratio_rate<window>`.
pub fn sli_metric(window: &str) -> String {
    format!("slo:sli_error:ratio_rate{window}")
}

/// Formats like Go's `%v` for a float64 (`%g` with the shortest round-trip digits):
/// exponent form when the decimal exponent is below -4 or at least 6.
pub fn go_float(v: f64) -> String {
    if !v.is_finite() {
        return if v.is_nan() {
            "NaN".into()
        } else if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    if v == 0.0 {
        return "0".into();
    }
    let sci = format!("{v:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exp.unsigned_abs());
    }
    format!("{v}")
}

/// Go's `%q` of a label value.
fn go_quote(v: &str) -> String {
    let mut out = String::with_capacity(v.len() + 2);
    out.push('"');
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `sloth_id`, `sloth_service`, `sloth_slo`.
fn id_labels(slo: &Slo) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("sloth_id".to_string(), slo.id.clone()),
        ("sloth_service".to_string(), slo.service.clone()),
        ("sloth_slo".to_string(), slo.name.clone()),
    ])
}

/// `{sloth_id="…", sloth_service="…", sloth_slo="…"}` as Prometheus's `LabelSet.String`.
pub fn id_filter(slo: &Slo) -> String {
    let parts: Vec<String> = id_labels(slo)
        .iter()
        .map(|(k, v)| format!("{k}={}", go_quote(v)))
        .collect();
    format!("{{{}}}", parts.join(", "))
}

/// Substitutes `{{.window}}`; any other template action is an error, as Sloth's
/// `missingkey=error` template would fail on it.
pub fn render_window(template: &str, window: &str) -> Result<String, RulesError> {
    let out = super::spec::window_regex()
        .replace_all(template, window)
        .into_owned();
    if let Some(pos) = out.find("{{") {
        let rest: String = out[pos..].chars().take(40).collect();
        return Err(RulesError::Invalid(format!(
            "could not render SLI expression template: unknown template action at {rest:?} \
             (only {{{{.window}}}} is available)"
        )));
    }
    Ok(out)
}

fn merged(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut m = a.clone();
    m.extend(b.iter().map(|(k, v)| (k.clone(), v.clone())));
    m
}

fn record(name: String, expr: String, labels: BTreeMap<String, String>) -> RuleSpec {
    RuleSpec {
        record: Some(name),
        expr,
        labels,
        ..RuleSpec::default()
    }
}

fn sli_rules(slo: &Slo) -> Result<Vec<RuleSpec>, RulesError> {
    let mut rules = Vec::with_capacity(WINDOWS.len() + 1);
    for w in WINDOWS {
        let expr = match &slo.sli {
            Sli::Events {
                error_query,
                total_query,
            } => format!(
                "({})\n/\n({})\n",
                render_window(error_query, w)?,
                render_window(total_query, w)?
            ),
            Sli::Raw { error_ratio_query } => {
                format!("({})", render_window(error_ratio_query, w)?)
            }
        };
        let labels = merged(
            &merged(
                &id_labels(slo),
                &BTreeMap::from([("sloth_window".to_string(), w.to_string())]),
            ),
            &slo.labels,
        );
        rules.push(record(sli_metric(w), expr, labels));
    }
    // the period ratio: the mean of the 5m ratio over the period
    let short = sli_metric(PAGE_QUICK.short);
    let filter = id_filter(slo);
    let expr = format!(
        "sum_over_time({short}{filter}[{PERIOD}])\n/ ignoring (sloth_window)\n\
         count_over_time({short}{filter}[{PERIOD}])\n"
    );
    let labels = merged(
        &merged(
            &id_labels(slo),
            &BTreeMap::from([("sloth_window".to_string(), PERIOD.to_string())]),
        ),
        &slo.labels,
    );
    rules.push(record(sli_metric(PERIOD), expr, labels));
    Ok(rules)
}

fn burn_rate_expr(sli: &str, filter: &str) -> String {
    format!(
        "{sli}{filter}\n/ on(sloth_id, sloth_slo, sloth_service) group_left\n\
         slo:error_budget:ratio{filter}\n"
    )
}

fn meta_rules(slo: &Slo) -> Vec<RuleSpec> {
    let labels = merged(&id_labels(slo), &slo.labels);
    let ratio = slo.objective / 100.0;
    let filter = id_filter(slo);
    let info_labels = merged(
        &labels,
        &BTreeMap::from([
            ("sloth_version".to_string(), VERSION_LABEL.to_string()),
            ("sloth_mode".to_string(), MODE.to_string()),
            ("sloth_spec".to_string(), super::spec::VERSION.to_string()),
            ("sloth_objective".to_string(), format!("{}", slo.objective)),
        ]),
    );
    vec![
        record(
            "slo:objective:ratio".into(),
            format!("vector({})", go_float(ratio)),
            labels.clone(),
        ),
        record(
            "slo:error_budget:ratio".into(),
            format!("vector(1-{})", go_float(ratio)),
            labels.clone(),
        ),
        record(
            "slo:time_period:days".into(),
            format!("vector({})", go_float(PERIOD_HOURS / 24.0)),
            labels.clone(),
        ),
        record(
            "slo:current_burn_rate:ratio".into(),
            burn_rate_expr(&sli_metric(PAGE_QUICK.short), &filter),
            labels.clone(),
        ),
        record(
            "slo:period_burn_rate:ratio".into(),
            burn_rate_expr(&sli_metric(PERIOD), &filter),
            labels.clone(),
        ),
        record(
            "slo:period_error_budget_remaining:ratio".into(),
            format!("1 - slo:period_burn_rate:ratio{filter}"),
            labels,
        ),
        record("sloth_slo_info".into(), "vector(1)".into(), info_labels),
    ]
}

fn alert_rule(slo: &Slo, meta: &AlertMeta, severity: &str, quick: &Mwmb, slow: &Mwmb) -> RuleSpec {
    let filter = id_filter(slo);
    let budget = go_float((100.0 - slo.objective) / 100.0);
    let cond = |metric: String, factor: f64| {
        format!(
            "max({metric}{filter} > ({} * {budget})) without (sloth_window)",
            go_float(factor)
        )
    };
    let expr = format!(
        "(\n    {}\n    and\n    {}\n)\nor\n(\n    {}\n    and\n    {}\n)\n",
        cond(sli_metric(quick.short), quick.factor()),
        cond(sli_metric(quick.long), quick.factor()),
        cond(sli_metric(slow.short), slow.factor()),
        cond(sli_metric(slow.long), slow.factor()),
    );
    let defaults = BTreeMap::from([
        (
            "title".to_string(),
            format!(
                "({severity}) {{{{$labels.sloth_service}}}} {{{{$labels.sloth_slo}}}} SLO error \
                 budget burn rate is too fast."
            ),
        ),
        (
            "summary".to_string(),
            "{{$labels.sloth_service}} {{$labels.sloth_slo}} SLO error budget burn rate is \
             over expected."
                .to_string(),
        ),
    ]);
    RuleSpec {
        alert: Some(meta.name.clone()),
        expr,
        labels: merged(
            &BTreeMap::from([("sloth_severity".to_string(), severity.to_string())]),
            &meta.labels,
        ),
        annotations: merged(&defaults, &meta.annotations),
        ..RuleSpec::default()
    }
}

fn alert_rules(slo: &Slo) -> Vec<RuleSpec> {
    let mut rules = Vec::new();
    if let Some(meta) = &slo.page_alert {
        rules.push(alert_rule(slo, meta, "page", &PAGE_QUICK, &PAGE_SLOW));
    }
    if let Some(meta) = &slo.ticket_alert {
        rules.push(alert_rule(slo, meta, "ticket", &TICKET_QUICK, &TICKET_SLOW));
    }
    rules
}

/// Sloth's groups for `slo`: three, or two when both alerts are disabled.
pub fn groups(slo: &Slo) -> Result<Vec<RuleGroupSpec>, RulesError> {
    let group = |kind: &str, rules: Vec<RuleSpec>| RuleGroupSpec {
        name: format!("sloth-slo-{kind}-{}", slo.id),
        rules,
        ..RuleGroupSpec::default()
    };
    let mut groups = vec![
        group("sli-recordings", sli_rules(slo)?),
        group("meta-recordings", meta_rules(slo)),
    ];
    // with both alerts disabled Sloth leaves the alert group out
    let alerts = alert_rules(slo);
    if !alerts.is_empty() {
        groups.push(group("alerts", alerts));
    }
    Ok(groups)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_like_go() {
        assert_eq!(go_float(99.9 / 100.0), "0.9990000000000001");
        assert_eq!(go_float((100.0 - 99.9) / 100.0), "0.0009999999999999432");
        assert_eq!(go_float(14.4), "14.4");
        assert_eq!(go_float(6.0), "6");
        assert_eq!(go_float(30.0), "30");
        assert_eq!(go_float(0.0001), "0.0001");
        assert_eq!(go_float(0.00001), "1e-05");
        assert_eq!(go_float(1.5e21), "1.5e+21");
        assert_eq!(go_float(123456789.0), "1.23456789e+08");
        assert_eq!(go_float(1e6), "1e+06");
        assert_eq!(go_float(123456.0), "123456");
    }

    #[test]
    fn burn_factors_are_the_workbook_ones() {
        assert_eq!(PAGE_QUICK.factor(), 14.4);
        assert_eq!(PAGE_SLOW.factor(), 6.0);
        assert_eq!(TICKET_QUICK.factor(), 3.0);
        assert_eq!(TICKET_SLOW.factor(), 1.0);
    }

    #[test]
    fn window_variable_with_or_without_spaces() {
        assert_eq!(
            render_window("rate(x[{{.window}}]) / rate(y[{{ .window }}])", "1h").ok(),
            Some("rate(x[1h]) / rate(y[1h])".to_string())
        );
        assert!(render_window("rate(x[{{.other}}])", "1h").is_err());
    }
}
