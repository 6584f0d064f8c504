//! The queries: templates over the generated metrics covering every function,
//! aggregation and operator that exists in Prometheus 2.42 and answers the same in 3.x.
//!
//! Left out on purpose: functions added after 2.42 (`mad_over_time`, `sort_by_label`,
//! `limitk`, `limit_ratio`, `double_exponential_smoothing`, `first_over_time`,
//! `ts_of_*`, `info`), `holt_winters` (renamed in 3.x), `histogram_fraction` and the
//! other native-histogram functions (classic buckets only from 3.x on), and whatever
//! answers differently in 3.x: `atan2` on named operands (2.42 keeps the name; those
//! queries aggregate the name away), `rate` over a window reaching before the first
//! sample of a counter near zero (see `data::generate`), and what 3.x's delayed
//! `__name__` removal changes: `last_over_time` directly on a selector (3.x keeps the
//! name), label functions reading or writing `__name__` after a name-dropping function,
//! aggregations `by (__name__)`. Nested subqueries use a range that is not a multiple of
//! the inner step, so no inner point sits on a range boundary.

/// How a query is evaluated.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    /// A range query over `RANGE_WINDOWS[i]`.
    Range(usize),
    /// An instant query at `INSTANT_TIMES[i]`.
    Instant(usize),
}

/// One query to run on both servers.
#[derive(Clone, Debug)]
pub struct Query {
    /// The template text (placeholders unreplaced): the query's name in reports.
    pub text: String,
    pub kind: Kind,
}

/// Range-query windows: (start, end, step), ms after `t0`; `t0` is a whole minute and
/// every start is at `.500`, so neither steps nor range boundaries touch a sample.
pub const RANGE_WINDOWS: [(i64, i64, i64); 5] = [
    (-300_000 + 500, 6_000_000 + 500, 60_000),
    (1_800_000 + 500, 3_600_000 + 500, 15_000),
    (600_000 + 500, 5_700_000 + 500, 137_000),
    (500, 5_400_000 + 500, 300_000),
    (2_400_000 + 500, 3_000_000 + 500, 7_000),
];

/// Instant-query times, ms after `t0`: mid-data, near the end, after the end (within
/// the lookback of the last samples), early.
pub const INSTANT_TIMES: [i64; 4] = [
    2_700_000 + 500,
    5_340_000 + 500,
    5_580_000 + 500,
    1_200_000 + 500,
];

/// Placeholders for `@` times, ms after `t0`.
pub const PLACEHOLDERS: [(&str, i64); 2] = [("<T1>", 2_400_000 + 500), ("<T2>", 4_500_000 + 500)];

/// Replaces the placeholders with float seconds.
pub fn render(text: &str, t0: i64) -> String {
    let mut out = text.to_string();
    for (p, off) in PLACEHOLDERS {
        let t = t0 + off;
        out = out.replace(p, &format!("{}.{:03}", t / 1000, t % 1000));
    }
    out
}

const COUNTERS: [&str; 5] = [
    "http_requests_total",
    "http_requests_total{code=\"200\"}",
    "http_requests_total{job=\"api\",code=~\"4..|5..\"}",
    "http_request_duration_seconds_count{method!=\"GET\"}",
    "http_request_duration_seconds_sum",
];

const GAUGES: [&str; 5] = [
    "node_temperature_celsius",
    "node_temperature_celsius{zone=\"ambient\"}",
    "queue_depth",
    "queue_depth{queue=~\"q[01]\"}",
    "up",
];

const RANGES: [&str; 5] = ["1m", "5m", "10m", "90s", "30m"];

pub const TEMP: &str = "node_temperature_celsius";
const RATE: &str = "rate(http_requests_total[5m])";
const BUCKET_RATE: &str = "rate(http_request_duration_seconds_bucket[5m])";

/// Collects queries, cycling through the range windows.
pub struct Builder {
    out: Vec<Query>,
}

impl Builder {
    pub fn range(&mut self, text: impl Into<String>) {
        let w = self.out.len() % RANGE_WINDOWS.len();
        self.out.push(Query {
            text: text.into(),
            kind: Kind::Range(w),
        });
    }

