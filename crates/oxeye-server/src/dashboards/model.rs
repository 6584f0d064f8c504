//! The dashboard model: which documents are accepted and how they are normalised.
//!
//! A dashboard is a JSON object in a subset of Grafana's dashboard model: `uid`,
//! `title`, `tags`, `time {from, to}`, `refresh`, `templating.list` and `panels`, each
//! panel with `id`, `type`, `title`, `gridPos {x, y, w, h}` (24 columns), `targets` and
//! the `fieldConfig`/`options` our panel types read. Unknown fields are kept as they are,
//! so a document round-trips; only what the UI relies on is checked.

use serde_json::{Map, Value};

use super::DashboardError;

/// Panel types the UI draws.
pub const PANEL_TYPES: [&str; 7] = [
    "timeseries",
    "stat",
    "gauge",
    "bar",
    "table",
    "logs",
    "traces",
];

/// Datasource types a target may query.
pub const DATASOURCE_TYPES: [&str; 3] = ["prometheus", "loki", "tempo"];

/// Variable types the UI resolves.
pub const VARIABLE_TYPES: [&str; 5] = ["query", "custom", "interval", "constant", "textbox"];

/// Longest uid accepted.
pub const MAX_UID_LEN: usize = 40;

/// Uids that name API endpoints rather than dashboards.
const RESERVED_UIDS: [&str; 1] = ["import"];

/// Checks a uid: 1 to 40 of `[A-Za-z0-9_-]`, not a reserved word.
pub fn check_uid(uid: &str) -> Result<(), DashboardError> {
    if uid.is_empty() || uid.len() > MAX_UID_LEN {
        return Err(DashboardError::BadRequest(format!(
            "invalid dashboard uid {uid:?}: must be 1 to {MAX_UID_LEN} characters"
        )));
    }
    if let Some(c) = uid
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
    {
        return Err(DashboardError::BadRequest(format!(
            "invalid dashboard uid {uid:?}: character {c:?} is not one of [A-Za-z0-9_-]"
        )));
    }
    if RESERVED_UIDS.contains(&uid) {
        return Err(DashboardError::BadRequest(format!(
            "invalid dashboard uid {uid:?}: the name is reserved"
        )));
    }
    Ok(())
}

fn bad(msg: String) -> DashboardError {
    DashboardError::BadRequest(msg)
}

fn opt_str<'a>(
    o: &'a Map<String, Value>,
    key: &str,
    what: &str,
) -> Result<Option<&'a str>, DashboardError> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(bad(format!("{what}: {key} must be a string"))),
    }
}

/// Validates `doc` as the dashboard stored under `uid` and returns it normalised: the
/// uid set, missing `tags`, `panels`, `templating.list` and `time` filled in, panel ids
/// given to panels without one.
pub fn validate(uid: &str, doc: Value) -> Result<Value, DashboardError> {
    check_uid(uid)?;
    let Value::Object(mut o) = doc else {
        return Err(bad("dashboard must be a JSON object".into()));
    };
    match o.get("uid") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if s == uid => {}
        Some(Value::String(s)) => {
            return Err(bad(format!(
                "dashboard uid {s:?} in the body differs from {uid:?} in the path"
            )));
        }
        Some(_) => return Err(bad("dashboard uid must be a string".into())),
    }
    o.insert("uid".into(), Value::String(uid.into()));
    let title = opt_str(&o, "title", "dashboard")?.unwrap_or("");
    if title.trim().is_empty() {
        return Err(bad("dashboard title is required".into()));
    }
    match o.get("tags") {
        None | Some(Value::Null) => {
            o.insert("tags".into(), Value::Array(Vec::new()));
        }
        Some(Value::Array(tags)) => {
            if tags.iter().any(|t| !t.is_string()) {
                return Err(bad("dashboard tags must be strings".into()));
            }
        }
        Some(_) => return Err(bad("dashboard tags must be an array of strings".into())),
    }
    check_time(&mut o)?;
    opt_str(&o, "refresh", "dashboard")?;
    check_templating(&mut o)?;
    let panels = match o.remove("panels") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(p)) => p,
        Some(_) => return Err(bad("dashboard panels must be an array".into())),
    };
    let mut next_id = panels
        .iter()
        .filter_map(|p| p.get("id").and_then(Value::as_i64))
        .max()
        .unwrap_or(0)
        + 1;
    let mut out = Vec::with_capacity(panels.len());
    for (i, p) in panels.into_iter().enumerate() {
        out.push(check_panel(i, p, &mut next_id)?);
    }
    o.insert("panels".into(), Value::Array(out));
    Ok(Value::Object(o))
}

fn check_time(o: &mut Map<String, Value>) -> Result<(), DashboardError> {
    match o.get_mut("time") {
        None | Some(Value::Null) => {
            o.insert(
                "time".into(),
                serde_json::json!({"from": "now-6h", "to": "now"}),
            );
        }
        Some(Value::Object(t)) => {
            for k in ["from", "to"] {
                match t.get(k) {
                    Some(Value::String(s)) if !s.trim().is_empty() => {}
                    None | Some(Value::Null) => {
                        let d = if k == "from" { "now-6h" } else { "now" };
                        t.insert(k.into(), Value::String(d.into()));
                    }
                    Some(_) => {
                        return Err(bad(format!(
                            "dashboard time.{k} must be a non-empty string"
                        )));
                    }
                }
            }
        }
        Some(_) => return Err(bad("dashboard time must be an object {from, to}".into())),
    }
    Ok(())
}

