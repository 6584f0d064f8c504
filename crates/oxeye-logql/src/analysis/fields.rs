//! Detected fields: which fields a sample of lines carries, with their type, their
//! cardinality and the parser that finds them.
//!
//! Each line is parsed as JSON when it looks like an object and as logfmt otherwise (as
//! Loki's detection does), with the `json` and `logfmt` stages' own field extraction
//! ([`crate::parse_json_fields`], [`crate::parse_logfmt_fields`]), so a field is named
//! here as a query's parser names it. Structured metadata counts as fields with no parser. A field's type is
//! the narrowest that fits every value seen: `int`, `float`, `boolean`, `duration`,
//! `bytes`, else `string`, with Loki's parsing rules for each.

use std::collections::{BTreeMap, BTreeSet};

/// A detected field's type, named as Loki names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FieldType {
    /// A 64-bit integer.
    Int,
    /// A float.
    Float,
    /// `true`/`false` and Go's other boolean spellings.
    Boolean,
    /// A Go duration (`150ms`, `1h2m`).
    Duration,
    /// A byte size (`10MB`, `1.5 KiB`).
    Bytes,
    /// Anything else.
    String,
}

impl FieldType {
    /// Loki's name of the type.
    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::Int => "int",
            FieldType::Float => "float",
            FieldType::Boolean => "boolean",
            FieldType::Duration => "duration",
            FieldType::Bytes => "bytes",
            FieldType::String => "string",
        }
    }

    /// The type of one value: the first of int, float, boolean, duration, bytes that
    /// parses it, else string.
    pub fn of(value: &str) -> FieldType {
        if value.parse::<i64>().is_ok() {
            FieldType::Int
        } else if is_go_float(value) {
            FieldType::Float
        } else if is_go_bool(value) {
            FieldType::Boolean
        } else if parse_go_duration_ns(value).is_some() {
            FieldType::Duration
        } else if parse_bytes(value).is_some() {
            FieldType::Bytes
        } else {
            FieldType::String
        }
    }

    /// The type that fits values of both types.
    fn merge(self, other: FieldType) -> FieldType {
        use FieldType::*;
        match (self, other) {
            (a, b) if a == b => a,
            (Int, Float) | (Float, Int) => Float,
            _ => String,
        }
    }
}

fn is_go_float(v: &str) -> bool {
    let lower = v.to_ascii_lowercase();
    let body = lower.trim_start_matches(['+', '-']);
    matches!(body, "inf" | "infinity" | "nan") || (v.parse::<f64>().is_ok() && !body.is_empty())
}

fn is_go_bool(v: &str) -> bool {
    matches!(
        v,
        "1" | "t" | "T" | "TRUE" | "true" | "True" | "0" | "f" | "F" | "FALSE" | "false" | "False"
    )
}

/// Parses a Go duration (`-1.5h`, `2h45m`, `300ms`, `1µs`) into ns.
pub fn parse_go_duration_ns(s: &str) -> Option<i128> {
    let (neg, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, s.get(1..)?),
        Some(b'+') => (false, s.get(1..)?),
        _ => (false, s),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num = rest.get(..num_len)?;
        if num.is_empty() || num == "." {
            return None;
        }
        let n: f64 = num.parse().ok()?;
        rest = rest.get(num_len..)?;
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = rest.get(..unit_len)?;
        let mult = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += n * mult;
        rest = rest.get(unit_len..)?;
    }
    if total > i64::MAX as f64 {
        return None;
    }
    let ns = total as i128;
    Some(if neg { -ns } else { ns })
}

/// Parses a human byte size (`42`, `10MB`, `1.5 KiB`, `3gb`) into bytes.
pub fn parse_bytes(s: &str) -> Option<f64> {
    let t = s.trim();
    let num_len = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let n: f64 = t.get(..num_len)?.parse().ok()?;
    let unit = t.get(num_len..)?.trim().to_ascii_lowercase();
    let pow = |base: f64, e: i32| base.powi(e);
    let mult = match unit.as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => pow(1000.0, 1),
        "ki" | "kib" => pow(1024.0, 1),
        "m" | "mb" => pow(1000.0, 2),
        "mi" | "mib" => pow(1024.0, 2),
        "g" | "gb" => pow(1000.0, 3),
        "gi" | "gib" => pow(1024.0, 3),
        "t" | "tb" => pow(1000.0, 4),
        "ti" | "tib" => pow(1024.0, 4),
        "p" | "pb" => pow(1000.0, 5),
        "pi" | "pib" => pow(1024.0, 5),
        "e" | "eb" => pow(1000.0, 6),
        "ei" | "eib" => pow(1024.0, 6),
        _ => return None,
    };
    Some(n * mult)
}

/// The parser that reads a line and its fields, named and valued as the `json` and
/// `logfmt` stages name them: JSON for object lines, else logfmt; `None` when neither
/// finds a field.
pub fn line_fields(line: &str) -> Option<(&'static str, Vec<(String, String)>)> {
    if line.trim_start().starts_with('{')
        && let Some(f) = crate::parse_json_fields(line)
    {
        return Some(("json", f));
    }
    crate::parse_logfmt_fields(line).map(|f| ("logfmt", f))
}

/// Most distinct values kept per field; cardinality stops counting above it.
pub const MAX_DISTINCT_VALUES: usize = 10_000;

/// One detected field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetectedField {
    /// The field's name.
    pub label: String,
    /// Its type.
    pub field_type: FieldType,
    /// Distinct values seen (capped at [`MAX_DISTINCT_VALUES`]).
    pub cardinality: u64,
    /// Parsers that found it (`json`, `logfmt`); empty for structured metadata.
    pub parsers: Vec<&'static str>,
}

