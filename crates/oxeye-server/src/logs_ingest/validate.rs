//! Validation of pushed log streams against [`LogIngestLimits`], with Loki's rules, error
//! texts and discard reasons.
//!
//! A stream without entries is skipped unread. A stream whose labels are unusable
//! (unparsable, missing, too many, too long, duplicate names) is discarded whole; otherwise each entry is checked on its own (line size,
//! structured metadata size and count, too old, too far in the future). What passes forms
//! the [`LogBatch`] to store; what does not is counted by reason and described by one
//! message per problem, which the push API answers with a 400 after storing the rest, as
//! Loki's distributor does.

use std::time::Duration;

use oxeye_core::logs::{LogBatch, LogEntry, LogStream};
use oxeye_core::{Label, Labels};
use oxeye_proto::loki::PushStream;
use oxeye_proto::otlp::sanitize_name;

/// Loki's default label names searched for a `service_name` when a stream has none.
pub const DEFAULT_DISCOVER_SERVICE_NAME: &[&str] = &[
    "service",
    "app",
    "application",
    "app_name",
    "name",
    "app_kubernetes_io_name",
    "container",
    "container_name",
    "k8s_container_name",
    "component",
    "workload",
    "job",
    "k8s_job_name",
];

/// The label Loki adds to streams that lack one.
pub const SERVICE_NAME: &str = "service_name";
/// Its value when no discovery label is present.
pub const UNKNOWN_SERVICE: &str = "unknown_service";

/// Per-tenant ingest limits; the defaults are Loki's.
#[derive(Debug, Clone)]
pub struct LogIngestLimits {
    /// Longest accepted line in bytes (0: no limit).
    pub max_line_size: usize,
    /// Cut longer lines to `max_line_size` instead of rejecting them.
    pub max_line_size_truncate: bool,
    /// Most labels a stream may have.
    pub max_label_names_per_series: usize,
    /// Longest label name in bytes.
    pub max_label_name_length: usize,
    /// Longest label value in bytes.
    pub max_label_value_length: usize,
    /// Most bytes of structured metadata (names and values) per entry (0: no limit).
    pub max_structured_metadata_size: usize,
    /// Most structured metadata pairs per entry (0: no limit).
    pub max_structured_metadata_entries: usize,
    /// Reject entries older than `now - reject_old_samples_max_age`.
    pub reject_old_samples: bool,
    /// How old an entry may be when `reject_old_samples` is on.
    pub reject_old_samples_max_age: Duration,
    /// How far past now an entry may be.
    pub creation_grace_period: Duration,
    /// Sustained ingest rate per tenant in bytes per second (0: no limit).
    pub ingestion_rate_bytes: f64,
    /// Largest burst per tenant in bytes.
    pub ingestion_burst_bytes: f64,
    /// Labels whose value becomes `service_name` for streams without one, first found
    /// wins, `unknown_service` when none is; empty turns the discovery off.
    pub discover_service_name: Vec<String>,
    /// Attach a `detected_level` structured metadata field to every entry, as Loki does
    /// by default ([`super::level`]).
    pub discover_log_levels: bool,
}

impl Default for LogIngestLimits {
    fn default() -> Self {
        const MB: f64 = (1 << 20) as f64;
        Self {
            max_line_size: 256 * 1024,
            max_line_size_truncate: false,
            max_label_names_per_series: 15,
            max_label_name_length: 1024,
            max_label_value_length: 2048,
            max_structured_metadata_size: 64 * 1024,
            max_structured_metadata_entries: 128,
            reject_old_samples: true,
            reject_old_samples_max_age: Duration::from_secs(7 * 24 * 3600),
            creation_grace_period: Duration::from_secs(600),
            ingestion_rate_bytes: 4.0 * MB,
            ingestion_burst_bytes: 6.0 * MB,
            discover_service_name: DEFAULT_DISCOVER_SERVICE_NAME
                .iter()
                .map(|s| s.to_string())
                .collect(),
            discover_log_levels: true,
        }
    }
}

/// Entries and bytes discarded for one reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Discard {
    /// Loki's `reason` label value.
    pub reason: &'static str,
    /// Entries discarded.
    pub entries: usize,
    /// Their bytes (line and structured metadata).
    pub bytes: usize,
}

/// The outcome of validating a push.
#[derive(Debug, Default)]
pub struct Validated {
    /// What passed.
    pub batch: LogBatch,
    /// Bytes of what passed (lines and structured metadata as sent), what the rate limit
    /// counts.
    pub bytes: usize,
    /// What did not, by reason.
    pub discarded: Vec<Discard>,
    /// One message per problem, in push order.
    pub messages: Vec<String>,
}

