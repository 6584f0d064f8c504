//! Functions that work on labels and order: `label_replace`, `label_join`, `sort`,
//! `sort_desc`, `sort_by_label`, `sort_by_label_desc`, and the label set `absent` and
//! `absent_over_time` answer with.

use std::cmp::Ordering;

use oxeye_core::{Labels, METRIC_NAME};
use promql_parser::label::MatchOp;
use promql_parser::parser::{Call, Expr};

use super::position::{Positions, key, literal_is_utf8};
use super::{arg, check_unique, string_arg};
use crate::PromqlError;
use crate::eval::{Elem, Evaluator, StepValue};

/// The labels `absent(expr)` reports: the label values the selector in `expr` pins with
/// exactly one equality matcher (the metric name excluded); nothing for other expressions.
pub(crate) fn absent_labels(e: &Expr) -> Labels {
    let vs = match e {
        Expr::VectorSelector(vs) => vs,
        Expr::MatrixSelector(ms) => &ms.vs,
        _ => return Labels::default(),
    };
    let mut b = Labels::default().builder();
    let mut seen: Vec<&str> = Vec::new();
    for m in &vs.matchers.matchers {
        if m.name == METRIC_NAME {
            continue;
        }
        if matches!(m.op, MatchOp::Equal) && !seen.contains(&m.name.as_str()) {
            b.set(&m.name, &m.value);
            seen.push(&m.name);
        } else {
            b.del(&m.name);
        }
    }
    b.build()
}

/// Natural order of two strings: runs of digits compare by numeric value (leading zeros
/// ignored, longer runs larger), everything else byte by byte.
pub(crate) fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    loop {
        let (Some(&x), Some(&y)) = (a.get(i), b.get(j)) else {
            return (a.len() - i.min(a.len())).cmp(&(b.len() - j.min(b.len())));
        };
        if x.is_ascii_digit() && y.is_ascii_digit() {
            let (ra, na) = digit_run(a, i);
            let (rb, nb) = digit_run(b, j);
            let ord = ra.len().cmp(&rb.len()).then_with(|| ra.cmp(rb));
            if ord != Ordering::Equal {
                return ord;
            }
            i = na;
            j = nb;
            continue;
        }
        if x != y {
            return x.cmp(&y);
        }
        i += 1;
        j += 1;
    }
}

/// The digit run starting at `start` without leading zeros (a lone zero is kept), and
/// the index just past it.
fn digit_run(s: &[u8], start: usize) -> (&[u8], usize) {
    let mut begin = start;
    while s.get(begin) == Some(&b'0') && s.get(begin + 1).is_some_and(u8::is_ascii_digit) {
        begin += 1;
    }
    let mut end = begin;
    while s.get(end).is_some_and(u8::is_ascii_digit) {
        end += 1;
    }
    (s.get(begin..end).unwrap_or(&[]), end)
}

/// Ascending by value with NaN last.
fn value_asc(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}

