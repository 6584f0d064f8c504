//! Runs the Prometheus promqltest files (instant and range evals) and reports how many pass.
//!
//! `load <step>` blocks are expanded (`a+bxN`, `a-bxN`, `axN`, `_`, `_xN`, `stale`);
//! `eval instant at <t> <expr>` and `eval range from <s> to <e> step <d> <expr>` cases are
//! compared with their expected elements. Native histograms and info/warn annotations are counted as unsupported. The
//! test asserts only that nothing panics and that some cases pass; set
//! `PROMQLTEST_VERBOSE=1` to list the failing cases.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;

use super::*;
use promql_parser::parser::Expr;

fn dir() -> Option<PathBuf> {
    let base = env!("CARGO_MANIFEST_DIR");
    [
        format!("{base}/../../../shared/promqltest"),
        format!("{base}/../../../../shared/promqltest"),
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|p| p.is_dir())
}

/// Parses `1h30m`, `50m`, `10s53ms`, or plain seconds into ms.
fn duration_ms(s: &str) -> Option<i64> {
    if let Ok(secs) = s.parse::<f64>() {
        return Some((secs * 1000.0).round() as i64);
    }
    let mut total = 0i64;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit())?;
        let n: i64 = rest.get(..digits)?.parse().ok()?;
        rest = rest.get(digits..)?;
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = rest.get(..unit_len)?;
        rest = rest.get(unit_len..)?;
        let mult = match unit {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 604_800_000,
            "y" => 31_536_000_000,
            _ => return None,
        };
        total += n * mult;
    }
    Some(total)
}

fn number(s: &str) -> Option<f64> {
    match s {
        "Inf" | "+Inf" | "inf" => Some(f64::INFINITY),
        "-Inf" | "-inf" => Some(f64::NEG_INFINITY),
        "NaN" | "nan" => Some(f64::NAN),
        _ => s.parse().ok(),
    }
}

/// Expands one series' value notation into optional values (None = no sample).
fn expand(items: &[&str]) -> Option<Vec<Option<f64>>> {
    let mut out = Vec::new();
    for item in items {
        if *item == "_" {
            out.push(None);
            continue;
        }
        if *item == "stale" {
            out.push(Some(stale_nan()));
            continue;
        }
        if let Some(n) = item.strip_prefix("_x") {
            let n: usize = n.parse().ok()?;
            out.extend(std::iter::repeat_n(None, n));
            continue;
        }
        if let Some((head, n)) = item.rsplit_once('x') {
            let n: usize = n.parse().ok()?;
            // a+b, a-b (a may itself be negative), or a alone.
            let split = head
                .char_indices()
                .skip(1)
                .find(|(_, c)| *c == '+' || *c == '-')
                .map(|(i, _)| i);
            let (a, b) = match split {
                Some(i) => {
                    let a = number(head.get(..i)?)?;
                    let b = number(head.get(i..)?.trim_start_matches('+'))?;
                    (a, b)
                }
                None => (number(head)?, 0.0),
            };
            for k in 0..=n {
                out.push(Some(a + b * k as f64));
            }
            continue;
        }
        out.push(Some(number(item)?));
    }
    Some(out)
}

fn labels_of(series: &str) -> Option<Labels> {
    let Ok(Expr::VectorSelector(vs)) = promql_parser::parser::parse(series) else {
        return None;
    };
    let mut pairs: Vec<(String, String)> = vs
        .matchers
        .matchers
        .iter()
        .map(|m| (m.name.clone(), m.value.clone()))
        .collect();
    if let Some(n) = vs.name
        && !pairs.iter().any(|(k, _)| k == "__name__")
    {
        pairs.push(("__name__".into(), n));
    }
    Some(Labels::from_pairs(&pairs))
}

