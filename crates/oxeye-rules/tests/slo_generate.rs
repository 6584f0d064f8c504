//! SLO rule generation checked against the rules Sloth documents for its getting-started
//! example, plus raw SLIs, disabled alerts, validation errors and promtool's verdict.

use std::collections::BTreeMap;

use oxeye_rules::file::{RuleFile, RuleSpec};
use oxeye_rules::slo;

const GETTING_STARTED: &str = r##"
version: "prometheus/v1"
service: "myservice"
labels:
  owner: "myteam"
  repo: "myorg/myservice"
  tier: "2"
slos:
  # We allow failing (5xx and 429) 1 request every 1000 requests (99.9%).
  - name: "requests-availability"
    objective: 99.9
    description: "Common SLO based on availability for HTTP request responses."
    sli:
      events:
        error_query: sum(rate(http_request_duration_seconds_count{job="myservice",code=~"(5..|429)"}[{{.window}}]))
        total_query: sum(rate(http_request_duration_seconds_count{job="myservice"}[{{.window}}]))
    alerting:
      name: MyServiceHighErrorRate
      labels:
        category: "availability"
      annotations:
        # Overwrite default Sloth SLO alert summmary on ticket and page alerts.
        summary: "High error rate on 'myservice' requests responses"
      page_alert:
        labels:
          severity: pageteam
          routing_key: myteam
      ticket_alert:
        labels:
          severity: "slack"
          slack_channel: "#alerts-myteam"
"##;

