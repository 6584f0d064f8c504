//! Parsing of stream selectors, pipelines, label filters and log ranges.

use oxeye_core::{MatchOp, Matcher};

use super::{Parser, check_selector};
use crate::LogqlError;
use crate::ast::{
    CmpOp, LabelFilter, LabelFmtSource, LineFilter, LineFilterOp, LogExpr, NamedLabel, Stage,
    Unwrap, UnwrapConv,
};
use crate::lexer::{Tok, error_at};

/// Words after `|` that start a stage rather than a label filter.
const STAGE_WORDS: &[&str] = &[
    "json",
    "logfmt",
    "regexp",
    "pattern",
    "unpack",
    "line_format",
    "label_format",
    "drop",
    "keep",
    "decolorize",
    "unwrap",
];

impl Parser<'_> {
    /// `{...}` followed by a pipeline; an `unwrap` is accepted only when `allow_unwrap`.
    pub(super) fn log_expr(
        &mut self,
        allow_unwrap: bool,
    ) -> Result<(LogExpr, Option<Unwrap>), LogqlError> {
        let matchers = self.selector()?;
        let mut stages = Vec::new();
        let unwrap = self.pipeline(&mut stages, allow_unwrap)?;
        Ok((LogExpr { matchers, stages }, unwrap))
    }

    /// The log range of a range aggregation: `{..} | ... [5m] offset 1h`,
    /// `{..}[5m] | ...` or `({..} | ...)[5m]`.
    #[allow(clippy::type_complexity)]
    pub(super) fn log_range(&mut self) -> Result<(LogExpr, Option<Unwrap>, i64, i64), LogqlError> {
        let (log, mut unwrap) = if *self.peek() == Tok::LParen {
            self.i += 1;
            let r = self.log_expr(true)?;
            self.expect(Tok::RParen)?;
            r
        } else if *self.peek() == Tok::LBrace {
            let matchers = self.selector()?;
            if *self.peek() == Tok::LBracket {
                // `{..}[5m] | pipeline`
                let (range, offset) = self.range_and_offset()?;
                let mut stages = Vec::new();
                let unwrap = self.pipeline(&mut stages, true)?;
                return Ok((LogExpr { matchers, stages }, unwrap, range, offset));
            }
            let mut stages = Vec::new();
            let unwrap = self.pipeline(&mut stages, true)?;
            (LogExpr { matchers, stages }, unwrap)
        } else {
            return Err(self.unexpected("{"));
        };
        let (range, offset) = self.range_and_offset()?;
        if unwrap.is_none() && *self.peek() == Tok::Pipe {
            let mut stages = log.stages.clone();
            unwrap = self.pipeline(&mut stages, true)?;
            return Ok((
                LogExpr {
                    matchers: log.matchers,
                    stages,
                },
                unwrap,
                range,
                offset,
            ));
        }
        Ok((log, unwrap, range, offset))
    }

    fn range_and_offset(&mut self) -> Result<(i64, i64), LogqlError> {
        self.expect(crate::lexer::Tok::LBracket)?;
        let pos = self.pos();
        let range = self.expect_duration()?;
        if range <= 0 {
            return Err(error_at(self.src, pos, "range must be greater than zero"));
        }
        self.expect(Tok::RBracket)?;
        let mut offset = 0;
        if self.is_ident("offset") {
            self.i += 1;
            let neg = *self.peek() == Tok::Sub;
            if neg {
                self.i += 1;
            }
            offset = self.expect_duration()?;
            if neg {
                offset = -offset;
            }
        }
        Ok((range, offset))
    }

    /// `{name op "value", ...}`.
    pub(super) fn selector(&mut self) -> Result<Vec<Matcher>, LogqlError> {
        let start = self.pos();
        self.expect(Tok::LBrace)?;
        let mut out = Vec::new();
        if *self.peek() != Tok::RBrace {
            loop {
                let name = self.expect_ident()?;
                let op = match self.peek() {
                    Tok::Eq => MatchOp::Equal,
                    Tok::Neq => MatchOp::NotEqual,
                    Tok::Re => MatchOp::Regex,
                    Tok::Nre => MatchOp::NotRegex,
                    _ => return Err(self.unexpected("=, !=, =~ or !~")),
                };
                self.i += 1;
                let vpos = self.pos();
                let value = self.expect_str()?;
                let m = Matcher::new(op, name, value)
                    .map_err(|e| error_at(self.src, vpos, crate::lexer::matcher_error(&e)))?;
                out.push(m);
                match self.peek() {
                    Tok::Comma => self.i += 1,
                    Tok::RBrace => break,
                    _ => return Err(self.unexpected("} or ,")),
                }
            }
        }
        self.expect(Tok::RBrace)?;
        check_selector(&out).map_err(|m| error_at(self.src, start, m))?;
        Ok(out)
    }

    /// Stages until the pipeline ends; returns the unwrap stage if one ends it.
    fn pipeline(
        &mut self,
        stages: &mut Vec<Stage>,
        allow_unwrap: bool,
    ) -> Result<Option<Unwrap>, LogqlError> {
        loop {
            let op = match self.peek() {
                Tok::PipeEq => Some(LineFilterOp::Contains),
                Tok::Neq => Some(LineFilterOp::NotContains),
                Tok::PipeRe => Some(LineFilterOp::Regex),
                Tok::Nre => Some(LineFilterOp::NotRegex),
                Tok::PipePattern => Some(LineFilterOp::Pattern),
                Tok::NotPattern => Some(LineFilterOp::NotPattern),
                Tok::Pipe => None,
                _ => return Ok(None),
            };
            self.i += 1;
            if let Some(op) = op {
                stages.push(Stage::LineFilter(self.line_filter(op)?));
                continue;
            }
            let word_pos = self.pos();
            let word = match self.peek() {
                Tok::Ident(w) => w.clone(),
                Tok::LParen => String::new(),
                _ => return Err(self.unexpected("a pipeline stage")),
            };
            if !STAGE_WORDS.contains(&word.as_str()) {
                stages.push(Stage::LabelFilter(self.label_filter()?));
                continue;
            }
            self.i += 1;
            let stage = match word.as_str() {
                "json" => Stage::Json(self.extraction_params(true)?),
                "logfmt" => self.logfmt()?,
                "regexp" => {
                    let pos = self.pos();
                    let re = self.expect_str()?;
                    crate::pipeline::parsers::RegexpParser::new(&re)
                        .map_err(|m| error_at(self.src, pos, m))?;
                    Stage::Regexp(re)
                }
                "pattern" => {
                    let pos = self.pos();
                    let p = self.expect_str()?;
                    crate::pipeline::pattern::Pattern::parse(&p, true)
                        .map_err(|m| error_at(self.src, pos, m))?;
                    Stage::Pattern(p)
                }
                "unpack" => Stage::Unpack,
                "decolorize" => Stage::Decolorize,
                "line_format" => {
                    let pos = self.pos();
                    let t = self.expect_str()?;
                    crate::template::LineTemplate::new(&t)
                        .map_err(|m| error_at(self.src, pos, m))?;
                    Stage::LineFormat(t)
                }
                "label_format" => self.label_format()?,
                "drop" => Stage::Drop(self.named_labels()?),
                "keep" => Stage::Keep(self.named_labels()?),
                "unwrap" => {
                    if !allow_unwrap {
                        return Err(error_at(
                            self.src,
                            word_pos,
                            "unwrap is only allowed in range aggregations",
                        ));
                    }
                    return Ok(Some(self.unwrap()?));
                }
                _ => return Err(error_at(self.src, word_pos, "unknown stage")),
            };
            stages.push(stage);
        }
    }

    fn line_filter(&mut self, op: LineFilterOp) -> Result<LineFilter, LogqlError> {
        let mut values = Vec::new();
        let ip = self.is_ident("ip");
        loop {
            let pos = self.pos();
            let value = if ip {
                self.expect_ident()?;
                self.expect(Tok::LParen)?;
                let v = self.expect_str()?;
                self.expect(Tok::RParen)?;
                crate::pipeline::ip::IpMatcher::parse(&v)
                    .map_err(|m| error_at(self.src, pos, m))?;
                v
            } else {
                let v = self.expect_str()?;
                match op {
                    LineFilterOp::Regex | LineFilterOp::NotRegex => {
                        regex::Regex::new(&v).map_err(|e| {
                            error_at(
                                self.src,
                                pos,
                                format!(
                                    "invalid regex in line filter: {}",
                                    crate::lexer::regex_error(&e)
                                ),
                            )
                        })?;
                    }
                    LineFilterOp::Pattern | LineFilterOp::NotPattern => {
                        crate::pipeline::pattern::Pattern::parse(&v, false)
                            .map_err(|m| error_at(self.src, pos, m))?;
                    }
                    _ => {}
                }
                v
            };
            values.push(value);
            let more = self.is_ident("or")
                && match self.peek_at(1) {
                    Tok::Str(_) => !ip,
                    Tok::Ident(n) => ip && n == "ip",
                    _ => false,
                };
            if !more {
                break;
            }
            self.i += 1;
        }
        Ok(LineFilter { op, values, ip })
    }

    /// `name="path", other` parameters of `json`/`logfmt`.
    fn extraction_params(&mut self, json: bool) -> Result<Vec<(String, String)>, LogqlError> {
        let mut out = Vec::new();
        while let Tok::Ident(name) = self.peek().clone() {
            self.i += 1;
            let path = if *self.peek() == Tok::Eq {
                self.i += 1;
                let pos = self.pos();
                let p = self.expect_str()?;
                if json {
                    crate::pipeline::json::parse_path(&p)
                        .map_err(|m| error_at(self.src, pos, m))?;
                }
                p
            } else {
                name.clone()
            };
            out.push((name, path));
            if *self.peek() == Tok::Comma {
                self.i += 1;
            } else {
                break;
            }
        }
        Ok(out)
    }

    fn logfmt(&mut self) -> Result<Stage, LogqlError> {
        let mut strict = false;
        let mut keep_empty = false;
        while *self.peek() == Tok::Sub && *self.peek_at(1) == Tok::Sub {
            let pos = self.pos();
            self.i += 2;
            let flag = self.expect_ident()?;
            match flag.as_str() {
                "strict" => strict = true,
                "keep"
                    if *self.peek() == Tok::Sub
                        && self.peek_at(1) == &Tok::Ident("empty".into()) =>
                {
                    self.i += 2;
                    keep_empty = true;
                }
                _ => {
                    return Err(error_at(
                        self.src,
                        pos,
                        "invalid logfmt flag, expecting --strict or --keep-empty",
                    ));
                }
            }
        }
        let params = self.extraction_params(false)?;
        Ok(Stage::Logfmt {
            strict,
            keep_empty,
            params,
        })
    }

    fn label_format(&mut self) -> Result<Stage, LogqlError> {
        let mut items = Vec::new();
        loop {
            let dst_pos = self.pos();
            let dst = self.expect_ident()?;
            self.expect(Tok::Eq)?;
            let src = match self.peek().clone() {
                Tok::Ident(s) => {
                    self.i += 1;
                    LabelFmtSource::Rename(s)
                }
                Tok::Str(t) => {
                    let pos = self.pos();
                    self.i += 1;
                    crate::template::LineTemplate::new(&t)
                        .map_err(|m| error_at(self.src, pos, m))?;
                    LabelFmtSource::Template(t)
                }
                _ => return Err(self.unexpected("IDENTIFIER or STRING")),
            };
            if items.iter().any(|(d, _): &(String, _)| *d == dst) {
                return Err(error_at(
                    self.src,
                    dst_pos,
                    format!(
                        "label_format: multiple label name '{dst}' not allowed in a single format operation"
                    ),
                ));
            }
            items.push((dst, src));
            if *self.peek() == Tok::Comma {
                self.i += 1;
            } else {
                return Ok(Stage::LabelFormat(items));
            }
        }
    }

    fn named_labels(&mut self) -> Result<Vec<NamedLabel>, LogqlError> {
        let mut out = Vec::new();
        loop {
            let name = self.expect_ident()?;
            let op = match self.peek() {
                Tok::Eq => Some(MatchOp::Equal),
                Tok::Neq => Some(MatchOp::NotEqual),
                Tok::Re => Some(MatchOp::Regex),
                Tok::Nre => Some(MatchOp::NotRegex),
                _ => None,
            };
            let matcher =
                match op {
                    Some(op) => {
                        self.i += 1;
                        let pos = self.pos();
                        let v = self.expect_str()?;
                        Some(Matcher::new(op, name.clone(), v).map_err(|e| {
                            error_at(self.src, pos, crate::lexer::matcher_error(&e))
                        })?)
                    }
                    None => None,
                };
            out.push(NamedLabel { name, matcher });
            if *self.peek() == Tok::Comma {
                self.i += 1;
            } else {
                return Ok(out);
            }
        }
    }

    fn unwrap(&mut self) -> Result<Unwrap, LogqlError> {
        let first = self.expect_ident()?;
        let (conv, label) = match first.as_str() {
            "duration" | "duration_seconds" | "bytes" if *self.peek() == Tok::LParen => {
                self.i += 1;
                let l = self.expect_ident()?;
                self.expect(Tok::RParen)?;
                let conv = match first.as_str() {
                    "duration" => UnwrapConv::Duration,
                    "duration_seconds" => UnwrapConv::DurationSeconds,
                    _ => UnwrapConv::Bytes,
                };
                (conv, l)
            }
            _ => (UnwrapConv::Number, first),
        };
        let mut post_filters = Vec::new();
        while *self.peek() == Tok::Pipe {
            self.i += 1;
            post_filters.push(self.label_filter()?);
        }
        Ok(Unwrap {
            label,
            conv,
            post_filters,
        })
    }

    /// A label filter expression: `or` binds looser than `and` and `,`.
    fn label_filter(&mut self) -> Result<LabelFilter, LogqlError> {
        let mut lhs = self.label_filter_and()?;
        while self.is_ident("or") {
            self.i += 1;
            let rhs = self.label_filter_and()?;
            lhs = LabelFilter::Or(Box::new(lhs), Box::new(rhs));
        }
        Ok(lhs)
    }

    fn label_filter_and(&mut self) -> Result<LabelFilter, LogqlError> {
        let mut lhs = self.label_filter_primary()?;
        loop {
            if self.is_ident("and") || *self.peek() == Tok::Comma {
                self.i += 1;
            } else if !self.juxtaposed_filter() {
                break;
            }
            let rhs = self.label_filter_primary()?;
            lhs = LabelFilter::And(Box::new(lhs), Box::new(rhs));
        }
        Ok(lhs)
    }

    /// Whether a label filter follows directly (`| a="b" c="d"`, a space meaning `and`).
    fn juxtaposed_filter(&self) -> bool {
        let Tok::Ident(name) = self.peek() else {
            return false;
        };
        if matches!(name.as_str(), "or" | "and" | "offset" | "by" | "without") {
            return false;
        }
        matches!(
            self.peek_at(1),
            Tok::Eq
                | Tok::Neq
                | Tok::Re
                | Tok::Nre
                | Tok::CmpEq
                | Tok::Gt
                | Tok::Gte
                | Tok::Lt
                | Tok::Lte
        )
    }

    fn label_filter_primary(&mut self) -> Result<LabelFilter, LogqlError> {
        if *self.peek() == Tok::LParen {
            self.i += 1;
            let f = self.label_filter()?;
            self.expect(Tok::RParen)?;
            return Ok(f);
        }
        let name = self.expect_ident()?;
        let op_tok = self.peek().clone();
        let cmp = match op_tok {
            Tok::Eq | Tok::CmpEq => CmpOp::Eq,
            Tok::Neq => CmpOp::Neq,
            Tok::Gt => CmpOp::Gt,
            Tok::Gte => CmpOp::Gte,
            Tok::Lt => CmpOp::Lt,
            Tok::Lte => CmpOp::Lte,
            Tok::Re | Tok::Nre => CmpOp::Eq,
            _ => return Err(self.unexpected("=, !=, =~, !~, ==, >, >=, < or <=")),
        };
        self.i += 1;
        let vpos = self.pos();
        match (self.peek().clone(), &op_tok) {
            (Tok::Str(v), Tok::Eq | Tok::Neq | Tok::Re | Tok::Nre) => {
                self.i += 1;
                let op = match op_tok {
                    Tok::Eq => MatchOp::Equal,
                    Tok::Neq => MatchOp::NotEqual,
                    Tok::Re => MatchOp::Regex,
                    _ => MatchOp::NotRegex,
                };
                let m = Matcher::new(op, name, v)
                    .map_err(|e| error_at(self.src, vpos, crate::lexer::matcher_error(&e)))?;
                Ok(LabelFilter::Str(m))
            }
            (Tok::Ident(w), Tok::Eq | Tok::Neq) if w == "ip" => {
                self.i += 1;
                self.expect(Tok::LParen)?;
                let ppos = self.pos();
                let pattern = self.expect_str()?;
                self.expect(Tok::RParen)?;
                crate::pipeline::ip::IpMatcher::parse(&pattern)
                    .map_err(|m| error_at(self.src, ppos, m))?;
                Ok(LabelFilter::Ip {
                    name,
                    negated: op_tok == Tok::Neq,
                    pattern,
                })
            }
            (Tok::Dur(d), t) if !matches!(t, Tok::Re | Tok::Nre) => {
                self.i += 1;
                Ok(LabelFilter::Duration {
                    name,
                    op: cmp,
                    value: d,
                })
            }
            (Tok::Bytes(b), t) if !matches!(t, Tok::Re | Tok::Nre) => {
                let text = self.token_text().to_string();
                self.i += 1;
                Ok(LabelFilter::Bytes {
                    name,
                    op: cmp,
                    value: b,
                    text,
                })
            }
            (Tok::Num(_) | Tok::Sub, t) if !matches!(t, Tok::Re | Tok::Nre) => {
                let value = self.expect_number()?;
                Ok(LabelFilter::Num {
                    name,
                    op: cmp,
                    value,
                })
            }
            _ => Err(self.unexpected("STRING, NUMBER, DURATION or BYTES")),
        }
    }
}
