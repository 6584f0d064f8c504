//! Alertmanager time intervals (`time_intervals`): `times` (`HH:MM` start inclusive, end
//! exclusive), `weekdays`, `days_of_month` (negative counts from the month's end),
//! `months` and `years`, each a list of values or `a:b` ranges; an empty field matches
//! everything. Only `location: UTC` (or none) is supported.

use oxeye_core::civil::{civil_from_days, days_from_civil};
use serde::Deserialize;

/// One `times` entry as written.
#[derive(Debug, Clone, Deserialize)]
pub struct TimeRangeConfig {
    start_time: String,
    end_time: String,
}

/// One interval as written.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TimeIntervalConfig {
    #[serde(default)]
    times: Vec<TimeRangeConfig>,
    #[serde(default)]
    weekdays: Vec<String>,
    #[serde(default)]
    days_of_month: Vec<String>,
    #[serde(default)]
    months: Vec<String>,
    #[serde(default)]
    years: Vec<String>,
    location: Option<String>,
}

/// A compiled interval; ranges are inclusive pairs except minutes (end exclusive).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TimeInterval {
    minutes: Vec<(i64, i64)>,
    weekdays: Vec<(i64, i64)>,
    days_of_month: Vec<(i64, i64)>,
    months: Vec<(i64, i64)>,
    years: Vec<(i64, i64)>,
}

const WEEKDAYS: [&str; 7] = [
    "sunday",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
];
const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

fn parse_clock(s: &str) -> Result<i64, String> {
    let (h, m) = s
        .split_once(':')
        .ok_or_else(|| format!("invalid time of day {s:?}: want HH:MM"))?;
    let h: i64 = h
        .parse()
        .map_err(|_| format!("invalid time of day {s:?}"))?;
    let m: i64 = m
        .parse()
        .map_err(|_| format!("invalid time of day {s:?}"))?;
    if !(0..=24).contains(&h) || !(0..60).contains(&m) || (h == 24 && m != 0) {
        return Err(format!("invalid time of day {s:?}: out of range"));
    }
    Ok(h * 60 + m)
}

fn parse_ranges(
    items: &[String],
    what: &str,
    names: &[&str],
    first: i64,
    lo: i64,
    hi: i64,
) -> Result<Vec<(i64, i64)>, String> {
    let one = |s: &str| -> Result<i64, String> {
        let t = s.trim().to_ascii_lowercase();
        if let Some(i) = names.iter().position(|n| *n == t) {
            return Ok(i as i64 + first);
        }
        let v: i64 = t.parse().map_err(|_| format!("invalid {what} {s:?}"))?;
        if v < lo || v > hi || v == 0 && lo < 0 {
            return Err(format!("{what} {s:?} is out of range {lo}..{hi}"));
        }
        Ok(v)
    };
    items
        .iter()
        .map(|item| {
            let (a, b) = match item.split_once(':') {
                Some((a, b)) => (one(a)?, one(b)?),
                None => {
                    let v = one(item)?;
                    (v, v)
                }
            };
            if a > b && (a > 0) == (b > 0) {
                return Err(format!("{what} range {item:?} has its start after its end"));
            }
            Ok((a, b))
        })
        .collect()
}

impl TimeInterval {
    /// Compiles an interval as written.
    pub fn compile(c: &TimeIntervalConfig) -> Result<TimeInterval, String> {
        if let Some(loc) = &c.location
            && !matches!(loc.as_str(), "UTC" | "Etc/UTC" | "")
        {
            return Err(format!("location {loc:?} is not supported: only UTC"));
        }
        let minutes = c
            .times
            .iter()
            .map(|t| {
                let (a, b) = (parse_clock(&t.start_time)?, parse_clock(&t.end_time)?);
                if a >= b {
                    return Err(format!(
                        "start time {} is not before end time {}",
                        t.start_time, t.end_time
                    ));
                }
                Ok((a, b))
            })
            .collect::<Result<_, String>>()?;
        Ok(TimeInterval {
            minutes,
            weekdays: parse_ranges(&c.weekdays, "weekday", &WEEKDAYS, 0, 0, 6)?,
            days_of_month: parse_ranges(&c.days_of_month, "day of month", &[], 1, -31, 31)?,
            months: parse_ranges(&c.months, "month", &MONTHS, 1, 1, 12)?,
            years: parse_ranges(&c.years, "year", &[], 0, 1, 9999)?,
        })
    }

    /// Whether the instant `t_ms` (UTC) lies in the interval.
    pub fn contains(&self, t_ms: i64) -> bool {
        let days = t_ms.div_euclid(86_400_000);
        let minute = t_ms.rem_euclid(86_400_000) / 60_000;
        let (y, m, d) = civil_from_days(days);
        let weekday = (days + 4).rem_euclid(7); // 1970-01-01 was a Thursday
        let in_any = |ranges: &[(i64, i64)], v: i64| {
            ranges.is_empty() || ranges.iter().any(|&(a, b)| a <= v && v <= b)
        };
        if !self.minutes.is_empty() && !self.minutes.iter().any(|&(a, b)| a <= minute && minute < b)
        {
            return false;
        }
        if !in_any(&self.weekdays, weekday) || !in_any(&self.months, m) || !in_any(&self.years, y) {
            return false;
        }
        if self.days_of_month.is_empty() {
            return true;
        }
        let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
        let month_len = days_from_civil(ny, nm, 1) - days_from_civil(y, m, 1);
        let resolve = |v: i64| if v < 0 { month_len + v + 1 } else { v };
        self.days_of_month
            .iter()
            .any(|&(a, b)| resolve(a) <= d && d <= resolve(b))
    }
}

/// Whether `t_ms` lies in any of `intervals`.
pub fn any_contains(intervals: &[TimeInterval], t_ms: i64) -> bool {
    intervals.iter().any(|i| i.contains(t_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(y: i64, mo: i64, d: i64, h: i64, mi: i64) -> i64 {
        (days_from_civil(y, mo, d) * 1440 + h * 60 + mi) * 60_000
    }

    #[test]
    fn weekdays_times_and_negative_days() {
        let c = TimeIntervalConfig {
            times: vec![TimeRangeConfig {
                start_time: "09:00".into(),
                end_time: "17:00".into(),
            }],
            weekdays: vec!["monday:friday".into()],
            ..Default::default()
        };
        let ti = TimeInterval::compile(&c).unwrap();
        // 2024-05-06 is a Monday.
        assert!(ti.contains(at(2024, 5, 6, 9, 0)));
        assert!(!ti.contains(at(2024, 5, 6, 17, 0)));
        assert!(!ti.contains(at(2024, 5, 5, 12, 0)), "sunday");
        let last = TimeInterval::compile(&TimeIntervalConfig {
            days_of_month: vec!["-1".into()],
            months: vec!["february".into()],
            ..Default::default()
        })
        .unwrap();
        assert!(last.contains(at(2024, 2, 29, 1, 0)));
        assert!(!last.contains(at(2024, 2, 28, 1, 0)));
        assert!(!last.contains(at(2024, 3, 31, 1, 0)));
        assert!(
            TimeInterval::compile(&TimeIntervalConfig {
                weekdays: vec!["funday".into()],
                ..Default::default()
            })
            .is_err()
        );
    }
}
