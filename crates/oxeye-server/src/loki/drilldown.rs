//! What Grafana's Logs Drilldown asks besides LogQL: detected fields and their values,
//! detected labels, and patterns.
//!
//! Detected fields run [`oxeye_logql::analysis::FieldDetector`] over the newest
//! `line_limit` lines the query returns (run through the LogQL engine, so its filters
//! apply). Patterns run
//! [`oxeye_logql::analysis::Drain`] over the range's lines, oldest first (at most
//! [`MAX_PATTERN_LINES`]), and count each pattern per `step`. Shapes as Loki's:
//! `{"fields":[{label,type,cardinality,parsers}],"limit":N}`, `{"values":[..]}`,
//! `{"detectedLabels":[{label,cardinality}]}` and
//! `{"status":"success","data":[{"pattern","samples":[[s,count]]}]}`.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::ControlFlow;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Response;
use oxeye_core::logs::{Direction, LogEntry, LogQueryable, LogSelect};
use oxeye_core::{Labels, Matcher, TenantId};
use oxeye_logql::analysis::{Drain, DrainConfig, FieldDetector};
use oxeye_logql::{Engine, EngineLimits, LogqlValue, Query, QueryKind};
use serde_json::json;

use super::params::{DEFAULT_FIELDS_LIMIT, LokiParams, check_range};
use super::query::logql_error;
use super::{LokiError, json_response, log_queryable, run_query};
use crate::error::ApiError;
use crate::state::{ServerState, Tenant};

/// Lines sampled for detected fields when `line_limit` is absent.
pub const DEFAULT_LINE_LIMIT: usize = 1000;
/// Most lines patterns are learnt from per request.
pub const MAX_PATTERN_LINES: usize = 200_000;
/// Patterns returned at most.
pub const MAX_PATTERNS: usize = 300;

fn now_ns(state: &ServerState) -> i64 {
    state.clock.now_ms().saturating_mul(1_000_000)
}

/// The newest `max` lines of matching streams in `[start, end)`, newest first, each
/// with its stream's labels.
fn newest_lines(
    store: &dyn LogQueryable,
    tenant: &TenantId,
    matchers: &[Matcher],
    start: i64,
    end: i64,
    max: usize,
) -> Result<Vec<(Arc<Labels>, LogEntry)>, ApiError> {
    let select = LogSelect {
        start_ns: start,
        end_ns: end,
        line_contains: Vec::new(),
    };
    let mut all: Vec<(Arc<Labels>, LogEntry)> = Vec::new();
    for series in store.select_logs(tenant, matchers, &select)? {
        let labels = Arc::new(series.labels.clone());
        let mut taken = 0usize;
        series
            .data
            .for_each_chunk(Direction::Backward, &mut |chunk| {
                for e in chunk {
                    if taken >= max {
                        return ControlFlow::Break(());
                    }
                    all.push((labels.clone(), e.clone()));
                    taken += 1;
                }
                ControlFlow::Continue(())
            })?;
    }
    all.sort_by_key(|(_, e)| std::cmp::Reverse(e.ts_ns));
    all.truncate(max);
    Ok(all)
}

fn line_limit(params: &LokiParams) -> Result<usize, ApiError> {
    let Some(v) = params.get("line_limit") else {
        return Ok(DEFAULT_LINE_LIMIT);
    };
    match crate::params::parse_go_int(v) {
        Ok(n) if n > 0 => Ok(usize::try_from(n).unwrap_or(usize::MAX)),
        Ok(_) => Err(ApiError::BadRequest(
            "limit must be a positive value".into(),
        )),
        Err(e) => Err(ApiError::BadRequest(e)),
    }
}

/// Runs the field detector over the request's sample of lines: the newest
/// `line_limit` lines the query returns (through the LogQL engine, so line filters and
/// label filters apply), or of every stream when the query is empty or `{}`.
async fn detect(
    state: &Arc<ServerState>,
    tenant: TenantId,
    params: &LokiParams,
) -> Result<FieldDetector, ApiError> {
    let (start, end) = params.bounds(now_ns(state))?;
    let lines = line_limit(params)?;
    let store = log_queryable(state)?;
    let text = params.query().trim().to_string();
    if text.is_empty() || text == "{}" {
        return run_query(state, move |_| {
            let sample = newest_lines(
                store.as_ref(),
                &tenant,
                &[],
                start,
                end.saturating_add(1),
                lines,
            )?;
            let mut d = FieldDetector::new();
            for (labels, e) in &sample {
                d.add(&e.line, &e.metadata, |n| labels.get(n).is_some());
            }
            Ok(d)
        })
        .await;
    }
    let query = Query {
        text,
        kind: QueryKind::Range,
        start_ns: start,
        end_ns: end.saturating_add(1),
        step_ns: super::params::default_step(start, end),
        interval_ns: None,
        direction: Direction::Backward,
        limit: lines,
    };
    run_query(state, move |_| {
        let out = Engine::new(store, EngineLimits::default())
            .query(&tenant, &query)
            .map_err(logql_error)?;
        let LogqlValue::Streams(streams) = out.value else {
            return Err(ApiError::BadRequest(
                "detected fields need a log query, not a metric query".into(),
            ));
        };
        let mut d = FieldDetector::new();
        for s in &streams {
            for e in &s.entries {
                d.add(&e.line, &e.structured_metadata, |n| {
                    s.stream_labels.get(n).is_some()
                });
            }
        }
        Ok(d)
    })
    .await
}

