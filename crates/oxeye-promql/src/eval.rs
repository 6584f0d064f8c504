//! Evaluation of one step: selectors, operators and aggregations.
//!
//! Each call evaluates the AST at one timestamp against preloaded series and returns a
//! [`StepValue`]. Vector selectors take the latest non-stale sample within the lookback
//! window `(ts - lookback, ts]`; matrix selectors take the non-stale samples in the
//! left-open window `(ts - range, ts]`.

use std::collections::HashMap;

use oxeye_core::{Labels, METRIC_NAME, Sample, is_stale_nan};
use promql_parser::parser::{
    AggregateExpr, BinaryExpr, Expr, LabelModifier, MatrixSelector, VectorMatchCardinality,
    VectorSelector,
};

use crate::PromqlError;
use crate::select::{Preloaded, at_ms, offset_ms};

/// One element of an instant vector.
#[derive(Debug, Clone)]
pub(crate) struct Elem {
    pub labels: Labels,
    pub value: f64,
    /// Timestamp of the underlying sample for a plain selector, used by `timestamp()`.
    pub sample_t: Option<i64>,
    /// The metric name is to be removed when the query's result is returned (Prometheus 3
    /// delayed name removal): functions and operators set this instead of deleting
    /// `__name__`, so `label_replace` and `by (__name__)` still see it.
    pub drop_name: bool,
}

impl Elem {
    /// An element whose labels are kept as they are.
    pub(crate) fn new(labels: Labels, value: f64) -> Self {
        Self {
            labels,
            value,
            sample_t: None,
            drop_name: false,
        }
    }

    /// An element whose metric name is dropped from the final result.
    pub(crate) fn dropping(labels: Labels, value: f64) -> Self {
        Self {
            labels,
            value,
            sample_t: None,
            drop_name: true,
        }
    }
}

/// Warnings and infos gathered while evaluating a query, as Prometheus annotates results.
#[derive(Debug, Default, Clone)]
pub(crate) struct Annotations {
    pub warnings: std::collections::BTreeSet<String>,
    pub infos: std::collections::BTreeSet<String>,
}

/// The value of an expression at one step.
#[derive(Debug, Clone)]
pub(crate) enum StepValue {
    Scalar(f64),
    Vector(Vec<Elem>),
    Matrix(Vec<(Labels, Vec<Sample>)>),
    String(String),
}

pub(crate) struct Evaluator<'a> {
    pub data: &'a Preloaded,
    pub start: i64,
    pub end: i64,
    pub lookback_ms: i64,
    pub max_samples: usize,
    pub annotations: std::cell::RefCell<Annotations>,
}

