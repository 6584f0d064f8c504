//! Label matchers with Prometheus semantics.
//!
//! Regexes are fully anchored (`^(?s:re)$`, as Prometheus 3 compiles them), and a matcher
//! that matches the empty string also selects series that lack the label. The
//! [`RegexShape`] of a regex lets an index answer common shapes (`.*`, `foo.*`,
//! `a|b|c`) without running the regex on every value.

use regex::Regex;

/// The four matcher operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchOp {
    /// `=`
    Equal,
    /// `!=`
    NotEqual,
    /// `=~`
    Regex,
    /// `!~`
    NotRegex,
}

impl MatchOp {
    /// The operator as written in PromQL.
    pub fn as_str(self) -> &'static str {
        match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::Regex => "=~",
            MatchOp::NotRegex => "!~",
        }
    }
}

/// A regex that did not compile.
#[derive(Debug, thiserror::Error)]
#[error("invalid regular expression {pattern:?}: {source}")]
pub struct MatcherError {
    pattern: String,
    #[source]
    source: regex::Error,
}

/// What a regex looks like, so an index can avoid running it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegexShape {
    /// `.*`: matches every value, including the empty one.
    Any,
    /// `.+`: matches every non-empty value.
    NonEmpty,
    /// An alternation of plain literals (`a|b|c`), a single literal included.
    Literals(Vec<String>),
    /// A plain literal prefix followed by `.*` (`foo.*`).
    Prefix(String),
    /// Anything else: run the regex.
    General,
}

/// One `name op value` matcher.
#[derive(Debug, Clone)]
pub struct Matcher {
    /// Label name.
    pub name: String,
    /// Operator.
    pub op: MatchOp,
    /// Value or regex source.
    pub value: String,
    regex: Option<Regex>,
    shape: RegexShape,
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.op == other.op && self.value == other.value
    }
}

impl Matcher {
    /// Builds a matcher, compiling the regex for `=~` and `!~`.
    pub fn new(
        op: MatchOp,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<Self, MatcherError> {
        let name = name.into();
        let value = value.into();
        let (regex, shape) = match op {
            MatchOp::Regex | MatchOp::NotRegex => {
                let re = Regex::new(&format!("^(?s:{value})$")).map_err(|source| MatcherError {
                    pattern: value.clone(),
                    source,
                })?;
                (Some(re), regex_shape(&value))
            }
            MatchOp::Equal | MatchOp::NotEqual => (None, RegexShape::Literals(vec![value.clone()])),
        };
        Ok(Self {
            name,
            op,
            value,
            regex,
            shape,
        })
    }

    /// `name="value"`, which cannot fail.
    pub fn equal(name: impl Into<String>, value: impl Into<String>) -> Self {
        let value = value.into();
        Self {
            name: name.into(),
            op: MatchOp::Equal,
            shape: RegexShape::Literals(vec![value.clone()]),
            value,
            regex: None,
        }
    }

    /// Whether `value` (empty when the label is absent) satisfies the matcher.
    pub fn matches(&self, value: &str) -> bool {
        match self.op {
            MatchOp::Equal => self.value == value,
            MatchOp::NotEqual => self.value != value,
            MatchOp::Regex => self.regex_matches(value),
            MatchOp::NotRegex => !self.regex_matches(value),
        }
    }

    fn regex_matches(&self, value: &str) -> bool {
        match &self.shape {
            RegexShape::Any => true,
            RegexShape::NonEmpty => !value.is_empty(),
            RegexShape::Literals(lits) => lits.iter().any(|l| l == value),
            RegexShape::Prefix(p) => value.starts_with(p.as_str()),
            RegexShape::General => self.regex.as_ref().is_some_and(|r| r.is_match(value)),
        }
    }

    /// Whether the matcher selects series without this label (it matches "").
    pub fn matches_empty(&self) -> bool {
        self.matches("")
    }

    /// The shape of the value for `=~`/`!~` (a one-literal set for `=`/`!=`).
    pub fn shape(&self) -> &RegexShape {
        &self.shape
    }
}

impl std::fmt::Display for Matcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}{:?}", self.name, self.op.as_str(), self.value)
    }
}

const META: &[char] = &[
    '\\', '.', '+', '*', '?', '(', ')', '|', '[', ']', '{', '}', '^', '$',
];

