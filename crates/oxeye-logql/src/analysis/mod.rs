//! Analyses over log lines behind Grafana's Logs Drilldown: detected fields (parsers run
//! over a sample of lines) and patterns (line templates learnt from recent lines).

pub mod fields;
pub mod patterns;

pub use fields::{DetectedField, FieldDetector, FieldType};
pub use patterns::{Drain, DrainConfig, Pattern};
