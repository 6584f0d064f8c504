//! Binary operators: arithmetic and comparisons between scalars and vectors with
//! `on`/`ignoring` matching, and the set operators `and`, `or`, `unless`.

use std::collections::{HashMap, HashSet};

use oxeye_core::{Labels, METRIC_NAME};
use promql_parser::parser::{BinaryExpr, LabelModifier, VectorMatchCardinality};

use crate::PromqlError;
use crate::eval::{Elem, Evaluator, StepValue};

pub(crate) fn is_arithmetic(op: &str) -> bool {
    matches!(op, "+" | "-" | "*" | "/" | "%" | "^" | "atan2")
}

/// Applies `op` to two values: the value and whether a comparison holds.
pub(crate) fn binop(op: &str, l: f64, r: f64) -> Result<(f64, bool), PromqlError> {
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

    /// Arithmetic and comparisons between two vectors, one-to-one or with
    /// `group_left`/`group_right` (many-to-one, one-to-many), as Prometheus matches them.
    fn vector_vector(
        &self,
        b: &BinaryExpr,
        op: &str,
        lhs: Vec<Elem>,
        rhs: Vec<Elem>,
        return_bool: bool,
        comparison: bool,
    ) -> Result<Vec<Elem>, PromqlError> {
        let Matching {
            card: _,
            on,
            names,
            one_to_one,
            swapped,
            include,
        } = Matching::of(b);
        if lhs.is_empty() || rhs.is_empty() {
            return Ok(Vec::new());
        }
        // The "many" side on the left, the "one" side on the right.
        let (many, one) = if swapped { (rhs, lhs) } else { (lhs, rhs) };
        let mut right: HashMap<u64, &Elem> = HashMap::with_capacity(one.len());
        for r in &one {
            let sig = signature_hash(&r.labels, on, names);
            if let Some(prev) = right.get(&sig) {
                let sig = match_signature(&r.labels, on, names);
                let one_side = if swapped { "left" } else { "right" };
                let (mut d1, mut d2) = (prom_string(&r.labels), prom_string(&prev.labels));
                if d1 > d2 {
                    std::mem::swap(&mut d1, &mut d2);
                }
                return Err(PromqlError::Execution(format!(
                    "found duplicate series for the match group {} on the {one_side} hand-side of the operation: [{d1}, {d2}];many-to-many matching not allowed: matching labels must be unique on one side",
                    prom_string(&sig)
                )));
            }
            right.insert(sig, r);
        }
        let mut matched_one: HashSet<u64> = HashSet::new();
        // (match signature, result labels hash) pairs seen, as Prometheus checks them.
        let mut matched_many: HashSet<(u64, u64)> = HashSet::new();
        let mut out = Vec::new();
        let memo_key = b as *const BinaryExpr as usize;
        for l in &many {
            let sig = signature_hash(&l.labels, on, names);
            let Some(r) = right.get(&sig) else {
                continue;
            };
            let (fl, fr) = if swapped {
                (r.value, l.value)
            } else {
                (l.value, r.value)
            };
            let (mut v, keep) = binop(op, fl, fr)?;
            if return_bool {
                v = if keep { 1.0 } else { 0.0 };
            }
            let metric = if result_is_many(op, one_to_one, on, names, include) {
                l.labels.clone()
            } else {
                let one_labels = if include.is_empty() {
                    Labels::default()
                } else {
                    r.labels.clone()
                };
                let key = (memo_key, l.labels.clone(), one_labels);
                let cached = self.metric_memo.borrow().get(&key).cloned();
                match cached {
                    Some(m) => m,
                    None => {
                        let m =
                            result_metric(&l.labels, &r.labels, op, one_to_one, on, names, include);
                        self.metric_memo.borrow_mut().insert(key, m.clone());
                        m
                    }
                }
            };
            if one_to_one {
                if !matched_one.insert(sig) {
                    return Err(PromqlError::Execution(
                        "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)".into(),
                    ));
                }
            } else if !matched_many.insert((sig, metric.hash64())) {
                return Err(PromqlError::Execution(
                    "multiple matches for labels: grouping labels must ensure unique matches"
                        .into(),
                ));
            }
            if !keep && !return_bool {
                continue;
            }
            out.push(Elem {
                labels: metric,
                value: v,
                sample_t: None,
                drop_name: return_bool || (comparison && l.drop_name),
            });
        }
        Ok(out)
    }
}

/// Whether a result element's labels are the "many" side's labels unchanged.
fn result_is_many(
    op: &str,
    one_to_one: bool,
    on: bool,
    names: &[String],
    include: &[String],
) -> bool {
    !is_arithmetic(op)
        && ((!one_to_one && include.is_empty()) || (one_to_one && !on && names.is_empty()))
}