    fn instant(&mut self, text: impl Into<String>, at: usize) {
        self.out.push(Query {
            text: text.into(),
            kind: Kind::Instant(at),
        });
    }
}

fn range_functions(b: &mut Builder) {
    let mut r = 0;
    let mut next_range = || {
        r += 1;
        RANGES[r % RANGES.len()]
    };
    for f in ["rate", "irate", "increase", "resets", "changes"] {
        for c in COUNTERS {
            b.range(format!("{f}({c}[{}])", next_range()));
        }
    }
    for f in ["delta", "idelta", "deriv", "changes", "resets"] {
        for g in GAUGES {
            b.range(format!("{f}({g}[{}])", next_range()));
        }
    }
    for g in GAUGES {
        b.range(format!("predict_linear({g}[{}], 600)", next_range()));
    }
    b.range(format!("predict_linear({TEMP}[10m], -300)"));
    b.range(format!("predict_linear({TEMP}[5m] offset 5m, 3600)"));
    // instant only: in a range query Prometheus turns the @ of predict_linear's selector
    // (an @-unsafe function, never step-invariant) into an offset from the query start, so
    // the window slides past the @ time over data it never loaded: an artifact, not a rule
    b.instant(format!("predict_linear({TEMP}[5m] @ <T1>, 600)"), 0);
    b.instant(format!("predict_linear({TEMP}[5m] @ start(), 600)"), 1);
    for f in [
        "avg", "min", "max", "sum", "count", "stddev", "stdvar", "present",
    ] {
        for g in [GAUGES[0], GAUGES[1], GAUGES[2], GAUGES[4]] {
            b.range(format!("{f}_over_time({g}[{}])", next_range()));
        }
    }
    for q in ["0", "0.1", "0.5", "0.95", "1", "1.5", "-1"] {
        b.range(format!("quantile_over_time({q}, {TEMP}[{}])", next_range()));
    }
    b.range("quantile_over_time(0.75, queue_depth[10m])");
    // 3.x keeps the name of a selector under last_over_time; drop it in both
    b.range(format!("-last_over_time({TEMP}[5m])"));
    b.range("sum by (job) (last_over_time(queue_depth[10m]))");
    b.range("last_over_time(up[1m]) * 2");
    b.range("absent_over_time(nonexistent_metric[5m])");
    b.range("absent_over_time(up{job=\"api\"}[5m])");
    b.range(
        "absent_over_time(node_temperature_celsius{zone=\"cpu\",instance=\"node-2:9100\"}[1m])",
    );
    b.range("absent_over_time(nonexistent_metric{job=\"x\",instance=~\"y.*\"}[5m])");
    b.range("rate(http_requests_total{code=\"500\"}[5m]) * 60");
    b.range("increase(http_request_duration_seconds_bucket{le=\"+Inf\"}[10m])");
    b.range("irate(up[5m])");
    b.range("changes(build_info[30m])");
}

