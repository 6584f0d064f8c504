//! Functions over range vectors: the rate family, regression (`deriv`, `predict_linear`),
//! counter inspection (`resets`, `changes`), every `*_over_time` aggregate and
//! `double_exponential_smoothing`.
//!
//! Each function sees the float samples of one series in one window (the evaluator has
//! already removed staleness markers) and yields at most one value; `None` drops the series
//! from the step's result, as Prometheus does for windows too short to answer.

use oxeye_core::Sample;

use crate::aggregate::{kahan_inc, quantile};

/// A function of one range-vector argument: the window's samples, its end and its length
/// (ms) to the step's value, `None` for no result.
pub(crate) type Kernel = fn(&[Sample], i64, i64) -> Option<f64>;

/// The kernel of the single-argument range function called `name`, if it is one.
pub(crate) fn kernel(name: &str) -> Option<Kernel> {
    Some(match name {
        "rate" => |s, end, range| extrapolated_rate(s, end, range, true, true),
        "increase" => |s, end, range| extrapolated_rate(s, end, range, true, false),
        "delta" => |s, end, range| extrapolated_rate(s, end, range, false, false),
        "irate" => |s, _, _| instant_delta(s, true),
        "idelta" => |s, _, _| instant_delta(s, false),
        "deriv" => |s, _, _| deriv(s),
        "resets" => |s, _, _| Some(resets(s)),
        "changes" => |s, _, _| Some(changes(s)),
        "sum_over_time" => |s, _, _| Some(sum_over_time(s)),
        "avg_over_time" => |s, _, _| avg_over_time(s),
        "count_over_time" => |s, _, _| Some(s.len() as f64),
        "min_over_time" => |s, _, _| min_over_time(s),
        "max_over_time" => |s, _, _| max_over_time(s),
        "last_over_time" => |s, _, _| s.last().map(|x| x.v),
        "first_over_time" => |s, _, _| s.first().map(|x| x.v),
        "present_over_time" => |s, _, _| (!s.is_empty()).then_some(1.0),
        "stddev_over_time" => |s, _, _| stdvar_over_time(s).map(f64::sqrt),
        "stdvar_over_time" => |s, _, _| stdvar_over_time(s),
        "mad_over_time" => |s, _, _| mad_over_time(s),
        "ts_of_min_over_time" => |s, _, _| ts_of_min_over_time(s),
        "ts_of_max_over_time" => |s, _, _| ts_of_max_over_time(s),
        "ts_of_first_over_time" => |s, _, _| s.first().map(|x| x.t as f64 / 1000.0),
        "ts_of_last_over_time" => |s, _, _| s.last().map(|x| x.t as f64 / 1000.0),
        _ => return None,
    })
}

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
    let mut result = last.v - first.v;
    if is_counter {
        for pair in samples.windows(2) {
            if let [prev, cur] = pair
                && cur.v < prev.v
            {
                result += prev.v;
            }
        }
    }
    Some(extrapolate(
        first,
        last,
        samples.len(),
        result,
        range_end,
        range_ms,
        is_counter,
        is_rate,
    ))
}

