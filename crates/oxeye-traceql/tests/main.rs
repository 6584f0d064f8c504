//! TraceQL conformance runner and search tests.
//!
//! Every `tests/testdata/*.test` file is a script of directives, one per line; `#`
//! starts a comment line and blank lines are ignored.
//!
//! ```text
//! load                      # replaces the stored traces with the spans listed up to `end`
//! span 1:1 svc=frontend name="GET /" kind=server status=ok start=0 dur=100ms span.http.method=GET
//! span 1:2 parent=1 svc=db name=query dur=20ms res.region=eu event=retry@5ms event.n=2
//! end
//!
//! query { span.http.method = "GET" }    # runs a search over the loaded traces
//! expect 1: 1                            # one spanset: trace 1, span 1
//! expect 2: 3 4 | by(resource.service.name)=db count()=2
//! expect_attrs 1:1 http.method=GET       # span 1 of trace 1 is returned with these attributes
//!
//! query { name = "nothing" }
//! expect none                            # no trace matches
//!
//! query { name = 1 }
//! expect_error col 8: cannot compare     # the error message contains this text
//!
//! tags service.name=db name=query        # a legacy logfmt search, run through tags_to_query
//! expect 1: 2
//!
//! with limit=1 spss=2 min=10ms max=1s    # search options for the next query only
//!
//! query { .a = 1 && \                     # a trailing backslash continues the line,
//!   }                                      # joined with a newline
//! expect_error line 2, col 3: unexpected '}'
//! ```
//!
//! `span T:S` takes a decimal trace number and span number (trace id and span id are
//! their big-endian bytes, so trace 1 is `000…01` in `trace:id`). Span fields, all
//! optional: `parent=S`, `svc=` (resource `service.name`), `name=`, `kind=` (server,
//! client, producer, consumer, internal, unspecified), `status=` (ok, error, unset),
//! `msg=` (status message), `start=` and `dur=` (durations such as `1.5ms`, or plain
//! nanoseconds), `scope=` and `scope_version=` (instrumentation scope), `span.K=V` and
//! `res.K=V` (span and resource attributes), `scope.K=V` (scope attributes),
//! `event=NAME@OFFSET` then `event.K=V` (attributes of the last event), `link=T:S` then
//! `link.K=V`. A value in double quotes is a string; otherwise an integer, float,
//! `true`/`false` or, failing those, a string; `[a,b]` is an array of such values.
//!
//! `expect` lines after a query each describe one expected spanset: `T: S S...` (span
//! order is irrelevant), optionally followed by `| key=value...`, in which case the
//! spanset's attributes must be exactly those (values rendered as text). The expected
//! spansets must equal the returned ones as a multiset. Spans are returned with the
//! search's spss (default: all of them).

mod fuzz;
mod search_api;

use std::fmt::Write as _;
use std::path::Path;

use oxeye_core::TenantId;
use oxeye_core::trace::{
    AnyValue, KeyValue, Resource, ResourceSpans, Scope, ScopeSpans, Span, SpanAppender, SpanEvent,
    SpanKind, SpanLink, SpanStatusCode, TraceBatch,
};
use oxeye_core::trace_mem::MemTraceStore;
use oxeye_traceql::{SearchRequest, SearchResponse, search, tags_to_query};

