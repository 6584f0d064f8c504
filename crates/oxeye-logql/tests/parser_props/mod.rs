//! Property tests of the parser: it never panics, and the canonical text of any
//! generated query parses back to the same tree.

use proptest::prelude::*;

fn ident() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9_]{0,6}".prop_filter("keywords", |s| {
        !matches!(
            s.as_str(),
            "or" | "and"
                | "unless"
                | "by"
                | "without"
                | "bool"
                | "on"
                | "ignoring"
                | "offset"
                | "ip"
        )
    })
}

fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 _.:/\"\\\\-]{0,8}"
}

fn selector() -> impl Strategy<Value = String> {
    (
        ident(),
        "[a-z0-9]{1,6}",
        prop::collection::vec(
            (
                ident(),
                prop::sample::select(vec!["=", "!=", "=~", "!~"]),
                "[a-z]{0,4}",
            ),
            0..3,
        ),
    )
        .prop_map(|(n, v, rest)| {
            let mut s = format!("{{{n}=\"{v}\"");
            for (n, op, v) in rest {
                s.push_str(&format!(", {n}{op}\"{v}\""));
            }
            s.push('}');
            s
        })
}

fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

fn stage() -> impl Strategy<Value = String> {
    prop_oneof![
        (
            prop::sample::select(vec!["|=", "!="]),
            text(),
            prop::option::of(text())
        )
            .prop_map(|(op, a, b)| match b {
                Some(b) => format!("{op} {} or {}", quoted(&a), quoted(&b)),
                None => format!("{op} {}", quoted(&a)),
            }),
        (
            prop::sample::select(vec!["|~", "!~"]),
            "[a-z]{1,4}(\\.\\*)?"
        )
            .prop_map(|(op, r)| format!("{op} {}", quoted(&r))),
        Just("| json".to_string()),
        (ident(), "[a-z]{1,4}(\\.[a-z]{1,3})?(\\[[0-9]\\])?")
            .prop_map(|(n, p)| format!("| json {n}={}", quoted(&p))),
        Just("| logfmt".to_string()),
        Just("| logfmt --strict --keep-empty".to_string()),
        Just("| unpack".to_string()),
        Just("| decolorize".to_string()),
        ident().prop_map(|n| format!("| regexp \"(?P<{n}>\\\\w+)\"")),
        ident().prop_map(|n| format!("| pattern \"<{n}> <_>\"")),
        (ident(), text()).prop_map(|(n, v)| format!("| {n}={}", quoted(&v))),
        (
            ident(),
            prop::sample::select(vec!["==", "!=", ">", ">=", "<", "<="]),
            0u32..1000
        )
            .prop_map(|(n, op, v)| format!("| {n}{op}{v}")),
        (
            ident(),
            prop::sample::select(vec![">", "<="]),
            prop::sample::select(vec!["5s", "1m30s", "250ms", "1.5s", "2h"])
        )
            .prop_map(|(n, op, d)| format!("| {n}{op}{d}")),
        (ident(), prop::sample::select(vec!["20kB", "1MiB", "5B"]))
            .prop_map(|(n, b)| format!("| {n} > {b}")),
        (ident(), ident(), ident())
            .prop_map(|(a, b, c)| format!("| {a}=\"x\" and ({b}>1 or {c}!=\"y\")")),
        (ident(), ident(), ident()).prop_map(|(a, b, c)| {
            format!("| {a}=\"x\" or ({b}>1 or {c}!=\"y\") and ({a}<2 and {b}=\"z\")")
        }),
        ident().prop_map(|n| format!("| line_format \"{{{{.{n}}}}} {{{{ .{n} | ToUpper }}}}\"")),
        (ident(), ident()).prop_map(|(a, b)| format!("| label_format {a}={b}")),
        (ident(), ident()).prop_map(|(a, b)| format!("| drop {a}, {b}=\"v\"")),
        (ident(), ident()).prop_map(|(a, b)| format!("| keep {a}, {b}=\"v\"")),
    ]
}

fn log_query() -> impl Strategy<Value = String> {
    (selector(), prop::collection::vec(stage(), 0..5)).prop_map(|(s, st)| {
        let mut q = s;
        for x in st {
            q.push(' ');
            q.push_str(&x);
        }
        q
    })
}

fn range_agg() -> impl Strategy<Value = String> {
    (
        log_query(),
        prop::sample::select(vec![
            "count_over_time",
            "rate",
            "bytes_rate",
            "bytes_over_time",
            "absent_over_time",
        ]),
        prop::sample::select(vec!["1m", "5m", "30s", "1h"]),
        prop::option::of(prop::sample::select(vec!["1h", "5m"])),
    )
        .prop_map(|(q, f, r, off)| match off {
            Some(o) => format!("{f}({q} [{r}] offset {o})"),
            None => format!("{f}({q} [{r}])"),
        })
}

fn unwrap_agg() -> impl Strategy<Value = String> {
    (
        log_query(),
        prop::sample::select(vec![
            "sum_over_time",
            "avg_over_time",
            "max_over_time",
            "quantile_over_time",
        ]),
        ident(),
        prop::sample::select(vec!["", "duration", "bytes"]),
        prop::option::of(ident()),
    )
        .prop_map(|(q, f, l, conv, by)| {
            let u = if conv.is_empty() {
                l
            } else {
                format!("{conv}({l})")
            };
            let p = if f == "quantile_over_time" {
                "0.9, "
            } else {
                ""
            };
            let g = by.map(|b| format!(" by ({b})")).unwrap_or_default();
            format!("{f}({p}{q} | unwrap {u} | __error__=\"\" [5m]){g}")
        })
}

