//! Wire formats into oxeye's core types.
//!
//! Everything here is a pure function of bytes (plus, for OTLP, a small per-tenant
//! conversion state); HTTP lives in the server crate, which picks a decoder by endpoint and
//! headers and hands the result to a store:
//!
//! ```text
//! body --compression::decode_content--> bytes --+-> exposition::parse   -> Exposition
//!                                               +-> remote_write::decode -> WriteBatch
//!                                               +-> otlp::decode_metrics_request
//!                                                     -> otlp::convert_metrics -> WriteBatch
//! ```
//!
//! - [`exposition`]: Prometheus text 0.0.4 and OpenMetrics 1.0 scrape bodies.
//! - [`remote_write`]: Prometheus remote write 1.0 and 2.0 (snappy + protobuf), both ways.
//! - [`remote_read`]: Prometheus remote read requests, sampled answers and streamed XOR
//!   chunks.
//! - [`otlp`]: OTLP metrics (protobuf or JSON) mapped onto the Prometheus data model.
//! - [`zipkin`]: Zipkin v2 JSON spans mapped onto the trace model as OTLP carries it.
//! - [`compression`]: Content-Encoding decoding with a size limit against decompression bombs.
//!
//! Every failure is a [`ProtoError`] whose [`ProtoError::status_code`] tells the API layer
//! how to answer.

pub mod base64;
pub mod compression;
pub mod exposition;
pub mod loki;
pub mod otlp;
pub mod remote_read;
pub mod remote_write;
pub mod tempo;
pub mod zipkin;

mod error;
mod floatfmt;

pub use error::ProtoError;
