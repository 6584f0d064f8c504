//! Number formatting as Go's `fmt`/`strconv` print floats, so messages and labels
//! carry the same text Prometheus produces.

/// Go's `%g` (and `%v`) for a float64: shortest digits, exponent form when the decimal
/// exponent is below -4 or at least 6 (`1e+06`, `1.5e-05`), `+Inf`/`-Inf`/`NaN`.
pub(crate) fn go_float_g(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    if f == 0.0 {
        return format!("{f}");
    }
    let e = format!("{f:e}");
    let Some((mantissa, exp)) = e.split_once('e') else {
        return format!("{f}");
    };
    let Ok(exp) = exp.parse::<i32>() else {
        return format!("{f}");
    };
    if (-4..6).contains(&exp) {
        return format!("{f}");
    }
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exp.abs())
}

/// Go's `%v` for a float64 (the same as `%g`).
pub(crate) fn go_float_v(f: f64) -> String {
    go_float_g(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_go() {
        assert_eq!(go_float_g(2.0), "2");
        assert_eq!(go_float_g(1.5), "1.5");
        assert_eq!(go_float_g(100000.0), "100000");
        assert_eq!(go_float_g(1e6), "1e+06");
        assert_eq!(go_float_g(123456789.0), "1.23456789e+08");
        assert_eq!(go_float_g(0.0001), "0.0001");
        assert_eq!(go_float_g(0.00001), "1e-05");
        assert_eq!(go_float_g(-2.5e-7), "-2.5e-07");
        assert_eq!(go_float_g(f64::NAN), "NaN");
        assert_eq!(go_float_g(f64::NEG_INFINITY), "-Inf");
        assert_eq!(go_float_v(9.223372036854776e18), "9.223372036854776e+18");
    }
}
