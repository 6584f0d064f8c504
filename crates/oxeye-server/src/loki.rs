//! The Loki query API: LogQL queries, labels, series, live tail, index statistics,
//! volumes, detected fields and patterns, in Loki's shapes and status codes.

use std::sync::Arc;

use axum::Router;

use crate::state::ServerState;

/// The Loki query routes.
pub fn routes() -> Router<Arc<ServerState>> {
    Router::new()
}
