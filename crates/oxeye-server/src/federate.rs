//! `GET /federate`: the latest sample of every series matching any `match[]` selector, in
//! the text exposition format, so another Prometheus can scrape oxeye.
//!
//! Flow, as Prometheus's federation handler: parse every `match[]` (a bad one answers 400
//! in plain text; none selects nothing), open a querier over `[now - lookback, now]`
//! (`--query.lookback-delta`, 5m by default) for the request's tenant on a blocking
//! thread, select each selector's series and merge them by label set, keep each series'
//! newest sample (staleness markers drop the series: the text format cannot carry them),
//! sort stably by metric name and write one untyped family per name. Labels with empty values and nameless series are left out; a series without an
//! `instance` label gets `instance=""`, so a scraper with `honor_labels: true` does not
//! attach its own target's instance. Answers are gzipped when the client accepts gzip.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::ops::ControlFlow;
use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use oxeye_core::{Labels, METRIC_NAME, Matcher, Sample, SelectHints, Series, is_stale_nan};

use crate::error::{ApiError, blocking};
use crate::params::Params;
use crate::selector::parse_selector;
use crate::state::{ServerState, Tenant};

/// Content-Type of the text exposition format 0.0.4.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The newest sample of `series`, if any.
fn newest(series: &Series) -> Result<Option<Sample>, ApiError> {
    let mut last = None;
    series.data.for_each_chunk(&mut |chunk| {
        if let Some(s) = chunk.last() {
            last = Some(*s);
        }
        ControlFlow::Continue(())
    })?;
    Ok(last)
}

/// Newest samples in `[now - lookback_ms, now]` of the series matching any of `sets`,
/// sorted stably by metric name.
pub fn latest_samples(
    state: &ServerState,
    tenant: &oxeye_core::TenantId,
    sets: &[Vec<Matcher>],
    now: i64,
    lookback_ms: i64,
) -> Result<Vec<(Labels, Sample)>, ApiError> {
    if sets.is_empty() {
        return Ok(Vec::new());
    }
    let (mint, maxt) = (now.saturating_sub(lookback_ms), now);
    let q = state.queryable.querier(tenant, mint, maxt)?;
    let hints = SelectHints {
        start: mint,
        end: maxt,
        ..SelectHints::default()
    };
    let mut merged: BTreeMap<Labels, Series> = BTreeMap::new();
    for m in sets {
        for s in q.select(m, &hints)? {
            merged.entry(s.labels.clone()).or_insert(s);
        }
    }
    let mut out = Vec::with_capacity(merged.len());
    for (labels, series) in merged {
        let Some(sample) = newest(&series)? else {
            continue;
        };
        if sample.t > maxt || sample.t < mint || is_stale_nan(sample.v) {
            continue;
        }
        out.push((labels, sample));
    }
    out.sort_by(|a, b| {
        let name = |l: &Labels| l.metric_name().unwrap_or("").to_string();
        name(&a.0).cmp(&name(&b.0))
    });
    Ok(out)
}

/// Appends `v` as Go's `strconv.FormatFloat(v, 'g', -1, 64)` spells it, with the text
/// format's `+Inf`, `-Inf` and `NaN`.
pub fn push_go_float(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
        return;
    }
    if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
        return;
    }
    if v == 0.0 {
        out.push('0');
        return;
    }
    // shortest round-trip digits and the decimal exponent
    let sci = format!("{:e}", v.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    if v < 0.0 {
        out.push('-');
    }
    if !(-4..6).contains(&exp) {
        let (first, rest) = digits.split_at(1);
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        let _ = write!(out, "e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
        return;
    }
    let nd = digits.len() as i32;
    if exp < 0 {
        out.push_str("0.");
        for _ in 0..(-exp - 1) {
            out.push('0');
        }
        out.push_str(&digits);
        return;
    }
    let int_len = exp + 1;
    if nd <= int_len {
        out.push_str(&digits);
        for _ in 0..(int_len - nd) {
            out.push('0');
        }
    } else {
        let (int, frac) = digits.split_at(int_len as usize);
        out.push_str(int);
        out.push('.');
        out.push_str(frac);
    }
}

fn push_escaped(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Writes the samples as untyped families of the text exposition format.
pub fn write_text(samples: &[(Labels, Sample)]) -> String {
    let mut out = String::with_capacity(samples.len() * 64);
    let mut family: Option<&str> = None;
    for (labels, s) in samples {
        let Some(name) = labels.metric_name().filter(|n| !n.is_empty()) else {
            tracing::warn!(series = %labels, "ignoring nameless metric during federation");
            continue;
        };
        if family != Some(name) {
            let _ = writeln!(out, "# TYPE {name} untyped");
            family = Some(name);
        }
        out.push_str(name);
        out.push('{');
        let mut first = true;
        let mut has_instance = false;
        for l in labels.iter() {
            if l.name == METRIC_NAME || l.value.is_empty() {
                continue;
            }
            has_instance |= l.name == "instance";
            if !first {
                out.push(',');
            }
            first = false;
            out.push_str(&l.name);
            out.push_str("=\"");
            push_escaped(&mut out, &l.value);
            out.push('"');
        }
        if !has_instance {
            if !first {
                out.push(',');
            }
            out.push_str("instance=\"\"");
        }
        out.push_str("} ");
        push_go_float(&mut out, s.v);
        let _ = writeln!(out, " {}", s.t);
    }
    out
}

/// Gzip for clients that accept it, as Prometheus compresses its federation answers
/// (federating many series is a large text body).
pub fn compression() -> tower_http::compression::CompressionLayer {
    tower_http::compression::CompressionLayer::new()
}

/// `GET /federate`
pub async fn federate(
    State(state): State<Arc<ServerState>>,
    tenant: Result<Tenant, ApiError>,
    RawQuery(query): RawQuery,
) -> Response {
    let result = async {
        let Tenant(tenant) = tenant?;
        let params = Params::parse(query.unwrap_or_default().as_bytes());
        let sets = params
            .all("match[]")
            .into_iter()
            .map(|s| parse_selector(s).map_err(|e| ApiError::BadRequest(e.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        let now = state.clock.now_ms();
        let lookback = state.query_limits.lookback_delta_ms;
        let st = state.clone();
        blocking(move || {
            let samples = latest_samples(&st, &tenant, &sets, now, lookback)?;
            Ok(write_text(&samples))
        })
        .await
    }
    .await;
    match result {
        Ok(body) => ([(header::CONTENT_TYPE, TEXT_CONTENT_TYPE)], body).into_response(),
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
#[path = "federate_tests.rs"]
mod tests;
