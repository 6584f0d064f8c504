//! The Tempo HTTP API: trace by id, TraceQL search, tag autocomplete, echo and buildinfo.

use std::sync::Arc;

use axum::Router;

use crate::state::ServerState;

/// The routes of this API family.
pub fn routes() -> Router<Arc<ServerState>> {
    Router::new()
}
