//! Runs one eval and compares its result with the script's expectations.

use std::fmt::Write as _;

use oxeye_core::{Labels, METRIC_NAME, MatchOp, Matcher, TenantId, is_stale_nan};
use promql_parser::label::MatchOp as PMatchOp;
use promql_parser::parser::{Expr, VectorSelector};
use promql_parser::util::{ExprVisitor, walk_expr};

use super::at;
use super::parse::{Eval, ExpectKind, Point, SeriesDesc};
use super::{Outcome, SkipReason, State};
use crate::{Engine, Output, PromqlError, Value};

/// Relative tolerance for sample values, as Prometheus's runner uses.
const EPSILON: f64 = 1e-6;

/// Whether two values are equal as Prometheus's tests judge them: within a relative
/// epsilon, NaN equal to NaN, a stale marker only equal to another stale marker.
pub fn almost_equal(a: f64, b: f64) -> bool {
    if is_stale_nan(a) || is_stale_nan(b) {
        return is_stale_nan(a) && is_stale_nan(b);
    }
    crate::functions::histogram::almost_equal(a, b, EPSILON)
}

/// Functions whose result depends on the evaluation context (Prometheus does not re-run
/// those as a range query).
fn uses_query_context(expr: &str) -> bool {
    ["start()", "end()", "range()", "step()"]
        .iter()
        .any(|f| expr.contains(f))
}

pub(super) fn run_eval(engine: &Engine, tenant: &TenantId, state: &State, ev: &Eval) -> Outcome {
    if ev
        .expected
        .series
        .iter()
        .any(|s| s.points.contains(&Point::Histogram))
    {
        return Outcome::Skipped(SkipReason::NativeHistogramExpected);
    }
    match promql_parser::parser::parse(&ev.expr) {
        Err(_) => {
            if let Some(what) = experimental(&ev.expr) {
                return Outcome::Skipped(SkipReason::Experimental(what));
            }
        }
        Ok(ast) => {
            if let Some(reason) = touches_histograms(&ast, state) {
                return Outcome::Skipped(reason);
            }
        }
    }
    match check(engine, tenant, state, ev) {
        Ok(()) => Outcome::Passed,
        Err(msg) => Outcome::Failed(msg),
    }
}

fn check(engine: &Engine, tenant: &TenantId, state: &State, ev: &Eval) -> Result<(), String> {
    if let Some((end, step)) = ev.range {
        let result = engine.range(&state.store, tenant, &ev.expr, ev.start, end, step);
        return check_result(ev, result).map(|_| ());
    }
    check_instant(engine, tenant, state, ev, &ev.expr, ev.start)?;
    if ev.expected.string.is_some() || ev.expected.range_vector.is_some() {
        return Ok(());
    }
    // Pinned with `@`, the query must answer the same at other evaluation times.
    if let Some((pinned, times)) = at::variants(&ev.expr, ev.start) {
        for t in times {
            check_instant(engine, tenant, state, ev, &pinned, t)
                .map_err(|e| format!("{pinned} evaluated at {t}ms: {e}"))?;
        }
    }
    Ok(())
}

/// Checks an error or a result against the expectations (failure, annotations, value).
fn check_result(ev: &Eval, result: Result<Output, PromqlError>) -> Result<Option<Output>, String> {
    let expects_fail = ev.has(ExpectKind::Fail);
    let out = match result {
        Err(e) if expects_fail => return check_failure(ev, &e).map(|()| None),
        Err(e) => return Err(format!("error evaluating query: {e}")),
        Ok(_) if expects_fail => {
            return Err("expected an error evaluating the query but got none".into());
        }
        Ok(out) => out,
    };
    check_annotations(ev, &out)?;
    compare(ev, &out.value)?;
    Ok(Some(out))
}

/// Runs `expr` as an instant query at `t` and, unless the eval opts out, as a range query
/// around `t` whose middle step must give the same answer.
fn check_instant(
    engine: &Engine,
    tenant: &TenantId,
    state: &State,
    ev: &Eval,
    expr: &str,
    t: i64,
) -> Result<(), String> {
    let result = engine.instant(&state.store, tenant, expr, t);
    let Some(out) = check_result(ev, result)? else {
        return Ok(());
    };
    if ev.expected.string.is_some()
        || ev.expected.range_vector.is_some()
        || uses_query_context(expr)
    {
        return Ok(());
    }
    let ranged = engine
        .range(
            &state.store,
            tenant,
            expr,
            t.saturating_sub(60_000),
            t.saturating_add(60_000),
            60_000,
        )
        .map_err(|e| format!("error evaluating query in range mode: {e}"))?;
    if ev.has(ExpectKind::Ordered) {
        return Ok(());
    }
    let Value::Matrix(m) = &ranged.value else {
        return Err(format!("range mode returned {}", render(&ranged.value)));
    };
    check_sorted(m)?;
    let vector: Vec<(Labels, i64, f64)> = m
        .iter()
        .filter_map(|(l, s)| s.iter().find(|x| x.t == t).map(|x| (l.clone(), t, x.v)))
        .collect();
    let at_t = match &out.value {
        Value::Scalar(..) => match vector.first() {
            Some((_, _, v)) => Value::Scalar(t, *v),
            None => return Err("range mode: no point at the evaluation time for a scalar".into()),
        },
        _ => Value::Vector(vector),
    };
    compare(ev, &at_t).map_err(|e| format!("range mode: {e}"))
}

