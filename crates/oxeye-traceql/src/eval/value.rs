//! Values and per-span evaluation of field expressions.
//!
//! Semantics follow Tempo's: an attribute that a span lacks is `nil`, and every
//! comparison with `nil` is false except the explicit existence tests `x = nil` and
//! `x != nil`; values of different types never compare equal (numbers compare across
//! integer, float and duration); regex matches are fully anchored and only apply to
//! strings. Multi-valued fields (event and link fields, array attributes) match when
//! any element matches.

use std::borrow::Cow;

use oxeye_core::trace::{AnyValue, KeyValue, SpanKind, SpanStatusCode, attr};

use crate::ast::{Attribute, BinOp, FieldExpr, Intrinsic, Static, format_duration};
use crate::eval::TraceCtx;
use crate::lexer::AttrScopeKind;

/// A runtime value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value<'a> {
    Nil,
    Str(Cow<'a, str>),
    Int(i64),
    Float(f64),
    Duration(i64),
    Bool(bool),
    Status(SpanStatusCode),
    Kind(SpanKind),
    List(Vec<Value<'a>>),
}

impl<'a> Value<'a> {
    pub(crate) fn is_nil(&self) -> bool {
        match self {
            Value::Nil => true,
            Value::List(l) => l.is_empty(),
            _ => false,
        }
    }

    pub(crate) fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            Value::Duration(d) => Some(*d as f64),
            _ => None,
        }
    }

    fn truthy(&self) -> bool {
        matches!(self, Value::Bool(true))
    }

    pub(crate) fn from_static(s: &'a Static) -> Self {
        match s {
            Static::Nil => Value::Nil,
            Static::Str(s) => Value::Str(Cow::Borrowed(s)),
            Static::Int(i) => Value::Int(*i),
            Static::Float(f) => Value::Float(*f),
            Static::Duration(d) => Value::Duration(*d),
            Static::Bool(b) => Value::Bool(*b),
            Static::Status(s) => Value::Status(*s),
            Static::Kind(k) => Value::Kind(*k),
        }
    }

    pub(crate) fn from_any(v: &'a AnyValue) -> Self {
        match v {
            AnyValue::Empty => Value::Nil,
            AnyValue::String(s) => Value::Str(Cow::Borrowed(s)),
            AnyValue::Bool(b) => Value::Bool(*b),
            AnyValue::Int(i) => Value::Int(*i),
            AnyValue::Double(d) => Value::Float(*d),
            AnyValue::Array(a) => Value::List(a.iter().map(Value::from_any).collect()),
            AnyValue::KvList(_) | AnyValue::Bytes(_) => Value::Str(Cow::Owned(v.to_text())),
        }
    }

    /// The value as an attribute value in results; `None` for nil.
    pub(crate) fn to_any(&self) -> Option<AnyValue> {
        Some(match self {
            Value::Nil => return None,
            Value::Str(s) => AnyValue::String(s.to_string()),
            Value::Int(i) => AnyValue::Int(*i),
            Value::Float(f) => AnyValue::Double(*f),
            Value::Duration(d) => AnyValue::String(format_duration(*d)),
            Value::Bool(b) => AnyValue::Bool(*b),
            Value::Status(s) => AnyValue::String(s.as_str().to_string()),
            Value::Kind(k) => AnyValue::String(k.as_str().to_string()),
            Value::List(l) => {
                if l.is_empty() {
                    return None;
                }
                AnyValue::Array(l.iter().filter_map(Value::to_any).collect())
            }
        })
    }

    /// A grouping key: values equal under `=` share a key.
    pub(crate) fn group_key(&self) -> String {
        match self {
            Value::Nil => "nil".to_string(),
            Value::Str(s) => format!("s:{s}"),
            Value::Int(_) | Value::Float(_) | Value::Duration(_) => {
                format!("n:{}", self.as_f64().unwrap_or_default())
            }
            Value::Bool(b) => format!("b:{b}"),
            Value::Status(s) => format!("st:{}", s.as_str()),
            Value::Kind(k) => format!("k:{}", k.as_str()),
            Value::List(l) => {
                let parts: Vec<String> = l.iter().map(Value::group_key).collect();
                format!("l:[{}]", parts.join(","))
            }
        }
    }

    pub(crate) fn into_owned(self) -> Value<'static> {
        match self {
            Value::Nil => Value::Nil,
            Value::Str(s) => Value::Str(Cow::Owned(s.into_owned())),
            Value::Int(i) => Value::Int(i),
            Value::Float(f) => Value::Float(f),
            Value::Duration(d) => Value::Duration(d),
            Value::Bool(b) => Value::Bool(b),
            Value::Status(s) => Value::Status(s),
            Value::Kind(k) => Value::Kind(k),
            Value::List(l) => Value::List(l.into_iter().map(Value::into_owned).collect()),
        }
    }
}

