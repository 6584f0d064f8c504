//! The append path: validate the whole batch, write one WAL record, apply to the head.
//!
//! 1. Under the tenant's `cut_lock` (shared), every series of the batch is checked:
//!    labels, samples sorted and checked against the series' newest sample (out of order,
//!    out-of-order window, duplicates; an identical retry of a stored sample is dropped
//!    silently), exemplars; then the series limit and the samples/s token bucket. The
//!    first failure returns an error naming the series and timestamp; nothing is stored.
//! 2. Missing series are created; one WAL record holds the labels of series the current
//!    WAL segments do not know yet, all samples, exemplars and metadata. `Wal::append`
//!    blocks until the record is durable; concurrent appenders share fsyncs.
//! 3. Samples go into the head; exemplars into the ring; metadata into the map.
//!
//! Each series entry is looked up once for validation (entries grouped by shard, one
//! read lock per shard; labels that share storage with the stored series are not checked
//! again), and the apply takes each shard's write lock once per batch; no lock but the shared `cut_lock` is held across
//! the WAL write.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use oxeye_core::{AppendStats, Exemplar, Labels, MetricMetadata, Sample, SeriesWrite, WriteBatch};

use crate::TsdbError;
use crate::head::{FoldMap, MemSeries, series_hash};
use crate::options::dur_ms;
use crate::record::BatchEncoder;
use crate::stats::RejectReason;
use crate::tenant::{TenantDb, settled_horizon, tenant_burst};