fn check_failure(ev: &Eval, e: &PromqlError) -> Result<(), String> {
    let text = e.to_string();
    match ev.of(ExpectKind::Fail).next() {
        Some(x) if !x.message.matches(&text) => Err(format!(
            "expected error matching {} but got: {text}",
            x.message.describe()
        )),
        _ => Ok(()),
    }
}

pub(super) fn check_annotations(ev: &Eval, out: &Output) -> Result<(), String> {
    check_annotation_kind(ev, ExpectKind::Warn, &out.warnings, "warn")?;
    check_annotation_kind(ev, ExpectKind::Info, &out.infos, "info")?;
    if ev.has(ExpectKind::NoWarn) && !out.warnings.is_empty() {
        return Err(format!(
            "unexpected warning annotations: {:?}",
            out.warnings
        ));
    }
    if ev.has(ExpectKind::NoInfo) && !out.infos.is_empty() {
        return Err(format!("unexpected info annotations: {:?}", out.infos));
    }
    Ok(())
}

fn check_annotation_kind(
    ev: &Eval,
    kind: ExpectKind,
    got: &[String],
    what: &str,
) -> Result<(), String> {
    let expects: Vec<_> = ev.of(kind).collect();
    if expects.is_empty() {
        return Ok(());
    }
    if got.is_empty() {
        return Err(format!("expected {what} annotations but none were found"));
    }
    for e in &expects {
        if !got.iter().any(|g| e.message.matches(g)) {
            return Err(format!(
                "expected {what} annotation matching {} but found: {got:?}",
                e.message.describe()
            ));
        }
    }
    for g in got {
        if !expects.iter().any(|e| e.message.matches(g)) {
            return Err(format!("unexpected {what} annotation {g:?}"));
        }
    }
    Ok(())
}

fn check_sorted(m: &[(Labels, Vec<oxeye_core::Sample>)]) -> Result<(), String> {
    for w in m.windows(2) {
        if let [a, b] = w
            && a.0 > b.0
        {
            return Err(format!(
                "matrix results must be sorted by labels, but {} comes before {}",
                a.0, b.0
            ));
        }
    }
    Ok(())
}

