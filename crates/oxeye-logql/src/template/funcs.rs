//! The template functions Loki documents for `line_format` and `label_format`.
//!
//! Arguments follow the Go/Sprig conventions: a piped value is the last argument
//! (`{{ .a | trunc 3 }}` is `trunc 3 .a`); numbers given as strings are converted.
//! Times are nanoseconds since the epoch.

use std::sync::Arc;

use gotmpl::{FuncMap, TemplateError, Value};

use super::time::{format_go_time, parse_go_time};

type R = Result<Value, TemplateError>;

fn err(msg: impl Into<String>) -> TemplateError {
    TemplateError::Exec(msg.into())
}

fn s(v: &Value) -> String {
    match v {
        Value::Nil => String::new(),
        other => other.to_string(),
    }
}

fn arg(args: &[Value], i: usize, name: &str) -> Result<Value, TemplateError> {
    args.get(i)
        .cloned()
        .ok_or_else(|| err(format!("{name}: missing argument {}", i + 1)))
}

fn sarg(args: &[Value], i: usize, name: &str) -> Result<String, TemplateError> {
    arg(args, i, name).map(|v| s(&v))
}

fn f64_of(v: &Value) -> f64 {
    match v {
        Value::Int(n) => *n as f64,
        Value::Uint(n) => *n as f64,
        Value::Float(f) => *f,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::String(x) => x.trim().parse().unwrap_or(0.0),
        _ => 0.0,
    }
}

fn i64_of(v: &Value) -> i64 {
    match v {
        Value::Int(n) => *n,
        Value::Uint(n) => i64::try_from(*n).unwrap_or(i64::MAX),
        Value::Float(f) => *f as i64,
        Value::String(x) => {
            let t = x.trim();
            t.parse::<i64>()
                .ok()
                .or_else(|| t.parse::<f64>().ok().map(|f| f as i64))
                .unwrap_or(0)
        }
        Value::Bool(b) => i64::from(*b),
        _ => 0,
    }
}

fn string(x: impl Into<Arc<str>>) -> Value {
    Value::String(x.into())
}

fn f1(m: &mut FuncMap, name: &'static str, f: impl Fn(&str) -> String + Send + Sync + 'static) {
    m.insert(
        name.into(),
        Arc::new(move |args: &[Value]| Ok(string(f(&sarg(args, 0, name)?)))),
    );
}

/// `name(a, b)` over two strings.
fn f2(
    m: &mut FuncMap,
    name: &'static str,
    f: impl Fn(&str, &str) -> Value + Send + Sync + 'static,
) {
    m.insert(
        name.into(),
        Arc::new(move |args: &[Value]| Ok(f(&sarg(args, 0, name)?, &sarg(args, 1, name)?))),
    );
}

fn int_fold(m: &mut FuncMap, name: &'static str, f: fn(i64, i64) -> Option<i64>) {
    m.insert(
        name.into(),
        Arc::new(move |args: &[Value]| {
            let mut it = args.iter().map(i64_of);
            let first = it
                .next()
                .ok_or_else(|| err(format!("{name}: missing arguments")))?;
            let mut acc = first;
            for v in it {
                acc = f(acc, v).ok_or_else(|| err(format!("{name}: invalid operation")))?;
            }
            Ok(Value::Int(acc))
        }),
    );
}

fn float_fold(m: &mut FuncMap, name: &'static str, f: fn(f64, f64) -> f64) {
    m.insert(
        name.into(),
        Arc::new(move |args: &[Value]| {
            let mut it = args.iter().map(f64_of);
            let first = it
                .next()
                .ok_or_else(|| err(format!("{name}: missing arguments")))?;
            Ok(Value::Float(it.fold(first, f)))
        }),
    );
}

fn title(x: &str) -> String {
    let mut out = String::with_capacity(x.len());
    let mut start = true;
    for c in x.chars() {
        if start && c.is_alphabetic() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        start = !c.is_alphanumeric();
    }
    out
}

