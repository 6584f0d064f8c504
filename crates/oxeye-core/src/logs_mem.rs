//! [`MemLogStore`]: logs held in memory, for tests of anything above the log traits.
//!
//! It implements [`LogAppender`] and [`LogQueryable`] with the observable rules of the
//! real store (streams keyed by label set, entries kept in time order whatever order they
//! arrive in, `[start, end)` ranges, streams sorted by labels), without durability,
//! chunks or indexes.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use crate::logs::{
    LogAppendStats, LogAppender, LogBatch, LogEntry, LogQueryable, LogSelect, LogSeries,
    VecLogStreamData,
};
use crate::{Labels, Matcher, StoreError, TenantId};

type Streams = BTreeMap<Labels, Vec<LogEntry>>;

/// Log streams in memory, per tenant.
#[derive(Debug, Default)]
pub struct MemLogStore {
    tenants: Mutex<HashMap<TenantId, Streams>>,
}

impl MemLogStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn with<R>(&self, f: impl FnOnce(&mut HashMap<TenantId, Streams>) -> R) -> R {
        let mut guard = match self.tenants.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut guard)
    }

    /// Streams of `tenant` matching `matchers` with their entries in `[start, end)`.
    fn matching(
        &self,
        tenant: &TenantId,
        matchers: &[Matcher],
        start_ns: i64,
        end_ns: i64,
    ) -> Vec<(Labels, Vec<LogEntry>)> {
        self.with(|t| {
            let Some(streams) = t.get(tenant) else {
                return Vec::new();
            };
            streams
                .iter()
                .filter(|(labels, _)| matches_all(labels, matchers))
                .filter_map(|(labels, entries)| {
                    let lo = entries.partition_point(|e| e.ts_ns < start_ns);
                    let hi = entries.partition_point(|e| e.ts_ns < end_ns);
                    let in_range = entries.get(lo..hi)?;
                    if in_range.is_empty() {
                        return None;
                    }
                    Some((labels.clone(), in_range.to_vec()))
                })
                .collect()
        })
    }
}

/// Whether `labels` satisfy every matcher (a missing label reads as empty).
fn matches_all(labels: &Labels, matchers: &[Matcher]) -> bool {
    matchers
        .iter()
        .all(|m| m.matches(labels.get(&m.name).unwrap_or("")))
}

impl LogAppender for MemLogStore {
    fn append_logs(
        &self,
        tenant: &TenantId,
        batch: LogBatch,
    ) -> Result<LogAppendStats, StoreError> {
        let mut stats = LogAppendStats::default();
        self.with(|t| {
            let streams = t.entry(tenant.clone()).or_default();
            for stream in batch.streams {
                if stream.entries.is_empty() {
                    continue;
                }
                let entries = streams.entry(stream.labels).or_insert_with(|| {
                    stats.streams_created += 1;
                    Vec::new()
                });
                for e in stream.entries {
                    stats.entries += 1;
                    stats.bytes += e.line_bytes();
                    let at = entries.partition_point(|x| x.ts_ns <= e.ts_ns);
                    entries.insert(at, e);
                }
            }
        });
        Ok(stats)
    }
}

impl LogQueryable for MemLogStore {
    fn select_logs(
        &self,
        tenant: &TenantId,
        matchers: &[Matcher],
        select: &LogSelect,
    ) -> Result<Vec<LogSeries>, StoreError> {
        Ok(self
            .matching(tenant, matchers, select.start_ns, select.end_ns)
            .into_iter()
            .map(|(labels, entries)| LogSeries {
                labels,
                data: Arc::new(VecLogStreamData(entries)),
            })
            .collect())
    }

    fn log_label_names(
        &self,
        tenant: &TenantId,
        matchers: &[Matcher],
        start_ns: i64,
        end_ns: i64,
    ) -> Result<Vec<String>, StoreError> {
        let names: BTreeSet<String> = self
            .matching(tenant, matchers, start_ns, end_ns)
            .iter()
            .flat_map(|(labels, _)| labels.iter().map(|l| l.name.clone()))
            .collect();
        Ok(names.into_iter().collect())
    }

    fn log_label_values(
        &self,
        tenant: &TenantId,
        name: &str,
        matchers: &[Matcher],
        start_ns: i64,
        end_ns: i64,
    ) -> Result<Vec<String>, StoreError> {
        let values: BTreeSet<String> = self
            .matching(tenant, matchers, start_ns, end_ns)
            .iter()
            .filter_map(|(labels, _)| labels.get(name).map(str::to_string))
            .collect();
        Ok(values.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::{Direction, LogStream};

    fn tenant() -> TenantId {
        TenantId::new("t1").unwrap()
    }

    #[test]
    fn out_of_order_entries_come_back_in_time_order_within_range() {
        let s = MemLogStore::new();
        let labels = Labels::from_pairs(&[("job", "api")]);
        let batch = LogBatch {
            streams: vec![LogStream {
                labels: labels.clone(),
                entries: vec![
                    LogEntry::new(30, "c"),
                    LogEntry::new(10, "a"),
                    LogEntry::new(20, "b"),
                ],
            }],
        };
        let stats = s.append_logs(&tenant(), batch).unwrap();
        assert_eq!(stats.entries, 3);
        assert_eq!(stats.streams_created, 1);
        let select = LogSelect {
            start_ns: 10,
            end_ns: 30,
            line_contains: Vec::new(),
            metadata_equals: Vec::new(),
        };
        let got = s
            .select_logs(&tenant(), &[Matcher::equal("job", "api")], &select)
            .unwrap();
        assert_eq!(got.len(), 1);
        let lines: Vec<String> = got[0]
            .data
            .entries(Direction::Backward)
            .unwrap()
            .into_iter()
            .map(|e| e.line)
            .collect();
        assert_eq!(lines, vec!["b", "a"]);
        let other = TenantId::new("t2").unwrap();
        assert!(s.select_logs(&other, &[], &select).unwrap().is_empty());
        let stats = s
            .stream_stats(&tenant(), &[Matcher::equal("job", "api")], 0, 100)
            .unwrap();
        assert_eq!(stats.len(), 1);
        assert_eq!((stats[0].entries, stats[0].bytes), (3, 3));
        assert_eq!(
            s.log_label_values(&tenant(), "job", &[], 0, 100).unwrap(),
            vec!["api"]
        );
    }
}