thread_local! {
    /// WAL record buffer reused across appends on this thread.
    static RECORD_BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Largest record buffer kept for reuse.
const MAX_KEPT_BUF: usize = 8 << 20;

fn take_buf() -> Vec<u8> {
    RECORD_BUF.with(|b| std::mem::take(&mut *b.borrow_mut()))
}

fn give_buf(buf: Vec<u8>) {
    if buf.capacity() <= MAX_KEPT_BUF {
        RECORD_BUF.with(|b| *b.borrow_mut() = buf);
    }
}

/// A validation failure with the counter it feeds.
struct Reject(RejectReason, String);

/// What validation decided for one series entry.
struct Plan {
    hash: u64,
    /// Existing series: its ref, whether the WAL knows its labels, and its slot.
    existing: Option<(u64, bool, u32)>,
}

fn check_labels(l: &Labels, limits: &crate::Limits) -> Result<(), Reject> {
    let bad = |msg: String| Err(Reject(RejectReason::InvalidLabels, msg));
    if l.is_empty() {
        return bad("series has no labels".into());
    }
    if limits.max_labels_per_series > 0 && l.len() > limits.max_labels_per_series {
        return bad(format!(
            "series {l} has {} labels, more than the limit of {}",
            l.len(),
            limits.max_labels_per_series
        ));
    }
    let mut prev: Option<&str> = None;
    for lab in l {
        if lab.name.is_empty() {
            return bad(format!("series {l} has a label with an empty name"));
        }
        if lab.value.is_empty() {
            return bad(format!(
                "series {l} has label {:?} with an empty value",
                lab.name
            ));
        }
        if prev.is_some_and(|p| p >= lab.name.as_str()) {
            return bad(format!(
                "series {l} has duplicate label name {:?}",
                lab.name
            ));
        }
        prev = Some(&lab.name);
        if limits.max_label_name_len > 0 && lab.name.len() > limits.max_label_name_len {
            return bad(format!(
                "series {l} has label name {:?} longer than the limit of {} bytes",
                lab.name, limits.max_label_name_len
            ));
        }
        if limits.max_label_value_len > 0 && lab.value.len() > limits.max_label_value_len {
            return bad(format!(
                "series {l} has a value of label {:?} of {} bytes, longer than the limit of {} bytes",
                lab.name,
                lab.value.len(),
                limits.max_label_value_len
            ));
        }
    }
    Ok(())
}

/// Sorts samples (and exemplars) by time and removes in-batch repeats of identical samples.
fn normalize(sw: &mut SeriesWrite) -> Result<(), Reject> {
    if !sw.exemplars.is_sorted_by_key(|e| e.t) {
        sw.exemplars.sort_by_key(|e| e.t);
    }
    if !sw.samples.is_sorted_by(|a, b| a.t < b.t) {
        sw.samples.sort_by_key(|s| s.t);
        let mut err = None;
        sw.samples.dedup_by(|b, a| {
            if a.t != b.t {
                return false;
            }
            if a.v.to_bits() != b.v.to_bits() && err.is_none() {
                err = Some(a.t);
            }
            true
        });
        if let Some(t) = err {
            return Err(Reject(
                RejectReason::Duplicate,
                format!(
                    "duplicate sample for timestamp {t} with different values in series {}",
                    sw.labels
                ),
            ));
        }
    }
    Ok(())
}

/// Checks samples against the stored series; drops identical retries.
fn check_samples(
    labels: &Labels,
    samples: &mut Vec<Sample>,
    s: Option<&MemSeries>,
    window: i64,
    tenant_max: i64,
) -> Result<(), Reject> {
    let Some(s) = s else { return Ok(()) };
    let Some((last_t, last_bits)) = s.last else {
        return Ok(());
    };
    // fast path: everything newer than the newest stored sample
    if samples.first().is_none_or(|f| f.t > last_t) {
        return Ok(());
    }
    let mut retries: Vec<i64> = Vec::new();
    for x in samples.iter() {
        if x.t > last_t {
            break;
        }
        let stored = if x.t == last_t {
            Some(last_bits)
        } else {
            if window == 0 {
                return Err(Reject(
                    RejectReason::OutOfOrder,
                    format!(
                        "out of order sample: timestamp {} is older than the newest sample {} of series {}",
                        x.t, last_t, labels
                    ),
                ));
            }
            if x.t < tenant_max.saturating_sub(window) {
                return Err(Reject(
                    RejectReason::OutOfBounds,
                    format!(
                        "sample timestamp out of bounds: timestamp {} of series {} is older than the out-of-order window ({} ms before the newest sample {})",
                        x.t, labels, window, tenant_max
                    ),
                ));
            }
            s.value_at(x.t)
        };
        match stored {
            Some(bits) if bits == x.v.to_bits() => retries.push(x.t),
            Some(_) => {
                return Err(Reject(
                    RejectReason::Duplicate,
                    format!(
                        "duplicate sample for timestamp {} with a different value in series {}",
                        x.t, labels
                    ),
                ));
            }
            None => {}
        }
    }
    if !retries.is_empty() {
        samples.retain(|x| !retries.contains(&x.t));
    }
    Ok(())
}

fn check_exemplars(sw: &SeriesWrite, limits: &crate::Limits) -> Result<(), Reject> {
    for e in &sw.exemplars {
        let len: usize = e.labels.iter().map(|l| l.name.len() + l.value.len()).sum();
        if limits.max_exemplar_labels_len > 0 && len > limits.max_exemplar_labels_len {
            return Err(Reject(
                RejectReason::InvalidLabels,
                format!(
                    "exemplar at timestamp {} of series {} has {len} bytes of labels, more than the limit of {}",
                    e.t, sw.labels, limits.max_exemplar_labels_len
                ),
            ));
        }
    }
    Ok(())
}

/// Merges entries of the batch that name the same series into the first of them.
fn merge_duplicate_series(series: &mut Vec<SeriesWrite>, hashes: &mut Vec<u64>) {
    if series.len() < 2 {
        return;
    }
    let mut seen: FoldMap<u64, usize> = FoldMap::default();
    seen.reserve(series.len());
    let mut dups = Vec::new();
    for (i, h) in hashes.iter().enumerate() {
        match seen.get(h) {
            Some(&j) if series[j].labels == series[i].labels => dups.push((i, j)),
            Some(_) => {}
            None => {
                seen.insert(*h, i);
            }
        }
    }
    if dups.is_empty() {
        return;
    }
    for &(i, j) in &dups {
        let samples = std::mem::take(&mut series[i].samples);
        let exemplars = std::mem::take(&mut series[i].exemplars);
        series[j].samples.extend(samples);
        series[j].exemplars.extend(exemplars);
        // force a re-sort of the merged samples
        if series[j].samples.len() > 1 {
            series[j].samples.sort_by_key(|s| s.t);
        }
    }
    let drop: std::collections::HashSet<usize> = dups.iter().map(|d| d.0).collect();
    let mut idx = 0;
    series.retain(|_| {
        idx += 1;
        !drop.contains(&(idx - 1))
    });
    let mut idx = 0;
    hashes.retain(|_| {
        idx += 1;
        !drop.contains(&(idx - 1))
    });
}

impl TenantDb {
    /// Validates and stores `batch`; see the module docs.
    pub fn append(&self, mut batch: WriteBatch) -> Result<AppendStats, TsdbError> {
        let total = batch.sample_count();
        match self.append_inner(&mut batch) {
            Ok(s) => Ok(s),
            Err(Ok(Reject(reason, msg))) => {
                self.counters.reject(reason, total);
                Err(match reason {
                    RejectReason::SeriesLimit | RejectReason::RateLimit => {
                        TsdbError::LimitExceeded(msg)
                    }
                    _ => TsdbError::InvalidData(msg),
                })
            }
            Err(Err(e)) => Err(e),
        }
    }

    fn append_inner(
        &self,
        batch: &mut WriteBatch,
    ) -> Result<AppendStats, Result<Reject, TsdbError>> {
        let limits = &self.limits;
        let window = dur_ms(self.opts.out_of_order_window);
        let mut hashes: Vec<u64> = batch
            .series
            .iter()
            .map(|s| series_hash(&s.labels))
            .collect();
        merge_duplicate_series(&mut batch.series, &mut hashes);

        let _shared = self.cut_lock.read();
        let head = self.head.read().clone();
        let tenant_max = self.max_t.load(Ordering::Relaxed);

        // 1. validate everything
        // Series are visited grouped by head shard (one read lock per shard); checks of
        // one series never depend on another entry, so the error reported is the one of
        // the first failing series in request order, as a sequential pass would find.
        let mut existing: Vec<Option<(u64, bool, u32)>> = vec![None; batch.series.len()];
        let mut first_err: Option<(usize, Reject)> = None;
        head.lookup_grouped(&hashes, |i, shard| {
            if first_err.as_ref().is_some_and(|(j, _)| *j < i) {
                return;
            }
            let (Some(sw), Some(&hash)) = (batch.series.get_mut(i), hashes.get(i)) else {
                return;
            };
            let s = shard.find(&sw.labels, hash);
            let checked = (|| {
                // labels sharing storage with a stored series passed these checks when
                // the series was created, under the same limits
                if !s.is_some_and(|s| s.labels.ptr_eq(&sw.labels)) {
                    check_labels(&sw.labels, limits)?;
                }
                normalize(sw)?;
                check_exemplars(sw, limits)?;
                check_samples(&sw.labels, &mut sw.samples, s, window, tenant_max)?;
                Ok(s.map(|s| (s.sref, s.wal_logged, s.slot)))
            })();
            match checked {
                Ok(x) => {
                    if let Some(e) = existing.get_mut(i) {
                        *e = x;
                    }
                }
                Err(e) => {
                    if first_err.as_ref().is_none_or(|(j, _)| i < *j) {
                        first_err = Some((i, e));
                    }
                }
            }
        });
        if let Some((_, e)) = first_err {
            return Err(Ok(e));
        }
        let mut plans: Vec<Plan> = Vec::with_capacity(batch.series.len());
        let mut new_series = 0usize;
        for ((sw, &hash), existing) in batch.series.iter().zip(hashes.iter()).zip(existing) {
            if existing.is_none() && (!sw.samples.is_empty() || !sw.exemplars.is_empty()) {
                new_series += 1;
            }
            plans.push(Plan { hash, existing });
        }
        if limits.max_active_series > 0
            && new_series > 0
            && head.num_series() + new_series > limits.max_active_series
        {
            return Err(Ok(Reject(
                RejectReason::SeriesLimit,
                format!(
                    "per-tenant series limit of {} exceeded: {} active series, the write adds {}",
                    limits.max_active_series,
                    head.num_series(),
                    new_series
                ),
            )));
        }
        let samples: usize = batch.series.iter().map(|s| s.samples.len()).sum();
        if limits.max_samples_per_second > 0.0 && samples > 0 {
            let now = self.clock.now_ms();
            let burst = tenant_burst(limits);
            if !self
                .bucket
                .lock()
                .take(samples, limits.max_samples_per_second, burst, now)
            {
                return Err(Ok(Reject(
                    RejectReason::RateLimit,
                    format!(
                        "ingestion rate limit of {} samples/s (burst {}) exceeded by a write of {} samples",
                        limits.max_samples_per_second, burst, samples
                    ),
                )));
            }
        }

        // 2. create series, encode and write the WAL record
        let mut stats = AppendStats::default();
        let mut refs: Vec<Option<u64>> = Vec::with_capacity(plans.len());
        let mut slots: Vec<u32> = Vec::with_capacity(plans.len());
        let mut defs: Vec<(u64, &Labels)> = Vec::new();
        for (sw, plan) in batch.series.iter().zip(plans.iter()) {
            if sw.samples.is_empty() && sw.exemplars.is_empty() {
                refs.push(None);
                continue;
            }
            let (sref, logged, slot) = match plan.existing {
                Some(x) => x,
                None => {
                    let (sref, created) = head.get_or_create(&sw.labels, plan.hash, &self.seq);
                    if created {
                        stats.series_created += 1;
                    }
                    (sref, false, u32::MAX)
                }
            };
            if !logged {
                defs.push((sref, &sw.labels));
            }
            refs.push(Some(sref));
            slots.push(slot);
        }
        let nentries = batch
            .series
            .iter()
            .filter(|s| !s.samples.is_empty())
            .count();
        let exemplars: Vec<(u64, &Exemplar)> = batch
            .series
            .iter()
            .zip(refs.iter())
            .filter_map(|(sw, r)| r.map(|r| sw.exemplars.iter().map(move |e| (r, e))))
            .flatten()
            .collect();
        let metadata: Vec<&MetricMetadata> = batch.metadata.iter().collect();
        if defs.is_empty() && nentries == 0 && exemplars.is_empty() && metadata.is_empty() {
            return Ok(stats);
        }
        let mut buf = take_buf();
        buf.reserve(16 + samples * 10 + defs.len() * 64);
        {
            let mut enc = BatchEncoder::new(&mut buf);
            enc.defs(&defs);
            enc.entries_header(nentries);
            for (sw, r) in batch.series.iter().zip(refs.iter()) {
                if let (Some(r), false) = (r, sw.samples.is_empty()) {
                    enc.entry(*r, &sw.samples);
                }
            }
            enc.exemplars(&exemplars);
            enc.metadata(&metadata);
        }
        let written = self.wal.append(&buf);
        give_buf(buf);
        written.map_err(|e| Err(e.into()))?;

        // 3. apply
        let mut max_t = i64::MIN;
        let mut min_t = i64::MAX;
        let mut writes: Vec<(u64, u32, &[Sample])> = Vec::with_capacity(refs.len());
        let mut slot_iter = slots.iter();
        for (sw, r) in batch.series.iter().zip(refs.iter()) {
            let Some(r) = *r else { continue };
            let slot = slot_iter.next().copied().unwrap_or(u32::MAX);
            writes.push((r, slot, &sw.samples));
            if let Some(last) = sw.samples.last() {
                max_t = max_t.max(last.t);
            }
            if let Some(first) = sw.samples.first() {
                min_t = min_t.min(first.t);
            }
        }
        let applied = head.apply_batch(&writes, true);
        stats.samples += applied.appended;
        let ooo = applied.out_of_order;
        let newest = self.max_t.fetch_max(max_t, Ordering::SeqCst).max(max_t);
        // After the samples are in the head: a reader that sees the old generation read
        // before them and its cached results are dropped; one that sees the new one
        // already sees them.
        let horizon = settled_horizon(newest, self.clock.now_ms())
            .max(self.settled_mark.load(Ordering::SeqCst));
        if min_t <= horizon {
            self.settled_gen.fetch_add(1, Ordering::SeqCst);
        }
        drop(_shared);
        if !exemplars.is_empty() {
            let mut ring = self.exemplars.lock();
            for (sw, r) in batch.series.iter().zip(refs.iter()) {
                if r.is_none() || sw.exemplars.is_empty() {
                    continue;
                }
                let series = Arc::new(sw.labels.clone());
                for e in &sw.exemplars {
                    if ring.push(series.clone(), e.clone()) {
                        stats.exemplars += 1;
                    }
                }
            }
        }
        if !batch.metadata.is_empty() {
            stats.metadata = batch.metadata.len();
            self.merge_metadata(std::mem::take(&mut batch.metadata));
        }
        self.counters
            .samples_appended
            .fetch_add(stats.samples as u64, Ordering::Relaxed);
        self.counters
            .out_of_order_samples
            .fetch_add(ooo as u64, Ordering::Relaxed);
        Ok(stats)
    }
}
