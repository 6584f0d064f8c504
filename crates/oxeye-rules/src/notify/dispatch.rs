//! Per-tenant dispatcher state: the alert store, aggregation groups, silences and the
//! notification log, and the decisions taken on them at each tick.
//!
//! An alert put into the store is routed ([`Route::matching`]) and copied into one
//! aggregation group per matching route, keyed by the route and its `group_by` label
//! values. A group flushes `group_wait` after it was created (at once if its first
//! alert is older than that), then every `group_interval`. A flush drops silenced and
//! inhibited alerts, is skipped inside mute time intervals (or outside active ones), and
//! for every integration of the receiver compares the firing/resolved fingerprint sets
//! with the notification log: it sends when a new alert fires, when all resolved, when a
//! resolved alert is new and the integration sends resolved ones, or when
//! `repeat_interval` has passed. Resolved alerts leave the group after a flush.

use std::collections::{BTreeMap, BTreeSet};

use super::LabelSet;
use super::api::fingerprint;
use super::config::{Config, GroupBy, Route};
use super::receivers::{Integration, Notification};
use super::silence::Silences;
use super::store::{NFLOG_RETENTION_MS, Nflog, NflogEntry};
use super::timeinterval::any_contains;
use crate::alert::Alert;

/// An alert in the store.
#[derive(Debug, Clone)]
pub struct StoredAlert {
    /// The alert; `ends_at_ms` is always set (resolve timeout applied).
    pub alert: Alert,
    /// Last update, ms.
    pub updated_at_ms: i64,
}

/// An aggregation group.
#[derive(Debug, Clone)]
pub struct AggGroup {
    /// Route id in the current config.
    pub route_id: usize,
    /// Receiver name.
    pub receiver: String,
    /// `route key:group labels`.
    pub key: String,
    /// The `group_by` values.
    pub labels: LabelSet,
    /// Copies of the alerts by fingerprint.
    pub alerts: BTreeMap<u64, Alert>,
    /// Next flush, ms.
    pub next_flush_ms: i64,
    /// Whether it flushed already.
    pub has_flushed: bool,
}

/// Everything of one tenant.
#[derive(Debug, Default)]
pub struct TenantState {
    /// Alerts by fingerprint.
    pub alerts: BTreeMap<u64, StoredAlert>,
    /// Groups by key.
    pub groups: BTreeMap<String, AggGroup>,
    /// Silences.
    pub silences: Silences,
    /// Notification log.
    pub nflog: Nflog,
    /// Whether the log changed since it was last persisted.
    pub nflog_dirty: bool,
}

/// A send to make: one integration, one group.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// Tenant.
    pub tenant: String,
    /// `receiver/integration/group key`, the notification log key.
    pub log_key: String,
    /// The integration.
    pub integration: Integration,
    /// What to send.
    pub notification: Notification,
    /// Fingerprint sets recorded on success.
    pub firing: BTreeSet<u64>,
    /// Fingerprint sets recorded on success.
    pub resolved: BTreeSet<u64>,
    /// Attempts made.
    pub attempts: u32,
    /// Next attempt, ms.
    pub next_attempt_ms: i64,
    /// Give up after, ms (the group's next interval).
    pub deadline_ms: i64,
}

/// Key of a group: route key and group label values.
fn group_labels(route: &Route, labels: &LabelSet) -> LabelSet {
    match &route.group_by {
        GroupBy::All => labels.clone(),
        GroupBy::Labels(names) => names
            .iter()
            .filter_map(|n| labels.get(n).map(|v| (n.clone(), v.clone())))
            .collect(),
    }
}

fn label_string(l: &LabelSet) -> String {
    let parts: Vec<String> = l.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    // Prometheus's label-set string, as in Alertmanager's group keys.
    format!("{{{}}}", parts.join(", "))
}

