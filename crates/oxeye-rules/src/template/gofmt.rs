//! Go's formatting of numbers and times as templates print them: `%v` and `%.4g` of a
//! `float64` (`1e+06`, `+Inf`), and `time.Time`'s `String` in UTC
//! (`2015-06-23 13:19:44.128 +0000 UTC`).

/// Go's `%v` of a `float64` (shortest digits; exponent form below 1e-4 and from 1e+06).
pub(crate) fn float_v(v: f64) -> String {
    float_g(v, None)
}

/// Go's `%.{prec}g` of a `float64` (`prec` significant digits, trailing zeros dropped).
pub(crate) fn float_prec(v: f64, prec: usize) -> String {
    float_g(v, Some(prec.max(1)))
}

fn float_g(v: f64, prec: Option<usize>) -> String {
    if v.is_nan() {
        return "NaN".to_string();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.to_string();
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    // Digits and exponent in scientific form, rounded as asked.
    let sci = match prec {
        Some(p) => format!("{:.*e}", p - 1, v),
        None => format!("{v:e}"),
    };
    let (mantissa, exp) = match sci.split_once('e') {
        Some((m, e)) => (m.to_string(), e.parse::<i32>().unwrap_or(0)),
        None => (sci.clone(), 0),
    };
    // Go: exponent form when exp < -4 or exp >= precision (6 for the shortest form).
    let eprec = prec.map_or(6, |p| p as i32);
    if exp < -4 || exp >= eprec {
        let m = trim_zeros(&mantissa);
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{m}e{sign}{:02}", exp.unsigned_abs());
    }
    let fixed = match prec {
        Some(p) => {
            let decimals = (p as i32 - 1 - exp).max(0) as usize;
            format!("{v:.decimals$}")
        }
        None => format!("{v}"),
    };
    trim_zeros(&fixed).to_string()
}

/// Drops trailing zeros after a decimal point, and the point itself when bare.
fn trim_zeros(s: &str) -> &str {
    if !s.contains('.') {
        return s;
    }
    s.trim_end_matches('0').trim_end_matches('.')
}

/// Go's `time.Time.String()` of a UTC instant given in ms since the epoch.
pub(crate) fn time_string_ms(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let frac = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let mut out = format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
    if frac != 0 {
        let f = format!("{frac:03}");
        out.push('.');
        out.push_str(f.trim_end_matches('0'));
    }
    out.push_str(" +0000 UTC");
    out
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_v_matches_go() {
        let cases: &[(f64, &str)] = &[
            (0.5, "0.5"),
            (1.0, "1"),
            (123456.0, "123456"),
            (1e6, "1e+06"),
            (1234567.0, "1.234567e+06"),
            (1e21, "1e+21"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-2.5, "-2.5"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "NaN"),
            (0.0, "0"),
            (1.0 / 3.0, "0.3333333333333333"),
        ];
        for (v, want) in cases {
            assert_eq!(float_v(*v), *want, "%v of {v}");
        }
    }

    #[test]
    fn float_prec_matches_go() {
        let cases: &[(f64, &str)] = &[
            (1.234567, "1.235"),
            (1234.0, "1234"),
            (12345.0, "1.234e+04"),
            (100000.0, "1e+05"),
            (1.0, "1"),
            (0.001, "0.001"),
            (0.00001234, "1.234e-05"),
            (999.99, "1000"),
            (12.5, "12.5"),
            (-3.0, "-3"),
        ];
        for (v, want) in cases {
            assert_eq!(float_prec(*v, 4), *want, "%.4g of {v}");
        }
    }

    #[test]
    fn time_strings() {
        assert_eq!(
            time_string_ms(1_435_065_584_128),
            "2015-06-23 13:19:44.128 +0000 UTC"
        );
        assert_eq!(time_string_ms(0), "1970-01-01 00:00:00 +0000 UTC");
        assert_eq!(time_string_ms(-1000), "1969-12-31 23:59:59 +0000 UTC");
        assert_eq!(
            time_string_ms(951_782_400_100),
            "2000-02-29 00:00:00.1 +0000 UTC"
        );
    }
}
