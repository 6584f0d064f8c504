//! Running one test group: series into an in-memory store, the rule groups evaluated at
//! every evaluation interval from 0 to the last `eval_time`, alerts checked as each of
//! their times is reached, expressions checked at the end.

use std::collections::BTreeMap;
use std::path::PathBuf;

use std::sync::Arc;

use oxeye_core::{Labels, MetricsAppender, Sample, SeriesWrite, TenantId, WriteBatch};
use oxeye_promql::promqltest::{Point, parse::parse_series};

use super::format::{self, AlertView};
use super::spec::TestGroup;
use crate::file::{RuleLanguage, parse_duration};
use crate::group::{AlertState, Group, GroupOptions};
use crate::memory::MemMetrics;
use crate::query::{PromqlQuery, QueryFunc};

/// Settings shared by the test groups of a file.
pub(crate) struct FileContext<'a> {
    pub eval_interval_ms: i64,
    pub group_order: &'a [String],
    pub rule_files: &'a [PathBuf],
}

fn duration(field: &str, s: &Option<String>) -> Result<i64, String> {
    match s {
        None => Ok(0),
        Some(s) => parse_duration(s).map_err(|e| format!("{field}: {e}")),
    }
}

fn label_map(l: &Labels) -> BTreeMap<String, String> {
    l.iter()
        .map(|l| (l.name.clone(), l.value.clone()))
        .collect()
}

/// Loads the series of `tg` into a new store.
fn load_series(tg: &TestGroup, interval_ms: i64, tenant: &TenantId) -> Result<MemMetrics, String> {
    let mut batch = WriteBatch::default();
    for s in &tg.input_series {
        let line = format!("{} {}", s.series, s.values.text());
        let desc = parse_series(&line).map_err(|e| format!("{}: {e}", s.series))?;
        let mut samples = Vec::new();
        for (i, p) in desc.points.iter().enumerate() {
            if let Point::Float(v) = p {
                samples.push(Sample::new(i as i64 * interval_ms, *v));
            }
        }
        batch.series.push(SeriesWrite {
            labels: desc.labels,
            samples,
            exemplars: Vec::new(),
        });
    }
    let store = MemMetrics::new();
    store
        .append(tenant, batch)
        .map_err(|e| format!("loading input series: {e}"))?;
    Ok(store)
}

/// Builds the groups of the rule files, ordered as `group_eval_order` asks.
fn load_groups(
    tg: &TestGroup,
    ctx: &FileContext<'_>,
    tenant: &TenantId,
    interval_ms: i64,
) -> Result<Vec<Group>, Vec<String>> {
    let options = GroupOptions {
        default_interval_ms: interval_ms,
        external_labels: tg.external_labels.clone(),
        external_url: tg.external_url.clone().unwrap_or_default(),
        ..GroupOptions::default()
    };
    let mut groups = Vec::new();
    let mut errs = Vec::new();
    for path in ctx.rule_files {
        let file = match crate::file::load(path) {
            Ok(f) => f,
            Err(e) => {
                errs.push(e.to_string());
                continue;
            }
        };
        let problems = crate::file::validate(&file, RuleLanguage::Promql);
        if !problems.is_empty() {
            errs.extend(problems.iter().map(|e| format!("{}: {e}", path.display())));
            continue;
        }
        for spec in file.groups {
            let name = path.to_string_lossy().into_owned();
            match Group::new(
                tenant.clone(),
                name,
                spec,
                RuleLanguage::Promql,
                options.clone(),
            ) {
                Ok(g) => groups.push(g),
                Err(e) => errs.push(format!("{}: {e}", path.display())),
            }
        }
    }
    if !errs.is_empty() {
        return Err(errs);
    }
    let rank = |g: &Group| {
        ctx.group_order
            .iter()
            .position(|n| n == g.name())
            .unwrap_or(0)
    };
    groups.sort_by_key(rank);
    Ok(groups)
}

/// Firing alerts of every group, by alert name.
fn firing_alerts(groups: &[Group]) -> BTreeMap<String, Vec<AlertView>> {
    let mut out: BTreeMap<String, Vec<AlertView>> = BTreeMap::new();
    for g in groups {
        for a in g.active_alerts() {
            if a.state != AlertState::Firing {
                continue;
            }
            let name = a.labels.get("alertname").unwrap_or("").to_string();
            out.entry(name).or_default().push(AlertView {
                labels: label_map(&a.labels),
                annotations: a.annotations.clone(),
            });
        }
    }
    out
}

/// Whether a value meets its expectation: equal within a relative 1e-6 (as later
/// promtool versions compare; 2.42 compares exactly, which fails tests over rounding
/// differences of the last bit). NaN never meets an expectation, as in 2.42.
pub(crate) fn values_match(exp: f64, got: f64) -> bool {
    if exp == got {
        return true;
    }
    if !exp.is_finite() || !got.is_finite() {
        return false;
    }
    (exp - got).abs() <= 1e-6 * exp.abs().max(got.abs())
}

