//! An in-memory [`MetricsQueryable`] holding float series, as loaded by a test script.

use std::collections::BTreeMap;
use std::sync::Arc;

use oxeye_core::{
    Exemplar, Labels, Matcher, MetricMetadata, MetricsQuerier, MetricsQueryable, Sample,
    SelectHints, Series, StoreError, TenantId, VecSeriesData,
};

/// Float series in memory, keyed by labels; every tenant sees the same data.
#[derive(Debug, Default, Clone)]
pub struct MemStore {
    series: BTreeMap<Labels, Vec<Sample>>,
}

impl MemStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds samples to a series; samples at an existing timestamp replace the old value,
    /// and the series stays sorted by time.
    pub fn add(&mut self, labels: Labels, samples: impl IntoIterator<Item = Sample>) {
        let entry = self.series.entry(labels).or_default();
        for s in samples {
            match entry.binary_search_by_key(&s.t, |x| x.t) {
                Ok(i) => {
                    if let Some(slot) = entry.get_mut(i) {
                        *slot = s;
                    }
                }
                Err(i) => entry.insert(i, s),
            }
        }
    }

    /// Drops all series.
    pub fn clear(&mut self) {
        self.series.clear();
    }

    /// Number of series held.
    pub fn len(&self) -> usize {
        self.series.len()
    }

    /// Whether no series is held.
    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }
}

fn matches_all(labels: &Labels, matchers: &[Matcher]) -> bool {
    matchers
        .iter()
        .all(|m| m.matches(labels.get(&m.name).unwrap_or("")))
}

impl MetricsQueryable for MemStore {
    fn querier(
        &self,
        _tenant: &TenantId,
        mint: i64,
        maxt: i64,
    ) -> Result<Box<dyn MetricsQuerier>, StoreError> {
        let series = self
            .series
            .iter()
            .filter_map(|(l, s)| {
                let from = s.partition_point(|x| x.t < mint);
                let to = s.partition_point(|x| x.t <= maxt);
                let window = s.get(from..to).unwrap_or(&[]);
                (!window.is_empty()).then(|| (l.clone(), window.to_vec()))
            })
            .collect();
        Ok(Box::new(MemQuerier { series }))
    }
}

/// The series of a [`MemStore`] that have samples within the querier's time range.
struct MemQuerier {
    series: Vec<(Labels, Vec<Sample>)>,
}

impl MetricsQuerier for MemQuerier {
    fn select(
        &self,
        matchers: &[Matcher],
        _hints: &SelectHints,
    ) -> Result<Vec<Series>, StoreError> {
        Ok(self
            .series
            .iter()
            .filter(|(l, _)| matches_all(l, matchers))
            .map(|(l, s)| Series {
                labels: l.clone(),
                data: Arc::new(VecSeriesData(s.clone())),
            })
            .collect())
    }

    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>, StoreError> {
        let mut names: Vec<String> = self
            .series
            .iter()
            .filter(|(l, _)| matches_all(l, matchers))
            .flat_map(|(l, _)| l.iter().map(|x| x.name.to_string()))
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }

    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>, StoreError> {
        let mut values: Vec<String> = self
            .series
            .iter()
            .filter(|(l, _)| matches_all(l, matchers))
            .filter_map(|(l, _)| l.get(name).map(str::to_string))
            .collect();
        values.sort();
        values.dedup();
        Ok(values)
    }

    fn exemplars(&self, _matchers: &[Matcher]) -> Result<Vec<(Labels, Vec<Exemplar>)>, StoreError> {
        Ok(Vec::new())
    }

    fn metadata(&self, _metric: Option<&str>) -> Result<Vec<MetricMetadata>, StoreError> {
        Ok(Vec::new())
    }
}
