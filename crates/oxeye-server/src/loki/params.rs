//! Request parameters as Loki reads them: times in RFC 3339 or Unix epoch (an integer of
//! up to ten characters is seconds, a longer one nanoseconds; a fraction means float
//! seconds), `since` and `step` as
//! Prometheus durations or float seconds, `limit` and `delay_for` as Go integers,
//! `direction` case-insensitively. Errors carry Loki's texts.

use oxeye_core::Matcher;
use oxeye_core::logs::Direction;

use crate::error::ApiError;
use crate::params::{Params, parse_go_int, parse_rfc3339};
use crate::selector::parse_selector;

/// Lines a log query returns when `limit` is absent.
pub const DEFAULT_LIMIT: usize = 100;
/// Fields `detected_fields` returns when `limit` is absent.
pub const DEFAULT_FIELDS_LIMIT: usize = 1000;
/// How far back a range reaches when neither `start` nor `since` is given, ns.
pub const DEFAULT_SINCE_NS: i64 = 3_600 * NANOS;
/// Most steps of a range query: `(end - start) / step` may be at most this, so a series
/// has at most one point more.
pub const MAX_POINTS: i64 = 11_000;
/// Most entries a log query may ask for (Loki's `max_entries_limit_per_query` default).
pub const MAX_ENTRIES_LIMIT_PER_QUERY: usize = 5_000;

const NANOS: i64 = 1_000_000_000;

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::BadRequest(msg.into())
}

/// Parses a Loki timestamp into ns as Loki's `parseTimestamp` does: text with a `.` is
/// float Unix seconds (the fraction rounded to milliseconds); an integer is Unix seconds
/// when its text is at most ten characters long and nanoseconds otherwise; anything
/// else is RFC 3339 with up to nanosecond precision.
pub fn parse_timestamp(v: &str) -> Result<i64, String> {
    if v.contains('.')
        && let Ok(f) = v.parse::<f64>()
    {
        return float_seconds(f);
    }
    match parse_go_int(v) {
        Ok(n) if v.len() <= 10 => n
            .checked_mul(NANOS)
            .ok_or_else(|| format!("strconv.ParseInt: parsing {v:?}: value out of range")),
        Ok(n) => Ok(n),
        Err(e) => parse_rfc3339_ns(v).ok_or_else(|| e.replace("strconv.Atoi", "strconv.ParseInt")),
    }
}

/// Float Unix seconds into ns, the fraction rounded to milliseconds.
fn float_seconds(f: f64) -> Result<i64, String> {
    if !f.is_finite() {
        return Err("floating point timestamp is NaN or Inf".into());
    }
    let secs = f.trunc();
    // Whole seconds whose nanoseconds fit in an i64 (about 292 years either side).
    if secs.abs() > (i64::MAX / NANOS) as f64 {
        return Err("floating point timestamp exceeds integer range".into());
    }
    let frac_ms = ((f - secs) * 1000.0).round() as i64;
    (secs as i64)
        .checked_mul(NANOS)
        .and_then(|s| s.checked_add(frac_ms.checked_mul(1_000_000)?))
        .ok_or_else(|| "floating point timestamp exceeds integer range".into())
}

/// RFC 3339 with up to nanosecond precision, in ns.
fn parse_rfc3339_ns(v: &str) -> Option<i64> {
    let ms = parse_rfc3339(v)?;
    // parse_rfc3339 keeps milliseconds; add the digits beyond them
    let frac = v.split_once('.').map(|(_, rest)| {
        rest.chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
    });
    let sub_ms: i64 = match frac {
        Some(d) if d.len() > 3 => {
            let padded: String = d.chars().skip(3).chain("000000".chars()).take(6).collect();
            padded.parse().ok()?
        }
        _ => 0,
    };
    ms.checked_mul(1_000_000)?.checked_add(sub_ms)
}

