//! Helpers for the HTTP layer around a search: Tempo's duration parameters, trace ids
//! as Tempo prints them, and the usable part of an incomplete filter (Grafana sends
//! those for tag value completion).

use crate::{Query, TraceqlError, ast, lexer, validate};

/// Parses a duration as Tempo's `minDuration`/`maxDuration` take it (`600ms`, `1.5s`,
/// `1h30m`, `0`), in nanoseconds.
pub fn parse_duration(text: &str) -> Result<u64, TraceqlError> {
    let bad = || {
        TraceqlError::InvalidRequest(format!(
            "invalid duration {text:?}: expected a number with a unit such as 100ms or 1.5s"
        ))
    };
    let tokens = lexer::lex(text.trim()).map_err(|_| bad())?;
    match tokens.as_slice() {
        [t, end] if end.tok == lexer::Tok::Eof => match t.tok {
            lexer::Tok::Duration(ns) => u64::try_from(ns).map_err(|_| bad()),
            lexer::Tok::Int(0) => Ok(0),
            _ => Err(bad()),
        },
        _ => Err(bad()),
    }
}

/// A trace id as Tempo prints it in search results: lowercase hex without leading
/// zeros (`"0"` for an all-zero id).
pub fn trace_id_to_hex(id: &oxeye_core::trace::TraceId) -> String {
    let full: String = id.iter().map(|b| format!("{b:02x}")).collect();
    let trimmed = full.trim_start_matches('0');
    if trimmed.is_empty() {
        "0".to_string()
    } else {
        trimmed.to_string()
    }
}

/// The usable part of a possibly incomplete single-spanset filter, as Grafana sends
/// while a query is typed (`{ resource.cluster = "a" && span.x = }`): the conditions
/// that parse on their own, joined with `||` if the filter used it and `&&` otherwise.
/// `None` when nothing usable remains, meaning "no filter".
pub fn lenient_filter(text: &str) -> Option<Query> {
    if let Ok(q) = Query::parse(text) {
        if matches!(q.expr, ast::SpansetExpr::Filter(_)) {
            return Some(q);
        }
    }
    let inner = text.trim().strip_prefix('{')?;
    let inner = inner.strip_suffix('}').unwrap_or(inner);
    let (parts, any_or) = split_conditions(inner);
    let kept: Vec<&str> = parts
        .into_iter()
        .map(str::trim)
        .filter(|p| !p.is_empty() && validate(&format!("{{ {p} }}")).is_ok())
        .collect();
    if kept.is_empty() {
        return None;
    }
    let joiner = if any_or { " || " } else { " && " };
    Query::parse(&format!("{{ {} }}", kept.join(joiner))).ok()
}

/// Splits filter text at top-level `&&` and `||` (outside quotes and parentheses);
/// also says whether any `||` was seen.
fn split_conditions(s: &str) -> (Vec<&str>, bool) {
    let mut parts = Vec::new();
    let mut any_or = false;
    let mut depth = 0i32;
    let mut quote: Option<char> = None;
    let mut start = 0;
    let mut escaped = false;
    let mut iter = s.char_indices().peekable();
    while let Some((i, c)) = iter.next() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' && q == '"' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '"' | '`' => quote = Some(c),
            '(' => depth += 1,
            ')' => depth -= 1,
            '&' | '|' if depth == 0 && iter.peek().map(|(_, n)| *n) == Some(c) => {
                parts.push(s.get(start..i).unwrap_or_default());
                any_or |= c == '|';
                iter.next();
                start = i + 2;
            }
            _ => {}
        }
    }
    parts.push(s.get(start..).unwrap_or_default());
    (parts, any_or)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_like_go() {
        assert_eq!(parse_duration("600ms").unwrap(), 600_000_000);
        assert_eq!(parse_duration("1h30m").unwrap(), 5_400_000_000_000);
        assert_eq!(parse_duration(" 1.5s ").unwrap(), 1_500_000_000);
        assert_eq!(parse_duration("0").unwrap(), 0);
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("1s x").is_err());
    }

    #[test]
    fn trace_ids_print_without_leading_zeros() {
        let mut id = [0u8; 16];
        assert_eq!(trace_id_to_hex(&id), "0");
        id[8] = 0x0d;
        id[15] = 0x6a;
        assert_eq!(trace_id_to_hex(&id), "d0000000000006a");
    }

    #[test]
    fn lenient_filters_keep_complete_conditions() {
        let q = lenient_filter(r#"{ resource.cluster = "a" && span.x = }"#).unwrap();
        assert_eq!(q.source(), r#"{ resource.cluster = "a" }"#);
        let q = lenient_filter(r#"{ .a = "x||y" || .b = 1 || .c"#).unwrap();
        assert_eq!(q.source(), r#"{ .a = "x||y" || .b = 1 || .c }"#);
        assert!(lenient_filter("{ span.x = ").is_none());
        assert!(lenient_filter("").is_none());
        let whole = lenient_filter("{ .a = 1 }").unwrap();
        assert_eq!(whole.source(), "{ .a = 1 }");
    }
}
