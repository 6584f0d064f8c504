//! SLOs in Sloth's `prometheus/v1` spec and the rules Sloth generates from them.
//!
//! A spec names a `service`, `labels` and `slos[]`, each with an `objective`, an SLI
//! (`events.error_query`/`total_query` with `{{.window}}`, or `raw.error_ratio_query`) and
//! `alerting` (`page_alert`, `ticket_alert`). [`generate`] yields Sloth's three groups per
//! SLO: SLI recording rules over eight windows, metadata recording rules, and the
//! multi-window multi-burn-rate alerts.

use crate::RulesError;
use crate::file::RuleFile;

/// Parses a spec file and generates its rule file.
pub fn generate(spec_yaml: &str) -> Result<RuleFile, RulesError> {
    let _ = spec_yaml;
    Err(RulesError::Invalid(
        "slo generation is not built yet".into(),
    ))
}

/// One SLO's state as `/api/v1/slos` reports it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SloReport {
    /// `sloth_service`.
    pub service: String,
    /// `sloth_slo`.
    pub slo: String,
    /// `sloth_id`.
    pub id: String,
    /// The objective in percent, e.g. 99.9.
    pub objective: f64,
}

/// The loaded SLO specs and the query function their state is read with.
#[derive(Default)]
pub struct SloRegistry {}

impl std::fmt::Debug for SloRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SloRegistry").finish_non_exhaustive()
    }
}

impl SloRegistry {
    /// The SLOs of `specs` (file name, spec text), their state read through `query`.
    pub fn new(
        specs: Vec<(String, String)>,
        query: std::sync::Arc<dyn crate::query::QueryFunc>,
    ) -> Result<Self, RulesError> {
        let _ = (specs, query);
        Ok(Self {})
    }

    /// Every SLO's state for `tenant` at `t_ms`.
    pub fn report(&self, tenant: &oxeye_core::TenantId, t_ms: i64) -> Vec<SloReport> {
        let _ = (tenant, t_ms);
        Vec::new()
    }
}
