//! The TraceQL lexer: query text to tokens with byte offsets.
//!
//! Operators that TraceQL overloads (`>` is both "greater than" and "child of", `!~` both
//! "does not match" and "not sibling of") come out as one token each; the parser decides
//! by context. Attribute references (`span.x`, `resource.x`, `.x`, `span."a b"`) are single
//! tokens: an unquoted attribute name runs until whitespace or one of
//! `{ } ( ) = ~ ! < > & | ^ , " + * %`, so names may contain `.`, `-`, `/` and `:`.

use crate::error::TraceqlError;

/// Where an attribute is looked up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttrScopeKind {
    /// `span.x`: the span's attributes.
    Span,
    /// `resource.x`: the resource's attributes.
    Resource,
    /// `.x`: the span's, then the resource's.
    Unscoped,
    /// `event.x`: any of the span's events.
    Event,
    /// `link.x`: any of the span's links.
    Link,
    /// `instrumentation.x`: the instrumentation scope's attributes.
    Instrumentation,
}

impl AttrScopeKind {
    /// The prefix as written in a query.
    pub fn prefix(self) -> &'static str {
        match self {
            AttrScopeKind::Span => "span.",
            AttrScopeKind::Resource => "resource.",
            AttrScopeKind::Unscoped => ".",
            AttrScopeKind::Event => "event.",
            AttrScopeKind::Link => "link.",
            AttrScopeKind::Instrumentation => "instrumentation.",
        }
    }

    fn from_word(w: &str) -> Option<Self> {
        Some(match w {
            "span" => AttrScopeKind::Span,
            "resource" => AttrScopeKind::Resource,
            "event" => AttrScopeKind::Event,
            "link" => AttrScopeKind::Link,
            "instrumentation" => AttrScopeKind::Instrumentation,
            _ => return None,
        })
    }
}

/// A token kind with its payload.
#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    LBrace,
    RBrace,
    LParen,
    RParen,
    Comma,
    Pipe,
    Eq,
    Neq,
    Gt,
    Gte,
    Lt,
    Lte,
    Re,
    /// `!~`: regex non-match or not-sibling.
    BangTilde,
    And,
    Or,
    Not,
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    Caret,
    /// `>>`
    Desc,
    /// `<<`
    Anc,
    /// `~`
    Tilde,
    /// `!>`
    NotChild,
    /// `!>>`
    NotDesc,
    /// `!<`
    NotParent,
    /// `!<<`
    NotAnc,
    /// `&>`
    UnionChild,
    /// `&>>`
    UnionDesc,
    /// `&<`
    UnionParent,
    /// `&<<`
    UnionAnc,
    /// `&~`
    UnionSibling,
    Str(String),
    Int(i64),
    Float(f64),
    /// A duration literal in nanoseconds.
    Duration(i64),
    /// A bare or colon-scoped word: `name`, `count`, `trace:duration`.
    Ident(String),
    /// An attribute reference.
    Attr(AttrScopeKind, String),
    Eof,
}

impl Tok {
    /// How the token reads in an error message.
    pub fn describe(&self) -> String {
        let s = match self {
            Tok::LBrace => "{",
            Tok::RBrace => "}",
            Tok::LParen => "(",
            Tok::RParen => ")",
            Tok::Comma => ",",
            Tok::Pipe => "|",
            Tok::Eq => "=",
            Tok::Neq => "!=",
            Tok::Gt => ">",
            Tok::Gte => ">=",
            Tok::Lt => "<",
            Tok::Lte => "<=",
            Tok::Re => "=~",
            Tok::BangTilde => "!~",
            Tok::And => "&&",
            Tok::Or => "||",
            Tok::Not => "!",
            Tok::Plus => "+",
            Tok::Minus => "-",
            Tok::Star => "*",
            Tok::Slash => "/",
            Tok::Percent => "%",
            Tok::Caret => "^",
            Tok::Desc => ">>",
            Tok::Anc => "<<",
            Tok::Tilde => "~",
            Tok::NotChild => "!>",
            Tok::NotDesc => "!>>",
            Tok::NotParent => "!<",
            Tok::NotAnc => "!<<",
            Tok::UnionChild => "&>",
            Tok::UnionDesc => "&>>",
            Tok::UnionParent => "&<",
            Tok::UnionAnc => "&<<",
            Tok::UnionSibling => "&~",
            Tok::Str(s) => return format!("string {s:?}"),
            Tok::Int(i) => return format!("'{i}'"),
            Tok::Float(f) => return format!("'{f}'"),
            Tok::Duration(d) => return format!("duration '{d}ns'"),
            Tok::Ident(w) => return format!("'{w}'"),
            Tok::Attr(scope, name) => return format!("'{}{}'", scope.prefix(), name),
            Tok::Eof => return "end of query".to_string(),
        };
        format!("'{s}'")
    }
}

