//! Arbitrary query text never panics the parser, and whatever parses evaluates without
//! panicking on a trace with cycles, orphans and odd values.

use oxeye_core::trace::{
    AnyValue, KeyValue, Resource, ResourceSpans, ScopeSpans, Span, SpanEvent, Trace,
};
use oxeye_traceql::Query;
use proptest::prelude::*;

const PIECES: &[&str] = &[
    "{",
    "}",
    "(",
    ")",
    "|",
    "&&",
    "||",
    "!",
    "=",
    "!=",
    ">",
    ">=",
    "<",
    "<=",
    "=~",
    "!~",
    ">>",
    "<<",
    "~",
    "!>",
    "&>>",
    "+",
    "-",
    "*",
    "/",
    "%",
    "^",
    ",",
    "span.a",
    ".b",
    "resource.service.name",
    "span.\"x y\"",
    "name",
    "status",
    "kind",
    "duration",
    "trace:duration",
    "span:id",
    "event:name",
    "nestedSetLeft",
    "count()",
    "avg(duration)",
    "max(span.a)",
    "by(.b)",
    "select(name, span.a)",
    "coalesce()",
    "1",
    "-2",
    "2.5",
    "10ms",
    "1h",
    "\"x\"",
    "\".*\"",
    "`a`",
    "nil",
    "true",
    "error",
    "server",
    "minInt",
    " ",
    "\n",
    "with",
    "(most_recent=true)",
    "µ",
    "\"",
    "`",
    "&",
    "1e",
    "5min",
];

fn trace() -> Trace {
    let span = |id: u8, parent: u8, attrs: Vec<KeyValue>| Span {
        trace_id: [1; 16],
        span_id: [id; 8],
        parent_span_id: [parent; 8],
        name: format!("s{id}"),
        start_unix_nano: u64::from(id) * 10,
        end_unix_nano: u64::from(id) * 5,
        attributes: attrs,
        events: vec![SpanEvent {
            name: "e".into(),
            ..SpanEvent::default()
        }],
        ..Span::default()
    };
    Trace {
        trace_id: [1; 16],
        resource_spans: vec![ResourceSpans {
            resource: Resource {
                attributes: vec![KeyValue::string("service.name", "svc")],
                ..Resource::default()
            },
            scope_spans: vec![ScopeSpans {
                spans: vec![
                    // a parent cycle, a self-parent, an orphan and a root
                    span(1, 2, vec![KeyValue::new("a", AnyValue::Int(i64::MAX))]),
                    span(2, 1, vec![KeyValue::new("a", AnyValue::Double(f64::NAN))]),
                    span(3, 3, vec![KeyValue::new("b", AnyValue::Array(vec![]))]),
                    span(4, 9, vec![KeyValue::new("a", AnyValue::Int(i64::MIN))]),
                    span(5, 0, vec![KeyValue::new("b", AnyValue::Bytes(vec![0xff]))]),
                ],
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        }],
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn arbitrary_queries_never_panic(parts in proptest::collection::vec(0..PIECES.len(), 0..24)) {
        let q: String = parts.iter().filter_map(|i| PIECES.get(*i)).copied().collect::<Vec<_>>().join(" ");
        if let Ok(query) = Query::parse(&q) {
            let _ = query.evaluate(&trace());
            let _ = query.hints();
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(s in "\\PC{0,64}") {
        let _ = Query::parse(&s);
        let _ = oxeye_traceql::tags_to_query(&s);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn request_helpers_never_panic(s in "[{}()|&=!<>~.\"a-z0-9 µ:]{0,40}") {
        let _ = oxeye_traceql::lenient_filter(&s);
        let _ = oxeye_traceql::parse_duration(&s);
        let _ = oxeye_traceql::validate(&s);
    }
}
