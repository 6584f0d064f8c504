//! The `json` parser: a scanner that walks a JSON object without building a tree,
//! flattening nested objects into `a_b` label names (arrays are skipped, as Loki does),
//! and the `json label="path"` form that reads chosen paths (`a.b`, `a[0]`, `a["k"]`).

/// A JSON value's kind as the scanner met it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A string; the raw text is between the quotes, still escaped.
    Str { escaped: bool },
    /// A number, `true`, `false`.
    Literal,
    /// `null`.
    Null,
}

/// Appends `key` to `out` sanitised as a label name (invalid characters become `_`).
pub(crate) fn push_sanitized(out: &mut String, key: &str) {
    let b = key.as_bytes();
    if b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
        && !(out.is_empty() && b.first().is_some_and(u8::is_ascii_digit))
    {
        out.push_str(key);
        return;
    }
    for (i, c) in key.chars().enumerate() {
        if c.is_ascii_alphanumeric() || c == '_' {
            if i == 0 && out.is_empty() && c.is_ascii_digit() {
                out.push('_');
            }
            out.push(c);
        } else {
            out.push('_');
        }
    }
}

/// Unescapes JSON string content (between the quotes) into `out`.
pub(crate) fn unescape_into(raw: &str, out: &mut String) -> bool {
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('b') => out.push('\u{8}'),
            Some('f') => out.push('\u{c}'),
            Some('/') => out.push('/'),
            Some('\\') => out.push('\\'),
            Some('"') => out.push('"'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                let Ok(mut code) = u32::from_str_radix(&hex, 16) else {
                    return false;
                };
                if (0xD800..0xDC00).contains(&code) {
                    // A surrogate pair: \uD83D\uDE00.
                    let rest = chars.as_str();
                    if let Some(low) = rest
                        .strip_prefix("\\u")
                        .and_then(|r| r.get(..4))
                        .and_then(|h| u32::from_str_radix(h, 16).ok())
                    {
                        code =
                            0x10000 + ((code - 0xD800) << 10) + (low.wrapping_sub(0xDC00) & 0x3FF);
                        for _ in 0..6 {
                            chars.next();
                        }
                    }
                }
                out.push(char::from_u32(code).unwrap_or('\u{FFFD}'));
            }
            _ => return false,
        }
    }
    true
}

struct Scanner<'a> {
    s: &'a str,
    i: usize,
    /// Set when the receiver asked to stop.
    stopped: bool,
}

/// Receives `(label_name, raw_value, kind)`; returns false to stop the scan.
type Emit<'e> = dyn FnMut(&str, &str, Kind) -> bool + 'e;