/// Compares two values; `nil` on either side never matches (existence tests are
/// handled before values are compared).
pub(crate) fn compare(op: BinOp, l: &Value<'_>, r: &Value<'_>) -> bool {
    // arrays: `!=` holds when no element is equal, every other operator when any
    // element satisfies it
    if let Value::List(items) = l {
        if op == BinOp::Neq {
            return !items.is_empty() && !items.iter().any(|x| compare(BinOp::Eq, x, r));
        }
        return items.iter().any(|x| compare(op, x, r));
    }
    if let Value::List(items) = r {
        if op == BinOp::Neq {
            return !items.is_empty() && !items.iter().any(|x| compare(BinOp::Eq, l, x));
        }
        return items.iter().any(|x| compare(op, l, x));
    }
    use std::cmp::Ordering;
    let ord: Option<Ordering> = match (l, r) {
        (Value::Int(a), Value::Int(b)) => Some(a.cmp(b)),
        (Value::Duration(a), Value::Duration(b)) => Some(a.cmp(b)),
        (Value::Str(a), Value::Str(b)) => Some(a.as_ref().cmp(b.as_ref())),
        _ => match (l.as_f64(), r.as_f64()) {
            (Some(a), Some(b)) => a.partial_cmp(&b),
            _ => {
                let equal = match (l, r) {
                    (Value::Bool(a), Value::Bool(b)) => Some(a == b),
                    (Value::Status(a), Value::Status(b)) => Some(a == b),
                    (Value::Kind(a), Value::Kind(b)) => Some(a == b),
                    _ => None,
                };
                return match (op, equal) {
                    (BinOp::Eq, Some(e)) => e,
                    (BinOp::Neq, Some(e)) => !e,
                    _ => false,
                };
            }
        },
    };
    let Some(ord) = ord else {
        return false;
    };
    match op {
        BinOp::Eq => ord == Ordering::Equal,
        BinOp::Neq => ord != Ordering::Equal,
        BinOp::Gt => ord == Ordering::Greater,
        BinOp::Gte => ord != Ordering::Less,
        BinOp::Lt => ord == Ordering::Less,
        BinOp::Lte => ord != Ordering::Greater,
        _ => false,
    }
}

/// Arithmetic on numbers; anything else (including division by zero) is `nil`.
pub(crate) fn arith<'a>(op: BinOp, l: &Value<'_>, r: &Value<'_>) -> Value<'a> {
    let is_dur = matches!(l, Value::Duration(_)) || matches!(r, Value::Duration(_));
    let int_pair = match (l, r) {
        (Value::Int(a) | Value::Duration(a), Value::Int(b) | Value::Duration(b)) => Some((*a, *b)),
        _ => None,
    };
    // integers stay integers (division truncates); a duration divided by a duration is
    // a plain ratio, computed as a float below
    let both_dur = matches!((l, r), (Value::Duration(_), Value::Duration(_)));
    if let Some((a, b)) = int_pair.filter(|_| !(both_dur && op == BinOp::Div)) {
        let v = match op {
            BinOp::Add => a.checked_add(b),
            BinOp::Sub => a.checked_sub(b),
            BinOp::Mul => a.checked_mul(b),
            BinOp::Div => a.checked_div(b),
            BinOp::Mod => a.checked_rem(b),
            BinOp::Pow => u32::try_from(b).ok().and_then(|e| a.checked_pow(e)),
            _ => None,
        };
        return match (v, is_dur) {
            (Some(v), true) => Value::Duration(v),
            (Some(v), false) => Value::Int(v),
            (None, _) if op == BinOp::Pow && b < 0 => Value::Float((a as f64).powf(b as f64)),
            (None, _) => Value::Nil,
        };
    }
    let (Some(a), Some(b)) = (l.as_f64(), r.as_f64()) else {
        return Value::Nil;
    };
    let v = match op {
        BinOp::Add => a + b,
        BinOp::Sub => a - b,
        BinOp::Mul => a * b,
        BinOp::Div => {
            if b == 0.0 {
                return Value::Nil;
            }
            a / b
        }
        BinOp::Mod => {
            if b == 0.0 {
                return Value::Nil;
            }
            a % b
        }
        BinOp::Pow => a.powf(b),
        _ => return Value::Nil,
    };
    if !v.is_finite() {
        return Value::Nil;
    }
    Value::Float(v)
}

fn is_nil_literal(e: &FieldExpr) -> bool {
    matches!(e, FieldExpr::Static(Static::Nil))
}

