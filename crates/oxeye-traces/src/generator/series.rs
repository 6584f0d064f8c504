//! Cumulative counters and classic histograms held in memory, and their rendering into
//! Prometheus series (`_bucket{le}` cumulative with `+Inf`, `_sum`, `_count`) with
//! exemplars.

use oxeye_core::trace::{SpanId, TraceId};
use oxeye_core::{Exemplar, Label, Labels, METRIC_NAME, Sample, SeriesWrite};

/// The span an observation came from, kept raw so recording it does not allocate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Ex {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    /// The observed value.
    pub value: f64,
    /// When it was observed, ms.
    pub t_ms: i64,
}

impl Ex {
    /// As a core exemplar with `trace_id` / `span_id` labels in lowercase hex.
    pub fn to_exemplar(self) -> Exemplar {
        Exemplar {
            labels: Labels::new(vec![
                Label::new("span_id", hex(&self.span_id)),
                Label::new("trace_id", hex(&self.trace_id)),
            ]),
            t: self.t_ms,
            v: self.value,
        }
    }
}

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    s
}

/// A counter with the exemplar of its latest increment.
#[derive(Debug, Clone, Default)]
pub(crate) struct Counter {
    pub value: f64,
    /// Latest exemplar not yet collected.
    pub exemplar: Option<Ex>,
}

impl Counter {
    pub fn inc(&mut self, ex: Option<Ex>) {
        self.value += 1.0;
        if ex.is_some() {
            self.exemplar = ex;
        }
    }
}

/// A classic histogram: per-bucket counts (the last one is `+Inf`), sum and count, and the
/// latest exemplar of each bucket not yet collected.
#[derive(Debug, Clone)]
pub(crate) struct Histogram {
    counts: Vec<u64>,
    exemplars: Vec<Option<Ex>>,
    sum: f64,
    count: u64,
}

impl Histogram {
    pub fn new(bounds: &[f64]) -> Self {
        Self {
            counts: vec![0; bounds.len() + 1],
            exemplars: vec![None; bounds.len() + 1],
            sum: 0.0,
            count: 0,
        }
    }

    /// Records `v` into the first bucket whose upper bound is >= `v` (Prometheus's `le`).
    pub fn observe(&mut self, bounds: &[f64], v: f64, ex: Option<Ex>) {
        let i = bounds.partition_point(|b| *b < v);
        debug_assert!(i < self.counts.len());
        if let Some(c) = self.counts.get_mut(i) {
            *c += 1;
        }
        if let (Some(slot), Some(ex)) = (self.exemplars.get_mut(i), ex) {
            *slot = Some(ex);
        }
        self.sum += v;
        self.count += 1;
    }

    /// Appends `<family>_bucket`, `_sum` and `_count` series with `base` labels, sampled at
    /// `t`; takes the pending exemplars.
    pub fn render(
        &mut self,
        family: &str,
        bounds: &[f64],
        base: &[Label],
        t: i64,
        out: &mut Vec<SeriesWrite>,
    ) {
        let bucket = format!("{family}_bucket");
        let mut cumulative = 0u64;
        for (i, c) in self.counts.iter().enumerate() {
            cumulative += c;
            let le = match bounds.get(i) {
                Some(b) => format_bound(*b),
                None => "+Inf".to_string(),
            };
            let exemplars = self
                .exemplars
                .get_mut(i)
                .and_then(Option::take)
                .map(Ex::to_exemplar)
                .into_iter()
                .collect();
            out.push(SeriesWrite {
                labels: labels(base, &bucket, Some(("le", le))),
                samples: vec![Sample::new(t, cumulative as f64)],
                exemplars,
            });
        }
        out.push(SeriesWrite {
            labels: labels(base, &format!("{family}_sum"), None),
            samples: vec![Sample::new(t, self.sum)],
            exemplars: Vec::new(),
        });
        out.push(SeriesWrite {
            labels: labels(base, &format!("{family}_count"), None),
            samples: vec![Sample::new(t, self.count as f64)],
            exemplars: Vec::new(),
        });
    }
}

/// Appends a counter series `name` with `base` labels sampled at `t`; takes its exemplar.
pub(crate) fn render_counter(
    c: &mut Counter,
    name: &str,
    base: &[Label],
    t: i64,
    out: &mut Vec<SeriesWrite>,
) {
    out.push(SeriesWrite {
        labels: labels(base, name, None),
        samples: vec![Sample::new(t, c.value)],
        exemplars: c.exemplar.take().map(Ex::to_exemplar).into_iter().collect(),
    });
}

/// A bucket bound as Prometheus writes `le`: shortest decimal form (`0.1`, `1`, `16.384`).
pub(crate) fn format_bound(b: f64) -> String {
    if b == f64::INFINITY {
        return "+Inf".to_string();
    }
    format!("{b}")
}

fn labels(base: &[Label], name: &str, extra: Option<(&str, String)>) -> Labels {
    let mut v = Vec::with_capacity(base.len() + 2);
    v.extend_from_slice(base);
    v.push(Label::new(METRIC_NAME, name));
    if let Some((n, value)) = extra {
        v.push(Label::new(n, value));
    }
    Labels::new(v)
}

/// Sorted, deduplicated, finite bucket bounds (an explicit `+Inf` is implied, not kept).
pub(crate) fn clean_bounds(bounds: &[f64]) -> Vec<f64> {
    let mut v: Vec<f64> = bounds.iter().copied().filter(|b| b.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    v.dedup();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative_and_le_inclusive() {
        let bounds = [0.25, 0.5, 1.0];
        let mut h = Histogram::new(&bounds);
        for v in [0.125, 0.25, 0.375, 2.0] {
            h.observe(&bounds, v, None);
        }
        let mut out = Vec::new();
        h.render("x_seconds", &bounds, &[Label::new("a", "b")], 7, &mut out);
        let got: Vec<(String, f64)> = out
            .iter()
            .map(|s| (s.labels.to_string(), s.samples[0].v))
            .collect();
        assert_eq!(
            got,
            vec![
                (r#"x_seconds_bucket{a="b", le="0.25"}"#.to_string(), 2.0),
                (r#"x_seconds_bucket{a="b", le="0.5"}"#.to_string(), 3.0),
                (r#"x_seconds_bucket{a="b", le="1"}"#.to_string(), 3.0),
                (r#"x_seconds_bucket{a="b", le="+Inf"}"#.to_string(), 4.0),
                (r#"x_seconds_sum{a="b"}"#.to_string(), 2.75),
                (r#"x_seconds_count{a="b"}"#.to_string(), 4.0),
            ]
        );
        assert!(out.iter().all(|s| s.samples[0].t == 7));
    }

    #[test]
    fn bounds_and_hex() {
        assert_eq!(
            clean_bounds(&[1.0, f64::INFINITY, 0.5, 1.0]),
            vec![0.5, 1.0]
        );
        assert_eq!(format_bound(16.384), "16.384");
        assert_eq!(format_bound(0.002), "0.002");
        assert_eq!(hex(&[0x0a, 0xff]), "0aff");
    }
}
