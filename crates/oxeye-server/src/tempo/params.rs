//! Query parameters as Tempo (and Jaeger, both written in Go) parse them: integers with
//! Go's `strconv` error texts, times in Unix seconds, Go durations (`1h2m`, `150ms`,
//! `1.5s`).

use crate::error::ApiError;
use crate::params::Params;

const NANOS_PER_SEC: u64 = 1_000_000_000;

/// A request's query string.
#[derive(Debug, Default)]
pub struct TempoParams(pub Params);

impl TempoParams {
    /// Parses a raw query string (absent means no parameters).
    pub fn parse(query: Option<&str>) -> Self {
        TempoParams(Params::parse(query.unwrap_or("").as_bytes()))
    }

    /// A parameter's value, `None` when absent or empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).filter(|v| !v.is_empty())
    }

    /// A non-negative integer parameter, with Go's error text.
    pub fn uint(&self, name: &str) -> Result<Option<u64>, ApiError> {
        self.get(name)
            .map(|v| {
                parse_uint(v).map_err(|e| ApiError::BadRequest(format!("invalid {name}: {e}")))
            })
            .transpose()
    }

    /// `start` and `end` (Unix seconds) as an inclusive nanosecond range; the whole of
    /// the `end` second is included. Absent bounds are open.
    pub fn range_nanos(&self) -> Result<(u64, u64), ApiError> {
        let start = self.uint("start")?;
        let end = self.uint("end")?;
        if let (Some(s), Some(e)) = (start, end)
            && (s != 0 || e != 0)
            && e <= s
        {
            return Err(ApiError::BadRequest(format!(
                "http parameter start must be before end. received start={s} end={e}"
            )));
        }
        let start = start.map_or(0, |s| s.saturating_mul(NANOS_PER_SEC));
        let end = end.map_or(u64::MAX, |e| {
            e.saturating_mul(NANOS_PER_SEC)
                .saturating_add(NANOS_PER_SEC - 1)
        });
        Ok((start, end))
    }

    /// The `limit` parameter.
    pub fn limit(&self) -> Result<Option<usize>, ApiError> {
        Ok(self
            .uint("limit")?
            .map(|l| usize::try_from(l).unwrap_or(usize::MAX)))
    }
}

/// Parses a decimal unsigned integer as Go's `strconv.ParseUint(s, 10, 64)`.
pub fn parse_uint(s: &str) -> Result<u64, String> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("strconv.ParseUint: parsing {s:?}: invalid syntax"));
    }
    s.parse::<u64>()
        .map_err(|_| format!("strconv.ParseUint: parsing {s:?}: value out of range"))
}

/// Parses a Go duration (`time.ParseDuration`) into nanoseconds; negative durations are
/// refused since every use here is a length of time.
pub fn parse_go_duration(s: &str) -> Result<u64, String> {
    let invalid = || format!("time: invalid duration {s:?}");
    let body = s.strip_prefix('+').unwrap_or(s);
    if body == "0" {
        return Ok(0);
    }
    if body.is_empty() || body.starts_with('-') {
        return Err(invalid());
    }
    let mut rest = body;
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, after) = rest.split_at(num_len);
        if num.is_empty() || num == "." || num.matches('.').count() > 1 {
            return Err(invalid());
        }
        let value: f64 = num.parse().map_err(|_| invalid())?;
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, tail) = after.split_at(unit_len);
        let scale: f64 = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "" => return Err(format!("time: missing unit in duration {s:?}")),
            other => return Err(format!("time: unknown unit {other:?} in duration {s:?}")),
        };
        total += value * scale;
        rest = tail;
    }
    if total > u64::MAX as f64 {
        return Err(invalid());
    }
    Ok(total.round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("1h2m3s"), Ok(3_723_000_000_000));
        assert_eq!(parse_go_duration("150ms"), Ok(150_000_000));
        assert_eq!(parse_go_duration("1.5s"), Ok(1_500_000_000));
        assert_eq!(parse_go_duration("10us"), Ok(10_000));
        assert_eq!(parse_go_duration("10µs"), Ok(10_000));
        assert_eq!(parse_go_duration("0"), Ok(0));
        assert_eq!(
            parse_go_duration("5"),
            Err("time: missing unit in duration \"5\"".into())
        );
        assert_eq!(
            parse_go_duration("5d"),
            Err("time: unknown unit \"d\" in duration \"5d\"".into())
        );
        assert!(parse_go_duration("").is_err());
        assert!(parse_go_duration("-1s").is_err());
        assert!(parse_go_duration("1..2s").is_err());
    }

    #[test]
    fn ranges_in_seconds() {
        let p = TempoParams::parse(Some("start=10&end=20"));
        assert_eq!(p.range_nanos().ok(), Some((10_000_000_000, 20_999_999_999)));
        let p = TempoParams::parse(Some("start=30&end=20"));
        assert!(p.range_nanos().is_err());
        let p = TempoParams::parse(Some("start=x"));
        assert_eq!(
            p.range_nanos().unwrap_err().to_string(),
            "invalid start: strconv.ParseUint: parsing \"x\": invalid syntax"
        );
        assert_eq!(
            TempoParams::parse(None).range_nanos().ok(),
            Some((0, u64::MAX))
        );
    }
}
