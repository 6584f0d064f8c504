//! Compiled log pipelines: what runs on every line a log or metric query reads, and on
//! every line the live tail receives.
//!
//! A [`LogPipeline`] is built once per query from a [`LogExpr`]: regexes, patterns and
//! templates are compiled, and leading line filters are run on the raw line before any
//! label is touched. Parsers are told which labels later stages (and, for metric
//! queries, the grouping) read, so `json` and `logfmt` skip unescaping fields nobody
//! needs. Per-line state lives in a [`Scratch`] reused from line to line.

pub(crate) mod filters;
pub(crate) mod ip;
pub(crate) mod json;
pub(crate) mod labels;
pub(crate) mod logfmt;
pub(crate) mod parsers;
pub(crate) mod pattern;

use std::collections::HashSet;

use oxeye_core::logs::LogEntry;
use oxeye_core::{Labels, Matcher};

use crate::ast::{LabelFmtSource, LineFilterOp, LogExpr, NamedLabel, Stage};
use crate::template::LineTemplate;
use crate::{LogqlError, ResultEntry};
use filters::{LabelFilterEval, LineFilterEval};
use json::{Kind, Seg};
use labels::{Cat, LabelState};
use parsers::RegexpParser;
use pattern::Pattern;

/// Labels a parser should extract: `None` means all.
type Wanted = Option<Vec<String>>;

fn wanted_has(w: &Wanted, name: &str) -> bool {
    w.as_ref().is_none_or(|s| s.iter().any(|n| n == name))
}

/// Whether every wanted label was found, so a parser may stop reading the line.
fn all_found(w: &Wanted, found: usize) -> bool {
    w.as_ref().is_some_and(|s| found >= s.len())
}

enum Compiled {
    Line(LineFilterEval),
    Json(Wanted),
    JsonPaths(Vec<(String, Vec<Seg>)>),
    Logfmt {
        strict: bool,
        keep_empty: bool,
        /// Label name for each wanted key, when parameters are given.
        params: Vec<(String, String)>,
        wanted: Wanted,
    },
    Regexp(RegexpParser),
    Pattern(Pattern),
    Unpack(Wanted),
    Label(LabelFilterEval),
    LineFormat(LineTemplate),
    LabelFormat(Vec<(String, FmtSource)>),
    Drop(Vec<NamedLabel>),
    Keep(Vec<NamedLabel>),
    Decolorize,
}

enum FmtSource {
    Rename(String),
    Template(LineTemplate),
}

/// A log query's pipeline, compiled.
pub struct LogPipeline {
    matchers: Vec<Matcher>,
    stages: Vec<Compiled>,
    /// How many leading stages are line filters (run before labels are built).
    leading_line_filters: usize,
    hints: Vec<String>,
}

impl std::fmt::Debug for LogPipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogPipeline")
            .field("matchers", &self.matchers)
            .field("stages", &self.stages.len())
            .finish_non_exhaustive()
    }
}

/// Reusable per-line state.
#[derive(Default)]
pub(crate) struct Scratch {
    pub(crate) labels: LabelState,
    /// The line after `line_format`/`unpack`/`decolorize`, when one rewrote it.
    line: Option<String>,
    buf: String,
    name: String,
}

impl Scratch {
    /// The line as the pipeline left it.
    pub(crate) fn line<'a>(&'a self, original: &'a str) -> &'a str {
        self.line.as_deref().unwrap_or(original)
    }
}

/// Label names a stage reads (`None`: any label, e.g. a template).
fn reads(stage: &Stage) -> Option<Vec<String>> {
    let mut out = Vec::new();
    match stage {
        Stage::LabelFilter(f) => {
            let eval = LabelFilterEval::new(f).ok()?;
            eval.names(&mut out);
        }
        Stage::LineFormat(_) => return None,
        Stage::LabelFormat(items) => {
            for (dst, src) in items {
                match src {
                    LabelFmtSource::Rename(s) => {
                        out.push(s.clone());
                        out.push(dst.clone());
                    }
                    LabelFmtSource::Template(_) => return None,
                }
            }
        }
        Stage::Drop(l) | Stage::Keep(l) => out.extend(l.iter().map(|n| n.name.clone())),
        _ => {}
    }
    Some(out)
}

