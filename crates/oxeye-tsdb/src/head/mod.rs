//! The head: the in-memory, appendable part of a tenant's data.
//!
//! Series live in [`SHARDS`] shards, each behind its own `RwLock`, chosen by the top bits
//! of the label set's stable hash; a series ref carries its shard in its low bits
//! (`ref = seq << SHARD_BITS | shard`), so both a label lookup and a ref lookup land on the
//! same shard. Each series keeps in-order samples in a list of [`HeadChunk`](crate::codec::HeadChunk)s and samples
//! accepted out of order in a small sorted buffer. A postings index over the head's series
//! (label name -> value -> refs) answers matchers.
//!
//! A head is cut by swapping in a fresh one (see `tenant.rs`); the old one becomes frozen,
//! stays readable until its block is written, and lends its recently active series (with
//! their newest timestamp and value) to the new head, so out-of-order and duplicate
//! decisions survive the cut.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};

use oxeye_core::{Labels, Matcher, Sample};
use parking_lot::RwLock;

use crate::index::LabelIndex;

mod series;

pub(crate) use series::{Applied, MemSeries, merge_dedup_into};
use series::{Push, SERIES_OVERHEAD, labels_id};

pub(crate) const SHARD_BITS: u32 = 6;
pub(crate) const SHARDS: usize = 1 << SHARD_BITS;

/// Hasher for keys that already are good 64-bit hashes or dense refs: one folded multiply.
#[derive(Default, Clone, Copy)]
pub(crate) struct FoldHasher(u64);

impl Hasher for FoldHasher {
    fn finish(&self) -> u64 {
        let m = u128::from(self.0).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835);
        (m as u64) ^ ((m >> 64) as u64)
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

pub(crate) type FoldMap<K, V> = HashMap<K, V, BuildHasherDefault<FoldHasher>>;

/// The head's hash of a label set: the hash cached in the labels at construction
/// ([`Labels::hash64`]), so looking a series up never rehashes its labels. It is never
/// persisted (the WAL carries labels, not hashes; a ref on an unexpected shard is remapped
/// at replay). Equal hashes are always confirmed by comparing the labels, which is a
/// pointer comparison when the labels share storage with the stored series.
#[inline]
pub(crate) fn series_hash(labels: &Labels) -> u64 {
    labels.hash64()
}

pub(crate) fn shard_of_hash(hash: u64) -> usize {
    (hash >> (64 - SHARD_BITS)) as usize
}

pub(crate) fn shard_of_ref(sref: u64) -> usize {
    (sref & (SHARDS as u64 - 1)) as usize
}

/// Indices `0..n` grouped by shard (counting sort): the indices of shard `s` are
/// `order[starts[s]..starts[s + 1]]`, in increasing order.
fn group_by_shard(n: usize, shard: impl Fn(usize) -> usize) -> ([u32; SHARDS + 1], Vec<u32>) {
    let mut starts = [0u32; SHARDS + 1];
    for i in 0..n {
        starts[shard(i) % SHARDS + 1] += 1;
    }
    for i in 0..SHARDS {
        starts[i + 1] += starts[i];
    }
    let mut next = starts;
    let mut order = vec![0u32; n];
    for i in 0..n {
        let slot = &mut next[shard(i) % SHARDS];
        if let Some(o) = order.get_mut(*slot as usize) {
            *o = i as u32;
        }
        *slot += 1;
    }
    (starts, order)
}

/// A shard under its read lock, for grouped lookups.
pub(crate) struct ShardRead<'a>(parking_lot::RwLockReadGuard<'a, Shard>);

impl ShardRead<'_> {
    /// The series with `labels` (whose hash is `hash`), if this shard holds it.
    pub fn find(&self, labels: &Labels, hash: u64) -> Option<&MemSeries> {
        self.0.find(labels, hash).and_then(|i| self.0.series.get(i))
    }
}

enum Slots {
    One(u32),
    Many(Vec<u32>),
}

#[derive(Default)]
struct Shard {
    series: Vec<MemSeries>,
    by_hash: FoldMap<u64, Slots>,
    by_ref: FoldMap<u64, u32>,
}

