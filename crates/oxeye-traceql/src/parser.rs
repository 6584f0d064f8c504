//! The TraceQL parser: tokens to a [`SpansetExpr`], with static type checks.
//!
//! Two Pratt parsers share the token stream. The spanset level binds, loosest first:
//! `|` (a pipeline stage applies to everything on its left), `||`, `&&`, then the
//! structural operators. Inside `{ ... }` the field level binds, loosest first: `||`,
//! `&&`, comparisons and regex matches, `+ -`, `* / %`, `^` (right-associative), and the
//! unary `!` and `-`. Field expressions carry a static type (see the `types` module) so
//! mistakes such as `{ name = 1 }` or `{ "a" }` fail at parse time with the operator's
//! position.

use oxeye_core::trace::{SpanKind, SpanStatusCode};
use regex::Regex;

use crate::ast::{
    AggKind, Attribute, BinOp, FieldExpr, Intrinsic, ScalarExpr, SpansetExpr, SpansetOp, Stage,
    Static,
};
use crate::error::TraceqlError;
use crate::lexer::{Tok, Token, lex};
use crate::types::{Ty, check_binary};

/// Parses a whole query.
pub fn parse(src: &str) -> Result<SpansetExpr, TraceqlError> {
    let tokens = lex(src)?;
    let mut p = Parser {
        src,
        tokens,
        idx: 0,
        depth: 0,
    };
    let expr = p.spanset_expr(0)?;
    p.query_hints()?;
    let t = p.peek();
    if t.tok != Tok::Eof {
        return Err(p.unexpected(&t));
    }
    Ok(expr)
}

const PIPE_BP: u8 = 1;

/// TraceQL metrics functions, which only a metrics query range API evaluates.
const METRICS_FUNCTIONS: &[&str] = &[
    "rate",
    "count_over_time",
    "min_over_time",
    "max_over_time",
    "avg_over_time",
    "sum_over_time",
    "quantile_over_time",
    "histogram_over_time",
    "compare",
    "topk",
    "bottomk",
];

/// How deep expressions may nest (parentheses, operator chains, pipeline stages);
/// bounds the recursion of everything that walks the tree. At this depth parsing uses
/// under 1 MiB of stack even in unoptimised builds, within a default 2 MiB thread.
pub const MAX_DEPTH: usize = 200;

struct Parser<'a> {
    src: &'a str,
    tokens: Vec<Token>,
    idx: usize,
    /// Upper bound on the depth of the tree being built.
    depth: usize,
}

fn keyword(word: &str) -> Option<Static> {
    Some(match word {
        "true" => Static::Bool(true),
        "false" => Static::Bool(false),
        "nil" => Static::Nil,
        "minInt" => Static::Int(i64::MIN),
        "maxInt" => Static::Int(i64::MAX),
        "ok" => Static::Status(SpanStatusCode::Ok),
        "error" => Static::Status(SpanStatusCode::Error),
        "unset" => Static::Status(SpanStatusCode::Unset),
        "unspecified" => Static::Kind(SpanKind::Unspecified),
        "internal" => Static::Kind(SpanKind::Internal),
        "server" => Static::Kind(SpanKind::Server),
        "client" => Static::Kind(SpanKind::Client),
        "producer" => Static::Kind(SpanKind::Producer),
        "consumer" => Static::Kind(SpanKind::Consumer),
        _ => return None,
    })
}

fn spanset_op(tok: &Tok) -> Option<(SpansetOp, u8)> {
    Some(match tok {
        Tok::Or => (SpansetOp::Or, 2),
        Tok::And => (SpansetOp::And, 3),
        Tok::Gt => (SpansetOp::Child, 4),
        Tok::Desc => (SpansetOp::Descendant, 4),
        Tok::Lt => (SpansetOp::Parent, 4),
        Tok::Anc => (SpansetOp::Ancestor, 4),
        Tok::Tilde => (SpansetOp::Sibling, 4),
        Tok::NotChild => (SpansetOp::NotChild, 4),
        Tok::NotDesc => (SpansetOp::NotDescendant, 4),
        Tok::NotParent => (SpansetOp::NotParent, 4),
        Tok::NotAnc => (SpansetOp::NotAncestor, 4),
        Tok::BangTilde => (SpansetOp::NotSibling, 4),
        Tok::UnionChild => (SpansetOp::UnionChild, 4),
        Tok::UnionDesc => (SpansetOp::UnionDescendant, 4),
        Tok::UnionParent => (SpansetOp::UnionParent, 4),
        Tok::UnionAnc => (SpansetOp::UnionAncestor, 4),
        Tok::UnionSibling => (SpansetOp::UnionSibling, 4),
        _ => return None,
    })
}

