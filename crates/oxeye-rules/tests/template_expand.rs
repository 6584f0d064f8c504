//! Template expansion as rules use it: the `query` function runs through the rule's
//! query function at the evaluation time and for the rule's tenant.

use std::sync::Mutex;

use oxeye_core::{Labels, TenantId};
use oxeye_rules::RulesError;
use oxeye_rules::alert::LabelSet;
use oxeye_rules::query::{QueryFunc, Vector};
use oxeye_rules::template::{TemplateData, check, expand, expand_named};

/// Answers `load` with one series per call and remembers what it was asked.
#[derive(Default)]
struct Recorder {
    calls: Mutex<Vec<(String, String, i64)>>,
}

impl QueryFunc for Recorder {
    fn instant(&self, tenant: &TenantId, expr: &str, t_ms: i64) -> Result<Vector, RulesError> {
        self.calls
            .lock()
            .unwrap()
            .push((tenant.as_str().to_string(), expr.to_string(), t_ms));
        if expr == "fail" {
            return Err(RulesError::Query("query failed on purpose".into()));
        }
        Ok(vec![(
            Labels::from_pairs(&[("__name__", "load"), ("host", "h1")]),
            t_ms as f64 / 1000.0,
        )])
    }
}

fn data(value: f64) -> TemplateData {
    let mut labels = LabelSet::new();
    labels.insert("host".into(), "h1".into());
    TemplateData {
        labels,
        value,
        ..TemplateData::default()
    }
}

#[test]
fn query_runs_at_the_evaluation_time_for_the_tenant() {
    let q = Recorder::default();
    let tenant = TenantId::new("team-a").unwrap();
    let text = r#"{{ with query "load" }}{{ . | first | value | humanize }} on {{ . | first | label "host" }}{{ end }}"#;
    let got = expand(text, &data(0.0), 1_500_000, Some((&q, &tenant))).unwrap();
    assert_eq!(got, "1.5k on h1");
    let calls = q.calls.lock().unwrap().clone();
    assert_eq!(
        calls,
        vec![("team-a".to_string(), "load".to_string(), 1_500_000)]
    );
}

#[test]
fn several_queries_in_one_template() {
    let q = Recorder::default();
    let tenant = TenantId::new("t").unwrap();
    let text = r#"{{ range $i, $e := args "a" "b" "c" }}{{ query "load" | len }}{{ end }}"#;
    let got = expand(text, &data(0.0), 0, Some((&q, &tenant))).unwrap();
    assert_eq!(got, "111");
    assert_eq!(q.calls.lock().unwrap().len(), 3);
}

#[test]
fn a_failing_query_fails_the_expansion() {
    let q = Recorder::default();
    let tenant = TenantId::new("t").unwrap();
    let e = expand_named(
        "__alert_X",
        r#"{{ query "fail" }}"#,
        &data(0.0),
        0,
        Some((&q, &tenant)),
    )
    .unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.starts_with("error executing template __alert_X:"),
        "{msg}"
    );
    assert!(msg.contains("query failed on purpose"), "{msg}");
}

#[test]
fn expansion_from_many_threads() {
    let q = Recorder::default();
    let tenant = TenantId::new("t").unwrap();
    std::thread::scope(|s| {
        for i in 0..8 {
            let (q, tenant) = (&q, &tenant);
            s.spawn(move || {
                let got = expand(
                    r#"{{ $value }} {{ query "load" | first | value }}"#,
                    &data(f64::from(i)),
                    i64::from(i) * 1000,
                    Some((q, tenant)),
                )
                .unwrap();
                assert_eq!(got, format!("{i} {i}"));
            });
        }
    });
    assert_eq!(q.calls.lock().unwrap().len(), 8);
}

#[test]
fn templates_without_actions_are_returned_as_they_are() {
    let got = expand("no {braces} here", &data(1.0), 0, None).unwrap();
    assert_eq!(got, "no {braces} here");
    assert!(check("no actions").is_ok());
    assert!(check("{{ .Labels.x").is_err());
    assert!(check("{{ range }}").is_err());
}
