//! Chunks: a run of one stream's entries, sorted by time, encoded column by column and
//! compressed with zstd, with the metadata the time index needs and a [`LineFilter`].
//!
//! Payload layout before compression (all integers LEB128 varints):
//! ```text
//! version u8 | count
//! timestamps   scale u8 (e: every delta is a multiple of 10^e), first (zigzag), width
//!              u8 (w: bytes of the largest delta / 10^e), then the count-1 deltas / 10^e
//!              (sorted, so never negative) as w byte planes, low byte first: planes
//!              of small or random digits compress better than interleaved varints
//! line lengths count values
//! metadata     dictionary: size, then strings; per entry: pair count, then per pair the
//!              name's id and the value: id << 1, or (offset in the line << 1 | 1, length)
//!              when the value (8 bytes or more) occurs in the line, as trace ids do
//! lines        version 2: the line bytes, back to back; version 3 (written now): the
//!              hex and number columns (length-prefixed) then the text column of
//!              [`crate::hexruns`]
//! ```
//! Grouping like with like (all timestamps, then all lengths, then all lines) lets zstd
//! find longer matches than a row layout does; see the crate documentation for figures.

use std::collections::HashMap;

use oxeye_core::logs::LogEntry;

use crate::codec::{Reader, put_bytes, put_ivarint, put_uvarint};
use crate::error::DecodeError;
use crate::filter::LineFilter;
use crate::mdfilter::MetaFilter;

/// The largest uncompressed payload a chunk may claim (a corrupt size cannot make a
/// reader allocate more).
pub(crate) const MAX_RAW_LEN: usize = 1 << 30;

/// What the index keeps of a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct ChunkMeta {
    pub min_ts: i64,
    pub max_ts: i64,
    pub entries: u32,
    pub line_bytes: u64,
    /// Bytes of the payload before compression.
    pub raw_len: u32,
    /// CRC32 of the compressed bytes.
    pub crc: u32,
}

impl ChunkMeta {
    pub fn overlaps(&self, start: i64, end: i64) -> bool {
        self.min_ts < end && self.max_ts >= start
    }
}

/// A chunk ready to be written or read from memory.
#[derive(Debug, Clone)]
pub(crate) struct EncodedChunk {
    pub meta: ChunkMeta,
    pub data: Vec<u8>,
    pub filter: LineFilter,
    /// The filter of the entries' structured-metadata pairs.
    pub md_filter: MetaFilter,
}

impl EncodedChunk {
    /// Bytes held in memory.
    pub fn mem_bytes(&self) -> usize {
        self.data.len() + self.filter.encoded_len() + self.md_filter.encoded_len() + 64
    }

    #[cfg(test)]
    pub fn decode(&self) -> Result<Vec<LogEntry>, DecodeError> {
        decode_chunk(&self.meta, &self.data, &|_, _| true)
    }

    pub fn decode_with(&self, keep: Keep<'_>) -> Result<Vec<LogEntry>, DecodeError> {
        decode_chunk(&self.meta, &self.data, keep)
    }
}

/// Sorts by (time, line) and drops entries repeating both time and line (Loki's rule for
/// duplicates), keeping the first one's metadata.
pub(crate) fn sort_dedup(entries: &mut Vec<LogEntry>) {
    if !entries.windows(2).all(|w| key_le(&w[0], &w[1])) {
        entries.sort_by(|a, b| (a.ts_ns, &a.line).cmp(&(b.ts_ns, &b.line)));
    }
    entries.dedup_by(|b, a| a.ts_ns == b.ts_ns && a.line == b.line);
}

fn key_le(a: &LogEntry, b: &LogEntry) -> bool {
    (a.ts_ns, &a.line) <= (b.ts_ns, &b.line)
}

/// Payload format version written; version 2 (lines as they are) is still read.
const PAYLOAD_VERSION: u8 = 3;
/// Metadata values at least this long are looked up in their line and stored as a
/// reference when found there (trace ids sent both in the line and as metadata).
const MIN_LINE_REF: usize = 8;

