//! Router tests over a small in-memory store implementing the core traits.

mod alertmanager_api;
mod api_contract;
mod jaeger_api;
mod loki_encoding;
mod loki_fixture;
mod loki_index;
mod loki_query;
mod memstore;
mod otlp_api;
mod query_api;
mod read_api;
mod tempo_api;
mod tempo_fixture;
mod tempo_roundtrip;
mod traces_ingest_grpc;
mod traces_ingest_http;
mod traces_ingest_python_sdk;
mod traces_ingest_zipkin;
mod write_api;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, Response};
use http_body_util::BodyExt;
use tower::ServiceExt;

use crate::{ServerState, router};
pub(crate) use memstore::MemStore;

pub(crate) fn state_with(store: Arc<MemStore>) -> Arc<ServerState> {
    let s = ServerState::builder(store.clone(), store).build();
    s.set_ready(true);
    s
}

pub(crate) async fn send(
    state: &Arc<ServerState>,
    req: Request<Body>,
) -> (u16, String, Response<()>) {
    let resp = router(state.clone()).oneshot(req).await.unwrap();
    let (parts, body) = resp.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    (
        parts.status.as_u16(),
        String::from_utf8_lossy(&bytes).into_owned(),
        Response::from_parts(parts, ()),
    )
}

pub(crate) async fn get(state: &Arc<ServerState>, uri: &str) -> (u16, String) {
    let (code, body, _) = send(state, Request::get(uri).body(Body::empty()).unwrap()).await;
    (code, body)
}

pub(crate) fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}
mod logs_ingest_loki;
mod logs_ingest_otlp;