/// Compares a result with the expected output.
fn compare(ev: &Eval, got: &Value) -> Result<(), String> {
    let exp = &ev.expected;
    let detail = |msg: String| {
        format!(
            "{msg}\n  expected:\n{}  got:\n{}",
            render_expected(ev),
            render(got)
        )
    };
    match got {
        Value::Matrix(m) => {
            if ev.has(ExpectKind::Ordered) {
                return Err(detail(
                    "expected ordered result, but query returned a matrix".into(),
                ));
            }
            if exp.scalar.is_some() {
                return Err(detail("expected scalar result, but got a matrix".into()));
            }
            check_sorted(m)?;
            let (start, end, step) = match (ev.range, exp.range_vector) {
                (_, Some(rv)) => rv,
                (Some((end, step)), None) => (ev.start, end, step),
                // An instant query has no range to place points in (Prometheus's runner
                // rejects any expected point here).
                (None, None) => (ev.start, i64::MIN, 0),
            };
            for (labels, samples) in m {
                let Some(want) = exp.series.iter().find(|s| &s.labels == labels) else {
                    return Err(detail(format!("unexpected series {labels} in result")));
                };
                let mut points = Vec::new();
                for (i, p) in want.points.iter().enumerate() {
                    let t = start.saturating_add((i as i64).saturating_mul(step));
                    if t > end {
                        return Err(detail(format!(
                            "expected {} points for {labels}, but the query range cannot return this many",
                            want.points.len()
                        )));
                    }
                    if let Point::Float(v) = p {
                        points.push((t, *v));
                    }
                }
                if points.len() != samples.len() {
                    return Err(detail(format!(
                        "expected {} points for {labels}, got {}",
                        points.len(),
                        samples.len()
                    )));
                }
                for ((t, v), s) in points.iter().zip(samples) {
                    if *t != s.t {
                        return Err(detail(format!(
                            "expected a point at t={t}ms for {labels}, got t={}ms",
                            s.t
                        )));
                    }
                    if !almost_equal(*v, s.v) {
                        return Err(detail(format!(
                            "expected {} at t={t}ms for {labels}, got {}",
                            fmt_value(*v),
                            fmt_value(s.v)
                        )));
                    }
                }
            }
            missing(&exp.series, m.iter().map(|(l, _)| l)).map_err(detail)
        }
        Value::Vector(v) => {
            if exp.scalar.is_some() {
                return Err(detail("expected scalar result, but got a vector".into()));
            }
            let ordered = ev.has(ExpectKind::Ordered);
            for (pos, (labels, _, value)) in v.iter().enumerate() {
                let Some((want_pos, want)) = exp
                    .series
                    .iter()
                    .enumerate()
                    .find(|(_, s)| &s.labels == labels)
                else {
                    return Err(detail(format!(
                        "unexpected series {labels} in result, value {}",
                        fmt_value(*value)
                    )));
                };
                if ordered && want_pos != pos {
                    return Err(detail(format!(
                        "expected {labels} at position {} but it was at {}",
                        want_pos + 1,
                        pos + 1
                    )));
                }
                let want_v = match want.points.first() {
                    Some(Point::Float(x)) => *x,
                    _ => return Err(detail(format!("no expected value given for {labels}"))),
                };
                if !almost_equal(want_v, *value) {
                    return Err(detail(format!(
                        "expected {} for {labels}, got {}",
                        fmt_value(want_v),
                        fmt_value(*value)
                    )));
                }
            }
            missing(&exp.series, v.iter().map(|(l, _, _)| l)).map_err(detail)
        }
        Value::Scalar(_, v) => {
            let Some(want) = exp.scalar else {
                return Err(detail(
                    "expected a vector or matrix result, but got a scalar".into(),
                ));
            };
            if !almost_equal(want, *v) {
                return Err(detail(format!(
                    "expected scalar {}, got {}",
                    fmt_value(want),
                    fmt_value(*v)
                )));
            }
            Ok(())
        }
        Value::String(_, s) => {
            let want = exp.string.as_deref().unwrap_or("");
            if want != s {
                return Err(detail(format!("expected string {want:?}, got {s:?}")));
            }
            Ok(())
        }
    }
}

fn missing<'a>(
    expected: &[SeriesDesc],
    got: impl Iterator<Item = &'a Labels> + Clone,
) -> Result<(), String> {
    for want in expected {
        if !got.clone().any(|l| *l == want.labels) {
            return Err(format!("expected series {} not found", want.labels));
        }
    }
    Ok(())
}

/// Formats a value for reports: `stale` for the stale marker, exponent notation for very
/// large or small magnitudes.
fn fmt_value(v: f64) -> String {
    if is_stale_nan(v) {
        return "stale".to_string();
    }
    let a = v.abs();
    if a.is_finite() && a != 0.0 && !(1e-4..1e21).contains(&a) {
        return format!("{v:e}");
    }
    format!("{v}")
}

fn render_expected(ev: &Eval) -> String {
    let mut out = String::new();
    if let Some(v) = ev.expected.scalar {
        let _ = writeln!(out, "    scalar {}", fmt_value(v));
    }
    if let Some(s) = &ev.expected.string {
        let _ = writeln!(out, "    string {s:?}");
    }
    for s in &ev.expected.series {
        let pts: Vec<String> = s
            .points
            .iter()
            .map(|p| match p {
                Point::Omitted => "_".to_string(),
                Point::Float(v) => fmt_value(*v),
                Point::Histogram => "{{histogram}}".to_string(),
            })
            .collect();
        let _ = writeln!(out, "    {} {}", s.labels, pts.join(" "));
    }
    if out.is_empty() {
        out.push_str("    (nothing)\n");
    }
    out
}

