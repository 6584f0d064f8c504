//! Engine tests over an in-memory store; expected values worked out from Prometheus
//! semantics by hand.

use std::sync::Arc;

use oxeye_core::{
    Exemplar, Labels, Matcher, MetricMetadata, MetricsQuerier, MetricsQueryable, Sample,
    SelectHints, Series, StoreError, TenantId, VecSeriesData, stale_nan,
};
use oxeye_promql::{Engine, PromqlError, Value};

/// A test-only store: series held in a Vec.
#[derive(Default)]
pub struct VecStore(pub Vec<(Labels, Vec<Sample>)>);

struct VecQuerier {
    series: Vec<(Labels, Vec<Sample>)>,
}

impl MetricsQueryable for VecStore {
    fn querier(
        &self,
        _tenant: &TenantId,
        mint: i64,
        maxt: i64,
    ) -> Result<Box<dyn MetricsQuerier>, StoreError> {
        let mut series: Vec<(Labels, Vec<Sample>)> = self
            .0
            .iter()
            .map(|(l, s)| {
                let s = s
                    .iter()
                    .filter(|x| x.t >= mint && x.t <= maxt)
                    .copied()
                    .collect();
                (l.clone(), s)
            })
            .filter(|(_, s): &(Labels, Vec<Sample>)| !s.is_empty())
            .collect();
        series.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(Box::new(VecQuerier { series }))
    }
}

impl MetricsQuerier for VecQuerier {
    fn select(
        &self,
        matchers: &[Matcher],
        _hints: &SelectHints,
    ) -> Result<Vec<Series>, StoreError> {
        Ok(self
            .series
            .iter()
            .filter(|(l, _)| {
                matchers
                    .iter()
                    .all(|m| m.matches(l.get(&m.name).unwrap_or("")))
            })
            .map(|(l, s)| Series {
                labels: l.clone(),
                data: Arc::new(VecSeriesData(s.clone())),
            })
            .collect())
    }
    fn label_names(&self, _: &[Matcher]) -> Result<Vec<String>, StoreError> {
        Ok(Vec::new())
    }
    fn label_values(&self, _: &str, _: &[Matcher]) -> Result<Vec<String>, StoreError> {
        Ok(Vec::new())
    }
    fn exemplars(&self, _: &[Matcher]) -> Result<Vec<(Labels, Vec<Exemplar>)>, StoreError> {
        Ok(Vec::new())
    }
    fn metadata(&self, _: Option<&str>) -> Result<Vec<MetricMetadata>, StoreError> {
        Ok(Vec::new())
    }
}

fn l(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs)
}

fn s(t_sec: i64, v: f64) -> Sample {
    Sample::new(t_sec * 1000, v)
}

/// http_requests: api/a 0,10,...,100 and api/b 0,20,...,200 every 60s from 0 to 600s,
/// web/c constant 7; plus small series for staleness and rate cases.
fn store() -> VecStore {
    let every = |f: &dyn Fn(i64) -> f64| (0..=10).map(|i| s(i * 60, f(i))).collect::<Vec<_>>();
    VecStore(vec![
        (
            l(&[
                ("__name__", "http_requests"),
                ("job", "api"),
                ("instance", "a"),
            ]),
            every(&|i| (i * 10) as f64),
        ),
        (
            l(&[
                ("__name__", "http_requests"),
                ("job", "api"),
                ("instance", "b"),
            ]),
            every(&|i| (i * 20) as f64),
        ),
        (
            l(&[
                ("__name__", "http_requests"),
                ("job", "web"),
                ("instance", "c"),
            ]),
            every(&|_| 7.0),
        ),
        (
            l(&[("__name__", "stale_metric")]),
            vec![s(0, 1.0), s(60, 2.0), s(120, stale_nan())],
        ),
        (
            l(&[("__name__", "sparse")]),
            vec![s(300, 100.0), s(360, 110.0), s(420, 120.0)],
        ),
        (
            l(&[("__name__", "resets")]),
            vec![s(0, 5.0), s(60, 10.0), s(120, 2.0), s(180, 6.0)],
        ),
        (
            l(&[("__name__", "from_one")]),
            vec![s(60, 1.0), s(120, 11.0), s(180, 21.0)],
        ),
        (l(&[("__name__", "gauge"), ("k", "neg")]), vec![s(0, -2.5)]),
        (l(&[("__name__", "gauge"), ("k", "pos")]), vec![s(0, 16.0)]),
    ])
}

fn tenant() -> TenantId {
    TenantId::new("t1").unwrap()
}

fn instant(expr: &str, t_sec: i64) -> Result<Value, PromqlError> {
    Engine::default()
        .instant(&store(), &tenant(), expr, t_sec * 1000)
        .map(|o| o.value)
}

/// The instant vector result, as (labels, value) sorted by labels.
fn vector(expr: &str, t_sec: i64) -> Vec<(Labels, f64)> {
    match instant(expr, t_sec) {
        Ok(Value::Vector(v)) => {
            for (_, t, _) in &v {
                assert_eq!(
                    *t,
                    t_sec * 1000,
                    "{expr}: vector timestamps are the eval time"
                );
            }
            let mut out: Vec<(Labels, f64)> = v.into_iter().map(|(l, _, v)| (l, v)).collect();
            out.sort_by(|a, b| a.0.cmp(&b.0));
            out
        }
        other => panic!("{expr}: expected a vector, got {other:?}"),
    }
}

fn one(expr: &str, t_sec: i64) -> f64 {
    let v = vector(expr, t_sec);
    assert_eq!(v.len(), 1, "{expr}: expected one element, got {v:?}");
    v[0].1
}

fn scalar(expr: &str, t_sec: i64) -> f64 {
    match instant(expr, t_sec) {
        Ok(Value::Scalar(t, v)) => {
            assert_eq!(t, t_sec * 1000);
            v
        }
        other => panic!("{expr}: expected a scalar, got {other:?}"),
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(1.0)
}

macro_rules! assert_close {
    ($a:expr, $b:expr) => {{
        let (a, b) = ($a, $b);
        assert!(close(a, b), "{a} != {b}");
    }};
}

mod conformance;
mod engine;
mod functions;
