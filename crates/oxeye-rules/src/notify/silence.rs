//! Silences: matchers that mute alerts between `startsAt` and `endsAt`. A silence is
//! pending before it starts, active while it runs, expired after; expired silences are
//! kept for [`RETENTION_MS`] (shown by the API) and then dropped. The notifier persists
//! them per tenant (see [`super::store`]).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use oxeye_core::{MatchOp, Matcher};
use serde::{Deserialize, Serialize};

use super::LabelSet;
use crate::RulesError;

/// How long expired silences are kept.
pub const RETENTION_MS: i64 = 120 * 3_600_000;

/// A silence matcher in the API's shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SilenceMatcher {
    /// Label name.
    pub name: String,
    /// Value or regex.
    pub value: String,
    /// Regex match.
    pub is_regex: bool,
    /// Equality (false: negated); absent means true.
    #[serde(default = "yes")]
    pub is_equal: bool,
}

fn yes() -> bool {
    true
}

impl SilenceMatcher {
    /// The core matcher.
    pub fn compile(&self) -> Result<Matcher, RulesError> {
        let op = match (self.is_regex, self.is_equal) {
            (false, true) => MatchOp::Equal,
            (false, false) => MatchOp::NotEqual,
            (true, true) => MatchOp::Regex,
            (true, false) => MatchOp::NotRegex,
        };
        Matcher::new(op, self.name.clone(), self.value.clone()).map_err(|e| {
            RulesError::Invalid(format!("invalid silence matcher {:?}: {e}", self.name))
        })
    }
}

/// A silence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Silence {
    /// UUID-like id.
    pub id: String,
    /// Matchers; all must match.
    pub matchers: Vec<SilenceMatcher>,
    /// Start, ms.
    pub starts_at_ms: i64,
    /// End, ms.
    pub ends_at_ms: i64,
    /// Last change, ms.
    pub updated_at_ms: i64,
    /// Author.
    pub created_by: String,
    /// Why.
    pub comment: String,
}

/// A silence's state at some instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SilenceState {
    /// Not started yet.
    Pending,
    /// Muting.
    Active,
    /// Ended.
    Expired,
}

impl SilenceState {
    /// As the API writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            SilenceState::Pending => "pending",
            SilenceState::Active => "active",
            SilenceState::Expired => "expired",
        }
    }
}

impl Silence {
    /// State at `now_ms`.
    pub fn state(&self, now_ms: i64) -> SilenceState {
        if now_ms >= self.ends_at_ms {
            SilenceState::Expired
        } else if now_ms < self.starts_at_ms {
            SilenceState::Pending
        } else {
            SilenceState::Active
        }
    }

    /// Whether the silence matches `labels` (regardless of time).
    pub fn matches(&self, labels: &LabelSet) -> bool {
        self.matchers.iter().all(|m| {
            m.compile()
                .is_ok_and(|c| c.matches(labels.get(&m.name).map_or("", String::as_str)))
        })
    }

    /// Checks what the API requires of a new or updated silence.
    pub fn validate(&self, now_ms: i64) -> Result<(), RulesError> {
        let bad = |m: &str| Err(RulesError::Invalid(m.to_string()));
        if self.matchers.is_empty() {
            return bad("silence invalid: at least one matcher required");
        }
        let mut all_empty = true;
        for m in &self.matchers {
            if m.name.is_empty() {
                return bad("silence invalid: matcher with an empty label name");
            }
            if !m.compile()?.matches_empty() {
                all_empty = false;
            }
        }
        if all_empty {
            return bad("silence invalid: at least one matcher must not match the empty string");
        }
        // As Alertmanager's API: an empty window is refused, creator and comment may
        // be empty.
        if self.ends_at_ms <= self.starts_at_ms {
            return bad("failed to create silence: start time must be before end time");
        }
        if self.ends_at_ms < now_ms {
            return bad("failed to create silence: end time can't be in the past");
        }
        Ok(())
    }
}

/// A new id shaped like a UUID v4.
pub fn new_id(now_ms: i64) -> String {
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let seq = COUNTER.fetch_add(1, Ordering::Relaxed);
    let state = std::collections::hash_map::RandomState::new();
    let mut a = state.build_hasher();
    a.write_i64(now_ms);
    a.write_u64(seq);
    let hi = a.finish();
    let mut b = state.build_hasher();
    b.write_u64(hi);
    b.write_u64(seq.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let lo = b.finish();
    let hi = (hi & 0xffff_ffff_ffff_0fff) | 0x4000;
    let lo = (lo & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000;
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        hi >> 32,
        (hi >> 16) & 0xffff,
        hi & 0xffff,
        lo >> 48,
        lo & 0xffff_ffff_ffff
    )
}

/// The silences of one tenant.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Silences {
    /// By id.
    pub by_id: BTreeMap<String, Silence>,
}

