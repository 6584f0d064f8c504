//! Prometheus remote read: `POST /api/v1/read`, so a Prometheus (or any remote read
//! client) can query oxeye's data.
//!
//! Flow: wait for a slot under the concurrency limit (like Prometheus, requests queue
//! rather than fail), read the snappy body (at most 32 MiB), decode the `ReadRequest` and
//! negotiate the response type from `accepted_response_types` (first supported wins,
//! none means SAMPLES). On a blocking thread, each query's matchers are converted and a
//! querier for the request's tenant over `[start, end]` selects the series; then:
//!
//! - SAMPLES: every series with its raw samples (staleness markers included, as
//!   Prometheus sends them) goes into one `ReadResponse`, snappy-compressed, under the
//!   sample limit (exceeding it answers 400 `exceeded sample limit (N)`).
//! - STREAMED_XOR_CHUNKS: series are streamed in label order, one per frame, re-encoded
//!   as XOR chunks of at most 120 samples, frames bounded by the frame byte budget; the
//!   sample limit does not apply (as in Prometheus). Frames are produced on a blocking
//!   thread and sent in batches of about 64 KiB through a bounded channel, so memory
//!   stays at a few batches.
//!
//! Errors before the answer starts are plain-text bodies: 400 for undecodable requests,
//! unknown matcher types, bad regexes and unsupported response types; store errors map
//! through their status code. A client that goes away stops the work.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use oxeye_core::{MetricsQuerier, SelectHints, Series, TenantId};
use oxeye_proto::remote_read::{self as rr, SeriesFramer, pb};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::{ApiError, blocking};
use crate::state::{ServerState, Tenant};
use crate::write::{proto_error, read_body};

/// Limits of the remote read endpoint, named after Prometheus's flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemoteReadLimits {
    /// `--storage.remote.read-sample-limit`: most samples one SAMPLES query may return;
    /// 0 means no limit.
    pub sample_limit: usize,
    /// `--storage.remote.read-concurrent-limit`: most requests served at once (the rest
    /// wait); 0 means no limit.
    pub concurrent_limit: usize,
    /// `--storage.remote.read-max-bytes-in-frame`: chunk bytes per streamed frame before
    /// it is sent (exceeded by at most one chunk).
    pub max_bytes_in_frame: usize,
}

impl Default for RemoteReadLimits {
    fn default() -> Self {
        Self {
            sample_limit: 50_000_000,
            concurrent_limit: 10,
            max_bytes_in_frame: 1 << 20,
        }
    }
}

/// The limits plus the semaphore enforcing the concurrency limit.
#[derive(Debug)]
pub struct RemoteReadGate {
    limits: RemoteReadLimits,
    slots: Option<Arc<Semaphore>>,
}

impl RemoteReadGate {
    /// A gate enforcing `limits`.
    pub fn new(limits: RemoteReadLimits) -> Self {
        let slots = (limits.concurrent_limit > 0)
            .then(|| Arc::new(Semaphore::new(limits.concurrent_limit)));
        Self { limits, slots }
    }

    /// The configured limits.
    pub fn limits(&self) -> RemoteReadLimits {
        self.limits
    }

    async fn enter(&self) -> Result<Option<OwnedSemaphorePermit>, ApiError> {
        let Some(slots) = &self.slots else {
            return Ok(None);
        };
        slots
            .clone()
            .acquire_owned()
            .await
            .map(Some)
            .map_err(|e| ApiError::Internal(format!("remote read gate closed: {e}")))
    }
}

impl Default for RemoteReadGate {
    fn default() -> Self {
        Self::new(RemoteReadLimits::default())
    }
}

/// Set when the request future is dropped (the client went away).
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

fn cancelled_error() -> ApiError {
    ApiError::coded(
        oxeye_core::StatusCode::Timeout,
        "remote read cancelled: the client went away",
    )
}

/// One query's selected series and the querier keeping their data alive.
struct Selected {
    _querier: Option<Box<dyn MetricsQuerier>>,
    series: Vec<Series>,
}

/// Selects every query's series for `tenant`.
fn select_all(
    state: &ServerState,
    tenant: &TenantId,
    queries: &[pb::Query],
) -> Result<Vec<Selected>, ApiError> {
    let mut out = Vec::with_capacity(queries.len());
    for q in queries {
        let matchers = rr::query_matchers(q).map_err(proto_error)?;
        let (start, end) = (q.start_timestamp_ms, q.end_timestamp_ms);
        if end < start {
            out.push(Selected {
                _querier: None,
                series: Vec::new(),
            });
            continue;
        }
        let hints = match &q.hints {
            Some(h) => SelectHints {
                start: h.start_ms,
                end: h.end_ms,
                step: h.step_ms,
                func: (!h.func.is_empty()).then(|| h.func.clone()),
                limit: None,
            },
            None => SelectHints {
                start,
                end,
                ..SelectHints::default()
            },
        };
        let querier = state.queryable.querier(tenant, start, end)?;
        let series = querier.select(&matchers, &hints)?;
        out.push(Selected {
            _querier: Some(querier),
            series,
        });
    }
    Ok(out)
}