impl Validated {
    fn discard(&mut self, reason: &'static str, entries: usize, bytes: usize, message: String) {
        match self.discarded.iter_mut().find(|d| d.reason == reason) {
            Some(d) => {
                d.entries += entries;
                d.bytes += bytes;
            }
            None => self.discarded.push(Discard {
                reason,
                entries,
                bytes,
            }),
        }
        self.messages.push(message);
    }

    /// Entries discarded for any reason.
    pub fn discarded_entries(&self) -> usize {
        self.discarded.iter().map(|d| d.entries).sum()
    }
}

/// Bytes an entry counts for: its line and structured metadata.
pub fn entry_bytes(e: &LogEntry) -> usize {
    e.line.len() + metadata_bytes(e)
}

fn metadata_bytes(e: &LogEntry) -> usize {
    e.metadata.iter().map(|(n, v)| n.len() + v.len()).sum()
}

/// `ns` since the epoch as RFC 3339 with second precision, as Loki's messages print it.
pub fn rfc3339(ns: i64) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = oxeye_core::civil::civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Adds `service_name` from the first discovery label present, as Loki does.
fn discover_service_name(pairs: &mut Vec<(String, String)>, discover: &[String]) {
    if discover.is_empty() || pairs.iter().any(|(n, _)| n == SERVICE_NAME) {
        return;
    }
    let value = discover
        .iter()
        .find_map(|want| {
            pairs
                .iter()
                .find(|(n, _)| n == want)
                .map(|(_, v)| v.clone())
        })
        .unwrap_or_else(|| UNKNOWN_SERVICE.to_string());
    pairs.push((SERVICE_NAME.to_string(), value));
}

/// The stream's labels, or the reason and message it is discarded with.
fn stream_labels(
    limits: &LogIngestLimits,
    text: &str,
    parsed: Result<Vec<(String, String)>, String>,
) -> Result<Labels, (&'static str, String)> {
    let mut pairs = parsed.map_err(|e| {
        (
            "invalid_labels",
            format!("Error parsing labels '{text}' with error: {e}"),
        )
    })?;
    // empty values are absent labels, as in Prometheus
    pairs.retain(|(_, v)| !v.is_empty());
    discover_service_name(&mut pairs, &limits.discover_service_name);
    if pairs.is_empty() {
        return Err((
            "missing_labels",
            "error at least one label pair is required per stream".to_string(),
        ));
    }
    if pairs.len() > limits.max_label_names_per_series {
        return Err((
            "max_label_names_per_series",
            format!(
                "entry for stream '{text}' has {} label names; limit {}",
                pairs.len(),
                limits.max_label_names_per_series
            ),
        ));
    }
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    let mut last: Option<&str> = None;
    for (name, value) in &pairs {
        if name.len() > limits.max_label_name_length {
            return Err((
                "label_name_too_long",
                format!("stream '{text}' has label name too long: '{name}'"),
            ));
        }
        if value.len() > limits.max_label_value_length {
            return Err((
                "label_value_too_long",
                format!("stream '{text}' has label value too long: '{value}'"),
            ));
        }
        if last == Some(name.as_str()) {
            return Err((
                "duplicate_label_names",
                format!("stream '{text}' has duplicate label name: '{name}'"),
            ));
        }
        if !oxeye_core::validate_label_name(name) {
            return Err((
                "invalid_labels",
                format!("Error parsing labels '{text}' with error: invalid label name {name:?}"),
            ));
        }
        last = Some(name);
    }
    Ok(Labels::from_sorted(
        pairs.into_iter().map(|(n, v)| Label::new(n, v)).collect(),
    ))
}

/// Normalises an entry's structured metadata as Loki's distributor does: every name the
/// way OTLP attribute names become label names ([`sanitize_name`], so `trace.id` is
/// queried as `trace_id`), the replacement character `U+FFFD` that marks invalid UTF-8
/// removed from values. A pair with an empty name names nothing a query can select and
/// the store refuses it, so it is dropped (the rest of the entry is kept).
pub fn normalise_metadata(metadata: &mut Vec<(String, String)>) {
    metadata.retain_mut(|(name, value)| {
        if name.is_empty() {
            return false;
        }
        let normalised = sanitize_name(name);
        if normalised != *name {
            *name = normalised;
        }
        if value.contains('\u{FFFD}') {
            value.retain(|c| c != '\u{FFFD}');
        }
        true
    });
}

