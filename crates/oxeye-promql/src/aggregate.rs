//! Aggregation operators over instant vectors, grouped `by` or `without` labels.
//!
//! Elements are assigned to groups by a 64-bit hash of their grouping labels (as
//! Prometheus does); a group's output labels are built once, when the group is first
//! seen. The numerics follow Prometheus: `sum` and `avg` use Kahan-Neumaier compensated
//! summation, `avg` switches to an incremental mean when the running sum would overflow,
//! `stddev`/`stdvar` use Welford's online algorithm. `topk`/`bottomk` keep the first
//! elements among equal values; `limitk` keeps the first `k` of each group in input
//! order; `limit_ratio` keeps a series when the hash of its labels, as a fraction of the
//! hash space, falls within the ratio, so the choice is the same at every step.

use std::collections::HashMap;
use std::hash::Hasher;

use oxeye_core::{Labels, METRIC_NAME};
use promql_parser::parser::{AggregateExpr, LabelModifier};

use crate::PromqlError;
use crate::eval::{Elem, Evaluator, StepValue};
use crate::format::{go_float_g, go_float_v};

/// One group of the value aggregations at one step.
struct Group {
    labels: Labels,
    acc: Acc,
    /// The values, for `quantile`.
    values: Vec<f64>,
}

/// One group's running state for the value aggregations (`sum`, `avg`, `count`, `group`,
/// `min`, `max`, `stddev`, `stdvar`), shared by the step and the series-major evaluators so
/// their numbers are the same.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Acc {
    pub value: f64,
    mean: f64,
    kahan_c: f64,
    count: f64,
    incremental_mean: bool,
    /// Whether any element was added.
    pub seen: bool,
    /// Whether any added element's name is to be dropped.
    pub drop: bool,
}

impl Acc {
    /// Adds element value `f` (its `drop_name` flag in `drop`).
    pub(crate) fn add(&mut self, op: &str, f: f64, drop: bool) {
        if !self.seen {
            self.value = match op {
                "stddev" | "stdvar" => {
                    if f.is_nan() || f.is_infinite() {
                        f64::NAN
                    } else {
                        0.0
                    }
                }
                "group" => 1.0,
                _ => f,
            };
            self.mean = f;
            self.kahan_c = 0.0;
            self.count = 1.0;
            self.incremental_mean = false;
            self.seen = true;
            self.drop = drop;
            return;
        }
        self.drop |= drop;
        match op {
            "sum" => (self.value, self.kahan_c) = kahan_inc(f, self.value, self.kahan_c),
            "avg" => {
                self.count += 1.0;
                if !self.incremental_mean {
                    let (v, c) = kahan_inc(f, self.value, self.kahan_c);
                    if !v.is_infinite() {
                        (self.value, self.kahan_c) = (v, c);
                        return;
                    }
                    self.incremental_mean = true;
                    self.mean = self.value / (self.count - 1.0);
                    self.kahan_c /= self.count - 1.0;
                }
                let q = (self.count - 1.0) / self.count;
                (self.mean, self.kahan_c) =
                    kahan_inc(f / self.count, q * self.mean, q * self.kahan_c);
            }
            "count" => self.count += 1.0,
            "max" if self.value < f || self.value.is_nan() => self.value = f,
            "min" if self.value > f || self.value.is_nan() => self.value = f,
            "stddev" | "stdvar" => {
                self.count += 1.0;
                let delta = f - self.mean;
                self.mean += delta / self.count;
                self.value += delta * (f - self.mean);
            }
            _ => {}
        }
    }

    /// The aggregated value.
    pub(crate) fn finish(&self, op: &str) -> f64 {
        match op {
            "sum" => self.value + self.kahan_c,
            "avg" if self.incremental_mean => self.mean + self.kahan_c,
            "avg" => self.value / self.count + self.kahan_c / self.count,
            "count" => self.count,
            "stdvar" => self.value / self.count,
            "stddev" => (self.value / self.count).sqrt(),
            _ => self.value,
        }
    }
}

