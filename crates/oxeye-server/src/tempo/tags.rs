//! Tag autocomplete: `/api/search/tags`, `/api/v2/search/tags`,
//! `/api/search/tag/<t>/values` and `/api/v2/search/tag/<t>/values`.
//!
//! Attribute names and values come from the store's dictionaries over the requested
//! range (`start`/`end`, Unix seconds); span names come from its operations. Intrinsics
//! are TraceQL's: their names are fixed, and `status` / `kind` have fixed keyword values
//! as in Tempo. A v2 value lookup with a TraceQL `q` (Grafana sends its current filters)
//! only reports values of the spans that query matches. Every list is sorted so answers
//! are stable.

use std::collections::BTreeSet;
use std::ops::ControlFlow;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use oxeye_core::trace::{AnyValue, AttrScope, SpanKind, SpanStatusCode, TraceQueryable, TraceScan};
use oxeye_core::{StoreError, TenantId};
use oxeye_traceql::Query;
use serde_json::{Value, json};

use super::params::TempoParams;
use crate::error::{ApiError, blocking};
use crate::state::{ServerState, Tenant};

/// TraceQL intrinsics offered for autocomplete (Tempo's list of what users type).
const INTRINSICS: &[&str] = &[
    "duration",
    "event:name",
    "instrumentation:name",
    "instrumentation:version",
    "kind",
    "link:spanID",
    "link:traceID",
    "name",
    "rootName",
    "rootServiceName",
    "span:duration",
    "span:id",
    "span:kind",
    "span:name",
    "span:parentID",
    "span:status",
    "span:statusMessage",
    "status",
    "statusMessage",
    "trace:duration",
    "trace:id",
    "trace:rootName",
    "trace:rootService",
    "traceDuration",
];

/// Scopes `/api/v2/search/tags` accepts; the ones the store keeps no names for answer
/// nothing.
const SCOPES: &[&str] = &[
    "resource",
    "span",
    "intrinsic",
    "event",
    "link",
    "instrumentation",
];

/// The first `limit` names (all when `None`).
fn capped(names: impl IntoIterator<Item = String>, limit: Option<usize>) -> Vec<String> {
    names
        .into_iter()
        .take(limit.unwrap_or(usize::MAX))
        .collect()
}

/// `GET /api/search/tags`: `{"tagNames":[...]}`, resource and span attribute names.
pub async fn tags_v1(
    State(state): State<Arc<ServerState>>,
    Tenant(tenant): Tenant,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let p = TempoParams::parse(query.as_deref());
    let (start, end) = p.range_nanos()?;
    let limit = p.limit()?;
    let store = state.trace_stores()?.queryable.clone();
    let names = blocking(move || Ok(store.tag_names(&tenant, start, end)?)).await?;
    let all: BTreeSet<String> = names.resource.into_iter().chain(names.span).collect();
    Ok(Json(json!({ "tagNames": capped(all, limit) })))
}

/// `GET /api/v2/search/tags`: `{"scopes":[{"name":"span","tags":[...]},...]}`; `scope`
/// selects one scope (`span`, `resource`, `intrinsic`...), none or `all` gives each.
pub async fn tags_v2(
    State(state): State<Arc<ServerState>>,
    Tenant(tenant): Tenant,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let p = TempoParams::parse(query.as_deref());
    let scope = p.get("scope").unwrap_or("all").to_string();
    if scope != "all" && !SCOPES.contains(&scope.as_str()) {
        return Err(ApiError::BadRequest(format!("invalid scope: {scope}")));
    }
    let (start, end) = p.range_nanos()?;
    let limit = p.limit()?;
    let store = state.trace_stores()?.queryable.clone();
    let names = blocking(move || Ok(store.tag_names(&tenant, start, end)?)).await?;
    let wanted = |s: &str| scope == "all" || scope == s;
    let mut scopes = Vec::new();
    if wanted("span") {
        scopes.push(json!({ "name": "span", "tags": capped(names.span, limit) }));
    }
    if wanted("resource") {
        scopes.push(json!({ "name": "resource", "tags": capped(names.resource, limit) }));
    }
    if wanted("intrinsic") {
        let intrinsics = INTRINSICS.iter().map(|s| (*s).to_string());
        scopes.push(json!({ "name": "intrinsic", "tags": capped(intrinsics, limit) }));
    }
    Ok(Json(json!({ "scopes": scopes })))
}

