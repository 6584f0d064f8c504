//! `/api/v1/slos`: each loaded SLO's objective, current SLI, error budget remaining and
//! burn rates.
//!
//! `GET /api/v1/slos[?time=<rfc3339|unix>]` answers in Prometheus's envelope
//! `{"status":"success","data":[…]}`, one entry per SLO of the loaded `slo_files` in file
//! order, for the request's tenant (`X-Scope-OrgID`). The figures are read from the series
//! the generated SLO rules record (see `oxeye_rules::slo`), so they are `null` until the
//! rules have run and the SLI has traffic. Without SLO files the list is empty.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::ServerState;
use crate::error::{JsonApiError, blocking};
use crate::params::Params;
use crate::read::Success;
use crate::state::ReadTenant;

/// The SLO routes.
pub fn routes() -> Router<Arc<ServerState>> {
    Router::new().route("/api/v1/slos", get(list_slos).post(list_slos))
}

/// `GET|POST /api/v1/slos`
async fn list_slos(
    State(state): State<Arc<ServerState>>,
    ReadTenant(tenant): ReadTenant,
    params: Params,
) -> Result<Response, JsonApiError> {
    let now = state.clock.now_ms();
    let t = params.time("time", now)?;
    let Some(slos) = state.slos.clone() else {
        return Ok(Success::new(Vec::<oxeye_rules::slo::SloReport>::new()).into_response());
    };
    let reports = blocking(move || Ok(slos.report(&tenant, t))).await?;
    Ok(Success::new(reports).into_response())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use axum::body::Body;
    use axum::http::Request;
    use oxeye_core::{Labels, TenantId};
    use oxeye_rules::RulesError;
    use oxeye_rules::query::{QueryFunc, Vector};
    use oxeye_rules::slo::SloRegistry;

    use super::*;
    use crate::tests::{MemStore, json, send};

    /// Answers each metric name (the expression up to `{`) from a table, per tenant, and
    /// records the expressions asked.
    #[derive(Default)]
    struct TableQuery {
        values: HashMap<(String, String), Vector>,
        asked: parking_lot::Mutex<Vec<(String, i64)>>,
    }

    impl QueryFunc for TableQuery {
        fn instant(&self, tenant: &TenantId, expr: &str, t_ms: i64) -> Result<Vector, RulesError> {
            self.asked.lock().push((expr.to_string(), t_ms));
            let name = expr.split('{').next().unwrap_or(expr);
            if !expr.contains("sloth_id=\"myservice-requests-availability\"") {
                return Ok(Vec::new());
            }
            Ok(self
                .values
                .get(&(tenant.as_str().to_string(), name.to_string()))
                .cloned()
                .unwrap_or_default())
        }
    }

    const SPEC: &str = r#"
version: prometheus/v1
service: myservice
labels: {owner: myteam}
slos:
  - name: requests-availability
    objective: 99.9
    description: Common SLO based on availability for HTTP request responses.
    sli:
      events:
        error_query: sum(rate(http_requests_total{code=~"5.."}[{{.window}}]))
        total_query: sum(rate(http_requests_total[{{.window}}]))
    alerting:
      name: MyServiceHighErrorRate
  - name: requests-latency
    objective: 99
    sli:
      raw:
        error_ratio_query: 1 - sum(rate(fast_total[{{.window}}])) / sum(rate(all_total[{{.window}}]))
    alerting:
      name: MyServiceSlow
      page_alert: {disable: true}
"#;

    fn one(v: f64) -> Vector {
        vec![(
            Labels::from_pairs(&[("sloth_id", "myservice-requests-availability")]),
            v,
        )]
    }

    #[tokio::test]
    async fn slos_report_their_state_in_prometheus_envelope() {
        let mut q = TableQuery::default();
        let t = |name: &str| ("anonymous".to_string(), name.to_string());
        for (w, v) in [
            ("5m", 0.0005),
            ("30m", 0.002),
            ("1h", 0.001),
            ("2h", 0.0),
            ("6h", 0.0001),
            ("1d", 0.0002),
            ("3d", 0.0003),
            ("30d", 0.00025),
        ] {
            q.values
                .insert(t(&format!("slo:sli_error:ratio_rate{w}")), one(v));
        }
        q.values
            .insert(t("slo:period_error_budget_remaining:ratio"), one(0.75));
        q.values.insert(t("slo:current_burn_rate:ratio"), one(0.5));
        q.values.insert(t("slo:period_burn_rate:ratio"), one(0.25));
        q.values.insert(
            t("ALERTS"),
            vec![(
                Labels::from_pairs(&[
                    ("alertname", "MyServiceHighErrorRate"),
                    ("alertstate", "pending"),
                    ("sloth_id", "myservice-requests-availability"),
                    ("sloth_severity", "ticket"),
                ]),
                1.0,
            )],
        );
        // another tenant sees no data for the same SLO
        q.values.insert(
            (
                "team-b".to_string(),
                "slo:sli_error:ratio_rate5m".to_string(),
            ),
            one(0.5),
        );
        let q = Arc::new(q);
        let reg =
            SloRegistry::new(vec![("slos.yml".into(), SPEC.into())], q.clone()).expect("registry");
        let store = Arc::new(MemStore::default());
        let state = ServerState::builder(store.clone(), store)
            .slos(Arc::new(reg))
            .build();
        state.set_ready(true);

        let (code, body, _) = send(
            &state,
            Request::get("/api/v1/slos?time=1700000000")
                .body(Body::empty())
                .expect("request"),
        )
        .await;
        assert_eq!(code, 200, "{body}");
        let v = json(&body);
        insta::assert_json_snapshot!("slos_report", v);
        assert!(q.asked.lock().iter().all(|(_, t)| *t == 1_700_000_000_000));

        let (code, body, _) = send(
            &state,
            Request::get("/api/v1/slos")
                .header("X-Scope-OrgID", "team-b")
                .body(Body::empty())
                .expect("request"),
        )
        .await;
        assert_eq!(code, 200);
        let v = json(&body);
        assert_eq!(v["data"][0]["sli"], 0.5);
        assert!(v["data"][0]["error_budget_remaining"].is_null());

        let (code, body, _) = send(
            &state,
            Request::get("/api/v1/slos?time=notatime")
                .body(Body::empty())
                .expect("request"),
        )
        .await;
        assert_eq!(code, 400, "{body}");
        assert_eq!(json(&body)["errorType"], "bad_data");
    }

    #[tokio::test]
    async fn no_slo_files_is_an_empty_list() {
        let store = Arc::new(MemStore::default());
        let state = ServerState::builder(store.clone(), store).build();
        state.set_ready(true);
        let (code, body, _) = send(
            &state,
            Request::get("/api/v1/slos")
                .body(Body::empty())
                .expect("request"),
        )
        .await;
        assert_eq!(code, 200);
        assert_eq!(
            json(&body),
            serde_json::json!({"status": "success", "data": []})
        );
    }
}
