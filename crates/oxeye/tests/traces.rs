//! Traces end to end with a real client: the OpenTelemetry Python SDK exports over
//! OTLP/HTTP and OTLP/gRPC, and every span comes back intact through the Tempo API
//! (protobuf, as Grafana asks for it) and the Jaeger API, only for the sending tenant;
//! TraceQL search finds the trace and span metrics appear in PromQL.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::common::v1::{AnyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::ResourceSpans;
use prost::Message;
use serde_json::Value;

use crate::harness::Server;

/// `tempopb.Trace`: the body of Tempo's v1 trace-by-id in protobuf.
#[derive(Clone, PartialEq, prost::Message)]
struct TempoTrace {
    #[prost(message, repeated, tag = "1")]
    resource_spans: Vec<ResourceSpans>,
}

/// `tempopb.TraceByIDResponse`: the v2 body.
#[derive(Clone, PartialEq, prost::Message)]
struct TempoTraceByIdResponse {
    #[prost(message, optional, tag = "1")]
    trace: Option<TempoTrace>,
}

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/otel_sdk/send_traces.py");

/// Runs the SDK script; returns the spans it sent, as it printed them.
fn send_with_sdk(protocol: &str, endpoint: &str, tenant: &str, service: &str) -> Vec<Value> {
    let out = Command::new("python3")
        .arg(SCRIPT)
        .args(["--protocol", protocol, "--endpoint", endpoint])
        .args(["--tenant", tenant, "--service", service])
        .output()
        .expect("python3 must be installed");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the OpenTelemetry SDK script failed (pip install opentelemetry-sdk opentelemetry-exporter-otlp):\n{stderr}"
    );
    assert!(
        !stderr.contains("Failed to export"),
        "the SDK could not export:\n{stderr}"
    );
    let spans: Value = serde_json::from_slice(&out.stdout).unwrap();
    spans.as_array().unwrap().clone()
}

/// An OTLP value as the JSON the script printed for it.
fn otlp_json(v: &AnyValue) -> Value {
    match &v.value {
        Some(any_value::Value::StringValue(s)) => Value::from(s.clone()),
        Some(any_value::Value::BoolValue(b)) => Value::from(*b),
        Some(any_value::Value::IntValue(i)) => Value::from(*i),
        Some(any_value::Value::DoubleValue(d)) => Value::from(*d),
        Some(any_value::Value::ArrayValue(a)) => {
            Value::Array(a.values.iter().map(otlp_json).collect())
        }
        other => panic!("unexpected attribute value {other:?}"),
    }
}

