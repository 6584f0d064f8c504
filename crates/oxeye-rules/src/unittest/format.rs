//! promtool's text: Go's renderings of durations, label sets and floats, and the layout
//! of its failure reports.

use std::collections::BTreeMap;

/// Prometheus's `model.Duration` rendering (`5m`, `1h30m`, `0s`, `2w`).
pub(crate) fn model_duration(ms: i64) -> String {
    if ms == 0 {
        return "0s".to_string();
    }
    let mut ms = ms;
    let mut out = String::new();
    let units: [(&str, i64, bool); 7] = [
        ("y", 365 * 86_400_000, true),
        ("w", 7 * 86_400_000, true),
        ("d", 86_400_000, false),
        ("h", 3_600_000, false),
        ("m", 60_000, false),
        ("s", 1000, false),
        ("ms", 1, false),
    ];
    for (unit, mult, exact) in units {
        if exact && ms % mult != 0 {
            continue;
        }
        let v = ms / mult;
        if v > 0 {
            out.push_str(&format!("{v}{unit}"));
            ms -= v * mult;
        }
    }
    out
}

/// Go's `time.Duration` rendering (`1m0s`, `1h2m3s`, `1.5s`, `0s`).
pub(crate) fn go_duration(ms: i64) -> String {
    if ms == 0 {
        return "0s".to_string();
    }
    let (sign, ms) = if ms < 0 { ("-", -ms) } else { ("", ms) };
    if ms < 1000 {
        return format!("{sign}{ms}ms");
    }
    let (h, m, s, frac) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    let secs = if frac == 0 {
        format!("{s}s")
    } else {
        let f = format!("{frac:03}");
        format!("{s}.{}s", f.trim_end_matches('0'))
    };
    if h > 0 {
        format!("{sign}{h}h{m}m{secs}")
    } else if m > 0 {
        format!("{sign}{m}m{secs}")
    } else {
        format!("{sign}{secs}")
    }
}

/// Go's `labels.Labels.String()`: `{a="b", c="d"}`, every label (`__name__` too).
pub(crate) fn label_set(labels: &BTreeMap<String, String>) -> String {
    let parts: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", parts.join(", "))
}

/// Go's `strconv.FormatFloat(v, 'E', -1, 64)`: `5E+00`, `3.0000000000000004E-01`.
pub(crate) fn float_e(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    let s = format!("{v:E}");
    match s.split_once('E') {
        Some((m, e)) => {
            let exp: i32 = e.parse().unwrap_or(0);
            let sign = if exp < 0 { '-' } else { '+' };
            format!("{m}E{sign}{:02}", exp.unsigned_abs())
        }
        None => s,
    }
}

/// An alert as promtool lists it: its labels and annotations.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct AlertView {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

/// promtool's `indentLines`: every line after the first gets `indent`.
fn indent_lines(text: &str, indent: &str) -> String {
    let mut lines = text.split('\n');
    let mut out = lines.next().unwrap_or("").to_string();
    for l in lines {
        out.push('\n');
        out.push_str(indent);
        out.push_str(l);
    }
    out
}

/// A list of alerts as promtool renders `labelsAndAnnotations`.
fn alert_list(alerts: &[AlertView]) -> String {
    if alerts.is_empty() {
        return "[]".into();
    }
    let mut s = String::from("[");
    for (i, a) in alerts.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let body = format!(
            "\nLabels:{}\nAnnotations:{}",
            label_set(&a.labels),
            label_set(&a.annotations)
        );
        s.push_str(&format!("\n{i}:{}", indent_lines(&body, "  ")));
    }
    s.push_str("\n]");
    s
}

/// The report of an alert test whose expectation was not met.
pub(crate) fn alert_mismatch(
    test_name: Option<&str>,
    alertname: &str,
    eval_ms: i64,
    exp: &[AlertView],
    got: &[AlertView],
) -> String {
    let name = test_name
        .filter(|n| !n.is_empty())
        .map(|n| format!("    name: {n},\n"))
        .unwrap_or_default();
    let pad = "            ";
    format!(
        "{name}    alertname: {alertname}, time: {}, \n        exp:{}, \n        got:{}",
        model_duration(eval_ms),
        indent_lines(&alert_list(exp), pad),
        indent_lines(&alert_list(got), pad)
    )
}

/// Samples as promtool lists them: `{labels} value, ...` or `nil`.
pub(crate) fn samples(s: &[(BTreeMap<String, String>, f64)]) -> String {
    if s.is_empty() {
        return "nil".into();
    }
    s.iter()
        .map(|(l, v)| format!("{} {}", label_set(l), float_e(*v)))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(model_duration(0), "0s");
        assert_eq!(model_duration(300_000), "5m");
        assert_eq!(model_duration(5_400_000), "1h30m");
        assert_eq!(model_duration(14 * 86_400_000), "2w");
        assert_eq!(model_duration(90 * 86_400_000), "90d");
        assert_eq!(model_duration(1500), "1s500ms");
        assert_eq!(go_duration(60_000), "1m0s");
        assert_eq!(go_duration(3_723_000), "1h2m3s");
        assert_eq!(go_duration(1500), "1.5s");
        assert_eq!(go_duration(0), "0s");
    }

    #[test]
    fn floats() {
        assert_eq!(float_e(5.0), "5E+00");
        assert_eq!(float_e(0.3), "3E-01");
        assert_eq!(float_e(0.1 + 0.2), "3.0000000000000004E-01");
        assert_eq!(float_e(1234.5), "1.2345E+03");
        assert_eq!(float_e(1e-300), "1E-300");
        assert_eq!(float_e(f64::INFINITY), "+Inf");
    }

    #[test]
    fn alert_report_layout() {
        let mut labels = BTreeMap::new();
        labels.insert("alertname".to_string(), "X".to_string());
        let a = AlertView {
            labels,
            annotations: BTreeMap::new(),
        };
        let got = alert_mismatch(Some("t"), "X", 60_000, &[a], &[]);
        assert_eq!(
            got,
            "    name: t,\n    alertname: X, time: 1m, \n        exp:[\n            0:\n              Labels:{alertname=\"X\"}\n              Annotations:{}\n            ], \n        got:[]"
        );
    }
}
