//! Compiled line filters and label filters.

use memchr::memmem::Finder;
use oxeye_core::Matcher;
use regex::Regex;

use super::ip::IpMatcher;
use super::labels::LabelState;
use super::pattern::Pattern;
use crate::ast::{CmpOp, LabelFilter, LineFilter, LineFilterOp};
use crate::units::{parse_bytes, parse_duration};

/// One alternative of a line filter.
#[derive(Debug)]
enum LineMatch {
    /// `|= ""` matches every line.
    Any,
    Contains(Finder<'static>),
    Regex(Regex),
    Pattern(Pattern),
    Ip(IpMatcher),
}

impl LineMatch {
    fn is_match(&self, line: &str) -> bool {
        match self {
            LineMatch::Any => true,
            LineMatch::Contains(f) => f.find(line.as_bytes()).is_some(),
            LineMatch::Regex(r) => r.is_match(line),
            LineMatch::Pattern(p) => p.matches(line, &mut |_, _| {}),
            LineMatch::Ip(ip) => ip.matches_line(line),
        }
    }
}

/// A compiled line filter.
#[derive(Debug)]
pub(crate) struct LineFilterEval {
    negated: bool,
    alts: Vec<LineMatch>,
}

impl LineFilterEval {
    pub(crate) fn new(f: &LineFilter) -> Result<Self, String> {
        let mut alts = Vec::with_capacity(f.values.len());
        for v in &f.values {
            let m = if f.ip {
                LineMatch::Ip(IpMatcher::parse(v)?)
            } else {
                match f.op {
                    LineFilterOp::Contains | LineFilterOp::NotContains if v.is_empty() => {
                        LineMatch::Any
                    }
                    LineFilterOp::Contains | LineFilterOp::NotContains => {
                        LineMatch::Contains(Finder::new(v.as_bytes()).into_owned())
                    }
                    LineFilterOp::Regex | LineFilterOp::NotRegex => LineMatch::Regex(
                        Regex::new(v).map_err(|e| format!("invalid regex {v:?}: {e}"))?,
                    ),
                    LineFilterOp::Pattern | LineFilterOp::NotPattern => {
                        LineMatch::Pattern(Pattern::parse(v, false)?)
                    }
                }
            };
            alts.push(m);
        }
        Ok(Self {
            negated: f.op.negated(),
            alts,
        })
    }

    /// Whether `line` passes.
    pub(crate) fn keep(&self, line: &str) -> bool {
        self.alts.iter().any(|m| m.is_match(line)) != self.negated
    }
}

/// A compiled label filter.
#[derive(Debug)]
pub(crate) enum LabelFilterEval {
    And(Box<LabelFilterEval>, Box<LabelFilterEval>),
    Or(Box<LabelFilterEval>, Box<LabelFilterEval>),
    Str(Matcher),
    Ip {
        name: String,
        negated: bool,
        ip: IpMatcher,
    },
    Num {
        name: String,
        op: CmpOp,
        value: f64,
    },
    Duration {
        name: String,
        op: CmpOp,
        value: i64,
    },
    Bytes {
        name: String,
        op: CmpOp,
        value: u64,
    },
}

impl LabelFilterEval {
    pub(crate) fn new(f: &LabelFilter) -> Result<Self, String> {
        Ok(match f {
            LabelFilter::And(a, b) => {
                LabelFilterEval::And(Box::new(Self::new(a)?), Box::new(Self::new(b)?))
            }
            LabelFilter::Or(a, b) => {
                LabelFilterEval::Or(Box::new(Self::new(a)?), Box::new(Self::new(b)?))
            }
            LabelFilter::Str(m) => LabelFilterEval::Str(m.clone()),
            LabelFilter::Ip {
                name,
                negated,
                pattern,
            } => LabelFilterEval::Ip {
                name: name.clone(),
                negated: *negated,
                ip: IpMatcher::parse(pattern)?,
            },
            LabelFilter::Num { name, op, value } => LabelFilterEval::Num {
                name: name.clone(),
                op: *op,
                value: *value,
            },
            LabelFilter::Duration { name, op, value } => LabelFilterEval::Duration {
                name: name.clone(),
                op: *op,
                value: *value,
            },
            LabelFilter::Bytes {
                name, op, value, ..
            } => LabelFilterEval::Bytes {
                name: name.clone(),
                op: *op,
                value: *value,
            },
        })
    }

    /// Whether the line with `labels` passes; a value that cannot be converted keeps
    /// the line and records `LabelFilterErr`, as Loki does.
    pub(crate) fn keep(&self, labels: &mut LabelState) -> bool {
        match self {
            LabelFilterEval::And(a, b) => a.keep(labels) && b.keep(labels),
            LabelFilterEval::Or(a, b) => a.keep(labels) || b.keep(labels),
            LabelFilterEval::Str(m) => m.matches(labels.get(&m.name).unwrap_or("")),
            LabelFilterEval::Ip { name, negated, ip } => {
                let v = labels.get(name).unwrap_or("");
                ip.matches_value(v) != *negated
            }
            LabelFilterEval::Num { name, op, value } => {
                let Some(v) = labels.get(name) else {
                    return false;
                };
                match v.trim().parse::<f64>() {
                    Ok(x) => op.apply(x, *value),
                    Err(_) => {
                        let details = format!("strconv.ParseFloat: parsing {v:?}: invalid syntax");
                        labels.set_error("LabelFilterErr", &details);
                        true
                    }
                }
            }
            LabelFilterEval::Duration { name, op, value } => {
                let Some(v) = labels.get(name) else {
                    return false;
                };
                match parse_duration(v.trim()) {
                    Some(x) => op.apply(x, *value),
                    None => {
                        let details = format!("time: invalid duration {v:?}");
                        labels.set_error("LabelFilterErr", &details);
                        true
                    }
                }
            }
            LabelFilterEval::Bytes { name, op, value } => {
                let Some(v) = labels.get(name) else {
                    return false;
                };
                match parse_bytes(v) {
                    Some(x) => op.apply(x, *value),
                    None => {
                        let details = format!("strconv.ParseFloat: parsing {v:?}: invalid syntax");
                        labels.set_error("LabelFilterErr", &details);
                        true
                    }
                }
            }
        }
    }

    /// Label names the filter reads.
    pub(crate) fn names(&self, out: &mut Vec<String>) {
        match self {
            LabelFilterEval::And(a, b) | LabelFilterEval::Or(a, b) => {
                a.names(out);
                b.names(out);
            }
            LabelFilterEval::Str(m) => out.push(m.name.clone()),
            LabelFilterEval::Ip { name, .. }
            | LabelFilterEval::Num { name, .. }
            | LabelFilterEval::Duration { name, .. }
            | LabelFilterEval::Bytes { name, .. } => out.push(name.clone()),
        }
    }
}
