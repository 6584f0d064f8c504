//! Structural operators: relations between the spans each side of `>`, `>>`, `<`, `<<`,
//! `~` matched, and their negated (`!>`...) and union (`&>`...) forms.
//!
//! The plain forms return the right-hand spans that stand in the relation to some
//! left-hand span; the negated forms the right-hand spans that do not; the union forms
//! the right-hand spans that do plus the left-hand spans they relate to. Siblings share
//! a parent id and are distinct spans.

use crate::ast::SpansetOp;
use crate::eval::TraceCtx;

/// Calls `f` with each ancestor of `i`, nearest first; stops at a cycle.
fn for_each_ancestor(cx: &TraceCtx<'_>, i: usize, mut f: impl FnMut(usize) -> bool) {
    let mut cur = cx.links().parent.get(i).copied().flatten();
    let mut steps = 0;
    while let Some(p) = cur {
        if f(p) || steps > cx.spans.len() {
            return;
        }
        steps += 1;
        cur = cx.links().parent.get(p).copied().flatten();
    }
}

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
    let n = cx.spans.len();
    let mut in_l = vec![false; n];
    for &i in l {
        if let Some(x) = in_l.get_mut(i) {
            *x = true;
        }
    }
    let is_l = |i: usize| in_l.get(i).copied().unwrap_or(false);
    // partners[j] lists, for right span j, the left spans it relates to
    let mut out: Vec<usize> = Vec::new();
    let mut partners: Vec<usize> = Vec::new();
    let relation = base(op);
    let negated = is_negated(op);
    let union = matches!(
        op,
        SpansetOp::UnionChild
            | SpansetOp::UnionDescendant
            | SpansetOp::UnionParent
            | SpansetOp::UnionAncestor
            | SpansetOp::UnionSibling
    );
    // children-of-left and ancestors-of-left lookups for `<` and `<<`
    let mut parent_of_l = vec![Vec::new(); n];
    let mut ancestor_of_l = vec![Vec::new(); n];
    if matches!(relation, Rel::Parent | Rel::Ancestor) {
        for &li in l {
            if let Some(Some(p)) = cx.links().parent.get(li) {
                if let Some(v) = parent_of_l.get_mut(*p) {
                    v.push(li);
                }
            }
            if relation == Rel::Ancestor {
                for_each_ancestor(cx, li, |a| {
                    if let Some(v) = ancestor_of_l.get_mut(a) {
                        v.push(li);
                    }
                    false
                });
            }
        }
    }
    for &ri in r {
        let mut related: Vec<usize> = Vec::new();
        match relation {
            Rel::Child => {
                if let Some(Some(p)) = cx.links().parent.get(ri) {
                    if is_l(*p) {
                        related.push(*p);
                    }
                }
            }
            Rel::Descendant => for_each_ancestor(cx, ri, |a| {
                if is_l(a) {
                    related.push(a);
                }
                false
            }),
            Rel::Parent => related.extend(parent_of_l.get(ri).into_iter().flatten()),
            Rel::Ancestor => related.extend(ancestor_of_l.get(ri).into_iter().flatten()),
            Rel::Sibling => {
                if let Some(pid) = parent_id(cx, ri) {
                    related.extend(
                        l.iter()
                            .copied()
                            .filter(|&li| li != ri && parent_id(cx, li) == Some(pid)),
                    );
                }
            }
        }
        let hit = !related.is_empty();
        if hit != negated {
            out.push(ri);
        }
        if union && hit {
            partners.extend(related);
        }
    }
    out.extend(partners);
    out.sort_unstable();
    out.dedup();
    out
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
