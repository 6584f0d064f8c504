//! Stream label text, `{app="api", env="prod"}`, as Loki parses it: the label part of a
//! Prometheus series selector. Names follow `[a-zA-Z_][a-zA-Z0-9_]*`; only `=` is allowed
//! (a stream is a label set, not a selector); values are double-quoted, single-quoted or
//! backtick strings with Go's escapes; a trailing comma and whitespace anywhere are fine.
//! A leading metric name (`name{...}`) becomes `__name__`, as Prometheus's metric notation
//! reads.

/// Parses stream label text into `(name, value)` pairs in the order written; the error
/// says what is wrong and at which byte offset.
pub fn parse_stream_labels(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut p = Parser {
        s: text.as_bytes(),
        text,
        pos: 0,
    };
    p.labels()
}

/// Formats pairs as stream label text, `{a="b", c="d"}`, escaping values as Go quotes them.
pub fn format_labels(pairs: &[(String, String)]) -> String {
    let mut out = String::with_capacity(2 + pairs.len() * 16);
    out.push('{');
    for (i, (n, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(n);
        out.push_str("=\"");
        for c in v.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c => out.push(c),
            }
        }
        out.push('"');
    }
    out.push('}');
    out
}

struct Parser<'a> {
    s: &'a [u8],
    text: &'a str,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn err(&self, what: &str) -> String {
        format!("{what} at offset {}", self.pos)
    }

    fn skip_ws(&mut self) {
        while self
            .s
            .get(self.pos)
            .is_some_and(|b| b.is_ascii_whitespace())
        {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn ident(&mut self) -> Option<&'a str> {
        let start = self.pos;
        match self.peek() {
            Some(b) if b.is_ascii_alphabetic() || b == b'_' => self.pos += 1,
            _ => return None,
        }
        while self
            .peek()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
        {
            self.pos += 1;
        }
        self.text.get(start..self.pos)
    }

    fn labels(&mut self) -> Result<Vec<(String, String)>, String> {
        let mut out = Vec::new();
        self.skip_ws();
        if self.peek() != Some(b'{') {
            let Some(name) = self.ident() else {
                return Err(self.err("expected \"{\""));
            };
            out.push(("__name__".to_string(), name.to_string()));
            self.skip_ws();
            if self.peek().is_none() {
                return Ok(out);
            }
            if self.peek() != Some(b'{') {
                return Err(self.err("expected \"{\" after the metric name"));
            }
        }
        self.pos += 1;
        loop {
            self.skip_ws();
            match self.peek() {
                Some(b'}') => {
                    self.pos += 1;
                    break;
                }
                None => return Err(self.err("unexpected end of labels, expected \"}\"")),
                _ => {}
            }
            let start = self.pos;
            let Some(name) = self.ident() else {
                return Err(self.err("expected a label name"));
            };
            if name.contains(':') {
                self.pos = start;
                return Err(self.err(&format!("invalid label name {name:?}")));
            }
            let name = name.to_string();
            self.skip_ws();
            match (self.peek(), self.s.get(self.pos + 1).copied()) {
                (Some(b'='), Some(b'~')) | (Some(b'!'), _) => {
                    return Err(self.err(&format!(
                        "label {name:?} must be matched with \"=\", a stream is a label set"
                    )));
                }
                (Some(b'='), _) => self.pos += 1,
                _ => return Err(self.err(&format!("expected \"=\" after label {name:?}"))),
            }
            self.skip_ws();
            let value = self.string()?;
            out.push((name, value));
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {}
                None => return Err(self.err("unexpected end of labels, expected \"}\"")),
                _ => return Err(self.err("expected \",\" or \"}\"")),
            }
        }
        self.skip_ws();
        if self.pos < self.s.len() {
            return Err(self.err("unexpected text after \"}\""));
        }
        Ok(out)
    }

    fn string(&mut self) -> Result<String, String> {
        let Some(quote) = self.peek().filter(|q| matches!(q, b'"' | b'\'' | b'`')) else {
            return Err(self.err("expected a quoted label value"));
        };
        self.pos += 1;
        let start = self.pos;
        if quote == b'`' {
            let Some(len) = self
                .s
                .get(start..)
                .unwrap_or(&[])
                .iter()
                .position(|&b| b == b'`')
            else {
                return Err(self.err("unterminated raw string"));
            };
            self.pos = start + len + 1;
            return Ok(self.text.get(start..start + len).unwrap_or("").to_string());
        }
        let mut out = String::new();
        let rest = self.text.get(start..).unwrap_or("");
        let mut chars = rest.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                c if c as u32 == u32::from(quote) => {
                    self.pos = start + i + 1;
                    return Ok(out);
                }
                '\n' => {
                    self.pos = start + i;
                    return Err(self.err("newline in label value"));
                }
                '\\' => {
                    let Some((_, e)) = chars.next() else { break };
                    match e {
                        'a' => out.push('\x07'),
                        'b' => out.push('\x08'),
                        'f' => out.push('\x0c'),
                        'n' => out.push('\n'),
                        'r' => out.push('\r'),
                        't' => out.push('\t'),
                        'v' => out.push('\x0b'),
                        '\\' | '"' | '\'' => out.push(e),
                        'x' | 'u' | 'U' => {
                            let digits = match e {
                                'x' => 2,
                                'u' => 4,
                                _ => 8,
                            };
                            let hex: String = chars.by_ref().take(digits).map(|(_, c)| c).collect();
                            let code = (hex.len() == digits)
                                .then(|| u32::from_str_radix(&hex, 16).ok())
                                .flatten();
                            let ch = code.and_then(char::from_u32);
                            match (e, code, ch) {
                                ('x', Some(b), _) if b < 0x80 => out.push(b as u8 as char),
                                ('u' | 'U', _, Some(ch)) => out.push(ch),
                                _ => {
                                    self.pos = start + i;
                                    return Err(self.err(&format!("invalid escape \\{e}{hex}")));
                                }
                            }
                        }
                        '0'..='7' => {
                            let mut v = e.to_digit(8).unwrap_or(0);
                            for _ in 0..2 {
                                match chars.next().and_then(|(_, c)| c.to_digit(8)) {
                                    Some(d) => v = v * 8 + d,
                                    None => {
                                        self.pos = start + i;
                                        return Err(self.err("invalid octal escape"));
                                    }
                                }
                            }
                            match char::from_u32(v).filter(|_| v < 0x80) {
                                Some(ch) => out.push(ch),
                                None => {
                                    self.pos = start + i;
                                    return Err(self.err("invalid octal escape"));
                                }
                            }
                        }
                        other => {
                            self.pos = start + i;
                            return Err(self.err(&format!("unknown escape \\{other}")));
                        }
                    }
                }
                c => out.push(c),
            }
        }
        self.pos = self.s.len();
        Err(self.err("unterminated label value"))
    }
}
