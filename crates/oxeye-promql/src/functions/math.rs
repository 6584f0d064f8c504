//! Element-wise math on instant vectors: rounding, clamping, logarithms, trigonometry and
//! sign, with Go's `math` package semantics for NaN and infinities.

/// The element-wise function called `name`, if it is one.
pub(crate) fn simple(name: &str) -> Option<fn(f64) -> f64> {
    Some(match name {
        "abs" => f64::abs,
        "ceil" => f64::ceil,
        "floor" => f64::floor,
        "sqrt" => f64::sqrt,
        "exp" => f64::exp,
        "ln" => f64::ln,
        "log2" => f64::log2,
        "log10" => f64::log10,
        "sin" => f64::sin,
        "cos" => f64::cos,
        "tan" => f64::tan,
        "asin" => f64::asin,
        "acos" => f64::acos,
        "atan" => f64::atan,
        "sinh" => f64::sinh,
        "cosh" => f64::cosh,
        "tanh" => f64::tanh,
        "asinh" => f64::asinh,
        "acosh" => f64::acosh,
        "atanh" => f64::atanh,
        "deg" => |v| v * 180.0 / std::f64::consts::PI,
        "rad" => |v| v * std::f64::consts::PI / 180.0,
        "sgn" => sgn,
        _ => return None,
    })
}

/// -1, 1, or the value itself for zero and NaN.
fn sgn(v: f64) -> f64 {
    if v < 0.0 {
        -1.0
    } else if v > 0.0 {
        1.0
    } else {
        v
    }
}

/// `round(v, to_nearest)`: ties round up.
pub(crate) fn round(v: f64, to_nearest: f64) -> f64 {
    // Multiplying by the inverse is what Prometheus does; it loses less precision for
    // the common `0.1`-style arguments.
    let inv = 1.0 / to_nearest;
    (v * inv + 0.5).floor() / inv
}

/// Go's `math.Max`: +Inf wins over NaN, otherwise NaN propagates.
pub(crate) fn go_max(a: f64, b: f64) -> f64 {
    if a == f64::INFINITY || b == f64::INFINITY {
        return f64::INFINITY;
    }
    if a.is_nan() || b.is_nan() {
        return f64::NAN;
    }
    a.max(b)
}

/// Go's `math.Min`: -Inf wins over NaN, otherwise NaN propagates.
pub(crate) fn go_min(a: f64, b: f64) -> f64 {
    if a == f64::NEG_INFINITY || b == f64::NEG_INFINITY {
        return f64::NEG_INFINITY;
    }
    if a.is_nan() || b.is_nan() {
        return f64::NAN;
    }
    a.min(b)
}

/// `clamp(v, lo, hi)` as `max(lo, min(hi, v))`.
pub(crate) fn clamp(v: f64, lo: f64, hi: f64) -> f64 {
    go_max(lo, go_min(hi, v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_ties_up_and_to_nearest() {
        assert_eq!(round(2.5, 1.0), 3.0);
        assert_eq!(round(-2.5, 1.0), -2.0);
        assert_eq!(round(1.234, 0.1), 1.2);
        assert_eq!(round(17.0, 5.0), 15.0);
        assert_eq!(round(18.0, 5.0), 20.0);
    }

    #[test]
    fn clamp_handles_nan_and_infinities_like_go() {
        assert_eq!(clamp(7.0, 2.0, 5.0), 5.0);
        assert_eq!(clamp(1.0, 2.0, 5.0), 2.0);
        assert!(clamp(f64::NAN, 2.0, 5.0).is_nan());
        assert!(clamp(3.0, f64::NAN, 5.0).is_nan());
        assert_eq!(go_max(f64::NAN, f64::INFINITY), f64::INFINITY);
        assert_eq!(go_min(f64::NAN, f64::NEG_INFINITY), f64::NEG_INFINITY);
    }

    #[test]
    fn sign_and_degrees() {
        let sgn = simple("sgn").unwrap();
        assert_eq!(sgn(-3.0), -1.0);
        assert_eq!(sgn(0.0), 0.0);
        assert!(sgn(f64::NAN).is_nan());
        let deg = simple("deg").unwrap();
        assert_eq!(deg(std::f64::consts::PI), 180.0);
        assert!(simple("nope").is_none());
    }
}