impl<'a> Scanner<'a> {
    fn bytes(&self) -> &'a [u8] {
        self.s.as_bytes()
    }

    fn ws(&mut self) {
        while let Some(b) = self.bytes().get(self.i) {
            if matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
                self.i += 1;
            } else {
                break;
            }
        }
    }

    fn err(&self, what: &str) -> String {
        format!("{what} at offset {}", self.i)
    }

    /// A string's raw content; the cursor is on the opening quote.
    fn string(&mut self) -> Result<(&'a str, bool), String> {
        let start = self.i + 1;
        let mut j = start;
        let mut escaped = false;
        let b = self.bytes();
        loop {
            match memchr::memchr2(b'"', b'\\', b.get(j..).unwrap_or(&[])) {
                None => return Err(self.err("unterminated string")),
                Some(k) => {
                    j += k;
                    if b.get(j) == Some(&b'\\') {
                        escaped = true;
                        j += 2;
                    } else {
                        break;
                    }
                }
            }
        }
        self.i = j + 1;
        let raw = self
            .s
            .get(start..j)
            .ok_or_else(|| self.err("invalid string"))?;
        Ok((raw, escaped))
    }

    /// Skips any value.
    fn skip(&mut self) -> Result<(), String> {
        self.ws();
        match self.bytes().get(self.i) {
            Some(b'"') => self.string().map(|_| ()),
            Some(b'{') | Some(b'[') => {
                let mut depth = 0usize;
                while let Some(&c) = self.bytes().get(self.i) {
                    match c {
                        b'"' => {
                            self.string()?;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth = depth.saturating_sub(1);
                            if depth == 0 {
                                self.i += 1;
                                return Ok(());
                            }
                        }
                        _ => {}
                    }
                    self.i += 1;
                }
                Err(self.err("unterminated object or array"))
            }
            Some(_) => self.literal().map(|_| ()),
            None => Err(self.err("unexpected end of input")),
        }
    }

    fn literal(&mut self) -> Result<&'a str, String> {
        let start = self.i;
        while let Some(b) = self.bytes().get(self.i) {
            if matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                break;
            }
            self.i += 1;
        }
        let lit = self.s.get(start..self.i).unwrap_or("");
        let valid = matches!(lit, "true" | "false" | "null")
            || (!lit.is_empty() && lit.parse::<f64>().is_ok());
        if !valid {
            self.i = start;
            return Err(self.err("invalid value"));
        }
        Ok(lit)
    }

    /// An object; the cursor is on `{`. Emits flattened fields under `prefix`.
    fn object(&mut self, prefix: &mut String, emit: &mut Emit<'_>) -> Result<(), String> {
        self.i += 1;
        self.ws();
        if self.bytes().get(self.i) == Some(&b'}') {
            self.i += 1;
            return Ok(());
        }
        loop {
            self.ws();
            if self.bytes().get(self.i) != Some(&b'"') {
                return Err(self.err("expected object key"));
            }
            let (key, escaped) = self.string()?;
            self.ws();
            if self.bytes().get(self.i) != Some(&b':') {
                return Err(self.err("expected ':'"));
            }
            self.i += 1;
            self.ws();
            let base = prefix.len();
            if base > 0 {
                prefix.push('_');
            }
            if escaped {
                let mut k = String::new();
                unescape_into(key, &mut k);
                push_sanitized(prefix, &k);
            } else {
                push_sanitized(prefix, key);
            }
            match self.bytes().get(self.i) {
                // An empty key names no label.
                Some(_) if prefix.is_empty() => self.skip()?,
                Some(b'{') => {
                    self.object(prefix, emit)?;
                    if self.stopped {
                        return Ok(());
                    }
                }
                Some(b'[') => self.skip()?,
                Some(b'"') => {
                    let (v, escaped) = self.string()?;
                    if !emit(prefix, v, Kind::Str { escaped }) {
                        self.stopped = true;
                        return Ok(());
                    }
                }
                Some(_) => {
                    let v = self.literal()?;
                    let kind = if v == "null" {
                        Kind::Null
                    } else {
                        Kind::Literal
                    };
                    emit(prefix, v, kind);
                }
                None => return Err(self.err("unexpected end of input")),
            }
            prefix.truncate(base);
            self.ws();
            match self.bytes().get(self.i) {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(());
                }
                _ => return Err(self.err("expected ',' or '}'")),
            }
        }
    }
}

/// Walks the JSON object `line`, calling `emit(label_name, raw_value, kind)` for every
/// scalar field; `prefix` is a reusable buffer. Errors describe the syntax error.
pub(crate) fn scan(line: &str, prefix: &mut String, emit: &mut Emit<'_>) -> Result<(), String> {
    let mut sc = Scanner {
        s: line,
        i: 0,
        stopped: false,
    };
    sc.ws();
    if sc.bytes().get(sc.i) != Some(&b'{') {
        return Err("Value looks like object, but can't find closing '}' symbol".into());
    }
    prefix.clear();
    sc.object(prefix, emit)?;
    if sc.stopped {
        return Ok(());
    }
    sc.ws();
    if sc.i != line.len() {
        return Err(sc.err("unexpected data after the object"));
    }
    Ok(())
}

/// The top-level string fields of a JSON object (for `unpack`), raw and escaped flag.
pub(crate) fn scan_top_strings(line: &str, emit: &mut Emit<'_>) -> Result<(), String> {
    let mut prefix = String::new();
    let mut sc = Scanner {
        s: line,
        i: 0,
        stopped: false,
    };
    sc.ws();
    if sc.bytes().get(sc.i) != Some(&b'{') {
        return Err("Value looks like object, but can't find closing '}' symbol".into());
    }
    sc.i += 1;
    sc.ws();
    if sc.bytes().get(sc.i) == Some(&b'}') {
        return Ok(());
    }
    loop {
        sc.ws();
        if sc.bytes().get(sc.i) != Some(&b'"') {
            return Err(sc.err("expected object key"));
        }
        let (key, _) = sc.string()?;
        sc.ws();
        if sc.bytes().get(sc.i) != Some(&b':') {
            return Err(sc.err("expected ':'"));
        }
        sc.i += 1;
        sc.ws();
        if sc.bytes().get(sc.i) == Some(&b'"') && !key.is_empty() {
            let (v, escaped) = sc.string()?;
            prefix.clear();
            push_sanitized(&mut prefix, key);
            if !emit(&prefix, v, Kind::Str { escaped }) {
                return Ok(());
            }
        } else {
            sc.skip()?;
        }
        sc.ws();
        match sc.bytes().get(sc.i) {
            Some(b',') => sc.i += 1,
            Some(b'}') => return Ok(()),
            _ => return Err(sc.err("expected ',' or '}'")),
        }
    }
}