fn instant_functions(b: &mut Builder) {
    for g in [TEMP, "queue_depth"] {
        for f in [
            "abs",
            "ceil",
            "floor",
            "round",
            "sqrt",
            "exp",
            "ln",
            "log2",
            "log10",
            "sgn",
            "sin",
            "cos",
            "tan",
            "asin",
            "acos",
            "atan",
            "sinh",
            "cosh",
            "tanh",
            "asinh",
            "acosh",
            "atanh",
            "deg",
            "rad",
            "timestamp",
        ] {
            b.range(format!("{f}({g})"));
        }
    }
    for e in [
        format!("round({TEMP}, 0.5)"),
        format!("round({TEMP}, 10)"),
        "round(queue_depth / 3, 0.25)".into(),
        format!("clamp({TEMP}, -2, 30)"),
        format!("clamp({TEMP}, 5, 1)"),
        format!("clamp_min({TEMP}, 0)"),
        format!("clamp_max({TEMP}, 40.5)"),
        "clamp(queue_depth, 2, 2)".into(),
        "timestamp(up offset 2m)".into(),
        "time() - timestamp(up)".into(),
        "timestamp(rate(http_requests_total[5m]))".into(),
    ] {
        b.range(e);
    }
    for f in [
        "minute",
        "hour",
        "day_of_week",
        "day_of_month",
        "day_of_year",
        "days_in_month",
        "month",
        "year",
    ] {
        b.range(format!("{f}()"));
        b.range(format!("{f}(timestamp(up{{job=\"node\"}}))"));
    }
    for e in [
        "time()",
        "pi()",
        "vector(1)",
        "vector(time())",
        "scalar(sum(up))",
        "scalar(up)",
        "scalar(up{instance=\"node-1:9100\"}) * queue_depth",
        "absent(nonexistent_metric)",
        "absent(nonexistent_metric{job=\"x\",instance=~\"y\"})",
        "absent(up)",
        "absent(sum(nonexistent_metric))",
        "absent(node_temperature_celsius{instance=\"node-3:9100\",zone=\"gpu\"})",
    ] {
        b.range(e);
    }
    for e in [
        "label_replace(up, \"host\", \"$1\", \"instance\", \"(.*):.*\")",
        "label_replace(up, \"foo\", \"bar\", \"\", \"\")",
        "label_replace(up, \"job\", \"x$1\", \"instance\", \"nomatch(.*)\")",
        "label_replace(rate(http_requests_total[5m]), \"class\", \"${1}xx\", \"code\", \"(.)..\")",
        "label_replace(queue_depth, \"queue\", \"\", \"queue\", \"q0\")",
        "label_join(up, \"endpoint\", \"/\", \"job\", \"instance\")",
        "label_join(node_temperature_celsius, \"id\", \"-\", \"instance\", \"zone\")",
        "label_join(queue_depth, \"queue\", \",\")",
        "sum by (class) (label_replace(rate(http_requests_total[5m]), \"class\", \"${1}xx\", \"code\", \"(.)..\"))",
    ] {
        b.range(e);
    }
    b.range(format!("sort({TEMP})"));
    b.range(format!("sort_desc({RATE})"));
}

fn histograms(b: &mut Builder) {
    for q in ["0.5", "0.9", "0.99", "0", "1", "1.5", "-0.5"] {
        b.range(format!("histogram_quantile({q}, {BUCKET_RATE})"));
    }
    for e in [
        format!("histogram_quantile(0.9, sum by (le) ({BUCKET_RATE}))"),
        format!("histogram_quantile(0.75, sum by (job, le) ({BUCKET_RATE}))"),
        format!("histogram_quantile(0.5, sum without (instance) ({BUCKET_RATE}))"),
        "histogram_quantile(0.9, http_request_duration_seconds_bucket)".into(),
        "histogram_quantile(0.9, rate(http_request_duration_seconds_bucket{le!=\"+Inf\"}[5m]))".into(),
        "histogram_quantile(0.3, increase(http_request_duration_seconds_bucket{method=\"POST\"}[30m]))".into(),
        "histogram_quantile(scalar(min(up)) * 0.9, sum by (le, method) (rate(http_request_duration_seconds_bucket[10m])))".into(),
        "rate(http_request_duration_seconds_sum[5m]) / rate(http_request_duration_seconds_count[5m])".into(),
        "sum by (job) (rate(http_request_duration_seconds_sum[10m])) / sum by (job) (rate(http_request_duration_seconds_count[10m]))".into(),
        "sum by (le) (http_request_duration_seconds_bucket)".into(),
    ] {
        b.range(e);
    }
}