/// Field-level binary operators: (operator, left binding power, right binding power).
/// `None` operator marks a regex match, handled separately.
fn field_op(tok: &Tok) -> Option<(Option<BinOp>, u8, u8)> {
    Some(match tok {
        Tok::Or => (Some(BinOp::Or), 1, 2),
        Tok::And => (Some(BinOp::And), 3, 4),
        Tok::Eq => (Some(BinOp::Eq), 5, 6),
        Tok::Neq => (Some(BinOp::Neq), 5, 6),
        Tok::Gt => (Some(BinOp::Gt), 5, 6),
        Tok::Gte => (Some(BinOp::Gte), 5, 6),
        Tok::Lt => (Some(BinOp::Lt), 5, 6),
        Tok::Lte => (Some(BinOp::Lte), 5, 6),
        Tok::Re | Tok::BangTilde => (None, 5, 6),
        Tok::Plus => (Some(BinOp::Add), 7, 8),
        Tok::Minus => (Some(BinOp::Sub), 7, 8),
        Tok::Star => (Some(BinOp::Mul), 9, 10),
        Tok::Slash => (Some(BinOp::Div), 9, 10),
        Tok::Percent => (Some(BinOp::Mod), 9, 10),
        Tok::Caret => (Some(BinOp::Pow), 12, 11),
        _ => return None,
    })
}

const UNARY_BP: u8 = 13;

