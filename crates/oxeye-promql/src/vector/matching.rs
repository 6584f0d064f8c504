//! Vector/vector arithmetic and comparisons over all steps: one-to-one and
//! `group_left`/`group_right` matching.
//!
//! Match signatures are computed once per series. The "one" side's series are indexed by
//! signature; each "many" series is paired with the "one" series of its signature, and
//! every pair that matches at some step becomes one output column (its labels are the
//! step evaluator's result labels for that pair, which do not depend on the step). The
//! step evaluator's matching errors (duplicate series on the "one" side, multiple matches)
//! are detected per step and left to it: the query falls back.

use std::collections::HashMap;

use oxeye_core::Labels;
use promql_parser::parser::{BinaryExpr, VectorMatchCardinality};

use super::{Col, Cols, Stop};
use crate::binary::{Matching, binop, match_signature, result_metric};

/// Combines two vectors' columns as `b` does at every step.
pub(crate) fn vector_vector(
    b: &BinaryExpr,
    op: &str,
    lhs: Vec<Col>,
    rhs: Vec<Col>,
    return_bool: bool,
    comparison: bool,
    n: usize,
) -> Result<Cols, Stop> {
    let Matching {
        card,
        on,
        names,
        one_to_one,
        swapped,
        include,
    } = Matching::of(b);
    if matches!(card, VectorMatchCardinality::ManyToMany) {
        return Err(Stop::Fallback);
    }
    let (many, one) = if swapped { (rhs, lhs) } else { (lhs, rhs) };
    // The "one" side by signature; a signature present twice at a step is the step
    // evaluator's "found duplicate series" error.
    let mut one_index: HashMap<Labels, Vec<usize>> = HashMap::new();
    for (j, c) in one.iter().enumerate() {
        one_index
            .entry(match_signature(&c.labels, on, names))
            .or_default()
            .push(j);
    }
    for members in one_index.values().filter(|m| m.len() > 1) {
        if at_most_one_per_step(members.iter().filter_map(|&j| one.get(j)), n).is_none() {
            return Err(Stop::Fallback);
        }
    }
    let mut out: Vec<Col> = Vec::new();
    // Per output column: its signature (and, many-to-one, its labels) and where it
    // matched, to detect the step evaluator's "multiple matches" errors.
    let mut matched: Vec<((Labels, Option<Labels>), Vec<bool>)> = Vec::new();
    for m in &many {
        let sig = match_signature(&m.labels, on, names);
        let Some(candidates) = one_index.get(&sig) else {
            continue;
        };
        for &j in candidates {
            let Some(o) = one.get(j) else {
                continue;
            };
            let mut col = Col {
                labels: result_metric(&m.labels, &o.labels, op, one_to_one, on, names, include),
                drop_name: return_bool || (comparison && m.drop_name),
                vals: vec![0.0; n],
                present: vec![false; n],
            };
            let mut hit = vec![false; n];
            let mut any = false;
            let cells = m
                .vals
                .iter()
                .zip(&m.present)
                .zip(o.vals.iter().zip(&o.present))
                .zip(col.vals.iter_mut().zip(col.present.iter_mut()))
                .zip(hit.iter_mut());
            for ((((&mv, &mp), (&ov, &op_)), (v, p)), h) in cells {
                if !mp || !op_ {
                    continue;
                }
                let (fl, fr) = if swapped { (ov, mv) } else { (mv, ov) };
                let (mut value, keep) = binop(op, fl, fr).map_err(|_| Stop::Fallback)?;
                if return_bool {
                    value = if keep { 1.0 } else { 0.0 };
                }
                *h = true;
                any = true;
                if keep || return_bool {
                    *v = value;
                    *p = true;
                }
            }
            if !any {
                continue;
            }
            // Many-to-one: the same result labels twice within a signature.
            let key = (sig.clone(), (!one_to_one).then(|| col.labels.clone()));
            matched.push((key, hit));
            out.push(col);
        }
    }
    // Two output columns of one signature (one-to-one) or of one signature and label set
    // (many-to-one) matched at the same step: the step evaluator's error.
    let mut by_key: HashMap<&(Labels, Option<Labels>), Vec<&Vec<bool>>> = HashMap::new();
    for (k, h) in &matched {
        by_key.entry(k).or_default().push(h);
    }
    for hits in by_key.values().filter(|h| h.len() > 1) {
        for i in 0..n {
            if hits
                .iter()
                .filter(|h| h.get(i).copied().unwrap_or(false))
                .count()
                > 1
            {
                return Err(Stop::Fallback);
            }
        }
    }
    Ok(Cols::Vector(out))
}

/// `Some(())` when at most one of `cols` is present at each step.
fn at_most_one_per_step<'c>(cols: impl Iterator<Item = &'c Col>, n: usize) -> Option<()> {
    let mut seen = vec![false; n];
    for c in cols {
        for (s, &p) in seen.iter_mut().zip(&c.present) {
            if p {
                if *s {
                    return None;
                }
                *s = true;
            }
        }
    }
    Some(())
}

/// `and`, `or`, `unless`: each series' signature computed once; per signature, the steps
/// at which the other side has a series with it.
pub(crate) fn set_op(b: &BinaryExpr, op: &str, lhs: Vec<Col>, rhs: Vec<Col>, n: usize) -> Cols {
    let Matching { on, names, .. } = Matching::of(b);
    let union = |cols: &[Col]| {
        let mut m: HashMap<Labels, Vec<bool>> = HashMap::new();
        for c in cols {
            let u = m
                .entry(match_signature(&c.labels, on, names))
                .or_insert_with(|| vec![false; n]);
            for (x, &p) in u.iter_mut().zip(&c.present) {
                *x |= p;
            }
        }
        m
    };
    // Keeps `c` at the steps where `other` has (`keep_matched`) or lacks its signature.
    let mask = |mut c: Col, other: &HashMap<Labels, Vec<bool>>, keep_matched: bool| {
        let sig = match_signature(&c.labels, on, names);
        let hits = other.get(&sig);
        for (i, p) in c.present.iter_mut().enumerate() {
            let hit = hits.and_then(|h| h.get(i)).copied().unwrap_or(false);
            *p &= hit == keep_matched;
        }
        c
    };
    match op {
        "and" => {
            let right = union(&rhs);
            Cols::Vector(lhs.into_iter().map(|c| mask(c, &right, true)).collect())
        }
        "unless" => {
            let right = union(&rhs);
            Cols::Vector(lhs.into_iter().map(|c| mask(c, &right, false)).collect())
        }
        _ => {
            let left = union(&lhs);
            let mut out = lhs;
            out.extend(rhs.into_iter().map(|c| mask(c, &left, false)));
            Cols::Vector(out)
        }
    }
}
