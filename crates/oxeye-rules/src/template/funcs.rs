//! Prometheus's template functions over `gotmpl` values.
//!
//! Numbers may come as floats, integers or numeric strings (Prometheus converts them the
//! same way); samples of `query` are maps with `Labels` and `Value`, as Prometheus's
//! `sample` struct is seen by templates.

use std::collections::BTreeMap;
use std::sync::Arc;

use gotmpl::{FuncMap, TemplateError, Value};

use super::gofmt::{float_prec, float_v, time_string_ms};

type R = Result<Value, TemplateError>;

pub(crate) fn err(msg: impl Into<String>) -> TemplateError {
    TemplateError::Exec(msg.into())
}

pub(crate) fn string(s: impl Into<String>) -> Value {
    Value::String(Arc::from(s.into().into_boxed_str()))
}

fn arg<'a>(args: &'a [Value], i: usize, name: &str) -> Result<&'a Value, TemplateError> {
    args.get(i).ok_or_else(|| {
        err(format!(
            "wrong number of args for {name}: want at least {} got {}",
            i + 1,
            args.len()
        ))
    })
}

fn exactly(args: &[Value], n: usize, name: &str) -> Result<(), TemplateError> {
    if args.len() != n {
        return Err(err(format!(
            "wrong number of args for {name}: want {n} got {}",
            args.len()
        )));
    }
    Ok(())
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Nil => "<nil>",
        Value::Bool(_) => "bool",
        Value::Int(_) => "int",
        Value::Uint(_) => "uint",
        Value::Float(_) => "float64",
        Value::String(_) => "string",
        Value::List(_) => "queryResult",
        Value::Map(_) => "map",
        _ => "func",
    }
}

/// Prometheus's `convertToFloat`: floats, integers and numeric strings.
pub(crate) fn to_float(v: &Value) -> Result<f64, TemplateError> {
    match v {
        Value::Float(f) => Ok(*f),
        Value::Int(n) => Ok(*n as f64),
        Value::Uint(n) => Ok(*n as f64),
        Value::String(s) => parse_go_float(s)
            .ok_or_else(|| err(format!("strconv.ParseFloat: parsing {s:?}: invalid syntax"))),
        other => Err(err(format!("can't convert {} to float", type_name(other)))),
    }
}

/// Go's `strconv.ParseFloat` for the forms people write (`1.5`, `1e3`, `+Inf`, `NaN`).
fn parse_go_float(s: &str) -> Option<f64> {
    let t = s.trim_start_matches('+');
    match t.to_ascii_lowercase().as_str() {
        "inf" | "infinity" => {
            return Some(if s.starts_with('-') {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            });
        }
        "-inf" | "-infinity" => return Some(f64::NEG_INFINITY),
        "nan" => return Some(f64::NAN),
        _ => {}
    }
    if t.is_empty() || t.contains(char::is_whitespace) {
        return None;
    }
    t.replace('_', "").parse::<f64>().ok()
}

fn to_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.to_string(),
        Value::Float(f) => float_v(*f),
        Value::Nil => String::new(),
        other => other.to_string(),
    }
}

const SMALL: [&str; 8] = ["m", "u", "n", "p", "f", "a", "z", "y"];

fn humanize(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return float_prec(v, 4);
    }
    let mut v = v;
    let mut prefix = "";
    if v.abs() >= 1.0 {
        for p in ["k", "M", "G", "T", "P", "E", "Z", "Y"] {
            if v.abs() < 1000.0 {
                break;
            }
            prefix = p;
            v /= 1000.0;
        }
    } else {
        for p in SMALL {
            if v.abs() >= 1.0 {
                break;
            }
            prefix = p;
            v *= 1000.0;
        }
    }
    format!("{}{prefix}", float_prec(v, 4))
}

fn humanize1024(v: f64) -> String {
    if v.abs() <= 1.0 || !v.is_finite() {
        return float_prec(v, 4);
    }
    let mut v = v;
    let mut prefix = "";
    for p in ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"] {
        if v.abs() < 1024.0 {
            break;
        }
        prefix = p;
        v /= 1024.0;
    }
    format!("{}{prefix}", float_prec(v, 4))
}