fn otlp_attrs(kvs: &[opentelemetry_proto::tonic::common::v1::KeyValue]) -> Value {
    let m: serde_json::Map<String, Value> = kvs
        .iter()
        .map(|kv| {
            (
                kv.key.clone(),
                kv.value.as_ref().map(otlp_json).unwrap_or(Value::Null),
            )
        })
        .collect();
    Value::Object(m)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

async fn get(url: &str, tenant: &str, accept: &str) -> (u16, Vec<u8>) {
    let r = reqwest::Client::new()
        .get(url)
        .header("X-Scope-OrgID", tenant)
        .header("Accept", accept)
        .send()
        .await
        .unwrap();
    let code = r.status().as_u16();
    (code, r.bytes().await.unwrap().to_vec())
}

/// Checks every sent span against the Tempo protobuf answer for its trace.
async fn check_tempo(s: &Server, tenant: &str, service: &str, sent: &[Value]) {
    let mut by_trace: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for span in sent {
        by_trace
            .entry(span["trace_id"].as_str().unwrap().to_string())
            .or_default()
            .push(span);
    }
    for (trace_id, spans) in by_trace {
        let (code, body) = get(
            &format!("{}/api/v2/traces/{trace_id}", s.http),
            tenant,
            "application/protobuf",
        )
        .await;
        assert_eq!(
            code,
            200,
            "trace {trace_id}: {}",
            String::from_utf8_lossy(&body)
        );
        let resp = TempoTraceByIdResponse::decode(body.as_slice()).unwrap();
        let got = resp.trace.unwrap_or_default();
        // v1 answers the same spans
        let (code, body) = get(
            &format!("{}/api/traces/{trace_id}", s.http),
            tenant,
            "application/protobuf",
        )
        .await;
        assert_eq!(code, 200);
        assert_eq!(TempoTrace::decode(body.as_slice()).unwrap(), got);
        let mut found = 0;
        for rs in &got.resource_spans {
            let res = otlp_attrs(&rs.resource.as_ref().unwrap().attributes);
            assert_eq!(res["service.name"], service);
            assert_eq!(res["deployment.environment"], "test");
            for ss in &rs.scope_spans {
                let scope = ss.scope.as_ref().unwrap();
                for span in &ss.spans {
                    let want = spans
                        .iter()
                        .find(|w| w["span_id"] == hex(&span.span_id))
                        .unwrap_or_else(|| panic!("unexpected span {}", hex(&span.span_id)));
                    found += 1;
                    assert_eq!(scope.name, want["scope"]);
                    assert_eq!(hex(&span.trace_id), trace_id);
                    assert_eq!(hex(&span.parent_span_id), want["parent_span_id"]);
                    assert_eq!(span.name, want["name"]);
                    assert_eq!(span.kind as i64, want["kind"].as_i64().unwrap());
                    assert_eq!(span.start_time_unix_nano, want["start"].as_u64().unwrap());
                    assert_eq!(span.end_time_unix_nano, want["end"].as_u64().unwrap());
                    assert_eq!(otlp_attrs(&span.attributes), want["attributes"]);
                    let status = span.status.clone().unwrap_or_default();
                    assert_eq!(status.code as i64, want["status_code"].as_i64().unwrap());
                    assert_eq!(status.message, want["status_message"]);
                    let events: Vec<Value> = span
                        .events
                        .iter()
                        .map(|e| {
                            serde_json::json!({"name": e.name, "time": e.time_unix_nano, "attributes": otlp_attrs(&e.attributes)})
                        })
                        .collect();
                    assert_eq!(Value::Array(events), want["events"]);
                    let links: Vec<Value> = span
                        .links
                        .iter()
                        .map(|l| {
                            serde_json::json!({"trace_id": hex(&l.trace_id), "span_id": hex(&l.span_id), "attributes": otlp_attrs(&l.attributes)})
                        })
                        .collect();
                    assert_eq!(Value::Array(links), want["links"]);
                }
            }
        }
        assert_eq!(found, spans.len(), "trace {trace_id}: spans missing");
        // another tenant does not see it
        let (code, _) = get(
            &format!("{}/api/v2/traces/{trace_id}", s.http),
            "someone-else",
            "application/protobuf",
        )
        .await;
        assert_eq!(code, 404);
    }
}

/// Checks every sent span against the Jaeger API's JSON.
async fn check_jaeger(s: &Server, tenant: &str, service: &str, sent: &[Value]) {
    for want in sent {
        let trace_id = want["trace_id"].as_str().unwrap();
        let (code, body) = get(
            &format!("{}/jaeger/api/traces/{trace_id}", s.http),
            tenant,
            "application/json",
        )
        .await;
        assert_eq!(code, 200, "{}", String::from_utf8_lossy(&body));
        let v: Value = serde_json::from_slice(&body).unwrap();
        let trace = &v["data"][0];
        assert_eq!(trace["traceID"], trace_id);
        let span = trace["spans"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["spanID"] == want["span_id"])
            .unwrap_or_else(|| panic!("span {} missing in {trace}", want["span_id"]));
        assert_eq!(span["operationName"], want["name"]);
        assert_eq!(
            span["startTime"].as_u64().unwrap(),
            want["start"].as_u64().unwrap() / 1000
        );
        let dur = (want["end"].as_u64().unwrap() - want["start"].as_u64().unwrap()) / 1000;
        assert!(
            span["duration"].as_u64().unwrap().abs_diff(dur) <= 1,
            "{span}"
        );
        let pid = span["processID"].as_str().unwrap();
        assert_eq!(trace["processes"][pid]["serviceName"], service);
        let refs = span["references"].as_array().unwrap();
        let parent = want["parent_span_id"].as_str().unwrap();
        if parent.is_empty() {
            assert!(refs.iter().all(|r| r["refType"] != "CHILD_OF"), "{span}");
        } else {
            assert!(
                refs.iter()
                    .any(|r| r["refType"] == "CHILD_OF" && r["spanID"] == parent),
                "{span}"
            );
        }
        for l in want["links"].as_array().unwrap() {
            assert!(
                refs.iter()
                    .any(|r| r["refType"] == "FOLLOWS_FROM" && r["spanID"] == l["span_id"]),
                "{span}"
            );
        }
        let tags = span["tags"].as_array().unwrap();
        for (k, _) in want["attributes"].as_object().unwrap() {
            assert!(
                tags.iter().any(|t| t["key"] == *k),
                "tag {k} missing: {span}"
            );
        }
        assert_eq!(
            span["logs"].as_array().unwrap().len(),
            want["events"].as_array().unwrap().len()
        );
        if want["status_code"] == 2 {
            assert!(
                tags.iter()
                    .any(|t| t["key"] == "error" && t["value"] == true),
                "{span}"
            );
        }
    }
}

async fn query_value(s: &Server, tenant: &str, q: &str) -> Option<f64> {
    let r = reqwest::Client::new()
        .get(format!("{}/api/v1/query", s.http))
        .header("X-Scope-OrgID", tenant)
        .query(&[("query", q)])
        .send()
        .await
        .unwrap();
    let v: Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    v["data"]["result"][0]["value"][1]
        .as_str()
        .and_then(|x| x.parse().ok())
}

#[tokio::test(flavor = "multi_thread")]
async fn otel_python_sdk_spans_come_back_through_tempo_and_jaeger() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_with(
        dir.path(),
        Some("scrape_configs: []\n"),
        &["--traces.generator-interval=1s"],
    )
    .await;
    let tenant = "shop";
    let http = {
        let endpoint = s.otlp_http.clone();
        tokio::task::spawn_blocking(move || {
            send_with_sdk("http", &endpoint, "shop", "py-shop-http")
        })
        .await
        .unwrap()
    };
    let grpc = {
        let endpoint = s.otlp_grpc.clone();
        tokio::task::spawn_blocking(move || {
            send_with_sdk("grpc", &endpoint, "shop", "py-shop-grpc")
        })
        .await
        .unwrap()
    };
    assert_eq!(http.len(), 4);
    assert_eq!(grpc.len(), 4);
    check_tempo(&s, tenant, "py-shop-http", &http).await;
    check_tempo(&s, tenant, "py-shop-grpc", &grpc).await;
    check_jaeger(&s, tenant, "py-shop-http", &http).await;
    check_jaeger(&s, tenant, "py-shop-grpc", &grpc).await;

    // TraceQL search finds the failed checkout of each service
    for service in ["py-shop-http", "py-shop-grpc"] {
        let q = format!(
            r#"{{ resource.service.name = "{service}" && status = error && kind = server }}"#
        );
        let r = reqwest::Client::new()
            .get(format!("{}/api/search", s.http))
            .header("X-Scope-OrgID", tenant)
            .query(&[("q", q.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let v: Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
        let traces = v["traces"].as_array().unwrap();
        assert_eq!(traces.len(), 1, "{v}");
        assert_eq!(traces[0]["rootServiceName"], service);
        assert_eq!(traces[0]["rootTraceName"], "POST /checkout");
    }

    // span metrics reach the metrics store of the same tenant
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let calls = query_value(
            &s,
            tenant,
            r#"sum(traces_spanmetrics_calls_total{service="py-shop-http"})"#,
        )
        .await;
        if calls == Some(4.0) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "span metrics did not appear: {calls:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // the root server span had no client: once its edge expires (10 s), the service graph
    // counts the request from `user`, failed since the root span failed
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let total = query_value(
            &s,
            tenant,
            r#"sum(traces_service_graph_request_total{client="user",server="py-shop-grpc"})"#,
        )
        .await;
        let failed = query_value(
            &s,
            tenant,
            r#"sum(traces_service_graph_request_failed_total{client="user",server="py-shop-grpc"})"#,
        )
        .await;
        if total == Some(1.0) && failed == Some(1.0) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "service graph did not appear: total {total:?}, failed {failed:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(s.stop());
}
