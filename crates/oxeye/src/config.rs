//! The YAML configuration file.
//!
//! Sections: `global` and `scrape_configs` (Prometheus's names, parsed by `oxeye-scrape`),
//! `storage` (retention, WAL sync, block span), `tenancy` (default tenant, limits and
//! per-tenant overrides) and `limits` (request sizes). Unknown keys are errors, so typos
//! do not silently fall back to defaults. An absent file means all defaults, plus a job
//! scraping oxeye's own `/metrics` so a fresh start has data.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use oxeye_core::TenantId;
use oxeye_scrape::{GlobalConfig, PromDuration, ScrapeConfig, StaticConfig};
use oxeye_storage::wal::SyncPolicy;
use serde::Deserialize;

/// The whole file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Scrape defaults and external labels.
    #[serde(default)]
    pub global: GlobalConfig,
    /// Scrape jobs.
    #[serde(default)]
    pub scrape_configs: Vec<ScrapeConfig>,
    /// TSDB settings.
    #[serde(default)]
    pub storage: StorageConfig,
    /// Tenancy and per-tenant limits.
    #[serde(default)]
    pub tenancy: TenancyConfig,
    /// Request limits.
    #[serde(default)]
    pub limits: RequestLimitsConfig,
    /// Prometheus rule files (PromQL), globs relative to the config file's directory.
    #[serde(default)]
    pub rule_files: Vec<String>,
    /// Loki ruler rule files (LogQL), globs relative to the config file's directory.
    #[serde(default)]
    pub log_rule_files: Vec<String>,
    /// SLO specs in Sloth's `prometheus/v1` format, globs relative to the config file's
    /// directory; their generated rules are evaluated with the rule files.
    #[serde(default)]
    pub slo_files: Vec<String>,
    /// External Alertmanagers, as in Prometheus.
    #[serde(default)]
    pub alerting: oxeye_rules::notify::external::AlertingConfig,
    /// The built-in notifier.
    #[serde(default)]
    pub notifier: NotifierConfig,
}

/// `notifier:`: the built-in Alertmanager-compatible notifier.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifierConfig {
    /// An Alertmanager configuration file (route tree, receivers, inhibit rules, time
    /// intervals), relative to the config file's directory; absent: every alert is kept
    /// and shown but notified nowhere.
    pub config_file: Option<String>,
}

/// `storage:`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// How long data is kept (default 90d; the command-line flag wins).
    pub retention: Option<PromDuration>,
    /// Most bytes blocks may take, e.g. `50GB` (the command-line flag wins).
    pub retention_size: Option<String>,
    /// How far back out-of-order samples are accepted (default 0s: none).
    pub out_of_order_time_window: Option<PromDuration>,
    /// `always`, `never` or a fsync interval such as `1s` (the command-line flag wins).
    pub wal_sync: Option<String>,
    /// Span of head data cut into a block (default 2h).
    pub block_duration: Option<PromDuration>,
}

/// Limits applied to a tenant.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TenantLimitsConfig {
    /// Most series in the head (0: unlimited).
    pub max_active_series: Option<usize>,
    /// Sustained ingest rate (0: unlimited).
    pub max_samples_per_second: Option<f64>,
}

/// `tenancy:`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenancyConfig {
    /// Tenant of requests without `X-Scope-OrgID`.
    #[serde(default = "default_tenant")]
    pub default_tenant: String,
    /// Limits of every tenant without an override.
    #[serde(default)]
    pub limits: TenantLimitsConfig,
    /// Per-tenant overrides; unset fields fall back to `limits`.
    #[serde(default)]
    pub overrides: BTreeMap<String, TenantLimitsConfig>,
}

fn default_tenant() -> String {
    "anonymous".into()
}

impl Default for TenancyConfig {
    fn default() -> Self {
        Self {
            default_tenant: default_tenant(),
            limits: TenantLimitsConfig::default(),
            overrides: BTreeMap::new(),
        }
    }
}

/// `limits:`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestLimitsConfig {
    /// Largest request body, e.g. `64MB`.
    pub max_request_bytes: Option<String>,
    /// Largest body after decompression, e.g. `256MB`.
    pub max_decoded_bytes: Option<String>,
}

