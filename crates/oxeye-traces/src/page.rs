//! Block pages: a run of whole traces (sorted by trace id) in columnar form.
//!
//! A page is encoded column by column so that like data sits together before zstd:
//! trace ids and span counts; span and parent ids; resource and scope references; names,
//! kinds and status; start times (delta from the previous span) and durations;
//! attributes; events; links. Every string (span names, attribute keys and string
//! values, service names, status messages...) is an id into the page's string table,
//! and resources and scopes are stored once per page and referenced by index.
//!
//! Layout (before compression): `version u8 | string table | resources+scopes column |
//! 8 columns, each length-prefixed`.

use std::sync::Arc;

use oxeye_core::trace::{
    Resource, Scope, Span, SpanEvent, SpanKind, SpanLink, SpanStatusCode, TraceId,
};

use crate::enc::{
    Dec, StrIn, StrList, StrOut, StrTable, get_attrs, put_attrs, put_bytes, put_ivarint,
    put_uvarint, skip_attrs,
};
use crate::error::DecodeError;
use crate::head::FastMap;
use crate::model::{ResEntry, ScopeEntry, StoredSpan};

const PAGE_VERSION: u8 = 1;
/// How many distinct resources (or scopes) a page compares by value before giving up on
/// sharing equal ones that arrived in different batches.
const VALUE_DEDUP_LIMIT: usize = 256;

/// One trace's spans as held in a page.
pub(crate) type TracePart = (TraceId, Vec<StoredSpan>);

/// Gives each distinct resource (or scope) a dense index: by `Arc` address first, then
/// by value while fewer than [`VALUE_DEDUP_LIMIT`] are known (so equal ones from
/// different batches share an index without a quadratic number of comparisons).
pub(crate) struct Interner<T> {
    by_ptr: FastMap<u64, u32>,
    list: Vec<Arc<T>>,
}

impl<T: PartialEq> Interner<T> {
    pub(crate) fn new() -> Self {
        Self {
            by_ptr: FastMap::default(),
            list: Vec::new(),
        }
    }

    /// The index of `v`. The caller keeps every `Arc` it passes alive until it is done
    /// with the interner, so an address is never reused meanwhile.
    pub(crate) fn idx(&mut self, v: &Arc<T>) -> u32 {
        // the traces being encoded hold every Arc, so an address is never reused meanwhile
        // a u64 key (FastHasher ignores `write_usize`, which would hash every address
        // alike), rotated so that the always-zero alignment bits do not pick the bucket
        let p = (Arc::as_ptr(v) as usize as u64).rotate_right(4);
        if let Some(&i) = self.by_ptr.get(&p) {
            return i;
        }
        let found = if self.list.len() <= VALUE_DEDUP_LIMIT {
            self.list.iter().position(|x| **x == **v)
        } else {
            None
        };
        let i = match found {
            Some(i) => i as u32,
            None => {
                self.list.push(v.clone());
                (self.list.len() - 1) as u32
            }
        };
        self.by_ptr.insert(p, i);
        i
    }
}

