//! Per-chunk structured-metadata filters: a bloom filter of the chunk's distinct
//! `(name, value)` metadata pairs.
//!
//! A pair is hashed with xxh3 over `name`, a `0xff` separator (never part of UTF-8 text,
//! so `("ab", "c")` and `("a", "bc")` differ) and `value`; the distinct hashes of a chunk
//! set [`PROBES`] bits each in a filter of [`BITS_PER_PAIR`] bits per distinct pair (about
//! 1% false positives). A query's `| trace_id="..."` hint (`LogSelect::metadata_equals`)
//! skips every chunk whose filter rejects the pair, when the chunk's stream has no label
//! of that name. High-cardinality pairs (trace and span ids, one per entry) dominate the
//! size: about 1.25 bytes per entry carrying them, against the 16 bytes of entropy of a
//! trace id the chunk stores anyway; low-cardinality pairs (`level=info`) cost nothing
//! noticeable. Figures are in the crate documentation.

use oxeye_core::logs::LogEntry;
use xxhash_rust::xxh3::Xxh3;

use crate::codec::{Reader, put_uvarint};
use crate::error::DecodeError;

/// Filter bits per distinct pair.
pub(crate) const BITS_PER_PAIR: u8 = 10;
/// Bits set per pair.
pub(crate) const PROBES: u8 = 4;

/// A chunk's metadata filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MetaFilter {
    bits_per_pair: u8,
    probes: u8,
    bits: Vec<u64>,
}

/// The hash of one metadata pair.
pub(crate) fn pair_hash(name: &str, value: &str) -> u64 {
    let mut h = Xxh3::new();
    h.update(name.as_bytes());
    h.update(&[0xff]);
    h.update(value.as_bytes());
    h.digest()
}

impl MetaFilter {
    /// Builds the filter of the metadata of `entries` with the default parameters.
    pub fn build(entries: &[LogEntry]) -> Self {
        Self::build_with(BITS_PER_PAIR, PROBES, entries)
    }

    /// Builds the filter of the metadata of `entries`.
    pub fn build_with(bits_per_pair: u8, probes: u8, entries: &[LogEntry]) -> Self {
        let mut hashes: Vec<u64> = entries
            .iter()
            .flat_map(|e| e.metadata.iter().map(|(n, v)| pair_hash(n, v)))
            .collect();
        hashes.sort_unstable();
        hashes.dedup();
        let bits_per_pair = bits_per_pair.max(1);
        let probes = probes.max(1);
        if hashes.is_empty() {
            return Self {
                bits_per_pair,
                probes,
                bits: Vec::new(),
            };
        }
        let words = (hashes.len() * usize::from(bits_per_pair)).div_ceil(64);
        let mut bits = vec![0u64; words];
        let m = (words * 64) as u64;
        for h in hashes {
            for p in positions(h, m, probes) {
                if let Some(w) = bits.get_mut((p / 64) as usize) {
                    *w |= 1 << (p % 64);
                }
            }
        }
        Self {
            bits_per_pair,
            probes,
            bits,
        }
    }

    /// Whether an entry of the chunk may carry metadata `name` = `value`; `false` is
    /// certain. A chunk without metadata holds no pair at all.
    pub fn may_contain(&self, name: &str, value: &str) -> bool {
        let m = (self.bits.len() * 64) as u64;
        if m == 0 {
            return false;
        }
        positions(pair_hash(name, value), m, self.probes).all(|p| {
            self.bits
                .get((p / 64) as usize)
                .is_some_and(|w| w & (1 << (p % 64)) != 0)
        })
    }

    /// Bytes of the encoded filter (at most; the word count is a varint).
    pub fn encoded_len(&self) -> usize {
        self.bits.len() * 8 + 2 + 5
    }

    pub fn encode(&self, buf: &mut Vec<u8>) {
        buf.push(self.bits_per_pair);
        buf.push(self.probes);
        put_uvarint(buf, self.bits.len() as u64);
        for w in &self.bits {
            buf.extend_from_slice(&w.to_le_bytes());
        }
    }

    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let [bits_per_pair, probes] = r.fixed::<2>("metadata filter parameters")?;
        if bits_per_pair == 0 || probes == 0 || probes > 16 {
            return Err(DecodeError(format!(
                "bad metadata filter parameters: {bits_per_pair} bits per pair, {probes} probes"
            )));
        }
        let n = r.len("metadata filter words", 8)?;
        let mut bits = Vec::with_capacity(n);
        for _ in 0..n {
            bits.push(r.u64_le("metadata filter word")?);
        }
        Ok(Self {
            bits_per_pair,
            probes,
            bits,
        })
    }
}

fn positions(h: u64, m: u64, probes: u8) -> impl Iterator<Item = u64> {
    let h2 = h.rotate_left(32) | 1;
    (0..u64::from(probes)).map(move |i| h.wrapping_add(i.wrapping_mul(h2)) % m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(n: u64, salt: u64) -> Vec<LogEntry> {
        (0..n)
            .map(|i| {
                let mut e = LogEntry::new(i as i64, "line");
                let id = format!("{:032x}", (i + salt).wrapping_mul(0x9E37_79B9_7F4A_7C15));
                e.metadata.push(("trace_id".into(), id));
                e.metadata.push(("level".into(), "info".into()));
                e
            })
            .collect()
    }

    #[test]
    fn never_rejects_a_present_pair_and_rejects_most_absent_ones() {
        let es = entries(2000, 0);
        let f = MetaFilter::build(&es);
        for e in &es {
            for (n, v) in &e.metadata {
                assert!(f.may_contain(n, v), "{n}={v}");
            }
        }
        // the name is part of the pair
        assert!(!f.may_contain("level", "warn"));
        assert!(!f.may_contain("trace_id", "info"));
        let absent = entries(1000, 1_000_000)
            .iter()
            .filter(|e| e.metadata.first().is_some_and(|(n, v)| f.may_contain(n, v)))
            .count();
        assert!(absent < 40, "{absent} of 1000 absent ids pass the filter");
        // no metadata at all: nothing passes
        let none = MetaFilter::build(&[LogEntry::new(1, "x")]);
        assert!(!none.may_contain("trace_id", "x"));
        assert_eq!(none.encoded_len(), 7);
    }

    #[test]
    fn round_trips_and_rejects_bad_parameters() {
        let f = MetaFilter::build(&entries(100, 7));
        let mut buf = Vec::new();
        f.encode(&mut buf);
        assert!(buf.len() <= f.encoded_len());
        let back = MetaFilter::decode(&mut Reader::new(&buf)).unwrap();
        assert_eq!(back, f);
        buf[1] = 0;
        assert!(MetaFilter::decode(&mut Reader::new(&buf)).is_err());
        assert!(MetaFilter::decode(&mut Reader::new(&buf[..1])).is_err());
    }
}
