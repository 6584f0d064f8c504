//! [`MemTraceStore`]: traces held in memory, for tests of anything above the trace traits.
//!
//! It implements [`SpanAppender`] and [`TraceQueryable`] with the same observable rules
//! as the real store (spans of a trace regrouped by resource and scope, duplicates by span
//! id dropped, newest traces visited first), without durability or indexes.

use std::collections::{BTreeSet, HashMap};
use std::ops::ControlFlow;
use std::sync::Mutex;

use crate::trace::{
    AnyValue, AttrScope, Operation, Resource, ResourceSpans, Scope, ScopeSpans, Span,
    SpanAppendStats, SpanAppender, TagNames, Trace, TraceBatch, TraceId, TraceQueryable, TraceScan,
};
use crate::{StoreError, TenantId};

type Stored = (Resource, Scope, Span);

/// Traces in memory, per tenant.
#[derive(Debug, Default)]
pub struct MemTraceStore {
    tenants: Mutex<HashMap<TenantId, HashMap<TraceId, Vec<Stored>>>>,
}

impl MemTraceStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn with<R>(
        &self,
        f: impl FnOnce(&mut HashMap<TenantId, HashMap<TraceId, Vec<Stored>>>) -> R,
    ) -> R {
        let mut guard = match self.tenants.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut guard)
    }

    fn traces_of(&self, tenant: &TenantId) -> Vec<Trace> {
        self.with(|t| {
            t.get(tenant)
                .map(|m| m.iter().map(|(id, spans)| regroup(*id, spans)).collect())
                .unwrap_or_default()
        })
    }
}

/// Regroups stored spans into a [`Trace`], resources and scopes in first-seen order.
fn regroup(trace_id: TraceId, spans: &[Stored]) -> Trace {
    let mut out: Vec<ResourceSpans> = Vec::new();
    for (res, scope, span) in spans {
        let ri = match out.iter().position(|r| &r.resource == res) {
            Some(i) => i,
            None => {
                out.push(ResourceSpans {
                    resource: res.clone(),
                    ..ResourceSpans::default()
                });
                out.len() - 1
            }
        };
        let rs = &mut out[ri];
        let si = match rs.scope_spans.iter().position(|s| &s.scope == scope) {
            Some(i) => i,
            None => {
                rs.scope_spans.push(ScopeSpans {
                    scope: scope.clone(),
                    ..ScopeSpans::default()
                });
                rs.scope_spans.len() - 1
            }
        };
        rs.scope_spans[si].spans.push(span.clone());
    }
    Trace {
        trace_id,
        resource_spans: out,
    }
}

fn overlaps(trace: &Trace, start: u64, end: u64) -> bool {
    trace
        .spans()
        .any(|(_, _, s)| s.end_unix_nano >= start && s.start_unix_nano <= end)
}

impl SpanAppender for MemTraceStore {
    fn append_spans(
        &self,
        tenant: &TenantId,
        batch: TraceBatch,
    ) -> Result<SpanAppendStats, StoreError> {
        let mut stored = 0;
        self.with(|t| {
            let traces = t.entry(tenant.clone()).or_default();
            for (res, scope, span) in batch.spans() {
                let spans = traces.entry(span.trace_id).or_default();
                if spans.iter().any(|(_, _, s)| s.span_id == span.span_id) {
                    continue;
                }
                spans.push((res.clone(), scope.clone(), span.clone()));
                stored += 1;
            }
        });
        Ok(SpanAppendStats { spans: stored })
    }
}

impl TraceQueryable for MemTraceStore {
    fn trace_by_id(
        &self,
        tenant: &TenantId,
        trace_id: &TraceId,
        _range: Option<(u64, u64)>,
    ) -> Result<Option<Trace>, StoreError> {
        Ok(self.with(|t| {
            t.get(tenant)
                .and_then(|m| m.get(trace_id))
                .map(|spans| regroup(*trace_id, spans))
        }))
    }

    fn scan(
        &self,
        tenant: &TenantId,
        scan: &TraceScan,
        visit: &mut dyn FnMut(&Trace) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        let mut traces: Vec<Trace> = self
            .traces_of(tenant)
            .into_iter()
            .filter(|t| overlaps(t, scan.start_nanos, scan.end_nanos))
            .collect();
        // newest first, ties by id so the order is stable
        traces.sort_by_key(|t| {
            let start = t.time_range().map(|r| r.0).unwrap_or(0);
            (std::cmp::Reverse(start), t.trace_id)
        });
        for t in &traces {
            if visit(t).is_break() {
                break;
            }
        }
        Ok(())
    }