impl Silences {
    /// Creates `s` (empty id) or updates the silence with its id. A running silence whose
    /// matchers change is expired and replaced by a new one, as Alertmanager does; an
    /// unknown id is an error. Returns the id that now holds the silence.
    pub fn upsert(&mut self, mut s: Silence, now_ms: i64) -> Result<String, RulesError> {
        // The window is checked as posted, before a past start moves to now.
        s.validate(now_ms)?;
        if s.starts_at_ms < now_ms {
            s.starts_at_ms = now_ms;
        }
        s.updated_at_ms = now_ms;
        if s.id.is_empty() {
            s.id = new_id(now_ms);
            let id = s.id.clone();
            self.by_id.insert(id.clone(), s);
            return Ok(id);
        }
        let Some(old) = self.by_id.get(&s.id).cloned() else {
            return Err(RulesError::NotFound(format!("silence {} not found", s.id)));
        };
        let state = old.state(now_ms);
        let in_place = state == SilenceState::Pending
            || (state == SilenceState::Active && old.matchers == s.matchers);
        if in_place {
            if state == SilenceState::Active {
                s.starts_at_ms = old.starts_at_ms;
            }
            let id = s.id.clone();
            self.by_id.insert(id.clone(), s);
            return Ok(id);
        }
        if state != SilenceState::Expired {
            self.expire(&old.id, now_ms)?;
        }
        s.id = new_id(now_ms);
        let id = s.id.clone();
        self.by_id.insert(id.clone(), s);
        Ok(id)
    }

    /// Ends a silence now.
    pub fn expire(&mut self, id: &str, now_ms: i64) -> Result<(), RulesError> {
        let Some(s) = self.by_id.get_mut(id) else {
            return Err(RulesError::NotFound(format!("silence {id} not found")));
        };
        match s.state(now_ms) {
            SilenceState::Expired => {
                return Err(RulesError::Invalid(format!("silence {id} already expired")));
            }
            SilenceState::Pending => s.starts_at_ms = now_ms,
            SilenceState::Active => {}
        }
        s.ends_at_ms = now_ms;
        s.updated_at_ms = now_ms;
        Ok(())
    }

    /// Ids of active silences matching `labels`.
    pub fn muting(&self, labels: &LabelSet, now_ms: i64) -> Vec<String> {
        self.by_id
            .values()
            .filter(|s| s.state(now_ms) == SilenceState::Active && s.matches(labels))
            .map(|s| s.id.clone())
            .collect()
    }

    /// Drops silences expired longer than the retention; whether any went.
    pub fn gc(&mut self, now_ms: i64) -> bool {
        let before = self.by_id.len();
        self.by_id
            .retain(|_, s| s.ends_at_ms + RETENTION_MS > now_ms);
        before != self.by_id.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sil(name: &str, value: &str, start: i64, end: i64) -> Silence {
        Silence {
            id: String::new(),
            matchers: vec![SilenceMatcher {
                name: name.into(),
                value: value.into(),
                is_regex: false,
                is_equal: true,
            }],
            starts_at_ms: start,
            ends_at_ms: end,
            updated_at_ms: 0,
            created_by: "ops".into(),
            comment: "maintenance".into(),
        }
    }

    #[test]
    fn lifecycle_update_and_expire() {
        let mut ss = Silences::default();
        let id = ss.upsert(sil("job", "db", 2_000, 10_000), 1_000).unwrap();
        assert_eq!(id.len(), 36);
        assert_eq!(ss.by_id[&id].state(1_500), SilenceState::Pending);
        assert_eq!(ss.by_id[&id].state(2_000), SilenceState::Active);
        let labels: LabelSet = [("job".to_string(), "db".to_string())].into();
        assert_eq!(ss.muting(&labels, 3_000), vec![id.clone()]);
        // Changing the matchers of an active silence replaces it.
        let mut changed = sil("job", "web", 0, 10_000);
        changed.id = id.clone();
        let id2 = ss.upsert(changed, 3_000).unwrap();
        assert_ne!(id, id2);
        assert_eq!(ss.by_id[&id].state(3_000), SilenceState::Expired);
        ss.expire(&id2, 4_000).unwrap();
        assert!(ss.expire(&id2, 4_000).is_err());
        assert!(matches!(
            ss.expire("nope", 4_000),
            Err(RulesError::NotFound(_))
        ));
        assert!(
            ss.upsert(sil("job", "", 0, 10_000), 1_000).is_err(),
            "matches everything"
        );
        assert!(
            ss.upsert(sil("job", "x", 0, 10), 1_000).is_err(),
            "ends in the past"
        );
        assert!(!ss.gc(5_000));
        assert!(ss.gc(5_000 + RETENTION_MS));
        assert!(ss.by_id.is_empty());
    }
}
