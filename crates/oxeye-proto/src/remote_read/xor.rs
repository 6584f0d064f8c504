//! The XOR ("Gorilla") float chunk format of Prometheus's TSDB, as remote read streams it.
//!
//! Layout of a chunk, bits written most significant first:
//!
//! ```text
//! u16 big-endian sample count
//! sample 0: signed varint timestamp, 64 raw value bits
//! sample 1: unsigned varint timestamp delta, value XOR'd with sample 0
//! sample n: timestamp delta-of-delta in a bucket, value XOR'd with sample n-1
//! ```
//!
//! Delta-of-delta buckets: `0` for 0; `10` + 14 bits, `110` + 17 bits, `1110` + 20 bits
//! (two's complement, a bucket of n bits holds `-(2^(n-1)-1) ..= 2^(n-1)`); `1111` + 64 bits.
//!
//! Values: `0` when equal to the previous value; else `1`, then `0` + the meaningful bits
//! when the XOR fits the previous leading/trailing zero window, or `1` + 5 bits of leading
//! zeros (capped at 31) + 6 bits of meaningful-bit count (64 written as 0) + those bits.
//!
//! The encoder produces the same bytes as Prometheus's appender for the same samples, so
//! clients that decode Prometheus chunks decode ours.

use oxeye_core::Sample;

use crate::ProtoError;

/// Most samples Prometheus puts in one chunk; streamed remote read cuts chunks here.
pub const MAX_SAMPLES_PER_CHUNK: usize = 120;

/// Most samples the 16-bit header can count.
const MAX_SAMPLES_PER_HEADER: usize = u16::MAX as usize;

/// A growable stream of bits, most significant bit of each byte first.
#[derive(Debug, Clone)]
struct BitWriter {
    bytes: Vec<u8>,
    /// Bits still free in the last byte.
    free: u8,
}

impl BitWriter {
    fn with_header() -> Self {
        let mut bytes = Vec::with_capacity(128);
        bytes.extend_from_slice(&[0, 0]);
        Self { bytes, free: 0 }
    }

    fn bit(&mut self, one: bool) {
        if self.free == 0 {
            self.bytes.push(0);
            self.free = 8;
        }
        if one && let Some(last) = self.bytes.last_mut() {
            *last |= 1 << (self.free - 1);
        }
        self.free -= 1;
    }

    fn byte(&mut self, b: u8) {
        if self.free == 0 {
            self.bytes.push(b);
            return;
        }
        if let Some(last) = self.bytes.last_mut() {
            *last |= b >> (8 - self.free);
        }
        self.bytes.push(b << self.free);
    }

    /// Writes the `n` low bits of `v`, highest first, filling the last byte and then
    /// whole bytes (at most nine steps for 64 bits).
    fn bits(&mut self, v: u64, n: u32) {
        debug_assert!(n <= 64);
        let mut n = n;
        while n > 0 {
            if self.free == 0 {
                self.bytes.push(0);
                self.free = 8;
            }
            let take = n.min(u32::from(self.free));
            n -= take;
            let part = ((v >> n) & ((1u64 << take) - 1)) as u8;
            if let Some(last) = self.bytes.last_mut() {
                *last |= part << (u32::from(self.free) - take);
            }
            self.free -= take as u8;
        }
    }

    fn uvarint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.byte((v as u8) | 0x80);
            v >>= 7;
        }
        self.byte(v as u8);
    }

    fn varint(&mut self, v: i64) {
        self.uvarint(((v << 1) ^ (v >> 63)) as u64);
    }
}

/// Whether `x` fits a delta-of-delta bucket of `n` bits.
fn fits(x: i64, n: u32) -> bool {
    let half = 1i64 << (n - 1);
    -(half - 1) <= x && x <= half
}

/// Appends float samples to one XOR chunk.
#[derive(Debug, Clone)]
pub struct XorAppender {
    w: BitWriter,
    num: usize,
    t: i64,
    v: f64,
    t_delta: u64,
    /// 0xff until the first XOR with a new window is written.
    leading: u8,
    trailing: u8,
    min_t: i64,
}

impl Default for XorAppender {
    fn default() -> Self {
        Self::new()
    }
}

impl XorAppender {
    /// An empty chunk.
    pub fn new() -> Self {
        Self {
            w: BitWriter::with_header(),
            num: 0,
            t: i64::MIN,
            v: 0.0,
            t_delta: 0,
            leading: 0xff,
            trailing: 0,
            min_t: i64::MIN,
        }
    }

