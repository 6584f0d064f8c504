//! Parser for the promqltest script format: commands, series notation and `expect` lines.
//!
//! A script is read line by line; comments (`#`) and surrounding whitespace are dropped,
//! and a command's body runs until the next blank line, as in Prometheus's runner.

use oxeye_core::{Labels, MatchOp, Matcher, stale_nan};

use super::ScriptError;
pub use super::labels::unquote;
use super::labels::{closing_brace, parse_labels};

/// One value position in a series description.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Point {
    /// No sample at this position (`_`).
    Omitted,
    /// A float sample (a stale marker is the stale NaN).
    Float(f64),
    /// A native histogram sample (`{{...}}`); its contents are not interpreted.
    Histogram,
}

/// A parsed `<series> <points>` line.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesDesc {
    /// The series' labels, the metric name as `__name__`.
    pub labels: Labels,
    /// The expanded points, one per interval (load) or step (range result).
    pub points: Vec<Point>,
}

/// What an `expect` line checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExpectKind {
    /// The query must fail.
    Fail,
    /// At least one warning annotation.
    Warn,
    /// No warning annotation.
    NoWarn,
    /// At least one info annotation.
    Info,
    /// No info annotation.
    NoInfo,
    /// Vector elements come in the listed order.
    Ordered,
}

/// How an `expect` line matches a message.
#[derive(Debug, Clone)]
pub enum MessageMatch {
    /// Any message (no `msg:` or `regex:` part).
    Any,
    /// Exact text (`msg:`).
    Exact(String),
    /// Unanchored regular expression search (`regex:`).
    Regex(Box<Matcher>),
}

impl MessageMatch {
    /// Whether `text` satisfies this matcher.
    pub fn matches(&self, text: &str) -> bool {
        match self {
            MessageMatch::Any => true,
            MessageMatch::Exact(m) => m == text,
            MessageMatch::Regex(re) => re.matches(text),
        }
    }

    /// The pattern as written, for reports.
    pub fn describe(&self) -> String {
        match self {
            MessageMatch::Any => "anything".to_string(),
            MessageMatch::Exact(m) => format!("message {m:?}"),
            MessageMatch::Regex(re) => format!("pattern {:?}", regex_source(&re.value)),
        }
    }
}

/// Builds an unanchored regex search out of the core matcher, which anchors fully.
pub fn search_regex(pattern: &str) -> Result<MessageMatch, String> {
    Matcher::new(MatchOp::Regex, "", format!(".*(?:{pattern}).*"))
        .map(|m| MessageMatch::Regex(Box::new(m)))
        .map_err(|e| e.to_string())
}

fn regex_source(wrapped: &str) -> &str {
    wrapped
        .strip_prefix(".*(?:")
        .and_then(|s| s.strip_suffix(").*"))
        .unwrap_or(wrapped)
}

/// One `expect` line.
#[derive(Debug, Clone)]
pub struct Expect {
    /// What is checked.
    pub kind: ExpectKind,
    /// How the message must look.
    pub message: MessageMatch,
}

/// What an eval compares its result with.
#[derive(Debug, Clone, Default)]
pub struct Expected {
    /// A scalar result.
    pub scalar: Option<f64>,
    /// Series with their points, in the order written.
    pub series: Vec<SeriesDesc>,
    /// A string result (`expect string`).
    pub string: Option<String>,
    /// Timestamps of a range vector returned by an instant query (`expect range vector`):
    /// start, end, step in ms.
    pub range_vector: Option<(i64, i64, i64)>,
}

/// An `eval` command.
#[derive(Debug, Clone)]
pub struct Eval {
    /// 1-based line of the `eval` command.
    pub line: usize,
    /// The query text.
    pub expr: String,
    /// Evaluation time (instant) or start (range), ms.
    pub start: i64,
    /// `(end, step)` in ms for a range eval.
    pub range: Option<(i64, i64)>,
    /// `expect` lines and legacy `eval_*` forms.
    pub expects: Vec<Expect>,
    /// The expected result.
    pub expected: Expected,
}

impl Eval {
    /// The expectations of one kind.
    pub fn of(&self, kind: ExpectKind) -> impl Iterator<Item = &Expect> {
        self.expects.iter().filter(move |e| e.kind == kind)
    }

