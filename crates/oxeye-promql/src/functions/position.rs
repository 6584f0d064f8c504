//! Where an expression starts in the query text, for the `(line:col)` suffix Prometheus
//! puts on annotations.
//!
//! The parser's AST carries no source positions, so the query is tokenized again and the
//! AST is walked alongside the tokens: every node consumes the tokens it was parsed from,
//! and its first token's offset is its start. Nodes are identified by address, which is
//! stable while the evaluator borrows the AST. When the walk cannot follow the text (an
//! unexpected token), the positions found so far are kept and the rest are unknown.

use std::collections::HashMap;

use promql_parser::parser::{Expr, LabelModifier};

/// One token: its text's byte range in the query.
#[derive(Debug, Clone, Copy)]
struct Tok {
    start: usize,
    end: usize,
}

/// Splits a query into tokens: punctuation, operators, quoted strings, and runs of word
/// characters (names, keywords, numbers, durations). Comments and spaces are dropped.
fn tokenize(q: &str) -> Vec<Tok> {
    let b = q.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        let start = i;
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => {
                i += 1;
                continue;
            }
            b'#' => {
                while b.get(i).is_some_and(|&x| x != b'\n') {
                    i += 1;
                }
                continue;
            }
            b'"' | b'\'' | b'`' => {
                i += 1;
                while let Some(&x) = b.get(i) {
                    i += 1;
                    if x == b'\\' && c != b'`' {
                        i += 1;
                    } else if x == c {
                        break;
                    }
                }
            }
            b'=' | b'!' | b'<' | b'>' => {
                i += 1;
                if matches!(b.get(i), Some(b'=') | Some(b'~')) {
                    i += 1;
                }
            }
            _ if is_word(c) => {
                let number = c.is_ascii_digit() || c == b'.';
                while let Some(&x) = b.get(i) {
                    // A number's exponent sign (`1e-3`) belongs to the number.
                    let exponent_sign = number
                        && matches!(x, b'+' | b'-')
                        && matches!(b.get(i.wrapping_sub(1)), Some(b'e') | Some(b'E'))
                        && !q.get(start..i).is_some_and(|w| w.starts_with("0x"));
                    if !is_word(x) && !exponent_sign {
                        break;
                    }
                    i += 1;
                }
            }
            _ => i += 1,
        }
        out.push(Tok {
            start,
            end: i.min(q.len()),
        });
    }
    out
}

fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b':') || c >= 0x80
}

/// Node start offsets of one query.
pub(crate) struct Positions<'q> {
    q: &'q str,
    toks: Vec<Tok>,
    starts: HashMap<usize, usize>,
}

/// The address a node is known by.
pub(crate) fn key<T>(node: &T) -> usize {
    node as *const T as usize
}

impl<'q> Positions<'q> {
    /// Walks `root`, parsed from `q`.
    pub(crate) fn new(q: &'q str, root: &Expr) -> Self {
        let mut p = Positions {
            q,
            toks: tokenize(q),
            starts: HashMap::new(),
        };
        p.walk(root, 0);
        p
    }

    /// `line:col` of the node with address `key`, as Prometheus prints positions.
    pub(crate) fn of(&self, key: usize) -> Option<String> {
        let pos = *self.starts.get(&key)?;
        let before = self.q.get(..pos)?;
        let line = before.matches('\n').count() + 1;
        let col = pos - before.rfind('\n').map_or(0, |i| i + 1) + 1;
        Some(format!("{line}:{col}"))
    }

