//! The `regexp` parser and `decolorize`.

use regex::Regex;

/// A compiled `regexp` stage: named captures become labels.
#[derive(Debug)]
pub(crate) struct RegexpParser {
    pub(crate) re: Regex,
    /// Capture group index and label name.
    pub(crate) names: Vec<(usize, String)>,
}

impl RegexpParser {
    /// Compiles `re`, which needs at least one named capture.
    pub(crate) fn new(re: &str) -> Result<Self, String> {
        let compiled = Regex::new(re).map_err(|e| format!("invalid regex {re:?}: {e}"))?;
        let names: Vec<(usize, String)> = compiled
            .capture_names()
            .enumerate()
            .filter_map(|(i, n)| n.map(|n| (i, n.to_string())))
            .collect();
        if names.is_empty() {
            return Err(format!(
                "invalid regex {re:?}: at least one named capture must be supplied"
            ));
        }
        for (_, n) in &names {
            if !oxeye_core::validate_label_name(n) {
                return Err(format!(
                    "invalid regex {re:?}: invalid extracted label name {n:?}"
                ));
            }
        }
        Ok(Self {
            re: compiled,
            names,
        })
    }
}

/// `line` without ANSI colour escape sequences, or `None` when it has none.
pub(crate) fn decolorize(line: &str) -> Option<String> {
    if !line.contains('\u{1b}') {
        return None;
    }
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            // Parameters and intermediates up to the final byte (@ to ~).
            for d in chars.by_ref() {
                if ('@'..='~').contains(&d) {
                    break;
                }
            }
            continue;
        }
        out.push(c);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regexp_needs_named_captures() {
        assert!(RegexpParser::new("(a)").is_err());
        let p = RegexpParser::new(r"(?P<method>\w+) (?P<path>\S+)").unwrap();
        assert_eq!(p.names.len(), 2);
    }

    #[test]
    fn strips_colours() {
        assert_eq!(
            decolorize("\u{1b}[31merror\u{1b}[0m done").as_deref(),
            Some("error done")
        );
        assert_eq!(decolorize("plain"), None);
    }
}
