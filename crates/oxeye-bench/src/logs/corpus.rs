//! A deterministic corpus of realistic log lines for `oxeye-bench logs`.
//!
//! Five applications write in five formats: an ingress (nginx access lines with request
//! ids), a checkout service (JSON with trace ids and levels), a payments service
//! (logfmt), an orders service (Java, errors with multi-line stack traces) and a
//! recommender (Python, errors with tracebacks). Each pod of each app writes one stream
//! per level: `{app, namespace, pod, level}`, 36 streams. Entries come in time order,
//! timestamps advancing in proportion to the bytes written so the corpus spans the asked
//! duration whatever its size; a stack trace is one entry, its lines joined by `\n` as
//! the application wrote them.

use oxeye_core::civil::civil_from_days;

/// A small deterministic generator (xorshift64*), so corpora are reproducible.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }

    fn hex(&mut self, digits: usize) -> String {
        let mut s = String::with_capacity(digits);
        while s.len() < digits {
            s.push_str(&format!("{:016x}", self.next()));
        }
        s.truncate(digits);
        s
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Nginx,
    Json,
    Logfmt,
    Java,
    Python,
}

struct App {
    name: &'static str,
    namespace: &'static str,
    pods: usize,
    kind: Kind,
    /// Relative share of entries.
    weight: u64,
}

const APPS: [App; 5] = [
    App {
        name: "ingress-nginx",
        namespace: "ingress",
        pods: 3,
        kind: Kind::Nginx,
        weight: 35,
    },
    App {
        name: "checkout",
        namespace: "shop",
        pods: 3,
        kind: Kind::Json,
        weight: 30,
    },
    App {
        name: "payments",
        namespace: "shop",
        pods: 2,
        kind: Kind::Logfmt,
        weight: 15,
    },
    App {
        name: "orders",
        namespace: "shop",
        pods: 2,
        kind: Kind::Java,
        weight: 12,
    },
    App {
        name: "recommender",
        namespace: "ml",
        pods: 2,
        kind: Kind::Python,
        weight: 8,
    },
];

/// The levels, as stream label values.
pub const LEVELS: [&str; 3] = ["info", "warn", "error"];

/// One generated entry.
pub struct Entry {
    /// Index into [`Corpus::streams`].
    pub stream: usize,
    pub ts_ns: i64,
    pub line: String,
}

/// Figures the queries are checked against.
#[derive(Default, Debug)]
pub struct Truth {
    /// Entries per level, in [`LEVELS`] order.
    pub per_level: [u64; 3],
    /// Checkout (JSON) entries whose `status` is 500 or more.
    pub checkout_5xx: u64,
    /// A trace id written in exactly one entry.
    pub needle: String,
    /// Entries and line bytes in total.
    pub entries: u64,
    pub bytes: u64,
}

/// The generator.
pub struct Corpus {
    rng: Rng,
    /// Label sets of the streams.
    pub streams: Vec<Vec<(String, String)>>,
    /// (app index, pod) of each stream group; stream = group * 3 + level.
    groups: Vec<(usize, usize)>,
    pub start_ns: i64,
    span_ns: i64,
    target_bytes: u64,
    /// Entry times with nanosecond jitter instead of the milliseconds the lines print.
    pub ns_timestamps: bool,
    now_ns: i64,
    pub truth: Truth,
}

const PATHS: [&str; 8] = [
    "/api/v1/products",
    "/api/v1/products/{id}",
    "/api/v1/cart",
    "/api/v1/checkout",
    "/api/v1/users/{id}",
    "/api/v1/recommendations",
    "/static/app.js",
    "/healthz",
];
const AGENTS: [&str; 4] = [
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "okhttp/4.12.0",
    "kube-probe/1.28",
];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// (year, month, day, hour, minute, second, millisecond) of `ns` since the epoch.
fn civil(ns: i64) -> (i64, i64, i64, i64, i64, i64, i64) {
    let secs = ns.div_euclid(1_000_000_000);
    let ms = ns.rem_euclid(1_000_000_000) / 1_000_000;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    (y, m, d, rem / 3600, rem % 3600 / 60, rem % 60, ms)
}