fn url_decode(x: &str) -> Result<String, TemplateError> {
    let b = x.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let h = x
                    .get(i + 1..i + 3)
                    .ok_or_else(|| err("urldecode: invalid escape"))?;
                out.push(u8::from_str_radix(h, 16).map_err(|_| err("urldecode: invalid escape"))?);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| err("urldecode: invalid utf-8"))
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn b64enc(x: &[u8]) -> String {
    let mut out = String::with_capacity(x.len().div_ceil(3) * 4);
    for chunk in x.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn b64dec(x: &str) -> Result<String, TemplateError> {
    let mut bits = 0u32;
    let mut nbits = 0;
    let mut out = Vec::new();
    for c in x.trim_end_matches('=').bytes() {
        let v = B64
            .iter()
            .position(|b| *b == c)
            .ok_or_else(|| err("b64dec: illegal base64 data"))?;
        bits = (bits << 6) | v as u32;
        nbits += 6;
        if nbits >= 8 {
            nbits -= 8;
            out.push((bits >> nbits) as u8);
            bits &= (1 << nbits) - 1;
        }
    }
    String::from_utf8(out).map_err(|_| err("b64dec: invalid utf-8"))
}

fn trunc(n: i64, x: &str) -> String {
    let chars: Vec<char> = x.chars().collect();
    let len = chars.len() as i64;
    if n >= 0 {
        chars.iter().take(n.min(len) as usize).collect()
    } else {
        chars.iter().skip((len + n).max(0) as usize).collect()
    }
}

fn substr(start: i64, end: i64, x: &str) -> String {
    let chars: Vec<char> = x.chars().collect();
    let len = chars.len() as i64;
    let start = start.clamp(0, len) as usize;
    let end = if end < 0 || end > len {
        len as usize
    } else {
        end as usize
    };
    if start >= end {
        return String::new();
    }
    chars
        .get(start..end)
        .map(|c| c.iter().collect())
        .unwrap_or_default()
}

/// Widest padding a template function produces, so a query cannot ask for gigabytes.
const MAX_WIDTH: i64 = 100_000;
/// Largest string `repeat` builds.
const MAX_REPEAT_BYTES: usize = 1 << 20;

fn width(v: i64) -> usize {
    v.clamp(0, MAX_WIDTH) as usize
}

fn indent(n: i64, x: &str) -> String {
    let pad = " ".repeat(width(n));
    format!("{pad}{}", x.replace('\n', &format!("\n{pad}")))
}

fn go_replace(x: &str, old: &str, new: &str, n: i64) -> String {
    if n < 0 {
        x.replace(old, new)
    } else {
        x.replacen(old, new, n as usize)
    }
}

fn regex_replace(args: &[Value], name: &str, literal: bool) -> R {
    let re = sarg(args, 0, name)?;
    let x = sarg(args, 1, name)?;
    let repl = sarg(args, 2, name)?;
    let re = regex::Regex::new(&re).map_err(|e| err(format!("{name}: {e}")))?;
    let out = if literal {
        re.replace_all(&x, regex::NoExpand(&repl)).into_owned()
    } else {
        re.replace_all(&x, repl.as_str()).into_owned()
    };
    Ok(string(out))
}

fn round(v: f64, places: i64) -> f64 {
    let p = 10f64.powi(places as i32);
    (v * p).round() / p
}

/// Loki's template functions.
pub(crate) fn func_map() -> FuncMap {
    let mut m = FuncMap::new();
    // Go's strings package, capitalised as Loki exposes them.
    f1(&mut m, "ToLower", str::to_lowercase);
    f1(&mut m, "ToUpper", str::to_uppercase);
    f1(&mut m, "TrimSpace", |x| x.trim().to_string());
    f1(&mut m, "lower", str::to_lowercase);
    f1(&mut m, "upper", str::to_uppercase);
    f1(&mut m, "title", title);
    f1(&mut m, "trim", |x| x.trim().to_string());
    f1(&mut m, "urlencode", gotmpl::url_encode);
    f1(&mut m, "b64enc", |x| b64enc(x.as_bytes()));
    f2(&mut m, "Trim", |x, cut| {
        string(x.trim_matches(|c| cut.contains(c)))
    });
    f2(&mut m, "TrimLeft", |x, cut| {
        string(x.trim_start_matches(|c| cut.contains(c)))
    });
    f2(&mut m, "TrimRight", |x, cut| {
        string(x.trim_end_matches(|c| cut.contains(c)))
    });
    f2(&mut m, "TrimPrefix", |x, p| {
        string(x.strip_prefix(p).unwrap_or(x))
    });
    f2(&mut m, "TrimSuffix", |x, p| {
        string(x.strip_suffix(p).unwrap_or(x))
    });
    f2(&mut m, "trimAll", |cut, x| {
        string(x.trim_matches(|c| cut.contains(c)))
    });
    f2(&mut m, "trimPrefix", |p, x| {
        string(x.strip_prefix(p).unwrap_or(x))
    });
    f2(&mut m, "trimSuffix", |p, x| {
        string(x.strip_suffix(p).unwrap_or(x))
    });
    f2(&mut m, "contains", |sub, x| Value::Bool(x.contains(sub)));
    f2(&mut m, "hasPrefix", |p, x| Value::Bool(x.starts_with(p)));
    f2(&mut m, "hasSuffix", |p, x| Value::Bool(x.ends_with(p)));
    m.insert(
        "Replace".into(),
        Arc::new(|a: &[Value]| {
            let n = a.get(3).map_or(-1, i64_of);
            Ok(string(go_replace(
                &sarg(a, 0, "Replace")?,
                &sarg(a, 1, "Replace")?,
                &sarg(a, 2, "Replace")?,
                n,
            )))
        }),
    );
    m.insert(
        "replace".into(),
        Arc::new(|a: &[Value]| {
            Ok(string(
                sarg(a, 2, "replace")?.replace(&sarg(a, 0, "replace")?, &sarg(a, 1, "replace")?),
            ))
        }),
    );
    m.insert(
        "regexReplaceAll".into(),
        Arc::new(|a: &[Value]| regex_replace(a, "regexReplaceAll", false)),
    );
    m.insert(
        "regexReplaceAllLiteral".into(),
        Arc::new(|a: &[Value]| regex_replace(a, "regexReplaceAllLiteral", true)),
    );
    m.insert(
        "trunc".into(),
        Arc::new(|a: &[Value]| {
            Ok(string(trunc(
                i64_of(&arg(a, 0, "trunc")?),
                &sarg(a, 1, "trunc")?,
            )))
        }),
    );
    m.insert(
        "substr".into(),
        Arc::new(|a: &[Value]| {
            Ok(string(substr(
                i64_of(&arg(a, 0, "substr")?),
                i64_of(&arg(a, 1, "substr")?),
                &sarg(a, 2, "substr")?,
            )))
        }),
    );
    m.insert(
        "indent".into(),
        Arc::new(|a: &[Value]| {
            Ok(string(indent(
                i64_of(&arg(a, 0, "indent")?),
                &sarg(a, 1, "indent")?,
            )))
        }),
    );
    m.insert(
        "nindent".into(),
        Arc::new(|a: &[Value]| {
            Ok(string(format!(
                "\n{}",
                indent(i64_of(&arg(a, 0, "nindent")?), &sarg(a, 1, "nindent")?)
            )))
        }),
    );
    m.insert(
        "repeat".into(),
        Arc::new(|a: &[Value]| {
            let n = i64_of(&arg(a, 0, "repeat")?).max(0) as usize;
            let x = sarg(a, 1, "repeat")?;
            if n.saturating_mul(x.len()) > MAX_REPEAT_BYTES {
                return Err(err(format!(
                    "repeat: result longer than {MAX_REPEAT_BYTES} bytes"
                )));
            }
            Ok(string(x.repeat(n)))
        }),
    );
    m.insert(
        "default".into(),
        Arc::new(|a: &[Value]| {
            let d = arg(a, 0, "default")?;
            match a.get(1) {
                Some(v) if v.is_truthy() => Ok(v.clone()),
                _ => Ok(d),
            }
        }),
    );
    m.insert(
        "fromJson".into(),
        Arc::new(|a: &[Value]| {
            let text = sarg(a, 0, "fromJson")?;
            let v: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| err(format!("fromJson: {e}")))?;
            Ok(json_to_value(&v))
        }),
    );
    m.insert(
        "count".into(),
        Arc::new(|a: &[Value]| {
            let re =
                regex::Regex::new(&sarg(a, 0, "count")?).map_err(|e| err(format!("count: {e}")))?;
            Ok(Value::Int(
                re.find_iter(&sarg(a, 1, "count")?).count() as i64
            ))
        }),
    );
    m.insert(
        "urldecode".into(),
        Arc::new(|a: &[Value]| Ok(string(url_decode(&sarg(a, 0, "urldecode")?)?))),
    );
    m.insert(
        "b64dec".into(),
        Arc::new(|a: &[Value]| Ok(string(b64dec(&sarg(a, 0, "b64dec")?)?))),
    );
    m.insert(
        "bytes".into(),
        Arc::new(|a: &[Value]| {
            let x = sarg(a, 0, "bytes")?;
            let b = crate::units::parse_bytes(&x)
                .ok_or_else(|| err(format!("bytes: invalid size {x:?}")))?;
            Ok(Value::Float(b as f64))
        }),
    );
    m.insert(
        "duration".into(),
        Arc::new(|a: &[Value]| {
            let x = sarg(a, 0, "duration")?;
            let d = crate::units::parse_duration(&x)
                .ok_or_else(|| err(format!("duration: invalid duration {x:?}")))?;
            Ok(Value::Float(d as f64 / 1e9))
        }),
    );
    m.insert(
        "alignLeft".into(),
        Arc::new(|a: &[Value]| {
            let n = width(i64_of(&arg(a, 0, "alignLeft")?));
            let x = sarg(a, 1, "alignLeft")?;
            let mut out: String = x.chars().take(n).collect();
            let len = out.chars().count();
            out.push_str(&" ".repeat(n - len));
            Ok(string(out))
        }),
    );
    m.insert(
        "alignRight".into(),
        Arc::new(|a: &[Value]| {
            let n = width(i64_of(&arg(a, 0, "alignRight")?));
            let x = sarg(a, 1, "alignRight")?;
            let chars: Vec<char> = x.chars().collect();
            let tail: String = chars.iter().skip(chars.len().saturating_sub(n)).collect();
            Ok(string(format!(
                "{}{tail}",
                " ".repeat(n - tail.chars().count())
            )))
        }),
    );
    // Arithmetic.
    int_fold(&mut m, "add", |a, b| a.checked_add(b));
    int_fold(&mut m, "sub", |a, b| a.checked_sub(b));
    int_fold(&mut m, "mul", |a, b| a.checked_mul(b));
    int_fold(&mut m, "div", |a, b| a.checked_div(b));
    int_fold(&mut m, "mod", |a, b| a.checked_rem(b));
    int_fold(&mut m, "max", |a, b| Some(a.max(b)));
    int_fold(&mut m, "min", |a, b| Some(a.min(b)));
    float_fold(&mut m, "addf", |a, b| a + b);
    float_fold(&mut m, "subf", |a, b| a - b);
    float_fold(&mut m, "mulf", |a, b| a * b);
    float_fold(&mut m, "divf", |a, b| a / b);
    float_fold(&mut m, "maxf", f64::max);
    float_fold(&mut m, "minf", f64::min);
    m.insert(
        "ceil".into(),
        Arc::new(|a: &[Value]| Ok(Value::Float(f64_of(&arg(a, 0, "ceil")?).ceil()))),
    );
    m.insert(
        "floor".into(),
        Arc::new(|a: &[Value]| Ok(Value::Float(f64_of(&arg(a, 0, "floor")?).floor()))),
    );
    m.insert(
        "round".into(),
        Arc::new(|a: &[Value]| {
            let v = f64_of(&arg(a, 0, "round")?);
            Ok(Value::Float(round(v, a.get(1).map_or(0, i64_of))))
        }),
    );
    m.insert(
        "int".into(),
        Arc::new(|a: &[Value]| Ok(Value::Int(i64_of(&arg(a, 0, "int")?)))),
    );
    m.insert(
        "float64".into(),
        Arc::new(|a: &[Value]| Ok(Value::Float(f64_of(&arg(a, 0, "float64")?)))),
    );
    // Time.
    m.insert(
        "__line__".into(),
        Arc::new(|_: &[Value]| Ok(string(super::current_line()))),
    );
    m.insert(
        "__timestamp__".into(),
        Arc::new(|_: &[Value]| Ok(Value::Int(super::current_ts()))),
    );
    m.insert(
        "now".into(),
        Arc::new(|_: &[Value]| {
            let ns = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as i64);
            Ok(Value::Int(ns))
        }),
    );
    m.insert(
        "date".into(),
        Arc::new(|a: &[Value]| {
            let layout = sarg(a, 0, "date")?;
            Ok(string(format_go_time(
                &layout,
                time_arg(&arg(a, 1, "date")?),
            )))
        }),
    );
    m.insert(
        "toDate".into(),
        Arc::new(|a: &[Value]| {
            let layout = sarg(a, 0, "toDate")?;
            let x = sarg(a, 1, "toDate")?;
            Ok(Value::Int(parse_go_time(&layout, &x).unwrap_or(0)))
        }),
    );
    m.insert(
        "toDateInZone".into(),
        Arc::new(|a: &[Value]| {
            let layout = sarg(a, 0, "toDateInZone")?;
            let zone = sarg(a, 1, "toDateInZone")?;
            let x = sarg(a, 2, "toDateInZone")?;
            let offset = zone_offset_s(&zone)
                .ok_or_else(|| err(format!("toDateInZone: unknown time zone {zone:?}")))?;
            let t = parse_go_time(&layout, &x).unwrap_or(0);
            Ok(Value::Int(t - offset * 1_000_000_000))
        }),
    );
    m.insert(
        "unixEpoch".into(),
        Arc::new(|a: &[Value]| {
            Ok(Value::Int(
                time_arg(&arg(a, 0, "unixEpoch")?).div_euclid(1_000_000_000),
            ))
        }),
    );
    m.insert(
        "unixEpochMillis".into(),
        Arc::new(|a: &[Value]| {
            Ok(Value::Int(
                time_arg(&arg(a, 0, "unixEpochMillis")?).div_euclid(1_000_000),
            ))
        }),
    );
    m.insert(
        "unixEpochNanos".into(),
        Arc::new(|a: &[Value]| Ok(Value::Int(time_arg(&arg(a, 0, "unixEpochNanos")?)))),
    );
    m.insert(
        "unixToTime".into(),
        Arc::new(|a: &[Value]| {
            let x = sarg(a, 0, "unixToTime")?;
            let n: i64 = x
                .trim()
                .parse()
                .map_err(|_| err(format!("unixToTime: invalid epoch {x:?}")))?;
            // Seconds, milliseconds, microseconds or nanoseconds by digit count.
            let ns = match x.trim().trim_start_matches('-').len() {
                0..=10 => n.saturating_mul(1_000_000_000),
                11..=13 => n.saturating_mul(1_000_000),
                14..=16 => n.saturating_mul(1_000),
                _ => n,
            };
            Ok(Value::Int(ns))
        }),
    );
    m
}

