//! Unit tests of range aggregations: windows, folding, counter rates.

use oxeye_core::logs::{LogAppender, LogBatch, LogEntry, LogStream};
use oxeye_core::logs_mem::MemLogStore;

use super::*;
use crate::ast::{Expr, SampleExpr};

fn range_agg(q: &str) -> RangeAgg {
    match crate::parse(q).unwrap() {
        Expr::Sample(SampleExpr::Range(agg)) => *agg,
        _ => panic!("not a range aggregation: {q}"),
    }
}

/// Scans a store of `streams` streams with a line every 10ms over 100s for `agg`
/// at `steps`, returning the groups one thread builds.
fn scan_groups(agg: &RangeAgg, steps: &[i64], streams: usize) -> Vec<(String, Group)> {
    let t = TenantId::new("t").unwrap();
    let store = MemLogStore::new();
    for s in 0..streams {
        let entries = (0..10_000i64)
            .map(|i| LogEntry::new(i * 10_000_000, format!("line {i}")))
            .collect();
        store
            .append_logs(
                &t,
                LogBatch {
                    streams: vec![LogStream {
                        labels: Labels::from_pairs(&[("app", "a"), ("s", &s.to_string())]),
                        entries,
                    }],
                },
            )
            .unwrap();
    }
    let pipeline = LogPipeline::compile(&agg.log, Some(&[])).unwrap();
    let windows = Windows::new(agg, steps);
    let scanned = AtomicU64::new(0);
    let none = Grouping {
        without: false,
        labels: Vec::new(),
    };
    let filter = key_filter(Some(&none));
    let limits = EngineLimits::default();
    let ctx = Ctx {
        agg,
        windows: windows.as_ref(),
        fold: windows.is_some() && folds(agg.op),
        steps: steps.len(),
        pipeline: &pipeline,
        post: &[],
        filter: filter.as_ref(),
        start_ns: i64::MIN,
        end_ns: i64::MAX,
        limits: &limits,
        scanned: &scanned,
    };
    let series = store
        .select_logs(
            &t,
            pipeline.matchers(),
            &LogSelect {
                start_ns: i64::MIN,
                end_ns: i64::MAX,
                ..LogSelect::default()
            },
        )
        .unwrap();
    scan(&ctx, series.iter()).unwrap().groups
}

#[test]
fn disjoint_windows_fold_lines_into_steps() {
    // Instant: one window (40s, 100s]; 5999 lines of each of 3 streams in it.
    let agg = range_agg(r#"count_over_time({app="a"}[1m])"#);
    let groups = scan_groups(&agg, &[100_000], 3);
    assert_eq!(groups.len(), 1);
    let g = &groups[0].1;
    assert!(g.points.is_empty());
    let mut buckets = g.buckets.clone();
    compact(&mut buckets);
    assert_eq!(buckets.len(), 1);
    assert_eq!(buckets[0].0, 0);
    assert_eq!(buckets[0].1.n, 17_997.0);
    // Steps 20s apart with 10s windows: lines between windows are skipped, the
    // buckets stay below the number of steps times two whatever the lines.
    let agg = range_agg(r#"count_over_time({app="a"}[10s])"#);
    let steps: Vec<i64> = (0..=5).map(|i| i * 20_000).collect();
    let groups = scan_groups(&agg, &steps, 3);
    let g = &groups[0].1;
    assert!(g.points.is_empty());
    assert!(g.buckets.len() <= 64, "{}", g.buckets.len());
    let mut buckets = g.buckets.clone();
    compact(&mut buckets);
    let counts: Vec<(usize, f64)> = buckets.iter().map(|(i, a)| (*i, a.n)).collect();
    // (−10s, 0] holds the line at 0; (10s, 20s] and later ones 1000 lines each (the
    // store ends at 99.99s, so (90s, 100s] has 999).
    assert_eq!(
        counts,
        vec![
            (0, 3.0),
            (1, 3000.0),
            (2, 3000.0),
            (3, 3000.0),
            (4, 3000.0),
            (5, 2997.0)
        ]
    );
    // Overlapping windows keep points.
    let agg = range_agg(r#"count_over_time({app="a"}[30s])"#);
    let groups = scan_groups(&agg, &steps, 1);
    assert!(groups[0].1.buckets.is_empty());
    assert_eq!(groups[0].1.points.len(), 10_000);
}

#[test]
fn windows_index_times() {
    let agg = range_agg(r#"count_over_time({app="a"}[10s])"#);
    let w = Windows::new(&agg, &[10_000, 20_000, 40_000]).unwrap();
    let s = 1_000_000_000;
    assert_eq!(w.index(0), None);
    assert_eq!(w.index(1), Some(0));
    assert_eq!(w.index(10 * s), Some(0));
    assert_eq!(w.index(10 * s + 1), Some(1));
    assert_eq!(w.index(25 * s), None);
    assert_eq!(w.index(40 * s), Some(2));
    assert_eq!(w.index(40 * s + 1), None);
    assert!(Windows::new(&agg, &[10_000, 15_000]).is_none());
}

#[test]
fn quantiles_and_variance() {
    let w: Vec<(i64, f64)> = [1.0, 2.0, 3.0, 4.0].iter().map(|v| (0, *v)).collect();
    assert_eq!(quantile(0.5, &w), 2.5);
    assert_eq!(quantile(1.0, &w), 4.0);
    assert_eq!(variance(&w), 1.25);
}

#[test]
fn counter_rate_handles_resets() {
    let s = 1_000_000_000;
    let w = vec![(10 * s, 0.0), (20 * s, 10.0), (30 * s, 2.0), (40 * s, 12.0)];
    // Increase 22 (a reset from 10 to 2) over 30s sampled; the range starts 60s
    // before the first sample, so the start extrapolates to the zero point (the first
    // sample itself); the end is the last sample. 22 / 60s.
    let r = counter_rate(&w, 60 * s);
    assert_eq!(r, 22.0 / 60.0);
    // Starting above zero: to_start is min(60, 30 * 5 / 12 = 12.5) >= 1.1 * 10, so
    // half an interval is added: 12 * 35 / 30 / 60.
    let w = vec![
        (10 * s, 5.0),
        (20 * s, 10.0),
        (30 * s, 15.0),
        (40 * s, 17.0),
    ];
    assert_eq!(counter_rate(&w, 60 * s), 12.0 * (35.0 / 30.0) / 60.0);
    // Close to zero: the zero point (30 * 1 / 9 = 3.33s) is within the threshold.
    let w = vec![(10 * s, 1.0), (20 * s, 4.0), (30 * s, 7.0), (40 * s, 10.0)];
    let want = 9.0 * ((30.0 + 30.0 * (1.0 / 9.0)) / 30.0) / 60.0;
    assert_eq!(counter_rate(&w, 60 * s), want);
    assert_eq!(counter_rate(&w[..1], 60 * s), 0.0);
}