/// Splits a line into words; double-quoted parts keep spaces, `\` escapes inside them.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_q = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                in_q = !in_q;
                cur.push('"');
            }
            '\\' if in_q => {
                cur.push('\\');
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            c if c.is_whitespace() && !in_q => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn unquote(v: &str) -> Option<String> {
    let inner = v.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some(o) => out.push(o),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    Some(out)
}

fn value(v: &str) -> AnyValue {
    if let Some(s) = unquote(v) {
        return AnyValue::String(s);
    }
    if let Some(inner) = v.strip_prefix('[').and_then(|x| x.strip_suffix(']')) {
        return AnyValue::Array(
            inner
                .split(',')
                .filter(|x| !x.is_empty())
                .map(value)
                .collect(),
        );
    }
    if let Ok(i) = v.parse::<i64>() {
        return AnyValue::Int(i);
    }
    if let Ok(f) = v.parse::<f64>() {
        return AnyValue::Double(f);
    }
    match v {
        "true" => AnyValue::Bool(true),
        "false" => AnyValue::Bool(false),
        _ => AnyValue::String(v.to_string()),
    }
}

fn text(v: &str) -> String {
    unquote(v).unwrap_or_else(|| v.to_string())
}

fn nanos(v: &str) -> Result<u64, String> {
    if let Ok(n) = v.parse::<u64>() {
        return Ok(n);
    }
    let units = [
        ("ns", 1.0),
        ("us", 1e3),
        ("ms", 1e6),
        ("s", 1e9),
        ("m", 60e9),
        ("h", 3600e9),
    ];
    for (u, mult) in units {
        if let Some(num) = v.strip_suffix(u) {
            if let Ok(x) = num.parse::<f64>() {
                return Ok((x * mult).round() as u64);
            }
        }
    }
    Err(format!("bad duration {v:?}"))
}

fn trace_id(n: u128) -> [u8; 16] {
    n.to_be_bytes()
}

fn span_id(n: u64) -> [u8; 8] {
    n.to_be_bytes()
}

fn ids(s: &str) -> Result<(u128, u64), String> {
    let (t, sp) = s
        .split_once(':')
        .ok_or_else(|| format!("expected T:S, got {s:?}"))?;
    Ok((
        t.parse().map_err(|_| format!("bad trace number {t:?}"))?,
        sp.parse().map_err(|_| format!("bad span number {sp:?}"))?,
    ))
}

/// Builds one span (with its resource and scope) from a `span` line.
fn span_line(w: &[String]) -> Result<ResourceSpans, String> {
    let first = w.get(1).ok_or("span needs T:S")?;
    let (t, s) = ids(first)?;
    let mut span = Span {
        trace_id: trace_id(t),
        span_id: span_id(s),
        ..Span::default()
    };
    let mut resource = Resource::default();
    let mut scope = Scope::default();
    let mut dur = 0;
    for field in w.iter().skip(2) {
        let (k, v) = field
            .split_once('=')
            .ok_or_else(|| format!("expected k=v, got {field:?}"))?;
        match k {
            "parent" => span.parent_span_id = span_id(v.parse().map_err(|_| "bad parent")?),
            "svc" => resource
                .attributes
                .push(KeyValue::string("service.name", text(v))),
            "name" => span.name = text(v),
            "msg" => span.status_message = text(v),
            "start" => span.start_unix_nano = nanos(v)?,
            "dur" => dur = nanos(v)?,
            "scope" => scope.name = text(v),
            "scope_version" => scope.version = text(v),
            "kind" => {
                span.kind = match v {
                    "server" => SpanKind::Server,
                    "client" => SpanKind::Client,
                    "producer" => SpanKind::Producer,
                    "consumer" => SpanKind::Consumer,
                    "internal" => SpanKind::Internal,
                    "unspecified" => SpanKind::Unspecified,
                    other => return Err(format!("bad kind {other:?}")),
                }
            }
            "status" => {
                span.status_code = match v {
                    "ok" => SpanStatusCode::Ok,
                    "error" => SpanStatusCode::Error,
                    "unset" => SpanStatusCode::Unset,
                    other => return Err(format!("bad status {other:?}")),
                }
            }
            "event" => {
                let (name, off) = v.split_once('@').unwrap_or((v, "0"));
                span.events.push(SpanEvent {
                    name: text(name),
                    time_unix_nano: nanos(off)?,
                    ..SpanEvent::default()
                });
            }
            "link" => {
                let (lt, ls) = ids(v)?;
                span.links.push(SpanLink {
                    trace_id: trace_id(lt),
                    span_id: span_id(ls),
                    ..SpanLink::default()
                });
            }
            _ => {
                let (scope_name, key) = k
                    .split_once('.')
                    .ok_or_else(|| format!("unknown field {k:?}"))?;
                let kv = KeyValue::new(text(key), value(v));
                match scope_name {
                    "span" => span.attributes.push(kv),
                    "res" => resource.attributes.push(kv),
                    "scope" => scope.attributes.push(kv),
                    "event" => span
                        .events
                        .last_mut()
                        .ok_or("event.K before event=")?
                        .attributes
                        .push(kv),
                    "link" => span
                        .links
                        .last_mut()
                        .ok_or("link.K before link=")?
                        .attributes
                        .push(kv),
                    other => return Err(format!("unknown field scope {other:?}")),
                }
            }
        }
    }
    // event offsets are relative to the span start
    for e in &mut span.events {
        e.time_unix_nano += span.start_unix_nano;
    }
    span.end_unix_nano = span.start_unix_nano + dur;
    Ok(ResourceSpans {
        resource,
        scope_spans: vec![ScopeSpans {
            scope,
            spans: vec![span],
            ..ScopeSpans::default()
        }],
        ..ResourceSpans::default()
    })
}

/// One spanset, canonically: trace number, sorted span numbers, attributes if checked.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Got {
    trace: u128,
    spans: Vec<u64>,
    attrs: Vec<String>,
}

