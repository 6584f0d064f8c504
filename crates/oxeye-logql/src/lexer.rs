//! Tokens of LogQL text, each with its byte offset so errors name a line and column.

use crate::LogqlError;

/// What a token is.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    Ident(String),
    Str(String),
    /// A number, its text kept for durations and bytes detection.
    Num(f64),
    /// A duration such as `5m` or `1m30s`, in nanoseconds.
    Dur(i64),
    /// A byte size such as `20kB`.
    Bytes(u64),
    LBrace,
    RBrace,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Eq,
    Neq,
    Re,
    Nre,
    PipeEq,
    PipeRe,
    PipePattern,
    NotPattern,
    Pipe,
    CmpEq,
    Gt,
    Gte,
    Lt,
    Lte,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Eof,
}

/// A token and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub tok: Tok,
    pub pos: usize,
}

/// Line and column (1-based, columns in characters) of byte offset `pos` in `src`.
pub(crate) fn line_col(src: &str, pos: usize) -> (usize, usize) {
    let pos = pos.min(src.len());
    let before = src.get(..pos).unwrap_or(src);
    let line = before.matches('\n').count() + 1;
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before.get(start..).map_or(0, |s| s.chars().count()) + 1;
    (line, col)
}

/// A parse error at byte offset `pos`.
pub(crate) fn error_at(src: &str, pos: usize, message: impl Into<String>) -> LogqlError {
    let (line, col) = line_col(src, pos);
    LogqlError::Parse {
        line,
        col,
        message: message.into(),
    }
}

/// A regex compile error on one line (the regex crate spreads it over several).
pub(crate) fn regex_error(e: &regex::Error) -> String {
    match e {
        regex::Error::Syntax(s) => s.lines().rev().find(|l| !l.trim().is_empty()).map_or_else(
            || s.clone(),
            |l| l.trim().trim_start_matches("error: ").to_string(),
        ),
        other => other.to_string(),
    }
}

/// A matcher's regex error on one line.
pub(crate) fn matcher_error(e: &oxeye_core::MatcherError) -> String {
    let first = e.to_string();
    let head = first
        .split(": regex parse error")
        .next()
        .unwrap_or(&first)
        .to_string();
    match std::error::Error::source(e).and_then(|s| s.downcast_ref::<regex::Error>()) {
        Some(re) => format!("{head}: {}", regex_error(re)),
        None => first,
    }
}

/// Splits `src` into tokens.
pub(crate) fn lex(src: &str) -> Result<Vec<Token>, LogqlError> {
    let bytes = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c == b'#' {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        let start = i;
        let next = bytes.get(i + 1).copied();
        let (tok, len) = match c {
            b'{' => (Tok::LBrace, 1),
            b'}' => (Tok::RBrace, 1),
            b'(' => (Tok::LParen, 1),
            b')' => (Tok::RParen, 1),
            b'[' => (Tok::LBracket, 1),
            b']' => (Tok::RBracket, 1),
            b',' => (Tok::Comma, 1),
            b'+' => (Tok::Add, 1),
            b'-' => (Tok::Sub, 1),
            b'*' => (Tok::Mul, 1),
            b'/' => (Tok::Div, 1),
            b'%' => (Tok::Mod, 1),
            b'^' => (Tok::Pow, 1),
            b'=' => match next {
                Some(b'~') => (Tok::Re, 2),
                Some(b'=') => (Tok::CmpEq, 2),
                _ => (Tok::Eq, 1),
            },
            b'!' => match next {
                Some(b'=') => (Tok::Neq, 2),
                Some(b'~') => (Tok::Nre, 2),
                Some(b'>') => (Tok::NotPattern, 2),
                _ => return Err(error_at(src, i, "unexpected character '!'")),
            },
            b'|' => match next {
                Some(b'=') => (Tok::PipeEq, 2),
                Some(b'~') => (Tok::PipeRe, 2),
                Some(b'>') => (Tok::PipePattern, 2),
                _ => (Tok::Pipe, 1),
            },
            b'>' => match next {
                Some(b'=') => (Tok::Gte, 2),
                _ => (Tok::Gt, 1),
            },
            b'<' => match next {
                Some(b'=') => (Tok::Lte, 2),
                _ => (Tok::Lt, 1),
            },
            b'"' => {
                let (s, len) = lex_quoted(src, i)?;
                (Tok::Str(s), len)
            }
            b'`' => {
                let rest = src.get(i + 1..).unwrap_or("");
                let Some(end) = rest.find('`') else {
                    return Err(error_at(src, i, "unterminated raw string"));
                };
                (Tok::Str(rest[..end].to_string()), end + 2)
            }
            b'0'..=b'9' | b'.' => lex_number(src, i)?,
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let mut j = i;
                while j < bytes.len() && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_') {
                    j += 1;
                }
                (Tok::Ident(src[i..j].to_string()), j - i)
            }
            _ => {
                let ch = src.get(i..).and_then(|s| s.chars().next()).unwrap_or('?');
                return Err(error_at(src, i, format!("unexpected character '{ch}'")));
            }
        };
        out.push(Token { tok, pos: start });
        i += len;
    }
    out.push(Token {
        tok: Tok::Eof,
        pos: src.len(),
    });
    Ok(out)
}

