//! PromQL query APIs: `/api/v1/query`, `/api/v1/query_range` and `/api/v1/format_query`.
//!
//! A query request is checked in Prometheus's order (`limit`, times, `step`, `timeout`,
//! `lookback_delta`, then the expression is parsed) so the same bad request gets the same
//! `bad_data` message. It then waits for one of `--query.max-concurrency` slots (at most
//! until its timeout), and the [`oxeye_promql::Engine`] evaluates it on a blocking thread
//! with the server's sample limit, lookback delta and the time left. When the client goes
//! away the handler future is dropped, and a drop guard sets the engine's cancel flag so
//! the evaluation stops at its next check. Results are written in Prometheus's shapes:
//! `resultType` plus `result`, values as strings, timestamps as seconds.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use oxeye_core::{Labels, Sample, TenantId};
use oxeye_promql::{Engine, Output, PromqlError, Value};
use serde::Serialize;
use serde::ser::{SerializeMap, SerializeSeq};

use crate::error::{ApiError, JsonApiError, QueryFailure, blocking};
use crate::params::Params;
use crate::read::Success;
use crate::state::{ReadTenant, ServerState};

/// Most points a range query may return per series, as in Prometheus.
const MAX_POINTS_PER_SERIES: i64 = 11_000;

/// Formats a sample value the way Prometheus does (Go's shortest `'f'` format).
pub fn value_str(v: f64) -> String {
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

/// A timestamp in ms written as Prometheus writes it: seconds, with a fraction only when
/// there is one (`60`, `60.5`).
pub struct Timestamp(pub i64);

impl Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0 % 1000 == 0 {
            s.serialize_i64(self.0 / 1000)
        } else {
            s.serialize_f64(self.0 as f64 / 1000.0)
        }
    }
}

struct Point(i64, f64);

impl Serialize for Point {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(2))?;
        seq.serialize_element(&Timestamp(self.0))?;
        seq.serialize_element(&value_str(self.1))?;
        seq.end()
    }
}

struct Metric<'a>(&'a Labels);

impl Serialize for Metric<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for l in self.0 {
            map.serialize_entry(&l.name, &l.value)?;
        }
        map.end()
    }
}

struct Points<'a>(&'a [Sample]);

impl Serialize for Points<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|x| Point(x.t, x.v)))
    }
}

struct ResultList<'a>(&'a Value);

impl Serialize for ResultList<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Scalar(t, v) => Point(*t, *v).serialize(s),
            Value::String(t, text) => {
                let mut seq = s.serialize_seq(Some(2))?;
                seq.serialize_element(&Timestamp(*t))?;
                seq.serialize_element(text)?;
                seq.end()
            }
            Value::Vector(els) => {
                let mut seq = s.serialize_seq(Some(els.len()))?;
                for (l, t, v) in els {
                    seq.serialize_element(&VectorElem(l, *t, *v))?;
                }
                seq.end()
            }
            Value::Matrix(series) => {
                let mut seq = s.serialize_seq(Some(series.len()))?;
                for (l, samples) in series {
                    seq.serialize_element(&MatrixElem(l, samples))?;
                }
                seq.end()
            }
        }
    }
}

struct VectorElem<'a>(&'a Labels, i64, f64);

impl Serialize for VectorElem<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(2))?;
        map.serialize_entry("metric", &Metric(self.0))?;
        map.serialize_entry("value", &Point(self.1, self.2))?;
        map.end()
    }
}

struct MatrixElem<'a>(&'a Labels, &'a [Sample]);

impl Serialize for MatrixElem<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(2))?;
        map.serialize_entry("metric", &Metric(self.0))?;
        map.serialize_entry("values", &Points(self.1))?;
        map.end()
    }
}

/// The `data` object of a query answer: `resultType`, `result` and optional `stats`.
pub struct QueryData<'a> {
    /// The query's value.
    pub value: &'a Value,
    /// Statistics, when the request asked for them.
    pub stats: Option<QueryStats>,
}

