//! SLOs in Sloth's `prometheus/v1` spec and the rules Sloth generates from them.
//!
//! A spec names a `service`, `labels` and `slos[]`, each with an `objective`, an SLI
//! (`events.error_query`/`total_query` with `{{.window}}`, or `raw.error_ratio_query`) and
//! `alerting` (`page_alert`, `ticket_alert`). [`spec::load`] parses and validates it;
//! [`generate`] yields Sloth's groups per SLO ([`rules`]): SLI recording rules over
//! eight windows, metadata recording rules, and the multi-window multi-burn-rate alerts.
//! [`SloRegistry`] keeps the loaded SLOs and reads their current state back from the
//! recorded series for `/api/v1/slos`.

mod registry;
pub mod rules;
pub mod spec;

pub use registry::{BurnRates, SloAlertState, SloRegistry, SloReport};

use crate::RulesError;
use crate::file::RuleFile;

/// Parses a spec file and generates its rule file.
pub fn generate(spec_yaml: &str) -> Result<RuleFile, RulesError> {
    let slos = spec::load(spec_yaml)?;
    let mut groups = Vec::with_capacity(slos.len() * 3);
    for slo in &slos {
        groups.extend(rules::groups(slo)?);
    }
    Ok(RuleFile { groups })
}
