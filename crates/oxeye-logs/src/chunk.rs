//! Chunks: a run of one stream's entries, sorted by time, encoded column by column and
//! compressed with zstd, with the metadata the time index needs and a [`LineFilter`].
//!
//! Payload layout before compression (all integers LEB128 varints):
//! ```text
//! count
//! timestamps   first (zigzag), then count-1 deltas (sorted, so never negative)
//! line lengths count values
//! metadata     dictionary: size, then strings; per entry: pair count, (name id, value id)...
//! lines        the line bytes, back to back
//! ```
//! Grouping like with like (all timestamps, then all lengths, then all lines) lets zstd
//! find longer matches than a row layout does; see the crate documentation for figures.

use std::collections::HashMap;

use oxeye_core::logs::LogEntry;

use crate::codec::{Reader, put_bytes, put_ivarint, put_uvarint};
use crate::error::DecodeError;
use crate::filter::LineFilter;

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
}

impl EncodedChunk {
    /// Bytes held in memory.
    pub fn mem_bytes(&self) -> usize {
        self.data.len() + self.filter.encoded_len() + 64
    }

    pub fn decode(&self) -> Result<Vec<LogEntry>, DecodeError> {
        decode_chunk(&self.meta, &self.data)
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

/// Encodes the columnar payload of `entries` (sorted by time) into `buf`.
pub(crate) fn encode_payload(entries: &[LogEntry], buf: &mut Vec<u8>) {
    debug_assert!(entries.windows(2).all(|w| w[0].ts_ns <= w[1].ts_ns));
    put_uvarint(buf, entries.len() as u64);
    let mut prev = 0i64;
    for (i, e) in entries.iter().enumerate() {
        if i == 0 {
            put_ivarint(buf, e.ts_ns);
        } else {
            put_uvarint(buf, e.ts_ns.wrapping_sub(prev) as u64);
        }
        prev = e.ts_ns;
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
            for s in [n.as_str(), v.as_str()] {
                let next = order.len() as u64;
                let id = *dict.entry(s).or_insert_with(|| {
                    order.push(s);
                    next
                });
                put_uvarint(&mut refs, id);
            }
        }
    }
    put_uvarint(buf, order.len() as u64);
    for s in order {
        put_bytes(buf, s.as_bytes());
    }
    buf.extend_from_slice(&refs);
    for e in entries {
        buf.extend_from_slice(e.line.as_bytes());
    }
}

/// Decodes a payload written by [`encode_payload`].
pub(crate) fn decode_payload(payload: &[u8]) -> Result<Vec<LogEntry>, DecodeError> {
    let mut r = Reader::new(payload);
    let n = r.len("entry count", 3)?;
    let mut ts = Vec::with_capacity(n);
    let mut prev = 0i64;
    for i in 0..n {
        let t = if i == 0 {
            r.ivarint("first timestamp")?
        } else {
            let d = r.uvarint("timestamp delta")?;
            prev.wrapping_add(d as i64)
        };
        if t < prev && i > 0 {
            return Err(DecodeError(format!("timestamp {i} goes backwards")));
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
    let lookup = |id: u64| -> Result<String, DecodeError> {
        usize::try_from(id)
            .ok()
            .and_then(|i| dict.get(i))
            .cloned()
            .ok_or_else(|| DecodeError(format!("metadata id {id} outside the dictionary")))
    };
    let mut metas = Vec::with_capacity(n);
    for _ in 0..n {
        let pairs = r.len("metadata pair count", 2)?;
        let mut md = Vec::with_capacity(pairs);
        for _ in 0..pairs {
            let name = lookup(r.uvarint("metadata name id")?)?;
            let value = lookup(r.uvarint("metadata value id")?)?;
            md.push((name, value));
        }
        metas.push(md);
    }
    let mut out = Vec::with_capacity(n);
    for ((t, len), metadata) in ts.into_iter().zip(lens).zip(metas) {
        let b = r.take(len, "line")?;
        let line = std::str::from_utf8(b)
            .map_err(|_| DecodeError(format!("line at byte {} is not utf-8", r.pos())))?
            .to_owned();
        out.push(LogEntry {
            ts_ns: t,
            line,
            metadata,
        });
    }
    if !r.is_empty() {
        return Err(DecodeError(format!(
            "{} bytes left after the last line",
            payload.len() - r.pos()
        )));
    }
    Ok(out)
}

/// Encodes `entries` (sorted by time, non-empty) into a compressed chunk with its filter.
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
    let meta = ChunkMeta {
        min_ts: entries.first().map_or(0, |e| e.ts_ns),
        max_ts: entries.last().map_or(0, |e| e.ts_ns),
        entries: entries.len() as u32,
        line_bytes: line_bytes as u64,
        raw_len: u32::try_from(payload.len()).unwrap_or(u32::MAX),
        crc: crc32fast::hash(&data),
    };
    EncodedChunk { meta, data, filter }
}

/// Verifies and decodes a compressed chunk.
pub(crate) fn decode_chunk(meta: &ChunkMeta, data: &[u8]) -> Result<Vec<LogEntry>, DecodeError> {
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
    let entries = decode_payload(&payload)?;
    if entries.len() != meta.entries as usize {
        return Err(DecodeError(format!(
            "chunk holds {} entries, its index says {}",
            entries.len(),
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
        ];
        sort_dedup(&mut es);
        assert_eq!(es.len(), 4);
        let c = encode_chunk(&es, 3);
        assert_eq!(c.meta.min_ts, -5);
        assert_eq!(c.meta.max_ts, 30);
        assert_eq!(c.meta.entries, 4);
        assert_eq!(c.decode().unwrap(), es);
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
        assert!(decode_chunk(&c.meta, &bad).is_err());
        let mut meta = c.meta;
        meta.raw_len += 1;
        assert!(decode_chunk(&meta, &c.data).is_err());
        // a payload whose lengths run past the end
        let mut payload = Vec::new();
        encode_payload(&es, &mut payload);
        payload.truncate(payload.len() - 3);
        assert!(decode_payload(&payload).is_err());
    }

    proptest::proptest! {
        #[test]
        fn any_payload_bytes_decode_or_fail_cleanly(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let _ = decode_payload(&bytes);
        }
    }
}
