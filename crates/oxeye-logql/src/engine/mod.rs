//! Query evaluation: validates the request, then runs a log query ([`logs`]) or a
//! metric query.

mod logs;
mod metric;
mod range;

use std::time::Instant;

use oxeye_core::TenantId;
use oxeye_core::logs::LogQueryable;

use crate::ast::Expr;
use crate::{EngineLimits, LogqlError, Output, Query, QueryKind, parse};

/// Entries read inside a chunk between two deadline checks.
pub(crate) const DEADLINE_EVERY: u64 = 1024;

/// Whether `deadline` has passed.
pub(crate) fn past(deadline: Option<Instant>) -> bool {
    deadline.is_some_and(|d| Instant::now() >= d)
}

/// Runs `q` against `store`.
pub(crate) fn query(
    store: &dyn LogQueryable,
    limits: &EngineLimits,
    tenant: &TenantId,
    q: &Query,
) -> Result<Output, LogqlError> {
    let expr = parse(&q.text)?;
    if past(q.deadline) {
        return Err(LogqlError::Timeout { entries: 0 });
    }
    if q.kind == QueryKind::Range && q.end_ns < q.start_ns {
        return Err(LogqlError::BadQuery(
            "end timestamp must not be before or equal to start time".into(),
        ));
    }
    match &expr {
        Expr::Log(log) => {
            if q.limit == 0 {
                return Err(LogqlError::BadQuery(
                    "limit must be a positive value".into(),
                ));
            }
            logs::run(store, limits, tenant, log, q)
        }
        Expr::Sample(s) => metric::run(store, limits, tenant, s, q),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use oxeye_core::logs::{
        Direction, LogAppender, LogBatch, LogEntry, LogSelect, LogSeries, LogStream,
    };
    use oxeye_core::logs_mem::MemLogStore;
    use oxeye_core::{Labels, Matcher, StoreError};

    use super::*;

    /// Records what the engine asks the store for.
    struct Recording {
        inner: MemLogStore,
        selects: Mutex<Vec<LogSelect>>,
    }

    impl LogQueryable for Recording {
        fn select_logs(
            &self,
            tenant: &TenantId,
            matchers: &[Matcher],
            select: &LogSelect,
        ) -> Result<Vec<LogSeries>, StoreError> {
            if let Ok(mut s) = self.selects.lock() {
                s.push(select.clone());
            }
            self.inner.select_logs(tenant, matchers, select)
        }
        fn log_label_names(
            &self,
            tenant: &TenantId,
            matchers: &[Matcher],
            start_ns: i64,
            end_ns: i64,
        ) -> Result<Vec<String>, StoreError> {
            self.inner
                .log_label_names(tenant, matchers, start_ns, end_ns)
        }
        fn log_label_values(
            &self,
            tenant: &TenantId,
            name: &str,
            matchers: &[Matcher],
            start_ns: i64,
            end_ns: i64,
        ) -> Result<Vec<String>, StoreError> {
            self.inner
                .log_label_values(tenant, name, matchers, start_ns, end_ns)
        }
    }

    fn store() -> (Arc<Recording>, TenantId) {
        let t = TenantId::new("t").unwrap();
        let inner = MemLogStore::new();
        let entries = (0..100)
            .map(|i| LogEntry::new(i * 1_000_000_000, format!("line {i} needle")))
            .collect();
        inner
            .append_logs(
                &t,
                LogBatch {
                    streams: vec![LogStream {
                        labels: Labels::from_pairs(&[("app", "a")]),
                        entries,
                    }],
                },
            )
            .unwrap();
        (
            Arc::new(Recording {
                inner,
                selects: Mutex::new(Vec::new()),
            }),
            t,
        )
    }

    fn q(text: &str, kind: QueryKind, limit: usize) -> Query {
        Query {
            text: text.into(),
            kind,
            start_ns: 0,
            end_ns: 100_000_000_000,
            step_ns: 10_000_000_000,
            interval_ns: None,
            direction: Direction::Backward,
            limit,
            deadline: None,
        }
    }

    #[test]
    fn log_queries_pass_hints_and_stop_at_the_limit() {
        let (s, t) = store();
        let out = query(
            s.as_ref(),
            &EngineLimits::default(),
            &t,
            &q(r#"{app="a"} |= "needle""#, QueryKind::Range, 3),
        )
        .unwrap();
        let selects = s.selects.lock().unwrap().clone();
        assert_eq!(selects.len(), 1);
        assert_eq!(selects[0].line_contains, vec!["needle".to_string()]);
        assert_eq!(
            (selects[0].start_ns, selects[0].end_ns),
            (0, 100_000_000_000)
        );
        // Backward with limit 3: the three newest lines, and no more than those read.
        let crate::LogqlValue::Streams(streams) = out.value else {
            panic!("expected streams");
        };
        let ts: Vec<i64> = streams[0]
            .entries
            .iter()
            .map(|e| e.ts_ns / 1_000_000_000)
            .collect();
        assert_eq!(ts, vec![99, 98, 97]);
        assert_eq!(out.stats.entries_scanned, 3);
    }

    #[test]
    fn metric_queries_read_the_windows_of_all_steps() {
        let (s, t) = store();
        query(
            s.as_ref(),
            &EngineLimits::default(),
            &t,
            &q(
                r#"count_over_time({app="a"}[5s] offset 1s)"#,
                QueryKind::Range,
                10,
            ),
        )
        .unwrap();
        let sel = s.selects.lock().unwrap()[0].clone();
        // First window (0 - 1s - 5s, 0 - 1s], last ends at 100s - 1s.
        assert_eq!(sel.start_ns, -6_000_000_000 + 1);
        assert_eq!(sel.end_ns, 99_000_000_000 + 1);
    }

    #[test]
    fn log_queries_keep_limit_entries_across_streams() {
        let t = TenantId::new("t").unwrap();
        let inner = MemLogStore::new();
        // 50 streams with interleaved times: stream i has lines at j * 50 + i.
        for i in 0..50i64 {
            let entries = (0..100i64)
                .map(|j| LogEntry::new((j * 50 + i) * 1_000_000, format!("s{i} l{j}")))
                .collect();
            inner
                .append_logs(
                    &t,
                    LogBatch {
                        streams: vec![LogStream {
                            labels: Labels::from_pairs(&[("app", "a"), ("s", &i.to_string())]),
                            entries,
                        }],
                    },
                )
                .unwrap();
        }
        let mut lq = q(r#"{app="a"}"#, QueryKind::Range, 5);
        lq.end_ns = 5_000_000_000;
        for (direction, want) in [
            (Direction::Backward, [4999i64, 4998, 4997, 4996, 4995]),
            (Direction::Forward, [0, 1, 2, 3, 4]),
        ] {
            lq.direction = direction;
            let out = query(&inner, &EngineLimits::default(), &t, &lq).unwrap();
            let crate::LogqlValue::Streams(streams) = out.value else {
                panic!("expected streams");
            };
            let mut got: Vec<i64> = streams
                .iter()
                .flat_map(|s| s.entries.iter().map(|e| e.ts_ns / 1_000_000))
                .collect();
            got.sort_unstable();
            let mut want = want.to_vec();
            want.sort_unstable();
            assert_eq!(got, want);
            // Each thread fills its `limit` entries, then leaves every other stream at
            // its first entry that cannot be kept.
            assert!(
                out.stats.entries_scanned <= 4 * 5 + 2 * 50,
                "{} entries read",
                out.stats.entries_scanned
            );
        }
    }

    #[test]
    fn at_most_11000_steps() {
        let (s, t) = store();
        let l = EngineLimits::default();
        let mut ok = q(r#"count_over_time({app="a"}[1s])"#, QueryKind::Range, 10);
        ok.step_ns = 1_000_000_000;
        ok.end_ns = 11_000 * ok.step_ns;
        let out = query(s.as_ref(), &l, &t, &ok).unwrap();
        let crate::LogqlValue::Metric(oxeye_promql::Value::Matrix(m)) = out.value else {
            panic!("expected a matrix");
        };
        // Lines at 0s..99s: a point at each step 0s..99s; the last step is 11000s.
        assert_eq!(m[0].1.len(), 100);
        assert_eq!(m[0].1.last().map(|p| p.t), Some(99_000));
        let mut over = ok.clone();
        over.end_ns += over.step_ns;
        let e = query(s.as_ref(), &l, &t, &over).unwrap_err();
        assert!(e.to_string().contains("11,000 points"), "{e}");
    }

    #[test]
    fn bad_requests() {
        let (s, t) = store();
        let l = EngineLimits::default();
        let e = query(s.as_ref(), &l, &t, &q(r#"{app="a"}"#, QueryKind::Range, 0)).unwrap_err();
        assert_eq!(e.to_string(), "limit must be a positive value");
        let mut bad = q(r#"rate({app="a"}[1m])"#, QueryKind::Range, 10);
        bad.step_ns = 0;
        assert!(query(s.as_ref(), &l, &t, &bad).is_err());
        let tight = EngineLimits {
            max_series: 500,
            max_entries_scanned: 10,
        };
        let e = query(
            s.as_ref(),
            &tight,
            &t,
            &q(r#"{app="a"} |= "nope""#, QueryKind::Range, 10),
        )
        .unwrap_err();
        assert!(e.to_string().contains("max_entries_scanned"));
        let one = EngineLimits {
            max_series: 1,
            max_entries_scanned: 1000,
        };
        let many = q(
            r#"count_over_time({app="a"} | regexp "line (?P<n>\\d)" [100s])"#,
            QueryKind::Instant,
            10,
        );
        let e = query(s.as_ref(), &one, &t, &many).unwrap_err();
        assert_eq!(
            e.to_string(),
            "maximum of series (1) reached for a single query"
        );
        // The limit holds the result: aggregated, the ten series are one.
        let summed = q(
            r#"max(count_over_time({app="a"} | regexp "line (?P<n>\\d)" [100s]))"#,
            QueryKind::Instant,
            10,
        );
        assert!(query(s.as_ref(), &one, &t, &summed).is_ok());
    }

    /// A stream whose chunks take a millisecond each to read.
    struct SlowData;

    impl oxeye_core::logs::LogStreamData for SlowData {
        fn for_each_chunk(
            &self,
            _direction: Direction,
            f: &mut dyn FnMut(&[LogEntry]) -> std::ops::ControlFlow<()>,
        ) -> Result<(), StoreError> {
            for c in 0..10_000i64 {
                std::thread::sleep(std::time::Duration::from_millis(1));
                let chunk: Vec<LogEntry> = (0..10)
                    .map(|i| LogEntry::new(c * 10 + i, "slow line"))
                    .collect();
                if f(&chunk).is_break() {
                    break;
                }
            }
            Ok(())
        }
    }

    struct SlowStore;

    impl LogQueryable for SlowStore {
        fn select_logs(
            &self,
            _tenant: &TenantId,
            _matchers: &[Matcher],
            _select: &LogSelect,
        ) -> Result<Vec<LogSeries>, StoreError> {
            Ok(vec![LogSeries {
                labels: Labels::from_pairs(&[("app", "a")]),
                data: Arc::new(SlowData),
            }])
        }

        fn log_label_names(
            &self,
            _tenant: &TenantId,
            _matchers: &[Matcher],
            _start_ns: i64,
            _end_ns: i64,
        ) -> Result<Vec<String>, StoreError> {
            Ok(Vec::new())
        }

        fn log_label_values(
            &self,
            _tenant: &TenantId,
            _name: &str,
            _matchers: &[Matcher],
            _start_ns: i64,
            _end_ns: i64,
        ) -> Result<Vec<String>, StoreError> {
            Ok(Vec::new())
        }
    }

    #[test]
    fn queries_give_up_at_their_deadline() {
        // A big store and a deadline already passed: no entry is read.
        let t = TenantId::new("t").unwrap();
        let big = MemLogStore::new();
        let entries: Vec<LogEntry> = (0..200_000)
            .map(|i| LogEntry::new(i * 1_000, format!("line {i}")))
            .collect();
        big.append_logs(
            &t,
            LogBatch {
                streams: vec![LogStream {
                    labels: Labels::from_pairs(&[("app", "a")]),
                    entries,
                }],
            },
        )
        .unwrap();
        let l = EngineLimits::default();
        for text in [r#"{app="a"} |= "x""#, r#"count_over_time({app="a"}[1s])"#] {
            let mut late = q(text, QueryKind::Range, 10);
            late.deadline = Some(std::time::Instant::now());
            let started = std::time::Instant::now();
            let e = query(&big, &l, &t, &late).unwrap_err();
            assert!(matches!(e, LogqlError::Timeout { entries: 0 }), "{e}");
            assert_eq!(e.status_code(), oxeye_core::StatusCode::Timeout);
            assert!(started.elapsed() < std::time::Duration::from_secs(1));
        }
        // A deadline passing mid-scan stops the scan between chunks (reading all of
        // the slow stream takes ten seconds).
        for text in [r#"{app="a"} |= "x""#, r#"count_over_time({app="a"}[1s])"#] {
            let mut soon = q(text, QueryKind::Range, 10);
            soon.end_ns = 1_000_000;
            soon.step_ns = 1_000;
            soon.deadline = Some(std::time::Instant::now() + std::time::Duration::from_millis(50));
            let started = std::time::Instant::now();
            let e = query(&SlowStore, &l, &t, &soon).unwrap_err();
            assert!(matches!(e, LogqlError::Timeout { .. }), "{text}: {e}");
            assert!(
                started.elapsed() < std::time::Duration::from_secs(3),
                "{text}: gave up after {:?}",
                started.elapsed()
            );
        }
    }

    #[test]
    fn label_equalities_become_metadata_hints() {
        let (s, t) = store();
        let l = EngineLimits::default();
        for text in [
            r#"{app="a"} | trace_id="abc""#,
            r#"count_over_time({app="a"} | trace_id="abc" [5s])"#,
        ] {
            query(s.as_ref(), &l, &t, &q(text, QueryKind::Range, 10)).unwrap();
        }
        query(
            s.as_ref(),
            &l,
            &t,
            &q(r#"{app="a"} | json | trace_id="abc""#, QueryKind::Range, 10),
        )
        .unwrap();
        let selects = s.selects.lock().unwrap().clone();
        let pair = vec![("trace_id".to_string(), "abc".to_string())];
        assert_eq!(selects[0].metadata_equals, pair);
        assert_eq!(selects[1].metadata_equals, pair);
        assert!(selects[2].metadata_equals.is_empty());
    }
}
