//! Encoding of one run of float values inside a sealed block.
//!
//! Three modes, chosen per run:
//! - `CONST`: every value has the same bits: 8 bytes.
//! - `DECIMAL`: values that are decimals with few digits (`v == n / 10^e` bit for bit, or
//!   within a few ulps, the difference then stored as a small correction) become integers
//!   `n` at one exponent `e` for the run (or the raw bit patterns read as integers, for
//!   smooth non-decimal floats); they are differenced `order`
//!   times (0, 1 or 2: raw, delta, delta-of-delta, whichever is smallest), divided by the
//!   common divisor of the differences, and written as zigzag varints. Values that are not
//!   such decimals (NaN, ±inf, -0.0, long fractions) are exceptions stored as raw bits.
//! - `XOR`: a Gorilla XOR bit stream, for runs that are mostly not short decimals.
//!
//! The block writer compresses pages of these encodings (LZMA2 or zstd), which
//! entropy-codes the mostly tiny varints.

use super::CodecError;
use super::bits::{BitReader, BitWriter};
use super::varint::{ByteReader, put_uvarint, put_varint, unzigzag, zigzag};

const MODE_CONST: u8 = 0;
const MODE_DECIMAL: u8 = 1;
const MODE_XOR: u8 = 2;

/// Largest decimal exponent tried.
const MAX_EXP: usize = 18;
const POW10: [f64; MAX_EXP + 1] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18,
];
/// Exponent marker of runs whose integers are the raw bit patterns.
const RAW_BITS: usize = 0xff;
/// zstd shrinks varint streams to roughly this fraction; XOR bit streams barely shrink.
const VARINT_COMPRESSED_RATIO: f64 = 0.66;
const MAX_EXACT_INT: f64 = 9_007_199_254_740_992.0; // 2^53

/// Largest distance in units of the last place that a near-decimal may be from its decimal.
const MAX_ULP_FIX: u64 = 255;

/// The integer `n` with `n / 10^e` within [`MAX_ULP_FIX`] ulps of `v` (same sign), and the
/// signed bit distance from that decimal to `v` (0 when exact). Float arithmetic in
/// exporters (`x / 1000 / 1000`) often lands an ulp or two off the short decimal.
#[inline]
fn near_decimal_at(v: f64, e: usize) -> Option<(i64, i64)> {
    let s = v * POW10[e];
    if s.is_nan() || s.abs() > MAX_EXACT_INT {
        return None;
    }
    let n = s.round() as i64;
    let diff = (v.to_bits() as i64).wrapping_sub(decimal_value(n, e).to_bits() as i64);
    (diff.unsigned_abs() <= MAX_ULP_FIX).then_some((n, diff))
}

#[inline]
fn decimal_value(n: i64, e: usize) -> f64 {
    n as f64 / POW10[e]
}

/// The smallest exponent at which `v` is a decimal, exactly or within a few ulps.
fn min_exp(v: f64) -> Option<usize> {
    if !v.is_finite() {
        return None;
    }
    (0..=MAX_EXP).find(|&e| near_decimal_at(v, e).is_some())
}

/// A value the integer stream does not carry exactly.
#[derive(Clone, Copy, Debug)]
enum Exception {
    /// Raw bits (NaN, infinities, -0.0, far from any short decimal).
    Raw(u64),
    /// The decimal plus this many ulps.
    Ulps(i64),
}

/// Scratch space reused across runs.
#[derive(Debug, Default)]
pub(crate) struct ValueScratch {
    ints: Vec<i64>,
    exc: Vec<(usize, Exception)>,
    buf: Vec<u8>,
    best: Vec<u8>,
}

