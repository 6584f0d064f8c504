//! The canonical text of every node (`Display`), Loki's spelling on one line.

use std::fmt::{self, Display, Formatter, Write};

use oxeye_core::Matcher;

use super::*;
use crate::units::{format_duration, go_duration_string};

/// `s` as a Go double-quoted string literal.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A number as LogQL prints it.
pub fn format_number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        format!("{v}")
    }
}

fn write_matchers(f: &mut Formatter<'_>, matchers: &[Matcher]) -> fmt::Result {
    f.write_str("{")?;
    for (i, m) in matchers.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{}{}{}", m.name, m.op.as_str(), quote(&m.value))?;
    }
    f.write_str("}")
}

impl Display for LineFilter {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{} ", self.op.as_str())?;
        for (i, v) in self.values.iter().enumerate() {
            if i > 0 {
                f.write_str(" or ")?;
            }
            if self.ip {
                write!(f, "ip({})", quote(v))?;
            } else {
                f.write_str(&quote(v))?;
            }
        }
        Ok(())
    }
}

impl Display for LabelFilter {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            // `and` binds tighter than `or` and both associate to the left: operands
            // that would regroup otherwise are parenthesised.
            LabelFilter::And(a, b) => {
                write_filter_operand(f, a, matches!(**a, LabelFilter::Or(..)))?;
                f.write_str(" and ")?;
                write_filter_operand(
                    f,
                    b,
                    matches!(**b, LabelFilter::Or(..) | LabelFilter::And(..)),
                )
            }
            LabelFilter::Or(a, b) => {
                write!(f, "{a} or ")?;
                write_filter_operand(f, b, matches!(**b, LabelFilter::Or(..)))
            }
            LabelFilter::Str(m) => write!(f, "{}{}{}", m.name, m.op.as_str(), quote(&m.value)),
            LabelFilter::Ip {
                name,
                negated,
                pattern,
            } => write!(
                f,
                "{name}{}ip({})",
                if *negated { "!=" } else { "=" },
                quote(pattern)
            ),
            LabelFilter::Num { name, op, value } => {
                write!(f, "{name}{}{}", op.as_str(), format_number(*value))
            }
            LabelFilter::Duration { name, op, value } => {
                write!(f, "{name}{}{}", op.as_str(), go_duration_string(*value))
            }
            LabelFilter::Bytes { name, op, text, .. } => write!(f, "{name}{}{text}", op.as_str()),
        }
    }
}

fn write_filter_operand(f: &mut Formatter<'_>, lf: &LabelFilter, parens: bool) -> fmt::Result {
    if parens {
        write!(f, "({lf})")
    } else {
        write!(f, "{lf}")
    }
}

fn write_params(f: &mut Formatter<'_>, params: &[(String, String)]) -> fmt::Result {
    for (i, (k, v)) in params.iter().enumerate() {
        f.write_str(if i == 0 { " " } else { "," })?;
        write!(f, "{k}={}", quote(v))?;
    }
    Ok(())
}

fn write_named(f: &mut Formatter<'_>, labels: &[NamedLabel]) -> fmt::Result {
    for (i, l) in labels.iter().enumerate() {
        f.write_str(if i == 0 { " " } else { "," })?;
        match &l.matcher {
            Some(m) => write!(f, "{}{}{}", m.name, m.op.as_str(), quote(&m.value))?,
            None => f.write_str(&l.name)?,
        }
    }
    Ok(())
}

