//! WAL records: one [`TraceBatch`] per record, in a compact binary form.
//!
//! Layout: `version u8 (=1) | resource_spans count | per resource: attrs, dropped,
//! schema_url, scope count | per scope: name, version, attrs, dropped, schema_url, span
//! count | spans`. A span is its ids as raw bytes, times as a start varint plus a signed
//! end delta, then the remaining fields in model order. Strings are inline. The tenant is
//! not in the record: each tenant has its own WAL directory.

use oxeye_core::trace::{
    KeyValue, Resource, ResourceSpans, Scope, ScopeSpans, Span, SpanEvent, SpanKind, SpanLink,
    SpanStatusCode, TraceBatch,
};

use crate::TraceError;
use crate::enc::{Dec, Inline, StrIn, StrOut, get_attrs, put_attrs, put_ivarint, put_uvarint};
use crate::error::DecodeError;

const RECORD_VERSION: u8 = 1;

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Checks every span of the batch; the first invalid one is named in the error.
pub(crate) fn validate(batch: &TraceBatch) -> Result<(), TraceError> {
    for (_, _, s) in batch.spans() {
        if s.trace_id == [0; 16] {
            return Err(TraceError::InvalidData(format!(
                "span {:?} (span id {}): trace id is all zeros",
                s.name,
                hex(&s.span_id)
            )));
        }
        if s.span_id == [0; 8] {
            return Err(TraceError::InvalidData(format!(
                "span {:?} in trace {}: span id is all zeros",
                s.name,
                hex(&s.trace_id)
            )));
        }
    }
    Ok(())
}

fn put_str(buf: &mut Vec<u8>, s: &str) {
    Inline.put(buf, s);
}

pub(crate) fn put_span(buf: &mut Vec<u8>, s: &Span) {
    buf.extend_from_slice(&s.trace_id);
    buf.extend_from_slice(&s.span_id);
    buf.extend_from_slice(&s.parent_span_id);
    put_str(buf, &s.trace_state);
    put_uvarint(buf, u64::from(s.flags));
    put_str(buf, &s.name);
    buf.push(s.kind as u8);
    put_uvarint(buf, s.start_unix_nano);
    put_ivarint(buf, s.end_unix_nano.wrapping_sub(s.start_unix_nano) as i64);
    put_attrs(buf, &mut Inline, &s.attributes);
    put_uvarint(buf, u64::from(s.dropped_attributes_count));
    put_uvarint(buf, s.events.len() as u64);
    for e in &s.events {
        put_ivarint(buf, e.time_unix_nano.wrapping_sub(s.start_unix_nano) as i64);
        put_str(buf, &e.name);
        put_attrs(buf, &mut Inline, &e.attributes);
        put_uvarint(buf, u64::from(e.dropped_attributes_count));
    }
    put_uvarint(buf, u64::from(s.dropped_events_count));
    put_uvarint(buf, s.links.len() as u64);
    for l in &s.links {
        buf.extend_from_slice(&l.trace_id);
        buf.extend_from_slice(&l.span_id);
        put_str(buf, &l.trace_state);
        put_attrs(buf, &mut Inline, &l.attributes);
        put_uvarint(buf, u64::from(l.dropped_attributes_count));
        put_uvarint(buf, u64::from(l.flags));
    }
    put_uvarint(buf, u64::from(s.dropped_links_count));
    buf.push(s.status_code as u8);
    put_str(buf, &s.status_message);
}

fn get_str(d: &mut Dec<'_>) -> Result<String, DecodeError> {
    Inline.get(d)
}

fn get_attrs_inline(d: &mut Dec<'_>) -> Result<Vec<KeyValue>, DecodeError> {
    get_attrs(d, &Inline)
}

pub(crate) fn get_span(d: &mut Dec<'_>) -> Result<Span, DecodeError> {
    let trace_id = d.array()?;
    let span_id = d.array()?;
    let parent_span_id = d.array()?;
    let trace_state = get_str(d)?;
    let flags = d.u32v()?;
    let name = get_str(d)?;
    let kind = SpanKind::from_i32(i32::from(d.u8()?));
    let start = d.uvarint()?;
    let end = start.wrapping_add(d.ivarint()? as u64);
    let attributes = get_attrs_inline(d)?;
    let dropped_attributes_count = d.u32v()?;
    let n = d.count(3)?;
    let mut events = Vec::with_capacity(n);
    for _ in 0..n {
        let time = start.wrapping_add(d.ivarint()? as u64);
        events.push(SpanEvent {
            time_unix_nano: time,
            name: get_str(d)?,
            attributes: get_attrs_inline(d)?,
            dropped_attributes_count: d.u32v()?,
        });
    }
    let dropped_events_count = d.u32v()?;
    let n = d.count(28)?;
    let mut links = Vec::with_capacity(n);
    for _ in 0..n {
        links.push(SpanLink {
            trace_id: d.array()?,
            span_id: d.array()?,
            trace_state: get_str(d)?,
            attributes: get_attrs_inline(d)?,
            dropped_attributes_count: d.u32v()?,
            flags: d.u32v()?,
        });
    }
    let dropped_links_count = d.u32v()?;
    let status_code = SpanStatusCode::from_i32(i32::from(d.u8()?));
    let status_message = get_str(d)?;
    Ok(Span {
        trace_id,
        span_id,
        parent_span_id,
        trace_state,
        flags,
        name,
        kind,
        start_unix_nano: start,
        end_unix_nano: end,
        attributes,
        dropped_attributes_count,
        events,
        dropped_events_count,
        links,
        dropped_links_count,
        status_code,
        status_message,
    })
}

