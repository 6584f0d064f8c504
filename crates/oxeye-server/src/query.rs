//! PromQL query APIs: `/api/v1/query` and `/api/v1/query_range`.
//!
//! Each handler parses `query`, `time` or `start`/`end`/`step`, runs the
//! [`oxeye_promql::Engine`] on a blocking thread against the state's queryable for the
//! request's tenant, and answers in Prometheus's JSON shapes: `resultType` plus `result`,
//! values as strings and timestamps as float seconds. Parse and unsupported-feature
//! errors answer `bad_data` (400); evaluation errors answer `execution` (422).

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use oxeye_core::{Labels, Sample};
use oxeye_promql::{Engine, PromqlError, Value};
use serde_json::{Map, Value as Json, json};

use crate::error::{ApiError, JsonApiError, blocking};
use crate::params::{Params, parse_time};
use crate::read::Success;
use crate::state::{ReadTenant, ServerState};

/// Most points a range query may return per series, as in Prometheus.
const MAX_POINTS_PER_SERIES: i64 = 11_000;

/// Formats a sample value the way Prometheus does.
fn value_str(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

fn point(t_ms: i64, v: f64) -> Json {
    json!([t_ms as f64 / 1000.0, value_str(v)])
}

fn metric(l: &Labels) -> Json {
    let mut m = Map::new();
    for label in l {
        m.insert(label.name.clone(), Json::String(label.value.clone()));
    }
    Json::Object(m)
}

fn samples(s: &[Sample]) -> Json {
    Json::Array(s.iter().map(|x| point(x.t, x.v)).collect())
}

/// The `data` object of a query answer.
pub fn result_json(v: &Value) -> Json {
    match v {
        Value::Scalar(t, x) => json!({"resultType": "scalar", "result": point(*t, *x)}),
        Value::String(t, s) => {
            json!({"resultType": "string", "result": [*t as f64 / 1000.0, s]})
        }
        Value::Vector(els) => json!({
            "resultType": "vector",
            "result": els
                .iter()
                .map(|(l, t, x)| json!({"metric": metric(l), "value": point(*t, *x)}))
                .collect::<Vec<_>>(),
        }),
        Value::Matrix(series) => json!({
            "resultType": "matrix",
            "result": series
                .iter()
                .map(|(l, s)| json!({"metric": metric(l), "values": samples(s)}))
                .collect::<Vec<_>>(),
        }),
    }
}

/// Answers a query error: `execution` (422) for evaluation errors, else by status code.
fn error_response(e: PromqlError) -> Response {
    match e {
        PromqlError::Execution(msg) => (
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            axum::Json(json!({"status": "error", "errorType": "execution", "error": msg})),
        )
            .into_response(),
        other => {
            JsonApiError(ApiError::coded(other.status_code(), other.to_string())).into_response()
        }
    }
}

fn query_param(params: &Params) -> Result<String, ApiError> {
    match params.get("query") {
        Some(q) if !q.is_empty() => Ok(q.to_string()),
        _ => Err(ApiError::BadRequest(
            "invalid parameter \"query\": no query given".into(),
        )),
    }
}

/// Parses `step` as float seconds or a duration like `15s`, `1m30s`, into ms.
fn parse_step(s: &str) -> Option<i64> {
    if let Ok(f) = s.parse::<f64>() {
        return (f.is_finite() && f > 0.0).then(|| (f * 1000.0).round() as i64);
    }
    let mut total = 0i64;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit())?;
        let n: i64 = rest.get(..digits)?.parse().ok()?;
        rest = rest.get(digits..)?;
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let mult = match rest.get(..unit_len)? {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 604_800_000,
            "y" => 31_536_000_000,
            _ => return None,
        };
        rest = rest.get(unit_len..)?;
        total = total.checked_add(n.checked_mul(mult)?)?;
    }
    (total > 0).then_some(total)
}

/// `GET|POST /api/v1/query`
pub async fn query(
    State(state): State<Arc<ServerState>>,
    ReadTenant(tenant): ReadTenant,
    params: Params,
) -> Result<Response, JsonApiError> {
    let expr = query_param(&params)?;
    let now = state.clock.now_ms();
    let t = params.time("time", now)?;
    let queryable = state.queryable.clone();
    let out =
        blocking(move || Ok(Engine::default().instant(queryable.as_ref(), &tenant, &expr, t)))
            .await?;
    Ok(match out {
        Ok(o) => Success::new(result_json(&o.value))
            .annotated(o.warnings, o.infos)
            .into_response(),
        Err(e) => error_response(e),
    })
}

/// `GET|POST /api/v1/query_range`
pub async fn query_range(
    State(state): State<Arc<ServerState>>,
    ReadTenant(tenant): ReadTenant,
    params: Params,
) -> Result<Response, JsonApiError> {
    let expr = query_param(&params)?;
    let time = |name: &str| -> Result<i64, ApiError> {
        let raw = params.get(name).unwrap_or("");
        parse_time(raw).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "invalid parameter {name:?}: cannot parse {raw:?} to a valid timestamp"
            ))
        })
    };
    let start = time("start")?;
    let end = time("end")?;
    if end < start {
        return Err(ApiError::BadRequest(
            "invalid parameter \"end\": end timestamp must not be before start time".into(),
        )
        .into());
    }
    let raw_step = params.get("step").unwrap_or("");
    let step = parse_step(raw_step).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "invalid parameter \"step\": cannot parse {raw_step:?} to a positive duration"
        ))
    })?;
    if (end - start) / step > MAX_POINTS_PER_SERIES {
        return Err(ApiError::BadRequest(format!(
            "exceeded maximum resolution of {MAX_POINTS_PER_SERIES} points per timeseries; try decreasing the query resolution (?step=XX)"
        ))
        .into());
    }
    let queryable = state.queryable.clone();
    let out = blocking(move || {
        Ok(Engine::default().range(queryable.as_ref(), &tenant, &expr, start, end, step))
    })
    .await?;
    Ok(match out {
        Ok(o) => Success::new(result_json(&o.value))
            .annotated(o.warnings, o.infos)
            .into_response(),
        Err(e) => error_response(e),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_and_values() {
        assert_eq!(parse_step("15"), Some(15_000));
        assert_eq!(parse_step("0.5"), Some(500));
        assert_eq!(parse_step("1m30s"), Some(90_000));
        assert_eq!(parse_step("0"), None);
        assert_eq!(parse_step("-1"), None);
        assert_eq!(parse_step("1x"), None);
        assert_eq!(value_str(1.5), "1.5");
        assert_eq!(value_str(f64::INFINITY), "+Inf");
        assert_eq!(value_str(f64::NAN), "NaN");
    }
}