    /// Whether any expectation of `kind` is present.
    pub fn has(&self, kind: ExpectKind) -> bool {
        self.of(kind).next().is_some()
    }
}

/// A `load` command.
#[derive(Debug, Clone)]
pub struct Load {
    /// 1-based line of the command.
    pub line: usize,
    /// Interval between points, ms.
    pub interval: i64,
    /// `load_with_nhcb`: classic histograms are also loaded as native histograms.
    pub with_nhcb: bool,
    /// The series.
    pub series: Vec<SeriesDesc>,
}

/// A script command.
#[derive(Debug, Clone)]
pub enum Command {
    /// Add data.
    Load(Load),
    /// Drop all data.
    Clear,
    /// Run a query and check the result.
    Eval(Box<Eval>),
}

fn err(line: usize, message: impl Into<String>) -> ScriptError {
    ScriptError {
        line,
        message: message.into(),
    }
}

/// Parses a whole script.
pub fn parse_script(text: &str) -> Result<Vec<Command>, ScriptError> {
    let lines: Vec<&str> = text
        .split('\n')
        .map(|l| {
            let l = l.trim();
            if l.starts_with('#') { "" } else { l }
        })
        .collect();
    let mut cmds = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines.get(i).copied().unwrap_or("");
        let lineno = i + 1;
        i += 1;
        if line.is_empty() {
            continue;
        }
        let word = line
            .split([' ', '\t'])
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        if word == "clear" {
            cmds.push(Command::Clear);
            continue;
        }
        let body_start = i;
        let mut body_end = i;
        while lines.get(body_end).is_some_and(|l| !l.is_empty()) {
            body_end += 1;
        }
        let body: Vec<(usize, &str)> = (body_start..body_end)
            .filter_map(|k| lines.get(k).map(|l| (k + 1, *l)))
            .collect();
        if word.starts_with("load") {
            cmds.push(Command::Load(parse_load(lineno, line, &body)?));
            i = body_end;
        } else if word.starts_with("eval") {
            let (ev, used) = parse_eval(lineno, line, &body)?;
            cmds.push(Command::Eval(Box::new(ev)));
            // Lines after a scalar result or a legacy failure message are commands again.
            i = body_start + used;
        } else {
            return Err(err(lineno, format!("invalid command {line:?}")));
        }
    }
    Ok(cmds)
}

fn parse_load(lineno: usize, line: &str, body: &[(usize, &str)]) -> Result<Load, ScriptError> {
    let mut words = line.split_whitespace();
    let with_nhcb = match words.next() {
        Some("load") => false,
        Some("load_with_nhcb") => true,
        _ => {
            return Err(err(
                lineno,
                "invalid load command (load[_with_nhcb] <interval>)",
            ));
        }
    };
    let interval = words
        .next()
        .and_then(duration_ms)
        .ok_or_else(|| err(lineno, format!("invalid load interval in {line:?}")))?;
    if words.next().is_some() {
        return Err(err(
            lineno,
            format!("unexpected text after interval in {line:?}"),
        ));
    }
    let mut series = Vec::with_capacity(body.len());
    for (n, l) in body {
        series.push(parse_series(l).map_err(|m| err(*n, m))?);
    }
    Ok(Load {
        line: lineno,
        interval,
        with_nhcb,
        series,
    })
}