/// The largest power of ten (up to 1e9) dividing every timestamp delta, as an exponent.
fn delta_scale(entries: &[LogEntry]) -> u32 {
    let mut exp = 9;
    for w in entries.windows(2) {
        let d = w[1].ts_ns.wrapping_sub(w[0].ts_ns) as u64;
        while exp > 0 && d % 10u64.pow(exp) != 0 {
            exp -= 1;
        }
        if exp == 0 {
            break;
        }
    }
    exp
}

/// Encodes the columnar payload of `entries` (sorted by time) into `buf`.
pub(crate) fn encode_payload(entries: &[LogEntry], buf: &mut Vec<u8>) {
    encode_payload_version(entries, buf, PAYLOAD_VERSION);
}

/// [`encode_payload`] in format `version` (2 or 3; tests write 2 to check it is read).
fn encode_payload_version(entries: &[LogEntry], buf: &mut Vec<u8>, version: u8) {
    debug_assert!(entries.windows(2).all(|w| w[0].ts_ns <= w[1].ts_ns));
    debug_assert!(version == 2 || version == PAYLOAD_VERSION);
    buf.push(version);
    put_uvarint(buf, entries.len() as u64);
    let exp = delta_scale(entries);
    buf.push(exp as u8);
    let div = 10u64.pow(exp);
    put_ivarint(buf, entries.first().map_or(0, |e| e.ts_ns));
    let deltas: Vec<u64> = entries
        .windows(2)
        .map(|w| w[1].ts_ns.wrapping_sub(w[0].ts_ns) as u64 / div)
        .collect();
    let max = deltas.iter().copied().max().unwrap_or(0);
    let width = (64 - max.leading_zeros()).div_ceil(8);
    buf.push(width as u8);
    for k in 0..width {
        buf.extend(deltas.iter().map(|d| (d >> (8 * k)) as u8));
    }
    for e in entries {
        put_uvarint(buf, e.line.len() as u64);
    }
    let mut dict: HashMap<&str, u64> = HashMap::new();
    let mut order: Vec<&str> = Vec::new();
    let mut refs = Vec::new();
    for e in entries {
        put_uvarint(&mut refs, e.metadata.len() as u64);
        for (n, v) in &e.metadata {
            let next = order.len() as u64;
            let name_id = *dict.entry(n.as_str()).or_insert_with(|| {
                order.push(n.as_str());
                next
            });
            put_uvarint(&mut refs, name_id);
            // values: even tag = dictionary id << 1; odd tag = line offset << 1 | 1, then length
            if v.len() >= MIN_LINE_REF
                && let Some(at) = e.line.find(v.as_str())
            {
                put_uvarint(&mut refs, ((at as u64) << 1) | 1);
                put_uvarint(&mut refs, v.len() as u64);
                continue;
            }
            let next = order.len() as u64;
            let value_id = *dict.entry(v.as_str()).or_insert_with(|| {
                order.push(v.as_str());
                next
            });
            put_uvarint(&mut refs, value_id << 1);
        }
    }
    put_uvarint(buf, order.len() as u64);
    for s in order {
        put_bytes(buf, s.as_bytes());
    }
    buf.extend_from_slice(&refs);
    if version == 2 {
        for e in entries {
            buf.extend_from_slice(e.line.as_bytes());
        }
        return;
    }
    let mut cols = crate::hexruns::Columns::default();
    for e in entries {
        crate::hexruns::encode_line(e.line.as_bytes(), &mut cols);
    }
    put_bytes(buf, &cols.hex);
    put_bytes(buf, &cols.numbers);
    buf.extend_from_slice(&cols.text);
}

/// Decodes a payload written by [`encode_payload`].
#[cfg(test)]
pub(crate) fn decode_payload(payload: &[u8]) -> Result<Vec<LogEntry>, DecodeError> {
    decode_payload_with(payload, &|_, _| true).map(|(es, _)| es)
}

/// Which entries a reader wants (by time and line), checked before any allocation.
pub(crate) type Keep<'a> = &'a dyn Fn(i64, &str) -> bool;

