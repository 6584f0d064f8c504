//! Durations and byte sizes as LogQL writes them: `1m30s`, `1.5s`, `250ms`, `20kB`,
//! `1MiB`; and the canonical duration text of formatted queries.

const NS: i64 = 1;
const US: i64 = 1_000;
const MS: i64 = 1_000_000;
const S: i64 = 1_000_000_000;
const M: i64 = 60 * S;
const H: i64 = 60 * M;
const D: i64 = 24 * H;
const W: i64 = 7 * D;
const Y: i64 = 365 * D;

fn unit_ns(unit: &str) -> Option<i64> {
    Some(match unit {
        "ns" => NS,
        "us" | "µs" | "μs" => US,
        "ms" => MS,
        "s" => S,
        "m" => M,
        "h" => H,
        "d" => D,
        "w" => W,
        "y" => Y,
        _ => return None,
    })
}

/// Parses a duration such as `5m`, `1m30s`, `1.5s` or `-2h` into nanoseconds.
pub fn parse_duration(text: &str) -> Option<i64> {
    let (neg, mut rest) = match text.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    if rest.is_empty() {
        return None;
    }
    if rest == "0" {
        return Some(0);
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_end == 0 {
            return None;
        }
        let value: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = unit_ns(&rest[..unit_end])?;
        rest = &rest[unit_end..];
        total += value * unit as f64;
    }
    if !total.is_finite() || total > i64::MAX as f64 {
        return None;
    }
    let ns = total.round() as i64;
    Some(if neg { -ns } else { ns })
}

/// Parses a byte size such as `20kB`, `1MiB`, `42` or `1.5 GB` (humanize rules:
/// decimal units are powers of 1000, `i` units powers of 1024, case-insensitive).
pub fn parse_bytes(text: &str) -> Option<u64> {
    let text = text.trim();
    let num_end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    if num_end == 0 {
        return None;
    }
    let value: f64 = text[..num_end].parse().ok()?;
    let unit = text[num_end..].trim().to_ascii_lowercase();
    let mult: f64 = match unit.as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "ki" | "kib" => 1024.0,
        "m" | "mb" => 1e6,
        "mi" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" => 1e9,
        "gi" | "gib" => 1024f64.powi(3),
        "t" | "tb" => 1e12,
        "ti" | "tib" => 1024f64.powi(4),
        "p" | "pb" => 1e15,
        "pi" | "pib" => 1024f64.powi(5),
        "e" | "eb" => 1e18,
        "ei" | "eib" => 1024f64.powi(6),
        _ => return None,
    };
    let v = value * mult;
    if !v.is_finite() || v >= u64::MAX as f64 {
        return None;
    }
    Some(v as u64)
}

/// The canonical text of a duration, as Prometheus prints it (`1h30m`, `5m`, `250ms`).
pub fn format_duration(ns: i64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    let mut rest = ns;
    if rest < 0 {
        out.push('-');
        rest = rest.checked_neg().unwrap_or(i64::MAX);
    }
    if rest % MS != 0 {
        // Sub-millisecond durations are written in the smallest exact unit.
        if rest % US == 0 {
            out.push_str(&format!("{}us", rest / US));
        } else {
            out.push_str(&format!("{rest}ns"));
        }
        return out;
    }
    for (unit, name) in [
        (Y, "y"),
        (W, "w"),
        (D, "d"),
        (H, "h"),
        (M, "m"),
        (S, "s"),
        (MS, "ms"),
    ] {
        if rest >= unit {
            out.push_str(&format!("{}{name}", rest / unit));
            rest %= unit;
        }
    }
    out
}

/// Go's `time.Duration.String()` (`1m30s`, `1.5s`, `250ms`), for templates.
pub fn go_duration_string(ns: i64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    let neg = ns < 0;
    let u = ns.unsigned_abs();
    let mut s = if u < 1_000 {
        format!("{u}ns")
    } else if u < 1_000_000 {
        format!("{}µs", trim_frac(u as f64 / 1e3))
    } else if u < 1_000_000_000 {
        format!("{}ms", trim_frac(u as f64 / 1e6))
    } else {
        let h = u / 3_600_000_000_000;
        let m = (u / 60_000_000_000) % 60;
        let secs = (u % 60_000_000_000) as f64 / 1e9;
        let mut s = String::new();
        if h > 0 {
            s.push_str(&format!("{h}h"));
        }
        if h > 0 || m > 0 {
            s.push_str(&format!("{m}m"));
        }
        s.push_str(&format!("{}s", trim_frac(secs)));
        s
    };
    if neg {
        s.insert(0, '-');
    }
    s
}

fn trim_frac(v: f64) -> String {
    let s = format!("{v:.9}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1m30s"), Some(90 * S));
        assert_eq!(parse_duration("1.5s"), Some(1_500 * MS));
        assert_eq!(parse_duration("250ms"), Some(250 * MS));
        assert_eq!(parse_duration("-2h"), Some(-2 * H));
        assert_eq!(parse_duration("5x"), None);
        assert_eq!(parse_duration(""), None);
        assert_eq!(format_duration(90 * S), "1m30s");
        assert_eq!(format_duration(5 * M), "5m");
        assert_eq!(format_duration(D + H), "1d1h");
        assert_eq!(go_duration_string(90 * S), "1m30s");
        assert_eq!(go_duration_string(1_500 * MS), "1.5s");
        assert_eq!(go_duration_string(250 * MS), "250ms");
    }

    #[test]
    fn bytes() {
        assert_eq!(parse_bytes("20kB"), Some(20_000));
        assert_eq!(parse_bytes("1MiB"), Some(1 << 20));
        assert_eq!(parse_bytes("42"), Some(42));
        assert_eq!(parse_bytes("1.5 KB"), Some(1_500));
        assert_eq!(parse_bytes("abc"), None);
    }
}
