//! Prometheus duration strings (`1y2w3d4h5m6s7ms`) and their serde form.
//!
//! Units go from largest to smallest, each at most once, with integer amounts; `0`
//! alone is zero. A year is 365 days and a week 7 days, as in Prometheus.

use std::fmt;
use std::time::Duration;

use crate::ScrapeError;

/// Parses a Prometheus duration such as `15s`, `1m30s`, `500ms`, `1d`, `1w` or `1y`.
pub fn parse_duration(input: &str) -> Result<Duration, ScrapeError> {
    let ms = oxeye_core::duration::parse_duration_ms(input).map_err(|e| {
        ScrapeError::InvalidDuration {
            input: input.to_string(),
            reason: e.to_string(),
        }
    })?;
    Ok(Duration::from_millis(ms.unsigned_abs()))
}

/// Formats a duration the way Prometheus prints it (`1m30s`, `0s`).
pub fn format_duration(d: Duration) -> String {
    oxeye_core::duration::format_duration_ms(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A duration read from and written as a Prometheus duration string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct PromDuration(pub Duration);

impl PromDuration {
    /// From seconds.
    pub const fn from_secs(s: u64) -> Self {
        Self(Duration::from_secs(s))
    }

    /// From milliseconds.
    pub const fn from_millis(ms: u64) -> Self {
        Self(Duration::from_millis(ms))
    }

    /// The std duration.
    pub fn get(self) -> Duration {
        self.0
    }
}

impl fmt::Display for PromDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_duration(self.0))
    }
}

impl std::str::FromStr for PromDuration {
    type Err = ScrapeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_duration(s).map(Self)
    }
}

impl<'de> serde::Deserialize<'de> for PromDuration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_duration(&s)
            .map(Self)
            .map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for PromDuration {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_prometheus_durations() {
        let cases = [
            ("0", 0),
            ("15s", 15_000),
            ("1m30s", 90_000),
            ("1h", 3_600_000),
            ("500ms", 500),
            ("1d", 86_400_000),
            ("1w", 604_800_000),
            ("1y", 31_536_000_000),
            ("1h2m3s4ms", 3_723_004),
            ("0s", 0),
        ];
        for (s, ms) in cases {
            assert_eq!(parse_duration(s).unwrap(), Duration::from_millis(ms), "{s}");
        }
    }

    #[test]
    fn refuses_bad_durations() {
        for s in [
            "", "1", "s", "1.5s", "1s1m", "1m1m", "-1s", "1x", "1 s", "1sms",
        ] {
            assert!(parse_duration(s).is_err(), "{s:?} should fail");
        }
        let e = parse_duration("10x").unwrap_err().to_string();
        assert!(e.contains("\"10x\": not a valid duration string"), "{e}");
    }

    #[test]
    fn formats_like_prometheus() {
        assert_eq!(format_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(format_duration(Duration::ZERO), "0s");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1s500ms");
        assert_eq!(format_duration(Duration::from_secs(86_400)), "1d");
        for s in ["15s", "1m30s", "2h", "1w", "1y", "750ms"] {
            assert_eq!(format_duration(parse_duration(s).unwrap()), s);
        }
    }
}