/// Evaluates `e` for span `i` of the trace.
pub(crate) fn eval_field<'a>(e: &'a FieldExpr, cx: &TraceCtx<'a>, i: usize) -> Value<'a> {
    match e {
        FieldExpr::Static(s) => Value::from_static(s),
        FieldExpr::Attr(a) => attribute(a, cx, i),
        FieldExpr::Intrinsic(x) => intrinsic(*x, cx, i),
        FieldExpr::Binary { op, lhs, rhs } => match op {
            BinOp::And => {
                Value::Bool(eval_field(lhs, cx, i).truthy() && eval_field(rhs, cx, i).truthy())
            }
            BinOp::Or => {
                Value::Bool(eval_field(lhs, cx, i).truthy() || eval_field(rhs, cx, i).truthy())
            }
            BinOp::Eq | BinOp::Neq if is_nil_literal(lhs) || is_nil_literal(rhs) => {
                let l = eval_field(lhs, cx, i);
                let r = eval_field(rhs, cx, i);
                let both_nil = l.is_nil() && r.is_nil();
                Value::Bool(if *op == BinOp::Eq {
                    both_nil
                } else {
                    !both_nil
                })
            }
            op if op.is_comparison() => {
                let l = eval_field(lhs, cx, i);
                let r = eval_field(rhs, cx, i);
                Value::Bool(compare(*op, &l, &r))
            }
            op => arith(*op, &eval_field(lhs, cx, i), &eval_field(rhs, cx, i)),
        },
        FieldExpr::Not(inner) => match eval_field(inner, cx, i) {
            Value::Bool(b) => Value::Bool(!b),
            _ => Value::Nil,
        },
        FieldExpr::Neg(inner) => match eval_field(inner, cx, i) {
            Value::Int(v) => v.checked_neg().map(Value::Int).unwrap_or(Value::Nil),
            Value::Duration(v) => v.checked_neg().map(Value::Duration).unwrap_or(Value::Nil),
            Value::Float(v) => Value::Float(-v),
            _ => Value::Nil,
        },
        FieldExpr::Regex {
            lhs,
            negated,
            regex,
            ..
        } => {
            let v = eval_field(lhs, cx, i);
            // `!~` on an array holds when no string element matches
            let ok = match &v {
                Value::Str(s) => regex.is_match(s) != *negated,
                Value::List(items) => {
                    let mut strings = items.iter().filter_map(|x| match x {
                        Value::Str(s) => Some(s),
                        _ => None,
                    });
                    if *negated {
                        let mut any = false;
                        let mut none_match = true;
                        for s in strings {
                            any = true;
                            none_match &= !regex.is_match(s);
                        }
                        any && none_match
                    } else {
                        strings.any(|s| regex.is_match(s))
                    }
                }
                _ => false,
            };
            Value::Bool(ok)
        }
    }
}

fn lookup<'a>(attrs: &'a [KeyValue], key: &str) -> Value<'a> {
    attr(attrs, key).map(Value::from_any).unwrap_or(Value::Nil)
}

fn list<'a>(values: impl Iterator<Item = Value<'a>>) -> Value<'a> {
    let items: Vec<Value<'a>> = values.filter(|v| !v.is_nil()).collect();
    if items.is_empty() {
        Value::Nil
    } else {
        Value::List(items)
    }
}

