//! Dashboard-style data: what a fleet of HTTP services exposes.
//!
//! Every simulated instance (`job`, `instance`, and a `cluster` label naming the data
//! set) exposes request counters by handler/method/code, a classic latency histogram by
//! handler/method (11 `le` buckets with `_sum` and `_count`), a few gauges, a CPU
//! counter, `up` and a `build_info` info metric. Counters grow by stochastically rounded
//! Poisson-like increments, the histogram's `_count` grows by exactly the requests of its
//! handler/method, so `rate(..._count)` and `rate(http_requests_total)` agree. Each
//! instance scrapes at its own offset within the interval with a few ms of jitter, so no
//! timestamp sits on a query step.
//!
//! [`build`] merges the sets in time order into Prometheus remote-write 1.0 requests: the
//! time axis is cut into windows and each request carries, for a run of series, all their
//! samples of one window; a series always goes through the same shard, so every series
//! arrives in time order over one connection per shard.

use oxeye_core::{Labels, Sample, SeriesWrite, WriteBatch};

use crate::data::Rng;

const HANDLERS: [(&str, f64, f64); 8] = [
    // (handler, requests/s per instance, median latency s)
    ("/api/v1/users", 40.0, 0.030),
    ("/api/v1/orders", 15.0, 0.080),
    ("/api/v1/items", 25.0, 0.020),
    ("/api/v1/search", 8.0, 0.250),
    ("/login", 3.0, 0.120),
    ("/health", 1.0, 0.002),
    ("/metrics", 0.1, 0.010),
    ("/static", 12.0, 0.004),
];
const METHODS: [(&str, f64); 2] = [("GET", 1.0), ("POST", 0.3)];
const CODES: [(&str, f64); 3] = [("200", 0.93), ("404", 0.05), ("500", 0.02)];
const BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];
const JOBS: [&str; 10] = [
    "api", "web", "auth", "billing", "search", "catalog", "cart", "payments", "notify", "gateway",
];
const VERSIONS: [&str; 3] = ["1.4.2", "1.5.0", "1.5.1"];
const QUEUES: usize = 4;

/// Every metric name of the data.
pub const METRIC_NAMES: [&str; 10] = [
    "http_requests_total",
    "http_request_duration_seconds_bucket",
    "http_request_duration_seconds_sum",
    "http_request_duration_seconds_count",
    "process_resident_memory_bytes",
    "go_goroutines",
    "process_cpu_seconds_total",
    "queue_depth",
    "up",
    "build_info",
];

/// Series each instance exposes.
pub const SERIES_PER_INSTANCE: usize = HANDLERS.len() * METHODS.len() * CODES.len()
    + HANDLERS.len() * METHODS.len() * (BUCKETS.len() + 3)
    + 3
    + QUEUES
    + 2;

/// One data set: `instances` instances scraped `steps` times, the last scrape before
/// `end_ms`.
#[derive(Clone, Debug)]
pub struct SetShape {
    pub cluster: String,
    pub instances: usize,
    pub steps: usize,
    pub interval_ms: i64,
    pub end_ms: i64,
}

impl SetShape {
    pub fn series(&self) -> usize {
        self.instances * SERIES_PER_INSTANCE
    }

    pub fn samples(&self) -> usize {
        self.series() * self.steps
    }

    pub fn start_ms(&self) -> i64 {
        self.end_ms - self.steps as i64 * self.interval_ms
    }
}

/// Cumulative share of observations at or below each bucket for a log-normal latency
/// with median `m` (sigma 0.8), from a logistic approximation of the normal CDF.
fn bucket_cdf(m: f64) -> [f64; 10] {
    let mut out = [0.0; 10];
    for (o, le) in out.iter_mut().zip(BUCKETS) {
        let z = (le / m).ln() / 0.8;
        *o = 1.0 / (1.0 + (-1.702 * z).exp());
    }
    out
}

/// The evolving state of one instance; `values` follows the order of its series labels.
struct Instance {
    offset_ms: i64,
    scale: f64,
    values: Vec<f64>,
}

/// One data set's series and their state.
struct SetGen {
    shape: SetShape,
    labels: Vec<Labels>,
    instances: Vec<Instance>,
    cdfs: Vec<[f64; 10]>,
}

fn stochastic_round(x: f64, rng: &mut Rng) -> f64 {
    let f = x.floor();
    if rng.unit() < x - f { f + 1.0 } else { f }
}

