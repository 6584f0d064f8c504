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
    let segments = Segments::new(agg, steps);
    let scanned = AtomicU64::new(0);
    let none = Grouping {
        without: false,
        labels: Vec::new(),
    };
    let filter = key_filter(Some(&none));
    let limits = EngineLimits::default();
    let ctx = Ctx {
        agg,
        segments: &segments,
        fold: folds(agg.op),
        steps: steps.len(),
        pipeline: &pipeline,
        post: &[],
        filter: filter.as_ref(),
        start_ns: i64::MIN,
        end_ns: i64::MAX,
        limits: &limits,
        scanned: &scanned,
        deadline: None,
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
fn lines_fold_into_segments() {
    // Instant: one window (40s, 100s]; 5999 lines of each of 3 streams in it.
    let agg = range_agg(r#"count_over_time({app="a"}[1m])"#);
    let steps = [100_000];
    let groups = scan_groups(&agg, &steps, 3);
    assert_eq!(groups.len(), 1);
    let g = &groups[0].1;
    assert!(g.points.is_empty());
    let mut buckets = g.buckets.clone();
    compact(&mut buckets);
    assert_eq!(buckets.len(), 1);
    assert_eq!(buckets[0].1.n, 17_997.0);
    let segments = Segments::new(&agg, &steps);
    let samples = sweep_buckets(&agg, &buckets, &segments, &steps);
    assert_eq!(samples, vec![Sample::new(100_000, 17_997.0)]);
    // Steps 20s apart with 10s windows: lines between windows are skipped.
    let agg = range_agg(r#"count_over_time({app="a"}[10s])"#);
    let steps: Vec<i64> = (0..=5).map(|i| i * 20_000).collect();
    let groups = scan_groups(&agg, &steps, 3);
    let g = &groups[0].1;
    assert!(g.points.is_empty());
    let mut buckets = g.buckets.clone();
    compact(&mut buckets);
    let segments = Segments::new(&agg, &steps);
    let counts: Vec<f64> = sweep_buckets(&agg, &buckets, &segments, &steps)
        .iter()
        .map(|s| s.v)
        .collect();
    // (-10s, 0] holds the line at 0; (10s, 20s] and later ones 1000 lines each (the
    // store ends at 99.99s, so (90s, 100s] has 999).
    assert_eq!(counts, vec![3.0, 3000.0, 3000.0, 3000.0, 3000.0, 2997.0]);
    // Overlapping windows (30s every 20s): segments of 10s, each window three of them;
    // still no points, and at most a few buckets per segment.
    let agg = range_agg(r#"count_over_time({app="a"}[30s])"#);
    let groups = scan_groups(&agg, &steps, 3);
    let g = &groups[0].1;
    assert!(g.points.is_empty());
    assert!(g.buckets.len() <= 64, "{}", g.buckets.len());
    let mut buckets = g.buckets.clone();
    compact(&mut buckets);
    let segments = Segments::new(&agg, &steps);
    let counts: Vec<f64> = sweep_buckets(&agg, &buckets, &segments, &steps)
        .iter()
        .map(|s| s.v)
        .collect();
    assert_eq!(counts, vec![3.0, 6003.0, 9000.0, 9000.0, 9000.0, 8997.0]);
    // Operations that need every value keep points.
    let agg = range_agg(
        r#"quantile_over_time(0.5, {app="a"} | regexp "line (?P<n>\\d+)" | unwrap n [30s])"#,
    );
    let groups = scan_groups(&agg, &steps, 1);
    assert!(groups[0].1.buckets.is_empty());
    assert_eq!(groups[0].1.points.len(), 10_000);
}

#[test]
fn segments_index_times() {
    let agg = range_agg(r#"count_over_time({app="a"}[10s])"#);
    let seg = Segments::new(&agg, &[10_000, 20_000, 40_000]);
    let s = 1_000_000_000;
    assert_eq!(seg.index(0), None);
    assert_eq!(seg.index(1), Some(1));
    assert_eq!(seg.index(10 * s), Some(1));
    assert_eq!(seg.index(10 * s + 1), Some(2));
    assert_eq!(seg.index(25 * s), None);
    assert_eq!(seg.index(40 * s), Some(4));
    assert_eq!(seg.index(40 * s + 1), None);
    // Overlapping: (0, 10s], (5s, 15s] cut into (0, 5s], (5s, 10s], (10s, 15s].
    let seg = Segments::new(&agg, &[10_000, 15_000]);
    assert_eq!(seg.bounds, vec![0, 5 * s, 10 * s, 15 * s]);
    assert_eq!(seg.spans, vec![(0, 2), (1, 3)]);
    assert_eq!(seg.index(7 * s), Some(2));
}

#[test]
fn sliding_fold_matches_direct_folds() {
    let mut q = SlidingFold::default();
    let vals = [3.0, -1.0, 7.5, 2.0, 10.0, 0.5];
    for (k, v) in vals.iter().enumerate() {
        q.push(k, Acc::new(*v));
        if k >= 3 {
            q.pop();
        }
        let lo = k.saturating_sub(2);
        let win = &vals[lo..=k];
        let f = q.fold().unwrap();
        assert_eq!(f.n, win.len() as f64);
        assert_eq!(f.sum, win.iter().sum::<f64>());
        assert_eq!(f.min, win.iter().copied().fold(f64::INFINITY, f64::min));
        assert_eq!(f.max, win.iter().copied().fold(f64::NEG_INFINITY, f64::max));
    }
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

#[test]
fn quantiles_and_variance() {
    let w: Vec<(i64, f64)> = [1.0, 2.0, 3.0, 4.0].iter().map(|v| (0, *v)).collect();
    assert_eq!(quantile(0.5, &w), 2.5);
    assert_eq!(quantile(1.0, &w), 4.0);
    assert_eq!(variance(&w), 1.25);
}
