//! OTLP names and values -> Prometheus names and label values.
//!
//! Follows the OpenTelemetry "Prometheus and OpenMetrics Compatibility" specification with
//! suffixes enabled: the metric name is split into alphanumeric tokens, the unit's
//! Prometheus word is appended (`s` -> `seconds`, `By` -> `bytes`, `a/b` -> `a_per_b`,
//! `{...}` annotations dropped) unless the name already contains it, monotonic sums end in
//! `_total` and unit-`1` gauges in `_ratio`. Only ASCII letters and digits are kept so the
//! result is always a valid classic metric name.

use opentelemetry_proto::tonic::common::v1::{AnyValue, any_value};

/// What the unit and type rules need to know about a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NameKind {
    /// A gauge: unit `1` gets `_ratio`.
    Gauge,
    /// A monotonic sum: gets `_total`.
    Counter,
    /// Non-monotonic sums, histograms and summaries: no type suffix here (`_bucket` etc.
    /// come later).
    Other,
}

fn unit_word(unit: &str) -> &str {
    match unit {
        "d" => "days",
        "h" => "hours",
        "min" => "minutes",
        "s" => "seconds",
        "ms" => "milliseconds",
        "us" => "microseconds",
        "ns" => "nanoseconds",
        "By" | "B" => "bytes",
        "KiBy" => "kibibytes",
        "MiBy" => "mebibytes",
        "GiBy" => "gibibytes",
        "TiBy" => "tibibytes",
        "KBy" | "KB" => "kilobytes",
        "MBy" | "MB" => "megabytes",
        "GBy" | "GB" => "gigabytes",
        "TBy" | "TB" => "terabytes",
        "m" => "meters",
        "V" => "volts",
        "A" => "amperes",
        "J" => "joules",
        "W" => "watts",
        "g" => "grams",
        "Cel" => "celsius",
        "Hz" => "hertz",
        "1" => "",
        "%" => "percent",
        "$" => "dollars",
        other => other,
    }
}

fn per_unit_word(unit: &str) -> &str {
    match unit {
        "s" => "second",
        "m" => "minute",
        "h" => "hour",
        "d" => "day",
        "w" => "week",
        "mo" => "month",
        "y" => "year",
        other => other,
    }
}

/// Splits on everything that is not an ASCII letter or digit.
fn tokens(s: &str) -> impl Iterator<Item = &str> {
    s.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|t| !t.is_empty())
}

/// The Prometheus word for a unit's main part (`ms` -> `milliseconds`), "" when none.
pub(crate) fn prometheus_unit(unit: &str) -> String {
    let main = unit.split('/').next().unwrap_or("").trim();
    if main.is_empty() || main.contains(['{', '}']) {
        return String::new();
    }
    tokens(unit_word(main)).collect::<Vec<_>>().join("_")
}

/// The Prometheus metric name of an OTLP metric (without `_bucket`/`_sum`/`_count`).
pub(crate) fn metric_name(name: &str, unit: &str, kind: NameKind) -> String {
    let mut toks: Vec<String> = tokens(name).map(str::to_string).collect();
    let mut parts = unit.splitn(2, '/');
    let main = parts.next().unwrap_or("").trim();
    if !main.is_empty() && !main.contains(['{', '}']) {
        let word = tokens(unit_word(main)).collect::<Vec<_>>().join("_");
        if !word.is_empty() && !toks.contains(&word) {
            toks.push(word);
        }
    }
    if let Some(per) = parts.next().map(str::trim)
        && !per.is_empty()
        && !per.contains(['{', '}'])
    {
        let word = tokens(per_unit_word(per)).collect::<Vec<_>>().join("_");
        if !word.is_empty() && !toks.contains(&word) {
            toks.push("per".to_string());
            toks.push(word);
        }
    }
    if kind == NameKind::Counter {
        toks.retain(|t| t != "total");
        toks.push("total".to_string());
    }
    if unit == "1" && kind == NameKind::Gauge {
        toks.retain(|t| t != "ratio");
        toks.push("ratio".to_string());
    }
    let mut out = toks.join("_");
    if out.as_bytes().first().is_some_and(u8::is_ascii_digit) {
        out.insert(0, '_');
    }
    out
}

/// A valid label name from an attribute key: invalid characters become `_`, a leading
/// digit gets a `key_` prefix and a single leading underscore a `key` prefix.
pub(crate) fn label_name(key: &str) -> String {
    let mut out: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.as_bytes().first().is_some_and(u8::is_ascii_digit) {
        out.insert_str(0, "key_");
    } else if out.starts_with('_') && !out.starts_with("__") {
        out.insert_str(0, "key");
    }
    out
}