/// Returns the eval and how many body lines it used.
fn parse_eval(
    lineno: usize,
    line: &str,
    body: &[(usize, &str)],
) -> Result<(Eval, usize), ScriptError> {
    let (head, rest) = line
        .split_once([' ', '\t'])
        .ok_or_else(|| err(lineno, format!("invalid eval command {line:?}")))?;
    let legacy = match head {
        "eval" => None,
        "eval_fail" => Some(ExpectKind::Fail),
        "eval_warn" => Some(ExpectKind::Warn),
        "eval_info" => Some(ExpectKind::Info),
        "eval_ordered" => Some(ExpectKind::Ordered),
        _ => return Err(err(lineno, format!("invalid eval command {head:?}"))),
    };
    let rest = rest.trim_start();
    let (start, range, expr) = if let Some(r) = rest.strip_prefix("instant") {
        let r = r.trim_start();
        let r = r.strip_prefix("at").map(str::trim_start).unwrap_or(r);
        let (at, expr) = r
            .split_once([' ', '\t'])
            .ok_or_else(|| err(lineno, "instant eval needs a time and a query"))?;
        let at = duration_ms(at).ok_or_else(|| err(lineno, format!("invalid time {at:?}")))?;
        (at, None, expr.trim())
    } else if let Some(r) = rest.strip_prefix("range") {
        if legacy == Some(ExpectKind::Ordered) {
            return Err(err(
                lineno,
                "eval_ordered is only valid for instant queries",
            ));
        }
        let (s, e, st, expr) = range_header(r)
            .filter(|(_, _, _, expr)| !expr.is_empty())
            .ok_or_else(|| {
                err(
                    lineno,
                    "range eval must be 'range from <t> to <t> step <d> <query>'",
                )
            })?;
        (s, Some((e, st)), expr)
    } else {
        return Err(err(lineno, format!("invalid eval command {line:?}")));
    };
    if let Some((end, _)) = range
        && end < start
    {
        return Err(err(lineno, "end timestamp is before start timestamp"));
    }
    let mut ev = Eval {
        line: lineno,
        expr: expr.to_string(),
        start,
        range,
        expects: Vec::new(),
        expected: Expected::default(),
    };
    if let Some(kind) = legacy {
        ev.expects.push(Expect {
            kind,
            message: MessageMatch::Any,
        });
    }
    let mut has_range_vector = false;
    let mut used = 0;
    for (n, l) in body {
        let n = *n;
        used += 1;
        if legacy == Some(ExpectKind::Fail) {
            if let Some(m) = l.strip_prefix("expected_fail_message") {
                replace_fail(&mut ev, MessageMatch::Exact(m.trim().to_string()));
                break;
            }
            if let Some(p) = l.strip_prefix("expected_fail_regexp") {
                replace_fail(&mut ev, search_regex(p.trim()).map_err(|e| err(n, e))?);
                break;
            }
        }
        if let Some(r) = l.strip_prefix("expect range vector") {
            let (s, e, step, tail) = range_header(r)
                .filter(|(s, e, _, tail)| tail.is_empty() && e >= s)
                .ok_or_else(|| err(n, format!("invalid range vector definition {l:?}")))?;
            debug_assert!(tail.is_empty());
            ev.expected.range_vector = Some((s, e, step));
            has_range_vector = true;
            continue;
        }
        if let Some(s) = l.strip_prefix("expect string") {
            let s = s.strip_prefix(' ').unwrap_or(s);
            ev.expected.string = Some(unquote(s).ok_or_else(|| {
                err(
                    n,
                    "expected string literal not valid - check that the string is correctly quoted",
                )
            })?);
            continue;
        }
        if l.split(' ').next() == Some("expect") {
            ev.expects.push(parse_expect(l).map_err(|m| err(n, m))?);
            validate_expects(&ev).map_err(|m| err(n, m))?;
            continue;
        }
        if let Some(v) = parse_number(l) {
            ev.expected.scalar = Some(v);
            break;
        }
        let desc = parse_series(l).map_err(|m| err(n, m))?;
        if desc.points.len() > 1 && range.is_none() && !has_range_vector {
            return Err(err(
                n,
                "expecting multiple values in instant evaluation not allowed",
            ));
        }
        ev.expected.series.push(desc);
    }
    Ok((ev, used))
}

/// Parses `[from] <start> to <end> step <step> [rest]`, returning times in ms and the rest.
fn range_header(r: &str) -> Option<(i64, i64, i64, &str)> {
    let r = r.trim_start();
    let r = r.strip_prefix("from").map(str::trim_start).unwrap_or(r);
    let (start, r) = r.split_once(char::is_whitespace)?;
    let r = r.trim_start().strip_prefix("to")?.trim_start();
    let (end, r) = r.split_once(char::is_whitespace)?;
    let r = r.trim_start().strip_prefix("step")?.trim_start();
    let (step, rest) = r.split_once(char::is_whitespace).unwrap_or((r, ""));
    Some((
        duration_ms(start)?,
        duration_ms(end)?,
        duration_ms(step)?,
        rest.trim(),
    ))
}

fn replace_fail(ev: &mut Eval, message: MessageMatch) {
    ev.expects.retain(|e| e.kind != ExpectKind::Fail);
    ev.expects.push(Expect {
        kind: ExpectKind::Fail,
        message,
    });
}

