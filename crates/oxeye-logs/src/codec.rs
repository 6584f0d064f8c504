//! Byte-level helpers shared by WAL records, chunks and chunk files: LEB128 varints,
//! zigzag, length-prefixed strings, and a bounds-checked reader that turns every
//! truncation or bad value into a [`DecodeError`] naming what was being read.

use crate::error::DecodeError;

pub(crate) fn put_uvarint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

pub(crate) fn put_ivarint(buf: &mut Vec<u8>, v: i64) {
    put_uvarint(buf, ((v << 1) ^ (v >> 63)) as u64);
}

pub(crate) fn put_bytes(buf: &mut Vec<u8>, b: &[u8]) {
    put_uvarint(buf, b.len() as u64);
    buf.extend_from_slice(b);
}

/// A cursor over bytes read from disk or a WAL record.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    pub fn pos(&self) -> usize {
        self.pos
    }

    fn err(&self, what: &str) -> DecodeError {
        DecodeError(format!("truncated or invalid {what} at byte {}", self.pos))
    }

    pub fn u8(&mut self, what: &str) -> Result<u8, DecodeError> {
        let b = *self.buf.get(self.pos).ok_or_else(|| self.err(what))?;
        self.pos += 1;
        Ok(b)
    }

    pub fn fixed<const N: usize>(&mut self, what: &str) -> Result<[u8; N], DecodeError> {
        let s = self.take(N, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(s);
        Ok(out)
    }

    pub fn u32_le(&mut self, what: &str) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.fixed::<4>(what)?))
    }

    pub fn u64_le(&mut self, what: &str) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.fixed::<8>(what)?))
    }

    pub fn uvarint(&mut self, what: &str) -> Result<u64, DecodeError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8(what)?;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(self.err(what))
    }

    pub fn ivarint(&mut self, what: &str) -> Result<i64, DecodeError> {
        let u = self.uvarint(what)?;
        Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
    }

    /// A count or length that must not exceed what is left of the buffer times `min_size`
    /// per item (so a corrupt length cannot make a reader allocate without bound).
    pub fn len(&mut self, what: &str, min_size: usize) -> Result<usize, DecodeError> {
        let n = self.uvarint(what)?;
        let left = (self.buf.len() - self.pos.min(self.buf.len())) as u64;
        if n.saturating_mul(min_size as u64) > left {
            return Err(DecodeError(format!(
                "{what} {n} at byte {} exceeds the {left} bytes left",
                self.pos
            )));
        }
        usize::try_from(n).map_err(|_| self.err(what))
    }

    pub fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n).ok_or_else(|| self.err(what))?;
        let s = self.buf.get(self.pos..end).ok_or_else(|| self.err(what))?;
        self.pos = end;
        Ok(s)
    }

    pub fn bytes(&mut self, what: &str) -> Result<&'a [u8], DecodeError> {
        let n = self.len(what, 1)?;
        self.take(n, what)
    }

    pub fn string(&mut self, what: &str) -> Result<String, DecodeError> {
        let b = self.bytes(what)?;
        std::str::from_utf8(b)
            .map(str::to_owned)
            .map_err(|_| DecodeError(format!("{what} at byte {} is not utf-8", self.pos)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_and_truncation_is_an_error() {
        let mut b = Vec::new();
        for v in [0u64, 1, 127, 128, 300, u64::MAX] {
            put_uvarint(&mut b, v);
        }
        for v in [0i64, -1, 1, i64::MIN, i64::MAX] {
            put_ivarint(&mut b, v);
        }
        put_bytes(&mut b, b"hello");
        let mut r = Reader::new(&b);
        for v in [0u64, 1, 127, 128, 300, u64::MAX] {
            assert_eq!(r.uvarint("v").unwrap(), v);
        }
        for v in [0i64, -1, 1, i64::MIN, i64::MAX] {
            assert_eq!(r.ivarint("v").unwrap(), v);
        }
        assert_eq!(r.string("s").unwrap(), "hello");
        assert!(r.is_empty());
        assert!(r.u8("x").is_err());
        let mut r = Reader::new(&[0x80, 0x80]);
        assert!(r.uvarint("v").is_err());
        let mut r = Reader::new(&[0x7f, 1]);
        assert!(r.bytes("line").is_err());
    }
}
