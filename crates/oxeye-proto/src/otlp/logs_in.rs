//! OTLP logs -> Loki's log model, as Loki's own OTLP endpoint maps them by default.
//!
//! The server decompresses the body, [`decode_logs_request`] parses protobuf or OTLP/JSON,
//! and [`convert_logs`] turns every resource's records into one [`PushStream`]:
//!
//! - the resource attributes Loki promotes by default ([`INDEX_LABEL_ATTRIBUTES`]) become
//!   the stream labels, `.` (and any other character a label name cannot hold) becoming
//!   `_`; a resource without `service.name` gets `service_name="unknown_service"`;
//! - every other resource attribute, the scope (`scope_name`, `scope_version`, its
//!   attributes), the record's attributes (maps flattened with `_`), `trace_id` and
//!   `span_id` in lowercase hex, `severity_text`, `severity_number`, `flags` and
//!   `observed_timestamp` become structured metadata, names sanitised the same way;
//! - the body becomes the line: a string as is, other values as Loki renders them (maps
//!   and arrays as JSON, bytes as base64);
//! - the timestamp is `time_unix_nano`, else `observed_time_unix_nano`, else the
//!   receiving time.
//!
//! Validation against limits is the server's; every record converts.

use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use oxeye_core::logs::LogEntry;

pub use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};

use crate::ProtoError;
use crate::loki::{PushStream, format_labels};

/// Resource attributes Loki turns into stream labels by default.
pub const INDEX_LABEL_ATTRIBUTES: &[&str] = &[
    "cloud.availability_zone",
    "cloud.region",
    "container.name",
    "deployment.environment",
    "deployment.environment.name",
    "k8s.cluster.name",
    "k8s.container.name",
    "k8s.cronjob.name",
    "k8s.daemonset.name",
    "k8s.deployment.name",
    "k8s.job.name",
    "k8s.namespace.name",
    "k8s.pod.name",
    "k8s.replicaset.name",
    "k8s.statefulset.name",
    "service.instance.id",
    "service.name",
    "service.namespace",
];

/// The `service_name` of a resource that has no `service.name`.
pub const UNKNOWN_SERVICE: &str = "unknown_service";

/// Parses an OTLP/HTTP logs body (already decompressed); see [`super::decode_otlp_body`].
/// JSON bodies may write `severityNumber` by name (`"SEVERITY_NUMBER_INFO"`) and empty
/// lists as `{}`.
pub fn decode_logs_request(
    content_type: Option<&str>,
    body: &[u8],
) -> Result<ExportLogsServiceRequest, ProtoError> {
    super::decode_otlp_body_with(content_type, body, decode_json)
}

fn decode_json(body: &[u8]) -> Result<ExportLogsServiceRequest, ProtoError> {
    let first = match serde_json::from_slice(body) {
        Ok(req) => return Ok(req),
        Err(e) => e,
    };
    let refused = || ProtoError::Json(first.to_string());
    let mut v: serde_json::Value = serde_json::from_slice(body).map_err(|_| refused())?;
    if !repair(&mut v) {
        return Err(refused());
    }
    serde_json::from_value(v).map_err(|e| ProtoError::Json(e.to_string()))
}

/// The number of a `SeverityNumber` written by name.
fn severity_number(name: &str) -> Option<i64> {
    const NAMES: [&str; 6] = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"];
    let rest = name.strip_prefix("SEVERITY_NUMBER_")?;
    if rest == "UNSPECIFIED" {
        return Some(0);
    }
    let split = rest
        .find(|c: char| c.is_ascii_digit())
        .unwrap_or(rest.len());
    let (word, digit) = rest.split_at(split);
    let base = NAMES.iter().position(|n| *n == word)? as i64 * 4;
    let step = match digit {
        "" => 1,
        "2" => 2,
        "3" => 3,
        "4" => 4,
        _ => return None,
    };
    Some(base + step)
}

fn repair(v: &mut serde_json::Value) -> bool {
    match v {
        serde_json::Value::Object(map) => {
            let mut changed = false;
            for (k, child) in map.iter_mut() {
                if (k == "arrayValue" || k == "kvlistValue")
                    && let serde_json::Value::Object(list) = child
                    && !list.contains_key("values")
                {
                    list.insert("values".into(), serde_json::Value::Array(Vec::new()));
                    changed = true;
                }
                if k == "severityNumber"
                    && let serde_json::Value::String(name) = child
                    && let Some(n) = severity_number(name)
                {
                    *child = serde_json::Value::from(n);
                    changed = true;
                }
                changed |= repair(child);
            }
            changed
        }
        serde_json::Value::Array(items) => {
            items.iter_mut().fold(false, |acc, item| repair(item) | acc)
        }
        _ => false,
    }
}

/// An attribute name as a label name, the way Loki normalises OTLP names: characters
/// other than ASCII letters, digits and `_` become `_`; a leading digit gets `key_` in
/// front, a single leading `_` gets `key`.
pub fn sanitize_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert_str(0, "key_");
    } else if out.starts_with('_') && !out.starts_with("__") {
        out.insert_str(0, "key");
    }
    out
}

/// A value as Loki renders it into a label, metadata value or line.
pub fn any_value_string(v: &AnyValue) -> String {
    match &v.value {
        None | Some(any_value::Value::StringValueStrindex(_)) => String::new(),
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => float_string(*d),
        Some(any_value::Value::BytesValue(b)) => crate::base64::encode(b),
        Some(any_value::Value::ArrayValue(_)) | Some(any_value::Value::KvlistValue(_)) => {
            serde_json::to_string(&any_value_json(v)).unwrap_or_default()
        }
    }
}

fn float_string(d: f64) -> String {
    if d.is_nan() {
        "NaN".into()
    } else if d.is_infinite() {
        if d > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        d.to_string()
    }
}

