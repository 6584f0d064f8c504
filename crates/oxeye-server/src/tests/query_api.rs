//! PromQL query APIs through the router.

use oxeye_core::{Labels, MetricsAppender, Sample, SeriesWrite, TenantId, WriteBatch};

use super::*;

fn seeded() -> Arc<ServerState> {
    let store = MemStore::new();
    let series = |l: &[(&str, &str)], s: &[(i64, f64)]| SeriesWrite {
        labels: Labels::from_pairs(l),
        samples: s.iter().map(|(t, v)| Sample::new(*t, *v)).collect(),
        exemplars: Vec::new(),
    };
    let batch = WriteBatch {
        series: vec![
            series(
                &[("__name__", "reqs"), ("job", "api")],
                &[(0, 0.0), (60_000, 60.0), (120_000, 120.0)],
            ),
            series(&[("__name__", "reqs"), ("job", "web")], &[(0, 5.0)]),
        ],
        metadata: Vec::new(),
    };
    store
        .append(&TenantId::new("anonymous").unwrap(), batch)
        .unwrap();
    state_with(store)
}

#[tokio::test]
async fn instant_query_shapes() {
    let s = seeded();
    let (code, body) = get(
        &s,
        "/api/v1/query?query=reqs%7Bjob%3D%22api%22%7D*2&time=60",
    )
    .await;
    assert_eq!(code, 200, "{body}");
    let v = json(&body);
    assert_eq!(v["status"], "success");
    assert_eq!(
        v["data"],
        serde_json::json!({
            "resultType": "vector",
            "result": [{"metric": {"job": "api"}, "value": [60, "120"]}],
        })
    );
    let (_, body) = get(&s, "/api/v1/query?query=1%2B1.5&time=10.5").await;
    assert_eq!(
        json(&body)["data"],
        serde_json::json!({"resultType": "scalar", "result": [10.5, "2.5"]})
    );
    let (_, body) = get(&s, "/api/v1/query?query=%22hi%22&time=1").await;
    assert_eq!(
        json(&body)["data"],
        serde_json::json!({"resultType": "string", "result": [1, "hi"]})
    );
    let (_, body) = get(
        &s,
        "/api/v1/query?query=reqs%7Bjob%3D%22api%22%7D%5B2m%5D&time=120",
    )
    .await;
    assert_eq!(
        json(&body)["data"],
        serde_json::json!({
            "resultType": "matrix",
            "result": [{
                "metric": {"__name__": "reqs", "job": "api"},
                "values": [[60, "60"], [120, "120"]],
            }],
        })
    );
}

#[tokio::test]
async fn range_query_and_errors() {
    let s = seeded();
    let (code, body) = get(
        &s,
        "/api/v1/query_range?query=rate(reqs%5B2m%5D)&start=60&end=120&step=1m",
    )
    .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        json(&body)["data"],
        serde_json::json!({
            "resultType": "matrix",
            // At 60s the window (-60s, 60s] holds 0 and 60: the start extension stops
            // where the counter would be zero, so 60 over the 120s range.
            "result": [{"metric": {"job": "api"}, "values": [[60, "0.5"], [120, "1"]]}],
        })
    );
    let (code, body) = get(&s, "/api/v1/query?query=sum(").await;
    assert_eq!(code, 400, "{body}");
    assert_eq!(json(&body)["errorType"], "bad_data");
    let (code, body) = get(
        &s,
        "/api/v1/query?query=label_replace(reqs,%22a%22,%22b%22,%22c%22,%22(%22)",
    )
    .await;
    assert_eq!(code, 422, "{body}");
    assert_eq!(json(&body)["errorType"], "execution");
    assert_eq!(
        json(&body)["error"],
        "invalid regular expression in label_replace(): ("
    );
    let (code, body) = get(&s, "/api/v1/query?query=reqs%2Bon()reqs&time=60").await;
    assert_eq!(code, 422, "{body}");
    assert_eq!(json(&body)["errorType"], "execution");
    let (code, body) = get(
        &s,
        "/api/v1/query_range?query=reqs&start=-9223309901257974&end=9223309901257974&step=1000000000",
    )
    .await;
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("exceeded maximum resolution"), "{body}");
    let (code, _) = get(&s, "/api/v1/query_range?query=reqs&start=0&end=60&step=0").await;
    assert_eq!(code, 400);
    let (code, _) = get(
        &s,
        "/api/v1/query_range?query=reqs&start=0&end=6000000&step=0.001",
    )
    .await;
    assert_eq!(code, 400);
}

