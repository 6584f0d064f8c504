//! Logs end to end with real clients: the OpenTelemetry Python SDK's OTLP log exporter
//! (HTTP and gRPC) and a Loki client's push (snappy protobuf, JSON) reach a real
//! `oxeye serve`, and every line comes back through the Loki query API with its labels,
//! structured metadata and timestamp, only for the sending tenant; a trace id finds its
//! lines in one query.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use oxeye_core::logs::LogEntry;
use serde_json::Value;

use crate::harness::Server;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/otel_sdk/send_logs.py");

/// One line of a query answer with its stream labels and structured metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub labels: BTreeMap<String, String>,
    pub metadata: BTreeMap<String, String>,
    pub ts_ns: i64,
    pub line: String,
}

impl Row {
    /// A label or structured metadata value (Loki merges the two unless asked not to).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.metadata
            .get(name)
            .or_else(|| self.labels.get(name))
            .map(String::as_str)
    }
}

fn string_map(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

pub fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}

/// `GET /loki/api/v1/query_range` (streams), asking for structured metadata apart; the
/// rows of every stream, in the answer's order.
pub async fn query_range(
    s: &Server,
    tenant: &str,
    query: &str,
    start_ns: i64,
    end_ns: i64,
    limit: usize,
    direction: &str,
) -> Vec<Row> {
    let r = reqwest::Client::new()
        .get(format!("{}/loki/api/v1/query_range", s.http))
        .header("X-Scope-OrgID", tenant)
        .header("X-Loki-Response-Encoding-Flags", "categorize-labels")
        .query(&[
            ("query", query.to_string()),
            ("start", start_ns.to_string()),
            ("end", end_ns.to_string()),
            ("limit", limit.to_string()),
            ("direction", direction.to_string()),
        ])
        .send()
        .await
        .unwrap();
    let code = r.status().as_u16();
    let body = r.text().await.unwrap();
    assert_eq!(code, 200, "query {query}: {body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["data"]["resultType"], "streams", "{body}");
    let mut rows = Vec::new();
    for stream in v["data"]["result"].as_array().unwrap() {
        let labels = string_map(&stream["stream"]);
        for value in stream["values"].as_array().unwrap() {
            let extra = &value[2];
            // categorized: {"structuredMetadata": {...}, "parsed": {...}}
            let metadata = if extra.get("structuredMetadata").is_some() {
                string_map(&extra["structuredMetadata"])
            } else {
                string_map(extra)
            };
            rows.push(Row {
                labels: labels.clone(),
                metadata,
                ts_ns: value[0].as_str().unwrap().parse().unwrap(),
                line: value[1].as_str().unwrap().to_string(),
            });
        }
    }
    rows
}

/// Every row of `query` over `[start, end)` oldest first, paging by timestamp (the
/// entries of one stream must have distinct timestamps).
pub async fn all_rows(
    s: &Server,
    tenant: &str,
    query: &str,
    start_ns: i64,
    end_ns: i64,
) -> Vec<Row> {
    const PAGE: usize = 1000;
    let mut out: Vec<Row> = Vec::new();
    let mut from = start_ns;
    loop {
        let mut page = query_range(s, tenant, query, from, end_ns, PAGE, "forward").await;
        page.sort_by_key(|r| r.ts_ns);
        let n = page.len();
        if let Some(last) = page.last() {
            from = last.ts_ns + 1;
        }
        out.extend(page);
        if n < PAGE {
            return out;
        }
    }
}

/// Runs the SDK script; returns the records it sent, as it printed them.
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
    let sent: Value = serde_json::from_slice(&out.stdout).unwrap();
    sent.as_array().unwrap().clone()
}

