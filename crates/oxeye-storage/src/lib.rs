//! oxeye-storage: the durable building blocks every store shares.
//!
//! - [`wal`]: the write-ahead log. Writes are framed, checksummed and appended to segment
//!   files; concurrent appenders share fsyncs (group commit); replay after a crash hands
//!   back every complete record and cuts off a torn tail.
//! - [`block`]: immutable block directories written atomically (temporary directory, fsync,
//!   rename) and checksummed files (payload + magic, length, CRC32 trailer).
//! - [`tenants`]: a registry of per-tenant stores, one directory per tenant.
//! - [`StorageError`]: one error enum, each variant mapped to a core [`oxeye_core::StatusCode`].
//!
//! A store writes each batch to the [`wal::Wal`] before acknowledging it, keeps recent data in
//! memory, and periodically seals it into a block with [`block::BlockDirWriter`]; after that
//! it cuts the WAL and removes the segments the block now covers.

pub mod block;
mod error;
pub mod tenants;
pub mod wal;

pub use error::StorageError;