/// Alertmanager's order of alerts in a notification and a group: by `job`, then
/// `instance` (an alert having the label first), then by labels.
pub fn alert_order(a: &LabelSet, b: &LabelSet) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    for key in ["job", "instance"] {
        match (a.get(key), b.get(key)) {
            (None, None) => continue,
            (None, Some(_)) => return Ordering::Greater,
            (Some(_), None) => return Ordering::Less,
            (Some(x), Some(y)) if x != y => return x.cmp(y),
            _ => continue,
        }
    }
    labels_before(a, b)
}

/// Prometheus's `LabelSet.Before`: pairwise by name then value, shorter first.
fn labels_before(a: &LabelSet, b: &LabelSet) -> std::cmp::Ordering {
    for ((ka, va), (kb, vb)) in a.iter().zip(b.iter()) {
        let o = ka.cmp(kb).then_with(|| va.cmp(vb));
        if o.is_ne() {
            return o;
        }
    }
    a.len().cmp(&b.len())
}

impl TenantState {
    /// Merges `incoming` into the store (an overlapping alert with the same labels keeps
    /// its earliest start) and into the groups of the routes it matches.
    pub fn put(&mut self, cfg: &Config, mut incoming: Alert, now_ms: i64) {
        if incoming.ends_at_ms.is_none() {
            incoming.ends_at_ms = Some(now_ms + cfg.resolve_timeout_ms);
        }
        let fp = fingerprint(&incoming.labels);
        if let Some(old) = self.alerts.get(&fp) {
            let old_end = old.alert.ends_at_ms.unwrap_or(i64::MAX);
            let new_end = incoming.ends_at_ms.unwrap_or(i64::MAX);
            let overlaps = (new_end > old.alert.starts_at_ms && new_end < old_end)
                || (incoming.starts_at_ms >= old.alert.starts_at_ms
                    && incoming.starts_at_ms <= old_end);
            if overlaps {
                incoming.starts_at_ms = incoming.starts_at_ms.min(old.alert.starts_at_ms);
            }
        }
        self.alerts.insert(
            fp,
            StoredAlert {
                alert: incoming.clone(),
                updated_at_ms: now_ms,
            },
        );
        self.route_into_groups(cfg, fp, incoming, now_ms);
    }

    fn route_into_groups(&mut self, cfg: &Config, fp: u64, alert: Alert, now_ms: i64) {
        let mut routes = Vec::new();
        cfg.route.matching(&alert.labels, &mut routes);
        for route in routes {
            let gl = group_labels(route, &alert.labels);
            let key = format!("{}:{}", route.key, label_string(&gl));
            let group = self.groups.entry(key.clone()).or_insert_with(|| AggGroup {
                route_id: route.id,
                receiver: route.receiver.clone(),
                key,
                labels: gl,
                alerts: BTreeMap::new(),
                next_flush_ms: now_ms + route.group_wait_ms,
                has_flushed: false,
            });
            if !group.has_flushed && alert.starts_at_ms + route.group_wait_ms < now_ms {
                group.next_flush_ms = now_ms;
            }
            group.alerts.insert(fp, alert.clone());
        }
    }

    /// Rebuilds the groups for a new config (the notification log keeps duplicates out).
    pub fn regroup(&mut self, cfg: &Config, now_ms: i64) {
        self.groups.clear();
        let alerts: Vec<(u64, Alert)> = self
            .alerts
            .iter()
            .filter(|(_, a)| !a.alert.is_resolved_at(now_ms))
            .map(|(fp, a)| (*fp, a.alert.clone()))
            .collect();
        for (fp, a) in alerts {
            self.route_into_groups(cfg, fp, a, now_ms);
        }
    }

    /// Ids of active silences muting `labels`.
    pub fn silenced_by(&self, labels: &LabelSet, now_ms: i64) -> Vec<String> {
        self.silences.muting(labels, now_ms)
    }

