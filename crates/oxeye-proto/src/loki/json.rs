//! The JSON form of a Loki push:
//! `{"streams":[{"stream":{...},"values":[["<ns>","line"(,{metadata})]]}]}`.
//!
//! Timestamps are nanoseconds since the epoch written as a string (Loki's form) or as an
//! integer; structured metadata is an object of string values.

use std::collections::BTreeMap;
use std::fmt;

use oxeye_core::logs::LogEntry;
use serde::Deserialize;
use serde::de::{self, SeqAccess, Visitor};

use super::{PushStream, format_labels};
use crate::ProtoError;

#[derive(Deserialize)]
struct JsonPush {
    #[serde(default)]
    streams: Vec<JsonStream>,
}

#[derive(Deserialize)]
struct JsonStream {
    #[serde(default)]
    stream: BTreeMap<String, String>,
    #[serde(default)]
    values: Vec<JsonEntry>,
}

struct JsonEntry(LogEntry);

impl<'de> Deserialize<'de> for JsonEntry {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_seq(EntryVisitor)
    }
}

/// A timestamp written as a string or an integer.
struct Nanos(i64);

impl<'de> Deserialize<'de> for Nanos {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Nanos;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a timestamp in nanoseconds since the epoch, as a string")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Nanos, E> {
                s.trim().parse::<i64>().map(Nanos).map_err(|_| {
                    E::custom(format!(
                        "timestamp {s:?} is not an integer count of nanoseconds"
                    ))
                })
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Nanos, E> {
                Ok(Nanos(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Nanos, E> {
                i64::try_from(v)
                    .map(Nanos)
                    .map_err(|_| E::custom(format!("timestamp {v} is out of range")))
            }
        }
        d.deserialize_any(V)
    }
}

struct EntryVisitor;

impl<'de> Visitor<'de> for EntryVisitor {
    type Value = JsonEntry;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an entry [\"<ns>\", \"line\"] or [\"<ns>\", \"line\", {metadata}]")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<JsonEntry, A::Error> {
        let Nanos(ts_ns) = seq
            .next_element()?
            .ok_or_else(|| de::Error::invalid_length(0, &self))?;
        let line: String = seq
            .next_element()?
            .ok_or_else(|| de::Error::invalid_length(1, &self))?;
        let metadata: Option<BTreeMap<String, String>> = seq.next_element()?;
        if seq.next_element::<de::IgnoredAny>()?.is_some() {
            return Err(de::Error::invalid_length(4, &self));
        }
        Ok(JsonEntry(LogEntry {
            ts_ns,
            line,
            metadata: metadata.unwrap_or_default().into_iter().collect(),
        }))
    }
}

/// Decodes the JSON form of a push.
pub(super) fn decode(body: &[u8]) -> Result<Vec<PushStream>, ProtoError> {
    let push: JsonPush =
        serde_json::from_slice(body).map_err(|e| ProtoError::Json(e.to_string()))?;
    Ok(push
        .streams
        .into_iter()
        .map(|s| {
            let labels: Vec<(String, String)> = s.stream.into_iter().collect();
            let labels_text = format_labels(&labels);
            // names from a JSON object are checked against the label-name rule here, as
            // the selector parser checks those of the protobuf text
            let invalid = labels
                .iter()
                .find(|(n, _)| !oxeye_core::validate_label_name(n))
                .map(|(n, _)| format!("invalid label name {n:?}"));
            PushStream {
                labels_text,
                labels: match invalid {
                    Some(e) => Err(e),
                    None => Ok(labels),
                },
                entries: s.values.into_iter().map(|e| e.0).collect(),
            }
        })
        .collect())
}
