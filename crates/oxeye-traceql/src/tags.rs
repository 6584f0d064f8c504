//! Tempo's legacy `tags=` search (logfmt `key=value` pairs) as TraceQL.
//!
//! As documented for Tempo, a value matches as a case-insensitive substring, and every
//! pair must hold on one span (with its resource): `service.name=api http.status_code=500`
//! becomes `{ resource.service.name =~ "(?i).*api.*" && (.http.status_code = 500 ||
//! .http.status_code =~ "(?i).*500.*") }`; numbers and booleans also match their typed
//! form. Keys with a meaning of their own map to intrinsics as the legacy search treats
//! them: `name` (span name), `status.code` / `status` (`ok`, `error`, `unset`, matched
//! exactly), `error=true`, `kind` / `span.kind`, `root.name`, `root.service.name`;
//! `service.name` is the resource attribute; other keys are unscoped attributes.

use crate::ast::Attribute;
use crate::error::TraceqlError;
use crate::lexer::AttrScopeKind;

/// Converts a logfmt tag search into an equivalent TraceQL query; empty input gives `{}`.
pub fn tags_to_query(logfmt: &str) -> Result<String, TraceqlError> {
    let pairs = parse_logfmt(logfmt)?;
    if pairs.is_empty() {
        return Ok("{}".to_string());
    }
    let conds: Vec<String> = pairs
        .iter()
        .map(|(k, v)| condition(k, v))
        .collect::<Result<_, _>>()?;
    let q = format!("{{ {} }}", conds.join(" && "));
    crate::validate(&q)?;
    Ok(q)
}

fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn status_keyword(v: &str) -> Option<&'static str> {
    Some(match v.to_ascii_lowercase().as_str() {
        "ok" | "status_code_ok" | "1" => "ok",
        "error" | "status_code_error" | "2" => "error",
        "unset" | "status_code_unset" | "0" => "unset",
        _ => return None,
    })
}

fn kind_keyword(v: &str) -> Option<&'static str> {
    let lower = v.to_ascii_lowercase();
    let name = lower.strip_prefix("span_kind_").unwrap_or(&lower);
    Some(match name {
        "unspecified" => "unspecified",
        "internal" => "internal",
        "server" => "server",
        "client" => "client",
        "producer" => "producer",
        "consumer" => "consumer",
        _ => return None,
    })
}

fn condition(key: &str, value: &str) -> Result<String, TraceqlError> {
    // a case-insensitive substring match, as a fully anchored regex
    let sub = quote(&format!("(?i).*{}.*", regex::escape(value)));
    Ok(match key {
        "name" => format!("name =~ {sub}"),
        "root.name" => format!("trace:rootName =~ {sub}"),
        "root.service.name" => format!("trace:rootService =~ {sub}"),
        "service.name" => format!("resource.service.name =~ {sub}"),
        "status.code" | "status" => match status_keyword(value) {
            Some(s) => format!("status = {s}"),
            None => {
                return Err(TraceqlError::InvalidRequest(format!(
                    "invalid value {value:?} for tag {key}: expected ok, error or unset"
                )));
            }
        },
        "error" if value.eq_ignore_ascii_case("true") => "status = error".to_string(),
        "kind" | "span.kind" if kind_keyword(value).is_some() => {
            format!("kind = {}", kind_keyword(value).unwrap_or("unspecified"))
        }
        _ => {
            let a = Attribute {
                scope: AttrScopeKind::Unscoped,
                name: key.to_string(),
            };
            let is_int = value.parse::<i64>().is_ok();
            let is_float = value.parse::<f64>().is_ok_and(f64::is_finite)
                && value
                    .chars()
                    .all(|c| c.is_ascii_digit() || ".-+eE".contains(c));
            let is_bool = value == "true" || value == "false";
            if is_int || is_float || is_bool {
                format!("({a} = {value} || {a} =~ {sub})")
            } else {
                format!("{a} =~ {sub}")
            }
        }
    })
}

/// Splits logfmt into key/value pairs; values may be double-quoted with `\` escapes.
fn parse_logfmt(s: &str) -> Result<Vec<(String, String)>, TraceqlError> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(out);
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        if chars.next() != Some('=') {
            return Err(TraceqlError::InvalidRequest(format!(
                "invalid tags: {key:?} has no value, expected key=value"
            )));
        }
        if key.is_empty() {
            return Err(TraceqlError::InvalidRequest(
                "invalid tags: empty key before '='".to_string(),
            ));
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            let mut closed = false;
            while let Some(c) = chars.next() {
                match c {
                    '"' => {
                        closed = true;
                        break;
                    }
                    '\\' => match chars.next() {
                        Some('n') => value.push('\n'),
                        Some('t') => value.push('\t'),
                        Some(other) => value.push(other),
                        None => break,
                    },
                    c => value.push(c),
                }
            }
            if !closed {
                return Err(TraceqlError::InvalidRequest(format!(
                    "invalid tags: unterminated quoted value for {key:?}"
                )));
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                value.push(c);
                chars.next();
            }
        }
        out.push((key, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_legacy_tags() {
        assert_eq!(
            tags_to_query(r#"service.name=api http.status_code=500 name="GET /x""#).unwrap(),
            r#"{ resource.service.name =~ "(?i).*api.*" && (.http.status_code = 500 || .http.status_code =~ "(?i).*500.*") && name =~ "(?i).*GET /x.*" }"#
        );
        assert_eq!(tags_to_query("  ").unwrap(), "{}");
        assert_eq!(
            tags_to_query("status.code=error error=true kind=server").unwrap(),
            "{ status = error && status = error && kind = server }"
        );
        assert_eq!(
            tags_to_query(r#"root.service.name=fe x="a \"b\"""#).unwrap(),
            r#"{ trace:rootService =~ "(?i).*fe.*" && .x =~ "(?i).*a \"b\".*" }"#
        );
        assert_eq!(
            tags_to_query("k8s.pod=a+b").unwrap(),
            r#"{ .k8s.pod =~ "(?i).*a\\+b.*" }"#
        );
        assert!(tags_to_query("novalue").is_err());
        assert!(tags_to_query("status.code=bogus").is_err());
        assert!(tags_to_query("a=\"open").is_err());
    }
}
