//! Shapes shared by the receivers and the API v2: RFC 3339 times, alert fingerprints
//! (Prometheus's label-set FNV-1a hash, so ids match Alertmanager's), and the webhook
//! message (Alertmanager's version 4 payload).

use oxeye_core::civil::{civil_from_days, days_from_civil};
use serde::Serialize;

use super::LabelSet;

/// Prometheus's fingerprint of a label set: FNV-1a 64 over sorted `name 0xff value 0xff`.
pub fn fingerprint(labels: &LabelSet) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (k, v) in labels {
        for b in k.bytes().chain([0xff]).chain(v.bytes()).chain([0xff]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

/// FNV-1a 64 of a string, hex (dedup keys).
pub fn hash_hex(s: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// `ms` as RFC 3339 in UTC the way Go prints it (`...:05Z`, `...:05.12Z`); `None` as
/// Go's zero time.
pub fn format_time(ms: Option<i64>) -> String {
    let Some(ms) = ms else {
        return "0001-01-01T00:00:00Z".to_string();
    };
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    let (y, mo, d) = civil_from_days(days);
    let mut out = format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}",
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
    );
    // Go's RFC 3339 with nanoseconds: the fraction without trailing zeros.
    if rem % 1000 != 0 {
        let frac = format!(".{:03}", rem % 1000);
        out.push_str(frac.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// Parses RFC 3339 (`2024-01-02T03:04:05.678Z`, offsets allowed) into ms; Go's zero time
/// and the empty string are `None`.
pub fn parse_time(s: &str) -> Result<Option<i64>, String> {
    let bad = || format!("invalid RFC 3339 time {s:?}");
    if s.is_empty() || s.starts_with("0001-01-01T00:00:00") {
        return Ok(None);
    }
    let b = s.as_bytes();
    if b.len() < 20
        || b.get(4) != Some(&b'-')
        || b.get(7) != Some(&b'-')
        || b.get(13) != Some(&b':')
    {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| -> Result<i64, String> {
        s.get(r).and_then(|t| t.parse().ok()).ok_or_else(bad)
    };
    let (y, mo, d, h, mi, sec) = (
        num(0..4)?,
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    );
    if !matches!(b.get(10), Some(b'T' | b't' | b' '))
        || !(1..=12).contains(&mo)
        || !(1..=31).contains(&d)
        || h > 23
        || mi > 59
        || sec > 60
    {
        return Err(bad());
    }
    let mut i = 19;
    let mut frac_ms = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let digits = s.get(start..i).ok_or_else(bad)?;
        if digits.is_empty() {
            return Err(bad());
        }
        let padded: String = digits.chars().chain("000".chars()).take(3).collect();
        frac_ms = padded.parse().map_err(|_| bad())?;
    }
    let offset_min = match s.get(i..) {
        Some("Z" | "z") => 0,
        Some(off) if off.len() == 6 && (off.starts_with('+') || off.starts_with('-')) => {
            let oh: i64 = off.get(1..3).and_then(|t| t.parse().ok()).ok_or_else(bad)?;
            let om: i64 = off.get(4..6).and_then(|t| t.parse().ok()).ok_or_else(bad)?;
            let v = oh * 60 + om;
            if off.starts_with('-') { -v } else { v }
        }
        _ => return Err(bad()),
    };
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + sec - offset_min * 60;
    Ok(Some(secs * 1000 + frac_ms))
}

/// One alert in a webhook message.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookAlert {
    /// `firing` or `resolved`.
    pub status: String,
    /// Labels.
    pub labels: LabelSet,
    /// Annotations.
    pub annotations: LabelSet,
    /// RFC 3339.
    pub starts_at: String,
    /// RFC 3339; zero time for firing alerts.
    pub ends_at: String,
    /// Link to the rule.
    #[serde(rename = "generatorURL")]
    pub generator_url: String,
    /// Hex fingerprint.
    pub fingerprint: String,
}

/// Alertmanager's webhook payload, version 4.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookMessage {
    /// Receiver name.
    pub receiver: String,
    /// `firing` when any alert fires, else `resolved`.
    pub status: String,
    /// The alerts (at most `max_alerts`).
    pub alerts: Vec<WebhookAlert>,
    /// The group's labels.
    pub group_labels: LabelSet,
    /// Labels all alerts share.
    pub common_labels: LabelSet,
    /// Annotations all alerts share.
    pub common_annotations: LabelSet,
    /// Link to the notifier.
    #[serde(rename = "externalURL")]
    pub external_url: String,
    /// Always `4`.
    pub version: String,
    /// The group key.
    pub group_key: String,
    /// Alerts left out by `max_alerts`.
    pub truncated_alerts: usize,
}

/// The key/value pairs every set in `sets` has in common.
pub fn common<'a>(mut sets: impl Iterator<Item = &'a LabelSet>) -> LabelSet {
    let Some(first) = sets.next() else {
        return LabelSet::new();
    };
    let mut out = first.clone();
    for s in sets {
        out.retain(|k, v| s.get(k) == Some(v));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip_and_fingerprints_are_prometheus_ones() {
        let ms = 1_700_000_123_456;
        let s = format_time(Some(ms));
        assert_eq!(s, "2023-11-14T22:15:23.456Z");
        assert_eq!(parse_time(&s).unwrap(), Some(ms));
        assert_eq!(
            parse_time("2023-11-14T23:15:23.456+01:00").unwrap(),
            Some(ms)
        );
        assert_eq!(parse_time("0001-01-01T00:00:00Z").unwrap(), None);
        assert_eq!(format_time(Some(1_700_000_123_000)), "2023-11-14T22:15:23Z");
        assert_eq!(
            format_time(Some(1_700_000_123_100)),
            "2023-11-14T22:15:23.1Z"
        );
        assert!(parse_time("yesterday").is_err());
        // The empty label set hashes to FNV's offset basis, as in Prometheus.
        assert_eq!(fingerprint(&LabelSet::new()), 0xcbf2_9ce4_8422_2325);
        let a: LabelSet = [("a".to_string(), "b".to_string())].into();
        let b: LabelSet = [("ab".to_string(), String::new())].into();
        assert_ne!(fingerprint(&a), fingerprint(&b));
    }
}