/// Float seconds or a Prometheus duration, in ns, with Loki's error texts.
pub fn parse_seconds_or_duration(v: &str) -> Result<i64, String> {
    if let Ok(f) = v.parse::<f64>() {
        let ns = f * 1e9;
        if !ns.is_finite() || ns > i64::MAX as f64 || ns < i64::MIN as f64 {
            return Err(format!(
                "cannot parse {v:?} to a valid duration. It overflows int64"
            ));
        }
        return Ok(ns as i64);
    }
    crate::params::parse_duration(v)
        .map(|ms| ms.saturating_mul(1_000_000))
        .map_err(|_| format!("cannot parse {v:?} to a valid duration"))
}

/// A request's parameters with Loki's readers.
#[derive(Debug, Clone, Default)]
pub struct LokiParams(pub Params);

impl LokiParams {
    /// A parameter's value; absent and empty are the same, as with Go's `Form.Get`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).filter(|v| !v.is_empty())
    }

    /// The `query` parameter (empty when absent).
    pub fn query(&self) -> &str {
        self.0.get("query").unwrap_or("")
    }

    /// `limit` (default `default`): a positive integer, for a log query at most
    /// [`MAX_ENTRIES_LIMIT_PER_QUERY`].
    pub fn limit(&self, default: usize) -> Result<usize, ApiError> {
        self.limit_max(default, MAX_ENTRIES_LIMIT_PER_QUERY)
    }

    /// `limit` (default `default`): a positive integer; when the `query` parameter is not
    /// a metric query, at most `max` (0: no maximum), as Loki holds log queries to
    /// `max_entries_limit_per_query`.
    pub fn limit_max(&self, default: usize, max: usize) -> Result<usize, ApiError> {
        let Some(v) = self.get("limit") else {
            return Ok(default);
        };
        let n = parse_go_int(v).map_err(bad)?;
        if n <= 0 {
            return Err(bad("limit must be a positive value"));
        }
        let n = usize::try_from(n).unwrap_or(usize::MAX);
        let metric = matches!(
            oxeye_logql::parse(self.query()),
            Ok(oxeye_logql::Expr::Sample(_))
        );
        if max > 0 && n > max && !metric {
            return Err(bad(format!(
                "max entries limit per query exceeded, limit > max_entries_limit_per_query ({n} > {max})"
            )));
        }
        Ok(n)
    }

    /// `direction`: `forward` or `backward` (the default), any case.
    pub fn direction(&self) -> Result<Direction, ApiError> {
        match self.get("direction") {
            None => Ok(Direction::Backward),
            Some(v) if v.eq_ignore_ascii_case("forward") => Ok(Direction::Forward),
            Some(v) if v.eq_ignore_ascii_case("backward") => Ok(Direction::Backward),
            Some(v) => Err(bad(format!("invalid direction '{v}'"))),
        }
    }

    /// A time parameter in ns, `default` when absent.
    pub fn time(&self, name: &str, default: i64) -> Result<i64, ApiError> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => parse_timestamp(v).map_err(bad),
        }
    }

    /// `start` and `end` as Loki determines them: `end` defaults to now; `start` to
    /// `since` (default 1h) before `end`, or before now when `end` is in the future.
    pub fn bounds(&self, now_ns: i64) -> Result<(i64, i64), ApiError> {
        let since = match self.get("since") {
            None => DEFAULT_SINCE_NS,
            Some(v) => crate::params::parse_duration(v)
                .ok()
                .filter(|_| v.parse::<f64>().is_err())
                .map(|ms| ms.saturating_mul(1_000_000))
                .ok_or_else(|| {
                    bad(format!(
                        "could not parse 'since' parameter: not a valid duration string: {v:?}"
                    ))
                })?,
        };
        let end = match self.get("end") {
            None => now_ns,
            Some(v) => parse_timestamp(v)
                .map_err(|e| bad(format!("could not parse 'end' parameter: {e}")))?,
        };
        let end_or_now = end.min(now_ns);
        let start = match self.get("start") {
            None => end_or_now.saturating_sub(since),
            Some(v) => parse_timestamp(v)
                .map_err(|e| bad(format!("could not parse 'start' parameter: {e}")))?,
        };
        Ok((start, end))
    }

    /// [`LokiParams::bounds`], refusing an `end` before `start` as Loki's range endpoints
    /// do.
    pub fn ordered_bounds(&self, now_ns: i64) -> Result<(i64, i64), ApiError> {
        let (start, end) = self.bounds(now_ns)?;
        if end < start {
            return Err(bad(
                "end timestamp must not be before or equal to start time",
            ));
        }
        Ok((start, end))
    }

    /// `step` in ns: float seconds or a duration; by default the range over 250, at
    /// least one second, in whole seconds.
    pub fn step(&self, start_ns: i64, end_ns: i64) -> Result<i64, ApiError> {
        match self.get("step") {
            None => Ok(default_step(start_ns, end_ns)),
            Some(v) => parse_seconds_or_duration(v).map_err(bad),
        }
    }

    /// `interval` in ns, `None` when absent.
    pub fn interval(&self) -> Result<Option<i64>, ApiError> {
        self.get("interval")
            .map(|v| parse_seconds_or_duration(v).map_err(bad))
            .transpose()
    }

    /// Every stream selector of `match[]` (and `match`), each as matchers.
    pub fn match_groups(&self) -> Result<Vec<Vec<Matcher>>, ApiError> {
        let mut out = Vec::new();
        for v in self.0.all("match[]").into_iter().chain(self.0.all("match")) {
            if v.is_empty() {
                continue;
            }
            out.push(selector_matchers(v)?);
        }
        Ok(out)
    }

    /// The matchers of the `query` parameter's stream selector; empty (every stream)
    /// when the parameter is absent or `{}`.
    pub fn query_matchers(&self) -> Result<Vec<Matcher>, ApiError> {
        let q = self.query().trim();
        if q.is_empty() || q == "{}" {
            return Ok(Vec::new());
        }
        let groups = query_selectors(q)?;
        Ok(groups.into_iter().next().unwrap_or_default())
    }
}