fn iso(ns: i64) -> String {
    let (y, mo, d, h, mi, s, ms) = civil(ns);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ms:03}Z")
}

impl Corpus {
    /// A corpus of about `target_bytes` of lines spanning `span_ns` ending at `end_ns`.
    pub fn new(seed: u64, target_bytes: u64, span_ns: i64, end_ns: i64) -> Self {
        let mut streams = Vec::new();
        let mut groups = Vec::new();
        for (a, app) in APPS.iter().enumerate() {
            for pod in 0..app.pods {
                groups.push((a, pod));
                for level in LEVELS {
                    streams.push(vec![
                        ("app".to_string(), app.name.to_string()),
                        ("level".to_string(), level.to_string()),
                        ("namespace".to_string(), app.namespace.to_string()),
                        (
                            "pod".to_string(),
                            format!("{}-7f9c{}d-{:05x}", app.name, pod, pod * 7919),
                        ),
                    ]);
                }
            }
        }
        let start_ns = end_ns - span_ns;
        Self {
            rng: Rng(seed | 1),
            streams,
            groups,
            start_ns,
            span_ns,
            target_bytes,
            ns_timestamps: false,
            now_ns: start_ns,
            truth: Truth::default(),
        }
    }

    /// The next entry, or `None` once the target size is reached.
    pub fn next_entry(&mut self) -> Option<Entry> {
        if self.truth.bytes >= self.target_bytes {
            return None;
        }
        let total: u64 = APPS.iter().map(|a| a.weight).sum();
        let mut roll = self.rng.below(total);
        let mut app = 0;
        for (i, a) in APPS.iter().enumerate() {
            if roll < a.weight {
                app = i;
                break;
            }
            roll -= a.weight;
        }
        let pod = self.rng.below(APPS[app].pods as u64) as usize;
        let group = self
            .groups
            .iter()
            .position(|&(a, p)| a == app && p == pod)
            .unwrap_or(0);
        let roll = self.rng.below(100);
        let level = if roll < 85 {
            0
        } else if roll < 96 {
            1
        } else {
            2
        };
        // entry times are those the lines print (milliseconds), as an agent that takes
        // the time from the line sets them; `ns_timestamps` keeps the nanosecond clock
        let ts = if self.ns_timestamps {
            self.now_ns
        } else {
            self.now_ns - self.now_ns.rem_euclid(1_000_000)
        };
        let (line, level) = match APPS[app].kind {
            Kind::Nginx => self.nginx(ts),
            Kind::Json => (self.json(ts, level), level),
            Kind::Logfmt => (self.logfmt(ts, level), level),
            Kind::Java => (self.java(ts, level), level),
            Kind::Python => (self.python(ts, level), level),
        };
        self.truth.per_level[level] += 1;
        self.truth.entries += 1;
        self.truth.bytes += line.len() as u64;
        // time advances with the bytes written, at least 1 ns, with some jitter
        let share = (line.len() as f64 / self.target_bytes as f64) * self.span_ns as f64;
        let jitter = 0.5 + self.rng.below(1000) as f64 / 1000.0;
        self.now_ns += ((share * jitter) as i64).max(1);
        Some(Entry {
            stream: group * 3 + level,
            ts_ns: ts,
            line,
        })
    }