/// Encodes `batch` into `buf` (cleared first).
pub(crate) fn encode_batch(buf: &mut Vec<u8>, batch: &TraceBatch) {
    buf.clear();
    buf.push(RECORD_VERSION);
    put_uvarint(buf, batch.resource_spans.len() as u64);
    for rs in &batch.resource_spans {
        put_attrs(buf, &mut Inline, &rs.resource.attributes);
        put_uvarint(buf, u64::from(rs.resource.dropped_attributes_count));
        put_str(buf, &rs.schema_url);
        put_uvarint(buf, rs.scope_spans.len() as u64);
        for ss in &rs.scope_spans {
            put_str(buf, &ss.scope.name);
            put_str(buf, &ss.scope.version);
            put_attrs(buf, &mut Inline, &ss.scope.attributes);
            put_uvarint(buf, u64::from(ss.scope.dropped_attributes_count));
            put_str(buf, &ss.schema_url);
            put_uvarint(buf, ss.spans.len() as u64);
            for s in &ss.spans {
                put_span(buf, s);
            }
        }
    }
}

/// Decodes a record written by [`encode_batch`].
pub(crate) fn decode_batch(rec: &[u8]) -> Result<TraceBatch, DecodeError> {
    let mut d = Dec::new(rec);
    let version = d.u8()?;
    if version != RECORD_VERSION {
        return Err(DecodeError(format!("unknown wal record version {version}")));
    }
    let n = d.count(4)?;
    let mut resource_spans = Vec::with_capacity(n);
    for _ in 0..n {
        let attributes = get_attrs_inline(&mut d)?;
        let dropped_attributes_count = d.u32v()?;
        let schema_url = get_str(&mut d)?;
        let ns = d.count(6)?;
        let mut scope_spans = Vec::with_capacity(ns);
        for _ in 0..ns {
            let name = get_str(&mut d)?;
            let version = get_str(&mut d)?;
            let attributes = get_attrs_inline(&mut d)?;
            let dropped_attributes_count = d.u32v()?;
            let schema_url = get_str(&mut d)?;
            let nspans = d.count(40)?;
            let mut spans = Vec::with_capacity(nspans);
            for _ in 0..nspans {
                spans.push(get_span(&mut d)?);
            }
            scope_spans.push(ScopeSpans {
                scope: Scope {
                    name,
                    version,
                    attributes,
                    dropped_attributes_count,
                },
                spans,
                schema_url,
            });
        }
        resource_spans.push(ResourceSpans {
            resource: Resource {
                attributes,
                dropped_attributes_count,
            },
            scope_spans,
            schema_url,
        });
    }
    if !d.is_empty() {
        return Err(DecodeError(format!(
            "{} trailing bytes after the batch",
            d.remaining()
        )));
    }
    Ok(TraceBatch { resource_spans })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_zero_ids_naming_the_span() {
        let mut batch = TraceBatch {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![Span {
                        trace_id: [1; 16],
                        span_id: [0; 8],
                        name: "checkout".into(),
                        ..Span::default()
                    }],
                    ..ScopeSpans::default()
                }],
                ..ResourceSpans::default()
            }],
        };
        let e = validate(&batch).unwrap_err().to_string();
        assert!(
            e.contains("\"checkout\"") && e.contains("span id is all zeros"),
            "{e}"
        );
        batch.resource_spans[0].scope_spans[0].spans[0].trace_id = [0; 16];
        batch.resource_spans[0].scope_spans[0].spans[0].span_id = [2; 8];
        let e = validate(&batch).unwrap_err().to_string();
        assert!(
            e.contains("0202020202020202") && e.contains("trace id is all zeros"),
            "{e}"
        );
    }

    #[test]
    fn truncated_records_fail_cleanly() {
        let batch = TraceBatch {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![Span {
                        trace_id: [1; 16],
                        span_id: [2; 8],
                        name: "x".into(),
                        end_unix_nano: 5,
                        ..Span::default()
                    }],
                    ..ScopeSpans::default()
                }],
                ..ResourceSpans::default()
            }],
        };
        let mut buf = Vec::new();
        encode_batch(&mut buf, &batch);
        assert_eq!(decode_batch(&buf).unwrap(), batch);
        for cut in 0..buf.len() {
            assert!(decode_batch(&buf[..cut]).is_err(), "cut at {cut}");
        }
    }
}
