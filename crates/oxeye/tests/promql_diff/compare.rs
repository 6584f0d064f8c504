//! Reading a query API answer and comparing two of them.
//!
//! Two answers are equal when both failed, or both succeeded with the same result type,
//! the same series label sets, the same timestamps and values equal within 1e-9 relative
//! (NaN equals NaN, infinities equal themselves). Series order counts only for a sorted
//! instant query, and there only the order of values (ties may come in any order).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value as Json;

pub type LabelSet = BTreeMap<String, String>;

/// One server's answer to one query.
#[derive(Debug)]
pub enum Answer {
    /// The request did not complete (connection refused, timeout): never equal to anything.
    Transport(String),
    /// The server answered with an error.
    Error(String),
    Scalar(i64, f64),
    Str(i64, String),
    Vector(Vec<(LabelSet, i64, f64)>),
    Matrix(Vec<(LabelSet, Vec<(i64, f64)>)>),
}

impl Answer {
    fn kind(&self) -> &'static str {
        match self {
            Answer::Transport(_) => "no answer",
            Answer::Error(_) => "error",
            Answer::Scalar(..) => "scalar",
            Answer::Str(..) => "string",
            Answer::Vector(_) => "vector",
            Answer::Matrix(_) => "matrix",
        }
    }

    /// Number of series (or 1 for a scalar or string); 0 for failures.
    pub fn len(&self) -> usize {
        match self {
            Answer::Transport(_) | Answer::Error(_) => 0,
            Answer::Scalar(..) | Answer::Str(..) => 1,
            Answer::Vector(v) => v.len(),
            Answer::Matrix(m) => m.len(),
        }
    }
}

fn parse_value(v: &Json) -> Option<f64> {
    match v.as_str()? {
        "NaN" => Some(f64::NAN),
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        s => s.parse().ok(),
    }
}

fn parse_point(p: &Json) -> Option<(i64, f64)> {
    let t = (p.get(0)?.as_f64()? * 1000.0).round() as i64;
    Some((t, parse_value(p.get(1)?)?))
}

fn parse_labels(m: &Json) -> Option<LabelSet> {
    m.as_object()?
        .iter()
        .map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
        .collect()
}

/// Reads an HTTP answer of `/api/v1/query` or `/api/v1/query_range`.
pub fn parse(status: u16, body: &str) -> Answer {
    let bad = || Answer::Error(format!("http {status}: unreadable answer {body:.200}"));
    let Ok(json) = serde_json::from_str::<Json>(body) else {
        return bad();
    };
    if json["status"] != "success" {
        return Answer::Error(format!(
            "http {status}: {}: {}",
            json["errorType"].as_str().unwrap_or("?"),
            json["error"].as_str().unwrap_or("?")
        ));
    }
    let data = &json["data"];
    let result = &data["result"];
    let parsed = match data["resultType"].as_str() {
        Some("scalar") => parse_point(result).map(|(t, v)| Answer::Scalar(t, v)),
        Some("string") => (|| {
            let t = (result.get(0)?.as_f64()? * 1000.0).round() as i64;
            Some(Answer::Str(t, result.get(1)?.as_str()?.to_string()))
        })(),
        Some("vector") => result
            .as_array()
            .and_then(|a| {
                a.iter()
                    .map(|e| {
                        let (t, v) = parse_point(&e["value"])?;
                        Some((parse_labels(&e["metric"])?, t, v))
                    })
                    .collect::<Option<Vec<_>>>()
            })
            .map(Answer::Vector),
        Some("matrix") => result
            .as_array()
            .and_then(|a| {
                a.iter()
                    .map(|e| {
                        let points = e["values"]
                            .as_array()?
                            .iter()
                            .map(parse_point)
                            .collect::<Option<Vec<_>>>()?;
                        Some((parse_labels(&e["metric"])?, points))
                    })
                    .collect::<Option<Vec<_>>>()
            })
            .map(Answer::Matrix),
        _ => None,
    };
    parsed.unwrap_or_else(bad)
}

/// When both failed but with a different status or error type, both errors (the answers
/// still count as equal).
pub fn error_note(want: &Answer, got: &Answer) -> Option<String> {
    let (Answer::Error(w), Answer::Error(g)) = (want, got) else {
        return None;
    };
    let kind = |e: &str| e.splitn(3, ':').take(2).collect::<Vec<_>>().join(":");
    (kind(w) != kind(g)).then(|| format!("prometheus {w} | oxeye {g}"))
}

/// Values equal within 1e-9 relative; NaN equals NaN.
pub fn same_value(a: f64, b: f64) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    if a == b {
        return true;
    }
    if a.is_infinite() || b.is_infinite() {
        return false;
    }
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