fn humanize_duration(v: f64) -> String {
    if !v.is_finite() {
        return float_prec(v, 4);
    }
    if v == 0.0 {
        return format!("{}s", float_prec(v, 4));
    }
    if v.abs() >= 1.0 {
        let (sign, v) = if v < 0.0 { ("-", -v) } else { ("", v) };
        let d = v as i64;
        let (secs, mins, hours, days) = (d % 60, d / 60 % 60, d / 3600 % 24, d / 86_400);
        if days != 0 {
            return format!("{sign}{days}d {hours}h {mins}m {secs}s");
        }
        if hours != 0 {
            return format!("{sign}{hours}h {mins}m {secs}s");
        }
        if mins != 0 {
            return format!("{sign}{mins}m {secs}s");
        }
        return format!("{sign}{}s", float_prec(v, 4));
    }
    let mut v = v;
    let mut prefix = "";
    for p in SMALL {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    format!("{}{prefix}s", float_prec(v, 4))
}

/// Seconds since the epoch to ms, as Prometheus's `model.TimeFromUnixNano` truncates.
fn float_to_ms(v: f64) -> Result<i64, TemplateError> {
    let ns = v * 1e9;
    if ns > i64::MAX as f64 || ns < i64::MIN as f64 {
        return Err(err(format!(
            "{} cannot be represented as a nanoseconds timestamp since it overflows int64",
            float_v(v)
        )));
    }
    Ok((ns as i64) / 1_000_000)
}

fn humanize_timestamp(v: f64) -> Result<String, TemplateError> {
    if !v.is_finite() {
        return Ok(float_prec(v, 4));
    }
    Ok(time_string_ms(float_to_ms(v)?))
}

/// Go's `strings.Title`: upper-cases the first letter of each word.
fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev_letter = false;
    for c in s.chars() {
        let is_word = c.is_alphanumeric() || c == '_' || c == '\'';
        if is_word && !prev_letter {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev_letter = is_word;
    }
    out
}

/// A sample map's labels.
fn sample_labels(v: &Value) -> Option<&BTreeMap<Arc<str>, Value>> {
    match v.field("Labels") {
        Some(Value::Map(m)) => Some(m),
        _ => None,
    }
}

fn sample_arg<'a>(args: &'a [Value], i: usize, name: &str) -> Result<&'a Value, TemplateError> {
    let v = arg(args, i, name)?;
    if sample_labels(v).is_none() {
        return Err(err(format!(
            "wrong type for value; expected *template.sample; got {}",
            type_name(v)
        )));
    }
    Ok(v)
}

fn label_of(sample: &Value, name: &str) -> String {
    sample_labels(sample)
        .and_then(|m| m.get(name))
        .map(to_str)
        .unwrap_or_default()
}

/// Go's `net.SplitHostPort` host part; the input unchanged when it has no port.
fn strip_port(hp: &str) -> String {
    if let Some(rest) = hp.strip_prefix('[') {
        if let Some((host, tail)) = rest.split_once(']')
            && let Some(port) = tail.strip_prefix(':')
            && !port.contains(':')
        {
            return host.to_string();
        }
        return hp.to_string();
    }
    match hp.rsplit_once(':') {
        Some((host, _)) if !host.contains(':') => host.to_string(),
        _ => hp.to_string(),
    }
}

fn strip_domain(hp: &str) -> String {
    if hp.starts_with('[') || hp.matches(':').count() > 1 {
        return hp.to_string();
    }
    let (host, port) = match hp.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (hp, None),
    };
    if host.parse::<std::net::Ipv4Addr>().is_ok() {
        return hp.to_string();
    }
    let short = host.split('.').next().unwrap_or(host);
    match port {
        Some(p) => format!("{short}:{p}"),
        None => short.to_string(),
    }
}

fn url_path(url: &str) -> String {
    let after_scheme = match url.split_once("://") {
        Some((_, rest)) => rest,
        None => return url.split(['?', '#']).next().unwrap_or("").to_string(),
    };
    match after_scheme.find('/') {
        Some(i) => after_scheme
            .get(i..)
            .unwrap_or("")
            .split(['?', '#'])
            .next()
            .unwrap_or("")
            .to_string(),
        None => String::new(),
    }
}

