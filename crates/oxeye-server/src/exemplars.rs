//! `/api/v1/query_exemplars`: the exemplars of every series a query selects.
//!
//! The query is parsed, its vector selectors (with the metric name as a matcher, and each
//! `or` alternative as a selector of its own) become core matchers, and the store's
//! exemplars for each are read from one querier over `[start, end]`, merged by series,
//! restricted to that range, and answered in Prometheus's shape:
//! `[{"seriesLabels": {...}, "exemplars": [{"labels": {...}, "value": "6",
//! "timestamp": 1600096945.479}]}]`.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use oxeye_core::{Exemplar, Labels, MatchOp, Matcher};
use promql_parser::label::{MatchOp as PMatchOp, Matcher as PMatcher};
use promql_parser::parser::{Expr, VectorSelector};
use serde::Serialize;
use serde::ser::SerializeMap;

use crate::error::{ApiError, JsonApiError, blocking};
use crate::params::{MAX_TIME_MS, MIN_TIME_MS, Params};
use crate::query::{Timestamp, value_str};
use crate::read::Success;
use crate::state::{ReadTenant, ServerState};

/// Every vector selector of `e`, in order of appearance.
fn selectors<'a>(e: &'a Expr, out: &mut Vec<&'a VectorSelector>) {
    match e {
        Expr::VectorSelector(vs) => out.push(vs),
        Expr::MatrixSelector(ms) => out.push(&ms.vs),
        Expr::Aggregate(a) => {
            selectors(&a.expr, out);
            if let Some(p) = &a.param {
                selectors(p, out);
            }
        }
        Expr::Unary(u) => selectors(&u.expr, out),
        Expr::Binary(b) => {
            selectors(&b.lhs, out);
            selectors(&b.rhs, out);
        }
        Expr::Paren(p) => selectors(&p.expr, out),
        Expr::Subquery(s) => selectors(&s.expr, out),
        Expr::Call(c) => c.args.args.iter().for_each(|a| selectors(a, out)),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
}

fn core_matcher(m: &PMatcher) -> Result<Matcher, ApiError> {
    let op = match m.op {
        PMatchOp::Equal => MatchOp::Equal,
        PMatchOp::NotEqual => MatchOp::NotEqual,
        PMatchOp::Re(_) => MatchOp::Regex,
        PMatchOp::NotRe(_) => MatchOp::NotRegex,
    };
    Matcher::new(op, m.name.clone(), m.value.clone())
        .map_err(|e| ApiError::BadRequest(e.to_string()))
}

/// The matcher sets of one selector: one per `or` alternative.
fn matcher_sets(vs: &VectorSelector) -> Result<Vec<Vec<Matcher>>, ApiError> {
    let mut groups: Vec<&Vec<PMatcher>> = Vec::new();
    if vs.matchers.or_matchers.is_empty() {
        groups.push(&vs.matchers.matchers);
    } else {
        groups.extend(vs.matchers.or_matchers.iter());
    }
    groups
        .into_iter()
        .map(|g| {
            let mut set = g.iter().map(core_matcher).collect::<Result<Vec<_>, _>>()?;
            if let Some(name) = &vs.name
                && !set.iter().any(|m| m.name == "__name__")
            {
                set.push(Matcher::equal("__name__", name.clone()));
            }
            Ok(set)
        })
        .collect()
}

struct LabelMap<'a>(&'a Labels);

impl Serialize for LabelMap<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for l in self.0 {
            map.serialize_entry(&l.name, &l.value)?;
        }
        map.end()
    }
}

struct ExemplarJson<'a>(&'a Exemplar);

impl Serialize for ExemplarJson<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(3))?;
        map.serialize_entry("labels", &LabelMap(&self.0.labels))?;
        map.serialize_entry("value", &value_str(self.0.v))?;
        map.serialize_entry("timestamp", &Timestamp(self.0.t))?;
        map.end()
    }
}

/// One series and its exemplars.
struct SeriesExemplars(Labels, Vec<Exemplar>);

impl Serialize for SeriesExemplars {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(2))?;
        map.serialize_entry("seriesLabels", &LabelMap(&self.0))?;
        map.serialize_entry(
            "exemplars",
            &self.1.iter().map(ExemplarJson).collect::<Vec<_>>(),
        )?;
        map.end()
    }
}

/// `GET|POST /api/v1/query_exemplars`
pub async fn query_exemplars(
    State(state): State<Arc<ServerState>>,
    ReadTenant(tenant): ReadTenant,
    params: Params,
) -> Result<Response, JsonApiError> {
    let start = params.time("start", MIN_TIME_MS)?;
    let end = params.time("end", MAX_TIME_MS)?;
    if end < start {
        return Err(ApiError::BadRequest(
            "end timestamp must not be before start timestamp".into(),
        )
        .into());
    }
    let ast = promql_parser::parser::parse(params.get("query").unwrap_or(""))
        .map_err(|e| ApiError::BadRequest(format!("parse error: {e}")))?;
    let mut found = Vec::new();
    selectors(&ast, &mut found);
    let mut sets = Vec::new();
    for vs in found {
        sets.extend(matcher_sets(vs)?);
    }
    if sets.is_empty() {
        // Prometheus answers a query without selectors with no data at all
        return Ok(axum::Json(serde_json::json!({"status": "success"})).into_response());
    }
    let queryable = state.queryable.clone();
    let merged = blocking(move || {
        let q = queryable.querier(&tenant, start, end)?;
        let mut by_series: BTreeMap<Labels, Vec<Exemplar>> = BTreeMap::new();
        for set in &sets {
            for (labels, exemplars) in q.exemplars(set)? {
                let kept = exemplars.into_iter().filter(|e| e.t >= start && e.t <= end);
                by_series.entry(labels).or_default().extend(kept);
            }
        }
        Ok(by_series
            .into_iter()
            .filter_map(|(l, mut ex)| {
                ex.sort_by_key(|e| e.t);
                ex.dedup_by(|a, b| a.t == b.t && a.labels == b.labels);
                (!ex.is_empty()).then_some(SeriesExemplars(l, ex))
            })
            .collect::<Vec<_>>())
    })
    .await?;
    Ok(Success::new(merged).into_response())
}
