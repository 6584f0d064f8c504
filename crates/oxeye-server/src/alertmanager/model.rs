//! Alertmanager's API v2 model: postable alerts and silences in, gettable alerts, groups
//! and silences out, and the `GET /api/v2/alerts` filters.

use oxeye_core::{MatchOp, Matcher};
use oxeye_rules::alert::{Alert, LabelSet};
use oxeye_rules::notify::api::{format_time, parse_time};
use oxeye_rules::notify::matchers::{Matchers, parse_matchers};
use oxeye_rules::notify::silence::{Silence, SilenceMatcher, SilenceState};
use oxeye_rules::notify::{AlertView, GroupView};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AmError;

/// `postableAlert`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PostableAlert {
    labels: LabelSet,
    #[serde(default)]
    annotations: LabelSet,
    #[serde(default)]
    starts_at: Option<String>,
    #[serde(default)]
    ends_at: Option<String>,
    #[serde(default, rename = "generatorURL")]
    generator_url: String,
}

impl PostableAlert {
    /// The alert; a missing start is now (or the end when that is earlier), a missing
    /// end is left to the resolve timeout.
    pub(crate) fn into_alert(self, now_ms: i64) -> Result<Alert, AmError> {
        let t = |s: &Option<String>| -> Result<Option<i64>, AmError> {
            s.as_deref()
                .map_or(Ok(None), |s| parse_time(s).map_err(AmError::bad))
        };
        let ends = t(&self.ends_at)?;
        let default_start = match ends {
            Some(e) if e < now_ms => e,
            _ => now_ms,
        };
        let starts = t(&self.starts_at)?.unwrap_or(default_start);
        Ok(Alert {
            labels: self.labels,
            annotations: self.annotations,
            starts_at_ms: starts,
            ends_at_ms: ends,
            generator_url: self.generator_url,
        })
    }
}

/// `postableSilence`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PostableSilence {
    #[serde(default)]
    id: Option<String>,
    matchers: Vec<SilenceMatcher>,
    starts_at: String,
    ends_at: String,
    #[serde(default)]
    created_by: String,
    #[serde(default)]
    comment: String,
}

impl PostableSilence {
    pub(crate) fn into_silence(self) -> Result<Silence, AmError> {
        let t = |s: &str, what: &str| -> Result<i64, AmError> {
            parse_time(s)
                .map_err(AmError::bad)?
                .ok_or_else(|| AmError::bad(format!("silence invalid: missing {what}")))
        };
        Ok(Silence {
            id: self.id.unwrap_or_default(),
            matchers: self.matchers,
            starts_at_ms: t(&self.starts_at, "start time")?,
            ends_at_ms: t(&self.ends_at, "end time")?,
            updated_at_ms: 0,
            created_by: self.created_by,
            comment: self.comment,
        })
    }
}

/// `gettableAlert`.
pub(crate) fn gettable_alert(a: &AlertView) -> Value {
    let mut v = json!({
        "labels": a.alert.labels,
        "annotations": a.alert.annotations,
        "startsAt": format_time(Some(a.alert.starts_at_ms)),
        "endsAt": format_time(a.alert.ends_at_ms),
        "updatedAt": format_time(Some(a.updated_at_ms)),
        "generatorURL": a.alert.generator_url,
        "fingerprint": format!("{:016x}", a.fingerprint),
        "receivers": a.receivers.iter().map(|r| json!({"name": r})).collect::<Vec<_>>(),
        "status": {
            "state": a.state(),
            "silencedBy": a.silenced_by,
            "inhibitedBy": a.inhibited_by,
            "mutedBy": [],
        },
    });
    // Alertmanager leaves an empty generatorURL out.
    if a.alert.generator_url.is_empty()
        && let Some(o) = v.as_object_mut()
    {
        o.remove("generatorURL");
    }
    v
}

/// `alertGroup`.
pub(crate) fn gettable_group(g: &GroupView) -> Value {
    json!({
        "labels": g.labels,
        "receiver": {"name": g.receiver},
        "alerts": g.alerts.iter().map(gettable_alert).collect::<Vec<_>>(),
    })
}

/// `gettableSilence`.
pub(crate) fn gettable_silence(s: &Silence, state: SilenceState) -> Value {
    json!({
        "id": s.id,
        "status": {"state": state.as_str()},
        "updatedAt": format_time(Some(s.updated_at_ms)),
        "matchers": s.matchers,
        "startsAt": format_time(Some(s.starts_at_ms)),
        "endsAt": format_time(Some(s.ends_at_ms)),
        "createdBy": s.created_by,
        "comment": s.comment,
    })
}

/// The filters of `GET /api/v2/alerts` and `/api/v2/alerts/groups`.
#[derive(Debug)]
pub(crate) struct AlertsQuery {
    filter: Matchers,
    silenced: bool,
    inhibited: bool,
    active: bool,
    pub(crate) receiver: Option<Matcher>,
}

fn parse_bool(name: &str, v: &str) -> Result<bool, AmError> {
    match v {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(AmError::bad(format!(
            "{name} in query: invalid boolean {v:?}"
        ))),
    }
}

impl AlertsQuery {
    pub(crate) fn parse(q: &str) -> Result<Self, AmError> {
        let mut out = AlertsQuery {
            filter: Matchers::default(),
            silenced: true,
            inhibited: true,
            active: true,
            receiver: None,
        };
        for (k, v) in form_urlencoded::parse(q.as_bytes()) {
            match &*k {
                "filter" => {
                    for m in parse_matchers(&v).map_err(AmError::bad)? {
                        out.filter.push(m);
                    }
                }
                "silenced" => out.silenced = parse_bool("silenced", &v)?,
                "inhibited" => out.inhibited = parse_bool("inhibited", &v)?,
                "active" => out.active = parse_bool("active", &v)?,
                "unprocessed" => {
                    parse_bool("unprocessed", &v)?;
                }
                "receiver" if !v.is_empty() => {
                    out.receiver = Some(
                        Matcher::new(MatchOp::Regex, "receiver", v.to_string()).map_err(|e| {
                            AmError::bad(format!("failed to parse receiver param: {e}"))
                        })?,
                    );
                }
                _ => {}
            }
        }
        Ok(out)
    }

    /// Whether `a` passes the filters.
    pub(crate) fn keep(&self, a: &AlertView) -> bool {
        if !self.filter.matches(&a.alert.labels) {
            return false;
        }
        if let Some(r) = &self.receiver
            && !a.receivers.iter().any(|n| r.matches(n))
        {
            return false;
        }
        let silenced = !a.silenced_by.is_empty();
        let inhibited = !a.inhibited_by.is_empty();
        if silenced && !self.silenced || inhibited && !self.inhibited {
            return false;
        }
        self.active || silenced || inhibited
    }
}