/// A label set as Prometheus prints it.
pub fn show(l: &LabelSet) -> String {
    let mut out = l.get("__name__").cloned().unwrap_or_default();
    out.push('{');
    let mut first = true;
    for (k, v) in l.iter().filter(|(k, _)| *k != "__name__") {
        if !first {
            out.push_str(", ");
        }
        first = false;
        let _ = write!(out, "{k}={v:?}");
    }
    out.push('}');
    out
}

fn show_t(t: i64) -> String {
    format!("{}.{:03}", t / 1000, t.rem_euclid(1000))
}

/// Series keyed by label set; a label set seen twice is reported.
fn by_labels(
    side: &str,
    series: Vec<(LabelSet, Vec<(i64, f64)>)>,
    diffs: &mut Vec<String>,
) -> BTreeMap<LabelSet, Vec<(i64, f64)>> {
    let mut out = BTreeMap::new();
    for (l, points) in series {
        if out.contains_key(&l) {
            diffs.push(format!("{side} answered series {} twice", show(&l)));
        }
        out.insert(l, points);
    }
    out
}

fn compare_series(
    want: Vec<(LabelSet, Vec<(i64, f64)>)>,
    got: Vec<(LabelSet, Vec<(i64, f64)>)>,
    diffs: &mut Vec<String>,
) {
    let want = by_labels("prometheus", want, diffs);
    let got = by_labels("oxeye", got, diffs);
    let first = |p: &[(i64, f64)]| {
        p.first()
            .map(|(t, v)| format!(", first {} = {v}", show_t(*t)))
            .unwrap_or_default()
    };
    for (l, wp) in &want {
        let Some(gp) = got.get(l) else {
            diffs.push(format!(
                "series {} missing in oxeye ({} points{})",
                show(l),
                wp.len(),
                first(wp)
            ));
            continue;
        };
        let w: BTreeMap<i64, f64> = wp.iter().copied().collect();
        let g: BTreeMap<i64, f64> = gp.iter().copied().collect();
        for (t, wv) in &w {
            match g.get(t) {
                None => diffs.push(format!(
                    "{} @ {}: prometheus {wv}, oxeye no point",
                    show(l),
                    show_t(*t)
                )),
                Some(gv) if !same_value(*wv, *gv) => diffs.push(format!(
                    "{} @ {}: prometheus {wv}, oxeye {gv}",
                    show(l),
                    show_t(*t)
                )),
                Some(_) => {}
            }
        }
        for (t, gv) in g.iter().filter(|(t, _)| !w.contains_key(t)) {
            diffs.push(format!(
                "{} @ {}: prometheus no point, oxeye {gv}",
                show(l),
                show_t(*t)
            ));
        }
    }
    for (l, gp) in got.iter().filter(|(l, _)| !want.contains_key(*l)) {
        diffs.push(format!(
            "series {} only in oxeye ({} points{})",
            show(l),
            gp.len(),
            first(gp)
        ));
    }
}

/// The differences between Prometheus's answer `want` and oxeye's `got`, one line each;
/// empty when equal. `ordered`: the series order of an instant vector counts.
pub fn differences(want: Answer, got: Answer, ordered: bool) -> Vec<String> {
    let mut diffs = Vec::new();
    match (want, got) {
        (_, Answer::Transport(e)) => diffs.push(format!("oxeye did not answer: {e}")),
        (Answer::Transport(e), _) => diffs.push(format!("prometheus did not answer: {e}")),
        (Answer::Error(_), Answer::Error(_)) => {}
        (Answer::Error(e), g) => diffs.push(format!(
            "prometheus failed ({e}), oxeye answered a {} of {} series",
            g.kind(),
            g.len()
        )),
        (w, Answer::Error(e)) => diffs.push(format!(
            "oxeye failed ({e}), prometheus answered a {} of {} series",
            w.kind(),
            w.len()
        )),
        (Answer::Scalar(wt, wv), Answer::Scalar(gt, gv)) => {
            if wt != gt || !same_value(wv, gv) {
                diffs.push(format!(
                    "scalar: prometheus {wv} @ {}, oxeye {gv} @ {}",
                    show_t(wt),
                    show_t(gt)
                ));
            }
        }
        (Answer::Str(wt, ws), Answer::Str(gt, gs)) => {
            if wt != gt || ws != gs {
                diffs.push(format!(
                    "string: prometheus {ws:?} @ {wt}, oxeye {gs:?} @ {gt}"
                ));
            }
        }
        (Answer::Vector(w), Answer::Vector(g)) => {
            if ordered {
                compare_order(&w, &g, &mut diffs);
            }
            let as_series = |v: Vec<(LabelSet, i64, f64)>| {
                v.into_iter()
                    .map(|(l, t, x)| (l, vec![(t, x)]))
                    .collect::<Vec<_>>()
            };
            compare_series(as_series(w), as_series(g), &mut diffs);
        }
        (Answer::Matrix(w), Answer::Matrix(g)) => compare_series(w, g, &mut diffs),
        (w, g) => diffs.push(format!(
            "result type: prometheus {} of {} series, oxeye {} of {} series",
            w.kind(),
            w.len(),
            g.kind(),
            g.len()
        )),
    }
    diffs
}

