//! The LogQL syntax tree and its canonical text (`Display`), which is what
//! `/loki/api/v1/format_query` answers: one line, Loki's spelling of every node.

mod format;

use oxeye_core::Matcher;

pub use format::{format_number, quote};

/// A parsed LogQL expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A log query: a stream selector and a pipeline.
    Log(LogExpr),
    /// A metric query.
    Sample(SampleExpr),
}

/// A stream selector and its pipeline.
#[derive(Debug, Clone, PartialEq)]
pub struct LogExpr {
    /// The stream matchers.
    pub matchers: Vec<Matcher>,
    /// The pipeline stages, in order.
    pub stages: Vec<Stage>,
}

/// A line filter operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineFilterOp {
    /// `|=`
    Contains,
    /// `!=`
    NotContains,
    /// `|~`
    Regex,
    /// `!~`
    NotRegex,
    /// `|>`
    Pattern,
    /// `!>`
    NotPattern,
}

impl LineFilterOp {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            LineFilterOp::Contains => "|=",
            LineFilterOp::NotContains => "!=",
            LineFilterOp::Regex => "|~",
            LineFilterOp::NotRegex => "!~",
            LineFilterOp::Pattern => "|>",
            LineFilterOp::NotPattern => "!>",
        }
    }

    /// Whether the operator keeps lines that do not match.
    pub fn negated(self) -> bool {
        matches!(
            self,
            LineFilterOp::NotContains | LineFilterOp::NotRegex | LineFilterOp::NotPattern
        )
    }
}

/// One line filter: an operator and its values, alternatives chained with `or`.
#[derive(Debug, Clone, PartialEq)]
pub struct LineFilter {
    /// The operator.
    pub op: LineFilterOp,
    /// The values; more than one means `"a" or "b"`.
    pub values: Vec<String>,
    /// `ip("...")` filter (values are addresses, ranges or CIDRs).
    pub ip: bool,
}

/// How `label_format` sets one label.
#[derive(Debug, Clone, PartialEq)]
pub enum LabelFmtSource {
    /// `dst=src`: rename.
    Rename(String),
    /// `dst="{{...}}"`: a template.
    Template(String),
}

/// A label named in `drop`/`keep`, optionally with a value matcher (`name="value"`).
#[derive(Debug, Clone, PartialEq)]
pub struct NamedLabel {
    /// The label name.
    pub name: String,
    /// Only labels whose value matches.
    pub matcher: Option<Matcher>,
}

/// A comparison operator of numeric label filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `==` (also written `=`)
    Eq,
    /// `!=`
    Neq,
    /// `>`
    Gt,
    /// `>=`
    Gte,
    /// `<`
    Lt,
    /// `<=`
    Lte,
}

impl CmpOp {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Neq => "!=",
            CmpOp::Gt => ">",
            CmpOp::Gte => ">=",
            CmpOp::Lt => "<",
            CmpOp::Lte => "<=",
        }
    }

    /// Applies the comparison.
    pub fn apply<T: PartialOrd>(self, a: T, b: T) -> bool {
        match self {
            CmpOp::Eq => a == b,
            CmpOp::Neq => a != b,
            CmpOp::Gt => a > b,
            CmpOp::Gte => a >= b,
            CmpOp::Lt => a < b,
            CmpOp::Lte => a <= b,
        }
    }
}

/// A label filter expression.
#[derive(Debug, Clone, PartialEq)]
pub enum LabelFilter {
    /// Both hold.
    And(Box<LabelFilter>, Box<LabelFilter>),
    /// Either holds.
    Or(Box<LabelFilter>, Box<LabelFilter>),
    /// A string matcher on a label's value.
    Str(Matcher),
    /// `name = ip("...")` / `name != ip("...")`.
    Ip {
        /// The label.
        name: String,
        /// Whether the filter is `!=`.
        negated: bool,
        /// The address, range or CIDR.
        pattern: String,
    },
    /// A number comparison.
    Num {
        /// The label.
        name: String,
        /// The operator.
        op: CmpOp,
        /// The number.
        value: f64,
    },
    /// A duration comparison (ns).
    Duration {
        /// The label.
        name: String,
        /// The operator.
        op: CmpOp,
        /// The duration, ns.
        value: i64,
    },
    /// A byte size comparison.
    Bytes {
        /// The label.
        name: String,
        /// The operator.
        op: CmpOp,
        /// The size, bytes.
        value: u64,
        /// The size as written (`20kB`).
        text: String,
    },
}

