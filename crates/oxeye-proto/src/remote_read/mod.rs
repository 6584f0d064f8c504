//! Prometheus remote read: requests in, sampled or streamed XOR-chunk answers out.
//!
//! ```text
//! body --decode_read_request--> ReadRequest --negotiate_response_type--> ResponseType
//!      query.matchers --query_matchers--> core Matchers --(store select)--> series
//! SAMPLES:             series -> QueryResult -> ReadResponse --encode_read_response--> body
//! STREAMED_XOR_CHUNKS: series samples --SeriesFramer--> XOR chunks of <= 120 samples
//!                      -> ChunkedReadResponse frames (uvarint length, CRC32C, message)
//! ```
//!
//! - [`pb`]: the protobuf messages.
//! - [`xor`]: the XOR chunk encoder (byte-identical to Prometheus's) and a decoder.
//! - [`SeriesFramer`]: cuts one series into chunks and frames no larger than the frame
//!   budget, the way Prometheus's streaming handler does (a frame holds one series; a
//!   series may span frames; the budget is counted after the labels and is exceeded by at
//!   most one chunk).
//! - [`FrameReader`]: the client side of the framing, for tests and tools.

pub mod pb;
pub mod xor;

use oxeye_core::{Labels, MatchOp, Matcher, Sample};
use prost::Message;

use crate::ProtoError;
use crate::compression::{snappy_block, snappy_block_encode};
pub use xor::{MAX_SAMPLES_PER_CHUNK, XorAppender, decode_xor_chunk, encode_xor_chunk};

/// Content-Type of a [`pb::ResponseType::Samples`] answer (body snappy-compressed).
pub const CONTENT_TYPE_SAMPLES: &str = "application/x-protobuf";
/// Content-Type of a [`pb::ResponseType::StreamedXorChunks`] answer.
pub const CONTENT_TYPE_STREAMED: &str =
    "application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse";
/// Largest read request accepted, compressed or decoded (Prometheus's limit).
pub const MAX_REQUEST_BYTES: usize = 32 << 20;

/// Decodes a snappy-compressed `ReadRequest`; the decoded size is bounded by `max_bytes`.
pub fn decode_read_request(body: &[u8], max_bytes: usize) -> Result<pb::ReadRequest, ProtoError> {
    let raw = snappy_block(body, max_bytes)?;
    pb::ReadRequest::decode(raw.as_slice()).map_err(|e| ProtoError::Protobuf(e.to_string()))
}

/// Encodes a `ReadRequest` as a client sends it (protobuf, snappy block compressed).
pub fn encode_read_request(req: &pb::ReadRequest) -> Vec<u8> {
    snappy_block_encode(&req.encode_to_vec())
}

/// Encodes a `ReadResponse` body (protobuf, snappy block compressed).
pub fn encode_read_response(resp: &pb::ReadResponse) -> Vec<u8> {
    snappy_block_encode(&resp.encode_to_vec())
}

/// Decodes a snappy-compressed `ReadResponse`, as a client does.
pub fn decode_read_response(body: &[u8], max_bytes: usize) -> Result<pb::ReadResponse, ProtoError> {
    let raw = snappy_block(body, max_bytes)?;
    pb::ReadResponse::decode(raw.as_slice()).map_err(|e| ProtoError::Protobuf(e.to_string()))
}

/// The first accepted response type this server speaks; an empty list means SAMPLES.
pub fn negotiate_response_type(accepted: &[i32]) -> Result<pb::ResponseType, ProtoError> {
    if accepted.is_empty() {
        return Ok(pb::ResponseType::Samples);
    }
    if let Some(t) = accepted
        .iter()
        .find_map(|&t| pb::ResponseType::try_from(t).ok())
    {
        return Ok(t);
    }
    let asked: Vec<String> = accepted.iter().map(i32::to_string).collect();
    Err(ProtoError::Invalid(format!(
        "server does not support any of the requested response types: [{}]; supported: map[SAMPLES:{{}} STREAMED_XOR_CHUNKS:{{}}]",
        asked.join(" ")
    )))
}

