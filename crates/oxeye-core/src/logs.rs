//! The log model and the narrow traits between log ingest, the log store and LogQL.
//!
//! Loki's model: a stream is a label set; its entries are (timestamp, line) pairs with
//! optional structured metadata (name/value pairs that are not stream labels, such as
//! `trace_id`). Writes: decoders build a [`LogBatch`] and hand it to a [`LogAppender`],
//! which validates it whole and returns once it is durable. Reads: a [`LogQueryable`]
//! selects the streams matching label matchers over a time range; each stream's entries
//! are read in either direction through [`LogStreamData`], and line-filter hints let the
//! store skip chunks that cannot hold a matching line.
//!
//! Timestamps are nanoseconds since the epoch; ranges are `[start, end)` as in Loki.

use std::ops::ControlFlow;
use std::sync::Arc;

use crate::{Labels, Matcher, StoreError, TenantId};

/// One log line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LogEntry {
    /// Nanoseconds since the epoch.
    pub ts_ns: i64,
    /// The line, as sent.
    pub line: String,
    /// Structured metadata, in the order sent.
    pub metadata: Vec<(String, String)>,
}

impl LogEntry {
    /// An entry without structured metadata.
    pub fn new(ts_ns: i64, line: impl Into<String>) -> Self {
        Self {
            ts_ns,
            line: line.into(),
            metadata: Vec::new(),
        }
    }

    /// The value of structured metadata `name`, if present.
    pub fn metadata_value(&self, name: &str) -> Option<&str> {
        self.metadata
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Bytes the entry counts for in rate limits and `bytes_over_time`: the line alone,
    /// as Loki counts it.
    pub fn line_bytes(&self) -> usize {
        self.line.len()
    }
}

/// Entries of one stream in a write, in any order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LogStream {
    /// The stream's labels (validated by the decoder).
    pub labels: Labels,
    /// Its entries.
    pub entries: Vec<LogEntry>,
}

/// One write request after decoding, before storing.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LogBatch {
    /// Streams with their entries.
    pub streams: Vec<LogStream>,
}

impl LogBatch {
    /// Total entries in the batch.
    pub fn entry_count(&self) -> usize {
        self.streams.iter().map(|s| s.entries.len()).sum()
    }

    /// Total line bytes in the batch.
    pub fn line_bytes(&self) -> usize {
        self.streams
            .iter()
            .flat_map(|s| &s.entries)
            .map(LogEntry::line_bytes)
            .sum()
    }
}

/// What an append stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LogAppendStats {
    /// Entries stored.
    pub entries: usize,
    /// Line bytes stored.
    pub bytes: usize,
    /// Streams that did not exist before this write.
    pub streams_created: usize,
}

/// The write side of a log store.
pub trait LogAppender: Send + Sync {
    /// Validates the whole batch, then stores it; returns once it is durable per the
    /// store's sync policy. A batch that fails validation stores nothing. Blocking: call
    /// from a blocking context.
    fn append_logs(&self, tenant: &TenantId, batch: LogBatch)
    -> Result<LogAppendStats, StoreError>;
}

/// The order entries are read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    /// Oldest first.
    Forward,
    /// Newest first (Loki's default for log queries).
    #[default]
    Backward,
}

/// What a query needs from the store; stores may use the hints to read less.
#[derive(Debug, Clone, Default)]
pub struct LogSelect {
    /// Start of the range, ns, inclusive.
    pub start_ns: i64,
    /// End of the range, ns, exclusive.
    pub end_ns: i64,
    /// Substrings every line the query can return contains (from `|= "..."` filters);
    /// a chunk holding none of a hint's text can be skipped. Never used to decide a match.
    pub line_contains: Vec<String>,
    /// Structured-metadata pairs `(name, value)` every entry the query can return carries,
    /// unless `name` is one of the entry's stream labels (then the query tests the stream
    /// label instead, and the pair says nothing about the metadata). From `| name="value"`
    /// label filters that run before any stage able to create or rename labels.
    ///
    /// A store may skip a chunk of a stream that has no label `name` when no entry of
    /// the chunk has the metadata pair; it must never skip on behalf of a pair whose name
    /// is a label of the stream, and the hint never decides whether an entry matches
    /// (the query checks every entry it reads). Stores may ignore it.
    pub metadata_equals: Vec<(String, String)>,
}

/// The entries of one stream, read chunk by chunk.
pub trait LogStreamData: Send + Sync {
    /// Calls `f` with the stream's entries within the select's range, in `direction`
    /// order, one decoded chunk at a time; `f` may stop early with `ControlFlow::Break`.
    fn for_each_chunk(
        &self,
        direction: Direction,
        f: &mut dyn FnMut(&[LogEntry]) -> ControlFlow<()>,
    ) -> Result<(), StoreError>;

    /// All entries, collected in `direction` order.
    fn entries(&self, direction: Direction) -> Result<Vec<LogEntry>, StoreError> {
        let mut out = Vec::new();
        self.for_each_chunk(direction, &mut |chunk| {
            out.extend_from_slice(chunk);
            ControlFlow::Continue(())
        })?;
        Ok(out)
    }
}