fn graph_link(expr: &str, tab: u8) -> String {
    format!("/graph?g0.expr={}&g0.tab={tab}", query_escape(expr))
}

/// Go's `url.QueryEscape`.
fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(b))
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn f1(m: &mut FuncMap, name: &'static str, f: impl Fn(&Value) -> R + Send + Sync + 'static) {
    m.insert(
        name.to_string(),
        Arc::new(move |a: &[Value]| {
            exactly(a, 1, name)?;
            f(arg(a, 0, name)?)
        }),
    );
}

fn num1(m: &mut FuncMap, name: &'static str, f: impl Fn(f64) -> R + Send + Sync + 'static) {
    f1(m, name, move |v| f(to_float(v)?));
}

fn str1(m: &mut FuncMap, name: &'static str, f: impl Fn(&str) -> String + Send + Sync + 'static) {
    f1(m, name, move |v| Ok(string(f(&to_str(v)))));
}

/// The verbs of a Go format string, in the order they take arguments (`%%` takes none).
fn format_verbs(f: &str) -> Vec<char> {
    let mut verbs = Vec::new();
    let mut chars = f.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            continue;
        }
        for v in chars.by_ref() {
            if v == '*' {
                verbs.push('*');
            } else if v.is_ascii_alphabetic() || v == '%' {
                if v != '%' {
                    verbs.push(v);
                }
                break;
            }
        }
    }
    verbs
}

/// Go's `printf`, with floats under `%v` printed as Go prints them (`1e-09`, not
/// `0.000000001`); everything else is the template engine's own `printf`.
fn go_printf(args: &[Value]) -> R {
    let Some(Value::String(f)) = args.first() else {
        return Err(err("printf: the first argument must be a format string"));
    };
    let mut data: BTreeMap<Arc<str>, Value> = BTreeMap::new();
    data.insert(Arc::from("F"), Value::String(f.clone()));
    let verbs = format_verbs(f);
    let mut src = String::from("{{printf .F");
    for (i, a) in args.iter().skip(1).enumerate() {
        let a = match (verbs.get(i), a) {
            (Some('v'), Value::Float(x)) => string(float_v(*x)),
            _ => a.clone(),
        };
        data.insert(Arc::from(format!("A{i}")), a);
        src.push_str(&format!(" .A{i}"));
    }
    src.push_str("}}");
    gotmpl::execute(&src, &Value::Map(Arc::new(data))).map(string)
}