/// Splits `metric{a="b c"} 1 2` into the series part and the rest.
fn split_series(line: &str) -> (&str, &str) {
    match line.find('}') {
        Some(i) => (
            line.get(..=i).unwrap_or(line),
            line.get(i + 1..).unwrap_or(""),
        ),
        None => line.split_once(char::is_whitespace).unwrap_or((line, "")),
    }
}

enum Outcome {
    Pass,
    Fail,
    Unsupported,
}

struct Case {
    at_ms: i64,
    /// `(end, step)` for range evals; `at_ms` is then the start.
    range: Option<(i64, i64)>,
    expr: String,
    expect_fail: bool,
    expected: Vec<String>,
}

fn same(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= 1e-6 * a.abs().max(b.abs())
}

fn run_case(store: &VecStore, case: &Case) -> Outcome {
    let got = match case.range {
        Some((end, step)) => Engine::default()
            .range(store, &tenant(), &case.expr, case.at_ms, end, step)
            .map(|o| o.value),
        None => Engine::default()
            .instant(store, &tenant(), &case.expr, case.at_ms)
            .map(|o| o.value),
    };
    if case.expect_fail {
        return match got {
            Err(PromqlError::Unsupported(_)) => Outcome::Unsupported,
            Err(_) => Outcome::Pass,
            Ok(_) => Outcome::Fail,
        };
    }
    let got = match got {
        Err(PromqlError::Unsupported(_)) => return Outcome::Unsupported,
        Err(_) => return Outcome::Fail,
        Ok(v) => v,
    };
    match got {
        Value::Scalar(_, v) => match case.expected.as_slice() {
            [one] => match number(one.trim()) {
                Some(e) if same(v, e) => Outcome::Pass,
                _ => Outcome::Fail,
            },
            _ => Outcome::Fail,
        },
        Value::Vector(v) => {
            if v.len() != case.expected.len() {
                return Outcome::Fail;
            }
            for line in &case.expected {
                let (series, value) = split_series(line.trim());
                if value.contains("{{") {
                    return Outcome::Unsupported;
                }
                let (Some(want_l), Some(want_v)) = (labels_of(series), number(value.trim())) else {
                    return Outcome::Unsupported;
                };
                if !v.iter().any(|(l, _, x)| *l == want_l && same(*x, want_v)) {
                    return Outcome::Fail;
                }
            }
            Outcome::Pass
        }
        Value::Matrix(m) => {
            let Some((_, step)) = case.range else {
                return Outcome::Unsupported;
            };
            if m.len() != case.expected.len() {
                return Outcome::Fail;
            }
            for line in &case.expected {
                let (series, values) = split_series(line.trim());
                let items: Vec<&str> = values.split_whitespace().collect();
                let (Some(want_l), Some(want)) = (labels_of(series), expand(&items)) else {
                    return Outcome::Unsupported;
                };
                let want: Vec<Sample> = want
                    .into_iter()
                    .enumerate()
                    .filter_map(|(k, v)| v.map(|v| Sample::new(case.at_ms + k as i64 * step, v)))
                    .collect();
                let Some((_, got)) = m.iter().find(|(l, _)| *l == want_l) else {
                    return Outcome::Fail;
                };
                let equal = got.len() == want.len()
                    && got
                        .iter()
                        .zip(&want)
                        .all(|(g, w)| g.t == w.t && same(g.v, w.v));
                if !equal {
                    return Outcome::Fail;
                }
            }
            Outcome::Pass
        }
        Value::String(..) => Outcome::Unsupported,
    }
}

