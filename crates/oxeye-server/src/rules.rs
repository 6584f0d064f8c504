//! Rule and alert APIs: Prometheus's `/api/v1/rules` and `/api/v1/alerts`, and the Loki
//! ruler's rule-group API (`/loki/api/v1/rules...`, `/prometheus/api/v1/rules`,
//! `/prometheus/api/v1/alerts`), over the state's rule manager.

use std::sync::Arc;

use axum::Router;

use crate::ServerState;

/// The rule routes.
pub fn routes() -> Router<Arc<ServerState>> {
    Router::new()
}
