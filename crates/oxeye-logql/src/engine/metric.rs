//! Metric queries.
//!
//! Every range aggregation (a leaf) is evaluated by [`super::range`] into per-step
//! samples. A query that is a single range aggregation is answered from those directly.
//! Anything above the leaves (vector aggregations, binary and set operators with
//! `on`/`ignoring`/`group_left`, `label_replace`, `vector()`, literals, `sort`, `topk`)
//! has the semantics of PromQL, so it is handed to the PromQL engine: each leaf
//! becomes a metric `__logql_leaf_N` held in memory, the expression is written as PromQL
//! over those metrics, and it is evaluated with a 1ms lookback so each step sees exactly
//! the sample computed for it. The leaf name is removed from the result.
//!
//! A `sum`, `sum by (...)` or `sum without (...)` directly over an additive range
//! aggregation (`count_over_time`, `rate`, `bytes_*`, `sum_over_time`) pushes its
//! grouping down to the leaf, so the pipeline only extracts the grouped labels and
//! fewer series are built. `max_series` holds the result, not the leaves.

use std::ops::ControlFlow;
use std::sync::Arc;

use oxeye_core::logs::LogQueryable;
use oxeye_core::{
    Exemplar, Label, Labels, Matcher, MetricMetadata, MetricsQuerier, MetricsQueryable, Sample,
    SelectHints, Series, StoreError, TenantId, VecSeriesData,
};

use super::range;
use crate::ast::{Grouping, RangeOp, SampleExpr, VectorOp, format_number, quote};
use crate::{EngineLimits, LogqlError, LogqlValue, Output, Query, QueryKind, QueryStats};

const LEAF_PREFIX: &str = "__logql_leaf_";

/// Runs a metric query.
pub(crate) fn run(
    store: &dyn LogQueryable,
    limits: &EngineLimits,
    tenant: &TenantId,
    expr: &SampleExpr,
    q: &Query,
) -> Result<Output, LogqlError> {
    let end_ms = q.end_ns.div_euclid(1_000_000);
    let (start_ms, step_ms) = match q.kind {
        QueryKind::Instant => (end_ms, 0),
        QueryKind::Range => {
            if q.step_ns <= 0 {
                return Err(LogqlError::BadQuery(
                    "zero or negative query resolution step widths are not accepted. \
                     Try a positive integer"
                        .into(),
                ));
            }
            (
                q.start_ns.div_euclid(1_000_000),
                (q.step_ns / 1_000_000).max(1),
            )
        }
    };
    let steps: Vec<i64> = if step_ms == 0 {
        vec![end_ms]
    } else {
        let n = (end_ms - start_ms) / step_ms + 1;
        if n > 11_000 {
            return Err(LogqlError::BadQuery(
                "exceeded maximum resolution of 11,000 points per timeseries. \
                 Try decreasing the query resolution (?step=XX)"
                    .into(),
            ));
        }
        (0..n).map(|i| start_ms + i * step_ms).collect()
    };
    let mut stats = QueryStats::default();
    if let SampleExpr::Range(agg) = expr {
        let series = range::eval(
            store,
            limits,
            tenant,
            agg,
            agg.grouping.as_ref(),
            &steps,
            &mut stats,
        )?;
        let value = match q.kind {
            QueryKind::Instant => oxeye_promql::Value::Vector(
                series
                    .into_iter()
                    .filter_map(|(l, s)| s.last().map(|x| (l, x.t, x.v)))
                    .collect(),
            ),
            QueryKind::Range => oxeye_promql::Value::Matrix(series),
        };
        check_series(&value, limits)?;
        return Ok(Output {
            value: LogqlValue::Metric(value),
            stats,
        });
    }
    let mut leaves: Vec<(Labels, Vec<Sample>)> = Vec::new();
    let mut text = String::new();
    let mut n = 0usize;
    write_promql(
        expr,
        None,
        &mut |agg, grouping| {
            let series = range::eval(store, limits, tenant, agg, grouping, &steps, &mut stats)?;
            let name = format!("{LEAF_PREFIX}{n}");
            n += 1;
            for (labels, samples) in series {
                let mut l: Vec<Label> = labels.into_vec();
                l.push(Label::new("__name__", name.clone()));
                leaves.push((Labels::new(l), samples));
            }
            Ok(name)
        },
        &mut text,
    )?;
    let engine = oxeye_promql::Engine {
        lookback_ms: 1,
        ..oxeye_promql::Engine::default()
    };
    let leaf_store = LeafStore {
        series: leaves
            .into_iter()
            .map(|(l, s)| Series {
                labels: l,
                data: Arc::new(VecSeriesData(s)),
            })
            .collect(),
    };
    let res = match q.kind {
        QueryKind::Instant => engine.instant(&leaf_store, tenant, &text, end_ms),
        QueryKind::Range => engine.range(&leaf_store, tenant, &text, start_ms, end_ms, step_ms),
    }
    .map_err(|e| LogqlError::BadQuery(e.to_string().replace(LEAF_PREFIX, "leaf")))?;
    let value = strip_leaf_names(res.value);
    check_series(&value, limits)?;
    Ok(Output {
        value: LogqlValue::Metric(value),
        stats,
    })
}