impl Serialize for QueryData<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let kind = match self.value {
            Value::Scalar(..) => "scalar",
            Value::String(..) => "string",
            Value::Vector(_) => "vector",
            Value::Matrix(_) => "matrix",
        };
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("resultType", kind)?;
        map.serialize_entry("result", &ResultList(self.value))?;
        if let Some(st) = &self.stats {
            map.serialize_entry("stats", st)?;
        }
        map.end()
    }
}

/// The timings of a query, in seconds, as Prometheus's `stats` names them. Only what is
/// measured is reported.
#[derive(Debug, Clone, Serialize)]
pub struct QueryStats {
    timings: Timings,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct Timings {
    eval_total_time: f64,
    exec_queue_time: f64,
    exec_total_time: f64,
}

/// The `data` object of a query answer as JSON.
pub fn result_json(v: &Value) -> serde_json::Value {
    serde_json::to_value(QueryData {
        value: v,
        stats: None,
    })
    .unwrap_or(serde_json::Value::Null)
}

/// Prometheus's name of an expression type, as in its error messages.
fn documented_type(t: promql_parser::parser::value::ValueType) -> &'static str {
    use promql_parser::parser::value::ValueType;
    match t {
        ValueType::Scalar => "scalar",
        ValueType::String => "string",
        ValueType::Vector => "instant vector",
        ValueType::Matrix => "range vector",
    }
}

/// Everything a query request asks for besides its time range.
struct QueryOptions {
    expr: String,
    limit: Option<usize>,
    timeout: Duration,
    lookback_ms: i64,
    stats: bool,
    warnings: Vec<String>,
    /// A range query may be answered from the results cache (the client did not ask
    /// for a fresh evaluation with `Cache-Control: no-cache` or `no-store`).
    cacheable: bool,
}

/// Reads `timeout`, `lookback_delta`, `stats` and parses `query` (Prometheus's order after
/// the time parameters); `range` requires a scalar or instant-vector expression.
fn query_options(
    state: &ServerState,
    params: &Params,
    limit: Option<usize>,
    range: bool,
) -> Result<QueryOptions, ApiError> {
    let mut timeout = state.query_limits.timeout;
    let asked = params
        .duration("timeout")
        .map_err(|e| ApiError::BadRequest(format!("invalid parameter \"timeout\": {e}")))?;
    if let Some(ms) = asked {
        timeout = timeout.min(Duration::from_millis(u64::try_from(ms).unwrap_or(0)));
    }
    let lookback = params
        .duration("lookback_delta")
        .map_err(|e| ApiError::BadRequest(format!("error parsing lookback delta duration: {e}")))?;
    let lookback_ms = match lookback {
        Some(ms) if ms > 0 => ms,
        _ => state.query_limits.lookback_delta_ms,
    };
    let stats_param = params.get("stats").unwrap_or("");
    let mut warnings = Vec::new();
    if !matches!(stats_param, "" | "true" | "all") {
        warnings.push(format!(
            "value {stats_param:?} for parameter \"stats\" is deprecated and will be rejected in the next major release, use \"true\" or \"all\""
        ));
    }
    let expr = params.get("query").unwrap_or("").to_string();
    let ast = promql_parser::parser::parse(&expr).map_err(|e| {
        ApiError::BadRequest(format!("invalid parameter \"query\": parse error: {e}"))
    })?;
    if range {
        use promql_parser::parser::value::ValueType;
        let t = ast.value_type();
        if !matches!(t, ValueType::Scalar | ValueType::Vector) {
            return Err(ApiError::BadRequest(format!(
                "invalid parameter \"query\": invalid expression type {:?} for range query, must be Scalar or instant Vector",
                documented_type(t)
            )));
        }
    }
    Ok(QueryOptions {
        expr,
        limit,
        timeout,
        lookback_ms,
        stats: !stats_param.is_empty(),
        warnings,
        cacheable: false,
    })
}

