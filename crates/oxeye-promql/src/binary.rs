//! Binary operators: arithmetic and comparisons between scalars and vectors with
//! `on`/`ignoring` matching, and the set operators `and`, `or`, `unless`.

use std::collections::HashMap;

use oxeye_core::{Labels, METRIC_NAME};
use promql_parser::parser::{BinaryExpr, LabelModifier, VectorMatchCardinality};

use crate::PromqlError;
use crate::eval::{Elem, Evaluator, StepValue};

fn is_arithmetic(op: &str) -> bool {
    matches!(op, "+" | "-" | "*" | "/" | "%" | "^" | "atan2")
}

/// Applies `op` to two values: the value and whether a comparison holds.
fn binop(op: &str, l: f64, r: f64) -> Result<(f64, bool), PromqlError> {
    Ok(match op {
        "+" => (l + r, true),
        "-" => (l - r, true),
        "*" => (l * r, true),
        "/" => (l / r, true),
        "%" => (l % r, true),
        "^" => (l.powf(r), true),
        "atan2" => (l.atan2(r), true),
        "==" => (l, l == r),
        "!=" => (l, l != r),
        ">" => (l, l > r),
        "<" => (l, l < r),
        ">=" => (l, l >= r),
        "<=" => (l, l <= r),
        other => {
            return Err(PromqlError::Unsupported(format!(
                "binary operator {other} is not supported yet"
            )));
        }
    })
}

impl Evaluator<'_> {
    pub(crate) fn binary(&self, b: &BinaryExpr, t: i64) -> Result<StepValue, PromqlError> {
        let op = b.op.to_string();
        if matches!(op.as_str(), "and" | "or" | "unless") {
            let lhs = self.eval_vector(&b.lhs, t)?;
            let rhs = self.eval_vector(&b.rhs, t)?;
            return Ok(StepValue::Vector(set_op(b, &op, lhs, rhs)));
        }
        let return_bool = b.modifier.as_ref().is_some_and(|m| m.return_bool);
        let comparison = !is_arithmetic(&op);
        let lhs = self.eval(&b.lhs, t)?;
        let rhs = self.eval(&b.rhs, t)?;
        match (lhs, rhs) {
            (StepValue::Scalar(l), StepValue::Scalar(r)) => {
                let (v, keep) = binop(&op, l, r)?;
                if comparison {
                    return Ok(StepValue::Scalar(if keep { 1.0 } else { 0.0 }));
                }
                Ok(StepValue::Scalar(v))
            }
            (StepValue::Vector(v), StepValue::Scalar(s)) => Ok(StepValue::Vector(vector_scalar(
                &op,
                v,
                s,
                false,
                return_bool,
                comparison,
            )?)),
            (StepValue::Scalar(s), StepValue::Vector(v)) => Ok(StepValue::Vector(vector_scalar(
                &op,
                v,
                s,
                true,
                return_bool,
                comparison,
            )?)),
            (StepValue::Vector(l), StepValue::Vector(r)) => Ok(StepValue::Vector(
                self.vector_vector(b, &op, l, r, return_bool, comparison)?,
            )),
            _ => Err(PromqlError::Execution(format!(
                "operator {op} needs scalar or instant vector operands"
            ))),
        }
    }

    fn vector_vector(
        &self,
        b: &BinaryExpr,
        op: &str,
        lhs: Vec<Elem>,
        rhs: Vec<Elem>,
        return_bool: bool,
        comparison: bool,
    ) -> Result<Vec<Elem>, PromqlError> {
        let (on, names): (bool, Vec<String>) = match b.modifier.as_ref() {
            None => (false, Vec::new()),
            Some(m) => {
                if !matches!(m.card, VectorMatchCardinality::OneToOne) {
                    return Err(PromqlError::Unsupported(
                        "group_left/group_right matching is not supported yet".into(),
                    ));
                }
                match &m.matching {
                    None => (false, Vec::new()),
                    Some(LabelModifier::Include(ls)) => (true, ls.labels.clone()),
                    Some(LabelModifier::Exclude(ls)) => (false, ls.labels.clone()),
                }
            }
        };
        let signature = |l: &Labels| -> Labels {
            let mut bld = l.builder();
            if on {
                bld.retain(|x| names.contains(&x.name));
            } else {
                bld.retain(|x| x.name != METRIC_NAME && !names.contains(&x.name));
            }
            bld.build()
        };
        let mut right: HashMap<Labels, &Elem> = HashMap::new();
        for r in &rhs {
            let sig = signature(&r.labels);
            if right.insert(sig.clone(), r).is_some() {
                return Err(PromqlError::Execution(format!(
                    "found duplicate series for the match group {sig} on the right hand-side of the operation; many-to-many matching not allowed: matching labels must be unique on one side"
                )));
            }
        }
        let mut left: HashMap<Labels, ()> = HashMap::new();
        for l in &lhs {
            let sig = signature(&l.labels);
            if right.contains_key(&sig) && left.insert(sig.clone(), ()).is_some() {
                return Err(PromqlError::Execution(format!(
                    "found duplicate series for the match group {sig} on the left hand-side of the operation; many-to-many matching not allowed: matching labels must be unique on one side"
                )));
            }
        }
        let mut seen: HashMap<Labels, ()> = HashMap::new();
        let mut out = Vec::new();
        for l in &lhs {
            let sig = signature(&l.labels);
            let Some(r) = right.get(&sig) else {
                continue;
            };
            let (mut v, mut keep) = binop(op, l.value, r.value)?;
            if return_bool {
                v = if keep { 1.0 } else { 0.0 };
                keep = true;
            }
            if !keep {
                continue;
            }
            let dropping = !comparison || return_bool || l.drop_name;
            let mut metric = l.labels.clone();
            if on {
                let mut bld = metric.builder();
                bld.retain(|x| names.contains(&x.name));
                metric = bld.build();
            } else if !names.is_empty() {
                let mut bld = metric.builder();
                bld.retain(|x| !names.contains(&x.name));
                metric = bld.build();
            }
            if seen.insert(sig.clone(), ()).is_some() {
                return Err(PromqlError::Execution(format!(
                    "multiple matches for labels {sig}: many-to-one matching must be explicit (group_left/group_right)"
                )));
            }
            out.push(Elem {
                labels: metric,
                value: v,
                sample_t: None,
                drop_name: dropping,
            });
        }
        Ok(out)
    }
}

