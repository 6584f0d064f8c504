//! Compaction and retention of a tenant's blocks (run from `Tsdb::maintenance`).
//!
//! Planning, oldest data first, one group per call:
//! 1. blocks whose time ranges overlap (out-of-order data, early flushes) are merged;
//! 2. otherwise, for each level range `3 x block_duration`, `9 x ...`, up to
//!    `min(31 d, retention / 10)`, blocks shorter than the range whose first sample lies in
//!    the same aligned window of that range are merged once the tenant's newest sample has
//!    passed the window's end.
//!
//! A merge reads every series of the group, merges samples by timestamp (the newest block
//! wins on equal timestamps), writes a new block whose `compaction.sources` lists every
//! ancestor, adds it, and only then removes the sources (they are deleted from disk once
//! no querier holds them; after a crash in between, `load_blocks` drops blocks a newer
//! block lists as sources).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use oxeye_core::{Labels, Sample};

use crate::TsdbError;
use crate::block::{Block, CompactionMeta, write_block};
use crate::head::merge_dedup_into;
use crate::options::dur_ms;
use crate::tenant::TenantDb;

const DAY_MS: i64 = 24 * 3600 * 1000;

/// The first group of blocks worth merging, if any. `blocks` sorted by min_t.
pub(crate) fn plan(
    blocks: &[Arc<Block>],
    block_ms: i64,
    retention_ms: i64,
    newest_t: i64,
) -> Option<Vec<Arc<Block>>> {
    // 1. overlapping blocks
    let mut group: Vec<Arc<Block>> = Vec::new();
    let mut group_max = i64::MIN;
    for b in blocks {
        if !group.is_empty() && b.meta.min_t <= group_max {
            group.push(b.clone());
            group_max = group_max.max(b.meta.max_t);
            continue;
        }
        if group.len() >= 2 {
            return Some(group);
        }
        group = vec![b.clone()];
        group_max = b.meta.max_t;
    }
    if group.len() >= 2 {
        return Some(group);
    }
    // 2. level windows
    if block_ms <= 0 {
        return None;
    }
    let max_range = (31 * DAY_MS).min(retention_ms / 10);
    let mut range = block_ms.saturating_mul(3);
    while range <= max_range {
        let mut windows: BTreeMap<i64, Vec<Arc<Block>>> = BTreeMap::new();
        for b in blocks {
            // a block belongs to the window its first sample falls in; heads are cut
            // when their span reaches the block duration, not at aligned times, so
            // blocks may reach past the window's end
            if b.meta.max_t.saturating_sub(b.meta.min_t) < range {
                let w = b.meta.min_t.div_euclid(range);
                windows.entry(w).or_default().push(b.clone());
            }
        }
        for (w, group) in windows {
            let end = (w + 1).saturating_mul(range);
            if group.len() >= 2 && newest_t >= end {
                return Some(group);
            }
        }
        range = range.saturating_mul(3);
    }
    None
}

impl TenantDb {
    /// Runs one round of compaction; returns the number of merges done. Caller holds
    /// `maint_lock`.
    pub(crate) fn compact(&self) -> Result<usize, TsdbError> {
        let mut done = 0;
        // bounded so one call cannot run forever on a pathological layout
        for _ in 0..16 {
            let blocks = self.blocks.read().clone();
            let newest = self.max_t.load(Ordering::Relaxed);
            let Some(group) = plan(
                &blocks,
                dur_ms(self.opts.block_duration),
                dur_ms(self.opts.retention),
                newest,
            ) else {
                break;
            };
            self.merge(&group)?;
            done += 1;
        }
        Ok(done)
    }

    fn merge(&self, group: &[Arc<Block>]) -> Result<(), TsdbError> {
        // newest block first so it wins on equal timestamps
        let mut ordered: Vec<Arc<Block>> = group.to_vec();
        ordered.sort_by(|a, b| (b.meta.max_t, &b.meta.id).cmp(&(a.meta.max_t, &a.meta.id)));
        let decoders = ordered
            .iter()
            .map(|b| b.decoder())
            .collect::<Result<Vec<_>, _>>()?;
        let mut series: BTreeMap<Arc<Labels>, Vec<(usize, u32)>> = BTreeMap::new();
        for (bi, b) in ordered.iter().enumerate() {
            for (r, s) in b.series.iter().enumerate() {
                series
                    .entry(s.labels.clone())
                    .or_default()
                    .push((bi, r as u32));
            }
        }
        let mut sources: Vec<String> = Vec::new();
        for b in &ordered {
            sources.push(b.meta.id.clone());
            sources.extend(b.meta.compaction.sources.iter().cloned());
        }
        sources.sort();
        sources.dedup();
        let level = ordered
            .iter()
            .map(|b| b.meta.compaction.level)
            .max()
            .unwrap_or(1)
            + 1;
        let iter = series.into_iter().map(|(labels, parts)| {
            let mut merged: Vec<Sample> = Vec::new();
            let mut tmp = Vec::new();
            let mut acc = Vec::new();
            for (i, (bi, r)) in parts.iter().enumerate() {
                let (Some(b), Some(d)) = (ordered.get(*bi), decoders.get(*bi)) else {
                    continue;
                };
                if i == 0 {
                    b.read(d, *r, i64::MIN, i64::MAX, &mut merged)?;
                    continue;
                }
                tmp.clear();
                b.read(d, *r, i64::MIN, i64::MAX, &mut tmp)?;
                acc.clear();
                merge_dedup_into(&merged, &tmp, &mut acc);
                std::mem::swap(&mut merged, &mut acc);
            }
            Ok((labels, merged))
        });
        let written = write_block(
            &self.dir.join("blocks"),
            &self.name,
            CompactionMeta { level, sources },
            iter,
        )?;
        if let Some((meta, path)) = written {
            let block = Block::open(&path, self.cache.clone())?;
            tracing::info!(
                tenant = %self.name,
                block = %meta.id,
                level,
                merged = ordered.len(),
                "compacted blocks"
            );
            self.add_block(Arc::new(block));
        }
        self.remove_blocks(group);
        self.counters.compactions.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Removes `gone` from the block list and marks them deleted.
    pub(crate) fn remove_blocks(&self, gone: &[Arc<Block>]) {
        self.blocks
            .write()
            .retain(|b| !gone.iter().any(|g| Arc::ptr_eq(b, g)));
        for b in gone {
            b.mark_deleted();
        }
    }

    /// Deletes blocks entirely older than `now - retention`; returns how many.
    pub(crate) fn apply_time_retention(&self, now_ms: i64) -> usize {
        let cutoff = now_ms.saturating_sub(dur_ms(self.opts.retention));
        let old: Vec<Arc<Block>> = self
            .blocks
            .read()
            .iter()
            .filter(|b| b.meta.max_t < cutoff)
            .cloned()
            .collect();
        for b in &old {
            tracing::info!(tenant = %self.name, block = %b.meta.id, max_t = b.meta.max_t, cutoff, "block beyond retention deleted");
        }
        self.remove_blocks(&old);
        if !old.is_empty() {
            self.settled_gen
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        old.len()
    }
}