/// The second half of [`extrapolated_rate`]: `result` (the window's delta, counter resets
/// already added back) extrapolated to the window's edges. `n` >= 2 samples from `first`
/// to `last`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn extrapolate(
    first: &Sample,
    last: &Sample,
    n: usize,
    result: f64,
    range_end: i64,
    range_ms: i64,
    is_counter: bool,
    is_rate: bool,
) -> f64 {
    debug_assert!(n >= 2);
    let range_start = range_end - range_ms;
    let mut to_start = (first.t - range_start) as f64 / 1000.0;
    let mut to_end = (range_end - last.t) as f64 / 1000.0;
    let sampled = (last.t - first.t) as f64 / 1000.0;
    let avg = sampled / (n - 1) as f64;
    let threshold = avg * 1.1;
    if to_start >= threshold {
        to_start = avg / 2.0;
    }
    if is_counter {
        // A counter cannot go below zero: do not extrapolate past the point where the
        // observed slope would have crossed it.
        let mut to_zero = to_start;
        if result > 0.0 && first.v >= 0.0 {
            to_zero = sampled * (first.v / result);
        }
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    if to_end >= threshold {
        to_end = avg / 2.0;
    }
    let mut factor = 1.0;
    if sampled != 0.0 {
        factor = (sampled + to_start + to_end) / sampled;
    }
    if is_rate {
        factor /= range_ms as f64 / 1000.0;
    }
    result * factor
}

/// `irate` (`is_rate`) or `idelta` over the last two samples of a window.
pub(crate) fn instant_delta(samples: &[Sample], is_rate: bool) -> Option<f64> {
    let [prev, last] = samples.get(samples.len().checked_sub(2)?..)? else {
        return None;
    };
    let interval = last.t - prev.t;
    if interval == 0 {
        return None;
    }
    let mut result = if is_rate && last.v < prev.v {
        // A counter reset: the last value is the increase since the reset.
        last.v
    } else {
        last.v - prev.v
    };
    if is_rate {
        result /= interval as f64 / 1000.0;
    }
    Some(result)
}

/// Least-squares slope and the intercept at `intercept_t` (ms) of the samples, with
/// compensated sums. A constant series has slope 0 (NaN for a constant infinity).
pub(crate) fn linear_regression(samples: &[Sample], intercept_t: i64) -> (f64, f64) {
    let Some(first) = samples.first() else {
        return (f64::NAN, f64::NAN);
    };
    let init_y = first.v;
    let mut const_y = true;
    let (mut n, mut sum_x, mut c_x, mut sum_y, mut c_y) = (0.0, 0.0, 0.0, 0.0, 0.0);
    let (mut sum_xy, mut c_xy, mut sum_x2, mut c_x2) = (0.0, 0.0, 0.0, 0.0);
    for (i, s) in samples.iter().enumerate() {
        if const_y && i > 0 && s.v != init_y {
            const_y = false;
        }
        n += 1.0;
        let x = (s.t - intercept_t) as f64 / 1e3;
        (sum_x, c_x) = kahan_inc(x, sum_x, c_x);
        (sum_y, c_y) = kahan_inc(s.v, sum_y, c_y);
        (sum_xy, c_xy) = kahan_inc(x * s.v, sum_xy, c_xy);
        (sum_x2, c_x2) = kahan_inc(x * x, sum_x2, c_x2);
    }
    if const_y {
        if init_y.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init_y);
    }
    sum_x += c_x;
    sum_y += c_y;
    sum_xy += c_xy;
    sum_x2 += c_x2;
    let cov_xy = sum_xy - sum_x * sum_y / n;
    let var_x = sum_x2 - sum_x * sum_x / n;
    let slope = cov_xy / var_x;
    let intercept = sum_y / n - slope * sum_x / n;
    (slope, intercept)
}

/// `deriv`: the per-second slope of a linear regression over the window.
pub(crate) fn deriv(samples: &[Sample]) -> Option<f64> {
    if samples.len() < 2 {
        return None;
    }
    // Regress around the first sample's time to keep the x values small.
    let first_t = samples.first()?.t;
    Some(linear_regression(samples, first_t).0)
}

/// `predict_linear`: the regression line's value `duration_s` after the evaluation time.
pub(crate) fn predict_linear(samples: &[Sample], eval_t: i64, duration_s: f64) -> Option<f64> {
    if samples.len() < 2 {
        return None;
    }
    let (slope, intercept) = linear_regression(samples, eval_t);
    Some(slope * duration_s + intercept)
}

/// `resets`: how many times the value decreased.
pub(crate) fn resets(samples: &[Sample]) -> f64 {
    samples
        .windows(2)
        .filter(|w| matches!(w, [a, b] if b.v < a.v))
        .count() as f64
}

/// `changes`: how many times the value changed (NaN to NaN is no change).
pub(crate) fn changes(samples: &[Sample]) -> f64 {
    samples
        .windows(2)
        .filter(|w| matches!(w, [a, b] if b.v != a.v && !(a.v.is_nan() && b.v.is_nan())))
        .count() as f64
}

/// `sum_over_time` with compensated summation.
pub(crate) fn sum_over_time(samples: &[Sample]) -> f64 {
    let (mut sum, mut c) = (0.0, 0.0);
    for s in samples {
        (sum, c) = kahan_inc(s.v, sum, c);
    }
    if sum.is_infinite() { sum } else { sum + c }
}

/// `avg_over_time`: the compensated direct mean, switching to an incremental mean once the
/// running sum would overflow.
pub(crate) fn avg_over_time(samples: &[Sample]) -> Option<f64> {
    let (first, rest) = samples.split_first()?;
    let (mut sum, mut count) = (first.v, 1.0);
    let (mut mean, mut c) = (0.0, 0.0);
    let mut incremental = false;
    for (i, s) in rest.iter().enumerate() {
        count = (i + 2) as f64;
        if !incremental {
            let (new_sum, new_c) = kahan_inc(s.v, sum, c);
            if !new_sum.is_infinite() {
                (sum, c) = (new_sum, new_c);
                continue;
            }
            incremental = true;
            mean = sum / (count - 1.0);
            c /= count - 1.0;
        }
        let q = (count - 1.0) / count;
        (mean, c) = kahan_inc(s.v / count, q * mean, q * c);
    }
    if incremental {
        return Some(mean + c);
    }
    Some(sum / count + c / count)
}

