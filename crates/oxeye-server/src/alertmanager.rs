//! The Alertmanager API v2 subset Grafana and `amtool` use, over the built-in notifier:
//! `/api/v2/alerts`, `/api/v2/alerts/groups`, `/api/v2/silences`, `/api/v2/silence/{id}`,
//! `/api/v2/status`, `/api/v2/receivers`.

use std::sync::Arc;

use axum::Router;

use crate::ServerState;

/// The Alertmanager routes.
pub fn routes() -> Router<Arc<ServerState>> {
    Router::new()
}
