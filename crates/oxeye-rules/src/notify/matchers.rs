//! Alertmanager's matcher syntax: `name="value"`, `name!=value`, `name=~"re"`,
//! `name!~re`, optionally several separated by commas inside `{...}`. Regexes are fully
//! anchored; a label that is absent matches as the empty value.

use oxeye_core::{MatchOp, Matcher};

use super::LabelSet;

/// A conjunction of matchers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Matchers(pub Vec<Matcher>);

impl Matchers {
    /// Adds one.
    pub fn push(&mut self, m: Matcher) {
        self.0.push(m);
    }

    /// Whether every matcher accepts `labels`.
    pub fn matches(&self, labels: &LabelSet) -> bool {
        self.0
            .iter()
            .all(|m| m.matches(labels.get(&m.name).map_or("", String::as_str)))
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Display for Matchers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("{")?;
        for (i, m) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{}{}{:?}", m.name, m.op.as_str(), m.value)?;
        }
        f.write_str("}")
    }
}

/// Parses one matcher or a `{a="b",c=~"d"}` list.
pub fn parse_matchers(input: &str) -> Result<Vec<Matcher>, String> {
    let mut s = input.trim();
    if let Some(inner) = s.strip_prefix('{') {
        s = inner
            .strip_suffix('}')
            .ok_or_else(|| format!("bad matcher format {input:?}: missing closing brace"))?;
    }
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    loop {
        while i < chars.len() && (chars[i].is_whitespace() || chars[i] == ',') {
            i += 1;
        }
        if i >= chars.len() {
            break;
        }
        let start = i;
        while i < chars.len() && !matches!(chars[i], '=' | '!' | '~') && !chars[i].is_whitespace() {
            i += 1;
        }
        let mut name: String = chars[start..i].iter().collect();
        if name.len() >= 2 && name.starts_with('"') && name.ends_with('"') {
            name = name[1..name.len() - 1].to_string();
        }
        if name.is_empty() {
            return Err(format!("bad matcher format {input:?}: missing label name"));
        }
        while i < chars.len() && chars[i].is_whitespace() {
            i += 1;
        }
        let rest: String = chars[i..].iter().take(2).collect();
        let (op, len) = if rest.starts_with("=~") {
            (MatchOp::Regex, 2)
        } else if rest.starts_with("!=") {
            (MatchOp::NotEqual, 2)
        } else if rest.starts_with("!~") {
            (MatchOp::NotRegex, 2)
        } else if rest.starts_with('=') {
            (MatchOp::Equal, 1)
        } else {
            return Err(format!(
                "bad matcher format {input:?}: expected an operator (=, !=, =~, !~) after {name:?}"
            ));
        };
        i += len;
        while i < chars.len() && chars[i].is_whitespace() {
            i += 1;
        }
        let value = if chars.get(i) == Some(&'"') {
            i += 1;
            let mut v = String::new();
            loop {
                let Some(&c) = chars.get(i) else {
                    return Err(format!(
                        "bad matcher format {input:?}: unterminated quoted value"
                    ));
                };
                i += 1;
                match c {
                    '"' => break,
                    '\\' => {
                        let Some(&e) = chars.get(i) else {
                            return Err(format!("bad matcher format {input:?}: dangling escape"));
                        };
                        i += 1;
                        v.push(match e {
                            'n' => '\n',
                            't' => '\t',
                            other => other,
                        });
                    }
                    c => v.push(c),
                }
            }
            v
        } else {
            let start = i;
            while i < chars.len() && chars[i] != ',' {
                i += 1;
            }
            chars[start..i]
                .iter()
                .collect::<String>()
                .trim()
                .to_string()
        };
        let m = Matcher::new(op, name, value).map_err(|e| format!("bad matcher {input:?}: {e}"))?;
        out.push(m);
    }
    if out.is_empty() {
        return Err(format!("bad matcher format {input:?}: no matchers"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ls(pairs: &[(&str, &str)]) -> LabelSet {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parses_all_operators_and_lists() {
        let m =
            parse_matchers(r#"{severity="critical", team=~"db|web",env!=dev, x!~"a.*"}"#).unwrap();
        let ops: Vec<_> = m
            .iter()
            .map(|m| (m.name.as_str(), m.op, m.value.as_str()))
            .collect();
        assert_eq!(
            ops,
            vec![
                ("severity", MatchOp::Equal, "critical"),
                ("team", MatchOp::Regex, "db|web"),
                ("env", MatchOp::NotEqual, "dev"),
                ("x", MatchOp::NotRegex, "a.*"),
            ]
        );
        let ms = Matchers(m);
        assert!(ms.matches(&ls(&[("severity", "critical"), ("team", "db"), ("x", "b")])));
        assert!(!ms.matches(&ls(&[("severity", "critical"), ("team", "dbx")])));
        assert!(parse_matchers("foo").is_err());
        assert!(parse_matchers(r#"a="unterminated"#).is_err());
        assert!(parse_matchers(r#"a=~"(""#).is_err());
    }
}