fn aggregations(b: &mut Builder) {
    let inner = [TEMP, RATE, "queue_depth"];
    let mods = [
        "",
        " by (job)",
        " without (instance)",
        " by (job, zone, method)",
        " by ()",
    ];
    let mut m = 0;
    for op in [
        "sum", "avg", "min", "max", "count", "group", "stddev", "stdvar",
    ] {
        for e in inner {
            m += 1;
            let md = mods[m % mods.len()];
            b.range(format!("{op}{md} ({e})"));
        }
    }
    b.range(format!("sum({TEMP}) by (zone)"));
    b.range("avg without (queue, instance) (queue_depth)");
    b.range("count by (job) (up == 1)");
    for e in [
        format!("topk(2, {TEMP})"),
        format!("bottomk(3, {TEMP})"),
        format!("topk by (zone) (1, {TEMP})"),
        format!("bottomk without (zone) (1, {TEMP})"),
        format!("topk(5, {RATE})"),
        format!("bottomk(2, sum by (job, instance) ({RATE}))"),
        format!("topk(0, {TEMP})"),
        format!("topk(1000, {TEMP})"),
        format!("topk(scalar(count(up{{job=\"web\"}}) or vector(2)), {TEMP})"),
        format!("quantile(0.5, {TEMP})"),
        format!("quantile by (job) (0.9, {RATE})"),
        format!("quantile without (instance) (0.25, {TEMP})"),
        format!("quantile(0, {TEMP})"),
        format!("quantile(1, {TEMP})"),
        format!("quantile(1.5, {TEMP})"),
        format!("quantile(-1, {TEMP})"),
        "count_values(\"value\", queue_depth)".into(),
        "count_values by (job) (\"v\", up)".into(),
        format!("count_values(\"t\", round({TEMP}))"),
        "count_values without (instance) (\"q\", queue_depth)".into(),
        "count_values(\"job\", queue_depth)".into(),
        format!("sum(sum by (job, instance) ({RATE}))"),
        format!("max by (job) (topk by (job) (2, {RATE}))"),
        "avg(http_request_duration_seconds_bucket) by (le)".into(),
        "stddev without (queue) (queue_depth)".into(),
        format!("group by (zone) ({TEMP})"),
    ] {
        b.range(e);
    }
}

fn binary_operators(b: &mut Builder) {
    for op in ["+", "-", "*", "/", "%", "^"] {
        b.range(format!("{TEMP} {op} 3"));
        b.range(format!("2 {op} queue_depth"));
        b.range(format!("queue_depth {op} 0"));
    }
    // 2.42 keeps the metric name on atan2 (3.x drops it): compare without names
    for e in [
        format!("sum without () ({TEMP} atan2 3)"),
        "sum without () (2 atan2 queue_depth)".into(),
        "sum without () (queue_depth atan2 0)".into(),
        format!("{RATE} atan2 ignoring(code) group_left sum without (code) ({RATE})"),
    ] {
        b.range(e);
    }
    for e in [
        "1 + 2 * 3",
        "2 ^ 3 ^ 2",
        "-2 ^ 2",
        "7 % -3",
        "1 / 0",
        "-1 / 0",
        "0 / 0",
        "(1 > bool 2) + (2 >= bool 2)",
        "time() % 3600",
    ] {
        b.range(e);
    }
    for op in [">", "<", ">=", "<=", "==", "!="] {
        b.range(format!("{TEMP} {op} 30"));
        b.range(format!("queue_depth {op} bool 0"));
        b.range(format!("20 {op} {TEMP}"));
        b.range(format!("5 {op} bool queue_depth"));
    }
    for e in [
        "http_request_duration_seconds_sum / http_request_duration_seconds_count",
        "rate(http_requests_total{code=\"500\"}[5m]) / ignoring(code) rate(http_requests_total{code=\"200\"}[5m])",
        "http_requests_total{code=\"404\"} - on(job, instance, method) http_requests_total{code=\"200\"}",
        "rate(http_requests_total[5m]) * on(job, instance) group_left(version, team) build_info",
        "queue_depth + on(instance, job) group_left(version) build_info",
        "http_requests_total / on(job, instance, method) group_left sum by (job, instance, method) (http_requests_total)",
        "rate(http_requests_total[5m]) / ignoring(code) group_left sum without (code) (rate(http_requests_total[5m]))",
        "build_info * on(job, instance) group_right(version) queue_depth",
        "sum by (job, instance) (rate(http_requests_total[5m])) / on(job, instance) group_right rate(http_requests_total[5m])",
        "node_temperature_celsius > on(instance) group_left node_temperature_celsius{zone=\"ambient\"}",
        "queue_depth > bool on(job, instance) group_left avg by (job, instance) (queue_depth)",
        "node_temperature_celsius - ignoring(zone) group_left avg without (zone) (node_temperature_celsius)",
        "up * on(instance) group_left(team) build_info",
        "queue_depth == bool ignoring(queue) group_left queue_depth{queue=\"q0\"}",
        "sum by (job) (queue_depth) / on(job) group_left() sum by (job) (up)",
        "queue_depth % on(job, instance, queue) queue_depth{queue=\"q2\"}",
    ] {
        b.range(e);
    }
    for e in [
        "queue_depth and queue_depth > 10",
        "up == 0 or up",
        "queue_depth unless on(instance) (up == 0)",
        "node_temperature_celsius and on(instance, job) (up == 1)",
        "http_requests_total{code=\"500\"} or ignoring(code) http_requests_total{code=\"404\"}",
        "queue_depth{queue=\"q0\"} or queue_depth{queue=\"q1\"} or vector(0)",
        "sum by (job) (rate(http_requests_total[5m])) and on(job) sum by (job) (up) > 2",
        "rate(http_requests_total[5m]) unless rate(http_requests_total[5m]) > 10",
        "node_temperature_celsius unless ignoring(zone) node_temperature_celsius{zone=\"disk\"}",
        "(queue_depth > 30) or on() vector(-1)",
        "up and on() (sum(up) > 11)",
        "queue_depth and ignoring(queue) up",
    ] {
        b.range(e);
    }
    for e in [
        "1 + queue_depth * 2 ^ 2",
        "-queue_depth ^ 2",
        "queue_depth * 2 + 1 > bool 10",
        "sum(queue_depth) by (job) / 2 + 1",
        "queue_depth > 5 and queue_depth < 20 or up == 0",
        "up * 2 - 1 == bool 1",
        "2 * -queue_depth",
        "(queue_depth + 1) % 4 == 0",
        "node_temperature_celsius / 2 ^ 2 * 3 - 1",
        "100 * (1 - avg by (job) (up))",
        "-(-queue_depth)",
        "+queue_depth - -1",
    ] {
        b.range(e);
    }
    // errors in both: many-to-many, many-to-one without grouping, type errors
    for e in [
        "http_requests_total + on(job) http_requests_total",
        "up * on(job) group_left build_info",
        "rate(up)",
        "scalar(up) > 1",
        "sum(up) by (job",
    ] {
        b.range(e);
    }
}

