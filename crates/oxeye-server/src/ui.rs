//! The web UI: static assets compiled into the binary and served at `/`.
//!
//! The UI is plain ES modules with no build step; every page talks to oxeye through the
//! same public HTTP APIs Grafana uses (Prometheus, Loki, Tempo, Alertmanager v2, and
//! oxeye's own dashboards and status endpoints), sending the chosen tenant as
//! `X-Scope-OrgID`. Routing is client-side (`/#/explore/metrics?...`), so the server
//! only answers `/` and `/ui/<file>`, and redirects Prometheus's `/graph` links there.

use axum::Router;
use axum::extract::{Path, RawQuery};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, OnceLock};

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

async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

async fn file(Path(path): Path<String>, headers: HeaderMap) -> Response {
    serve(&path, &headers)
}

/// The entity tag of each asset, by position in [`ASSETS`]: a hash of its bytes.
fn etags() -> &'static [String] {
    static TAGS: OnceLock<Vec<String>> = OnceLock::new();
    TAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| {
                let mut h = std::hash::DefaultHasher::new();
                a.body.hash(&mut h);
                format!("\"{:016x}{:08x}\"", h.finish(), a.body.len())
            })
            .collect()
    })
}

/// Whether `If-None-Match` names `tag` (weak comparison, as RFC 9110 asks for this header).
fn none_match(headers: &HeaderMap, tag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim())
        .any(|t| t == "*" || t.trim_start_matches("W/") == tag)
}

/// An asset, or 304 when the browser's copy is current. `no-cache` has the browser ask each
/// time (the binary is the version, a page must never be stale) and the tag makes asking
/// cheap: nothing is sent again, and the browser keeps what it compiled from the file.
fn serve(path: &str, headers: &HeaderMap) -> Response {
    let Some(i) = ASSETS.iter().position(|a| a.path == path) else {
        return (StatusCode::NOT_FOUND, format!("no ui file {path:?}\n")).into_response();
    };
    let (a, tag) = (&ASSETS[i], etags()[i].as_str());
    let validators = [(header::CACHE_CONTROL, "no-cache"), (header::ETAG, tag)];
    if none_match(headers, tag) {
        return (StatusCode::NOT_MODIFIED, validators).into_response();
    }
    (validators, [(header::CONTENT_TYPE, a.mime)], a.body).into_response()
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
        assert_eq!(index(HeaderMap::new()).await.status(), StatusCode::OK);
        let r = file(Path("lib/api.js".into()), HeaderMap::new()).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[header::CONTENT_TYPE], JS);
        let r = file(Path("../Cargo.toml".into()), HeaderMap::new()).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn a_current_copy_is_answered_not_modified() {
        let asking = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::IF_NONE_MATCH, v.parse().unwrap());
            h
        };
        let first = file(Path("lib/chart.js".into()), HeaderMap::new()).await;
        assert_eq!(first.status(), StatusCode::OK);
        assert_eq!(first.headers()[header::CACHE_CONTROL], "no-cache");
        let tag = first.headers()[header::ETAG].to_str().unwrap().to_string();
        assert!(tag.starts_with('"') && tag.ends_with('"'), "{tag}");

        let again = file(Path("lib/chart.js".into()), asking(&tag)).await;
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(again.headers()[header::ETAG], tag.as_str());
        let body = axum::body::to_bytes(again.into_body(), 1 << 20)
            .await
            .unwrap();
        assert!(body.is_empty());
        // a weak tag and a list match too, as browsers and proxies send them
        let listed = asking(&format!("\"x\", W/{tag}"));
        let r = file(Path("lib/chart.js".into()), listed).await;
        assert_eq!(r.status(), StatusCode::NOT_MODIFIED);

        // another file's tag, or a changed file: the whole file again
        let other = index(asking(&tag)).await;
        assert_eq!(other.status(), StatusCode::OK);
        assert_ne!(other.headers()[header::ETAG], tag.as_str());
        let stale = file(Path("lib/chart.js".into()), asking("\"0\"")).await;
        assert_eq!(stale.status(), StatusCode::OK);
        let body = axum::body::to_bytes(stale.into_body(), 1 << 20)
            .await
            .unwrap();
        assert_eq!(
            &body[..],
            ASSETS
                .iter()
                .find(|a| a.path == "lib/chart.js")
                .unwrap()
                .body
        );
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
