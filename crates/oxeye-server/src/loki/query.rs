//! `/loki/api/v1/query` and `/loki/api/v1/query_range`: LogQL through
//! [`oxeye_logql::Engine`], answered in Loki's shapes.
//!
//! Parameters are checked in Loki's order (bounds, end before start, limit, direction,
//! step, interval); the engine runs on a blocking thread holding a query slot. Log
//! results are `streams`, each `{"stream":{labels},"values":[["<ns>","<line>"]]}`. With
//! the `categorize-labels` encoding flag (header `X-Loki-Response-Encoding-Flags`, which
//! Grafana always sends) streams are grouped by their stream labels only and each value
//! carries a third element `{"structuredMetadata":{..},"parsed":{..}}`; `encodingFlags`
//! is written before `result`, since Grafana's decoder reads the answer as a stream.
//! Metric results use Prometheus's shapes (`vector`, `matrix`, `scalar`).
//! `format_query` answers the canonical text of the parsed expression.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use oxeye_core::Labels;
use oxeye_core::logs::Direction;
use oxeye_logql::{
    Engine, EngineLimits, LogqlError, LogqlValue, Output, Query, QueryKind, ResultEntry,
    StreamResult,
};
use serde::Serialize;
use serde::ser::{SerializeMap, SerializeSeq};

use super::params::{DEFAULT_LIMIT, LokiParams, check_range};
use super::{LokiError, log_queryable, run_query};
use crate::error::ApiError;
use crate::query::QueryData;
use crate::state::{ServerState, Tenant};

/// The header carrying Loki's response encoding flags.
pub const ENCODING_FLAGS_HEADER: &str = "x-loki-response-encoding-flags";
/// The flag asking for labels split into stream labels, structured metadata and parsed.
pub const CATEGORIZE_LABELS: &str = "categorize-labels";

/// Whether the request asks for categorized labels.
pub fn wants_categorized(headers: &HeaderMap) -> bool {
    headers
        .get_all(ENCODING_FLAGS_HEADER)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|f| f.trim().eq_ignore_ascii_case(CATEGORIZE_LABELS))
}

/// How a LogQL failure is answered: bad queries are plain-text 400s with the parser's
/// message (it names the position), store failures keep their status.
pub fn logql_error(e: LogqlError) -> ApiError {
    match e {
        LogqlError::Store(s) => ApiError::Store(s),
        other => ApiError::coded(other.status_code(), other.to_string()),
    }
}

/// `GET|POST /loki/api/v1/query`: an instant query at `time` (default now). As in Loki
/// 3, only metric queries can be instant; a log query is refused with a 400.
pub async fn instant(
    State(state): State<Arc<ServerState>>,
    Tenant(tenant): Tenant,
    headers: HeaderMap,
    params: LokiParams,
) -> Result<Response, LokiError> {
    let limit = params.limit(DEFAULT_LIMIT)?;
    let now = state.clock.now_ms().saturating_mul(1_000_000);
    let t = params.time("time", now)?;
    let direction = params.direction()?;
    if let Ok(oxeye_logql::Expr::Log(_)) = oxeye_logql::parse(params.query()) {
        return Err(ApiError::BadRequest(
            "log queries are not supported as an instant query type, please change your query to a range query type".into(),
        )
        .into());
    }
    let query = Query {
        text: params.query().to_string(),
        kind: QueryKind::Instant,
        start_ns: t,
        end_ns: t,
        step_ns: 0,
        interval_ns: None,
        direction,
        limit,
        deadline: None,
    };
    execute(&state, tenant, query, wants_categorized(&headers)).await
}

/// `GET|POST /loki/api/v1/query_range`: a log or metric query over `[start, end]`.
pub async fn range(
    State(state): State<Arc<ServerState>>,
    Tenant(tenant): Tenant,
    headers: HeaderMap,
    params: LokiParams,
) -> Result<Response, LokiError> {
    let now = state.clock.now_ms().saturating_mul(1_000_000);
    let (start, end) = params.ordered_bounds(now)?;
    let limit = params.limit(DEFAULT_LIMIT)?;
    let direction = params.direction()?;
    let step = params.step(start, end)?;
    check_range(start, end, step)?;
    let interval = params.interval()?;
    if interval.is_some_and(|i| i < 0) {
        return Err(
            ApiError::BadRequest("interval must be a positive value or zero".into()).into(),
        );
    }
    let query = Query {
        text: params.query().to_string(),
        kind: QueryKind::Range,
        start_ns: start,
        end_ns: end,
        step_ns: step,
        interval_ns: interval.filter(|i| *i > 0),
        direction,
        limit,
        deadline: None,
    };
    execute(&state, tenant, query, wants_categorized(&headers)).await
}

