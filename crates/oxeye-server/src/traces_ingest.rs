//! Trace ingest: OTLP traces over HTTP (`POST /v1/traces`) and gRPC, and Zipkin v2 JSON.

use std::sync::Arc;

use axum::Router;

use crate::state::ServerState;

/// The routes of this API family.
pub fn routes() -> Router<Arc<ServerState>> {
    Router::new()
}
