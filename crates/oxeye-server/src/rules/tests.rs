//! The rule APIs through the router over a rule manager on a manual clock.

use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use oxeye_core::logs_mem::MemLogStore;
use oxeye_core::{Labels, ManualClock, MetricsAppender, Sample, SeriesWrite, TenantId, WriteBatch};
use oxeye_rules::alert::{Alert, AlertSink};
use oxeye_rules::file::RuleLanguage;
use oxeye_rules::group::GroupOptions;
use oxeye_rules::manager::{ManagerOptions, RuleManager, RuleSource};
use oxeye_rules::memory::MemMetrics;
use oxeye_rules::query::{LogqlQuery, PromqlQuery};
use serde_json::Value;

use crate::ServerState;
use crate::tests::{get, json, send};

struct NoSink;

impl AlertSink for NoSink {
    fn send(&self, _: &TenantId, _: Vec<Alert>) {}
}

const T0: i64 = 1_700_000_000_000;

const RULES: &str = r#"
groups:
  - name: api
    interval: 10s
    labels: {team: web}
    rules:
      - record: job:requests:sum
        expr: sum by (job) (requests)
      - alert: TooManyRequests
        expr: requests > 10
        for: 1m
        labels: {severity: page}
        annotations: {summary: too many requests}
  - name: broken
    interval: 10s
    rules:
      - record: broken:text
        expr: '"text"'
"#;

struct Fixture {
    state: Arc<ServerState>,
    manager: Arc<RuleManager>,
    clock: ManualClock,
    metrics: Arc<MemMetrics>,
}

fn fixture(with_rules: bool) -> Fixture {
    let clock = ManualClock::new(T0);
    let metrics = Arc::new(MemMetrics::new());
    let promql = Arc::new(PromqlQuery {
        engine: oxeye_promql::Engine::new(),
        queryable: metrics.clone(),
    });
    let logql = Arc::new(LogqlQuery {
        engine: Arc::new(oxeye_logql::Engine::new(
            Arc::new(MemLogStore::new()),
            oxeye_logql::EngineLimits::default(),
        )),
    });
    let manager = Arc::new(RuleManager::new(
        ManagerOptions {
            group: GroupOptions {
                external_url: "http://oxeye.example:9090".into(),
                ..GroupOptions::default()
            },
            rules_dir: None,
        },
        promql,
        Some(logql),
        metrics.clone(),
        Arc::new(NoSink),
        Arc::new(clock.clone()),
    ));
    let mut builder = ServerState::builder(metrics.clone(), metrics.clone());
    if with_rules {
        builder = builder.rules(manager.clone());
    }
    let state = builder.build();
    state.set_ready(true);
    Fixture {
        state,
        manager,
        clock,
        metrics,
    }
}

fn anon() -> TenantId {
    TenantId::new("anonymous").unwrap()
}

/// Loads [`RULES`] and evaluates until the alert fired (70s of samples above 10).
fn evaluated(f: &Fixture) {
    let source = RuleSource {
        name: "/etc/oxeye/rules.yml".into(),
        tenant: anon(),
        language: RuleLanguage::Promql,
        file: oxeye_rules::file::parse(RULES).unwrap(),
    };
    f.manager.set_file_groups(vec![source]).unwrap();
    let end = T0 + 80_000;
    let mut t = T0;
    while t <= end {
        let batch = WriteBatch {
            series: vec![SeriesWrite {
                labels: Labels::from_pairs(&[("__name__", "requests"), ("job", "api")]),
                samples: vec![Sample::new(t, 42.0)],
                exemplars: Vec::new(),
            }],
            metadata: Vec::new(),
        };
        f.metrics.append(&anon(), batch).unwrap();
        f.clock.set(t);
        f.manager.eval_due();
        t += 1_000;
    }
}

