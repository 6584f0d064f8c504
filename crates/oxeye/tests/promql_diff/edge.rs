//! More differential queries: NaN and infinities, literals, odd ranges and steps,
//! label and histogram edge cases, and the corners of the query language's syntax.

use super::queries::{Builder, TEMP};

/// NaN and infinities, literals, odd ranges and steps, label edge cases.
pub fn edge_cases(b: &mut Builder) {
    const RATIO: &str = "cache_hit_ratio";
    for f in [
        "avg_over_time",
        "max_over_time",
        "min_over_time",
        "sum_over_time",
        "stddev_over_time",
        "changes",
        "delta",
        "deriv",
        "present_over_time",
    ] {
        b.range(format!("{f}({RATIO}[5m])"));
    }
    for e in [
        format!("quantile_over_time(0.5, {RATIO}[10m])"),
        format!("max({RATIO})"),
        format!("min by (job) ({RATIO})"),
        format!("sum({RATIO})"),
        format!("avg by (job) ({RATIO})"),
        format!("count({RATIO} > 0.5)"),
        format!("quantile(0.5, {RATIO})"),
        format!("stddev({RATIO})"),
        format!("count_values(\"r\", {RATIO})"),
        format!("{RATIO} != {RATIO}"),
        format!("{RATIO} == bool {RATIO}"),
        format!("clamp_min({RATIO}, 0.2)"),
        format!("{RATIO} * 0"),
        format!("1 / {RATIO}"),
        format!("-{RATIO}"),
        format!("{RATIO} > bool 0.25"),
        format!("abs(-{RATIO})"),
        format!("sgn({RATIO} - 0.5)"),
        format!("round({TEMP}, scalar(up{{instance=\"node-1:9100\"}}))"),
        "clamp(queue_depth, scalar(min(queue_depth)), 10)".into(),
    ] {
        b.range(e);
    }
    for e in [
        "5 % -3",
        "-5 % 3",
        "5.5 % Inf",
        "Inf % 2",
        "2 ^ Inf",
        "(-8) ^ (1 / 3)",
        "0 ^ 0",
        "NaN ^ 0",
        "1 ^ NaN",
        "1 atan2 0",
        "0 atan2 -1",
        "NaN == bool NaN",
        "Inf > bool -Inf",
        "1e308 * 10",
        "0x1f * queue_depth",
        "1e-3 * queue_depth",
        "queue_depth * Inf",
        "queue_depth + NaN",
        "vector(Inf)",
        "vector(NaN) + 1",
        "-vector(-0.5)",
        "round(vector(-2.5))",
        "round(vector(2.5))",
        "round(vector(-0.5))",
        "exp(vector(1000))",
        "ln(vector(-1))",
        "acos(vector(2))",
        "day_of_week(vector(0))",
        "year(vector(-1))",
        "days_in_month(vector(1709164800))",
        "day_of_year(vector(1735603200))",
        "hour(vector(1735689599.5))",
        "month(vector(1e10))",
        "minute(vector(-61))",
    ] {
        b.range(e);
    }
    for e in [
        "rate(http_requests_total[15s])",
        "rate(http_requests_total[16s])",
        "irate(http_requests_total[20s])",
        "increase(http_requests_total[1h30m])",
        "count_over_time(up[1m30s])",
        "sum_over_time(queue_depth[500ms])",
        "deriv(http_requests_total[10m])",
        "predict_linear(http_requests_total[30m], 3600)",
        "idelta(queue_depth[1m])",
        "irate(http_requests_total[1m] offset 1m)",
        "max_over_time(http_requests_total[5m] @ end() offset 30m)",
        "absent_over_time(up[5m] offset 1h)",
        "count_over_time(up[1m] offset -1m)",
        "max_over_time(rate(http_requests_total[5m] offset 1m)[10m:1m] offset 5m)",
        "max_over_time(queue_depth[17m:7s])",
        "max_over_time(timestamp(up)[10m:1m])",
        "quantile_over_time(0.5, rate(http_requests_total[5m])[20m:1m])",
        "count_over_time(up[1m:15s])",
    ] {
        b.range(e);
    }
    for e in [
        "absent(nonexistent_metric{job=\"a\",job=\"b\"})",
        "absent(rate(nonexistent_metric{job=\"x\"}[5m]))",
        "absent(up offset 1h)",
        "label_replace(up, \"instance\", \"$2:$1\", \"instance\", \"(.*):(.*)\")",
        "label_replace(up, \"x\", \"$1\", \"instance\", \"(\")",
        // "1x" is a valid label name in 3.x (UTF-8 names), not in 2.42; "" is in neither
        "label_replace(up, \"\", \"a\", \"instance\", \".*\")",
        "label_join(up, \"all\", \"\", \"job\", \"instance\", \"job\")",
        "histogram_quantile(0.5, label_replace(rate(http_request_duration_seconds_bucket[5m]), \"le\", \"1.0\", \"le\", \"1\"))",
        "histogram_quantile(0.5, label_replace(rate(http_request_duration_seconds_bucket[5m]), \"le\", \"Inf\", \"le\", \"\\\\+Inf\"))",
        "histogram_quantile(0.9, label_replace(rate(http_request_duration_seconds_bucket[5m]), \"le\", \"0.50\", \"le\", \"1\"))",
        "histogram_quantile(0.5, rate(http_request_duration_seconds_bucket[5m]) > 0)",
        "count without (le) (http_request_duration_seconds_bucket)",
        "count(count by (job) (up))",
        "count without (job, instance, method, code) (http_requests_total)",
        "sum(nonexistent_metric)",
        "count(nonexistent_metric)",
        "topk(-1, queue_depth)",
        "bottomk(2, sum by (job, instance) (rate(http_requests_total[5m])))",
        "topk(1, max_over_time(node_temperature_celsius[10m]))",
        "build_info < on(job, instance) group_right queue_depth",
        "queue_depth > on(job, instance) group_left build_info",
        "sum by (instance) (up) * on(instance) group_right sum by (instance, zone) (node_temperature_celsius)",
        "sum by (code) (rate(http_requests_total[5m])) / ignoring(code) group_left sum(rate(http_requests_total[5m]))",
        "vector(1) and on() absent(nonexistent_metric)",
        "queue_depth or up and queue_depth",
        "queue_depth unless up or node_temperature_celsius",
        "((queue_depth))",
        "-queue_depth offset 5m",
        "scalar(vector(3)) * 2",
        "time() > bool 0",
        "sum(up) == bool on() sum(up)",
        "queue_depth and on(job, instance, queue) group_left queue_depth",
    ] {
        b.range(e);
    }
    for e in [
        "up{instance=~\"10\\\\.0\\\\.0\\\\.[12]:.*\"}",
        "queue_depth{job!~\"a.*\"}",
        "up{code=~\"\"}",
        "{__name__=~\"http_.*_total|up\"}",
        "up{job=~\"(?i)API\"}",
        "up{job=~\"API\"}",
        "{__name__=~\"node_.*\", zone!=\"\"}",
        "{job!=\"x\"}",
        "{job=~\".*\"}",
        "sum by (job) ({__name__=~\"queue_depth|up\"})",
        "rate({__name__=~\"http_requests_total|http_request_duration_seconds_count\"}[5m])",
        "abs({__name__=~\"http_request_duration_seconds_(sum|count)\"})",
        "rate(http_requests_total[5m]) / on(job, instance, method) group_left rate(http_request_duration_seconds_count[5m])",
        "max_over_time((queue_depth @ <T1>)[10m:1m])",
        "max_over_time(queue_depth[1m:5m])",
        "sum(rate(http_requests_total[5m] @ <T1>))",
        "max_over_time(queue_depth[10m:1m] @ start())",
        "count_values(\"v\", vector(1e-7))",
        "count_values(\"v\", vector(1e21))",
        "count_values(\"v\", vector(0.1 + 0.2))",
        "count_values(\"v\", vector(-Inf))",
        "-up[5m]",
        "sum(up[5m])",
        "rate(sum(up)[5m])",
        "up == bool 1 and up",
        "count(up) by (job) > 1",
    ] {
        b.range(e);
    }
}