impl LogPipeline {
    /// Compiles `expr`. `needed` names the labels the caller reads from the result
    /// (`None`: all of them, as log queries do).
    pub(crate) fn compile(expr: &LogExpr, needed: Option<&[String]>) -> Result<Self, LogqlError> {
        let bad = |m: String| LogqlError::BadQuery(m);
        let mut stages = Vec::with_capacity(expr.stages.len());
        for (i, stage) in expr.stages.iter().enumerate() {
            // Labels read after this stage.
            let wanted: Wanted = match needed {
                None => None,
                Some(n) => {
                    let mut set: HashSet<String> = n.iter().cloned().collect();
                    let mut all = false;
                    for later in expr.stages.iter().skip(i + 1) {
                        match reads(later) {
                            Some(names) => set.extend(names),
                            None => all = true,
                        }
                    }
                    // A parsed label named `x_extracted` comes from key `x`.
                    let bases: Vec<String> = set
                        .iter()
                        .filter_map(|n| n.strip_suffix("_extracted").map(str::to_string))
                        .collect();
                    set.extend(bases);
                    let mut v: Vec<String> = set.into_iter().collect();
                    v.sort();
                    (!all).then_some(v)
                }
            };
            let c = match stage {
                Stage::LineFilter(f) => Compiled::Line(LineFilterEval::new(f).map_err(bad)?),
                Stage::Json(params) if params.is_empty() => Compiled::Json(wanted),
                Stage::Json(params) => {
                    let mut paths = Vec::with_capacity(params.len());
                    for (label, path) in params {
                        paths.push((label.clone(), json::parse_path(path).map_err(bad)?));
                    }
                    Compiled::JsonPaths(paths)
                }
                Stage::Logfmt {
                    strict,
                    keep_empty,
                    params,
                } => Compiled::Logfmt {
                    strict: *strict,
                    keep_empty: *keep_empty,
                    params: params.clone(),
                    wanted,
                },
                Stage::Regexp(re) => Compiled::Regexp(RegexpParser::new(re).map_err(bad)?),
                Stage::Pattern(p) => Compiled::Pattern(Pattern::parse(p, true).map_err(bad)?),
                Stage::Unpack => Compiled::Unpack(wanted),
                Stage::LabelFilter(f) => Compiled::Label(LabelFilterEval::new(f).map_err(bad)?),
                Stage::LineFormat(t) => Compiled::LineFormat(LineTemplate::new(t).map_err(bad)?),
                Stage::LabelFormat(items) => {
                    let mut out = Vec::with_capacity(items.len());
                    for (dst, src) in items {
                        let s = match src {
                            LabelFmtSource::Rename(s) => FmtSource::Rename(s.clone()),
                            LabelFmtSource::Template(t) => {
                                FmtSource::Template(LineTemplate::new(t).map_err(bad)?)
                            }
                        };
                        out.push((dst.clone(), s));
                    }
                    Compiled::LabelFormat(out)
                }
                Stage::Drop(l) => Compiled::Drop(l.clone()),
                Stage::Keep(l) => Compiled::Keep(l.clone()),
                Stage::Decolorize => Compiled::Decolorize,
            };
            stages.push(c);
        }
        let leading_line_filters = stages
            .iter()
            .take_while(|s| matches!(s, Compiled::Line(_)))
            .count();
        Ok(Self {
            matchers: expr.matchers.clone(),
            stages,
            leading_line_filters,
            hints: line_hints(expr),
        })
    }

    /// Whether some parser extracts only some labels (so this pipeline is cheaper than
    /// one extracting everything).
    pub(crate) fn extracts_selectively(&self) -> bool {
        self.stages.iter().any(|s| {
            matches!(
                s,
                Compiled::Json(Some(_))
                    | Compiled::Unpack(Some(_))
                    | Compiled::Logfmt {
                        wanted: Some(_),
                        ..
                    }
            )
        })
    }

