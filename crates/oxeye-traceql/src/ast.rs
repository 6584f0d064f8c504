//! The TraceQL syntax tree.
//!
//! A query is a [`SpansetExpr`]: spanset filters (`{ ... }` around a [`FieldExpr`])
//! combined with spanset operators (`&&`, `||`, structural operators) and pipelines of
//! [`Stage`]s. Field expressions are evaluated per span; scalar expressions
//! ([`ScalarExpr`]) per spanset. `Display` renders the canonical text used for attribute
//! names in results (`by(resource.service.name)`, `avg(duration)`).

use std::fmt;

use oxeye_core::trace::{SpanKind, SpanStatusCode};
use regex::Regex;

use crate::lexer::AttrScopeKind;

/// A literal value.
#[derive(Debug, Clone, PartialEq)]
pub enum Static {
    /// `nil`: no value.
    Nil,
    /// A string.
    Str(String),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A duration, ns.
    Duration(i64),
    /// `true` / `false`.
    Bool(bool),
    /// `ok`, `error`, `unset`.
    Status(SpanStatusCode),
    /// `server`, `client`...
    Kind(SpanKind),
}

impl fmt::Display for Static {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Static::Nil => write!(f, "nil"),
            Static::Str(s) => write!(f, "{s:?}"),
            Static::Int(i) => write!(f, "{i}"),
            Static::Float(x) => write!(f, "{x}"),
            Static::Duration(ns) => write!(f, "{}", format_duration(*ns)),
            Static::Bool(b) => write!(f, "{b}"),
            Static::Status(s) => write!(f, "{}", s.as_str()),
            Static::Kind(k) => write!(f, "{}", k.as_str()),
        }
    }
}

/// Renders nanoseconds with the largest unit that divides them exactly.
pub fn format_duration(ns: i64) -> String {
    const UNITS: [(&str, i64); 6] = [
        ("h", 3_600_000_000_000),
        ("m", 60_000_000_000),
        ("s", 1_000_000_000),
        ("ms", 1_000_000),
        ("us", 1_000),
        ("ns", 1),
    ];
    for (unit, n) in UNITS {
        if ns != 0 && ns % n == 0 {
            return format!("{}{unit}", ns / n);
        }
    }
    "0s".to_string()
}

/// A built-in span or trace field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Intrinsic {
    Name,
    Status,
    StatusMessage,
    Kind,
    Duration,
    ChildCount,
    NestedSetLeft,
    NestedSetRight,
    NestedSetParent,
    SpanId,
    ParentId,
    TraceId,
    TraceDuration,
    RootName,
    RootService,
    EventName,
    EventTimeSinceStart,
    LinkTraceId,
    LinkSpanId,
    InstrumentationName,
    InstrumentationVersion,
}

