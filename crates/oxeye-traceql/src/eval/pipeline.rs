//! Pipeline stages: spanset expressions applied per spanset, aggregate filters,
//! `by()`, `select()` and `coalesce()`.

use oxeye_core::trace::{AnyValue, KeyValue};

use crate::ast::{AggKind, BinOp, ScalarExpr, Stage};
use crate::eval::value::{Value, arith, compare, eval_field};
use crate::eval::{Set, TraceCtx, eval_spanset, merge_all, push_unique};
use crate::parser::has_aggregate;

/// Applies one stage to every spanset.
pub(crate) fn apply<'a>(stage: &'a Stage, cx: &TraceCtx<'a>, sets: Vec<Set>) -> Vec<Set> {
    match stage {
        Stage::Spanset(expr) => sets
            .iter()
            .flat_map(|s| eval_spanset(expr, cx, s))
            .collect(),
        Stage::ScalarFilter { lhs, op, rhs } => sets
            .into_iter()
            .filter_map(|mut s| {
                let l = scalar(lhs, cx, &s);
                let r = scalar(rhs, cx, &s);
                if l.is_nil() || r.is_nil() || !compare(*op, &l, &r) {
                    return None;
                }
                for (expr, v) in [(lhs, &l), (rhs, &r)] {
                    if !has_aggregate(expr) {
                        continue;
                    }
                    if let Some(any) = v.to_any() {
                        // a later stage's aggregate of the same name is the current one
                        let key = expr.to_string();
                        s.attrs.retain(|kv| kv.key != key);
                        s.attrs.push(KeyValue::new(key, any));
                    }
                }
                Some(s)
            })
            .collect(),
        Stage::By(field) => {
            let key = format!("by({field})");
            let mut out = Vec::new();
            for s in sets {
                // groups in order of first appearance
                let mut groups: Vec<(String, Value<'static>, Vec<usize>)> = Vec::new();
                for &i in &s.spans {
                    let v = eval_field(field, cx, i).into_owned();
                    let k = v.group_key();
                    match groups.iter_mut().find(|g| g.0 == k) {
                        Some(g) => g.2.push(i),
                        None => groups.push((k, v, vec![i])),
                    }
                }
                for (_, v, spans) in groups {
                    let mut g = s.with_spans(spans);
                    g.attrs.retain(|kv| kv.key != key);
                    g.attrs.push(KeyValue::new(
                        key.clone(),
                        v.to_any().unwrap_or(AnyValue::Empty),
                    ));
                    out.push(g);
                }
            }
            out
        }
        Stage::Select(fields) => sets
            .into_iter()
            .map(|mut s| {
                for &i in &s.spans {
                    let slot = s.selected.entry(i).or_default();
                    for f in fields {
                        if let Some(any) = eval_field(f, cx, i).to_any() {
                            push_unique(slot, KeyValue::new(select_key(f), any));
                        }
                    }
                }
                s
            })
            .collect(),
        Stage::Coalesce => merge_all(&sets).into_iter().collect(),
    }
}

/// The key under which a selected value is returned: the attribute name without its
/// scope, the intrinsic's name, or the expression's text.
fn select_key(f: &crate::ast::FieldExpr) -> String {
    match f {
        crate::ast::FieldExpr::Attr(a) => a.name.clone(),
        crate::ast::FieldExpr::Intrinsic(i) => i.as_str().to_string(),
        other => other.to_string(),
    }
}

/// Evaluates a scalar expression over one spanset.
fn scalar<'a>(e: &'a ScalarExpr, cx: &TraceCtx<'a>, s: &Set) -> Value<'a> {
    match e {
        ScalarExpr::Static(st) => Value::from_static(st),
        ScalarExpr::Neg(inner) => match scalar(inner, cx, s) {
            // the smallest value has no negation: nil, like other invalid arithmetic
            Value::Int(i) => i.checked_neg().map_or(Value::Nil, Value::Int),
            Value::Duration(d) => d.checked_neg().map_or(Value::Nil, Value::Duration),
            Value::Float(f) => Value::Float(-f),
            _ => Value::Nil,
        },
        ScalarExpr::Binary { op, lhs, rhs } => arith(*op, &scalar(lhs, cx, s), &scalar(rhs, cx, s)),
        ScalarExpr::Agg { kind, field } => {
            let Some(field) = field else {
                return Value::Int(s.spans.len() as i64);
            };
            aggregate(*kind, s.spans.iter().map(|&i| eval_field(field, cx, i)))
        }
    }
}

/// Aggregates the numeric values among `values`; `nil` when there are none. Durations
/// stay durations.
fn aggregate<'a>(kind: AggKind, values: impl Iterator<Item = Value<'a>>) -> Value<'a> {
    let mut nums: Vec<Value<'a>> = Vec::new();
    for v in values {
        match v {
            Value::Int(_) | Value::Float(_) | Value::Duration(_) => nums.push(v),
            Value::List(items) => nums.extend(items.into_iter().filter(|x| x.as_f64().is_some())),
            _ => {}
        }
    }
    if kind == AggKind::Count {
        return Value::Int(nums.len() as i64);
    }
    if nums.is_empty() {
        return Value::Nil;
    }
    let all_dur = nums.iter().all(|v| matches!(v, Value::Duration(_)));
    let all_int = nums.iter().all(|v| matches!(v, Value::Int(_)));
    match kind {
        AggKind::Min | AggKind::Max => {
            let want = if kind == AggKind::Min {
                BinOp::Lt
            } else {
                BinOp::Gt
            };
            let mut best = nums.swap_remove(0);
            for v in nums {
                if compare(want, &v, &best) {
                    best = v;
                }
            }
            best
        }
        AggKind::Sum | AggKind::Avg => {
            // integers and durations sum exactly while they fit
            let exact = nums.iter().try_fold(0i64, |acc, v| match v {
                Value::Int(i) | Value::Duration(i) => acc.checked_add(*i),
                _ => None,
            });
            let n = nums.len() as f64;
            let total: f64 = match exact {
                Some(t) => t as f64,
                None => nums.iter().filter_map(Value::as_f64).sum(),
            };
            match (kind, exact) {
                (AggKind::Sum, Some(t)) if all_dur => Value::Duration(t),
                (AggKind::Sum, Some(t)) if all_int => Value::Int(t),
                (AggKind::Avg, _) if all_dur => Value::Duration((total / n).round() as i64),
                (AggKind::Avg, _) => Value::Float(total / n),
                _ => Value::Float(total),
            }
        }
        AggKind::Count => Value::Int(0),
    }
}