/// The match signature of `l` under `on(names)` (`on`) or `ignoring(names)`; ignoring
/// also drops the metric name.
fn match_signature(l: &Labels, on: bool, names: &[String]) -> Labels {
    let mut b = l.builder();
    if on {
        b.retain(|x| names.contains(&x.name));
    } else {
        b.retain(|x| x.name != METRIC_NAME && !names.contains(&x.name));
    }
    b.build()
}

/// `and`, `or`, `unless`: many-to-many filtering by match signature.
fn set_op(b: &BinaryExpr, op: &str, lhs: Vec<Elem>, rhs: Vec<Elem>) -> Vec<Elem> {
    let (on, names): (bool, Vec<String>) =
        match b.modifier.as_ref().and_then(|m| m.matching.as_ref()) {
            Some(LabelModifier::Include(ls)) => (true, ls.labels.clone()),
            Some(LabelModifier::Exclude(ls)) => (false, ls.labels.clone()),
            None => (false, Vec::new()),
        };
    let right: HashMap<Labels, ()> = rhs
        .iter()
        .map(|e| (match_signature(&e.labels, on, &names), ()))
        .collect();
    match op {
        "and" => lhs
            .into_iter()
            .filter(|e| right.contains_key(&match_signature(&e.labels, on, &names)))
            .collect(),
        "unless" => lhs
            .into_iter()
            .filter(|e| !right.contains_key(&match_signature(&e.labels, on, &names)))
            .collect(),
        _ => {
            let left: HashMap<Labels, ()> = lhs
                .iter()
                .map(|e| (match_signature(&e.labels, on, &names), ()))
                .collect();
            let mut out = lhs;
            out.extend(
                rhs.into_iter()
                    .filter(|e| !left.contains_key(&match_signature(&e.labels, on, &names))),
            );
            out
        }
    }
}

fn vector_scalar(
    op: &str,
    v: Vec<Elem>,
    s: f64,
    swap: bool,
    return_bool: bool,
    comparison: bool,
) -> Result<Vec<Elem>, PromqlError> {
    let mut out = Vec::with_capacity(v.len());
    for e in v {
        let (l, r) = if swap { (s, e.value) } else { (e.value, s) };
        let (mut value, mut keep) = binop(op, l, r)?;
        if comparison && swap {
            value = r;
        }
        if return_bool {
            value = if keep { 1.0 } else { 0.0 };
            keep = true;
        }
        if !keep {
            continue;
        }
        out.push(Elem {
            labels: e.labels,
            value,
            sample_t: None,
            drop_name: !comparison || return_bool || e.drop_name,
        });
    }
    Ok(out)
}