/// Holds a result to `max_series`.
fn check_series(v: &oxeye_promql::Value, limits: &EngineLimits) -> Result<(), LogqlError> {
    let n = match v {
        oxeye_promql::Value::Vector(v) => v.len(),
        oxeye_promql::Value::Matrix(m) => m.len(),
        _ => 0,
    };
    if n > limits.max_series {
        return Err(LogqlError::BadQuery(format!(
            "maximum of series ({}) reached for a single query",
            limits.max_series
        )));
    }
    Ok(())
}

fn strip(l: Labels) -> Labels {
    if l.get("__name__")
        .is_some_and(|n| n.starts_with(LEAF_PREFIX))
    {
        let mut b = l.builder();
        b.del("__name__");
        b.build()
    } else {
        l
    }
}

fn strip_leaf_names(v: oxeye_promql::Value) -> oxeye_promql::Value {
    use oxeye_promql::Value;
    match v {
        Value::Vector(v) => {
            Value::Vector(v.into_iter().map(|(l, t, x)| (strip(l), t, x)).collect())
        }
        Value::Matrix(m) => Value::Matrix(m.into_iter().map(|(l, s)| (strip(l), s)).collect()),
        other => other,
    }
}

type LeafFn<'a> =
    dyn FnMut(&crate::ast::RangeAgg, Option<&Grouping>) -> Result<String, LogqlError> + 'a;

