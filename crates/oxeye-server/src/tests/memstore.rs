//! A test-only metrics store: series per tenant in a map, samples in vectors.

use std::collections::BTreeMap;
use std::sync::Arc;

use oxeye_core::{
    AppendStats, Exemplar, Labels, Matcher, MetricMetadata, MetricsAppender, MetricsQuerier,
    MetricsQueryable, Sample, SelectHints, Series, StoreError, TenantId, VecSeriesData, WriteBatch,
};
use parking_lot::Mutex;

type Data = BTreeMap<TenantId, BTreeMap<Labels, Vec<Sample>>>;

#[derive(Default)]
pub(crate) struct MemStore {
    data: Mutex<Data>,
    metadata: Mutex<Vec<(TenantId, MetricMetadata)>>,
    exemplars: Mutex<BTreeMap<TenantId, BTreeMap<Labels, Vec<Exemplar>>>>,
    /// When set, appends fail with this error.
    pub(crate) fail_with: Mutex<Option<fn() -> StoreError>>,
    pub(crate) flushes: std::sync::atomic::AtomicUsize,
    /// Appends so far: every append moves the settled generation.
    appends: std::sync::atomic::AtomicU64,
}

impl MemStore {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub(crate) fn samples(&self, tenant: &str, labels: &Labels) -> Vec<Sample> {
        let data = self.data.lock();
        let Ok(t) = TenantId::new(tenant) else {
            return Vec::new();
        };
        data.get(&t)
            .and_then(|m| m.get(labels))
            .cloned()
            .unwrap_or_default()
    }

    pub(crate) fn series_count(&self, tenant: &str) -> usize {
        let Ok(t) = TenantId::new(tenant) else {
            return 0;
        };
        self.data.lock().get(&t).map_or(0, |m| m.len())
    }
}

impl MetricsAppender for MemStore {
    fn append(&self, tenant: &TenantId, batch: WriteBatch) -> Result<AppendStats, StoreError> {
        if let Some(f) = *self.fail_with.lock() {
            return Err(f());
        }
        self.metadata
            .lock()
            .extend(batch.metadata.iter().map(|m| (tenant.clone(), m.clone())));
        {
            let mut ex = self.exemplars.lock();
            let tex = ex.entry(tenant.clone()).or_default();
            for s in batch.series.iter().filter(|s| !s.exemplars.is_empty()) {
                tex.entry(s.labels.clone())
                    .or_default()
                    .extend(s.exemplars.iter().cloned());
            }
        }
        let mut data = self.data.lock();
        self.appends
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let tdata = data.entry(tenant.clone()).or_default();
        let mut stats = AppendStats::default();
        for s in batch.series {
            let entry = tdata.entry(s.labels).or_insert_with(|| {
                stats.series_created += 1;
                Vec::new()
            });
            stats.samples += s.samples.len();
            entry.extend(s.samples);
            entry.sort_by_key(|s| s.t);
            entry.dedup_by_key(|s| s.t);
        }
        Ok(stats)
    }
}

impl MetricsQueryable for MemStore {
    /// Everything stored is settled; every append starts a new generation.
    fn settled(&self, tenant: &TenantId) -> Option<oxeye_core::Settled> {
        let data = self.data.lock();
        let newest = data
            .get(tenant)?
            .values()
            .filter_map(|s| s.last().map(|x| x.t))
            .max()?;
        Some(oxeye_core::Settled {
            generation: self.appends.load(std::sync::atomic::Ordering::SeqCst),
            before_ms: newest,
        })
    }

    fn querier(
        &self,
        tenant: &TenantId,
        mint: i64,
        maxt: i64,
    ) -> Result<Box<dyn MetricsQuerier>, StoreError> {
        let data = self.data.lock();
        let series = data
            .get(tenant)
            .map(|m| {
                m.iter()
                    .filter_map(|(l, s)| {
                        let s: Vec<Sample> = s
                            .iter()
                            .filter(|x| x.t >= mint && x.t <= maxt)
                            .copied()
                            .collect();
                        (!s.is_empty()).then(|| (l.clone(), s))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let metadata = self
            .metadata
            .lock()
            .iter()
            .filter(|(t, _)| t == tenant)
            .map(|(_, m)| m.clone())
            .collect();
        let exemplars = self
            .exemplars
            .lock()
            .get(tenant)
            .map(|m| {
                m.iter()
                    .map(|(l, ex)| {
                        let kept = ex.iter().filter(|e| e.t >= mint && e.t <= maxt).cloned();
                        (l.clone(), kept.collect::<Vec<_>>())
                    })
                    .filter(|(_, ex)| !ex.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        Ok(Box::new(MemQuerier {
            series,
            metadata,
            exemplars,
        }))
    }
}

struct MemQuerier {
    series: Vec<(Labels, Vec<Sample>)>,
    metadata: Vec<MetricMetadata>,
    exemplars: Vec<(Labels, Vec<Exemplar>)>,
}

impl MemQuerier {
    fn matching<'a>(
        &'a self,
        ms: &'a [Matcher],
    ) -> impl Iterator<Item = &'a (Labels, Vec<Sample>)> {
        self.series
            .iter()
            .filter(move |(l, _)| ms.iter().all(|m| m.matches(l.get(&m.name).unwrap_or(""))))
    }
}

impl MetricsQuerier for MemQuerier {
    fn select(&self, ms: &[Matcher], hints: &SelectHints) -> Result<Vec<Series>, StoreError> {
        let mut out: Vec<Series> = self
            .matching(ms)
            .map(|(l, s)| Series {
                labels: l.clone(),
                data: Arc::new(VecSeriesData(s.clone())),
            })
            .collect();
        if let Some(n) = hints.limit {
            out.truncate(n);
        }
        Ok(out)
    }

    fn label_names(&self, ms: &[Matcher]) -> Result<Vec<String>, StoreError> {
        let mut names: Vec<String> = self
            .matching(ms)
            .flat_map(|(l, _)| l.iter().map(|l| l.name.clone()))
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }

    fn label_values(&self, name: &str, ms: &[Matcher]) -> Result<Vec<String>, StoreError> {
        let mut values: Vec<String> = self
            .matching(ms)
            .filter_map(|(l, _)| l.get(name).map(str::to_string))
            .collect();
        values.sort();
        values.dedup();
        Ok(values)
    }

    fn exemplars(&self, ms: &[Matcher]) -> Result<Vec<(Labels, Vec<Exemplar>)>, StoreError> {
        Ok(self
            .exemplars
            .iter()
            .filter(|(l, _)| ms.iter().all(|m| m.matches(l.get(&m.name).unwrap_or(""))))
            .cloned()
            .collect())
    }

    fn metadata(&self, metric: Option<&str>) -> Result<Vec<MetricMetadata>, StoreError> {
        Ok(self
            .metadata
            .iter()
            .filter(|m| metric.is_none_or(|n| m.metric_family == n))
            .cloned()
            .collect())
    }
}
