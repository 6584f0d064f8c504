//! The Loki index endpoints through the router: labels, label values, series,
//! `index/stats`, volumes, detected fields and labels, patterns and buildinfo, with
//! Loki's shapes pinned in snapshots, tenant isolation, and every parameter error.

use axum::body::Body;
use axum::http::Request;

use super::loki_fixture::*;
use super::*;

/// `path?<pairs>` over the whole fixture range.
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

#[tokio::test]
async fn labels_and_values() {
    let (state, _, _) = loki_state();
    let v = ok_json(&state, &url("/loki/api/v1/labels", &[])).await;
    assert_eq!(
        v,
        serde_json::json!({"status":"success","data":["env","service_name"]})
    );
    let v = ok_json(&state, &url("/loki/api/v1/label/service_name/values", &[])).await;
    assert_eq!(v["data"], serde_json::json!(["api", "web"]));
    let v = ok_json(
        &state,
        &url(
            "/loki/api/v1/label/env/values",
            &[("query", r#"{service_name="web"} |= "x""#)],
        ),
    )
    .await;
    assert_eq!(v["data"], serde_json::json!(["prod"]));
    // the default range is the hour before now: the fixture is inside it
    let v = ok_json(&state, "/loki/api/v1/label/env/values").await;
    assert_eq!(v["data"], serde_json::json!(["dev", "prod"]));
    // a range before the data holds nothing
    let v = ok_json(
        &state,
        &format!(
            "/loki/api/v1/labels?start={}&end={}",
            T0 - 100 * SEC,
            T0 - SEC
        ),
    )
    .await;
    assert_eq!(v["data"], serde_json::json!([]));
    // POST form as Loki accepts it
    let req = Request::post("/loki/api/v1/labels")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(qs(&[("query", r#"{env="dev"}"#)])))
        .unwrap();
    let (code, body, _) = send(&state, req).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        json(&body)["data"],
        serde_json::json!(["env", "service_name"])
    );
}

#[tokio::test]
async fn tenants_are_apart() {
    let (state, _, _) = loki_state();
    let req = Request::get(url("/loki/api/v1/label/service_name/values", &[]))
        .header("X-Scope-OrgID", "other")
        .body(Body::empty())
        .unwrap();
    let (code, body, _) = send(&state, req).await;
    assert_eq!(code, 200);
    assert_eq!(json(&body)["data"], serde_json::json!(["secret"]));
    let req = Request::get("/loki/api/v1/labels")
        .header("X-Scope-OrgID", "a/b")
        .body(Body::empty())
        .unwrap();
    let (code, body, resp) = send(&state, req).await;
    assert_eq!(code, 400);
    assert!(body.starts_with("invalid X-Scope-OrgID header"), "{body}");
    assert_eq!(resp.headers()["content-type"], "text/plain; charset=utf-8");
}

#[tokio::test]
async fn series_by_match() {
    let (state, _, _) = loki_state();
    let v = ok_json(
        &state,
        &url(
            "/loki/api/v1/series",
            &[
                ("match[]", r#"{service_name="api"}"#),
                ("match[]", r#"{service_name="web"}"#),
            ],
        ),
    )
    .await;
    insta::assert_json_snapshot!("loki_series", v);
    let v = ok_json(
        &state,
        &url("/loki/api/v1/series", &[("match[]", r#"{env="dev"}"#)]),
    )
    .await;
    assert_eq!(
        v["data"],
        serde_json::json!([{"env":"dev","service_name":"api"}])
    );
}

#[tokio::test]
async fn index_stats_count_streams_entries_and_bytes() {
    let (state, store, _) = loki_state();
    let v = ok_json(
        &state,
        &url(
            "/loki/api/v1/index/stats",
            &[("query", r#"{service_name="api"}"#)],
        ),
    )
    .await;
    insta::assert_json_snapshot!("loki_index_stats", v);
    // the figures are the store's own
    let want: u64 = {
        use oxeye_core::logs::LogQueryable;
        let tenant = oxeye_core::TenantId::new("anonymous").unwrap();
        let m = [oxeye_core::Matcher::equal("service_name", "api")];
        store
            .stream_stats(&tenant, &m, T0, T0 + 61 * SEC)
            .unwrap()
            .iter()
            .map(|s| s.bytes)
            .sum()
    };
    assert_eq!(v["bytes"], want);
    // a metric query's selectors count too
    let v = ok_json(
        &state,
        &url(
            "/loki/api/v1/index/stats",
            &[(
                "query",
                r#"sum(count_over_time({env="dev"} |= "cache" [5m]))"#,
            )],
        ),
    )
    .await;
    assert_eq!(
        (v["streams"].as_u64(), v["entries"].as_u64()),
        (Some(1), Some(1))
    );
}

#[tokio::test]
async fn volume_groups_by_selector_labels_or_target_labels() {
    let (state, _, _) = loki_state();
    let v = ok_json(
        &state,
        &url(
            "/loki/api/v1/index/volume",
            &[("query", r#"{service_name=~".+"}"#)],
        ),
    )
    .await;
    insta::assert_json_snapshot!("loki_volume", v);
    let v = ok_json(
        &state,
        &url(
            "/loki/api/v1/index/volume",
            &[
                ("query", r#"{service_name=~".+"}"#),
                ("targetLabels", "env"),
                ("limit", "1"),
            ],
        ),
    )
    .await;
    let r = v["data"]["result"].as_array().unwrap();
    assert_eq!(r.len(), 1, "limit keeps the largest group: {v}");
    assert_eq!(r[0]["metric"], serde_json::json!({"env":"prod"}));
    let v = ok_json(
        &state,
        &url(
            "/loki/api/v1/index/volume",
            &[
                ("query", r#"{service_name="api"}"#),
                ("aggregateBy", "labels"),
            ],
        ),
    )
    .await;
    let names: Vec<&serde_json::Value> = v["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["metric"])
        .collect();
    assert_eq!(
        names,
        [
            &serde_json::json!({"env":""}),
            &serde_json::json!({"service_name":""})
        ]
    );
}

#[tokio::test]
async fn volume_range_buckets_by_step() {
    let (state, _, _) = loki_state();
    let v = ok_json(
        &state,
        &url(
            "/loki/api/v1/index/volume_range",
            &[("query", r#"{service_name="web"}"#), ("step", "20s")],
        ),
    )
    .await;
    insta::assert_json_snapshot!("loki_volume_range", v);
}

#[tokio::test]
async fn detected_fields_types_cardinality_parsers() {
    let (state, _, _) = loki_state();
    let v = ok_json(
        &state,
        &url(
            "/loki/api/v1/detected_fields",
            &[("query", r#"{env="prod"}"#)],
        ),
    )
    .await;
    insta::assert_json_snapshot!("loki_detected_fields", v);
    let v = ok_json(
        &state,
        &url(
            "/loki/api/v1/detected_field/level/values",
            &[("query", r#"{service_name="api"}"#)],
        ),
    )
    .await;
    assert_eq!(v["values"], serde_json::json!(["debug", "error", "info"]));
    let v = ok_json(
        &state,
        &url(
            "/loki/api/v1/detected_fields",
            &[("query", r#"{env="prod"}"#), ("limit", "2")],
        ),
    )
    .await;
    assert_eq!(v["fields"].as_array().unwrap().len(), 2);
    // the newest line only
    let v = ok_json(
        &state,
        &url(
            "/loki/api/v1/detected_fields",
            &[("query", r#"{service_name="web"}"#), ("line_limit", "1")],
        ),
    )
    .await;
    let latency = v["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["label"] == "latency")
        .unwrap();
    assert_eq!(latency["type"], "int");
    // the query's filters apply
    let v = ok_json(
        &state,
        &url(
            "/loki/api/v1/detected_fields",
            &[("query", r#"{service_name="api"} |= "payment""#)],
        ),
    )
    .await;
    let status = v["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["label"] == "status")
        .unwrap();
    assert_eq!(status["cardinality"], 1, "{v}");
    let (code, body) = get(
        &state,
        &url(
            "/loki/api/v1/detected_fields",
            &[("query", r#"rate({service_name="api"}[1m])"#)],
        ),
    )
    .await;
    assert_eq!(
        (code, body.as_str()),
        (
            400,
            "detected fields need a log query, not a metric query\n"
        )
    );
}

#[tokio::test]
async fn detected_labels_count_values() {
    let (state, _, _) = loki_state();
    let v = ok_json(&state, &url("/loki/api/v1/detected_labels", &[])).await;
    assert_eq!(
        v,
        serde_json::json!({"detectedLabels":[
            {"label":"env","cardinality":2},
            {"label":"service_name","cardinality":2}
        ]})
    );
}

#[tokio::test]
async fn patterns_of_the_range() {
    let (state, _, _) = loki_state();
    let v = ok_json(
        &state,
        &url(
            "/loki/api/v1/patterns",
            &[("query", r#"{service_name="api"}"#), ("step", "10s")],
        ),
    )
    .await;
    insta::assert_json_snapshot!("loki_patterns", v);
}

#[tokio::test]
async fn buildinfo_is_lokis_shape() {
    let (state, _, _) = loki_state();
    let v = ok_json(&state, "/loki/api/v1/status/buildinfo").await;
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    for k in ["revision", "branch", "buildUser", "buildDate", "goVersion"] {
        assert!(v.get(k).is_some(), "{k} missing: {v}");
    }
}

#[tokio::test]
async fn drilldown_limits_enable_volumes_and_patterns() {
    let (state, _, _) = loki_state();
    let v = ok_json(&state, "/loki/api/v1/drilldown-limits").await;
    assert_eq!(v["pattern_ingester_enabled"], true);
    assert_eq!(v["limits"]["volume_enabled"], true);
    assert_eq!(v["limits"]["query_timeout"], "120s");
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    let (code, body) = get(&state, "/ready").await;
    assert_eq!((code, body.as_str()), (200, "oxeye is Ready.\n"));
}

#[tokio::test]
async fn no_log_store_is_503() {
    let state = state_with(MemStore::new());
    for path in [
        "/loki/api/v1/labels",
        "/loki/api/v1/series?match[]=%7Ba%3D%22b%22%7D",
        "/loki/api/v1/index/stats?query=%7Ba%3D%22b%22%7D",
        "/loki/api/v1/detected_fields",
        "/loki/api/v1/query_range?query=%7Ba%3D%22b%22%7D",
    ] {
        let (code, body) = get(&state, path).await;
        assert_eq!(code, 503, "{path}: {body}");
        assert_eq!(body, "log storage is not enabled\n");
    }
}

/// Every parameter error: status 400 and Loki's plain-text message.
#[tokio::test]
async fn parameter_errors() {
    let (state, _, _) = loki_state();
    let sel = r#"{service_name="api"}"#;
    let cases: Vec<(String, &str)> = vec![
        (
            format!("/loki/api/v1/labels?{}", qs(&[("start", "yesterday")])),
            "could not parse 'start' parameter: strconv.ParseInt: parsing \"yesterday\": invalid syntax\n",
        ),
        (
            format!("/loki/api/v1/labels?{}", qs(&[("end", "1.2.3")])),
            "could not parse 'end' parameter: strconv.ParseFloat: parsing \"1.2.3\": invalid syntax\n",
        ),
        (
            format!("/loki/api/v1/labels?{}", qs(&[("since", "1x")])),
            "could not parse 'since' parameter: not a valid duration string: \"1x\"\n",
        ),
        (
            url("/loki/api/v1/labels", &[("query", r#"{a=~".*"}"#)]),
            "parse error : queries require at least one regexp or equality matcher that does not have an empty-compatible value. For instance, app=~\".*\" does not meet this requirement, but app=~\".+\" will\n",
        ),
        (
            url("/loki/api/v1/series", &[("match[]", "{a=")]),
            "parse error: invalid series selector \"{a=\": expected a quoted value for label \"a\" at position 3\n",
        ),
        (
            url("/loki/api/v1/index/stats", &[]),
            "parse error : syntax error: unexpected $end, expecting { or ( or vector\n",
        ),
        (
            url(
                "/loki/api/v1/index/volume",
                &[("query", sel), ("aggregateBy", "pods")],
            ),
            "invalid aggregation option: pods; must be one of series or labels\n",
        ),
        (
            url(
                "/loki/api/v1/index/volume",
                &[("query", sel), ("limit", "0")],
            ),
            "limit must be a positive value\n",
        ),
        (
            url(
                "/loki/api/v1/index/volume_range",
                &[("query", sel), ("step", "0")],
            ),
            "zero or negative query resolution step widths are not accepted. Try a positive integer\n",
        ),
        (
            url(
                "/loki/api/v1/index/volume_range",
                &[("query", sel), ("step", "1ms")],
            ),
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)\n",
        ),
        (
            url("/loki/api/v1/detected_fields", &[("limit", "x")]),
            "strconv.Atoi: parsing \"x\": invalid syntax\n",
        ),
        (
            url("/loki/api/v1/detected_fields", &[("line_limit", "-1")]),
            "limit must be a positive value\n",
        ),
        (
            url("/loki/api/v1/patterns", &[("query", sel), ("step", "nope")]),
            "cannot parse \"nope\" to a valid duration\n",
        ),
        (
            format!(
                "/loki/api/v1/query_range?{}",
                qs(&[("query", sel), ("start", "20"), ("end", "10")])
            ),
            "end timestamp must not be before or equal to start time\n",
        ),
        (
            url(
                "/loki/api/v1/query_range",
                &[("query", sel), ("limit", "0")],
            ),
            "limit must be a positive value\n",
        ),
        (
            url(
                "/loki/api/v1/query_range",
                &[("query", sel), ("direction", "up")],
            ),
            "invalid direction 'up'\n",
        ),
        (
            url(
                "/loki/api/v1/query_range",
                &[("query", sel), ("step", "-1")],
            ),
            "zero or negative query resolution step widths are not accepted. Try a positive integer\n",
        ),
        (
            url(
                "/loki/api/v1/query_range",
                &[("query", sel), ("interval", "-5s")],
            ),
            "cannot parse \"-5s\" to a valid duration\n",
        ),
        (
            url(
                "/loki/api/v1/query_range",
                &[("query", sel), ("interval", "-5")],
            ),
            "interval must be a positive value or zero\n",
        ),
        (
            format!(
                "/loki/api/v1/query?{}",
                qs(&[("query", sel), ("time", "soon")])
            ),
            "strconv.ParseInt: parsing \"soon\": invalid syntax\n",
        ),
        (
            format!(
                "/loki/api/v1/query?{}",
                qs(&[("query", sel), ("limit", "-3")])
            ),
            "limit must be a positive value\n",
        ),
    ];
    for (uri, want) in cases {
        let (code, body) = get(&state, &uri).await;
        assert_eq!(code, 400, "{uri}: {body}");
        if !want.is_empty() {
            assert_eq!(body, want, "{uri}");
        }
    }
}

#[tokio::test]
async fn queue_timeout_is_504() {
    let limits = crate::QueryLimits {
        timeout: std::time::Duration::from_millis(50),
        max_concurrency: 1,
        ..crate::QueryLimits::default()
    };
    let (state, _, _) = loki_state_with(limits);
    // hold the only slot
    let held = state.trace_query_slot().await.unwrap();
    let (code, body) = get(&state, &url("/loki/api/v1/labels", &[])).await;
    assert_eq!(code, 504, "{body}");
    assert_eq!(body, "query timed out in query queue\n");
    drop(held);
    let (code, _) = get(&state, &url("/loki/api/v1/labels", &[])).await;
    assert_eq!(code, 200);
}
