//! Per-chunk line filters: a bloom filter of content-sampled byte n-grams.
//!
//! Every window of [`GRAM`] bytes of every line is hashed; a window is *sampled* when its
//! hash falls in the lowest 1/[`SAMPLE_DIV`] of the range, a decision that depends on the
//! window's bytes alone. The sampled hashes of a chunk go into a small bloom filter. A
//! needle (a `|= "..."` substring, matched case-sensitively on exact bytes) occurs in a
//! line only if every window of the needle occurs in it, so every *sampled* window of the
//! needle must be in the chunk's filter; one missing window proves the chunk holds no
//! line containing the needle and the read skips it. Needles shorter than a window, or
//! without a sampled window, never skip anything.
//!
//! Because a needle is tested on all its sampled windows at once, the filter can afford
//! a high false-positive rate per window (about 40% at [`BITS_PER_GRAM`] bits per
//! distinct gram with two probes): a 32-character trace id has about six sampled windows,
//! so a chunk without it passes all of them rarely (2.2% of absent ids in the test
//! below). Sampling one window in four keeps the filter at about half a bit per distinct
//! window position of the chunk. Three bits per gram passed under 1% of absent ids but
//! made the filters half as large again, which kept the bench corpus (ids in most lines)
//! above 0.8x of `zstd -3`. The figures behind these constants are in the crate
//! documentation.

use crate::codec::{Reader, put_uvarint};
use crate::error::DecodeError;

/// Bytes per n-gram window.
pub(crate) const GRAM: usize = 8;
/// One window in this many (by hash) is indexed.
pub(crate) const SAMPLE_DIV: u64 = 4;
/// Filter bits per distinct sampled window.
pub(crate) const BITS_PER_GRAM: usize = 2;
/// Whether only windows of ASCII letters and digits are indexed.
pub(crate) const ALNUM_ONLY: bool = true;
const PROBES: u32 = 2;

/// Filter parameters; stored with each filter so files stay readable if they change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FilterParams {
    /// Bytes per window, 4 to 8.
    pub gram: u8,
    /// One window in this many is indexed.
    pub sample_div: u8,
    /// Filter bits per distinct sampled window.
    pub bits_per_gram: u8,
    /// Only windows of ASCII letters and digits are indexed (ids, words, numbers; not
    /// the punctuation-laden spans of timestamps, IPs and JSON syntax).
    pub alnum_only: bool,
}

impl Default for FilterParams {
    fn default() -> Self {
        Self {
            gram: GRAM as u8,
            sample_div: SAMPLE_DIV as u8,
            bits_per_gram: BITS_PER_GRAM as u8,
            alnum_only: ALNUM_ONLY,
        }
    }
}

#[inline]
fn window_hash(w: &[u8]) -> u64 {
    let mut x = [0u8; 8];
    if let Some(dst) = x.get_mut(..w.len()) {
        dst.copy_from_slice(w);
    }
    let v = u64::from_le_bytes(x);
    let mut h = v.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    h ^= h >> 31;
    h = h.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    h ^ (h >> 29)
}

/// Calls `f` with the hash of every sampled window of `s`.
fn for_each_sampled(p: FilterParams, s: &[u8], mut f: impl FnMut(u64)) {
    let gram = usize::from(p.gram.clamp(1, 8));
    if s.len() < gram {
        return;
    }
    let limit = u64::MAX / u64::from(p.sample_div.max(1));
    if p.alnum_only {
        let mut run = 0;
        for (i, b) in s.iter().enumerate() {
            run = if b.is_ascii_alphanumeric() {
                run + 1
            } else {
                0
            };
            if run >= gram
                && let Some(w) = s.get(i + 1 - gram..=i)
            {
                let h = window_hash(w);
                if h < limit {
                    f(h);
                }
            }
        }
        return;
    }
    for w in s.windows(gram) {
        let h = window_hash(w);
        if h < limit {
            f(h);
        }
    }
}

/// A chunk's filter.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct LineFilter {
    params: FilterParams,
    bits: Vec<u64>,
}

