//! Patterns: line templates learnt from lines with a Drain-style clustering, each with
//! its count per time bucket.
//!
//! A line is split into tokens at whitespace. Clusters are grouped by token count and
//! then by the first tokens (a token holding a digit counts as a variable there, so
//! `GET /users/42` and `GET /users/7` meet). Within a group a line joins the most
//! similar cluster, the share of positions whose tokens are equal being at least
//! [`DrainConfig::similarity`]; the positions that differ become the variable `<_>`.
//! Otherwise it starts a new cluster, up to [`DrainConfig::max_clusters`]; beyond that
//! a line that fits no cluster is counted as unmatched.

use std::collections::{BTreeMap, HashMap};

/// The variable token, as Loki writes it.
pub const VARIABLE: &str = "<_>";

/// Tuning of the clustering.
#[derive(Debug, Clone, Copy)]
pub struct DrainConfig {
    /// Leading tokens that route a line to its group.
    pub prefix_tokens: usize,
    /// Least share of equal tokens for a line to join a cluster.
    pub similarity: f64,
    /// Most clusters kept.
    pub max_clusters: usize,
    /// Most tokens a line is split into; the rest is one last token.
    pub max_tokens: usize,
}

impl Default for DrainConfig {
    fn default() -> Self {
        Self {
            prefix_tokens: 1,
            similarity: 0.3,
            max_clusters: 1_000,
            max_tokens: 80,
        }
    }
}

#[derive(Debug, Clone)]
struct Cluster {
    tokens: Vec<String>,
    /// Count per bucket start, ns.
    samples: BTreeMap<i64, u64>,
    total: u64,
}

/// A learnt pattern and its counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    /// The template, variables as `<_>`.
    pub pattern: String,
    /// `(bucket start ns, lines)`, oldest first.
    pub samples: Vec<(i64, u64)>,
    /// Lines in all buckets.
    pub total: u64,
}

/// Learns patterns from lines.
#[derive(Debug)]
pub struct Drain {
    config: DrainConfig,
    step_ns: i64,
    clusters: Vec<Cluster>,
    /// (token count, leading tokens) -> cluster indexes.
    groups: HashMap<(usize, Vec<String>), Vec<usize>>,
    unmatched: u64,
}

fn has_digit(t: &str) -> bool {
    t.bytes().any(|b| b.is_ascii_digit())
}

fn tokenize(line: &str, max: usize) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    let mut rest = line.trim();
    while !rest.is_empty() {
        if out.len() + 1 == max {
            out.push(rest);
            break;
        }
        match rest.find(char::is_whitespace) {
            Some(i) => {
                out.push(rest.get(..i).unwrap_or(""));
                rest = rest.get(i..).unwrap_or("").trim_start();
            }
            None => {
                out.push(rest);
                break;
            }
        }
    }
    out
}

impl Drain {
    /// A learner bucketing counts by `step_ns` (at least 1).
    pub fn new(config: DrainConfig, step_ns: i64) -> Self {
        Self {
            config,
            step_ns: step_ns.max(1),
            clusters: Vec::new(),
            groups: HashMap::new(),
            unmatched: 0,
        }
    }

    /// Lines that fitted no cluster once the cluster limit was reached.
    pub fn unmatched(&self) -> u64 {
        self.unmatched
    }

    fn group_key(&self, tokens: &[&str]) -> (usize, Vec<String>) {
        let prefix = tokens
            .iter()
            .take(self.config.prefix_tokens)
            .map(|t| {
                if has_digit(t) {
                    VARIABLE.to_string()
                } else {
                    (*t).to_string()
                }
            })
            .collect();
        (tokens.len(), prefix)
    }