impl Shard {
    fn find(&self, labels: &Labels, hash: u64) -> Option<usize> {
        let id = labels_id(labels);
        let same = |i: usize| {
            self.series
                .get(i)
                .is_some_and(|s| s.labels_id == id || *s.labels == *labels)
        };
        match self.by_hash.get(&hash)? {
            Slots::One(i) => {
                let i = *i as usize;
                same(i).then_some(i)
            }
            Slots::Many(v) => v.iter().map(|i| *i as usize).find(|i| same(*i)),
        }
    }

    fn insert(&mut self, mut s: MemSeries) -> usize {
        let slot = self.series.len();
        s.slot = slot as u32;
        let slot32 = slot as u32;
        match self.by_hash.get_mut(&s.hash) {
            None => {
                self.by_hash.insert(s.hash, Slots::One(slot32));
            }
            Some(Slots::One(prev)) => {
                let prev = *prev;
                self.by_hash.insert(s.hash, Slots::Many(vec![prev, slot32]));
            }
            Some(Slots::Many(v)) => v.push(slot32),
        }
        self.by_ref.insert(s.sref, slot32);
        self.series.push(s);
        slot
    }
}

/// A head: sharded series plus a postings index.
pub(crate) struct Head {
    shards: Box<[RwLock<Shard>]>,
    postings: RwLock<LabelIndex<u64>>,
    num_series: AtomicUsize,
    bytes: AtomicI64,
    min_t: AtomicI64,
    max_t: AtomicI64,
    num_samples: AtomicU64,
}