impl Parser<'_> {
    fn peek(&self) -> Token {
        self.tokens.get(self.idx).cloned().unwrap_or(Token {
            tok: Tok::Eof,
            pos: self.src.len(),
        })
    }

    fn bump(&mut self) -> Token {
        let t = self.peek();
        if self.idx < self.tokens.len() {
            self.idx += 1;
        }
        t
    }

    fn err(&self, pos: usize, msg: impl Into<String>) -> TraceqlError {
        TraceqlError::parse_at(self.src, pos, msg)
    }

    /// Counts one more level of nesting at the next token.
    fn deeper(&mut self) -> Result<(), TraceqlError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            let pos = self.peek().pos;
            return Err(self.err(
                pos,
                format!("query nests too deeply, at most {MAX_DEPTH} levels"),
            ));
        }
        Ok(())
    }

    fn unexpected(&self, t: &Token) -> TraceqlError {
        self.err(t.pos, format!("unexpected {}", t.tok.describe()))
    }

    fn expect(&mut self, want: Tok) -> Result<Token, TraceqlError> {
        let t = self.peek();
        if t.tok != want {
            return Err(self.err(
                t.pos,
                format!(
                    "unexpected {}, expected {}",
                    t.tok.describe(),
                    want.describe()
                ),
            ));
        }
        Ok(self.bump())
    }

    /// Query hints, `with (most_recent=true, ...)`: checked for syntax and otherwise
    /// ignored. Search always stops at its limit in the store's scan order (newest data
    /// first), which is close to, but not exactly, the most recent matches.
    fn query_hints(&mut self) -> Result<(), TraceqlError> {
        if !matches!(&self.peek().tok, Tok::Ident(w) if w == "with") {
            return Ok(());
        }
        self.bump();
        self.expect(Tok::LParen)?;
        loop {
            let t = self.bump();
            if !matches!(t.tok, Tok::Ident(_)) {
                return Err(self.err(
                    t.pos,
                    format!("unexpected {}, expected a hint name", t.tok.describe()),
                ));
            }
            self.expect(Tok::Eq)?;
            let v = self.bump();
            let is_value = match &v.tok {
                Tok::Str(_) | Tok::Int(_) | Tok::Float(_) | Tok::Duration(_) => true,
                Tok::Ident(w) => w == "true" || w == "false",
                _ => false,
            };
            if !is_value {
                return Err(self.err(
                    v.pos,
                    format!("unexpected {}, expected a hint value", v.tok.describe()),
                ));
            }
            if self.peek().tok == Tok::Comma {
                self.bump();
                continue;
            }
            self.expect(Tok::RParen)?;
            return Ok(());
        }
    }

    // ---- spanset level ----

    fn spanset_expr(&mut self, min_bp: u8) -> Result<SpansetExpr, TraceqlError> {
        let saved = self.depth;
        self.deeper()?;
        let mut lhs = self.spanset_primary()?;
        loop {
            self.deeper()?;
            let t = self.peek();
            if t.tok == Tok::Pipe {
                if min_bp > PIPE_BP {
                    break;
                }
                self.bump();
                let stage = self.stage()?;
                lhs = SpansetExpr::Pipeline {
                    input: Box::new(lhs),
                    stage: Box::new(stage),
                };
                continue;
            }
            let Some((op, bp)) = spanset_op(&t.tok) else {
                break;
            };
            if bp < min_bp {
                break;
            }
            self.bump();
            let rhs = self.spanset_expr(bp + 1)?;
            lhs = SpansetExpr::Binary {
                op,
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
            };
        }
        self.depth = saved;
        Ok(lhs)
    }

    fn spanset_primary(&mut self) -> Result<SpansetExpr, TraceqlError> {
        let t = self.bump();
        match t.tok {
            Tok::LBrace => {
                if self.peek().tok == Tok::RBrace {
                    self.bump();
                    return Ok(SpansetExpr::Filter(FieldExpr::Static(Static::Bool(true))));
                }
                let start = self.peek().pos;
                let (expr, ty) = self.field_expr(0)?;
                self.expect(Tok::RBrace)?;
                if !matches!(ty, Ty::Bool | Ty::Any) {
                    return Err(self.err(
                        start,
                        format!(
                            "spanset filter must evaluate to a boolean, got {}",
                            ty.name()
                        ),
                    ));
                }
                Ok(SpansetExpr::Filter(expr))
            }
            Tok::LParen => {
                let inner = self.spanset_expr(0)?;
                self.expect(Tok::RParen)?;
                Ok(inner)
            }
            _ => Err(self.err(
                t.pos,
                format!(
                    "unexpected {}, expected a spanset filter '{{'",
                    t.tok.describe()
                ),
            )),
        }
    }

    fn stage(&mut self) -> Result<Stage, TraceqlError> {
        let t = self.peek();
        match &t.tok {
            Tok::LBrace | Tok::LParen => Ok(Stage::Spanset(self.spanset_expr(PIPE_BP + 1)?)),
            Tok::Ident(w) if w == "by" => {
                self.bump();
                self.expect(Tok::LParen)?;
                let p = self.peek().pos;
                let (field, ty) = self.field_expr(0)?;
                self.check_groupable(&field, ty, p)?;
                self.expect(Tok::RParen)?;
                Ok(Stage::By(field))
            }
            Tok::Ident(w) if w == "select" => {
                self.bump();
                self.expect(Tok::LParen)?;
                let mut fields = Vec::new();
                loop {
                    let p = self.peek().pos;
                    let (field, ty) = self.field_expr(0)?;
                    self.check_groupable(&field, ty, p)?;
                    fields.push(field);
                    if self.peek().tok == Tok::Comma {
                        self.bump();
                        continue;
                    }
                    break;
                }
                self.expect(Tok::RParen)?;
                Ok(Stage::Select(fields))
            }
            Tok::Ident(w) if w == "coalesce" => {
                self.bump();
                self.expect(Tok::LParen)?;
                self.expect(Tok::RParen)?;
                Ok(Stage::Coalesce)
            }
            Tok::Eof => Err(self.err(t.pos, "unexpected end of query, expected a pipeline stage")),
            _ => self.scalar_filter(),
        }
    }

    fn check_groupable(&self, field: &FieldExpr, ty: Ty, pos: usize) -> Result<(), TraceqlError> {
        if matches!(field, FieldExpr::Static(_)) || ty == Ty::Nil {
            return Err(self.err(pos, "expected an attribute or intrinsic, got a literal"));
        }
        Ok(())
    }

    fn scalar_filter(&mut self) -> Result<Stage, TraceqlError> {
        let lhs = self.scalar_expr(0)?;
        let t = self.bump();
        let op = match t.tok {
            Tok::Eq => BinOp::Eq,
            Tok::Neq => BinOp::Neq,
            Tok::Gt => BinOp::Gt,
            Tok::Gte => BinOp::Gte,
            Tok::Lt => BinOp::Lt,
            Tok::Lte => BinOp::Lte,
            _ => {
                return Err(self.err(
                    t.pos,
                    format!(
                        "unexpected {}, expected a comparison after '{lhs}'",
                        t.tok.describe()
                    ),
                ));
            }
        };
        let rhs = self.scalar_expr(0)?;
        if !has_aggregate(&lhs) && !has_aggregate(&rhs) {
            return Err(self.err(t.pos, "scalar filter needs an aggregate such as count()"));
        }
        Ok(Stage::ScalarFilter { lhs, op, rhs })
    }

    fn scalar_expr(&mut self, min_bp: u8) -> Result<ScalarExpr, TraceqlError> {
        let saved = self.depth;
        self.deeper()?;
        let mut lhs = self.scalar_primary()?;
        loop {
            self.deeper()?;
            let t = self.peek();
            let (op, lbp, rbp) = match t.tok {
                Tok::Plus => (BinOp::Add, 7, 8),
                Tok::Minus => (BinOp::Sub, 7, 8),
                Tok::Star => (BinOp::Mul, 9, 10),
                Tok::Slash => (BinOp::Div, 9, 10),
                Tok::Percent => (BinOp::Mod, 9, 10),
                Tok::Caret => (BinOp::Pow, 12, 11),
                _ => break,
            };
            if lbp < min_bp {
                break;
            }
            self.bump();
            let rhs = self.scalar_expr(rbp)?;
            lhs = ScalarExpr::Binary {
                op,
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
            };
        }
        self.depth = saved;
        Ok(lhs)
    }

    fn scalar_primary(&mut self) -> Result<ScalarExpr, TraceqlError> {
        let t = self.bump();
        match t.tok {
            Tok::Int(i) => Ok(ScalarExpr::Static(Static::Int(i))),
            Tok::Float(f) => Ok(ScalarExpr::Static(Static::Float(f))),
            Tok::Duration(d) => Ok(ScalarExpr::Static(Static::Duration(d))),
            Tok::Minus => Ok(ScalarExpr::Neg(Box::new(self.scalar_expr(UNARY_BP)?))),
            Tok::LParen => {
                let e = self.scalar_expr(0)?;
                self.expect(Tok::RParen)?;
                Ok(e)
            }
            Tok::Ident(ref w) => {
                let Some(kind) = AggKind::from_name(w) else {
                    let msg = if METRICS_FUNCTIONS.contains(&w.as_str()) {
                        format!("metrics function '{w}' is not supported in trace search")
                    } else {
                        format!("unknown pipeline function '{w}'")
                    };
                    return Err(self.err(t.pos, msg));
                };
                self.expect(Tok::LParen)?;
                if kind == AggKind::Count {
                    self.expect(Tok::RParen)?;
                    return Ok(ScalarExpr::Agg { kind, field: None });
                }
                let p = self.peek().pos;
                if self.peek().tok == Tok::RParen {
                    return Err(self.err(p, format!("{}() needs a field argument", kind.as_str())));
                }
                let (field, ty) = self.field_expr(0)?;
                if !matches!(ty, Ty::Num | Ty::Any) {
                    return Err(self.err(
                        p,
                        format!(
                            "{}() needs a numeric field, got {}",
                            kind.as_str(),
                            ty.name()
                        ),
                    ));
                }
                self.expect(Tok::RParen)?;
                Ok(ScalarExpr::Agg {
                    kind,
                    field: Some(field),
                })
            }
            _ => Err(self.err(
                t.pos,
                format!("unexpected {}, expected a pipeline stage", t.tok.describe()),
            )),
        }
    }

    // ---- field level ----

    fn field_expr(&mut self, min_bp: u8) -> Result<(FieldExpr, Ty), TraceqlError> {
        let saved = self.depth;
        self.deeper()?;
        let (mut lhs, mut lty) = self.field_primary()?;
        loop {
            self.deeper()?;
            let t = self.peek();
            let Some((op, lbp, rbp)) = field_op(&t.tok) else {
                break;
            };
            if lbp < min_bp {
                break;
            }
            self.bump();
            let Some(op) = op else {
                let negated = t.tok == Tok::BangTilde;
                (lhs, lty) = self.regex(lhs, lty, negated, t.pos)?;
                continue;
            };
            let (rhs, rty) = self.field_expr(rbp)?;
            let ty = self.check_binary(op, lty, rty, t.pos)?;
            lhs = fold(op, lhs, rhs);
            lty = ty;
        }
        self.depth = saved;
        Ok((lhs, lty))
    }

    fn regex(
        &mut self,
        lhs: FieldExpr,
        lty: Ty,
        negated: bool,
        op_pos: usize,
    ) -> Result<(FieldExpr, Ty), TraceqlError> {
        if !matches!(lty, Ty::Str | Ty::Any) {
            return Err(self.err(
                op_pos,
                format!("regex match needs a string operand, got {}", lty.name()),
            ));
        }
        let t = self.bump();
        let Tok::Str(source) = t.tok else {
            return Err(self.err(
                t.pos,
                format!(
                    "unexpected {}, a regex match needs a string literal",
                    t.tok.describe()
                ),
            ));
        };
        let regex = Regex::new(&format!("^(?:{source})$")).map_err(|e| {
            self.err(
                t.pos,
                format!("invalid regex {source:?}: {}", first_line(&e)),
            )
        })?;
        Ok((
            FieldExpr::Regex {
                lhs: Box::new(lhs),
                negated,
                source,
                regex,
            },
            Ty::Bool,
        ))
    }

    fn check_binary(&self, op: BinOp, l: Ty, r: Ty, pos: usize) -> Result<Ty, TraceqlError> {
        check_binary(op, l, r).map_err(|msg| self.err(pos, msg))
    }

    fn field_primary(&mut self) -> Result<(FieldExpr, Ty), TraceqlError> {
        let t = self.bump();
        let lit = |s: Static| {
            let ty = Ty::of_static(&s);
            Ok((FieldExpr::Static(s), ty))
        };
        match t.tok {
            Tok::Str(s) => lit(Static::Str(s)),
            Tok::Int(i) => lit(Static::Int(i)),
            Tok::Float(f) => lit(Static::Float(f)),
            Tok::Duration(d) => lit(Static::Duration(d)),
            Tok::Attr(scope, name) => Ok((FieldExpr::Attr(Attribute { scope, name }), Ty::Any)),
            Tok::Ident(w) => {
                if let Some(s) = keyword(&w) {
                    return lit(s);
                }
                if let Some(i) = Intrinsic::from_name(&w) {
                    return Ok((FieldExpr::Intrinsic(i), Ty::of_intrinsic(i)));
                }
                Err(self.err(
                    t.pos,
                    format!(
                        "unknown identifier '{w}'; attributes need a scope such as span.{w} or .{w}"
                    ),
                ))
            }
            Tok::LParen => {
                let inner = self.field_expr(0)?;
                self.expect(Tok::RParen)?;
                Ok(inner)
            }
            Tok::Not => {
                let (e, ty) = self.field_expr(UNARY_BP)?;
                if !matches!(ty, Ty::Bool | Ty::Any) {
                    return Err(self.err(
                        t.pos,
                        format!("operator '!' needs a boolean operand, got {}", ty.name()),
                    ));
                }
                Ok((FieldExpr::Not(Box::new(e)), Ty::Bool))
            }
            Tok::Minus => {
                let (e, ty) = self.field_expr(UNARY_BP)?;
                if !matches!(ty, Ty::Num | Ty::Any) {
                    return Err(self.err(
                        t.pos,
                        format!("operator '-' needs a numeric operand, got {}", ty.name()),
                    ));
                }
                let folded = match e {
                    FieldExpr::Static(Static::Int(i)) => FieldExpr::Static(Static::Int(-i)),
                    FieldExpr::Static(Static::Float(f)) => FieldExpr::Static(Static::Float(-f)),
                    FieldExpr::Static(Static::Duration(d)) => {
                        FieldExpr::Static(Static::Duration(-d))
                    }
                    other => FieldExpr::Neg(Box::new(other)),
                };
                Ok((folded, Ty::Num))
            }
            _ => Err(self.unexpected(&t)),
        }
    }
}