/// Joins against an info metric that changes, a slowly scraped counter, a histogram
/// missing a bucket.
pub fn changing_data(b: &mut Builder) {
    for e in [
        "rate(http_requests_total[5m]) * on(job, instance) group_left(version) deploy_info",
        "sum by (version) (rate(http_requests_total[5m]) * on(job, instance) group_left(version) deploy_info)",
        "count by (version) (deploy_info)",
        "deploy_info offset 10m",
        "changes(deploy_info[30m])",
        "count_over_time(deploy_info[10m])",
        "queue_depth and on(job, instance) deploy_info{version=\"v2\"}",
        "batch_jobs_total",
        "rate(batch_jobs_total[2m])",
        "rate(batch_jobs_total[5m])",
        "increase(batch_jobs_total[10m])",
        "irate(batch_jobs_total[3m])",
        "rate(batch_jobs_total[5m:30s])",
        "timestamp(batch_jobs_total)",
        "count_over_time(batch_jobs_total[5m])",
        "delta(batch_jobs_total[4m])",
        "predict_linear(batch_jobs_total[15m], 600)",
        "sum(rate(batch_jobs_total[10m])) / sum(rate(http_requests_total[10m]))",
        "histogram_quantile(0.5, rate(http_request_duration_seconds_bucket{job=\"web\"}[5m]))",
        "job:http_requests:rate5m",
        "job:http_requests:rate5m{path=~\"/ü/.*\"}",
        "job:http_requests:rate5m{path=\"/a/b c\"}",
        "job:http_requests:rate5m{path=~\".*\\\\\\\\y\"}",
        "label_replace(job:http_requests:rate5m, \"first\", \"$1\", \"path\", \"/(.)/.*\")",
        "count by (path) (job:http_requests:rate5m)",
        "label_replace(up, \"x\", \"$1foo\", \"instance\", \"(.*)\")",
        "label_replace(up, \"x\", \"<$0>\", \"instance\", \"node-(.)\")",
        "label_replace(up, \"x\", \"$$1 ${2}\", \"instance\", \"(.*):(.*)\")",
        "label_replace(up, \"x\", \"$name\", \"instance\", \"(?P<name>[^:]+).*\")",
        "count_values by (v) (\"v\", queue_depth)",
        "resets(cache_hit_ratio[10m])",
        "sum_over_time(cache_hit_ratio[1m])",
        "max by (job) (cache_hit_ratio) - min by (job) (cache_hit_ratio)",
        "label_join(job:http_requests:rate5m, \"k\", \"|\", \"path\", \"job\")",
        "histogram_quantile(0.2, sum by (le) (rate(http_request_duration_seconds_bucket{job=\"web\"}[5m])))",
    ] {
        b.range(e);
    }
}

/// String escapes, comments, number forms, keywords as label names, trailing commas.
pub fn syntax(b: &mut Builder) {
    for e in [
        "label_replace(up, \"s\", 'single', \"\", \"\")",
        "label_replace(up, \"s\", `raw\\n`, \"\", \"\")",
        "label_replace(up, \"s\", \"\\u00e9\\x41\\t\\\"\", \"\", \"\")",
        "up # a comment",
        "sum(\n  up\n) by (job)",
        "vector(.5) + vector(5.) * 1E3",
        "vector(inf) - vector(-INF)",
        "vector(nan)",
        "up offset 25m30s",
        "queue_depth offset -1h",
        "sum by (job,) (up)",
        "sum by (bool, on) (up)",
        "up{bool=\"x\"}",
        "topk(1 + 1, node_temperature_celsius)",
        "quantile(0.2 * 2, queue_depth)",
        "absent({__name__=\"nonexistent_metric\", job=\"a\"})",
        "{__name__=\"up\"}",
        "up + bool up",
        "up offset 5m offset 5m",
        "1 @ 100",
        "count_values(\"\", up)",
        "scalar(sum(up)) * time()",
    ] {
        b.range(e);
    }
}
