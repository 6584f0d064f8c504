//! The Tempo HTTP API through the router: trace by id in JSON (pinned snapshots) and in
//! protobuf (decoded and compared with what was stored, field by field), search with `q`
//! and `tags`, tag names and values v1/v2, errors and tenant isolation.

use axum::body::Body;
use axum::http::Request;
use oxeye_core::TenantId;
use oxeye_core::trace::TraceQueryable;
use oxeye_proto::tempo::{PartialStatus, Trace as PbTrace, TraceByIdResponse};
use prost::Message;

use super::tempo_fixture::*;
use super::*;

async fn get_with(
    state: &Arc<ServerState>,
    uri: &str,
    headers: &[(&str, &str)],
) -> (u16, Vec<u8>, Response<()>) {
    let mut req = Request::get(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = crate::router(state.clone())
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let (parts, body) = resp.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes().to_vec();
    (
        parts.status.as_u16(),
        bytes,
        Response::from_parts(parts, ()),
    )
}

fn stored(store: &oxeye_core::trace_mem::MemTraceStore, id: [u8; 16]) -> oxeye_core::trace::Trace {
    store
        .trace_by_id(&TenantId::new("anonymous").unwrap(), &id, None)
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn echo_and_buildinfo() {
    let (state, _) = trace_state();
    assert_eq!(get(&state, "/api/echo").await, (200, "echo".to_string()));
    let (code, body) = get(&state, "/api/status/buildinfo").await;
    assert_eq!(code, 200);
    let v = json(&body);
    let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "branch",
            "buildDate",
            "buildUser",
            "goVersion",
            "revision",
            "version"
        ]
    );
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
}

#[tokio::test]
async fn trace_v1_json_is_tempo_otlp_json() {
    let (state, _) = trace_state();
    let (code, body) = get(&state, &format!("/api/traces/{A_HEX}")).await;
    assert_eq!(code, 200);
    insta::assert_json_snapshot!("tempo_trace_v1", json(&body));
}

#[tokio::test]
async fn trace_v2_json_wraps_resource_spans() {
    let (state, _) = trace_state();
    // a short id is left-padded to 128 bits
    let (code, body) = get(&state, "/api/v2/traces/b0b").await;
    assert_eq!(code, 200, "{body}");
    insta::assert_json_snapshot!("tempo_trace_v2", json(&body));
}

#[tokio::test]
async fn trace_protobuf_v1_and_v2_carry_every_field() {
    let (state, store) = trace_state();
    let want = stored(&store, TRACE_A);
    let accept = [("accept", "application/protobuf")];

    let (code, bytes, resp) = get_with(&state, &format!("/api/traces/{A_HEX}"), &accept).await;
    assert_eq!(code, 200);
    assert_eq!(resp.headers()["content-type"], "application/protobuf");
    let t = PbTrace::decode(bytes.as_slice()).unwrap();
    assert_eq!(otlp_back(TRACE_A, &t.resource_spans), want);

    let (code, bytes, _) = get_with(&state, &format!("/api/v2/traces/{A_HEX}"), &accept).await;
    assert_eq!(code, 200);
    let r = TraceByIdResponse::decode(bytes.as_slice()).unwrap();
    assert_eq!(r.status, PartialStatus::Complete as i32);
    let got = otlp_back(TRACE_A, &r.trace.unwrap().resource_spans);
    assert_eq!(got, want);
    // spot checks on what the comparison covers
    let charge = got.spans().find(|(_, _, s)| s.name == "charge").unwrap().2;
    assert_eq!(charge.parent_span_id, [0, 0, 0, 0, 0, 0, 0, 2]);
    assert_eq!(charge.links[0].trace_id, TRACE_B);
    assert_eq!(charge.events[0].name, "exception");
    assert_eq!(charge.status_message, "card declined");
    assert_eq!(charge.attributes.len(), 8);
}

