//! `/loki/api/v1/tail`: live tail over a WebSocket.
//!
//! Before the upgrade the request is checked (`limit`, `start`, `delay_for` at most 5 s)
//! and the history is read: the newest `limit` lines from `start` to now minus
//! `delay_for`, through the LogQL engine, so a query that is not a valid log query is
//! refused with a plain-text 400 as Loki does. After the upgrade the history is sent
//! oldest first, then the store is polled every [`POLL_INTERVAL`]: each poll runs the
//! query forward over the window since the previous one (up to now minus `delay_for`),
//! so every line goes through the full LogQL pipeline and is sent once. A poll reads at
//! most [`MAX_LINES_PER_POLL`] lines; the next poll resumes after the last line sent,
//! skipping the lines already sent at that same timestamp. Messages are
//! `{"streams":[{"stream":{..},"values":[["<ns>","<line>"]]}]}` (Loki adds
//! `dropped_entries` only when it dropped some; nothing is dropped here). The socket closes when the client closes it or a poll fails.
//!
//! The tenant is the `X-Scope-OrgID` header as everywhere else; because a browser cannot
//! set headers on a WebSocket, a request without that header may name its tenant with
//! the [`TENANT_PARAM`] query parameter instead (the header wins when both are given).
//! Both are validated by the same rules.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use oxeye_core::logs::Direction;
use oxeye_core::{Labels, TenantId};
use oxeye_logql::{Engine, EngineLimits, LogqlValue, Query, QueryKind, ResultEntry};
use serde::Serialize;

use super::params::{DEFAULT_LIMIT, LokiParams};
use super::query::{EntryJson, LabelsJson, StreamJson, logql_error};
use super::{LokiError, log_queryable, run_query};
use crate::error::ApiError;
use crate::state::{ServerState, TENANT_HEADER};

/// How often the store is polled for new lines.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// Most lines one poll reads; the rest waits for the next poll.
pub const MAX_LINES_PER_POLL: usize = 5_000;
/// The longest `delay_for` Loki accepts, seconds.
pub const MAX_DELAY_FOR_SECS: i64 = 5;
/// The query parameter naming the tenant of a tail request without `X-Scope-OrgID`
/// (browsers cannot set headers on a WebSocket); named as Grafana names its org in URLs.
pub const TENANT_PARAM: &str = "orgId";

/// The tail request's tenant: the `X-Scope-OrgID` header when present, else the
/// [`TENANT_PARAM`] parameter, else the default tenant. Either is checked by the rules
/// of the header (trimmed, then [`TenantId::new`]); a bad one is a 400 naming its source.
fn tail_tenant(
    state: &ServerState,
    headers: &HeaderMap,
    params: &LokiParams,
) -> Result<TenantId, ApiError> {
    if let Some(h) = headers.get(TENANT_HEADER) {
        return state.tenant_from_header(Some(h.as_bytes()));
    }
    match params.0.get(TENANT_PARAM) {
        None => state.tenant_from_header(None),
        Some(v) => TenantId::new(v.trim())
            .map_err(|e| ApiError::BadRequest(format!("invalid {TENANT_PARAM} parameter: {e}"))),
    }
}

/// Lines of one read, oldest first, with the labels Loki shows for them.
type Lines = Vec<(Labels, ResultEntry)>;

/// Runs the tail query over `[start, end)`, in `direction`, at most `limit` lines.
async fn read(
    state: &ServerState,
    tenant: &TenantId,
    text: &str,
    (start, end): (i64, i64),
    direction: Direction,
    limit: usize,
) -> Result<Lines, ApiError> {
    let store = log_queryable(state)?;
    let tenant = tenant.clone();
    let query = Query {
        text: text.to_string(),
        kind: QueryKind::Range,
        start_ns: start,
        end_ns: end,
        step_ns: 1_000_000_000,
        interval_ns: None,
        direction,
        limit,
        deadline: None,
    };
    let value = run_query(state, move |deadline| {
        let query = Query {
            deadline: Some(deadline),
            ..query
        };
        let engine = Engine::new(store, EngineLimits::default());
        engine
            .query(&tenant, &query)
            .map(|o| o.value)
            .map_err(logql_error)
    })
    .await?;
    let LogqlValue::Streams(streams) = value else {
        return Err(ApiError::BadRequest(
            "tail: only log queries can be tailed, not metric queries".into(),
        ));
    };
    let mut lines: Lines = streams
        .into_iter()
        .flat_map(|s| {
            let labels = s.labels;
            s.entries.into_iter().map(move |e| (labels.clone(), e))
        })
        .collect();
    lines.sort_by(|a, b| a.1.ts_ns.cmp(&b.1.ts_ns).then_with(|| a.0.cmp(&b.0)));
    Ok(lines)
}

/// One tail message.
/// One tail message; `dropped_entries` is left out, as Loki leaves it out when nothing
/// was dropped (and nothing is).
#[derive(Serialize)]
struct TailMessage<'a> {
    streams: Vec<StreamJson<'a>>,
}