impl Display for Stage {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Stage::LineFilter(lf) => write!(f, "{lf}"),
            Stage::Json(params) => {
                f.write_str("| json")?;
                write_params(f, params)
            }
            Stage::Logfmt {
                strict,
                keep_empty,
                params,
            } => {
                f.write_str("| logfmt")?;
                if *strict {
                    f.write_str(" --strict")?;
                }
                if *keep_empty {
                    f.write_str(" --keep-empty")?;
                }
                write_params(f, params)
            }
            Stage::Regexp(re) => write!(f, "| regexp {}", quote(re)),
            Stage::Pattern(p) => write!(f, "| pattern {}", quote(p)),
            Stage::Unpack => f.write_str("| unpack"),
            Stage::LabelFilter(lf) => write!(f, "| {lf}"),
            Stage::LineFormat(t) => write!(f, "| line_format {}", quote(t)),
            Stage::LabelFormat(items) => {
                f.write_str("| label_format")?;
                for (i, (dst, src)) in items.iter().enumerate() {
                    f.write_str(if i == 0 { " " } else { "," })?;
                    match src {
                        LabelFmtSource::Rename(s) => write!(f, "{dst}={s}")?,
                        LabelFmtSource::Template(t) => write!(f, "{dst}={}", quote(t))?,
                    }
                }
                Ok(())
            }
            Stage::Drop(l) => {
                f.write_str("| drop")?;
                write_named(f, l)
            }
            Stage::Keep(l) => {
                f.write_str("| keep")?;
                write_named(f, l)
            }
            Stage::Decolorize => f.write_str("| decolorize"),
        }
    }
}

impl Display for LogExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write_matchers(f, &self.matchers)?;
        for s in &self.stages {
            write!(f, " {s}")?;
        }
        Ok(())
    }
}

impl Display for Grouping {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(
            f,
            " {} ({})",
            if self.without { "without" } else { "by" },
            self.labels.join(",")
        )
    }
}

impl Display for Unwrap {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self.conv {
            UnwrapConv::Number => write!(f, " | unwrap {}", self.label)?,
            UnwrapConv::Duration => write!(f, " | unwrap duration({})", self.label)?,
            UnwrapConv::DurationSeconds => write!(f, " | unwrap duration_seconds({})", self.label)?,
            UnwrapConv::Bytes => write!(f, " | unwrap bytes({})", self.label)?,
        }
        for lf in &self.post_filters {
            write!(f, " | {lf}")?;
        }
        Ok(())
    }
}

impl Display for RangeAgg {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}(", self.op.name())?;
        if let Some(p) = self.param {
            write!(f, "{},", format_number(p))?;
        }
        write!(f, "{}", self.log)?;
        if let Some(u) = &self.unwrap {
            write!(f, "{u}")?;
        }
        write!(f, "[{}]", format_duration(self.range_ns))?;
        if self.offset_ns != 0 {
            write!(f, " offset {}", format_duration(self.offset_ns))?;
        }
        f.write_str(")")?;
        if let Some(g) = &self.grouping {
            write!(f, "{g}")?;
        }
        Ok(())
    }
}

impl Display for SampleExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            SampleExpr::Range(r) => write!(f, "{r}"),
            SampleExpr::Vector {
                op,
                grouping,
                param,
                inner,
            } => {
                f.write_str(op.name())?;
                if let Some(g) = grouping {
                    write!(f, "{g}")?;
                }
                f.write_str("(")?;
                if let Some(p) = param {
                    write!(f, "{},", format_number(*p))?;
                }
                write!(f, "{inner})")
            }
            SampleExpr::Binary {
                op,
                modifiers,
                lhs,
                rhs,
            } => {
                write!(f, "({lhs} {}", op.as_str())?;
                if modifiers.return_bool {
                    f.write_str(" bool")?;
                }
                if let Some((on, labels)) = &modifiers.matching {
                    let kw = if *on { "on" } else { "ignoring" };
                    write!(f, " {kw}({})", labels.join(","))?;
                }
                if let Some((left, labels)) = &modifiers.group {
                    let kw = if *left { "group_left" } else { "group_right" };
                    write!(f, " {kw}({})", labels.join(","))?;
                }
                write!(f, " {rhs})")
            }
            SampleExpr::Literal(v) => f.write_str(&format_number(*v)),
            SampleExpr::VectorFn(v) => write!(f, "vector({})", format_number(*v)),
            SampleExpr::LabelReplace {
                inner,
                dst,
                replacement,
                src,
                regex,
            } => write!(
                f,
                "label_replace({inner},{},{},{},{})",
                quote(dst),
                quote(replacement),
                quote(src),
                quote(regex)
            ),
        }
    }
}

impl Display for Expr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Log(l) => write!(f, "{l}"),
            Expr::Sample(s) => write!(f, "{s}"),
        }
    }
}
