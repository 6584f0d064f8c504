//! The Jaeger query API under `/jaeger` through the router: services and operations,
//! trace JSON (processes, references, logs, tags as Jaeger's OTLP translator writes
//! them), search filters, dependencies, errors in Jaeger's shape and tenant isolation.

use axum::body::Body;
use axum::http::Request;
use serde_json::{Value, json as j};

use super::tempo_fixture::*;
use super::*;

/// `start`/`end` in µs around the fixture's traces.
fn window() -> String {
    let t0 = T0 / 1_000;
    format!("start={}&end={}", t0 - 1_000_000, t0 + 60_000_000)
}

fn trace_ids(v: &Value) -> Vec<String> {
    v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["traceID"].as_str().unwrap().to_string())
        .collect()
}

async fn get_tenant(state: &Arc<ServerState>, uri: &str, tenant: &str) -> (u16, String) {
    let req = Request::get(uri)
        .header("x-scope-orgid", tenant)
        .body(Body::empty())
        .unwrap();
    let (code, body, _) = send(state, req).await;
    (code, body)
}

#[tokio::test]
async fn services_and_operations() {
    let (state, _) = trace_state();
    let (code, body) = get(&state, "/jaeger/api/services").await;
    assert_eq!(code, 200);
    insta::assert_json_snapshot!("jaeger_services", json(&body));
    let (_, body) = get(&state, "/jaeger/api/services/payments/operations").await;
    assert_eq!(json(&body)["data"], j!(["charge", "settle"]));
    assert_eq!(json(&body)["total"], 2);
    let (_, body) = get(&state, "/jaeger/api/operations?service=frontend").await;
    insta::assert_json_snapshot!("jaeger_operations", json(&body));
    let (_, body) = get(
        &state,
        "/jaeger/api/operations?service=frontend&spanKind=client",
    )
    .await;
    assert_eq!(
        json(&body)["data"],
        j!([{"name": "POST /pay", "spanKind": "client"}])
    );
    let (code, body) = get(&state, "/jaeger/api/operations").await;
    assert_eq!(code, 400);
    assert_eq!(
        json(&body),
        j!({"data": null, "total": 0, "limit": 0, "offset": 0,
            "errors": [{"code": 400, "msg": "parameter 'service' is required"}]})
    );
}

#[tokio::test]
async fn trace_json_in_jaeger_shape() {
    let (state, _) = trace_state();
    let (code, body) = get(&state, &format!("/jaeger/api/traces/{A_HEX}")).await;
    assert_eq!(code, 200);
    let v = json(&body);
    insta::assert_json_snapshot!("jaeger_trace", v);
    let t = &v["data"][0];
    // the client span and the server span it calls are different processes
    let spans = t["spans"].as_array().unwrap();
    let charge = spans
        .iter()
        .find(|s| s["operationName"] == "charge")
        .unwrap();
    assert_eq!(charge["processID"], "p2");
    assert_eq!(t["processes"]["p2"]["serviceName"], "payments");
    assert_eq!(
        charge["references"],
        j!([
            {"refType": "CHILD_OF", "traceID": A_HEX, "spanID": "0000000000000002"},
            {"refType": "FOLLOWS_FROM", "traceID": "0000000000000b0b", "spanID": "0000000000000009"}
        ])
    );
    assert_eq!(charge["startTime"], T0 / 1_000 + 20_000);
    assert_eq!(charge["duration"], 150_000);
    // the short id is accepted and answered with Jaeger's 16-digit form
    let (code, body) = get(&state, "/jaeger/api/traces/b0b").await;
    assert_eq!(code, 200);
    assert_eq!(json(&body)["data"][0]["traceID"], "0000000000000b0b");
}

#[tokio::test]
async fn trace_errors_in_jaeger_shape() {
    let (state, _) = trace_state();
    let (code, body) = get(&state, "/jaeger/api/traces/123").await;
    assert_eq!(code, 404);
    insta::assert_json_snapshot!("jaeger_trace_not_found", json(&body));
    let (code, body) = get(&state, "/jaeger/api/traces/xyz").await;
    assert_eq!(code, 400);
    assert_eq!(json(&body)["errors"][0]["code"], 400);
    let (code, body) = get(&state, &format!("/jaeger/api/traces/{}", "a".repeat(33))).await;
    assert_eq!(code, 400);
    assert!(
        json(&body)["errors"][0]["msg"]
            .as_str()
            .unwrap()
            .contains("32 hex")
    );
    let bare = state_with(MemStore::new());
    let (code, body) = get(&bare, "/jaeger/api/services").await;
    assert_eq!(code, 503);
    assert_eq!(
        json(&body)["errors"][0]["msg"],
        "trace storage is not enabled"
    );
}