/// One pipeline stage.
#[derive(Debug, Clone, PartialEq)]
pub enum Stage {
    /// A line filter.
    LineFilter(LineFilter),
    /// `json`, with `label="path"` parameters when given.
    Json(Vec<(String, String)>),
    /// `logfmt` with its flags and parameters.
    Logfmt {
        /// `--strict`
        strict: bool,
        /// `--keep-empty`
        keep_empty: bool,
        /// `label="key"` parameters.
        params: Vec<(String, String)>,
    },
    /// `regexp "..."`.
    Regexp(String),
    /// `pattern "..."`.
    Pattern(String),
    /// `unpack`.
    Unpack,
    /// A label filter.
    LabelFilter(LabelFilter),
    /// `line_format "..."`.
    LineFormat(String),
    /// `label_format a=b, c="{{...}}"`.
    LabelFormat(Vec<(String, LabelFmtSource)>),
    /// `drop a, b="c"`.
    Drop(Vec<NamedLabel>),
    /// `keep a, b="c"`.
    Keep(Vec<NamedLabel>),
    /// `decolorize`.
    Decolorize,
}

/// A range aggregation's function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeOp {
    /// `count_over_time`
    Count,
    /// `rate`
    Rate,
    /// `rate_counter`
    RateCounter,
    /// `bytes_over_time`
    Bytes,
    /// `bytes_rate`
    BytesRate,
    /// `absent_over_time`
    Absent,
    /// `sum_over_time`
    Sum,
    /// `avg_over_time`
    Avg,
    /// `min_over_time`
    Min,
    /// `max_over_time`
    Max,
    /// `first_over_time`
    First,
    /// `last_over_time`
    Last,
    /// `stddev_over_time`
    Stddev,
    /// `stdvar_over_time`
    Stdvar,
    /// `quantile_over_time`
    Quantile,
}

impl RangeOp {
    /// All functions with their names.
    pub const ALL: [(&'static str, RangeOp); 15] = [
        ("count_over_time", RangeOp::Count),
        ("rate", RangeOp::Rate),
        ("rate_counter", RangeOp::RateCounter),
        ("bytes_over_time", RangeOp::Bytes),
        ("bytes_rate", RangeOp::BytesRate),
        ("absent_over_time", RangeOp::Absent),
        ("sum_over_time", RangeOp::Sum),
        ("avg_over_time", RangeOp::Avg),
        ("min_over_time", RangeOp::Min),
        ("max_over_time", RangeOp::Max),
        ("first_over_time", RangeOp::First),
        ("last_over_time", RangeOp::Last),
        ("stddev_over_time", RangeOp::Stddev),
        ("stdvar_over_time", RangeOp::Stdvar),
        ("quantile_over_time", RangeOp::Quantile),
    ];

    /// The function's name.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, op)| *op == self)
            .map_or("", |(n, _)| n)
    }

    /// Whether the function reads unwrapped values (else it counts lines or bytes;
    /// `rate` works both ways).
    pub fn needs_unwrap(self) -> bool {
        !matches!(
            self,
            RangeOp::Count | RangeOp::Bytes | RangeOp::BytesRate | RangeOp::Absent | RangeOp::Rate
        )
    }

    /// Whether the function accepts an unwrap stage.
    pub fn allows_unwrap(self) -> bool {
        self.needs_unwrap() || self == RangeOp::Rate
    }
}

/// How `unwrap` converts a label's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnwrapConv {
    /// A plain number.
    Number,
    /// `duration(...)` / `duration_seconds(...)`: seconds.
    Duration,
    /// `duration_seconds(...)`, same as `duration`.
    DurationSeconds,
    /// `bytes(...)`.
    Bytes,
}

/// `| unwrap [conv(]label[)]` and the label filters after it.
#[derive(Debug, Clone, PartialEq)]
pub struct Unwrap {
    /// The label.
    pub label: String,
    /// The conversion.
    pub conv: UnwrapConv,
    /// Label filters after the unwrap (e.g. `| __error__=""`).
    pub post_filters: Vec<LabelFilter>,
}

