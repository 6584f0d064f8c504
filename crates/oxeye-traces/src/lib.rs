//! The trace store: spans of a trace kept together, durable on acknowledgement.
//!
//! The store implements core's [`oxeye_core::trace::SpanAppender`] and
//! [`oxeye_core::trace::TraceQueryable`]. [`generator`] turns spans into RED metrics and a
//! service graph, written to whatever [`oxeye_core::MetricsAppender`] the binary wires.

pub mod generator;