#[test]
fn prometheus_conformance_files() {
    let Some(dir) = dir() else {
        println!("skipping: promqltest directory not found next to the repository");
        return;
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "test"))
        .collect();
    files.sort();
    let verbose = std::env::var_os("PROMQLTEST_VERBOSE").is_some();
    let (mut pass, mut fail, mut unsupported, mut panics) = (0, 0, 0, 0);
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let mut store = VecStore::default();
        let (mut fp, mut ff, mut fu) = (0, 0, 0);
        let mut i = 0;
        while i < lines.len() {
            let line = lines[i].trim();
            i += 1;
            if line == "clear" {
                store = VecStore::default();
                continue;
            }
            if let Some(step) = line.strip_prefix("load ") {
                let step = duration_ms(step.trim()).unwrap_or(0);
                while i < lines.len() && lines[i].starts_with([' ', '\t']) {
                    let body = lines[i].trim();
                    i += 1;
                    let (series, values) = split_series(body);
                    let items: Vec<&str> = values.split_whitespace().collect();
                    let (Some(labels), Some(vals)) = (labels_of(series), expand(&items)) else {
                        continue;
                    };
                    let samples: Vec<Sample> = vals
                        .into_iter()
                        .enumerate()
                        .filter_map(|(k, v)| v.map(|v| Sample::new(k as i64 * step, v)))
                        .collect();
                    store.0.push((labels, samples));
                }
                continue;
            }
            if line.starts_with("load") {
                while i < lines.len() && lines[i].starts_with([' ', '\t']) {
                    i += 1;
                }
                continue;
            }
            let mut range = None;
            let (at, expr, mut expect_fail) = if let Some(r) = line.strip_prefix("eval range from ")
            {
                // <start> to <end> step <step> <expr>
                let parts: Vec<&str> = r.splitn(6, ' ').collect();
                let (Some(start), Some(end), Some(step), Some(expr)) =
                    (parts.first(), parts.get(2), parts.get(4), parts.get(5))
                else {
                    fu += 1;
                    continue;
                };
                match (duration_ms(end), duration_ms(step)) {
                    (Some(e), Some(st)) => range = Some((e, st)),
                    _ => {
                        fu += 1;
                        continue;
                    }
                }
                (*start, *expr, false)
            } else if let Some(r) = line.strip_prefix("eval instant at ") {
                let Some((at, expr)) = r.split_once(' ') else {
                    continue;
                };
                (at, expr, false)
            } else if let Some(r) = line.strip_prefix("eval_fail instant at ") {
                let Some((at, expr)) = r.split_once(' ') else {
                    continue;
                };
                (at, expr, true)
            } else {
                continue;
            };
            let mut expected = Vec::new();
            let mut annotated = false;
            while i < lines.len() && lines[i].starts_with([' ', '\t']) {
                let body = lines[i].trim();
                i += 1;
                if body == "expect fail" || body.starts_with("expect fail ") {
                    expect_fail = true;
                } else if body.starts_with("expect no_") || body.starts_with("expect ordered") {
                } else if body.starts_with("expect") {
                    annotated = true;
                } else if !body.is_empty() && !body.starts_with('#') {
                    expected.push(body.to_string());
                }
            }
            let Some(at_ms) = duration_ms(at) else {
                fu += 1;
                continue;
            };
            if annotated {
                fu += 1;
                continue;
            }
            let case = Case {
                at_ms,
                range,
                expr: expr.trim().to_string(),
                expect_fail,
                expected,
            };
            match catch_unwind(AssertUnwindSafe(|| run_case(&store, &case))) {
                Ok(Outcome::Pass) => fp += 1,
                Ok(Outcome::Fail) => {
                    if verbose {
                        println!("fail: {} at {}", case.expr, at);
                    }
                    ff += 1;
                }
                Ok(Outcome::Unsupported) => fu += 1,
                Err(_) => {
                    println!("panic: {} at {}", case.expr, at);
                    panics += 1;
                }
            }
        }
        println!(
            "{}: pass {fp} fail {ff} unsupported {fu}",
            file.file_name().unwrap_or_default().to_string_lossy()
        );
        pass += fp;
        fail += ff;
        unsupported += fu;
    }
    println!("promqltest total: pass {pass} fail {fail} unsupported {unsupported} panics {panics}");
    assert_eq!(panics, 0, "the engine panicked on some cases");
    assert!(pass > 0, "no conformance case passed");
}