    fn nginx(&mut self, ts: i64) -> (String, usize) {
        let r = &mut self.rng;
        let roll = r.below(1000);
        let (status, level) = match roll {
            0..=4 => (
                *[500u16, 502, 503, 504]
                    .get(r.below(4) as usize)
                    .unwrap_or(&500),
                2,
            ),
            5..=59 => (
                *[400u16, 401, 403, 404, 429]
                    .get(r.below(5) as usize)
                    .unwrap_or(&404),
                1,
            ),
            60..=119 => (304, 0),
            _ => (200, 0),
        };
        let path = r
            .pick(&PATHS)
            .replace("{id}", &r.below(100_000).to_string());
        let method = if r.below(10) < 7 { "GET" } else { "POST" };
        let (y, mo, d, h, mi, s, _) = civil(ts);
        let month = MONTHS[(mo - 1).clamp(0, 11) as usize];
        let line = format!(
            "10.{}.{}.{} - - [{d:02}/{month}/{y}:{h:02}:{mi:02}:{s:02} +0000] \"{method} {path} HTTP/1.1\" {status} {} \"-\" \"{}\" {}.{:03} {}.{:03} {}",
            r.below(4),
            r.below(256),
            r.below(256),
            200 + r.below(60_000),
            r.pick(&AGENTS),
            r.below(2),
            r.below(1000),
            r.below(2),
            r.below(1000),
            r.hex(32)
        );
        (line, level)
    }

    fn json(&mut self, ts: i64, level: usize) -> String {
        let r = &mut self.rng;
        let (status, msg) = match level {
            2 => (
                *[500u16, 502, 503].get(r.below(3) as usize).unwrap_or(&500),
                "checkout failed: payment service unavailable",
            ),
            1 => (
                *[400u16, 409, 422].get(r.below(3) as usize).unwrap_or(&400),
                "checkout rejected: cart validation failed",
            ),
            _ => (
                200,
                *["checkout completed", "cart updated", "order submitted"]
                    .get(r.below(3) as usize)
                    .unwrap_or(&"cart updated"),
            ),
        };
        if status >= 500 {
            self.truth.checkout_5xx += 1;
        }
        let trace_id = r.hex(32);
        let line = format!(
            r#"{{"ts":"{}","level":"{}","logger":"checkout.api","msg":"{msg}","trace_id":"{trace_id}","span_id":"{}","user_id":{},"cart_items":{},"duration_ms":{},"status":{status},"path":"/api/v1/checkout"}}"#,
            iso(ts),
            LEVELS[level],
            r.hex(16),
            r.below(200_000),
            1 + r.below(12),
            r.below(2_000),
        );
        // the needle: the trace id of the first checkout entry past half the corpus
        if self.truth.needle.is_empty() && self.truth.bytes * 2 >= self.target_bytes {
            self.truth.needle = trace_id;
        }
        line
    }

    fn logfmt(&mut self, ts: i64, level: usize) -> String {
        let r = &mut self.rng;
        let (msg, status) = match level {
            2 => ("\"charge failed: card issuer timeout\"", 504),
            1 => ("\"charge retried\"", 200),
            _ => ("\"charge succeeded\"", 200),
        };
        format!(
            "ts={} level={} caller=charge.go:{} msg={msg} trace_id={} span_id={} customer=cus_{} amount={}.{:02} currency={} latency={}ms status={status}",
            iso(ts),
            LEVELS[level],
            100 + r.below(80),
            r.hex(32),
            r.hex(16),
            r.hex(10),
            r.below(500),
            r.below(100),
            r.pick(&["EUR", "USD", "GBP"]),
            r.below(900),
        )
    }