impl SetGen {
    fn new(shape: SetShape, rng: &mut Rng) -> Self {
        let mut labels = Vec::with_capacity(shape.series());
        let mut instances = Vec::with_capacity(shape.instances);
        let cdfs = HANDLERS.iter().map(|h| bucket_cdf(h.2)).collect();
        for i in 0..shape.instances {
            let job = JOBS[i % JOBS.len()];
            let instance = format!("{job}-{:04}:8080", i / JOBS.len());
            let base = [
                ("cluster", shape.cluster.as_str()),
                ("job", job),
                ("instance", instance.as_str()),
            ];
            let mk = |name: &str, extra: &[(&str, &str)]| {
                let mut pairs: Vec<(&str, &str)> = vec![("__name__", name)];
                pairs.extend_from_slice(&base);
                pairs.extend_from_slice(extra);
                Labels::from_pairs(&pairs)
            };
            for (h, _, _) in HANDLERS {
                for (m, _) in METHODS {
                    for (c, _) in CODES {
                        labels.push(mk(
                            "http_requests_total",
                            &[("handler", h), ("method", m), ("code", c)],
                        ));
                    }
                }
            }
            for (h, _, _) in HANDLERS {
                for (m, _) in METHODS {
                    for le in BUCKETS {
                        let le = format!("{le}");
                        labels.push(mk(
                            "http_request_duration_seconds_bucket",
                            &[("handler", h), ("method", m), ("le", le.as_str())],
                        ));
                    }
                    labels.push(mk(
                        "http_request_duration_seconds_bucket",
                        &[("handler", h), ("method", m), ("le", "+Inf")],
                    ));
                    labels.push(mk(
                        "http_request_duration_seconds_sum",
                        &[("handler", h), ("method", m)],
                    ));
                    labels.push(mk(
                        "http_request_duration_seconds_count",
                        &[("handler", h), ("method", m)],
                    ));
                }
            }
            labels.push(mk("process_resident_memory_bytes", &[]));
            labels.push(mk("go_goroutines", &[]));
            labels.push(mk("process_cpu_seconds_total", &[]));
            for q in 0..QUEUES {
                let q = format!("q{q}");
                labels.push(mk("queue_depth", &[("queue", q.as_str())]));
            }
            labels.push(mk("up", &[]));
            let version = VERSIONS[i % VERSIONS.len()];
            labels.push(mk(
                "build_info",
                &[("version", version), ("revision", &format!("r{}", i % 7))],
            ));
            let mut values = vec![0.0; SERIES_PER_INSTANCE];
            let n = values.len();
            // memory, goroutines, cpu, queues, up, build_info
            values[n - 9] = (150_000 + rng.below(100_000)) as f64 * 4096.0;
            values[n - 8] = (50 + rng.below(400)) as f64;
            values[n - 7] = rng.below(10_000) as f64 / 100.0;
            for q in 0..QUEUES {
                values[n - 6 + q] = rng.below(50) as f64;
            }
            values[n - 2] = 1.0;
            values[n - 1] = 1.0;
            instances.push(Instance {
                offset_ms: rng.below(shape.interval_ms.max(1) as u64) as i64,
                scale: 0.5 + rng.unit(),
                values,
            });
        }
        debug_assert_eq!(labels.len(), shape.series());
        Self {
            shape,
            labels,
            instances,
            cdfs,
        }
    }

    /// Advances every instance by one scrape (unless `step` is the first) and appends
    /// each series' sample to `out[series]`.
    fn scrape(&mut self, step: usize, rng: &mut Rng, out: &mut [Vec<Sample>]) {
        let interval_s = self.shape.interval_ms as f64 / 1000.0;
        let base_t = self.shape.start_ms() + step as i64 * self.shape.interval_ms;
        for (i, inst) in self.instances.iter_mut().enumerate() {
            let t = base_t + inst.offset_ms + rng.below(5) as i64;
            if step > 0 {
                advance(inst, &self.cdfs, interval_s, rng);
            }
            let first = i * SERIES_PER_INSTANCE;
            for (k, v) in inst.values.iter().enumerate() {
                if let Some(o) = out.get_mut(first + k) {
                    o.push(Sample::new(t, *v));
                }
            }
        }
    }
}

