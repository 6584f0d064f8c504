//! PromQL function calls.
//!
//! [`Evaluator::call`] evaluates a call at one step: it evaluates the arguments (range
//! vectors through [`Evaluator::eval_range`], scalars and instant vectors through the
//! ordinary evaluator), applies the function and returns the step's value. The function
//! bodies live in submodules by kind:
//! - [`range`]: rate family, regression, `resets`/`changes`, `*_over_time`, smoothing;
//! - [`math`]: element-wise math, clamping and rounding;
//! - [`time`]: calendar functions;
//! - [`labels`]: `label_replace`, `label_join`, sorting and `absent`;
//! - [`histogram`]: `histogram_quantile` and `histogram_fraction` on classic buckets.
//!
//! As in Prometheus 3, functions that change a value mark the element with `drop_name`
//! instead of removing `__name__`; the name is removed when the query's result is returned.

pub(crate) mod histogram;
mod labels;
pub(crate) mod math;
mod position;
pub(crate) mod range;
mod time;

use std::collections::HashMap;

use oxeye_core::{Labels, METRIC_NAME};
use promql_parser::parser::{Call, Expr};

use crate::PromqlError;
use crate::eval::{Elem, Evaluator, RangeSeries, StepValue};
use crate::format::go_float_g;

fn arg(c: &Call, i: usize) -> Result<&Expr, PromqlError> {
    c.args.args.get(i).map(|b| b.as_ref()).ok_or_else(|| {
        PromqlError::Execution(format!(
            "function {} is missing argument {}",
            c.func.name,
            i + 1
        ))
    })
}

/// A string-literal argument (parentheses allowed around it).
fn string_arg(c: &Call, i: usize) -> Result<&str, PromqlError> {
    let mut e = arg(c, i)?;
    while let Expr::Paren(p) = e {
        e = &p.expr;
    }
    match e {
        Expr::StringLiteral(s) => Ok(&s.val),
        other => Err(PromqlError::Execution(format!(
            "argument {} of {} must be a string literal, got {other}",
            i + 1,
            c.func.name
        ))),
    }
}

/// Applies `f` to every element's value, marking the metric name for removal.
fn map_vector(v: Vec<Elem>, f: impl Fn(f64) -> f64) -> StepValue {
    StepValue::Vector(
        v.into_iter()
            .map(|e| Elem::dropping(e.labels, f(e.value)))
            .collect(),
    )
}

/// The metric name of a series, empty when it has none (as Prometheus prints it).
fn metric_name(l: &Labels) -> &str {
    l.get(METRIC_NAME).unwrap_or("")
}

/// Fails when two elements carry the same label set (label_replace / label_join output),
/// with Prometheus's message for that case.
fn check_unique(v: &[Elem]) -> Result<(), PromqlError> {
    let mut seen: HashMap<&Labels, ()> = HashMap::with_capacity(v.len());
    for e in v {
        if seen.insert(&e.labels, ()).is_some() {
            return Err(PromqlError::Execution(
                "vector cannot contain metrics with the same labelset".into(),
            ));
        }
    }
    Ok(())
}