/// Loki's default step: the range over 250 in whole seconds, at least 1s, in ns.
pub fn default_step(start_ns: i64, end_ns: i64) -> i64 {
    let secs = ((end_ns.saturating_sub(start_ns)) as f64 / 1e9 / 250.0).floor();
    (secs.max(1.0) as i64).saturating_mul(NANOS)
}

/// Parses one stream selector (`{a="b", c=~"d.*"}`), refusing one whose matchers all
/// match the empty string, as Loki does.
pub fn selector_matchers(s: &str) -> Result<Vec<Matcher>, ApiError> {
    parse_selector(s.trim()).map_err(|e| {
        let msg = e.to_string();
        if msg.ends_with("at least one non-empty matcher") {
            bad(EMPTY_COMPATIBLE)
        } else {
            bad(format!("parse error: {msg}"))
        }
    })
}

/// Loki's refusal of a selector whose matchers all match the empty string.
const EMPTY_COMPATIBLE: &str = "parse error : queries require at least one regexp or equality matcher that does not have an empty-compatible value. For instance, app=~\".*\" does not meet this requirement, but app=~\".+\" will";

/// The stream selectors of a LogQL query, in order: the `{...}` groups outside string
/// literals (a metric query or a binary expression may hold several).
pub fn query_selectors(q: &str) -> Result<Vec<Vec<Matcher>>, ApiError> {
    let mut out = Vec::new();
    for sel in selector_texts(q)? {
        out.push(selector_matchers(sel)?);
    }
    if out.is_empty() {
        return Err(bad(format!(
            "parse error: no stream selector in query {q:?}"
        )));
    }
    Ok(out)
}