/// `by (...)` / `without (...)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Grouping {
    /// `without` rather than `by`.
    pub without: bool,
    /// The labels.
    pub labels: Vec<String>,
}

/// A range aggregation over a log range.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeAgg {
    /// The function.
    pub op: RangeOp,
    /// The quantile of `quantile_over_time`.
    pub param: Option<f64>,
    /// The log query.
    pub log: LogExpr,
    /// The unwrap stage, if any.
    pub unwrap: Option<Unwrap>,
    /// The range, ns.
    pub range_ns: i64,
    /// `offset`, ns.
    pub offset_ns: i64,
    /// `by`/`without` on the range aggregation.
    pub grouping: Option<Grouping>,
}

/// A vector aggregation operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VectorOp {
    /// `sum`
    Sum,
    /// `avg`
    Avg,
    /// `min`
    Min,
    /// `max`
    Max,
    /// `count`
    Count,
    /// `stddev`
    Stddev,
    /// `stdvar`
    Stdvar,
    /// `topk`
    Topk,
    /// `bottomk`
    Bottomk,
    /// `sort`
    Sort,
    /// `sort_desc`
    SortDesc,
}

impl VectorOp {
    /// All operators with their names.
    pub const ALL: [(&'static str, VectorOp); 11] = [
        ("sum", VectorOp::Sum),
        ("avg", VectorOp::Avg),
        ("min", VectorOp::Min),
        ("max", VectorOp::Max),
        ("count", VectorOp::Count),
        ("stddev", VectorOp::Stddev),
        ("stdvar", VectorOp::Stdvar),
        ("topk", VectorOp::Topk),
        ("bottomk", VectorOp::Bottomk),
        ("sort", VectorOp::Sort),
        ("sort_desc", VectorOp::SortDesc),
    ];

    /// The operator's name.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, op)| *op == self)
            .map_or("", |(n, _)| n)
    }
}

/// A binary operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    /// `or`
    Or,
    /// `and`
    And,
    /// `unless`
    Unless,
    /// `==`
    Eq,
    /// `!=`
    Neq,
    /// `>`
    Gt,
    /// `>=`
    Gte,
    /// `<`
    Lt,
    /// `<=`
    Lte,
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Mod,
    /// `^`
    Pow,
}

impl BinOp {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            BinOp::Or => "or",
            BinOp::And => "and",
            BinOp::Unless => "unless",
            BinOp::Eq => "==",
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

    /// Whether the operator compares.
    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinOp::Eq | BinOp::Neq | BinOp::Gt | BinOp::Gte | BinOp::Lt | BinOp::Lte
        )
    }

    /// Whether the operator is a set operator.
    pub fn is_set(self) -> bool {
        matches!(self, BinOp::Or | BinOp::And | BinOp::Unless)
    }
}

/// Vector matching of a binary operation.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BinModifiers {
    /// `bool` on a comparison.
    pub return_bool: bool,
    /// `on(...)` (true) or `ignoring(...)` (false) with its labels.
    pub matching: Option<(bool, Vec<String>)>,
    /// `group_left(...)` (true) or `group_right(...)` (false) with its labels.
    pub group: Option<(bool, Vec<String>)>,
}

/// A metric expression.
#[derive(Debug, Clone, PartialEq)]
pub enum SampleExpr {
    /// A range aggregation.
    Range(Box<RangeAgg>),
    /// A vector aggregation.
    Vector {
        /// The operator.
        op: VectorOp,
        /// `by`/`without`.
        grouping: Option<Grouping>,
        /// The `k` of `topk`/`bottomk`.
        param: Option<f64>,
        /// The aggregated expression.
        inner: Box<SampleExpr>,
    },
    /// A binary operation.
    Binary {
        /// The operator.
        op: BinOp,
        /// Matching modifiers.
        modifiers: BinModifiers,
        /// Left side.
        lhs: Box<SampleExpr>,
        /// Right side.
        rhs: Box<SampleExpr>,
    },
    /// A number.
    Literal(f64),
    /// `vector(n)`.
    VectorFn(f64),
    /// `label_replace(inner, dst, replacement, src, regex)`.
    LabelReplace {
        /// The expression.
        inner: Box<SampleExpr>,
        /// Destination label.
        dst: String,
        /// Replacement template.
        replacement: String,
        /// Source label.
        src: String,
        /// The regex.
        regex: String,
    },
}