/// Builds the SAMPLES answer, counting samples against `limit` (0: none).
fn sampled_response(
    selected: &[Selected],
    limit: usize,
    cancelled: &AtomicBool,
) -> Result<pb::ReadResponse, ApiError> {
    let mut total = 0usize;
    let mut results = Vec::with_capacity(selected.len());
    for sel in selected {
        let mut timeseries = Vec::with_capacity(sel.series.len());
        for s in &sel.series {
            if cancelled.load(Ordering::Relaxed) {
                return Err(cancelled_error());
            }
            let mut samples = Vec::new();
            let mut over = false;
            s.data.for_each_chunk(&mut |chunk| {
                total += chunk.len();
                if limit > 0 && total > limit {
                    over = true;
                    return ControlFlow::Break(());
                }
                samples.extend(rr::samples_to_pb(chunk));
                ControlFlow::Continue(())
            })?;
            if over {
                return Err(ApiError::BadRequest(format!(
                    "exceeded sample limit ({limit})"
                )));
            }
            timeseries.push(pb::TimeSeries {
                labels: rr::labels_to_pb(&s.labels),
                samples,
                exemplars: Vec::new(),
                histograms: Vec::new(),
            });
        }
        results.push(pb::QueryResult { timeseries });
    }
    Ok(pb::ReadResponse { results })
}

/// Frames are sent to the body in batches of about this many bytes: frames are
/// self-delimiting, and fewer hand-offs cost less than one per (often small) frame.
const SEND_BATCH_BYTES: usize = 64 << 10;

/// Collects frames and hands them to the response body in batches.
struct FrameSink<'a> {
    tx: &'a tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
    pending: Vec<u8>,
}

impl FrameSink<'_> {
    /// Queues a frame; `false` when the client went away.
    fn push(&mut self, frame: &[u8]) -> bool {
        self.pending.extend_from_slice(frame);
        self.pending.len() < SEND_BATCH_BYTES || self.flush()
    }

    fn flush(&mut self) -> bool {
        if self.pending.is_empty() {
            return true;
        }
        let batch = std::mem::replace(&mut self.pending, Vec::with_capacity(SEND_BATCH_BYTES));
        self.tx.blocking_send(Ok(Bytes::from(batch))).is_ok()
    }
}

/// Streams every selected series as framed XOR chunks into `tx`.
fn stream_frames(
    selected: &[Selected],
    max_bytes_in_frame: usize,
    tx: &tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
) -> Result<(), ApiError> {
    let mut sink = FrameSink {
        tx,
        pending: Vec::with_capacity(SEND_BATCH_BYTES),
    };
    for (index, sel) in selected.iter().enumerate() {
        let query_index = i64::try_from(index).unwrap_or(i64::MAX);
        for s in &sel.series {
            let mut framer =
                SeriesFramer::new(query_index, rr::labels_to_pb(&s.labels), max_bytes_in_frame);
            let mut failed: Option<ApiError> = None;
            let mut gone = false;
            s.data.for_each_chunk(&mut |chunk| {
                for sample in chunk {
                    match framer.push(*sample) {
                        Ok(None) => {}
                        Ok(Some(frame)) => {
                            if !sink.push(&frame) {
                                gone = true;
                                return ControlFlow::Break(());
                            }
                        }
                        Err(e) => {
                            failed = Some(proto_error(e));
                            return ControlFlow::Break(());
                        }
                    }
                }
                ControlFlow::Continue(())
            })?;
            if let Some(e) = failed {
                return Err(e);
            }
            if gone {
                return Err(cancelled_error());
            }
            if let Some(frame) = framer.finish()
                && !sink.push(&frame)
            {
                return Err(cancelled_error());
            }
        }
    }
    if !sink.flush() {
        return Err(cancelled_error());
    }
    Ok(())
}

/// `POST /api/v1/read`
pub async fn remote_read(
    State(state): State<Arc<ServerState>>,
    tenant: Result<Tenant, ApiError>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match read(state, tenant, headers, body).await {
        Ok(resp) => resp,
        Err(e) => e.into_response(),
    }
}

async fn read(
    state: Arc<ServerState>,
    tenant: Result<Tenant, ApiError>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let permit = state.remote_read.enter().await?;
    let Tenant(tenant) = tenant?;
    let raw = read_body(&headers, body, rr::MAX_REQUEST_BYTES).await?;
    let limits = state.remote_read.limits();
    let cancelled = Arc::new(AtomicBool::new(false));
    let _guard = CancelOnDrop(cancelled.clone());
    let work_state = state.clone();
    let (response_type, selected) = blocking(move || {
        let req = rr::decode_read_request(&raw, rr::MAX_REQUEST_BYTES).map_err(proto_error)?;
        let response_type =
            rr::negotiate_response_type(&req.accepted_response_types).map_err(proto_error)?;
        let selected = select_all(&work_state, &tenant, &req.queries)?;
        Ok((response_type, selected))
    })
    .await?;

    if response_type == pb::ResponseType::Samples {
        let flag = cancelled.clone();
        let body = blocking(move || {
            let resp = sampled_response(&selected, limits.sample_limit, &flag)?;
            Ok(rr::encode_read_response(&resp))
        })
        .await?;
        drop(permit);
        return Ok((
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(rr::CONTENT_TYPE_SAMPLES),
                ),
                (header::CONTENT_ENCODING, HeaderValue::from_static("snappy")),
            ],
            body,
        )
            .into_response());
    }

    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    tokio::task::spawn_blocking(move || {
        // the slot stays taken until the last frame is out
        let _permit = permit;
        if let Err(e) = stream_frames(&selected, limits.max_bytes_in_frame, &tx) {
            tracing::warn!(error = %e, "streamed remote read aborted");
            let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
        }
    });
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(rr::CONTENT_TYPE_STREAMED),
        )],
        Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx)),
    )
        .into_response())
}

#[cfg(test)]
#[path = "remote_read_tests.rs"]
mod tests;