    /// The source text of the token the node at address `key` starts with.
    pub(crate) fn first_token(&self, key: usize) -> Option<&'q str> {
        let start = *self.starts.get(&key)?;
        let t = self.toks.iter().find(|t| t.start == start)?;
        self.q.get(t.start..t.end)
    }

    fn text(&self, i: usize) -> &str {
        self.toks
            .get(i)
            .and_then(|t| self.q.get(t.start..t.end))
            .unwrap_or("")
    }

    fn expect(&self, i: usize, s: &str) -> Option<usize> {
        (self.text(i) == s).then_some(i + 1)
    }

    /// Index just past the group opened at `i` (`(`, `{` or `[`).
    fn skip_group(&self, i: usize) -> Option<usize> {
        let mut depth = 0usize;
        let mut j = i;
        loop {
            match self.text(j) {
                "(" | "{" | "[" => depth += 1,
                ")" | "}" | "]" => {
                    depth = depth.checked_sub(1)?;
                    if depth == 0 {
                        return Some(j + 1);
                    }
                }
                "" => return None,
                _ => {}
            }
            j += 1;
        }
    }

    /// Skips `offset <d>` and `@ <t>` modifiers.
    fn skip_modifiers(&self, mut i: usize) -> usize {
        loop {
            match self.text(i) {
                "offset" => {
                    i += 1;
                    if matches!(self.text(i), "-" | "+") {
                        i += 1;
                    }
                    i += 1;
                }
                "@" => {
                    i += 1;
                    if matches!(self.text(i), "-" | "+") {
                        i += 1;
                    }
                    i += 1;
                    if self.text(i) == "(" {
                        i = self.skip_group(i).unwrap_or(i);
                    }
                }
                _ => return i,
            }
        }
    }

    fn record(&mut self, key: usize, i: usize) {
        if let Some(t) = self.toks.get(i) {
            self.starts.insert(key, t.start);
        }
    }

    /// Consumes the tokens of `e` starting at token `i`; the index after them.
    fn walk(&mut self, e: &Expr, i: usize) -> Option<usize> {
        self.record(key(e), i);
        match e {
            Expr::NumberLiteral(_) => {
                let i = if matches!(self.text(i), "-" | "+") {
                    i + 1
                } else {
                    i
                };
                Some(i + 1)
            }
            Expr::StringLiteral(_) => Some(i + 1),
            Expr::Paren(p) => {
                let j = self.expect(i, "(")?;
                let j = self.walk(&p.expr, j)?;
                self.expect(j, ")")
            }
            Expr::Unary(u) => {
                if !matches!(self.text(i), "-" | "+") {
                    return None;
                }
                self.walk(&u.expr, i + 1)
            }
            Expr::VectorSelector(_) => {
                let j = self.selector(i)?;
                Some(self.skip_modifiers(j))
            }
            Expr::MatrixSelector(_) => {
                let j = self.selector(i)?;
                if self.text(j) != "[" {
                    return None;
                }
                let j = self.skip_group(j)?;
                Some(self.skip_modifiers(j))
            }
            Expr::Subquery(sq) => {
                let j = self.walk(&sq.expr, i)?;
                if self.text(j) != "[" {
                    return None;
                }
                let j = self.skip_group(j)?;
                Some(self.skip_modifiers(j))
            }
            Expr::Call(c) => {
                self.record(key(c), i);
                let mut j = self.expect(i + 1, "(")?;
                for (n, a) in c.args.args.iter().enumerate() {
                    if n > 0 {
                        j = self.expect(j, ",")?;
                    }
                    j = self.walk(a, j)?;
                }
                self.expect(j, ")")
            }
            Expr::Aggregate(a) => {
                let mut j = i + 1;
                let grouping = |s: &str| matches!(s, "by" | "without");
                if a.modifier.is_some() && grouping(self.text(j)) {
                    j = self.skip_group(j + 1)?;
                }
                j = self.expect(j, "(")?;
                if let Some(p) = &a.param {
                    j = self.walk(p, j)?;
                    j = self.expect(j, ",")?;
                }
                j = self.walk(&a.expr, j)?;
                j = self.expect(j, ")")?;
                if matches!(
                    a.modifier,
                    Some(LabelModifier::Include(_)) | Some(LabelModifier::Exclude(_))
                ) && grouping(self.text(j))
                {
                    j = self.skip_group(j + 1)?;
                }
                Some(j)
            }
            Expr::Binary(b) => {
                let mut j = self.walk(&b.lhs, i)? + 1;
                if self.text(j) == "bool" {
                    j += 1;
                }
                if matches!(self.text(j), "on" | "ignoring") {
                    j = self.skip_group(j + 1)?;
                }
                if matches!(self.text(j), "group_left" | "group_right") {
                    j += 1;
                    if self.text(j) == "(" {
                        j = self.skip_group(j)?;
                    }
                }
                self.walk(&b.rhs, j)
            }
            Expr::Extension(_) => None,
        }
    }

    /// Skips a selector's metric name and `{...}` matchers.
    fn selector(&self, i: usize) -> Option<usize> {
        let mut j = i;
        if self.text(j) != "{" {
            j += 1;
        }
        if self.text(j) == "{" {
            j = self.skip_group(j)?;
        }
        Some(j)
    }
}

