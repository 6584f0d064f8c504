//! The head: recent spans of one tenant in memory, by trace id, until cut into blocks.
//!
//! Sharded by trace id so concurrent appenders and readers rarely meet on a lock. Each
//! trace keeps its spans (with shared resource and scope) and its time range; a span id
//! already held for the trace is not stored again. A cut freezes the head (it is only
//! read afterwards) and starts a new one.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use oxeye_core::trace::{SpanId, TraceBatch, TraceId};
use parking_lot::RwLock;

use crate::model::{ResEntry, ScopeEntry, StoredSpan, res_bytes, scope_bytes, span_bytes};

const SHARDS: usize = 16;
/// Above this many spans a trace keeps a set of its span ids for duplicate checks.
const ID_SET_FROM: usize = 32;

/// A cheap multiply-rotate hasher for trace ids (random already) and short strings.
#[derive(Default)]
pub(crate) struct FastHasher(u64);

impl Hasher for FastHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.0 =
                (self.0.rotate_left(5) ^ u64::from_le_bytes(b)).wrapping_mul(0x517c_c1b7_2722_0a95);
        }
    }

    fn write_usize(&mut self, _: usize) {}
}

pub(crate) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;
pub(crate) type IdMap<V> = FastMap<TraceId, V>;
pub(crate) type FastSet<K> = HashSet<K, BuildHasherDefault<FastHasher>>;

/// The spans of one trace in the head.
#[derive(Debug, Default)]
pub(crate) struct HeadTrace {
    pub spans: Vec<StoredSpan>,
    pub min_start: u64,
    pub max_end: u64,
    /// Clock time (ms) at which the trace first entered this head.
    pub ingest_ms: i64,
    /// Clock time (ms) at which a span was last added.
    pub last_ms: i64,
    ids: Option<HashSet<SpanId>>,
}

impl HeadTrace {
    fn contains(&self, id: &SpanId) -> bool {
        match &self.ids {
            Some(set) => set.contains(id),
            None => self.spans.iter().any(|s| &s.span.span_id == id),
        }
    }

    fn push(&mut self, s: StoredSpan) {
        if self.spans.is_empty() {
            self.min_start = s.span.start_unix_nano;
            self.max_end = s.span.end_unix_nano.max(s.span.start_unix_nano);
        } else {
            self.min_start = self.min_start.min(s.span.start_unix_nano);
            self.max_end = self
                .max_end
                .max(s.span.end_unix_nano.max(s.span.start_unix_nano));
        }
        if let Some(set) = &mut self.ids {
            set.insert(s.span.span_id);
        } else if self.spans.len() + 1 >= ID_SET_FROM {
            let mut set: HashSet<SpanId> = self.spans.iter().map(|x| x.span.span_id).collect();
            set.insert(s.span.span_id);
            self.ids = Some(set);
        }
        self.spans.push(s);
    }
}

/// One tenant's head.
#[derive(Debug)]
pub(crate) struct Head {
    shards: Vec<RwLock<IdMap<HeadTrace>>>,
    bytes: AtomicU64,
    spans: AtomicU64,
    traces: AtomicU64,
    /// Clock time of the first insert, `i64::MIN` while empty.
    first_ms: AtomicI64,
}

impl Default for Head {
    fn default() -> Self {
        Self::new()
    }
}

fn shard_of(id: &TraceId) -> usize {
    usize::from(id[15]) % SHARDS
}

impl Head {
    pub fn new() -> Head {
        Head {
            shards: (0..SHARDS).map(|_| RwLock::new(IdMap::default())).collect(),
            bytes: AtomicU64::new(0),
            spans: AtomicU64::new(0),
            traces: AtomicU64::new(0),
            first_ms: AtomicI64::new(i64::MIN),
        }
    }

