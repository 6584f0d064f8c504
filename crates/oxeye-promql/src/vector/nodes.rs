//! The nodes the series-major path evaluates, each over all steps at once.
//!
//! [`supported`] is the static check run before evaluation; [`Cx::eval`] evaluates a
//! supported node into [`Cols`]. Every node mirrors its step-evaluator counterpart
//! element by element: the same kernels, the same accumulation order within a group
//! (input series order), the same `drop_name` flags.

use std::collections::HashMap;

use oxeye_core::{Labels, METRIC_NAME};
use promql_parser::parser::value::ValueType;
use promql_parser::parser::{
    AggregateExpr, BinaryExpr, Call, Expr, LabelModifier, MatrixSelector, VectorMatchCardinality,
    VectorSelector,
};

use super::{Col, Cols, Stop};
use super::{ranked, series};
use crate::aggregate::Acc;
use crate::binary::{binop, is_arithmetic};
use crate::eval::Evaluator;
use crate::functions::{histogram, math, range};
use crate::select::{at_ms, duration_ms, offset_ms};

/// Aggregations evaluated here (those without a parameter).
const AGGREGATIONS: &[&str] = &[
    "sum", "avg", "min", "max", "count", "group", "stddev", "stdvar",
];

/// Aggregations with a scalar parameter evaluated here.
const PARAM_AGGREGATIONS: &[&str] = &["topk", "bottomk", "quantile"];

/// Series between interrupt checks in the per-series loops.
const CHECK_EVERY: usize = 1024;

/// The matrix selector an argument is, possibly in parentheses.
fn matrix_selector(e: &Expr) -> Option<&MatrixSelector> {
    match e {
        Expr::Paren(p) => matrix_selector(&p.expr),
        Expr::MatrixSelector(ms) => Some(ms),
        _ => None,
    }
}

/// Whether every node of `e` is one this module evaluates.
pub(crate) fn supported(e: &Expr) -> bool {
    match e {
        Expr::NumberLiteral(_) | Expr::VectorSelector(_) => true,
        Expr::Paren(p) => supported(&p.expr),
        Expr::Unary(u) => supported(&u.expr),
        Expr::Call(c) => {
            let name = c.func.name;
            match c.args.args.as_slice() {
                [a] if math::simple(name).is_some() => {
                    a.value_type() == ValueType::Vector && supported(a)
                }
                [a] if range::kernel(name).is_some() => matrix_selector(a).is_some(),
                [q, a] if name == "quantile_over_time" => {
                    q.value_type() == ValueType::Scalar
                        && supported(q)
                        && matrix_selector(a).is_some()
                }
                [q, v] if name == "histogram_quantile" => {
                    q.value_type() == ValueType::Scalar
                        && v.value_type() == ValueType::Vector
                        && supported(q)
                        && supported(v)
                }
                _ => false,
            }
        }
        Expr::Aggregate(a) => {
            let op = a.op.to_string();
            let param_ok = match &a.param {
                None => AGGREGATIONS.contains(&op.as_str()),
                Some(p) => {
                    PARAM_AGGREGATIONS.contains(&op.as_str())
                        && p.value_type() == ValueType::Scalar
                        && supported(p)
                }
            };
            param_ok && supported(&a.expr)
        }
        Expr::Binary(b) => {
            let op = b.op.to_string();
            if matches!(op.as_str(), "and" | "or" | "unless") {
                return b.lhs.value_type() == ValueType::Vector
                    && b.rhs.value_type() == ValueType::Vector
                    && supported(&b.lhs)
                    && supported(&b.rhs);
            }
            if binop(&op, 0.0, 0.0).is_err() {
                return false;
            }
            let many_to_many = b
                .modifier
                .as_ref()
                .is_some_and(|m| m.card == VectorMatchCardinality::ManyToMany);
            !many_to_many && supported(&b.lhs) && supported(&b.rhs)
        }
        _ => false,
    }
}

/// The context of one series-major evaluation.
pub(crate) struct Cx<'e, 'a> {
    pub ev: &'e Evaluator<'a>,
    /// The steps, ms.
    pub ts: &'e [i64],
    /// Threads for the per-series loops: 0 picks, 1 is sequential.
    pub threads: usize,
}

fn interrupt(ev: &Evaluator<'_>, k: usize) -> Result<(), Stop> {
    if k % CHECK_EVERY == 0 {
        ev.check_interrupt().map_err(Stop::Err)?;
    }
    Ok(())
}