impl Evaluator<'_> {
    /// ` (line:col)` of `node` (an `Expr`, or a `Call` inside one) in the query text, as
    /// Prometheus ends its annotations; empty when the position is unknown.
    pub(crate) fn position_suffix<T>(&self, node: &T) -> String {
        let Some((q, root)) = self.query else {
            return String::new();
        };
        match position::Positions::new(q, root).of(position::key(node)) {
            Some(p) => format!(" ({p})"),
            None => String::new(),
        }
    }

    /// Prometheus's info annotation for `rate`/`increase` over series whose names do not
    /// look like a counter's; `arg` is the range argument the position points at.
    pub(crate) fn check_counter_names<'l>(
        &self,
        series: impl IntoIterator<Item = &'l Labels>,
        arg: &Expr,
    ) {
        let mut pos: Option<String> = None;
        for labels in series {
            let Some(name) = labels.get(METRIC_NAME) else {
                continue;
            };
            if ["_total", "_sum", "_count", "_bucket"]
                .iter()
                .any(|suffix| name.ends_with(suffix))
            {
                continue;
            }
            let pos = pos.get_or_insert_with(|| self.position_suffix(arg));
            self.info(format!(
                "PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: {name:?}{pos}"
            ));
        }
    }

    /// Prometheus's warning for a quantile outside [0, 1]; `arg` is the quantile's
    /// expression.
    pub(crate) fn check_quantile(&self, q: f64, arg: &Expr) {
        if q.is_nan() || !(0.0..=1.0).contains(&q) {
            self.warn(format!(
                "PromQL warning: quantile value should be between 0 and 1, got {}{}",
                go_float_g(q),
                self.position_suffix(arg)
            ));
        }
    }

    /// The optional scalar argument `i`, or `default` when absent.
    fn opt_scalar(&self, c: &Call, i: usize, t: i64, default: f64) -> Result<f64, PromqlError> {
        match c.args.args.get(i) {
            Some(e) => self.eval_scalar(e, t),
            None => Ok(default),
        }
    }

    /// Evaluates function call `c` at step `t`.
    pub(crate) fn call(&self, c: &Call, t: i64) -> Result<StepValue, PromqlError> {
        let name = c.func.name;
        if let Some(f) = math::simple(name) {
            let v = self.eval_vector(arg(c, 0)?, t)?;
            return Ok(map_vector(v, f));
        }
        if let Some(kernel) = range::kernel(name) {
            return self.range_fn(c, t, kernel);
        }
        match name {
            "quantile_over_time" => {
                let q = self.eval_scalar(arg(c, 0)?, t)?;
                let series = self.eval_range(arg(c, 1)?, t)?;
                if !series.is_empty() {
                    self.check_quantile(q, arg(c, 0)?);
                }
                Ok(per_series(series, true, |rs| {
                    range::quantile_over_time(q, &rs.samples)
                }))
            }
            "predict_linear" => {
                let series = self.eval_range(arg(c, 0)?, t)?;
                let duration = self.eval_scalar(arg(c, 1)?, t)?;
                // The regression's intercept is taken at the evaluation time itself, not at
                // the window's end after `@`/`offset`, as Prometheus does.
                Ok(per_series(series, true, |rs| {
                    range::predict_linear(&rs.samples, t, duration)
                }))
            }
            "double_exponential_smoothing" => {
                let series = self.eval_range(arg(c, 0)?, t)?;
                let sf = self.eval_scalar(arg(c, 1)?, t)?;
                let tf = self.eval_scalar(arg(c, 2)?, t)?;
                if series.is_empty() {
                    return Ok(StepValue::Vector(Vec::new()));
                }
                if sf.is_nan() || sf <= 0.0 || sf >= 1.0 {
                    return Err(PromqlError::Execution(format!(
                        "invalid smoothing factor. Expected: 0 < sf < 1, got: {sf:.6}"
                    )));
                }
                if tf.is_nan() || tf <= 0.0 || tf >= 1.0 {
                    return Err(PromqlError::Execution(format!(
                        "invalid trend factor. Expected: 0 < tf < 1, got: {tf:.6}"
                    )));
                }
                Ok(per_series(series, true, |rs| {
                    range::double_exponential_smoothing(&rs.samples, sf, tf)
                }))
            }
            "absent_over_time" => {
                let series = self.eval_range(arg(c, 0)?, t)?;
                Ok(StepValue::Vector(if series.is_empty() {
                    vec![Elem::new(labels::absent_labels(arg(c, 0)?), 1.0)]
                } else {
                    Vec::new()
                }))
            }
            "absent" => {
                let v = self.eval_vector(arg(c, 0)?, t)?;
                Ok(StepValue::Vector(if v.is_empty() {
                    vec![Elem::new(labels::absent_labels(arg(c, 0)?), 1.0)]
                } else {
                    Vec::new()
                }))
            }
            "round" => {
                let v = self.eval_vector(arg(c, 0)?, t)?;
                let to = self.opt_scalar(c, 1, t, 1.0)?;
                Ok(map_vector(v, |x| math::round(x, to)))
            }
            "clamp" => {
                let v = self.eval_vector(arg(c, 0)?, t)?;
                let lo = self.eval_scalar(arg(c, 1)?, t)?;
                let hi = self.eval_scalar(arg(c, 2)?, t)?;
                if hi < lo {
                    return Ok(StepValue::Vector(Vec::new()));
                }
                Ok(map_vector(v, |x| math::clamp(x, lo, hi)))
            }
            "clamp_min" => {
                let v = self.eval_vector(arg(c, 0)?, t)?;
                let lo = self.eval_scalar(arg(c, 1)?, t)?;
                Ok(map_vector(v, |x| math::clamp(x, lo, f64::INFINITY)))
            }
            "clamp_max" => {
                let v = self.eval_vector(arg(c, 0)?, t)?;
                let hi = self.eval_scalar(arg(c, 1)?, t)?;
                Ok(map_vector(v, |x| math::clamp(x, f64::NEG_INFINITY, hi)))
            }
            "max_of" | "min_of" => {
                let a = self.eval_scalar(arg(c, 0)?, t)?;
                let b = self.eval_scalar(arg(c, 1)?, t)?;
                Ok(StepValue::Scalar(if name == "max_of" {
                    math::go_max(a, b)
                } else {
                    math::go_min(a, b)
                }))
            }
            "pi" => Ok(StepValue::Scalar(std::f64::consts::PI)),
            "time" => Ok(StepValue::Scalar(t as f64 / 1000.0)),
            "start" => Ok(StepValue::Scalar(self.start as f64 / 1000.0)),
            "end" => Ok(StepValue::Scalar(self.end as f64 / 1000.0)),
            "range" => Ok(StepValue::Scalar((self.end - self.start) as f64 / 1000.0)),
            "step" => Ok(StepValue::Scalar(self.step_ms as f64 / 1000.0)),
            "vector" => {
                let s = self.eval_scalar(arg(c, 0)?, t)?;
                Ok(StepValue::Vector(vec![Elem::new(Labels::default(), s)]))
            }
            "scalar" => {
                let v = self.eval_vector(arg(c, 0)?, t)?;
                Ok(StepValue::Scalar(match v.as_slice() {
                    [only] => only.value,
                    _ => f64::NAN,
                }))
            }
            "timestamp" => {
                let v = self.eval_vector(arg(c, 0)?, t)?;
                Ok(StepValue::Vector(
                    v.into_iter()
                        .map(|e| Elem::dropping(e.labels, e.sample_t.unwrap_or(t) as f64 / 1000.0))
                        .collect(),
                ))
            }
            "year" | "month" | "day_of_month" | "day_of_week" | "day_of_year" | "days_in_month"
            | "hour" | "minute" => {
                let Some(e) = c.args.args.first() else {
                    let v = time::date_part(name, t.div_euclid(1000)).unwrap_or(f64::NAN);
                    return Ok(StepValue::Vector(vec![Elem::new(Labels::default(), v)]));
                };
                let v = self.eval_vector(e, t)?;
                Ok(map_vector(v, |x| {
                    time::date_part(name, time::seconds_of(x)).unwrap_or(f64::NAN)
                }))
            }
            "label_replace" => self.label_replace(c, t),
            "label_join" => self.label_join(c, t),
            "sort" | "sort_desc" | "sort_by_label" | "sort_by_label_desc" => self.sort(c, t),
            "histogram_quantile" => self.histogram_quantile(c, t),
            "histogram_quantiles" => self.histogram_quantiles(c, t),
            "histogram_fraction" => self.histogram_fraction(c, t),
            "histogram_count" | "histogram_sum" | "histogram_avg" | "histogram_stddev"
            | "histogram_stdvar" => {
                // These read native histograms only; float samples give no result.
                self.eval_vector(arg(c, 0)?, t)?;
                Ok(StepValue::Vector(Vec::new()))
            }
            other => Err(PromqlError::Unsupported(format!(
                "function {other} is not supported yet"
            ))),
        }
    }

    /// Functions whose only argument is a range vector, computed by `kernel`.
    fn range_fn(&self, c: &Call, t: i64, kernel: range::Kernel) -> Result<StepValue, PromqlError> {
        let name = c.func.name;
        let series = self.eval_range(arg(c, 0)?, t)?;
        if matches!(name, "rate" | "increase") {
            self.check_counter_names(series.iter().map(|rs| &rs.labels), arg(c, 0)?);
        }
        // last_over_time and first_over_time act like an offset and keep the name.
        let keep_name = matches!(name, "last_over_time" | "first_over_time");
        Ok(per_series(series, !keep_name, |rs| {
            kernel(&rs.samples[..], rs.end, rs.range_ms)
        }))
    }
}