/// Sets the engine's cancel flag when dropped armed: the request future went away.
struct CancelOnDrop {
    flag: Arc<AtomicBool>,
    armed: bool,
}

impl CancelOnDrop {
    fn new() -> Self {
        Self {
            flag: Arc::new(AtomicBool::new(false)),
            armed: true,
        }
    }

    fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if self.armed {
            tracing::debug!("query canceled: the client went away");
            self.flag.store(true, Ordering::SeqCst);
        }
    }
}

/// When a query is evaluated.
#[derive(Debug, Clone, Copy)]
enum Span {
    Instant(i64),
    Range { start: i64, end: i64, step: i64 },
}

/// Prometheus's answer to a failed evaluation.
fn query_error(e: PromqlError) -> ApiError {
    match e {
        PromqlError::Parse(_) => ApiError::BadRequest(format!("invalid parameter \"query\": {e}")),
        PromqlError::Unsupported(msg) => ApiError::BadRequest(msg),
        PromqlError::Execution(msg) => ApiError::query(QueryFailure::Execution, msg),
        PromqlError::TooManySamples(_) => ApiError::query(
            QueryFailure::Execution,
            "query processing would load too many samples into memory in query execution",
        ),
        PromqlError::Timeout(_) => ApiError::query(QueryFailure::Timeout, e.to_string()),
        PromqlError::Canceled(_) => ApiError::query(QueryFailure::Canceled, e.to_string()),
        PromqlError::Store(s) => ApiError::Store(s),
    }
}

/// Waits for a query slot, evaluates on a blocking thread, and answers.
async fn execute(
    state: Arc<ServerState>,
    tenant: TenantId,
    opts: QueryOptions,
    span: Span,
) -> Result<Response, JsonApiError> {
    let started = Instant::now();
    let permit = match tokio::time::timeout(opts.timeout, state.query_slots.clone().acquire_owned())
        .await
    {
        Ok(Ok(p)) => p,
        Ok(Err(_)) => return Err(ApiError::Internal("query slots are closed".into()).into()),
        Err(_) => {
            return Err(
                ApiError::query(QueryFailure::Timeout, "query timed out in query queue").into(),
            );
        }
    };
    let queued = started.elapsed();
    let guard = CancelOnDrop::new();
    let engine = Engine {
        lookback_ms: opts.lookback_ms,
        max_samples: state.query_limits.max_samples,
        timeout: Some(opts.timeout.saturating_sub(queued)),
        cancel: Some(guard.flag.clone()),
        subquery_step_ms: state.query_limits.subquery_step_ms,
    };
    let queryable = state.queryable.clone();
    let cache = state.results_cache.clone().filter(|_| opts.cacheable);
    let expr = opts.expr;
    let out = blocking(move || {
        let _slot = permit;
        let eval_started = Instant::now();
        let r = match span {
            Span::Instant(t) => engine.instant(queryable.as_ref(), &tenant, &expr, t),
            Span::Range { start, end, step } => match &cache {
                Some(c) => c.range(
                    &engine,
                    queryable.as_ref(),
                    &tenant,
                    &expr,
                    start,
                    end,
                    step,
                ),
                None => engine.range(queryable.as_ref(), &tenant, &expr, start, end, step),
            },
        };
        Ok((r, eval_started.elapsed()))
    })
    .await;
    guard.disarm();
    let (out, eval_time) = out?;
    let Output {
        mut value,
        mut warnings,
        infos,
    } = out.map_err(query_error)?;
    if let Some(n) = opts.limit {
        let truncated = match &mut value {
            Value::Vector(v) if v.len() > n => {
                v.truncate(n);
                true
            }
            Value::Matrix(m) if m.len() > n => {
                m.truncate(n);
                true
            }
            _ => false,
        };
        if truncated {
            warnings.push("results truncated due to limit".into());
        }
    }
    warnings.extend(opts.warnings);
    let stats = opts.stats.then(|| QueryStats {
        timings: Timings {
            eval_total_time: eval_time.as_secs_f64(),
            exec_queue_time: queued.as_secs_f64(),
            exec_total_time: started.elapsed().as_secs_f64(),
        },
    });
    let body = Success::new(QueryData {
        value: &value,
        stats,
    })
    .annotated(warnings, infos);
    let bytes = serde_json::to_vec(&body)
        .map_err(|e| ApiError::Internal(format!("cannot encode query result: {e}")))?;
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        bytes,
    )
        .into_response())
}

