//! Counters and statistics for self metrics.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// One tenant's figures (or the sum over tenants).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantTraceStats {
    /// Spans in the head and in frozen heads not yet written to blocks.
    pub head_spans: u64,
    /// Traces in the head and frozen heads.
    pub head_traces: u64,
    /// Estimated memory of the head and frozen heads.
    pub head_bytes: u64,
    /// Blocks on disk.
    pub blocks: u64,
    /// Bytes of block directories on disk.
    pub block_bytes: u64,
    /// Spans in blocks.
    pub block_spans: u64,
    /// Trace parts in blocks (a trace split across blocks counts once per block).
    pub block_traces: u64,
    /// Memory of the block indexes kept open (page tables, bloom filters).
    pub index_mem_bytes: u64,
    /// Spans stored by appends since open (duplicates of held spans not counted).
    pub spans_ingested: u64,
    /// WAL segments on disk.
    pub wal_segments: u64,
    /// WAL fsyncs since open.
    pub wal_fsyncs: u64,
    /// WAL bytes appended since open.
    pub wal_bytes: u64,
    /// Blocks found corrupt at open and set aside.
    pub corrupt_blocks: u64,
    /// Pages that failed their checksum or decoding when read (skipped).
    pub corrupt_pages: u64,
    /// WAL records that did not decode during replay (skipped).
    pub corrupt_wal_records: u64,
    /// WALs found corrupt before their tail and set aside.
    pub corrupt_wals: u64,
    /// Torn WAL tails cut off during replay.
    pub wal_torn_tails: u64,
    /// Compactions run since open.
    pub compactions: u64,
    /// Blocks deleted by retention since open.
    pub blocks_deleted: u64,
}

impl TenantTraceStats {
    /// Adds `o` into `self`.
    pub fn add(&mut self, o: &TenantTraceStats) {
        self.head_spans += o.head_spans;
        self.head_traces += o.head_traces;
        self.head_bytes += o.head_bytes;
        self.blocks += o.blocks;
        self.block_bytes += o.block_bytes;
        self.block_spans += o.block_spans;
        self.block_traces += o.block_traces;
        self.index_mem_bytes += o.index_mem_bytes;
        self.spans_ingested += o.spans_ingested;
        self.wal_segments += o.wal_segments;
        self.wal_fsyncs += o.wal_fsyncs;
        self.wal_bytes += o.wal_bytes;
        self.corrupt_blocks += o.corrupt_blocks;
        self.corrupt_pages += o.corrupt_pages;
        self.corrupt_wal_records += o.corrupt_wal_records;
        self.corrupt_wals += o.corrupt_wals;
        self.wal_torn_tails += o.wal_torn_tails;
        self.compactions += o.compactions;
        self.blocks_deleted += o.blocks_deleted;
    }
}

/// Statistics of the whole store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TraceStoreStats {
    /// Sum over tenants.
    pub total: TenantTraceStats,
    /// Per tenant.
    pub tenants: BTreeMap<String, TenantTraceStats>,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub spans_ingested: AtomicU64,
    pub corrupt_blocks: AtomicU64,
    pub corrupt_pages: AtomicU64,
    pub corrupt_wal_records: AtomicU64,
    pub corrupt_wals: AtomicU64,
    pub wal_torn_tails: AtomicU64,
    pub compactions: AtomicU64,
    pub blocks_deleted: AtomicU64,
}

impl Counters {
    pub fn snapshot(&self) -> TenantTraceStats {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        TenantTraceStats {
            spans_ingested: g(&self.spans_ingested),
            corrupt_blocks: g(&self.corrupt_blocks),
            corrupt_pages: g(&self.corrupt_pages),
            corrupt_wal_records: g(&self.corrupt_wal_records),
            corrupt_wals: g(&self.corrupt_wals),
            wal_torn_tails: g(&self.wal_torn_tails),
            compactions: g(&self.compactions),
            blocks_deleted: g(&self.blocks_deleted),
            ..TenantTraceStats::default()
        }
    }
}