/// `min_over_time` / `max_over_time` and their `ts_of_` variants: the winning sample
/// under `better(candidate, current)`. A NaN current value is always replaced.
fn pick(samples: &[Sample], better: impl Fn(f64, f64) -> bool) -> Option<Sample> {
    let mut best = *samples.first()?;
    for s in samples {
        if better(s.v, best.v) || best.v.is_nan() {
            best = *s;
        }
    }
    Some(best)
}

pub(crate) fn min_over_time(samples: &[Sample]) -> Option<f64> {
    pick(samples, |a, b| a < b).map(|s| s.v)
}

pub(crate) fn max_over_time(samples: &[Sample]) -> Option<f64> {
    pick(samples, |a, b| a > b).map(|s| s.v)
}

/// Timestamp (s) of the last minimum in the window.
pub(crate) fn ts_of_min_over_time(samples: &[Sample]) -> Option<f64> {
    pick(samples, |a, b| a <= b).map(|s| s.t as f64 / 1000.0)
}

/// Timestamp (s) of the last maximum in the window.
pub(crate) fn ts_of_max_over_time(samples: &[Sample]) -> Option<f64> {
    pick(samples, |a, b| a >= b).map(|s| s.t as f64 / 1000.0)
}

/// Population variance over the window, computed with Welford's method and compensated
/// sums.
pub(crate) fn stdvar_over_time(samples: &[Sample]) -> Option<f64> {
    if samples.is_empty() {
        return None;
    }
    let (mut count, mut mean, mut c_mean, mut aux, mut c_aux) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for s in samples {
        count += 1.0;
        let delta = s.v - (mean + c_mean);
        (mean, c_mean) = kahan_inc(delta / count, mean, c_mean);
        (aux, c_aux) = kahan_inc(delta * (s.v - (mean + c_mean)), aux, c_aux);
    }
    Some((aux + c_aux) / count)
}

/// `quantile_over_time`: the `q`-quantile of the window's values.
pub(crate) fn quantile_over_time(q: f64, samples: &[Sample]) -> Option<f64> {
    if samples.is_empty() {
        return None;
    }
    Some(quantile(q, samples.iter().map(|s| s.v).collect()))
}

/// `mad_over_time`: the median absolute deviation from the window's median; NaN when any
/// value is NaN.
pub(crate) fn mad_over_time(samples: &[Sample]) -> Option<f64> {
    if samples.is_empty() {
        return None;
    }
    if samples.iter().any(|s| s.v.is_nan()) {
        return Some(f64::NAN);
    }
    let values: Vec<f64> = samples.iter().map(|s| s.v).collect();
    let median = quantile(0.5, values.clone());
    Some(quantile(
        0.5,
        values.into_iter().map(|v| (v - median).abs()).collect(),
    ))
}

