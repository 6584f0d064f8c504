//! Byte-level codec shared by WAL records, block pages and block indexes.
//!
//! Integers are LEB128 varints (signed ones zigzagged), fixed-size ids are raw bytes,
//! strings go through a [`StrOut`] / [`StrIn`] pair: inline (length + UTF-8) in WAL
//! records, or as ids into a per-page string table in blocks. [`Dec`] never panics on
//! malformed input: every read is bounds-checked and returns a [`DecodeError`] saying
//! what was being read.

use oxeye_core::trace::{AnyValue, KeyValue};

use crate::error::DecodeError;
use crate::head::FastMap;

/// Deepest nesting of arrays and key-value lists accepted when decoding.
pub(crate) const MAX_VALUE_DEPTH: usize = 64;

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

/// A bounds-checked reader over a byte slice.
#[derive(Debug, Clone)]
pub(crate) struct Dec<'a> {
    buf: &'a [u8],
    pos: usize,
}

fn err(what: &str, pos: usize) -> DecodeError {
    DecodeError(format!("{what} at byte {pos}"))
}

impl<'a> Dec<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        let b = *self
            .buf
            .get(self.pos)
            .ok_or_else(|| err("unexpected end of data reading a byte", self.pos))?;
        self.pos += 1;
        Ok(b)
    }

    pub fn uvarint(&mut self) -> Result<u64, DecodeError> {
        let mut v = 0u64;
        let mut shift = 0u32;
        loop {
            let b = self.u8()?;
            if shift == 63 && b > 1 {
                return Err(err("varint overflows 64 bits", self.pos));
            }
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
            shift += 7;
            if shift > 63 {
                return Err(err("varint longer than 10 bytes", self.pos));
            }
        }
    }

    pub fn ivarint(&mut self) -> Result<i64, DecodeError> {
        let u = self.uvarint()?;
        Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
    }

    pub fn u32v(&mut self) -> Result<u32, DecodeError> {
        let pos = self.pos;
        u32::try_from(self.uvarint()?).map_err(|_| err("value does not fit 32 bits", pos))
    }

    /// A count of items each taking at least `min_item_bytes`; bounded by what is left so
    /// a corrupt count cannot make the caller allocate without limit.
    pub fn count(&mut self, min_item_bytes: usize) -> Result<usize, DecodeError> {
        let pos = self.pos;
        let n = self.uvarint()?;
        let max = self.remaining() / min_item_bytes.max(1);
        if n > max as u64 {
            return Err(err(
                &format!(
                    "count {n} exceeds what the remaining {} bytes can hold",
                    self.remaining()
                ),
                pos,
            ));
        }
        Ok(n as usize)
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| {
                err(
                    &format!("unexpected end of data reading {n} bytes"),
                    self.pos,
                )
            })?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let s = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(s);
        Ok(out)
    }

    pub fn u64le(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    pub fn u32le(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    pub fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let n = self.count(1)?;
        self.take(n)
    }

    pub fn str(&mut self) -> Result<&'a str, DecodeError> {
        let pos = self.pos;
        let b = self.bytes()?;
        std::str::from_utf8(b).map_err(|_| err("string is not valid utf-8", pos))
    }
}

/// How strings are written.
pub(crate) trait StrOut {
    fn put(&mut self, buf: &mut Vec<u8>, s: &str);
}

/// How strings are read back.
pub(crate) trait StrIn {
    fn get(&self, d: &mut Dec<'_>) -> Result<String, DecodeError>;
}

/// Strings written in place: length and bytes.
pub(crate) struct Inline;

impl StrOut for Inline {
    fn put(&mut self, buf: &mut Vec<u8>, s: &str) {
        put_bytes(buf, s.as_bytes());
    }
}

impl StrIn for Inline {
    fn get(&self, d: &mut Dec<'_>) -> Result<String, DecodeError> {
        d.str().map(str::to_owned)
    }
}

/// Strings as ids into a table built while encoding. Strings are kept once, in one
/// buffer; lookups go by a 64-bit hash, verified against the stored string (a colliding
/// string falls back to an exact map).
#[derive(Default)]
pub(crate) struct StrTable {
    by_hash: FastMap<u64, u32>,
    collided: FastMap<String, u32>,
    buf: String,
    ends: Vec<usize>,
}

impl StrTable {
    /// A table sized for about `strings` distinct strings of `bytes` in total.
    pub fn with_capacity(strings: usize, bytes: usize) -> StrTable {
        StrTable {
            by_hash: FastMap::with_capacity_and_hasher(strings, Default::default()),
            collided: FastMap::default(),
            buf: String::with_capacity(bytes),
            ends: Vec::with_capacity(strings),
        }
    }

    fn get(&self, id: u32) -> &str {
        let i = id as usize;
        let start = if i == 0 {
            0
        } else {
            self.ends.get(i - 1).copied().unwrap_or(0)
        };
        let end = self.ends.get(i).copied().unwrap_or(start);
        self.buf.get(start..end).unwrap_or_default()
    }

