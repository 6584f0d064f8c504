//! `/api/v1/slos`: each loaded SLO's objective, current SLI, error budget remaining and
//! burn rates.

use std::sync::Arc;

use axum::Router;

use crate::ServerState;

/// The SLO routes.
pub fn routes() -> Router<Arc<ServerState>> {
    Router::new()
}
