//! LEB128 varints, zigzag and a bounds-checked byte reader.

use super::CodecError;

#[inline]
pub(crate) fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

#[inline]
pub(crate) fn unzigzag(u: u64) -> i64 {
    ((u >> 1) as i64) ^ -((u & 1) as i64)
}

#[inline]
pub(crate) fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

#[inline]
pub(crate) fn put_varint(out: &mut Vec<u8>, v: i64) {
    put_uvarint(out, zigzag(v));
}

/// Reads from a byte slice; every read past the end is a [`CodecError::Truncated`].
#[derive(Clone, Debug)]
pub(crate) struct ByteReader<'a> {
    buf: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> ByteReader<'a> {
    pub(crate) fn new(buf: &'a [u8], what: &'static str) -> Self {
        Self { buf, pos: 0, what }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    pub(crate) fn truncated(&self) -> CodecError {
        CodecError::Truncated(format!("{} ends at byte {}", self.what, self.buf.len()))
    }

    pub(crate) fn corrupt(&self, detail: impl std::fmt::Display) -> CodecError {
        CodecError::Corrupt(format!("{} at byte {}: {detail}", self.what, self.pos))
    }

    #[inline]
    pub(crate) fn u8(&mut self) -> Result<u8, CodecError> {
        let b = *self.buf.get(self.pos).ok_or_else(|| self.truncated())?;
        self.pos += 1;
        Ok(b)
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        let end = self.pos.checked_add(n).ok_or_else(|| self.truncated())?;
        let b = self
            .buf
            .get(self.pos..end)
            .ok_or_else(|| self.truncated())?;
        self.pos = end;
        Ok(b)
    }

    pub(crate) fn u64_le(&mut self) -> Result<u64, CodecError> {
        let b = self.bytes(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    /// A LEB128 varint; one-byte values (most deltas) take the first branch.
    #[inline(always)]
    pub(crate) fn uvarint(&mut self) -> Result<u64, CodecError> {
        if let Some(&b) = self.buf.get(self.pos)
            && b < 0x80
        {
            self.pos += 1;
            return Ok(u64::from(b));
        }
        self.uvarint_long()
    }

    #[inline(never)]
    fn uvarint_long(&mut self) -> Result<u64, CodecError> {
        let mut v = 0u64;
        let mut shift = 0u32;
        loop {
            let b = self.u8()?;
            if shift == 63 && b > 1 {
                return Err(self.corrupt("varint overflows 64 bits"));
            }
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(v);
            }
            shift += 7;
            if shift > 63 {
                return Err(self.corrupt("varint longer than 10 bytes"));
            }
        }
    }

    #[inline(always)]
    pub(crate) fn varint(&mut self) -> Result<i64, CodecError> {
        self.uvarint().map(unzigzag)
    }

    /// A varint that must fit `usize` and be at most `max` (a sanity bound against corrupt counts).
    pub(crate) fn len(&mut self, max: usize, what: &str) -> Result<usize, CodecError> {
        let v = self.uvarint()?;
        match usize::try_from(v) {
            Ok(n) if n <= max => Ok(n),
            _ => Err(self.corrupt(format!("{what} {v} exceeds the limit {max}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip() {
        let vals = [0i64, 1, -1, 63, -64, 64, 1 << 40, i64::MAX, i64::MIN];
        let mut buf = Vec::new();
        for &v in &vals {
            put_varint(&mut buf, v);
            put_uvarint(&mut buf, v as u64);
        }
        let mut r = ByteReader::new(&buf, "test");
        for &v in &vals {
            assert_eq!(r.varint().unwrap(), v);
            assert_eq!(r.uvarint().unwrap(), v as u64);
        }
        assert!(r.is_empty());
        assert!(r.u8().is_err());
        for (v, len) in [(0u64, 1), (127, 1), (128, 2), (u64::MAX, 10)] {
            let mut b = Vec::new();
            put_uvarint(&mut b, v);
            assert_eq!(b.len(), len);
        }
        let mut r = ByteReader::new(&[0xff; 11], "test");
        assert!(r.uvarint().is_err());
    }
}