/// Renders a result compactly for failure reports (at most 20 series).
pub fn render(v: &Value) -> String {
    const MAX: usize = 20;
    let mut out = String::new();
    match v {
        Value::Scalar(_, x) => {
            let _ = writeln!(out, "    scalar {}", fmt_value(*x));
        }
        Value::String(_, s) => {
            let _ = writeln!(out, "    string {s:?}");
        }
        Value::Vector(v) => {
            for (l, _, x) in v.iter().take(MAX) {
                let _ = writeln!(out, "    {l} {}", fmt_value(*x));
            }
            if v.len() > MAX {
                let _ = writeln!(out, "    ... {} more", v.len() - MAX);
            }
        }
        Value::Matrix(m) => {
            for (l, s) in m.iter().take(MAX) {
                let pts: Vec<String> = s
                    .iter()
                    .map(|x| format!("{}@{}", fmt_value(x.v), x.t))
                    .collect();
                let _ = writeln!(out, "    {l} {}", pts.join(" "));
            }
            if m.len() > MAX {
                let _ = writeln!(out, "    ... {} more", m.len() - MAX);
            }
        }
    }
    if out.is_empty() {
        out.push_str("    (empty)\n");
    }
    out
}

/// Collects every selector's matchers (with the metric name folded in); `or` groups
/// become separate entries.
struct Selectors(Vec<Vec<Matcher>>);

impl Selectors {
    fn add(&mut self, vs: &VectorSelector) {
        let mut groups: Vec<&Vec<promql_parser::label::Matcher>> = vec![&vs.matchers.matchers];
        if !vs.matchers.or_matchers.is_empty() {
            groups = vs.matchers.or_matchers.iter().collect();
        }
        for g in groups {
            let mut out: Vec<Matcher> = g
                .iter()
                .filter_map(|m| {
                    let op = match m.op {
                        PMatchOp::Equal => MatchOp::Equal,
                        PMatchOp::NotEqual => MatchOp::NotEqual,
                        PMatchOp::Re(_) => MatchOp::Regex,
                        PMatchOp::NotRe(_) => MatchOp::NotRegex,
                    };
                    Matcher::new(op, m.name.clone(), m.value.clone()).ok()
                })
                .collect();
            if let Some(n) = &vs.name {
                out.push(Matcher::equal(METRIC_NAME, n.clone()));
            }
            self.0.push(out);
        }
    }
}

impl ExprVisitor for Selectors {
    type Error = std::convert::Infallible;

    fn pre_visit(&mut self, e: &Expr) -> Result<bool, Self::Error> {
        match e {
            Expr::VectorSelector(vs) => self.add(vs),
            Expr::MatrixSelector(ms) => self.add(&ms.vs),
            _ => {}
        }
        Ok(true)
    }
}

/// Whether any selector of the query matches a native-histogram series.
fn touches_histograms(ast: &Expr, state: &State) -> Option<SkipReason> {
    let mut sel = Selectors(Vec::new());
    let _ = walk_expr(&mut sel, ast);
    let hits = |set: &[Labels]| {
        sel.0.iter().any(|ms| {
            set.iter()
                .any(|l| ms.iter().all(|m| m.matches(l.get(&m.name).unwrap_or(""))))
        })
    };
    if hits(&state.histograms) {
        return Some(SkipReason::NativeHistogramData);
    }
    if hits(&state.nhcb) {
        return Some(SkipReason::CustomBucketHistogramData);
    }
    None
}

/// Names the experimental feature a query that did not parse uses, if any.
fn experimental(expr: &str) -> Option<String> {
    let words = |w: &str| {
        expr.match_indices(w).any(|(i, _)| {
            let before = expr.get(..i).and_then(|s| s.chars().last());
            let after = expr.get(i + w.len()..).and_then(|s| s.chars().next());
            let ident = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
            !ident(before) && !ident(after)
        })
    };
    if words("anchored") || words("smoothed") {
        return Some("anchored/smoothed range selector modifiers".into());
    }
    if expr.contains("step()") || expr.contains("range()") {
        return Some("step()/range() in duration expressions".into());
    }
    if duration_expression(expr) {
        return Some("duration expressions".into());
    }
    None
}

/// Whether a `[...]` range, a subquery step or an `offset` holds arithmetic rather than a
/// plain duration.
fn duration_expression(expr: &str) -> bool {
    let mut rest = expr;
    while let Some(open) = rest.find('[') {
        let after = rest.get(open + 1..).unwrap_or("");
        let close = after.find(']').unwrap_or(after.len());
        let inside = after.get(..close).unwrap_or("");
        if inside
            .split(':')
            .any(|part| part.contains(['+', '-', '*', '/', '%', '^', '(']))
        {
            return true;
        }
        rest = after.get(close..).unwrap_or("");
    }
    expr.match_indices("offset").any(|(i, _)| {
        let after = expr.get(i + 6..).unwrap_or("").trim_start();
        let after = after.strip_prefix('-').unwrap_or(after).trim_start();
        after.starts_with('(')
            || after
                .split(|c: char| c.is_whitespace() || c == ')')
                .next()
                .is_some_and(|tok| tok.contains(['+', '*', '/', '%', '^']))
    })
}