#[tokio::test]
async fn search_filters() {
    let (state, _) = trace_state();
    let w = window();
    let search = |q: String| {
        let state = state.clone();
        async move {
            let (code, body) = get(&state, &format!("/jaeger/api/traces?{q}")).await;
            assert_eq!(code, 200, "{q}: {body}");
            json(&body)
        }
    };
    let v = search(format!("service=payments&{w}")).await;
    assert_eq!(trace_ids(&v), ["0000000000000b0b", A_HEX]);
    assert_eq!(v["total"], 2);
    let v = search(format!("service=payments&operation=charge&{w}")).await;
    assert_eq!(trace_ids(&v), [A_HEX]);
    // operation must be on a span of the service
    let v = search(format!("service=payments&operation=POST%20%2Fpay&{w}")).await;
    assert_eq!(trace_ids(&v), Vec::<String>::new());
    // tags: span tags, translator tags, process tags, log fields
    let tags = |m: &str| form_urlencoded::byte_serialize(m.as_bytes()).collect::<String>();
    let v = search(format!(
        "service=payments&tags={}&{w}",
        tags(r#"{"error":"true"}"#)
    ))
    .await;
    assert_eq!(trace_ids(&v), [A_HEX]);
    let v = search(format!(
        "service=payments&tags={}&{w}",
        tags(r#"{"host.name":"h2","span.kind":"internal"}"#)
    ))
    .await;
    assert_eq!(trace_ids(&v), ["0000000000000b0b"]);
    let v = search(format!(
        "service=payments&tags={}&{w}",
        tags(r#"{"event":"exception"}"#)
    ))
    .await;
    assert_eq!(trace_ids(&v), [A_HEX]);
    let v = search(format!(
        "service=frontend&tags={}&{w}",
        tags(r#"{"http.status_code":"200"}"#)
    ))
    .await;
    assert_eq!(trace_ids(&v), [A_HEX]);
    // all tags on one span
    let v = search(format!(
        "service=frontend&tags={}&{w}",
        tags(r#"{"http.status_code":"200","http.method":"POST"}"#)
    ))
    .await;
    assert_eq!(trace_ids(&v), Vec::<String>::new());
    // durations are per span
    let v = search(format!("service=payments&minDuration=100ms&{w}")).await;
    assert_eq!(trace_ids(&v), [A_HEX]);
    let v = search(format!("service=payments&maxDuration=50ms&{w}")).await;
    assert_eq!(trace_ids(&v), ["0000000000000b0b"]);
    let v = search(format!("service=payments&limit=1&{w}")).await;
    assert_eq!(v["data"].as_array().unwrap().len(), 1);
    // the window: µs bounds, or a lookback from the end
    let t0 = T0 / 1_000;
    let v = search(format!(
        "service=payments&start={}&end={}",
        t0 + 2_000_000,
        t0 + 9_000_000
    ))
    .await;
    assert_eq!(trace_ids(&v), ["0000000000000b0b"]);
    let v = search(format!(
        "service=payments&end={}&lookback=2s",
        t0 + 1_000_000
    ))
    .await;
    assert_eq!(trace_ids(&v), [A_HEX]);
    // the default window is the last hour of the server clock, which holds both
    let v = search("service=payments".to_string()).await;
    assert_eq!(v["data"].as_array().unwrap().len(), 2);
    // each returned trace has its spans
    let v = search(format!("service=frontend&{w}")).await;
    assert_eq!(v["data"][0]["spans"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn search_by_trace_ids_and_tag_params() {
    let (state, _) = trace_state();
    let (code, body) = get(
        &state,
        &format!("/jaeger/api/traces?traceID={A_HEX}&traceID=b0b&traceID=123"),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    let v = json(&body);
    assert_eq!(trace_ids(&v), [A_HEX, "0000000000000b0b"]);
    assert_eq!(v["total"], 2);
    let (code, body) = get(&state, "/jaeger/api/traces?traceID=zz").await;
    assert_eq!(code, 400, "{body}");
    let w = window();
    let (_, body) = get(
        &state,
        &format!(
            "/jaeger/api/traces?service=payments&tag=host.name:h2&tag=otel.status_code:ERROR&{w}"
        ),
    )
    .await;
    assert_eq!(trace_ids(&json(&body)), [A_HEX]);
    let (code, body) = get(
        &state,
        &format!("/jaeger/api/traces?service=payments&tag=nocolon&{w}"),
    )
    .await;
    assert_eq!(code, 400);
    assert_eq!(
        json(&body)["errors"][0]["msg"],
        "malformed 'tag' parameter, expecting key:value, received: nocolon"
    );
}

#[tokio::test]
async fn search_errors() {
    let (state, _) = trace_state();
    let cases = [
        ("", "parameter 'service' is required"),
        (
            "service=a&limit=x",
            "unable to parse param 'limit': strconv.ParseUint: parsing \"x\": invalid syntax",
        ),
        (
            "service=a&minDuration=7",
            "unable to parse param 'minDuration': time: missing unit in duration \"7\"",
        ),
        (
            "service=a&minDuration=2s&maxDuration=1s",
            "'maxDuration' should be greater than 'minDuration'",
        ),
        (
            "service=a&start=20&end=10",
            "'start' should be before 'end'",
        ),
    ];
    for (q, msg) in cases {
        let (code, body) = get(&state, &format!("/jaeger/api/traces?{q}")).await;
        assert_eq!(code, 400, "{q}");
        assert_eq!(json(&body)["errors"][0]["msg"], msg, "{q}");
    }
    let (code, body) = get(&state, "/jaeger/api/traces?service=a&tags=%7Bx").await;
    assert_eq!(code, 400);
    assert!(
        json(&body)["errors"][0]["msg"]
            .as_str()
            .unwrap()
            .starts_with("malformed 'tags' parameter")
    );
}

#[tokio::test]
async fn dependencies_count_cross_service_calls() {
    let (state, _) = trace_state();
    let end = T0 / 1_000_000 + 60_000;
    let (code, body) = get(
        &state,
        &format!("/jaeger/api/dependencies?endTs={end}&lookback=120000"),
    )
    .await;
    assert_eq!(code, 200);
    insta::assert_json_snapshot!("jaeger_dependencies", json(&body));
    // a window before the traces holds no calls
    let early = T0 / 1_000_000 - 60_000;
    let (_, body) = get(
        &state,
        &format!("/jaeger/api/dependencies?endTs={early}&lookback=1000"),
    )
    .await;
    assert_eq!(json(&body)["data"], j!([]));
    let (code, body) = get(&state, "/jaeger/api/dependencies?endTs=abc").await;
    assert_eq!(code, 400);
    assert_eq!(
        json(&body)["errors"][0]["msg"],
        "unable to parse param 'endTs': strconv.ParseUint: parsing \"abc\": invalid syntax"
    );
}

#[tokio::test]
async fn scans_stop_at_the_query_timeout() {
    let (state, _) = trace_state_with(crate::QueryLimits {
        timeout: std::time::Duration::ZERO,
        ..crate::QueryLimits::default()
    });
    let end = T0 / 1_000_000 + 60_000;
    for uri in [
        format!("/jaeger/api/dependencies?endTs={end}&lookback=120000"),
        format!("/jaeger/api/traces?service=frontend&{}", window()),
    ] {
        let (code, body) = get(&state, &uri).await;
        assert_eq!(code, 503, "{uri}: {body}");
        assert_eq!(
            json(&body)["errors"][0]["msg"],
            "query timed out: narrow the time range or the search",
            "{uri}"
        );
    }
    // a limit beyond the cap is clamped, not refused
    let (state, _) = trace_state();
    let (code, body) = get(
        &state,
        &format!(
            "/jaeger/api/traces?service=frontend&limit=99999999999&{}",
            window()
        ),
    )
    .await;
    assert_eq!(code, 200, "{body}");
}

#[tokio::test]
async fn tenants_are_isolated() {
    let (state, _) = trace_state();
    let (_, body) = get_tenant(&state, "/jaeger/api/services", "other").await;
    assert_eq!(json(&body)["data"], j!(["secret"]));
    let (code, _) = get_tenant(&state, &format!("/jaeger/api/traces/{A_HEX}"), "other").await;
    assert_eq!(code, 404);
    let c = "cccccccccccccccccccccccccccccccc";
    assert_eq!(get(&state, &format!("/jaeger/api/traces/{c}")).await.0, 404);
    assert_eq!(
        get_tenant(&state, &format!("/jaeger/api/traces/{c}"), "other")
            .await
            .0,
        200
    );
    let (_, body) = get(&state, "/jaeger/api/traces?service=secret").await;
    assert_eq!(json(&body)["data"], j!([]));
    let (code, body) = get_tenant(&state, "/jaeger/api/services", "a|b").await;
    assert_eq!(code, 400);
    assert_eq!(json(&body)["errors"][0]["code"], 400);
}