fn advance(inst: &mut Instance, cdfs: &[[f64; 10]], interval_s: f64, rng: &mut Rng) {
    let v = &mut inst.values;
    let hist_base = HANDLERS.len() * METHODS.len() * CODES.len();
    let mut k = 0;
    for (hi, (_, rps, median)) in HANDLERS.iter().enumerate() {
        for (mi, (_, mf)) in METHODS.iter().enumerate() {
            let mut total = 0.0;
            for (_, cf) in CODES {
                let mean = rps * mf * cf * inst.scale * interval_s;
                let inc = stochastic_round(mean * (0.7 + 0.6 * rng.unit()), rng);
                v[k] += inc;
                total += inc;
                k += 1;
            }
            let h = hist_base + (hi * METHODS.len() + mi) * (BUCKETS.len() + 3);
            let mut prev = 0.0;
            for (b, cdf) in cdfs[hi].iter().enumerate() {
                let want = stochastic_round(total * cdf, rng).min(total).max(prev);
                v[h + b] += want;
                prev = want;
            }
            v[h + BUCKETS.len()] += total;
            let latency = median * (0.9 + 0.2 * rng.unit()) * 1.4;
            v[h + BUCKETS.len() + 1] =
                ((v[h + BUCKETS.len() + 1] + total * latency) * 1000.0).round() / 1000.0;
            v[h + BUCKETS.len() + 2] += total;
        }
    }
    let n = v.len();
    let walk = |x: f64, unit: f64, lo: f64, rng: &mut Rng| {
        let d = (rng.below(3) as f64 - 1.0) * unit;
        (x + d).max(lo)
    };
    v[n - 9] = walk(v[n - 9], 4096.0 * 64.0, 4096.0, rng);
    v[n - 8] = walk(v[n - 8], 3.0, 1.0, rng);
    v[n - 7] =
        ((v[n - 7] + interval_s * 0.05 * inst.scale * (0.5 + rng.unit())) * 100.0).round() / 100.0;
    for q in 0..QUEUES {
        v[n - 6 + q] = walk(v[n - 6 + q], 1.0 + rng.below(4) as f64, 0.0, rng);
    }
}

/// The generated requests of all sets.
pub struct Load {
    /// Waves of remote-write 1.0 bodies, each wave one list per shard in time order. A
    /// wave covers at most `wave_ms` of data time; waves are sent one after another, so
    /// shards never drift apart by more than that (Prometheus refuses samples older than
    /// an hour before the newest one it holds).
    pub waves: Vec<Vec<Vec<Vec<u8>>>>,
    pub samples: usize,
    pub series: usize,
}

impl Load {
    pub fn requests(&self) -> usize {
        self.waves.iter().flatten().map(Vec::len).sum()
    }

    pub fn wire_bytes(&self) -> usize {
        self.waves.iter().flatten().flatten().map(Vec::len).sum()
    }
}

