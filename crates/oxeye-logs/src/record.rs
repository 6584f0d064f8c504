//! WAL records: one record per append, holding the whole validated batch.
//!
//! ```text
//! version u8 (1) | stream count
//! per stream: label count, (name, value)..., entry count,
//!             per entry: ts (zigzag), line, metadata pair count, (name, value)...
//! ```
//! Strings are length-prefixed; integers are LEB128 varints.

use oxeye_core::logs::{LogBatch, LogEntry, LogStream};
use oxeye_core::{Label, Labels, validate_label_name};

use crate::LogStoreError;
use crate::codec::{Reader, put_bytes, put_ivarint, put_uvarint};
use crate::error::DecodeError;

const VERSION: u8 = 1;

/// Checks the whole batch; an error names the stream or entry and what is wrong.
pub(crate) fn validate(batch: &LogBatch) -> Result<(), LogStoreError> {
    for s in &batch.streams {
        if s.labels.is_empty() {
            return Err(LogStoreError::InvalidData(
                "stream has no labels; at least one label is required".into(),
            ));
        }
        for l in s.labels.iter() {
            if !validate_label_name(&l.name) {
                return Err(LogStoreError::InvalidData(format!(
                    "stream {}: invalid label name {:?}",
                    s.labels, l.name
                )));
            }
        }
        for e in &s.entries {
            if let Some((n, _)) = e.metadata.iter().find(|(n, _)| n.is_empty()) {
                return Err(LogStoreError::InvalidData(format!(
                    "stream {}: entry at {} has structured metadata with an empty name {n:?}",
                    s.labels, e.ts_ns
                )));
            }
        }
    }
    Ok(())
}

pub(crate) fn encode_batch(buf: &mut Vec<u8>, batch: &LogBatch) {
    buf.push(VERSION);
    put_uvarint(buf, batch.streams.len() as u64);
    for s in &batch.streams {
        put_uvarint(buf, s.labels.len() as u64);
        for l in s.labels.iter() {
            put_bytes(buf, l.name.as_bytes());
            put_bytes(buf, l.value.as_bytes());
        }
        put_uvarint(buf, s.entries.len() as u64);
        for e in &s.entries {
            put_ivarint(buf, e.ts_ns);
            put_bytes(buf, e.line.as_bytes());
            put_uvarint(buf, e.metadata.len() as u64);
            for (n, v) in &e.metadata {
                put_bytes(buf, n.as_bytes());
                put_bytes(buf, v.as_bytes());
            }
        }
    }
}

/// Label sets as written (sorted, unique names, no empty values); anything else is
/// corruption.
pub(crate) fn decode_labels(r: &mut Reader<'_>) -> Result<Labels, DecodeError> {
    let n = r.len("label count", 2)?;
    let mut labels = Vec::with_capacity(n);
    for _ in 0..n {
        let name = r.string("label name")?;
        let value = r.string("label value")?;
        labels.push(Label { name, value });
    }
    if !labels.windows(2).all(|w| w[0].name < w[1].name)
        || labels.iter().any(|l| l.value.is_empty())
    {
        return Err(DecodeError(
            "label set is not sorted or has an empty value".into(),
        ));
    }
    Ok(Labels::from_sorted(labels))
}

pub(crate) fn encode_labels(buf: &mut Vec<u8>, labels: &Labels) {
    put_uvarint(buf, labels.len() as u64);
    for l in labels.iter() {
        put_bytes(buf, l.name.as_bytes());
        put_bytes(buf, l.value.as_bytes());
    }
}

pub(crate) fn decode_batch(buf: &[u8]) -> Result<LogBatch, DecodeError> {
    let mut r = Reader::new(buf);
    let v = r.u8("record version")?;
    if v != VERSION {
        return Err(DecodeError(format!("unknown wal record version {v}")));
    }
    let n = r.len("stream count", 2)?;
    let mut streams = Vec::with_capacity(n);
    for _ in 0..n {
        let labels = decode_labels(&mut r)?;
        let ne = r.len("entry count", 3)?;
        let mut entries = Vec::with_capacity(ne);
        for _ in 0..ne {
            let ts_ns = r.ivarint("timestamp")?;
            let line = r.string("line")?;
            let np = r.len("metadata count", 2)?;
            let mut metadata = Vec::with_capacity(np);
            for _ in 0..np {
                metadata.push((r.string("metadata name")?, r.string("metadata value")?));
            }
            entries.push(LogEntry {
                ts_ns,
                line,
                metadata,
            });
        }
        streams.push(LogStream { labels, entries });
    }
    if !r.is_empty() {
        return Err(DecodeError("bytes left after the last stream".into()));
    }
    Ok(LogBatch { streams })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_validates() {
        let mut e = LogEntry::new(-3, "hello ✓");
        e.metadata.push(("trace_id".into(), "abc".into()));
        let batch = LogBatch {
            streams: vec![LogStream {
                labels: Labels::from_pairs(&[("job", "api"), ("env", "prod")]),
                entries: vec![e, LogEntry::new(5, "")],
            }],
        };
        validate(&batch).unwrap();
        let mut buf = Vec::new();
        encode_batch(&mut buf, &batch);
        assert_eq!(decode_batch(&buf).unwrap(), batch);
        for cut in 0..buf.len() {
            assert!(decode_batch(&buf[..cut]).is_err());
        }
        let empty = LogBatch {
            streams: vec![LogStream::default()],
        };
        assert!(
            validate(&empty)
                .unwrap_err()
                .to_string()
                .contains("no labels")
        );
        let bad = LogBatch {
            streams: vec![LogStream {
                labels: Labels::from_pairs(&[("bad-name", "x")]),
                entries: vec![],
            }],
        };
        assert!(validate(&bad).unwrap_err().to_string().contains("bad-name"));
    }
}
