//! LogQL through the router: log and metric queries, instant and range, Grafana's
//! requests replayed (health check, categorized labels), `format_query`, trace
//! correlation by trace id, and live tail over a real WebSocket.

use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use futures_util::StreamExt;
use oxeye_core::logs::{LogAppender, LogBatch, LogEntry, LogStream};
use oxeye_core::{Labels, TenantId};

use super::loki_fixture::*;
use super::*;

fn url(path: &str, pairs: &[(&str, &str)]) -> String {
    let [(s, sv), (e, ev)] = whole_range();
    let mut all: Vec<(&str, &str)> = vec![(s, sv.as_str()), (e, ev.as_str())];
    all.extend_from_slice(pairs);
    format!("{path}?{}", qs(&all))
}

async fn ok_json(state: &Arc<ServerState>, uri: &str) -> serde_json::Value {
    let (code, body) = get(state, uri).await;
    assert_eq!(code, 200, "{uri}: {body}");
    json(&body)
}

/// Every line of a `streams` answer as `(ns, line)`, in answer order.
fn lines(v: &serde_json::Value) -> Vec<(String, String)> {
    v["data"]["result"]
        .as_array()
        .unwrap_or_else(|| panic!("no result: {v}"))
        .iter()
        .flat_map(|s| s["values"].as_array().unwrap().iter())
        .map(|e| {
            (
                e[0].as_str().unwrap().to_string(),
                e[1].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn grafana_health_check_evaluates_to_two() {
    let (state, _, _) = loki_state();
    let v = ok_json(
        &state,
        "/loki/api/v1/query?query=vector(1)%2Bvector(1)&direction=backward&time=4000000000",
    )
    .await;
    assert_eq!(v["data"]["resultType"], "vector", "{v}");
    assert_eq!(v["data"]["result"][0]["value"][1], "2", "{v}");
}

#[tokio::test]
async fn range_log_query_limit_and_direction() {
    let (state, _, _) = loki_state();
    let v = ok_json(
        &state,
        &url(
            "/loki/api/v1/query_range",
            &[("query", r#"{service_name="api"}"#), ("limit", "2")],
        ),
    )
    .await;
    assert_eq!(v["data"]["resultType"], "streams");
    let got: Vec<String> = lines(&v).into_iter().map(|(t, _)| t).collect();
    // backward by default: the two newest lines
    let mut sorted = got.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [(T0 + 10 * SEC).to_string(), (T0 + 20 * SEC).to_string()]
    );
    let v = ok_json(
        &state,
        &url(
            "/loki/api/v1/query_range",
            &[
                ("query", r#"{service_name="api"}"#),
                ("limit", "1"),
                ("direction", "FORWARD"),
            ],
        ),
    )
    .await;
    assert_eq!(lines(&v), [(T0.to_string(), lines_of_api()[0].clone())]);
}

fn lines_of_api() -> Vec<String> {
    batch().streams[0]
        .entries
        .iter()
        .map(|e| e.line.clone())
        .collect()
}

#[tokio::test]
async fn grafana_range_query_with_categorized_labels() {
    let (state, _, _) = loki_state();
    let uri = url(
        "/loki/api/v1/query_range",
        &[
            (
                "query",
                r#"{service_name="api", env="prod"} | logfmt | level="error""#,
            ),
            ("direction", "backward"),
            ("limit", "1000"),
            ("step", "2000ms"),
        ],
    );
    let req = Request::get(uri)
        .header("X-Loki-Response-Encoding-Flags", "categorize-labels")
        .header("X-Query-Tags", "Source=logsample")
        .body(Body::empty())
        .unwrap();
    let (code, body, _) = send(&state, req).await;
    assert_eq!(code, 200, "{body}");
    let flags = body.find("\"encodingFlags\"").unwrap();
    assert!(flags < body.find("\"result\"").unwrap());
    let v = json(&body);
    let r = &v["data"]["result"];
    assert_eq!(r.as_array().unwrap().len(), 1, "{v}");
    assert_eq!(
        r[0]["stream"],
        serde_json::json!({"env":"prod","service_name":"api"})
    );
    let e = &r[0]["values"][0];
    assert_eq!(e[0], (T0 + 10 * SEC).to_string());
    assert_eq!(e[2]["structuredMetadata"]["trace_id"], TRACE, "{v}");
    assert_eq!(e[2]["parsed"]["level"], "error", "{v}");
}

#[tokio::test]
async fn metric_range_query_is_a_matrix() {
    let (state, _, _) = loki_state();
    let v = ok_json(
        &state,
        &url(
            "/loki/api/v1/query_range",
            &[
                (
                    "query",
                    r#"sum by (service_name) (count_over_time({env="prod"}[1m]))"#,
                ),
                ("step", "60"),
            ],
        ),
    )
    .await;
    assert_eq!(v["data"]["resultType"], "matrix", "{v}");
    let series = v["data"]["result"].as_array().unwrap();
    assert_eq!(series.len(), 2, "{v}");
    // ranges are left-open: (T0-60s, T0] holds the T0 line, (T0, T0+60s] the next two
    let api = series
        .iter()
        .find(|s| s["metric"]["service_name"] == "api")
        .unwrap();
    assert_eq!(
        api["values"],
        serde_json::json!([[1_700_000_000u64, "1"], [1_700_000_060u64, "2"]]),
        "{v}"
    );
}

#[tokio::test]
async fn query_errors_are_plain_text_400s() {
    let (state, _, _) = loki_state();
    let (code, body) = get(
        &state,
        &url(
            "/loki/api/v1/query_range",
            &[("query", r#"{service_name="api"} |= "#)],
        ),
    )
    .await;
    assert_eq!(code, 400, "{body}");
    assert!(body.starts_with("parse error at line 1, col "), "{body}");
    let (code, _) = get(&state, &url("/loki/api/v1/query_range", &[])).await;
    assert_eq!(code, 400);
    // log queries are range queries only, as in Loki 3
    let (code, body) = get(
        &state,
        &format!(
            "/loki/api/v1/query?{}",
            qs(&[("query", r#"{service_name="api"}"#)])
        ),
    )
    .await;
    assert_eq!(
        (code, body.as_str()),
        (
            400,
            "log queries are not supported as an instant query type, please change your query to a range query type\n"
        )
    );
    let (code, body) = get(
        &state,
        &format!(
            "/loki/api/v1/query?{}",
            qs(&[
                (
                    "query",
                    r#"sum(count_over_time({service_name="api"} [1m]))"#
                ),
                ("time", &(T0 + 30 * SEC).to_string())
            ])
        ),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    let v = json(&body);
    assert_eq!(v["data"]["resultType"], "vector");
    assert_eq!(
        v["data"]["result"][0]["value"],
        serde_json::json!([1_700_000_030u64, "4"]),
        "{v}"
    );
}

#[tokio::test]
async fn format_query_pretty_prints() {
    let (state, _, _) = loki_state();
    let v = ok_json(
        &state,
        &format!(
            "/loki/api/v1/format_query?{}",
            qs(&[("query", r#"{service_name="api"}|="x""#)])
        ),
    )
    .await;
    assert_eq!(v["status"], "success");
    let formatted = v["data"].as_str().unwrap();
    assert!(formatted.contains(r#"{service_name="api"}"#), "{formatted}");
    assert!(formatted.contains(r#"|= "x""#), "{formatted}");
    let (code, body) = get(&state, "/loki/api/v1/format_query?query=%7B").await;
    assert_eq!(code, 400, "{body}");
}

/// Trace correlation: a trace id in structured metadata, and in a JSON field.
#[tokio::test]
async fn lines_of_a_trace_are_found_by_its_id() {
    let (state, _, _) = loki_state();
    // structured metadata (OTLP logs, Loki push with metadata)
    let q = format!(r#"{{service_name=~".+"}} | trace_id="{TRACE}""#);
    let v = ok_json(&state, &url("/loki/api/v1/query_range", &[("query", &q)])).await;
    let mut got: Vec<String> = lines(&v).into_iter().map(|(t, _)| t).collect();
    got.sort();
    assert_eq!(got, [T0.to_string(), (T0 + 10 * SEC).to_string()], "{v}");
    // an id inside the line: the line filter lets the store skip chunks
    let q = format!(r#"{{service_name=~".+"}} |= "{TRACE}" | json | trace_id="{TRACE}""#);
    let v = ok_json(&state, &url("/loki/api/v1/query_range", &[("query", &q)])).await;
    let got: Vec<String> = lines(&v).into_iter().map(|(t, _)| t).collect();
    assert_eq!(got, [(T0 + 2 * SEC).to_string()], "{v}");
}

type Ws = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

/// The next tail message, within 10 s.
async fn next(ws: &mut Ws) -> serde_json::Value {
    let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .expect("a tail message within 10s")
        .unwrap()
        .unwrap();
    serde_json::from_str(msg.to_text().unwrap()).unwrap()
}

/// Live tail: history first, then lines pushed after the connection, through the
/// query's pipeline, each once.
#[tokio::test]
async fn tail_streams_new_lines_over_a_websocket() {
    let (state, logs, clock) = loki_state();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = crate::router(state.clone());
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let query = qs(&[
        ("query", r#"{service_name="api"} |= "served""#),
        ("start", &T0.to_string()),
        ("limit", "10"),
    ]);
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut ws, _) =
        tokio_tungstenite::client_async(format!("ws://{addr}/loki/api/v1/tail?{query}"), stream)
            .await
            .unwrap();
    let first = next(&mut ws).await;
    let hist: Vec<String> = lines(&serde_json::json!({"data":{"result":first["streams"]}}))
        .into_iter()
        .map(|(t, _)| t)
        .collect();
    assert_eq!(
        hist,
        [T0.to_string(), (T0 + 20 * SEC).to_string()],
        "{first}"
    );
    assert!(first.get("dropped_entries").is_none(), "{first}");
    // a new line, after the connection; one that does not match the filter
    let now_ns = (NOW_MS + 1_000) * 1_000_000;
    let labels = Labels::from_pairs(&[("service_name", "api"), ("env", "prod")]);
    logs.append_logs(
        &TenantId::new("anonymous").unwrap(),
        LogBatch {
            streams: vec![LogStream {
                labels,
                entries: vec![
                    LogEntry::new(now_ns, "level=info msg=\"request served\" late=1"),
                    LogEntry::new(now_ns + 1, "level=info msg=\"not this one\""),
                ],
            }],
        },
    )
    .unwrap();
    clock.advance(2_000);
    let second = next(&mut ws).await;
    let new: Vec<(String, String)> =
        lines(&serde_json::json!({"data":{"result":second["streams"]}}));
    assert_eq!(
        new,
        [(
            now_ns.to_string(),
            "level=info msg=\"request served\" late=1".to_string()
        )],
        "{second}"
    );
    assert_eq!(
        second["streams"][0]["stream"],
        serde_json::json!({"env":"prod","service_name":"api"})
    );
    drop(ws);
    server.abort();
}

#[tokio::test]
async fn tail_refuses_bad_requests_before_upgrading() {
    let (state, _, _) = loki_state();
    let ws_req = |uri: String| {
        Request::get(uri)
            .header("connection", "upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
            .body(Body::empty())
            .unwrap()
    };
    let sel = r#"{service_name="api"}"#;
    for (pairs, want) in [
        (
            vec![("query", sel), ("delay_for", "6")],
            "delay_for can't be greater than 5\n",
        ),
        (
            vec![("query", sel), ("limit", "0")],
            "limit must be a positive value\n",
        ),
        (
            vec![("query", sel), ("delay_for", "soon")],
            "strconv.Atoi: parsing \"soon\": invalid syntax\n",
        ),
        (
            vec![("query", sel), ("start", "later")],
            "strconv.ParseInt: parsing \"later\": invalid syntax\n",
        ),
        (vec![("query", r#"{service_name="api"} |="#)], ""),
        (
            vec![("query", r#"count_over_time({service_name="api"}[1m])"#)],
            "tail: only log queries can be tailed, not metric queries\n",
        ),
    ] {
        let uri = format!("/loki/api/v1/tail?{}", qs(&pairs));
        let (code, body, _) = send(&state, ws_req(uri.clone())).await;
        assert_eq!(code, 400, "{uri}: {body}");
        if want.is_empty() {
            assert!(body.starts_with("parse error at line 1"), "{uri}: {body}");
        } else {
            assert_eq!(body, want, "{uri}");
        }
    }
}

/// Every line of a tail message.
fn tail_lines(msg: &serde_json::Value) -> Vec<String> {
    lines(&serde_json::json!({"data":{"result":msg["streams"]}}))
        .into_iter()
        .map(|(_, l)| l)
        .collect()
}

/// A browser cannot set `X-Scope-OrgID` on a WebSocket: tail takes the tenant from the
/// `orgId` parameter, validated as the header is; the header, when given, wins.
#[tokio::test]
async fn tail_takes_the_tenant_from_org_id_when_the_header_is_absent() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let (state, _, _) = loki_state();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = crate::router(state.clone());
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let connect = |pairs: Vec<(&str, &str)>, header: Option<&str>| {
        let uri = format!("ws://{addr}/loki/api/v1/tail?{}", qs(&pairs));
        let mut req = uri.into_client_request().unwrap();
        if let Some(h) = header {
            req.headers_mut()
                .insert("X-Scope-OrgID", h.parse().unwrap());
        }
        async move {
            let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
            tokio_tungstenite::client_async(req, stream)
                .await
                .unwrap()
                .0
        }
    };
    let start = T0.to_string();
    let all = r#"{service_name=~".+"}"#;

    // the parameter alone: tenant `other`'s line, none of `anonymous`'s
    let mut ws = connect(
        vec![("query", all), ("start", &start), ("orgId", "other")],
        None,
    )
    .await;
    assert_eq!(tail_lines(&next(&mut ws).await), ["tenant other only"]);
    drop(ws);

    // both: the header's tenant
    let mut ws = connect(
        vec![("query", all), ("start", &start), ("orgId", "other")],
        Some("anonymous"),
    )
    .await;
    let got = tail_lines(&next(&mut ws).await);
    assert_eq!(got.len(), 6, "{got:?}");
    assert!(!got.iter().any(|l| l == "tenant other only"), "{got:?}");
    drop(ws);
    server.abort();

    // a bad parameter is refused as a bad header is, before the upgrade
    let ws_req = |uri: String, header: Option<&str>| {
        let mut b = Request::get(uri)
            .header("connection", "upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==");
        if let Some(h) = header {
            b = b.header("X-Scope-OrgID", h);
        }
        b.body(Body::empty()).unwrap()
    };
    for (org, header, want) in [
        (
            "a/b",
            None,
            "invalid orgId parameter: tenant id contains unsupported character '/'\n",
        ),
        ("", None, "invalid orgId parameter: tenant id is empty\n"),
        (
            "..",
            None,
            "invalid orgId parameter: tenant id '..' is not allowed\n",
        ),
        (
            "other",
            Some("a b"),
            "invalid X-Scope-OrgID header: tenant id contains unsupported character ' '\n",
        ),
    ] {
        let uri = format!(
            "/loki/api/v1/tail?{}",
            qs(&[("query", all), ("orgId", org)])
        );
        let (code, body, _) = send(&state, ws_req(uri.clone(), header)).await;
        assert_eq!(code, 400, "{uri}: {body}");
        assert_eq!(body, want, "{uri}");
    }
}