/// The aggregations [`Acc`] (or, for `quantile`, a value list) computes.
fn is_value_aggregation(op: &str) -> bool {
    matches!(
        op,
        "sum" | "avg" | "count" | "group" | "min" | "max" | "stddev" | "stdvar" | "quantile"
    )
}

/// Prometheus's Kahan-Neumaier increment: `(sum + inc, compensation)`.
pub(crate) fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    if t.is_infinite() {
        (t, 0.0)
    } else if sum.abs() >= inc.abs() {
        (t, c + ((sum - t) + inc))
    } else {
        (t, c + ((inc - t) + sum))
    }
}

/// Which labels define an element's group.
struct Grouping<'e> {
    without: bool,
    names: &'e [String],
}

impl Grouping<'_> {
    fn keeps(&self, name: &str) -> bool {
        if self.without {
            name != METRIC_NAME && !self.names.iter().any(|n| n == name)
        } else {
            self.names.iter().any(|n| n == name)
        }
    }

    fn key(&self, l: &Labels) -> u64 {
        if !self.without && self.names.is_empty() {
            return 0;
        }
        let mut h = xxhash_rust::xxh64::Xxh64::new(0);
        for x in l.iter().filter(|x| self.keeps(&x.name)) {
            h.write(x.name.as_bytes());
            h.write_u8(0xff);
            h.write(x.value.as_bytes());
            h.write_u8(0xff);
        }
        h.finish()
    }

    fn labels(&self, l: &Labels) -> Labels {
        let mut b = l.builder();
        b.retain(|x| self.keeps(&x.name));
        b.build()
    }
}

/// Prometheus's label-set hash (xxhash64 over its length-prefixed string encoding), used
/// to sample series for `limit_ratio` the way Prometheus does.
fn prometheus_labels_hash(l: &Labels) -> u64 {
    fn put(buf: &mut Vec<u8>, s: &str) {
        let n = s.len();
        if n < 255 {
            buf.push(n as u8);
        } else {
            buf.extend_from_slice(&[255, n as u8, (n >> 8) as u8, (n >> 16) as u8]);
        }
        buf.extend_from_slice(s.as_bytes());
    }
    let mut buf = Vec::with_capacity(l.byte_size() + 2 * l.len());
    for x in l.iter() {
        put(&mut buf, &x.name);
        put(&mut buf, &x.value);
    }
    xxhash_rust::xxh64::xxh64(&buf, 0)
}

/// Whether `limit_ratio(ratio, ...)` keeps a series with these labels.
fn ratio_keeps(ratio: f64, l: &Labels) -> bool {
    let offset = prometheus_labels_hash(l) as f64 / u64::MAX as f64;
    if ratio >= 0.0 {
        offset < ratio
    } else {
        offset >= 1.0 + ratio
    }
}

/// NaN sorts lowest, as in Prometheus's value heaps.
pub(crate) fn nan_low_cmp(a: f64, b: f64) -> std::cmp::Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        _ => a.partial_cmp(&b).unwrap_or(std::cmp::Ordering::Equal),
    }
}

