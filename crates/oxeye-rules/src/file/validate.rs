//! The checks of `promtool check rules` (Prometheus's `rulefmt` validation), also run
//! before any group is built: group names unique and not empty, each rule either
//! recording or alerting, expressions that parse, valid names, templates that parse and
//! durations that parse. Messages follow promtool's wording: `group "g", rule 2, "name":
//! could not parse expression: ...`.

use std::collections::HashSet;

use oxeye_core::{METRIC_NAME, validate_label_name, validate_metric_name};

use super::{RuleFile, RuleGroupSpec, RuleLanguage, RuleSpec, parse_duration};
use crate::RulesError;

/// Every problem of `file`, in file order.
pub(super) fn validate_file(file: &RuleFile, language: RuleLanguage) -> Vec<RulesError> {
    let mut errs = Vec::new();
    let mut seen = HashSet::new();
    for group in &file.groups {
        if group.name.is_empty() {
            errs.push(RulesError::Invalid("Groupname must not be empty".into()));
        } else if !seen.insert(group.name.as_str()) {
            errs.push(RulesError::Invalid(format!(
                "groupname: {:?} is repeated in the same file",
                group.name
            )));
        }
        validate_group_settings(group, &mut errs);
        for (i, rule) in group.rules.iter().enumerate() {
            let name = rule
                .record
                .as_deref()
                .or(rule.alert.as_deref())
                .unwrap_or_default();
            for problem in validate_rule(rule, language) {
                errs.push(RulesError::Invalid(format!(
                    "group {:?}, rule {}, {:?}: {problem}",
                    group.name,
                    i + 1,
                    name
                )));
            }
        }
    }
    errs
}

fn validate_group_settings(group: &RuleGroupSpec, errs: &mut Vec<RulesError>) {
    let mut check = |what: &str, value: &Option<String>| {
        if let Some(Err(e)) = value.as_deref().map(parse_duration) {
            errs.push(RulesError::Invalid(format!(
                "group {:?}: invalid {what}: {e}",
                group.name
            )));
        }
    };
    check("interval", &group.interval);
    check("query_offset", &group.query_offset);
    if let Some(Ok(ms)) = group.interval.as_deref().map(parse_duration) {
        if ms <= 0 {
            errs.push(RulesError::Invalid(format!(
                "group {:?}: interval must be greater than 0",
                group.name
            )));
        }
    }
    for name in group.labels.keys() {
        if !validate_label_name(name) || name == METRIC_NAME {
            errs.push(RulesError::Invalid(format!(
                "group {:?}: invalid label name: {name}",
                group.name
            )));
        }
    }
}

/// The problems of one rule, without the group/rule prefix.
fn validate_rule(rule: &RuleSpec, language: RuleLanguage) -> Vec<String> {
    let mut out = Vec::new();
    let record = rule.record.as_deref().filter(|r| !r.is_empty());
    let alert = rule.alert.as_deref().filter(|a| !a.is_empty());
    match (record, alert) {
        (Some(_), Some(_)) => out.push("only one of 'record' and 'alert' must be set".into()),
        (None, None) => out.push("one of 'record' or 'alert' must be set".into()),
        _ => {}
    }
    if rule.expr.trim().is_empty() {
        out.push("field 'expr' must be set in rule".into());
    } else if let Err(e) = check_expr(&rule.expr, language) {
        out.push(format!("could not parse expression: {e}"));
    }
    if let Some(record) = record {
        if !rule.annotations.is_empty() {
            out.push("invalid field 'annotations' in recording rule".into());
        }
        if rule.for_.is_some() {
            out.push("invalid field 'for' in recording rule".into());
        }
        if rule.keep_firing_for.is_some() {
            out.push("invalid field 'keep_firing_for' in recording rule".into());
        }
        if !validate_metric_name(record) {
            out.push(format!("invalid recording rule name: {record}"));
        }
    }
    for (what, value) in [
        ("for", &rule.for_),
        ("keep_firing_for", &rule.keep_firing_for),
    ] {
        if let Some(Err(e)) = value.as_deref().map(parse_duration) {
            out.push(format!("invalid field '{what}': {e}"));
        }
    }
    for name in rule.labels.keys() {
        if !validate_label_name(name) || name == METRIC_NAME {
            out.push(format!("invalid label name: {name}"));
        }
    }
    for name in rule.annotations.keys() {
        if !validate_label_name(name) {
            out.push(format!("invalid annotation name: {name}"));
        }
    }
    if alert.is_some() {
        for (name, text) in &rule.labels {
            if let Err(e) = crate::template::check(text) {
                out.push(format!("label {name:?}: {e}"));
            }
        }
        for (name, text) in &rule.annotations {
            if let Err(e) = crate::template::check(text) {
                out.push(format!("annotation {name:?}: {e}"));
            }
        }
    }
    out
}