/// A sorted vector: the values must come in the same order.
fn compare_order(w: &[(LabelSet, i64, f64)], g: &[(LabelSet, i64, f64)], diffs: &mut Vec<String>) {
    if w.len() != g.len() {
        return; // the per-series comparison reports the missing ones
    }
    if let Some(i) = w.iter().zip(g).position(|(a, b)| !same_value(a.2, b.2))
        && let (Some(a), Some(b)) = (w.get(i), g.get(i))
    {
        diffs.push(format!(
            "order differs at position {i}: prometheus {} {}, oxeye {} {}",
            show(&a.0),
            a.2,
            show(&b.0),
            b.2
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_compare_relative_and_nan_equal() {
        assert!(same_value(f64::NAN, f64::NAN));
        assert!(same_value(f64::INFINITY, f64::INFINITY));
        assert!(!same_value(f64::INFINITY, f64::NEG_INFINITY));
        assert!(!same_value(f64::NAN, 1.0));
        assert!(same_value(1e6, 1e6 + 1e-4));
        assert!(!same_value(1e6, 1e6 + 1e-2));
        assert!(!same_value(0.0, 1e-300));
    }

    fn vector(body: &str) -> Answer {
        parse(
            200,
            &format!(r#"{{"status":"success","data":{{"resultType":"vector","result":{body}}}}}"#),
        )
    }

    #[test]
    fn answers_compare_by_labels_timestamps_and_values() {
        let a = r#"[{"metric":{"a":"1"},"value":[10.5,"1"]},{"metric":{"a":"2"},"value":[10.5,"NaN"]}]"#;
        let b = r#"[{"metric":{"a":"2"},"value":[10.5,"NaN"]},{"metric":{"a":"1"},"value":[10.5,"1.0000000000001"]}]"#;
        // order ignored, NaN equal, 1e-13 relative equal
        assert!(differences(vector(a), vector(b), false).is_empty());
        // but not for a sorted query
        assert_eq!(differences(vector(a), vector(b), true).len(), 1);
        let c =
            r#"[{"metric":{"a":"1"},"value":[10.5,"1.5"]},{"metric":{"a":"3"},"value":[11,"1"]}]"#;
        let d = differences(vector(a), vector(c), false);
        assert_eq!(d.len(), 3, "{d:?}");
        assert!(d[0].contains("prometheus 1, oxeye 1.5"), "{d:?}");
        assert!(d[1].contains("missing in oxeye"), "{d:?}");
        assert!(d[2].contains("only in oxeye"), "{d:?}");
        // two failures are equal; one failure is not
        let err = || {
            parse(
                422,
                r#"{"status":"error","errorType":"execution","error":"x"}"#,
            )
        };
        assert!(differences(err(), err(), false).is_empty());
        assert_eq!(differences(err(), vector(a), false).len(), 1);
        assert_eq!(differences(vector(a), err(), false).len(), 1);
        // a missing answer never equals anything
        let gone = || Answer::Transport("refused".into());
        assert_eq!(differences(err(), gone(), false).len(), 1);
        // result types must agree
        let scalar = parse(
            200,
            r#"{"status":"success","data":{"resultType":"scalar","result":[10.5,"1"]}}"#,
        );
        assert_eq!(differences(scalar, vector(a), false).len(), 1);
    }

    #[test]
    fn matrices_compare_point_by_point() {
        let m = |points: &str| {
            parse(
                200,
                &format!(
                    r#"{{"status":"success","data":{{"resultType":"matrix","result":[{{"metric":{{"__name__":"x"}},"values":{points}}}]}}}}"#
                ),
            )
        };
        let want = r#"[[1,"1"],[2,"+Inf"],[3,"3"]]"#;
        assert!(differences(m(want), m(want), false).is_empty());
        let d = differences(m(want), m(r#"[[1,"1"],[2,"-Inf"],[4,"3"]]"#), false);
        assert_eq!(d.len(), 3, "{d:?}");
        assert!(
            d[0].contains("x{} @ 2.000: prometheus inf, oxeye -inf"),
            "{d:?}"
        );
        assert!(
            d[1].contains("@ 3.000: prometheus 3, oxeye no point"),
            "{d:?}"
        );
        assert!(
            d[2].contains("@ 4.000: prometheus no point, oxeye 3"),
            "{d:?}"
        );
    }
}
