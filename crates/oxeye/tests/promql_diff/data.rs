//! The generated data set: what a Prometheus scraping a dozen targets every 15 s for
//! 90 minutes would have stored, written identically into both servers.
//!
//! Every target is scraped with its own offset (101..=449 ms past a whole second, plus
//! jitter), so no sample ever sits on a whole or half second: query times and range
//! boundaries (all at `.500` or `.000`) never coincide with a sample, and Prometheus 2.x's
//! closed range boundaries give the same answers as 3.x's left-open ones.
//!
//! Shapes: counters with resets and fractional increments, gauges with negative and
//! fractional values (dyadic, so sums are exact whatever the summation order), integer
//! gauges with zeros and flat stretches, a ratio with NaN and +Inf, classic histograms (`le` buckets up to `+Inf`,
//! `_sum`, `_count`; one lacks a bucket), info metrics for joins (one changes version),
//! a counter scraped every minute; some series start late, some stop, some
//! pause (half of those with a staleness marker, as a failed scrape leaves).

use oxeye_core::{Labels, Sample, SeriesWrite, WriteBatch, stale_nan};

/// Scrape interval of every target.
pub const INTERVAL_MS: i64 = 15_000;
/// Scrapes per target: 90 minutes.
pub const SCRAPES: i64 = 360;

/// Deterministic pseudo-random numbers (splitmix64).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }
}

/// One generated series; `samples` includes staleness markers.
pub struct GenSeries {
    pub labels: Labels,
    pub samples: Vec<Sample>,
}

/// A scraped target: its scrape timestamps.
struct Target {
    job: &'static str,
    instance: String,
    times: Vec<i64>,
}

impl Target {
    fn new(rng: &mut Rng, t0: i64, job: &'static str, instance: String) -> Target {
        Self::every(rng, t0, job, instance, INTERVAL_MS)
    }

    /// A target scraped every `interval_ms` over the same 90 minutes.
    fn every(
        rng: &mut Rng,
        t0: i64,
        job: &'static str,
        instance: String,
        interval_ms: i64,
    ) -> Target {
        let offset = rng.range(150, 400);
        let times = (0..SCRAPES * INTERVAL_MS / interval_ms)
            .map(|i| t0 + i * interval_ms + offset + rng.range(-49, 49))
            .collect();
        Target {
            job,
            instance,
            times,
        }
    }
}

/// Which scrapes a series is present in: `[start, end)` minus the scrapes of `gap`, and
/// whether a staleness marker follows the last sample (and the last one before the gap).
#[derive(Clone, Copy)]
struct Life {
    start: usize,
    end: usize,
    gap: Option<(usize, usize)>,
    stale_marker: bool,
}

impl Life {
    const FULL: Life = Life {
        start: 0,
        end: SCRAPES as usize,
        gap: None,
        stale_marker: false,
    };

    /// Mostly full; one in `n` starts late, one in `n` stops early, one in `n` has a gap
    /// (a target down for a while).
    fn pick(rng: &mut Rng, n: u64) -> Life {
        match rng.below(n) {
            0 => Life {
                start: rng.range(90, 200) as usize,
                ..Life::FULL
            },
            1 => Life {
                end: rng.range(150, 300) as usize,
                stale_marker: rng.below(2) == 0,
                ..Life::FULL
            },
            2 => {
                let from = rng.range(60, 250) as usize;
                Life {
                    gap: Some((from, from + rng.range(4, 60) as usize)),
                    stale_marker: rng.below(2) == 0,
                    ..Life::FULL
                }
            }
            _ => Life::FULL,
        }
    }

    /// Whether a counter may reset during this life. Only without late start and gap:
    /// a reset before a window's first sample would leave the counter near zero there
    /// (see [`generate`]).
    fn may_reset(&self) -> bool {
        self.start == 0 && self.gap.is_none()
    }

