//! A hand-written recursive-descent parser for LogQL.
//!
//! The lexer yields tokens with byte offsets; every error names the line and column of
//! the token that was not expected, phrased as Loki phrases it ("parse error at line 1,
//! col 12: syntax error: unexpected $end, expecting } or ,"). Binary operators follow
//! PromQL's precedence (`or` < `and`/`unless` < comparisons < `+ -` < `* / %` < `^`,
//! the last right-associative). This module parses expressions; [`pipeline`] parses
//! stream selectors, pipelines and log ranges.

mod pipeline;

use oxeye_core::Matcher;

use crate::LogqlError;
use crate::ast::{
    BinModifiers, BinOp, Expr, Grouping, LogExpr, RangeAgg, RangeOp, SampleExpr, VectorOp,
};
use crate::lexer::{Tok, Token, error_at, lex};

/// Parses LogQL text into an expression; errors name the line and column
/// (`parse error at line 1, col 12: syntax error: unexpected $end, expecting } or ,`).
/// `expr.to_string()` is the canonical text, which parses back to the same tree.
pub fn parse(text: &str) -> Result<Expr, LogqlError> {
    let mut p = Parser {
        src: text,
        toks: lex(text)?,
        i: 0,
    };
    let node = p.binary(0)?;
    if p.peek() != &Tok::Eof {
        return Err(p.unexpected(""));
    }
    Ok(match node {
        Node::Log(l) => Expr::Log(l),
        Node::Sample(s) => Expr::Sample(s),
    })
}

/// A parsed operand: log or metric.
enum Node {
    Log(LogExpr),
    Sample(SampleExpr),
}

pub(crate) struct Parser<'a> {
    src: &'a str,
    toks: Vec<Token>,
    i: usize,
}

/// How a token is named in errors.
fn describe(t: &Tok) -> String {
    match t {
        Tok::Ident(_) => "IDENTIFIER".into(),
        Tok::Str(_) => "STRING".into(),
        Tok::Num(_) => "NUMBER".into(),
        Tok::Dur(_) => "DURATION".into(),
        Tok::Bytes(_) => "BYTES".into(),
        Tok::LBrace => "{".into(),
        Tok::RBrace => "}".into(),
        Tok::LParen => "(".into(),
        Tok::RParen => ")".into(),
        Tok::LBracket => "[".into(),
        Tok::RBracket => "]".into(),
        Tok::Comma => ",".into(),
        Tok::Eq => "=".into(),
        Tok::Neq => "!=".into(),
        Tok::Re => "=~".into(),
        Tok::Nre => "!~".into(),
        Tok::PipeEq => "|=".into(),
        Tok::PipeRe => "|~".into(),
        Tok::PipePattern => "|>".into(),
        Tok::NotPattern => "!>".into(),
        Tok::Pipe => "|".into(),
        Tok::CmpEq => "==".into(),
        Tok::Gt => ">".into(),
        Tok::Gte => ">=".into(),
        Tok::Lt => "<".into(),
        Tok::Lte => "<=".into(),
        Tok::Add => "+".into(),
        Tok::Sub => "-".into(),
        Tok::Mul => "*".into(),
        Tok::Div => "/".into(),
        Tok::Mod => "%".into(),
        Tok::Pow => "^".into(),
        Tok::Eof => "$end".into(),
    }
}

