//! `histogram_quantile` and `histogram_fraction` over classic histograms: series that
//! share all labels but `le` form one histogram whose buckets are cumulative counts with
//! upper bound `le`.

use std::collections::HashMap;

use oxeye_core::Labels;
use promql_parser::parser::{Call, Expr};

use super::{arg, check_unique, metric_name, string_arg};
use crate::PromqlError;
use crate::eval::{Elem, Evaluator, StepValue};
use crate::format::go_float_g;

/// One classic histogram of an instant vector: its labels without `le` and its buckets.
struct Group {
    labels: Labels,
    buckets: Vec<Bucket>,
}

/// Prometheus's warning for a bucket series whose `le` label is missing or malformed;
/// `pos` is the ` (line:col)` suffix.
pub(crate) fn le_warning(labels: &Labels, pos: &str) -> String {
    let le = labels.get("le").unwrap_or("");
    let name = metric_name(labels);
    let mut msg = format!(
        "PromQL warning: bucket label \"le\" is missing or has a malformed value of {le:?}"
    );
    if !name.is_empty() {
        msg.push_str(&format!(" for metric name {name:?}"));
    }
    msg.push_str(pos);
    msg
}

/// Prometheus's info for a histogram whose buckets had to be made monotonic; `pos` is the
/// ` (line:col)` suffix.
pub(crate) fn monotonicity_info(labels: &Labels, pos: &str) -> String {
    let name = metric_name(labels);
    let mut msg = "PromQL info: input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile)".to_string();
    if !name.is_empty() {
        msg.push_str(&format!(" for metric name {name:?}"));
    }
    msg.push_str(pos);
    msg
}

impl Evaluator<'_> {
    /// Groups the elements of `v` into classic histograms by their labels without `le`,
    /// warning about elements whose `le` is missing or malformed. Groups keep the order in
    /// which they first appear. `arg` is the vector argument's expression, which
    /// annotations point at.
    ///
    /// Groups are found by a hash of the labels without `le`, so a label set is built only
    /// once per histogram rather than once per bucket.
    fn classic_histograms(&self, v: Vec<Elem>, arg: &Expr) -> Vec<Group> {
        let mut pos: Option<String> = None;
        let mut index: HashMap<u64, Vec<usize>> = HashMap::new();
        let mut groups: Vec<Group> = Vec::new();
        for e in v {
            let le = e.labels.get("le").unwrap_or("");
            let Some(upper) = parse_le(le) else {
                let pos = pos.get_or_insert_with(|| self.position_suffix(arg));
                self.warn(le_warning(&e.labels, pos));
                continue;
            };
            let candidates = index.entry(hash_without_le(&e.labels)).or_default();
            let found = candidates.iter().copied().find(|&i| {
                groups
                    .get(i)
                    .is_some_and(|g| same_without_le(&g.labels, &e.labels))
            });
            let i = match found {
                Some(i) => i,
                None => {
                    let mut b = e.labels.builder();
                    b.del("le");
                    groups.push(Group {
                        labels: b.build(),
                        buckets: Vec::new(),
                    });
                    candidates.push(groups.len() - 1);
                    groups.len() - 1
                }
            };
            if let Some(g) = groups.get_mut(i) {
                g.buckets.push(Bucket {
                    upper,
                    count: e.value,
                });
            }
        }
        groups
    }

    /// The `q`-quantile of one classic histogram, noting when its buckets had to be made
    /// monotonic.
    fn group_quantile(&self, q: f64, g: &Group, arg: &Expr) -> f64 {
        let (value, forced) = bucket_quantile(q, g.buckets.clone());
        if forced.is_some() {
            self.info(monotonicity_info(&g.labels, &self.position_suffix(arg)));
        }
        value
    }

    pub(super) fn histogram_quantile(&self, c: &Call, t: i64) -> Result<StepValue, PromqlError> {
        let q = self.eval_scalar(arg(c, 0)?, t)?;
        let v = self.eval_vector(arg(c, 1)?, t)?;
        self.check_quantile(q, arg(c, 0)?);
        let mut out = Vec::new();
        let vec_arg = arg(c, 1)?;
        for g in self.classic_histograms(v, vec_arg) {
            let value = self.group_quantile(q, &g, vec_arg);
            out.push(Elem::dropping(g.labels, value));
        }
        Ok(StepValue::Vector(out))
    }

    /// `histogram_quantiles(v, "label", q0, q1, ...)`: one element per histogram and
    /// quantile, the quantile written into `label`.
    pub(super) fn histogram_quantiles(&self, c: &Call, t: i64) -> Result<StepValue, PromqlError> {
        let label = string_arg(c, 1)?;
        let mut qs = Vec::new();
        for i in 2..c.args.args.len() {
            let q = self.eval_scalar(arg(c, i)?, t)?;
            self.check_quantile(q, arg(c, i)?);
            qs.push(q);
        }
        let vec_arg = arg(c, 0)?;
        let groups = self.classic_histograms(self.eval_vector(vec_arg, t)?, vec_arg);
        let mut out = Vec::new();
        for &q in &qs {
            let qs_label = openmetrics_float(q);
            for g in &groups {
                let value = self.group_quantile(q, g, vec_arg);
                let mut b = g.labels.builder();
                b.set(label, &qs_label);
                out.push(Elem::dropping(b.build(), value));
            }
        }
        check_unique(&out)?;
        Ok(StepValue::Vector(out))
    }

    pub(super) fn histogram_fraction(&self, c: &Call, t: i64) -> Result<StepValue, PromqlError> {
        let lower = self.eval_scalar(arg(c, 0)?, t)?;
        let upper = self.eval_scalar(arg(c, 1)?, t)?;
        let v = self.eval_vector(arg(c, 2)?, t)?;
        Ok(StepValue::Vector(
            self.classic_histograms(v, arg(c, 2)?)
                .into_iter()
                .map(|g| Elem {
                    value: bucket_fraction(lower, upper, g.buckets),
                    labels: g.labels,
                    sample_t: None,
                    drop_name: true,
                })
                .collect(),
        ))
    }
}