/// Appends the encoding of `vals` (bit patterns, non-empty) to `out`.
pub(crate) fn encode_values(vals: &[u64], out: &mut Vec<u8>, s: &mut ValueScratch, xor_only: bool) {
    debug_assert!(!vals.is_empty());
    let first = vals[0];
    if vals.iter().all(|&v| v == first) {
        out.push(MODE_CONST);
        out.extend_from_slice(&first.to_le_bytes());
        return;
    }
    let exps: Vec<Option<usize>> = vals.iter().map(|&v| min_exp(f64::from_bits(v))).collect();
    let decimal_count = exps.iter().filter(|e| e.is_some()).count();
    let mut best_len = usize::MAX;
    s.best.clear();
    if !xor_only && decimal_count * 4 >= vals.len() * 3 {
        // Candidate exponents: the largest needed, and smaller ones that make a few
        // values exceptions but shrink every other integer.
        let mut distinct: Vec<usize> = exps.iter().flatten().copied().collect();
        distinct.sort_unstable();
        distinct.dedup();
        for &e in distinct.iter().rev().take(3) {
            encode_decimal(vals, e, s);
            if s.buf.len() < best_len {
                best_len = s.buf.len();
                std::mem::swap(&mut s.best, &mut s.buf);
            }
        }
    }
    if !xor_only {
        encode_decimal(vals, RAW_BITS, s);
        if s.buf.len() < best_len {
            best_len = s.buf.len();
            std::mem::swap(&mut s.best, &mut s.buf);
        }
    }
    // XOR only for runs that are not decimals: zero-heavy varint streams of decimal runs
    // compress far better than their raw size suggests.
    if xor_only || decimal_count * 4 < vals.len() * 3 {
        encode_xor(vals, &mut s.buf);
        if (s.buf.len() as f64) < best_len as f64 * VARINT_COMPRESSED_RATIO {
            std::mem::swap(&mut s.best, &mut s.buf);
        }
    }
    out.extend_from_slice(&s.best);
}

/// Encodes `vals` as integers: decimals at exponent `e`, or (with [`RAW_BITS`]) the bit
/// patterns themselves read as integers, which makes smooth non-decimal floats of one
/// sign and binade delta-codable.
fn encode_decimal(vals: &[u64], e: usize, s: &mut ValueScratch) {
    s.ints.clear();
    s.exc.clear();
    let mut prev = 0i64;
    for (i, &v) in vals.iter().enumerate() {
        let n = if e == RAW_BITS {
            Some((v as i64, 0))
        } else {
            near_decimal_at(f64::from_bits(v), e)
        };
        match n {
            Some((n, diff)) => {
                s.ints.push(n);
                prev = n;
                if diff != 0 {
                    s.exc.push((i, Exception::Ulps(diff)));
                }
            }
            None => {
                s.ints.push(prev);
                s.exc.push((i, Exception::Raw(v)));
            }
        }
    }
    // Pick the differencing order with the fewest significant bits.
    let ints = &mut s.ints;
    let mut best_order = 0;
    let mut best_cost = ints.iter().map(|&x| bit_cost(x)).sum::<usize>();
    for order in 1..=2usize {
        if ints.len() <= order {
            break;
        }
        for i in (order..ints.len()).rev() {
            ints[i] = ints[i].wrapping_sub(ints[i - 1]);
        }
        let cost = ints.iter().map(|&x| bit_cost(x)).sum::<usize>();
        if cost < best_cost {
            best_cost = cost;
            best_order = order;
        }
    }
    // Undo the differencing beyond the chosen order.
    let applied = 2.min(ints.len().saturating_sub(1));
    for order in (best_order + 1..=applied).rev() {
        for i in order..ints.len() {
            ints[i] = ints[i].wrapping_add(ints[i - 1]);
        }
    }
    let gcd = ints
        .get(best_order..)
        .unwrap_or(&[])
        .iter()
        .fold(0u64, |g, &x| gcd_u64(g, x.unsigned_abs()));
    let gcd = gcd.max(1);

    let buf = &mut s.buf;
    buf.clear();
    buf.push(MODE_DECIMAL);
    buf.push(e as u8);
    buf.push(best_order as u8);
    put_uvarint(buf, gcd);
    put_uvarint(buf, s.exc.len() as u64);
    let mut last = 0usize;
    for &(i, exc) in &s.exc {
        put_uvarint(buf, (i - last) as u64);
        match exc {
            Exception::Raw(bits) => {
                buf.push(0);
                buf.extend_from_slice(&bits.to_le_bytes());
            }
            Exception::Ulps(diff) => put_uvarint(buf, zigzag(diff)),
        }
        last = i;
    }
    for (i, &x) in ints.iter().enumerate() {
        if i < best_order || gcd == 1 {
            put_varint(buf, x);
        } else {
            put_varint(buf, x / gcd as i64);
        }
    }
}

/// Approximate compressed cost of one residual: its significant bits plus one.
#[inline]
fn bit_cost(x: i64) -> usize {
    65 - zigzag(x).leading_zeros() as usize
}

