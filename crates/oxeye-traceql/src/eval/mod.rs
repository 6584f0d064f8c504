//! Evaluation of a query over one trace.
//!
//! A [`TraceCtx`] flattens the trace's spans into a vector (with their resource and
//! scope) and resolves parent links, so spansets are sorted vectors of span indexes.
//! Evaluation starts from one spanset holding every span; each spanset expression maps
//! an input spanset to at most one output spanset (filters keep matching spans, `&&`,
//! `||` and the structural operators combine the spans their sides matched), and each
//! pipeline stage maps the list of spansets to a new list (`by` splits, `coalesce`
//! merges, aggregate filters drop). The trace matches when the final list is non-empty;
//! no stage ever yields an empty spanset.

mod pipeline;
mod structural;
pub(crate) mod value;

use std::collections::{BTreeMap, HashMap};

use oxeye_core::trace::{KeyValue, Resource, Scope, Span, SpanId, Trace, TraceId};

use crate::ast::{SpansetExpr, SpansetOp};
use value::{Value, eval_field};

/// One span with what it was recorded under.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SpanRef<'t> {
    pub resource: &'t Resource,
    pub scope: &'t Scope,
    pub span: &'t Span,
}

/// A trace prepared for evaluation.
#[derive(Debug)]
pub(crate) struct TraceCtx<'t> {
    pub trace_id: TraceId,
    pub spans: Vec<SpanRef<'t>>,
    /// Index of each span's parent, when the parent is in the trace.
    pub parent: Vec<Option<usize>>,
    pub child_count: Vec<usize>,
    /// The earliest span without a parent id.
    pub root: Option<usize>,
    pub start: u64,
    pub end: u64,
}

impl<'t> TraceCtx<'t> {
    pub(crate) fn new(trace: &'t Trace) -> Self {
        let spans: Vec<SpanRef<'t>> = trace
            .spans()
            .map(|(resource, scope, span)| SpanRef {
                resource,
                scope,
                span,
            })
            .collect();
        let by_id: HashMap<SpanId, usize> = spans
            .iter()
            .enumerate()
            .map(|(i, s)| (s.span.span_id, i))
            .collect();
        let parent: Vec<Option<usize>> = spans
            .iter()
            .enumerate()
            .map(|(i, s)| {
                if s.span.is_root() {
                    return None;
                }
                by_id
                    .get(&s.span.parent_span_id)
                    .copied()
                    .filter(|p| *p != i)
            })
            .collect();
        let mut child_count = vec![0; spans.len()];
        for p in parent.iter().flatten() {
            if let Some(c) = child_count.get_mut(*p) {
                *c += 1;
            }
        }
        let root = spans
            .iter()
            .enumerate()
            .filter(|(_, s)| s.span.is_root())
            .min_by_key(|(i, s)| (s.span.start_unix_nano, *i))
            .map(|(i, _)| i);
        let (start, end) = trace.time_range().unwrap_or((0, 0));
        TraceCtx {
            trace_id: trace.trace_id,
            spans,
            parent,
            child_count,
            root,
            start,
            end,
        }
    }
}

/// A spanset during evaluation.
#[derive(Debug, Clone, Default)]
pub(crate) struct Set {
    /// Sorted, unique span indexes.
    pub spans: Vec<usize>,
    /// Spanset attributes (`by()` values, aggregate results).
    pub attrs: Vec<KeyValue>,
    /// Values `select()` attached, per span.
    pub selected: BTreeMap<usize, Vec<KeyValue>>,
}

impl Set {
    fn with_spans(&self, spans: Vec<usize>) -> Set {
        let selected = self
            .selected
            .iter()
            .filter(|(i, _)| spans.binary_search(i).is_ok())
            .map(|(i, kv)| (*i, kv.clone()))
            .collect();
        Set {
            spans,
            attrs: self.attrs.clone(),
            selected,
        }
    }

    /// Adds `other`'s spans and attributes to `self`.
    pub(crate) fn absorb(&mut self, other: &Set) {
        let mut spans = std::mem::take(&mut self.spans);
        spans.extend_from_slice(&other.spans);
        spans.sort_unstable();
        spans.dedup();
        self.spans = spans;
        for kv in &other.attrs {
            push_unique(&mut self.attrs, kv.clone());
        }
        for (i, kvs) in &other.selected {
            let slot = self.selected.entry(*i).or_default();
            for kv in kvs {
                push_unique(slot, kv.clone());
            }
        }
    }
}

/// Appends `kv` unless its key is already present.
pub(crate) fn push_unique(list: &mut Vec<KeyValue>, kv: KeyValue) {
    if !list.iter().any(|x| x.key == kv.key) {
        list.push(kv);
    }
}

fn merge_all(sets: &[Set]) -> Option<Set> {
    let (first, rest) = sets.split_first()?;
    let mut out = first.clone();
    for s in rest {
        out.absorb(s);
    }
    Some(out)
}

/// Evaluates `expr` on one input spanset.
pub(crate) fn eval_spanset<'a>(expr: &'a SpansetExpr, cx: &TraceCtx<'a>, input: &Set) -> Vec<Set> {
    match expr {
        SpansetExpr::Filter(f) => {
            let spans: Vec<usize> = input
                .spans
                .iter()
                .copied()
                .filter(|i| matches!(eval_field(f, cx, *i), Value::Bool(true)))
                .collect();
            if spans.is_empty() {
                return Vec::new();
            }
            vec![input.with_spans(spans)]
        }
        SpansetExpr::Binary { op, lhs, rhs } => {
            let l = eval_spanset(lhs, cx, input);
            let r = eval_spanset(rhs, cx, input);
            let (lm, rm) = (merge_all(&l), merge_all(&r));
            match op {
                SpansetOp::And => match (lm, rm) {
                    (Some(mut a), Some(b)) => {
                        a.absorb(&b);
                        vec![a]
                    }
                    _ => Vec::new(),
                },
                SpansetOp::Or => match (lm, rm) {
                    (Some(mut a), Some(b)) => {
                        a.absorb(&b);
                        vec![a]
                    }
                    (Some(a), None) | (None, Some(a)) => vec![a],
                    (None, None) => Vec::new(),
                },
                structural_op => {
                    let empty = Set::default();
                    let lset = lm.unwrap_or_default();
                    let Some(rset) = rm else {
                        return Vec::new();
                    };
                    let spans = structural::relate(*structural_op, cx, &lset.spans, &rset.spans);
                    if spans.is_empty() {
                        return Vec::new();
                    }
                    let mut both = empty;
                    both.absorb(&lset);
                    both.absorb(&rset);
                    vec![both.with_spans(spans)]
                }
            }
        }
        SpansetExpr::Pipeline {
            input: inner,
            stage,
        } => {
            let sets = eval_spanset(inner, cx, input);
            pipeline::apply(stage, cx, sets)
        }
    }
}

/// Evaluates a query over a whole trace.
pub(crate) fn eval_trace<'a>(expr: &'a SpansetExpr, cx: &TraceCtx<'a>) -> Vec<Set> {
    let all = Set {
        spans: (0..cx.spans.len()).collect(),
        ..Set::default()
    };
    if all.spans.is_empty() {
        return Vec::new();
    }
    eval_spanset(expr, cx, &all)
        .into_iter()
        .filter(|s| !s.spans.is_empty())
        .collect()
}
