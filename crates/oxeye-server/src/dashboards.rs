//! Dashboards: JSON documents (a subset of Grafana's dashboard model, see [`model`])
//! stored as files, one directory per tenant under `<storage.path>/dashboards`, plus
//! built-in ones compiled into the binary.
//!
//! - `GET /api/v1/dashboards`: the tenant's dashboards and the built-ins, as
//!   `[{uid, title, tags, builtin}]`, built-ins first, then by title.
//! - `GET /api/v1/dashboards/{uid}`: `{dashboard, builtin}`.
//! - `PUT /api/v1/dashboards/{uid}`: validates ([`model::validate`]) and stores the body
//!   as `<dir>/<tenant>/<uid>.json` (written to a temporary file, fsynced, renamed over
//!   the old one, directory fsynced), answering what was stored.
//! - `DELETE /api/v1/dashboards/{uid}`: removes it.
//! - `POST /api/v1/dashboards/import`: maps a Grafana dashboard JSON ([`import`]), stores
//!   it and answers `{dashboard, dropped}`, the list of what could not be kept.
//!
//! Built-ins are read-only: writing or deleting one answers 405. Answers use
//! Prometheus's envelope; errors its JSON error form. File work runs on blocking threads.

pub mod import;
pub mod model;
#[cfg(test)]
mod tests;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use oxeye_core::TenantId;
use serde::Serialize;
use serde_json::Value;

use crate::read::Success;
use crate::state::{ServerState, TENANT_HEADER};

/// Largest dashboard body accepted.
pub const MAX_BODY_BYTES: usize = 4 << 20;

/// Why a dashboard request failed.
#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    /// The request or the document is wrong.
    #[error("{0}")]
    BadRequest(String),
    /// No such dashboard.
    #[error("{0}")]
    NotFound(String),
    /// A built-in dashboard cannot be changed.
    #[error("{0}")]
    ReadOnly(String),
    /// The body is over [`MAX_BODY_BYTES`].
    #[error("{0}")]
    TooLarge(String),
    /// Dashboards are not stored on this server.
    #[error("{0}")]
    Unavailable(String),
    /// Reading or writing the files failed.
    #[error("{0}")]
    Io(String),
}

impl DashboardError {
    /// The transport-independent kind of this error.
    pub fn status_code(&self) -> oxeye_core::StatusCode {
        use oxeye_core::StatusCode as C;
        match self {
            DashboardError::BadRequest(_) | DashboardError::ReadOnly(_) => C::BadData,
            DashboardError::NotFound(_) => C::NotFound,
            DashboardError::TooLarge(_) => C::TooLarge,
            DashboardError::Unavailable(_) => C::Unavailable,
            DashboardError::Io(_) => C::Internal,
        }
    }

    fn http_status(&self) -> axum::http::StatusCode {
        if matches!(self, DashboardError::ReadOnly(_)) {
            return axum::http::StatusCode::METHOD_NOT_ALLOWED;
        }
        axum::http::StatusCode::from_u16(self.status_code().http_status())
            .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl IntoResponse for DashboardError {
    fn into_response(self) -> Response {
        let status = self.http_status();
        let error_type = match self {
            DashboardError::NotFound(_) => "not_found",
            DashboardError::Unavailable(_) => "unavailable",
            DashboardError::Io(_) => "internal",
            _ => "bad_data",
        };
        if status.is_server_error() {
            tracing::warn!(error = %self, "dashboard request failed");
        }
        let body = serde_json::json!({
            "status": "error",
            "errorType": error_type,
            "error": self.to_string(),
        });
        (status, axum::Json(body)).into_response()
    }
}

/// A built-in dashboard's uid and document.
const BUILTINS: [(&str, &str); 2] = [
    (
        "oxeye-health",
        include_str!("dashboards/builtin/oxeye-health.json"),
    ),
    (
        "service-red",
        include_str!("dashboards/builtin/service-red.json"),
    ),
];

fn builtin(uid: &str) -> Option<Result<Value, DashboardError>> {
    let (_, text) = BUILTINS.iter().find(|(u, _)| *u == uid)?;
    Some(
        serde_json::from_str(text)
            .map_err(|e| DashboardError::Io(format!("built-in dashboard {uid:?} is broken: {e}"))),
    )
}

/// One entry of the list.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Summary {
    /// The dashboard's uid.
    pub uid: String,
    /// Its title.
    pub title: String,
    /// Its tags.
    pub tags: Vec<String>,
    /// Whether it is compiled into the binary (read-only).
    pub builtin: bool,
}

fn summary(doc: &Value, builtin: bool) -> Option<Summary> {
    Some(Summary {
        uid: doc.get("uid")?.as_str()?.to_string(),
        title: doc.get("title")?.as_str()?.to_string(),
        tags: doc
            .get("tags")
            .and_then(Value::as_array)
            .map(|t| {
                t.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
        builtin,
    })
}

/// The dashboards API.
pub fn routes() -> Router<Arc<ServerState>> {
    Router::new()
        .route("/api/v1/dashboards", get(list))
        .route(
            "/api/v1/dashboards/import",
            post(import_grafana)
                .get(reserved)
                .put(reserved)
                .delete(reserved),
        )
        .route(
            "/api/v1/dashboards/{uid}",
            get(get_one).put(put_one).delete(delete_one),
        )
}

/// Other methods on `/api/v1/dashboards/import`: `import` is not a dashboard uid.
async fn reserved() -> Result<Response, DashboardError> {
    model::check_uid("import")?;
    Err(DashboardError::BadRequest(
        "invalid dashboard uid \"import\"".into(),
    ))
}

/// The request's tenant, refused in Prometheus's JSON error form.
fn tenant(
    state: &ServerState,
    headers: &axum::http::HeaderMap,
) -> Result<TenantId, DashboardError> {
    let raw = headers.get(TENANT_HEADER).map(|v| v.as_bytes());
    state
        .tenant_from_header(raw)
        .map_err(|e| DashboardError::BadRequest(e.to_string()))
}

fn tenant_dir(state: &ServerState, t: &TenantId) -> Result<PathBuf, DashboardError> {
    let dir = state.dashboards_dir.as_ref().ok_or_else(|| {
        DashboardError::Unavailable("dashboards are not stored on this server".into())
    })?;
    Ok(dir.join(t.as_str()))
}

async fn run_blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, DashboardError> + Send + 'static,
) -> Result<T, DashboardError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| DashboardError::Io(format!("blocking task failed: {e}")))?
}