/// `double_exponential_smoothing` (Holt's linear method) with smoothing factor `sf` and
/// trend factor `tf`, both already validated to lie in (0, 1).
pub(crate) fn double_exponential_smoothing(samples: &[Sample], sf: f64, tf: f64) -> Option<f64> {
    let [first, second, ..] = samples else {
        return None;
    };
    let mut s0 = 0.0;
    let mut s1 = first.v;
    let mut b = second.v - first.v;
    for (i, s) in samples.iter().enumerate().skip(1) {
        let x = sf * s.v;
        // The trend at the previous point; the first trend is the raw first difference.
        if i > 1 {
            b = tf * (s1 - s0) + (1.0 - tf) * b;
        }
        let y = (1.0 - sf) * (s1 + b);
        s0 = s1;
        s1 = x + y;
    }
    Some(s1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(points: &[(i64, f64)]) -> Vec<Sample> {
        points.iter().map(|&(t, v)| Sample::new(t, v)).collect()
    }

    #[test]
    fn rate_extrapolates_to_window_edges_and_handles_resets() {
        // 0..=10 every 10s over a 100s window ending at 100s: increase 10 over 100s.
        let s: Vec<Sample> = (0..=10)
            .map(|i| Sample::new(i * 10_000, i as f64))
            .collect();
        let r = extrapolated_rate(&s[1..], 100_000, 100_000, true, true).unwrap();
        assert!((r - 0.1).abs() < 1e-12, "{r}");
        // A reset from 5 to 1 adds the value before the reset.
        let s = series(&[(10_000, 3.0), (20_000, 5.0), (30_000, 1.0)]);
        let inc = extrapolated_rate(&s, 30_000, 20_000, true, false).unwrap();
        assert!((inc - 3.0 * 20.0 / 20.0).abs() < 1e-12, "{inc}");
        // A single sample gives nothing.
        assert_eq!(extrapolated_rate(&s[..1], 30_000, 20_000, true, true), None);
    }

    #[test]
    fn irate_and_idelta_use_the_last_two_samples() {
        let s = series(&[(0, 1.0), (10_000, 10.0), (20_000, 4.0)]);
        assert_eq!(instant_delta(&s, true), Some(0.4));
        assert_eq!(instant_delta(&s, false), Some(-6.0));
        assert_eq!(instant_delta(&s[..1], true), None);
    }

    #[test]
    fn predict_linear_matches_prometheus() {
        // Prometheus functions.test: testcounter_reset_middle at 50m over [50m], 3600s
        // ahead gives 70.
        let vals = [
            0.0, 10.0, 20.0, 30.0, 40.0, 0.0, 10.0, 20.0, 30.0, 40.0, 50.0,
        ];
        let s: Vec<Sample> = vals
            .iter()
            .enumerate()
            .map(|(i, &v)| Sample::new(i as i64 * 300_000, v))
            .collect();
        let window: Vec<Sample> = s.iter().filter(|x| x.t > 0).copied().collect();
        let v = predict_linear(&window, 3_000_000, 3600.0).unwrap();
        assert!((v - 70.0).abs() < 1e-9, "{v}");
        let d = deriv(&s).unwrap();
        let expected = 0.010606060606060607;
        assert!((d - expected).abs() < 1e-15, "{d}");
    }

    #[test]
    fn regression_of_a_constant_series() {
        let s = series(&[(0, 5.0), (1000, 5.0)]);
        assert_eq!(linear_regression(&s, 0), (0.0, 5.0));
        let s = series(&[(0, f64::INFINITY), (1000, f64::INFINITY)]);
        let (slope, icpt) = linear_regression(&s, 0);
        assert!(slope.is_nan() && icpt.is_nan());
    }

    #[test]
    fn compensated_sum_and_mean() {
        let s = series(&[(1, 1e100), (2, 1.0), (3, -1e100)]);
        assert_eq!(sum_over_time(&s), 1.0);
        let s = series(&[(1, f64::MAX), (2, f64::MAX)]);
        assert_eq!(avg_over_time(&s), Some(f64::MAX));
        let s = series(&[(1, 1.0), (2, 2.0), (3, 4.0)]);
        assert_eq!(avg_over_time(&s), Some(7.0 / 3.0));
    }

    #[test]
    fn min_max_skip_nan_and_ts_of_takes_last() {
        let s = series(&[(1000, f64::NAN), (2000, 3.0), (3000, 1.0), (4000, 3.0)]);
        assert_eq!(min_over_time(&s), Some(1.0));
        assert_eq!(max_over_time(&s), Some(3.0));
        assert_eq!(ts_of_max_over_time(&s), Some(4.0));
        assert_eq!(ts_of_min_over_time(&s), Some(3.0));
        let s = series(&[(1000, f64::NAN)]);
        assert!(max_over_time(&s).unwrap().is_nan());
    }

    #[test]
    fn variance_mad_and_changes() {
        let s = series(&[
            (1, 2.0),
            (2, 4.0),
            (3, 4.0),
            (4, 4.0),
            (5, 5.0),
            (6, 5.0),
            (7, 7.0),
            (8, 9.0),
        ]);
        assert_eq!(stdvar_over_time(&s), Some(4.0));
        assert_eq!(mad_over_time(&s), Some(0.5));
        assert_eq!(changes(&s), 4.0);
        assert_eq!(resets(&s), 0.0);
        let s = series(&[(1, f64::NAN), (2, f64::NAN), (3, 1.0), (4, 0.0)]);
        assert_eq!(changes(&s), 2.0);
        assert_eq!(resets(&s), 1.0);
    }

    #[test]
    fn smoothing_follows_holt() {
        let s = series(&[(1, 0.0), (2, 10.0), (3, 20.0)]);
        // A perfect line is reproduced exactly.
        assert_eq!(double_exponential_smoothing(&s, 0.5, 0.5), Some(20.0));
        assert_eq!(double_exponential_smoothing(&s[..1], 0.5, 0.5), None);
    }
}