/// Decodes the entries `keep` accepts; returns them and the chunk's entry count.
fn decode_payload_with(
    payload: &[u8],
    keep: Keep<'_>,
) -> Result<(Vec<LogEntry>, usize), DecodeError> {
    let mut r = Reader::new(payload);
    let v = r.u8("payload version")?;
    if v != PAYLOAD_VERSION && v != 2 {
        return Err(DecodeError(format!("unknown chunk payload version {v}")));
    }
    let n = r.len("entry count", 3)?;
    let exp = u32::from(r.u8("timestamp scale")?);
    if exp > 9 {
        return Err(DecodeError(format!("timestamp scale 1e{exp} out of range")));
    }
    let mul = 10u64.pow(exp);
    let first = r.ivarint("first timestamp")?;
    let width = usize::from(r.u8("timestamp delta width")?);
    if width > 8 {
        return Err(DecodeError(format!(
            "timestamp delta width {width} out of range"
        )));
    }
    let mut deltas = vec![0u64; n.saturating_sub(1)];
    for k in 0..width {
        let plane = r.take(deltas.len(), "timestamp delta plane")?;
        for (d, b) in deltas.iter_mut().zip(plane) {
            *d |= u64::from(*b) << (8 * k);
        }
    }
    let mut ts = Vec::with_capacity(n);
    if n > 0 {
        ts.push(first);
    }
    let mut prev = first;
    for (i, d) in deltas.into_iter().enumerate() {
        // deltas were taken with wrapping arithmetic (a chunk may span the whole i64
        // range); an overflowing delta times its scale is corruption
        let d = d
            .checked_mul(mul)
            .ok_or_else(|| DecodeError(format!("timestamp delta {} overflows", i + 1)))?;
        let t = prev.wrapping_add(d as i64);
        if t < prev {
            return Err(DecodeError(format!("timestamp {} goes backwards", i + 1)));
        }
        ts.push(t);
        prev = t;
    }
    let mut lens = Vec::with_capacity(n);
    for _ in 0..n {
        lens.push(r.len("line length", 1)?);
    }
    let dict_len = r.len("metadata dictionary size", 1)?;
    let mut dict = Vec::with_capacity(dict_len);
    for _ in 0..dict_len {
        dict.push(r.string("metadata string")?);
    }
    let check = |id: u64| -> Result<usize, DecodeError> {
        usize::try_from(id)
            .ok()
            .filter(|i| *i < dict.len())
            .ok_or_else(|| DecodeError(format!("metadata id {id} outside the dictionary")))
    };
    let mut metas: Vec<Vec<(usize, MdValue)>> = Vec::with_capacity(n);
    for _ in 0..n {
        let pairs = r.len("metadata pair count", 2)?;
        let mut md = Vec::with_capacity(pairs);
        for _ in 0..pairs {
            let name = check(r.uvarint("metadata name id")?)?;
            let tag = r.uvarint("metadata value")?;
            if tag & 1 == 1 {
                let at = usize::try_from(tag >> 1)
                    .map_err(|_| DecodeError("metadata offset too large".into()))?;
                let len = usize::try_from(r.uvarint("metadata length")?)
                    .map_err(|_| DecodeError("metadata length too large".into()))?;
                md.push((name, MdValue::InLine(at, len)));
            } else {
                md.push((name, MdValue::Dict(check(tag >> 1)?)));
            }
        }
        metas.push(md);
    }
    let total = lens
        .iter()
        .try_fold(0usize, |a, l| a.checked_add(*l))
        .ok_or_else(|| DecodeError("line lengths overflow".into()))?;
    let (hex, numbers) = if v == 2 {
        (&[][..], &[][..])
    } else {
        (r.bytes("hex column")?, r.bytes("number column")?)
    };
    let rest = r.take(payload.len() - r.pos(), "lines")?;
    let rebuilt;
    let lines = if v == 2 {
        rest
    } else {
        rebuilt = crate::hexruns::decode_parts(rest, hex, numbers, total)?;
        &rebuilt[..]
    };
    let mut r = Reader::new(lines);
    let mut out = Vec::new();
    for ((t, len), md) in ts.into_iter().zip(lens).zip(metas) {
        let b = r.take(len, "line")?;
        let line = std::str::from_utf8(b)
            .map_err(|_| DecodeError(format!("line at byte {} is not utf-8", r.pos())))?;
        if !keep(t, line) {
            continue;
        }
        let mut metadata = Vec::with_capacity(md.len());
        for (name, v) in md {
            let name = dict.get(name).cloned().unwrap_or_default();
            let value = match v {
                MdValue::Dict(i) => dict.get(i).cloned().unwrap_or_default(),
                MdValue::InLine(at, l) => at
                    .checked_add(l)
                    .and_then(|end| line.get(at..end))
                    .map(str::to_owned)
                    .ok_or_else(|| {
                        DecodeError(format!("metadata {name} points outside its line"))
                    })?,
            };
            metadata.push((name, value));
        }
        out.push(LogEntry {
            ts_ns: t,
            line: line.to_owned(),
            metadata,
        });
    }
    if !r.is_empty() {
        return Err(DecodeError(format!(
            "{} bytes left after the last line",
            lines.len() - r.pos()
        )));
    }
    Ok((out, n))
}

