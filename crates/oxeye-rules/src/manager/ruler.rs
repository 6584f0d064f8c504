//! Rule groups managed through the Loki ruler API: per tenant and namespace, LogQL
//! expressions, persisted as one rule file per namespace at
//! `<rules_dir>/<tenant>/<namespace>.yml` (the namespace percent-encoded so any name is a
//! safe file name), written to a temporary file and renamed into place.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use oxeye_core::TenantId;

use super::{GroupKey, RuleManager, Slot, retire_removed};
use crate::RulesError;
use crate::file::{RuleFile, RuleGroupSpec, RuleLanguage};
use crate::group::Group;

/// A namespace as a file name: bytes outside `[A-Za-z0-9_-]` as `%XX`.
fn encode_namespace(ns: &str) -> String {
    let mut out = String::with_capacity(ns.len());
    for b in ns.bytes() {
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The namespace a file name encodes; `None` when it is not one of ours.
fn decode_namespace(name: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(name.len());
    let mut it = name.bytes();
    while let Some(b) = it.next() {
        if b == b'%' {
            let hi = (it.next()? as char).to_digit(16)?;
            let lo = (it.next()? as char).to_digit(16)?;
            bytes.push((hi * 16 + lo) as u8);
        } else {
            bytes.push(b);
        }
    }
    String::from_utf8(bytes).ok()
}

fn namespace_path(dir: &Path, tenant: &TenantId, ns: &str) -> PathBuf {
    dir.join(tenant.as_str())
        .join(format!("{}.yml", encode_namespace(ns)))
}

/// Writes (or, for no groups, removes) the namespace's file.
fn persist(
    m: &RuleManager,
    tenant: &TenantId,
    ns: &str,
    specs: &[RuleGroupSpec],
) -> Result<(), RulesError> {
    let Some(dir) = m.options.read().rules_dir.clone() else {
        return Ok(());
    };
    let path = namespace_path(&dir, tenant, ns);
    let io = |e: std::io::Error| RulesError::Io(format!("cannot write {}: {e}", path.display()));
    if specs.is_empty() {
        return match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(e)),
            _ => Ok(()),
        };
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    let file = RuleFile {
        groups: specs.to_vec(),
    };
    let text = serde_saphyr::to_string(&file)
        .map_err(|e| RulesError::Io(format!("cannot encode rule groups: {e}")))?;
    let tmp = path.with_extension("yml.tmp");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp).map_err(io)?;
        f.write_all(text.as_bytes()).map_err(io)?;
        f.sync_all().map_err(io)?;
    }
    std::fs::rename(&tmp, &path).map_err(io)?;
    Ok(())
}

fn check_namespace(ns: &str) -> Result<(), RulesError> {
    if ns.is_empty() {
        return Err(RulesError::Invalid("namespace must not be empty".into()));
    }
    Ok(())
}

fn build(
    m: &RuleManager,
    tenant: &TenantId,
    ns: &str,
    spec: RuleGroupSpec,
) -> Result<Group, RulesError> {
    if m.logql.is_none() {
        return Err(RulesError::Invalid(
            "log rules need the log store, which is not enabled".into(),
        ));
    }
    let file = RuleFile {
        groups: vec![spec.clone()],
    };
    let problems: Vec<String> = crate::file::validate(&file, RuleLanguage::Logql)
        .into_iter()
        .map(|e| e.to_string())
        .collect();
    if !problems.is_empty() {
        return Err(RulesError::Invalid(problems.join("; ")));
    }
    Group::new(
        tenant.clone(),
        ns,
        spec,
        RuleLanguage::Logql,
        m.options.read().group.clone(),
    )
}

/// See [`RuleManager::set_group`].
pub(super) fn set_group(
    m: &RuleManager,
    tenant: &TenantId,
    ns: &str,
    spec: RuleGroupSpec,
) -> Result<(), RulesError> {
    check_namespace(ns)?;
    let group = build(m, tenant, ns, spec.clone())?;
    let _update = m.update.lock();
    let now = m.clock.now_ms();
    let mut specs = m
        .groups
        .read()
        .ruler_specs
        .get(tenant)
        .and_then(|n| n.get(ns))
        .cloned()
        .unwrap_or_default();
    match specs.iter_mut().find(|s| s.name == spec.name) {
        Some(slot) => *slot = spec.clone(),
        None => specs.push(spec.clone()),
    }
    persist(m, tenant, ns, &specs)?;
    let key: GroupKey = (ns.to_string(), spec.name);
    let old = m
        .groups
        .read()
        .ruler
        .get(tenant)
        .and_then(|slots| slots.get(&key))
        .cloned();
    let slot = m.schedule(group, old, now, false);
    let mut groups = m.groups.write();
    groups
        .ruler_specs
        .entry(tenant.clone())
        .or_default()
        .insert(ns.to_string(), specs);
    groups
        .ruler
        .entry(tenant.clone())
        .or_default()
        .insert(key, slot);
    drop(groups);
    m.changed.notify_one();
    Ok(())
}