impl Cx<'_, '_> {
    pub(crate) fn eval(&self, e: &Expr) -> Result<Cols, Stop> {
        match e {
            Expr::NumberLiteral(n) => Ok(Cols::Scalar(vec![n.val; self.ts.len()])),
            Expr::Paren(p) => self.eval(&p.expr),
            Expr::Unary(u) => Ok(match self.eval(&u.expr)? {
                Cols::Scalar(v) => Cols::Scalar(v.into_iter().map(|x| -x).collect()),
                Cols::Vector(mut cols) => {
                    for c in &mut cols {
                        c.vals.iter_mut().for_each(|v| *v = -*v);
                        c.drop_name = true;
                    }
                    Cols::Vector(cols)
                }
            }),
            Expr::VectorSelector(vs) => self.select(vs),
            Expr::Call(c) => self.call(c),
            Expr::Aggregate(a) => self.aggregate(a),
            Expr::Binary(b) => self.binary(b),
            _ => Err(Stop::Fallback),
        }
    }

    fn interrupt(&self) -> series::Interrupt {
        series::Interrupt {
            cancel: self.ev.cancel.clone(),
            deadline: self.ev.deadline,
        }
    }

    /// Joins the parts of a split loop: an interrupted part is the evaluator's error.
    fn join(&self, parts: &[series::Part]) -> Result<(), Stop> {
        if parts.iter().any(|p| p.stopped) {
            self.ev.check_interrupt().map_err(Stop::Err)?;
            return Err(Stop::Fallback);
        }
        Ok(())
    }

    /// A vector selector: per series one cursor moving forward across the steps.
    fn select(&self, vs: &VectorSelector) -> Result<Cols, Stop> {
        let ev = self.ev;
        let at = at_ms(&vs.at, ev.start, ev.end);
        let off = offset_ms(&vs.offset);
        let data = ev.data.get(vs);
        let stop = self.interrupt();
        let threads = series::threads(self.threads, data.len(), self.ts.len());
        let (ts, lookback) = (self.ts, ev.lookback_ms);
        let parts = series::split(data, threads, |run| {
            series::select(run, ts, at, off, lookback, &stop)
        });
        self.join(&parts)?;
        Ok(Cols::Vector(
            parts.into_iter().flat_map(|p| p.cols).collect(),
        ))
    }

    fn call(&self, c: &Call) -> Result<Cols, Stop> {
        let name = c.func.name;
        if let ("histogram_quantile", [q, v]) = (name, c.args.args.as_slice()) {
            return self.histogram_quantile(q, v);
        }
        if let ("quantile_over_time", [q, a]) = (name, c.args.args.as_slice()) {
            let Cols::Scalar(qs) = self.eval(q)? else {
                return Err(Stop::Fallback);
            };
            let Some(ms) = matrix_selector(a) else {
                return Err(Stop::Fallback);
            };
            return self.range_fn(name, series::Apply::Quantile(qs), ms, a, Some(q));
        }
        let [a] = c.args.args.as_slice() else {
            return Err(Stop::Fallback);
        };
        if let Some(f) = math::simple(name) {
            let Cols::Vector(mut cols) = self.eval(a)? else {
                return Err(Stop::Fallback);
            };
            for c in &mut cols {
                c.vals.iter_mut().for_each(|v| *v = f(*v));
                c.drop_name = true;
            }
            return Ok(Cols::Vector(cols));
        }
        match (range::kernel(name), matrix_selector(a)) {
            (Some(kernel), Some(ms)) => {
                let apply = match name {
                    "rate" => series::Apply::Counter { is_rate: true },
                    "increase" => series::Apply::Counter { is_rate: false },
                    _ => series::Apply::Kernel(kernel),
                };
                self.range_fn(name, apply, ms, a, None)
            }
            _ => Err(Stop::Fallback),
        }
    }