async fn read_body(body: Body) -> Result<Value, DashboardError> {
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|e| {
            DashboardError::TooLarge(format!(
                "dashboard body could not be read or is over {MAX_BODY_BYTES} bytes: {e}"
            ))
        })?;
    serde_json::from_slice(&bytes)
        .map_err(|e| DashboardError::BadRequest(format!("dashboard body is not valid JSON: {e}")))
}

/// `GET /api/v1/dashboards`
async fn list(
    State(state): State<Arc<ServerState>>,
    headers: axum::http::HeaderMap,
) -> Result<Response, DashboardError> {
    let t = tenant(&state, &headers)?;
    let mut out: Vec<Summary> = Vec::new();
    for (uid, _) in BUILTINS {
        if let Some(Ok(doc)) = builtin(uid) {
            out.extend(summary(&doc, true));
        }
    }
    if state.dashboards_dir.is_some() {
        let dir = tenant_dir(&state, &t)?;
        let mut mine = run_blocking(move || list_dir(&dir)).await?;
        mine.sort_by(|a, b| {
            a.title
                .to_lowercase()
                .cmp(&b.title.to_lowercase())
                .then(a.uid.cmp(&b.uid))
        });
        out.extend(mine);
    }
    Ok(Success::new(out).into_response())
}

fn list_dir(dir: &Path) -> Result<Vec<Summary>, DashboardError> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(DashboardError::Io(format!(
                "reading {}: {e}",
                dir.display()
            )));
        }
    };
    let mut out = Vec::new();
    for e in rd.flatten() {
        let name = e.file_name();
        let Some(uid) = name.to_str().and_then(|n| n.strip_suffix(".json")) else {
            continue;
        };
        if model::check_uid(uid).is_err() {
            continue;
        }
        match read_doc(&e.path()) {
            Ok(doc) => out.extend(summary(&doc, false)),
            Err(err) => {
                tracing::warn!(file = %e.path().display(), error = %err, "skipping unreadable dashboard")
            }
        }
    }
    Ok(out)
}

fn read_doc(path: &Path) -> Result<Value, DashboardError> {
    let bytes = std::fs::read(path)
        .map_err(|e| DashboardError::Io(format!("reading {}: {e}", path.display())))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| DashboardError::Io(format!("{} is not valid JSON: {e}", path.display())))
}

#[derive(Serialize)]
struct One {
    dashboard: Value,
    builtin: bool,
}

/// `GET /api/v1/dashboards/{uid}`
async fn get_one(
    State(state): State<Arc<ServerState>>,
    headers: axum::http::HeaderMap,
    UrlPath(uid): UrlPath<String>,
) -> Result<Response, DashboardError> {
    let t = tenant(&state, &headers)?;
    model::check_uid(&uid)?;
    if let Some(doc) = builtin(&uid) {
        return Ok(Success::new(One {
            dashboard: doc?,
            builtin: true,
        })
        .into_response());
    }
    let not_found = || DashboardError::NotFound(format!("dashboard {uid:?} not found"));
    if state.dashboards_dir.is_none() {
        return Err(not_found());
    }
    let path = tenant_dir(&state, &t)?.join(format!("{uid}.json"));
    let doc = run_blocking(move || match path.try_exists() {
        Ok(true) => read_doc(&path).map(Some),
        Ok(false) => Ok(None),
        Err(e) => Err(DashboardError::Io(format!(
            "reading {}: {e}",
            path.display()
        ))),
    })
    .await?
    .ok_or_else(not_found)?;
    Ok(Success::new(One {
        dashboard: doc,
        builtin: false,
    })
    .into_response())
}

