//! Log ingest: the Loki push API (`POST /loki/api/v1/push`) and OTLP logs over HTTP
//! (`POST /v1/logs`) and gRPC (`LogsService/Export`).

use std::sync::Arc;

use axum::Router;

use crate::state::ServerState;

/// The log ingest routes.
pub fn routes() -> Router<Arc<ServerState>> {
    Router::new()
}