/// `GET /api/search/tag/<t>/values`: `{"tagValues":[...]}`, the values of an unscoped
/// attribute as text. Tempo's virtual tags `status.code` and `error` answer their fixed
/// values.
pub async fn tag_values_v1(
    State(state): State<Arc<ServerState>>,
    Tenant(tenant): Tenant,
    Path(tag): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let p = TempoParams::parse(query.as_deref());
    let (start, end) = p.range_nanos()?;
    let limit = p.limit()?.unwrap_or(usize::MAX);
    if tag.is_empty() {
        return Err(ApiError::BadRequest(
            "please provide a non-empty tagName".into(),
        ));
    }
    let virtual_values: Option<&[&str]> = match tag.as_str() {
        "status.code" => Some(&["unset", "ok", "error"]),
        "error" => Some(&["true"]),
        _ => None,
    };
    if let Some(v) = virtual_values {
        return Ok(Json(json!({ "tagValues": v })));
    }
    let store = state.trace_stores()?.queryable.clone();
    let values =
        blocking(move || Ok(store.tag_values(&tenant, None, &tag, start, end, limit)?)).await?;
    let texts: BTreeSet<String> = values
        .iter()
        .filter(|v| !matches!(v, AnyValue::Empty))
        .map(AnyValue::to_text)
        .collect();
    Ok(Json(json!({ "tagValues": capped(texts, Some(limit)) })))
}

/// What a v2 tag names.
#[derive(Debug, Clone, PartialEq)]
enum TagRef {
    /// An attribute in a scope (`None`: either).
    Attr(Option<AttrScope>, String),
    /// A TraceQL intrinsic.
    Intrinsic(String),
}

/// Parses a TraceQL attribute or intrinsic name (`resource.service.name`, `span.x`,
/// `.x`, `name`, `span:status`...).
fn parse_tag(tag: &str) -> Result<TagRef, ApiError> {
    let bad = || {
        ApiError::BadRequest(format!(
            "please provide a valid tagName: {tag:?} is not a TraceQL attribute or intrinsic"
        ))
    };
    let attr = |scope, rest: &str| {
        if rest.is_empty() {
            Err(bad())
        } else {
            Ok(TagRef::Attr(scope, rest.to_string()))
        }
    };
    if let Some(rest) = tag.strip_prefix("resource.") {
        return attr(Some(AttrScope::Resource), rest);
    }
    if let Some(rest) = tag.strip_prefix("span.") {
        return attr(Some(AttrScope::Span), rest);
    }
    if let Some(rest) = tag.strip_prefix('.') {
        return attr(None, rest);
    }
    if INTRINSICS.contains(&tag) {
        return Ok(TagRef::Intrinsic(tag.to_string()));
    }
    Err(bad())
}

/// A v2 tag value with Tempo's type name; non-scalar values have none.
fn typed(v: &AnyValue) -> Option<(&'static str, String)> {
    match v {
        AnyValue::String(s) => Some(("string", s.clone())),
        AnyValue::Int(i) => Some(("int", i.to_string())),
        AnyValue::Double(d) => Some(("float", d.to_string())),
        AnyValue::Bool(b) => Some(("bool", b.to_string())),
        _ => None,
    }
}

fn keywords(words: impl IntoIterator<Item = &'static str>) -> Vec<(&'static str, String)> {
    words
        .into_iter()
        .map(|w| ("keyword", w.to_string()))
        .collect()
}

/// Most traces a `q`-narrowed value lookup evaluates, so autocomplete stays cheap.
const MAX_FILTER_TRACES: usize = 10_000;

fn is_name(intrinsic: &str) -> bool {
    matches!(intrinsic, "name" | "span:name")
}

/// The query Grafana sends to narrow autocomplete (its current filters, possibly still
/// being typed): the conditions of it that parse; `{}` and text with no usable condition
/// narrow nothing.
fn narrowing_query(q: &str) -> Option<Query> {
    let compact: String = q.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.is_empty() || compact == "{}" {
        return None;
    }
    oxeye_traceql::lenient_filter(q)
}