/// Entries already in memory, sorted oldest first; for computed data and tests.
#[derive(Debug, Clone, Default)]
pub struct VecLogStreamData(pub Vec<LogEntry>);

impl LogStreamData for VecLogStreamData {
    fn for_each_chunk(
        &self,
        direction: Direction,
        f: &mut dyn FnMut(&[LogEntry]) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        debug_assert!(self.0.windows(2).all(|w| w[0].ts_ns <= w[1].ts_ns));
        match direction {
            Direction::Forward => {
                let _ = f(&self.0);
            }
            Direction::Backward => {
                let reversed: Vec<LogEntry> = self.0.iter().rev().cloned().collect();
                let _ = f(&reversed);
            }
        }
        Ok(())
    }
}

/// A stream returned by a log query.
#[derive(Clone)]
pub struct LogSeries {
    /// The stream's labels.
    pub labels: Labels,
    /// Its entries in the select's range.
    pub data: Arc<dyn LogStreamData>,
}

impl std::fmt::Debug for LogSeries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogSeries")
            .field("labels", &self.labels)
            .finish_non_exhaustive()
    }
}

/// What the index knows of one stream over a time range: the figures behind Loki's
/// `index/stats` and `index/volume` answers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LogStreamStats {
    /// The stream's labels.
    pub labels: Labels,
    /// Entries in the range.
    pub entries: u64,
    /// Line bytes in the range.
    pub bytes: u64,
    /// Chunks overlapping the range.
    pub chunks: u64,
}

/// The read side of a log store.
pub trait LogQueryable: Send + Sync {
    /// Streams of `tenant` matching all `matchers` with an entry in the select's range,
    /// sorted by labels.
    fn select_logs(
        &self,
        tenant: &TenantId,
        matchers: &[Matcher],
        select: &LogSelect,
    ) -> Result<Vec<LogSeries>, StoreError>;

    /// Label names of streams matching `matchers` (all when empty) with entries in
    /// `[start_ns, end_ns)`, sorted.
    fn log_label_names(
        &self,
        tenant: &TenantId,
        matchers: &[Matcher],
        start_ns: i64,
        end_ns: i64,
    ) -> Result<Vec<String>, StoreError>;

    /// Values of label `name` over streams matching `matchers` with entries in
    /// `[start_ns, end_ns)`, sorted.
    fn log_label_values(
        &self,
        tenant: &TenantId,
        name: &str,
        matchers: &[Matcher],
        start_ns: i64,
        end_ns: i64,
    ) -> Result<Vec<String>, StoreError>;

    /// Entry, byte and chunk counts of each stream matching `matchers` with entries in
    /// `[start_ns, end_ns)`, sorted by labels. Stores answer from chunk metadata where
    /// they can (counting a chunk that straddles a range edge whole, as Loki's index
    /// does); this default reads the entries.
    fn stream_stats(
        &self,
        tenant: &TenantId,
        matchers: &[Matcher],
        start_ns: i64,
        end_ns: i64,
    ) -> Result<Vec<LogStreamStats>, StoreError> {
        let select = LogSelect {
            start_ns,
            end_ns,
            line_contains: Vec::new(),
            metadata_equals: Vec::new(),
        };
        let mut out = Vec::new();
        for series in self.select_logs(tenant, matchers, &select)? {
            let mut stats = LogStreamStats {
                labels: series.labels.clone(),
                ..LogStreamStats::default()
            };
            series
                .data
                .for_each_chunk(Direction::Forward, &mut |chunk| {
                    stats.chunks += 1;
                    stats.entries += chunk.len() as u64;
                    stats.bytes += chunk.iter().map(|e| e.line_bytes() as u64).sum::<u64>();
                    ControlFlow::Continue(())
                })?;
            out.push(stats);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_counts_entries_and_line_bytes() {
        let mut e = LogEntry::new(2, "world");
        e.metadata.push(("trace_id".into(), "abc".into()));
        let b = LogBatch {
            streams: vec![LogStream {
                labels: Labels::from_pairs(&[("job", "api")]),
                entries: vec![LogEntry::new(1, "hello"), e.clone()],
            }],
        };
        assert_eq!(b.entry_count(), 2);
        assert_eq!(b.line_bytes(), 10);
        assert_eq!(e.metadata_value("trace_id"), Some("abc"));
        assert_eq!(e.metadata_value("span_id"), None);
    }

    #[test]
    fn vec_data_reads_both_directions() {
        let d = VecLogStreamData(vec![LogEntry::new(1, "a"), LogEntry::new(2, "b")]);
        let fwd: Vec<i64> = d
            .entries(Direction::Forward)
            .unwrap()
            .iter()
            .map(|e| e.ts_ns)
            .collect();
        let bwd: Vec<i64> = d
            .entries(Direction::Backward)
            .unwrap()
            .iter()
            .map(|e| e.ts_ns)
            .collect();
        assert_eq!(fwd, vec![1, 2]);
        assert_eq!(bwd, vec![2, 1]);
    }
}