fn any_value_json(v: &AnyValue) -> serde_json::Value {
    use serde_json::Value as J;
    match &v.value {
        None | Some(any_value::Value::StringValueStrindex(_)) => J::Null,
        Some(any_value::Value::StringValue(s)) => J::String(s.clone()),
        Some(any_value::Value::BoolValue(b)) => J::Bool(*b),
        Some(any_value::Value::IntValue(i)) => J::from(*i),
        Some(any_value::Value::DoubleValue(d)) => serde_json::Number::from_f64(*d)
            .map(J::Number)
            .unwrap_or_else(|| J::String(float_string(*d))),
        Some(any_value::Value::BytesValue(b)) => J::String(crate::base64::encode(b)),
        Some(any_value::Value::ArrayValue(a)) => {
            J::Array(a.values.iter().map(any_value_json).collect())
        }
        Some(any_value::Value::KvlistValue(l)) => J::Object(
            l.values
                .iter()
                .map(|kv| {
                    let v = kv.value.as_ref().map(any_value_json).unwrap_or(J::Null);
                    (kv.key.clone(), v)
                })
                .collect(),
        ),
    }
}

/// Appends `attrs` as metadata pairs; maps are flattened into `parent_child` names.
fn push_attributes(out: &mut Vec<(String, String)>, prefix: &str, attrs: &[KeyValue]) {
    for kv in attrs {
        // an empty top-level key names nothing a query could select, and the store
        // refuses an empty metadata name
        if prefix.is_empty() && kv.key.is_empty() {
            continue;
        }
        let name = if prefix.is_empty() {
            sanitize_name(&kv.key)
        } else {
            format!("{prefix}_{}", sanitize_name(&kv.key))
        };
        let Some(value) = kv.value.as_ref() else {
            continue;
        };
        if let Some(any_value::Value::KvlistValue(l)) = &value.value {
            push_attributes(out, &name, &l.values);
            continue;
        }
        let s = any_value_string(value);
        if !s.is_empty() {
            out.push((name, s));
        }
    }
}

fn hex(bytes: &[u8]) -> Option<String> {
    if bytes.is_empty() || bytes.iter().all(|&b| b == 0) {
        return None;
    }
    Some(::hex::encode(bytes))
}

/// Converts a request; `now_ns` stamps records that carry no time at all.
pub fn convert_logs(req: ExportLogsServiceRequest, now_ns: i64) -> Vec<PushStream> {
    let mut out = Vec::with_capacity(req.resource_logs.len());
    for rl in req.resource_logs {
        let resource_attrs = rl.resource.map(|r| r.attributes).unwrap_or_default();
        let mut labels: Vec<(String, String)> = Vec::new();
        let mut resource_meta: Vec<(String, String)> = Vec::new();
        let mut rest: Vec<KeyValue> = Vec::new();
        for kv in resource_attrs {
            if INDEX_LABEL_ATTRIBUTES.contains(&kv.key.as_str()) {
                let value = kv.value.as_ref().map(any_value_string).unwrap_or_default();
                if !value.is_empty() {
                    labels.push((sanitize_name(&kv.key), value));
                }
            } else {
                rest.push(kv);
            }
        }
        push_attributes(&mut resource_meta, "", &rest);
        if !labels.iter().any(|(n, _)| n == "service_name") {
            labels.push(("service_name".into(), UNKNOWN_SERVICE.into()));
        }
        let mut entries = Vec::new();
        for sl in rl.scope_logs {
            let mut scope_meta = Vec::new();
            if let Some(scope) = &sl.scope {
                if !scope.name.is_empty() {
                    scope_meta.push(("scope_name".to_string(), scope.name.clone()));
                }
                if !scope.version.is_empty() {
                    scope_meta.push(("scope_version".to_string(), scope.version.clone()));
                }
                push_attributes(&mut scope_meta, "", &scope.attributes);
            }
            for record in sl.log_records {
                entries.push(entry(record, &resource_meta, &scope_meta, now_ns));
            }
        }
        out.push(PushStream {
            labels_text: format_labels(&labels),
            labels: Ok(labels),
            entries,
        });
    }
    out
}

fn entry(
    r: LogRecord,
    resource_meta: &[(String, String)],
    scope_meta: &[(String, String)],
    now_ns: i64,
) -> LogEntry {
    let ts = [r.time_unix_nano, r.observed_time_unix_nano]
        .into_iter()
        .find(|&t| t != 0)
        .map(|t| i64::try_from(t).unwrap_or(i64::MAX))
        .unwrap_or(now_ns);
    let mut metadata = Vec::with_capacity(resource_meta.len() + scope_meta.len() + 8);
    metadata.extend_from_slice(resource_meta);
    metadata.extend_from_slice(scope_meta);
    push_attributes(&mut metadata, "", &r.attributes);
    if let Some(t) = hex(&r.trace_id) {
        metadata.push(("trace_id".into(), t));
    }
    if let Some(s) = hex(&r.span_id) {
        metadata.push(("span_id".into(), s));
    }
    if !r.severity_text.is_empty() {
        metadata.push(("severity_text".into(), r.severity_text));
    }
    if r.severity_number != 0 {
        metadata.push(("severity_number".into(), r.severity_number.to_string()));
    }
    if r.flags != 0 {
        metadata.push(("flags".into(), r.flags.to_string()));
    }
    if r.observed_time_unix_nano != 0 {
        metadata.push((
            "observed_timestamp".into(),
            r.observed_time_unix_nano.to_string(),
        ));
    }
    LogEntry {
        ts_ns: ts,
        line: r.body.as_ref().map(any_value_string).unwrap_or_default(),
        metadata,
    }
}

#[cfg(test)]
#[path = "logs_in_tests.rs"]
mod tests;