/// A hash of a label set's pairs other than `le`.
fn hash_without_le(l: &Labels) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for x in l.iter().filter(|x| x.name != "le") {
        x.name.hash(&mut h);
        x.value.hash(&mut h);
    }
    h.finish()
}

/// Whether `group` (which has no `le`) equals `l` without its `le`.
fn same_without_le(group: &Labels, l: &Labels) -> bool {
    group.iter().eq(l.iter().filter(|x| x.name != "le"))
}

/// A float as OpenMetrics writes it in a label value (`0.0`, `1.0`, `0.25`, `+Inf`).
fn openmetrics_float(v: f64) -> String {
    let s = go_float_g(v);
    if v.is_finite() && !s.contains(['e', '.']) {
        return format!("{s}.0");
    }
    s
}

/// One cumulative bucket of a classic histogram.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Bucket {
    pub upper: f64,
    pub count: f64,
}

/// Relative differences between neighbouring buckets below this are floating point noise
/// and are ignored.
const SMALL_DELTA_TOLERANCE: f64 = 1e-12;

/// Parses an `le` value the way Go's `strconv.ParseFloat` accepts it.
pub(crate) fn parse_le(s: &str) -> Option<f64> {
    let t = s.trim_start_matches(['+', '-']);
    let lower = t.to_ascii_lowercase();
    if lower == "inf" || lower == "infinity" {
        return Some(if s.starts_with('-') {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        });
    }
    if lower == "nan" {
        return (s.len() == t.len()).then_some(f64::NAN);
    }
    if t.is_empty()
        || s.len() - t.len() > 1
        || !t
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        return None;
    }
    s.parse().ok()
}

/// Whether `a` and `b` differ by less than `epsilon` relative to their magnitude.
pub(crate) fn almost_equal(a: f64, b: f64, epsilon: f64) -> bool {
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < f64::MIN_POSITIVE {
        return diff < epsilon * f64::MIN_POSITIVE;
    }
    diff / abs_sum.min(f64::MAX) < epsilon
}