#[tokio::test]
async fn trace_by_id_errors() {
    let (state, _) = trace_state();
    let (code, body) = get(&state, "/api/traces/12zz").await;
    assert_eq!(code, 400);
    assert_eq!(
        body,
        "trace IDs can only contain hex characters: invalid character 'z' at position 3\n"
    );
    let (code, body) = get(&state, &format!("/api/v2/traces/{}", "f".repeat(33))).await;
    assert_eq!(
        (code, body.as_str()),
        (400, "trace IDs can't be larger than 128 bits\n")
    );
    assert_eq!(get(&state, "/api/traces/123").await.0, 404);
    assert_eq!(get(&state, "/api/v2/traces/123").await.0, 404);
    let (code, body) = get(&state, &format!("/api/traces/{A_HEX}?start=20&end=10")).await;
    assert_eq!(code, 400);
    assert_eq!(
        body,
        "http parameter start must be before end. received start=20 end=10\n"
    );

    // without a trace store, 503
    let store = MemStore::new();
    let bare = state_with(store);
    assert_eq!(get(&bare, &format!("/api/traces/{A_HEX}")).await.0, 503);
}

#[tokio::test]
async fn trace_by_id_honours_start_and_end() {
    let (state, _) = trace_state();
    let t0 = T0 / 1_000_000_000;
    let inside = format!("/api/v2/traces/{A_HEX}?start={}&end={}", t0 - 10, t0 + 10);
    assert_eq!(get(&state, &inside).await.0, 200);
    let before = format!("/api/v2/traces/{A_HEX}?start={}&end={}", t0 - 100, t0 - 10);
    assert_eq!(get(&state, &before).await.0, 404);
    let after = format!("/api/traces/{A_HEX}?start={}&end={}", t0 + 60, t0 + 120);
    assert_eq!(get(&state, &after).await.0, 404);
}

#[tokio::test]
async fn tenants_are_isolated() {
    let (state, _) = trace_state();
    let c = "cccccccccccccccccccccccccccccccc";
    assert_eq!(get(&state, &format!("/api/traces/{c}")).await.0, 404);
    let other = [("x-scope-orgid", "other")];
    let (code, _, _) = get_with(&state, &format!("/api/traces/{c}"), &other).await;
    assert_eq!(code, 200);
    let (code, _, _) = get_with(&state, &format!("/api/traces/{A_HEX}"), &other).await;
    assert_eq!(code, 404);
    let (_, body, _) = get_with(&state, "/api/search/tag/service.name/values", &other).await;
    assert_eq!(
        json(&String::from_utf8(body).unwrap())["tagValues"],
        serde_json::json!(["secret"])
    );
    let (_, body, _) = get_with(&state, "/api/search?q=%7B%7D", &other).await;
    let v = json(&String::from_utf8(body).unwrap());
    assert_eq!(v["traces"].as_array().unwrap().len(), 1);
    assert_eq!(v["traces"][0]["rootServiceName"], "secret");
    let (code, _, _) = get_with(&state, "/api/echo", &[("x-scope-orgid", "a|b")]).await;
    assert_eq!(code, 200, "echo ignores the tenant");
    let (code, _, _) = get_with(&state, "/api/search/tags", &[("x-scope-orgid", "a|b")]).await;
    assert_eq!(code, 400);
}

