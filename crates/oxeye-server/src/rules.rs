//! Rule and alert APIs: Prometheus's `/api/v1/rules` and `/api/v1/alerts`, and the Loki
//! ruler's rule-group API (`/loki/api/v1/rules...`, `/prometheus/api/v1/rules`,
//! `/prometheus/api/v1/alerts`), over the state's rule manager.
//!
//! Data flow: the tenant comes from `X-Scope-OrgID` (the default tenant without one);
//! the rule manager answers group statuses and active alerts, which are shaped here into
//! Prometheus's JSON (times RFC 3339, values as Go prints them with `%e`). The ruler API
//! ([`ruler`]) reads and writes YAML rule groups per namespace. Without a rule manager
//! the Prometheus endpoints answer empty lists and the ruler API 503.

pub mod ruler;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use oxeye_rules::group::{ActiveAlert, RuleKind, RuleStatus};
use oxeye_rules::manager::GroupStatus;
use serde_json::{Map, Value, json};

use crate::ServerState;
use crate::error::{ApiError, JsonApiError};
use crate::params::{Params, format_rfc3339};
use crate::state::ReadTenant;

/// The rule routes.
pub fn routes() -> Router<Arc<ServerState>> {
    Router::new()
        .route("/api/v1/rules", get(rules).post(rules))
        .route("/api/v1/alerts", get(alerts).post(alerts))
        .route("/prometheus/api/v1/rules", get(rules).post(rules))
        .route("/prometheus/api/v1/alerts", get(alerts).post(alerts))
        .route("/loki/api/v1/rules", get(ruler::list_all))
        .route(
            "/loki/api/v1/rules/{namespace}",
            get(ruler::list_namespace)
                .post(ruler::set_group)
                .delete(ruler::delete_namespace),
        )
        .route(
            "/loki/api/v1/rules/{namespace}/{group}",
            get(ruler::get_group).delete(ruler::delete_group),
        )
}

/// A time as Go's RFC 3339 with nanoseconds prints it: fraction without trailing zeros.
pub(crate) fn go_time(ms: i64) -> String {
    let s = format_rfc3339(ms);
    match s.strip_suffix('Z') {
        Some(body) => {
            let trimmed = body.trim_end_matches('0').trim_end_matches('.');
            format!("{trimmed}Z")
        }
        None => s,
    }
}

/// A float as Go's `strconv.FormatFloat(v, 'e', -1, 64)`: `1e+00`, `5.5e+01`, `1e-05`.
pub(crate) fn go_float_e(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    let s = format!("{v:e}");
    let Some((mantissa, exp)) = s.split_once('e') else {
        return s;
    };
    let (sign, digits) = match exp.strip_prefix('-') {
        Some(d) => ('-', d),
        None => ('+', exp),
    };
    let pad = if digits.len() < 2 { "0" } else { "" };
    format!("{mantissa}e{sign}{pad}{digits}")
}

fn label_map<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> Value {
    Value::Object(
        pairs
            .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
            .collect::<Map<_, _>>(),
    )
}