fn gcd_u64(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

fn encode_xor(vals: &[u64], out: &mut Vec<u8>) {
    let mut w = BitWriter::new();
    let mut prev = vals[0];
    w.write(prev, 64);
    let (mut lead, mut trail) = (u32::MAX, 0u32);
    for &v in &vals[1..] {
        let xor = v ^ prev;
        prev = v;
        if xor == 0 {
            w.write(0, 1);
            continue;
        }
        let l = xor.leading_zeros();
        let t = xor.trailing_zeros();
        if lead != u32::MAX && l >= lead && t >= trail {
            w.write(0b10, 2);
            w.write(xor >> trail, 64 - lead - trail);
            continue;
        }
        let sig = 64 - l - t;
        w.write(0b11, 2);
        w.write(u64::from(l), 6);
        w.write(u64::from(sig - 1), 6);
        w.write(xor >> t, sig);
        (lead, trail) = (l, t);
    }
    out.clear();
    out.push(MODE_XOR);
    let bytes = w.to_bytes();
    put_uvarint(out, bytes.len() as u64);
    out.extend_from_slice(&bytes);
}

/// Decodes `n` values written by [`encode_values`], appending their bits to `out`.
pub(crate) fn decode_values(
    r: &mut ByteReader<'_>,
    n: usize,
    out: &mut Vec<u64>,
) -> Result<(), CodecError> {
    let start = out.len();
    match r.u8()? {
        MODE_CONST => {
            let bits = r.u64_le()?;
            out.resize(start + n, bits);
        }
        MODE_DECIMAL => decode_decimal(r, n, out)?,
        MODE_XOR => {
            let len = r.len(n.saturating_mul(16).saturating_add(16), "xor stream length")?;
            let bytes = r.bytes(len)?;
            let mut br = BitReader::from_bytes(bytes);
            decode_xor(&mut br, n, out).ok_or_else(|| r.corrupt("truncated xor value stream"))?;
        }
        m => return Err(r.corrupt(format!("unknown value mode {m}"))),
    }
    Ok(())
}

fn decode_decimal(r: &mut ByteReader<'_>, n: usize, out: &mut Vec<u64>) -> Result<(), CodecError> {
    let e = usize::from(r.u8()?);
    if e > MAX_EXP && e != RAW_BITS {
        return Err(r.corrupt(format!("decimal exponent {e} out of range")));
    }
    let order = usize::from(r.u8()?);
    if order > 2 {
        return Err(r.corrupt(format!("differencing order {order} out of range")));
    }
    let gcd = r.uvarint()?;
    if gcd == 0 || gcd > 1u64 << 63 {
        return Err(r.corrupt(format!("invalid common divisor {gcd}")));
    }
    let n_exc = r.len(n, "exception count")?;
    let mut exc = Vec::with_capacity(n_exc);
    let mut idx = 0usize;
    for k in 0..n_exc {
        let d = r.len(n, "exception index delta")?;
        idx = idx.saturating_add(d);
        if idx >= n || (k > 0 && d == 0) {
            return Err(r.corrupt(format!("exception index {idx} out of range")));
        }
        let exc_kind = match r.uvarint()? {
            0 => Exception::Raw(r.u64_le()?),
            z => Exception::Ulps(unzigzag(z)),
        };
        exc.push((idx, exc_kind));
    }
    // One pass: each integer is read, scaled, undifferenced (running sums held in
    // registers) and turned into its value's bits.
    let base = out.len();
    out.reserve(n);
    let g = gcd as i64;
    match (order, e == RAW_BITS) {
        (0, true) => decode_ints::<0>(r, n, g, out, |x| x as u64)?,
        (0, false) => decode_ints::<0>(r, n, g, out, |x| decimal_value(x, e).to_bits())?,
        (1, true) => decode_ints::<1>(r, n, g, out, |x| x as u64)?,
        (1, false) => decode_ints::<1>(r, n, g, out, |x| decimal_value(x, e).to_bits())?,
        (_, true) => decode_ints::<2>(r, n, g, out, |x| x as u64)?,
        (_, false) => decode_ints::<2>(r, n, g, out, |x| decimal_value(x, e).to_bits())?,
    }
    for (i, exc) in exc {
        out[base + i] = match exc {
            Exception::Raw(bits) => bits,
            Exception::Ulps(diff) => (out[base + i] as i64).wrapping_add(diff) as u64,
        };
    }
    Ok(())
}

/// Reads `n` integers differenced `ORDER` times (all but the first `ORDER` divided by
/// `g`), undoes the differencing and appends `bits` of each integer to `out`.
#[inline(always)]
fn decode_ints<const ORDER: usize>(
    r: &mut ByteReader<'_>,
    n: usize,
    g: i64,
    out: &mut Vec<u64>,
    bits: impl Fn(i64) -> u64,
) -> Result<(), CodecError> {
    // `v` is the integer, `d` its first difference (order 2)
    let (mut v, mut d) = (0i64, 0i64);
    for i in 0..n {
        let x = r.varint()?;
        match ORDER {
            0 => v = x.wrapping_mul(g),
            1 if i == 0 => v = x,
            1 => v = v.wrapping_add(x.wrapping_mul(g)),
            _ if i == 0 => v = x,
            _ if i == 1 => {
                d = x;
                v = v.wrapping_add(d);
            }
            _ => {
                d = d.wrapping_add(x.wrapping_mul(g));
                v = v.wrapping_add(d);
            }
        }
        out.push(bits(v));
    }
    Ok(())
}

fn decode_xor(r: &mut BitReader<'_>, n: usize, out: &mut Vec<u64>) -> Option<()> {
    if n == 0 {
        return Some(());
    }
    let mut v = r.read(64)?;
    out.push(v);
    let (mut lead, mut trail) = (0u32, 0u32);
    for _ in 1..n {
        if r.read_bit()? {
            if r.read_bit()? {
                lead = r.read(6)? as u32;
                let sig = r.read(6)? as u32 + 1;
                trail = 64u32.checked_sub(lead + sig)?;
            }
            v ^= r.read(64 - lead - trail)? << trail;
        }
        out.push(v);
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(vals: &[f64]) -> usize {
        let bits: Vec<u64> = vals.iter().map(|v| v.to_bits()).collect();
        let mut out = Vec::new();
        let mut s = ValueScratch::default();
        encode_values(&bits, &mut out, &mut s, false);
        let mut r = ByteReader::new(&out, "values");
        let mut got = Vec::new();
        decode_values(&mut r, bits.len(), &mut got).unwrap();
        assert!(r.is_empty());
        assert_eq!(got, bits);
        out.len()
    }

    #[test]
    fn modes_round_trip() {
        assert_eq!(round_trip(&[3.5; 100]), 9);
        let counter: Vec<f64> = (0..500)
            .map(|i| 1234.56 + i as f64 * 0.01 * (i % 7) as f64)
            .collect();
        round_trip(&counter);
        let mem: Vec<f64> = (0..500)
            .map(|i| 8e9 + (i * 4096 * (i % 5)) as f64)
            .collect();
        let n = round_trip(&mem);
        assert!(n < 500 * 2, "{n}");
        let mut mixed = counter.clone();
        mixed[10] = f64::from_bits(oxeye_core::STALE_NAN_BITS);
        mixed[0] = -0.0;
        mixed[499] = f64::INFINITY;
        round_trip(&mixed);
        let noisy: Vec<f64> = (0..300)
            .map(|i| (i as f64 * 0.7).sin() * 1e-3 + 1.0 / 3.0)
            .collect();
        round_trip(&noisy);
        round_trip(&[1.0, f64::NAN]);
        round_trip(&[f64::MAX, f64::MIN, 5e-324, -5e-324]);
    }

    #[test]
    fn near_decimals_cost_little() {
        // Microsecond counters converted the way exporters do: two divisions, often an
        // ulp away from the short decimal.
        let vals: Vec<f64> = (0..600)
            .map(|i| (15_000_000 + i * 19_381 + (i * i) % 977) as f64 / 1000.0 / 1000.0)
            .collect();
        assert!(
            vals.iter()
                .any(|v| min_exp(*v).is_some_and(|e| near_decimal_at(*v, e).unwrap().1 != 0))
        );
        let n = round_trip(&vals);
        assert!(n < 600 * 4, "{n}");
    }

    #[test]
    fn decimal_detection() {
        assert_eq!(min_exp(0.1), Some(1));
        assert_eq!(min_exp(1234.56), Some(2));
        assert_eq!(min_exp(-0.0), None);
        assert_eq!(min_exp(f64::NAN), None);
        assert_eq!(min_exp(0.1 + 0.2), Some(1));
        assert_eq!(near_decimal_at(0.1 + 0.2, 1), Some((3, 1)));
        assert_eq!(min_exp(1e300), None);
        assert!(min_exp(1.0 / 3.0).is_some_and(|e| e >= 14));
        assert_eq!(min_exp(42.0), Some(0));
    }
}
