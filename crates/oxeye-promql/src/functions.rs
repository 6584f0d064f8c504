//! PromQL function calls: range functions over matrix selectors and element-wise math.

use oxeye_core::{Labels, Sample};
use promql_parser::parser::{Call, Expr};

use crate::PromqlError;
use crate::eval::{Elem, Evaluator, RangeSeries, StepValue};

/// Prometheus's extrapolated rate/increase/delta over the samples of one range window.
///
/// `range_end` is the (offset-adjusted) evaluation time, `range_ms` the selector's range.
pub(crate) fn extrapolated_rate(
    samples: &[Sample],
    range_end: i64,
    range_ms: i64,
    is_counter: bool,
    is_rate: bool,
) -> Option<f64> {
    let (first, last) = (samples.first()?, samples.last()?);
    if samples.len() < 2 {
        return None;
    }
    let range_start = range_end - range_ms;
    let mut result = last.v - first.v;
    if is_counter {
        let mut prev = first.v;
        for s in samples.iter().skip(1) {
            if s.v < prev {
                result += prev;
            }
            prev = s.v;
        }
    }
    let mut to_start = (first.t - range_start) as f64 / 1000.0;
    let mut to_end = (range_end - last.t) as f64 / 1000.0;
    let sampled = (last.t - first.t) as f64 / 1000.0;
    let avg = sampled / (samples.len() - 1) as f64;
    let threshold = avg * 1.1;
    if to_start >= threshold {
        to_start = avg / 2.0;
    }
    if is_counter && result > 0.0 && first.v >= 0.0 {
        let to_zero = sampled * (first.v / result);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    if to_end >= threshold {
        to_end = avg / 2.0;
    }
    let mut factor = (sampled + to_start + to_end) / sampled;
    if is_rate {
        factor /= range_ms as f64 / 1000.0;
    }
    Some(result * factor)
}

/// `irate` (`is_rate`) or `idelta` over the last two samples of a window.
fn instant_delta(samples: &[Sample], is_rate: bool) -> Option<f64> {
    if samples.len() < 2 {
        return None;
    }
    let last = samples.last()?;
    let prev = samples.get(samples.len() - 2)?;
    let mut result = if is_rate && last.v < prev.v {
        last.v
    } else {
        last.v - prev.v
    };
    let interval = last.t - prev.t;
    if interval == 0 {
        return None;
    }
    if is_rate {
        result /= interval as f64 / 1000.0;
    }
    Some(result)
}

fn over_time(name: &str, samples: &[Sample]) -> Option<f64> {
    let n = samples.len() as f64;
    Some(match name {
        "sum_over_time" => samples.iter().map(|s| s.v).sum(),
        "avg_over_time" => samples.iter().map(|s| s.v).sum::<f64>() / n,
        "count_over_time" => n,
        "min_over_time" => samples.iter().map(|s| s.v).fold(f64::NAN, |acc, v| {
            if acc.is_nan() || v < acc { v } else { acc }
        }),
        "max_over_time" => samples.iter().map(|s| s.v).fold(f64::NAN, |acc, v| {
            if acc.is_nan() || v > acc { v } else { acc }
        }),
        "last_over_time" => samples.last()?.v,
        "present_over_time" => 1.0,
        _ => return None,
    })
}

fn math(name: &str, v: f64) -> Option<f64> {
    Some(match name {
        "abs" => v.abs(),
        "ceil" => v.ceil(),
        "floor" => v.floor(),
        "sqrt" => v.sqrt(),
        "exp" => v.exp(),
        "ln" => v.ln(),
        "log2" => v.log2(),
        "log10" => v.log10(),
        _ => return None,
    })
}

/// Maximum that propagates NaN, as PromQL's clamp functions do.
fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

/// Minimum that propagates NaN.
fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.min(b)
    }
}

fn arg(c: &Call, i: usize) -> Result<&Expr, PromqlError> {
    c.args.args.get(i).map(|b| b.as_ref()).ok_or_else(|| {
        PromqlError::Execution(format!(
            "function {} is missing argument {}",
            c.func.name,
            i + 1
        ))
    })
}

