//! The tenant's stream index: stream ids by label set, postings by label, and each
//! stream's chunks in chunk files with their time ranges (the time index).
//!
//! A stream id is a small number given out in creation order; lookups go through the
//! label set's 64-bit hash, and the labels are compared on every hit, so two label sets
//! with the same hash are two streams. Postings lists are sorted because ids only grow.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use oxeye_core::{Labels, Matcher};

use crate::file::ChunkFile;

/// A chunk of a stream in a chunk file.
#[derive(Debug, Clone)]
pub(crate) struct ChunkRef {
    pub file: Arc<ChunkFile>,
    pub idx: u32,
}

#[derive(Debug)]
pub(crate) struct StreamInfo {
    pub labels: Labels,
    /// Chunks in files, in file order.
    pub chunks: Vec<ChunkRef>,
}

#[derive(Debug)]
pub(crate) struct Index {
    streams: HashMap<u32, StreamInfo>,
    by_hash: HashMap<u64, Vec<u32>>,
    postings: BTreeMap<String, BTreeMap<String, Vec<u32>>>,
    next_id: u32,
    /// The stream hash ([`Labels::hash64`]; tests force collisions with their own).
    hash: fn(&Labels) -> u64,
}

impl Default for Index {
    fn default() -> Self {
        Self {
            streams: HashMap::new(),
            by_hash: HashMap::new(),
            postings: BTreeMap::new(),
            next_id: 0,
            hash: Labels::hash64,
        }
    }
}

impl Index {
    pub fn len(&self) -> usize {
        self.streams.len()
    }

    pub fn lookup(&self, labels: &Labels) -> Option<u32> {
        self.by_hash
            .get(&(self.hash)(labels))?
            .iter()
            .copied()
            .find(|id| self.streams.get(id).is_some_and(|s| s.labels == *labels))
    }

    /// The id of `labels`, creating the stream when new; the flag says whether it was.
    pub fn get_or_create(&mut self, labels: &Labels) -> (u32, bool) {
        if let Some(id) = self.lookup(labels) {
            return (id, false);
        }
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        self.by_hash
            .entry((self.hash)(labels))
            .or_default()
            .push(id);
        for l in labels.iter() {
            self.postings
                .entry(l.name.clone())
                .or_default()
                .entry(l.value.clone())
                .or_default()
                .push(id);
        }
        self.streams.insert(
            id,
            StreamInfo {
                labels: labels.clone(),
                chunks: Vec::new(),
            },
        );
        (id, true)
    }

    pub fn get(&self, id: u32) -> Option<&StreamInfo> {
        self.streams.get(&id)
    }

    /// Registers every chunk of `file` with its stream (created when new).
    pub fn add_file(&mut self, file: &Arc<ChunkFile>) {
        let ids: Vec<u32> = file
            .streams
            .iter()
            .map(|l| self.get_or_create(l).0)
            .collect();
        for (i, c) in file.chunks.iter().enumerate() {
            let Some(&id) = ids.get(c.stream as usize) else {
                continue;
            };
            if let Some(s) = self.streams.get_mut(&id) {
                s.chunks.push(ChunkRef {
                    file: file.clone(),
                    idx: i as u32,
                });
            }
        }
    }

    /// Drops the chunks of file `seq`.
    pub fn remove_file(&mut self, seq: u64) {
        for s in self.streams.values_mut() {
            s.chunks.retain(|c| c.file.seq != seq);
        }
    }

    /// Forgets streams with no chunk that `keep` does not hold (no head data).
    pub fn gc(&mut self, keep: impl Fn(u32) -> bool) -> usize {
        let dead: Vec<u32> = self
            .streams
            .iter()
            .filter(|(id, s)| s.chunks.is_empty() && !keep(**id))
            .map(|(id, _)| *id)
            .collect();
        for id in &dead {
            let Some(s) = self.streams.remove(id) else {
                continue;
            };
            let h = (self.hash)(&s.labels);
            if let Some(v) = self.by_hash.get_mut(&h) {
                v.retain(|x| x != id);
                if v.is_empty() {
                    self.by_hash.remove(&h);
                }
            }
            for l in s.labels.iter() {
                if let Some(values) = self.postings.get_mut(&l.name) {
                    if let Some(p) = values.get_mut(&l.value) {
                        p.retain(|x| x != id);
                        if p.is_empty() {
                            values.remove(&l.value);
                        }
                    }
                    if values.is_empty() {
                        self.postings.remove(&l.name);
                    }
                }
            }
        }
        dead.len()
    }