    /// The stream selector's matchers.
    pub fn matchers(&self) -> &[Matcher] {
        &self.matchers
    }

    /// Substrings every line that passes contains (for the store's chunk skipping).
    pub fn line_hints(&self) -> &[String] {
        &self.hints
    }

    /// Whether the pipeline keeps the raw `line` after its leading line filters
    /// (cheap pre-check before labels are built).
    pub(crate) fn prefilter(&self, line: &str) -> bool {
        self.stages
            .iter()
            .take(self.leading_line_filters)
            .all(|s| match s {
                Compiled::Line(f) => f.keep(line),
                _ => true,
            })
    }

    /// Runs the stages after the leading line filters; the labels and line are left in
    /// `sc`. Returns whether the line is kept. Call [`LogPipeline::prefilter`] first.
    pub(crate) fn run(&self, stream: &Labels, entry: &LogEntry, sc: &mut Scratch) -> bool {
        sc.labels.reset(stream, &entry.metadata);
        sc.line = None;
        for stage in self.stages.iter().skip(self.leading_line_filters) {
            if !self.step(stage, entry, sc) {
                return false;
            }
        }
        true
    }

    fn step(&self, stage: &Compiled, entry: &LogEntry, sc: &mut Scratch) -> bool {
        let Scratch {
            labels,
            line,
            buf,
            name,
        } = sc;
        let cur: &str = line.as_deref().unwrap_or(&entry.line);
        match stage {
            Compiled::Line(f) => return f.keep(cur),
            // Nothing after the parser reads a label: Loki skips parsing (and so reports
            // no parse error either).
            Compiled::Json(Some(w))
            | Compiled::Logfmt {
                wanted: Some(w), ..
            } if w.is_empty() => {}
            Compiled::Json(wanted) => {
                let mut found = 0usize;
                let res = json::scan(cur, name, &mut |n, raw, kind| {
                    if !wanted_has(wanted, n) {
                        return true;
                    }
                    found += 1;
                    match kind {
                        Kind::Null => {}
                        Kind::Literal | Kind::Str { escaped: false } => labels.set_parsed(n, raw),
                        Kind::Str { escaped: true } => {
                            buf.clear();
                            json::unescape_into(raw, buf);
                            labels.set_parsed(n, buf);
                        }
                    }
                    !all_found(wanted, found)
                });
                if let Err(e) = res {
                    labels.set_error("JSONParserErr", &e);
                }
            }
            Compiled::JsonPaths(paths) => match serde_json::from_str::<serde_json::Value>(cur) {
                Ok(v) => {
                    for (label, path) in paths {
                        if let Some(val) = json::lookup(&v, path) {
                            labels.set_parsed(label, &val);
                        }
                    }
                }
                Err(e) => labels.set_error("JSONParserErr", &e.to_string()),
            },
            Compiled::Logfmt {
                strict,
                keep_empty,
                params,
                wanted,
            } => {
                let res = logfmt::scan(cur, *strict, buf, &mut |k, v| {
                    if v.is_empty() && !keep_empty {
                        return;
                    }
                    if !params.is_empty() {
                        for (label, key) in params.iter() {
                            if key == k {
                                labels.set_parsed(label, v);
                            }
                        }
                        return;
                    }
                    name.clear();
                    json::push_sanitized(name, k);
                    if wanted_has(wanted, name) {
                        labels.set_parsed(name, v);
                    }
                });
                if let Err(e) = res {
                    labels.set_error("LogfmtParserErr", &e);
                }
            }
            Compiled::Regexp(p) => {
                if let Some(caps) = p.re.captures(cur) {
                    for (i, n) in &p.names {
                        if let Some(m) = caps.get(*i) {
                            labels.set_parsed(n, m.as_str());
                        }
                    }
                }
            }
            Compiled::Pattern(p) => {
                p.matches(cur, &mut |n, v| labels.set_parsed(n, v));
            }
            Compiled::Unpack(wanted) => {
                let mut entry_line: Option<String> = None;
                let res = json::scan_top_strings(cur, &mut |n, raw, kind| {
                    let escaped = matches!(kind, Kind::Str { escaped: true });
                    if n == "_entry" {
                        let mut s = String::new();
                        if escaped {
                            json::unescape_into(raw, &mut s);
                        } else {
                            s.push_str(raw);
                        }
                        entry_line = Some(s);
                        return true;
                    }
                    if !wanted_has(wanted, n) {
                        return true;
                    }
                    if escaped {
                        buf.clear();
                        json::unescape_into(raw, buf);
                        labels.set_parsed(n, buf);
                    } else {
                        labels.set_parsed(n, raw);
                    }
                    true
                });
                match res {
                    Ok(()) => {
                        if entry_line.is_some() {
                            *line = entry_line;
                        }
                    }
                    Err(e) => labels.set_error("JSONParserErr", &e),
                }
            }
            Compiled::Label(f) => return f.keep(labels),
            Compiled::LineFormat(t) => match t.render(labels.pairs(), cur, entry.ts_ns) {
                Ok(s) => *line = Some(s),
                Err(e) => labels.set_error("TemplateFormatErr", &e),
            },
            Compiled::LabelFormat(items) => {
                let mut results: Vec<(&str, Option<String>, Option<&str>)> = Vec::new();
                for (dst, src) in items {
                    match src {
                        FmtSource::Rename(s) => {
                            let v = labels.get(s).map(str::to_string);
                            results.push((dst, v, Some(s.as_str())));
                        }
                        FmtSource::Template(t) => {
                            match t.render(labels.pairs(), cur, entry.ts_ns) {
                                Ok(v) => results.push((dst, Some(v), None)),
                                Err(e) => {
                                    labels.set_error("TemplateFormatErr", &e);
                                    break;
                                }
                            }
                        }
                    }
                }
                for (dst, v, renamed_from) in results {
                    if let Some(from) = renamed_from
                        && from != dst
                    {
                        labels.del(from);
                    }
                    match v {
                        Some(v) => labels.set(dst, &v),
                        None => labels.del(dst),
                    }
                }
            }
            Compiled::Drop(list) => {
                for l in list {
                    match &l.matcher {
                        Some(m) => {
                            if labels.get(&l.name).is_some_and(|v| m.matches(v)) {
                                labels.del(&l.name);
                            }
                        }
                        None => labels.del(&l.name),
                    }
                }
            }
            Compiled::Keep(list) => labels.retain(|n, v| {
                list.iter()
                    .any(|l| l.name == n && l.matcher.as_ref().is_none_or(|m| m.matches(v)))
            }),
            Compiled::Decolorize => {
                if let Some(s) = parsers::decolorize(cur) {
                    *line = Some(s);
                }
            }
        }
        true
    }

