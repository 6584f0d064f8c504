//! A registry of per-tenant stores: one store per tenant directory under a root,
//! opened at startup for every directory named like a tenant id and created on the
//! first write of a new tenant (at most once, even under concurrent first writes).
//! A tenant that fails to open at startup is logged and listed in
//! [`TenantRegistry::failed`]; the others open and work, and a later write to the failed
//! tenant tries to open it again.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use oxeye_core::TenantId;
use parking_lot::{Mutex, RwLock};

use crate::StorageError;
use crate::block::sync_dir;

/// Creates `path` and its missing ancestors like `create_dir_all`, and fsyncs the parent
/// of every directory it creates, so the new directories survive a crash.
pub fn create_dir_all_synced(path: &Path) -> Result<(), StorageError> {
    create_dirs_with(path, &mut |p: &Path| sync_dir(p))
}

fn create_dirs_with(
    path: &Path,
    sync: &mut dyn FnMut(&Path) -> Result<(), StorageError>,
) -> Result<(), StorageError> {
    // the missing directories, deepest first
    let mut missing = Vec::new();
    let mut cur = Some(path);
    while let Some(p) = cur {
        if p.as_os_str().is_empty() || p.is_dir() {
            break;
        }
        missing.push(p);
        cur = p.parent();
    }
    for p in missing.into_iter().rev() {
        match std::fs::create_dir(p) {
            Ok(()) => {}
            // created concurrently: its parent entry is someone else's to sync, but
            // syncing it again is harmless
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && p.is_dir() => {}
            Err(e) => return Err(StorageError::io_at("create dir", p, e)),
        }
        let parent = match p.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        sync(parent)?;
    }
    Ok(())
}

/// Tenants' stores of type `T` under one root directory.
pub struct TenantRegistry<T> {
    root: PathBuf,
    tenants: RwLock<HashMap<String, Arc<T>>>,
    /// Tenants that failed to open, with the error.
    failed: RwLock<HashMap<String, String>>,
    create_lock: Mutex<()>,
}

impl<T> std::fmt::Debug for TenantRegistry<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantRegistry")
            .field("root", &self.root)
            .field("tenants", &self.tenants.read().len())
            .finish()
    }
}