    /// `histogram_quantile` over classic buckets: series grouped once by their labels
    /// without `le`, the existing kernel applied per group and step.
    fn histogram_quantile(&self, qe: &Expr, ve: &Expr) -> Result<Cols, Stop> {
        let ev = self.ev;
        let Cols::Scalar(q) = self.eval(qe)? else {
            return Err(Stop::Fallback);
        };
        let Cols::Vector(cols) = self.eval(ve)? else {
            return Err(Stop::Fallback);
        };
        for &x in &q {
            ev.check_quantile(x, qe);
        }
        let mut pos: Option<String> = None;
        let mut index: HashMap<Labels, usize> = HashMap::new();
        let mut groups: Vec<(Labels, Vec<(f64, &Col)>)> = Vec::new();
        for c in &cols {
            let Some(upper) = histogram::parse_le(c.labels.get("le").unwrap_or("")) else {
                if c.present.iter().any(|p| *p) {
                    let pos = pos.get_or_insert_with(|| ev.position_suffix(ve));
                    ev.warn(histogram::le_warning(&c.labels, pos));
                }
                continue;
            };
            let mut b = c.labels.builder();
            b.del("le");
            let key = b.build();
            let gi = match index.get(&key) {
                Some(&i) => i,
                None => {
                    index.insert(key.clone(), groups.len());
                    groups.push((key, Vec::new()));
                    groups.len() - 1
                }
            };
            if let Some((_, members)) = groups.get_mut(gi) {
                members.push((upper, c));
            }
        }
        let mut out = Vec::with_capacity(groups.len());
        for (k, (labels, members)) in groups.into_iter().enumerate() {
            interrupt(ev, k)?;
            let mut col = Col {
                labels,
                drop_name: true,
                vals: vec![0.0; q.len()],
                present: vec![false; q.len()],
            };
            let mut forced_any = false;
            let cells = q
                .iter()
                .zip(col.vals.iter_mut().zip(col.present.iter_mut()));
            for (i, (&qi, (v, p))) in cells.enumerate() {
                let buckets: Vec<histogram::Bucket> = members
                    .iter()
                    .filter(|(_, c)| c.present.get(i).copied().unwrap_or(false))
                    .map(|(upper, c)| histogram::Bucket {
                        upper: *upper,
                        count: c.vals.get(i).copied().unwrap_or(f64::NAN),
                    })
                    .collect();
                if buckets.is_empty() {
                    continue;
                }
                let (value, forced) = histogram::bucket_quantile(qi, buckets);
                forced_any |= forced.is_some();
                *v = value;
                *p = true;
            }
            if forced_any {
                ev.info(histogram::monotonicity_info(
                    &col.labels,
                    &ev.position_suffix(ve),
                ));
            }
            out.push(col);
        }
        Ok(Cols::Vector(out))
    }

    /// A range function over a matrix selector: per series two cursors (window start
    /// and end) moving forward across the steps.
    fn range_fn(
        &self,
        name: &str,
        apply: series::Apply,
        ms: &MatrixSelector,
        arg: &Expr,
        quantile_arg: Option<&Expr>,
    ) -> Result<Cols, Stop> {
        let ev = self.ev;
        let vs = &ms.vs;
        let rf = series::RangeFn {
            apply,
            at: at_ms(&vs.at, ev.start, ev.end),
            off: offset_ms(&vs.offset),
            range_ms: duration_ms(&ms.range),
            keep_name: matches!(name, "last_over_time" | "first_over_time"),
        };
        let data = ev.data.get(vs);
        let stop = self.interrupt();
        let threads = series::threads(self.threads, data.len(), self.ts.len());
        let parts = series::split(data, threads, |run| series::range(run, self.ts, &rf, &stop));
        self.join(&parts)?;
        // Samples held per step, as the step evaluator counts them against the limit.
        let mut totals = vec![0usize; self.ts.len()];
        for p in &parts {
            for (t, x) in totals.iter_mut().zip(&p.totals) {
                *t += x;
            }
        }
        if totals.iter().any(|t| *t > ev.max_samples) {
            return Err(Stop::Fallback);
        }
        if let (Some(q_arg), series::Apply::Quantile(qs)) = (quantile_arg, &rf.apply) {
            // Warned at the steps where some series had samples, as the step path does.
            for (&q, &total) in qs.iter().zip(&totals) {
                if total > 0 {
                    ev.check_quantile(q, q_arg);
                }
            }
        }
        if matches!(name, "rate" | "increase") {
            ev.check_counter_names(parts.iter().flat_map(|p| p.windowed.iter()), arg);
        }
        Ok(Cols::Vector(
            parts.into_iter().flat_map(|p| p.cols).collect(),
        ))
    }

    /// Arithmetic and comparisons with at least one scalar side.
    fn binary(&self, b: &BinaryExpr) -> Result<Cols, Stop> {
        let op = b.op.to_string();
        if matches!(op.as_str(), "and" | "or" | "unless") {
            let (Cols::Vector(l), Cols::Vector(r)) = (self.eval(&b.lhs)?, self.eval(&b.rhs)?)
            else {
                return Err(Stop::Fallback);
            };
            return Ok(super::matching::set_op(b, &op, l, r, self.ts.len()));
        }
        let return_bool = b.modifier.as_ref().is_some_and(|m| m.return_bool);
        let comparison = !is_arithmetic(&op);
        let lhs = self.eval(&b.lhs)?;
        let rhs = self.eval(&b.rhs)?;
        match (lhs, rhs) {
            (Cols::Scalar(l), Cols::Scalar(r)) => {
                let mut out = Vec::with_capacity(l.len());
                for (x, y) in l.into_iter().zip(r) {
                    let (v, keep) = binop(&op, x, y).map_err(|_| Stop::Fallback)?;
                    out.push(if comparison {
                        if keep { 1.0 } else { 0.0 }
                    } else {
                        v
                    });
                }
                Ok(Cols::Scalar(out))
            }
            (Cols::Vector(v), Cols::Scalar(s)) => {
                vector_scalar(&op, v, &s, false, return_bool, comparison)
            }
            (Cols::Scalar(s), Cols::Vector(v)) => {
                vector_scalar(&op, v, &s, true, return_bool, comparison)
            }
            (Cols::Vector(l), Cols::Vector(r)) => {
                super::matching::vector_vector(b, &op, l, r, return_bool, comparison, self.ts.len())
            }
        }
    }