fn render(sets: &[Got]) -> String {
    if sets.is_empty() {
        return "none".to_string();
    }
    let mut out = String::new();
    for g in sets {
        let spans: Vec<String> = g.spans.iter().map(u64::to_string).collect();
        let _ = write!(out, "\n      {}: {}", g.trace, spans.join(" "));
        if !g.attrs.is_empty() {
            let _ = write!(out, " | {}", g.attrs.join(" "));
        }
    }
    out
}

fn collect(resp: &SearchResponse) -> Vec<Got> {
    let mut out = Vec::new();
    for t in &resp.traces {
        for ss in &t.span_sets {
            let mut spans: Vec<u64> = ss
                .spans
                .iter()
                .map(|s| u64::from_be_bytes(s.span_id))
                .collect();
            spans.sort_unstable();
            let mut attrs: Vec<String> = ss
                .attributes
                .iter()
                .map(|kv| format!("{}={}", kv.key, kv.value.to_text()))
                .collect();
            attrs.sort();
            out.push(Got {
                trace: u128::from_be_bytes(t.trace_id),
                spans,
                attrs,
            });
        }
    }
    out.sort();
    out
}

struct Case {
    line: usize,
    query: String,
    req: SearchRequest,
    expect: Vec<(Got, bool)>,
    expect_none: bool,
    expect_error: Option<String>,
    expect_attrs: Vec<(u128, u64, Vec<String>)>,
    error: Option<String>,
}

struct Runner {
    tenant: TenantId,
    store: MemTraceStore,
    cases: usize,
    failures: Vec<String>,
}

impl Runner {
    fn run_case(&mut self, file: &str, c: Case) {
        self.cases += 1;
        let loc = format!("{file}:{}", c.line);
        if let Some(e) = c.error {
            self.failures.push(format!("{loc}: {}\n    {e}", c.query));
            return;
        }
        if c.expect.is_empty() && !c.expect_none && c.expect_error.is_none() {
            self.failures
                .push(format!("{loc}: {}\n    case has no expectation", c.query));
            return;
        }
        let result = search(&self.store, &self.tenant, &c.req);
        let fail = |why: String| format!("{loc}: {}\n    {why}", c.query);
        match (&c.expect_error, result) {
            (Some(want), Err(e)) => {
                if !e.to_string().contains(want.as_str()) {
                    self.failures.push(fail(format!(
                        "expected error containing {want:?}\n    got error: {e}"
                    )));
                }
            }
            (Some(want), Ok(resp)) => self.failures.push(fail(format!(
                "expected error containing {want:?}\n    got: {}",
                render(&collect(&resp))
            ))),
            (None, Err(e)) => self.failures.push(fail(format!("unexpected error: {e}"))),
            (None, Ok(resp)) => {
                let mut got = collect(&resp);
                let mut want: Vec<(Got, bool)> = c.expect.clone();
                want.sort();
                // attributes are compared only where the expectation lists them
                let mut matched = got.len() == want.len();
                if matched {
                    got.sort_by(|a, b| (a.trace, &a.spans).cmp(&(b.trace, &b.spans)));
                    want.sort_by(|a, b| (a.0.trace, &a.0.spans).cmp(&(b.0.trace, &b.0.spans)));
                    matched = got.iter().zip(&want).all(|(g, (w, check))| {
                        g.trace == w.trace && g.spans == w.spans && (!check || g.attrs == w.attrs)
                    });
                }
                if c.expect_none && !got.is_empty() {
                    matched = false;
                }
                if !matched {
                    let w: Vec<Got> = want.into_iter().map(|(g, _)| g).collect();
                    self.failures.push(fail(format!(
                        "expected: {}\n    got: {}",
                        render(&w),
                        render(&got)
                    )));
                    return;
                }
                for (t, s, kvs) in &c.expect_attrs {
                    let span = resp
                        .traces
                        .iter()
                        .filter(|tr| u128::from_be_bytes(tr.trace_id) == *t)
                        .flat_map(|tr| &tr.span_sets)
                        .flat_map(|ss| &ss.spans)
                        .find(|sp| u64::from_be_bytes(sp.span_id) == *s);
                    let Some(span) = span else {
                        self.failures
                            .push(fail(format!("span {t}:{s} not returned")));
                        continue;
                    };
                    let have: Vec<String> = span
                        .attributes
                        .iter()
                        .map(|kv| format!("{}={}", kv.key, kv.value.to_text()))
                        .collect();
                    for kv in kvs {
                        if !have.contains(kv) {
                            self.failures.push(fail(format!(
                                "span {t}:{s}: expected attribute {kv}, got {have:?}"
                            )));
                        }
                    }
                }
            }
        }
    }

