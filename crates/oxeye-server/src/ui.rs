//! The web UI: static assets compiled into the binary and served at `/`.
//!
//! The UI is plain ES modules with no build step; every page talks to oxeye through the
//! same public HTTP APIs Grafana uses (Prometheus, Loki, Tempo, Alertmanager v2, and
//! oxeye's own dashboards and status endpoints), sending the chosen tenant as
//! `X-Scope-OrgID`. Routing is client-side (`/#/explore/metrics?...`), so the server
//! only answers `/` and `/ui/<file>`, and redirects Prometheus's `/graph` links there.

use axum::Router;
use axum::extract::{Path, RawQuery};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::sync::Arc;

use crate::state::ServerState;

/// One embedded file under `ui/`.
struct Asset {
    path: &'static str,
    body: &'static [u8],
    mime: &'static str,
}

macro_rules! asset {
    ($path:literal, $mime:expr) => {
        Asset {
            path: $path,
            body: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/ui/", $path)),
            mime: $mime,
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// Every file of the UI; a test checks the list against the directory.
const ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("app.css", CSS),
    asset!("app.js", JS),
    asset!("lib/api.js", JS),
    asset!("lib/chart.js", JS),
    asset!("lib/dom.js", JS),
    asset!("lib/editor.js", JS),
    asset!("lib/logql.js", JS),
    asset!("lib/panels.js", JS),
    asset!("lib/promql.js", JS),
    asset!("lib/time.js", JS),
    asset!("lib/timepicker.js", JS),
    asset!("lib/traceql.js", JS),
    asset!("lib/waterfall.js", JS),
    asset!("pages/alerts.js", JS),
    asset!("pages/dashboards.js", JS),
    asset!("pages/logs.js", JS),
    asset!("pages/metrics.js", JS),
    asset!("pages/slos.js", JS),
    asset!("pages/status.js", JS),
    asset!("pages/traces.js", JS),
    asset!("vendor/uplot/LICENSE", "text/plain; charset=utf-8"),
    asset!("vendor/uplot/uPlot.iife.min.js", JS),
    asset!("vendor/uplot/uPlot.min.css", CSS),
];

/// `/` and `/ui/<file>`.
pub fn routes() -> Router<Arc<ServerState>> {
    Router::new()
        .route("/", get(index))
        .route("/ui/{*path}", get(file))
        .route("/graph", get(graph))
}

/// `GET /graph?g0.expr=...&g0.tab=1`: Prometheus's graph links (alert generator URLs,
/// `graphLink`/`tableLink` in templates) open the metrics explorer with the same query.
async fn graph(RawQuery(q): RawQuery) -> Response {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (k, v) in form_urlencoded::parse(q.unwrap_or_default().as_bytes()) {
        match k.as_ref() {
            "g0.expr" => {
                out.append_pair("expr", &v);
            }
            "g0.tab" => {
                out.append_pair("tab", if v == "0" { "graph" } else { "table" });
            }
            "g0.range_input" => {
                out.append_pair("from", &format!("now-{v}"));
            }
            _ => {}
        }
    }
    let target = format!("/#/explore/metrics?{}", out.finish());
    (StatusCode::FOUND, [(header::LOCATION, target)]).into_response()
}

async fn index() -> Response {
    serve("index.html")
}

async fn file(Path(path): Path<String>) -> Response {
    serve(&path)
}

fn serve(path: &str) -> Response {
    let Some(a) = ASSETS.iter().find(|a| a.path == path) else {
        return (StatusCode::NOT_FOUND, format!("no ui file {path:?}\n")).into_response();
    };
    (
        [
            (header::CONTENT_TYPE, a.mime),
            // the binary is the version: revalidate cheaply, never serve a stale page
            (header::CACHE_CONTROL, "no-cache"),
        ],
        a.body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &std::path::Path, prefix: &str, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let name = format!("{prefix}{}", e.file_name().to_string_lossy());
            if e.file_type().unwrap().is_dir() {
                files(&e.path(), &format!("{name}/"), out);
            } else {
                out.push(name);
            }
        }
    }

    #[test]
    fn every_ui_file_is_embedded_with_its_type() {
        let mut on_disk = Vec::new();
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("ui");
        files(&root, "", &mut on_disk);
        on_disk.sort();
        let mut listed: Vec<String> = ASSETS.iter().map(|a| a.path.to_string()).collect();
        listed.sort();
        assert_eq!(on_disk, listed, "ui/ and ASSETS differ");
        for a in ASSETS {
            let want = match a.path.rsplit('.').next() {
                Some("js") => JS,
                Some("css") => CSS,
                Some("html") => "text/html; charset=utf-8",
                _ => "text/plain; charset=utf-8",
            };
            assert_eq!(a.mime, want, "{}", a.path);
        }
    }

    #[tokio::test]
    async fn index_and_files_are_served_and_unknown_files_are_404() {
        assert_eq!(index().await.status(), StatusCode::OK);
        let r = file(Path("lib/api.js".into())).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[header::CONTENT_TYPE], JS);
        let r = file(Path("../Cargo.toml".into())).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn prometheus_graph_links_open_the_metrics_explorer() {
        let r = graph(RawQuery(Some(
            "g0.expr=rate(x%7Bjob%3D%22a%22%7D%5B5m%5D)+%3E+1&g0.tab=1&g0.range_input=6h".into(),
        )))
        .await;
        assert_eq!(r.status(), StatusCode::FOUND);
        assert_eq!(
            r.headers()[header::LOCATION],
            "/#/explore/metrics?expr=rate%28x%7Bjob%3D%22a%22%7D%5B5m%5D%29+%3E+1&tab=table&from=now-6h"
        );
    }
}