    /// Hex fingerprints of firing alerts inhibiting `labels`.
    pub fn inhibited_by(&self, cfg: &Config, labels: &LabelSet, now_ms: i64) -> Vec<String> {
        let target_fp = fingerprint(labels);
        let mut out = BTreeSet::new();
        for rule in &cfg.inhibit_rules {
            if !rule.target.matches(labels) {
                continue;
            }
            let both = rule.source.matches(labels);
            for (fp, s) in &self.alerts {
                if *fp == target_fp
                    || s.alert.is_resolved_at(now_ms)
                    || !rule.source.matches(&s.alert.labels)
                {
                    continue;
                }
                if both && rule.target.matches(&s.alert.labels) {
                    continue;
                }
                if rule
                    .equal
                    .iter()
                    .all(|l| s.alert.labels.get(l) == labels.get(l))
                {
                    out.insert(format!("{fp:016x}"));
                }
            }
        }
        out.into_iter().collect()
    }

    /// Flushes every due group; returns the sends to make.
    pub fn flush_due(
        &mut self,
        tenant: &str,
        cfg: &Config,
        routes: &[&Route],
        external_url: &str,
        now_ms: i64,
    ) -> Vec<Delivery> {
        let due: Vec<String> = self
            .groups
            .iter()
            .filter(|(_, g)| g.next_flush_ms <= now_ms)
            .map(|(k, _)| k.clone())
            .collect();
        let mut out = Vec::new();
        for key in due {
            let Some(group) = self.groups.get(&key).cloned() else {
                continue;
            };
            let Some(route) = routes.get(group.route_id).copied() else {
                self.groups.remove(&key);
                continue;
            };
            out.extend(self.flush_group(tenant, cfg, route, &group, external_url, now_ms));
            let Some(g) = self.groups.get_mut(&key) else {
                continue;
            };
            // Resolved alerts that were part of this flush leave the group.
            for (fp, a) in &group.alerts {
                if a.is_resolved_at(now_ms) && g.alerts.get(fp) == Some(a) {
                    g.alerts.remove(fp);
                }
            }
            g.has_flushed = true;
            // The schedule counts from when the flush was due, not from when this round
            // ran, so late rounds do not push later flushes back (a round that missed a
            // whole interval starts over from now).
            let due = if now_ms - group.next_flush_ms < route.group_interval_ms {
                group.next_flush_ms
            } else {
                now_ms
            };
            g.next_flush_ms = due + route.group_interval_ms;
            if g.alerts.is_empty() {
                self.groups.remove(&key);
            }
        }
        out
    }

    fn flush_group(
        &mut self,
        tenant: &str,
        cfg: &Config,
        route: &Route,
        group: &AggGroup,
        external_url: &str,
        now_ms: i64,
    ) -> Vec<Delivery> {
        let muted_by_time = route.mute_time_intervals.iter().any(|n| {
            cfg.time_intervals
                .get(n)
                .is_some_and(|ti| any_contains(ti, now_ms))
        }) || (!route.active_time_intervals.is_empty()
            && !route.active_time_intervals.iter().any(|n| {
                cfg.time_intervals
                    .get(n)
                    .is_some_and(|ti| any_contains(ti, now_ms))
            }));
        if muted_by_time {
            return Vec::new();
        }
        let mut alerts: Vec<(u64, Alert, bool)> = Vec::new();
        for (fp, a) in &group.alerts {
            if !self.silenced_by(&a.labels, now_ms).is_empty()
                || !self.inhibited_by(cfg, &a.labels, now_ms).is_empty()
            {
                continue;
            }
            alerts.push((*fp, a.clone(), a.is_resolved_at(now_ms)));
        }
        alerts.sort_by(|x, y| alert_order(&x.1.labels, &y.1.labels));
        if alerts.is_empty() {
            // Everything is muted: nothing is sent and the log stays as it was.
            return Vec::new();
        }
        let firing: BTreeSet<u64> = alerts.iter().filter(|a| !a.2).map(|a| a.0).collect();
        let resolved: BTreeSet<u64> = alerts.iter().filter(|a| a.2).map(|a| a.0).collect();
        let Some(receiver) = cfg.receivers.get(&group.receiver) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (name, integration) in Integration::of(receiver) {
            let log_key = format!("{}/{name}/{}", group.receiver, group.key);
            let send_resolved = integration.send_resolved();
            if !needs_update(
                self.nflog.get(&log_key),
                &firing,
                &resolved,
                send_resolved,
                route.repeat_interval_ms,
                now_ms,
            ) {
                continue;
            }
            let mut payload = alerts.clone();
            if !send_resolved {
                payload.retain(|a| !a.2);
            }
            if payload.is_empty() {
                // Everything resolved and resolved alerts are not sent: only the log
                // changes, so the next firing alert is news again.
                self.nflog.insert(
                    log_key,
                    NflogEntry {
                        firing: firing.clone(),
                        resolved: resolved.clone(),
                        at_ms: now_ms,
                    },
                );
                self.nflog_dirty = true;
                continue;
            }
            out.push(Delivery {
                tenant: tenant.to_string(),
                log_key,
                integration,
                notification: Notification {
                    receiver: group.receiver.clone(),
                    group_key: group.key.clone(),
                    group_labels: group.labels.clone(),
                    alerts: payload,
                    external_url: external_url.to_string(),
                    at_ms: now_ms,
                },
                firing: firing.clone(),
                resolved: resolved.clone(),
                attempts: 0,
                next_attempt_ms: now_ms,
                deadline_ms: now_ms + route.group_interval_ms,
            });
        }
        out
    }