impl LineFilter {
    /// Builds the filter of `lines` with the default parameters.
    pub fn build<'a>(lines: impl Iterator<Item = &'a [u8]>) -> Self {
        Self::build_with(FilterParams::default(), lines)
    }

    /// Builds the filter of `lines`.
    pub fn build_with<'a>(params: FilterParams, lines: impl Iterator<Item = &'a [u8]>) -> Self {
        let mut hashes = Vec::new();
        for l in lines {
            for_each_sampled(params, l, |h| hashes.push(h));
        }
        hashes.sort_unstable();
        hashes.dedup();
        Self::from_hashes(params, &hashes)
    }

    fn from_hashes(params: FilterParams, hashes: &[u64]) -> Self {
        if hashes.is_empty() {
            return Self {
                params,
                bits: Vec::new(),
            };
        }
        let words = (hashes.len() * usize::from(params.bits_per_gram.max(1)))
            .div_ceil(64)
            .max(1);
        let mut bits = vec![0u64; words];
        let m = (words * 64) as u64;
        for &h in hashes {
            for p in probes(h, m) {
                if let Some(w) = bits.get_mut((p / 64) as usize) {
                    *w |= 1 << (p % 64);
                }
            }
        }
        Self { params, bits }
    }

    fn contains_hash(&self, h: u64) -> bool {
        let m = (self.bits.len() * 64) as u64;
        if m == 0 {
            return false;
        }
        probes(h, m).all(|p| {
            self.bits
                .get((p / 64) as usize)
                .is_some_and(|w| w & (1 << (p % 64)) != 0)
        })
    }

    /// Whether a line of the chunk may contain `needle`; `false` is certain.
    /// (An empty filter holds no sampled window, so only needles without one pass.)
    pub fn may_contain(&self, needle: &[u8]) -> bool {
        let mut all = true;
        for_each_sampled(self.params, needle, |h| all = all && self.contains_hash(h));
        all
    }

    /// Bytes of the encoded filter.
    pub fn encoded_len(&self) -> usize {
        self.bits.len() * 8 + 7
    }

    pub fn encode(&self, buf: &mut Vec<u8>) {
        buf.extend_from_slice(&[
            self.params.gram,
            self.params.sample_div,
            self.params.bits_per_gram,
            u8::from(self.params.alnum_only),
        ]);
        put_uvarint(buf, self.bits.len() as u64);
        for w in &self.bits {
            buf.extend_from_slice(&w.to_le_bytes());
        }
    }

    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let [gram, sample_div, bits_per_gram, flags] = r.fixed::<4>("filter parameters")?;
        if !(1..=8).contains(&gram) || sample_div == 0 || bits_per_gram == 0 || flags > 1 {
            return Err(DecodeError(format!(
                "bad filter parameters: gram {gram}, sampling 1/{sample_div}, {bits_per_gram} bits"
            )));
        }
        let params = FilterParams {
            gram,
            sample_div,
            bits_per_gram,
            alnum_only: flags == 1,
        };
        let n = r.len("filter words", 8)?;
        let mut bits = Vec::with_capacity(n);
        for _ in 0..n {
            bits.push(r.u64_le("filter word")?);
        }
        Ok(Self { params, bits })
    }
}

fn probes(h: u64, m: u64) -> impl Iterator<Item = u64> {
    let h1 = h;
    let h2 = h.rotate_left(32) | 1;
    (0..PROBES).map(move |i| h1.wrapping_add(u64::from(i).wrapping_mul(h2)) % m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_rejects_a_present_substring() {
        let lines: Vec<String> = (0..500)
            .map(|i| format!("level=info msg=\"request done\" trace_id={i:032x} took={i}ms"))
            .collect();
        let f = LineFilter::build(lines.iter().map(|l| l.as_bytes()));
        for l in &lines {
            for start in (0..l.len()).step_by(7) {
                for len in [8usize, 13, 32] {
                    if let Some(s) = l.get(start..start + len) {
                        assert!(f.may_contain(s.as_bytes()), "{s:?}");
                    }
                }
            }
        }
        // short needles and needles without sampled windows are never rejected
        assert!(f.may_contain(b"zzz"));
        let mut buf = Vec::new();
        f.encode(&mut buf);
        let back = LineFilter::decode(&mut Reader::new(&buf)).unwrap();
        assert_eq!(back, f);
    }

    #[test]
    fn rejects_most_absent_ids() {
        let id = |i: u64| {
            format!(
                "{:016x}{:016x}",
                i.wrapping_mul(0x9E37_79B9_7F4A_7C15),
                i.wrapping_mul(0xD1B5_4A32_D192_ED03)
            )
        };
        let lines: Vec<String> = (0..2000u64)
            .map(|i| format!("trace_id={} ok", id(i)))
            .collect();
        let f = LineFilter::build(lines.iter().map(|l| l.as_bytes()));
        let absent = (0..1000)
            .filter(|i| f.may_contain(id(*i as u64 + 1_000_000).as_bytes()))
            .count();
        assert!(absent < 40, "{absent} of 1000 absent ids pass the filter");
    }
}