fn norm(expr: &str) -> String {
    expr.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// What Sloth's docs show for one rule: name, expression, labels.
struct Expected {
    name: &'static str,
    expr: String,
    labels: BTreeMap<String, String>,
}

const FILTER: &str = r#"{sloth_id="myservice-requests-availability", sloth_service="myservice", sloth_slo="requests-availability"}"#;

fn base_labels() -> Vec<(&'static str, &'static str)> {
    vec![
        ("owner", "myteam"),
        ("repo", "myorg/myservice"),
        ("sloth_id", "myservice-requests-availability"),
        ("sloth_service", "myservice"),
        ("sloth_slo", "requests-availability"),
        ("tier", "2"),
    ]
}

fn expected_sli() -> Vec<Expected> {
    let mut out = Vec::new();
    for (name, w) in [
        ("slo:sli_error:ratio_rate5m", "5m"),
        ("slo:sli_error:ratio_rate30m", "30m"),
        ("slo:sli_error:ratio_rate1h", "1h"),
        ("slo:sli_error:ratio_rate2h", "2h"),
        ("slo:sli_error:ratio_rate6h", "6h"),
        ("slo:sli_error:ratio_rate1d", "1d"),
        ("slo:sli_error:ratio_rate3d", "3d"),
    ] {
        let mut l = base_labels();
        l.push(("sloth_window", w));
        out.push(Expected {
            name,
            expr: format!(
                "(sum(rate(http_request_duration_seconds_count{{job=\"myservice\",code=~\"(5..|429)\"}}[{w}])))\n/\n(sum(rate(http_request_duration_seconds_count{{job=\"myservice\"}}[{w}])))\n"
            ),
            labels: labels(&l),
        });
    }
    let mut l = base_labels();
    l.push(("sloth_window", "30d"));
    out.push(Expected {
        name: "slo:sli_error:ratio_rate30d",
        expr: format!(
            "sum_over_time(slo:sli_error:ratio_rate5m{FILTER}[30d])\n/ ignoring (sloth_window)\ncount_over_time(slo:sli_error:ratio_rate5m{FILTER}[30d])\n"
        ),
        labels: labels(&l),
    });
    out
}

fn expected_meta() -> Vec<Expected> {
    let l = labels(&base_labels());
    let mut info = base_labels();
    info.extend([
        ("sloth_mode", "cli-gen-prom"),
        ("sloth_objective", "99.9"),
        ("sloth_spec", "prometheus/v1"),
        // Sloth writes its own version here ("dev" in its docs); oxeye writes its own
        ("sloth_version", slo::rules::VERSION_LABEL),
    ]);
    vec![
        Expected {
            name: "slo:objective:ratio",
            expr: "vector(0.9990000000000001)".into(),
            labels: l.clone(),
        },
        Expected {
            name: "slo:error_budget:ratio",
            expr: "vector(1-0.9990000000000001)".into(),
            labels: l.clone(),
        },
        Expected {
            name: "slo:time_period:days",
            expr: "vector(30)".into(),
            labels: l.clone(),
        },
        Expected {
            name: "slo:current_burn_rate:ratio",
            expr: format!(
                "slo:sli_error:ratio_rate5m{FILTER}\n/ on(sloth_id, sloth_slo, sloth_service) group_left\nslo:error_budget:ratio{FILTER}\n"
            ),
            labels: l.clone(),
        },
        Expected {
            name: "slo:period_burn_rate:ratio",
            expr: format!(
                "slo:sli_error:ratio_rate30d{FILTER}\n/ on(sloth_id, sloth_slo, sloth_service) group_left\nslo:error_budget:ratio{FILTER}\n"
            ),
            labels: l.clone(),
        },
        Expected {
            name: "slo:period_error_budget_remaining:ratio",
            expr: format!("1 - slo:period_burn_rate:ratio{FILTER}"),
            labels: l,
        },
        Expected {
            name: "sloth_slo_info",
            expr: "vector(1)".into(),
            labels: labels(&info),
        },
    ]
}

fn mwmb(short1: &str, long1: &str, f1: &str, short2: &str, long2: &str, f2: &str) -> String {
    let b = "0.0009999999999999432";
    format!(
        "(\n    max(slo:sli_error:ratio_rate{short1}{FILTER} > ({f1} * {b})) without (sloth_window)\n    and\n    max(slo:sli_error:ratio_rate{long1}{FILTER} > ({f1} * {b})) without (sloth_window)\n)\nor\n(\n    max(slo:sli_error:ratio_rate{short2}{FILTER} > ({f2} * {b})) without (sloth_window)\n    and\n    max(slo:sli_error:ratio_rate{long2}{FILTER} > ({f2} * {b})) without (sloth_window)\n)\n"
    )
}

fn rule_name(r: &RuleSpec) -> &str {
    r.record.as_deref().or(r.alert.as_deref()).unwrap_or("")
}

fn check_group(file: &RuleFile, idx: usize, name: &str, expected: &[Expected]) {
    let g = &file.groups[idx];
    assert_eq!(g.name, name);
    assert_eq!(g.rules.len(), expected.len(), "rules of {name}");
    for (got, want) in g.rules.iter().zip(expected) {
        assert_eq!(rule_name(got), want.name);
        assert_eq!(norm(&got.expr), norm(&want.expr), "expr of {}", want.name);
        assert_eq!(got.labels, want.labels, "labels of {}", want.name);
    }
}

#[test]
fn getting_started_matches_sloth_output() {
    let file = slo::generate(GETTING_STARTED).expect("generate");
    assert_eq!(file.groups.len(), 3);
    check_group(
        &file,
        0,
        "sloth-slo-sli-recordings-myservice-requests-availability",
        &expected_sli(),
    );
    check_group(
        &file,
        1,
        "sloth-slo-meta-recordings-myservice-requests-availability",
        &expected_meta(),
    );
    let alerts = &file.groups[2];
    assert_eq!(
        alerts.name,
        "sloth-slo-alerts-myservice-requests-availability"
    );
    assert_eq!(alerts.rules.len(), 2);
    let (page, ticket) = (&alerts.rules[0], &alerts.rules[1]);
    assert_eq!(page.alert.as_deref(), Some("MyServiceHighErrorRate"));
    assert_eq!(
        norm(&page.expr),
        norm(&mwmb("5m", "1h", "14.4", "30m", "6h", "6"))
    );
    assert_eq!(
        page.labels,
        labels(&[
            ("category", "availability"),
            ("routing_key", "myteam"),
            ("severity", "pageteam"),
            ("sloth_severity", "page"),
        ])
    );
    assert_eq!(
        page.annotations,
        labels(&[
            (
                "summary",
                "High error rate on 'myservice' requests responses"
            ),
            (
                "title",
                "(page) {{$labels.sloth_service}} {{$labels.sloth_slo}} SLO error budget burn rate is too fast."
            ),
        ])
    );
    assert_eq!(ticket.alert.as_deref(), Some("MyServiceHighErrorRate"));
    assert_eq!(
        norm(&ticket.expr),
        norm(&mwmb("2h", "1d", "3", "6h", "3d", "1"))
    );
    assert_eq!(
        ticket.labels,
        labels(&[
            ("category", "availability"),
            ("severity", "slack"),
            ("slack_channel", "#alerts-myteam"),
            ("sloth_severity", "ticket"),
        ])
    );
    assert_eq!(
        ticket.annotations.get("title").map(String::as_str),
        Some(
            "(ticket) {{$labels.sloth_service}} {{$labels.sloth_slo}} SLO error budget burn rate is too fast."
        )
    );
    // no `for`: the windows already debounce
    assert!(page.for_.is_none() && ticket.for_.is_none());
}

#[test]
fn generated_rules_pass_our_rule_file_checks() {
    for spec in [GETTING_STARTED, RAW_NO_TICKET] {
        let file = slo::generate(spec).expect("generate");
        let problems = oxeye_rules::file::validate(&file, oxeye_rules::file::RuleLanguage::Promql);
        assert!(problems.is_empty(), "{problems:?}");
    }
    // the check is not vacuous: a broken generated expression is caught
    let mut file = slo::generate(GETTING_STARTED).expect("generate");
    file.groups[0].rules[0].expr.push_str(" +");
    assert!(
        !oxeye_rules::file::validate(&file, oxeye_rules::file::RuleLanguage::Promql).is_empty()
    );
}

#[test]
fn generated_yaml_round_trips_through_the_rule_file_parser() {
    let file = slo::generate(GETTING_STARTED).expect("generate");
    let yaml = serde_saphyr::to_string(&file).expect("serialize");
    let back = oxeye_rules::file::parse(&yaml).expect("parse generated yaml");
    assert_eq!(back, file);
}

const RAW_NO_TICKET: &str = r#"
version: prometheus/v1
service: home-wifi
labels:
  cluster: valhalla
slos:
  - name: good-wifi-client-satisfaction
    objective: 95
    description: "Will warn us that we don't have a good wifi connection"
    labels:
      cluster: asgard
    sli:
      raw:
        error_ratio_query: |
          sum_over_time(ubnt_wlan_client_satisfaction_ratio_bad[{{ .window }}])
          / count_over_time(ubnt_wlan_client_satisfaction_ratio[{{ .window }}])
    alerting:
      name: WifiClientSatisfaction
      page_alert:
        disable: true
      ticket_alert:
        labels:
          severity: telegram
"#;

#[test]
fn raw_sli_and_disabled_page_alert() {
    let file = slo::generate(RAW_NO_TICKET).expect("generate");
    let sli = &file.groups[0];
    assert_eq!(
        sli.name,
        "sloth-slo-sli-recordings-home-wifi-good-wifi-client-satisfaction"
    );
    let r1h = &sli.rules[2];
    assert_eq!(r1h.record.as_deref(), Some("slo:sli_error:ratio_rate1h"));
    assert_eq!(
        norm(&r1h.expr),
        norm(
            "(sum_over_time(ubnt_wlan_client_satisfaction_ratio_bad[1h])\n/ count_over_time(ubnt_wlan_client_satisfaction_ratio[1h])\n)"
        )
    );
    // the SLO's labels win over the spec's
    assert_eq!(
        r1h.labels.get("cluster").map(String::as_str),
        Some("asgard")
    );
    let meta = &file.groups[1];
    assert_eq!(meta.rules[0].expr, "vector(0.95)");
    assert_eq!(meta.rules[1].expr, "vector(1-0.95)");
    let alerts = &file.groups[2];
    assert_eq!(alerts.rules.len(), 1, "only the ticket alert");
    let ticket = &alerts.rules[0];
    assert_eq!(
        ticket.labels.get("sloth_severity").map(String::as_str),
        Some("ticket")
    );
    // 100 - 95 is 5 exactly; Sloth's default summary stays when none is given
    assert!(ticket.expr.contains("> (3 * 0.05)"), "{}", ticket.expr);
    assert_eq!(
        ticket.annotations.get("summary").map(String::as_str),
        Some(
            "{{$labels.sloth_service}} {{$labels.sloth_slo}} SLO error budget burn rate is over expected."
        )
    );
}

#[test]
fn both_alerts_disabled_leave_the_alert_group_out() {
    let spec = RAW_NO_TICKET.replace(
        "      ticket_alert:\n        labels:\n          severity: telegram\n",
        "      ticket_alert:\n        disable: true\n",
    );
    let file = slo::generate(&spec).expect("generate");
    let names: Vec<&str> = file.groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "sloth-slo-sli-recordings-home-wifi-good-wifi-client-satisfaction",
            "sloth-slo-meta-recordings-home-wifi-good-wifi-client-satisfaction",
        ]
    );
}