impl Evaluator<'_> {
    pub(crate) fn aggregate(&self, a: &AggregateExpr, t: i64) -> Result<StepValue, PromqlError> {
        let op = a.op.to_string();
        let grouping = match &a.modifier {
            None => Grouping {
                without: false,
                names: &[],
            },
            Some(LabelModifier::Include(ls)) => Grouping {
                without: false,
                names: &ls.labels,
            },
            Some(LabelModifier::Exclude(ls)) => Grouping {
                without: true,
                names: &ls.labels,
            },
        };
        if op == "count_values" {
            return self.count_values(a, &grouping, t);
        }
        let param = match &a.param {
            Some(p) => Some(self.eval_scalar(p, t)?),
            None => None,
        };
        let input = self.eval_vector(&a.expr, t)?;
        match op.as_str() {
            "topk" | "bottomk" | "limitk" | "limit_ratio" => {
                let p = param.unwrap_or(f64::NAN);
                let at = a.param.as_deref().map(|p| self.position_suffix(p));
                self.aggregate_k(&op, p, &grouping, input, &at.unwrap_or_default())
            }
            _ => {
                if op == "quantile" {
                    let q = param.unwrap_or(f64::NAN);
                    if q.is_nan() || !(0.0..=1.0).contains(&q) {
                        let at = a.param.as_deref().map(|p| self.position_suffix(p));
                        self.warn(format!(
                            "PromQL warning: quantile value should be between 0 and 1, got {}{}",
                            go_float_g(q),
                            at.unwrap_or_default()
                        ));
                    }
                }
                let memo = a as *const AggregateExpr as usize;
                self.aggregate_values(&op, param.unwrap_or(f64::NAN), &grouping, input, memo)
            }
        }
    }

    fn aggregate_values(
        &self,
        op: &str,
        q: f64,
        grouping: &Grouping<'_>,
        input: Vec<Elem>,
        memo: usize,
    ) -> Result<StepValue, PromqlError> {
        let mut index: HashMap<u64, usize> = HashMap::new();
        let mut groups: Vec<Group> = Vec::new();
        let mut memo_labels = self.group_memo.borrow_mut();
        let mut memo_keys = self.group_key_memo.borrow_mut();
        for e in input {
            let f = e.value;
            // A series' labels are the same (shared) set at every step: its group is
            // computed once per query.
            let key = match memo_keys.get(&(memo, e.labels.clone())) {
                Some(k) => *k,
                None => {
                    let k = grouping.key(&e.labels);
                    memo_keys.insert((memo, e.labels.clone()), k);
                    k
                }
            };
            let gi = match index.get(&key) {
                Some(&gi) => gi,
                None => {
                    let labels = memo_labels
                        .entry((memo, key))
                        .or_insert_with(|| grouping.labels(&e.labels))
                        .clone();
                    groups.push(Group {
                        labels,
                        acc: Acc::default(),
                        values: Vec::new(),
                    });
                    index.insert(key, groups.len() - 1);
                    groups.len() - 1
                }
            };
            let Some(g) = groups.get_mut(gi) else {
                continue;
            };
            if op == "quantile" {
                g.acc.drop |= e.drop_name;
                g.values.push(f);
            } else {
                g.acc.add(op, f, e.drop_name);
            }
        }
        if !groups.is_empty() && !is_value_aggregation(op) {
            return Err(PromqlError::Unsupported(format!(
                "aggregation {op} is not supported"
            )));
        }
        let mut out = Vec::with_capacity(groups.len());
        for g in groups {
            let value = match op {
                "quantile" => quantile(q, g.values),
                _ => g.acc.finish(op),
            };
            out.push(Elem {
                labels: g.labels,
                value,
                sample_t: None,
                drop_name: g.acc.drop,
            });
        }
        Ok(StepValue::Vector(out))
    }

    /// `topk`, `bottomk`, `limitk` and `limit_ratio`: elements keep their own labels.
    fn aggregate_k(
        &self,
        op: &str,
        p: f64,
        grouping: &Grouping<'_>,
        input: Vec<Elem>,
        at: &str,
    ) -> Result<StepValue, PromqlError> {
        let mut ratio = 0.0;
        let mut k = 0usize;
        if op == "limit_ratio" {
            if p == 0.0 {
                return Ok(StepValue::Vector(Vec::new()));
            }
            if p.is_nan() {
                return Err(PromqlError::Execution("Ratio value is NaN".into()));
            }
            ratio = p.clamp(-1.0, 1.0);
            if !(-1.0..=1.0).contains(&p) {
                self.warn(format!(
                    "PromQL warning: ratio value should be between -1 and 1, got {}, capping to {}{at}",
                    go_float_g(p),
                    go_float_g(ratio)
                ));
            }
        } else {
            if p < 1.0 {
                return Ok(StepValue::Vector(Vec::new()));
            }
            if p.is_nan() {
                return Err(PromqlError::Execution("Parameter value is NaN".into()));
            }
            if p >= i64::MAX as f64 {
                return Err(PromqlError::Execution(format!(
                    "Scalar value {} overflows int64",
                    go_float_v(p)
                )));
            }
            k = (p as i64).min(input.len() as i64).max(0) as usize;
            if k < 1 {
                return Ok(StepValue::Vector(Vec::new()));
            }
        }
        let mut index: HashMap<u64, usize> = HashMap::new();
        let mut groups: Vec<Vec<Elem>> = Vec::new();
        for mut e in input {
            e.sample_t = None;
            if op == "limit_ratio" && !ratio_keeps(ratio, &e.labels) {
                // The group still exists, it just may stay empty.
                continue;
            }
            let key = grouping.key(&e.labels);
            let gi = *index.entry(key).or_insert_with(|| {
                groups.push(Vec::new());
                groups.len() - 1
            });
            if let Some(g) = groups.get_mut(gi) {
                if op == "limitk" && g.len() >= k {
                    continue;
                }
                g.push(e);
            }
        }
        let mut out = Vec::new();
        for mut g in groups {
            match op {
                "topk" => {
                    // Descending, NaN last; stable, so the first among equals wins.
                    g.sort_by(|x, y| nan_low_cmp(y.value, x.value));
                    g.truncate(k);
                }
                "bottomk" => {
                    g.sort_by(|x, y| match (x.value.is_nan(), y.value.is_nan()) {
                        (false, false) => x
                            .value
                            .partial_cmp(&y.value)
                            .unwrap_or(std::cmp::Ordering::Equal),
                        (a, b) => a.cmp(&b),
                    });
                    g.truncate(k);
                }
                _ => {}
            }
            out.extend(g);
        }
        Ok(StepValue::Vector(out))
    }

    /// `count_values("label", v)`: per group, how many elements have each value; the
    /// value (formatted as Prometheus does) becomes the label.
    fn count_values(
        &self,
        a: &AggregateExpr,
        grouping: &Grouping<'_>,
        t: i64,
    ) -> Result<StepValue, PromqlError> {
        let Some(p) = &a.param else {
            return Err(PromqlError::Execution(
                "count_values needs a label name parameter".into(),
            ));
        };
        let label = match self.eval(p, t)? {
            StepValue::String(s) => s,
            _ => {
                return Err(PromqlError::Execution(format!(
                    "expected a string label name for count_values, got {p}"
                )));
            }
        };
        if label.is_empty() {
            return Err(PromqlError::Execution(format!(
                "invalid label name {label:?}"
            )));
        }
        let input = self.eval_vector(&a.expr, t)?;
        let mut names: Vec<String> = grouping.names.to_vec();
        if !grouping.without {
            names.push(label.clone());
        }
        let grouping = Grouping {
            without: grouping.without,
            names: &names,
        };
        let mut index: HashMap<u64, usize> = HashMap::new();
        let mut out: Vec<Elem> = Vec::new();
        for e in input {
            let mut b = e.labels.builder();
            b.set(&label, &go_float_format_f(e.value));
            let metric = b.build();
            let key = grouping.key(&metric);
            match index.get(&key) {
                Some(&i) => {
                    if let Some(x) = out.get_mut(i) {
                        x.value += 1.0;
                    }
                }
                None => {
                    index.insert(key, out.len());
                    out.push(Elem::new(grouping.labels(&metric), 1.0));
                }
            }
        }
        Ok(StepValue::Vector(out))
    }
}

/// Go's `strconv.FormatFloat(f, 'f', -1, 64)`: shortest decimal, no exponent.
fn go_float_format_f(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        format!("{f}")
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kahan_sum_keeps_small_terms() {
        let (mut s, mut c) = (0.0, 0.0);
        for v in [1e16, 1.0, -1e16, 1.0] {
            (s, c) = kahan_inc(v, s, c);
        }
        assert_eq!(s + c, 2.0);
    }

    #[test]
    fn limit_ratio_sampling_is_complementary() {
        let l = Labels::from_pairs(&[("a", "1")]);
        for r in [0.1, 0.5, 0.9] {
            assert_ne!(ratio_keeps(r, &l), ratio_keeps(-(1.0 - r), &l));
        }
        assert!(ratio_keeps(1.0, &l));
        assert!(ratio_keeps(-1.0, &l));
    }
}