    /// Runs the pipeline on one entry of a stream with `stream_labels`, as the live tail
    /// does for entries as they arrive: `None` when a filter drops the entry, else the
    /// entry's full label set (stream labels, structured metadata and parsed labels,
    /// which is how Loki groups tailed lines) and the entry as a query returns it.
    pub fn process(
        &self,
        stream_labels: &Labels,
        entry: &LogEntry,
    ) -> Option<(Labels, ResultEntry)> {
        if !self.prefilter(&entry.line) {
            return None;
        }
        let mut sc = Scratch::default();
        if !self.run(stream_labels, entry, &mut sc) {
            return None;
        }
        Some((sc.labels.to_labels(), result_entry(&sc, entry)))
    }
}

/// The entry as a query returns it, from the pipeline's state.
pub(crate) fn result_entry(sc: &Scratch, entry: &LogEntry) -> ResultEntry {
    ResultEntry {
        ts_ns: entry.ts_ns,
        line: sc.line(&entry.line).to_string(),
        structured_metadata: sc.labels.category(Cat::Meta),
        parsed: sc.labels.category(Cat::Parsed),
    }
}

const REGEX_META: &[char] = &[
    '\\', '.', '+', '*', '?', '(', ')', '|', '[', ']', '{', '}', '^', '$',
];