/// Lines as one message, consecutive lines of the same labels sharing a stream.
fn message(lines: &[(Labels, ResultEntry)]) -> Result<String, ApiError> {
    let mut streams: Vec<StreamJson<'_>> = Vec::new();
    let mut current: Option<&Labels> = None;
    for (labels, entry) in lines {
        let e = EntryJson {
            entry,
            categorize: false,
        };
        match (current, streams.last_mut()) {
            (Some(c), Some(last)) if c == labels => last.values.push(e),
            _ => {
                streams.push(StreamJson {
                    stream: LabelsJson(labels),
                    values: vec![e],
                });
                current = Some(labels);
            }
        }
    }
    serde_json::to_string(&TailMessage { streams })
        .map_err(|e| ApiError::Internal(format!("cannot encode tail message: {e}")))
}

/// The tail parameters.
#[derive(Debug, Clone)]
struct TailRequest {
    query: String,
    limit: usize,
    start: i64,
    delay_ns: i64,
}

fn parse_request(params: &LokiParams, now: i64) -> Result<TailRequest, ApiError> {
    let limit = params.limit(DEFAULT_LIMIT)?;
    let start = params.time("start", now - super::params::DEFAULT_SINCE_NS)?;
    let delay = match params.get("delay_for") {
        None => 0,
        Some(v) => crate::params::parse_go_int(v).map_err(ApiError::BadRequest)?,
    };
    if delay > MAX_DELAY_FOR_SECS {
        return Err(ApiError::BadRequest(format!(
            "delay_for can't be greater than {MAX_DELAY_FOR_SECS}"
        )));
    }
    Ok(TailRequest {
        query: params.query().to_string(),
        limit,
        start,
        delay_ns: delay.max(0) * 1_000_000_000,
    })
}

/// `GET /loki/api/v1/tail` with a WebSocket upgrade. The request is checked before the
/// upgrade is, so a bad query or tenant is a 400 whatever the transport.
pub async fn tail(
    State(state): State<Arc<ServerState>>,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    params: LokiParams,
) -> Result<Response, LokiError> {
    let tenant = tail_tenant(&state, &headers, &params)?;
    let now = state.clock.now_ms().saturating_mul(1_000_000);
    let req = parse_request(&params, now)?;
    let upto = now - req.delay_ns;
    let mut history = read(
        &state,
        &tenant,
        &req.query,
        (req.start, upto),
        Direction::Backward,
        req.limit,
    )
    .await?;
    history.sort_by(|a, b| a.1.ts_ns.cmp(&b.1.ts_ns).then_with(|| a.0.cmp(&b.0)));
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => return Ok(rejection.into_response()),
    };
    Ok(ws.on_upgrade(move |socket| run(socket, state, tenant, req, history, upto)))
}

/// Sends the history, then polls until the client goes away.
async fn run(
    mut socket: WebSocket,
    state: Arc<ServerState>,
    tenant: TenantId,
    req: TailRequest,
    history: Lines,
    mut from: i64,
) {
    if !history.is_empty() && send_lines(&mut socket, &history, req.limit).await.is_err() {
        return;
    }
    // lines already sent at `from`, when a full poll stopped there
    let mut boundary: HashSet<(Labels, String)> = HashSet::new();
    let mut ticker = tokio::time::interval(POLL_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            msg = socket.recv() => match msg {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => continue,
            },
            _ = ticker.tick() => {}
        }
        let now = state.clock.now_ms().saturating_mul(1_000_000);
        let to = now - req.delay_ns;
        if to <= from {
            continue;
        }
        let lines = match read(
            &state,
            &tenant,
            &req.query,
            (from, to),
            Direction::Forward,
            MAX_LINES_PER_POLL,
        )
        .await
        {
            Ok(l) => l,
            Err(e) => {
                tracing::debug!(error = %e, "tail poll failed");
                let _ = socket.send(Message::Close(None)).await;
                return;
            }
        };
        let full = lines.len() >= MAX_LINES_PER_POLL;
        let fresh: Lines = lines
            .into_iter()
            .filter(|(l, e)| !(e.ts_ns == from && boundary.contains(&(l.clone(), e.line.clone()))))
            .collect();
        if full && let Some(last) = fresh.last().map(|(_, e)| e.ts_ns) {
            if last != from {
                boundary.clear();
            }
            from = last;
            boundary.extend(
                fresh
                    .iter()
                    .filter(|(_, e)| e.ts_ns == last)
                    .map(|(l, e)| (l.clone(), e.line.clone())),
            );
        } else {
            from = to;
            boundary.clear();
        }
        if !fresh.is_empty() && send_lines(&mut socket, &fresh, req.limit).await.is_err() {
            return;
        }
    }
}

/// Sends lines in messages of at most `per_message` lines.
async fn send_lines(
    socket: &mut WebSocket,
    lines: &[(Labels, ResultEntry)],
    per_message: usize,
) -> Result<(), ()> {
    for chunk in lines.chunks(per_message.max(1)) {
        let text = message(chunk).map_err(|e| tracing::warn!(error = %e, "tail encode"))?;
        socket
            .send(Message::Text(text.into()))
            .await
            .map_err(|_| ())?;
    }
    Ok(())
}