    fn java(&mut self, ts: i64, level: usize) -> String {
        let r = &mut self.rng;
        let (y, mo, d, h, mi, s, ms) = civil(ts);
        let head = format!(
            "{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}.{ms:03} {:>5} 1 --- [nio-8080-exec-{}] c.e.orders.",
            LEVELS[level].to_uppercase(),
            1 + r.below(20)
        );
        let order = r.below(10_000_000);
        match level {
            0 => format!(
                "{head}OrderService : order o-{order} accepted for customer {} ({} items, total {}.{:02} EUR)",
                r.below(200_000),
                1 + r.below(9),
                r.below(400),
                r.below(100)
            ),
            1 => format!(
                "{head}InventoryClient : slow inventory response for order o-{order}: {}ms",
                500 + r.below(4_000)
            ),
            _ => {
                let mut out = format!(
                    "{head}OrderService : failed to process order o-{order}\njava.lang.IllegalStateException: inventory reservation failed for sku SKU-{}",
                    r.below(100_000)
                );
                let frames = [
                    "com.example.orders.inventory.InventoryClient.reserve(InventoryClient.java:",
                    "com.example.orders.OrderService.place(OrderService.java:",
                    "com.example.orders.web.OrderController.create(OrderController.java:",
                    "org.springframework.web.servlet.FrameworkServlet.service(FrameworkServlet.java:",
                    "jakarta.servlet.http.HttpServlet.service(HttpServlet.java:",
                    "org.apache.catalina.core.ApplicationFilterChain.doFilter(ApplicationFilterChain.java:",
                    "org.apache.tomcat.util.net.NioEndpoint$SocketProcessor.doRun(NioEndpoint.java:",
                    "java.base/java.lang.Thread.run(Thread.java:",
                ];
                let n = 6 + r.below(14) as usize;
                for i in 0..n {
                    out.push_str(&format!(
                        "\n\tat {}{})",
                        frames[i % frames.len()],
                        40 + r.below(900)
                    ));
                }
                out.push_str(&format!(
                    "\nCaused by: java.net.SocketTimeoutException: Read timed out after {}ms\n\tat java.base/sun.nio.ch.NioSocketImpl.timedRead(NioSocketImpl.java:288)\n\t... {} more",
                    1000 + r.below(4000),
                    n
                ));
                out
            }
        }
    }

    fn python(&mut self, ts: i64, level: usize) -> String {
        let r = &mut self.rng;
        let (y, mo, d, h, mi, s, ms) = civil(ts);
        let head = format!(
            "{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02},{ms:03} {}",
            LEVELS[level].to_uppercase()
        );
        let user = r.below(200_000);
        match level {
            0 => format!(
                "{head} recommender.api: served {} recommendations for user {user} in {}ms (model v{})",
                1 + r.below(40),
                r.below(300),
                1 + r.below(4)
            ),
            1 => format!(
                "{head} recommender.cache: feature cache miss for user {user}, recomputing ({} features)",
                r.below(512)
            ),
            _ => format!(
                "{head} recommender.api: prediction failed for user {user}\nTraceback (most recent call last):\n  File \"/app/recommender/api.py\", line {}, in recommend\n    scores = model.predict(features)\n  File \"/app/recommender/model.py\", line {}, in predict\n    return self._session.run(None, {{\"input\": batch}})[0]\n  File \"/usr/local/lib/python3.11/site-packages/onnxruntime/capi/session.py\", line 220, in run\n    return self._sess.run(output_names, input_feed, run_options)\nValueError: input batch has {} features, expected 512",
                60 + r.below(60),
                100 + r.below(100),
                r.below(512)
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corpus_is_deterministic_sized_and_time_ordered() {
        let gen_all = || {
            let mut c = Corpus::new(42, 200_000, 3_600_000_000_000, 10_000_000_000_000);
            let mut out = Vec::new();
            while let Some(e) = c.next_entry() {
                out.push((e.stream, e.ts_ns, e.line));
            }
            (out, c.truth)
        };
        let (a, truth) = gen_all();
        let (b, _) = gen_all();
        assert_eq!(a, b);
        assert!(truth.bytes >= 200_000 && truth.bytes < 210_000, "{truth:?}");
        assert!(a.windows(2).all(|w| w[0].1 < w[1].1));
        assert!(a.iter().any(|e| e.2.contains("\n\tat com.example")));
        assert!(
            a.iter()
                .any(|e| e.2.contains("Traceback (most recent call last)"))
        );
        assert_eq!(a.iter().filter(|e| e.2.contains(&truth.needle)).count(), 1);
        assert_eq!(truth.per_level.iter().sum::<u64>(), a.len() as u64);
        let streams: std::collections::BTreeSet<usize> = a.iter().map(|e| e.0).collect();
        assert!(streams.len() > 24, "{}", streams.len());
    }
}