/// Seconds east of UTC of a zone written `UTC`, `Z` or as a fixed offset (`+02:00`).
fn zone_offset_s(zone: &str) -> Option<i64> {
    match zone {
        "UTC" | "Z" | "GMT" | "Etc/UTC" | "" => return Some(0),
        _ => {}
    }
    let (sign, rest) = match zone.as_bytes().first()? {
        b'+' => (1, &zone[1..]),
        b'-' => (-1, &zone[1..]),
        _ => return None,
    };
    let (h, m) = rest.split_once(':').unwrap_or((rest, "0"));
    Some(sign * (h.parse::<i64>().ok()? * 3600 + m.parse::<i64>().ok()? * 60))
}

/// A time argument: nanoseconds, or a string of them.
fn time_arg(v: &Value) -> i64 {
    i64_of(v)
}

fn json_to_value(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => n
            .as_i64()
            .map(Value::Int)
            .unwrap_or_else(|| Value::Float(n.as_f64().unwrap_or(0.0))),
        serde_json::Value::String(x) => string(x.as_str()),
        serde_json::Value::Array(a) => Value::List(a.iter().map(json_to_value).collect()),
        serde_json::Value::Object(o) => Value::Map(Arc::new(
            o.iter()
                .map(|(k, v)| (Arc::from(k.as_str()), json_to_value(v)))
                .collect(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        assert_eq!(b64enc(b"hello"), "aGVsbG8=");
        assert_eq!(b64dec("aGVsbG8=").unwrap(), "hello");
        assert_eq!(trunc(3, "abcdef"), "abc");
        assert_eq!(trunc(-2, "abcdef"), "ef");
        assert_eq!(substr(1, 3, "abcdef"), "bc");
        assert_eq!(url_decode("a%20b+c").unwrap(), "a b c");
        assert_eq!(title("hello world"), "Hello World");
        assert_eq!(indent(2, "a\nb"), "  a\n  b");
        assert_eq!(indent(i64::MAX, "a").len(), MAX_WIDTH as usize + 1);
    }
}
