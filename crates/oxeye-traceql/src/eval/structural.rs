//! Structural operators: relations between the spans each side of `>`, `>>`, `<`, `<<`,
//! `~` matched, and their negated (`!>`...) and union (`&>`...) forms.
//!
//! The plain forms return the right-hand spans that stand in the relation to some
//! left-hand span; the negated forms the right-hand spans that do not; the union forms
//! the right-hand spans that do plus the left-hand spans they relate to. Siblings share
//! a parent id and are distinct spans.
//!
//! Each relation costs O(n log n) at most: child and parent follow one parent link per
//! span, ancestor and descendant sweep the nested-set intervals, siblings group the
//! spans by parent id.

use std::collections::HashMap;

use crate::ast::SpansetOp;
use crate::eval::TraceCtx;

fn parent_id(cx: &TraceCtx<'_>, i: usize) -> Option<[u8; 8]> {
    let s = cx.spans.get(i)?;
    if s.span.is_root() {
        None
    } else {
        Some(s.span.parent_span_id)
    }
}

/// Whether `op` is one of the negated forms, which hold when the left side is empty.
pub(crate) fn is_negated(op: SpansetOp) -> bool {
    matches!(
        op,
        SpansetOp::NotChild
            | SpansetOp::NotDescendant
            | SpansetOp::NotParent
            | SpansetOp::NotAncestor
            | SpansetOp::NotSibling
    )
}