    /// Stores the spans of `batch`; returns how many were new.
    ///
    /// Memory accounting: each span counts its own size; a resource or scope (shared by
    /// its spans through one `Arc`) counts once, when the first of its spans is stored.
    pub fn insert(&self, batch: TraceBatch, now_ms: i64) -> usize {
        // Per span: the span, its size, and the index of its resource and scope entry.
        let mut buckets: Vec<Vec<(StoredSpan, usize, usize, usize)>> =
            (0..SHARDS).map(|_| Vec::new()).collect();
        // Size of each resource / scope entry, taken to 0 once counted.
        let mut res_sizes: Vec<usize> = Vec::new();
        let mut scope_sizes: Vec<usize> = Vec::new();
        let mut total = 0;
        for rs in batch.resource_spans {
            let res = Arc::new(ResEntry {
                resource: rs.resource,
                schema_url: rs.schema_url,
            });
            let ri = res_sizes.len();
            res_sizes.push(res_bytes(&res));
            for ss in rs.scope_spans {
                let scope = Arc::new(ScopeEntry {
                    scope: ss.scope,
                    schema_url: ss.schema_url,
                });
                let si = scope_sizes.len();
                scope_sizes.push(scope_bytes(&scope));
                for span in ss.spans {
                    let bytes = span_bytes(&span);
                    let shard = shard_of(&span.trace_id);
                    if let Some(b) = buckets.get_mut(shard) {
                        b.push((
                            StoredSpan {
                                res: res.clone(),
                                scope: scope.clone(),
                                span,
                            },
                            bytes,
                            ri,
                            si,
                        ));
                        total += 1;
                    }
                }
            }
        }
        if total == 0 {
            return 0;
        }
        let _ =
            self.first_ms
                .compare_exchange(i64::MIN, now_ms, Ordering::AcqRel, Ordering::Acquire);
        let (mut stored, mut bytes, mut new_traces) = (0u64, 0u64, 0u64);
        for (shard, items) in self.shards.iter().zip(buckets) {
            if items.is_empty() {
                continue;
            }
            let mut map = shard.write();
            for (s, b, ri, si) in items {
                let t = map.entry(s.span.trace_id).or_insert_with(|| {
                    new_traces += 1;
                    bytes += 96;
                    HeadTrace {
                        ingest_ms: now_ms,
                        ..HeadTrace::default()
                    }
                });
                if t.contains(&s.span.span_id) {
                    continue;
                }
                t.last_ms = t.last_ms.max(now_ms);
                t.push(s);
                stored += 1;
                bytes += b as u64;
                if let Some(r) = res_sizes.get_mut(ri) {
                    bytes += std::mem::take(r) as u64;
                }
                if let Some(sc) = scope_sizes.get_mut(si) {
                    bytes += std::mem::take(sc) as u64;
                }
            }
        }
        self.spans.fetch_add(stored, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.traces.fetch_add(new_traces, Ordering::Relaxed);
        stored as usize
    }

    /// A copy of the spans of `id`.
    pub fn get(&self, id: &TraceId) -> Option<Vec<StoredSpan>> {
        let shard = self.shards.get(shard_of(id))?;
        shard.read().get(id).map(|t| t.spans.clone())
    }

    /// Trace ids with their time ranges.
    pub fn ids(&self) -> Vec<(TraceId, u64, u64)> {
        let mut out = Vec::with_capacity(self.num_traces() as usize);
        for shard in &self.shards {
            out.extend(
                shard
                    .read()
                    .iter()
                    .map(|(id, t)| (*id, t.min_start, t.max_end)),
            );
        }
        out
    }

    /// Calls `f` with every trace, sorted by id, while all shards are read-locked (for
    /// writing a frozen head out without copying it).
    pub fn with_sorted<R>(&self, f: impl FnOnce(&[(&TraceId, &HeadTrace)]) -> R) -> R {
        let guards: Vec<_> = self.shards.iter().map(|s| s.read()).collect();
        let mut all: Vec<(&TraceId, &HeadTrace)> = guards.iter().flat_map(|g| g.iter()).collect();
        all.sort_unstable_by(|a, b| a.0.cmp(b.0));
        f(&all)
    }

    /// Calls `f` for every trace (shards are read-locked one at a time).
    pub fn for_each(&self, mut f: impl FnMut(&TraceId, &HeadTrace)) {
        for shard in &self.shards {
            for (id, t) in shard.read().iter() {
                f(id, t);
            }
        }
    }

    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    pub fn num_spans(&self) -> u64 {
        self.spans.load(Ordering::Relaxed)
    }

    pub fn num_traces(&self) -> u64 {
        self.traces.load(Ordering::Relaxed)
    }

    pub fn is_empty(&self) -> bool {
        self.num_spans() == 0
    }

    /// Clock time (ms) of the first insert, if any.
    pub fn first_ms(&self) -> Option<i64> {
        let v = self.first_ms.load(Ordering::Acquire);
        (v != i64::MIN).then_some(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oxeye_core::trace::{ResourceSpans, ScopeSpans, Span};

    fn batch(spans: Vec<Span>) -> TraceBatch {
        TraceBatch {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans,
                    ..ScopeSpans::default()
                }],
                ..ResourceSpans::default()
            }],
        }
    }

    fn span(t: u8, s: u16, start: u64) -> Span {
        let mut span_id = [1u8; 8];
        span_id[..2].copy_from_slice(&s.to_le_bytes());
        Span {
            trace_id: [t; 16],
            span_id,
            start_unix_nano: start,
            end_unix_nano: start + 10,
            ..Span::default()
        }
    }

    #[test]
    fn duplicates_are_dropped_small_and_large_traces() {
        let head = Head::new();
        let spans: Vec<Span> = (0..100).map(|i| span(1, i, u64::from(i))).collect();
        assert_eq!(head.insert(batch(spans.clone()), 5), 100);
        assert_eq!(head.insert(batch(spans), 6), 0);
        assert_eq!(
            head.insert(batch(vec![span(2, 1, 50), span(2, 1, 50)]), 7),
            1
        );
        assert_eq!(head.num_spans(), 101);
        assert_eq!(head.num_traces(), 2);
        assert_eq!(head.first_ms(), Some(5));
        assert_eq!(head.get(&[1; 16]).unwrap().len(), 100);
        let ids = head.ids();
        assert!(ids.contains(&([1; 16], 0, 109)));
        assert!(head.bytes() > 0);
    }

    #[test]
    fn resource_and_scope_attributes_count_once_per_batch() {
        use oxeye_core::trace::{AnyValue, KeyValue, Resource, Scope};
        let big = |n: usize| -> Vec<KeyValue> {
            (0..n)
                .map(|i| KeyValue {
                    key: format!("k{i}"),
                    value: AnyValue::String("x".repeat(1000)),
                })
                .collect()
        };
        let make = |spans: Vec<Span>| TraceBatch {
            resource_spans: vec![ResourceSpans {
                resource: Resource {
                    attributes: big(1000),
                    dropped_attributes_count: 0,
                },
                schema_url: "s".repeat(10_000),
                scope_spans: vec![ScopeSpans {
                    scope: Scope {
                        name: "n".repeat(100_000),
                        version: "v".into(),
                        attributes: big(500),
                        dropped_attributes_count: 0,
                    },
                    spans,
                    ..ScopeSpans::default()
                }],
            }],
        };
        // One span under ~1.6 MB of resource and scope data counts that data.
        let head = Head::new();
        assert_eq!(head.insert(make(vec![span(1, 1, 5)]), 1), 1);
        let one = head.bytes();
        assert!(one > 1_600_000, "counted {one} bytes");
        // Many spans sharing the same resource and scope count it once.
        let head = Head::new();
        let spans: Vec<Span> = (0..100).map(|i| span(1, i, 5)).collect();
        assert_eq!(head.insert(make(spans), 1), 100);
        assert!(head.bytes() < one + 100 * 1000, "counted {}", head.bytes());
        // A batch whose spans are all duplicates adds nothing.
        let before = head.bytes();
        assert_eq!(head.insert(make(vec![span(1, 1, 5)]), 2), 0);
        assert_eq!(head.bytes(), before);
    }
}