/// Parses `expr` in `language`; LogQL rules must be metric queries.
pub(crate) fn check_expr(expr: &str, language: RuleLanguage) -> Result<(), String> {
    match language {
        RuleLanguage::Promql => promql_parser::parser::parse(expr)
            .map(|_| ())
            .map_err(|e| e.to_string()),
        RuleLanguage::Logql => match oxeye_logql::parse(expr) {
            Ok(oxeye_logql::Expr::Sample(_)) => Ok(()),
            Ok(oxeye_logql::Expr::Log(_)) => {
                Err("a rule needs a metric query, not a log query".into())
            }
            Err(e) => Err(e.to_string()),
        },
    }
}

#[cfg(test)]
mod tests {
    use crate::file::{RuleLanguage, parse, validate};

    fn errors(text: &str, language: RuleLanguage) -> Vec<String> {
        let file = parse(text).unwrap();
        validate(&file, language)
            .into_iter()
            .map(|e| e.to_string())
            .collect()
    }

    #[test]
    fn valid_file_has_no_errors() {
        let text = r#"
groups:
  - name: g
    interval: 30s
    labels: {team: a}
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
      - alert: Down
        expr: up == 0
        for: 5m
        keep_firing_for: 1m
        labels: {severity: page}
        annotations: {summary: "{{ $labels.job }} down"}
"#;
        assert!(errors(text, RuleLanguage::Promql).is_empty());
    }

    #[test]
    fn promtool_problems_are_reported_per_rule() {
        let text = r#"
groups:
  - name: g
    rules:
      - record: "bad name"
        expr: up
      - alert: A
        record: b
        expr: up
      - alert: B
        expr: "sum(up"
      - record: c
        expr: up
        for: 1m
        annotations: {a: b}
      - alert: D
        expr: up
        labels: {"0bad": x}
  - name: g
    rules: []
"#;
        let errs = errors(text, RuleLanguage::Promql);
        assert!(
            errs.contains(
                &"group \"g\", rule 1, \"bad name\": invalid recording rule name: bad name"
                    .to_string()
            ),
            "{errs:?}"
        );
        assert!(
            errs.iter().any(|e| e.contains("rule 2")
                && e.contains("only one of 'record' and 'alert' must be set"))
        );
        assert!(
            errs.iter()
                .any(|e| e.starts_with("group \"g\", rule 3, \"B\": could not parse expression:"))
        );
        assert!(
            errs.iter().any(
                |e| e.contains("rule 4") && e.contains("invalid field 'for' in recording rule")
            )
        );
        assert!(
            errs.iter().any(|e| e.contains("rule 4")
                && e.contains("invalid field 'annotations' in recording rule"))
        );
        assert!(
            errs.iter()
                .any(|e| e.contains("rule 5") && e.contains("invalid label name: 0bad"))
        );
        assert!(errs.contains(&"groupname: \"g\" is repeated in the same file".to_string()));
    }

    #[test]
    fn bad_durations_and_unknown_keys_are_rejected() {
        let errs = errors(
            "groups:\n- name: g\n  interval: 1x\n  rules:\n  - alert: A\n    expr: up\n    for: 5\n",
            RuleLanguage::Promql,
        );
        assert!(
            errs.iter().any(|e| e.contains("invalid interval")),
            "{errs:?}"
        );
        assert!(
            errs.iter().any(|e| e.contains("invalid field 'for'")),
            "{errs:?}"
        );
        assert!(parse("groups:\n- name: g\n  rulez: []\n").is_err());
    }

    #[test]
    fn logql_rules_must_be_metric_queries() {
        let ok = "groups:\n- name: g\n  rules:\n  - record: r\n    expr: 'sum(count_over_time({app=\"a\"} |= \"x\" [1m]))'\n";
        assert!(errors(ok, RuleLanguage::Logql).is_empty());
        let log = "groups:\n- name: g\n  rules:\n  - record: r\n    expr: '{app=\"a\"} |= \"x\"'\n";
        let errs = errors(log, RuleLanguage::Logql);
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(errs[0].contains("not a log query"));
        // The same text is not PromQL.
        assert!(!errors(ok, RuleLanguage::Promql).is_empty());
    }
}