impl Head {
    pub fn new() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| RwLock::new(Shard::default())).collect(),
            postings: RwLock::new(LabelIndex::new()),
            num_series: AtomicUsize::new(0),
            bytes: AtomicI64::new(0),
            min_t: AtomicI64::new(i64::MAX),
            max_t: AtomicI64::new(i64::MIN),
            num_samples: AtomicU64::new(0),
        }
    }

    pub fn num_series(&self) -> usize {
        self.num_series.load(Ordering::Relaxed)
    }

    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed).max(0) as u64
    }

    pub fn num_samples(&self) -> u64 {
        self.num_samples.load(Ordering::Relaxed)
    }

    /// `(min_t, max_t)` of samples in this head, `None` when it holds none.
    pub fn time_range(&self) -> Option<(i64, i64)> {
        let (a, b) = (
            self.min_t.load(Ordering::Relaxed),
            self.max_t.load(Ordering::Relaxed),
        );
        (a <= b).then_some((a, b))
    }

    /// Runs `f` on the series with `labels` (or `None`) under the shard's read lock.
    #[cfg(test)]
    pub fn with_series<T>(
        &self,
        labels: &Labels,
        hash: u64,
        f: impl FnOnce(Option<&MemSeries>) -> T,
    ) -> T {
        let shard = self.shards[shard_of_hash(hash)].read();
        let s = shard.find(labels, hash).map(|i| &shard.series[i]);
        f(s)
    }

    /// Calls `f(i, shard)` for every `i` in `0..hashes.len()`, grouped by the shard of
    /// `hashes[i]` so each shard's read lock is taken once; within a shard in increasing
    /// `i`.
    pub fn lookup_grouped(&self, hashes: &[u64], mut f: impl FnMut(usize, &ShardRead<'_>)) {
        let (starts, order) = group_by_shard(hashes.len(), |i| {
            hashes.get(i).map_or(0, |h| shard_of_hash(*h))
        });
        for (shard, w) in self.shards.iter().zip(starts.windows(2)) {
            if w[0] == w[1] {
                continue;
            }
            let guard = ShardRead(shard.read());
            for &i in order.get(w[0] as usize..w[1] as usize).unwrap_or_default() {
                f(i as usize, &guard);
            }
        }
    }

    /// The ref of the series with `labels`, creating it (ref from `seq`) when missing.
    /// Returns the ref and whether this call created it.
    pub fn get_or_create(&self, labels: &Labels, hash: u64, seq: &AtomicU64) -> (u64, bool) {
        let shard_idx = shard_of_hash(hash);
        let (sref, labels) = {
            let mut shard = self.shards[shard_idx].write();
            if let Some(i) = shard.find(labels, hash) {
                return (shard.series[i].sref, false);
            }
            let sref = (seq.fetch_add(1, Ordering::Relaxed) << SHARD_BITS) | shard_idx as u64;
            let labels = Arc::new(labels.clone());
            shard.insert(MemSeries::new(labels.clone(), sref, hash, None));
            (sref, labels)
        };
        self.on_created(sref, &labels);
        (sref, true)
    }

    /// Creates a series with a known ref (WAL replay, carrying series over a cut).
    /// Returns false when the ref already exists or belongs to another shard.
    pub fn create_with_ref(
        &self,
        sref: u64,
        labels: Arc<Labels>,
        hash: u64,
        last: Option<(i64, u64)>,
        wal_logged: bool,
    ) -> bool {
        let shard_idx = shard_of_hash(hash);
        if shard_of_ref(sref) != shard_idx {
            return false;
        }
        {
            let mut shard = self.shards[shard_idx].write();
            if shard.by_ref.contains_key(&sref) || shard.find(&labels, hash).is_some() {
                return false;
            }
            let mut s = MemSeries::new(labels.clone(), sref, hash, last);
            s.wal_logged = wal_logged;
            shard.insert(s);
        }
        self.on_created(sref, &labels);
        true
    }

    /// Defines a series read from the WAL under `wal_ref` and returns the head ref to use
    /// for it: the existing ref when the labels are already known (a series dropped at a
    /// cut and created again under a new ref), `wal_ref` when it is free and on the right
    /// shard, else a fresh ref from `fresh`. A series whose head ref differs from its WAL
    /// ref is left unlogged so the next write records its labels again.
    pub fn replay_series(
        &self,
        wal_ref: u64,
        labels: Arc<Labels>,
        hash: u64,
        fresh: &AtomicU64,
    ) -> u64 {
        let shard_idx = shard_of_hash(hash);
        let sref = {
            let mut shard = self.shards[shard_idx].write();
            if let Some(i) = shard.find(&labels, hash) {
                return shard.series[i].sref;
            }
            let usable = shard_of_ref(wal_ref) == shard_idx && !shard.by_ref.contains_key(&wal_ref);
            let sref = if usable {
                wal_ref
            } else {
                (fresh.fetch_add(1, Ordering::Relaxed) << SHARD_BITS) | shard_idx as u64
            };
            let mut s = MemSeries::new(labels.clone(), sref, hash, None);
            s.wal_logged = usable;
            shard.insert(s);
            sref
        };
        self.on_created(sref, &labels);
        sref
    }

    /// Makes sure the series exists and knows `last` as its newest sample unless it has a
    /// newer one (seeding from blocks after a restart, so ordering and duplicate checks
    /// see data that left the WAL). A created series is not WAL-logged yet.
    pub fn seed(&self, labels: &Arc<Labels>, hash: u64, seq: &AtomicU64, last: (i64, u64)) {
        let shard_idx = shard_of_hash(hash);
        let sref = {
            let mut shard = self.shards[shard_idx].write();
            if let Some(i) = shard.find(labels, hash) {
                let s = &mut shard.series[i];
                if s.last.is_none_or(|(t, _)| t < last.0) {
                    s.last = Some(last);
                }
                return;
            }
            let sref = (seq.fetch_add(1, Ordering::Relaxed) << SHARD_BITS) | shard_idx as u64;
            shard.insert(MemSeries::new(labels.clone(), sref, hash, Some(last)));
            sref
        };
        self.on_created(sref, labels);
    }

    fn on_created(&self, sref: u64, labels: &Labels) {
        self.postings.write().add(sref, labels);
        self.num_series.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(
            (SERIES_OVERHEAD + labels.byte_size()) as i64,
            Ordering::Relaxed,
        );
    }

    /// Stores `samples` (sorted, unique timestamps) into series `sref`; samples already
    /// present are skipped. `mark_logged` records that the WAL now holds the labels.
    pub fn apply(&self, sref: u64, samples: &[Sample], mark_logged: bool) -> Option<Applied> {
        let mut shard = self.shards[shard_of_ref(sref)].write();
        let slot = *shard.by_ref.get(&sref)? as usize;
        let s = &mut shard.series[slot];
        if mark_logged {
            s.wal_logged = true;
        }
        let before = s.byte_size();
        let mut out = Applied::default();
        let (mut mint, mut maxt) = (i64::MAX, i64::MIN);
        push_samples(s, samples, &mut out, &mut mint, &mut maxt);
        let delta = s.byte_size() as i64 - before as i64;
        drop(shard);
        if out.appended > 0 {
            self.bytes.fetch_add(delta, Ordering::Relaxed);
            self.min_t.fetch_min(mint, Ordering::Relaxed);
            self.max_t.fetch_max(maxt, Ordering::Relaxed);
            self.num_samples
                .fetch_add(out.appended as u64, Ordering::Relaxed);
        }
        Some(out)
    }

    /// Stores samples into many series, like [`Head::apply`] for each
    /// `(sref, slot, samples)` but taking each shard's write lock once and updating the
    /// head's totals once. `slot` is the series' [`MemSeries::slot`] when known (it spares
    /// the ref lookup), else `u32::MAX`. Unknown refs are skipped.
    pub fn apply_batch(&self, writes: &[(u64, u32, &[Sample])], mark_logged: bool) -> Applied {
        let (starts, order) = group_by_shard(writes.len(), |i| {
            writes.get(i).map_or(0, |w| shard_of_ref(w.0))
        });
        let mut out = Applied::default();
        let (mut mint, mut maxt, mut delta) = (i64::MAX, i64::MIN, 0i64);
        for shard_idx in 0..SHARDS {
            let (a, b) = (starts[shard_idx] as usize, starts[shard_idx + 1] as usize);
            if a == b {
                continue;
            }
            let mut shard = self.shards[shard_idx].write();
            for &i in order.get(a..b).unwrap_or_default() {
                let Some(&(sref, hint, samples)) = writes.get(i as usize) else {
                    continue;
                };
                let slot = match shard.series.get(hint as usize) {
                    Some(s) if s.sref == sref => hint,
                    _ => match shard.by_ref.get(&sref) {
                        Some(&slot) => slot,
                        None => continue,
                    },
                };
                let s = &mut shard.series[slot as usize];
                if mark_logged {
                    s.wal_logged = true;
                }
                let before = s.byte_size();
                push_samples(s, samples, &mut out, &mut mint, &mut maxt);
                delta += s.byte_size() as i64 - before as i64;
            }
        }
        if out.appended > 0 {
            self.bytes.fetch_add(delta, Ordering::Relaxed);
            self.min_t.fetch_min(mint, Ordering::Relaxed);
            self.max_t.fetch_max(maxt, Ordering::Relaxed);
            self.num_samples
                .fetch_add(out.appended as u64, Ordering::Relaxed);
        }
        out
    }

    /// Labels and time range of series `sref`.
    pub fn series_info(&self, sref: u64) -> Option<(Arc<Labels>, i64, i64)> {
        let shard = self.shards[shard_of_ref(sref)].read();
        let s = &shard.series[*shard.by_ref.get(&sref)? as usize];
        Some((s.labels.clone(), s.min_t, s.max_t))
    }

    /// Samples of `sref` in `[mint, maxt]`, appended to `out`; false if unknown.
    pub fn read(&self, sref: u64, mint: i64, maxt: i64, out: &mut Vec<Sample>) -> bool {
        let shard = self.shards[shard_of_ref(sref)].read();
        let Some(slot) = shard.by_ref.get(&sref) else {
            return false;
        };
        shard.series[*slot as usize].read(mint, maxt, out);
        true
    }

    /// Calls `f` for every series, one shard at a time under its read lock.
    pub fn for_each_series(&self, mut f: impl FnMut(&MemSeries)) {
        for shard in self.shards.iter() {
            let shard = shard.read();
            for s in &shard.series {
                f(s);
            }
        }
    }

    /// Refs of series matching `matchers`, sorted.
    pub fn select(&self, matchers: &[Matcher]) -> Vec<u64> {
        self.postings.read().select(matchers)
    }

    /// Runs `f` on the postings index.
    pub fn with_postings<T>(&self, f: impl FnOnce(&LabelIndex<u64>) -> T) -> T {
        f(&self.postings.read())
    }
}

