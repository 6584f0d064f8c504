//! `detected_level`: the level Loki attaches to every entry as structured metadata when
//! log level discovery is on (its default), for Grafana's Logs Drilldown.
//!
//! The level comes from the first of: a level label of the stream (`level`, `lvl`,
//! `severity` in lower, upper or title case, value as is); such a structured metadata
//! field; the OTLP `severity_number` (trace, debug, info, warn, error, fatal by range,
//! `unknown` when unspecified); a `level`-like field of a JSON or logfmt line; words in the
//! line (`info`, `error`, `warn`, `critical:`, `debug:`); else `unknown`.

use oxeye_core::Labels;

/// The structured metadata name.
pub const DETECTED_LEVEL: &str = "detected_level";

const LEVEL_FIELDS: [&str; 9] = [
    "level", "LEVEL", "Level", "severity", "SEVERITY", "Severity", "lvl", "LVL", "Lvl",
];

/// The level of an entry; `None` when the stream or entry already carries one.
pub fn detect(labels: &Labels, metadata: &[(String, String)], line: &str) -> Option<String> {
    if labels.get(DETECTED_LEVEL).is_some() || metadata.iter().any(|(n, _)| n == DETECTED_LEVEL) {
        return None;
    }
    if let Some(v) = LEVEL_FIELDS.iter().find_map(|f| labels.get(f)) {
        return Some(v.to_string());
    }
    if let Some((_, v)) = metadata
        .iter()
        .find(|(n, _)| LEVEL_FIELDS.contains(&n.as_str()))
    {
        return Some(v.clone());
    }
    if let Some((_, n)) = metadata.iter().find(|(n, _)| n == "severity_number") {
        return Some(from_severity_number(n).to_string());
    }
    Some(from_line(line).to_string())
}

fn from_severity_number(n: &str) -> &'static str {
    match n.trim().parse::<i32>() {
        Err(_) => "info",
        Ok(0) => "unknown",
        Ok(1..=4) => "trace",
        Ok(5..=8) => "debug",
        Ok(9..=12) => "info",
        Ok(13..=16) => "warn",
        Ok(17..=20) => "error",
        Ok(21..=24) => "fatal",
        Ok(_) => "unknown",
    }
}

/// The level word of a JSON or logfmt field value, if it is one.
fn normalize(v: &str) -> Option<&'static str> {
    let known: [(&[&str], &'static str); 7] = [
        (&["trace", "trc"], "trace"),
        (&["debug", "dbg"], "debug"),
        (&["info", "inf"], "info"),
        (&["warn", "wrn", "warning"], "warn"),
        (&["error", "err"], "error"),
        (&["critical"], "critical"),
        (&["fatal"], "fatal"),
    ];
    known
        .iter()
        .find(|(words, _)| words.iter().any(|w| w.eq_ignore_ascii_case(v)))
        .map(|(_, level)| *level)
}

/// The value of a top-level `"field": "value"` of a JSON line.
fn json_field<'a>(line: &'a str, field: &str) -> Option<&'a str> {
    let key = format!("\"{field}\"");
    let mut from = 0;
    while let Some(at) = line.get(from..)?.find(&key) {
        let rest = line.get(from + at + key.len()..)?.trim_start();
        if let Some(rest) = rest.strip_prefix(':') {
            let rest = rest.trim_start().strip_prefix('"')?;
            return rest.find('"').and_then(|end| rest.get(..end));
        }
        from += at + key.len();
    }
    None
}

/// The value of a `field=value` pair of a logfmt line.
fn logfmt_field<'a>(line: &'a str, field: &str) -> Option<&'a str> {
    let mut from = 0;
    while let Some(at) = line.get(from..)?.find(field) {
        let start = from + at;
        let after = start + field.len();
        let at_token_start = start == 0 || line.as_bytes().get(start - 1) == Some(&b' ');
        if at_token_start && line.as_bytes().get(after) == Some(&b'=') {
            let rest = line.get(after + 1..)?;
            if let Some(quoted) = rest.strip_prefix('"') {
                return quoted.find('"').and_then(|end| quoted.get(..end));
            }
            return Some(rest.split(' ').next().unwrap_or(""));
        }
        from = after;
    }
    None
}

fn from_line(line: &str) -> &'static str {
    let trimmed = line.trim();
    let field = if trimmed.starts_with('{') && trimmed.ends_with('}') {
        LEVEL_FIELDS.iter().find_map(|f| json_field(trimmed, f))
    } else if trimmed.contains('=') {
        LEVEL_FIELDS.iter().find_map(|f| logfmt_field(trimmed, f))
    } else {
        None
    };
    if let Some(level) = field.and_then(normalize) {
        return level;
    }
    let has = |words: &[&str]| words.iter().any(|w| line.contains(w));
    if has(&["info", "INFO"]) {
        "info"
    } else if has(&["err:", "ERR:", "error", "ERROR"]) {
        "error"
    } else if has(&["warn:", "WARN:", "warning", "WARNING"]) {
        "warn"
    } else if has(&["CRITICAL:", "critical:"]) {
        "critical"
    } else if has(&["debug:", "DEBUG:"]) {
        "debug"
    } else {
        "unknown"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn detects_levels_in_loki_order() {
        let none = Labels::default();
        let labelled = Labels::from_pairs(&[("app", "a"), ("level", "WARN")]);
        let d = |labels: &Labels, m: &[(&str, &str)], line: &str| detect(labels, &meta(m), line);
        assert_eq!(d(&labelled, &[], "error here").as_deref(), Some("WARN"));
        assert_eq!(d(&none, &[("lvl", "dbg")], "x").as_deref(), Some("dbg"));
        assert_eq!(
            d(&none, &[("severity_number", "17")], "x").as_deref(),
            Some("error")
        );
        assert_eq!(
            d(&none, &[("severity_number", "0")], "x").as_deref(),
            Some("unknown")
        );
        assert_eq!(
            d(&none, &[("severity_number", "21")], "x").as_deref(),
            Some("fatal")
        );
        assert_eq!(
            d(&none, &[], r#"{"msg":"info about it","level":"Warning"}"#).as_deref(),
            Some("warn")
        );
        assert_eq!(
            d(&none, &[], r#"ts=1 level="err" msg="disk full""#).as_deref(),
            Some("error")
        );
        assert_eq!(
            d(&none, &[], r#"ts=1 sublevel=info msg="x" lvl=debug"#).as_deref(),
            Some("debug")
        );
        assert_eq!(
            d(&none, &[], "2024-01-01 ERROR failed to connect").as_deref(),
            Some("error")
        );
        assert_eq!(d(&none, &[], "GET / 200").as_deref(), Some("unknown"));
        assert_eq!(d(&none, &[], "critical: disk").as_deref(), Some("critical"));
        assert_eq!(d(&none, &[("detected_level", "info")], "x"), None);
        let has = Labels::from_pairs(&[("detected_level", "info")]);
        assert_eq!(d(&has, &[], "x"), None);
    }
}
