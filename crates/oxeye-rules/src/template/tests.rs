use oxeye_core::Labels;

use super::*;

struct FixedQuery;

impl QueryFunc for FixedQuery {
    fn instant(&self, _: &TenantId, expr: &str, t_ms: i64) -> Result<Vector, RulesError> {
        match expr {
            "up" => Ok(vec![
                (
                    Labels::from_pairs(&[("instance", "b:9090"), ("job", "x")]),
                    0.0,
                ),
                (
                    Labels::from_pairs(&[("instance", "a:9090"), ("job", "x")]),
                    1.0,
                ),
            ]),
            "time()" => Ok(vec![(Labels::default(), t_ms as f64 / 1000.0)]),
            "none" => Ok(vec![]),
            other => Err(RulesError::Query(format!("bad query {other:?}"))),
        }
    }
}

fn data() -> TemplateData {
    let mut labels = LabelSet::new();
    labels.insert("instance".into(), "host.example.com:9100".into());
    labels.insert("job".into(), "node".into());
    let mut external = LabelSet::new();
    external.insert("cluster".into(), "eu1".into());
    TemplateData {
        labels,
        value: 1234567.0,
        external_labels: external,
        external_url: "http://prom.example.com:9090/prom".into(),
    }
}

fn run(text: &str) -> Result<String, RulesError> {
    let tenant = TenantId::new("t1").unwrap();
    expand(text, &data(), 60_000, Some((&FixedQuery, &tenant)))
}