impl Intrinsic {
    /// Resolves a bare or colon-scoped intrinsic name.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "name" | "span:name" => Intrinsic::Name,
            "status" | "span:status" => Intrinsic::Status,
            "statusMessage" | "span:statusMessage" => Intrinsic::StatusMessage,
            "kind" | "span:kind" => Intrinsic::Kind,
            "duration" | "span:duration" => Intrinsic::Duration,
            "childCount" | "span:childCount" => Intrinsic::ChildCount,
            "nestedSetLeft" | "span:nestedSetLeft" => Intrinsic::NestedSetLeft,
            "nestedSetRight" | "span:nestedSetRight" => Intrinsic::NestedSetRight,
            "nestedSetParent" | "span:nestedSetParent" => Intrinsic::NestedSetParent,
            "span:id" => Intrinsic::SpanId,
            "span:parentID" => Intrinsic::ParentId,
            "trace:id" => Intrinsic::TraceId,
            "traceDuration" | "trace:duration" => Intrinsic::TraceDuration,
            "rootName" | "trace:rootName" => Intrinsic::RootName,
            "rootServiceName" | "trace:rootService" => Intrinsic::RootService,
            "event:name" => Intrinsic::EventName,
            "event:timeSinceStart" => Intrinsic::EventTimeSinceStart,
            "link:traceID" => Intrinsic::LinkTraceId,
            "link:spanID" => Intrinsic::LinkSpanId,
            "instrumentation:name" => Intrinsic::InstrumentationName,
            "instrumentation:version" => Intrinsic::InstrumentationVersion,
            _ => return None,
        })
    }

    /// The canonical name, used as the key of selected values.
    pub fn as_str(self) -> &'static str {
        match self {
            Intrinsic::Name => "name",
            Intrinsic::Status => "status",
            Intrinsic::StatusMessage => "statusMessage",
            Intrinsic::Kind => "kind",
            Intrinsic::Duration => "duration",
            Intrinsic::ChildCount => "span:childCount",
            Intrinsic::NestedSetLeft => "nestedSetLeft",
            Intrinsic::NestedSetRight => "nestedSetRight",
            Intrinsic::NestedSetParent => "nestedSetParent",
            Intrinsic::SpanId => "span:id",
            Intrinsic::ParentId => "span:parentID",
            Intrinsic::TraceId => "trace:id",
            Intrinsic::TraceDuration => "trace:duration",
            Intrinsic::RootName => "trace:rootName",
            Intrinsic::RootService => "trace:rootService",
            Intrinsic::EventName => "event:name",
            Intrinsic::EventTimeSinceStart => "event:timeSinceStart",
            Intrinsic::LinkTraceId => "link:traceID",
            Intrinsic::LinkSpanId => "link:spanID",
            Intrinsic::InstrumentationName => "instrumentation:name",
            Intrinsic::InstrumentationVersion => "instrumentation:version",
        }
    }
}

/// An attribute reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Attribute {
    /// Where it is looked up.
    pub scope: AttrScopeKind,
    /// The attribute key.
    pub name: String,
}

impl fmt::Display for Attribute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plain = !self.name.is_empty()
            && !self
                .name
                .chars()
                .any(|c| c.is_whitespace() || "{}()=~!<>&|^,\"+*%".contains(c));
        if plain {
            write!(f, "{}{}", self.scope.prefix(), self.name)
        } else {
            write!(f, "{}{:?}", self.scope.prefix(), self.name)
        }
    }
}

/// Binary operators within a spanset filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    And,
    Or,
    Eq,
    Neq,
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
}

impl BinOp {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            BinOp::And => "&&",
            BinOp::Or => "||",
            BinOp::Eq => "=",
            BinOp::Neq => "!=",
            BinOp::Gt => ">",
            BinOp::Gte => ">=",
            BinOp::Lt => "<",
            BinOp::Lte => "<=",
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Mod => "%",
            BinOp::Pow => "^",
        }
    }

    /// Whether the operator compares (yields a boolean from two values).
    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinOp::Eq | BinOp::Neq | BinOp::Gt | BinOp::Gte | BinOp::Lt | BinOp::Lte
        )
    }

    /// Whether the operator is arithmetic.
    pub fn is_arithmetic(self) -> bool {
        matches!(
            self,
            BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Mod | BinOp::Pow
        )
    }
}

/// An expression evaluated per span.
#[derive(Debug, Clone)]
pub enum FieldExpr {
    /// A literal.
    Static(Static),
    /// An attribute.
    Attr(Attribute),
    /// An intrinsic.
    Intrinsic(Intrinsic),
    /// `lhs op rhs`.
    Binary {
        op: BinOp,
        lhs: Box<FieldExpr>,
        rhs: Box<FieldExpr>,
    },
    /// `!expr`.
    Not(Box<FieldExpr>),
    /// `-expr`.
    Neg(Box<FieldExpr>),
    /// `lhs =~ "re"` or `lhs !~ "re"`; the regex is fully anchored.
    Regex {
        lhs: Box<FieldExpr>,
        negated: bool,
        source: String,
        regex: Regex,
    },
}

impl fmt::Display for FieldExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldExpr::Static(s) => write!(f, "{s}"),
            FieldExpr::Attr(a) => write!(f, "{a}"),
            FieldExpr::Intrinsic(i) => write!(f, "{}", i.as_str()),
            FieldExpr::Binary { op, lhs, rhs } => write!(f, "{lhs} {} {rhs}", op.as_str()),
            FieldExpr::Not(e) => write!(f, "!{e}"),
            FieldExpr::Neg(e) => write!(f, "-{e}"),
            FieldExpr::Regex {
                lhs,
                negated,
                source,
                ..
            } => {
                let op = if *negated { "!~" } else { "=~" };
                write!(f, "{lhs} {op} {source:?}")
            }
        }
    }
}