/// Whether a quoted string literal's source text decodes to valid UTF-8 under Go's
/// escape rules, where `\xNN` and octal escapes are raw bytes (so `"\xff"` is not text).
pub(crate) fn literal_is_utf8(src: &str) -> bool {
    let b = src.as_bytes();
    let (Some(&quote), Some(inner)) = (b.first(), b.get(1..b.len().saturating_sub(1))) else {
        return true;
    };
    if quote == b'`' {
        return true;
    }
    let mut out: Vec<u8> = Vec::with_capacity(inner.len());
    let mut i = 0;
    while let Some(&c) = inner.get(i) {
        i += 1;
        if c != b'\\' {
            out.push(c);
            continue;
        }
        let Some(&e) = inner.get(i) else {
            return true;
        };
        i += 1;
        let hex = |s: Option<&[u8]>| {
            s.and_then(|s| std::str::from_utf8(s).ok())
                .and_then(|s| u32::from_str_radix(s, 16).ok())
        };
        match e {
            b'x' => {
                let Some(v) = hex(inner.get(i..i + 2)) else {
                    return true;
                };
                out.push(v as u8);
                i += 2;
            }
            b'0'..=b'7' => {
                let oct = inner
                    .get(i - 1..i + 2)
                    .and_then(|s| std::str::from_utf8(s).ok())
                    .and_then(|s| u32::from_str_radix(s, 8).ok());
                let Some(v) = oct else {
                    return true;
                };
                out.push(v as u8);
                i += 2;
            }
            b'u' | b'U' => {
                let n = if e == b'u' { 4 } else { 8 };
                let Some(ch) = hex(inner.get(i..i + n)).and_then(char::from_u32) else {
                    return true;
                };
                let mut buf = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                i += n;
            }
            other => out.push(other),
        }
    }
    std::str::from_utf8(&out).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use promql_parser::parser::parse;

    fn arg_pos(q: &str, path: &[usize]) -> Option<String> {
        let root = parse(q).unwrap();
        let p = Positions::new(q, &root);
        let mut e = &root;
        for &i in path {
            e = match e {
                Expr::Call(c) => c.args.args.get(i)?,
                Expr::Aggregate(a) => &a.expr,
                Expr::Binary(b) => {
                    if i == 0 {
                        &b.lhs
                    } else {
                        &b.rhs
                    }
                }
                Expr::Paren(pe) => &pe.expr,
                _ => return None,
            };
        }
        p.of(key(e))
    }

    #[test]
    fn raw_byte_escapes_can_make_invalid_text() {
        assert!(!literal_is_utf8(r#""\xff""#));
        assert!(literal_is_utf8(r#""\xc3\xbf""#));
        assert!(literal_is_utf8(r#""\u00ff""#));
        assert!(!literal_is_utf8(r#""\377""#));
        assert!(literal_is_utf8(r#""dst""#));
        assert!(literal_is_utf8("`\\xff`"));
        let q = r#"label_replace(x, "\xff", "", "src", "(.*)")"#;
        let root = parse(q).unwrap();
        let p = Positions::new(q, &root);
        let Expr::Call(c) = &root else { panic!() };
        assert_eq!(p.first_token(key(&*c.args.args[1])), Some(r#""\xff""#));
    }

    #[test]
    fn positions_as_prometheus_prints_them() {
        assert_eq!(
            arg_pos("histogram_quantile(0.8, series)", &[1]).as_deref(),
            Some("1:25")
        );
        assert_eq!(
            arg_pos("histogram_fraction(-Inf, 1, series)", &[2]).as_deref(),
            Some("1:29")
        );
        assert_eq!(arg_pos("sum(sort(series))", &[0]).as_deref(), Some("1:5"));
        assert_eq!(
            arg_pos(
                r#"rate(foo{a="x,)"}[5m] offset 1m) + on(a) group_left(b) sort(bar)"#,
                &[1]
            )
            .as_deref(),
            Some("1:56")
        );
        assert_eq!(
            arg_pos("sum by (a) (rate(x[5m]))\n  / scalar(1e-3 * y)", &[1, 0]).as_deref(),
            Some("2:12")
        );
        assert_eq!(
            arg_pos("quantile_over_time(0.5, x[5m:1m] @ start())", &[1]).as_deref(),
            Some("1:25")
        );
    }
}
