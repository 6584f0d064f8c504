//! How the store holds spans between decoding and answering: every span keeps shared
//! pointers to its resource and scope (with their schema URLs), so a batch's resource is
//! stored once however many spans it has. [`build_trace`] turns the parts of one trace
//! gathered from head and blocks into a [`Trace`]: duplicate span ids dropped, spans
//! regrouped by resource and scope (by shared pointer, then by value for a bounded number
//! of distinct resources, so regrouping stays linear in the spans).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use oxeye_core::trace::{
    AnyValue, KeyValue, Resource, ResourceSpans, Scope, ScopeSpans, Span, SpanId, Trace, TraceId,
};

use crate::page::Interner;

/// A resource with the schema URL of its `ResourceSpans`.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct ResEntry {
    pub resource: Resource,
    pub schema_url: String,
}

/// A scope with the schema URL of its `ScopeSpans`.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct ScopeEntry {
    pub scope: Scope,
    pub schema_url: String,
}

/// One stored span with its resource and scope.
#[derive(Debug, Clone)]
pub(crate) struct StoredSpan {
    pub res: Arc<ResEntry>,
    pub scope: Arc<ScopeEntry>,
    pub span: Span,
}

/// Rough in-memory size of a value, for head accounting.
pub(crate) fn value_bytes(v: &AnyValue) -> usize {
    std::mem::size_of::<AnyValue>()
        + match v {
            AnyValue::String(s) => s.len(),
            AnyValue::Bytes(b) => b.len(),
            AnyValue::Array(a) => a.iter().map(value_bytes).sum(),
            AnyValue::KvList(kvs) => attrs_bytes(kvs),
            _ => 0,
        }
}

pub(crate) fn attrs_bytes(kvs: &[KeyValue]) -> usize {
    kvs.iter()
        .map(|kv| std::mem::size_of::<KeyValue>() + kv.key.len() + value_bytes(&kv.value))
        .sum()
}

/// Rough in-memory size of a span (struct, strings, attributes, events, links).
pub(crate) fn span_bytes(s: &Span) -> usize {
    std::mem::size_of::<StoredSpan>()
        + s.name.len()
        + s.trace_state.len()
        + s.status_message.len()
        + attrs_bytes(&s.attributes)
        + s.events
            .iter()
            .map(|e| 64 + e.name.len() + attrs_bytes(&e.attributes))
            .sum::<usize>()
        + s.links
            .iter()
            .map(|l| 96 + l.trace_state.len() + attrs_bytes(&l.attributes))
            .sum::<usize>()
}

/// Rough in-memory size of a resource entry (attributes and schema URL), counted once
/// per batch however many spans share it.
pub(crate) fn res_bytes(r: &ResEntry) -> usize {
    std::mem::size_of::<ResEntry>() + attrs_bytes(&r.resource.attributes) + r.schema_url.len()
}

/// Rough in-memory size of a scope entry (name, version, attributes, schema URL).
pub(crate) fn scope_bytes(s: &ScopeEntry) -> usize {
    std::mem::size_of::<ScopeEntry>()
        + s.scope.name.len()
        + s.scope.version.len()
        + attrs_bytes(&s.scope.attributes)
        + s.schema_url.len()
}

