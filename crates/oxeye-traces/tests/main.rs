//! Integration tests of the trace store, one binary with a module per area.

#[path = "it/common.rs"]
mod common;

#[path = "it/corruption.rs"]
mod corruption;
#[path = "it/durability.rs"]
mod durability;
#[path = "it/maintenance.rs"]
mod maintenance;
#[path = "it/prop.rs"]
mod prop;
#[path = "it/query.rs"]
mod query;