/// Every function except `query` (which needs the evaluation's query function).
pub(crate) fn func_map(external_url: &str) -> FuncMap {
    let mut m = FuncMap::new();
    m.insert("printf".into(), Arc::new(go_printf));
    num1(&mut m, "humanize", |v| Ok(string(humanize(v))));
    num1(&mut m, "humanize1024", |v| Ok(string(humanize1024(v))));
    num1(&mut m, "humanizeDuration", |v| {
        Ok(string(humanize_duration(v)))
    });
    num1(&mut m, "humanizePercentage", |v| {
        Ok(string(format!("{}%", float_prec(v * 100.0, 4))))
    });
    num1(&mut m, "humanizeTimestamp", |v| {
        Ok(string(humanize_timestamp(v)?))
    });
    num1(&mut m, "toTime", |v| {
        if !v.is_finite() {
            return Err(err("value is NaN or Inf"));
        }
        Ok(string(time_string_ms(float_to_ms(v)?)))
    });
    f1(&mut m, "first", |v| match v {
        Value::List(items) => items
            .first()
            .cloned()
            .ok_or_else(|| err("first() called on vector with no elements")),
        other => Err(err(format!(
            "wrong type for value; expected template.queryResult; got {}",
            type_name(other)
        ))),
    });
    m.insert(
        "label".into(),
        Arc::new(|a: &[Value]| {
            exactly(a, 2, "label")?;
            let name = to_str(arg(a, 0, "label")?);
            Ok(string(label_of(sample_arg(a, 1, "label")?, &name)))
        }),
    );
    f1(&mut m, "value", |v| {
        let s = sample_arg(std::slice::from_ref(v), 0, "value")?;
        Ok(s.field("Value").cloned().unwrap_or(Value::Float(0.0)))
    });
    f1(&mut m, "strvalue", |v| {
        let s = sample_arg(std::slice::from_ref(v), 0, "strvalue")?;
        Ok(string(label_of(s, "__value__")))
    });
    m.insert(
        "sortByLabel".into(),
        Arc::new(|a: &[Value]| {
            exactly(a, 2, "sortByLabel")?;
            let name = to_str(arg(a, 0, "sortByLabel")?);
            let Value::List(items) = arg(a, 1, "sortByLabel")? else {
                return Err(err("sortByLabel: expected a query result"));
            };
            let mut sorted = items.to_vec();
            sorted.sort_by_key(|s| label_of(s, &name));
            Ok(Value::List(Arc::from(sorted)))
        }),
    );
    m.insert(
        "reReplaceAll".into(),
        Arc::new(|a: &[Value]| {
            exactly(a, 3, "reReplaceAll")?;
            let pattern = to_str(arg(a, 0, "reReplaceAll")?);
            let repl = to_str(arg(a, 1, "reReplaceAll")?);
            let text = to_str(arg(a, 2, "reReplaceAll")?);
            let re = regex::Regex::new(&pattern)
                .map_err(|e| err(format!("error parsing regexp {pattern:?}: {e}")))?;
            Ok(string(re.replace_all(&text, repl.as_str()).into_owned()))
        }),
    );
    m.insert(
        "match".into(),
        Arc::new(|a: &[Value]| {
            exactly(a, 2, "match")?;
            let pattern = to_str(arg(a, 0, "match")?);
            let text = to_str(arg(a, 1, "match")?);
            let re = regex::Regex::new(&pattern)
                .map_err(|e| err(format!("error parsing regexp {pattern:?}: {e}")))?;
            Ok(Value::Bool(re.is_match(&text)))
        }),
    );
    str1(&mut m, "toUpper", |s| s.to_uppercase());
    str1(&mut m, "toLower", |s| s.to_lowercase());
    str1(&mut m, "title", title);
    str1(&mut m, "safeHtml", str::to_string);
    str1(&mut m, "stripPort", strip_port);
    str1(&mut m, "stripDomain", strip_domain);
    str1(&mut m, "graphLink", |e| graph_link(e, 0));
    str1(&mut m, "tableLink", |e| graph_link(e, 1));
    f1(&mut m, "parseDuration", |v| {
        let s = to_str(v);
        let ms = crate::file::parse_duration(&s).map_err(|e| err(e.to_string()))?;
        Ok(Value::Float(ms as f64 / 1000.0))
    });
    num1(&mut m, "toDuration", |v| {
        if !v.is_finite() {
            return Err(err("value is NaN or Inf"));
        }
        Ok(string(humanize_duration(v)))
    });
    m.insert(
        "args".into(),
        Arc::new(|a: &[Value]| {
            let map: BTreeMap<Arc<str>, Value> = a
                .iter()
                .enumerate()
                .map(|(i, v)| (Arc::from(format!("arg{i}")), v.clone()))
                .collect();
            Ok(Value::Map(Arc::new(map)))
        }),
    );
    let url = external_url.to_string();
    let path = url_path(external_url);
    m.insert(
        "externalURL".into(),
        Arc::new(move |_: &[Value]| Ok(string(url.clone()))),
    );
    m.insert(
        "pathPrefix".into(),
        Arc::new(move |_: &[Value]| Ok(string(path.clone()))),
    );
    named_errors(m)
}

