//! Search behaviour beyond span matching: trace metadata, limits, spss, durations, hints,
//! tenants and store errors.

use std::ops::ControlFlow;
use std::sync::Mutex;

use oxeye_core::trace::{
    AnyValue, AttrScope, KeyValue, Operation, Resource, ResourceSpans, ScanHint, ScopeSpans, Span,
    SpanAppender, TagNames, Trace, TraceBatch, TraceId, TraceQueryable, TraceScan,
};
use oxeye_core::trace_mem::MemTraceStore;
use oxeye_core::{StatusCode, StoreError, TenantId};
use oxeye_traceql::{
    Query, ROOT_SPAN_NOT_YET_RECEIVED, SearchRequest, TraceqlError, search, validate,
};

fn span(trace: u8, id: u8, parent: u8, name: &str, start: u64, dur: u64) -> Span {
    Span {
        trace_id: [trace; 16],
        span_id: [id; 8],
        parent_span_id: [parent; 8],
        name: name.to_string(),
        start_unix_nano: start,
        end_unix_nano: start + dur,
        attributes: vec![KeyValue::new(
            "http.status_code",
            AnyValue::Int(200 + id as i64),
        )],
        ..Span::default()
    }
}

fn batch(service: &str, spans: Vec<Span>) -> TraceBatch {
    TraceBatch {
        resource_spans: vec![ResourceSpans {
            resource: Resource {
                attributes: vec![KeyValue::string("service.name", service)],
                ..Resource::default()
            },
            scope_spans: vec![ScopeSpans {
                spans,
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        }],
    }
}

fn tenant() -> TenantId {
    TenantId::new("t1").unwrap()
}

/// Trace 1: root "GET /" (frontend) with 4 children, 100 ms. Trace 2: no root span
/// received, 5 ms. Trace 3: root "POST /" (api), 2 s, newest.
fn store() -> MemTraceStore {
    let s = MemTraceStore::new();
    let ms = 1_000_000;
    let mut t1 = vec![span(1, 1, 0, "GET /", 1_000 * ms, 100 * ms)];
    for i in 2..=5 {
        t1.push(span(1, i, 1, "child", 1_000 * ms + u64::from(i) * ms, ms));
    }
    s.append_spans(&tenant(), batch("frontend", t1)).unwrap();
    s.append_spans(
        &tenant(),
        batch("db", vec![span(2, 7, 9, "orphan", 2_000 * ms, 5 * ms)]),
    )
    .unwrap();
    s.append_spans(
        &tenant(),
        batch("api", vec![span(3, 1, 0, "POST /", 3_000 * ms, 2_000 * ms)]),
    )
    .unwrap();
    s
}

#[test]
fn reports_root_metadata_and_cuts_spansets_at_spss() {
    let s = store();
    let mut req = SearchRequest::new("{ }");
    req.spans_per_spanset = 2;
    let resp = search(&s, &tenant(), &req).unwrap();
    assert_eq!(resp.traces.len(), 3);
    assert_eq!(resp.metrics.inspected_traces, 3);
    assert_eq!(resp.metrics.inspected_spans, 7);
    // newest first
    let ids: Vec<u8> = resp.traces.iter().map(|t| t.trace_id[0]).collect();
    assert_eq!(ids, vec![3, 2, 1]);
    let t1 = &resp.traces[2];
    assert_eq!(t1.root_service_name, "frontend");
    assert_eq!(t1.root_trace_name, "GET /");
    assert_eq!(t1.duration_ms, 100);
    assert_eq!(t1.start_time_unix_nano, 1_000_000_000);
    assert_eq!(t1.span_sets.len(), 1);
    assert_eq!(t1.span_sets[0].matched, 5);
    assert_eq!(t1.span_sets[0].spans.len(), 2);
    // earliest spans first
    assert_eq!(t1.span_sets[0].spans[0].span_id, [1; 8]);
    assert_eq!(t1.span_sets[0].spans[0].duration_nanos, 100_000_000);
    let t2 = &resp.traces[1];
    assert_eq!(t2.root_service_name, ROOT_SPAN_NOT_YET_RECEIVED);
    assert_eq!(t2.root_trace_name, "");
}

#[test]
fn limit_and_durations_filter_traces() {
    let s = store();
    let mut req = SearchRequest::new("");
    req.limit = 1;
    let resp = search(&s, &tenant(), &req).unwrap();
    assert_eq!(resp.traces.len(), 1);
    assert_eq!(resp.traces[0].trace_id, [3; 16]);

    let mut req = SearchRequest::new("{}");
    req.min_duration_nanos = Some(50_000_000);
    req.max_duration_nanos = Some(1_000_000_000);
    let resp = search(&s, &tenant(), &req).unwrap();
    let ids: Vec<u8> = resp.traces.iter().map(|t| t.trace_id[0]).collect();
    assert_eq!(ids, vec![1]);

    req.min_duration_nanos = Some(2_000_000_000);
    req.max_duration_nanos = Some(1);
    let err = search(&s, &tenant(), &req).unwrap_err();
    assert_eq!(err.status_code(), StatusCode::BadData);
}

#[test]
fn time_range_and_tenants_scope_the_search() {
    let s = store();
    let mut req = SearchRequest::new("{}");
    req.start_nanos = 2_500_000_000;
    let resp = search(&s, &tenant(), &req).unwrap();
    let ids: Vec<u8> = resp.traces.iter().map(|t| t.trace_id[0]).collect();
    assert_eq!(ids, vec![3]);
    let other = TenantId::new("other").unwrap();
    assert!(search(&s, &other, &req).unwrap().traces.is_empty());
}

#[test]
fn returned_spans_carry_referenced_and_selected_attributes() {
    let s = store();
    let req = SearchRequest::new("{ span.http.status_code = 202 } | select(name, kind)");
    let resp = search(&s, &tenant(), &req).unwrap();
    assert_eq!(resp.traces.len(), 1);
    let sp = &resp.traces[0].span_sets[0].spans[0];
    let keys: Vec<&str> = sp.attributes.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(
        keys,
        vec!["http.status_code", "kind", "name", "service.name"]
    );
    assert_eq!(sp.attributes[0].value, AnyValue::Int(202));
    assert_eq!(
        sp.attributes[1].value,
        AnyValue::String("unspecified".into())
    );
}

#[test]
fn tested_status_and_kind_are_shown_on_spans() {
    let s = store();
    let req = SearchRequest::new("{ status = unset && kind = unspecified && name = \"POST /\" }");
    let resp = search(&s, &tenant(), &req).unwrap();
    let sp = &resp.traces[0].span_sets[0].spans[0];
    let kvs: Vec<String> = sp
        .attributes
        .iter()
        .map(|kv| format!("{}={}", kv.key, kv.value.to_text()))
        .collect();
    assert_eq!(
        kvs,
        vec!["status=unset", "kind=unspecified", "service.name=api"]
    );
}

#[test]
fn parse_errors_are_bad_data() {
    let s = store();
    let err = search(&s, &tenant(), &SearchRequest::new("{ .a = }")).unwrap_err();
    assert_eq!(err.status_code(), StatusCode::BadData);
    assert_eq!(
        err.to_string(),
        "parse error at line 1, col 8: unexpected '}'"
    );
    assert!(matches!(
        err,
        TraceqlError::Parse {
            line: 1,
            col: 8,
            ..
        }
    ));
    assert!(validate("{ .a = 1 } >> { .b = 2 } | count() > 1").is_ok());
    assert!(validate("{ .a = 1 } |").is_err());
}

/// A store that records the scan it was asked for and can fail.
struct Recording {
    inner: MemTraceStore,
    scans: Mutex<Vec<TraceScan>>,
    fail: bool,
}

impl TraceQueryable for Recording {
    fn trace_by_id(
        &self,
        t: &TenantId,
        id: &TraceId,
        r: Option<(u64, u64)>,
    ) -> Result<Option<Trace>, StoreError> {
        self.inner.trace_by_id(t, id, r)
    }
    fn scan(
        &self,
        t: &TenantId,
        scan: &TraceScan,
        visit: &mut dyn FnMut(&Trace) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        self.scans.lock().unwrap().push(scan.clone());
        if self.fail {
            return Err(StoreError::Unavailable("store is shutting down".into()));
        }
        self.inner.scan(t, scan, visit)
    }
    fn tag_names(&self, t: &TenantId, s: u64, e: u64) -> Result<TagNames, StoreError> {
        self.inner.tag_names(t, s, e)
    }
    fn tag_values(
        &self,
        t: &TenantId,
        scope: Option<AttrScope>,
        key: &str,
        s: u64,
        e: u64,
        limit: usize,
    ) -> Result<Vec<AnyValue>, StoreError> {
        self.inner.tag_values(t, scope, key, s, e, limit)
    }
    fn operations(
        &self,
        t: &TenantId,
        svc: Option<&str>,
        s: u64,
        e: u64,
    ) -> Result<Vec<Operation>, StoreError> {
        self.inner.operations(t, svc, s, e)
    }
}

#[test]
fn hints_reach_the_store_and_store_errors_pass_through() {
    let rec = Recording {
        inner: store(),
        scans: Mutex::new(Vec::new()),
        fail: false,
    };
    let mut req = SearchRequest::new(
        r#"{ resource.service.name = "frontend" && name = "child" && duration >= 1ms }"#,
    );
    req.start_nanos = 5;
    req.end_nanos = 10_000_000_000;
    let resp = search(&rec, &tenant(), &req).unwrap();
    assert_eq!(resp.traces.len(), 1);
    assert_eq!(resp.traces[0].span_sets[0].matched, 4);
    let scans = rec.scans.lock().unwrap();
    assert_eq!(scans[0].start_nanos, 5);
    assert_eq!(scans[0].end_nanos, 10_000_000_000);
    assert_eq!(
        scans[0].hints,
        vec![
            ScanHint::AttrEquals {
                scope: Some(AttrScope::Resource),
                key: "service.name".into(),
                value: "frontend".into()
            },
            ScanHint::SpanName("child".into()),
            ScanHint::MinSpanDuration(1_000_000),
        ]
    );
    drop(scans);
    let failing = Recording {
        inner: store(),
        scans: Mutex::new(Vec::new()),
        fail: true,
    };
    let err = search(&failing, &tenant(), &SearchRequest::new("{}")).unwrap_err();
    assert_eq!(err.status_code(), StatusCode::Unavailable);
    assert_eq!(err.to_string(), "store is shutting down");
}

#[test]
fn evaluate_exposes_spansets_directly() {
    let s = store();
    let trace = s.trace_by_id(&tenant(), &[1; 16], None).unwrap().unwrap();
    let q = Query::parse("{ } | by(name) | count() > 1").unwrap();
    let sets = q.evaluate(&trace);
    assert_eq!(sets.len(), 1);
    assert_eq!(sets[0].spans.len(), 4);
    let attrs: Vec<String> = sets[0]
        .attributes
        .iter()
        .map(|kv| format!("{}={}", kv.key, kv.value.to_text()))
        .collect();
    assert_eq!(attrs, vec!["by(name)=child", "count()=4"]);
}

#[test]
fn deepest_accepted_queries_evaluate_without_exhausting_the_stack() {
    let s = store();
    // long chains of conditions and of spansets, just under the nesting limit
    let chain = format!(
        "{{ {} || name = \"child\" }}",
        vec!["span.nope = 1"; 180].join(" || ")
    );
    let resp = search(&s, &tenant(), &SearchRequest::new(chain)).unwrap();
    assert_eq!(resp.traces.len(), 1);
    let parens = format!("{{ {}name = \"child\"{} }}", "(".repeat(90), ")".repeat(90));
    let resp = search(&s, &tenant(), &SearchRequest::new(parens)).unwrap();
    assert_eq!(resp.traces.len(), 1);
    let spansets = vec!["{ name = \"child\" }"; 180].join(" && ");
    let resp = search(&s, &tenant(), &SearchRequest::new(spansets)).unwrap();
    assert_eq!(resp.traces.len(), 1);
    let too_deep = vec!["{ }"; 300].join(" && ");
    assert!(search(&s, &tenant(), &SearchRequest::new(too_deep)).is_err());
}

/// A store made of blocks that, like the real store, skips a whole block unless some
/// of its spans satisfy every hint, and visits each candidate trace once with the
/// spans of all blocks.
struct Blocks {
    blocks: Vec<MemTraceStore>,
}

fn block_satisfies(block: &MemTraceStore, t: &TenantId, hints: &[ScanHint]) -> bool {
    let mut seen: Vec<bool> = vec![false; hints.len()];
    let all = TraceScan {
        start_nanos: 0,
        end_nanos: u64::MAX,
        hints: Vec::new(),
    };
    block
        .scan(t, &all, &mut |trace| {
            for (res, _, span) in trace.spans() {
                for (h, seen) in hints.iter().zip(seen.iter_mut()) {
                    let str_eq = |kvs: &[KeyValue], key: &str, value: &str| {
                        kvs.iter()
                            .any(|kv| kv.key == key && kv.value == AnyValue::String(value.into()))
                    };
                    *seen |= match h {
                        ScanHint::AttrEquals { scope, key, value } => match scope {
                            Some(AttrScope::Span) => str_eq(&span.attributes, key, value),
                            Some(AttrScope::Resource) => str_eq(&res.attributes, key, value),
                            None => {
                                str_eq(&span.attributes, key, value)
                                    || str_eq(&res.attributes, key, value)
                            }
                        },
                        ScanHint::SpanName(n) => span.name == *n,
                        ScanHint::MinSpanDuration(d) => span.duration_nanos() >= *d,
                    };
                }
            }
            ControlFlow::Continue(())
        })
        .unwrap();
    seen.iter().all(|s| *s)
}

impl TraceQueryable for Blocks {
    fn trace_by_id(
        &self,
        t: &TenantId,
        id: &TraceId,
        r: Option<(u64, u64)>,
    ) -> Result<Option<Trace>, StoreError> {
        let mut out: Option<Trace> = None;
        for b in &self.blocks {
            if let Some(part) = b.trace_by_id(t, id, r)? {
                match &mut out {
                    Some(o) => o.resource_spans.extend(part.resource_spans),
                    None => out = Some(part),
                }
            }
        }
        Ok(out)
    }
    fn scan(
        &self,
        t: &TenantId,
        scan: &TraceScan,
        visit: &mut dyn FnMut(&Trace) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        let mut ids: Vec<TraceId> = Vec::new();
        for b in &self.blocks {
            if !block_satisfies(b, t, &scan.hints) {
                continue;
            }
            let plain = TraceScan {
                hints: Vec::new(),
                ..scan.clone()
            };
            b.scan(t, &plain, &mut |trace| {
                if !ids.contains(&trace.trace_id) {
                    ids.push(trace.trace_id);
                }
                ControlFlow::Continue(())
            })?;
        }
        for id in ids {
            if let Some(trace) = self.trace_by_id(t, &id, None)? {
                if visit(&trace).is_break() {
                    break;
                }
            }
        }
        Ok(())
    }
    fn tag_names(&self, t: &TenantId, s: u64, e: u64) -> Result<TagNames, StoreError> {
        self.blocks[0].tag_names(t, s, e)
    }
    fn tag_values(
        &self,
        t: &TenantId,
        scope: Option<AttrScope>,
        key: &str,
        s: u64,
        e: u64,
        limit: usize,
    ) -> Result<Vec<AnyValue>, StoreError> {
        self.blocks[0].tag_values(t, scope, key, s, e, limit)
    }
    fn operations(
        &self,
        t: &TenantId,
        svc: Option<&str>,
        s: u64,
        e: u64,
    ) -> Result<Vec<Operation>, StoreError> {
        self.blocks[0].operations(t, svc, s, e)
    }
}

#[test]
fn traces_split_over_blocks_are_found_by_queries_over_several_filters() {
    // the parent "A" (a=x) was cut into an older block than its child "B" (b=y)
    let mut parent = span(9, 1, 0, "A", 1_000, 500);
    parent.attributes.push(KeyValue::string("a", "x"));
    let mut child = span(9, 2, 1, "B", 1_100, 100);
    child.attributes.push(KeyValue::string("b", "y"));
    let newer = MemTraceStore::new();
    newer
        .append_spans(&tenant(), batch("api", vec![child]))
        .unwrap();
    let older = MemTraceStore::new();
    older
        .append_spans(&tenant(), batch("api", vec![parent]))
        .unwrap();
    let store = Blocks {
        blocks: vec![newer, older],
    };
    for q in [
        r#"{ span.a = "x" } && { span.b = "y" }"#,
        r#"{ name = "A" } >> { name = "B" }"#,
        r#"{ name = "A" } > { span.b = "y" }"#,
        r#"{ span.b = "y" } << { span.a = "x" }"#,
        r#"{ name = "A" } | { } | count() = 1"#,
    ] {
        let resp = search(&store, &tenant(), &SearchRequest::new(q)).unwrap();
        let ids: Vec<TraceId> = resp.traces.iter().map(|t| t.trace_id).collect();
        assert_eq!(ids, vec![[9; 16]], "{q}");
    }
    // the blocks do skip: no block holds a span with both conditions
    let resp = search(
        &store,
        &tenant(),
        &SearchRequest::new(r#"{ span.a = "x" && span.b = "y" }"#),
    )
    .unwrap();
    assert!(resp.traces.is_empty());
    assert_eq!(resp.metrics.inspected_traces, 0);
}

/// A trace of `n` spans: with `chain`, each span is the parent of the next; otherwise
/// span 1 is the parent of all the others.
fn deep_trace(n: u64, chain: bool) -> Trace {
    let spans = (1..=n)
        .map(|i| {
            let parent = match (i, chain) {
                (1, _) => 0,
                (_, true) => i - 1,
                (_, false) => 1,
            };
            Span {
                trace_id: [7; 16],
                span_id: i.to_be_bytes(),
                parent_span_id: parent.to_be_bytes(),
                name: match i {
                    1 => "root".to_string(),
                    _ if i == n => "leaf".to_string(),
                    _ => "mid".to_string(),
                },
                start_unix_nano: 1_000 + i,
                end_unix_nano: 1_000_000 - i,
                ..Span::default()
            }
        })
        .collect();
    Trace {
        trace_id: [7; 16],
        resource_spans: batch("deep", spans).resource_spans,
    }
}

fn matched(q: &str, trace: &Trace) -> usize {
    Query::parse(q)
        .unwrap()
        .evaluate(trace)
        .iter()
        .map(|s| s.spans.len())
        .sum()
}

#[test]
fn structural_operators_scale_to_deep_and_wide_traces() {
    let n = 50_000;
    let chain = deep_trace(n, true);
    let all = n as usize;
    assert_eq!(matched(r#"{ name = "root" } >> { }"#, &chain), all - 1);
    assert_eq!(matched(r#"{ name = "leaf" } << { }"#, &chain), all - 1);
    assert_eq!(matched("{ } >> { }", &chain), all - 1);
    assert_eq!(matched("{ } << { }", &chain), all - 1);
    assert_eq!(matched("{ } &>> { }", &chain), all);
    assert_eq!(matched("{ } &<< { }", &chain), all);
    assert_eq!(
        matched(r#"{ name = "leaf" } &<< { name = "root" }"#, &chain),
        2
    );
    assert_eq!(matched("{ } !>> { }", &chain), 1);
    assert_eq!(matched("{ } !<< { }", &chain), 1);
    assert_eq!(matched("{ } > { }", &chain), all - 1);
    assert_eq!(matched("{ } &< { }", &chain), all);
    assert_eq!(matched("{ } ~ { }", &chain), 0);

    let star = deep_trace(n, false);
    assert_eq!(matched("{ } ~ { }", &star), all - 1);
    assert_eq!(matched("{ } &~ { }", &star), all - 1);
    assert_eq!(
        matched(r#"{ name = "leaf" } &~ { name = "leaf" }"#, &star),
        0
    );
    assert_eq!(matched(r#"{ name = "leaf" } &~ { }"#, &star), all - 1);
    assert_eq!(matched(r#"{ } &~ { name = "leaf" }"#, &star), all - 1);
    assert_eq!(matched("{ } !~ { }", &star), 1);
    assert_eq!(matched("{ } >> { }", &star), all - 1);
    assert_eq!(matched("{ } &<< { }", &star), all);
}

#[test]
fn a_passed_deadline_stops_the_search_with_a_timeout() {
    let s = store();
    let mut req = SearchRequest::new("{ }");
    req.deadline = Some(std::time::Instant::now());
    let err = search(&s, &tenant(), &req).unwrap_err();
    assert!(matches!(err, TraceqlError::Timeout { inspected: 0 }));
    assert_eq!(err.status_code(), StatusCode::Timeout);
    assert_eq!(
        err.to_string(),
        "search deadline passed after inspecting 0 traces"
    );
    req.deadline = Some(std::time::Instant::now() + std::time::Duration::from_secs(3600));
    assert_eq!(search(&s, &tenant(), &req).unwrap().traces.len(), 3);
}

#[test]
fn limit_and_spans_per_spanset_are_clamped() {
    let s = MemTraceStore::new();
    // trace 1 has 150 spans; 10_005 one-span traces follow
    let wide: Vec<Span> = (1..=150u64)
        .map(|i| Span {
            trace_id: [1; 16],
            span_id: i.to_be_bytes(),
            parent_span_id: if i == 1 { [0; 8] } else { 1u64.to_be_bytes() },
            name: "wide".into(),
            start_unix_nano: i,
            end_unix_nano: i + 10,
            ..Span::default()
        })
        .collect();
    s.append_spans(&tenant(), batch("svc", wide)).unwrap();
    let narrow: Vec<Span> = (2..10_007u128)
        .map(|t| Span {
            trace_id: t.to_be_bytes(),
            span_id: 1u64.to_be_bytes(),
            name: "narrow".into(),
            start_unix_nano: 1_000 + t as u64,
            end_unix_nano: 2_000 + t as u64,
            ..Span::default()
        })
        .collect();
    s.append_spans(&tenant(), batch("svc", narrow)).unwrap();

    let mut req = SearchRequest::new(r#"{ name = "wide" }"#);
    req.spans_per_spanset = 1_000;
    let resp = search(&s, &tenant(), &req).unwrap();
    assert_eq!(resp.traces[0].span_sets[0].matched, 150);
    assert_eq!(
        resp.traces[0].span_sets[0].spans.len(),
        oxeye_traceql::MAX_SPANS_PER_SPANSET
    );

    let mut req = SearchRequest::new("{ }");
    req.limit = usize::MAX;
    let resp = search(&s, &tenant(), &req).unwrap();
    assert_eq!(resp.traces.len(), oxeye_traceql::MAX_LIMIT);
}