/// `l` without its metric name.
pub(crate) fn drop_name(l: &Labels) -> Labels {
    if l.get(METRIC_NAME).is_none() {
        return l.clone();
    }
    let mut b = l.builder();
    b.del(METRIC_NAME);
    b.build()
}

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
    /// Records a warning annotation for the query.
    pub(crate) fn warn(&self, msg: impl Into<String>) {
        self.annotations.borrow_mut().warnings.insert(msg.into());
    }

    /// Records an info annotation for the query.
    pub(crate) fn info(&self, msg: impl Into<String>) {
        self.annotations.borrow_mut().infos.insert(msg.into());
    }

    /// Wraps a finished query's value with the annotations gathered evaluating it.
    pub(crate) fn output(&self, value: crate::Value) -> crate::Output {
        let a = self.annotations.take();
        crate::Output {
            value,
            warnings: a.warnings.into_iter().collect(),
            infos: a.infos.into_iter().collect(),
        }
    }

    pub(crate) fn eval(&self, e: &Expr, t: i64) -> Result<StepValue, PromqlError> {
        match e {
            Expr::NumberLiteral(n) => Ok(StepValue::Scalar(n.val)),
            Expr::StringLiteral(s) => Ok(StepValue::String(s.val.clone())),
            Expr::Paren(p) => self.eval(&p.expr, t),
            Expr::VectorSelector(vs) => Ok(StepValue::Vector(self.select_vector(vs, t))),
            Expr::MatrixSelector(ms) => {
                let m = self.select_matrix(ms, t)?;
                Ok(StepValue::Matrix(
                    m.into_iter().map(|(l, s, _)| (l, s)).collect(),
                ))
            }
            Expr::Unary(u) => match self.eval(&u.expr, t)? {
                StepValue::Scalar(v) => Ok(StepValue::Scalar(-v)),
                StepValue::Vector(v) => Ok(StepValue::Vector(
                    v.into_iter()
                        .map(|e| Elem::dropping(e.labels, -e.value))
                        .collect(),
                )),
                _ => Err(PromqlError::Execution(
                    "unary minus applies only to scalars and instant vectors".into(),
                )),
            },
            Expr::Binary(b) => self.binary(b, t),
            Expr::Aggregate(a) => self.aggregate(a, t),
            Expr::Call(c) => self.call(c, t),
            Expr::Subquery(_) => Err(PromqlError::Unsupported(
                "subqueries are not supported yet".into(),
            )),
            Expr::Extension(_) => Err(PromqlError::Unsupported(
                "extension expressions are not supported".into(),
            )),
        }
    }

    /// Evaluates a query's top-level expression, rejecting duplicate result label sets.
    ///
    /// Metric names flagged for removal are removed here, at the end, so the check sees
    /// the labels the user will see.
    pub(crate) fn eval_checked(&self, e: &Expr, t: i64) -> Result<StepValue, PromqlError> {
        match self.eval(e, t)? {
            StepValue::Vector(mut v) => {
                for e in &mut v {
                    if e.drop_name {
                        e.labels = drop_name(&e.labels);
                        e.drop_name = false;
                    }
                }
                unique(v)
            }
            other => Ok(other),
        }
    }

    pub(crate) fn eval_scalar(&self, e: &Expr, t: i64) -> Result<f64, PromqlError> {
        match self.eval(e, t)? {
            StepValue::Scalar(v) => Ok(v),
            _ => Err(PromqlError::Execution(format!(
                "expected a scalar argument, got {e}"
            ))),
        }
    }

    pub(crate) fn eval_vector(&self, e: &Expr, t: i64) -> Result<Vec<Elem>, PromqlError> {
        match self.eval(e, t)? {
            StepValue::Vector(v) => Ok(v),
            _ => Err(PromqlError::Execution(format!(
                "expected an instant vector argument, got {e}"
            ))),
        }
    }

    fn select_vector(&self, vs: &VectorSelector, t: i64) -> Vec<Elem> {
        let ts = at_ms(&vs.at, self.start, self.end)
            .unwrap_or(t)
            .saturating_sub(offset_ms(&vs.offset));
        let lo = ts.saturating_sub(self.lookback_ms);
        let mut out = Vec::new();
        for (labels, samples) in self.data.get(vs) {
            let idx = samples.partition_point(|s| s.t <= ts);
            let Some(last) = idx.checked_sub(1).and_then(|i| samples.get(i)) else {
                continue;
            };
            if last.t <= lo || is_stale_nan(last.v) {
                continue;
            }
            out.push(Elem {
                labels: labels.clone(),
                value: last.v,
                sample_t: Some(last.t),
                drop_name: false,
            });
        }
        out
    }

    /// The matrix at step `t` plus, per series, the range end used (ms).
    pub(crate) fn select_matrix(
        &self,
        ms: &MatrixSelector,
        t: i64,
    ) -> Result<Vec<(Labels, Vec<Sample>, i64)>, PromqlError> {
        let vs = &ms.vs;
        let ts = at_ms(&vs.at, self.start, self.end)
            .unwrap_or(t)
            .saturating_sub(offset_ms(&vs.offset));
        let range = i64::try_from(ms.range.as_millis()).unwrap_or(i64::MAX / 4);
        let lo = ts.saturating_sub(range);
        let mut out = Vec::new();
        let mut total = 0usize;
        for (labels, samples) in self.data.get(vs) {
            let a = samples.partition_point(|s| s.t <= lo);
            let b = samples.partition_point(|s| s.t <= ts);
            let window: Vec<Sample> = samples
                .get(a..b)
                .unwrap_or(&[])
                .iter()
                .filter(|s| !is_stale_nan(s.v))
                .copied()
                .collect();
            if window.is_empty() {
                continue;
            }
            total += window.len();
            if total > self.max_samples {
                return Err(PromqlError::TooManySamples(self.max_samples));
            }
            out.push((labels.clone(), window, ts));
        }
        Ok(out)
    }

    fn binary(&self, b: &BinaryExpr, t: i64) -> Result<StepValue, PromqlError> {
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

    fn aggregate(&self, a: &AggregateExpr, t: i64) -> Result<StepValue, PromqlError> {
        let op = a.op.to_string();
        let input = self.eval_vector(&a.expr, t)?;
        let param = match &a.param {
            Some(p) => Some(self.eval_scalar(p, t)?),
            None => None,
        };
        if matches!(op.as_str(), "topk" | "bottomk") && param.is_some_and(f64::is_nan) {
            return Err(PromqlError::Execution(format!(
                "parameter value is NaN for {op}"
            )));
        }
        let group_key = |l: &Labels| -> Labels {
            let mut b = l.builder();
            match &a.modifier {
                None => {
                    b.retain(|_| false);
                }
                Some(LabelModifier::Include(ls)) => {
                    b.retain(|x| ls.labels.contains(&x.name));
                }
                Some(LabelModifier::Exclude(ls)) => {
                    b.retain(|x| x.name != METRIC_NAME && !ls.labels.contains(&x.name));
                }
            }
            b.build()
        };
        let mut order: Vec<Labels> = Vec::new();
        let mut groups: HashMap<Labels, Vec<Elem>> = HashMap::new();
        for e in input {
            let k = group_key(&e.labels);
            groups
                .entry(k.clone())
                .or_insert_with(|| {
                    order.push(k);
                    Vec::new()
                })
                .push(e);
        }
        let mut out = Vec::new();
        for k in order {
            let Some(members) = groups.remove(&k) else {
                continue;
            };
            let vals: Vec<f64> = members.iter().map(|e| e.value).collect();
            let n = vals.len() as f64;
            let dropping = members.iter().any(|e| e.drop_name);
            let single = |value: f64| Elem {
                labels: k.clone(),
                value,
                sample_t: None,
                drop_name: dropping,
            };
            match op.as_str() {
                "sum" => out.push(single(vals.iter().sum())),
                "avg" => out.push(single(vals.iter().sum::<f64>() / n)),
                "count" => out.push(single(n)),
                "group" => out.push(single(1.0)),
                "min" => out.push(single(vals.iter().copied().fold(f64::NAN, |acc, v| {
                    if acc.is_nan() || v < acc { v } else { acc }
                }))),
                "max" => out.push(single(vals.iter().copied().fold(f64::NAN, |acc, v| {
                    if acc.is_nan() || v > acc { v } else { acc }
                }))),
                "stddev" => out.push(single(variance(&vals).sqrt())),
                "stdvar" => out.push(single(variance(&vals))),
                "quantile" => {
                    let q = param.unwrap_or(f64::NAN);
                    if !(0.0..=1.0).contains(&q) {
                        self.warn(format!(
                            "PromQL warning: quantile value should be between 0 and 1, got {q}"
                        ));
                    }
                    out.push(single(quantile(q, vals)))
                }
                "topk" | "bottomk" => {
                    let k_param = param.unwrap_or(0.0);
                    if k_param < 1.0 {
                        continue;
                    }
                    let take = if k_param >= members.len() as f64 {
                        members.len()
                    } else {
                        k_param as usize
                    };
                    let mut members = members;
                    let top = op == "topk";
                    members.sort_by(|x, y| {
                        let ord = nan_low_cmp(x.value, y.value);
                        if top { ord.reverse() } else { ord }
                    });
                    if !top {
                        // NaN sorts last for bottomk too.
                        members.sort_by_key(|e| e.value.is_nan());
                    }
                    out.extend(members.into_iter().take(take).map(|mut e| {
                        e.sample_t = None;
                        e
                    }));
                }
                other => {
                    return Err(PromqlError::Unsupported(format!(
                        "aggregation {other} is not supported yet"
                    )));
                }
            }
        }
        Ok(StepValue::Vector(out))
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

/// Errors when dropping the metric name left two result elements with the same labels.
///
/// Checked on the final result of a step, so an aggregation over such elements (which
/// merges them) is still allowed, as with Prometheus's delayed name removal.
pub(crate) fn unique(v: Vec<Elem>) -> Result<StepValue, PromqlError> {
    let mut seen: HashMap<&Labels, ()> = HashMap::with_capacity(v.len());
    for e in &v {
        if seen.insert(&e.labels, ()).is_some() {
            return Err(PromqlError::Execution(format!(
                "vector cannot contain metrics with the same labelset {}",
                e.labels
            )));
        }
    }
    Ok(StepValue::Vector(v))
}

fn nan_low_cmp(a: f64, b: f64) -> std::cmp::Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        _ => a.partial_cmp(&b).unwrap_or(std::cmp::Ordering::Equal),
    }
}

fn variance(vals: &[f64]) -> f64 {
    let n = vals.len() as f64;
    let mean = vals.iter().sum::<f64>() / n;
    vals.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n
}

/// The `q`-quantile with linear interpolation between closest ranks.
pub(crate) fn quantile(q: f64, mut vals: Vec<f64>) -> f64 {
    if vals.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    vals.sort_by(|a, b| nan_low_cmp(*a, *b));
    let n = vals.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    let lv = vals.get(lower as usize).copied().unwrap_or(f64::NAN);
    let uv = vals.get(upper as usize).copied().unwrap_or(f64::NAN);
    lv * (1.0 - weight) + uv * weight
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
