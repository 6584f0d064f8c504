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

use std::cell::OnceCell;
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

/// A trace prepared for evaluation. Parent links and the nested-set numbering are
/// computed on first use, so plain filters cost no more than a pass over the spans.
#[derive(Debug)]
pub(crate) struct TraceCtx<'t> {
    pub trace_id: TraceId,
    pub spans: Vec<SpanRef<'t>>,
    /// The earliest span without a parent id.
    pub root: Option<usize>,
    pub start: u64,
    pub end: u64,
    links: OnceCell<Links>,
    nested: OnceCell<Vec<NestedSet>>,
}

/// Parent links between the spans of a trace.
#[derive(Debug)]
pub(crate) struct Links {
    /// Index of each span's parent, when the parent is in the trace.
    pub parent: Vec<Option<usize>>,
    /// Number of children of each span present in the trace.
    pub child_count: Vec<usize>,
}

/// A span's position in the nested-set numbering of its tree: `left` and `right`
/// enclose the numbers of all descendants; `parent` is the parent's `left`, -1 for a
/// span whose parent is not in the trace.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct NestedSet {
    pub left: i64,
    pub right: i64,
    pub parent: i64,
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
            root,
            start,
            end,
            links: OnceCell::new(),
            nested: OnceCell::new(),
        }
    }

    /// Parent links, resolved by span id on first use.
    pub(crate) fn links(&self) -> &Links {
        self.links.get_or_init(|| {
            let by_id: HashMap<SpanId, usize> = self
                .spans
                .iter()
                .enumerate()
                .map(|(i, s)| (s.span.span_id, i))
                .collect();
            let parent: Vec<Option<usize>> = self
                .spans
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
            let mut child_count = vec![0; self.spans.len()];
            for p in parent.iter().flatten() {
                if let Some(c) = child_count.get_mut(*p) {
                    *c += 1;
                }
            }
            Links {
                parent,
                child_count,
            }
        })
    }

    /// Nested-set numbers, computed on first use: a depth-first walk from each
    /// top-level span, in start order, visiting children in start order.
    pub(crate) fn nested_sets(&self) -> &[NestedSet] {
        self.nested.get_or_init(|| {
            let n = self.spans.len();
            let start_of = |i: &usize| {
                self.spans
                    .get(*i)
                    .map(|s| (s.span.start_unix_nano, *i))
                    .unwrap_or((0, *i))
            };
            let mut children: Vec<Vec<usize>> = vec![Vec::new(); n];
            let mut tops: Vec<usize> = Vec::new();
            for (i, p) in self.links().parent.iter().enumerate() {
                match p.and_then(|p| children.get_mut(p)) {
                    Some(c) => c.push(i),
                    None => tops.push(i),
                }
            }
            for c in &mut children {
                c.sort_by_key(start_of);
            }
            tops.sort_by_key(start_of);
            let mut out = vec![NestedSet::default(); n];
            let mut visited = vec![false; n];
            let mut counter: i64 = 0;
            // explicit stack: (span, parent's left, children entered)
            for top in tops {
                let mut stack: Vec<(usize, i64, bool)> = vec![(top, -1, false)];
                while let Some((i, parent_left, entered)) = stack.pop() {
                    if entered {
                        counter += 1;
                        if let Some(ns) = out.get_mut(i) {
                            ns.right = counter;
                        }
                        continue;
                    }
                    if visited.get(i).copied().unwrap_or(true) {
                        continue;
                    }
                    if let Some(v) = visited.get_mut(i) {
                        *v = true;
                    }
                    counter += 1;
                    let left = counter;
                    if let Some(ns) = out.get_mut(i) {
                        ns.left = left;
                        ns.parent = parent_left;
                    }
                    stack.push((i, parent_left, true));
                    for &c in children.get(i).into_iter().flatten().rev() {
                        stack.push((c, left, false));
                    }
                }
            }
            out
        })
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
            let lm = merge_all(&eval_spanset(lhs, cx, input));
            // a missing left side decides `&&` and the positive structural operators
            if lm.is_none() && !matches!(op, SpansetOp::Or) && !structural::is_negated(*op) {
                return Vec::new();
            }
            let rm = merge_all(&eval_spanset(rhs, cx, input));
            match (op, lm, rm) {
                (SpansetOp::And | SpansetOp::Or, Some(mut a), Some(b)) => {
                    a.absorb(&b);
                    vec![a]
                }
                (SpansetOp::Or, Some(a), None) | (SpansetOp::Or, None, Some(a)) => vec![a],
                (SpansetOp::And | SpansetOp::Or, _, _) => Vec::new(),
                (_, _, None) => Vec::new(),
                (structural_op, lm, Some(rset)) => {
                    let lset = lm.unwrap_or_default();
                    let spans = structural::relate(*structural_op, cx, &lset.spans, &rset.spans);
                    if spans.is_empty() {
                        return Vec::new();
                    }
                    let mut both = lset;
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