fn subqueries_offset_at(b: &mut Builder) {
    for e in [
        format!("max_over_time({RATE}[30m:1m])"),
        format!("avg_over_time({TEMP}[10m:30s])"),
        "min_over_time(sum by (job) (rate(http_requests_total[2m]))[15m:45s])".into(),
        format!("quantile_over_time(0.9, deriv({TEMP}[5m])[20m:1m])"),
        "rate(http_requests_total{code=\"200\"}[5m:30s])".into(),
        "count_over_time(up[10m:1m])".into(),
        format!("max_over_time({RATE}[30m:1m] offset 10m)"),
        format!("max_over_time({RATE}[30m:1m] @ end())"),
        format!("sum_over_time(({TEMP} > 25)[20m:1m])"),
        format!("last_over_time({RATE}[10m:1m])"),
        "absent_over_time(nonexistent_metric[10m:1m])".into(),
        format!("changes(round({TEMP})[30m:1m])"),
        "deriv(sum(node_temperature_celsius)[10m:])".into(),
        format!("max_over_time(avg_over_time({TEMP}[5m500ms:1m])[30m:5m])"),
        format!("stddev_over_time({RATE}[30m:2m])"),
        "increase(sum(http_requests_total)[10m:15s])".into(),
        "min_over_time(queue_depth[20m:1m] @ <T1>)".into(),
        format!("avg_over_time({TEMP}[5m:1m] offset -5m)"),
        "present_over_time(up{job=\"node\"}[5m:1m])".into(),
        format!("sum(max_over_time({RATE}[15m:1m]))"),
        "resets(http_requests_total[30m:1m])".into(),
        "irate(http_request_duration_seconds_count[10m:1m])".into(),
        format!("delta(max({TEMP})[20m:2m])"),
        "predict_linear(avg(queue_depth)[30m:1m], 300)".into(),
        "count_over_time((queue_depth == 0)[30m:30s])".into(),
    ] {
        b.range(e);
    }
    for e in [
        "http_requests_total offset 5m",
        "rate(http_requests_total[5m] offset 10m)",
        "sum(node_temperature_celsius offset -2m)",
        "queue_depth offset 40m",
        "node_temperature_celsius @ <T1>",
        "rate(http_requests_total[5m] @ <T2>)",
        "node_temperature_celsius @ start()",
        "sum(rate(http_requests_total[30m] @ end()))",
        "queue_depth @ <T1> offset 5m",
        "queue_depth offset 5m @ <T2>",
        "timestamp(up offset 5m)",
        "timestamp(up @ <T1>)",
        "up @ end() offset 10m - up",
        "increase(http_requests_total[10m] @ start() offset -10m)",
        "avg_over_time(queue_depth[10m] @ <T2> offset -10m)",
        "node_temperature_celsius - node_temperature_celsius offset 10m",
        "delta(node_temperature_celsius[10m] offset 30m)",
        "up offset 3m and up",
        "sum by (job) (rate(http_requests_total[5m] offset 1m)) / sum by (job) (rate(http_requests_total[5m]))",
        "vector(1) @ <T1>",
        "time() @ <T2>",
        "minute(vector(time() @ <T1>))",
    ] {
        b.range(e);
    }
}

