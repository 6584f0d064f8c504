//! Scan hints derived from a query, and the attributes a query refers to.
//!
//! A hint must hold for every trace the query can match, and a store may require one
//! block of data to satisfy all hints at once. A trace's spans are often spread over
//! several blocks, so all hints must describe one span: they come from a single
//! spanset filter that the query needs to match, never from two filters. The filters a
//! query requires are both sides of spanset `&&` and of the structural operators, the
//! right-hand side of the negated ones, and the input of a pipeline; the first of them
//! (in query order) that gives any hint is used. From that filter, equality on strings,
//! span names and duration lower bounds found in its top-level `&&` chain become hints.
//! Anything under `||` (between filters or inside one) or `!` is skipped.
//!
//! As TraceQL's `=` matches an array attribute when any element is equal, a store that
//! honours [`ScanHint::AttrEquals`] must count string elements of array attributes as
//! candidates too. Unscoped attributes (`.x`) give hints without a scope: the value may
//! sit on the span or on its resource.

use oxeye_core::trace::{AttrScope, ScanHint};

use crate::ast::{
    Attribute, BinOp, FieldExpr, Intrinsic, ScalarExpr, SpansetExpr, SpansetOp, Stage, Static,
};
use crate::lexer::AttrScopeKind;

/// The hints for `expr`, without duplicates.
pub(crate) fn derive(expr: &SpansetExpr) -> Vec<ScanHint> {
    let mut filters = Vec::new();
    required(expr, &mut filters);
    for f in filters {
        let mut out = Vec::new();
        conditions(f, &mut out);
        if !out.is_empty() {
            return out;
        }
    }
    Vec::new()
}

fn push(out: &mut Vec<ScanHint>, h: ScanHint) {
    if !out.contains(&h) {
        out.push(h);
    }
}

/// Collects, in query order, the filters some span must match for `expr` to match.
fn required<'e>(expr: &'e SpansetExpr, out: &mut Vec<&'e FieldExpr>) {
    match expr {
        SpansetExpr::Filter(f) => out.push(f),
        SpansetExpr::Binary { op, lhs, rhs } => match op {
            SpansetOp::Or => {}
            SpansetOp::NotChild
            | SpansetOp::NotDescendant
            | SpansetOp::NotParent
            | SpansetOp::NotAncestor
            | SpansetOp::NotSibling => required(rhs, out),
            _ => {
                required(lhs, out);
                required(rhs, out);
            }
        },
        SpansetExpr::Pipeline { input, stage } => {
            required(input, out);
            if let Stage::Spanset(inner) = stage.as_ref() {
                required(inner, out);
            }
        }
    }
}

fn conditions(f: &FieldExpr, out: &mut Vec<ScanHint>) {
    let FieldExpr::Binary { op, lhs, rhs } = f else {
        return;
    };
    match op {
        BinOp::And => {
            conditions(lhs, out);
            conditions(rhs, out);
        }
        BinOp::Eq => {
            let pair = match (lhs.as_ref(), rhs.as_ref()) {
                (e, FieldExpr::Static(Static::Str(s))) | (FieldExpr::Static(Static::Str(s)), e) => {
                    Some((e, s))
                }
                _ => None,
            };
            let Some((e, value)) = pair else {
                return;
            };
            match e {
                FieldExpr::Intrinsic(Intrinsic::Name) => {
                    push(out, ScanHint::SpanName(value.clone()))
                }
                FieldExpr::Attr(a) => {
                    let scope = match a.scope {
                        AttrScopeKind::Span => Some(AttrScope::Span),
                        AttrScopeKind::Resource => Some(AttrScope::Resource),
                        AttrScopeKind::Unscoped => None,
                        _ => return,
                    };
                    push(
                        out,
                        ScanHint::AttrEquals {
                            scope,
                            key: a.name.clone(),
                            value: value.clone(),
                        },
                    );
                }
                _ => {}
            }
        }
        BinOp::Gt | BinOp::Gte | BinOp::Lt | BinOp::Lte => {
            let bound = match (op, lhs.as_ref(), rhs.as_ref()) {
                (
                    BinOp::Gt | BinOp::Gte,
                    FieldExpr::Intrinsic(Intrinsic::Duration),
                    FieldExpr::Static(Static::Duration(d)),
                )
                | (
                    BinOp::Lt | BinOp::Lte,
                    FieldExpr::Static(Static::Duration(d)),
                    FieldExpr::Intrinsic(Intrinsic::Duration),
                ) => Some(*d),
                _ => None,
            };
            if let Some(d) = bound.and_then(|d| u64::try_from(d).ok()) {
                push(out, ScanHint::MinSpanDuration(d));
            }
        }
        _ => {}
    }
}

/// Attributes and intrinsics a query refers to, without duplicates.
#[derive(Debug, Default)]
pub(crate) struct Refs {
    pub attrs: Vec<Attribute>,
    pub intrinsics: Vec<Intrinsic>,
}

