//! Label sets and quoted strings as the promqltest format writes them:
//! `name{a="b", "quoted.name"='v'}` with Go string escapes.

use oxeye_core::Labels;

/// Index of the `}` closing the label set opened at `open`, skipping quoted strings.
pub(super) fn closing_brace(s: &str, open: usize) -> Option<usize> {
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in s.char_indices().skip_while(|(i, _)| *i <= open) {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' && q != '`' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '"' | '\'' | '`' => quote = Some(c),
            '}' => return Some(i),
            _ => {}
        }
    }
    None
}

/// Parses `name`, `name{a="b", ...}`, `{a="b"}` or `{}` (quoted names allowed).
pub fn parse_labels(s: &str) -> Result<Labels, String> {
    let s = s.trim();
    let (name, body) = match s.find('{') {
        Some(open) => {
            let inner = s
                .get(open + 1..)
                .and_then(|r| r.strip_suffix('}'))
                .ok_or_else(|| format!("invalid label set {s:?}"))?;
            (s.get(..open).unwrap_or(""), inner)
        }
        None => (s, ""),
    };
    let mut pairs: Vec<(String, String)> = Vec::new();
    if !name.is_empty() {
        if !is_identifier(name) {
            return Err(format!("invalid metric name {name:?}"));
        }
        pairs.push((oxeye_core::METRIC_NAME.to_string(), name.to_string()));
    }
    let mut rest = body.trim();
    while !rest.is_empty() {
        let (label, after) = take_name(rest).ok_or_else(|| format!("invalid label in {s:?}"))?;
        let after = after.trim_start();
        let after = if let Some(a) = after.strip_prefix('=') {
            let (value, a) = take_quoted(a.trim_start())
                .ok_or_else(|| format!("invalid label value in {s:?}"))?;
            pairs.push((label, value));
            a
        } else {
            // A quoted name on its own is the metric name.
            pairs.push((oxeye_core::METRIC_NAME.to_string(), label));
            after
        };
        let after = after.trim_start();
        rest = match after.strip_prefix(',') {
            Some(a) => a.trim_start(),
            None if after.is_empty() => after,
            None => return Err(format!("expected ',' or '}}' in {s:?}")),
        };
    }
    let mut seen = std::collections::HashSet::new();
    for (k, _) in &pairs {
        if !seen.insert(k.as_str()) {
            return Err(format!("label {k:?} given twice in {s:?}"));
        }
    }
    Ok(Labels::from_pairs(&pairs))
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn take_name(s: &str) -> Option<(String, &str)> {
    if s.starts_with(['"', '\'', '`']) {
        return take_quoted(s);
    }
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(s.len());
    if end == 0 {
        return None;
    }
    Some((s.get(..end)?.to_string(), s.get(end..)?))
}

/// Takes one quoted string off the front of `s`, returning it unescaped and the rest.
fn take_quoted(s: &str) -> Option<(String, &str)> {
    let q = s.chars().next()?;
    if !matches!(q, '"' | '\'' | '`') {
        return None;
    }
    let mut escaped = false;
    for (i, c) in s.char_indices().skip(1) {
        if escaped {
            escaped = false;
        } else if c == '\\' && q != '`' {
            escaped = true;
        } else if c == q {
            return Some((unquote(s.get(..=i)?)?, s.get(i + 1..)?));
        }
    }
    None
}

/// Unquotes a Go-style string literal in double, single or back quotes.
pub fn unquote(s: &str) -> Option<String> {
    let q = s.chars().next()?;
    let inner = s.strip_prefix(q)?.strip_suffix(q)?;
    if s.len() < 2 {
        return None;
    }
    match q {
        '`' => (!inner.contains('`')).then(|| inner.to_string()),
        '"' | '\'' => unescape(inner, q),
        _ => None,
    }
}

fn unescape(s: &str, quote: char) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut bytes: Vec<u8> = Vec::new();
    let mut chars = s.chars().peekable();
    let flush = |bytes: &mut Vec<u8>, out: &mut String| -> Option<()> {
        if !bytes.is_empty() {
            out.push_str(std::str::from_utf8(bytes).ok()?);
            bytes.clear();
        }
        Some(())
    };
    while let Some(c) = chars.next() {
        if c == quote {
            return None;
        }
        if c != '\\' {
            flush(&mut bytes, &mut out)?;
            out.push(c);
            continue;
        }
        let e = chars.next()?;
        if !matches!(e, 'x' | '0'..='7') {
            flush(&mut bytes, &mut out)?;
        }
        let hex = |chars: &mut std::iter::Peekable<std::str::Chars>, n: usize| -> Option<u32> {
            let digits: String = (0..n).filter_map(|_| chars.next()).collect();
            if digits.len() != n {
                return None;
            }
            u32::from_str_radix(&digits, 16).ok()
        };
        match e {
            'a' => out.push('\x07'),
            'b' => out.push('\x08'),
            'f' => out.push('\x0c'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'v' => out.push('\x0b'),
            '\\' => out.push('\\'),
            '"' | '\'' if e == quote => out.push(e),
            'x' => {
                bytes.push(u8::try_from(hex(&mut chars, 2)?).ok()?);
                continue;
            }
            '0'..='7' => {
                let rest: String = (0..2).filter_map(|_| chars.next()).collect();
                let v = u32::from_str_radix(&format!("{e}{rest}"), 8).ok()?;
                bytes.push(u8::try_from(v).ok()?);
                continue;
            }
            'u' => out.push(char::from_u32(hex(&mut chars, 4)?)?),
            'U' => out.push(char::from_u32(hex(&mut chars, 8)?)?),
            _ => return None,
        }
    }
    flush(&mut bytes, &mut out)?;
    Some(out)
}
