//! Restoring alerts' `for` state after a restart, as Prometheus does.
//!
//! Each evaluation writes `ALERTS_FOR_STATE{alertname, ...} = active_at` (seconds). After
//! a restart, for an alert that is active again and whose rule has a `for` of at least
//! the grace period, the last such sample within the outage tolerance gives the
//! original `active_at` and when the server went down (`down_at`, the sample's time):
//! - it had already been active for `for` at `down_at`: it keeps its `active_at` and
//!   fires again at once;
//! - less than the grace period of `for` was left: `active_at` is moved so that it fires
//!   one grace period from now;
//! - otherwise `active_at` moves forward by the downtime, so the time spent pending
//!   before the restart counts.
//!
//! A last sample that is a stale marker means the alert had resolved: nothing is
//! restored. Stale markers are read from the stored samples
//! ([`QueryFunc::last_stored_sample`]); a query function without access to them is
//! asked instant queries instead, which only tell a stale marker apart when it lies
//! within the lookback of the last sample (intervals up to 4m).

use oxeye_core::{Labels, TenantId};

use super::GroupOptions;
use crate::RulesError;
use crate::query::QueryFunc;

/// The `ALERTS_FOR_STATE` selector of an alert's labels.
fn selector(labels: &Labels) -> String {
    let mut out = String::from("ALERTS_FOR_STATE{");
    for (i, l) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&l.name);
        out.push_str("=\"");
        for c in l.value.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
        out.push('"');
    }
    out.push('}');
    out
}

/// The first value of `expr` at `t_ms` whose labels (without `__name__`) are `labels`.
fn one_value(
    query: &dyn QueryFunc,
    tenant: &TenantId,
    expr: &str,
    t_ms: i64,
    labels: &Labels,
) -> Result<Option<f64>, RulesError> {
    let result = query.instant(tenant, expr, t_ms)?;
    Ok(result.into_iter().find_map(|(l, v)| {
        let mut b = l.builder();
        b.del(oxeye_core::METRIC_NAME);
        (b.build() == *labels).then_some(v)
    }))
}

/// The restored `active_at` of an alert with `labels`, ms; `None` when nothing is to be
/// restored.
pub(super) fn restored_active_at(
    tenant: &TenantId,
    labels: &Labels,
    for_ms: i64,
    t_ms: i64,
    options: &GroupOptions,
    interval_ms: i64,
    query: &dyn QueryFunc,
) -> Result<Option<i64>, RulesError> {
    let sel = selector(labels);
    let mut series = labels.builder();
    series.set(oxeye_core::METRIC_NAME, "ALERTS_FOR_STATE");
    let series = series.build();
    let start = t_ms.saturating_sub(options.outage_tolerance_ms.max(1));
    if let Some(last) = query.last_stored_sample(tenant, &series, start, t_ms) {
        // The last stored sample, as Prometheus reads it: a stale marker means the
        // alert had resolved, whatever the interval.
        return Ok(match last? {
            Some((down_at, active_at_s)) if !oxeye_core::is_stale_nan(active_at_s) => {
                Some(restored_from(for_ms, t_ms, options, active_at_s, down_at))
            }
            _ => None,
        });
    }
    let window = crate::file::format_duration(options.outage_tolerance_ms.max(1));
    let Some(active_at_s) = one_value(
        query,
        tenant,
        &format!("last_over_time({sel}[{window}])"),
        t_ms,
        labels,
    )?
    else {
        return Ok(None);
    };
    let Some(down_at_s) = one_value(
        query,
        tenant,
        &format!("ts_of_last_over_time({sel}[{window}])"),
        t_ms,
        labels,
    )?
    else {
        return Ok(None);
    };
    let down_at = (down_at_s * 1000.0).round() as i64;
    // A stale marker is written at the first evaluation after the alert resolved; the
    // series read just after that evaluation (within the lookback) is then absent.
    if interval_ms <= 4 * 60_000 {
        let probe = (down_at + interval_ms).min(t_ms);
        if probe > down_at && one_value(query, tenant, &sel, probe, labels)?.is_none() {
            return Ok(None);
        }
    }
    Ok(Some(restored_from(
        for_ms,
        t_ms,
        options,
        active_at_s,
        down_at,
    )))
}

/// The restored `active_at` of an alert active since `active_at_s` (seconds) when the
/// server went down at `down_at` (ms, the last `ALERTS_FOR_STATE` sample).
fn restored_from(
    for_ms: i64,
    t_ms: i64,
    options: &GroupOptions,
    active_at_s: f64,
    down_at: i64,
) -> i64 {
    // Prometheus restores whole seconds.
    let down_at = down_at.div_euclid(1000) * 1000;
    let active_at = (active_at_s as i64).saturating_mul(1000);
    let remaining = for_ms - (down_at - active_at);
    if remaining <= 0 {
        active_at
    } else if remaining < options.for_grace_period_ms {
        t_ms + options.for_grace_period_ms - for_ms
    } else {
        active_at + (t_ms - down_at)
    }
}