/// Collects every attribute and intrinsic referenced anywhere in `expr`.
pub(crate) fn collect_attributes(expr: &SpansetExpr, out: &mut Refs) {
    match expr {
        SpansetExpr::Filter(f) => field_attributes(f, out),
        SpansetExpr::Binary { lhs, rhs, .. } => {
            collect_attributes(lhs, out);
            collect_attributes(rhs, out);
        }
        SpansetExpr::Pipeline { input, stage } => {
            collect_attributes(input, out);
            match stage.as_ref() {
                Stage::Spanset(e) => collect_attributes(e, out),
                Stage::ScalarFilter { lhs, rhs, .. } => {
                    scalar_attributes(lhs, out);
                    scalar_attributes(rhs, out);
                }
                Stage::By(f) => field_attributes(f, out),
                Stage::Select(fs) => fs.iter().for_each(|f| field_attributes(f, out)),
                Stage::Coalesce => {}
            }
        }
    }
}

fn scalar_attributes(e: &ScalarExpr, out: &mut Refs) {
    match e {
        ScalarExpr::Agg { field, .. } => {
            if let Some(f) = field {
                field_attributes(f, out);
            }
        }
        ScalarExpr::Static(_) => {}
        ScalarExpr::Binary { lhs, rhs, .. } => {
            scalar_attributes(lhs, out);
            scalar_attributes(rhs, out);
        }
        ScalarExpr::Neg(e) => scalar_attributes(e, out),
    }
}

fn field_attributes(f: &FieldExpr, out: &mut Refs) {
    match f {
        FieldExpr::Attr(a) => {
            if !out.attrs.contains(a) {
                out.attrs.push(a.clone());
            }
        }
        FieldExpr::Intrinsic(i) => {
            if !out.intrinsics.contains(i) {
                out.intrinsics.push(*i);
            }
        }
        FieldExpr::Static(_) => {}
        FieldExpr::Binary { lhs, rhs, .. } => {
            field_attributes(lhs, out);
            field_attributes(rhs, out);
        }
        FieldExpr::Not(e) | FieldExpr::Neg(e) => field_attributes(e, out),
        FieldExpr::Regex { lhs, .. } => field_attributes(lhs, out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parser::parse;

    #[test]
    fn derives_required_conditions_only() {
        let e = parse(
            r#"{ resource.service.name = "api" && name = "GET /" && duration > 10ms } && { .db = "pg" || .x = "y" } | count() > 1"#,
        )
        .unwrap();
        assert_eq!(
            derive(&e),
            vec![
                ScanHint::AttrEquals {
                    scope: Some(AttrScope::Resource),
                    key: "service.name".into(),
                    value: "api".into()
                },
                ScanHint::SpanName("GET /".into()),
                ScanHint::MinSpanDuration(10_000_000),
            ]
        );
        let e = parse(r#"{ span.a = "x" } || { span.b = "y" }"#).unwrap();
        assert!(derive(&e).is_empty());
        let e = parse(r#"{ span.a = "x" } !> { "y" = span.b }"#).unwrap();
        assert_eq!(
            derive(&e),
            vec![ScanHint::AttrEquals {
                scope: Some(AttrScope::Span),
                key: "b".into(),
                value: "y".into()
            }]
        );
    }

    fn span_attr(key: &str, value: &str) -> ScanHint {
        ScanHint::AttrEquals {
            scope: Some(AttrScope::Span),
            key: key.into(),
            value: value.into(),
        }
    }

    #[test]
    fn hints_come_from_one_filter_only() {
        // spans of one trace may sit in different blocks: the conditions of two
        // filters must never be required of the same block
        let cases: &[(&str, Vec<ScanHint>)] = &[
            (
                r#"{ span.a = "x" } && { span.b = "y" }"#,
                vec![span_attr("a", "x")],
            ),
            (
                r#"{ name = "A" } >> { name = "B" }"#,
                vec![ScanHint::SpanName("A".into())],
            ),
            (
                r#"{ name = "A" } &<< { name = "B" } ~ { span.c = "z" }"#,
                vec![ScanHint::SpanName("A".into())],
            ),
            (
                r#"{ name = "A" } | { span.b = "y" } | count() > 1"#,
                vec![ScanHint::SpanName("A".into())],
            ),
            (
                r#"{ } && { span.b = "y" && name = "B" }"#,
                vec![span_attr("b", "y"), ScanHint::SpanName("B".into())],
            ),
            (
                r#"({ span.a = "x" } || { span.a = "w" }) > { span.b = "y" }"#,
                vec![span_attr("b", "y")],
            ),
            (r#"{ span.a = "x" } || { span.b = "y" }"#, vec![]),
            (
                r#"{ span.a = "x" } !>> { span.b = "y" }"#,
                vec![span_attr("b", "y")],
            ),
        ];
        for (q, want) in cases {
            let e = parse(q).unwrap();
            assert_eq!(&derive(&e), want, "{q}");
        }
    }
}
