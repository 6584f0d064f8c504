//! End-to-end tests: the real `oxeye` binary on free loopback ports with a temporary
//! storage directory, driven over HTTP and gRPC.

mod alert_latency;
mod alertmanager_external;
mod api;
mod architecture;
mod cli;
mod compat;
mod crash;
mod harness;
mod ingest;
mod logs;
mod logs_crash;
mod peers;
mod promql_diff;
mod reads;
mod remote_read;
mod restart;
mod rules_check;
mod rules_serve;
mod rules_unittest;
mod slo_api;
mod slo_cli;
mod status_storage;
mod traces;
mod traces_crash;
mod ui;