async fn check_sdk_logs(s: &Server, tenant: &str, service: &str, sent: &[Value]) {
    let (start, end) = (now_ns() - 3_600_000_000_000, now_ns() + 60_000_000_000);
    let rows = all_rows(
        s,
        tenant,
        &format!(r#"{{service_name="{service}"}}"#),
        start,
        end,
    )
    .await;
    assert_eq!(rows.len(), sent.len(), "{rows:#?}");
    for want in sent {
        let line = want["body"].as_str().unwrap();
        let row = rows
            .iter()
            .find(|r| r.line == line)
            .unwrap_or_else(|| panic!("line {line:?} missing in {rows:#?}"));
        assert_eq!(row.ts_ns, want["timestamp"].as_i64().unwrap(), "{row:?}");
        assert_eq!(row.labels["service_name"], service);
        assert_eq!(row.labels["deployment_environment"], "test");
        assert_eq!(row.get("host_name"), Some("py-host"), "{row:?}");
        assert_eq!(row.get("scope_name"), Some("shop.checkout"), "{row:?}");
        assert_eq!(row.get("severity_text"), want["severity_text"].as_str());
        let number = want["severity_number"].as_i64().unwrap().to_string();
        assert_eq!(row.get("severity_number"), Some(number.as_str()));
        let trace_id = want["trace_id"].as_str().unwrap();
        if trace_id.is_empty() {
            assert_eq!(row.get("trace_id"), None, "{row:?}");
        } else {
            assert_eq!(row.get("trace_id"), Some(trace_id), "{row:?}");
            assert_eq!(row.get("span_id"), want["span_id"].as_str(), "{row:?}");
        }
        for (k, v) in want["attributes"].as_object().unwrap() {
            let name = k.replace('.', "_");
            let value = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            assert_eq!(row.get(&name), Some(value.as_str()), "{row:?}");
        }
    }
    // trace correlation: the trace id finds exactly its lines in one query
    let trace_id = sent
        .iter()
        .find_map(|w| w["trace_id"].as_str().filter(|t| !t.is_empty()))
        .unwrap();
    let found = query_range(
        s,
        tenant,
        &format!(r#"{{service_name="{service}"}} | trace_id="{trace_id}""#),
        start,
        end,
        100,
        "backward",
    )
    .await;
    let with_trace = sent.iter().filter(|w| w["trace_id"] == trace_id).count();
    assert_eq!(found.len(), with_trace, "{found:#?}");
    assert!(found.iter().all(|r| r.get("trace_id") == Some(trace_id)));
    // another tenant sees none of it
    let other = query_range(
        s,
        "someone-else",
        &format!(r#"{{service_name="{service}"}}"#),
        start,
        end,
        100,
        "backward",
    )
    .await;
    assert!(other.is_empty(), "{other:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn otel_python_sdk_logs_come_back_through_logql() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), Some("scrape_configs: []\n")).await;
    let http = {
        let endpoint = s.otlp_http.clone();
        tokio::task::spawn_blocking(move || {
            send_with_sdk("http", &endpoint, "shop", "py-logs-http")
        })
        .await
        .unwrap()
    };
    let grpc = {
        let endpoint = s.otlp_grpc.clone();
        tokio::task::spawn_blocking(move || {
            send_with_sdk("grpc", &endpoint, "shop", "py-logs-grpc")
        })
        .await
        .unwrap()
    };
    assert_eq!(http.len(), 4);
    assert_eq!(grpc.len(), 4);
    check_sdk_logs(&s, "shop", "py-logs-http", &http).await;
    check_sdk_logs(&s, "shop", "py-logs-grpc", &grpc).await;
    assert!(s.stop());
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn loki_push_round_trips_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), Some("scrape_configs: []\n")).await;
    let base = now_ns() - 60_000_000_000;
    let mut entries: Vec<LogEntry> = (0..50)
        .map(|i| {
            LogEntry::new(
                base + i * 1_000_000,
                format!("GET /item/{i} 200 {}ms", i * 3),
            )
        })
        .collect();
    entries[7].line = "GET /item/7 500 needle-7f3a".into();
    entries[7].metadata = pairs(&[("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736")]);
    let labels = pairs(&[("app", "rt"), ("env", "e2e")]);
    let client = reqwest::Client::new();
    let r = client
        .post(format!("{}/loki/api/v1/push", s.http))
        .header("Content-Type", "application/x-protobuf")
        .header("X-Scope-OrgID", "loki-client")
        .body(oxeye_proto::loki::encode_push(&[(labels, entries.clone())]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204, "{}", r.text().await.unwrap_or_default());
    // JSON push into a second stream
    let json = format!(
        r#"{{"streams":[{{"stream":{{"app":"rt","env":"json"}},"values":[["{}","json line",{{"user":"ann"}}]]}}]}}"#,
        base + 999
    );
    let r = client
        .post(format!("{}/loki/api/v1/push", s.http))
        .header("Content-Type", "application/json")
        .header("X-Scope-OrgID", "loki-client")
        .body(json)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204, "{}", r.text().await.unwrap_or_default());
    // a rejected push answers Loki's 400
    let r = client
        .post(format!("{}/loki/api/v1/push", s.http))
        .header("Content-Type", "application/x-protobuf")
        .header("X-Scope-OrgID", "loki-client")
        .body(oxeye_proto::loki::encode_push(&[(
            pairs(&[("app", "rt")]),
            vec![LogEntry::new(1, "from 1970")],
        )]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("timestamp too old"));

    check_round_trip(&s, base, &entries).await;
    assert!(s.stop());
    let s = Server::start(dir.path(), Some("scrape_configs: []\n")).await;
    check_round_trip(&s, base, &entries).await;
    assert!(s.stop());
}

/// The pushed stream comes back whole, the needle and the JSON push are found, and
/// another tenant sees nothing.
async fn check_round_trip(s: &Server, base: i64, entries: &[LogEntry]) {
    let (start, end) = (base - 1, base + 3_600_000_000_000);
    let rows = all_rows(s, "loki-client", r#"{app="rt", env="e2e"}"#, start, end).await;
    let got: Vec<(i64, &str)> = rows.iter().map(|r| (r.ts_ns, r.line.as_str())).collect();
    let want: Vec<(i64, &str)> = entries.iter().map(|e| (e.ts_ns, e.line.as_str())).collect();
    assert_eq!(got, want);
    assert_eq!(
        rows[7].get("trace_id"),
        Some("4bf92f3577b34da6a3ce929d0e0e4736")
    );
    let needle = query_range(
        s,
        "loki-client",
        r#"{app="rt"} |= "needle-7f3a""#,
        start,
        end,
        10,
        "backward",
    )
    .await;
    assert_eq!(needle.len(), 1, "{needle:#?}");
    assert_eq!(needle[0].line, "GET /item/7 500 needle-7f3a");
    let json_rows = query_range(
        s,
        "loki-client",
        r#"{env="json"}"#,
        start,
        end,
        10,
        "backward",
    )
    .await;
    assert_eq!(json_rows.len(), 1);
    assert_eq!(json_rows[0].line, "json line");
    assert_eq!(json_rows[0].get("user"), Some("ann"));
    assert_eq!(
        json_rows[0].labels.get("service_name").map(String::as_str),
        Some("rt")
    );
    let nobody = query_range(s, "anonymous", r#"{app="rt"}"#, start, end, 10, "backward").await;
    assert!(nobody.is_empty());
}