    fn run_file(&mut self, path: &Path) {
        let file = path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let src = match std::fs::read_to_string(path) {
            Ok(s) => s,
            Err(e) => {
                self.failures.push(format!("{file}: cannot read: {e}"));
                return;
            }
        };
        // every file starts from an empty store
        self.store = MemTraceStore::new();
        let mut current: Option<Case> = None;
        let mut loading: Option<Vec<ResourceSpans>> = None;
        let mut opts = SearchRequest {
            spans_per_spanset: usize::MAX,
            limit: 1000,
            ..SearchRequest::default()
        };
        let mut pending_opts: Option<SearchRequest> = None;
        for (lineno, joined) in logical_lines(&src) {
            let line = joined.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some(batch) = loading.as_mut() {
                if line == "end" {
                    let store = MemTraceStore::new();
                    let spans = std::mem::take(batch);
                    if let Err(e) = store.append_spans(
                        &self.tenant,
                        TraceBatch {
                            resource_spans: spans,
                        },
                    ) {
                        self.failures
                            .push(format!("{file}:{lineno}: load failed: {e}"));
                    }
                    self.store = store;
                    loading = None;
                    continue;
                }
                match span_line(&words(line)) {
                    Ok(rs) => batch.push(rs),
                    Err(e) => self
                        .failures
                        .push(format!("{file}:{lineno}: bad span line: {e}")),
                }
                continue;
            }
            let (directive, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
            let rest = rest.trim();
            match directive {
                "load" => {
                    if let Some(c) = current.take() {
                        self.run_case(&file, c);
                    }
                    loading = Some(Vec::new());
                }
                "with" => {
                    if let Some(c) = current.take() {
                        self.run_case(&file, c);
                    }
                    let mut req = opts.clone();
                    for kv in words(rest) {
                        let (k, v) = kv.split_once('=').unwrap_or((&kv, ""));
                        let r = match k {
                            "limit" => v.parse().map(|x| req.limit = x).map_err(|e| e.to_string()),
                            "spss" => v
                                .parse()
                                .map(|x| req.spans_per_spanset = x)
                                .map_err(|e| e.to_string()),
                            "min" => nanos(v).map(|x| req.min_duration_nanos = Some(x)),
                            "max" => nanos(v).map(|x| req.max_duration_nanos = Some(x)),
                            "start" => nanos(v).map(|x| req.start_nanos = x),
                            "end" => nanos(v).map(|x| req.end_nanos = x),
                            other => Err(format!("unknown option {other:?}")),
                        };
                        if let Err(e) = r {
                            self.failures.push(format!("{file}:{lineno}: {e}"));
                        }
                    }
                    pending_opts = Some(req);
                }
                "query" | "tags" => {
                    if let Some(c) = current.take() {
                        self.run_case(&file, c);
                    }
                    let mut req = pending_opts.take().unwrap_or_else(|| opts.clone());
                    let mut error = None;
                    if directive == "tags" {
                        match tags_to_query(rest) {
                            Ok(q) => req.query = q,
                            Err(e) => error = Some(format!("tags_to_query failed: {e}")),
                        }
                    } else {
                        req.query = rest.to_string();
                    }
                    current = Some(Case {
                        line: lineno,
                        query: rest.to_string(),
                        req,
                        expect: Vec::new(),
                        expect_none: false,
                        expect_error: None,
                        expect_attrs: Vec::new(),
                        error,
                    });
                }
                "expect" | "expect_error" | "expect_attrs" => {
                    let Some(c) = current.as_mut() else {
                        self.failures
                            .push(format!("{file}:{lineno}: {directive} without a query"));
                        continue;
                    };
                    let parsed = match directive {
                        "expect_error" => {
                            c.expect_error = Some(rest.to_string());
                            Ok(())
                        }
                        "expect_attrs" => parse_attrs_line(rest).map(|a| c.expect_attrs.push(a)),
                        _ if rest == "none" => {
                            c.expect_none = true;
                            Ok(())
                        }
                        _ => parse_expect(rest).map(|g| c.expect.push(g)),
                    };
                    if let Err(e) = parsed {
                        self.failures.push(format!("{file}:{lineno}: {e}"));
                    }
                }
                other => self
                    .failures
                    .push(format!("{file}:{lineno}: unknown directive {other:?}")),
            }
        }
        if let Some(c) = current.take() {
            self.run_case(&file, c);
        }
        opts.query.clear();
    }
}

/// Lines with their 1-based numbers; a line ending in `\` continues on the next one,
/// joined with a newline (for queries spanning lines).
fn logical_lines(src: &str) -> Vec<(usize, String)> {
    let mut out: Vec<(usize, String)> = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (n, raw) in src.lines().enumerate() {
        let (start, mut text) = match pending.take() {
            Some((start, mut acc)) => {
                acc.push('\n');
                acc.push_str(raw);
                (start, acc)
            }
            None => (n + 1, raw.to_string()),
        };
        if text.ends_with('\\') {
            text.pop();
            pending = Some((start, text));
            continue;
        }
        out.push((start, text));
    }
    if let Some(p) = pending {
        out.push(p);
    }
    out
}

fn parse_expect(rest: &str) -> Result<(Got, bool), String> {
    let (ids_part, attrs_part) = match rest.split_once('|') {
        Some((a, b)) => (a, Some(b)),
        None => (rest, None),
    };
    let (t, spans) = ids_part
        .split_once(':')
        .ok_or_else(|| format!("expected 'T: S...', got {rest:?}"))?;
    let trace = t
        .trim()
        .parse()
        .map_err(|_| format!("bad trace number {t:?}"))?;
    let mut span_nums: Vec<u64> = spans
        .split_whitespace()
        .map(|s| s.parse().map_err(|_| format!("bad span number {s:?}")))
        .collect::<Result<_, _>>()?;
    span_nums.sort_unstable();
    let mut attrs: Vec<String> = attrs_part
        .map(|a| {
            words(a)
                .iter()
                .map(|kv| match kv.split_once('=') {
                    Some((k, v)) => format!("{k}={}", text(v)),
                    None => kv.clone(),
                })
                .collect()
        })
        .unwrap_or_default();
    attrs.sort();
    Ok((
        Got {
            trace,
            spans: span_nums,
            attrs,
        },
        attrs_part.is_some(),
    ))
}

fn parse_attrs_line(rest: &str) -> Result<(u128, u64, Vec<String>), String> {
    let w = words(rest);
    let first = w.first().ok_or("expect_attrs needs T:S")?;
    let (t, s) = ids(first)?;
    let kvs = w
        .iter()
        .skip(1)
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => format!("{k}={}", text(v)),
            None => kv.clone(),
        })
        .collect();
    Ok((t, s, kvs))
}

#[test]
fn traceql_conformance() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/testdata");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("testdata directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "test"))
        .collect();
    files.sort();
    let mut runner = Runner {
        tenant: TenantId::new("conformance").expect("tenant"),
        store: MemTraceStore::new(),
        cases: 0,
        failures: Vec::new(),
    };
    for f in &files {
        runner.run_file(f);
    }
    for f in &runner.failures {
        eprintln!("FAIL {f}\n");
    }
    eprintln!(
        "{} conformance cases in {} files, {} failures",
        runner.cases,
        files.len(),
        runner.failures.len()
    );
    assert!(
        runner.failures.is_empty(),
        "{} conformance failures",
        runner.failures.len()
    );
    assert!(
        runner.cases >= 120,
        "only {} conformance cases found",
        runner.cases
    );
}