#[tokio::test]
async fn search_with_traceql() {
    let (state, _) = trace_state();
    let q = "%7B%20resource.service.name%20%3D%20%22payments%22%20%7D";
    let (code, body) = get(&state, &format!("/api/search?q={q}&spss=3")).await;
    assert_eq!(code, 200, "{body}");
    insta::assert_json_snapshot!("tempo_search_q", json(&body));

    // only the error span, with its attribute selected
    let q = "%7B%20status%20%3D%20error%20%7D%20%7C%20select(span.amount)";
    let (code, body) = get(&state, &format!("/api/search?q={q}")).await;
    assert_eq!(code, 200, "{body}");
    let v = json(&body);
    assert_eq!(v["traces"].as_array().unwrap().len(), 1);
    assert_eq!(v["traces"][0]["traceID"], A_HEX);
    assert_eq!(v["traces"][0]["spanSet"], v["traces"][0]["spanSets"][0]);
    let span = &v["traces"][0]["spanSets"][0]["spans"][0];
    assert_eq!(span["spanID"], "0000000000000003");
    assert!(span["attributes"].as_array().unwrap().iter().any(|a| a["key"] == "amount"
        && a["value"] == serde_json::json!({"doubleValue": 12.5})));

    // durations apply to the whole trace
    let (_, body) = get(&state, "/api/search?q=%7B%7D&minDuration=100ms").await;
    let ids: Vec<String> = json(&body)["traces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["traceID"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, [A_HEX]);
    let (_, body) = get(&state, "/api/search?q=%7B%7D&maxDuration=100ms").await;
    assert_eq!(json(&body)["traces"][0]["traceID"], "b0b");

    // the time range selects traces
    let t0 = T0 / 1_000_000_000;
    let uri = format!("/api/search?q=%7B%7D&start={}&end={}", t0 + 3, t0 + 60);
    let (_, body) = get(&state, &uri).await;
    assert_eq!(json(&body)["traces"].as_array().unwrap().len(), 1);

    // limit
    let (_, body) = get(&state, "/api/search?q=%7B%7D&limit=1").await;
    assert_eq!(json(&body)["traces"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn search_with_tags() {
    let (state, _) = trace_state();
    let (code, body) = get(&state, "/api/search?tags=http.method%3DPOST").await;
    assert_eq!(code, 200, "{body}");
    insta::assert_json_snapshot!("tempo_search_tags", json(&body));
    let (code, body) = get(&state, "/api/search?tags=service.name%3Dnobody").await;
    assert_eq!(code, 200);
    assert_eq!(json(&body)["traces"], serde_json::json!([]));
}

#[tokio::test]
async fn search_errors() {
    let (state, _) = trace_state();
    let (code, body) = get(&state, "/api/search?q=%7B%20.a%20%3D%20%7D").await;
    assert_eq!(code, 400);
    assert!(
        body.starts_with("invalid TraceQL query: parse error at line 1, col "),
        "{body}"
    );
    let (code, body) = get(&state, "/api/search?q=%7B%7D&tags=a%3Db").await;
    assert_eq!(
        (code, body.as_str()),
        (
            400,
            "invalid request: can't specify tags and q in the same query\n"
        )
    );
    let (code, body) = get(&state, "/api/search?limit=x").await;
    assert_eq!(
        (code, body.as_str()),
        (
            400,
            "invalid limit: strconv.ParseUint: parsing \"x\": invalid syntax\n"
        )
    );
    assert_eq!(get(&state, "/api/search?minDuration=5").await.0, 400);
}

#[tokio::test]
async fn tag_names_v1_and_v2() {
    let (state, _) = trace_state();
    let (code, body) = get(&state, "/api/search/tags").await;
    assert_eq!(code, 200);
    insta::assert_json_snapshot!("tempo_tags_v1", json(&body));
    let (code, body) = get(&state, "/api/v2/search/tags").await;
    assert_eq!(code, 200);
    insta::assert_json_snapshot!("tempo_tags_v2", json(&body));
    let (_, body) = get(&state, "/api/v2/search/tags?scope=resource").await;
    assert_eq!(
        json(&body),
        serde_json::json!({"scopes": [{"name": "resource", "tags": ["host.name", "process.pid", "service.name"]}]})
    );
    let (_, body) = get(&state, "/api/v2/search/tags?scope=span&limit=2").await;
    assert_eq!(
        json(&body)["scopes"][0]["tags"],
        serde_json::json!(["amount", "attempt"])
    );
    let (code, body) = get(&state, "/api/v2/search/tags?scope=bogus").await;
    assert_eq!((code, body.as_str()), (400, "invalid scope: bogus\n"));
    // a range with no data has no names
    let (_, body) = get(&state, "/api/search/tags?start=1000&end=2000").await;
    assert_eq!(json(&body), serde_json::json!({"tagNames": []}));
}

#[tokio::test]
async fn tag_values_v1_and_v2() {
    let (state, _) = trace_state();
    let (_, body) = get(&state, "/api/search/tag/http.method/values").await;
    assert_eq!(
        json(&body),
        serde_json::json!({"tagValues": ["GET", "POST"]})
    );
    let (_, body) = get(&state, "/api/search/tag/status.code/values").await;
    assert_eq!(
        json(&body),
        serde_json::json!({"tagValues": ["unset", "ok", "error"]})
    );

    let (code, body) = get(&state, "/api/v2/search/tag/resource.service.name/values").await;
    assert_eq!(code, 200);
    insta::assert_json_snapshot!("tempo_tag_values_v2_service", json(&body));
    let (_, body) = get(&state, "/api/v2/search/tag/span.http.status_code/values").await;
    assert_eq!(
        json(&body),
        serde_json::json!({"tagValues": [{"type": "int", "value": "200"}]})
    );
    let (_, body) = get(&state, "/api/v2/search/tag/.host.name/values").await;
    assert_eq!(
        json(&body)["tagValues"],
        serde_json::json!([{"type": "string", "value": "h1"}, {"type": "string", "value": "h2"}])
    );
    // span-scoped lookups do not see resource attributes
    let (_, body) = get(&state, "/api/v2/search/tag/span.host.name/values").await;
    assert_eq!(json(&body)["tagValues"], serde_json::json!([]));
    let (_, body) = get(&state, "/api/v2/search/tag/name/values?limit=2").await;
    assert_eq!(
        json(&body)["tagValues"],
        serde_json::json!([{"type": "string", "value": "GET /checkout"}, {"type": "string", "value": "POST /pay"}])
    );
    let (_, body) = get(&state, "/api/v2/search/tag/status/values").await;
    insta::assert_json_snapshot!("tempo_tag_values_v2_status", json(&body));
    let (_, body) = get(&state, "/api/v2/search/tag/kind/values").await;
    assert_eq!(json(&body)["tagValues"].as_array().unwrap().len(), 6);
    let (code, body) = get(&state, "/api/v2/search/tag/service.name/values").await;
    assert_eq!(code, 400, "{body}");
}

#[tokio::test]
async fn tag_values_v2_narrowed_by_query() {
    let (state, _) = trace_state();
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    // only the methods of payments spans
    let q = enc(r#"{ resource.service.name = "payments" }"#);
    let (code, body) = get(
        &state,
        &format!("/api/v2/search/tag/span.http.method/values?q={q}"),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        json(&body)["tagValues"],
        serde_json::json!([{"type": "string", "value": "POST"}])
    );
    let (_, body) = get(&state, &format!("/api/v2/search/tag/name/values?q={q}")).await;
    assert_eq!(
        json(&body)["tagValues"],
        serde_json::json!([{"type": "string", "value": "charge"}, {"type": "string", "value": "settle"}])
    );
    let q = enc(r#"{ span.http.method = "GET" }"#);
    let (_, body) = get(
        &state,
        &format!("/api/v2/search/tag/resource.service.name/values?q={q}"),
    )
    .await;
    assert_eq!(
        json(&body)["tagValues"],
        serde_json::json!([{"type": "string", "value": "frontend"}])
    );
    // a query still being typed narrows by its complete conditions
    let q = enc(r#"{ resource.service.name = "frontend" && span.http.method = }"#);
    let (_, body) = get(&state, &format!("/api/v2/search/tag/name/values?q={q}")).await;
    assert_eq!(
        json(&body)["tagValues"],
        serde_json::json!([{"type": "string", "value": "GET /checkout"}, {"type": "string", "value": "POST /pay"}])
    );
    // `{}` and a query with no usable condition narrow nothing
    for q in ["%7B%7D", &enc(r#"{ span.http.method = "#)] {
        let (_, body) = get(
            &state,
            &format!("/api/v2/search/tag/span.http.method/values?q={q}"),
        )
        .await;
        assert_eq!(json(&body)["tagValues"].as_array().unwrap().len(), 2, "{q}");
    }
}

#[tokio::test]
async fn search_stops_at_the_query_timeout() {
    let (state, _) = trace_state_with(crate::QueryLimits {
        timeout: std::time::Duration::ZERO,
        ..crate::QueryLimits::default()
    });
    let (code, body) = get(&state, "/api/search?q=%7B%7D&start=1&end=4000000000").await;
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("search deadline passed"), "{body}");
}
