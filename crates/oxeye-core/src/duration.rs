//! Prometheus duration strings (`1y2w3d4h5m6s7ms`), shared by the config, scrape and rule
//! parsers so every file format reads durations the same way.
//!
//! Units go from largest to smallest, each at most once, with integer amounts; `0` alone
//! is zero. A year is 365 days and a week 7 days, as in Prometheus.

/// The units, largest first, with their length in ms.
const UNITS: [(&str, i64); 7] = [
    ("y", 365 * 24 * 3_600_000),
    ("w", 7 * 24 * 3_600_000),
    ("d", 24 * 3_600_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

/// Why a duration string was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// The string is empty.
    #[error("empty duration string")]
    Empty,
    /// A unit is missing, unknown, or out of order.
    #[error("not a valid duration string")]
    Invalid,
    /// The duration does not fit in 63 bits of ms.
    #[error("duration out of range")]
    OutOfRange,
}

/// Parses a Prometheus duration such as `15s`, `1m30s`, `500ms`, `1d`, `1w` or `1y` into ms.
pub fn parse_duration_ms(input: &str) -> Result<i64, DurationError> {
    if input.is_empty() {
        return Err(DurationError::Empty);
    }
    if input == "0" {
        return Ok(0);
    }
    let mut rest = input;
    let mut total: i64 = 0;
    // index into UNITS of the next unit allowed; enforces order and uniqueness
    let mut next_unit = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(DurationError::Invalid);
        }
        let (num, tail) = rest.split_at(digits);
        let amount: i64 = num.parse().map_err(|_| DurationError::OutOfRange)?;
        let unit_len = tail.bytes().take_while(u8::is_ascii_alphabetic).count();
        let (unit, tail) = tail.split_at(unit_len);
        let Some(pos) = UNITS.iter().position(|(u, _)| *u == unit) else {
            return Err(DurationError::Invalid);
        };
        if pos < next_unit {
            return Err(DurationError::Invalid);
        }
        next_unit = pos + 1;
        total = amount
            .checked_mul(UNITS[pos].1)
            .and_then(|v| total.checked_add(v))
            .ok_or(DurationError::OutOfRange)?;
        rest = tail;
    }
    Ok(total)
}

/// Formats ms the way Prometheus prints durations (`1h30m`, `500ms`, `0s`).
pub fn format_duration_ms(ms: i64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    let mut rest = ms;
    if rest < 0 {
        out.push('-');
        rest = rest.checked_neg().unwrap_or(i64::MAX);
    }
    for (unit, size) in UNITS {
        let n = rest / size;
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
            rest -= n * size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_print_like_prometheus() {
        for (text, ms) in [
            ("0", 0),
            ("0s", 0),
            ("500ms", 500),
            ("1m30s", 90_000),
            ("1m500ms", 60_500),
            ("1h30m", 5_400_000),
            ("1d", 86_400_000),
            ("2w", 14 * 86_400_000),
            ("1y", 365 * 86_400_000),
        ] {
            assert_eq!(parse_duration_ms(text), Ok(ms), "{text}");
        }
        assert_eq!(format_duration_ms(90_000), "1m30s");
        assert_eq!(format_duration_ms(86_400_000 + 500), "1d500ms");
        assert_eq!(format_duration_ms(0), "0s");
        assert_eq!(format_duration_ms(-60_000), "-1m");
    }

    #[test]
    fn bad_durations_are_refused() {
        assert_eq!(parse_duration_ms(""), Err(DurationError::Empty));
        for bad in ["5", "m", "1.5s", "5x", "1s1m", "1m1m", "-1s", " 1s", "1s "] {
            assert_eq!(parse_duration_ms(bad), Err(DurationError::Invalid), "{bad}");
        }
        assert_eq!(
            parse_duration_ms("999999999999y"),
            Err(DurationError::OutOfRange)
        );
    }
}