/// Values of `tag` on the spans `query` matches in the range (span names for the `name`
/// intrinsic), scanning at most [`MAX_FILTER_TRACES`] traces.
fn filtered_values(
    store: &dyn TraceQueryable,
    tenant: &TenantId,
    query: &Query,
    tag: &TagRef,
    (start, end): (u64, u64),
    limit: usize,
) -> Result<BTreeSet<(&'static str, String)>, StoreError> {
    let scan = TraceScan {
        start_nanos: start,
        end_nanos: end,
        hints: query.hints(),
    };
    let mut out = BTreeSet::new();
    let mut seen = 0usize;
    store.scan(tenant, &scan, &mut |trace| {
        seen += 1;
        for set in query.evaluate(trace) {
            for m in set.spans {
                match tag {
                    TagRef::Intrinsic(_) => {
                        out.insert(("string", m.span.name.clone()));
                    }
                    TagRef::Attr(scope, key) => {
                        let mut lists = Vec::new();
                        if *scope != Some(AttrScope::Resource) {
                            lists.push(&m.span.attributes);
                        }
                        if *scope != Some(AttrScope::Span) {
                            lists.push(&m.resource.attributes);
                        }
                        for kv in lists.into_iter().flatten().filter(|kv| kv.key == *key) {
                            if let Some(v) = typed(&kv.value) {
                                out.insert(v);
                            }
                        }
                    }
                }
            }
        }
        if out.len() >= limit || seen >= MAX_FILTER_TRACES {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })?;
    Ok(out)
}

/// `GET /api/v2/search/tag/<t>/values`: `{"tagValues":[{"type":"string","value":"x"}]}`.
/// With a `q` that selects spans, attribute values and span names come from the spans
/// it matches.
pub async fn tag_values_v2(
    State(state): State<Arc<ServerState>>,
    Tenant(tenant): Tenant,
    Path(tag): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let p = TempoParams::parse(query.as_deref());
    let (start, end) = p.range_nanos()?;
    let limit = p.limit()?.unwrap_or(usize::MAX);
    let tag_ref = parse_tag(&tag)?;
    let store = state.trace_stores()?.queryable.clone();
    let filter = p.get("q").and_then(narrowing_query);
    let values: BTreeSet<(&'static str, String)> = match (tag_ref, filter) {
        // values of the spans `q` selects: attributes, and span names
        (tag, Some(query))
            if matches!(&tag, TagRef::Attr(..))
                || matches!(&tag, TagRef::Intrinsic(name) if is_name(name)) =>
        {
            blocking(move || {
                Ok(filtered_values(
                    store.as_ref(),
                    &tenant,
                    &query,
                    &tag,
                    (start, end),
                    limit,
                )?)
            })
            .await?
        }
        (TagRef::Attr(scope, key), _) => {
            let values =
                blocking(move || Ok(store.tag_values(&tenant, scope, &key, start, end, limit)?))
                    .await?;
            values.iter().filter_map(typed).collect()
        }
        (TagRef::Intrinsic(name), _) => match name.as_str() {
            "status" | "span:status" => keywords(
                [
                    SpanStatusCode::Ok,
                    SpanStatusCode::Error,
                    SpanStatusCode::Unset,
                ]
                .map(SpanStatusCode::as_str),
            )
            .into_iter()
            .collect(),
            "kind" | "span:kind" => keywords(
                [
                    SpanKind::Client,
                    SpanKind::Server,
                    SpanKind::Producer,
                    SpanKind::Consumer,
                    SpanKind::Internal,
                    SpanKind::Unspecified,
                ]
                .map(SpanKind::as_str),
            )
            .into_iter()
            .collect(),
            "name" | "span:name" => {
                let ops =
                    blocking(move || Ok(store.operations(&tenant, None, start, end)?)).await?;
                ops.into_iter().map(|o| ("string", o.name)).collect()
            }
            // durations, ids and the rest have no enumerable values
            _ => BTreeSet::new(),
        },
    };
    let out: Vec<Value> = values
        .into_iter()
        .take(limit)
        .map(|(t, v)| json!({ "type": t, "value": v }))
        .collect();
    Ok(Json(json!({ "tagValues": out })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_parse_as_traceql_names() {
        assert_eq!(
            parse_tag("resource.service.name").ok(),
            Some(TagRef::Attr(
                Some(AttrScope::Resource),
                "service.name".into()
            ))
        );
        assert_eq!(
            parse_tag("span.http.method").ok(),
            Some(TagRef::Attr(Some(AttrScope::Span), "http.method".into()))
        );
        assert_eq!(
            parse_tag(".foo").ok(),
            Some(TagRef::Attr(None, "foo".into()))
        );
        assert_eq!(
            parse_tag("status").ok(),
            Some(TagRef::Intrinsic("status".into()))
        );
        assert!(parse_tag("service.name").is_err());
        assert!(parse_tag("span.").is_err());
    }
}
