//! Query evaluation: validates the request, then runs a log query ([`logs`]) or a
//! metric query.

mod logs;
mod metric;
mod range;

use oxeye_core::TenantId;
use oxeye_core::logs::LogQueryable;

use crate::ast::Expr;
use crate::{EngineLimits, LogqlError, Output, Query, QueryKind, parse};

/// Runs `q` against `store`.
pub(crate) fn query(
    store: &dyn LogQueryable,
    limits: &EngineLimits,
    tenant: &TenantId,
    q: &Query,
) -> Result<Output, LogqlError> {
    let expr = parse(&q.text)?;
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
}
