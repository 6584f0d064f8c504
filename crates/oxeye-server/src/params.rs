//! Request parameters of the Prometheus-style read APIs.
//!
//! Like Prometheus, parameters come from the query string and, for POST requests with an
//! `application/x-www-form-urlencoded` body, from the body too; repeated names
//! (`match[]`) keep every value. Times are float Unix seconds or RFC 3339.

use axum::extract::{FromRequest, Request};
use axum::http::{Method, header};

use crate::error::{ApiError, JsonApiError};
use oxeye_core::civil::{civil_from_days, days_from_civil};

/// The earliest time Prometheus's APIs accept, in ms (its `minTime`).
pub const MIN_TIME_MS: i64 = -9_223_309_901_257_974_000;
/// The latest time Prometheus's APIs accept, in ms (its `maxTime`).
pub const MAX_TIME_MS: i64 = 9_223_309_901_257_974_999;

/// Largest form body accepted for read requests.
const MAX_FORM_BYTES: usize = 8 << 20;

/// All parameters of a request, in order of appearance.
#[derive(Debug, Clone, Default)]
pub struct Params(pub Vec<(String, String)>);

impl Params {
    /// Parses `application/x-www-form-urlencoded` text.
    pub fn parse(s: &[u8]) -> Self {
        Params(
            form_urlencoded::parse(s)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// A time parameter in ms, or `default` when absent or empty.
    pub fn time(&self, name: &str, default: i64) -> Result<i64, ApiError> {
        match self.get(name) {
            None | Some("") => Ok(default),
            Some(v) => parse_time(v).ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "invalid parameter {name:?}: invalid time value for '{name}': cannot parse {v:?} to a valid timestamp"
                ))
            }),
        }
    }

    /// A required time parameter in ms (`start` and `end` of a range query).
    pub fn required_time(&self, name: &str) -> Result<i64, ApiError> {
        let raw = self.get(name).unwrap_or("");
        parse_time(raw).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "invalid parameter {name:?}: cannot parse {raw:?} to a valid timestamp"
            ))
        })
    }

    /// `start` and `end` with Prometheus's defaults. Like Prometheus, an `end` before
    /// `start` is not an error: the range is empty (see [`is_empty_range`]).
    pub fn time_range(&self) -> Result<(i64, i64), ApiError> {
        let start = self.time("start", MIN_TIME_MS)?;
        let end = self.time("end", MAX_TIME_MS)?;
        Ok((start, end))
    }

    /// The `limit` parameter: `None` when absent or 0 (no limit); Prometheus's messages
    /// for values that are not a non-negative integer.
    pub fn limit(&self) -> Result<Option<usize>, ApiError> {
        match self.get("limit") {
            None | Some("") => Ok(None),
            Some(v) => match parse_go_int(v) {
                Ok(0) => Ok(None),
                Ok(n) if n > 0 => Ok(Some(usize::try_from(n).unwrap_or(usize::MAX))),
                Ok(_) => Err(ApiError::BadRequest(
                    "invalid parameter \"limit\": limit must be non-negative".into(),
                )),
                Err(e) => Err(ApiError::BadRequest(format!(
                    "invalid parameter \"limit\": {e}"
                ))),
            },
        }
    }

    /// A duration parameter in ms (float seconds or a Prometheus duration), `None` when
    /// absent or empty; the error is Prometheus's text without the parameter name.
    pub fn duration(&self, name: &str) -> Result<Option<i64>, String> {
        match self.get(name) {
            None | Some("") => Ok(None),
            Some(v) => parse_duration(v).map(Some),
        }
    }
}

/// Whether `[start, end]` holds no time at all.
pub fn is_empty_range(start: i64, end: i64) -> bool {
    end < start
}

/// Parses a decimal integer as Go's `strconv.Atoi` does, with its error text.
pub fn parse_go_int(s: &str) -> Result<i64, String> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("strconv.Atoi: parsing {s:?}: invalid syntax"));
    }
    s.parse::<i64>()
        .map_err(|_| format!("strconv.Atoi: parsing {s:?}: value out of range"))
}

/// Parses float seconds or a Prometheus duration (`1h30m`, `15s`, `100ms`: units `y w d
/// h m s ms`, each at most once, largest first) into ms.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    if let Ok(f) = s.parse::<f64>() {
        let ns = f * 1e9;
        if !ns.is_finite() || ns > i64::MAX as f64 || ns < i64::MIN as f64 {
            return Err(format!(
                "cannot parse {s:?} to a valid duration. It overflows int64"
            ));
        }
        return Ok((ns / 1e6) as i64);
    }
    parse_prometheus_duration(s).ok_or_else(|| format!("cannot parse {s:?} to a valid duration"))
}

/// A Prometheus duration string into ms, `None` when it is not one.
fn parse_prometheus_duration(s: &str) -> Option<i64> {
    const UNITS: [(&str, i64); 7] = [
        ("y", 365 * 86_400_000),
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ];
    if s.is_empty() {
        return None;
    }
    let mut rest = s;
    let mut next_unit = 0usize;
    let mut total: i64 = 0;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit())?;
        if digits == 0 {
            return None;
        }
        let n: i64 = rest.get(..digits)?.parse().ok()?;
        rest = rest.get(digits..)?;
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = rest.get(..unit_len)?;
        let pos = UNITS.iter().position(|(u, _)| *u == unit)?;
        if pos < next_unit {
            return None;
        }
        next_unit = pos + 1;
        let mult = UNITS.get(pos)?.1;
        total = total.checked_add(n.checked_mul(mult)?)?;
        rest = rest.get(unit_len..)?;
    }
    Some(total)
}

