//! Go templates of `line_format` and `label_format`, with the functions Loki documents.
//!
//! Templates are parsed once per query with `gotmpl`; each line is rendered with a map
//! of its labels as the data (`{{.level}}`). The functions `__line__` and
//! `__timestamp__` read the line being rendered from a thread-local set around each
//! execution. Field references are collected at compile time so a label missing from a
//! line renders as the empty string, as Loki's `map[string]string` data does.

mod funcs;
mod time;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::Arc;

use gotmpl::{Template, Value};

thread_local! {
    /// The line and timestamp being rendered on this thread.
    static CURRENT: RefCell<(String, i64)> = const { RefCell::new((String::new(), 0)) };
}

/// The line being rendered (for `__line__`).
pub(crate) fn current_line() -> String {
    CURRENT.with(|c| c.borrow().0.clone())
}

/// The timestamp being rendered, ns (for `__timestamp__`).
pub(crate) fn current_ts() -> i64 {
    CURRENT.with(|c| c.borrow().1)
}

/// A compiled template.
pub(crate) struct LineTemplate {
    tmpl: Template,
    /// Names referenced as `.name`, filled with "" when a line lacks them.
    fields: Vec<Arc<str>>,
    /// Whether the template calls `__line__`/`__timestamp__`.
    uses_line: bool,
}

impl std::fmt::Debug for LineTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LineTemplate")
            .field("fields", &self.fields)
            .finish_non_exhaustive()
    }
}

/// Names after a `.` in template actions (`{{.a}}`, `{{ .b | ToUpper }}`).
fn field_refs(text: &str) -> Vec<Arc<str>> {
    let mut out: Vec<Arc<str>> = Vec::new();
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'.' && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_')) {
            let start = i + 1;
            let mut j = start;
            while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                j += 1;
            }
            if j > start
                && let Some(name) = text.get(start..j)
                && !name.as_bytes()[0].is_ascii_digit()
                && !out.iter().any(|n| &**n == name)
            {
                out.push(Arc::from(name));
            }
            i = j;
        } else {
            i += 1;
        }
    }
    out
}

impl LineTemplate {
    /// Parses `text` with Loki's functions.
    pub(crate) fn new(text: &str) -> Result<Self, String> {
        let tmpl = Template::new("line")
            .funcs(funcs::func_map())
            .parse(text)
            .map_err(|e| format!("invalid template {text:?}: {e}"))?;
        Ok(Self {
            tmpl,
            fields: field_refs(text),
            uses_line: text.contains("__line__") || text.contains("__timestamp__"),
        })
    }

    /// Renders the template for a line with `labels`.
    pub(crate) fn render<'a>(
        &self,
        labels: impl Iterator<Item = (&'a str, &'a str)>,
        line: &str,
        ts_ns: i64,
    ) -> Result<String, String> {
        let mut map: BTreeMap<Arc<str>, Value> = BTreeMap::new();
        for (n, v) in labels {
            map.insert(Arc::from(n), Value::String(Arc::from(v)));
        }
        for f in &self.fields {
            map.entry(f.clone())
                .or_insert_with(|| Value::String(Arc::from("")));
        }
        if self.uses_line {
            CURRENT.with(|c| {
                let mut c = c.borrow_mut();
                c.0.clear();
                c.0.push_str(line);
                c.1 = ts_ns;
            });
        }
        let mut out = Capped::default();
        match self.tmpl.execute_fmt(&mut out, &Value::Map(Arc::new(map))) {
            Ok(()) => Ok(out.buf),
            Err(_) if out.over => Err(format!(
                "template output longer than {} bytes",
                funcs::MAX_STRING_BYTES
            )),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// A rendering buffer that refuses to grow past [`funcs::MAX_STRING_BYTES`].
#[derive(Default)]
struct Capped {
    buf: String,
    over: bool,
}

impl std::fmt::Write for Capped {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        if self.buf.len().saturating_add(s.len()) > funcs::MAX_STRING_BYTES {
            self.over = true;
            return Err(std::fmt::Error);
        }
        self.buf.push_str(s);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(t: &str, labels: &[(&str, &str)]) -> String {
        LineTemplate::new(t)
            .unwrap()
            .render(
                labels.iter().copied(),
                "the line",
                1_700_000_000_123_000_000,
            )
            .unwrap()
    }

    #[test]
    fn renders_labels_and_functions() {
        assert_eq!(
            render("{{.a}}-{{.missing}}-{{.b}}", &[("a", "x"), ("b", "y")]),
            "x--y"
        );
        assert_eq!(render("{{ .a | ToUpper }}", &[("a", "abc")]), "ABC");
        assert_eq!(render("{{ __line__ }}", &[]), "the line");
        assert_eq!(
            render(
                r#"{{ __timestamp__ | date "2006-01-02T15:04:05.000Z07:00" }}"#,
                &[]
            ),
            "2023-11-14T22:13:20.123Z"
        );
        assert_eq!(
            render(r#"{{ Replace .a "." "," -1 }}"#, &[("a", "1.2.3")]),
            "1,2,3"
        );
        assert_eq!(
            render(
                r#"{{ regexReplaceAll "(\\d+)" .a "<$1>" }}"#,
                &[("a", "ab12c")]
            ),
            "ab<12>c"
        );
        assert_eq!(
            render(r#"{{ add .a 2 }} {{ divf .a 4 }}"#, &[("a", "3")]),
            "5 0.75"
        );
        assert_eq!(render(r#"{{ default "none" .a }}"#, &[("a", "")]), "none");
        assert!(LineTemplate::new("{{ .a ").is_err());
    }

    fn render_err(t: &str) -> String {
        LineTemplate::new(t)
            .unwrap()
            .render(std::iter::empty(), "the line", 0)
            .unwrap_err()
    }

    #[test]
    fn outputs_are_capped() {
        for t in [
            r#"{{ len (indent 100000 (repeat 1000 "\n")) }}"#,
            r#"{{ len (nindent 100000 (repeat 1000 "\n")) }}"#,
            r#"{{ len (replace "a" (repeat 2000 "b") (repeat 1000 "a")) }}"#,
            r#"{{ len (Replace (repeat 1000 "a") "a" (repeat 2000 "b") -1) }}"#,
            r#"{{ len (regexReplaceAll "a" (repeat 1000 "a") (repeat 2000 "b")) }}"#,
            r#"{{ len (regexReplaceAllLiteral "" (repeat 1000 "a") (repeat 2000 "b")) }}"#,
        ] {
            assert!(
                render_err(t).contains("result longer than 1048576 bytes"),
                "{t}"
            );
        }
        // Each piece under the cap, together over it.
        let t = r#"{{ repeat 1000000 "a" }}"#.repeat(2);
        assert_eq!(render_err(&t), "template output longer than 1048576 bytes");
        assert_eq!(
            render(
                r#"{{ regexReplaceAll "(a)(b)?" .x "<$1$2>" }}"#,
                &[("x", "xabya")]
            ),
            "x<ab>y<a>"
        );
        assert!(
            render_err(r#"{{ toDateInZone "2006-01-02" "+9999999999" "2020-01-01" }}"#)
                .contains("unknown time zone")
        );
    }
}
