//! Loki's pattern syntax (`<ip> - <_> [<ts>] "<method> <path> <_>"`), used by the
//! `pattern` parser and the `|>`/`!>` line filters.
//!
//! A leading literal must start the line; each capture runs to the first occurrence
//! of the literal after it (or to the end of the line when it is last); text after the
//! last literal is ignored.

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Lit(String),
    /// A capture; `None` for `<_>`.
    Cap(Option<String>),
}

/// A compiled pattern.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Pattern {
    parts: Vec<Part>,
}

fn capture_name(s: &str) -> Option<&str> {
    let inner = s.strip_prefix('<')?;
    let end = inner.find('>')?;
    let name = &inner[..end];
    let mut chars = name.chars();
    let first = chars.next()?;
    if !(first.is_ascii_alphabetic() || first == '_') {
        return None;
    }
    if !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return None;
    }
    Some(name)
}

impl Pattern {
    /// Parses `text`; the parser form (`named`) needs at least one named capture.
    pub(crate) fn parse(text: &str, named: bool) -> Result<Self, String> {
        let mut parts: Vec<Part> = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            if let Some(name) = capture_name(rest) {
                if matches!(parts.last(), Some(Part::Cap(_))) {
                    return Err(format!(
                        "invalid pattern {text:?}: consecutive captures are not allowed"
                    ));
                }
                let cap = (name != "_").then(|| name.to_string());
                if let Some(n) = &cap
                    && parts
                        .iter()
                        .any(|p| matches!(p, Part::Cap(Some(m)) if m == n))
                {
                    return Err(format!("invalid pattern {text:?}: duplicate capture {n:?}"));
                }
                parts.push(Part::Cap(cap));
                rest = &rest[name.len() + 2..];
                continue;
            }
            let next = rest
                .char_indices()
                .skip(1)
                .find(|(i, _)| capture_name(&rest[*i..]).is_some())
                .map_or(rest.len(), |(i, _)| i);
            match parts.last_mut() {
                Some(Part::Lit(l)) => l.push_str(&rest[..next]),
                _ => parts.push(Part::Lit(rest[..next].to_string())),
            }
            rest = &rest[next..];
        }
        if !parts.iter().any(|p| matches!(p, Part::Cap(_))) {
            return Err(format!(
                "invalid pattern {text:?}: at least one capture is required"
            ));
        }
        if named && !parts.iter().any(|p| matches!(p, Part::Cap(Some(_)))) {
            return Err(format!(
                "invalid pattern {text:?}: at least one named capture is required"
            ));
        }
        Ok(Self { parts })
    }

    /// The literal parts, which every matching line contains.
    pub(crate) fn literals(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Lit(l) if !l.is_empty() => Some(l.as_str()),
            _ => None,
        })
    }

    /// Matches `line`, calling `emit(name, value)` for named captures; false when the
    /// line does not follow the pattern (captures may have been emitted already).
    pub(crate) fn matches(&self, line: &str, emit: &mut dyn FnMut(&str, &str)) -> bool {
        let mut pos = 0;
        let mut i = 0;
        while let Some(part) = self.parts.get(i) {
            let rest = line.get(pos..).unwrap_or("");
            match part {
                Part::Lit(l) => {
                    if !rest.starts_with(l.as_str()) {
                        return false;
                    }
                    pos += l.len();
                    i += 1;
                }
                Part::Cap(name) => match self.parts.get(i + 1) {
                    Some(Part::Lit(l)) => {
                        let Some(at) = memchr::memmem::find(rest.as_bytes(), l.as_bytes()) else {
                            return false;
                        };
                        if let Some(n) = name {
                            emit(n, &rest[..at]);
                        }
                        pos += at + l.len();
                        i += 2;
                    }
                    _ => {
                        if let Some(n) = name {
                            emit(n, rest);
                        }
                        return true;
                    }
                },
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nginx_line() {
        let p =
            Pattern::parse(r#"<ip> - <_> [<ts>] "<method> <path> <_>" <status>"#, true).unwrap();
        let mut got = Vec::new();
        let ok = p.matches(
            r#"10.0.0.1 - - [22/Nov/2026:10:00:00 +0000] "GET /api HTTP/1.1" 200 512"#,
            &mut |n, v| got.push((n.to_string(), v.to_string())),
        );
        assert!(ok);
        assert_eq!(
            got,
            vec![
                ("ip".into(), "10.0.0.1".into()),
                ("ts".into(), "22/Nov/2026:10:00:00 +0000".into()),
                ("method".into(), "GET".into()),
                ("path".into(), "/api".into()),
                ("status".into(), "200 512".into()),
            ]
        );
        assert!(!p.matches("garbage", &mut |_, _| {}));
    }

    #[test]
    fn rejects_bad_patterns() {
        assert!(Pattern::parse("<a><b>", true).is_err());
        assert!(Pattern::parse("no captures", true).is_err());
        assert!(Pattern::parse("<_> x", true).is_err());
        assert!(Pattern::parse("<_> x", false).is_ok());
        assert!(Pattern::parse("<a> <a>", true).is_err());
    }
}