/// Applies `f` to every series of a range-vector argument, keeping the series' labels and
/// flagging the name for removal when `drop_name`.
fn per_series(
    series: Vec<RangeSeries>,
    drop_name: bool,
    f: impl Fn(&RangeSeries) -> Option<f64>,
) -> StepValue {
    StepValue::Vector(
        series
            .into_iter()
            .filter_map(|rs| {
                let value = f(&rs)?;
                Some(Elem {
                    labels: rs.labels,
                    value,
                    sample_t: None,
                    drop_name,
                })
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_label_sets_are_rejected() {
        let a = Labels::from_pairs(&[("a", "1")]);
        let b = Labels::from_pairs(&[("a", "2")]);
        assert!(check_unique(&[Elem::new(a.clone(), 1.0), Elem::new(b, 2.0)]).is_ok());
        let err = check_unique(&[Elem::new(a.clone(), 1.0), Elem::new(a, 2.0)]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "vector cannot contain metrics with the same labelset"
        );
    }

    #[test]
    fn element_wise_functions_mark_the_name_for_removal() {
        let l = Labels::from_pairs(&[("__name__", "m"), ("a", "1")]);
        let StepValue::Vector(v) = map_vector(vec![Elem::new(l.clone(), -2.0)], f64::abs) else {
            panic!("expected a vector");
        };
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].value, 2.0);
        assert!(v[0].drop_name);
        assert_eq!(v[0].labels, l);
    }
}
