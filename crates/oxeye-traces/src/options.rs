//! [`TraceStoreOptions`]: retention, WAL, head limits, block layout and compaction.

use std::time::Duration;

use oxeye_storage::wal::WalOptions;

use crate::TraceError;

/// Trace store options.
#[derive(Debug, Clone)]
pub struct TraceStoreOptions {
    /// Blocks whose newest trace part was received before `now - retention` are deleted.
    pub retention: Duration,
    /// WAL options (segment size, sync policy).
    pub wal: WalOptions,
    /// A tenant's head is cut into blocks once it holds about this many bytes.
    pub head_max_bytes: u64,
    /// A tenant's head is cut once its first span arrived this long ago.
    pub head_max_age: Duration,
    /// Blocks are time-partitioned: a trace part goes into the window holding its
    /// earliest span start (or the time it was received, when that start is more than
    /// two windows before it or ten minutes after it), and compaction merges blocks of
    /// the same window only.
    pub block_window: Duration,
    /// Uncompressed size of one page of traces in a block (a trace-by-id lookup reads
    /// one page per candidate block).
    pub page_target_bytes: usize,
    /// Compaction stops adding blocks to a merge once their data reaches this size;
    /// blocks this large are never merged again.
    pub block_target_bytes: u64,
    /// Once a window ended this long ago, its blocks still under an eighth of
    /// [`TraceStoreOptions::block_target_bytes`] are merged (late data included).
    pub compaction_delay: Duration,
    /// Fan-in of tiered compaction: this many blocks of one level in one window merge
    /// into a block of the next level, while the window is still current.
    pub compaction_max_blocks: usize,
    /// Most block merges one [`crate::TraceStore::maintain`] pass runs per tenant; the
    /// next pass continues.
    pub compactions_per_pass: usize,
    /// zstd level for block pages.
    pub zstd_level: i32,
}

impl Default for TraceStoreOptions {
    fn default() -> Self {
        Self {
            retention: Duration::from_secs(7 * 24 * 3600),
            wal: WalOptions::default(),
            head_max_bytes: 64 << 20,
            head_max_age: Duration::from_secs(5 * 60),
            block_window: Duration::from_secs(3600),
            page_target_bytes: 32 << 10,
            block_target_bytes: 1 << 30,
            compaction_delay: Duration::from_secs(10 * 60),
            compaction_max_blocks: 16,
            compactions_per_pass: 4,
            zstd_level: 1,
        }
    }
}

impl TraceStoreOptions {
    pub(crate) fn validate(&self) -> Result<(), TraceError> {
        if self.block_window.as_nanos() == 0 {
            return Err(TraceError::InvalidOption(
                "block_window must be greater than zero".into(),
            ));
        }
        if self.head_max_bytes == 0 {
            return Err(TraceError::InvalidOption(
                "head_max_bytes must be greater than zero".into(),
            ));
        }
        if self.page_target_bytes == 0 {
            return Err(TraceError::InvalidOption(
                "page_target_bytes must be greater than zero".into(),
            ));
        }
        if self.compaction_max_blocks < 2 {
            return Err(TraceError::InvalidOption(
                "compaction_max_blocks must be at least 2".into(),
            ));
        }
        Ok(())
    }

    pub(crate) fn window_ns(&self) -> u64 {
        u64::try_from(self.block_window.as_nanos())
            .unwrap_or(u64::MAX)
            .max(1)
    }
}

pub(crate) fn dur_ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_sizes_are_rejected_by_name() {
        assert!(TraceStoreOptions::default().validate().is_ok());
        let bad = [
            TraceStoreOptions {
                head_max_bytes: 0,
                ..TraceStoreOptions::default()
            },
            TraceStoreOptions {
                page_target_bytes: 0,
                ..TraceStoreOptions::default()
            },
            TraceStoreOptions {
                block_window: Duration::ZERO,
                ..TraceStoreOptions::default()
            },
            TraceStoreOptions {
                compaction_max_blocks: 1,
                ..TraceStoreOptions::default()
            },
        ];
        for (opts, name) in bad.iter().zip([
            "head_max_bytes",
            "page_target_bytes",
            "block_window",
            "compaction_max_blocks",
        ]) {
            let e = opts.validate().unwrap_err().to_string();
            assert!(e.contains(name), "{e}");
        }
    }
}