fn validate_expects(ev: &Eval) -> Result<(), String> {
    use ExpectKind::*;
    if ev.has(Info) && ev.has(NoInfo) {
        return Err("invalid expect lines, info and no_info cannot be used together".into());
    }
    if ev.has(Warn) && ev.has(NoWarn) {
        return Err("invalid expect lines, warn and no_warn cannot be used together".into());
    }
    if ev.of(Fail).count() > 1 {
        return Err("invalid expect lines, multiple expect fail lines are not allowed".into());
    }
    Ok(())
}

/// Parses `expect <type> [msg|regex: <text>]`.
pub fn parse_expect(line: &str) -> Result<Expect, String> {
    let rest = line
        .trim()
        .strip_prefix("expect")
        .ok_or_else(|| format!("not an expect line: {line:?}"))?
        .trim_start();
    let (word, tail) = match rest.split_once(char::is_whitespace) {
        Some((w, t)) => (w, t.trim()),
        None => (rest, ""),
    };
    let kind = match word {
        "fail" => ExpectKind::Fail,
        "warn" => ExpectKind::Warn,
        "no_warn" => ExpectKind::NoWarn,
        "info" => ExpectKind::Info,
        "no_info" => ExpectKind::NoInfo,
        "ordered" => ExpectKind::Ordered,
        other => return Err(format!("invalid expected error/annotation type {other:?}")),
    };
    let message = if tail.is_empty() {
        MessageMatch::Any
    } else if let Some(m) = tail.strip_prefix("msg:") {
        MessageMatch::Exact(m.trim().to_string())
    } else if let Some(p) = tail.strip_prefix("regex:") {
        search_regex(p.trim()).map_err(|e| format!("invalid regex for {word}: {e}"))?
    } else {
        return Err(format!(
            "invalid expect statement {line:?}, must match `expect <type> <match_type>: <string>`"
        ));
    };
    if !matches!(message, MessageMatch::Any)
        && matches!(
            kind,
            ExpectKind::Ordered | ExpectKind::NoWarn | ExpectKind::NoInfo
        )
    {
        return Err(format!("{word} takes no message in {line:?}"));
    }
    Ok(Expect { kind, message })
}

/// Parses a Prometheus duration (`1h30m`, `10s53ms`, `0`), returning ms. A bare number
/// is seconds, as the test format allows for times.
pub fn duration_ms(s: &str) -> Option<i64> {
    if s.is_empty() {
        return None;
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse::<i64>().ok()?.checked_mul(1000);
    }
    let mut total: i64 = 0;
    let mut rest = s;
    let mut last_unit = u64::MAX;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return None;
        }
        let n: i64 = rest.get(..digits)?.parse().ok()?;
        rest = rest.get(digits..)?;
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = rest.get(..unit_len)?;
        rest = rest.get(unit_len..)?;
        let mult: i64 = match unit {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 604_800_000,
            "y" => 31_536_000_000,
            _ => return None,
        };
        // Units must come largest first and at most once each.
        if mult as u64 >= last_unit {
            return None;
        }
        last_unit = mult as u64;
        total = total.checked_add(n.checked_mul(mult)?)?;
    }
    Some(total)
}

/// Parses a number as the series notation writes it: decimal, hex, `Inf`, `NaN`, with sign.
pub fn parse_number(s: &str) -> Option<f64> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, s.get(1..)?),
        Some(b'+') => (false, s.get(1..)?),
        _ => (false, s),
    };
    if body.is_empty() {
        return None;
    }
    let v = if let Some(hex) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        i64::from_str_radix(hex, 16).ok()? as f64
    } else if body.eq_ignore_ascii_case("inf") || body.eq_ignore_ascii_case("infinity") {
        f64::INFINITY
    } else if body.eq_ignore_ascii_case("nan") {
        f64::NAN
    } else if body
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        body.parse::<f64>().ok()?
    } else {
        return None;
    };
    Some(if neg { -v } else { v })
}

/// A value in series notation: a number, a duration (as seconds) or `stale`.
fn series_value(s: &str) -> Option<f64> {
    if s == "stale" {
        return Some(stale_nan());
    }
    if !s.contains(['x', 'X'])
        && let Some(v) = parse_number(s)
    {
        return Some(v);
    }
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let secs = duration_ms(body)? as f64 / 1000.0;
    Some(if neg { -secs } else { secs })
}

