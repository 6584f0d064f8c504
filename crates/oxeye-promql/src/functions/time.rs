//! Calendar functions (`year`, `month`, `day_of_week`, ...) on Unix timestamps in UTC.
//!
//! The civil date is computed from the day count with the proleptic Gregorian calendar,
//! so any 64-bit second count has an answer.

use oxeye_core::civil::{civil_from_days, days_from_civil};

/// A UTC calendar breakdown of a Unix timestamp (seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Civil {
    pub year: i64,
    /// 1..=12
    pub month: i64,
    /// 1..=31
    pub day: i64,
    /// 0 (Sunday)..=6
    pub weekday: i64,
    /// 1..=366
    pub yday: i64,
    pub hour: i64,
    pub minute: i64,
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

impl Civil {
    /// The breakdown of `secs` seconds since the epoch.
    pub(crate) fn from_unix(secs: i64) -> Self {
        let days = secs.div_euclid(86_400);
        let sod = secs.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        Civil {
            year,
            month,
            day,
            weekday: (days + 4).rem_euclid(7),
            yday: days - days_from_civil(year, 1, 1) + 1,
            hour: sod / 3600,
            minute: sod % 3600 / 60,
        }
    }

    /// The number of days in this date's month.
    pub(crate) fn days_in_month(&self) -> i64 {
        match self.month {
            2 if is_leap(self.year) => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        }
    }
}

/// Converts a sample value to whole seconds the way Go's `int64(f)` does on amd64:
/// truncation toward zero, and the minimum integer for NaN and out-of-range values.
pub(crate) fn seconds_of(v: f64) -> i64 {
    // 2^63: the first value outside the i64 range.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if !(-LIMIT..LIMIT).contains(&v) {
        return i64::MIN;
    }
    v.trunc() as i64
}

/// The calendar function called `name` applied to `secs`, if it is one.
pub(crate) fn date_part(name: &str, secs: i64) -> Option<f64> {
    // Keep far-out inputs inside the range the day arithmetic handles without overflow.
    let secs = secs.clamp(-(1 << 55), 1 << 55);
    let c = Civil::from_unix(secs);
    Some(match name {
        "year" => c.year,
        "month" => c.month,
        "day_of_month" => c.day,
        "day_of_week" => c.weekday,
        "day_of_year" => c.yday,
        "days_in_month" => c.days_in_month(),
        "hour" => c.hour,
        "minute" => c.minute,
        _ => return None,
    } as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        // 2006-01-02 22:04:05 UTC, a Monday.
        let c = Civil::from_unix(1_136_239_445);
        assert_eq!((c.year, c.month, c.day), (2006, 1, 2));
        assert_eq!((c.hour, c.minute, c.weekday, c.yday), (22, 4, 1, 2));
        assert_eq!(Civil::from_unix(0).weekday, 4);
        assert_eq!(date_part("day_of_year", 1_483_191_420), Some(366.0));
        assert_eq!(date_part("days_in_month", 1_454_284_800), Some(29.0));
        assert_eq!(date_part("days_in_month", 1_485_907_200), Some(28.0));
        assert_eq!(date_part("year", 1_230_767_999), Some(2008.0));
        assert_eq!(date_part("year", 1_230_768_000), Some(2009.0));
        // Before the epoch.
        let c = Civil::from_unix(-1);
        assert_eq!(
            (c.year, c.month, c.day, c.hour, c.minute),
            (1969, 12, 31, 23, 59)
        );
        assert_eq!(date_part("nope", 0), None);
    }

    #[test]
    fn go_style_truncation() {
        assert_eq!(seconds_of(1.9), 1);
        assert_eq!(seconds_of(-1.9), -1);
        assert_eq!(seconds_of(f64::NAN), i64::MIN);
        assert_eq!(seconds_of(f64::INFINITY), i64::MIN);
    }
}
