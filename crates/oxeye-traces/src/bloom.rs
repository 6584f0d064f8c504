//! A bloom filter over 64-bit hashes (double hashing), used per block for trace ids and
//! for attribute pairs and span names that scan hints ask about.

use crate::enc::{Dec, put_uvarint};
use crate::error::DecodeError;

/// Bits per key; about 0.5% false positives with 8 probes.
const BITS_PER_KEY: usize = 12;
const PROBES: u32 = 8;
const MAX_WORDS: usize = 1 << 26;

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Bloom {
    words: Vec<u64>,
    probes: u32,
}

pub(crate) fn hash_bytes(b: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(b)
}

impl Bloom {
    /// A filter sized for `keys` hashes.
    pub fn with_keys(keys: usize) -> Bloom {
        let bits = (keys.max(1) * BITS_PER_KEY).next_power_of_two().max(64);
        Bloom {
            words: vec![0; (bits / 64).min(MAX_WORDS)],
            probes: PROBES,
        }
    }

    pub fn from_hashes(hashes: &[u64]) -> Bloom {
        let mut b = Bloom::with_keys(hashes.len());
        for &h in hashes {
            b.insert(h);
        }
        b
    }

    fn positions(&self, h: u64) -> impl Iterator<Item = usize> + '_ {
        let bits = (self.words.len() * 64) as u64;
        let h1 = h;
        let h2 = h.rotate_left(32) | 1;
        (0..u64::from(self.probes))
            .map(move |i| (h1.wrapping_add(i.wrapping_mul(h2)) % bits) as usize)
    }

    pub fn insert(&mut self, h: u64) {
        let pos: Vec<usize> = self.positions(h).collect();
        for p in pos {
            if let Some(w) = self.words.get_mut(p / 64) {
                *w |= 1 << (p % 64);
            }
        }
    }

    pub fn may_contain(&self, h: u64) -> bool {
        if self.words.is_empty() {
            return true;
        }
        self.positions(h).all(|p| {
            self.words
                .get(p / 64)
                .is_some_and(|w| w & (1 << (p % 64)) != 0)
        })
    }

    pub fn encode(&self, buf: &mut Vec<u8>) {
        put_uvarint(buf, u64::from(self.probes));
        put_uvarint(buf, self.words.len() as u64);
        for w in &self.words {
            buf.extend_from_slice(&w.to_le_bytes());
        }
    }

    pub fn decode(d: &mut Dec<'_>) -> Result<Bloom, DecodeError> {
        let probes = d.u32v()?;
        if probes == 0 || probes > 32 {
            return Err(DecodeError(format!("bloom filter with {probes} probes")));
        }
        let n = d.count(8)?;
        let mut words = Vec::with_capacity(n);
        for _ in 0..n {
            words.push(d.u64le()?);
        }
        Ok(Bloom { words, probes })
    }

    pub fn bytes(&self) -> usize {
        self.words.len() * 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_false_negatives_few_false_positives() {
        let keys: Vec<u64> = (0..10_000u64)
            .map(|i| hash_bytes(&i.to_le_bytes()))
            .collect();
        let b = Bloom::from_hashes(&keys);
        assert!(keys.iter().all(|&k| b.may_contain(k)));
        let fp = (10_000..110_000u64)
            .filter(|i| b.may_contain(hash_bytes(&i.to_le_bytes())))
            .count();
        assert!(fp < 2_000, "false positives {fp}");
        let mut buf = Vec::new();
        b.encode(&mut buf);
        assert_eq!(Bloom::decode(&mut Dec::new(&buf)).unwrap(), b);
    }
}