impl Parser<'_> {
    fn peek(&self) -> &Tok {
        self.toks.get(self.i).map_or(&Tok::Eof, |t| &t.tok)
    }

    fn peek_at(&self, n: usize) -> &Tok {
        self.toks.get(self.i + n).map_or(&Tok::Eof, |t| &t.tok)
    }

    fn pos(&self) -> usize {
        self.toks.get(self.i).map_or(self.src.len(), |t| t.pos)
    }

    fn is_ident(&self, name: &str) -> bool {
        matches!(self.peek(), Tok::Ident(n) if n == name)
    }

    /// An error at the current token.
    fn err(&self, message: impl Into<String>) -> LogqlError {
        error_at(self.src, self.pos(), message)
    }

    /// "syntax error: unexpected X[, expecting Y]" at the current token.
    fn unexpected(&self, expecting: &str) -> LogqlError {
        let mut m = format!("syntax error: unexpected {}", describe(self.peek()));
        if !expecting.is_empty() {
            m.push_str(", expecting ");
            m.push_str(expecting);
        }
        self.err(m)
    }

    fn expect(&mut self, tok: Tok) -> Result<(), LogqlError> {
        if *self.peek() == tok {
            self.i += 1;
            Ok(())
        } else {
            Err(self.unexpected(&describe(&tok)))
        }
    }

    fn expect_ident(&mut self) -> Result<String, LogqlError> {
        match self.peek().clone() {
            Tok::Ident(n) => {
                self.i += 1;
                Ok(n)
            }
            _ => Err(self.unexpected("IDENTIFIER")),
        }
    }

    fn expect_str(&mut self) -> Result<String, LogqlError> {
        match self.peek().clone() {
            Tok::Str(s) => {
                self.i += 1;
                Ok(s)
            }
            _ => Err(self.unexpected("STRING")),
        }
    }

    fn expect_number(&mut self) -> Result<f64, LogqlError> {
        let neg = if *self.peek() == Tok::Sub {
            self.i += 1;
            true
        } else {
            false
        };
        match self.peek().clone() {
            Tok::Num(v) => {
                self.i += 1;
                Ok(if neg { -v } else { v })
            }
            _ => Err(self.unexpected("NUMBER")),
        }
    }

    fn expect_duration(&mut self) -> Result<i64, LogqlError> {
        match self.peek().clone() {
            Tok::Dur(d) => {
                self.i += 1;
                Ok(d)
            }
            // A bare `0` is a valid duration.
            Tok::Num(0.0) => {
                self.i += 1;
                Ok(0)
            }
            _ => Err(self.unexpected("DURATION")),
        }
    }

    /// The source text of the current token (up to the next token).
    fn token_text(&self) -> &str {
        let start = self.pos();
        let end = self.toks.get(self.i + 1).map_or(self.src.len(), |t| t.pos);
        self.src.get(start..end).unwrap_or("").trim()
    }

    fn binop(&self) -> Option<(BinOp, u8)> {
        Some(match self.peek() {
            Tok::Ident(n) if n == "or" => (BinOp::Or, 1),
            Tok::Ident(n) if n == "and" => (BinOp::And, 2),
            Tok::Ident(n) if n == "unless" => (BinOp::Unless, 2),
            Tok::CmpEq => (BinOp::Eq, 3),
            Tok::Neq => (BinOp::Neq, 3),
            Tok::Gt => (BinOp::Gt, 3),
            Tok::Gte => (BinOp::Gte, 3),
            Tok::Lt => (BinOp::Lt, 3),
            Tok::Lte => (BinOp::Lte, 3),
            Tok::Add => (BinOp::Add, 4),
            Tok::Sub => (BinOp::Sub, 4),
            Tok::Mul => (BinOp::Mul, 5),
            Tok::Div => (BinOp::Div, 5),
            Tok::Mod => (BinOp::Mod, 5),
            Tok::Pow => (BinOp::Pow, 6),
            _ => return None,
        })
    }

    fn binary(&mut self, min_prec: u8) -> Result<Node, LogqlError> {
        let mut lhs = self.unary()?;
        while let Some((op, prec)) = self.binop() {
            if prec < min_prec {
                break;
            }
            let op_pos = self.pos();
            self.i += 1;
            let modifiers = self.bin_modifiers(op)?;
            let next_min = if op == BinOp::Pow { prec } else { prec + 1 };
            let rhs = self.binary(next_min)?;
            let (Node::Sample(l), Node::Sample(r)) = (lhs, rhs) else {
                return Err(error_at(
                    self.src,
                    op_pos,
                    format!(
                        "unexpected log query as operand of binary operator {}: \
                         binary operations need metric queries",
                        op.as_str()
                    ),
                ));
            };
            if op.is_set()
                && (matches!(l, SampleExpr::Literal(_)) || matches!(r, SampleExpr::Literal(_)))
            {
                return Err(error_at(
                    self.src,
                    op_pos,
                    format!(
                        "set operator {} not allowed in binary scalar expression",
                        op.as_str()
                    ),
                ));
            }
            lhs = Node::Sample(SampleExpr::Binary {
                op,
                modifiers,
                lhs: Box::new(l),
                rhs: Box::new(r),
            });
        }
        Ok(lhs)
    }

    fn bin_modifiers(&mut self, op: BinOp) -> Result<BinModifiers, LogqlError> {
        let mut m = BinModifiers::default();
        if self.is_ident("bool") {
            if !op.is_comparison() {
                return Err(self.err("bool modifier can only be used on comparison operators"));
            }
            self.i += 1;
            m.return_bool = true;
        }
        if self.is_ident("on") || self.is_ident("ignoring") {
            let on = self.is_ident("on");
            self.i += 1;
            m.matching = Some((on, self.label_list()?));
            if self.is_ident("group_left") || self.is_ident("group_right") {
                let left = self.is_ident("group_left");
                self.i += 1;
                let labels = if *self.peek() == Tok::LParen {
                    self.label_list()?
                } else {
                    Vec::new()
                };
                m.group = Some((left, labels));
            }
        }
        Ok(m)
    }

    /// `( name, ... )`.
    fn label_list(&mut self) -> Result<Vec<String>, LogqlError> {
        self.expect(Tok::LParen)?;
        let mut out = Vec::new();
        if *self.peek() == Tok::RParen {
            self.i += 1;
            return Ok(out);
        }
        loop {
            out.push(self.expect_ident()?);
            match self.peek() {
                Tok::Comma => self.i += 1,
                Tok::RParen => {
                    self.i += 1;
                    return Ok(out);
                }
                _ => return Err(self.unexpected(", or )")),
            }
        }
    }

    fn unary(&mut self) -> Result<Node, LogqlError> {
        match self.peek() {
            Tok::Sub => {
                let pos = self.pos();
                self.i += 1;
                match self.unary()? {
                    Node::Sample(SampleExpr::Literal(v)) => {
                        Ok(Node::Sample(SampleExpr::Literal(-v)))
                    }
                    Node::Sample(s) => Ok(Node::Sample(SampleExpr::Binary {
                        op: BinOp::Mul,
                        modifiers: BinModifiers::default(),
                        lhs: Box::new(SampleExpr::Literal(-1.0)),
                        rhs: Box::new(s),
                    })),
                    Node::Log(_) => Err(error_at(self.src, pos, "unexpected - before a log query")),
                }
            }
            Tok::Add => {
                self.i += 1;
                self.unary()
            }
            _ => self.primary(),
        }
    }

    fn primary(&mut self) -> Result<Node, LogqlError> {
        match self.peek().clone() {
            Tok::LParen => {
                self.i += 1;
                let n = self.binary(0)?;
                self.expect(Tok::RParen)?;
                Ok(n)
            }
            Tok::Num(v) => {
                self.i += 1;
                Ok(Node::Sample(SampleExpr::Literal(v)))
            }
            Tok::LBrace => {
                let log = self.log_expr(false)?.0;
                Ok(Node::Log(log))
            }
            Tok::Ident(name) => {
                if let Some((_, op)) = VectorOp::ALL.iter().find(|(n, _)| *n == name) {
                    return Ok(Node::Sample(self.vector_agg(*op)?));
                }
                if let Some((_, op)) = RangeOp::ALL.iter().find(|(n, _)| *n == name) {
                    return Ok(Node::Sample(self.range_agg(*op)?));
                }
                match name.as_str() {
                    "Inf" | "inf" => {
                        self.i += 1;
                        Ok(Node::Sample(SampleExpr::Literal(f64::INFINITY)))
                    }
                    "NaN" | "nan" => {
                        self.i += 1;
                        Ok(Node::Sample(SampleExpr::Literal(f64::NAN)))
                    }
                    "label_replace" => Ok(Node::Sample(self.label_replace()?)),
                    "vector" => {
                        self.i += 1;
                        self.expect(Tok::LParen)?;
                        let v = self.expect_number()?;
                        self.expect(Tok::RParen)?;
                        Ok(Node::Sample(SampleExpr::VectorFn(v)))
                    }
                    _ => Err(self.unexpected("")),
                }
            }
            _ => Err(self.unexpected("")),
        }
    }

    fn grouping(&mut self) -> Result<Option<Grouping>, LogqlError> {
        if !(self.is_ident("by") || self.is_ident("without")) {
            return Ok(None);
        }
        let without = self.is_ident("without");
        self.i += 1;
        Ok(Some(Grouping {
            without,
            labels: self.label_list()?,
        }))
    }

    fn vector_agg(&mut self, op: VectorOp) -> Result<SampleExpr, LogqlError> {
        let op_pos = self.pos();
        self.i += 1;
        let mut grouping = self.grouping()?;
        self.expect(Tok::LParen)?;
        let param = if matches!(op, VectorOp::Topk | VectorOp::Bottomk) {
            let pos = self.pos();
            let k = self.expect_number()?;
            if k.fract() != 0.0 || k < 0.0 {
                return Err(error_at(
                    self.src,
                    pos,
                    format!(
                        "invalid parameter for {}: {k} is not a non-negative integer",
                        op.name()
                    ),
                ));
            }
            self.expect(Tok::Comma)?;
            Some(k)
        } else {
            None
        };
        let inner_pos = self.pos();
        let inner = self.sample(inner_pos)?;
        self.expect(Tok::RParen)?;
        if grouping.is_none() {
            grouping = self.grouping()?;
        }
        if matches!(op, VectorOp::Sort | VectorOp::SortDesc) && grouping.is_some() {
            return Err(error_at(
                self.src,
                op_pos,
                format!("grouping not allowed for {} aggregation", op.name()),
            ));
        }
        Ok(SampleExpr::Vector {
            op,
            grouping,
            param,
            inner: Box::new(inner),
        })
    }

    /// A metric expression (a log query here is an error at `pos`).
    fn sample(&mut self, pos: usize) -> Result<SampleExpr, LogqlError> {
        match self.binary(0)? {
            Node::Sample(s) => Ok(s),
            Node::Log(_) => Err(error_at(
                self.src,
                pos,
                "syntax error: unexpected log query, expecting a metric query \
                 (a log query needs a range aggregation such as count_over_time)",
            )),
        }
    }

    fn label_replace(&mut self) -> Result<SampleExpr, LogqlError> {
        self.i += 1;
        self.expect(Tok::LParen)?;
        let pos = self.pos();
        let inner = self.sample(pos)?;
        let mut args = Vec::with_capacity(4);
        for _ in 0..4 {
            self.expect(Tok::Comma)?;
            args.push((self.pos(), self.expect_str()?));
        }
        self.expect(Tok::RParen)?;
        let [(_, dst), (_, replacement), (_, src), (re_pos, regex)] =
            <[(usize, String); 4]>::try_from(args)
                .map_err(|_| self.err("label_replace needs 5 arguments"))?;
        if let Err(e) = regex::Regex::new(&format!("^(?s:{regex})$")) {
            return Err(error_at(
                self.src,
                re_pos,
                format!(
                    "invalid regex in label_replace: {}",
                    crate::lexer::regex_error(&e)
                ),
            ));
        }
        if !oxeye_core::validate_label_name(&dst) {
            return Err(self.err(format!(
                "invalid destination label name in label_replace: {dst:?}"
            )));
        }
        Ok(SampleExpr::LabelReplace {
            inner: Box::new(inner),
            dst,
            replacement,
            src,
            regex,
        })
    }

    fn range_agg(&mut self, op: RangeOp) -> Result<SampleExpr, LogqlError> {
        let fn_pos = self.pos();
        self.i += 1;
        self.expect(Tok::LParen)?;
        let param = if op == RangeOp::Quantile {
            let q = self.expect_number()?;
            self.expect(Tok::Comma)?;
            Some(q)
        } else {
            None
        };
        let (log, unwrap, range_ns, offset_ns) = self.log_range()?;
        self.expect(Tok::RParen)?;
        let grouping = self.grouping()?;
        let name = op.name();
        if op.needs_unwrap() && unwrap.is_none() {
            return Err(error_at(
                self.src,
                fn_pos,
                format!("invalid aggregation {name} without unwrap"),
            ));
        }
        if unwrap.is_some() && !op.allows_unwrap() {
            return Err(error_at(
                self.src,
                fn_pos,
                format!("invalid aggregation {name} with unwrap"),
            ));
        }
        if grouping.is_some() && unwrap.is_none() {
            return Err(error_at(
                self.src,
                fn_pos,
                format!("grouping not allowed for {name} aggregation"),
            ));
        }
        Ok(SampleExpr::Range(Box::new(RangeAgg {
            op,
            param,
            log,
            unwrap,
            range_ns,
            offset_ns,
            grouping,
        })))
    }
}

/// Checks that a selector has a matcher that does not match the empty string.
pub(crate) fn check_selector(matchers: &[Matcher]) -> Result<(), String> {
    if matchers.iter().any(|m| !m.matches_empty()) {
        return Ok(());
    }
    Err(
        "queries require at least one regexp or equality matcher that does not have an \
         empty-compatible value. For instance, app=~\".*\" does not meet this requirement, \
         but app=~\".+\" will"
            .into(),
    )
}

#[cfg(test)]
mod tests;