impl Evaluator<'_> {
    /// Prometheus 3 accepts any non-empty UTF-8 label name. The parser has already turned
    /// the literal into text, so raw-byte escapes (`"\xff"`) are checked in the query.
    fn valid_label_name(&self, c: &Call, i: usize, name: &str) -> bool {
        if name.is_empty() {
            return false;
        }
        let (Some((q, root)), Ok(mut e)) = (self.query, arg(c, i)) else {
            return true;
        };
        while let Expr::Paren(p) = e {
            e = &p.expr;
        }
        let positions = Positions::new(q, root);
        positions.first_token(key(e)).is_none_or(literal_is_utf8)
    }

    pub(super) fn label_replace(&self, c: &Call, t: i64) -> Result<StepValue, PromqlError> {
        let dst = string_arg(c, 1)?;
        let repl = string_arg(c, 2)?;
        let src = string_arg(c, 3)?;
        let pattern = string_arg(c, 4)?;
        let re = regex::Regex::new(&format!("^(?s:{pattern})$")).map_err(|_| {
            PromqlError::Execution(format!(
                "invalid regular expression in label_replace(): {pattern}"
            ))
        })?;
        if !self.valid_label_name(c, 1, dst) {
            return Err(PromqlError::Execution(format!(
                "invalid destination label name in label_replace(): {dst}"
            )));
        }
        let mut v = self.eval_vector(arg(c, 0)?, t)?;
        for e in &mut v {
            let src_val = e.labels.get(src).unwrap_or("");
            let Some(caps) = re.captures(src_val) else {
                continue;
            };
            let mut out = String::new();
            caps.expand(repl, &mut out);
            let mut b = e.labels.builder();
            b.set(dst, &out);
            e.labels = b.build();
            if dst == METRIC_NAME {
                e.drop_name = false;
            }
        }
        check_unique(&v)?;
        Ok(StepValue::Vector(v))
    }

    pub(super) fn label_join(&self, c: &Call, t: i64) -> Result<StepValue, PromqlError> {
        let dst = string_arg(c, 1)?;
        let sep = string_arg(c, 2)?;
        let mut srcs = Vec::new();
        for i in 3..c.args.args.len() {
            let s = string_arg(c, i)?;
            if !self.valid_label_name(c, i, s) {
                return Err(PromqlError::Execution(format!(
                    "invalid source label name in label_join(): {s}"
                )));
            }
            srcs.push(s);
        }
        if !self.valid_label_name(c, 1, dst) {
            return Err(PromqlError::Execution(format!(
                "invalid destination label name in label_join(): {dst}"
            )));
        }
        let mut v = self.eval_vector(arg(c, 0)?, t)?;
        for e in &mut v {
            let joined = srcs
                .iter()
                .map(|s| e.labels.get(s).unwrap_or(""))
                .collect::<Vec<_>>()
                .join(sep);
            let mut b = e.labels.builder();
            b.set(dst, &joined);
            e.labels = b.build();
            if dst == METRIC_NAME {
                e.drop_name = false;
            }
        }
        check_unique(&v)?;
        Ok(StepValue::Vector(v))
    }

    /// `sort`, `sort_desc`, `sort_by_label` and `sort_by_label_desc`. The order only
    /// shows in instant queries; range queries get Prometheus's warning.
    pub(super) fn sort(&self, c: &Call, t: i64) -> Result<StepValue, PromqlError> {
        let name = c.func.name;
        let mut by = Vec::new();
        for i in 1..c.args.args.len() {
            by.push(string_arg(c, i)?);
        }
        let mut v = self.eval_vector(arg(c, 0)?, t)?;
        if self.start != self.end {
            self.warn(format!(
                "PromQL warning: sort is ineffective for range queries since results are always ordered by labels{}",
                self.position_suffix(c)
            ));
        }
        let by_labels = |a: &Elem, b: &Elem| -> Ordering {
            for l in &by {
                let (x, y) = (a.labels.get(l).unwrap_or(""), b.labels.get(l).unwrap_or(""));
                if x != y {
                    return natural_cmp(x, y);
                }
            }
            a.labels.cmp(&b.labels)
        };
        match name {
            "sort" => v.sort_by(|a, b| value_asc(a.value, b.value)),
            "sort_desc" => v.sort_by(|a, b| match (a.value.is_nan(), b.value.is_nan()) {
                (false, false) => value_asc(b.value, a.value),
                _ => value_asc(a.value, b.value),
            }),
            "sort_by_label" => v.sort_by(by_labels),
            _ => v.sort_by(|a, b| by_labels(b, a)),
        }
        Ok(StepValue::Vector(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order() {
        assert_eq!(natural_cmp("a2", "a10"), Ordering::Less);
        assert_eq!(natural_cmp("a10", "a2"), Ordering::Greater);
        assert_eq!(natural_cmp("a02", "a2"), Ordering::Equal);
        assert_eq!(natural_cmp("abc", "abd"), Ordering::Less);
        assert_eq!(natural_cmp("ab", "abc"), Ordering::Less);
        assert_eq!(natural_cmp("1.10", "1.9"), Ordering::Greater);
    }

    #[test]
    fn absent_labels_keep_single_equality_matchers() {
        let e = promql_parser::parser::parse(r#"x{job="a",job="b",foo="bar",m=~"y"}"#).unwrap();
        assert_eq!(absent_labels(&e), Labels::from_pairs(&[("foo", "bar")]));
        let e = promql_parser::parser::parse("sum(x)").unwrap();
        assert_eq!(absent_labels(&e), Labels::default());
    }

    #[test]
    fn nan_sorts_last_both_ways() {
        let mut v = [3.0, f64::NAN, 1.0, 2.0];
        v.sort_by(|a, b| value_asc(*a, *b));
        assert_eq!(&v[..3], &[1.0, 2.0, 3.0]);
        assert!(v[3].is_nan());
    }
}
