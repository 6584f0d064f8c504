use super::*;

#[test]
fn errors_on_later_lines_name_the_line() {
    let e = parse("{app=\"foo\"}\n  |= \"x\" ?").unwrap_err();
    assert_eq!(
        e.to_string(),
        "parse error at line 2, col 10: unexpected character '?'"
    );
    let e = parse("sum(\n  count_over_time({app=\"foo\"}[5m]\n)").unwrap_err();
    assert_eq!(
        e.to_string(),
        "parse error at line 3, col 2: syntax error: unexpected $end, expecting )"
    );
}

#[test]
fn parses_log_and_metric_queries() {
    assert!(matches!(parse("{a=\"b\"} |= \"x\"").unwrap(), Expr::Log(_)));
    assert!(matches!(
        parse("sum by (a) (rate({a=\"b\"}[5m]))").unwrap(),
        Expr::Sample(SampleExpr::Vector { .. })
    ));
    let Expr::Sample(SampleExpr::Binary { op, .. }) = parse("1 + 2 * 3").unwrap() else {
        panic!("expected a binary expression");
    };
    assert_eq!(op, BinOp::Add);
    let big = parse("1e400").unwrap();
    assert_eq!(big.to_string(), "+Inf");
    assert_eq!(parse(&big.to_string()).unwrap(), big);
    assert_eq!(parse("-Inf").unwrap().to_string(), "-Inf");
}

#[test]
fn range_may_precede_the_pipeline() {
    let a = parse("count_over_time({a=\"b\"}[5m] |= \"x\" | json)").unwrap();
    let b = parse("count_over_time({a=\"b\"} |= \"x\" | json [5m])").unwrap();
    assert_eq!(a, b);
}
