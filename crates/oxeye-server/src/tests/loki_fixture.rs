//! Log streams shared by the Loki API tests, stored in a `MemLogStore` through its
//! `LogAppender`: logfmt lines of `api` carrying trace ids in structured metadata, JSON
//! lines of `web` with the trace id as a field, and one stream of tenant `other`.

use std::sync::Arc;

use oxeye_core::logs::{LogAppender, LogBatch, LogEntry, LogStream};
use oxeye_core::logs_mem::MemLogStore;
use oxeye_core::{Labels, ManualClock, TenantId};

use super::MemStore;
use crate::{LogStores, QueryLimits, ServerState};

/// 2023-11-14T22:13:20Z in ns: the first line.
pub const T0: i64 = 1_700_000_000_000_000_000;
/// One second in ns.
pub const SEC: i64 = 1_000_000_000;
/// The server clock, 100 s after `T0`, in ms.
pub const NOW_MS: i64 = 1_700_000_100_000;
/// The trace id carried by two `api` lines and one `web` line.
pub const TRACE: &str = "5b8efff798038103d269b633813fc60c";

fn with_md(ts: i64, line: &str, md: &[(&str, &str)]) -> LogEntry {
    let mut e = LogEntry::new(ts, line);
    e.metadata = md
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    e
}

/// The anonymous tenant's streams.
pub fn batch() -> LogBatch {
    let api = Labels::from_pairs(&[("service_name", "api"), ("env", "prod")]);
    let api_dev = Labels::from_pairs(&[("service_name", "api"), ("env", "dev")]);
    let web = Labels::from_pairs(&[("service_name", "web"), ("env", "prod")]);
    LogBatch {
        streams: vec![
            LogStream {
                labels: api,
                entries: vec![
                    with_md(
                        T0,
                        "level=info msg=\"request served\" status=200 duration=12ms",
                        &[("trace_id", TRACE), ("span_id", "0001")],
                    ),
                    with_md(
                        T0 + 10 * SEC,
                        "level=error msg=\"payment failed\" status=500 duration=1.5s",
                        &[("trace_id", TRACE), ("span_id", "0002")],
                    ),
                    with_md(
                        T0 + 20 * SEC,
                        "level=info msg=\"request served\" status=200 duration=3ms",
                        &[("trace_id", "aaaa0000000000000000000000000001")],
                    ),
                ],
            },
            LogStream {
                labels: api_dev,
                entries: vec![LogEntry::new(
                    T0 + 5 * SEC,
                    "level=debug msg=\"cache warm\" size=10MB",
                )],
            },
            LogStream {
                labels: web,
                entries: vec![
                    LogEntry::new(
                        T0 + 2 * SEC,
                        format!(
                            r#"{{"level":"info","path":"/checkout","trace_id":"{TRACE}","latency":0.25}}"#
                        ),
                    ),
                    LogEntry::new(
                        T0 + 30 * SEC,
                        r#"{"level":"warn","path":"/cart","trace_id":"bbbb","latency":1}"#,
                    ),
                ],
            },
        ],
    }
}

fn other_batch() -> LogBatch {
    LogBatch {
        streams: vec![LogStream {
            labels: Labels::from_pairs(&[("service_name", "secret")]),
            entries: vec![LogEntry::new(T0, "tenant other only")],
        }],
    }
}

/// A server over a `MemLogStore` holding [`batch`] (tenant `anonymous`) and one stream
/// of tenant `other`, with a manual clock at [`NOW_MS`].
pub fn loki_state() -> (Arc<ServerState>, Arc<MemLogStore>, Arc<ManualClock>) {
    loki_state_with(QueryLimits::default())
}

/// [`loki_state`] under `limits`.
pub fn loki_state_with(
    limits: QueryLimits,
) -> (Arc<ServerState>, Arc<MemLogStore>, Arc<ManualClock>) {
    let logs = Arc::new(MemLogStore::new());
    logs.append_logs(&TenantId::new("anonymous").unwrap(), batch())
        .unwrap();
    logs.append_logs(&TenantId::new("other").unwrap(), other_batch())
        .unwrap();
    let clock = Arc::new(ManualClock::new(NOW_MS));
    let metrics = MemStore::new();
    let state = ServerState::builder(metrics.clone(), metrics)
        .clock(clock.clone())
        .query_limits(limits)
        .logs(LogStores {
            appender: logs.clone(),
            queryable: logs.clone(),
        })
        .build();
    state.set_ready(true);
    (state, logs, clock)
}

/// A URL-encoded query string from pairs.
pub fn qs(pairs: &[(&str, &str)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

/// The range covering every fixture line, as `start`/`end` pairs (ns).
pub fn whole_range() -> [(&'static str, String); 2] {
    [
        ("start", T0.to_string()),
        ("end", (T0 + 60 * SEC).to_string()),
    ]
}