#[derive(Debug, Default)]
struct Acc {
    field_type: Option<FieldType>,
    values: BTreeSet<String>,
    parsers: BTreeSet<&'static str>,
}

impl Acc {
    fn add(&mut self, value: &str, parser: Option<&'static str>) {
        let t = FieldType::of(value);
        self.field_type = Some(self.field_type.map_or(t, |cur| cur.merge(t)));
        if self.values.len() < MAX_DISTINCT_VALUES {
            self.values.insert(value.to_string());
        }
        if let Some(p) = parser {
            self.parsers.insert(p);
        }
    }
}

/// Collects detected fields over lines.
#[derive(Debug, Default)]
pub struct FieldDetector {
    fields: BTreeMap<String, Acc>,
}

impl FieldDetector {
    /// An empty detector.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one line and its structured metadata; fields named like a stream label
    /// (`stream_labels`) are not fields.
    pub fn add(
        &mut self,
        line: &str,
        metadata: &[(String, String)],
        is_stream_label: impl Fn(&str) -> bool,
    ) {
        for (k, v) in metadata {
            if !is_stream_label(k) {
                self.fields.entry(k.clone()).or_default().add(v, None);
            }
        }
        let Some((parser, fields)) = line_fields(line) else {
            return;
        };
        for (k, v) in fields {
            if !is_stream_label(&k) {
                self.fields.entry(k).or_default().add(&v, Some(parser));
            }
        }
    }

    /// The fields found, by name, at most `limit`.
    pub fn fields(&self, limit: usize) -> Vec<DetectedField> {
        self.fields
            .iter()
            .take(limit)
            .map(|(label, acc)| DetectedField {
                label: label.clone(),
                field_type: acc.field_type.unwrap_or(FieldType::String),
                cardinality: acc.values.len() as u64,
                parsers: acc.parsers.iter().copied().collect(),
            })
            .collect()
    }

    /// The distinct values of field `name`, sorted, at most `limit`.
    pub fn values(&self, name: &str, limit: usize) -> Vec<String> {
        self.fields
            .get(name)
            .map(|acc| acc.values.iter().take(limit).cloned().collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_in_loki_order() {
        assert_eq!(FieldType::of("42"), FieldType::Int);
        assert_eq!(FieldType::of("-3.5"), FieldType::Float);
        assert_eq!(FieldType::of("true"), FieldType::Boolean);
        assert_eq!(FieldType::of("1"), FieldType::Int);
        assert_eq!(FieldType::of("150ms"), FieldType::Duration);
        assert_eq!(FieldType::of("1h2m3.5s"), FieldType::Duration);
        assert_eq!(FieldType::of("10MB"), FieldType::Bytes);
        assert_eq!(FieldType::of("1.5 KiB"), FieldType::Bytes);
        assert_eq!(FieldType::of("GET"), FieldType::String);
        assert_eq!(FieldType::of("1h30"), FieldType::String);
        assert_eq!(FieldType::Int.merge(FieldType::Float), FieldType::Float);
        assert_eq!(FieldType::Int.merge(FieldType::Duration), FieldType::String);
    }

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration_ns("1.5s"), Some(1_500_000_000));
        assert_eq!(parse_go_duration_ns("-2m"), Some(-120_000_000_000));
        assert_eq!(parse_go_duration_ns("3µs"), Some(3_000));
        assert_eq!(parse_go_duration_ns("0"), Some(0));
        assert_eq!(parse_go_duration_ns("5"), None);
        assert_eq!(parse_go_duration_ns("5d"), None);
        assert_eq!(parse_go_duration_ns(""), None);
    }

    #[test]
    fn parser_per_line() {
        let (p, f) = line_fields(r#"{"a":{"b":1},"ok":true}"#).unwrap();
        assert_eq!(p, "json");
        assert_eq!(
            f,
            vec![
                ("a_b".to_string(), "1".to_string()),
                ("ok".to_string(), "true".to_string()),
            ]
        );
        let (p, f) = line_fields(r#"level=info msg="a b" x.y=1"#).unwrap();
        assert_eq!(p, "logfmt");
        assert_eq!(f.len(), 3);
        assert_eq!(f[2], ("x_y".to_string(), "1".to_string()));
        // an object that is not JSON falls back to logfmt; plain text has no field
        assert_eq!(line_fields("{broken k=v").map(|x| x.0), Some("logfmt"));
        assert_eq!(line_fields("connection reset by peer"), None);
    }

    #[test]
    fn detector_counts_types_cardinality_and_parsers() {
        let mut d = FieldDetector::new();
        let md = vec![("trace_id".to_string(), "abc".to_string())];
        d.add("level=info status=200 dur=1s", &md, |n| n == "job");
        d.add("level=error status=500 dur=2.5s job=x", &[], |n| n == "job");
        d.add(r#"{"level":"info","status":404.5}"#, &[], |n| n == "job");
        let f = d.fields(100);
        let get = |n: &str| f.iter().find(|x| x.label == n).unwrap().clone();
        assert!(f.iter().all(|x| x.label != "job"));
        assert_eq!(get("level").cardinality, 2);
        assert_eq!(get("level").parsers, vec!["json", "logfmt"]);
        assert_eq!(get("status").field_type, FieldType::Float);
        assert_eq!(get("dur").field_type, FieldType::Duration);
        assert_eq!(get("trace_id").parsers, Vec::<&str>::new());
        assert_eq!(d.values("level", 10), vec!["error", "info"]);
        assert_eq!(d.fields(1).len(), 1);
    }
}