/// Looks an attribute up for span `i`.
pub(crate) fn attribute<'a>(a: &Attribute, cx: &TraceCtx<'a>, i: usize) -> Value<'a> {
    let Some(s) = cx.spans.get(i) else {
        return Value::Nil;
    };
    match a.scope {
        AttrScopeKind::Span => lookup(&s.span.attributes, &a.name),
        AttrScopeKind::Resource => lookup(&s.resource.attributes, &a.name),
        AttrScopeKind::Unscoped => match lookup(&s.span.attributes, &a.name) {
            Value::Nil => lookup(&s.resource.attributes, &a.name),
            v => v,
        },
        AttrScopeKind::Instrumentation => lookup(&s.scope.attributes, &a.name),
        AttrScopeKind::Event => list(
            s.span
                .events
                .iter()
                .map(|ev| lookup(&ev.attributes, &a.name)),
        ),
        AttrScopeKind::Link => list(s.span.links.iter().map(|l| lookup(&l.attributes, &a.name))),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn intrinsic<'a>(x: Intrinsic, cx: &TraceCtx<'a>, i: usize) -> Value<'a> {
    let Some(s) = cx.spans.get(i) else {
        return Value::Nil;
    };
    let span = s.span;
    let dur = |ns: u64| Value::Duration(i64::try_from(ns).unwrap_or(i64::MAX));
    match x {
        Intrinsic::Name => Value::Str(Cow::Borrowed(&span.name)),
        Intrinsic::Status => Value::Status(span.status_code),
        Intrinsic::StatusMessage => Value::Str(Cow::Borrowed(&span.status_message)),
        Intrinsic::Kind => Value::Kind(span.kind),
        Intrinsic::Duration => dur(span.duration_nanos()),
        Intrinsic::ChildCount => {
            Value::Int(cx.links().child_count.get(i).copied().unwrap_or(0) as i64)
        }
        Intrinsic::NestedSetLeft | Intrinsic::NestedSetRight | Intrinsic::NestedSetParent => {
            let Some(n) = cx.nested_sets().get(i) else {
                return Value::Nil;
            };
            Value::Int(match x {
                Intrinsic::NestedSetLeft => n.left,
                Intrinsic::NestedSetRight => n.right,
                _ => n.parent,
            })
        }
        Intrinsic::SpanId => Value::Str(Cow::Owned(hex(&span.span_id))),
        Intrinsic::ParentId => {
            if span.is_root() {
                Value::Nil
            } else {
                Value::Str(Cow::Owned(hex(&span.parent_span_id)))
            }
        }
        Intrinsic::TraceId => Value::Str(Cow::Owned(hex(&cx.trace_id))),
        Intrinsic::TraceDuration => dur(cx.end.saturating_sub(cx.start)),
        Intrinsic::RootName => match cx.root.and_then(|r| cx.spans.get(r)) {
            Some(r) => Value::Str(Cow::Borrowed(&r.span.name)),
            None => Value::Nil,
        },
        Intrinsic::RootService => match cx
            .root
            .and_then(|r| cx.spans.get(r))
            .and_then(|r| r.resource.service_name())
        {
            Some(svc) => Value::Str(Cow::Borrowed(svc)),
            None => Value::Nil,
        },
        Intrinsic::EventName => list(
            span.events
                .iter()
                .map(|e| Value::Str(Cow::Borrowed(e.name.as_str()))),
        ),
        Intrinsic::EventTimeSinceStart => list(
            span.events
                .iter()
                .map(|e| dur(e.time_unix_nano.saturating_sub(span.start_unix_nano))),
        ),
        Intrinsic::LinkTraceId => list(
            span.links
                .iter()
                .map(|l| Value::Str(Cow::Owned(hex(&l.trace_id)))),
        ),
        Intrinsic::LinkSpanId => list(
            span.links
                .iter()
                .map(|l| Value::Str(Cow::Owned(hex(&l.span_id)))),
        ),
        Intrinsic::InstrumentationName => Value::Str(Cow::Borrowed(&s.scope.name)),
        Intrinsic::InstrumentationVersion => Value::Str(Cow::Borrowed(&s.scope.version)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparisons_follow_types() {
        let s = |x: &'static str| Value::Str(Cow::Borrowed(x));
        assert!(compare(BinOp::Eq, &Value::Int(2), &Value::Float(2.0)));
        assert!(compare(
            BinOp::Gt,
            &Value::Duration(2_000),
            &Value::Int(1_000)
        ));
        assert!(!compare(BinOp::Eq, &s("500"), &Value::Int(500)));
        assert!(!compare(BinOp::Neq, &s("500"), &Value::Int(500)));
        assert!(!compare(BinOp::Neq, &Value::Nil, &s("x")));
        assert!(compare(BinOp::Lt, &s("a"), &s("b")));
        assert!(compare(
            BinOp::Eq,
            &Value::List(vec![s("a"), s("b")]),
            &s("b")
        ));
        assert!(compare(
            BinOp::Neq,
            &Value::Status(SpanStatusCode::Ok),
            &Value::Status(SpanStatusCode::Error)
        ));
    }

    #[test]
    fn arithmetic_keeps_types() {
        assert_eq!(
            arith(BinOp::Add, &Value::Int(1), &Value::Int(2)),
            Value::Int(3)
        );
        assert_eq!(
            arith(BinOp::Mul, &Value::Duration(5), &Value::Int(2)),
            Value::Duration(10)
        );
        assert_eq!(
            arith(BinOp::Div, &Value::Int(7), &Value::Int(2)),
            Value::Int(3)
        );
        assert_eq!(
            arith(BinOp::Div, &Value::Float(1.0), &Value::Int(2)),
            Value::Float(0.5)
        );
        assert_eq!(
            arith(BinOp::Div, &Value::Duration(10), &Value::Duration(4)),
            Value::Float(2.5)
        );
        assert_eq!(
            arith(BinOp::Pow, &Value::Int(2), &Value::Int(-1)),
            Value::Float(0.5)
        );
        assert_eq!(
            arith(BinOp::Div, &Value::Int(1), &Value::Int(0)),
            Value::Nil
        );
        assert_eq!(
            arith(BinOp::Mod, &Value::Int(7), &Value::Int(0)),
            Value::Nil
        );
        assert_eq!(
            arith(BinOp::Pow, &Value::Int(2), &Value::Int(10)),
            Value::Int(1024)
        );
    }
}