/// Runs the engine and writes the answer.
async fn execute(
    state: &ServerState,
    tenant: oxeye_core::TenantId,
    query: Query,
    categorize: bool,
) -> Result<Response, LokiError> {
    let store = log_queryable(state)?;
    let started = Instant::now();
    let direction = query.direction;
    let out = run_query(state, move |deadline| {
        let query = Query {
            deadline: Some(deadline),
            ..query
        };
        let engine = Engine::new(store, EngineLimits::default());
        engine.query(&tenant, &query).map_err(logql_error)
    })
    .await?;
    let exec = started.elapsed().as_secs_f64();
    let bytes = encode_answer(&out, categorize, direction, exec)?;
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        bytes,
    )
        .into_response())
}

/// The JSON answer to a query: `{"status":"success","data":{...}}`, `data` holding
/// `resultType`, `encodingFlags` (with `categorize`), `result` and `stats`, in that
/// order (`resultType` first, as Loki writes it). `exec_secs` is the time the query took, for the statistics.
pub fn encode_answer(
    out: &Output,
    categorize: bool,
    direction: Direction,
    exec_secs: f64,
) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(&Answer {
        status: "success",
        data: AnswerData {
            out,
            categorize,
            direction,
            exec_secs,
        },
    })
    .map_err(|e| ApiError::Internal(format!("cannot encode query result: {e}")))
}

#[derive(Serialize)]
struct Answer<'a> {
    status: &'static str,
    data: AnswerData<'a>,
}

struct AnswerData<'a> {
    out: &'a Output,
    categorize: bool,
    direction: Direction,
    exec_secs: f64,
}

impl Serialize for AnswerData<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        match &self.out.value {
            LogqlValue::Streams(streams) => {
                map.serialize_entry("resultType", "streams")?;
                if self.categorize {
                    map.serialize_entry("encodingFlags", &[CATEGORIZE_LABELS])?;
                }
                if self.categorize {
                    let grouped = group_by_stream_labels(streams, self.direction);
                    map.serialize_entry("result", &CategorizedStreams(&grouped))?;
                } else {
                    map.serialize_entry("result", &PlainStreams(streams))?;
                }
            }
            LogqlValue::Metric(v) => {
                let data = QueryData {
                    value: v,
                    stats: None,
                };
                let inner = serde_json::to_value(&data).map_err(serde::ser::Error::custom)?;
                map.serialize_entry("resultType", &inner["resultType"])?;
                if self.categorize {
                    map.serialize_entry("encodingFlags", &[CATEGORIZE_LABELS])?;
                }
                map.serialize_entry("result", &inner["result"])?;
            }
        }
        map.serialize_entry("stats", &stats_json(self.out, self.exec_secs))?;
        map.end()
    }
}

/// Loki's `stats` object, with the figures the engine measures.
fn stats_json(out: &Output, exec_secs: f64) -> serde_json::Value {
    let st = out.stats;
    let returned: usize = match &out.value {
        LogqlValue::Streams(s) => s.iter().map(|x| x.entries.len()).sum(),
        LogqlValue::Metric(_) => 0,
    };
    let per_sec = |n: u64| {
        if exec_secs > 0.0 {
            (n as f64 / exec_secs) as u64
        } else {
            0
        }
    };
    serde_json::json!({
        "summary": {
            "bytesProcessedPerSecond": per_sec(st.bytes_scanned),
            "linesProcessedPerSecond": per_sec(st.entries_scanned),
            "totalBytesProcessed": st.bytes_scanned,
            "totalLinesProcessed": st.entries_scanned,
            "execTime": exec_secs,
            "queueTime": 0,
            "subqueries": 0,
            "totalEntriesReturned": returned,
            "splits": 0,
            "shards": 0,
        },
        "querier": {
            "store": {
                "totalChunksRef": 0,
                "totalChunksDownloaded": 0,
                "chunksDownloadTime": 0,
                "chunk": {
                    "totalDecompressedBytes": st.bytes_scanned,
                    "totalDecompressedLines": st.entries_scanned,
                },
            },
        },
    })
}