/// Encodes whole traces (sorted by id) into an uncompressed page.
pub(crate) fn encode_page<S: AsRef<[StoredSpan]>>(traces: &[(TraceId, S)]) -> Vec<u8> {
    let n: usize = traces.iter().map(|(_, s)| s.as_ref().len()).sum();
    let mut strs = StrTable::with_capacity(n * 3 + 64, n * 48 + 1024);
    let mut res = Interner::<ResEntry>::new();
    let mut scopes = Interner::<ScopeEntry>::new();
    let mut c_traces = Vec::with_capacity(traces.len() * 18 + 4);
    let mut c_ids = Vec::with_capacity(n * 16);
    let mut c_refs = Vec::with_capacity(n * 2);
    let mut c_names = Vec::with_capacity(n * 6);
    let mut c_times = Vec::with_capacity(n * 8);
    let mut c_attrs = Vec::with_capacity(n * 32);
    let mut c_events = Vec::with_capacity(n * 2);
    let mut c_links = Vec::with_capacity(n * 2);
    let mut prev_start = 0u64;
    put_uvarint(&mut c_traces, traces.len() as u64);
    for (id, spans) in traces {
        c_traces.extend_from_slice(id);
        let spans = spans.as_ref();
        put_uvarint(&mut c_traces, spans.len() as u64);
        for st in spans {
            let s = &st.span;
            c_ids.extend_from_slice(&s.span_id);
            c_ids.extend_from_slice(&s.parent_span_id);
            put_uvarint(&mut c_refs, u64::from(res.idx(&st.res)));
            put_uvarint(&mut c_refs, u64::from(scopes.idx(&st.scope)));
            strs.put(&mut c_names, &s.name);
            c_names.push(s.kind as u8);
            c_names.push(s.status_code as u8);
            strs.put(&mut c_names, &s.status_message);
            strs.put(&mut c_names, &s.trace_state);
            put_uvarint(&mut c_names, u64::from(s.flags));
            put_ivarint(
                &mut c_times,
                s.start_unix_nano.wrapping_sub(prev_start) as i64,
            );
            put_ivarint(
                &mut c_times,
                s.end_unix_nano.wrapping_sub(s.start_unix_nano) as i64,
            );
            prev_start = s.start_unix_nano;
            put_attrs(&mut c_attrs, &mut strs, &s.attributes);
            put_uvarint(&mut c_attrs, u64::from(s.dropped_attributes_count));
            put_uvarint(&mut c_events, s.events.len() as u64);
            for e in &s.events {
                put_ivarint(
                    &mut c_events,
                    e.time_unix_nano.wrapping_sub(s.start_unix_nano) as i64,
                );
                strs.put(&mut c_events, &e.name);
                put_attrs(&mut c_events, &mut strs, &e.attributes);
                put_uvarint(&mut c_events, u64::from(e.dropped_attributes_count));
            }
            put_uvarint(&mut c_events, u64::from(s.dropped_events_count));
            put_uvarint(&mut c_links, s.links.len() as u64);
            for l in &s.links {
                c_links.extend_from_slice(&l.trace_id);
                c_links.extend_from_slice(&l.span_id);
                strs.put(&mut c_links, &l.trace_state);
                put_attrs(&mut c_links, &mut strs, &l.attributes);
                put_uvarint(&mut c_links, u64::from(l.dropped_attributes_count));
                put_uvarint(&mut c_links, u64::from(l.flags));
            }
            put_uvarint(&mut c_links, u64::from(s.dropped_links_count));
        }
    }
    let mut c_meta = Vec::new();
    put_uvarint(&mut c_meta, res.list.len() as u64);
    for r in &res.list {
        put_attrs(&mut c_meta, &mut strs, &r.resource.attributes);
        put_uvarint(&mut c_meta, u64::from(r.resource.dropped_attributes_count));
        strs.put(&mut c_meta, &r.schema_url);
    }
    put_uvarint(&mut c_meta, scopes.list.len() as u64);
    for s in &scopes.list {
        strs.put(&mut c_meta, &s.scope.name);
        strs.put(&mut c_meta, &s.scope.version);
        put_attrs(&mut c_meta, &mut strs, &s.scope.attributes);
        put_uvarint(&mut c_meta, u64::from(s.scope.dropped_attributes_count));
        strs.put(&mut c_meta, &s.schema_url);
    }
    let cols = [
        &c_meta, &c_traces, &c_ids, &c_refs, &c_names, &c_times, &c_attrs, &c_events, &c_links,
    ];
    let mut out =
        Vec::with_capacity(strs.bytes() + cols.iter().map(|c| c.len() + 5).sum::<usize>() + 8);
    out.push(PAGE_VERSION);
    strs.encode(&mut out);
    for c in cols {
        put_bytes(&mut out, c);
    }
    out
}

fn kind_of(b: u8) -> SpanKind {
    SpanKind::from_i32(i32::from(b))
}