/// `GET|POST /api/v1/query`
pub async fn query(
    State(state): State<Arc<ServerState>>,
    ReadTenant(tenant): ReadTenant,
    params: Params,
) -> Result<Response, JsonApiError> {
    let limit = params.limit()?;
    let t = params.time("time", state.clock.now_ms())?;
    let opts = query_options(&state, &params, limit, false)?;
    execute(state, tenant, opts, Span::Instant(t)).await
}

/// `GET|POST /api/v1/query_range`
pub async fn query_range(
    State(state): State<Arc<ServerState>>,
    ReadTenant(tenant): ReadTenant,
    headers: axum::http::HeaderMap,
    params: Params,
) -> Result<Response, JsonApiError> {
    let limit = params.limit()?;
    let start = params.required_time("start")?;
    let end = params.required_time("end")?;
    if end < start {
        return Err(ApiError::BadRequest(
            "invalid parameter \"end\": end timestamp must not be before start time".into(),
        )
        .into());
    }
    let step = crate::params::parse_duration(params.get("step").unwrap_or(""))
        .map_err(|e| ApiError::BadRequest(format!("invalid parameter \"step\": {e}")))?;
    if step <= 0 {
        return Err(ApiError::BadRequest(
            "invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer".into(),
        )
        .into());
    }
    // `end - start` can exceed i64 when both bounds are near the extremes Prometheus allows.
    if end
        .checked_sub(start)
        .is_none_or(|span| span / step > MAX_POINTS_PER_SERIES)
    {
        return Err(ApiError::BadRequest(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)".into(),
        )
        .into());
    }
    let mut opts = query_options(&state, &params, limit, true)?;
    opts.cacheable = !headers
        .get_all(axum::http::header::CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|d| {
            matches!(
                d.trim().to_ascii_lowercase().as_str(),
                "no-cache" | "no-store"
            )
        });
    execute(state, tenant, opts, Span::Range { start, end, step }).await
}

/// `GET|POST /api/v1/format_query`: the expression pretty-printed.
pub async fn format_query(params: Params) -> Result<Response, JsonApiError> {
    let expr = params.get("query").unwrap_or("");
    let ast = promql_parser::parser::parse(expr).map_err(|e| {
        ApiError::BadRequest(format!("invalid parameter \"query\": parse error: {e}"))
    })?;
    Ok(Success::new(ast.prettify()).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_timestamps() {
        assert_eq!(value_str(1.5), "1.5");
        assert_eq!(value_str(1e21), "1000000000000000000000");
        assert_eq!(value_str(f64::INFINITY), "+Inf");
        assert_eq!(value_str(f64::NAN), "NaN");
        let ts = |ms| serde_json::to_string(&Timestamp(ms)).unwrap();
        assert_eq!(ts(60_000), "60");
        assert_eq!(ts(60_500), "60.5");
        assert_eq!(ts(1_435_781_451_781), "1435781451.781");
        assert_eq!(ts(-1_500), "-1.5");
    }

    #[test]
    fn cancel_guard_sets_the_flag_only_when_dropped_armed() {
        let g = CancelOnDrop::new();
        let flag = g.flag.clone();
        g.disarm();
        assert!(!flag.load(Ordering::SeqCst));
        let g = CancelOnDrop::new();
        let flag = g.flag.clone();
        drop(g);
        assert!(flag.load(Ordering::SeqCst));
    }
}