/// Prefixes a function's errors with `error calling <name>: `, as Go's templates do.
pub(crate) fn named_errors(m: FuncMap) -> FuncMap {
    m.into_iter()
        .map(|(name, f)| {
            let label = name.clone();
            let g: gotmpl::ValueFunc = Arc::new(move |a: &[Value]| {
                f(a).map_err(|e| match e {
                    TemplateError::Exec(msg) => {
                        TemplateError::Exec(format!("error calling {label}: {msg}"))
                    }
                    other => other,
                })
            });
            (name, g)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn humanize_cases() {
        let cases: &[(f64, &str)] = &[
            (0.0, "0"),
            (1234567.0, "1.235M"),
            (0.001, "1m"),
            (1.0, "1"),
            (999.0, "999"),
            (1000.0, "1k"),
            (12345.0, "12.35k"),
            (-1234567.0, "-1.235M"),
            (0.000_000_1, "100n"),
            (1e30, "1e+06Y"),
            (f64::INFINITY, "+Inf"),
            (f64::NAN, "NaN"),
        ];
        for (v, want) in cases {
            assert_eq!(humanize(*v), *want, "humanize {v}");
        }
    }

    #[test]
    fn humanize1024_cases() {
        assert_eq!(humanize1024(1024.0), "1ki");
        assert_eq!(humanize1024(1.0), "1");
        assert_eq!(humanize1024(1_572_864.0), "1.5Mi");
        assert_eq!(humanize1024(0.5), "0.5");
        assert_eq!(humanize1024(1023.0), "1023");
    }

    #[test]
    fn humanize_duration_cases() {
        let cases: &[(f64, &str)] = &[
            (90.0, "1m 30s"),
            (0.0, "0s"),
            (1.0, "1s"),
            (59.5, "59.5s"),
            (3600.0, "1h 0m 0s"),
            (90061.0, "1d 1h 1m 1s"),
            (-90.0, "-1m 30s"),
            (0.25, "250ms"),
            (0.000_001, "1us"),
            (f64::INFINITY, "+Inf"),
        ];
        for (v, want) in cases {
            assert_eq!(humanize_duration(*v), *want, "humanizeDuration {v}");
        }
    }

    #[test]
    fn timestamps() {
        assert_eq!(
            humanize_timestamp(1435065584.128).unwrap(),
            "2015-06-23 13:19:44.128 +0000 UTC"
        );
        assert_eq!(humanize_timestamp(f64::NAN).unwrap(), "NaN");
        assert!(humanize_timestamp(1e300).is_err());
    }

    #[test]
    fn strings() {
        assert_eq!(title("hello world-foo"), "Hello World-Foo");
        assert_eq!(strip_port("host:9090"), "host");
        assert_eq!(strip_port("[::1]:9090"), "::1");
        assert_eq!(strip_port("host"), "host");
        assert_eq!(strip_port("::1"), "::1");
        assert_eq!(strip_domain("node.example.com:9100"), "node:9100");
        assert_eq!(strip_domain("10.0.0.1:9100"), "10.0.0.1:9100");
        assert_eq!(url_path("http://example.com/prom/"), "/prom/");
        assert_eq!(url_path("http://example.com"), "");
        assert_eq!(
            graph_link("up == 0", 1),
            "/graph?g0.expr=up+%3D%3D+0&g0.tab=1"
        );
    }

    #[test]
    fn printf_prints_floats_as_go() {
        let p = |args: &[Value]| go_printf(args).unwrap().to_string();
        let f = |s: &str| string(s);
        assert_eq!(p(&[f("%v"), Value::Float(1e-9)]), "1e-09");
        assert_eq!(
            p(&[f("%v|%g"), Value::Float(1e6), Value::Float(1e6)]),
            "1e+06|1e+06"
        );
        assert_eq!(p(&[f("%.2f%%"), Value::Float(12.345)]), "12.35%");
        assert_eq!(p(&[f("%s-%d"), f("a"), Value::Int(3)]), "a-3");
        assert_eq!(p(&[f("%5.1f|%v"), Value::Float(2.25), f("x")]), "  2.2|x");
        assert!(go_printf(&[Value::Int(1)]).is_err());
    }

    #[test]
    fn conversions() {
        assert_eq!(to_float(&string("1.5")).unwrap(), 1.5);
        assert_eq!(to_float(&Value::Int(3)).unwrap(), 3.0);
        assert!(to_float(&string("abc")).is_err());
        assert!(to_float(&Value::Bool(true)).is_err());
        assert!(to_float(&string("+Inf")).unwrap().is_infinite());
    }
}