/// One step of a JSON path.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Seg {
    Key(String),
    Index(usize),
}

/// Parses a JSON path of `json label="path"`: `a.b`, `a[0]`, `a["b.c"]`.
pub(crate) fn parse_path(path: &str) -> Result<Vec<Seg>, String> {
    let mut out = Vec::new();
    let b = path.as_bytes();
    let mut i = 0;
    let mut cur = String::new();
    let bad = || format!("invalid json path {path:?}");
    while i < b.len() {
        match b[i] {
            b'.' => {
                if !cur.is_empty() {
                    out.push(Seg::Key(std::mem::take(&mut cur)));
                }
                i += 1;
            }
            b'[' => {
                if !cur.is_empty() {
                    out.push(Seg::Key(std::mem::take(&mut cur)));
                }
                let end = path.get(i..).and_then(|r| r.find(']')).ok_or_else(bad)? + i;
                let inner = path.get(i + 1..end).ok_or_else(bad)?.trim();
                if let Some(q) = inner.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
                    out.push(Seg::Key(q.to_string()));
                } else {
                    out.push(Seg::Index(inner.parse().map_err(|_| bad())?));
                }
                i = end + 1;
            }
            _ => {
                let c = path
                    .get(i..)
                    .and_then(|r| r.chars().next())
                    .ok_or_else(bad)?;
                cur.push(c);
                i += c.len_utf8();
            }
        }
    }
    if !cur.is_empty() {
        out.push(Seg::Key(cur));
    }
    if out.is_empty() {
        return Err(bad());
    }
    Ok(out)
}

/// The value at `path` in `v`, as a label value.
pub(crate) fn lookup(v: &serde_json::Value, path: &[Seg]) -> Option<String> {
    let mut cur = v;
    for seg in path {
        cur = match seg {
            Seg::Key(k) => cur.get(k.as_str())?,
            Seg::Index(i) => cur.get(*i)?,
        };
    }
    Some(match cur {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    })
}

/// All fields of a JSON object line, flattened and named as the `json` stage names
/// them; `None` when the line is not a JSON object.
pub fn parse_json_fields(line: &str) -> Option<Vec<(String, String)>> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut prefix = String::new();
    scan(line, &mut prefix, &mut |name, raw, kind| {
        let value = match kind {
            Kind::Null => return true,
            Kind::Literal | Kind::Str { escaped: false } => raw.to_string(),
            Kind::Str { escaped: true } => {
                let mut s = String::new();
                unescape_into(raw, &mut s);
                s
            }
        };
        match out.iter_mut().find(|(n, _)| n == name) {
            Some(_) => {}
            None => out.push((name.to_string(), value)),
        }
        true
    })
    .ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flattens_nested_objects_and_skips_arrays() {
        let f = parse_json_fields(
            r#"{"a":1,"b":{"c":"x\"y","d e":true},"arr":[1,2],"n":null,"1st":"v"}"#,
        )
        .unwrap();
        assert_eq!(
            f,
            vec![
                ("a".to_string(), "1".to_string()),
                ("b_c".to_string(), "x\"y".to_string()),
                ("b_d_e".to_string(), "true".to_string()),
                ("_1st".to_string(), "v".to_string()),
            ]
        );
        assert_eq!(parse_json_fields("not json"), None);
        assert_eq!(parse_json_fields(r#"{"a":1"#), None);
    }

    #[test]
    fn paths() {
        let v: serde_json::Value =
            serde_json::from_str(r#"{"a":{"b":[{"c":"x"}]},"k.d":2}"#).unwrap();
        assert_eq!(
            lookup(&v, &parse_path("a.b[0].c").unwrap()),
            Some("x".into())
        );
        assert_eq!(
            lookup(&v, &parse_path(r#"["k.d"]"#).unwrap()),
            Some("2".into())
        );
        assert_eq!(
            lookup(&v, &parse_path("a.b").unwrap()),
            Some(r#"[{"c":"x"}]"#.into())
        );
        assert_eq!(lookup(&v, &parse_path("zz").unwrap()), None);
        assert!(parse_path("a[x]").is_err());
    }
}
