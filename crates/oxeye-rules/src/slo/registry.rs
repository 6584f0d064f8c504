//! The loaded SLOs and their current state, read back from the series the generated
//! rules record (`slo:sli_error:ratio_rate<w>`, `slo:period_error_budget_remaining:ratio`,
//! the burn rate ratios) and from `ALERTS`, through the rules' query function.
//!
//! A series the rules have not recorded yet (no traffic, a fresh start) is reported as
//! `null`, never as zero: an SLO without data is not an SLO that is met.

use std::sync::Arc;

use oxeye_core::TenantId;
use serde::Serialize;

use super::rules::{PERIOD, WINDOWS, sli_metric};
use super::spec::{self, Slo};
use crate::RulesError;
use crate::query::QueryFunc;

/// Burn rates per window: the window's error ratio divided by the error budget
/// (1: the budget lasts exactly the period).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct BurnRates {
    /// Over 5 minutes.
    #[serde(rename = "5m")]
    pub m5: Option<f64>,
    /// Over 30 minutes.
    #[serde(rename = "30m")]
    pub m30: Option<f64>,
    /// Over 1 hour.
    #[serde(rename = "1h")]
    pub h1: Option<f64>,
    /// Over 2 hours.
    #[serde(rename = "2h")]
    pub h2: Option<f64>,
    /// Over 6 hours.
    #[serde(rename = "6h")]
    pub h6: Option<f64>,
    /// Over 1 day.
    #[serde(rename = "1d")]
    pub d1: Option<f64>,
    /// Over 3 days.
    #[serde(rename = "3d")]
    pub d3: Option<f64>,
    /// Over the 30-day period.
    #[serde(rename = "30d")]
    pub d30: Option<f64>,
}

impl BurnRates {
    fn slot(&mut self, window: &str) -> Option<&mut Option<f64>> {
        Some(match window {
            "5m" => &mut self.m5,
            "30m" => &mut self.m30,
            "1h" => &mut self.h1,
            "2h" => &mut self.h2,
            "6h" => &mut self.h6,
            "1d" => &mut self.d1,
            "3d" => &mut self.d3,
            "30d" => &mut self.d30,
            _ => return None,
        })
    }
}

/// One active (pending or firing) alert of an SLO, from `ALERTS`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SloAlertState {
    /// `alertname`.
    pub name: String,
    /// `sloth_severity`: `page` or `ticket`.
    pub severity: String,
    /// `alertstate`: `pending` or `firing`.
    pub state: String,
}

/// One SLO's state as `/api/v1/slos` reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SloReport {
    /// `sloth_service`.
    pub service: String,
    /// `sloth_slo`.
    pub slo: String,
    /// `sloth_id`.
    pub id: String,
    /// The objective in percent, e.g. 99.9.
    pub objective: f64,
    /// The spec's description.
    pub description: String,
    /// The SLI now: `1 - slo:sli_error:ratio_rate5m`; `null` without data.
    pub sli: Option<f64>,
    /// `slo:period_error_budget_remaining:ratio` (1: untouched, 0: spent, below 0:
    /// overspent); `null` without data.
    pub error_budget_remaining: Option<f64>,
    /// Burn rate per window.
    pub burn_rates: BurnRates,
    /// `slo:current_burn_rate:ratio`.
    pub current_burn_rate: Option<f64>,
    /// `slo:period_burn_rate:ratio`.
    pub period_burn_rate: Option<f64>,
    /// The SLO's pending and firing alerts.
    pub alerts: Vec<SloAlertState>,
}

/// The loaded SLO specs and the query function their state is read with.
#[derive(Default)]
pub struct SloRegistry {
    slos: parking_lot::RwLock<Vec<Slo>>,
    query: Option<Arc<dyn QueryFunc>>,
}

impl std::fmt::Debug for SloRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SloRegistry")
            .field("slos", &self.slos.read().len())
            .finish_non_exhaustive()
    }
}

impl SloRegistry {
    /// The SLOs of `specs` (file name, spec text), their state read through `query`.
    pub fn new(
        specs: Vec<(String, String)>,
        query: Arc<dyn QueryFunc>,
    ) -> Result<Self, RulesError> {
        Ok(Self {
            slos: parking_lot::RwLock::new(load_all(specs)?),
            query: Some(query),
        })
    }

