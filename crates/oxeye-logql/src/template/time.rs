//! Go reference-time layouts (`2006-01-02T15:04:05.000Z07:00`) for the `date` and
//! `toDate` template functions; times are UTC nanoseconds since the epoch.

use oxeye_core::civil::{civil_from_days, days_from_civil};

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// Layout tokens, longest first so prefixes do not shadow them.
const TOKENS: &[&str] = &[
    "January",
    "Monday",
    "Z07:00",
    "-07:00",
    "Z0700",
    "-0700",
    "2006",
    "Jan",
    "Mon",
    "MST",
    ".000000000",
    ".999999999",
    ".000000",
    ".999999",
    ".000",
    ".999",
    "002",
    "01",
    "02",
    "_2",
    "15",
    "03",
    "04",
    "05",
    "06",
    "PM",
    "pm",
    "-07",
    "1",
    "2",
    "3",
    "4",
    "5",
];

struct Civil {
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    min: i64,
    sec: i64,
    nanos: i64,
    weekday: usize,
    yday: i64,
}

fn civil(ns: i64) -> Civil {
    let secs = ns.div_euclid(1_000_000_000);
    let nanos = ns.rem_euclid(1_000_000_000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    Civil {
        year,
        month,
        day,
        hour: rem / 3600,
        min: (rem / 60) % 60,
        sec: rem % 60,
        nanos,
        weekday: (days + 4).rem_euclid(7) as usize,
        yday: days - days_from_civil(year, 1, 1) + 1,
    }
}

fn frac(nanos: i64, digits: usize, trim: bool) -> String {
    let full = format!("{nanos:09}");
    let mut s = full.get(..digits).unwrap_or(&full).to_string();
    if trim {
        while s.ends_with('0') {
            s.pop();
        }
        if s.is_empty() {
            return String::new();
        }
    }
    format!(".{s}")
}

/// Formats `ns` with a Go layout, in UTC.
pub(crate) fn format_go_time(layout: &str, ns: i64) -> String {
    let c = civil(ns);
    let mut out = String::new();
    let mut rest = layout;
    while !rest.is_empty() {
        let Some(tok) = TOKENS.iter().find(|t| rest.starts_with(**t)) else {
            let ch = rest.chars().next().unwrap_or(' ');
            out.push(ch);
            rest = &rest[ch.len_utf8()..];
            continue;
        };
        let h12 = if c.hour % 12 == 0 { 12 } else { c.hour % 12 };
        let month_name = MONTHS
            .get((c.month - 1).clamp(0, 11) as usize)
            .copied()
            .unwrap_or("");
        let day_name = DAYS.get(c.weekday).copied().unwrap_or("");
        let piece = match *tok {
            "January" => month_name.to_string(),
            "Jan" => month_name.get(..3).unwrap_or("").to_string(),
            "Monday" => day_name.to_string(),
            "Mon" => day_name.get(..3).unwrap_or("").to_string(),
            "MST" => "UTC".into(),
            "Z07:00" | "Z0700" => "Z".into(),
            "-07:00" => "+00:00".into(),
            "-0700" => "+0000".into(),
            "-07" => "+00".into(),
            "2006" => format!("{:04}", c.year),
            "06" => format!("{:02}", c.year.rem_euclid(100)),
            "01" => format!("{:02}", c.month),
            "1" => c.month.to_string(),
            "02" => format!("{:02}", c.day),
            "_2" => format!("{:>2}", c.day),
            "2" => c.day.to_string(),
            "002" => format!("{:03}", c.yday),
            "15" => format!("{:02}", c.hour),
            "03" => format!("{h12:02}"),
            "3" => h12.to_string(),
            "04" => format!("{:02}", c.min),
            "4" => c.min.to_string(),
            "05" => format!("{:02}", c.sec),
            "5" => c.sec.to_string(),
            "PM" => if c.hour >= 12 { "PM" } else { "AM" }.into(),
            "pm" => if c.hour >= 12 { "pm" } else { "am" }.into(),
            t if t.starts_with(".0") => frac(c.nanos, t.len() - 1, false),
            t if t.starts_with(".9") => frac(c.nanos, t.len() - 1, true),
            _ => String::new(),
        };
        out.push_str(&piece);
        rest = &rest[tok.len()..];
    }
    out
}

/// Parses `value` with a Go layout (numeric fields, month names, `Z`/offsets,
/// fractions); `None` when it does not follow the layout.
pub(crate) fn parse_go_time(layout: &str, value: &str) -> Option<i64> {
    let (mut year, mut month, mut day, mut hour, mut min, mut sec, mut nanos) =
        (1i64, 1, 1, 0, 0, 0, 0);
    let mut offset_s = 0i64;
    let mut pm: Option<bool> = None;
    let mut rest = layout;
    let mut v = value;
    let num = |v: &mut &str, max_len: usize| -> Option<i64> {
        let n = v
            .bytes()
            .take(max_len)
            .take_while(u8::is_ascii_digit)
            .count();
        let x = v.get(..n)?.parse().ok()?;
        *v = v.get(n..)?;
        Some(x)
    };
    while !rest.is_empty() {
        let Some(tok) = TOKENS.iter().find(|t| rest.starts_with(**t)) else {
            let ch = rest.chars().next()?;
            v = v.strip_prefix(ch)?;
            rest = &rest[ch.len_utf8()..];
            continue;
        };
        match *tok {
            "2006" => year = num(&mut v, 4)?,
            "06" => year = 2000 + num(&mut v, 2)?,
            "01" | "1" => month = num(&mut v, 2)?,
            "02" | "2" | "_2" => {
                v = v.trim_start_matches(' ');
                day = num(&mut v, 2)?;
            }
            "15" | "03" | "3" => hour = num(&mut v, 2)?,
            "04" | "4" => min = num(&mut v, 2)?,
            "05" | "5" => {
                sec = num(&mut v, 2)?;
                // Go accepts a fraction after seconds even when the layout has none.
                if !rest[tok.len()..].starts_with('.')
                    && let Some(f) = v.strip_prefix('.')
                {
                    let n = f.bytes().take_while(u8::is_ascii_digit).count();
                    let digits = f.get(..n)?;
                    nanos = format!("{digits:0<9}").get(..9)?.parse().ok()?;
                    v = f.get(n..)?;
                }
            }
            "Jan" | "January" => {
                let idx = MONTHS.iter().position(|m| {
                    let m = if *tok == "Jan" {
                        m.get(..3).unwrap_or(m)
                    } else {
                        m
                    };
                    v.starts_with(m)
                })?;
                let name_len = if *tok == "Jan" {
                    3
                } else {
                    MONTHS.get(idx)?.len()
                };
                month = idx as i64 + 1;
                v = v.get(name_len..)?;
            }
            "Mon" | "Monday" => {
                let n = v.bytes().take_while(u8::is_ascii_alphabetic).count();
                v = v.get(n..)?;
            }
            "PM" | "pm" => {
                let p = v.get(..2)?.to_ascii_uppercase();
                pm = Some(p == "PM");
                v = v.get(2..)?;
            }
            "MST" => {
                let n = v.bytes().take_while(u8::is_ascii_alphabetic).count();
                v = v.get(n..)?;
            }
            "Z07:00" | "Z0700" | "-07:00" | "-0700" | "-07" => {
                if let Some(r) = v.strip_prefix('Z') {
                    v = r;
                } else {
                    let sign = match v.get(..1)? {
                        "+" => 1,
                        "-" => -1,
                        _ => return None,
                    };
                    v = v.get(1..)?;
                    let h = num(&mut v, 2)?;
                    v = v.strip_prefix(':').unwrap_or(v);
                    let m = if tok.len() > 3 { num(&mut v, 2)? } else { 0 };
                    offset_s = sign * (h * 3600 + m * 60);
                }
            }
            t if t.starts_with('.') => {
                let f = v.strip_prefix('.')?;
                let n = f.bytes().take_while(u8::is_ascii_digit).count();
                let digits = f.get(..n)?;
                nanos = format!("{digits:0<9}").get(..9)?.parse().ok()?;
                v = f.get(n..)?;
            }
            _ => return None,
        }
        rest = &rest[tok.len()..];
    }
    if !v.is_empty() {
        return None;
    }
    if let Some(pm) = pm {
        hour = hour % 12 + if pm { 12 } else { 0 };
    }
    let days = days_from_civil(year, month, day);
    // Years past 2262 (or before 1677) do not fit in i64 nanoseconds.
    let secs = days
        .checked_mul(86_400)?
        .checked_add(hour * 3600 + min * 60 + sec - offset_s)?;
    secs.checked_mul(1_000_000_000)?.checked_add(nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_layouts() {
        let ns = 1_700_000_000_123_000_000;
        assert_eq!(
            format_go_time("2006-01-02T15:04:05.000Z07:00", ns),
            "2023-11-14T22:13:20.123Z"
        );
        assert_eq!(
            format_go_time("Mon Jan _2 3:04PM", ns),
            "Tue Nov 14 10:13PM"
        );
        assert_eq!(
            parse_go_time("2006-01-02T15:04:05.000Z07:00", "2023-11-14T22:13:20.123Z"),
            Some(ns)
        );
        assert_eq!(
            parse_go_time("2006-01-02", "2023-11-14"),
            Some(1_699_920_000_000_000_000)
        );
        assert_eq!(parse_go_time("2006-01-02", "nope"), None);
        // Out of the nanosecond range: no time, not an overflow.
        assert_eq!(parse_go_time("2006", "9999"), None);
        assert_eq!(parse_go_time("2006", "0000"), None);
        assert_eq!(
            parse_go_time("2006", "2262"),
            Some(9_214_646_400_000_000_000)
        );
    }
}
