//! Aggregation operators (`sum`, `avg`, `topk`, `quantile`, ...) over instant vectors,
//! grouped `by` or `without` labels.

use std::collections::HashMap;

use oxeye_core::{Labels, METRIC_NAME};
use promql_parser::parser::{AggregateExpr, LabelModifier};

use crate::PromqlError;
use crate::eval::{Elem, Evaluator, StepValue};

impl Evaluator<'_> {
    pub(crate) fn aggregate(&self, a: &AggregateExpr, t: i64) -> Result<StepValue, PromqlError> {
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