    /// Samples at the scrapes of this life with `value(i)`, staleness markers where due.
    fn samples(&self, times: &[i64], mut value: impl FnMut(usize) -> f64) -> Vec<Sample> {
        let mut out = Vec::new();
        for i in self.start..self.end {
            let Some(t) = times.get(i) else { break };
            match self.gap {
                Some((from, _)) if i == from && self.stale_marker => {
                    out.push(Sample::new(*t, stale_nan()))
                }
                Some((from, to)) if i >= from && i < to => {}
                _ => out.push(Sample::new(*t, value(i))),
            }
        }
        if self.stale_marker
            && let Some(t) = times.get(self.end)
        {
            out.push(Sample::new(*t, stale_nan()));
        }
        out
    }
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs)
}

/// Histogram bucket bounds and one observation value inside each bucket (dyadic).
const BUCKETS: [(&str, f64); 8] = [
    ("0.05", 0.031_25),
    ("0.1", 0.0625),
    ("0.25", 0.1875),
    ("0.5", 0.375),
    ("1", 0.75),
    ("2.5", 2.0),
    ("5", 4.0),
    ("+Inf", 8.0),
];

/// The whole data set, `t0` being a whole minute.
///
/// Counters (and histogram buckets) start far from zero: `rate` limits its extrapolation
/// before the first sample of a window at the counter's zero point, and Prometheus 2.52
/// changed whether that limit applies before or after the "series starts inside the
/// window" rule; with a first value far above the increase the limit never applies.
pub fn generate(t0: i64) -> Vec<GenSeries> {
    let mut rng = Rng::new(0x6f78_6579_6521);
    let mut out = Vec::new();
    let mut http_targets = Vec::new();
    for job in ["api", "web"] {
        for k in 1..=3 {
            http_targets.push(Target::new(&mut rng, t0, job, format!("10.0.0.{k}:8080")));
        }
    }
    let node_targets: Vec<Target> = (1..=6)
        .map(|k| Target::new(&mut rng, t0, "node", format!("node-{k}:9100")))
        .collect();

    for (ti, tg) in http_targets.iter().enumerate() {
        let inst = tg.instance.as_str();
        // counters: fractional increments of at least 1 per scrape, with resets
        for method in ["GET", "POST"] {
            for (code, lo, hi) in [("200", 5, 40), ("404", 1, 6), ("500", 1, 3)] {
                let life = Life::pick(&mut rng, 8);
                let reset_at =
                    (life.may_reset() && rng.below(3) == 0).then(|| rng.range(40, 320) as usize);
                // far from zero: see `generate`
                let mut v = rng.range(10_000, 200_000) as f64;
                let incs: Vec<f64> = (0..SCRAPES)
                    .map(|_| rng.range(lo, hi) as f64 + rng.below(4096) as f64 / 4096.0)
                    .collect();
                let samples = life.samples(&tg.times, |i| {
                    if Some(i) == reset_at {
                        v = incs.get(i).copied().unwrap_or(0.0);
                    } else {
                        v += incs.get(i).copied().unwrap_or(0.0);
                    }
                    v
                });
                out.push(GenSeries {
                    labels: labels(&[
                        ("__name__", "http_requests_total"),
                        ("code", code),
                        ("instance", inst),
                        ("job", tg.job),
                        ("method", method),
                    ]),
                    samples,
                });
            }
            // a classic histogram per (job, instance, method)
            let life = Life::pick(&mut rng, 6);
            let reset_at =
                (life.may_reset() && rng.below(4) == 0).then(|| rng.range(60, 300) as usize);
            let slow = if method == "POST" { 2 } else { 0 };
            let mut counts = [0u64; 8];
            let mut sum = 0.0f64;
            for (c, (_, obs)) in counts.iter_mut().zip(BUCKETS) {
                *c = rng.range(100, 3000) as u64;
                sum += *c as f64 * obs;
            }
            let mut rows: Vec<([u64; 8], f64)> = Vec::new();
            for i in 0..SCRAPES as usize {
                if Some(i) == reset_at {
                    counts = [0; 8];
                    sum = 0.0;
                }
                for _ in 0..rng.range(0, 12) {
                    let b = ((rng.below(5) + rng.below(4)) as usize + slow).min(7);
                    if let Some(c) = counts.get_mut(b) {
                        *c += 1;
                    }
                    sum += BUCKETS.get(b).map(|x| x.1).unwrap_or(0.0);
                }
                rows.push((counts, sum));
            }
            let base = |name: &'static str| {
                vec![
                    ("__name__", name),
                    ("instance", inst),
                    ("job", tg.job),
                    ("method", method),
                ]
            };
            for (bi, (le, _)) in BUCKETS.iter().enumerate() {
                // one histogram lacks a bucket
                if ti == 5 && method == "GET" && bi == 2 {
                    continue;
                }
                let mut pairs = base("http_request_duration_seconds_bucket");
                pairs.push(("le", le));
                let samples = life.samples(&tg.times, |i| {
                    let (c, _) = rows.get(i).copied().unwrap_or_default();
                    c.iter().take(bi + 1).sum::<u64>() as f64
                });
                out.push(GenSeries {
                    labels: labels(&pairs),
                    samples,
                });
            }
            let samples = life.samples(&tg.times, |i| {
                rows.get(i).map(|r| r.0.iter().sum::<u64>()).unwrap_or(0) as f64
            });
            out.push(GenSeries {
                labels: labels(&base("http_request_duration_seconds_count")),
                samples,
            });
            let samples = life.samples(&tg.times, |i| rows.get(i).map(|r| r.1).unwrap_or(0.0));
            out.push(GenSeries {
                labels: labels(&base("http_request_duration_seconds_sum")),
                samples,
            });
        }
        // integer gauges with zeros and flat stretches
        for q in 0..4 {
            let queue = format!("q{q}");
            let life = Life::pick(&mut rng, 8);
            let mut v = rng.range(0, 20);
            let steps: Vec<i64> = (0..SCRAPES)
                .map(|_| match rng.below(6) {
                    0 => -3,
                    1 => 4,
                    2 => -100,
                    _ => 0,
                })
                .collect();
            let samples = life.samples(&tg.times, |i| {
                v = (v + steps.get(i).copied().unwrap_or(0)).clamp(0, 50);
                v as f64
            });
            out.push(GenSeries {
                labels: labels(&[
                    ("__name__", "queue_depth"),
                    ("instance", inst),
                    ("job", tg.job),
                    ("queue", &queue),
                ]),
                samples,
            });
        }
        out.push(GenSeries {
            labels: labels(&[
                ("__name__", "build_info"),
                ("instance", inst),
                ("job", tg.job),
                ("team", if ti % 2 == 0 { "core" } else { "edge" }),
                ("version", if ti < 4 { "1.2.0" } else { "1.3.1" }),
            ]),
            samples: Life::FULL.samples(&tg.times, |_| 1.0),
        });
    }

    // temperatures: dyadic random walks, distinct across series at every scrape, kept
    // within 8 degrees of their zone's base: never near zero, where the last bits of an
    // average (summed in a different order by 2.42 and 3.x) would count as a difference
    for (ni, tg) in node_targets.iter().enumerate() {
        for (zi, (zone, base)) in [
            ("cpu", 45.0),
            ("gpu", 55.0),
            ("disk", 30.0),
            ("ambient", -15.0),
        ]
        .into_iter()
        .enumerate()
        {
            let life = Life::pick(&mut rng, 7);
            let unique = (ni * 4 + zi + 1) as f64 / 1024.0;
            let mut v = base + rng.range(-40, 40) as f64 * 0.125;
            let steps: Vec<f64> = (0..SCRAPES)
                .map(|_| rng.range(-6, 6) as f64 * 0.125)
                .collect();
            let samples = life.samples(&tg.times, |i| {
                v = (v + steps.get(i).copied().unwrap_or(0.0)).clamp(base - 8.0, base + 8.0);
                v + unique
            });
            out.push(GenSeries {
                labels: labels(&[
                    ("__name__", "node_temperature_celsius"),
                    ("instance", &tg.instance),
                    ("job", tg.job),
                    ("zone", zone),
                ]),
                samples,
            });
        }
    }

    // a ratio with NaN (0/0) now and then and a rare +Inf (x/0)
    for tg in &http_targets {
        let life = Life::pick(&mut rng, 6);
        let values: Vec<f64> = (0..SCRAPES)
            .map(|_| match rng.below(60) {
                0..=3 => f64::NAN,
                4 => f64::INFINITY,
                _ => rng.range(0, 64) as f64 / 64.0,
            })
            .collect();
        out.push(GenSeries {
            labels: labels(&[
                ("__name__", "cache_hit_ratio"),
                ("instance", &tg.instance),
                ("job", tg.job),
            ]),
            samples: life.samples(&tg.times, |i| values.get(i).copied().unwrap_or(0.0)),
        });
    }

    // an info metric whose version changes once per target (the old series ends with a
    // staleness marker, as when a scrape no longer exposes it)
    for tg in &http_targets {
        let switch = rng.range(100, 250) as usize;
        for (version, life) in [
            (
                "v1",
                Life {
                    end: switch,
                    stale_marker: true,
                    ..Life::FULL
                },
            ),
            (
                "v2",
                Life {
                    start: switch,
                    ..Life::FULL
                },
            ),
        ] {
            out.push(GenSeries {
                labels: labels(&[
                    ("__name__", "deploy_info"),
                    ("instance", &tg.instance),
                    ("job", tg.job),
                    ("version", version),
                ]),
                samples: life.samples(&tg.times, |_| 1.0),
            });
        }
    }

    // a counter scraped every minute
    for k in 1..=2 {
        let tg = Target::every(&mut rng, t0, "batch", format!("batch-{k}:9091"), 60_000);
        let mut v = rng.range(50_000, 90_000) as f64;
        let incs: Vec<f64> = (0..SCRAPES)
            .map(|_| rng.range(0, 300) as f64 + rng.below(64) as f64 / 64.0)
            .collect();
        out.push(GenSeries {
            labels: labels(&[
                ("__name__", "batch_jobs_total"),
                ("instance", &tg.instance),
                ("job", tg.job),
            ]),
            samples: Life::FULL.samples(&tg.times, |i| {
                v += incs.get(i).copied().unwrap_or(0.0);
                v
            }),
        });
    }

    // a recording-rule style name and label values that need escaping
    let tg = &http_targets[0];
    for (k, path) in ["/ü/\"x\"\\y", "/a/b c", "/ß/\u{1F600}"]
        .into_iter()
        .enumerate()
    {
        out.push(GenSeries {
            labels: labels(&[
                ("__name__", "job:http_requests:rate5m"),
                ("job", tg.job),
                ("path", path),
            ]),
            samples: Life::FULL.samples(&tg.times, |i| (i * (k + 1)) as f64 * 0.25),
        });
    }

    // up: flapping now and then
    for tg in http_targets.iter().chain(node_targets.iter()) {
        let down: Vec<bool> = (0..SCRAPES).map(|_| rng.below(25) == 0).collect();
        out.push(GenSeries {
            labels: labels(&[
                ("__name__", "up"),
                ("instance", &tg.instance),
                ("job", tg.job),
            ]),
            samples: Life::FULL.samples(&tg.times, |i| {
                if down.get(i).copied().unwrap_or(false) {
                    0.0
                } else {
                    1.0
                }
            }),
        });
    }
    out
}

/// The data cut into write requests of `window_ms` each, in time order, so that neither
/// server sees a sample older than one it already holds for that series.
pub fn batches(series: &[GenSeries], t0: i64, window_ms: i64) -> Vec<WriteBatch> {
    let end = t0 + (SCRAPES + 2) * INTERVAL_MS;
    let mut out = Vec::new();
    let mut from = t0;
    while from < end {
        let to = from + window_ms;
        let series = series
            .iter()
            .filter_map(|s| {
                let samples: Vec<Sample> = s
                    .samples
                    .iter()
                    .filter(|x| x.t >= from && x.t < to)
                    .copied()
                    .collect();
                (!samples.is_empty()).then(|| SeriesWrite {
                    labels: s.labels.clone(),
                    samples,
                    exemplars: vec![],
                })
            })
            .collect();
        out.push(WriteBatch {
            series,
            metadata: vec![],
        });
        from = to;
    }
    out
}