/// The answer with evaluation durations (wall-clock) zeroed.
fn stable(mut v: Value) -> Value {
    fn walk(v: &mut Value) {
        match v {
            Value::Object(map) => {
                for (k, x) in map.iter_mut() {
                    if k == "evaluationTime" {
                        *x = Value::from(0);
                    } else {
                        walk(x);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut v);
    v
}

async fn ok(state: &Arc<ServerState>, uri: &str) -> Value {
    let (code, body) = get(state, uri).await;
    assert_eq!(code, 200, "{uri}: {body}");
    stable(json(&body))
}

#[tokio::test]
async fn rules_and_alerts_answer_in_prometheus_shapes() {
    let f = fixture(true);
    evaluated(&f);
    insta::assert_json_snapshot!("rules_all", ok(&f.state, "/api/v1/rules").await);
    insta::assert_json_snapshot!("alerts", ok(&f.state, "/api/v1/alerts").await);
    assert_eq!(
        ok(&f.state, "/prometheus/api/v1/alerts").await,
        ok(&f.state, "/api/v1/alerts").await
    );
}

#[tokio::test]
async fn rule_filters_pick_rules_and_groups() {
    let f = fixture(true);
    evaluated(&f);
    let names = |v: &Value| -> Vec<String> {
        v["data"]["groups"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|g| g["rules"].as_array().unwrap().iter())
            .map(|r| r["name"].as_str().unwrap().to_string())
            .collect()
    };
    let v = ok(&f.state, "/api/v1/rules?type=alert").await;
    assert_eq!(names(&v), ["TooManyRequests"]);
    let v = ok(&f.state, "/api/v1/rules?type=record").await;
    assert_eq!(names(&v), ["job:requests:sum", "broken:text"]);
    let v = ok(&f.state, "/api/v1/rules?rule_group[]=broken").await;
    assert_eq!(names(&v), ["broken:text"]);
    assert_eq!(v["data"]["groups"][0]["rules"][0]["health"], "err");
    assert_eq!(
        v["data"]["groups"][0]["rules"][0]["lastError"],
        "rule result is not a vector or scalar"
    );
    let v = ok(
        &f.state,
        "/api/v1/rules?rule_name[]=job:requests:sum&rule_name[]=TooManyRequests",
    )
    .await;
    assert_eq!(names(&v), ["job:requests:sum", "TooManyRequests"]);
    let v = ok(&f.state, "/api/v1/rules?file[]=/other.yml").await;
    assert_eq!(v["data"]["groups"], serde_json::json!([]));
    let v = ok(&f.state, "/api/v1/rules?type=alert&exclude_alerts=true").await;
    assert_eq!(
        v["data"]["groups"][0]["rules"][0]["alerts"],
        serde_json::json!([])
    );
    let (code, body) = get(&f.state, "/api/v1/rules?type=alerts").await;
    assert_eq!(code, 400);
    let v = json(&body);
    assert_eq!(v["errorType"], "bad_data");
    assert!(
        v["error"].as_str().unwrap().contains("type='alerts'"),
        "{v}"
    );
}

#[tokio::test]
async fn without_a_rule_manager_lists_are_empty_and_the_ruler_unavailable() {
    let f = fixture(false);
    let v = ok(&f.state, "/api/v1/rules").await;
    assert_eq!(v["data"]["groups"], serde_json::json!([]));
    let v = ok(&f.state, "/api/v1/alerts").await;
    assert_eq!(v["data"]["alerts"], serde_json::json!([]));
    let (code, _) = get(&f.state, "/loki/api/v1/rules").await;
    assert_eq!(code, 503);
}

async fn ruler(
    state: &Arc<ServerState>,
    method: &str,
    uri: &str,
    tenant: &str,
    body: &str,
) -> (u16, String) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header("X-Scope-OrgID", tenant)
        .header("Content-Type", "application/yaml")
        .body(Body::from(body.to_string()))
        .unwrap();
    let (code, body, _) = send(state, req).await;
    (code, body)
}

const LOG_GROUP: &str = r#"name: errors
interval: 1m
rules:
  - record: app:errors:rate1m
    expr: sum by (app) (rate({app="api"} |= "error" [1m]))
    labels:
      source: logs
"#;

#[tokio::test]
async fn ruler_api_round_trip_per_tenant() {
    let f = fixture(true);
    let s = &f.state;
    let (code, body) = ruler(s, "POST", "/loki/api/v1/rules/my%20ns", "team-a", LOG_GROUP).await;
    assert_eq!(code, 202, "{body}");
    assert_eq!(json(&body)["status"], "success");

    let (code, all) = ruler(s, "GET", "/loki/api/v1/rules", "team-a", "").await;
    assert_eq!(code, 200);
    insta::assert_snapshot!("ruler_all", all);
    let (code, ns) = ruler(s, "GET", "/loki/api/v1/rules/my%20ns", "team-a", "").await;
    assert_eq!((code, ns), (200, all.clone()));
    let (code, group) = ruler(s, "GET", "/loki/api/v1/rules/my%20ns/errors", "team-a", "").await;
    assert_eq!(code, 200);
    assert_eq!(
        oxeye_rules::file::parse_group(&group).unwrap(),
        oxeye_rules::file::parse_group(LOG_GROUP).unwrap()
    );

    // Another tenant sees nothing of it.
    let (code, body) = ruler(s, "GET", "/loki/api/v1/rules", "team-b", "").await;
    assert_eq!((code, body.trim()), (404, "no rule groups found"));
    let (code, _) = ruler(s, "GET", "/loki/api/v1/rules/my%20ns/errors", "team-b", "").await;
    assert_eq!(code, 404);
    let (code, _) = ruler(
        s,
        "DELETE",
        "/loki/api/v1/rules/my%20ns/errors",
        "team-b",
        "",
    )
    .await;
    assert_eq!(code, 404);
    let rules = |tenant: &str| {
        let t = TenantId::new(tenant).unwrap();
        f.manager.groups(&t).len()
    };
    assert_eq!((rules("team-a"), rules("team-b")), (1, 0));

    // Log queries, unknown fields and bad YAML are refused.
    let log_query = LOG_GROUP.replace(
        r#"sum by (app) (rate({app="api"} |= "error" [1m]))"#,
        r#"'{app="api"}'"#,
    );
    let (code, body) = ruler(s, "POST", "/loki/api/v1/rules/ns", "team-a", &log_query).await;
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("log query"), "{body}");
    let (code, _) = ruler(
        s,
        "POST",
        "/loki/api/v1/rules/ns",
        "team-a",
        "name: x\nrulez: []\n",
    )
    .await;
    assert_eq!(code, 400);
    let (code, _) = ruler(s, "POST", "/loki/api/v1/rules/ns", "team-a", "rules: [").await;
    assert_eq!(code, 400);

    let (code, _) = ruler(
        s,
        "DELETE",
        "/loki/api/v1/rules/my%20ns/errors",
        "team-a",
        "",
    )
    .await;
    assert_eq!(code, 202);
    let (code, _) = ruler(s, "GET", "/loki/api/v1/rules/my%20ns", "team-a", "").await;
    assert_eq!(code, 404);
    assert_eq!(rules("team-a"), 0);

    ruler(s, "POST", "/loki/api/v1/rules/other", "team-a", LOG_GROUP).await;
    let (code, _) = ruler(s, "DELETE", "/loki/api/v1/rules/other", "team-a", "").await;
    assert_eq!(code, 202);
    let (code, _) = ruler(s, "DELETE", "/loki/api/v1/rules/other", "team-a", "").await;
    assert_eq!(code, 404);
}

#[test]
fn go_formats() {
    assert_eq!(super::go_float_e(1.0), "1e+00");
    assert_eq!(super::go_float_e(42.0), "4.2e+01");
    assert_eq!(super::go_float_e(0.00001), "1e-05");
    assert_eq!(super::go_float_e(1e100), "1e+100");
    assert_eq!(super::go_float_e(-2.5), "-2.5e+00");
    assert_eq!(super::go_float_e(f64::NAN), "NaN");
    assert_eq!(super::go_float_e(f64::NEG_INFINITY), "-Inf");
    assert_eq!(super::go_time(T0), "2023-11-14T22:13:20Z");
    assert_eq!(super::go_time(T0 + 120), "2023-11-14T22:13:20.12Z");
}
