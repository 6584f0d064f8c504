//! Rules, alerting, notifications and SLOs.
//!
//! Data flow: rule files ([`file`]) become [`group::Group`]s held by the
//! [`manager::RuleManager`], which evaluates each group on its interval through a
//! [`query::QueryFunc`] (PromQL over the metrics store or LogQL over the log store: the
//! crate never sees a store). Recording results and `ALERTS`/`ALERTS_FOR_STATE` series go
//! back through a `MetricsAppender`; alerts go to an [`alert::AlertSink`]: external
//! Alertmanagers ([`notify::external`]) and/or the built-in notifier ([`notify`]), which
//! routes, groups, inhibits, silences and delivers them to receivers. [`template`] expands
//! alert labels and annotations like Prometheus. [`slo`] turns Sloth specs into rule files;
//! [`unittest`] runs promtool's rule unit tests.

pub mod alert;
mod error;
pub mod file;
pub mod group;
pub mod manager;
pub mod memory;
pub mod notify;
pub mod query;
pub mod slo;
pub mod template;
pub mod unittest;

pub use error::RulesError;