/// Substrings every kept line must contain: the values of `|=` filters with one value,
/// of `|~` regexes without metacharacters and the literal parts of `|>` patterns (only
/// filters before any `line_format`/`unpack`/`decolorize`, which rewrite the line).
fn line_hints(expr: &LogExpr) -> Vec<String> {
    let mut out = Vec::new();
    for stage in &expr.stages {
        match stage {
            Stage::LineFilter(f) if !f.ip && f.values.len() == 1 => {
                let Some(v) = f.values.first().filter(|v| !v.is_empty()) else {
                    continue;
                };
                // A regex without metacharacters is a plain substring; a pattern's
                // literal parts are in every line it matches.
                match f.op {
                    LineFilterOp::Contains => out.push(v.clone()),
                    LineFilterOp::Regex if !v.contains(REGEX_META) => out.push(v.clone()),
                    LineFilterOp::Pattern => {
                        if let Ok(p) = Pattern::parse(v, false) {
                            out.extend(p.literals().map(str::to_string));
                        }
                    }
                    _ => {}
                }
            }
            Stage::LineFormat(_) | Stage::Unpack | Stage::Decolorize => break,
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile(q: &str) -> LogPipeline {
        crate::compile_log_query(q).unwrap()
    }

    #[test]
    fn hints_are_literals_every_kept_line_contains() {
        let p = compile(
            r#"{a="b"} |= "x" |= "y" or "z" != "w" |~ "r.*" | json |= "j" | line_format "q" |= "after""#,
        );
        assert_eq!(p.line_hints(), &["x".to_string(), "j".to_string()]);
        let p = compile(r#"{a="b"} |~ "needle" |~ "(?i)x" !~ "y" |> "<_> GET <_>" !> "x <_>""#);
        assert_eq!(p.line_hints(), &["needle".to_string(), " GET ".to_string()]);
        assert!(compile(r#"{a="b"} |= """#).line_hints().is_empty());
        assert!(
            compile(r#"{a="b"} |= ip("10.0.0.1")"#)
                .line_hints()
                .is_empty()
        );
        assert_eq!(p.matchers(), &[Matcher::equal("a", "b")]);
    }

    #[test]
    fn process_runs_the_pipeline_on_one_entry() {
        let p = compile(
            r#"{app="api"} |= "GET" | logfmt | status >= 500 | line_format "{{.status}} {{.path}}""#,
        );
        let stream = Labels::from_pairs(&[("app", "api")]);
        let mut e = LogEntry::new(5, "method=GET path=/a status=503");
        e.metadata.push(("trace_id".into(), "t1".into()));
        let (labels, entry) = p.process(&stream, &e).unwrap();
        assert_eq!(
            labels,
            Labels::from_pairs(&[
                ("app", "api"),
                ("method", "GET"),
                ("path", "/a"),
                ("status", "503"),
                ("trace_id", "t1")
            ])
        );
        assert_eq!(entry.ts_ns, 5);
        assert_eq!(entry.line, "503 /a");
        assert_eq!(
            entry.structured_metadata,
            vec![("trace_id".to_string(), "t1".to_string())]
        );
        assert_eq!(entry.parsed.len(), 3);
        assert!(
            p.process(&stream, &LogEntry::new(6, "method=GET path=/a status=200"))
                .is_none()
        );
        assert!(
            p.process(&stream, &LogEntry::new(7, "method=POST status=500"))
                .is_none()
        );
    }

    #[test]
    fn pipelines_are_shared_between_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<LogPipeline>();
    }

    #[test]
    fn metric_queries_are_not_tail_queries() {
        let e = crate::compile_log_query(r#"rate({a="b"}[1m])"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "tail requires a log query, not a metric query"
        );
    }
}