/// Runs one test group; the failures found, in promtool's words.
pub(crate) fn run_group(tg: &TestGroup, ctx: &FileContext<'_>) -> Vec<String> {
    match run_group_inner(tg, ctx) {
        Ok(errs) => errs,
        Err(e) => vec![e],
    }
}

fn run_group_inner(tg: &TestGroup, ctx: &FileContext<'_>) -> Result<Vec<String>, String> {
    let interval_ms = match duration("interval", &tg.interval)? {
        0 => ctx.eval_interval_ms,
        ms => ms,
    };
    let tenant = TenantId::new("unittest").map_err(|e| e.to_string())?;
    let store = Arc::new(load_series(tg, interval_ms, &tenant)?);
    let mut groups = match load_groups(tg, ctx, &tenant, interval_ms) {
        Ok(g) => g,
        Err(errs) => return Ok(errs),
    };
    let query = PromqlQuery {
        engine: oxeye_promql::promqltest::test_engine(),
        queryable: store.clone(),
    };

    // Alert tests by eval time.
    let mut alert_tests: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
    for (i, at) in tg.alert_rule_test.iter().enumerate() {
        let t = duration("eval_time", &at.eval_time)?;
        if at.alertname.is_empty() {
            let in_group = tg
                .name
                .as_deref()
                .map(|n| format!(" (in TestGroup {n})"))
                .unwrap_or_default();
            return Err(format!(
                "an item under alert_rule_test misses required attribute alertname at eval_time {}{in_group}",
                format::model_duration(t)
            ));
        }
        alert_tests.entry(t).or_default().push(i);
    }
    let mut expr_times = Vec::new();
    for et in &tg.promql_expr_test {
        expr_times.push(duration("eval_time", &et.eval_time)?);
    }
    let max_t = alert_tests
        .keys()
        .chain(expr_times.iter())
        .copied()
        .max()
        .unwrap_or(0);

    let mut errs = Vec::new();
    let mut pending: Vec<i64> = alert_tests.keys().copied().collect();
    pending.reverse();
    let step = ctx.eval_interval_ms.max(1);
    let mut ts = 0;
    while ts <= max_t {
        let mut eval_errs = Vec::new();
        for g in &mut groups {
            g.eval(ts, &query, store.as_ref());
            for r in g.rule_statuses() {
                if r.last_evaluation_ms == Some(ts)
                    && let Some(e) = &r.last_error
                {
                    eval_errs.push(format!(
                        "    rule: {}, time: {}, err: {e}",
                        r.name,
                        format::go_duration(ts)
                    ));
                }
            }
        }
        if !eval_errs.is_empty() {
            errs.extend(eval_errs);
            return Ok(errs);
        }
        while let Some(&t) = pending.last() {
            if !(ts <= t && t < ts + step) {
                break;
            }
            pending.pop();
            let got = firing_alerts(&groups);
            for &i in alert_tests.get(&t).into_iter().flatten() {
                let Some(at) = tg.alert_rule_test.get(i) else {
                    continue;
                };
                let mut got_alerts = got.get(&at.alertname).cloned().unwrap_or_default();
                let mut exp: Vec<AlertView> = at
                    .exp_alerts
                    .iter()
                    .map(|a| {
                        let mut labels = a.exp_labels.clone();
                        labels.insert("alertname".into(), at.alertname.clone());
                        AlertView {
                            labels,
                            annotations: a.exp_annotations.clone(),
                        }
                    })
                    .collect();
                got_alerts.sort();
                exp.sort();
                if got_alerts != exp {
                    errs.push(format::alert_mismatch(
                        tg.name.as_deref(),
                        &at.alertname,
                        t,
                        &exp,
                        &got_alerts,
                    ));
                }
            }
        }
        ts += step;
    }

    for (et, &t) in tg.promql_expr_test.iter().zip(&expr_times) {
        let head = format!(
            "    expr: {:?}, time: {}",
            et.expr,
            format::model_duration(t)
        );
        let got = match query.instant(&tenant, &et.expr, t) {
            Ok(v) => v,
            Err(e) => {
                errs.push(format!("{head}, err: {e}"));
                continue;
            }
        };
        let mut got: Vec<(BTreeMap<String, String>, f64)> =
            got.iter().map(|(l, v)| (label_map(l), *v)).collect();
        let mut exp = Vec::new();
        let mut bad_labels = None;
        for s in &et.exp_samples {
            match parse_series(&s.labels) {
                Ok(d) => exp.push((label_map(&d.labels), s.value)),
                Err(e) => {
                    bad_labels = Some(format!("{head}, err: labels {:?}: {e}", s.labels));
                    break;
                }
            }
        }
        if let Some(e) = bad_labels {
            errs.push(e);
            continue;
        }
        got.sort_by(|a, b| a.0.cmp(&b.0));
        exp.sort_by(|a, b| a.0.cmp(&b.0));
        let same = got.len() == exp.len()
            && got
                .iter()
                .zip(&exp)
                .all(|(g, e)| g.0 == e.0 && values_match(e.1, g.1));
        if !same {
            errs.push(format!(
                "{head},\n        exp: {}\n        got: {}",
                format::samples(&exp),
                format::samples(&got)
            ));
        }
    }
    Ok(errs)
}
