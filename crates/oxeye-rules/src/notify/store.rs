//! What the notifier keeps on disk in its data directory: `silences.json` and
//! `nflog.json` (the notification log), each a JSON map from tenant to state, written to
//! a temporary file, fsynced and renamed over the old one so a crash leaves either the old
//! or the new state. Loaded once when the notifier starts.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::silence::Silences;
use crate::RulesError;

/// How long notification log entries are kept.
pub const NFLOG_RETENTION_MS: i64 = 120 * 3_600_000;

/// What was last sent to one receiver integration for one group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NflogEntry {
    /// Fingerprints of the firing alerts notified.
    pub firing: BTreeSet<u64>,
    /// Fingerprints of the resolved alerts notified.
    pub resolved: BTreeSet<u64>,
    /// When, ms.
    pub at_ms: i64,
}

/// Notification log of one tenant, keyed by `receiver/integration/group key`.
pub type Nflog = BTreeMap<String, NflogEntry>;

/// Reads `file` in `dir`; a missing file is empty state.
pub fn load<T: for<'de> Deserialize<'de> + Default>(
    dir: &Path,
    file: &str,
) -> Result<T, RulesError> {
    let path = dir.join(file);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(T::default()),
        Err(e) => return Err(RulesError::Io(format!("reading {}: {e}", path.display()))),
    };
    serde_json::from_slice(&bytes)
        .map_err(|e| RulesError::Io(format!("decoding {}: {e}", path.display())))
}

/// Writes `value` to `file` in `dir` atomically (temporary file, fsync, rename).
pub fn save<T: Serialize>(dir: &Path, file: &str, value: &T) -> Result<(), RulesError> {
    let io = |what: &str, e: std::io::Error| {
        RulesError::Io(format!("{what} {}: {e}", dir.join(file).display()))
    };
    std::fs::create_dir_all(dir).map_err(|e| io("creating the directory of", e))?;
    let bytes =
        serde_json::to_vec(value).map_err(|e| RulesError::Io(format!("encoding {file}: {e}")))?;
    let tmp = dir.join(format!("{file}.tmp"));
    {
        let mut f = std::fs::File::create(&tmp).map_err(|e| io("creating", e))?;
        f.write_all(&bytes).map_err(|e| io("writing", e))?;
        f.sync_all().map_err(|e| io("syncing", e))?;
    }
    std::fs::rename(&tmp, dir.join(file)).map_err(|e| io("renaming over", e))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Silences of every tenant.
pub type AllSilences = BTreeMap<String, Silences>;
/// Notification logs of every tenant.
pub type AllNflogs = BTreeMap<String, Nflog>;

/// File names.
pub const SILENCES_FILE: &str = "silences.json";
/// File names.
pub const NFLOG_FILE: &str = "nflog.json";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_then_load_round_trips_and_missing_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let empty: AllNflogs = load(dir.path(), NFLOG_FILE).unwrap();
        assert!(empty.is_empty());
        let mut all = AllNflogs::new();
        all.entry("t".into()).or_default().insert(
            "r/webhook/0/{}:{}".into(),
            NflogEntry {
                firing: [1, 2].into(),
                resolved: BTreeSet::new(),
                at_ms: 5,
            },
        );
        save(dir.path(), NFLOG_FILE, &all).unwrap();
        let back: AllNflogs = load(dir.path(), NFLOG_FILE).unwrap();
        assert_eq!(back, all);
        std::fs::write(dir.path().join(NFLOG_FILE), b"{garbage").unwrap();
        assert!(load::<AllNflogs>(dir.path(), NFLOG_FILE).is_err());
    }
}