/// The query's matchers as core matchers; an unknown operator or a bad regex is an error.
pub fn query_matchers(q: &pb::Query) -> Result<Vec<Matcher>, ProtoError> {
    q.matchers
        .iter()
        .map(|m| {
            let op = match pb::MatcherType::try_from(m.r#type) {
                Ok(pb::MatcherType::Eq) => MatchOp::Equal,
                Ok(pb::MatcherType::Neq) => MatchOp::NotEqual,
                Ok(pb::MatcherType::Re) => MatchOp::Regex,
                Ok(pb::MatcherType::Nre) => MatchOp::NotRegex,
                Err(_) => {
                    return Err(ProtoError::Invalid(format!(
                        "invalid matcher type {} for label {:?}",
                        m.r#type, m.name
                    )));
                }
            };
            Matcher::new(op, m.name.clone(), m.value.clone())
                .map_err(|e| ProtoError::Invalid(e.to_string()))
        })
        .collect()
}

/// A core label set as protobuf labels (same order: sorted by name).
pub fn labels_to_pb(labels: &Labels) -> Vec<pb::Label> {
    labels
        .iter()
        .map(|l| pb::Label {
            name: l.name.clone(),
            value: l.value.clone(),
        })
        .collect()
}

/// Core samples as protobuf samples.
pub fn samples_to_pb(samples: &[Sample]) -> Vec<pb::Sample> {
    samples
        .iter()
        .map(|s| pb::Sample {
            value: s.v,
            timestamp: s.t,
        })
        .collect()
}

/// CRC-32 with the Castagnoli polynomial (reflected 0x82F63B78), as the frames carry it.
pub fn crc32c(data: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut table = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 == 1 {
                    (c >> 1) ^ 0x82F6_3B78
                } else {
                    c >> 1
                };
                k += 1;
            }
            table[i] = c;
            i += 1;
        }
        table
    };
    let mut crc = !0u32;
    for &b in data {
        crc = TABLE[((crc ^ u32::from(b)) & 0xff) as usize] ^ (crc >> 8);
    }
    !crc
}

/// Appends one frame: uvarint length of `msg`, big-endian CRC32C of `msg`, `msg`.
pub fn write_frame(out: &mut Vec<u8>, msg: &[u8]) {
    let mut n = msg.len() as u64;
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
    out.extend_from_slice(&crc32c(msg).to_be_bytes());
    out.extend_from_slice(msg);
}

/// Reads frames written by [`write_frame`] from a complete body.
#[derive(Debug, Clone)]
pub struct FrameReader<'a> {
    data: &'a [u8],
    pos: usize,
    max_frame: usize,
}

impl<'a> FrameReader<'a> {
    /// Frames of `data`, none larger than `max_frame` bytes.
    pub fn new(data: &'a [u8], max_frame: usize) -> Self {
        Self {
            data,
            pos: 0,
            max_frame,
        }
    }

    /// The next frame's message, `None` at the end; a truncated frame, an oversized frame
    /// or a checksum mismatch is an error.
    pub fn next_frame(&mut self) -> Result<Option<&'a [u8]>, ProtoError> {
        if self.pos >= self.data.len() {
            return Ok(None);
        }
        let mut len = 0u64;
        let mut shift = 0;
        loop {
            let b = *self.data.get(self.pos).ok_or_else(|| {
                ProtoError::Invalid("frame length ends before the end of its varint".into())
            })?;
            self.pos += 1;
            if shift >= 63 && b > 1 {
                return Err(ProtoError::Invalid("frame length overflows 64 bits".into()));
            }
            len |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                break;
            }
            shift += 7;
        }
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        if len > self.max_frame {
            return Err(ProtoError::Invalid(format!(
                "frame of {len} bytes exceeds the limit of {} bytes",
                self.max_frame
            )));
        }
        let crc = self
            .data
            .get(self.pos..self.pos + 4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(u32::from_be_bytes)
            .ok_or_else(|| ProtoError::Invalid("frame ends inside its checksum".into()))?;
        self.pos += 4;
        let msg = self
            .data
            .get(self.pos..self.pos.saturating_add(len))
            .ok_or_else(|| ProtoError::Invalid(format!("frame of {len} bytes is truncated")))?;
        self.pos += len;
        let got = crc32c(msg);
        if got != crc {
            return Err(ProtoError::Invalid(format!(
                "frame checksum mismatch: header says {crc:08x}, data has {got:08x}"
            )));
        }
        Ok(Some(msg))
    }
}