/// A token and the byte offset where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub tok: Tok,
    pub pos: usize,
}

/// Splits `src` into tokens, ending with [`Tok::Eof`].
pub fn lex(src: &str) -> Result<Vec<Token>, TraceqlError> {
    let mut lx = Lexer { src, pos: 0 };
    let mut out = Vec::new();
    loop {
        lx.skip_space();
        let pos = lx.pos;
        let Some(c) = lx.peek() else {
            out.push(Token { tok: Tok::Eof, pos });
            return Ok(out);
        };
        let tok = lx.next_token(c)?;
        out.push(Token { tok, pos });
    }
}

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
}

fn ends_attribute(c: char) -> bool {
    c.is_whitespace() || "{}()=~!<>&|^,\"+*%".contains(c)
}

fn is_word_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

impl Lexer<'_> {
    fn peek(&self) -> Option<char> {
        self.src.get(self.pos..).and_then(|s| s.chars().next())
    }

    fn peek_at(&self, n: usize) -> Option<char> {
        self.src.get(self.pos..).and_then(|s| s.chars().nth(n))
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn err(&self, pos: usize, msg: impl Into<String>) -> TraceqlError {
        TraceqlError::parse_at(self.src, pos, msg)
    }

    fn skip_space(&mut self) {
        while let Some(c) = self.peek() {
            if c.is_whitespace() {
                self.bump();
            } else {
                break;
            }
        }
    }

    fn next_token(&mut self, c: char) -> Result<Tok, TraceqlError> {
        let start = self.pos;
        if c.is_ascii_digit() {
            return self.number();
        }
        if is_word_start(c) {
            return self.word();
        }
        self.bump();
        let tok = match c {
            '{' => Tok::LBrace,
            '}' => Tok::RBrace,
            '(' => Tok::LParen,
            ')' => Tok::RParen,
            ',' => Tok::Comma,
            '+' => Tok::Plus,
            '-' => Tok::Minus,
            '*' => Tok::Star,
            '/' => Tok::Slash,
            '%' => Tok::Percent,
            '^' => Tok::Caret,
            '~' => Tok::Tilde,
            '"' => return self.quoted(start, '"').map(Tok::Str),
            '`' => return self.raw_string(start).map(Tok::Str),
            '.' => return self.attribute(AttrScopeKind::Unscoped, start),
            '|' => {
                if self.eat('|') {
                    Tok::Or
                } else {
                    Tok::Pipe
                }
            }
            '=' => {
                if self.eat('~') {
                    Tok::Re
                } else {
                    Tok::Eq
                }
            }
            '!' => {
                if self.eat('=') {
                    Tok::Neq
                } else if self.eat('~') {
                    Tok::BangTilde
                } else if self.eat('>') {
                    if self.eat('>') {
                        Tok::NotDesc
                    } else {
                        Tok::NotChild
                    }
                } else if self.eat('<') {
                    if self.eat('<') {
                        Tok::NotAnc
                    } else {
                        Tok::NotParent
                    }
                } else {
                    Tok::Not
                }
            }
            '>' => {
                if self.eat('=') {
                    Tok::Gte
                } else if self.eat('>') {
                    Tok::Desc
                } else {
                    Tok::Gt
                }
            }
            '<' => {
                if self.eat('=') {
                    Tok::Lte
                } else if self.eat('<') {
                    Tok::Anc
                } else {
                    Tok::Lt
                }
            }
            '&' => {
                if self.eat('&') {
                    Tok::And
                } else if self.eat('>') {
                    if self.eat('>') {
                        Tok::UnionDesc
                    } else {
                        Tok::UnionChild
                    }
                } else if self.eat('<') {
                    if self.eat('<') {
                        Tok::UnionAnc
                    } else {
                        Tok::UnionParent
                    }
                } else if self.eat('~') {
                    Tok::UnionSibling
                } else {
                    return Err(self.err(start, "unexpected '&', did you mean '&&'"));
                }
            }
            other => return Err(self.err(start, format!("unexpected character '{other}'"))),
        };
        Ok(tok)
    }

    /// A word: a keyword, an intrinsic (`trace:duration`) or an attribute scope prefix.
    fn word(&mut self) -> Result<Tok, TraceqlError> {
        let start = self.pos;
        while self.peek().is_some_and(is_word_char) {
            self.bump();
        }
        let word = &self.src[start..self.pos];
        if self.peek() == Some('.') {
            if let Some(scope) = AttrScopeKind::from_word(word) {
                self.bump();
                return self.attribute(scope, start);
            }
        }
        if self.peek() == Some(':') && self.peek_at(1).is_some_and(is_word_start) {
            self.bump();
            let rest = self.pos;
            while self.peek().is_some_and(is_word_char) {
                self.bump();
            }
            return Ok(Tok::Ident(format!("{word}:{}", &self.src[rest..self.pos])));
        }
        Ok(Tok::Ident(word.to_string()))
    }

    /// The attribute name after `span.`, `.`...; quoted names allow any character.
    fn attribute(&mut self, scope: AttrScopeKind, start: usize) -> Result<Tok, TraceqlError> {
        let mut name = String::new();
        loop {
            if self.peek() == Some('"') && (name.is_empty() || name.ends_with('.')) {
                let q = self.pos;
                self.bump();
                let part = self.quoted(q, '"')?;
                if part.is_empty() {
                    return Err(self.err(q, "empty attribute name"));
                }
                name.push_str(&part);
                continue;
            }
            let part_start = self.pos;
            while self.peek().is_some_and(|c| !ends_attribute(c)) {
                self.bump();
            }
            if self.pos == part_start {
                break;
            }
            name.push_str(&self.src[part_start..self.pos]);
        }
        if name.is_empty() {
            return Err(self.err(start, "attribute name missing after '.'"));
        }
        Ok(Tok::Attr(scope, name))
    }

    /// A double-quoted string (the opening quote already consumed) with `\` escapes.
    fn quoted(&mut self, start: usize, quote: char) -> Result<String, TraceqlError> {
        let mut out = String::new();
        loop {
            let Some(c) = self.bump() else {
                return Err(self.err(start, "unterminated string"));
            };
            if c == quote {
                return Ok(out);
            }
            if c != '\\' {
                out.push(c);
                continue;
            }
            let esc_pos = self.pos - 1;
            let Some(e) = self.bump() else {
                return Err(self.err(start, "unterminated string"));
            };
            match e {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                '\\' => out.push('\\'),
                '"' => out.push('"'),
                '\'' => out.push('\''),
                // keep regex escapes such as `\d` or `\.` as written
                other if other.is_ascii_punctuation() || other.is_ascii_alphanumeric() => {
                    out.push('\\');
                    out.push(other);
                }
                other => {
                    return Err(self.err(esc_pos, format!("invalid escape '\\{other}' in string")));
                }
            }
        }
    }

    fn raw_string(&mut self, start: usize) -> Result<String, TraceqlError> {
        let body_start = self.pos;
        loop {
            match self.bump() {
                None => return Err(self.err(start, "unterminated string")),
                Some('`') => return Ok(self.src[body_start..self.pos - 1].to_string()),
                Some(_) => {}
            }
        }
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.bump();
        }
    }

    /// An integer, a float or a duration (`1.5s`, `300us`, `1h30m`).
    fn number(&mut self) -> Result<Tok, TraceqlError> {
        let start = self.pos;
        let mut total_ns: f64 = 0.0;
        let mut is_duration = false;
        loop {
            let part_start = self.pos;
            self.digits();
            let mut is_float = false;
            if self.peek() == Some('.') && self.peek_at(1).is_some_and(|c| c.is_ascii_digit()) {
                self.bump();
                self.digits();
                is_float = true;
            }
            if !is_duration
                && matches!(self.peek(), Some('e' | 'E'))
                && (self.peek_at(1).is_some_and(|c| c.is_ascii_digit())
                    || (matches!(self.peek_at(1), Some('+' | '-'))
                        && self.peek_at(2).is_some_and(|c| c.is_ascii_digit())))
            {
                self.bump();
                if matches!(self.peek(), Some('+' | '-')) {
                    self.bump();
                }
                self.digits();
                is_float = true;
            }
            let text = &self.src[part_start..self.pos];
            let unit = self.duration_unit();
            match unit {
                Some(mult) => {
                    let v: f64 = text
                        .parse()
                        .map_err(|_| self.err(part_start, format!("invalid number '{text}'")))?;
                    total_ns += v * mult;
                    is_duration = true;
                    if !self.peek().is_some_and(|c| c.is_ascii_digit()) {
                        break;
                    }
                }
                None if is_duration => {
                    return Err(self.err(part_start, "duration component missing its unit"));
                }
                None => {
                    if self.peek().is_some_and(is_word_char) {
                        return Err(self.err(start, "invalid number or duration unit"));
                    }
                    if is_float {
                        let v: f64 = text
                            .parse()
                            .map_err(|_| self.err(start, format!("invalid number '{text}'")))?;
                        return Ok(Tok::Float(v));
                    }
                    let v: i64 = text
                        .parse()
                        .map_err(|_| self.err(start, format!("integer '{text}' out of range")))?;
                    return Ok(Tok::Int(v));
                }
            }
        }
        if self.peek().is_some_and(is_word_char) {
            return Err(self.err(start, "invalid duration unit"));
        }
        if !total_ns.is_finite() || total_ns > i64::MAX as f64 {
            return Err(self.err(start, "duration out of range"));
        }
        Ok(Tok::Duration(total_ns.round() as i64))
    }

    /// Consumes a duration unit if one follows, returning nanoseconds per unit.
    fn duration_unit(&mut self) -> Option<f64> {
        const UNITS: [(&str, f64); 8] = [
            ("ns", 1.0),
            ("us", 1e3),
            ("µs", 1e3),
            ("μs", 1e3),
            ("ms", 1e6),
            ("s", 1e9),
            ("m", 60e9),
            ("h", 3600e9),
        ];
        let rest = self.src.get(self.pos..)?;
        for (unit, mult) in UNITS {
            if let Some(after) = rest.strip_prefix(unit) {
                // `m` must not swallow the `m` of `ms`, nor a word such as `min`
                if after
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic())
                {
                    continue;
                }
                self.pos += unit.len();
                return Some(mult);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(src: &str) -> Vec<Tok> {
        lex(src).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn lexes_attributes_and_intrinsics() {
        assert_eq!(
            toks(r#"{ span.http.status_code=200 && .foo-bar != resource."a b" }"#),
            vec![
                Tok::LBrace,
                Tok::Attr(AttrScopeKind::Span, "http.status_code".into()),
                Tok::Eq,
                Tok::Int(200),
                Tok::And,
                Tok::Attr(AttrScopeKind::Unscoped, "foo-bar".into()),
                Tok::Neq,
                Tok::Attr(AttrScopeKind::Resource, "a b".into()),
                Tok::RBrace,
                Tok::Eof
            ]
        );
        assert_eq!(
            toks(r#"span.attribute."with space".x"#),
            vec![
                Tok::Attr(AttrScopeKind::Span, "attribute.with space.x".into()),
                Tok::Eof
            ]
        );
        assert_eq!(
            toks("trace:duration span:parentID"),
            vec![
                Tok::Ident("trace:duration".into()),
                Tok::Ident("span:parentID".into()),
                Tok::Eof
            ]
        );
    }

    #[test]
    fn lexes_durations_and_numbers() {
        assert_eq!(
            toks("1ms 1.5s 300us 2m 1h 10ns 3µs 1h30m 2.5 7"),
            vec![
                Tok::Duration(1_000_000),
                Tok::Duration(1_500_000_000),
                Tok::Duration(300_000),
                Tok::Duration(120_000_000_000),
                Tok::Duration(3_600_000_000_000),
                Tok::Duration(10),
                Tok::Duration(3_000),
                Tok::Duration(5_400_000_000_000),
                Tok::Float(2.5),
                Tok::Int(7),
                Tok::Eof
            ]
        );
        assert!(lex("5min").is_err());
        assert!(lex("99999999999999999999").is_err());
    }

    #[test]
    fn lexes_structural_operators() {
        assert_eq!(
            toks("> >> < << ~ !> !>> !< !<< !~ &> &>> &< &<< &~ >= <= =~"),
            vec![
                Tok::Gt,
                Tok::Desc,
                Tok::Lt,
                Tok::Anc,
                Tok::Tilde,
                Tok::NotChild,
                Tok::NotDesc,
                Tok::NotParent,
                Tok::NotAnc,
                Tok::BangTilde,
                Tok::UnionChild,
                Tok::UnionDesc,
                Tok::UnionParent,
                Tok::UnionAnc,
                Tok::UnionSibling,
                Tok::Gte,
                Tok::Lte,
                Tok::Re,
                Tok::Eof
            ]
        );
    }

    #[test]
    fn strings_keep_regex_escapes() {
        assert_eq!(
            toks(r#""a\"b\d" `x\y`"#),
            vec![
                Tok::Str("a\"b\\d".into()),
                Tok::Str("x\\y".into()),
                Tok::Eof
            ]
        );
        let e = lex("{ name = \"abc }").unwrap_err();
        assert_eq!(
            e.to_string(),
            "parse error at line 1, col 10: unterminated string"
        );
    }
}