/// The label value of an attribute value.
pub(crate) fn value_string(v: Option<&AnyValue>) -> String {
    use any_value::Value;
    match v.and_then(|v| v.value.as_ref()) {
        None | Some(Value::StringValueStrindex(_)) => String::new(),
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::DoubleValue(d)) => format_float(*d),
        Some(Value::BytesValue(b)) => crate::base64::encode(b),
        Some(Value::ArrayValue(_)) | Some(Value::KvlistValue(_)) => {
            json_value(v.and_then(|v| v.value.as_ref())).to_string()
        }
    }
}

fn json_value(v: Option<&any_value::Value>) -> serde_json::Value {
    use any_value::Value;
    use serde_json::Value as J;
    match v {
        None | Some(Value::StringValueStrindex(_)) => J::Null,
        Some(Value::StringValue(s)) => J::String(s.clone()),
        Some(Value::BoolValue(b)) => J::Bool(*b),
        Some(Value::IntValue(i)) => J::from(*i),
        Some(Value::DoubleValue(d)) => {
            serde_json::Number::from_f64(*d).map_or_else(|| J::String(format_float(*d)), J::Number)
        }
        Some(Value::BytesValue(b)) => J::String(crate::base64::encode(b)),
        Some(Value::ArrayValue(a)) => J::Array(
            a.values
                .iter()
                .map(|x| json_value(x.value.as_ref()))
                .collect(),
        ),
        Some(Value::KvlistValue(kv)) => J::Object(
            kv.values
                .iter()
                .map(|kv| {
                    (
                        kv.key.clone(),
                        json_value(kv.value.as_ref().and_then(|v| v.value.as_ref())),
                    )
                })
                .collect(),
        ),
    }
}

/// Shortest decimal spelling without exponent, like Go's `FormatFloat(v, 'f', -1, 64)`;
/// used for `le` and `quantile` values and float attributes.
pub(crate) fn format_float(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_string()
    } else if v == f64::INFINITY {
        "+Inf".to_string()
    } else if v == f64::NEG_INFINITY {
        "-Inf".to_string()
    } else {
        v.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_names_follow_the_compatibility_spec() {
        use NameKind::*;
        assert_eq!(
            metric_name("http.server.duration", "ms", Other),
            "http_server_duration_milliseconds"
        );
        assert_eq!(
            metric_name("system.network.io", "By", Counter),
            "system_network_io_bytes_total"
        );
        assert_eq!(
            metric_name("requests.total.count", "{request}", Counter),
            "requests_count_total"
        );
        assert_eq!(
            metric_name("cpu.utilization", "1", Gauge),
            "cpu_utilization_ratio"
        );
        assert_eq!(
            metric_name("cpu.utilization", "1", Counter),
            "cpu_utilization_total"
        );
        assert_eq!(
            metric_name("throughput", "By/s", Gauge),
            "throughput_bytes_per_second"
        );
        assert_eq!(metric_name("rate", "1/s", Gauge), "rate_per_second");
        assert_eq!(
            metric_name("latency_seconds", "s", Other),
            "latency_seconds",
            "unit already in the name"
        );
        assert_eq!(metric_name("temp", "Cel", Gauge), "temp_celsius");
        assert_eq!(metric_name("widgets", "widget", Gauge), "widgets_widget");
        assert_eq!(metric_name("2xx.count", "", Gauge), "_2xx_count");
        assert_eq!(metric_name("a..b__c", "", Gauge), "a_b_c");
        assert_eq!(metric_name("...", "", Gauge), "");
        assert_eq!(metric_name("foo", "{packets}/s", Gauge), "foo_per_second");
    }

    #[test]
    fn label_names_are_sanitised() {
        assert_eq!(label_name("http.method"), "http_method");
        assert_eq!(label_name("1st"), "key_1st");
        assert_eq!(label_name("_private"), "key_private");
        assert_eq!(label_name("__reserved"), "__reserved");
        assert_eq!(label_name("ünïcode"), "key_n_code");
    }

    #[test]
    fn attribute_values() {
        use any_value::Value;
        let v = |x: Value| value_string(Some(&AnyValue { value: Some(x) }));
        assert_eq!(v(Value::StringValue("a".into())), "a");
        assert_eq!(v(Value::BoolValue(true)), "true");
        assert_eq!(v(Value::IntValue(-3)), "-3");
        assert_eq!(v(Value::DoubleValue(0.5)), "0.5");
        assert_eq!(v(Value::DoubleValue(f64::INFINITY)), "+Inf");
        assert_eq!(v(Value::BytesValue(b"hello".to_vec())), "aGVsbG8=");
        assert_eq!(v(Value::BytesValue(b"hi".to_vec())), "aGk=");
        assert_eq!(v(Value::BytesValue(b"abc".to_vec())), "YWJj");
        assert_eq!(value_string(None), "");
    }

    #[test]
    fn le_and_quantile_spelling() {
        assert_eq!(format_float(1.0), "1");
        assert_eq!(format_float(0.005), "0.005");
        assert_eq!(format_float(1e-7), "0.0000001");
        assert_eq!(format_float(2.5e6), "2500000");
    }
}