/// Decodes every frame of a streamed answer.
pub fn decode_chunked_responses(
    body: &[u8],
    max_frame: usize,
) -> Result<Vec<pb::ChunkedReadResponse>, ProtoError> {
    let mut r = FrameReader::new(body, max_frame);
    let mut out = Vec::new();
    while let Some(msg) = r.next_frame()? {
        out.push(
            pb::ChunkedReadResponse::decode(msg)
                .map_err(|e| ProtoError::Protobuf(e.to_string()))?,
        );
    }
    Ok(out)
}

/// Turns one series' samples into framed `ChunkedReadResponse`s.
///
/// Samples are pushed in time order; every [`MAX_SAMPLES_PER_CHUNK`] samples close an XOR
/// chunk. Chunks gather in the current frame until their encoded sizes exhaust the frame
/// budget (`max_bytes_in_frame` minus the encoded size of the labels), then the frame is
/// emitted; [`SeriesFramer::finish`] emits the rest.
#[derive(Debug)]
pub struct SeriesFramer {
    query_index: i64,
    labels: Vec<pb::Label>,
    budget: i64,
    left: i64,
    chunks: Vec<pb::Chunk>,
    app: XorAppender,
}

impl SeriesFramer {
    /// A framer for one series of query `query_index`.
    pub fn new(query_index: i64, labels: Vec<pb::Label>, max_bytes_in_frame: usize) -> Self {
        let label_bytes: usize = labels.iter().map(Message::encoded_len).sum();
        let budget = i64::try_from(max_bytes_in_frame)
            .unwrap_or(i64::MAX)
            .saturating_sub(i64::try_from(label_bytes).unwrap_or(i64::MAX));
        Self {
            query_index,
            labels,
            budget,
            left: budget,
            chunks: Vec::new(),
            app: XorAppender::new(),
        }
    }

    /// Adds the next sample; returns a finished frame when this sample filled one.
    pub fn push(&mut self, s: Sample) -> Result<Option<Vec<u8>>, ProtoError> {
        self.app.append(s.t, s.v)?;
        if self.app.num_samples() < MAX_SAMPLES_PER_CHUNK {
            return Ok(None);
        }
        self.cut();
        if self.left > 0 {
            return Ok(None);
        }
        Ok(Some(self.frame()))
    }

    /// Emits what is left: the open chunk and any chunks not yet framed.
    pub fn finish(mut self) -> Option<Vec<u8>> {
        self.cut();
        (!self.chunks.is_empty()).then(|| self.frame())
    }

    fn cut(&mut self) {
        let (Some(min), Some(max)) = (self.app.min_time(), self.app.max_time()) else {
            return;
        };
        let app = std::mem::take(&mut self.app);
        let chunk = pb::Chunk {
            min_time_ms: min,
            max_time_ms: max,
            r#type: pb::ChunkEncoding::Xor as i32,
            data: app.into_bytes(),
        };
        self.left -= i64::try_from(chunk.encoded_len()).unwrap_or(i64::MAX);
        self.chunks.push(chunk);
    }

    fn frame(&mut self) -> Vec<u8> {
        let resp = pb::ChunkedReadResponse {
            chunked_series: vec![pb::ChunkedSeries {
                labels: self.labels.clone(),
                chunks: std::mem::take(&mut self.chunks),
            }],
            query_index: self.query_index,
        };
        self.left = self.budget;
        let msg = resp.encode_to_vec();
        let mut out = Vec::with_capacity(msg.len() + 10);
        write_frame(&mut out, &msg);
        out
    }
}

#[cfg(test)]
mod tests;