/// The text of each `{...}` group outside string literals.
fn selector_texts(q: &str) -> Result<Vec<&str>, ApiError> {
    let b = q.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut open: Option<usize> = None;
    while let Some(&c) = b.get(i) {
        match c {
            b'"' | b'\'' | b'`' => {
                i += 1;
                while let Some(&d) = b.get(i) {
                    if d == b'\\' && c != b'`' {
                        i += 2;
                        continue;
                    }
                    if d == c {
                        break;
                    }
                    i += 1;
                }
            }
            b'{' if open.is_none() => open = Some(i),
            b'}' => {
                if let Some(o) = open.take() {
                    out.push(q.get(o..=i).unwrap_or(""));
                }
            }
            _ => {}
        }
        i += 1;
    }
    if open.is_some() {
        return Err(bad(format!(
            "parse error: unclosed stream selector in query {q:?}"
        )));
    }
    Ok(out)
}

/// Checks a range for `query_range`-like endpoints: end not before start, a positive
/// step, at most 11,000 points.
pub fn check_range(start_ns: i64, end_ns: i64, step_ns: i64) -> Result<(), ApiError> {
    if end_ns < start_ns {
        return Err(bad(
            "end timestamp must not be before or equal to start time",
        ));
    }
    if step_ns <= 0 {
        return Err(bad(
            "zero or negative query resolution step widths are not accepted. Try a positive integer",
        ));
    }
    let steps = (i128::from(end_ns) - i128::from(start_ns)) / i128::from(step_ns);
    if steps > i128::from(MAX_POINTS) {
        return Err(bad(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn parsers_never_panic(s in ".{0,40}") {
            let _ = parse_timestamp(&s);
            let _ = parse_seconds_or_duration(&s);
            let _ = query_selectors(&s);
            let p = LokiParams(Params::parse(format!("start={s}&step={s}&limit={s}").as_bytes()));
            let _ = p.bounds(0);
            let _ = p.limit(1);
            let _ = p.step(0, 1);
        }

        #[test]
        fn ranges_never_panic(start in any::<i64>(), end in any::<i64>(), step in any::<i64>()) {
            let _ = check_range(start, end, step);
            let p = LokiParams(Params::parse(format!("start={start}&end={end}").as_bytes()));
            if let Ok((s, e)) = p.bounds(0) {
                let _ = check_range(s, e, p.step(s, e).unwrap_or(1));
            }
        }
    }

    #[test]
    fn timestamps_as_loki_reads_them() {
        assert_eq!(parse_timestamp("1700000000"), Ok(1_700_000_000 * NANOS));
        assert_eq!(
            parse_timestamp("1700000000000000000"),
            Ok(1_700_000_000 * NANOS)
        );
        assert_eq!(
            parse_timestamp("1700000000.5"),
            Ok(1_700_000_000 * NANOS + 500_000_000)
        );
        assert_eq!(parse_timestamp("4000000000"), Ok(4_000_000_000 * NANOS));
        assert_eq!(
            parse_timestamp("2023-11-14T22:13:20.123456789Z"),
            Ok(1_700_000_000_123_456_789)
        );
        assert_eq!(
            parse_timestamp("2023-11-14T22:13:20Z"),
            Ok(1_700_000_000 * NANOS)
        );
        assert_eq!(
            parse_timestamp("yesterday").unwrap_err(),
            "strconv.ParseInt: parsing \"yesterday\": invalid syntax"
        );
        assert!(parse_timestamp("NaN.").is_err());
        // Seconds or nanoseconds by the length of the text, not the value.
        assert_eq!(parse_timestamp("00000000001"), Ok(1));
        assert_eq!(parse_timestamp("+000000001"), Ok(NANOS));
        assert_eq!(parse_timestamp("-9223372036"), Ok(-9_223_372_036));
        assert_eq!(parse_timestamp("-922337203"), Ok(-922_337_203 * NANOS));
        // A fraction is always float seconds.
        assert_eq!(parse_timestamp("1.5"), Ok(1_500_000_000));
        assert_eq!(parse_timestamp("0.0004"), Ok(0));
        assert_eq!(
            parse_timestamp("17000000000.5").unwrap_err(),
            "floating point timestamp exceeds integer range"
        );
    }

    #[test]
    fn ranges_and_their_points() {
        assert!(check_range(0, 11_000 * NANOS, NANOS).is_ok());
        assert!(check_range(0, 11_001 * NANOS, NANOS).is_err());
        assert!(check_range(i64::MIN, i64::MAX, 1).is_err());
        assert!(check_range(-9_223_372_036 * NANOS, 9_223_372_036 * NANOS, NANOS).is_err());
        assert!(check_range(i64::MIN, i64::MAX, i64::MAX).is_ok());
        assert!(check_range(1, 0, 1).is_err());
    }

    #[test]
    fn limits_of_log_queries() {
        let p = |q: &str| LokiParams(Params::parse(q.as_bytes()));
        let log = p("query=%7Bapp%3D%22a%22%7D&limit=1000000000");
        assert_eq!(
            log.limit(DEFAULT_LIMIT).unwrap_err().to_string(),
            "max entries limit per query exceeded, limit > max_entries_limit_per_query (1000000000 > 5000)"
        );
        assert_eq!(
            p("query=%7Bapp%3D%22a%22%7D&limit=5000").limit(1).unwrap(),
            5000
        );
        assert_eq!(log.limit_max(DEFAULT_LIMIT, 0).unwrap(), 1_000_000_000);
        // Metric queries are not held to it.
        let metric = p("query=count_over_time(%7Bapp%3D%22a%22%7D%5B1m%5D)&limit=1000000000");
        assert_eq!(metric.limit(DEFAULT_LIMIT).unwrap(), 1_000_000_000);
        assert_eq!(p("").limit(DEFAULT_LIMIT).unwrap(), DEFAULT_LIMIT);
    }

    #[test]
    fn durations_and_steps() {
        assert_eq!(parse_seconds_or_duration("15"), Ok(15 * NANOS));
        assert_eq!(parse_seconds_or_duration("0.5"), Ok(NANOS / 2));
        assert_eq!(parse_seconds_or_duration("1m"), Ok(60 * NANOS));
        assert_eq!(parse_seconds_or_duration("100ms"), Ok(100_000_000));
        assert!(parse_seconds_or_duration("x").is_err());
        assert_eq!(default_step(0, 3_600 * NANOS), 14 * NANOS);
        assert_eq!(default_step(0, 10 * NANOS), NANOS);
    }

    #[test]
    fn bounds_default_and_since() {
        let now = 10_000 * NANOS;
        let p = |q: &str| LokiParams(Params::parse(q.as_bytes()));
        assert_eq!(p("").bounds(now).unwrap(), (now - 3_600 * NANOS, now));
        assert_eq!(p("since=5m").bounds(now).unwrap(), (now - 300 * NANOS, now));
        // an end in the future: start is counted back from now
        assert_eq!(
            p("end=20000&since=1m").bounds(now).unwrap(),
            (now - 60 * NANOS, 20_000 * NANOS)
        );
        assert!(p("since=x").bounds(now).is_err());
        assert!(p("start=x").bounds(now).is_err());
    }

    #[test]
    fn selectors_of_queries() {
        let q = r#"sum(rate({a="b"} |= "{x}" [5m])) / sum(rate({c=~"d.+"}[5m]))"#;
        let groups = query_selectors(q).unwrap();
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0][0].name, "a");
        assert_eq!(groups[1][0].value, "d.+");
        assert!(query_selectors(r#"{a=~".*"}"#).is_err());
        assert!(query_selectors(r#"{a="b""#).is_err());
        assert!(query_selectors("vector(1)").is_err());
    }
}