impl Config {
    /// Reads `path`; an absent file gives the defaults (with the self-scrape job).
    pub fn load(path: &Path, self_scrape_addr: &str) -> anyhow::Result<Config> {
        let mut cfg = match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(&text)
                .with_context(|| format!("invalid config file {}", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                tracing::info!(path = %path.display(), "no config file, using defaults");
                Self::defaults(self_scrape_addr)
            }
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("cannot read config file {}", path.display()));
            }
        };
        cfg.validate()?;
        Ok(cfg)
    }

    /// Parses YAML text without validating it.
    pub fn parse(text: &str) -> anyhow::Result<Config> {
        if text.trim().is_empty() {
            return Ok(Config::default());
        }
        Ok(serde_saphyr::from_str(text)?)
    }

    /// The configuration used without a file: scrape oxeye itself every 15s.
    pub fn defaults(self_scrape_addr: &str) -> Config {
        let mut cfg = Config::default();
        cfg.global.scrape_interval = PromDuration::from_secs(15);
        let mut job = ScrapeConfig::new("oxeye");
        job.static_configs = vec![StaticConfig {
            targets: vec![self_scrape_addr.to_string()],
            labels: BTreeMap::new(),
        }];
        cfg.scrape_configs = vec![job];
        cfg
    }

    /// Checks everything that can be checked without starting: scrape jobs, tenants,
    /// sizes, WAL policy.
    pub fn validate(&mut self) -> anyhow::Result<()> {
        oxeye_scrape::validate_configs(&self.global, &mut self.scrape_configs)?;
        TenantId::new(&self.tenancy.default_tenant)
            .with_context(|| "invalid tenancy.default_tenant".to_string())?;
        for name in self.tenancy.overrides.keys() {
            TenantId::new(name)
                .with_context(|| format!("invalid tenant {name:?} in tenancy.overrides"))?;
        }
        if let Some(s) = &self.storage.retention_size {
            parse_size(s).context("invalid storage.retention_size")?;
        }
        if let Some(s) = &self.storage.wal_sync {
            parse_wal_sync(s).context("invalid storage.wal_sync")?;
        }
        if let Some(s) = &self.limits.max_request_bytes {
            parse_size(s).context("invalid limits.max_request_bytes")?;
        }
        if let Some(s) = &self.limits.max_decoded_bytes {
            parse_size(s).context("invalid limits.max_decoded_bytes")?;
        }
        if let Some(d) = self.storage.block_duration
            && d.get() < Duration::from_secs(60)
        {
            bail!("storage.block_duration must be at least 1m, got {d}");
        }
        Ok(())
    }
}

/// Parses a byte size: a plain number of bytes or a number with `B`, `KB`, `MB`, `GB`,
/// `TB`, `PB` (powers of 1024 as in Prometheus; `KiB`... are accepted too).
pub fn parse_size(s: &str) -> anyhow::Result<u64> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .with_context(|| format!("size {s:?} does not start with a number"))?;
    let mult: u64 = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        "T" | "TB" | "TIB" => 1 << 40,
        "P" | "PB" | "PIB" => 1 << 50,
        other => bail!("unknown size unit {other:?} in {s:?}"),
    };
    let bytes = n * mult as f64;
    if !bytes.is_finite() || bytes < 1.0 || bytes > u64::MAX as f64 {
        bail!("size {s:?} is out of range");
    }
    Ok(bytes as u64)
}

/// Parses the size of a cache: a byte size as [`parse_size`] reads it, or zero (with or
/// without a unit) for no cache.
pub fn parse_cache_size(s: &str) -> anyhow::Result<u64> {
    let number = s.trim().trim_end_matches(|c: char| c.is_ascii_alphabetic());
    if number.trim().parse::<f64>() == Ok(0.0) {
        return Ok(0);
    }
    parse_size(s)
}

/// Parses a WAL sync policy: `always`, `never` or an fsync interval (`1s`, `100ms`).
pub fn parse_wal_sync(s: &str) -> anyhow::Result<SyncPolicy> {
    match s.trim() {
        "always" => Ok(SyncPolicy::Always),
        "never" => Ok(SyncPolicy::Never),
        other => {
            let d = oxeye_scrape::parse_duration(other).with_context(|| {
                format!("wal sync policy {s:?} is neither always, never nor a duration")
            })?;
            if d.is_zero() {
                bail!("wal sync interval must be positive");
            }
            Ok(SyncPolicy::Interval(d))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_example_parses() {
        let text = include_str!("../../../config/oxeye.example.yml");
        let mut cfg = Config::parse(text).unwrap();
        cfg.validate().unwrap();
        assert!(!cfg.scrape_configs.is_empty());
        assert_eq!(cfg.tenancy.default_tenant, "anonymous");
    }

    #[test]
    fn unknown_keys_are_errors() {
        let e = Config::parse("storage:\n  retension: 1d\n").unwrap_err();
        assert!(format!("{e:#}").contains("retension"), "{e:#}");
    }

    #[test]
    fn empty_file_is_defaults() {
        let cfg = Config::parse("").unwrap();
        assert!(cfg.scrape_configs.is_empty());
        let d = Config::defaults("127.0.0.1:9700");
        assert_eq!(d.scrape_configs[0].job_name, "oxeye");
    }

    #[test]
    fn bad_tenant_refused() {
        let mut cfg = Config::parse("tenancy:\n  default_tenant: a/b\n").unwrap();
        assert!(cfg.validate().is_err());
    }

    #[test]
    fn sizes_and_sync() {
        assert_eq!(parse_size("64MB").unwrap(), 64 << 20);
        assert_eq!(parse_size("1GiB").unwrap(), 1 << 30);
        assert_eq!(parse_size("1000").unwrap(), 1000);
        assert!(parse_size("10XB").is_err());
        assert!(parse_size("MB").is_err());
        assert_eq!(parse_cache_size("64MiB").unwrap(), 64 << 20);
        assert_eq!(parse_cache_size("0").unwrap(), 0);
        assert_eq!(parse_cache_size("0MiB").unwrap(), 0);
        assert!(parse_cache_size("-1MiB").is_err());
        assert!(parse_cache_size("lots").is_err());
        assert_eq!(parse_wal_sync("always").unwrap(), SyncPolicy::Always);
        assert_eq!(
            parse_wal_sync("200ms").unwrap(),
            SyncPolicy::Interval(Duration::from_millis(200))
        );
        assert!(parse_wal_sync("sometimes").is_err());
    }
}