fn metric() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        range_agg(),
        unwrap_agg(),
        (0u32..100).prop_map(|n| n.to_string()),
        Just("vector(1)".to_string())
    ];
    leaf.prop_recursive(3, 12, 2, |inner| {
        prop_oneof![
            (
                prop::sample::select(vec!["sum", "avg", "min", "max", "count", "stddev"]),
                prop::option::of((any::<bool>(), ident())),
                inner.clone()
            )
                .prop_map(|(op, g, e)| match g {
                    Some((without, l)) => format!(
                        "{op} {} ({l}) ({e})",
                        if without { "without" } else { "by" }
                    ),
                    None => format!("{op}({e})"),
                }),
            (
                prop::sample::select(vec!["topk", "bottomk"]),
                1u32..5,
                inner.clone()
            )
                .prop_map(|(op, k, e)| format!("{op}({k}, {e})")),
            (
                inner.clone(),
                prop::sample::select(vec!["+", "-", "*", "/", "%", "^", "==", "!=", ">", "<"]),
                inner.clone()
            )
                .prop_map(|(a, op, b)| format!("({a}) {op} ({b})")),
            (
                inner.clone(),
                prop::sample::select(vec!["and", "or", "unless"]),
                inner.clone(),
                ident()
            )
                .prop_map(|(a, op, b, l)| format!(
                    "sum by ({l}) ({a}) {op} on ({l}) sum by ({l}) ({b})"
                )),
            inner
                .clone()
                .prop_map(|e| format!("label_replace({e}, \"dst\", \"$1\", \"src\", \"(.*)\")")),
            inner.prop_map(|e| format!("sort_desc({e})")),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn never_panics_on_arbitrary_text(s in "\\PC{0,60}") {
        let _ = oxeye_logql::parse(&s);
    }

    #[test]
    fn never_panics_on_truncated_queries(q in metric(), cut in 0usize..400) {
        let cut = q.char_indices().map(|(i, _)| i).nth(cut).unwrap_or(q.len());
        let _ = oxeye_logql::parse(&q[..cut]);
    }

    #[test]
    fn log_queries_round_trip(q in log_query()) {
        let e = oxeye_logql::parse(&q).map_err(|e| TestCaseError::fail(format!("{q}: {e}")))?;
        let text = e.to_string();
        let again = oxeye_logql::parse(&text).map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
        prop_assert_eq!(again, e, "{} -> {}", q, text);
    }

    #[test]
    fn metric_queries_round_trip(q in metric()) {
        let Ok(e) = oxeye_logql::parse(&q) else {
            // Some generated combinations are invalid (e.g. set operators on literals).
            return Ok(());
        };
        let text = e.to_string();
        let again = oxeye_logql::parse(&text).map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
        prop_assert_eq!(again, e, "{} -> {}", q, text);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn generated_aggregations_parse_and_round_trip(q in prop_oneof![range_agg(), unwrap_agg()]) {
        let e = oxeye_logql::parse(&q).map_err(|e| TestCaseError::fail(format!("{q}: {e}")))?;
        let text = e.to_string();
        let again = oxeye_logql::parse(&text).map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
        prop_assert_eq!(again, e);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Parsers, filters and templates never panic on any line, and the parse helpers
    /// agree with what the stages extract.
    #[test]
    fn pipelines_never_panic_on_arbitrary_lines(
        line in prop_oneof![
            "\\PC{0,80}",
            "\\{(\"[a-z._ 0-9]{0,4}\":(\"[^\"\\\\]{0,5}\"|[0-9.e-]{1,4}|null|true|\\[1\\]|\\{\\}),?){0,4}\\}?",
            "([a-z.]{0,4}=(\"[^\"]{0,4}\"?|[a-z0-9]{0,3}) ?){0,5}",
            "\u{1b}\\[[0-9;]{0,4}[a-zA-Z]?[a-z ]{0,5}",
        ],
        query in prop::sample::select(vec![
            r#"{a="b"} | json | unpack | logfmt | decolorize"#,
            r#"{a="b"} | logfmt --strict --keep-empty | json x="a.b[0]", y="c""#,
            r#"{a="b"} | regexp "(?P<x>[a-z]+)=(?P<y>\\S*)" | pattern "<p>=<q> <_>""#,
            r#"{a="b"} |> "<_>=<_>" | json | x > 1 or y < 2s or z >= 1kB | label_format w="{{.x | trunc 2}}""#,
            r#"{a="b"} |= ip("10.0.0.0/8") or ip("::1") | line_format "{{ __line__ | b64enc | b64dec | upper }}""#,
        ]),
    ) {
        let p = oxeye_logql::compile_log_query(query).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let stream = oxeye_core::Labels::from_pairs(&[("a", "b")]);
        let _ = p.process(&stream, &oxeye_core::logs::LogEntry::new(1, line.clone()));
        // Whatever serde_json reads as an object, the field parser reads too.
        if serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&line).is_ok() {
            prop_assert!(oxeye_logql::parse_json_fields(&line).is_some(), "{line}");
        }
        if let Some(fields) = oxeye_logql::parse_json_fields(&line) {
            prop_assert!(fields.iter().all(|(n, _)| oxeye_core::validate_label_name(n)));
        }
        if let Some(fields) = oxeye_logql::parse_logfmt_fields(&line) {
            prop_assert!(fields.iter().all(|(n, v)| oxeye_core::validate_label_name(n) && !v.is_empty()));
        }
    }
}