/// Merges the parts of one trace: sorts spans by start time, drops repeated span ids
/// (the first seen wins), and regroups by resource and scope.
pub(crate) fn build_trace(trace_id: TraceId, mut spans: Vec<StoredSpan>) -> Trace {
    let mut seen: HashSet<SpanId> = HashSet::with_capacity(spans.len());
    spans.retain(|s| seen.insert(s.span.span_id));
    spans.sort_by(|a, b| {
        (a.span.start_unix_nano, a.span.span_id).cmp(&(b.span.start_unix_nano, b.span.span_id))
    });
    // group keys first, while every span (so every Arc) is alive: linear in the spans
    let mut res_ix = Interner::<ResEntry>::new();
    let mut scope_ix = Interner::<ScopeEntry>::new();
    let keys: Vec<(u32, u32)> = spans
        .iter()
        .map(|s| (res_ix.idx(&s.res), scope_ix.idx(&s.scope)))
        .collect();
    let mut groups: Vec<(Arc<ResEntry>, Vec<(Arc<ScopeEntry>, Vec<Span>)>)> = Vec::new();
    let mut group_of: HashMap<u32, usize> = HashMap::new();
    let mut scope_of: HashMap<(u32, u32), usize> = HashMap::new();
    for (s, (rk, sk)) in spans.into_iter().zip(keys) {
        let ri = *group_of.entry(rk).or_insert_with(|| {
            groups.push((s.res.clone(), Vec::new()));
            groups.len() - 1
        });
        let Some((_, scopes)) = groups.get_mut(ri) else {
            debug_assert!(false, "group {ri} was just looked up");
            continue;
        };
        let si = *scope_of.entry((rk, sk)).or_insert_with(|| {
            scopes.push((s.scope.clone(), Vec::new()));
            scopes.len() - 1
        });
        if let Some((_, list)) = scopes.get_mut(si) {
            list.push(s.span);
        }
    }
    Trace {
        trace_id,
        resource_spans: groups
            .into_iter()
            .map(|(res, scopes)| ResourceSpans {
                resource: res.resource.clone(),
                schema_url: res.schema_url.clone(),
                scope_spans: scopes
                    .into_iter()
                    .map(|(sc, spans)| ScopeSpans {
                        scope: sc.scope.clone(),
                        schema_url: sc.schema_url.clone(),
                        spans,
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// Whether a trace has a span overlapping `[start, end]`.
pub(crate) fn overlaps(trace: &Trace, start: u64, end: u64) -> bool {
    trace.spans().any(|(_, _, s)| {
        s.end_unix_nano.max(s.start_unix_nano) >= start && s.start_unix_nano <= end
    })
}

/// Earliest start and latest end of some spans.
pub(crate) fn time_range<'a>(spans: impl Iterator<Item = &'a Span>) -> Option<(u64, u64)> {
    spans.fold(None, |acc, s| {
        let end = s.end_unix_nano.max(s.start_unix_nano);
        Some(match acc {
            None => (s.start_unix_nano, end),
            Some((a, b)) => (a.min(s.start_unix_nano), b.max(end)),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(res: &Arc<ResEntry>, scope: &Arc<ScopeEntry>, id: u8, start: u64) -> StoredSpan {
        StoredSpan {
            res: res.clone(),
            scope: scope.clone(),
            span: Span {
                trace_id: [1; 16],
                span_id: [id; 8],
                start_unix_nano: start,
                end_unix_nano: start + 1,
                ..Span::default()
            },
        }
    }

    #[test]
    fn merges_equal_resources_and_drops_duplicates() {
        let r1 = Arc::new(ResEntry {
            resource: Resource {
                attributes: vec![KeyValue::string("service.name", "a")],
                ..Resource::default()
            },
            schema_url: String::new(),
        });
        // equal by value, different allocation (as from two blocks)
        let r1b = Arc::new((*r1).clone());
        let r2 = Arc::new(ResEntry::default());
        let sc = Arc::new(ScopeEntry::default());
        let t = build_trace(
            [1; 16],
            vec![
                stored(&r1, &sc, 3, 30),
                stored(&r2, &sc, 2, 20),
                stored(&r1b, &sc, 1, 10),
                stored(&r1b, &sc, 3, 30),
            ],
        );
        assert_eq!(t.span_count(), 3);
        assert_eq!(t.resource_spans.len(), 2);
        let first: Vec<u8> = t.resource_spans[0].scope_spans[0]
            .spans
            .iter()
            .map(|s| s.span_id[0])
            .collect();
        assert_eq!(first, vec![1, 3]);
    }

    #[test]
    fn many_resources_regroup_each_span_under_its_own() {
        const N: u32 = 20_000;
        let sc = Arc::new(ScopeEntry::default());
        let spans: Vec<StoredSpan> = (0..N)
            .rev()
            .map(|i| {
                let res = Arc::new(ResEntry {
                    resource: Resource {
                        attributes: vec![KeyValue::string("service.name", format!("svc-{i}"))],
                        ..Resource::default()
                    },
                    schema_url: String::new(),
                });
                let mut span_id = [0u8; 8];
                span_id[..4].copy_from_slice(&i.to_le_bytes());
                StoredSpan {
                    res,
                    scope: sc.clone(),
                    span: Span {
                        trace_id: [1; 16],
                        span_id,
                        start_unix_nano: u64::from(i),
                        end_unix_nano: u64::from(i) + 1,
                        ..Span::default()
                    },
                }
            })
            .collect();
        let t = build_trace([1; 16], spans);
        assert_eq!(t.resource_spans.len(), N as usize);
        for (i, rs) in t.resource_spans.iter().enumerate() {
            let want = format!("svc-{i}");
            assert_eq!(rs.resource.service_name(), Some(want.as_str()));
            assert_eq!(rs.scope_spans.len(), 1);
            let spans = &rs.scope_spans[0].spans;
            assert_eq!(spans.len(), 1);
            assert_eq!(spans[0].start_unix_nano, i as u64, "span under {want}");
        }
    }
}