/// A metadata value: a dictionary string or a piece of the entry's line.
#[derive(Clone, Copy)]
enum MdValue {
    Dict(usize),
    InLine(usize, usize),
}

/// Encodes `entries` (sorted by time, non-empty) into a compressed chunk with its filters.
pub(crate) fn encode_chunk(entries: &[LogEntry], level: i32) -> EncodedChunk {
    let line_bytes: usize = entries.iter().map(|e| e.line.len()).sum();
    let mut payload = Vec::with_capacity(line_bytes + entries.len() * 8 + 64);
    encode_payload(entries, &mut payload);
    let data = zstd::bulk::compress(&payload, level).unwrap_or_else(|e| {
        // compressing into a growable buffer fails only on allocation or a bad level;
        // store the chunk at the default level instead of losing it
        tracing::warn!(error = %e, level, "zstd failed; retrying at the default level");
        zstd::bulk::compress(&payload, 0).unwrap_or_default()
    });
    let filter = LineFilter::build(entries.iter().map(|e| e.line.as_bytes()));
    let md_filter = MetaFilter::build(entries);
    let meta = ChunkMeta {
        min_ts: entries.first().map_or(0, |e| e.ts_ns),
        max_ts: entries.last().map_or(0, |e| e.ts_ns),
        entries: entries.len() as u32,
        line_bytes: line_bytes as u64,
        raw_len: u32::try_from(payload.len()).unwrap_or(u32::MAX),
        crc: crc32fast::hash(&data),
    };
    EncodedChunk {
        meta,
        data,
        filter,
        md_filter,
    }
}

/// The same chunk compressed at `level` (its filter and metadata kept).
pub(crate) fn recompress(c: &EncodedChunk, level: i32) -> Result<EncodedChunk, DecodeError> {
    let payload = zstd::bulk::decompress(&c.data, c.meta.raw_len as usize)
        .map_err(|e| DecodeError(format!("chunk does not decompress: {e}")))?;
    let data = zstd::bulk::compress(&payload, level)
        .map_err(|e| DecodeError(format!("chunk does not compress at level {level}: {e}")))?;
    let meta = ChunkMeta {
        crc: crc32fast::hash(&data),
        ..c.meta
    };
    Ok(EncodedChunk {
        meta,
        data,
        filter: c.filter.clone(),
        md_filter: c.md_filter.clone(),
    })
}