/// See [`RuleManager::delete_group`].
pub(super) fn delete_group(
    m: &RuleManager,
    tenant: &TenantId,
    ns: &str,
    name: &str,
) -> Result<(), RulesError> {
    let _update = m.update.lock();
    let mut groups = m.groups.write();
    let not_found = || {
        RulesError::NotFound(format!(
            "no rule group {name:?} in namespace {ns:?} of tenant {tenant}"
        ))
    };
    let mut specs = groups
        .ruler_specs
        .get(tenant)
        .and_then(|n| n.get(ns))
        .cloned()
        .ok_or_else(not_found)?;
    let before = specs.len();
    specs.retain(|s| s.name != name);
    if specs.len() == before {
        return Err(not_found());
    }
    persist(m, tenant, ns, &specs)?;
    let tenant_specs = groups.ruler_specs.entry(tenant.clone()).or_default();
    if specs.is_empty() {
        tenant_specs.remove(ns);
    } else {
        tenant_specs.insert(ns.to_string(), specs);
    }
    let removed: BTreeMap<GroupKey, Slot> = groups
        .ruler
        .get_mut(tenant)
        .and_then(|slots| slots.remove_entry(&(ns.to_string(), name.to_string())))
        .into_iter()
        .collect();
    drop(groups);
    let stale = retire_removed(tenant, removed, m.clock.now_ms());
    m.groups.write().stale.extend(stale);
    Ok(())
}

/// See [`RuleManager::delete_namespace`].
pub(super) fn delete_namespace(
    m: &RuleManager,
    tenant: &TenantId,
    ns: &str,
) -> Result<(), RulesError> {
    let _update = m.update.lock();
    let mut groups = m.groups.write();
    if !groups
        .ruler_specs
        .get(tenant)
        .is_some_and(|n| n.contains_key(ns))
    {
        return Err(RulesError::NotFound(format!(
            "no namespace {ns:?} of tenant {tenant}"
        )));
    }
    persist(m, tenant, ns, &[])?;
    if let Some(n) = groups.ruler_specs.get_mut(tenant) {
        n.remove(ns);
    }
    let mut removed = BTreeMap::new();
    if let Some(slots) = groups.ruler.get_mut(tenant) {
        let keys: Vec<GroupKey> = slots.keys().filter(|k| k.0 == ns).cloned().collect();
        for k in keys {
            if let Some(v) = slots.remove(&k) {
                removed.insert(k, v);
            }
        }
    }
    drop(groups);
    let stale = retire_removed(tenant, removed, m.clock.now_ms());
    m.groups.write().stale.extend(stale);
    Ok(())
}

/// See [`RuleManager::load_persisted`]: every valid namespace file is loaded; the
/// problems of the others are returned together.
pub(super) fn load_persisted(m: &RuleManager) -> Result<(), RulesError> {
    let Some(dir) = m.options.read().rules_dir.clone() else {
        return Ok(());
    };
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(RulesError::Io(format!(
                "cannot read {}: {e}",
                dir.display()
            )));
        }
    };
    let mut problems = Vec::new();
    let now = m.clock.now_ms();
    for tenant_dir in entries.flatten() {
        let Some(tenant) = tenant_dir
            .file_name()
            .to_str()
            .and_then(|n| TenantId::new(n).ok())
        else {
            continue;
        };
        let Ok(files) = std::fs::read_dir(tenant_dir.path()) else {
            continue;
        };
        let mut paths: Vec<PathBuf> = files.flatten().map(|f| f.path()).collect();
        paths.sort();
        for path in paths {
            let Some(ns) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".yml"))
                .and_then(decode_namespace)
            else {
                continue;
            };
            match load_namespace(m, &tenant, &ns, &path, now) {
                Ok(()) => {}
                Err(e) => problems.push(e.to_string()),
            }
        }
    }
    m.changed.notify_one();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(RulesError::Invalid(problems.join("; ")))
    }
}

fn load_namespace(
    m: &RuleManager,
    tenant: &TenantId,
    ns: &str,
    path: &Path,
    now: i64,
) -> Result<(), RulesError> {
    let file = crate::file::load(path)?;
    let mut built = Vec::new();
    for spec in &file.groups {
        let g = build(m, tenant, ns, spec.clone())
            .map_err(|e| RulesError::Invalid(format!("{}: {e}", path.display())))?;
        built.push(g);
    }
    let mut groups = m.groups.write();
    groups
        .ruler_specs
        .entry(tenant.clone())
        .or_default()
        .insert(ns.to_string(), file.groups);
    let slots = groups.ruler.entry(tenant.clone()).or_default();
    for g in built {
        let key: GroupKey = (ns.to_string(), g.name().to_string());
        let old = slots.remove(&key);
        let slot = m.schedule(g, old, now, true);
        slots.insert(key, slot);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_round_trip_through_file_names() {
        for ns in [
            "plain",
            "with space",
            "../etc",
            ".hidden",
            "ünï/cøde",
            "a%b",
        ] {
            let enc = encode_namespace(ns);
            assert!(!enc.contains('/') && !enc.starts_with('.'), "{enc}");
            assert_eq!(decode_namespace(&enc).as_deref(), Some(ns));
        }
    }
}