fn map_vector(v: Vec<Elem>, f: impl Fn(f64) -> f64) -> StepValue {
    StepValue::Vector(
        v.into_iter()
            .map(|e| Elem::dropping(e.labels, f(e.value)))
            .collect(),
    )
}

impl Evaluator<'_> {
    /// Prometheus's info annotation for counter functions over a series whose name does
    /// not look like a counter's.
    fn check_counter_name(&self, labels: &Labels) {
        let Some(name) = labels.get(oxeye_core::METRIC_NAME) else {
            return;
        };
        if ["_total", "_sum", "_count", "_bucket"]
            .iter()
            .any(|suffix| name.ends_with(suffix))
        {
            return;
        }
        self.info(format!(
            "PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: {name:?}"
        ));
    }

    pub(crate) fn call(&self, c: &Call, t: i64) -> Result<StepValue, PromqlError> {
        let name = c.func.name;
        match name {
            "rate" | "increase" | "delta" | "irate" | "idelta" | "sum_over_time"
            | "avg_over_time" | "count_over_time" | "min_over_time" | "max_over_time"
            | "last_over_time" | "present_over_time" => {
                let mut out = Vec::new();
                for rs in self.eval_range(arg(c, 0)?, t)? {
                    let RangeSeries {
                        labels,
                        samples,
                        end,
                        range_ms,
                    } = rs;
                    if matches!(name, "rate" | "increase" | "irate") {
                        self.check_counter_name(&labels);
                    }
                    let v = match name {
                        "rate" => extrapolated_rate(&samples, end, range_ms, true, true),
                        "increase" => extrapolated_rate(&samples, end, range_ms, true, false),
                        "delta" => extrapolated_rate(&samples, end, range_ms, false, false),
                        "irate" => instant_delta(&samples, true),
                        "idelta" => instant_delta(&samples, false),
                        other => over_time(other, &samples),
                    };
                    let Some(value) = v else { continue };
                    out.push(Elem {
                        labels,
                        value,
                        sample_t: None,
                        drop_name: name != "last_over_time",
                    });
                }
                Ok(StepValue::Vector(out))
            }
            "abs" | "ceil" | "floor" | "sqrt" | "exp" | "ln" | "log2" | "log10" => {
                let v = self.eval_vector(arg(c, 0)?, t)?;
                Ok(map_vector(v, |x| math(name, x).unwrap_or(f64::NAN)))
            }
            "round" => {
                let v = self.eval_vector(arg(c, 0)?, t)?;
                let to = match c.args.args.get(1) {
                    Some(e) => self.eval_scalar(e, t)?,
                    None => 1.0,
                };
                let inv = 1.0 / to;
                Ok(map_vector(v, |x| (x * inv + 0.5).floor() / inv))
            }
            "clamp" => {
                let v = self.eval_vector(arg(c, 0)?, t)?;
                let lo = self.eval_scalar(arg(c, 1)?, t)?;
                let hi = self.eval_scalar(arg(c, 2)?, t)?;
                if hi < lo {
                    return Ok(StepValue::Vector(Vec::new()));
                }
                Ok(map_vector(v, |x| go_min(go_max(x, lo), hi)))
            }
            "clamp_min" => {
                let v = self.eval_vector(arg(c, 0)?, t)?;
                let lo = self.eval_scalar(arg(c, 1)?, t)?;
                Ok(map_vector(v, |x| go_max(x, lo)))
            }
            "clamp_max" => {
                let v = self.eval_vector(arg(c, 0)?, t)?;
                let hi = self.eval_scalar(arg(c, 1)?, t)?;
                Ok(map_vector(v, |x| go_min(x, hi)))
            }
            "time" => Ok(StepValue::Scalar(t as f64 / 1000.0)),
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
            other => Err(PromqlError::Unsupported(format!(
                "function {other} is not supported yet"
            ))),
        }
    }
}