/// Operators between spansets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpansetOp {
    /// `&&`: both sides match; their spans.
    And,
    /// `||`: either side matches; their spans.
    Or,
    /// `>`: right-hand spans whose parent matches the left.
    Child,
    /// `>>`: right-hand spans with an ancestor matching the left.
    Descendant,
    /// `<`: right-hand spans that are the parent of a left-hand span.
    Parent,
    /// `<<`: right-hand spans that are an ancestor of a left-hand span.
    Ancestor,
    /// `~`: right-hand spans with a sibling matching the left.
    Sibling,
    /// `!>`
    NotChild,
    /// `!>>`
    NotDescendant,
    /// `!<`
    NotParent,
    /// `!<<`
    NotAncestor,
    /// `!~`
    NotSibling,
    /// `&>`: both sides of each child relation.
    UnionChild,
    /// `&>>`
    UnionDescendant,
    /// `&<`
    UnionParent,
    /// `&<<`
    UnionAncestor,
    /// `&~`
    UnionSibling,
}

/// An aggregate over the spans of a spanset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggKind {
    Count,
    Avg,
    Min,
    Max,
    Sum,
}

impl AggKind {
    /// The function name.
    pub fn as_str(self) -> &'static str {
        match self {
            AggKind::Count => "count",
            AggKind::Avg => "avg",
            AggKind::Min => "min",
            AggKind::Max => "max",
            AggKind::Sum => "sum",
        }
    }

    /// Resolves a function name.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "count" => AggKind::Count,
            "avg" => AggKind::Avg,
            "min" => AggKind::Min,
            "max" => AggKind::Max,
            "sum" => AggKind::Sum,
            _ => return None,
        })
    }
}

/// An expression evaluated per spanset.
#[derive(Debug, Clone)]
pub enum ScalarExpr {
    /// `count()` or `avg(field)`...
    Agg {
        kind: AggKind,
        field: Option<FieldExpr>,
    },
    /// A literal.
    Static(Static),
    /// Arithmetic between scalars.
    Binary {
        op: BinOp,
        lhs: Box<ScalarExpr>,
        rhs: Box<ScalarExpr>,
    },
    /// `-expr`.
    Neg(Box<ScalarExpr>),
}

impl fmt::Display for ScalarExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScalarExpr::Agg { kind, field } => match field {
                Some(e) => write!(f, "{}({e})", kind.as_str()),
                None => write!(f, "{}()", kind.as_str()),
            },
            ScalarExpr::Static(s) => write!(f, "{s}"),
            ScalarExpr::Binary { op, lhs, rhs } => write!(f, "{lhs} {} {rhs}", op.as_str()),
            ScalarExpr::Neg(e) => write!(f, "-{e}"),
        }
    }
}

/// One stage after a `|`.
#[derive(Debug, Clone)]
pub enum Stage {
    /// A spanset expression applied within each spanset.
    Spanset(SpansetExpr),
    /// `count() > 2`: keeps spansets for which the comparison holds.
    ScalarFilter {
        lhs: ScalarExpr,
        op: BinOp,
        rhs: ScalarExpr,
    },
    /// `by(field)`: splits each spanset per value.
    By(FieldExpr),
    /// `select(fields...)`: adds values to the returned spans.
    Select(Vec<FieldExpr>),
    /// `coalesce()`: merges all spansets into one.
    Coalesce,
}

/// A spanset-level expression: what a query is.
#[derive(Debug, Clone)]
pub enum SpansetExpr {
    /// `{ expr }`; `{}` holds `Static(Bool(true))`.
    Filter(FieldExpr),
    /// `lhs op rhs` between spansets.
    Binary {
        op: SpansetOp,
        lhs: Box<SpansetExpr>,
        rhs: Box<SpansetExpr>,
    },
    /// `input | stage`.
    Pipeline {
        input: Box<SpansetExpr>,
        stage: Box<Stage>,
    },
}