    fn push(&mut self, s: &str) -> u32 {
        let id = self.ends.len() as u32;
        self.buf.push_str(s);
        self.ends.push(self.buf.len());
        id
    }

    pub fn id(&mut self, s: &str) -> u32 {
        let h = xxhash_rust::xxh3::xxh3_64(s.as_bytes());
        match self.by_hash.get(&h) {
            Some(&id) if self.get(id) == s => id,
            Some(_) => {
                if let Some(&id) = self.collided.get(s) {
                    return id;
                }
                let id = self.push(s);
                self.collided.insert(s.to_owned(), id);
                id
            }
            None => {
                let id = self.push(s);
                self.by_hash.insert(h, id);
                id
            }
        }
    }

    /// Bytes the table takes when encoded (about).
    pub fn bytes(&self) -> usize {
        self.buf.len() + 2 * self.ends.len()
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        put_uvarint(out, self.ends.len() as u64);
        let mut start = 0;
        for &end in &self.ends {
            put_bytes(out, self.buf.as_bytes().get(start..end).unwrap_or_default());
            start = end;
        }
    }
}

impl StrOut for StrTable {
    fn put(&mut self, buf: &mut Vec<u8>, s: &str) {
        let id = self.id(s);
        put_uvarint(buf, u64::from(id));
    }
}

/// A decoded string table, borrowing the page it was read from.
pub(crate) struct StrList<'a>(pub Vec<&'a str>);

impl<'a> StrList<'a> {
    pub fn decode(d: &mut Dec<'a>) -> Result<StrList<'a>, DecodeError> {
        let n = d.count(1)?;
        let mut list = Vec::with_capacity(n);
        for _ in 0..n {
            list.push(d.str()?);
        }
        Ok(StrList(list))
    }
}

impl StrIn for StrList<'_> {
    fn get(&self, d: &mut Dec<'_>) -> Result<String, DecodeError> {
        let id = d.uvarint()?;
        usize::try_from(id)
            .ok()
            .and_then(|i| self.0.get(i))
            .map(|s| (*s).to_owned())
            .ok_or_else(|| {
                DecodeError(format!(
                    "string id {id} outside a table of {}",
                    self.0.len()
                ))
            })
    }
}

const V_EMPTY: u8 = 0;
const V_STRING: u8 = 1;
const V_BOOL: u8 = 2;
const V_INT: u8 = 3;
const V_DOUBLE: u8 = 4;
const V_ARRAY: u8 = 5;
const V_KVLIST: u8 = 6;
const V_BYTES: u8 = 7;

pub(crate) fn put_value(buf: &mut Vec<u8>, s: &mut dyn StrOut, v: &AnyValue) {
    match v {
        AnyValue::Empty => buf.push(V_EMPTY),
        AnyValue::String(x) => {
            buf.push(V_STRING);
            s.put(buf, x);
        }
        AnyValue::Bool(b) => {
            buf.push(V_BOOL);
            buf.push(u8::from(*b));
        }
        AnyValue::Int(i) => {
            buf.push(V_INT);
            put_ivarint(buf, *i);
        }
        AnyValue::Double(d) => {
            buf.push(V_DOUBLE);
            buf.extend_from_slice(&d.to_bits().to_le_bytes());
        }
        AnyValue::Array(a) => {
            buf.push(V_ARRAY);
            put_uvarint(buf, a.len() as u64);
            for x in a {
                put_value(buf, s, x);
            }
        }
        AnyValue::KvList(kvs) => {
            buf.push(V_KVLIST);
            put_attrs(buf, s, kvs);
        }
        AnyValue::Bytes(b) => {
            buf.push(V_BYTES);
            put_bytes(buf, b);
        }
    }
}

pub(crate) fn put_attrs(buf: &mut Vec<u8>, s: &mut dyn StrOut, kvs: &[KeyValue]) {
    put_uvarint(buf, kvs.len() as u64);
    for kv in kvs {
        s.put(buf, &kv.key);
        put_value(buf, s, &kv.value);
    }
}

pub(crate) fn get_value(
    d: &mut Dec<'_>,
    s: &dyn StrIn,
    depth: usize,
) -> Result<AnyValue, DecodeError> {
    if depth > MAX_VALUE_DEPTH {
        return Err(DecodeError(format!(
            "attribute values nested deeper than {MAX_VALUE_DEPTH} levels"
        )));
    }
    let tag = d.u8()?;
    Ok(match tag {
        V_EMPTY => AnyValue::Empty,
        V_STRING => AnyValue::String(s.get(d)?),
        V_BOOL => AnyValue::Bool(d.u8()? != 0),
        V_INT => AnyValue::Int(d.ivarint()?),
        V_DOUBLE => AnyValue::Double(f64::from_bits(d.u64le()?)),
        V_ARRAY => {
            let n = d.count(1)?;
            let mut out = Vec::with_capacity(n);
            for _ in 0..n {
                out.push(get_value(d, s, depth + 1)?);
            }
            AnyValue::Array(out)
        }
        V_KVLIST => AnyValue::KvList(get_attrs_at(d, s, depth + 1)?),
        V_BYTES => AnyValue::Bytes(d.bytes()?.to_vec()),
        other => return Err(DecodeError(format!("unknown attribute value type {other}"))),
    })
}

