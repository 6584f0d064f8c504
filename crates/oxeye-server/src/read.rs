//! Read APIs: `/api/v1/series`, `/api/v1/labels`, `/api/v1/label/{name}/values` (Prometheus
//! JSON envelope) and `/api/v1/export` (VictoriaMetrics JSON lines).
//!
//! Each handler parses `match[]`, `start`, `end` and `limit`, opens a querier for the
//! request's tenant over `[start, end]` on a blocking thread, and shapes the answer.
//! Export streams: series are listed first (so errors still map to a status code), then
//! each series' samples are read and written one line at a time through a bounded channel.

use std::collections::BTreeSet;
use std::ops::ControlFlow;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use oxeye_core::{
    Labels, Matcher, MetricsQuerier, SelectHints, Series, StoreError, TenantId, is_stale_nan,
};
use serde::Serialize;
use serde::ser::SerializeMap;

use crate::error::{ApiError, JsonApiError, blocking};
use crate::params::{Params, is_empty_range};
use crate::selector::parse_selector;
use crate::state::{ReadTenant, ServerState};

/// Prometheus's success envelope.
#[derive(Debug, Serialize)]
pub struct Success<T: Serialize> {
    status: &'static str,
    data: T,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    warnings: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    infos: Vec<String>,
}

impl<T: Serialize> Success<T> {
    /// Wraps `data`.
    pub fn new(data: T) -> Self {
        Self {
            status: "success",
            data,
            warnings: Vec::new(),
            infos: Vec::new(),
        }
    }

    /// Adds a query's annotations to the envelope.
    pub fn annotated(mut self, warnings: Vec<String>, infos: Vec<String>) -> Self {
        self.warnings.extend(warnings);
        self.infos.extend(infos);
        self
    }

    fn warn(mut self, truncated: bool) -> Self {
        if truncated {
            self.warnings.push("results truncated due to limit".into());
        }
        self
    }
}

impl<T: Serialize> IntoResponse for Success<T> {
    fn into_response(self) -> Response {
        axum::Json(self).into_response()
    }
}

/// Serializes a label set as a JSON object in label order.
struct LabelMap<'a>(&'a Labels);

impl Serialize for LabelMap<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for l in self.0 {
            map.serialize_entry(&l.name, &l.value)?;
        }
        map.end()
    }
}

struct SeriesList(Vec<Labels>);

impl Serialize for SeriesList {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(LabelMap))
    }
}

/// The `match[]` selectors; `required` for `/series`, whose parse errors Prometheus
/// prefixes with the parameter name.
fn selectors(params: &Params, required: bool) -> Result<Vec<Vec<Matcher>>, ApiError> {
    let raw = params.all("match[]");
    if raw.is_empty() && required {
        return Err(ApiError::BadRequest("no match[] parameter provided".into()));
    }
    raw.into_iter()
        .map(|s| {
            parse_selector(s).map_err(|e| {
                if required {
                    ApiError::BadRequest(format!("invalid parameter \"match[]\": {e}"))
                } else {
                    ApiError::BadRequest(e.to_string())
                }
            })
        })
        .collect()
}

/// Decodes a label name sent in Prometheus's `U__` value-encoding escaping (`_2e_` for
/// `.`, `__` for `_`); a name that is not validly escaped is taken as it is.
fn unescape_label_name(name: &str) -> String {
    let Some(rest) = name.strip_prefix("U__") else {
        return name.to_string();
    };
    let mut out = String::with_capacity(rest.len());
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '_' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'_') {
            chars.next();
            out.push('_');
            continue;
        }
        let mut hex = String::new();
        loop {
            match chars.next() {
                Some('_') => break,
                Some(h) if h.is_ascii_hexdigit() => hex.push(h),
                _ => return name.to_string(),
            }
        }
        match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
            Some(decoded) => out.push(decoded),
            None => return name.to_string(),
        }
    }
    out
}

fn truncate<T>(mut v: Vec<T>, limit: Option<usize>) -> (Vec<T>, bool) {
    match limit {
        Some(n) if v.len() > n => {
            v.truncate(n);
            (v, true)
        }
        _ => (v, false),
    }
}

/// `GET|POST /api/v1/series`
pub async fn series(
    State(state): State<Arc<ServerState>>,
    ReadTenant(tenant): ReadTenant,
    params: Params,
) -> Result<Response, JsonApiError> {
    if params.all("match[]").is_empty() {
        return Err(ApiError::BadRequest("no match[] parameter provided".into()).into());
    }
    let limit = params.limit()?;
    let (start, end) = params.time_range()?;
    let sets = selectors(&params, true)?;
    if is_empty_range(start, end) {
        return Ok(Success::new(SeriesList(Vec::new())).into_response());
    }
    let queryable = state.queryable.clone();
    let found = blocking(move || {
        let q = queryable.querier(&tenant, start, end)?;
        let hints = SelectHints {
            start,
            end,
            step: 0,
            func: Some("series".into()),
            limit: limit.map(|n| n.saturating_add(1)),
        };
        let mut all = BTreeSet::new();
        for m in &sets {
            all.extend(q.select(m, &hints)?.into_iter().map(|s| s.labels));
        }
        Ok(all.into_iter().collect::<Vec<_>>())
    })
    .await?;
    let (found, truncated) = truncate(found, limit);
    Ok(Success::new(SeriesList(found))
        .warn(truncated)
        .into_response())
}

/// `GET|POST /api/v1/labels`
pub async fn labels(
    State(state): State<Arc<ServerState>>,
    ReadTenant(tenant): ReadTenant,
    params: Params,
) -> Result<Response, JsonApiError> {
    let limit = params.limit()?;
    let (start, end) = params.time_range()?;
    let sets = selectors(&params, false)?;
    let names =
        strings_over_selectors(&state, tenant, start, end, sets, |q, m| q.label_names(m)).await?;
    let (names, truncated) = truncate(names, limit);
    Ok(Success::new(names).warn(truncated).into_response())
}