    /// Learns one line at `ts_ns`.
    pub fn add(&mut self, ts_ns: i64, line: &str) {
        let tokens = tokenize(line, self.config.max_tokens);
        if tokens.is_empty() {
            return;
        }
        let bucket = ts_ns - ts_ns.rem_euclid(self.step_ns);
        let key = self.group_key(&tokens);
        let mut best: Option<(usize, f64)> = None;
        if let Some(members) = self.groups.get(&key) {
            for &ci in members {
                let Some(c) = self.clusters.get(ci) else {
                    continue;
                };
                let equal = c
                    .tokens
                    .iter()
                    .zip(&tokens)
                    .filter(|(a, b)| a.as_str() == **b || a.as_str() == VARIABLE)
                    .count();
                let sim = equal as f64 / tokens.len() as f64;
                if sim >= self.config.similarity && best.is_none_or(|(_, s)| sim > s) {
                    best = Some((ci, sim));
                }
            }
        }
        if let Some((ci, _)) = best
            && let Some(c) = self.clusters.get_mut(ci)
        {
            for (ct, t) in c.tokens.iter_mut().zip(&tokens) {
                if ct != t {
                    *ct = VARIABLE.to_string();
                }
            }
            *c.samples.entry(bucket).or_default() += 1;
            c.total += 1;
            return;
        }
        if self.clusters.len() >= self.config.max_clusters {
            self.unmatched += 1;
            return;
        }
        let tokens: Vec<String> = tokens
            .iter()
            .map(|t| {
                if has_digit(t) && t.len() > 1 && t.bytes().all(|b| b.is_ascii_digit()) {
                    VARIABLE.to_string()
                } else {
                    (*t).to_string()
                }
            })
            .collect();
        self.clusters.push(Cluster {
            tokens,
            samples: BTreeMap::from([(bucket, 1)]),
            total: 1,
        });
        let idx = self.clusters.len() - 1;
        self.groups.entry(key).or_default().push(idx);
    }

    /// The patterns learnt, most frequent first (ties by pattern); clusters with the
    /// same template are merged.
    pub fn patterns(&self) -> Vec<Pattern> {
        let mut merged: BTreeMap<String, BTreeMap<i64, u64>> = BTreeMap::new();
        for c in &self.clusters {
            let entry = merged.entry(c.tokens.join(" ")).or_default();
            for (b, n) in &c.samples {
                *entry.entry(*b).or_default() += n;
            }
        }
        let mut out: Vec<Pattern> = merged
            .into_iter()
            .map(|(pattern, samples)| {
                let total = samples.values().sum();
                Pattern {
                    pattern,
                    samples: samples.into_iter().collect(),
                    total,
                }
            })
            .collect();
        out.sort_by(|a, b| {
            b.total
                .cmp(&a.total)
                .then_with(|| a.pattern.cmp(&b.pattern))
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variable_positions_become_placeholders() {
        let mut d = Drain::new(DrainConfig::default(), 10);
        d.add(1, "GET /users/42 200 12ms");
        d.add(2, "GET /users/7 200 3ms");
        d.add(15, "GET /users/9 404 1ms");
        d.add(16, "connection reset by peer");
        d.add(17, "connection reset by peer");
        let p = d.patterns();
        assert_eq!(p.len(), 2, "{p:?}");
        assert_eq!(p[0].pattern, "GET <_> <_> <_>");
        assert_eq!(p[0].samples, vec![(0, 2), (10, 1)]);
        assert_eq!(p[0].total, 3);
        assert_eq!(p[1].pattern, "connection reset by peer");
        assert_eq!(p[1].samples, vec![(10, 2)]);
    }

    #[test]
    fn dissimilar_lines_of_the_same_shape_stay_apart() {
        let mut d = Drain::new(DrainConfig::default(), 1_000);
        d.add(1, "level=info msg=started component=db");
        d.add(2, "level=info msg=started component=web");
        d.add(3, "panic: runtime error: index out of range");
        d.add(4, "user alice logged in from 10.0.0.1");
        d.add(5, "user bob logged in from 10.0.0.2");
        let p: Vec<String> = d.patterns().into_iter().map(|p| p.pattern).collect();
        assert!(
            p.contains(&"level=info msg=started <_>".to_string()),
            "{p:?}"
        );
        assert!(
            p.contains(&"user <_> logged in from <_>".to_string()),
            "{p:?}"
        );
        assert!(p.contains(&"panic: runtime error: index out of range".to_string()));
    }

    #[test]
    fn cluster_limit_counts_the_rest_as_unmatched() {
        let cfg = DrainConfig {
            max_clusters: 1,
            ..DrainConfig::default()
        };
        let mut d = Drain::new(cfg, 1);
        d.add(1, "a b c");
        d.add(2, "x y");
        assert_eq!(d.patterns().len(), 1);
        assert_eq!(d.unmatched(), 1);
        d.add(3, "   ");
        assert_eq!(d.unmatched(), 1);
    }
}
