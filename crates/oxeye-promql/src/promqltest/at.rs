//! Step-invariance variants of an instant eval, as Prometheus's runner makes them: every
//! selector (and every outermost subquery) without an `@` gets `@ <eval time>`, and the
//! rewritten query must give the same result at other evaluation times.

use std::time::{Duration, SystemTime};

use promql_parser::parser::{AtModifier, Expr};

/// Functions whose result depends on the evaluation time even when their arguments are
/// pinned with `@`; queries using them get no variants.
const AT_UNSAFE: &[&str] = &[
    "days_in_month",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "end",
    "hour",
    "minute",
    "month",
    "year",
    "predict_linear",
    "range",
    "start",
    "step",
    "time",
    "timestamp",
];

/// The query with `@ ts_ms` on its selectors, and the evaluation times it is re-run at.
/// `None` when the query has no step-invariant form (or does not parse).
pub fn variants(expr: &str, ts_ms: i64) -> Option<(String, Vec<i64>)> {
    // A string written with raw byte escapes that are not UTF-8 (`"\xff"`) cannot be
    // printed back from the syntax tree: the re-rendered query would mean something else.
    if has_non_utf8_escape(expr) {
        return None;
    }
    let mut ast = promql_parser::parser::parse(expr).ok()?;
    // The parser prints an `@` time before the epoch as 0; such variants are not made.
    let at =
        AtModifier::At(SystemTime::UNIX_EPOCH + Duration::from_millis(u64::try_from(ts_ms).ok()?));
    if !pin(&mut ast, &at) {
        return None;
    }
    let times = if ts_ms == 0 {
        vec![-1000, 0, 1000]
    } else {
        vec![
            ts_ms.saturating_mul(-10),
            0,
            ts_ms / 5,
            ts_ms,
            ts_ms.saturating_mul(10),
        ]
    };
    Some((ast.to_string(), times))
}

/// Whether `expr` holds a `\xHH` escape of a byte >= 0x80 (not UTF-8 on its own).
fn has_non_utf8_escape(expr: &str) -> bool {
    let b = expr.as_bytes();
    b.windows(4).any(|w| {
        w.first() == Some(&b'\\')
            && w.get(1) == Some(&b'x')
            && w.get(2)
                .is_some_and(|h| matches!(h, b'8'..=b'9' | b'a'..=b'f' | b'A'..=b'F'))
            && w.get(3).is_some_and(u8::is_ascii_hexdigit)
    })
}

/// Sets `@` on unpinned selectors and outermost subqueries; false when an at-unsafe
/// function is used.
fn pin(e: &mut Expr, at: &AtModifier) -> bool {
    match e {
        Expr::VectorSelector(vs) => {
            if vs.at.is_none() {
                vs.at = Some(at.clone());
            }
            true
        }
        Expr::MatrixSelector(ms) => {
            if ms.vs.at.is_none() {
                ms.vs.at = Some(at.clone());
            }
            true
        }
        Expr::Subquery(sq) => {
            // Nothing inside a pinned subquery is changed or inspected.
            if sq.at.is_none() {
                sq.at = Some(at.clone());
            }
            true
        }
        Expr::Aggregate(a) => {
            let param_ok = a.param.as_deref_mut().is_none_or(|p| pin(p, at));
            param_ok && pin(&mut a.expr, at)
        }
        Expr::Unary(u) => pin(&mut u.expr, at),
        Expr::Binary(b) => {
            let l = pin(&mut b.lhs, at);
            l && pin(&mut b.rhs, at)
        }
        Expr::Paren(p) => pin(&mut p.expr, at),
        Expr::Call(c) => {
            if AT_UNSAFE.contains(&c.func.name) {
                return false;
            }
            c.args.args.iter_mut().all(|a| pin(a, at))
        }
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) => true,
        Expr::Extension(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::variants;

    #[test]
    fn raw_byte_escapes_make_no_variant() {
        assert!(variants(r#"label_replace(m, "\xff", "", "", "")"#, 60_000).is_none());
        assert!(variants(r#"label_replace(m, "\x41", "", "", "")"#, 60_000).is_some());
    }

    #[test]
    fn selectors_get_pinned_and_unsafe_functions_opt_out() {
        let (q, times) = variants("sum(rate(a[5m])) / b @ 10", 60_000).unwrap();
        let reparsed = promql_parser::parser::parse(&q).unwrap();
        assert_eq!(
            reparsed.to_string(),
            q,
            "rewritten query survives a round trip"
        );
        assert!(
            q.contains("a @ 60.000[5m]") || q.contains("a[5m] @ 60.000"),
            "{q}"
        );
        assert!(q.contains("b @ 10.000"), "existing @ is kept: {q}");
        assert_eq!(times, [-600_000, 0, 12_000, 60_000, 600_000]);
        assert_eq!(variants("a", 0).unwrap().1, [-1000, 0, 1000]);
        assert!(variants("time() - a", 1000).is_none());
        assert!(variants("predict_linear(a[5m], 60)", 1000).is_none());
        // Inside a subquery nothing is pinned or inspected.
        let (q, _) = variants("max_over_time(timestamp(a)[5m:1m])", 1000).unwrap();
        assert!(q.contains("[5m:1m] @ 1.000") && !q.contains("a @"), "{q}");
    }
}