    fn aggregate(&self, a: &AggregateExpr) -> Result<Cols, Stop> {
        let op = a.op.to_string();
        let (without, names): (bool, &[String]) = match &a.modifier {
            None => (false, &[]),
            Some(LabelModifier::Include(ls)) => (false, &ls.labels),
            Some(LabelModifier::Exclude(ls)) => (true, &ls.labels),
        };
        let keeps = |name: &str| {
            if without {
                name != METRIC_NAME && !names.iter().any(|n| n == name)
            } else {
                names.iter().any(|n| n == name)
            }
        };
        let param = match &a.param {
            Some(p) => match self.eval(p)? {
                Cols::Scalar(v) => Some((v, p)),
                Cols::Vector(_) => return Err(Stop::Fallback),
            },
            None => None,
        };
        let Cols::Vector(input) = self.eval(&a.expr)? else {
            return Err(Stop::Fallback);
        };
        if let Some((p, p_expr)) = param {
            let (group_of, labels) = ranked::groups(&input, keeps);
            return match op.as_str() {
                "topk" | "bottomk" => {
                    ranked::topk(op == "topk", &p, input, &group_of, labels.len())
                }
                "quantile" => {
                    for &q in &p {
                        self.ev.check_quantile(q, p_expr);
                    }
                    ranked::quantiles(&p, &input, &group_of, labels)
                }
                _ => Err(Stop::Fallback),
            };
        }
        let n = self.ts.len();
        let (group_of, labels) = ranked::groups(&input, keeps);
        let mut accs: Vec<Vec<Acc>> = vec![vec![Acc::default(); n]; labels.len()];
        for (k, (c, &gi)) in input.iter().zip(&group_of).enumerate() {
            interrupt(self.ev, k)?;
            let Some(group) = accs.get_mut(gi) else {
                continue;
            };
            for ((acc, &f), &p) in group.iter_mut().zip(&c.vals).zip(&c.present) {
                if p {
                    acc.add(&op, f, c.drop_name);
                }
            }
        }
        let mut out = Vec::with_capacity(labels.len());
        for (labels, accs) in labels.into_iter().zip(accs) {
            let mut vals = vec![0.0; n];
            let mut present = vec![false; n];
            let mut drops = (false, false);
            for ((acc, v), p) in accs.iter().zip(vals.iter_mut()).zip(present.iter_mut()) {
                if !acc.seen {
                    continue;
                }
                *v = acc.finish(&op);
                *p = true;
                if acc.drop {
                    drops.0 = true;
                } else {
                    drops.1 = true;
                }
            }
            // A group whose name removal differs between steps keeps its name at some
            // steps only; left to the step evaluator.
            if drops.0 && drops.1 && labels.get(METRIC_NAME).is_some() {
                return Err(Stop::Fallback);
            }
            out.push(Col {
                labels,
                drop_name: drops.0,
                vals,
                present,
            });
        }
        Ok(Cols::Vector(out))
    }
}

/// A vector and a scalar column (`swap`: the scalar is on the left).
fn vector_scalar(
    op: &str,
    mut cols: Vec<Col>,
    s: &[f64],
    swap: bool,
    return_bool: bool,
    comparison: bool,
) -> Result<Cols, Stop> {
    for c in &mut cols {
        for ((v, p), &x) in c.vals.iter_mut().zip(c.present.iter_mut()).zip(s) {
            if !*p {
                continue;
            }
            let (l, r) = if swap { (x, *v) } else { (*v, x) };
            let (mut value, mut keep) = binop(op, l, r).map_err(|_| Stop::Fallback)?;
            if comparison && swap {
                value = r;
            }
            if return_bool {
                value = if keep { 1.0 } else { 0.0 };
                keep = true;
            }
            *v = value;
            *p = keep;
        }
        c.drop_name = !comparison || return_bool || c.drop_name;
    }
    Ok(Cols::Vector(cols))
}