fn get_attrs_at(
    d: &mut Dec<'_>,
    s: &dyn StrIn,
    depth: usize,
) -> Result<Vec<KeyValue>, DecodeError> {
    let n = d.count(2)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let key = s.get(d)?;
        let value = get_value(d, s, depth)?;
        out.push(KeyValue { key, value });
    }
    Ok(out)
}

/// Reads past a value written with string ids, without building it.
pub(crate) fn skip_value(d: &mut Dec<'_>, depth: usize) -> Result<(), DecodeError> {
    if depth > MAX_VALUE_DEPTH {
        return Err(DecodeError(format!(
            "attribute values nested deeper than {MAX_VALUE_DEPTH} levels"
        )));
    }
    match d.u8()? {
        V_EMPTY => {}
        V_STRING => {
            d.uvarint()?;
        }
        V_BOOL => {
            d.u8()?;
        }
        V_INT => {
            d.uvarint()?;
        }
        V_DOUBLE => {
            d.take(8)?;
        }
        V_ARRAY => {
            let n = d.count(1)?;
            for _ in 0..n {
                skip_value(d, depth + 1)?;
            }
        }
        V_KVLIST => skip_attrs_at(d, depth + 1)?,
        V_BYTES => {
            d.bytes()?;
        }
        other => return Err(DecodeError(format!("unknown attribute value type {other}"))),
    }
    Ok(())
}

fn skip_attrs_at(d: &mut Dec<'_>, depth: usize) -> Result<(), DecodeError> {
    let n = d.count(2)?;
    for _ in 0..n {
        d.uvarint()?;
        skip_value(d, depth)?;
    }
    Ok(())
}

/// Reads past attributes written with string ids.
pub(crate) fn skip_attrs(d: &mut Dec<'_>) -> Result<(), DecodeError> {
    skip_attrs_at(d, 0)
}

pub(crate) fn get_attrs(d: &mut Dec<'_>, s: &dyn StrIn) -> Result<Vec<KeyValue>, DecodeError> {
    get_attrs_at(d, s, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_and_reject_garbage() {
        let mut buf = Vec::new();
        let vals = [0u64, 1, 127, 128, 300, u64::MAX];
        for v in vals {
            put_uvarint(&mut buf, v);
        }
        for v in [0i64, -1, 1, i64::MIN, i64::MAX] {
            put_ivarint(&mut buf, v);
        }
        let mut d = Dec::new(&buf);
        for v in vals {
            assert_eq!(d.uvarint().unwrap(), v);
        }
        for v in [0i64, -1, 1, i64::MIN, i64::MAX] {
            assert_eq!(d.ivarint().unwrap(), v);
        }
        assert!(d.is_empty());
        assert!(d.u8().is_err());
        let bad = [0xffu8; 11];
        assert!(Dec::new(&bad).uvarint().is_err());
        // a count larger than the data left is refused before any allocation
        let mut buf = Vec::new();
        put_uvarint(&mut buf, 1 << 40);
        assert!(Dec::new(&buf).count(1).is_err());
    }

    #[test]
    fn values_round_trip_through_both_string_codecs() {
        let v = AnyValue::KvList(vec![
            KeyValue::string("s", "x"),
            KeyValue::new(
                "a",
                AnyValue::Array(vec![AnyValue::Int(-3), AnyValue::Bool(true)]),
            ),
            KeyValue::new("d", AnyValue::Double(1.5)),
            KeyValue::new("b", AnyValue::Bytes(vec![0, 255])),
            KeyValue::new("e", AnyValue::Empty),
        ]);
        let mut buf = Vec::new();
        put_value(&mut buf, &mut Inline, &v);
        assert_eq!(get_value(&mut Dec::new(&buf), &Inline, 0).unwrap(), v);

        let mut table = StrTable::default();
        let mut body = Vec::new();
        put_value(&mut body, &mut table, &v);
        let mut tbuf = Vec::new();
        table.encode(&mut tbuf);
        let list = StrList::decode(&mut Dec::new(&tbuf)).unwrap();
        assert_eq!(get_value(&mut Dec::new(&body), &list, 0).unwrap(), v);
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let mut buf = Vec::new();
        for _ in 0..10_000 {
            buf.push(V_ARRAY);
            buf.push(1);
        }
        buf.push(V_EMPTY);
        assert!(get_value(&mut Dec::new(&buf), &Inline, 0).is_err());
    }
}