/// `limit` (or the older `field_limit`), default 1000.
fn fields_limit(params: &LokiParams) -> Result<usize, ApiError> {
    if params.get("limit").is_none()
        && let Some(v) = params.get("field_limit")
    {
        return match crate::params::parse_go_int(v) {
            Ok(n) if n > 0 => Ok(usize::try_from(n).unwrap_or(usize::MAX)),
            Ok(_) => Err(ApiError::BadRequest(
                "limit must be a positive value".into(),
            )),
            Err(e) => Err(ApiError::BadRequest(e)),
        };
    }
    params.limit(DEFAULT_FIELDS_LIMIT)
}

/// `GET /loki/api/v1/detected_fields`.
pub async fn detected_fields(
    State(state): State<Arc<ServerState>>,
    Tenant(tenant): Tenant,
    params: LokiParams,
) -> Result<Response, LokiError> {
    let limit = fields_limit(&params)?;
    let d = detect(&state, tenant, &params).await?;
    let fields: Vec<serde_json::Value> = d
        .fields(limit)
        .into_iter()
        .map(|f| {
            let parsers = if f.parsers.is_empty() {
                serde_json::Value::Null
            } else {
                json!(f.parsers)
            };
            json!({
                "label": f.label,
                "type": f.field_type.as_str(),
                "cardinality": f.cardinality,
                "parsers": parsers,
            })
        })
        .collect();
    Ok(json_response(&json!({ "fields": fields, "limit": limit })))
}

/// `GET /loki/api/v1/detected_field/{name}/values`.
pub async fn detected_field_values(
    State(state): State<Arc<ServerState>>,
    Tenant(tenant): Tenant,
    Path(name): Path<String>,
    params: LokiParams,
) -> Result<Response, LokiError> {
    let limit = fields_limit(&params)?;
    let d = detect(&state, tenant, &params).await?;
    Ok(json_response(
        &json!({ "values": d.values(&name, limit), "limit": limit }),
    ))
}

/// `GET /loki/api/v1/detected_labels`: stream label names with their number of values,
/// internal (`__`) labels left out.
pub async fn detected_labels(
    State(state): State<Arc<ServerState>>,
    Tenant(tenant): Tenant,
    params: LokiParams,
) -> Result<Response, LokiError> {
    let (start, end) = params.bounds(now_ns(&state))?;
    let matchers = params.query_matchers()?;
    let store = log_queryable(&state)?;
    let counts = run_query(&state, move |_| {
        let mut values: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for s in store.stream_stats(&tenant, &matchers, start, end.saturating_add(1))? {
            for l in s.labels.iter() {
                if !l.name.starts_with("__") {
                    values
                        .entry(l.name.clone())
                        .or_default()
                        .insert(l.value.clone());
                }
            }
        }
        Ok(values)
    })
    .await?;
    let labels: Vec<serde_json::Value> = counts
        .into_iter()
        .map(|(label, v)| json!({ "label": label, "cardinality": v.len() }))
        .collect();
    Ok(json_response(&json!({ "detectedLabels": labels })))
}

/// `GET /loki/api/v1/patterns`: line patterns of the matching streams over the range,
/// each with its count per `step`, most frequent first.
pub async fn patterns(
    State(state): State<Arc<ServerState>>,
    Tenant(tenant): Tenant,
    params: LokiParams,
) -> Result<Response, LokiError> {
    let (start, end) = params.bounds(now_ns(&state))?;
    let step = params.step(start, end)?;
    check_range(start, end, step)?;
    let matchers = params.query_matchers()?;
    let store = log_queryable(&state)?;
    let learnt = run_query(&state, move |_| {
        let select = LogSelect {
            start_ns: start,
            end_ns: end.saturating_add(1),
            line_contains: Vec::new(),
        };
        let mut lines: Vec<(i64, String)> = Vec::new();
        for series in store.select_logs(&tenant, &matchers, &select)? {
            series
                .data
                .for_each_chunk(Direction::Backward, &mut |chunk| {
                    for e in chunk {
                        if lines.len() >= MAX_PATTERN_LINES {
                            return ControlFlow::Break(());
                        }
                        lines.push((e.ts_ns, e.line.clone()));
                    }
                    ControlFlow::Continue(())
                })?;
        }
        lines.sort_by_key(|(ts, _)| *ts);
        let mut drain = Drain::new(DrainConfig::default(), step);
        for (ts, line) in &lines {
            drain.add(*ts, line);
        }
        Ok(drain.patterns())
    })
    .await?;
    let data: Vec<serde_json::Value> = learnt
        .into_iter()
        .take(MAX_PATTERNS)
        .map(|p| {
            let samples: Vec<serde_json::Value> = p
                .samples
                .iter()
                .map(|(t, n)| json!([t.div_euclid(1_000_000_000), n]))
                .collect();
            json!({ "pattern": p.pattern, "samples": samples })
        })
        .collect();
    Ok(json_response(&json!({ "status": "success", "data": data })))
}