/// Splits `<series> <points>` into the series text and the points text.
fn split_desc(line: &str) -> Result<(&str, &str), String> {
    let line = line.trim();
    if let Some(open) = line.find('{')
        && line
            .get(..open)
            .is_some_and(|n| !n.contains(char::is_whitespace))
    {
        let close =
            closing_brace(line, open).ok_or_else(|| format!("unclosed label set in {line:?}"))?;
        return Ok((
            line.get(..=close).unwrap_or(line),
            line.get(close + 1..).unwrap_or(""),
        ));
    }
    Ok(line.split_once(char::is_whitespace).unwrap_or((line, "")))
}

/// Parses a series description line: `metric{a="b"} 1+2x3 _ stale`.
pub fn parse_series(line: &str) -> Result<SeriesDesc, String> {
    let (series, values) = split_desc(line)?;
    let labels = parse_labels(series)?;
    let mut points = Vec::new();
    for item in value_items(values)? {
        expand_item(item, &mut points)?;
    }
    Ok(SeriesDesc { labels, points })
}

/// Splits the points text on whitespace, keeping `{{ ... }}` histograms whole.
fn value_items(s: &str) -> Result<Vec<&str>, String> {
    let mut items = Vec::new();
    let mut depth = 0usize;
    let mut start: Option<usize> = None;
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| format!("unbalanced '}}' in {s:?}"))?
            }
            _ => {}
        }
        if c.is_whitespace() && depth == 0 {
            if let Some(st) = start.take() {
                items.extend(s.get(st..i));
            }
        } else if start.is_none() {
            start = Some(i);
        }
    }
    if depth != 0 {
        return Err(format!("unbalanced '{{' in {s:?}"));
    }
    if let Some(st) = start {
        items.extend(s.get(st..));
    }
    Ok(items)
}

fn repeat_count(n: &str, item: &str) -> Result<usize, String> {
    n.parse::<usize>()
        .map_err(|_| format!("invalid repetition in series values {item:?}"))
}

/// Expands one item of series notation onto `out`.
fn expand_item(item: &str, out: &mut Vec<Point>) -> Result<(), String> {
    if item == "_" {
        out.push(Point::Omitted);
        return Ok(());
    }
    if let Some(n) = item.strip_prefix("_x") {
        let n = repeat_count(n, item)?;
        out.extend(std::iter::repeat_n(Point::Omitted, n));
        return Ok(());
    }
    if item.starts_with("{{") {
        // Histogram notation, possibly `{{..}}xN` or `{{..}}+{{..}}xN`: only the count of
        // points matters here.
        let n = match item.rfind("}}x") {
            Some(i) => repeat_count(item.get(i + 3..).unwrap_or(""), item)? + 1,
            None if item.ends_with("}}") => 1,
            None => return Err(format!("invalid histogram value {item:?}")),
        };
        out.extend(std::iter::repeat_n(Point::Histogram, n));
        return Ok(());
    }
    let Some((head, times)) = item
        .rsplit_once('x')
        .filter(|(h, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) && !h.is_empty())
    else {
        let v = series_value(item).ok_or_else(|| format!("invalid series value {item:?}"))?;
        out.push(Point::Float(v));
        return Ok(());
    };
    let times = repeat_count(times, item)?;
    // Find a sign after the first character that is not part of an exponent.
    let bytes = head.as_bytes();
    let split = (1..bytes.len()).find(|&i| {
        matches!(bytes.get(i), Some(b'+' | b'-')) && !matches!(bytes.get(i - 1), Some(b'e' | b'E'))
    });
    let (start, delta) = match split {
        Some(i) => {
            let a = head.get(..i).and_then(series_value);
            let b = head.get(i..).and_then(series_value);
            match (a, b) {
                (Some(a), Some(b)) => (a, b),
                _ => return Err(format!("invalid series value {item:?}")),
            }
        }
        None => (
            series_value(head).ok_or_else(|| format!("invalid series value {item:?}"))?,
            0.0,
        ),
    };
    let mut v = start;
    for _ in 0..=times {
        out.push(Point::Float(v));
        v += delta;
    }
    Ok(())
}
