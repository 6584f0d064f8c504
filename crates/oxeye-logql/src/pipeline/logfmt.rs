//! The `logfmt` parser: `key=value key2="quoted value" flag` pairs.
//!
//! Keys are runs of characters above space other than `=` and `"`; values are unquoted
//! runs up to the next space or Go-quoted strings. A key without `=` has an empty value.
//! In strict mode the first syntax error stops parsing with `LogfmtParserErr`; otherwise
//! the bad pair is skipped.

use super::json::push_sanitized;

/// Decodes `line`, calling `emit(key, value)` for each pair (values unescaped into a
/// reusable buffer). Returns the first syntax error when `strict`.
pub(crate) fn scan(
    line: &str,
    strict: bool,
    buf: &mut String,
    emit: &mut dyn FnMut(&str, &str),
) -> Result<(), String> {
    let b = line.as_bytes();
    let mut i = 0;
    while i < b.len() {
        // Skip spaces.
        while i < b.len() && b[i] <= b' ' {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        let key_start = i;
        while i < b.len() && b[i] > b' ' && b[i] != b'=' && b[i] != b'"' {
            i += 1;
        }
        let key = line.get(key_start..i).unwrap_or("");
        if key.is_empty() {
            let err = format!(
                "logfmt syntax error at pos {} : unexpected '{}'",
                i + 1,
                b[i] as char
            );
            if strict {
                return Err(err);
            }
            // Skip to the next space.
            while i < b.len() && b[i] > b' ' {
                i += 1;
            }
            continue;
        }
        if i >= b.len() || b[i] <= b' ' {
            emit(key, "");
            continue;
        }
        if b[i] == b'"' {
            let err = format!("logfmt syntax error at pos {} : unexpected '\"'", i + 1);
            if strict {
                return Err(err);
            }
            while i < b.len() && b[i] > b' ' {
                i += 1;
            }
            continue;
        }
        // b[i] == '='
        i += 1;
        if i >= b.len() || b[i] <= b' ' {
            emit(key, "");
            continue;
        }
        if b[i] == b'"' {
            let start = i + 1;
            let mut j = start;
            let mut escaped = false;
            let mut closed = false;
            while j < b.len() {
                match b[j] {
                    b'\\' => {
                        escaped = true;
                        j += 2;
                    }
                    b'"' => {
                        closed = true;
                        break;
                    }
                    _ => j += 1,
                }
            }
            if !closed {
                if strict {
                    return Err(format!(
                        "logfmt syntax error at pos {} : unterminated quoted value",
                        j.min(b.len()) + 1
                    ));
                }
                break;
            }
            let raw = line.get(start..j).unwrap_or("");
            if escaped {
                buf.clear();
                if !super::json::unescape_into(raw, buf) {
                    if strict {
                        return Err(format!(
                            "logfmt syntax error at pos {} : invalid quoted value",
                            start
                        ));
                    }
                    i = j + 1;
                    continue;
                }
                emit(key, buf);
            } else {
                emit(key, raw);
            }
            i = j + 1;
        } else {
            let start = i;
            while i < b.len() && b[i] > b' ' {
                if strict && (b[i] == b'=' || b[i] == b'"') {
                    return Err(format!(
                        "logfmt syntax error at pos {} : unexpected '{}'",
                        i + 1,
                        b[i] as char
                    ));
                }
                i += 1;
            }
            emit(key, line.get(start..i).unwrap_or(""));
        }
    }
    Ok(())
}

/// All pairs of a logfmt line with label names as the `logfmt` stage names them (empty
/// values dropped); `None` when the line has no pair or a syntax error.
pub fn parse_logfmt_fields(line: &str) -> Option<Vec<(String, String)>> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut buf = String::new();
    let mut any_pair = false;
    scan(line, true, &mut buf, &mut |k, v| {
        if v.is_empty() {
            return;
        }
        any_pair = true;
        let mut name = String::new();
        push_sanitized(&mut name, k);
        match out.iter_mut().find(|(n, _)| *n == name) {
            Some(_) => {}
            None => out.push((name, v.to_string())),
        }
    })
    .ok()?;
    if !any_pair {
        return None;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(line: &str, strict: bool) -> Result<Vec<(String, String)>, String> {
        let mut out = Vec::new();
        let mut buf = String::new();
        scan(line, strict, &mut buf, &mut |k, v| {
            out.push((k.to_string(), v.to_string()))
        })?;
        Ok(out)
    }

    #[test]
    fn decodes_pairs() {
        let p = pairs(
            r#"level=info msg="hello \"world\"" flag dur=1.5s empty="#,
            true,
        )
        .unwrap();
        assert_eq!(
            p,
            vec![
                ("level".into(), "info".into()),
                ("msg".into(), "hello \"world\"".into()),
                ("flag".into(), "".into()),
                ("dur".into(), "1.5s".into()),
                ("empty".into(), "".into()),
            ]
        );
    }

    #[test]
    fn strict_stops_on_error() {
        assert!(pairs("a=1 =oops b=2", true).is_err());
        assert_eq!(
            pairs("a=1 =oops b=2", false).unwrap(),
            vec![("a".into(), "1".into()), ("b".into(), "2".into())]
        );
        assert_eq!(
            parse_logfmt_fields("a.b=1 c=x").unwrap(),
            vec![("a_b".into(), "1".into()), ("c".into(), "x".into())]
        );
        assert_eq!(parse_logfmt_fields("just text"), None);
    }
}