fn is_plain(s: &str) -> bool {
    !s.contains(META)
}

/// The inside of a regex that is one group with no group inside it: `(x)` or `(?:x)`.
fn strip_group(re: &str) -> Option<&str> {
    let inner = re.strip_prefix('(')?.strip_suffix(')')?;
    let inner = inner.strip_prefix("?:").unwrap_or(inner);
    (!inner.contains(['(', ')'])).then_some(inner)
}

/// Classifies a regex source into a [`RegexShape`].
fn regex_shape(re: &str) -> RegexShape {
    match re {
        ".*" => return RegexShape::Any,
        ".+" => return RegexShape::NonEmpty,
        _ => {}
    }
    if let Some(prefix) = re.strip_suffix(".*")
        && is_plain(prefix)
    {
        return RegexShape::Prefix(prefix.to_string());
    }
    // Grafana sends a multi-value variable as one group, `(a|b|c)`: the group changes
    // nothing the anchored regex matches, so it is the same set of literals.
    let alternation = strip_group(re).unwrap_or(re);
    let parts: Vec<&str> = alternation.split('|').collect();
    if parts.iter().all(|p| is_plain(p)) {
        let mut lits: Vec<String> = parts.into_iter().map(str::to_string).collect();
        lits.sort();
        lits.dedup();
        return RegexShape::Literals(lits);
    }
    RegexShape::General
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(op: MatchOp, v: &str) -> Matcher {
        Matcher::new(op, "l", v).unwrap()
    }

    #[test]
    fn regex_is_fully_anchored() {
        let r = m(MatchOp::Regex, "foo");
        assert!(r.matches("foo"));
        assert!(!r.matches("foobar"));
        assert!(!r.matches("xfoo"));
        let g = m(MatchOp::Regex, "f[a-z]o");
        assert!(g.matches("fzo"));
        assert!(!g.matches("fzoo"));
    }

    #[test]
    fn dot_matches_newline() {
        assert!(m(MatchOp::Regex, "a.b").matches("a\nb"));
    }

    #[test]
    fn shapes() {
        assert_eq!(regex_shape(".*"), RegexShape::Any);
        assert_eq!(regex_shape("foo.*"), RegexShape::Prefix("foo".into()));
        assert_eq!(
            regex_shape("b|a|a"),
            RegexShape::Literals(vec!["a".into(), "b".into()])
        );
        assert_eq!(
            regex_shape("(web|api)"),
            RegexShape::Literals(vec!["api".into(), "web".into()])
        );
        assert_eq!(regex_shape("(?:x)"), RegexShape::Literals(vec!["x".into()]));
        assert_eq!(regex_shape("(a)|(b)"), RegexShape::General);
        assert_eq!(regex_shape("(a|b.*)"), RegexShape::General);
        assert_eq!(regex_shape("a+"), RegexShape::General);
        assert_eq!(regex_shape("fo\\.o.*"), RegexShape::General);
    }

    #[test]
    fn shapes_agree_with_regex() {
        for re in [
            ".*", ".+", "foo.*", "a|b|", "x", "", "a.*b", "(a|b)c", "(a|b)", "(?:a|bc)", "()",
            "(a|)", "(a)|(b)", "((a|b))",
        ] {
            let fast = m(MatchOp::Regex, re);
            let slow = Regex::new(&format!("^(?s:{re})$")).unwrap();
            for v in [
                "", "a", "b", "x", "foo", "foobar", "ab", "acb", "ac", "bc", "\n",
            ] {
                assert_eq!(fast.matches(v), slow.is_match(v), "re={re:?} v={v:?}");
            }
        }
    }

    #[test]
    fn empty_matching() {
        assert!(m(MatchOp::Equal, "").matches_empty());
        assert!(m(MatchOp::Regex, ".*").matches_empty());
        assert!(!m(MatchOp::Regex, ".+").matches_empty());
        assert!(m(MatchOp::NotEqual, "x").matches_empty());
        assert!(!m(MatchOp::NotRegex, "").matches_empty());
    }

    #[test]
    fn bad_regex_is_an_error() {
        assert!(Matcher::new(MatchOp::Regex, "l", "(").is_err());
    }
}