/// Writes `e` as PromQL, replacing each range aggregation by the metric name `leaf`
/// returns for it. `pushed` is a `sum by` grouping that may be pushed into a leaf.
fn write_promql(
    e: &SampleExpr,
    pushed: Option<&Grouping>,
    leaf: &mut LeafFn<'_>,
    out: &mut String,
) -> Result<(), LogqlError> {
    match e {
        SampleExpr::Range(agg) => {
            let additive = matches!(
                agg.op,
                RangeOp::Count | RangeOp::Rate | RangeOp::Bytes | RangeOp::BytesRate | RangeOp::Sum
            );
            let grouping = match (&agg.grouping, pushed) {
                (Some(g), _) => Some(g),
                (None, Some(p)) if additive => Some(p),
                _ => None,
            };
            out.push_str(&leaf(agg, grouping)?);
        }
        SampleExpr::Vector {
            op,
            grouping,
            param,
            inner,
        } => {
            out.push_str(op.name());
            if let Some(g) = grouping {
                out.push_str(if g.without { " without (" } else { " by (" });
                out.push_str(&g.labels.join(", "));
                out.push_str(") ");
            }
            out.push('(');
            if let Some(p) = param {
                out.push_str(&format_number(*p));
                out.push_str(", ");
            }
            // `sum` of an additive range aggregation equals the aggregation computed on
            // the groups directly: `sum(x)` is `by ()`.
            let everything = Grouping {
                without: false,
                labels: Vec::new(),
            };
            let push = match (op, grouping) {
                (VectorOp::Sum, Some(g)) => Some(g),
                (VectorOp::Sum, None) => Some(&everything),
                _ => None,
            };
            write_promql(inner, push, leaf, out)?;
            out.push(')');
        }
        SampleExpr::Binary {
            op,
            modifiers,
            lhs,
            rhs,
        } => {
            out.push('(');
            write_promql(lhs, None, leaf, out)?;
            out.push(' ');
            out.push_str(op.as_str());
            if modifiers.return_bool {
                out.push_str(" bool");
            }
            if let Some((on, labels)) = &modifiers.matching {
                out.push_str(if *on { " on(" } else { " ignoring(" });
                out.push_str(&labels.join(", "));
                out.push(')');
            }
            if let Some((left, labels)) = &modifiers.group {
                out.push_str(if *left {
                    " group_left("
                } else {
                    " group_right("
                });
                out.push_str(&labels.join(", "));
                out.push(')');
            }
            out.push(' ');
            write_promql(rhs, None, leaf, out)?;
            out.push(')');
        }
        SampleExpr::Literal(v) => out.push_str(&format_number(*v)),
        SampleExpr::VectorFn(v) => {
            out.push_str("vector(");
            out.push_str(&format_number(*v));
            out.push(')');
        }
        SampleExpr::LabelReplace {
            inner,
            dst,
            replacement,
            src,
            regex,
        } => {
            out.push_str("label_replace(");
            write_promql(inner, None, leaf, out)?;
            for s in [dst, replacement, src, regex] {
                out.push_str(", ");
                out.push_str(&quote(s));
            }
            out.push(')');
        }
    }
    Ok(())
}

/// The computed leaves, as a metrics store for the PromQL engine.
struct LeafStore {
    series: Vec<Series>,
}

struct LeafQuerier {
    series: Vec<Series>,
}

impl MetricsQueryable for LeafStore {
    fn querier(
        &self,
        _tenant: &TenantId,
        _mint: i64,
        _maxt: i64,
    ) -> Result<Box<dyn MetricsQuerier>, StoreError> {
        Ok(Box::new(LeafQuerier {
            series: self.series.clone(),
        }))
    }
}

fn matches(labels: &Labels, matchers: &[Matcher]) -> bool {
    matchers
        .iter()
        .all(|m| m.matches(labels.get(&m.name).unwrap_or("")))
}

impl MetricsQuerier for LeafQuerier {
    fn select(
        &self,
        matchers: &[Matcher],
        _hints: &SelectHints,
    ) -> Result<Vec<Series>, StoreError> {
        let mut out: Vec<Series> = self
            .series
            .iter()
            .filter(|s| matches(&s.labels, matchers))
            .filter(|s| {
                let mut any = false;
                let _ = s.data.for_each_chunk(&mut |c| {
                    any = !c.is_empty();
                    ControlFlow::Break(())
                });
                any
            })
            .cloned()
            .collect();
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(out)
    }

    fn label_names(&self, _matchers: &[Matcher]) -> Result<Vec<String>, StoreError> {
        Ok(Vec::new())
    }

    fn label_values(&self, _name: &str, _matchers: &[Matcher]) -> Result<Vec<String>, StoreError> {
        Ok(Vec::new())
    }

    fn exemplars(&self, _matchers: &[Matcher]) -> Result<Vec<(Labels, Vec<Exemplar>)>, StoreError> {
        Ok(Vec::new())
    }

    fn metadata(&self, _metric: Option<&str>) -> Result<Vec<MetricMetadata>, StoreError> {
        Ok(Vec::new())
    }
}