/// Cuts `line` to at most `max` bytes at a character boundary.
fn truncate(line: &mut String, max: usize) {
    let mut at = max.min(line.len());
    while !line.is_char_boundary(at) {
        at -= 1;
    }
    line.truncate(at);
}

/// Validates a decoded push at `now_ns`.
pub fn validate(limits: &LogIngestLimits, now_ns: i64, streams: Vec<PushStream>) -> Validated {
    let mut out = Validated::default();
    let oldest = if limits.reject_old_samples {
        let age = i64::try_from(limits.reject_old_samples_max_age.as_nanos()).unwrap_or(i64::MAX);
        now_ns.saturating_sub(age)
    } else {
        i64::MIN
    };
    let grace = i64::try_from(limits.creation_grace_period.as_nanos()).unwrap_or(i64::MAX);
    let newest = now_ns.saturating_add(grace);
    for stream in streams {
        // a stream with nothing to store is skipped before its labels are read, as
        // Loki's distributor does
        if stream.entries.is_empty() {
            continue;
        }
        let text = stream.labels_text;
        let labels = match stream_labels(limits, &text, stream.labels) {
            Ok(l) => l,
            Err((reason, message)) => {
                let bytes = stream.entries.iter().map(entry_bytes).sum();
                out.discard(reason, stream.entries.len(), bytes, message);
                continue;
            }
        };
        let mut kept = Vec::with_capacity(stream.entries.len());
        for mut e in stream.entries {
            let bytes = entry_bytes(&e);
            if e.ts_ns < oldest {
                out.discard(
                    "greater_than_max_sample_age",
                    1,
                    bytes,
                    format!(
                        "entry for stream '{text}' has timestamp too old: {}, oldest acceptable timestamp is: {}",
                        rfc3339(e.ts_ns),
                        rfc3339(oldest)
                    ),
                );
                continue;
            }
            if e.ts_ns > newest {
                out.discard(
                    "too_far_in_future",
                    1,
                    bytes,
                    format!(
                        "entry for stream '{text}' has timestamp too new: {}",
                        rfc3339(e.ts_ns)
                    ),
                );
                continue;
            }
            if limits.max_line_size != 0 && e.line.len() > limits.max_line_size {
                if limits.max_line_size_truncate {
                    truncate(&mut e.line, limits.max_line_size);
                } else {
                    out.discard(
                        "line_too_long",
                        1,
                        bytes,
                        format!(
                            "Max entry size '{}' bytes exceeded for stream '{text}' while adding an entry with length '{}' bytes",
                            limits.max_line_size,
                            e.line.len()
                        ),
                    );
                    continue;
                }
            }
            let meta = metadata_bytes(&e);
            if limits.max_structured_metadata_size != 0
                && meta > limits.max_structured_metadata_size
            {
                out.discard(
                    "structured_metadata_too_large",
                    1,
                    bytes,
                    format!(
                        "stream '{text}' has structured metadata too large: '{meta}' bytes, limit: '{}' bytes",
                        limits.max_structured_metadata_size
                    ),
                );
                continue;
            }
            if limits.max_structured_metadata_entries != 0
                && e.metadata.len() > limits.max_structured_metadata_entries
            {
                out.discard(
                    "structured_metadata_too_many",
                    1,
                    bytes,
                    format!(
                        "stream '{text}' has too many structured metadata labels: '{}', limit: '{}'",
                        e.metadata.len(),
                        limits.max_structured_metadata_entries
                    ),
                );
                continue;
            }
            // the bytes as sent count, before the normalising and the level added here
            out.bytes += entry_bytes(&e);
            normalise_metadata(&mut e.metadata);
            if limits.discover_log_levels
                && let Some(level) = super::level::detect(&labels, &e.metadata, &e.line)
            {
                e.metadata
                    .push((super::level::DETECTED_LEVEL.to_string(), level));
            }
            kept.push(e);
        }
        if !kept.is_empty() {
            out.batch.streams.push(LogStream {
                labels,
                entries: kept,
            });
        }
    }
    out
}

/// At most this many problems are listed in a response body.
pub const MAX_LISTED: usize = 20;

/// The body of a 400 answering a partly or wholly rejected push: one problem per line.
pub fn rejection_body(messages: &[String]) -> String {
    let mut body = String::new();
    for m in messages.iter().take(MAX_LISTED) {
        body.push_str(m);
        body.push('\n');
    }
    if messages.len() > MAX_LISTED {
        body.push_str(&format!(
            "and {} more errors\n",
            messages.len() - MAX_LISTED
        ));
    }
    body
}
