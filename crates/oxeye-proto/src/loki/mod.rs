//! The Loki push API's bodies -> streams of core log entries.
//!
//! `POST /loki/api/v1/push` carries either Loki's `PushRequest` protobuf (snappy block
//! compressed, the default of Loki clients) or its JSON form:
//!
//! ```text
//! {"streams":[{"stream":{"app":"api"},
//!              "values":[["<ns>","line"],["<ns>","line",{"trace_id":"..."}]]}]}
//! ```
//!
//! [`decode_push`] picks the decoder from the Content-Type; the server has already undone
//! any Content-Encoding (gzip, deflate). Both decoders yield [`PushStream`]s: the stream's
//! label text as sent (for error messages), its labels parsed with the rules of Loki's
//! stream selectors ([`parse_stream_labels`]) or why they could not be parsed, and its
//! entries. Validation against limits (line size, label rules, timestamps) belongs to the
//! server, which knows the limits and the clock; a stream whose labels do not parse is
//! rejected there, with the rest of the push stored, as Loki does.
//!
//! [`encode_push`] builds the protobuf body a Loki client sends (used by the bench and by
//! tests).

mod json;
mod labels;
#[cfg(test)]
mod tests;

use oxeye_core::logs::LogEntry;
use prost::Message;

use crate::ProtoError;
pub use labels::{format_labels, parse_stream_labels};

/// Loki's `PushRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PushRequest {
    /// The streams pushed.
    #[prost(message, repeated, tag = "1")]
    pub streams: Vec<StreamAdapter>,
}

/// Loki's `StreamAdapter`: one stream and its entries.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StreamAdapter {
    /// The stream's labels as selector text, `{app="api", env="prod"}`.
    #[prost(string, tag = "1")]
    pub labels: String,
    /// Its entries.
    #[prost(message, repeated, tag = "2")]
    pub entries: Vec<EntryAdapter>,
    /// A hash of the labels some clients set; not used.
    #[prost(uint64, tag = "3")]
    pub hash: u64,
}

/// Loki's `EntryAdapter`: one line.
#[derive(Clone, PartialEq, prost::Message)]
pub struct EntryAdapter {
    /// When the line was logged.
    #[prost(message, optional, tag = "1")]
    pub timestamp: Option<Timestamp>,
    /// The line.
    #[prost(string, tag = "2")]
    pub line: String,
    /// Structured metadata.
    #[prost(message, repeated, tag = "3")]
    pub structured_metadata: Vec<LabelPairAdapter>,
}

/// Loki's `LabelPairAdapter`: one structured metadata pair.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LabelPairAdapter {
    /// The name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// The value.
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `google.protobuf.Timestamp`.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct Timestamp {
    /// Whole seconds since the epoch.
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    /// Nanoseconds past the seconds.
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

impl Timestamp {
    /// The timestamp of `ns` nanoseconds since the epoch.
    pub fn from_nanos(ns: i64) -> Self {
        Self {
            seconds: ns.div_euclid(1_000_000_000),
            nanos: ns.rem_euclid(1_000_000_000) as i32,
        }
    }

    /// Nanoseconds since the epoch, saturating at the ends of `i64`.
    pub fn to_nanos(self) -> i64 {
        self.seconds
            .saturating_mul(1_000_000_000)
            .saturating_add(i64::from(self.nanos))
    }
}

/// One decoded stream of a push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushStream {
    /// The stream's labels as sent (protobuf) or formatted from the JSON object, for
    /// error messages.
    pub labels_text: String,
    /// The labels in the order sent, or why the label text could not be parsed.
    pub labels: Result<Vec<(String, String)>, String>,
    /// Its entries, in the order sent.
    pub entries: Vec<LogEntry>,
}

/// Decodes a push body (already free of any Content-Encoding): `application/json` is the
/// JSON form; anything else (Loki's default) is snappy-compressed protobuf, whose decoded
/// size is limited to `max_bytes`.
pub fn decode_push(
    content_type: Option<&str>,
    body: &[u8],
    max_bytes: usize,
) -> Result<Vec<PushStream>, ProtoError> {
    let media = content_type
        .and_then(|ct| ct.split(';').next())
        .map(str::trim)
        .unwrap_or("");
    if media.eq_ignore_ascii_case("application/json") {
        return json::decode(body);
    }
    let raw = crate::compression::snappy_block(body, max_bytes)?;
    decode_push_protobuf(&raw)
}

/// Decodes an uncompressed `PushRequest`.
pub fn decode_push_protobuf(raw: &[u8]) -> Result<Vec<PushStream>, ProtoError> {
    let req = PushRequest::decode(raw).map_err(|e| ProtoError::Protobuf(e.to_string()))?;
    Ok(req
        .streams
        .into_iter()
        .map(|s| PushStream {
            labels: parse_stream_labels(&s.labels),
            labels_text: s.labels,
            entries: s
                .entries
                .into_iter()
                .map(|e| LogEntry {
                    ts_ns: e.timestamp.map(Timestamp::to_nanos).unwrap_or(0),
                    line: e.line,
                    metadata: e
                        .structured_metadata
                        .into_iter()
                        .map(|p| (p.name, p.value))
                        .collect(),
                })
                .collect(),
        })
        .collect())
}

/// The snappy-compressed protobuf body a Loki client sends for `streams` (labels written
/// with [`format_labels`]).
pub fn encode_push(streams: &[(Vec<(String, String)>, Vec<LogEntry>)]) -> Vec<u8> {
    let req = PushRequest {
        streams: streams
            .iter()
            .map(|(labels, entries)| StreamAdapter {
                labels: format_labels(labels),
                entries: entries
                    .iter()
                    .map(|e| EntryAdapter {
                        timestamp: Some(Timestamp::from_nanos(e.ts_ns)),
                        line: e.line.clone(),
                        structured_metadata: e
                            .metadata
                            .iter()
                            .map(|(n, v)| LabelPairAdapter {
                                name: n.clone(),
                                value: v.clone(),
                            })
                            .collect(),
                    })
                    .collect(),
                hash: 0,
            })
            .collect(),
    };
    crate::compression::snappy_block_encode(&req.encode_to_vec())
}
