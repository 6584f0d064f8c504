//! The shared cache of decompressed block pages.
//!
//! Block pages are stored compressed (LZMA2 by default), so the OS page cache only saves
//! the disk read, never the decompression, which dominates the CPU time of queries over
//! sealed blocks. One [`PageCache`] per database holds decompressed pages of every block
//! of every tenant, keyed by (block identity, page id) and weighed by their bytes, within
//! a byte budget. Queries that touch the same pages (the panels of one dashboard, the same
//! dashboard reloaded) decompress each page once.
//!
//! Eviction is S3-FIFO (the `quick_cache` crate): while the cache is filling up every page
//! is admitted; once full, new pages enter a small probationary queue and only pages read
//! again while there (or soon after their eviction) reach the main queue, so one query
//! scanning far more pages than the budget does not flush the pages other queries reuse.
//! Each [`super::BlockDecoder`] keeps a few of its most recent pages in front of this
//! cache; that absorbs the back-to-back reads of one query walking the series of a page,
//! so the shared cache sees a page again only when a later read needs it again.
//!
//! A block's identity is a number never reused within the process (the caller's
//! choice, see [`PageCache::forget_block`]), so a page is never served for a different
//! block, even one reusing the directory name or the memory of a deleted one.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use quick_cache::sync::{Cache, GuardResult};
use quick_cache::{DefaultHashBuilder, OptionsBuilder, Weighter};

use super::CodecError;

/// Bookkeeping counted per cached page on top of its bytes (key, `Arc`, queue links).
const ENTRY_OVERHEAD: u64 = 96;
/// A shard holds at least this many bytes, so a full-size page always fits in one.
const MIN_SHARD_BYTES: u64 = 1 << 20;
/// Most shards; the budget is rounded down to a multiple of this so that the per-shard
/// budgets add up to no more than the total.
const MAX_SHARDS: u64 = 64;
/// Expected size of a cached page, to size the cache's tables.
const TYPICAL_PAGE: u64 = 32 << 10;

/// Key of one cached page.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct PageKey {
    block: u64,
    page: u32,
}

#[derive(Clone, Copy, Debug, Default)]
struct PageWeighter;

impl Weighter<PageKey, Arc<Vec<u8>>> for PageWeighter {
    fn weight(&self, _key: &PageKey, page: &Arc<Vec<u8>>) -> u64 {
        page.capacity() as u64 + ENTRY_OVERHEAD
    }
}

/// Counters of a [`PageCache`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PageCacheStats {
    /// Pages served from the cache.
    pub hits: u64,
    /// Pages decompressed because the cache did not hold them.
    pub misses: u64,
    /// Bytes held (decompressed pages plus per-page bookkeeping).
    pub bytes: u64,
    /// Pages held.
    pub pages: u64,
    /// The byte budget; 0 means caching is disabled.
    pub capacity: u64,
}

/// Decompressed block pages shared by every block of a database; see the module docs.
pub struct PageCache {
    /// `None` when the budget is zero: every read decompresses.
    cache: Option<Cache<PageKey, Arc<Vec<u8>>, PageWeighter>>,
    capacity: u64,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl std::fmt::Debug for PageCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PageCache")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl PageCache {
    /// A cache holding at most `budget` bytes; zero disables caching (reads still work,
    /// each decompressing its pages).
    pub fn new(budget: u64) -> Arc<Self> {
        let capacity = budget - budget % MAX_SHARDS;
        let cache = (capacity > 0).then(|| {
            let parallel = std::thread::available_parallelism().map_or(1, |n| n.get() as u64);
            let shards = (parallel * 4)
                .min(MAX_SHARDS)
                .min((capacity / MIN_SHARD_BYTES).max(1));
            // largest power of two not above `shards`: it divides `capacity`
            let shards = 1u64 << (63 - shards.leading_zeros());
            let items = usize::try_from(capacity / TYPICAL_PAGE)
                .unwrap_or(usize::MAX)
                .max(1);
            let opts = OptionsBuilder::new()
                .shards(shards as usize)
                .estimated_items_capacity(items)
                .weight_capacity(capacity)
                .build();
            match opts {
                Ok(opts) => Cache::with_options(
                    opts,
                    PageWeighter,
                    DefaultHashBuilder::default(),
                    Default::default(),
                ),
                // every option is set above, so building cannot fail; fall back to the
                // simple constructor all the same rather than panic
                Err(_) => Cache::with(
                    items,
                    capacity,
                    PageWeighter,
                    DefaultHashBuilder::default(),
                    Default::default(),
                ),
            }
        });
        Arc::new(Self {
            cache,
            capacity: if budget > 0 { capacity } else { 0 },
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        })
    }

    /// Page `page` of block `block`: from the cache, or made by `load` (a decompression)
    /// and kept. Concurrent readers of a missing page wait for one `load` instead of each
    /// running their own.
    pub fn get_or_load(
        &self,
        block: u64,
        page: u32,
        load: impl FnOnce() -> Result<Vec<u8>, CodecError>,
    ) -> Result<Arc<Vec<u8>>, CodecError> {
        let Some(cache) = &self.cache else {
            self.misses.fetch_add(1, Ordering::Relaxed);
            return load().map(Arc::new);
        };
        match cache.get_value_or_guard(&PageKey { block, page }, None) {
            GuardResult::Value(v) => {
                self.hits.fetch_add(1, Ordering::Relaxed);
                Ok(v)
            }
            GuardResult::Guard(guard) => {
                self.misses.fetch_add(1, Ordering::Relaxed);
                // on error the guard is dropped and a waiting reader loads it itself
                let v = Arc::new(load()?);
                let _ = guard.insert(Arc::clone(&v));
                Ok(v)
            }
            // no timeout was given, so waiting only ends with a value or a guard
            GuardResult::Timeout => {
                self.misses.fetch_add(1, Ordering::Relaxed);
                load().map(Arc::new)
            }
        }
    }