fn instants(b: &mut Builder) {
    for (i, e) in [
        "up[5m]",
        "http_requests_total{code=\"200\",instance=\"10.0.0.1:8080\"}[2m] offset 1m",
        "queue_depth[10m] @ <T1>",
        "rate(http_requests_total{code=\"404\"}[5m])[10m:1m]",
        "node_temperature_celsius{zone=\"cpu\"}[3m]",
        "sort(node_temperature_celsius)",
        "sort_desc(rate(http_requests_total[5m]))",
        "sort(sum by (job, instance) (queue_depth))",
        "sort_desc(node_temperature_celsius{zone=\"cpu\"} offset 5m)",
        "sort(histogram_quantile(0.9, sum by (job, le) (rate(http_request_duration_seconds_bucket[10m]))))",
        "sort_desc(count_values(\"v\", queue_depth))",
        "sort(-node_temperature_celsius)",
        "topk(3, node_temperature_celsius)",
        "1",
        "-2.5e3",
        "\"hello\"",
        "time()",
        "scalar(sum(up))",
        "up",
        "absent(nonexistent_metric)",
        "rate(up[5m]",
        "up[5m:1m]",
        "queue_depth[10m:3m] offset 2m",
        "(queue_depth > 5)[5m:1m]",
        "sort_desc(topk(3, rate(http_requests_total[5m])))",
        "sort(count_values(\"r\", cache_hit_ratio))",
        "cache_hit_ratio[10m] offset 5m",
    ]
    .iter()
    .enumerate()
    {
        b.instant(*e, i % INSTANT_TIMES.len());
    }
}

/// All queries, each text once per kind.
pub fn all() -> Vec<Query> {
    let mut b = Builder { out: Vec::new() };
    range_functions(&mut b);
    instant_functions(&mut b);
    histograms(&mut b);
    aggregations(&mut b);
    binary_operators(&mut b);
    subqueries_offset_at(&mut b);
    super::edge::edge_cases(&mut b);
    super::edge::syntax(&mut b);
    super::edge::changing_data(&mut b);
    // a sample of the range queries also as instant queries at each instant time
    let ranged: Vec<String> = b.out.iter().map(|q| q.text.clone()).collect();
    for (i, text) in ranged.iter().enumerate().filter(|(i, _)| i % 4 == 0) {
        b.instant(text.clone(), i % INSTANT_TIMES.len());
    }
    instants(&mut b);
    let mut seen = std::collections::HashSet::new();
    b.out
        .retain(|q| seen.insert((matches!(q.kind, Kind::Instant(_)), q.text.clone())));
    b.out
}
