//! Integration tests of the log store, one binary with a module per area.

#[path = "it/basic.rs"]
mod basic;
#[path = "it/crash.rs"]
mod crash;
#[path = "it/maintenance.rs"]
mod maintenance;
#[path = "it/metadata.rs"]
mod metadata;
#[path = "it/prop.rs"]
mod prop;