/// Pushes `samples` into `s`, counting them into `out` and widening `[mint, maxt]` by
/// the ones stored (duplicates are neither).
fn push_samples(
    s: &mut MemSeries,
    samples: &[Sample],
    out: &mut Applied,
    mint: &mut i64,
    maxt: &mut i64,
) {
    for x in samples {
        match s.push(*x) {
            Push::InOrder => out.appended += 1,
            Push::OutOfOrder => {
                out.appended += 1;
                out.out_of_order += 1;
            }
            Push::Duplicate => continue,
        }
        *mint = (*mint).min(x.t);
        *maxt = (*maxt).max(x.t);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(i: usize) -> Labels {
        Labels::from_pairs(&[("__name__", "m"), ("i", &i.to_string())])
    }

    #[test]
    fn create_append_read() {
        let h = Head::new();
        let seq = AtomicU64::new(1);
        let l = labels(1);
        let (r, created) = h.get_or_create(&l, series_hash(&l), &seq);
        assert!(created);
        assert_eq!(h.get_or_create(&l, series_hash(&l), &seq), (r, false));
        let samples: Vec<Sample> = (0..300).map(|i| Sample::new(i * 10, i as f64)).collect();
        let a = h.apply(r, &samples, true).unwrap();
        assert_eq!(a.appended, 300);
        // out of order and duplicate
        let a = h
            .apply(r, &[Sample::new(5, 0.5), Sample::new(10, 9.0)], false)
            .unwrap();
        assert_eq!((a.appended, a.out_of_order), (1, 1));
        let mut out = Vec::new();
        assert!(h.read(r, 0, 20, &mut out));
        assert_eq!(
            out,
            vec![
                Sample::new(0, 0.0),
                Sample::new(5, 0.5),
                Sample::new(10, 1.0),
                Sample::new(20, 2.0)
            ]
        );
        assert_eq!(h.time_range(), Some((0, 2990)));
        assert_eq!(h.select(&[Matcher::equal("i", "1")]), vec![r]);
        assert!(h.bytes() > 0);
    }

    #[test]
    fn refs_encode_their_shard() {
        let h = Head::new();
        let seq = AtomicU64::new(1);
        for i in 0..200 {
            let l = labels(i);
            let (r, _) = h.get_or_create(&l, series_hash(&l), &seq);
            assert_eq!(shard_of_ref(r), shard_of_hash(series_hash(&l)));
            assert_eq!(*h.series_info(r).unwrap().0, l);
        }
        assert_eq!(h.num_series(), 200);
    }

    #[test]
    fn replay_remaps_refs_it_cannot_keep() {
        let h = Head::new();
        let fresh = AtomicU64::new(1 << 40);
        let a = Arc::new(labels(1));
        let ha = series_hash(&a);
        let ra = (5 << SHARD_BITS) | shard_of_hash(ha) as u64;
        assert_eq!(h.replay_series(ra, a.clone(), ha, &fresh), ra);
        // the same labels under another WAL ref map to the existing series
        let other = (9 << SHARD_BITS) | shard_of_hash(ha) as u64;
        assert_eq!(h.replay_series(other, a.clone(), ha, &fresh), ra);
        // a ref on the wrong shard (hash function changed) gets a fresh ref, unlogged
        let b = Arc::new(labels(2));
        let hb = series_hash(&b);
        let wrong = (7 << SHARD_BITS) | ((shard_of_hash(hb) as u64 + 1) % SHARDS as u64);
        let rb = h.replay_series(wrong, b.clone(), hb, &fresh);
        assert_ne!(rb, wrong);
        assert_eq!(shard_of_ref(rb), shard_of_hash(hb));
        assert!(!h.with_series(&b, hb, |s| s.unwrap().wal_logged));
        assert!(h.with_series(&a, ha, |s| s.unwrap().wal_logged));
    }

    #[test]
    fn apply_batch_matches_per_series_apply() {
        let (a, b) = (Head::new(), Head::new());
        let seq = AtomicU64::new(1);
        let seq_b = AtomicU64::new(1);
        let mut refs = Vec::new();
        for i in 0..300 {
            let l = labels(i);
            let (ra, _) = a.get_or_create(&l, series_hash(&l), &seq);
            let (rb, _) = b.get_or_create(&l, series_hash(&l), &seq_b);
            assert_eq!(ra, rb);
            refs.push(ra);
        }
        let samples: Vec<Vec<Sample>> = (0..300)
            .map(|i| {
                (0..(i % 4))
                    .map(|j| Sample::new(j * 10 + 5, i as f64))
                    .collect()
            })
            .collect();
        let mut writes: Vec<(u64, u32, &[Sample])> = refs
            .iter()
            .zip(samples.iter())
            .enumerate()
            .map(|(i, (r, s))| {
                // known slots, wrong hints and no hints
                let hint =
                    b.with_series(&labels(i), series_hash(&labels(i)), |s| s.map(|s| s.slot));
                let hint = match i % 3 {
                    0 => hint.unwrap(),
                    1 => hint.unwrap() ^ 1,
                    _ => u32::MAX,
                };
                (*r, hint, s.as_slice())
            })
            .collect();
        // a repeated entry (all duplicates the second time) and an unknown ref
        writes.push((refs[3], u32::MAX, &samples[3]));
        writes.push((u64::MAX, 0, &samples[3]));
        let mut expect = Applied::default();
        for (r, _, s) in &writes {
            if let Some(x) = a.apply(*r, s, true) {
                expect.appended += x.appended;
                expect.out_of_order += x.out_of_order;
            }
        }
        let got = b.apply_batch(&writes, true);
        assert_eq!(
            (got.appended, got.out_of_order),
            (expect.appended, expect.out_of_order)
        );
        assert_eq!(got.appended, samples.iter().map(Vec::len).sum::<usize>());
        assert_eq!(a.time_range(), b.time_range());
        assert_eq!(a.bytes(), b.bytes());
        assert_eq!(a.num_samples(), b.num_samples());
        for r in &refs {
            let (mut x, mut y) = (Vec::new(), Vec::new());
            a.read(*r, i64::MIN, i64::MAX, &mut x);
            b.read(*r, i64::MIN, i64::MAX, &mut y);
            assert_eq!(x, y);
        }
        b.for_each_series(|s| assert!(s.wal_logged));
    }

    #[test]
    fn grouped_lookup_visits_each_entry_once_and_finds_its_series() {
        let h = Head::new();
        let seq = AtomicU64::new(1);
        let all: Vec<Labels> = (0..500).map(labels).collect();
        let mut refs = Vec::new();
        for l in all.iter().step_by(2) {
            refs.push(h.get_or_create(l, series_hash(l), &seq).0);
        }
        let hashes: Vec<u64> = all.iter().map(series_hash).collect();
        let mut seen = vec![0u32; all.len()];
        let mut last_in_shard: Vec<Option<usize>> = vec![None; SHARDS];
        h.lookup_grouped(&hashes, |i, shard| {
            seen[i] += 1;
            let sh = shard_of_hash(hashes[i]);
            assert!(last_in_shard[sh].is_none_or(|j| j < i));
            last_in_shard[sh] = Some(i);
            let found = shard.find(&all[i], hashes[i]);
            match found {
                Some(s) => {
                    assert_eq!(i % 2, 0);
                    assert_eq!(s.sref, refs[i / 2]);
                    assert_eq!(*s.labels, all[i]);
                }
                None => assert_eq!(i % 2, 1),
            }
        });
        assert!(seen.iter().all(|n| *n == 1));
    }
}