fn alert_json(a: &ActiveAlert) -> Value {
    let mut out = json!({
        "labels": label_map(a.labels.iter().map(|l| (l.name.as_str(), l.value.as_str()))),
        "annotations": label_map(a.annotations.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
        "state": a.state.as_str(),
        "activeAt": go_time(a.active_at_ms),
        "value": go_float_e(a.value),
    });
    if let (Some(since), Some(obj)) = (a.keep_firing_since_ms, out.as_object_mut()) {
        obj.insert("keepFiringSince".into(), Value::String(go_time(since)));
    }
    out
}

/// Go's zero time, what Prometheus reports for a rule never evaluated.
const NEVER: &str = "0001-01-01T00:00:00Z";

fn last_eval(ms: Option<i64>) -> String {
    ms.map_or_else(|| NEVER.to_string(), go_time)
}

fn rule_json(r: &RuleStatus, with_alerts: bool) -> Value {
    let labels = label_map(r.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let out = match &r.kind {
        RuleKind::Alerting {
            duration_s,
            keep_firing_for_s,
            annotations,
            alerts,
            state,
        } => {
            let alerts: Vec<Value> = if with_alerts {
                alerts.iter().map(alert_json).collect()
            } else {
                Vec::new()
            };
            json!({
                "state": state.as_str(),
                "name": r.name,
                "query": r.query,
                "duration": go_number(*duration_s),
                "keepFiringFor": go_number(*keep_firing_for_s),
                "labels": labels,
                "annotations": label_map(annotations.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
                "alerts": alerts,
                "health": r.health,
                "evaluationTime": r.evaluation_time_s,
                "lastEvaluation": last_eval(r.last_evaluation_ms),
                "type": "alerting",
            })
        }
        RuleKind::Recording => json!({
            "name": r.name,
            "query": r.query,
            "labels": labels,
            "health": r.health,
            "evaluationTime": r.evaluation_time_s,
            "lastEvaluation": last_eval(r.last_evaluation_ms),
            "type": "recording",
        }),
    };
    let Some(err) = &r.last_error else {
        return out;
    };
    // After `health`, where Prometheus puts it.
    let Value::Object(fields) = out else {
        return out;
    };
    let mut ordered = Map::new();
    for (k, v) in fields {
        let after = k == "health";
        ordered.insert(k, v);
        if after {
            ordered.insert("lastError".into(), Value::String(err.clone()));
        }
    }
    Value::Object(ordered)
}

/// A float as Go's JSON encoder writes it: integral values without a fraction.
fn go_number(v: f64) -> Value {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        Value::from(v as i64)
    } else {
        Value::from(v)
    }
}

/// Which rules `/api/v1/rules` returns.
struct RuleFilter {
    alerting: bool,
    recording: bool,
    names: Vec<String>,
    groups: Vec<String>,
    files: Vec<String>,
    with_alerts: bool,
}

impl RuleFilter {
    fn from_params(p: &Params) -> Result<Self, ApiError> {
        let (alerting, recording) = match p.get("type").unwrap_or("") {
            "" => (true, true),
            "alert" => (true, false),
            "record" => (false, true),
            other => {
                return Err(ApiError::BadRequest(format!(
                    "invalid query parameter type='{other}', must be one of 'alert' or 'record'"
                )));
            }
        };
        let with_alerts = match p.get("exclude_alerts").unwrap_or("") {
            "" | "false" => true,
            "true" => false,
            other => {
                return Err(ApiError::BadRequest(format!(
                    "invalid query parameter exclude_alerts='{other}', must be true or false"
                )));
            }
        };
        let owned = |name: &str| p.all(name).into_iter().map(str::to_string).collect();
        Ok(Self {
            alerting,
            recording,
            names: owned("rule_name[]"),
            groups: owned("rule_group[]"),
            files: owned("file[]"),
            with_alerts,
        })
    }

    fn filters_rules(&self) -> bool {
        !(self.alerting && self.recording && self.names.is_empty())
    }

    fn group_json(&self, g: &GroupStatus) -> Option<Value> {
        if !self.groups.is_empty() && !self.groups.contains(&g.name) {
            return None;
        }
        if !self.files.is_empty() && !self.files.contains(&g.file) {
            return None;
        }
        let rules: Vec<Value> = g
            .rules
            .iter()
            .filter(|r| match r.kind {
                RuleKind::Alerting { .. } => self.alerting,
                RuleKind::Recording => self.recording,
            })
            .filter(|r| self.names.is_empty() || self.names.contains(&r.name))
            .map(|r| rule_json(r, self.with_alerts))
            .collect();
        if rules.is_empty() && self.filters_rules() {
            return None;
        }
        Some(json!({
            "name": g.name,
            "file": g.file,
            "rules": rules,
            "interval": go_number(g.interval_s),
            "limit": g.limit,
            "evaluationTime": g.evaluation_time_s,
            "lastEvaluation": last_eval(g.last_evaluation_ms),
        }))
    }
}

/// `GET /api/v1/rules`: the tenant's rule groups with their rules' health and alerts.
async fn rules(
    State(state): State<Arc<ServerState>>,
    ReadTenant(tenant): ReadTenant,
    params: Params,
) -> Result<Response, JsonApiError> {
    let filter = RuleFilter::from_params(&params)?;
    let groups: Vec<Value> = state
        .rules
        .as_ref()
        .map(|m| m.groups(&tenant))
        .unwrap_or_default()
        .iter()
        .filter_map(|g| filter.group_json(g))
        .collect();
    Ok(axum::Json(json!({"status": "success", "data": {"groups": groups}})).into_response())
}

/// `GET /api/v1/alerts`: the tenant's pending and firing alerts.
async fn alerts(State(state): State<Arc<ServerState>>, ReadTenant(tenant): ReadTenant) -> Response {
    let alerts: Vec<Value> = state
        .rules
        .as_ref()
        .map(|m| m.alerts(&tenant))
        .unwrap_or_default()
        .iter()
        .map(alert_json)
        .collect();
    axum::Json(json!({"status": "success", "data": {"alerts": alerts}})).into_response()
}