    /// Drops every page of `block` (deleted or replaced). Its identity must not be used
    /// again; a reader still holding the block may add pages back, which are never
    /// served for another block and leave by eviction.
    pub fn forget_block(&self, block: u64) {
        if let Some(cache) = &self.cache {
            cache.retain(|k, _| k.block != block);
        }
    }

    /// Current counters.
    pub fn stats(&self) -> PageCacheStats {
        PageCacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            bytes: self.cache.as_ref().map_or(0, |c| c.weight()),
            pages: self.cache.as_ref().map_or(0, |c| c.len() as u64),
            capacity: self.capacity,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(fill: u8, len: usize) -> Result<Vec<u8>, CodecError> {
        Ok(vec![fill; len])
    }

    #[test]
    fn a_cached_page_is_not_loaded_again() {
        let c = PageCache::new(8 << 20);
        let a = c.get_or_load(1, 0, || page(7, 1000)).unwrap();
        let b = c
            .get_or_load(1, 0, || panic!("page 0 of block 1 is cached"))
            .unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        let s = c.stats();
        assert_eq!((s.hits, s.misses, s.pages), (1, 1, 1));
        assert_eq!(s.bytes, 1000 + ENTRY_OVERHEAD);
    }

    #[test]
    fn the_budget_bounds_the_bytes_held() {
        let budget = 3 << 20;
        let c = PageCache::new(budget);
        for i in 0..400u32 {
            let len = 20_000 + (i as usize * 7919) % 30_000;
            c.get_or_load(u64::from(i % 5), i, || page(1, len)).unwrap();
            let s = c.stats();
            assert!(s.bytes <= budget, "{} bytes held, budget {budget}", s.bytes);
        }
        let s = c.stats();
        assert!(
            s.bytes > budget / 2,
            "a full cache uses its budget: {} of {budget}",
            s.bytes
        );
        assert_eq!(s.misses, 400);
    }

    #[test]
    fn blocks_with_the_same_page_ids_are_kept_apart() {
        let c = PageCache::new(8 << 20);
        c.get_or_load(1, 3, || page(1, 100)).unwrap();
        c.get_or_load(2, 3, || page(2, 100)).unwrap();
        let a = c.get_or_load(1, 3, || page(9, 100)).unwrap();
        let b = c.get_or_load(2, 3, || page(9, 100)).unwrap();
        assert_eq!((a[0], b[0]), (1, 2));
        assert_eq!(c.stats().misses, 2);
    }

    #[test]
    fn a_forgotten_block_is_not_served() {
        let c = PageCache::new(8 << 20);
        c.get_or_load(1, 0, || page(1, 100)).unwrap();
        c.get_or_load(2, 0, || page(2, 100)).unwrap();
        c.forget_block(1);
        assert_eq!(c.stats().pages, 1);
        let a = c.get_or_load(1, 0, || page(3, 100)).unwrap();
        assert_eq!(a[0], 3, "the forgotten page was loaded again");
        let b = c.get_or_load(2, 0, || page(9, 100)).unwrap();
        assert_eq!(b[0], 2, "other blocks keep their pages");
    }

    #[test]
    fn a_zero_budget_caches_nothing() {
        let c = PageCache::new(0);
        for fill in 1..=3 {
            let p = c.get_or_load(1, 0, || page(fill, 100)).unwrap();
            assert_eq!(p[0], fill);
        }
        let s = c.stats();
        assert_eq!(
            (s.hits, s.misses, s.pages, s.bytes, s.capacity),
            (0, 3, 0, 0, 0)
        );
    }

    #[test]
    fn a_failed_load_is_not_cached() {
        let c = PageCache::new(8 << 20);
        let err = c.get_or_load(1, 0, || {
            Err(CodecError::Corrupt("page 0 checksum mismatch".into()))
        });
        assert!(err.is_err());
        let p = c.get_or_load(1, 0, || page(5, 10)).unwrap();
        assert_eq!(p[0], 5);
    }

    #[test]
    fn a_scan_larger_than_the_budget_keeps_reused_pages() {
        let budget = 4 << 20;
        let c = PageCache::new(budget);
        // a working set of half the budget, read twice so it is known to be reused
        let hot = 64u32;
        for _ in 0..2 {
            for p in 0..hot {
                c.get_or_load(1, p, || page(1, 32 << 10)).unwrap();
            }
        }
        // one scan over four times the budget, each page read once
        for p in 0..512u32 {
            c.get_or_load(2, p, || page(2, 32 << 10)).unwrap();
        }
        let before = c.stats().misses;
        for p in 0..hot {
            c.get_or_load(1, p, || page(1, 32 << 10)).unwrap();
        }
        let reloaded = c.stats().misses - before;
        assert!(
            reloaded < u64::from(hot) / 4,
            "{reloaded} of {hot} reused pages were flushed by the scan"
        );
    }
}