/// Span indexes (sorted) that the operator yields for left spans `l` and right spans `r`.
pub(crate) fn relate(op: SpansetOp, cx: &TraceCtx<'_>, l: &[usize], r: &[usize]) -> Vec<usize> {
    debug_assert!(!matches!(op, SpansetOp::And | SpansetOp::Or));
    let negated = is_negated(op);
    let union = matches!(
        op,
        SpansetOp::UnionChild
            | SpansetOp::UnionDescendant
            | SpansetOp::UnionParent
            | SpansetOp::UnionAncestor
            | SpansetOp::UnionSibling
    );
    let Related { hits, partners } = match base(op) {
        Rel::Child => children(cx, l, r),
        Rel::Parent => parents(cx, l, r),
        Rel::Descendant => nested(cx, l, r, true),
        Rel::Ancestor => nested(cx, l, r, false),
        Rel::Sibling => siblings(cx, l, r),
    };
    let mut out: Vec<usize> = r
        .iter()
        .copied()
        .filter(|ri| hits.get(*ri).copied().unwrap_or(false) != negated)
        .collect();
    if union {
        out.extend(
            partners
                .iter()
                .enumerate()
                .filter(|(_, p)| **p)
                .map(|(i, _)| i),
        );
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Which right spans stand in the relation to some left span (`hits`), and which left
/// spans some right span relates to (`partners`), both indexed by span.
struct Related {
    hits: Vec<bool>,
    partners: Vec<bool>,
}

impl Related {
    fn new(n: usize) -> Self {
        Related {
            hits: vec![false; n],
            partners: vec![false; n],
        }
    }

    fn hit(&mut self, r: usize, l: usize) {
        self.mark_hit(r);
        self.mark_partner(l);
    }

    fn mark_hit(&mut self, r: usize) {
        if let Some(h) = self.hits.get_mut(r) {
            *h = true;
        }
    }

    fn mark_partner(&mut self, l: usize) {
        if let Some(p) = self.partners.get_mut(l) {
            *p = true;
        }
    }
}

fn membership(n: usize, set: &[usize]) -> Vec<bool> {
    let mut v = vec![false; n];
    for &i in set {
        if let Some(x) = v.get_mut(i) {
            *x = true;
        }
    }
    v
}

/// `l > r`: right spans whose parent is a left span.
fn children(cx: &TraceCtx<'_>, l: &[usize], r: &[usize]) -> Related {
    let n = cx.spans.len();
    let in_l = membership(n, l);
    let mut rel = Related::new(n);
    for &ri in r {
        if let Some(Some(p)) = cx.links().parent.get(ri) {
            if in_l.get(*p).copied().unwrap_or(false) {
                rel.hit(ri, *p);
            }
        }
    }
    rel
}

/// `l < r`: right spans that are the parent of a left span.
fn parents(cx: &TraceCtx<'_>, l: &[usize], r: &[usize]) -> Related {
    let n = cx.spans.len();
    let in_r = membership(n, r);
    let mut rel = Related::new(n);
    for &li in l {
        if let Some(Some(p)) = cx.links().parent.get(li) {
            if in_r.get(*p).copied().unwrap_or(false) {
                rel.hit(*p, li);
            }
        }
    }
    rel
}

/// `l >> r` (`descendant`: right spans below a left span) or `l << r` (right spans
/// above a left span), by containment of nested-set intervals.
///
/// The spans of both sides are swept in `left` order with a stack of the open
/// intervals of the enclosing side (`l` for `>>`, `r` for `<<`); intervals nest or are
/// disjoint, so the stack holds exactly the enclosing spans that contain the current
/// one. Every span on the stack is related to the current span of the other side;
/// rather than marking the whole stack each time, the bottom `marked` entries are known
/// to be marked already, so each entry is marked once. Spans the nested-set walk did
/// not reach (those in or below a parent cycle) are neither ancestors nor descendants.
fn nested(cx: &TraceCtx<'_>, l: &[usize], r: &[usize], descendant: bool) -> Related {
    let n = cx.spans.len();
    let sets = cx.nested_sets();
    let (outer, inner) = if descendant { (l, r) } else { (r, l) };
    let in_outer = membership(n, outer);
    let in_inner = membership(n, inner);
    let mut order: Vec<(i64, i64, usize)> = outer
        .iter()
        .chain(inner.iter())
        .filter_map(|&i| sets.get(i).map(|s| (s.left, s.right, i)))
        .filter(|(left, _, _)| *left > 0)
        .collect();
    order.sort_unstable();
    order.dedup();
    let mut rel = Related::new(n);
    let mut stack: Vec<(i64, usize)> = Vec::new();
    let mut marked = 0;
    for (left, right, i) in order {
        while stack.last().is_some_and(|(r, _)| *r < left) {
            stack.pop();
        }
        marked = marked.min(stack.len());
        if in_inner.get(i).copied().unwrap_or(false) && !stack.is_empty() {
            // the inner span is related to every enclosing outer span
            for &(_, o) in stack.iter().skip(marked) {
                if descendant {
                    rel.mark_partner(o);
                } else {
                    rel.mark_hit(o);
                }
            }
            marked = stack.len();
            if descendant {
                rel.mark_hit(i);
            } else {
                rel.mark_partner(i);
            }
        }
        if in_outer.get(i).copied().unwrap_or(false) {
            stack.push((right, i));
        }
    }
    rel
}

/// `l ~ r`: right spans sharing a parent id with a distinct left span.
fn siblings(cx: &TraceCtx<'_>, l: &[usize], r: &[usize]) -> Related {
    let n = cx.spans.len();
    let mut groups: HashMap<[u8; 8], Vec<usize>> = HashMap::new();
    for &li in l {
        if let Some(pid) = parent_id(cx, li) {
            groups.entry(pid).or_default().push(li);
        }
    }
    let mut rel = Related::new(n);
    // per parent id: the first right span that hit, and whether a second one did
    let mut hit_by: HashMap<[u8; 8], (usize, bool)> = HashMap::new();
    for &ri in r {
        let Some(pid) = parent_id(cx, ri) else {
            continue;
        };
        let Some(group) = groups.get(&pid) else {
            continue;
        };
        if group.iter().all(|&li| li == ri) {
            continue;
        }
        rel.mark_hit(ri);
        hit_by
            .entry(pid)
            .and_modify(|(first, more)| *more |= *first != ri)
            .or_insert((ri, false));
    }
    // a left span is a partner when some other right span of its group hit
    for (pid, (first, more)) in hit_by {
        for &li in groups.get(&pid).into_iter().flatten() {
            if more || li != first {
                rel.mark_partner(li);
            }
        }
    }
    rel
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rel {
    Child,
    Descendant,
    Parent,
    Ancestor,
    Sibling,
}

fn base(op: SpansetOp) -> Rel {
    match op {
        SpansetOp::Child | SpansetOp::NotChild | SpansetOp::UnionChild => Rel::Child,
        SpansetOp::Descendant | SpansetOp::NotDescendant | SpansetOp::UnionDescendant => {
            Rel::Descendant
        }
        SpansetOp::Parent | SpansetOp::NotParent | SpansetOp::UnionParent => Rel::Parent,
        SpansetOp::Ancestor | SpansetOp::NotAncestor | SpansetOp::UnionAncestor => Rel::Ancestor,
        SpansetOp::Sibling
        | SpansetOp::NotSibling
        | SpansetOp::UnionSibling
        | SpansetOp::And
        | SpansetOp::Or => Rel::Sibling,
    }
}