    /// Samples appended so far.
    pub fn num_samples(&self) -> usize {
        self.num
    }

    /// Whether no sample was appended.
    pub fn is_empty(&self) -> bool {
        self.num == 0
    }

    /// Timestamp of the first sample, if any.
    pub fn min_time(&self) -> Option<i64> {
        (self.num > 0).then_some(self.min_t)
    }

    /// Timestamp of the last sample, if any.
    pub fn max_time(&self) -> Option<i64> {
        (self.num > 0).then_some(self.t)
    }

    /// Appends a sample. Timestamps must increase (the caller's series data guarantees
    /// it); the chunk holds at most 65 535 samples, more is an error.
    pub fn append(&mut self, t: i64, v: f64) -> Result<(), ProtoError> {
        debug_assert!(self.num == 0 || t > self.t, "timestamps must increase");
        let mut t_delta = 0u64;
        match self.num {
            0 => {
                self.w.varint(t);
                self.w.bits(v.to_bits(), 64);
                self.min_t = t;
            }
            1 => {
                t_delta = t.wrapping_sub(self.t) as u64;
                self.w.uvarint(t_delta);
                self.write_value(v);
            }
            n if n >= MAX_SAMPLES_PER_HEADER => {
                return Err(ProtoError::Invalid(format!(
                    "xor chunk capacity of {MAX_SAMPLES_PER_HEADER} samples exceeded"
                )));
            }
            _ => {
                t_delta = t.wrapping_sub(self.t) as u64;
                let dod = t_delta.wrapping_sub(self.t_delta) as i64;
                if dod == 0 {
                    self.w.bit(false);
                } else if fits(dod, 14) {
                    self.w.bits(0b10, 2);
                    self.w.bits(dod as u64, 14);
                } else if fits(dod, 17) {
                    self.w.bits(0b110, 3);
                    self.w.bits(dod as u64, 17);
                } else if fits(dod, 20) {
                    self.w.bits(0b1110, 4);
                    self.w.bits(dod as u64, 20);
                } else {
                    self.w.bits(0b1111, 4);
                    self.w.bits(dod as u64, 64);
                }
                self.write_value(v);
            }
        }
        self.t = t;
        self.v = v;
        self.t_delta = t_delta;
        self.num += 1;
        let count = (self.num as u16).to_be_bytes();
        if let Some(header) = self.w.bytes.get_mut(..2) {
            header.copy_from_slice(&count);
        }
        Ok(())
    }

    fn write_value(&mut self, v: f64) {
        let delta = v.to_bits() ^ self.v.to_bits();
        if delta == 0 {
            self.w.bit(false);
            return;
        }
        self.w.bit(true);
        let leading = (delta.leading_zeros() as u8).min(31);
        let trailing = delta.trailing_zeros() as u8;
        if self.leading != 0xff && leading >= self.leading && trailing >= self.trailing {
            self.w.bit(false);
            let sig = 64 - u32::from(self.leading) - u32::from(self.trailing);
            self.w.bits(delta >> self.trailing, sig);
            return;
        }
        self.leading = leading;
        self.trailing = trailing;
        self.w.bit(true);
        self.w.bits(u64::from(leading), 5);
        let sig = 64 - u32::from(leading) - u32::from(trailing);
        // 64 meaningful bits do not fit in 6 bits: written as 0, read back as 64
        self.w.bits(u64::from(sig), 6);
        self.w.bits(delta >> trailing, sig);
    }

    /// The chunk's bytes so far (header included).
    pub fn bytes(&self) -> &[u8] {
        &self.w.bytes
    }

    /// The finished chunk.
    pub fn into_bytes(self) -> Vec<u8> {
        self.w.bytes
    }
}

/// Encodes `samples` (increasing timestamps) as one XOR chunk.
pub fn encode_xor_chunk(samples: &[Sample]) -> Result<Vec<u8>, ProtoError> {
    let mut a = XorAppender::new();
    for s in samples {
        a.append(s.t, s.v)?;
    }
    Ok(a.into_bytes())
}

/// Reads bits most significant first; running past the end is an error.
struct BitReader<'a> {
    bytes: &'a [u8],
    /// Position in bits.
    pos: usize,
}