/// Decodes a page written by [`encode_page`].
pub(crate) fn decode_page(raw: &[u8]) -> Result<Vec<TracePart>, DecodeError> {
    decode_page_for(raw, None)
}

/// Reads past one span's entries in every column.
fn skip_span(cols: &mut [Dec<'_>; 7]) -> Result<(), DecodeError> {
    let [c_ids, c_refs, c_names, c_attrs, c_events, c_links, _] = cols;
    c_ids.take(16)?;
    c_refs.uvarint()?;
    c_refs.uvarint()?;
    c_names.uvarint()?;
    c_names.u8()?;
    c_names.u8()?;
    c_names.uvarint()?;
    c_names.uvarint()?;
    c_names.uvarint()?;
    skip_attrs(c_attrs)?;
    c_attrs.uvarint()?;
    let ne = c_events.count(4)?;
    for _ in 0..ne {
        c_events.ivarint()?;
        c_events.uvarint()?;
        skip_attrs(c_events)?;
        c_events.uvarint()?;
    }
    c_events.uvarint()?;
    let nl = c_links.count(28)?;
    for _ in 0..nl {
        c_links.take(24)?;
        c_links.uvarint()?;
        skip_attrs(c_links)?;
        c_links.uvarint()?;
        c_links.uvarint()?;
    }
    c_links.uvarint()?;
    Ok(())
}

/// Decodes a page; with `only`, builds just that trace (the others are read past
/// without allocating) and stops once it is found.
pub(crate) fn decode_page_for(
    raw: &[u8],
    only: Option<&TraceId>,
) -> Result<Vec<TracePart>, DecodeError> {
    let mut d = Dec::new(raw);
    let version = d.u8()?;
    if version != PAGE_VERSION {
        return Err(DecodeError(format!("unknown page version {version}")));
    }
    let strs = StrList::decode(&mut d)?;
    let mut meta = Dec::new(d.bytes()?);
    let mut c_traces = Dec::new(d.bytes()?);
    let mut c_ids = Dec::new(d.bytes()?);
    let mut c_refs = Dec::new(d.bytes()?);
    let mut c_names = Dec::new(d.bytes()?);
    let mut c_times = Dec::new(d.bytes()?);
    let mut c_attrs = Dec::new(d.bytes()?);
    let mut c_events = Dec::new(d.bytes()?);
    let mut c_links = Dec::new(d.bytes()?);

    let n = meta.count(3)?;
    let mut resources = Vec::with_capacity(n);
    for _ in 0..n {
        let attributes = get_attrs(&mut meta, &strs)?;
        let dropped_attributes_count = meta.u32v()?;
        let schema_url = strs.get(&mut meta)?;
        resources.push(Arc::new(ResEntry {
            resource: Resource {
                attributes,
                dropped_attributes_count,
            },
            schema_url,
        }));
    }
    let n = meta.count(5)?;
    let mut scopes = Vec::with_capacity(n);
    for _ in 0..n {
        let name = strs.get(&mut meta)?;
        let version = strs.get(&mut meta)?;
        let attributes = get_attrs(&mut meta, &strs)?;
        let dropped_attributes_count = meta.u32v()?;
        let schema_url = strs.get(&mut meta)?;
        scopes.push(Arc::new(ScopeEntry {
            scope: Scope {
                name,
                version,
                attributes,
                dropped_attributes_count,
            },
            schema_url,
        }));
    }

    let ntraces = c_traces.count(17)?;
    let mut out = Vec::with_capacity(ntraces);
    let mut prev_start = 0u64;
    for _ in 0..ntraces {
        let trace_id: TraceId = c_traces.array()?;
        let nspans = c_traces.uvarint()?;
        if nspans > (c_ids.remaining() / 16) as u64 {
            return Err(DecodeError(format!(
                "trace claims {nspans} spans but the id column holds fewer"
            )));
        }
        if only.is_some_and(|want| *want != trace_id) {
            let mut cols = [
                c_ids,
                c_refs,
                c_names,
                c_attrs,
                c_events,
                c_links,
                Dec::new(&[]),
            ];
            for _ in 0..nspans {
                skip_span(&mut cols)?;
                let start = prev_start.wrapping_add(c_times.ivarint()? as u64);
                c_times.ivarint()?;
                prev_start = start;
            }
            let [a, b, c, d2, e, f, _] = cols;
            (c_ids, c_refs, c_names, c_attrs, c_events, c_links) = (a, b, c, d2, e, f);
            continue;
        }
        let mut spans = Vec::with_capacity(nspans as usize);
        for _ in 0..nspans {
            let span_id = c_ids.array()?;
            let parent_span_id = c_ids.array()?;
            let ri = c_refs.uvarint()?;
            let si = c_refs.uvarint()?;
            let res = usize::try_from(ri)
                .ok()
                .and_then(|i| resources.get(i))
                .cloned()
                .ok_or_else(|| DecodeError(format!("resource index {ri} out of range")))?;
            let scope = usize::try_from(si)
                .ok()
                .and_then(|i| scopes.get(i))
                .cloned()
                .ok_or_else(|| DecodeError(format!("scope index {si} out of range")))?;
            let name = strs.get(&mut c_names)?;
            let kind = kind_of(c_names.u8()?);
            let status_code = SpanStatusCode::from_i32(i32::from(c_names.u8()?));
            let status_message = strs.get(&mut c_names)?;
            let trace_state = strs.get(&mut c_names)?;
            let flags = c_names.u32v()?;
            let start = prev_start.wrapping_add(c_times.ivarint()? as u64);
            let end = start.wrapping_add(c_times.ivarint()? as u64);
            prev_start = start;
            let attributes = get_attrs(&mut c_attrs, &strs)?;
            let dropped_attributes_count = c_attrs.u32v()?;
            let ne = c_events.count(4)?;
            let mut events = Vec::with_capacity(ne);
            for _ in 0..ne {
                let time = start.wrapping_add(c_events.ivarint()? as u64);
                events.push(SpanEvent {
                    time_unix_nano: time,
                    name: strs.get(&mut c_events)?,
                    attributes: get_attrs(&mut c_events, &strs)?,
                    dropped_attributes_count: c_events.u32v()?,
                });
            }
            let dropped_events_count = c_events.u32v()?;
            let nl = c_links.count(28)?;
            let mut links = Vec::with_capacity(nl);
            for _ in 0..nl {
                links.push(SpanLink {
                    trace_id: c_links.array()?,
                    span_id: c_links.array()?,
                    trace_state: strs.get(&mut c_links)?,
                    attributes: get_attrs(&mut c_links, &strs)?,
                    dropped_attributes_count: c_links.u32v()?,
                    flags: c_links.u32v()?,
                });
            }
            let dropped_links_count = c_links.u32v()?;
            spans.push(StoredSpan {
                res,
                scope,
                span: Span {
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
                },
            });
        }
        out.push((trace_id, spans));
        if only.is_some() {
            break;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use oxeye_core::trace::{AnyValue, KeyValue};

    #[test]
    fn page_round_trips_and_shares_equal_resources() {
        let r1 = Arc::new(ResEntry {
            resource: Resource {
                attributes: vec![KeyValue::string("service.name", "api")],
                dropped_attributes_count: 2,
            },
            schema_url: "https://r".into(),
        });
        let r1b = Arc::new((*r1).clone());
        let sc = Arc::new(ScopeEntry {
            scope: Scope {
                name: "lib".into(),
                version: "1".into(),
                attributes: vec![KeyValue::new("x", AnyValue::Int(1))],
                dropped_attributes_count: 1,
            },
            schema_url: "https://s".into(),
        });
        let mk = |r: &Arc<ResEntry>, t: u8, s: u8, start: u64| StoredSpan {
            res: r.clone(),
            scope: sc.clone(),
            span: Span {
                trace_id: [t; 16],
                span_id: [s; 8],
                name: format!("op{s}"),
                start_unix_nano: start,
                end_unix_nano: start.saturating_sub(3),
                events: vec![SpanEvent {
                    time_unix_nano: 1,
                    name: "e".into(),
                    ..SpanEvent::default()
                }],
                ..Span::default()
            },
        };
        let traces = vec![
            ([1; 16], vec![mk(&r1, 1, 1, 100), mk(&r1b, 1, 2, 50)]),
            ([2; 16], vec![mk(&r1b, 2, 3, u64::MAX)]),
        ];
        let raw = encode_page(&traces);
        let back = decode_page(&raw).unwrap();
        assert_eq!(back.len(), 2);
        for ((ia, sa), (ib, sb)) in traces.iter().zip(&back) {
            assert_eq!(ia, ib);
            for (a, b) in sa.iter().zip(sb) {
                assert_eq!(a.span, b.span);
                assert_eq!(*a.res, *b.res);
                assert_eq!(*a.scope, *b.scope);
            }
        }
        // decoding one trace skips the others and gives the same spans
        for (id, spans) in &traces {
            let one = decode_page_for(&raw, Some(id)).unwrap();
            assert_eq!(one.len(), 1);
            let got: Vec<&Span> = one[0].1.iter().map(|s| &s.span).collect();
            let want: Vec<&Span> = spans.iter().map(|s| &s.span).collect();
            assert_eq!(got, want);
        }
        assert!(decode_page_for(&raw, Some(&[9; 16])).unwrap().is_empty());
        // both resource allocations were written as one
        assert!(Arc::ptr_eq(&back[0].1[0].res, &back[1].1[0].res));
        for cut in 0..raw.len() {
            assert!(decode_page(&raw[..cut]).is_err(), "cut at {cut}");
        }
    }
}

#[cfg(test)]
mod fuzz {
    use super::*;
    use crate::record::{decode_batch, encode_batch};
    use oxeye_core::trace::{AnyValue, KeyValue, ResourceSpans, ScopeSpans, TraceBatch};
    use proptest::prelude::*;

    fn sample_page() -> Vec<u8> {
        let res = Arc::new(ResEntry::default());
        let sc = Arc::new(ScopeEntry::default());
        let spans = (0..5u8)
            .map(|i| StoredSpan {
                res: res.clone(),
                scope: sc.clone(),
                span: Span {
                    trace_id: [i / 2 + 1; 16],
                    span_id: [i + 1; 8],
                    name: format!("op{i}"),
                    attributes: vec![
                        KeyValue::string("k", "v"),
                        KeyValue::new("a", AnyValue::Array(vec![AnyValue::Int(1)])),
                    ],
                    events: vec![SpanEvent::default()],
                    links: vec![SpanLink::default()],
                    ..Span::default()
                },
            })
            .collect::<Vec<_>>();
        let mut traces: Vec<TracePart> = Vec::new();
        for s in spans {
            match traces.last_mut() {
                Some((id, v)) if *id == s.span.trace_id => v.push(s),
                _ => traces.push((s.span.trace_id, vec![s])),
            }
        }
        encode_page(&traces)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode_page(&bytes);
            let _ = decode_page_for(&bytes, Some(&[1; 16]));
            let _ = decode_batch(&bytes);
            let _ = crate::dict::Dict::decode(&bytes);
        }

        #[test]
        fn damaged_pages_and_records_never_panic(at in any::<prop::sample::Index>(), xor in 1u8..=255) {
            let mut page = sample_page();
            let i = at.index(page.len());
            page[i] ^= xor;
            let _ = decode_page(&page);
            let _ = decode_page_for(&page, Some(&[2; 16]));
            let batch = TraceBatch {
                resource_spans: vec![ResourceSpans {
                    scope_spans: vec![ScopeSpans {
                        spans: vec![Span { trace_id: [1; 16], span_id: [1; 8], ..Span::default() }],
                        ..ScopeSpans::default()
                    }],
                    ..ResourceSpans::default()
                }],
            };
            let mut rec = Vec::new();
            encode_batch(&mut rec, &batch);
            let j = at.index(rec.len());
            rec[j] ^= xor;
            let _ = decode_batch(&rec);
        }
    }
}
