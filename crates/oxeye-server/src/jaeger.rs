//! The Jaeger query API v1 (served under `/jaeger`), as Grafana's Jaeger datasource calls it.

use std::sync::Arc;

use axum::Router;

use crate::state::ServerState;

/// The routes of this API family.
pub fn routes() -> Router<Arc<ServerState>> {
    Router::new()
}