fn refuse_builtin(uid: &str, what: &str) -> Result<(), DashboardError> {
    if BUILTINS.iter().any(|(u, _)| *u == uid) {
        return Err(DashboardError::ReadOnly(format!(
            "dashboard {uid:?} is built in and cannot be {what}"
        )));
    }
    Ok(())
}

/// `PUT /api/v1/dashboards/{uid}`
async fn put_one(
    State(state): State<Arc<ServerState>>,
    headers: axum::http::HeaderMap,
    UrlPath(uid): UrlPath<String>,
    body: Body,
) -> Result<Response, DashboardError> {
    let t = tenant(&state, &headers)?;
    model::check_uid(&uid)?;
    refuse_builtin(&uid, "changed")?;
    let dir = tenant_dir(&state, &t)?;
    let doc = model::validate(&uid, read_body(body).await?)?;
    let stored = doc.clone();
    run_blocking(move || write_atomic(&dir, &uid, &stored)).await?;
    Ok(Success::new(One {
        dashboard: doc,
        builtin: false,
    })
    .into_response())
}

/// `DELETE /api/v1/dashboards/{uid}`
async fn delete_one(
    State(state): State<Arc<ServerState>>,
    headers: axum::http::HeaderMap,
    UrlPath(uid): UrlPath<String>,
) -> Result<Response, DashboardError> {
    let t = tenant(&state, &headers)?;
    model::check_uid(&uid)?;
    refuse_builtin(&uid, "deleted")?;
    let dir = tenant_dir(&state, &t)?;
    let path = dir.join(format!("{uid}.json"));
    let uid2 = uid.clone();
    run_blocking(move || match std::fs::remove_file(&path) {
        Ok(()) => sync_dir(&dir),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(DashboardError::NotFound(
            format!("dashboard {uid2:?} not found"),
        )),
        Err(e) => Err(DashboardError::Io(format!(
            "removing {}: {e}",
            path.display()
        ))),
    })
    .await?;
    Ok(Success::new(serde_json::json!({ "uid": uid })).into_response())
}

#[derive(Serialize)]
struct ImportAnswer {
    dashboard: Value,
    dropped: Vec<String>,
}

/// `POST /api/v1/dashboards/import`
async fn import_grafana(
    State(state): State<Arc<ServerState>>,
    headers: axum::http::HeaderMap,
    body: Body,
) -> Result<Response, DashboardError> {
    let t = tenant(&state, &headers)?;
    let dir = tenant_dir(&state, &t)?;
    let imported = import::import(read_body(body).await?)?;
    let uid = imported
        .dashboard
        .get("uid")
        .and_then(Value::as_str)
        .unwrap_or("imported")
        .to_string();
    refuse_builtin(&uid, "replaced by an import")?;
    let doc = model::validate(&uid, imported.dashboard)?;
    let stored = doc.clone();
    run_blocking(move || write_atomic(&dir, &uid, &stored)).await?;
    Ok(Success::new(ImportAnswer {
        dashboard: doc,
        dropped: imported.dropped,
    })
    .into_response())
}

static TMP_SEQ: AtomicU64 = AtomicU64::new(0);

/// Writes `<dir>/<uid>.json` atomically: a temporary file in the same directory,
/// fsynced, renamed over the old file, then the directory fsynced.
fn write_atomic(dir: &Path, uid: &str, doc: &Value) -> Result<(), DashboardError> {
    let io = |what: &str, p: &Path, e: std::io::Error| {
        DashboardError::Io(format!("{what} {}: {e}", p.display()))
    };
    std::fs::create_dir_all(dir).map_err(|e| io("creating", dir, e))?;
    let bytes = serde_json::to_vec_pretty(doc)
        .map_err(|e| DashboardError::Io(format!("encoding dashboard {uid:?}: {e}")))?;
    let seq = TMP_SEQ.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!(".{uid}.json.tmp-{}-{seq}", std::process::id()));
    let target = dir.join(format!("{uid}.json"));
    let res = (|| {
        let mut f = std::fs::File::create(&tmp).map_err(|e| io("creating", &tmp, e))?;
        f.write_all(&bytes).map_err(|e| io("writing", &tmp, e))?;
        f.sync_all().map_err(|e| io("syncing", &tmp, e))?;
        std::fs::rename(&tmp, &target).map_err(|e| io("renaming to", &target, e))
    })();
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res?;
    sync_dir(dir)
}

fn sync_dir(dir: &Path) -> Result<(), DashboardError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| DashboardError::Io(format!("syncing {}: {e}", dir.display())))
}