    /// Drops resolved alerts from the store and old log entries and silences; returns
    /// whether silences or the log changed.
    pub fn gc(&mut self, now_ms: i64) -> (bool, bool) {
        self.alerts.retain(|_, a| !a.alert.is_resolved_at(now_ms));
        let before = self.nflog.len();
        self.nflog
            .retain(|_, e| e.at_ms + NFLOG_RETENTION_MS > now_ms);
        (self.silences.gc(now_ms), before != self.nflog.len())
    }
}

/// Alertmanager's deduplication decision.
fn needs_update(
    entry: Option<&NflogEntry>,
    firing: &BTreeSet<u64>,
    resolved: &BTreeSet<u64>,
    send_resolved: bool,
    repeat_ms: i64,
    now_ms: i64,
) -> bool {
    let Some(entry) = entry else {
        return !firing.is_empty();
    };
    if !firing.is_subset(&entry.firing) {
        return true;
    }
    if firing.is_empty() {
        return !entry.firing.is_empty();
    }
    if send_resolved && !resolved.is_subset(&entry.resolved) {
        return true;
    }
    // Only once more than the repeat interval has passed, as Alertmanager.
    entry.at_ms + repeat_ms < now_ms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dedup_decisions() {
        let set = |v: &[u64]| v.iter().copied().collect::<BTreeSet<u64>>();
        assert!(needs_update(None, &set(&[1]), &set(&[]), true, 100, 0));
        assert!(!needs_update(None, &set(&[]), &set(&[1]), true, 100, 0));
        let e = NflogEntry {
            firing: set(&[1, 2]),
            resolved: set(&[]),
            at_ms: 0,
        };
        assert!(
            !needs_update(Some(&e), &set(&[1]), &set(&[]), false, 100, 50),
            "subset, not repeat yet"
        );
        assert!(
            needs_update(Some(&e), &set(&[1]), &set(&[2]), true, 100, 50),
            "new resolved"
        );
        assert!(
            needs_update(Some(&e), &set(&[1, 3]), &set(&[]), false, 100, 50),
            "new firing"
        );
        assert!(
            !needs_update(Some(&e), &set(&[1]), &set(&[]), false, 100, 100),
            "exactly the repeat interval is not more"
        );
        assert!(
            needs_update(Some(&e), &set(&[1]), &set(&[]), false, 100, 101),
            "repeat"
        );
        assert!(
            needs_update(Some(&e), &set(&[]), &set(&[1, 2]), false, 100, 50),
            "all resolved"
        );
    }
}