    /// Replaces the SLOs with those of `specs` (reload); nothing changes when one is
    /// invalid.
    pub fn replace(&self, specs: Vec<(String, String)>) -> Result<(), RulesError> {
        let slos = load_all(specs)?;
        *self.slos.write() = slos;
        Ok(())
    }

    /// The loaded SLOs, in file order.
    pub fn slos(&self) -> Vec<Slo> {
        self.slos.read().clone()
    }

    /// Every SLO's state for `tenant` at `t_ms`. A query that fails is logged and its
    /// figure reported as unknown.
    pub fn report(&self, tenant: &TenantId, t_ms: i64) -> Vec<SloReport> {
        let Some(query) = &self.query else {
            return Vec::new();
        };
        self.slos()
            .iter()
            .map(|slo| report_one(query.as_ref(), slo, tenant, t_ms))
            .collect()
    }
}

/// Parses every spec; SLO ids must be unique across files.
fn load_all(specs: Vec<(String, String)>) -> Result<Vec<Slo>, RulesError> {
    let mut slos: Vec<Slo> = Vec::new();
    for (file, text) in specs {
        let loaded = spec::load(&text).map_err(|e| RulesError::Invalid(format!("{file}: {e}")))?;
        for slo in loaded {
            if slos.iter().any(|s| s.id == slo.id) {
                return Err(RulesError::Invalid(format!(
                    "{file}: slo {:?} is already defined by another SLO file",
                    slo.id
                )));
            }
            slos.push(slo);
        }
    }
    Ok(slos)
}

/// The one value of `metric{sloth_id="…"}`; the largest when a spec's query splits the
/// SLO into several series. Non-finite values count as unknown.
fn value(
    q: &dyn QueryFunc,
    tenant: &TenantId,
    metric: &str,
    id_sel: &str,
    t_ms: i64,
) -> Option<f64> {
    let expr = format!("{metric}{id_sel}");
    match q.instant(tenant, &expr, t_ms) {
        Ok(v) => v
            .iter()
            .map(|(_, x)| *x)
            .filter(|x| x.is_finite())
            .reduce(f64::max),
        Err(e) => {
            tracing::warn!(%tenant, expr = %expr, error = %e, "slo state query failed");
            None
        }
    }
}

fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

fn report_one(q: &dyn QueryFunc, slo: &Slo, tenant: &TenantId, t_ms: i64) -> SloReport {
    let id_sel = format!("{{sloth_id={:?}}}", slo.id);
    let budget = (100.0 - slo.objective) / 100.0;
    let mut burn_rates = BurnRates::default();
    let mut sli = None;
    for w in WINDOWS.iter().copied().chain([PERIOD]) {
        let ratio = value(q, tenant, &sli_metric(w), &id_sel, t_ms);
        if w == "5m" {
            sli = ratio.and_then(|r| finite(1.0 - r));
        }
        if let Some(slot) = burn_rates.slot(w) {
            *slot = ratio.and_then(|r| finite(r / budget));
        }
    }
    let alerts = match q.instant(tenant, &format!("ALERTS{id_sel}"), t_ms) {
        Ok(v) => {
            let mut a: Vec<SloAlertState> = v
                .iter()
                .map(|(l, _)| SloAlertState {
                    name: l.get("alertname").unwrap_or_default().to_string(),
                    severity: l.get("sloth_severity").unwrap_or_default().to_string(),
                    state: l.get("alertstate").unwrap_or_default().to_string(),
                })
                .collect();
            a.sort_by(|x, y| {
                (&x.severity, &x.name, &x.state).cmp(&(&y.severity, &y.name, &y.state))
            });
            a.dedup();
            a
        }
        Err(e) => {
            tracing::warn!(%tenant, slo = %slo.id, error = %e, "slo alerts query failed");
            Vec::new()
        }
    };
    SloReport {
        service: slo.service.clone(),
        slo: slo.name.clone(),
        id: slo.id.clone(),
        objective: slo.objective,
        description: slo.description.clone(),
        sli,
        error_budget_remaining: value(
            q,
            tenant,
            "slo:period_error_budget_remaining:ratio",
            &id_sel,
            t_ms,
        ),
        burn_rates,
        current_burn_rate: value(q, tenant, "slo:current_burn_rate:ratio", &id_sel, t_ms),
        period_burn_rate: value(q, tenant, "slo:period_burn_rate:ratio", &id_sel, t_ms),
        alerts,
    }
}