impl<S: Send + Sync> FromRequest<S> for Params {
    type Rejection = JsonApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let mut params = Params::parse(req.uri().query().unwrap_or("").as_bytes());
        let is_form = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
        if matches!(*req.method(), Method::POST | Method::PUT) && is_form {
            let body = axum::body::to_bytes(req.into_body(), MAX_FORM_BYTES)
                .await
                .map_err(|e| {
                    ApiError::TooLarge(format!(
                        "cannot read form body of at most {MAX_FORM_BYTES} bytes: {e}"
                    ))
                })?;
            // as in Go's `Request.Form`, body values come first and win over the URL's
            let mut form = Params::parse(&body);
            form.0.append(&mut params.0);
            params = form;
        }
        Ok(params)
    }
}

/// Parses float Unix seconds or an RFC 3339 time into ms.
pub fn parse_time(s: &str) -> Option<i64> {
    if let Ok(f) = s.parse::<f64>() {
        if !f.is_finite() {
            return None;
        }
        let ms = (f * 1000.0).round();
        if ms < MIN_TIME_MS as f64 || ms > MAX_TIME_MS as f64 {
            return None;
        }
        return Some(ms as i64);
    }
    parse_rfc3339(s)
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)` into ms.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    if b.len() < 20 || b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    if !matches!(b.get(10), Some(b'T' | b't' | b' ')) || b.get(13) != Some(&b':') {
        return None;
    }
    if b.get(16) != Some(&b':') {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, min, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || min > 59 || sec > 60 {
        return None;
    }
    let mut i = 19;
    let mut frac_ms = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        let digits = s.get(start..i)?;
        if digits.is_empty() {
            return None;
        }
        let padded: String = digits.chars().chain("000".chars()).take(3).collect();
        frac_ms = padded.parse().ok()?;
    }
    let offset_s = match b.get(i) {
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(sign @ (b'+' | b'-')) if i + 6 == b.len() && b.get(i + 3) == Some(&b':') => {
            let h = num(i + 1..i + 3)?;
            let m = num(i + 4..i + 6)?;
            let off = h * 3600 + m * 60;
            if *sign == b'+' { off } else { -off }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + min * 60 + sec - offset_s;
    Some(secs * 1000 + frac_ms)
}

/// Formats ms since the epoch as RFC 3339 with millisecond precision in UTC.
pub fn format_rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let frac = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{frac:03}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_as_prometheus_parses_them() {
        assert_eq!(parse_duration("15"), Ok(15_000));
        assert_eq!(parse_duration("0.5"), Ok(500));
        assert_eq!(parse_duration("-1"), Ok(-1_000));
        assert_eq!(parse_duration("1m30s"), Ok(90_000));
        assert_eq!(parse_duration("1h0m"), Ok(3_600_000));
        assert_eq!(parse_duration("100ms"), Ok(100));
        assert_eq!(parse_duration("1d2h"), Ok(93_600_000));
        assert_eq!(parse_duration("0"), Ok(0));
        assert!(parse_duration("30s1m").is_err(), "units out of order");
        assert!(parse_duration("1m1m").is_err(), "unit repeated");
        assert!(parse_duration("1x").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("m").is_err());
        assert_eq!(
            parse_duration("1e300").unwrap_err(),
            "cannot parse \"1e300\" to a valid duration. It overflows int64"
        );
    }

    #[test]
    fn float_seconds() {
        assert_eq!(parse_time("1700000000"), Some(1_700_000_000_000));
        assert_eq!(parse_time("1700000000.123"), Some(1_700_000_000_123));
        assert_eq!(parse_time("-1.5"), Some(-1500));
        assert_eq!(parse_time("NaN"), None);
        assert_eq!(parse_time("1e300"), None);
    }

    #[test]
    fn rfc3339() {
        assert_eq!(parse_time("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_time("2023-11-14T22:13:20.5Z"),
            Some(1_700_000_000_500)
        );
        assert_eq!(
            parse_time("2023-11-15T00:13:20+02:00"),
            Some(1_700_000_000_000)
        );
        assert_eq!(parse_time("2023-13-01T00:00:00Z"), None);
        assert_eq!(parse_time("2023-11-14"), None);
        assert_eq!(parse_time("2023-11-14T22:13:20"), None);
    }

    #[test]
    fn format_round_trips() {
        for ms in [0, 1_700_000_000_123, -1, 951_782_400_000] {
            assert_eq!(parse_rfc3339(&format_rfc3339(ms)), Some(ms), "{ms}");
        }
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn repeated_params_and_defaults() {
        let p = Params::parse(b"match[]=up&match[]=%7Ba%3D%22b%22%7D&start=10&limit=0");
        assert_eq!(p.all("match[]"), ["up", "{a=\"b\"}"]);
        assert_eq!(p.time_range().unwrap(), (10_000, MAX_TIME_MS));
        assert_eq!(p.limit().unwrap(), None);
        let p = Params::parse(b"start=10&end=5");
        let (start, end) = p.time_range().unwrap();
        assert!(is_empty_range(start, end));
        assert_eq!(
            Params::parse(b"limit=x").limit().unwrap_err().to_string(),
            "invalid parameter \"limit\": strconv.Atoi: parsing \"x\": invalid syntax"
        );
        assert!(Params::parse(b"limit=-1").limit().is_err());
        assert!(Params::parse(b"start=yesterday").time_range().is_err());
    }
}