fn fold(op: BinOp, lhs: FieldExpr, rhs: FieldExpr) -> FieldExpr {
    FieldExpr::Binary {
        op,
        lhs: Box::new(lhs),
        rhs: Box::new(rhs),
    }
}

pub(crate) fn has_aggregate(e: &ScalarExpr) -> bool {
    match e {
        ScalarExpr::Agg { .. } => true,
        ScalarExpr::Static(_) => false,
        ScalarExpr::Binary { lhs, rhs, .. } => has_aggregate(lhs) || has_aggregate(rhs),
        ScalarExpr::Neg(e) => has_aggregate(e),
    }
}

fn first_line(e: &regex::Error) -> String {
    let text = e.to_string();
    let last = text
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with("error:"))
        .map(|l| {
            l.trim_start()
                .trim_start_matches("error:")
                .trim()
                .to_string()
        });
    last.unwrap_or_else(|| text.lines().next().unwrap_or_default().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(q: &str) -> String {
        parse(q).unwrap_err().to_string()
    }

    #[test]
    fn parses_precedence() {
        let e = parse("{ .a = 1 || .b = 2 && .c = 3 }").unwrap();
        let SpansetExpr::Filter(f) = e else {
            panic!("not a filter")
        };
        assert_eq!(f.to_string(), ".a = 1 || .b = 2 && .c = 3");
        let FieldExpr::Binary { op, .. } = f else {
            panic!("not binary")
        };
        assert_eq!(op, BinOp::Or);
    }

    #[test]
    fn pipeline_binds_loosest() {
        let e = parse("{ .a = 1 } && { .b = 2 } | count() > 1").unwrap();
        assert!(matches!(e, SpansetExpr::Pipeline { .. }));
        let e = parse("{ .a = 1 } > { .b = 2 } || { .c = 3 }").unwrap();
        assert!(matches!(
            e,
            SpansetExpr::Binary {
                op: SpansetOp::Or,
                ..
            }
        ));
    }

    #[test]
    fn errors_point_at_positions() {
        assert_eq!(
            err("{ .foo = 1 }}"),
            "parse error at line 1, col 13: unexpected '}'"
        );
        assert_eq!(
            err("{ name = 1 }"),
            "parse error at line 1, col 8: cannot compare string with number using '='"
        );
        assert_eq!(
            err("{ .a = 1"),
            "parse error at line 1, col 9: unexpected end of query, expected '}'"
        );
        assert!(err("{ foo = 1 }").contains("col 3: unknown identifier 'foo'"));
        assert!(err("{ .a =~ \"(\" }").contains("invalid regex"));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let chain = format!("{{ {} }}", vec![".a = 1"; 5000].join(" || "));
        assert!(err(&chain).contains("query nests too deeply"));
        let parens = format!("{{ {}.a = 1{} }}", "(".repeat(5000), ")".repeat(5000));
        assert!(err(&parens).contains("query nests too deeply"));
        let spansets = vec!["{ }"; 5000].join(" && ");
        assert!(err(&spansets).contains("query nests too deeply"));
        let ok = format!("{{ {} }}", vec![".a = 1"; 40].join(" || "));
        assert!(parse(&ok).is_ok());
    }
}