/// `GET /api/v1/label/{name}/values`
pub async fn label_values(
    State(state): State<Arc<ServerState>>,
    ReadTenant(tenant): ReadTenant,
    Path(name): Path<String>,
    params: Params,
) -> Result<Response, JsonApiError> {
    // Prometheus 3 accepts any UTF-8 label name, escaped or not
    let name = unescape_label_name(&name);
    if name.is_empty() {
        return Err(ApiError::BadRequest(format!("invalid label name: {name:?}")).into());
    }
    let limit = params.limit()?;
    let (start, end) = params.time_range()?;
    let sets = selectors(&params, false)?;
    let values = strings_over_selectors(&state, tenant, start, end, sets, move |q, m| {
        q.label_values(&name, m)
    })
    .await?;
    let (values, truncated) = truncate(values, limit);
    Ok(Success::new(values).warn(truncated).into_response())
}

/// The sorted union of `read`'s answers over every `match[]` selector set (or over all
/// series when there is none), read on a blocking thread.
async fn strings_over_selectors(
    state: &ServerState,
    tenant: TenantId,
    start: i64,
    end: i64,
    sets: Vec<Vec<Matcher>>,
    read: impl Fn(&dyn MetricsQuerier, &[Matcher]) -> Result<Vec<String>, StoreError> + Send + 'static,
) -> Result<Vec<String>, ApiError> {
    if is_empty_range(start, end) {
        return Ok(Vec::new());
    }
    let queryable = state.queryable.clone();
    blocking(move || {
        let q = queryable.querier(&tenant, start, end)?;
        if sets.is_empty() {
            return Ok(read(q.as_ref(), &[])?);
        }
        let mut all = BTreeSet::new();
        for m in &sets {
            all.extend(read(q.as_ref(), m)?);
        }
        Ok(all.into_iter().collect())
    })
    .await
}

/// Appends `v` as VictoriaMetrics's export writes numbers: plain decimal notation for
/// ordinary magnitudes, `+Inf`/`-Inf`/`NaN` for the non-finite values.
fn push_value(out: &mut String, v: f64) {
    use std::fmt::Write;
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else if v != 0.0 && (v.abs() < 1e-6 || v.abs() >= 1e30) {
        let _ = write!(out, "{v:e}");
    } else {
        let _ = write!(out, "{v}");
    }
}

/// One export line for a series, or `None` when no sample is left after dropping
/// staleness markers.
fn export_line(series: &Series) -> Result<Option<String>, ApiError> {
    let mut values = String::from("[");
    let mut timestamps = String::from("[");
    let mut n = 0usize;
    series.data.for_each_chunk(&mut |chunk| {
        for s in chunk.iter().filter(|s| !is_stale_nan(s.v)) {
            if n > 0 {
                values.push(',');
                timestamps.push(',');
            }
            push_value(&mut values, s.v);
            timestamps.push_str(&s.t.to_string());
            n += 1;
        }
        ControlFlow::Continue(())
    })?;
    if n == 0 {
        return Ok(None);
    }
    let metric = serde_json::to_string(&LabelMap(&series.labels))
        .map_err(|e| ApiError::Internal(format!("cannot encode labels: {e}")))?;
    Ok(Some(format!(
        "{{\"metric\":{metric},\"values\":{values}],\"timestamps\":{timestamps}]}}\n"
    )))
}

/// `GET|POST /api/v1/export`
pub async fn export(
    State(state): State<Arc<ServerState>>,
    ReadTenant(tenant): ReadTenant,
    params: Params,
) -> Result<Response, JsonApiError> {
    let sets = selectors(&params, true)?;
    let (start, end) = params.time_range()?;
    let queryable = state.queryable.clone();
    let series = blocking(move || {
        let q = queryable.querier(&tenant, start, end)?;
        let hints = SelectHints {
            start,
            end,
            ..SelectHints::default()
        };
        let mut all: Vec<Series> = Vec::new();
        for m in &sets {
            all.extend(q.select(m, &hints)?);
        }
        all.sort_by(|a, b| a.labels.cmp(&b.labels));
        all.dedup_by(|a, b| a.labels == b.labels);
        // the querier keeps the data alive while series are read
        Ok((q, all))
    })
    .await?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<String, std::io::Error>>(16);
    tokio::task::spawn_blocking(move || {
        let (_querier, all) = series;
        for s in &all {
            let line = match export_line(s) {
                Ok(Some(line)) => Ok(line),
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(series = %s.labels, error = %e, "export aborted");
                    Err(std::io::Error::other(e.to_string()))
                }
            };
            let failed = line.is_err();
            if tx.blocking_send(line).is_err() || failed {
                return;
            }
        }
    });
    let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/stream+json; charset=utf-8",
        )],
        Body::from_stream(stream),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_label_names() {
        assert_eq!(unescape_label_name("job"), "job");
        assert_eq!(unescape_label_name("U__http_2e_method"), "http.method");
        assert_eq!(unescape_label_name("U__a__b"), "a_b");
        assert_eq!(unescape_label_name("U__bad_zz_"), "U__bad_zz_");
    }

    #[test]
    fn values_like_victoriametrics() {
        let mut s = String::new();
        for v in [
            1.0,
            1.5,
            1e6,
            -2.0,
            0.0,
            1.5e-7,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ] {
            push_value(&mut s, v);
            s.push(' ');
        }
        assert_eq!(s, "1 1.5 1000000 -2 0 1.5e-7 +Inf -Inf ");
    }
}