/// Entries of streams sharing stream labels, merged and re-ordered by time.
fn group_by_stream_labels(
    streams: &[StreamResult],
    direction: Direction,
) -> Vec<(&Labels, Vec<&ResultEntry>)> {
    let mut groups: BTreeMap<&Labels, Vec<&ResultEntry>> = BTreeMap::new();
    for s in streams {
        groups
            .entry(&s.stream_labels)
            .or_default()
            .extend(s.entries.iter());
    }
    groups
        .into_iter()
        .map(|(l, mut entries)| {
            match direction {
                Direction::Forward => entries.sort_by_key(|e| e.ts_ns),
                Direction::Backward => entries.sort_by_key(|e| std::cmp::Reverse(e.ts_ns)),
            }
            (l, entries)
        })
        .collect()
}

/// A label set as a JSON object, in label order.
pub struct LabelsJson<'a>(pub &'a Labels);

impl Serialize for LabelsJson<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for l in self.0 {
            map.serialize_entry(&l.name, &l.value)?;
        }
        map.end()
    }
}

struct PairsJson<'a>(&'a [(String, String)]);

impl Serialize for PairsJson<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// `["<ns>","<line>"]`, or with categories `["<ns>","<line>",{...}]`.
pub struct EntryJson<'a> {
    /// The entry.
    pub entry: &'a ResultEntry,
    /// Whether to add the categories object.
    pub categorize: bool,
}

impl Serialize for EntryJson<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let e = self.entry;
        let mut seq = s.serialize_seq(Some(if self.categorize { 3 } else { 2 }))?;
        seq.serialize_element(&e.ts_ns.to_string())?;
        seq.serialize_element(&e.line)?;
        if self.categorize {
            seq.serialize_element(&Categories(e))?;
        }
        seq.end()
    }
}

struct Categories<'a>(&'a ResultEntry);

impl Serialize for Categories<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        if !self.0.structured_metadata.is_empty() {
            map.serialize_entry(
                "structuredMetadata",
                &PairsJson(&self.0.structured_metadata),
            )?;
        }
        if !self.0.parsed.is_empty() {
            map.serialize_entry("parsed", &PairsJson(&self.0.parsed))?;
        }
        map.end()
    }
}

struct PlainStreams<'a>(&'a [StreamResult]);

impl Serialize for PlainStreams<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for st in self.0 {
            let entries: Vec<EntryJson<'_>> = st
                .entries
                .iter()
                .map(|entry| EntryJson {
                    entry,
                    categorize: false,
                })
                .collect();
            seq.serialize_element(&StreamJson {
                stream: LabelsJson(&st.labels),
                values: entries,
            })?;
        }
        seq.end()
    }
}

struct CategorizedStreams<'a>(&'a [(&'a Labels, Vec<&'a ResultEntry>)]);

impl Serialize for CategorizedStreams<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for (labels, entries) in self.0 {
            let values: Vec<EntryJson<'_>> = entries
                .iter()
                .map(|entry| EntryJson {
                    entry,
                    categorize: true,
                })
                .collect();
            seq.serialize_element(&StreamJson {
                stream: LabelsJson(labels),
                values,
            })?;
        }
        seq.end()
    }
}

/// One stream of a `streams` result or of a tail message.
#[derive(Serialize)]
pub struct StreamJson<'a> {
    /// Its labels.
    pub stream: LabelsJson<'a>,
    /// Its entries.
    pub values: Vec<EntryJson<'a>>,
}

/// `GET|POST /loki/api/v1/format_query`: the query in its canonical form,
/// `{"status":"success","data":"<query>"}`; a query that does not parse is a 400.
pub async fn format_query(params: LokiParams) -> Result<Response, LokiError> {
    let expr = oxeye_logql::parse(params.query()).map_err(logql_error)?;
    Ok(super::json_response(&serde_json::json!({
        "status": "success",
        "data": expr.to_string(),
    })))
}