    fn tag_names(&self, tenant: &TenantId, start: u64, end: u64) -> Result<TagNames, StoreError> {
        let mut out = TagNames::default();
        for t in self.traces_of(tenant) {
            if !overlaps(&t, start, end) {
                continue;
            }
            for (res, _, span) in t.spans() {
                out.resource
                    .extend(res.attributes.iter().map(|kv| kv.key.clone()));
                out.span
                    .extend(span.attributes.iter().map(|kv| kv.key.clone()));
            }
        }
        Ok(out)
    }

    fn tag_values(
        &self,
        tenant: &TenantId,
        scope: Option<AttrScope>,
        key: &str,
        start: u64,
        end: u64,
        limit: usize,
    ) -> Result<Vec<AnyValue>, StoreError> {
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for t in self.traces_of(tenant) {
            if !overlaps(&t, start, end) {
                continue;
            }
            for (res, _, span) in t.spans() {
                let mut lists = Vec::new();
                if scope != Some(AttrScope::Span) {
                    lists.push(&res.attributes);
                }
                if scope != Some(AttrScope::Resource) {
                    lists.push(&span.attributes);
                }
                for kv in lists.into_iter().flatten().filter(|kv| kv.key == key) {
                    if out.len() < limit && seen.insert(format!("{:?}", kv.value)) {
                        out.push(kv.value.clone());
                    }
                }
            }
        }
        Ok(out)
    }

    fn operations(
        &self,
        tenant: &TenantId,
        service: Option<&str>,
        start: u64,
        end: u64,
    ) -> Result<Vec<Operation>, StoreError> {
        let mut ops = BTreeSet::new();
        for t in self.traces_of(tenant) {
            for (res, _, span) in t.spans() {
                if span.end_unix_nano < start || span.start_unix_nano > end {
                    continue;
                }
                let svc = res.service_name().unwrap_or_default();
                if service.is_some_and(|s| s != svc) {
                    continue;
                }
                ops.insert(Operation {
                    service: svc.to_string(),
                    name: span.name.clone(),
                    kind: span.kind,
                });
            }
        }
        Ok(ops.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::KeyValue;

    fn batch(trace: u8, span: u8, service: &str, start: u64) -> TraceBatch {
        TraceBatch {
            resource_spans: vec![ResourceSpans {
                resource: Resource {
                    attributes: vec![KeyValue::string("service.name", service)],
                    ..Resource::default()
                },
                scope_spans: vec![ScopeSpans {
                    spans: vec![Span {
                        trace_id: [trace; 16],
                        span_id: [span; 8],
                        name: format!("op{span}"),
                        start_unix_nano: start,
                        end_unix_nano: start + 5,
                        ..Span::default()
                    }],
                    ..ScopeSpans::default()
                }],
                ..ResourceSpans::default()
            }],
        }
    }

    #[test]
    fn regroups_drops_duplicates_and_scans_newest_first() {
        let store = MemTraceStore::new();
        let t = TenantId::new("a").unwrap();
        store.append_spans(&t, batch(1, 1, "api", 10)).unwrap();
        store.append_spans(&t, batch(1, 2, "db", 12)).unwrap();
        let dup = store.append_spans(&t, batch(1, 2, "db", 12)).unwrap();
        assert_eq!(dup.spans, 0);
        store.append_spans(&t, batch(2, 1, "api", 100)).unwrap();
        let trace = store.trace_by_id(&t, &[1; 16], None).unwrap().unwrap();
        assert_eq!(trace.span_count(), 2);
        assert_eq!(trace.resource_spans.len(), 2);
        let mut order = Vec::new();
        let scan = TraceScan {
            start_nanos: 0,
            end_nanos: u64::MAX,
            hints: Vec::new(),
        };
        store
            .scan(&t, &scan, &mut |tr| {
                order.push(tr.trace_id[0]);
                ControlFlow::Continue(())
            })
            .unwrap();
        assert_eq!(order, vec![2, 1]);
        let other = TenantId::new("b").unwrap();
        assert!(store.trace_by_id(&other, &[1; 16], None).unwrap().is_none());
        let ops = store.operations(&t, Some("db"), 0, u64::MAX).unwrap();
        assert_eq!(ops.len(), 1);
        assert_eq!(ops[0].name, "op2");
    }
}