/// Prometheus's notation of a label set in error messages: `{__name__="x", a="b"}`.
pub(crate) fn prom_string(l: &Labels) -> String {
    let mut s = String::from("{");
    for (i, x) in l.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        s.push_str(&format!("{}={:?}", x.name, x.value));
    }
    s.push('}');
    s
}

/// The labels of a vector/vector result element: the "many" side's labels; arithmetic
/// removes the metric name; one-to-one matching keeps only the `on` labels (or removes
/// the `ignoring` ones); `group_x` labels are copied from the "one" side.
pub(crate) fn result_metric(
    many: &Labels,
    one: &Labels,
    op: &str,
    one_to_one: bool,
    on: bool,
    names: &[String],
    include: &[String],
) -> Labels {
    if result_is_many(op, one_to_one, on, names, include) {
        return many.clone();
    }
    let arithmetic = is_arithmetic(op);
    let mut b = many.builder();
    if arithmetic {
        b.del(METRIC_NAME);
    }
    if one_to_one {
        if on {
            b.retain(|x| names.contains(&x.name));
        } else {
            b.retain(|x| !names.contains(&x.name));
        }
    }
    for name in include {
        match one.get(name) {
            Some(v) => {
                b.set(name, v);
            }
            None => {
                b.del(name);
            }
        }
    }
    b.build()
}

/// A 64-bit hash of the match signature of `l` (see [`match_signature`]); equal
/// signatures hash equal, and no label set is built.
fn signature_hash(l: &Labels, on: bool, names: &[String]) -> u64 {
    use std::hash::Hasher;
    let mut h = xxhash_rust::xxh64::Xxh64::new(0);
    for x in l.iter() {
        let keep = if on {
            names.contains(&x.name)
        } else {
            x.name != METRIC_NAME && !names.contains(&x.name)
        };
        if keep {
            h.write(x.name.as_bytes());
            h.write_u8(0xff);
            h.write(x.value.as_bytes());
            h.write_u8(0xff);
        }
    }
    h.finish()
}

/// The match signature of `l` under `on(names)` (`on`) or `ignoring(names)`; ignoring
/// also drops the metric name.
pub(crate) fn match_signature(l: &Labels, on: bool, names: &[String]) -> Labels {
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
    let Matching { on, names, .. } = Matching::of(b);
    match op {
        "and" | "unless" => {
            if rhs.is_empty() {
                return if op == "and" { Vec::new() } else { lhs };
            }
            let right: HashSet<u64> = rhs
                .iter()
                .map(|e| signature_hash(&e.labels, on, names))
                .collect();
            let keep_matched = op == "and";
            lhs.into_iter()
                .filter(|e| right.contains(&signature_hash(&e.labels, on, names)) == keep_matched)
                .collect()
        }
        _ => {
            if lhs.is_empty() {
                return rhs;
            }
            if rhs.is_empty() {
                return lhs;
            }
            let left: HashSet<u64> = lhs
                .iter()
                .map(|e| signature_hash(&e.labels, on, names))
                .collect();
            let mut out = lhs;
            out.extend(
                rhs.into_iter()
                    .filter(|e| !left.contains(&signature_hash(&e.labels, on, names))),
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

/// A vector/vector operator's matching, read once from its modifier.
pub(crate) struct Matching<'a> {
    pub card: &'a VectorMatchCardinality,
    /// `on(names)` (true) or `ignoring(names)`.
    pub on: bool,
    pub names: &'a [String],
    /// No `group_left`/`group_right`.
    pub one_to_one: bool,
    /// `group_right`: the right-hand side is the "many" side.
    pub swapped: bool,
    /// The labels `group_left`/`group_right` copy from the "one" side.
    pub include: &'a [String],
}

impl<'a> Matching<'a> {
    pub(crate) fn of(b: &'a BinaryExpr) -> Self {
        let (card, matching) = match b.modifier.as_ref() {
            None => (&VectorMatchCardinality::OneToOne, None),
            Some(m) => (&m.card, m.matching.as_ref()),
        };
        let (on, names): (bool, &[String]) = match matching {
            None => (false, &[]),
            Some(LabelModifier::Include(ls)) => (true, &ls.labels),
            Some(LabelModifier::Exclude(ls)) => (false, &ls.labels),
        };
        let (one_to_one, swapped, include): (bool, bool, &[String]) = match card {
            VectorMatchCardinality::ManyToOne(ls) => (false, false, &ls.labels),
            VectorMatchCardinality::OneToMany(ls) => (false, true, &ls.labels),
            _ => (true, false, &[]),
        };
        Self {
            card,
            on,
            names,
            one_to_one,
            swapped,
            include,
        }
    }
}
