//! Aggregations with a parameter, over all steps: `topk`/`bottomk` (elements keep their
//! own labels) and `quantile`.
//!
//! Groups are computed once per input series; at each step the present members of a
//! group are taken in input order, as the step evaluator sees them, and selected or
//! reduced with the same ordering and the same quantile function.

use std::cmp::Ordering;
use std::collections::HashMap;

use oxeye_core::{Labels, hash_label_pairs};

use super::{Col, Cols, Stop};
use crate::aggregate::{nan_low_cmp, quantile};

/// The group index of every column and the groups' labels, in first-seen order.
///
/// A column finds its group by a hash of its kept labels, checked against the group's
/// labels, so only a new group builds a label set (thousands of inputs, a few groups).
pub(crate) fn groups(cols: &[Col], keeps: impl Fn(&str) -> bool) -> (Vec<usize>, Vec<Labels>) {
    let mut index: HashMap<u64, Vec<usize>> = HashMap::new();
    let mut labels: Vec<Labels> = Vec::new();
    let mut of = Vec::with_capacity(cols.len());
    for c in cols {
        let kept = || c.labels.iter().filter(|x| keeps(&x.name));
        let h = hash_label_pairs(kept().map(|x| (x.name.as_bytes(), x.value.as_bytes())));
        let found = index.get(&h).and_then(|candidates| {
            candidates
                .iter()
                .copied()
                .find(|&i| labels.get(i).is_some_and(|g| g.iter().eq(kept())))
        });
        let gi = match found {
            Some(i) => i,
            None => {
                let mut b = c.labels.builder();
                b.retain(|x| keeps(&x.name));
                index.entry(h).or_default().push(labels.len());
                labels.push(b.build());
                labels.len() - 1
            }
        };
        of.push(gi);
    }
    (of, labels)
}

/// `bottomk`'s order: ascending, NaN last, as the step evaluator sorts.
fn bottomk_order(x: f64, y: f64) -> Ordering {
    match (x.is_nan(), y.is_nan()) {
        (false, false) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
        (a, b) => a.cmp(&b),
    }
}

/// `topk` (`top`) or `bottomk` with parameter column `p`.
pub(crate) fn topk(
    top: bool,
    p: &[f64],
    mut cols: Vec<Col>,
    group_of: &[usize],
    n_groups: usize,
) -> Result<Cols, Stop> {
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); n_groups];
    for (ci, &g) in group_of.iter().enumerate() {
        if let Some(m) = members.get_mut(g) {
            m.push(ci);
        }
    }
    let n = p.len();
    let mut kept: Vec<Vec<bool>> = vec![vec![false; n]; cols.len()];
    let mut scratch: Vec<(f64, usize)> = Vec::new();
    for (i, &pi) in p.iter().enumerate() {
        if pi < 1.0 {
            continue;
        }
        if pi.is_nan() || pi >= i64::MAX as f64 {
            // The step evaluator's parameter errors.
            return Err(Stop::Fallback);
        }
        let present = cols
            .iter()
            .filter(|c| c.present.get(i).copied().unwrap_or(false))
            .count();
        let k = (pi as i64).min(present as i64).max(0) as usize;
        if k < 1 {
            continue;
        }
        for m in &members {
            scratch.clear();
            for &ci in m {
                if let Some(c) = cols.get(ci)
                    && c.present.get(i).copied().unwrap_or(false)
                {
                    scratch.push((c.vals.get(i).copied().unwrap_or(f64::NAN), ci));
                }
            }
            if top {
                // Descending, NaN last; stable, so the first among equals wins.
                scratch.sort_by(|x, y| nan_low_cmp(y.0, x.0));
            } else {
                scratch.sort_by(|x, y| bottomk_order(x.0, y.0));
            }
            for &(_, ci) in scratch.iter().take(k) {
                if let Some(slot) = kept.get_mut(ci).and_then(|kc| kc.get_mut(i)) {
                    *slot = true;
                }
            }
        }
    }
    for (c, k) in cols.iter_mut().zip(kept) {
        c.present = k;
    }
    Ok(Cols::Vector(cols))
}

/// `quantile` with parameter column `q` over each group's present members per step.
pub(crate) fn quantiles(
    q: &[f64],
    cols: &[Col],
    group_of: &[usize],
    labels: Vec<Labels>,
) -> Result<Cols, Stop> {
    let n = q.len();
    let mut values: Vec<Vec<Vec<f64>>> = vec![vec![Vec::new(); n]; labels.len()];
    let mut drops: Vec<Vec<bool>> = vec![vec![false; n]; labels.len()];
    for (c, &g) in cols.iter().zip(group_of) {
        let (Some(gv), Some(gd)) = (values.get_mut(g), drops.get_mut(g)) else {
            continue;
        };
        let cells = c
            .vals
            .iter()
            .zip(&c.present)
            .zip(gv.iter_mut().zip(gd.iter_mut()));
        for ((&v, &p), (slot, d)) in cells {
            if p {
                slot.push(v);
                *d |= c.drop_name;
            }
        }
    }
    let mut out = Vec::with_capacity(labels.len());
    for ((labels, gv), gd) in labels.into_iter().zip(values).zip(drops) {
        let mut col = Col {
            labels,
            drop_name: false,
            vals: vec![0.0; n],
            present: vec![false; n],
        };
        let (mut dropping, mut keeping) = (false, false);
        let cells = gv
            .into_iter()
            .zip(gd)
            .zip(q)
            .zip(col.vals.iter_mut().zip(col.present.iter_mut()));
        for (((vals, d), &qi), (v, p)) in cells {
            if vals.is_empty() {
                continue;
            }
            *v = quantile(qi, vals);
            *p = true;
            if d {
                dropping = true;
            } else {
                keeping = true;
            }
        }
        if dropping && keeping && col.labels.get(oxeye_core::METRIC_NAME).is_some() {
            return Err(Stop::Fallback);
        }
        col.drop_name = dropping;
        out.push(col);
    }
    Ok(Cols::Vector(out))
}