/// Verifies and decodes a compressed chunk.
pub(crate) fn decode_chunk(
    meta: &ChunkMeta,
    data: &[u8],
    keep: Keep<'_>,
) -> Result<Vec<LogEntry>, DecodeError> {
    let crc = crc32fast::hash(data);
    if crc != meta.crc {
        return Err(DecodeError(format!(
            "chunk checksum mismatch: stored {:08x}, computed {crc:08x}",
            meta.crc
        )));
    }
    let raw_len = meta.raw_len as usize;
    if raw_len > MAX_RAW_LEN {
        return Err(DecodeError(format!(
            "chunk claims {raw_len} bytes uncompressed"
        )));
    }
    let payload = zstd::bulk::decompress(data, raw_len)
        .map_err(|e| DecodeError(format!("chunk does not decompress: {e}")))?;
    if payload.len() != raw_len {
        return Err(DecodeError(format!(
            "chunk decompressed to {} bytes, expected {raw_len}",
            payload.len()
        )));
    }
    let (entries, n) = decode_payload_with(&payload, keep)?;
    if n != meta.entries as usize {
        return Err(DecodeError(format!(
            "chunk holds {n} entries, its index says {}",
            meta.entries
        )));
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(ts: i64, line: &str, md: &[(&str, &str)]) -> LogEntry {
        LogEntry {
            ts_ns: ts,
            line: line.into(),
            metadata: md.iter().map(|(n, v)| ((*n).into(), (*v).into())).collect(),
        }
    }

    #[test]
    fn round_trips_with_metadata() {
        let mut es = vec![
            entry(30, "c", &[("trace_id", "abc"), ("level", "info")]),
            entry(-5, "a", &[]),
            entry(10, "b", &[("trace_id", "abd")]),
            entry(10, "b", &[("trace_id", "other")]),
            entry(10, "a ünïcode", &[("trace_id", "abc")]),
            entry(
                40,
                "trace_id=4bf92f3577b34da6 ok",
                &[("trace_id", "4bf92f3577b34da6")],
            ),
        ];
        sort_dedup(&mut es);
        assert_eq!(es.len(), 5);
        let c = encode_chunk(&es, 1);
        let c = recompress(&c, 11).unwrap();
        assert_eq!(c.meta.min_ts, -5);
        assert_eq!(c.meta.max_ts, 40);
        assert_eq!(c.meta.entries, 5);
        assert_eq!(c.decode().unwrap(), es);
    }

    #[test]
    fn version_2_payloads_still_decode() {
        let entries = vec![
            entry(1, "trace_id=4bf92f3577b34da6a3ce929d0e0e4736 ok", &[]),
            entry(
                2,
                "plain line",
                &[("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736")],
            ),
        ];
        for version in [2, PAYLOAD_VERSION] {
            let mut buf = Vec::new();
            encode_payload_version(&entries, &mut buf, version);
            assert_eq!(buf.first(), Some(&version));
            assert_eq!(decode_payload(&buf).unwrap(), entries);
        }
    }

    #[test]
    fn damaged_chunks_are_errors() {
        let es: Vec<LogEntry> = (0..100)
            .map(|i| entry(i, &format!("line {i}"), &[]))
            .collect();
        let c = encode_chunk(&es, 3);
        let mut bad = c.data.clone();
        if let Some(b) = bad.get_mut(5) {
            *b ^= 0xff;
        }
        assert!(decode_chunk(&c.meta, &bad, &|_, _| true).is_err());
        let mut meta = c.meta;
        meta.raw_len += 1;
        assert!(decode_chunk(&meta, &c.data, &|_, _| true).is_err());
        let some = c
            .decode_with(&|ts, line| ts >= 50 && line.ends_with('7'))
            .unwrap();
        assert_eq!(
            some.iter().map(|e| e.ts_ns).collect::<Vec<_>>(),
            vec![57, 67, 77, 87, 97]
        );
        // a payload whose lengths run past the end
        let mut payload = Vec::new();
        encode_payload(&es, &mut payload);
        payload.truncate(payload.len() - 3);
        assert!(decode_payload(&payload).is_err());
    }

    #[test]
    fn timestamps_keep_their_precision() {
        let extremes = vec![
            entry(i64::MIN, "a", &[]),
            entry(0, "b", &[]),
            entry(i64::MAX, "c", &[]),
        ];
        let mut b = Vec::new();
        encode_payload(&extremes, &mut b);
        assert_eq!(decode_payload(&b).unwrap(), extremes);
        for step in [1i64, 7, 1000, 1_000_000, 1_000_000_000, 3_000_000_000] {
            let es: Vec<LogEntry> = (0..20)
                .map(|i| entry(1_763_800_000_123_456_789 + i * step, "x", &[]))
                .collect();
            assert_eq!(
                decode_payload(&{
                    let mut b = Vec::new();
                    encode_payload(&es, &mut b);
                    b
                })
                .unwrap(),
                es
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn any_payload_bytes_decode_or_fail_cleanly(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let _ = decode_payload(&bytes);
        }
    }
}