/// A double-quoted string with Go escapes starting at `start`; returns it and its length.
fn lex_quoted(src: &str, start: usize) -> Result<(String, usize), LogqlError> {
    let mut out = String::new();
    let body = src.get(start + 1..).unwrap_or("");
    let mut chars = body.char_indices();
    while let Some((off, c)) = chars.next() {
        match c {
            '"' => return Ok((out, off + 2)),
            '\\' => {
                let Some((eoff, e)) = chars.next() else { break };
                match e {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    'a' => out.push('\u{7}'),
                    'b' => out.push('\u{8}'),
                    'f' => out.push('\u{c}'),
                    'v' => out.push('\u{b}'),
                    '\\' => out.push('\\'),
                    '"' => out.push('"'),
                    '\'' => out.push('\''),
                    'x' | 'u' | 'U' => {
                        let n = match e {
                            'x' => 2,
                            'u' => 4,
                            _ => 8,
                        };
                        let hex: String = chars.by_ref().take(n).map(|(_, c)| c).collect();
                        let code = u32::from_str_radix(&hex, 16)
                            .ok()
                            .filter(|_| hex.len() == n);
                        match code.and_then(char::from_u32) {
                            Some(ch) => out.push(ch),
                            None => {
                                return Err(error_at(
                                    src,
                                    start + 1 + eoff - 1,
                                    "invalid escape sequence in string",
                                ));
                            }
                        }
                    }
                    _ => {
                        return Err(error_at(
                            src,
                            start + 1 + eoff - 1,
                            format!("invalid escape sequence '\\{e}' in string"),
                        ));
                    }
                }
            }
            '\n' => return Err(error_at(src, start, "newline in string")),
            c => out.push(c),
        }
    }
    Err(error_at(src, start, "unterminated string"))
}

/// A number, duration or byte size at `start`.
fn lex_number(src: &str, start: usize) -> Result<(Tok, usize), LogqlError> {
    let bytes = src.as_bytes();
    let mut j = start;
    // Hex literal.
    if bytes.get(j) == Some(&b'0') && matches!(bytes.get(j + 1), Some(b'x' | b'X')) {
        let mut k = j + 2;
        while k < bytes.len() && bytes[k].is_ascii_hexdigit() {
            k += 1;
        }
        let v = i64::from_str_radix(&src[j + 2..k], 16)
            .map_err(|_| error_at(src, start, "invalid hex number"))?;
        return Ok((Tok::Num(v as f64), k - start));
    }
    while j < bytes.len() && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'.') {
        // Exponent sign: 1e-3.
        j += 1;
        if j < bytes.len()
            && matches!(bytes[j], b'-' | b'+')
            && matches!(bytes[j - 1], b'e' | b'E')
            && src[start..j - 1]
                .bytes()
                .all(|b| b.is_ascii_digit() || b == b'.')
        {
            j += 1;
        }
    }
    let text = &src[start..j];
    if let Ok(v) = text.parse::<f64>()
        && !text.contains(['i', 'I', 'n', 'N'])
    {
        return Ok((Tok::Num(v), j - start));
    }
    if let Some(d) = crate::units::parse_duration(text) {
        return Ok((Tok::Dur(d), j - start));
    }
    if let Some(b) = crate::units::parse_bytes(text) {
        return Ok((Tok::Bytes(b), j - start));
    }
    Err(error_at(src, start, format!("invalid number {text:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexes_operators_and_literals() {
        let t: Vec<Tok> = lex(r#"{a=~"x\"y"} |= `raw` |~ "r" != "n" 5m 20kB 1.5 >= !>"#)
            .unwrap()
            .into_iter()
            .map(|t| t.tok)
            .collect();
        assert_eq!(
            t,
            vec![
                Tok::LBrace,
                Tok::Ident("a".into()),
                Tok::Re,
                Tok::Str("x\"y".into()),
                Tok::RBrace,
                Tok::PipeEq,
                Tok::Str("raw".into()),
                Tok::PipeRe,
                Tok::Str("r".into()),
                Tok::Neq,
                Tok::Str("n".into()),
                Tok::Dur(300_000_000_000),
                Tok::Bytes(20_000),
                Tok::Num(1.5),
                Tok::Gte,
                Tok::NotPattern,
                Tok::Eof
            ]
        );
    }

    #[test]
    fn positions_are_line_and_column() {
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
        let e = lex("{a=\"b\"} ?").unwrap_err();
        assert_eq!(
            e.to_string(),
            "parse error at line 1, col 9: unexpected character '?'"
        );
    }
}
