//! Reading one stream: its chunks (in files, sealed in the head, the head's open run)
//! decoded one at a time in the asked direction.
//!
//! Chunks of a stream can overlap in time (out-of-order writes, a head cut in the middle
//! of a late batch). Sources are sorted by start time and grouped so that no two groups
//! overlap; a group of one chunk is passed on as decoded, a group of several is merged
//! and deduplicated (same time and line) before it is passed on. A reader that breaks
//! early (a backward query with a small limit) decodes nothing past its last group.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use oxeye_core::StoreError;
use oxeye_core::logs::{Direction, LogEntry, LogStreamData};

use crate::LogStoreError;
use crate::chunk::{EncodedChunk, Keep, sort_dedup};
use crate::file::ChunkFile;

/// Where a chunk's entries come from.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    File(Arc<ChunkFile>, usize),
    Sealed(Arc<EncodedChunk>),
    /// The head's open run (shared) and the index range of the entries in the select.
    Open(Arc<Vec<LogEntry>>, std::ops::Range<usize>),
}

#[derive(Debug, Clone)]
pub(crate) struct Part {
    pub min_ts: i64,
    pub max_ts: i64,
    pub source: Source,
}

impl Part {
    fn load(&self, decoded: &AtomicU64, keep: Keep<'_>) -> Result<Vec<LogEntry>, LogStoreError> {
        match &self.source {
            Source::File(f, i) => {
                decoded.fetch_add(1, Ordering::Relaxed);
                f.read_chunk_with(*i, keep)
            }
            Source::Sealed(c) => {
                decoded.fetch_add(1, Ordering::Relaxed);
                c.decode_with(keep)
                    .map_err(|e| LogStoreError::Corrupt(format!("head chunk: {e}")))
            }
            Source::Open(v, range) => Ok(v
                .get(range.clone())
                .unwrap_or_default()
                .iter()
                .filter(|e| keep(e.ts_ns, &e.line))
                .cloned()
                .collect()),
        }
    }
}

/// A stream's data for one select.
#[derive(Debug)]
pub(crate) struct StreamData {
    /// Non-overlapping groups of parts, oldest first.
    groups: Vec<Vec<Part>>,
    start: i64,
    end: i64,
    /// Counts chunks decoded, for the store's figures.
    decoded: Arc<AtomicU64>,
    /// The select's `line_contains` hints: every line a query can return contains them
    /// all, so lines without one are dropped here already (the query re-checks anyway).
    needles: Vec<String>,
}

impl StreamData {
    pub fn new(
        mut parts: Vec<Part>,
        start: i64,
        end: i64,
        needles: Vec<String>,
        decoded: Arc<AtomicU64>,
    ) -> Self {
        parts.sort_by_key(|p| (p.min_ts, p.max_ts));
        let mut groups: Vec<Vec<Part>> = Vec::new();
        let mut group_max = i64::MIN;
        for p in parts {
            match groups.last_mut() {
                Some(g) if p.min_ts <= group_max => {
                    group_max = group_max.max(p.max_ts);
                    g.push(p);
                }
                _ => {
                    group_max = p.max_ts;
                    groups.push(vec![p]);
                }
            }
        }
        Self {
            groups,
            start,
            end,
            decoded,
            needles,
        }
    }

    fn load_group(&self, g: &[Part]) -> Result<Vec<LogEntry>, LogStoreError> {
        let mut out = Vec::new();
        for p in g {
            let keep = |ts: i64, line: &str| {
                ts >= self.start
                    && ts < self.end
                    && self.needles.iter().all(|n| line.contains(n.as_str()))
            };
            let mut es = p.load(&self.decoded, &keep)?;
            if out.is_empty() {
                out = es;
            } else {
                out.append(&mut es);
            }
        }
        if g.len() > 1 {
            sort_dedup(&mut out);
        }
        Ok(out)
    }
}

impl LogStreamData for StreamData {
    fn for_each_chunk(
        &self,
        direction: Direction,
        f: &mut dyn FnMut(&[LogEntry]) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        let mut visit = |g: &Vec<Part>| -> Result<ControlFlow<()>, StoreError> {
            let mut es = self.load_group(g)?;
            if es.is_empty() {
                return Ok(ControlFlow::Continue(()));
            }
            if direction == Direction::Backward {
                es.reverse();
            }
            Ok(f(&es))
        };
        match direction {
            Direction::Forward => {
                for g in &self.groups {
                    if visit(g)?.is_break() {
                        break;
                    }
                }
            }
            Direction::Backward => {
                for g in self.groups.iter().rev() {
                    if visit(g)?.is_break() {
                        break;
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::encode_chunk;

    fn part(es: Vec<LogEntry>) -> Part {
        let c = encode_chunk(&es, 1);
        Part {
            min_ts: c.meta.min_ts,
            max_ts: c.meta.max_ts,
            source: Source::Sealed(Arc::new(c)),
        }
    }

    #[test]
    fn merges_overlapping_parts_and_stops_early() {
        let a: Vec<LogEntry> = (0..10)
            .map(|i| LogEntry::new(i * 2, format!("a{i}")))
            .collect();
        let b: Vec<LogEntry> = (0..10)
            .map(|i| LogEntry::new(i * 2 + 1, format!("b{i}")))
            .collect();
        let c: Vec<LogEntry> = (100..105)
            .map(|i| LogEntry::new(i, format!("c{i}")))
            .collect();
        let dup = vec![LogEntry::new(4, "a2")];
        let open = Part {
            min_ts: 4,
            max_ts: 4,
            source: Source::Open(Arc::new(dup), 0..1),
        };
        let decoded = Arc::new(AtomicU64::new(0));
        let d = StreamData::new(
            vec![part(c.clone()), part(b.clone()), part(a.clone()), open],
            1,
            104,
            Vec::new(),
            decoded.clone(),
        );
        let fwd: Vec<i64> = d
            .entries(Direction::Forward)
            .unwrap()
            .iter()
            .map(|e| e.ts_ns)
            .collect();
        let want: Vec<i64> = (1..20).chain(100..104).collect();
        assert_eq!(fwd, want);
        let bwd: Vec<i64> = d
            .entries(Direction::Backward)
            .unwrap()
            .iter()
            .map(|e| e.ts_ns)
            .collect();
        assert_eq!(bwd, want.iter().rev().copied().collect::<Vec<_>>());
        let mut calls = 0;
        d.for_each_chunk(Direction::Backward, &mut |es| {
            calls += 1;
            assert_eq!(es.first().map(|e| e.ts_ns), Some(103));
            ControlFlow::Break(())
        })
        .unwrap();
        assert_eq!(calls, 1);
        // two full reads of three chunks, then one chunk
        assert_eq!(decoded.load(Ordering::Relaxed), 7);
        // needles drop lines without them
        let d = StreamData::new(
            vec![part(a), part(b), part(c)],
            0,
            200,
            vec!["b1".into()],
            decoded,
        );
        let got: Vec<String> = d
            .entries(Direction::Forward)
            .unwrap()
            .into_iter()
            .map(|e| e.line)
            .collect();
        assert_eq!(got, vec!["b1"]);
    }
}