#[test]
fn tiny_error_budgets_print_in_go_exponent_form() {
    let spec = RAW_NO_TICKET.replace("objective: 95", "objective: 99.999");
    let file = slo::generate(&spec).expect("generate");
    let ticket = &file.groups[2].rules[0];
    assert!(
        ticket.expr.contains("(3 * 1.0000000000047748e-05)"),
        "{}",
        ticket.expr
    );
}

fn err_of(spec: &str) -> String {
    match slo::generate(spec) {
        Ok(_) => panic!("spec was accepted:\n{spec}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn invalid_specs_are_rejected_with_sloths_reasons() {
    let cases: Vec<(String, &str)> = vec![
        (GETTING_STARTED.replace("prometheus/v1", "prometheus/v2"), "invalid spec version"),
        (
            "version: prometheus/v1\nservice: a-b\nslos: []\n".to_string(),
            "at least one SLO is required",
        ),
        (GETTING_STARTED.replace("objective: 99.9", "objective: 100.5"), "objective must >0 and <=100"),
        (GETTING_STARTED.replace("objective: 99.9", "objective: 0"), "objective must >0 and <=100"),
        (
            GETTING_STARTED.replace("\"requests-availability\"", "\"-bad\""),
            "invalid SLO name",
        ),
        (GETTING_STARTED.replace("\"myservice\"\nlabels", "\"myservice-\"\nlabels"), "invalid SLO service"),
        (
            GETTING_STARTED.replace(
                r#"sum(rate(http_request_duration_seconds_count{job="myservice"}[{{.window}}]))"#,
                r#"sum(rate(http_request_duration_seconds_count{job="myservice"}[5m]))"#,
            ),
            "sli total query template: template must contain the {{ .window }} variable",
        ),
        (
            GETTING_STARTED.replace(
                r#"sum(rate(http_request_duration_seconds_count{job="myservice"}[{{.window}}]))"#,
                r#"sum(rate(http_request_duration_seconds_count{job="myservice",code=~"(5..|429)"}[{{.window}}]))"#,
            ),
            "both error and total queries can't be the same",
        ),
        (
            GETTING_STARTED.replace("sum(rate(http_request_duration_seconds_count{job=\"myservice\"}[", "sum(rate(((http_request_duration_seconds_count{job=\"myservice\"}["),
            "sli total query expression",
        ),
        (
            GETTING_STARTED.replace("name: MyServiceHighErrorRate", "name: \"\""),
            "page alert: alert name is required",
        ),
        (
            GETTING_STARTED.replace("routing_key: myteam", "routing-key: myteam"),
            "invalid alert label key \"routing-key\"",
        ),
        (
            GETTING_STARTED.replace("tier: \"2\"", "tier: \"2\"\n  bad-key: x"),
            "invalid SLO label key \"bad-key\"",
        ),
        (
            GETTING_STARTED.replace(
                "    sli:\n      events:",
                "    sli:\n      plugin:\n        id: sloth-common/availability\n      events:",
            ),
            "sli.plugin is not supported",
        ),
        (
            GETTING_STARTED.replace("    sli:\n      events:", "    sli:\n      evnts:"),
            "unknown field",
        ),
        (GETTING_STARTED.replace("{{.window}}]))\n        total", "{{.win}}]))\n        total"), "template must contain"),
        (String::new(), "spec is required"),
    ];
    for (spec, want) in cases {
        let err = err_of(&spec);
        assert!(err.contains(want), "want {want:?} in {err:?}");
    }
}

#[test]
fn promtool_accepts_the_generated_rules() {
    let promtool = std::path::Path::new("/usr/bin/promtool");
    if !promtool.exists() {
        eprintln!("skipped: /usr/bin/promtool is not installed");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    for (i, spec) in [GETTING_STARTED, RAW_NO_TICKET].iter().enumerate() {
        let file = slo::generate(spec).expect("generate");
        let yaml = serde_saphyr::to_string(&file).expect("serialize");
        let path = dir.path().join(format!("slo{i}.yml"));
        std::fs::write(&path, &yaml).expect("write");
        let out = std::process::Command::new(promtool)
            .arg("check")
            .arg("rules")
            .arg(&path)
            .output()
            .expect("run promtool");
        assert!(
            out.status.success(),
            "promtool check rules failed:\n{}\n{}\n{yaml}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        let expected_rules = file.groups.iter().map(|g| g.rules.len()).sum::<usize>();
        assert!(
            stdout.contains(&format!("SUCCESS: {expected_rules} rules found")),
            "{stdout}"
        );
    }
}

#[test]
fn several_slos_give_their_groups_in_spec_order_and_names_are_unique() {
    let two = format!(
        "{RAW_NO_TICKET}  - name: risk-wifi-client-satisfaction\n    objective: 99.5\n    sli:\n      raw:\n        error_ratio_query: avg_over_time(wifi_risk_ratio[{{{{.window}}}}])\n    alerting:\n      name: WifiRisk\n"
    );
    let file = slo::generate(&two).expect("generate");
    let names: Vec<&str> = file.groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "sloth-slo-sli-recordings-home-wifi-good-wifi-client-satisfaction",
            "sloth-slo-meta-recordings-home-wifi-good-wifi-client-satisfaction",
            "sloth-slo-alerts-home-wifi-good-wifi-client-satisfaction",
            "sloth-slo-sli-recordings-home-wifi-risk-wifi-client-satisfaction",
            "sloth-slo-meta-recordings-home-wifi-risk-wifi-client-satisfaction",
            "sloth-slo-alerts-home-wifi-risk-wifi-client-satisfaction",
        ]
    );
    // the second SLO has no labels of its own: the spec's apply
    assert_eq!(
        file.groups[3].rules[0]
            .labels
            .get("cluster")
            .map(String::as_str),
        Some("valhalla")
    );
    assert_eq!(file.groups[5].rules.len(), 2, "page and ticket");

    let dup = two.replace(
        "risk-wifi-client-satisfaction",
        "good-wifi-client-satisfaction",
    );
    assert!(err_of(&dup).contains("defined twice"), "{}", err_of(&dup));
}

#[test]
fn camel_case_query_fields_of_sloth_examples_are_accepted() {
    let snake = slo::generate(RAW_NO_TICKET).expect("generate");
    let camel = RAW_NO_TICKET.replace("error_ratio_query:", "errorRatioQuery:");
    assert_eq!(slo::generate(&camel).expect("generate camelCase"), snake);
}