/// Sorts by upper bound and merges buckets with equal bounds.
fn sort_and_coalesce(buckets: &mut Vec<Bucket>) {
    buckets.sort_by(|a, b| {
        a.upper
            .partial_cmp(&b.upper)
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let mut out: Vec<Bucket> = Vec::with_capacity(buckets.len());
    for b in buckets.drain(..) {
        match out.last_mut() {
            Some(last) if last.upper == b.upper => last.count += b.count,
            _ => out.push(b),
        }
    }
    *buckets = out;
}

/// Where monotonicity had to be forced: the lowest and highest affected bucket bounds
/// and the largest decrease removed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Forced {
    pub min_bucket: f64,
    pub max_bucket: f64,
    pub max_diff: f64,
}

/// Ignores numerically insignificant differences between neighbouring buckets and raises
/// any decreasing count to its predecessor's.
fn ensure_monotonic(buckets: &mut [Bucket]) -> Option<Forced> {
    let mut forced: Option<Forced> = None;
    let mut prev = buckets.first()?.count;
    for b in buckets.iter_mut().skip(1) {
        let cur = b.count;
        if cur == prev {
            continue;
        }
        if almost_equal(prev, cur, SMALL_DELTA_TOLERANCE) {
            b.count = prev;
            continue;
        }
        if cur < prev {
            b.count = prev;
            let f = forced.get_or_insert(Forced {
                min_bucket: f64::INFINITY,
                max_bucket: f64::NEG_INFINITY,
                max_diff: 0.0,
            });
            f.min_bucket = f.min_bucket.min(b.upper);
            f.max_bucket = f.max_bucket.max(b.upper);
            f.max_diff = f.max_diff.max(prev - cur);
            continue;
        }
        prev = cur;
    }
    forced
}

/// The `q`-quantile of a classic histogram, interpolating linearly inside the bucket it
/// falls in, and whether the buckets had to be made monotonic first.
pub(crate) fn bucket_quantile(q: f64, mut buckets: Vec<Bucket>) -> (f64, Option<Forced>) {
    if q.is_nan() {
        return (f64::NAN, None);
    }
    if q < 0.0 {
        return (f64::NEG_INFINITY, None);
    }
    if q > 1.0 {
        return (f64::INFINITY, None);
    }
    sort_and_coalesce(&mut buckets);
    match buckets.last() {
        Some(b) if b.upper == f64::INFINITY => {}
        _ => return (f64::NAN, None),
    }
    let forced = ensure_monotonic(&mut buckets);
    let n = buckets.len();
    if n < 2 {
        return (f64::NAN, forced);
    }
    let observations = buckets.get(n - 1).map_or(0.0, |b| b.count);
    if observations == 0.0 {
        return (f64::NAN, forced);
    }
    let mut rank = q * observations;
    let idx = buckets
        .get(..n - 1)
        .unwrap_or(&[])
        .partition_point(|b| b.count < rank);
    let value = if idx == n - 1 {
        buckets.get(n - 2).map_or(f64::NAN, |b| b.upper)
    } else {
        let (Some(cur), prev) = (
            buckets.get(idx),
            idx.checked_sub(1).and_then(|i| buckets.get(i)),
        ) else {
            return (f64::NAN, forced);
        };
        if idx == 0 && cur.upper <= 0.0 {
            cur.upper
        } else {
            let mut start = 0.0;
            let mut count = cur.count;
            if let Some(p) = prev {
                start = p.upper;
                count -= p.count;
                rank -= p.count;
            }
            start + (cur.upper - start) * (rank / count)
        }
    };
    (value, forced)
}

/// The fraction of observations between `lower` and `upper` in a classic histogram,
/// interpolating linearly inside buckets.
pub(crate) fn bucket_fraction(lower: f64, upper: f64, mut buckets: Vec<Bucket>) -> f64 {
    sort_and_coalesce(&mut buckets);
    let (Some(first), Some(last)) = (buckets.first().copied(), buckets.last().copied()) else {
        return f64::NAN;
    };
    if last.upper != f64::INFINITY {
        return f64::NAN;
    }
    let count = last.count;
    if count == 0.0 || lower.is_nan() || upper.is_nan() {
        return f64::NAN;
    }
    if lower >= upper {
        return 0.0;
    }
    let (mut rank, mut lower_rank, mut upper_rank) = (0.0, 0.0, 0.0);
    let (mut lower_set, mut upper_set) = (false, false);
    let mut lower_bound = if first.upper <= 0.0 {
        f64::NEG_INFINITY
    } else {
        0.0
    };
    let mut prev_upper = None;
    for b in &buckets {
        if let Some(p) = prev_upper {
            lower_bound = p;
        }
        prev_upper = Some(b.upper);
        let upper_bound = b.upper;
        let interpolate = |v: f64| {
            if lower_bound == f64::NEG_INFINITY {
                return b.count;
            }
            rank + (b.count - rank) * (v - lower_bound) / (upper_bound - lower_bound)
        };
        if !lower_set && lower_bound >= lower {
            lower_rank = rank;
            lower_set = true;
        }
        if !upper_set && lower_bound >= upper {
            upper_rank = rank;
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        if !lower_set && lower_bound < lower && upper_bound > lower {
            lower_rank = interpolate(lower);
            lower_set = true;
        }
        if !upper_set && lower_bound < upper && upper_bound > upper {
            upper_rank = interpolate(upper);
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        rank = b.count;
    }
    if !lower_set || lower_rank > count {
        lower_rank = count;
    }
    if !upper_set || upper_rank > count {
        upper_rank = count;
    }
    (upper_rank - lower_rank) / count
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buckets(pairs: &[(f64, f64)]) -> Vec<Bucket> {
        pairs
            .iter()
            .map(|&(upper, count)| Bucket { upper, count })
            .collect()
    }

    #[test]
    fn quantile_interpolates_within_bucket() {
        let b = buckets(&[(0.1, 50.0), (0.2, 70.0), (f64::INFINITY, 100.0)]);
        // rank 50 sits exactly at the top of the first bucket.
        assert_eq!(bucket_quantile(0.5, b.clone()).0, 0.1);
        // rank 60 is half-way through (0.1, 0.2].
        let v = bucket_quantile(0.6, b.clone()).0;
        assert!((v - 0.15).abs() < 1e-12, "{v}");
        // Falling into the +Inf bucket answers the previous upper bound.
        assert_eq!(bucket_quantile(0.99, b.clone()).0, 0.2);
        assert_eq!(bucket_quantile(-1.0, b.clone()).0, f64::NEG_INFINITY);
        assert_eq!(bucket_quantile(2.0, b.clone()).0, f64::INFINITY);
        assert!(bucket_quantile(f64::NAN, b).0.is_nan());
    }

    #[test]
    fn quantile_edge_cases() {
        // No +Inf bucket, a single bucket, or no observations give NaN.
        assert!(
            bucket_quantile(0.5, buckets(&[(1.0, 1.0), (2.0, 2.0)]))
                .0
                .is_nan()
        );
        assert!(
            bucket_quantile(0.5, buckets(&[(f64::INFINITY, 3.0)]))
                .0
                .is_nan()
        );
        assert!(
            bucket_quantile(0.5, buckets(&[(1.0, 0.0), (f64::INFINITY, 0.0)]))
                .0
                .is_nan()
        );
        // A lowest bucket with a non-positive bound answers that bound.
        let b = buckets(&[(-1.0, 10.0), (0.0, 20.0), (f64::INFINITY, 20.0)]);
        assert_eq!(bucket_quantile(0.25, b).0, -1.0);
        // Buckets with the same bound are added together.
        let b = buckets(&[(1.0, 5.0), (1.0, 5.0), (f64::INFINITY, 10.0)]);
        assert_eq!(bucket_quantile(0.5, b).0, 0.5);
    }

    #[test]
    fn quantile_forces_monotonicity_and_reports_it() {
        let b = buckets(&[(1.0, 10.0), (2.0, 8.0), (4.0, 12.0), (f64::INFINITY, 12.0)]);
        let (v, forced) = bucket_quantile(0.5, b);
        // rank 6 of 12 is 6/10 into the first bucket (0, 1].
        assert_eq!(v, 0.6);
        assert_eq!(
            forced,
            Some(Forced {
                min_bucket: 2.0,
                max_bucket: 2.0,
                max_diff: 2.0
            })
        );
        // Tiny float noise is smoothed silently.
        let b = buckets(&[(1.0, 1.0), (2.0, 1.0 - 1e-15), (f64::INFINITY, 2.0)]);
        assert_eq!(bucket_quantile(0.5, b).1, None);
    }

    #[test]
    fn fraction_interpolates() {
        let b = buckets(&[(1.0, 10.0), (2.0, 20.0), (f64::INFINITY, 40.0)]);
        assert_eq!(bucket_fraction(0.0, 1.0, b.clone()), 0.25);
        assert_eq!(bucket_fraction(0.5, 1.5, b.clone()), 0.25);
        assert_eq!(
            bucket_fraction(f64::NEG_INFINITY, f64::INFINITY, b.clone()),
            1.0
        );
        assert_eq!(bucket_fraction(2.0, 1.0, b.clone()), 0.0);
        assert!(bucket_fraction(f64::NAN, 1.0, b).is_nan());
    }

    #[test]
    fn openmetrics_label_floats() {
        assert_eq!(openmetrics_float(0.0), "0.0");
        assert_eq!(openmetrics_float(1.0), "1.0");
        assert_eq!(openmetrics_float(0.25), "0.25");
        assert_eq!(openmetrics_float(-0.1), "-0.1");
        assert_eq!(openmetrics_float(f64::INFINITY), "+Inf");
        assert_eq!(openmetrics_float(f64::NAN), "NaN");
    }

    #[test]
    fn le_parsing() {
        assert_eq!(parse_le("+Inf"), Some(f64::INFINITY));
        assert_eq!(parse_le("0.5"), Some(0.5));
        assert_eq!(parse_le("1e3"), Some(1000.0));
        assert_eq!(parse_le(""), None);
        assert_eq!(parse_le("Hello World"), None);
    }
}