/// A client that goes away cancels its query: the only query slot is free again at once,
/// long before the abandoned evaluation (tens of seconds of work) could have finished.
#[tokio::test(flavor = "multi_thread")]
async fn abandoned_query_is_canceled_and_frees_its_slot() {
    let store = MemStore::new();
    let samples: Vec<Sample> = (0..200_000i64)
        .map(|i| Sample::new(i * 1000, i as f64))
        .collect();
    let batch = WriteBatch {
        series: vec![SeriesWrite {
            labels: Labels::from_pairs(&[("__name__", "x")]),
            samples,
            exemplars: Vec::new(),
        }],
        metadata: Vec::new(),
    };
    store
        .append(&TenantId::new("anonymous").unwrap(), batch)
        .unwrap();
    let state = ServerState::builder(store.clone(), store)
        .query_limits(crate::QueryLimits {
            max_concurrency: 1,
            ..Default::default()
        })
        .build();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, router(state)).await });
    let client = reqwest::Client::new();
    let heavy = client
        .get(format!(
            "http://{addr}/api/v1/query_range?query=sum_over_time(x%5B1d%5D)&start=0&end=200000&step=20"
        ))
        .timeout(std::time::Duration::from_millis(300))
        .send()
        .await;
    assert!(heavy.is_err(), "the heavy query should outlast its client");
    let gave_up = std::time::Instant::now();
    let r = client
        .get(format!(
            "http://{addr}/api/v1/query?query=1%2B1&time=1&timeout=20"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        gave_up.elapsed() < std::time::Duration::from_secs(3),
        "the slot was held for {:?} after the client went away",
        gave_up.elapsed()
    );
    server.abort();
}

#[tokio::test]
async fn range_queries_are_answered_from_the_results_cache_until_data_changes() {
    let store = MemStore::new();
    let tenant = TenantId::new("anonymous").unwrap();
    let counter = |job: &str, from: i64| SeriesWrite {
        labels: Labels::from_pairs(&[("__name__", "reqs_total"), ("job", job)]),
        samples: (from..=40)
            .map(|k| Sample::new(k * 15_000, (k * k) as f64))
            .collect(),
        exemplars: Vec::new(),
    };
    let batch = |series| WriteBatch {
        series,
        metadata: Vec::new(),
    };
    store
        .append(&tenant, batch(vec![counter("api", 0)]))
        .unwrap();
    let cache = Arc::new(oxeye_promql::ResultsCache::new(1 << 20));
    let s = ServerState::builder(store.clone(), store.clone())
        .results_cache(cache.clone())
        .build();
    s.set_ready(true);
    let uri = "/api/v1/query_range?query=sum(rate(reqs_total%5B2m%5D))&start=120&end=600&step=60";
    let (code, first) = get(&s, uri).await;
    assert_eq!(code, 200, "{first}");
    let (_, second) = get(&s, uri).await;
    assert_eq!(first, second);
    let st = cache.stats();
    assert_eq!((st.hits, st.misses, st.steps_cached), (1, 1, 9));
    // a client asking for a fresh evaluation gets it, and the cache is not consulted
    let req = Request::get(uri)
        .header("cache-control", "no-cache")
        .body(Body::empty())
        .unwrap();
    let (_, fresh, _) = send(&s, req).await;
    assert_eq!(fresh, first);
    assert_eq!(cache.stats().hits, 1);
    // new data moves the store's generation: the answer includes it
    store
        .append(&tenant, batch(vec![counter("web", 10)]))
        .unwrap();
    let (_, after) = get(&s, uri).await;
    assert_ne!(after, first);
    let direct = state_with(store.clone());
    assert_eq!(get(&direct, uri).await.1, after);
    assert_eq!(cache.stats().misses, 2);
}