fn check_templating(o: &mut Map<String, Value>) -> Result<(), DashboardError> {
    let list = match o.get_mut("templating") {
        None | Some(Value::Null) => {
            o.insert("templating".into(), serde_json::json!({"list": []}));
            return Ok(());
        }
        Some(Value::Object(t)) => match t.get_mut("list") {
            None | Some(Value::Null) => {
                t.insert("list".into(), Value::Array(Vec::new()));
                return Ok(());
            }
            Some(Value::Array(l)) => l,
            Some(_) => return Err(bad("dashboard templating.list must be an array".into())),
        },
        Some(_) => return Err(bad("dashboard templating must be an object".into())),
    };
    let mut names = std::collections::HashSet::new();
    for (i, v) in list.iter().enumerate() {
        let Value::Object(v) = v else {
            return Err(bad(format!("variable {i} must be an object")));
        };
        let what = format!("variable {i}");
        let name = opt_str(v, "name", &what)?.unwrap_or("");
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(bad(format!(
                "variable {i}: name {name:?} must be non-empty letters, digits or _"
            )));
        }
        if !names.insert(name.to_string()) {
            return Err(bad(format!("variable {name:?} is defined twice")));
        }
        let ty = opt_str(v, "type", &what)?.unwrap_or("");
        if !VARIABLE_TYPES.contains(&ty) {
            return Err(bad(format!(
                "variable {name:?}: unknown type {ty:?} (known: {})",
                VARIABLE_TYPES.join(", ")
            )));
        }
        match v.get("query") {
            None | Some(Value::Null) | Some(Value::String(_)) => {}
            Some(Value::Object(q)) if q.get("query").is_none_or(Value::is_string) => {}
            Some(_) => return Err(bad(format!("variable {name:?}: query must be a string"))),
        }
    }
    Ok(())
}

fn check_panel(i: usize, p: Value, next_id: &mut i64) -> Result<Value, DashboardError> {
    let Value::Object(mut p) = p else {
        return Err(bad(format!("panel {i} must be an object")));
    };
    match p.get("id") {
        None | Some(Value::Null) => {
            p.insert("id".into(), Value::from(*next_id));
            *next_id += 1;
        }
        Some(v) if v.is_i64() => {}
        Some(_) => return Err(bad(format!("panel {i}: id must be an integer"))),
    }
    let what = format!("panel {i}");
    let ty = opt_str(&p, "type", &what)?.unwrap_or("");
    if !PANEL_TYPES.contains(&ty) {
        return Err(bad(format!(
            "panel {i}: unknown panel type {ty:?} (known: {})",
            PANEL_TYPES.join(", ")
        )));
    }
    opt_str(&p, "title", &what)?;
    match p.get("gridPos") {
        None | Some(Value::Null) => {}
        Some(Value::Object(g)) => {
            for k in ["x", "y", "w", "h"] {
                match g.get(k) {
                    None => {}
                    Some(v) if v.as_u64().is_some_and(|n| n <= 10_000) => {}
                    Some(_) => {
                        return Err(bad(format!(
                            "panel {i}: gridPos.{k} must be a non-negative integer"
                        )));
                    }
                }
            }
            if g.get("x").and_then(Value::as_u64).unwrap_or(0) >= 24
                || g.get("w")
                    .and_then(Value::as_u64)
                    .is_some_and(|w| w == 0 || w > 24)
            {
                return Err(bad(format!(
                    "panel {i}: gridPos must fit 24 columns (x < 24, 1 <= w <= 24)"
                )));
            }
        }
        Some(_) => return Err(bad(format!("panel {i}: gridPos must be an object"))),
    }
    match p.get("targets") {
        None | Some(Value::Null) => {}
        Some(Value::Array(ts)) => {
            for (j, t) in ts.iter().enumerate() {
                check_target(i, j, t)?;
            }
        }
        Some(_) => return Err(bad(format!("panel {i}: targets must be an array"))),
    }
    for k in ["fieldConfig", "options"] {
        if p.get(k).is_some_and(|v| !v.is_object() && !v.is_null()) {
            return Err(bad(format!("panel {i}: {k} must be an object")));
        }
    }
    Ok(Value::Object(p))
}

fn check_target(i: usize, j: usize, t: &Value) -> Result<(), DashboardError> {
    let Value::Object(t) = t else {
        return Err(bad(format!("panel {i} target {j} must be an object")));
    };
    let what = format!("panel {i} target {j}");
    for k in ["expr", "refId", "legendFormat", "queryType"] {
        opt_str(t, k, &what)?;
    }
    match t.get("datasource") {
        None | Some(Value::Null) => {}
        Some(Value::Object(ds)) => {
            let ty = opt_str(ds, "type", &what)?.unwrap_or("");
            if !DATASOURCE_TYPES.contains(&ty) {
                return Err(bad(format!(
                    "{what}: unknown datasource type {ty:?} (known: {})",
                    DATASOURCE_TYPES.join(", ")
                )));
            }
        }
        Some(_) => {
            return Err(bad(format!(
                "{what}: datasource must be an object {{type}}"
            )));
        }
    }
    Ok(())
}