#[test]
fn expands_like_prometheus() {
    let cases: &[(&str, &str)] = &[
        ("plain text", "plain text"),
        ("{{ $labels.instance }} down", "host.example.com:9100 down"),
        ("{{ .Labels.job }}", "node"),
        ("{{ $labels.missing }}|", "|"),
        ("{{ $value }}", "1.234567e+06"),
        ("{{ .Value }}", "1.234567e+06"),
        ("{{ $value | humanize }}", "1.235M"),
        ("{{ humanize $value }}", "1.235M"),
        ("{{ $externalLabels.cluster }}", "eu1"),
        ("{{ .ExternalLabels.cluster }}", "eu1"),
        ("{{ $externalURL }}", "http://prom.example.com:9090/prom"),
        ("{{ externalURL }}", "http://prom.example.com:9090/prom"),
        ("{{ pathPrefix }}", "/prom"),
        ("{{ 0.001 | humanize }}", "1m"),
        ("{{ 1048576 | humanize1024 }}", "1Mi"),
        ("{{ 90 | humanizeDuration }}", "1m 30s"),
        ("{{ \"90\" | humanizeDuration }}", "1m 30s"),
        ("{{ 0.1234 | humanizePercentage }}", "12.34%"),
        (
            "{{ 1435065584.128 | humanizeTimestamp }}",
            "2015-06-23 13:19:44.128 +0000 UTC",
        ),
        ("{{ 1435065584 | toTime }}", "2015-06-23 13:19:44 +0000 UTC"),
        ("{{ printf \"%.2f\" $value }}", "1234567.00"),
        ("{{ printf \"%s-%d\" \"a\" 3 }}", "a-3"),
        ("{{ toUpper \"abc\" }}{{ toLower \"DEF\" }}", "ABCdef"),
        ("{{ title \"hello world\" }}", "Hello World"),
        (
            "{{ reReplaceAll \"(.*):.*\" \"$1\" $labels.instance }}",
            "host.example.com",
        ),
        (
            "{{ if match \"^host\" $labels.instance }}yes{{ end }}",
            "yes",
        ),
        (
            "{{ if match \"^nope\" $labels.instance }}yes{{ else }}no{{ end }}",
            "no",
        ),
        ("{{ $labels.instance | stripPort }}", "host.example.com"),
        ("{{ $labels.instance | stripDomain }}", "host:9100"),
        ("{{ safeHtml \"<b>x</b>\" }}", "<b>x</b>"),
        ("{{ parseDuration \"1m30s\" }}", "90"),
        (
            "{{ with args 1 \"x\" }}{{ .arg0 }}{{ .arg1 }}{{ end }}",
            "1x",
        ),
        ("{{ graphLink \"up\" }}", "/graph?g0.expr=up&g0.tab=0"),
        ("{{ tableLink \"up\" }}", "/graph?g0.expr=up&g0.tab=1"),
        ("{{ if gt $value 1000.0 }}big{{ end }}", "big"),
        (
            "{{ range $k, $v := $labels }}{{ $k }}={{ $v }};{{ end }}",
            "instance=host.example.com:9100;job=node;",
        ),
        // query and its helpers
        ("{{ query \"up\" | len }}", "2"),
        (
            "{{ with query \"up\" }}{{ . | first | value }}{{ end }}",
            "0",
        ),
        (
            "{{ with query \"up\" }}{{ . | first | label \"instance\" }}{{ end }}",
            "b:9090",
        ),
        (
            "{{ range query \"up\" | sortByLabel \"instance\" }}{{ .Labels.instance }} {{ .Value }};{{ end }}",
            "a:9090 1;b:9090 0;",
        ),
        ("{{ query \"time()\" | first | value }}", "60"),
        (
            "{{ with query \"none\" }}some{{ else }}empty{{ end }}",
            "empty",
        ),
        (
            "{{ define \"x\" }}[{{ .Value }}]{{ end }}{{ template \"x\" . }}",
            "[1.234567e+06]",
        ),
    ];
    for (text, want) in cases {
        let got = run(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(&got, want, "template {text}");
    }
}

#[test]
fn values_print_in_go_style() {
    let tenant = TenantId::new("t1").unwrap();
    for (v, want) in [
        (0.5, "0.5"),
        (1e21, "1e+21"),
        (3.0, "3"),
        (f64::INFINITY, "+Inf"),
        (f64::NAN, "NaN"),
    ] {
        let d = TemplateData {
            value: v,
            ..TemplateData::default()
        };
        let got = expand("{{ $value }}", &d, 0, Some((&FixedQuery, &tenant))).unwrap();
        assert_eq!(got, want);
    }
}

#[test]
fn failures_are_errors_naming_the_template() {
    let cases: &[(&str, &str)] = &[
        ("{{ $labels.instance", "error parsing template __alert"),
        ("{{ nosuchfunc 1 }}", "error parsing template __alert"),
        ("{{ humanize \"abc\" }}", "error executing template __alert"),
        ("{{ query \"bad\" }}", "bad query"),
        (
            "{{ query \"none\" | first }}",
            "first() called on vector with no elements",
        ),
        ("{{ value 1 }}", "expected *template.sample"),
        (
            "{{ reReplaceAll \"(\" \"x\" \"y\" }}",
            "error parsing regexp",
        ),
        ("{{ parseDuration \"5x\" }}", "not a valid duration string"),
        ("{{ 1e300 | humanizeTimestamp }}", "overflows int64"),
    ];
    for (text, want) in cases {
        match run(text) {
            Ok(v) => panic!("{text}: expected an error, got {v:?}"),
            Err(e) => assert!(e.to_string().contains(want), "{text}: {e}"),
        }
    }
}

#[test]
fn named_templates_report_their_name() {
    let e = expand_named("__alert_High", "{{ humanize \"x\" }}", &data(), 0, None).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("error executing template __alert_High: error calling humanize: "),
        "{e}"
    );
    assert!(
        e.to_string()
            .starts_with("error executing template __alert_High:"),
        "{e}"
    );
}

#[test]
fn query_without_query_function_fails() {
    let e = expand("{{ query \"up\" }}", &data(), 0, None).unwrap_err();
    assert!(e.to_string().contains("no query function"), "{e}");
}

#[test]
fn check_reports_parse_errors_only() {
    assert!(check("{{ $labels.x }} {{ humanize $value }}").is_ok());
    assert!(check("{{ query \"up\" | first | value }}").is_ok());
    assert!(check("{{ if }}").is_err());
    assert!(check("{{ unknownFn }}").is_err());
}
