//! Dashboards: JSON documents (a subset of Grafana's dashboard model) stored as files,
//! one directory per tenant under `<storage.path>/dashboards`, plus built-in ones.
//!
//! `GET /api/v1/dashboards` lists, `GET|PUT|DELETE /api/v1/dashboards/{uid}` reads, stores
//! and removes one, `POST /api/v1/dashboards/import` turns a Grafana dashboard JSON into
//! ours.

use axum::Router;
use std::sync::Arc;

use crate::state::ServerState;

/// The dashboards API.
pub fn routes() -> Router<Arc<ServerState>> {
    Router::new()
}