impl<T> TenantRegistry<T> {
    /// Creates `root` if missing and opens every subdirectory whose name is a valid
    /// tenant id with `open(name, dir)`; other entries are skipped with a warning. A
    /// tenant whose `open` fails is logged and listed in [`TenantRegistry::failed`]
    /// instead of failing the registry.
    pub fn open<E: From<StorageError> + std::fmt::Display>(
        root: &Path,
        mut open: impl FnMut(&str, PathBuf) -> Result<T, E>,
    ) -> Result<Self, E> {
        create_dir_all_synced(root)?;
        let mut tenants = HashMap::new();
        let mut failed = HashMap::new();
        let entries =
            std::fs::read_dir(root).map_err(|e| StorageError::io_at("read dir", root, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| StorageError::io_at("read dir", root, e))?;
            let path = entry.path();
            if !path.is_dir() {
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            if TenantId::new(&name).is_err() {
                tracing::warn!(dir = %path.display(), "ignoring directory that is not a tenant id");
                continue;
            }
            match open(&name, path) {
                Ok(t) => {
                    tenants.insert(name, Arc::new(t));
                }
                Err(e) => {
                    tracing::error!(tenant = %name, error = %e, "tenant failed to open; skipping it, the other tenants stay available");
                    failed.insert(name, e.to_string());
                }
            }
        }
        Ok(Self {
            root: root.to_path_buf(),
            tenants: RwLock::new(tenants),
            failed: RwLock::new(failed),
            create_lock: Mutex::new(()),
        })
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The tenant's store, if it exists.
    pub fn get(&self, tenant: &str) -> Option<Arc<T>> {
        self.tenants.read().get(tenant).cloned()
    }

    /// Tenants that failed to open (at startup, or again on a later write) with the
    /// error, sorted by name.
    pub fn failed(&self) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = self
            .failed
            .read()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        v.sort();
        v
    }

    /// The tenant's store, opened with `open(name, <root>/<name>)` when it does not exist
    /// (or failed to open before).
    pub fn get_or_create<E: std::fmt::Display>(
        &self,
        tenant: &TenantId,
        open: impl FnOnce(&str, PathBuf) -> Result<T, E>,
    ) -> Result<Arc<T>, E> {
        if let Some(t) = self.get(tenant.as_str()) {
            return Ok(t);
        }
        let _g = self.create_lock.lock();
        if let Some(t) = self.get(tenant.as_str()) {
            return Ok(t);
        }
        let t = match open(tenant.as_str(), self.root.join(tenant.as_str())) {
            Ok(t) => Arc::new(t),
            Err(e) => {
                if let Some(msg) = self.failed.write().get_mut(tenant.as_str()) {
                    *msg = e.to_string();
                }
                return Err(e);
            }
        };
        self.failed.write().remove(tenant.as_str());
        self.tenants
            .write()
            .insert(tenant.as_str().to_owned(), t.clone());
        Ok(t)
    }

    /// Every tenant with its name, sorted by name.
    pub fn all(&self) -> Vec<(String, Arc<T>)> {
        let mut v: Vec<(String, Arc<T>)> = self
            .tenants
            .read()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creating_dirs_syncs_the_parent_of_each_new_one() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir(root.join("a")).unwrap();
        let mut synced = Vec::new();
        let target = root.join("a/b/c/d");
        create_dirs_with(&target, &mut |p: &Path| {
            synced.push(p.to_path_buf());
            Ok(())
        })
        .unwrap();
        assert!(target.is_dir());
        assert_eq!(
            synced,
            vec![root.join("a"), root.join("a/b"), root.join("a/b/c")]
        );
        // nothing new: nothing to sync
        synced.clear();
        create_dirs_with(&target, &mut |p: &Path| {
            synced.push(p.to_path_buf());
            Ok(())
        })
        .unwrap();
        assert!(synced.is_empty());
        create_dir_all_synced(&root.join("x/y")).unwrap();
        assert!(root.join("x/y").is_dir());
    }

    #[test]
    fn opens_existing_and_creates_once() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("acme")).unwrap();
        std::fs::create_dir_all(dir.path().join("has space")).unwrap();
        std::fs::write(dir.path().join("file"), b"x").unwrap();
        let reg: TenantRegistry<PathBuf> =
            TenantRegistry::open(dir.path(), |_, p| Ok::<_, StorageError>(p)).unwrap();
        assert_eq!(reg.all().len(), 1);
        assert!(reg.get("acme").is_some());
        let t = TenantId::new("new-one").unwrap();
        let mut opened = 0;
        for _ in 0..3 {
            reg.get_or_create(&t, |_, p| {
                opened += 1;
                Ok::<_, StorageError>(p)
            })
            .unwrap();
        }
        assert_eq!(opened, 1);
        let names: Vec<String> = reg.all().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, vec!["acme".to_string(), "new-one".to_string()]);
    }

    #[test]
    fn a_tenant_that_fails_to_open_does_not_stop_the_others() {
        let dir = tempfile::tempdir().unwrap();
        for t in ["bad", "good"] {
            std::fs::create_dir_all(dir.path().join(t)).unwrap();
        }
        let open = |name: &str, p: PathBuf| {
            if name == "bad" && !p.join("fixed").exists() {
                return Err(StorageError::InvalidArgument(format!("{name} is broken")));
            }
            Ok(p)
        };
        let reg: TenantRegistry<PathBuf> = TenantRegistry::open(dir.path(), open).unwrap();
        assert!(reg.get("good").is_some());
        assert!(reg.get("bad").is_none());
        assert_eq!(
            reg.failed(),
            vec![(
                "bad".to_string(),
                "invalid argument: bad is broken".to_string()
            )]
        );
        let bad = TenantId::new("bad").unwrap();
        assert!(reg.get_or_create(&bad, open).is_err());
        assert_eq!(reg.failed().len(), 1);
        // once it opens, it is no longer listed as failed
        std::fs::write(dir.path().join("bad/fixed"), b"").unwrap();
        assert!(reg.get_or_create(&bad, open).is_ok());
        assert!(reg.failed().is_empty());
    }
}