    /// Ids of streams whose labels satisfy every matcher, sorted.
    pub fn select(&self, matchers: &[Matcher]) -> Vec<u32> {
        // narrow with the postings of matchers that need the label present
        let mut candidates: Option<Vec<u32>> = None;
        for m in matchers.iter().filter(|m| !m.matches_empty()) {
            let mut ids: Vec<u32> = match self.postings.get(&m.name) {
                Some(values) => values
                    .iter()
                    .filter(|(v, _)| m.matches(v))
                    .flat_map(|(_, p)| p.iter().copied())
                    .collect(),
                None => Vec::new(),
            };
            ids.sort_unstable();
            ids.dedup();
            candidates = Some(match candidates {
                None => ids,
                Some(c) => intersect(&c, &ids),
            });
            if candidates.as_ref().is_some_and(Vec::is_empty) {
                return Vec::new();
            }
        }
        let mut ids = candidates.unwrap_or_else(|| {
            let mut all: Vec<u32> = self.streams.keys().copied().collect();
            all.sort_unstable();
            all
        });
        ids.retain(|id| {
            self.streams.get(id).is_some_and(|s| {
                matchers
                    .iter()
                    .all(|m| m.matches(s.labels.get(&m.name).unwrap_or("")))
            })
        });
        ids
    }
}

fn intersect(a: &[u32], b: &[u32]) -> Vec<u32> {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while let (Some(x), Some(y)) = (a.get(i), b.get(j)) {
        match x.cmp(y) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(*x);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use oxeye_core::MatchOp;

    use super::*;

    #[test]
    fn colliding_hashes_are_separate_streams() {
        let mut ix = Index {
            hash: |_| 42,
            ..Index::default()
        };
        let a = Labels::from_pairs(&[("job", "a")]);
        let b = Labels::from_pairs(&[("job", "b")]);
        let (ia, _) = ix.get_or_create(&a);
        let (ib, new) = ix.get_or_create(&b);
        assert!(new);
        assert_ne!(ia, ib);
        assert_eq!(ix.lookup(&a), Some(ia));
        assert_eq!(ix.lookup(&b), Some(ib));
        assert_eq!(ix.gc(|id| id == ib), 1);
        assert_eq!(ix.lookup(&a), None);
        assert_eq!(ix.lookup(&b), Some(ib));
    }

    #[test]
    fn selects_with_postings_and_empty_matchers() {
        let mut ix = Index::default();
        let a = Labels::from_pairs(&[("job", "api"), ("env", "prod")]);
        let b = Labels::from_pairs(&[("job", "api")]);
        let c = Labels::from_pairs(&[("job", "db"), ("env", "dev")]);
        let (ia, new) = ix.get_or_create(&a);
        assert!(new);
        let (ib, _) = ix.get_or_create(&b);
        let (ic, _) = ix.get_or_create(&c);
        assert_eq!(ix.get_or_create(&a), (ia, false));
        assert_eq!(ix.select(&[Matcher::equal("job", "api")]), vec![ia, ib]);
        let env_empty = Matcher::new(MatchOp::Equal, "env", "").unwrap();
        assert_eq!(ix.select(&[env_empty]), vec![ib]);
        let re = Matcher::new(MatchOp::Regex, "env", "pro.*|dev").unwrap();
        assert_eq!(ix.select(&[re]), vec![ia, ic]);
        let ne = Matcher::new(MatchOp::NotEqual, "job", "api").unwrap();
        assert_eq!(ix.select(&[ne]), vec![ic]);
        assert!(ix.select(&[Matcher::equal("nope", "x")]).is_empty());
        assert_eq!(ix.gc(|id| id != ib), 1);
        assert_eq!(ix.select(&[Matcher::equal("job", "api")]), vec![ia]);
        assert_eq!(ix.lookup(&b), None);
    }
}