impl BitReader<'_> {
    fn eof() -> ProtoError {
        ProtoError::Invalid("xor chunk ends in the middle of a sample".into())
    }

    fn bit(&mut self) -> Result<bool, ProtoError> {
        let byte = self.bytes.get(self.pos / 8).ok_or_else(Self::eof)?;
        let bit = (byte >> (7 - self.pos % 8)) & 1 == 1;
        self.pos += 1;
        Ok(bit)
    }

    fn bits(&mut self, n: u32) -> Result<u64, ProtoError> {
        debug_assert!(n <= 64);
        let mut v = 0u64;
        for _ in 0..n {
            v = (v << 1) | u64::from(self.bit()?);
        }
        Ok(v)
    }

    fn byte(&mut self) -> Result<u8, ProtoError> {
        Ok(self.bits(8)? as u8)
    }

    fn uvarint(&mut self) -> Result<u64, ProtoError> {
        let mut v = 0u64;
        for i in 0..10 {
            let b = self.byte()?;
            if i == 9 && b > 1 {
                break;
            }
            v |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(ProtoError::Invalid(
            "xor chunk has a varint overflowing 64 bits".into(),
        ))
    }

    fn varint(&mut self) -> Result<i64, ProtoError> {
        let u = self.uvarint()?;
        Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
    }
}

/// Decodes one XOR chunk into its samples.
pub fn decode_xor_chunk(data: &[u8]) -> Result<Vec<Sample>, ProtoError> {
    let (header, body) = data
        .split_first_chunk::<2>()
        .ok_or_else(|| ProtoError::Invalid("xor chunk is shorter than its 2-byte header".into()))?;
    let total = usize::from(u16::from_be_bytes(*header));
    let mut r = BitReader {
        bytes: body,
        pos: 0,
    };
    let mut out = Vec::with_capacity(total);
    let (mut t, mut bits, mut t_delta) = (0i64, 0u64, 0u64);
    let (mut leading, mut trailing) = (0u32, 0u32);
    for i in 0..total {
        match i {
            0 => {
                t = r.varint()?;
                bits = r.bits(64)?;
            }
            1 => {
                t_delta = r.uvarint()?;
                t = t.wrapping_add(t_delta as i64);
                read_value(&mut r, &mut bits, &mut leading, &mut trailing)?;
            }
            _ => {
                let mut prefix = 0u8;
                for _ in 0..4 {
                    prefix <<= 1;
                    if !r.bit()? {
                        break;
                    }
                    prefix |= 1;
                }
                let dod = match prefix {
                    0b0 => 0,
                    0b10 => signed(r.bits(14)?, 14),
                    0b110 => signed(r.bits(17)?, 17),
                    0b1110 => signed(r.bits(20)?, 20),
                    _ => r.bits(64)? as i64,
                };
                t_delta = (t_delta as i64).wrapping_add(dod) as u64;
                t = t.wrapping_add(t_delta as i64);
                read_value(&mut r, &mut bits, &mut leading, &mut trailing)?;
            }
        }
        out.push(Sample::new(t, f64::from_bits(bits)));
    }
    Ok(out)
}

/// Sign-extends an `n`-bit bucket value (`2^(n-1)` itself is positive).
fn signed(v: u64, n: u32) -> i64 {
    if v > 1 << (n - 1) {
        (v as i64) - (1i64 << n)
    } else {
        v as i64
    }
}

fn read_value(
    r: &mut BitReader<'_>,
    bits: &mut u64,
    leading: &mut u32,
    trailing: &mut u32,
) -> Result<(), ProtoError> {
    if !r.bit()? {
        return Ok(());
    }
    if r.bit()? {
        *leading = r.bits(5)? as u32;
        let mut sig = r.bits(6)? as u32;
        if sig == 0 {
            sig = 64;
        }
        *trailing = 64u32.checked_sub(*leading + sig).ok_or_else(|| {
            ProtoError::Invalid(format!(
                "xor chunk has {} leading zeros and {sig} meaningful bits, more than 64",
                *leading
            ))
        })?;
    }
    let sig = 64 - *leading - *trailing;
    let x = r.bits(sig)?;
    *bits ^= x.checked_shl(*trailing).unwrap_or(0);
    Ok(())
}

#[cfg(test)]
#[path = "xor_tests.rs"]
mod tests;