/// Builds the remote-write requests of `sets`, merged in time order over windows of
/// `window_ms`, cut into waves of `wave_ms`.
pub fn build(
    sets: &[SetShape],
    window_ms: i64,
    wave_ms: i64,
    samples_per_request: usize,
    shards: usize,
    seed: u64,
) -> Load {
    let mut rng = Rng::new(seed);
    let mut gens: Vec<SetGen> = sets
        .iter()
        .map(|s| SetGen::new(s.clone(), &mut rng))
        .collect();
    let nshards = shards.max(1);
    let mut waves = Vec::new();
    let mut out: Vec<Vec<Vec<u8>>> = vec![Vec::new(); nshards];
    let mut batches: Vec<WriteBatch> = vec![WriteBatch::default(); nshards];
    let mut pending = vec![0usize; nshards];
    let mut next_step = vec![0usize; gens.len()];
    let mut bufs: Vec<Vec<Vec<Sample>>> = gens
        .iter()
        .map(|g| vec![Vec::new(); g.labels.len()])
        .collect();
    let t0 = sets.iter().map(SetShape::start_ms).min().unwrap_or(0);
    let t_end = sets.iter().map(|s| s.end_ms).max().unwrap_or(0);
    let mut samples = 0;
    let mut w = t0;
    let mut wave_start = t0;
    while w < t_end {
        let w_end = w + window_ms;
        for (gi, g) in gens.iter_mut().enumerate() {
            let buf = &mut bufs[gi];
            while next_step[gi] < g.shape.steps {
                let t = g.shape.start_ms() + next_step[gi] as i64 * g.shape.interval_ms;
                if t >= w_end {
                    break;
                }
                g.scrape(next_step[gi], &mut rng, buf);
                next_step[gi] += 1;
            }
            for (si, samples_of) in buf.iter_mut().enumerate() {
                if samples_of.is_empty() {
                    continue;
                }
                let shard = (g.labels[si].hash64() % nshards as u64) as usize;
                samples += samples_of.len();
                pending[shard] += samples_of.len();
                batches[shard].series.push(SeriesWrite {
                    labels: g.labels[si].clone(),
                    samples: std::mem::take(samples_of),
                    exemplars: Vec::new(),
                });
                if pending[shard] >= samples_per_request {
                    out[shard].push(oxeye_proto::remote_write::encode_v1(&batches[shard]));
                    batches[shard].series.clear();
                    pending[shard] = 0;
                }
            }
        }
        w = w_end;
        if w - wave_start >= wave_ms || w >= t_end {
            for (shard, batch) in batches.iter_mut().enumerate() {
                if !batch.series.is_empty() {
                    out[shard].push(oxeye_proto::remote_write::encode_v1(batch));
                    batch.series.clear();
                    pending[shard] = 0;
                }
            }
            waves.push(std::mem::replace(&mut out, vec![Vec::new(); nshards]));
            wave_start = w;
        }
    }
    Load {
        waves,
        samples,
        series: gens.iter().map(|g| g.labels.len()).sum(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape() -> SetShape {
        SetShape {
            cluster: "t".into(),
            instances: 3,
            steps: 20,
            interval_ms: 15_000,
            end_ms: 1_700_000_000_000,
        }
    }

    #[test]
    fn every_series_gets_every_scrape_in_time_order() {
        let mut rng = Rng::new(1);
        let mut g = SetGen::new(shape(), &mut rng);
        let mut out = vec![Vec::new(); g.labels.len()];
        for step in 0..20 {
            g.scrape(step, &mut rng, &mut out);
        }
        assert_eq!(g.labels.len(), 3 * SERIES_PER_INSTANCE);
        for s in &out {
            assert_eq!(s.len(), 20);
            assert!(s.windows(2).all(|w| w[0].t < w[1].t));
        }
        let distinct: std::collections::HashSet<_> = g.labels.iter().collect();
        assert_eq!(distinct.len(), g.labels.len());
        let names: std::collections::HashSet<_> =
            g.labels.iter().filter_map(|l| l.metric_name()).collect();
        assert_eq!(names, METRIC_NAMES.into_iter().collect());
    }

    #[test]
    fn histogram_buckets_are_cumulative_and_count_matches_requests() {
        let mut rng = Rng::new(2);
        let mut g = SetGen::new(shape(), &mut rng);
        let mut out = vec![Vec::new(); g.labels.len()];
        for step in 0..20 {
            g.scrape(step, &mut rng, &mut out);
        }
        let v = &g.instances[0].values;
        let hist_base = HANDLERS.len() * METHODS.len() * CODES.len();
        for hm in 0..HANDLERS.len() * METHODS.len() {
            let h = hist_base + hm * (BUCKETS.len() + 3);
            let buckets = &v[h..h + BUCKETS.len() + 1];
            assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "{buckets:?}");
            let requests: f64 = v[hm * CODES.len()..(hm + 1) * CODES.len()].iter().sum();
            assert_eq!(v[h + BUCKETS.len() + 2], requests);
            assert_eq!(v[h + BUCKETS.len()], requests);
        }
    }

    #[test]
    fn build_emits_every_sample_once() {
        let s = shape();
        let load = build(std::slice::from_ref(&s), 60_000, 120_000, 500, 2, 3);
        assert_eq!(load.samples, s.samples());
        assert_eq!(load.series, s.series());
        let mut n = 0;
        assert_eq!(load.waves.len(), 3);
        for body in load.waves.iter().flatten().flatten() {
            {
                let batch = oxeye_proto::remote_write::decode(
                    oxeye_proto::remote_write::RemoteWriteVersion::V1,
                    body,
                    64 << 20,
                )
                .unwrap();
                n += batch.series.iter().map(|x| x.samples.len()).sum::<usize>();
            }
        }
        assert_eq!(n, s.samples());
    }
}
