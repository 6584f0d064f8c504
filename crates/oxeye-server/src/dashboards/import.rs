//! Grafana dashboard JSON to ours.
//!
//! Accepts a dashboard as Grafana exports it ("Export for sharing externally", with
//! `__inputs` naming the `${DS_...}` datasources), as its API returns it
//! (`{dashboard: {...}, meta: {...}}`), or from before schema 16 (`rows[].panels[]` with
//! `span`). Panel types map to ours (`graph` → timeseries, `singlestat` → stat,
//! `bargauge`/`barchart` → bar, `table-old` → table); rows are flattened into their
//! children. Each target's datasource comes from its own `datasource`, else the panel's:
//! an object's `type`, a `${DS_...}` input's `pluginId`, a datasource name naming the
//! type, or, failing those, the shape of the target (`query`/TraceQL → tempo, a LogQL
//! pipeline → loki, `expr` → prometheus). What cannot be kept is listed, not guessed.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use super::DashboardError;
use super::model::{self, MAX_UID_LEN};

/// The outcome of an import: our dashboard and what was left out.
#[derive(Debug)]
pub struct Imported {
    /// The dashboard in our model (not yet validated).
    pub dashboard: Value,
    /// One line per panel, target or variable left out, and why.
    pub dropped: Vec<String>,
}

/// Maps a Grafana dashboard (exported or wrapped in `{dashboard}`) to ours.
pub fn import(body: Value) -> Result<Imported, DashboardError> {
    let Value::Object(mut outer) = body else {
        return Err(DashboardError::BadRequest(
            "grafana dashboard must be a JSON object".into(),
        ));
    };
    let inputs = datasource_inputs(outer.get("__inputs"));
    let mut g = match outer.remove("dashboard") {
        Some(Value::Object(d)) => d,
        Some(_) => {
            return Err(DashboardError::BadRequest(
                "grafana dashboard: dashboard must be an object".into(),
            ));
        }
        None => outer,
    };
    let mut inputs = inputs;
    inputs.extend(datasource_inputs(g.get("__inputs")));
    let mut dropped = Vec::new();
    let title = g
        .get("title")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .unwrap_or("Imported dashboard")
        .to_string();
    let uid = match g.get("uid").and_then(Value::as_str) {
        Some(u) if model::check_uid(u).is_ok() => u.to_string(),
        _ => uid_from_title(&title),
    };
    let mut out = Map::new();
    out.insert("uid".into(), Value::String(uid));
    out.insert("title".into(), Value::String(title));
    let tags: Vec<Value> = g
        .get("tags")
        .and_then(Value::as_array)
        .map(|t| t.iter().filter(|v| v.is_string()).cloned().collect())
        .unwrap_or_default();
    out.insert("tags".into(), Value::Array(tags));
    if let Some(Value::Object(t)) = g.get("time") {
        let s = |k: &str, d: &str| t.get(k).and_then(Value::as_str).unwrap_or(d).to_string();
        out.insert(
            "time".into(),
            json!({"from": s("from", "now-6h"), "to": s("to", "now")}),
        );
    }
    if let Some(Value::String(r)) = g.get("refresh") {
        out.insert("refresh".into(), Value::String(r.clone()));
    }
    if let Some(d) = g.get("description").filter(|d| d.is_string()) {
        out.insert("description".into(), d.clone());
    }
    let vars = import_variables(g.get("templating"), &mut dropped);
    out.insert("templating".into(), json!({ "list": vars }));

    let mut flat = Vec::new();
    match g.remove("panels") {
        Some(Value::Array(ps)) => flatten(ps, &mut flat),
        Some(_) => dropped.push("panels: not an array".into()),
        None => {}
    }
    if let Some(Value::Array(rows)) = g.remove("rows") {
        flat.extend(legacy_rows(rows));
    }
    let mut panels = Vec::new();
    for (i, p) in flat.into_iter().enumerate() {
        if let Some(p) = import_panel(i, p, &inputs, &mut dropped) {
            panels.push(p);
        }
    }
    out.insert("panels".into(), Value::Array(panels));
    Ok(Imported {
        dashboard: Value::Object(out),
        dropped,
    })
}

/// `__inputs` of type datasource: input name → plugin id.
fn datasource_inputs(v: Option<&Value>) -> HashMap<String, String> {
    let mut m = HashMap::new();
    for i in v.and_then(Value::as_array).into_iter().flatten() {
        let (Some(name), Some(plugin)) = (
            i.get("name").and_then(Value::as_str),
            i.get("pluginId").and_then(Value::as_str),
        ) else {
            continue;
        };
        if i.get("type")
            .and_then(Value::as_str)
            .unwrap_or("datasource")
            == "datasource"
        {
            m.insert(name.to_string(), plugin.to_string());
        }
    }
    m
}

/// A uid from a title: lowercase letters and digits, other runs as `-`.
fn uid_from_title(title: &str) -> String {
    let mut s = String::new();
    for c in title.chars() {
        if c.is_ascii_alphanumeric() {
            s.push(c.to_ascii_lowercase());
        } else if !s.ends_with('-') && !s.is_empty() {
            s.push('-');
        }
        if s.len() >= MAX_UID_LEN {
            break;
        }
    }
    let s = s.trim_end_matches('-').to_string();
    if s.is_empty() || model::check_uid(&s).is_err() {
        "imported".into()
    } else {
        s
    }
}

/// Rows' children in place of the rows (collapsed rows hold theirs in `panels`).
fn flatten(ps: Vec<Value>, out: &mut Vec<Value>) {
    for mut p in ps {
        if p.get("type").and_then(Value::as_str) == Some("row") {
            if let Some(Value::Array(children)) = p.get_mut("panels").map(Value::take) {
                flatten(children, out);
            }
            continue;
        }
        out.push(p);
    }
}

/// Panels of schema < 16: rows of panels sized in `span` of 12 columns and a row height.
fn legacy_rows(rows: Vec<Value>) -> Vec<Value> {
    let mut out = Vec::new();
    let mut y = 0u64;
    for row in rows {
        let px = match row.get("height") {
            Some(Value::String(s)) => s.trim_end_matches("px").parse::<u64>().unwrap_or(250),
            Some(v) => v.as_u64().unwrap_or(250),
            None => 250,
        };
        let h = (px / 30).clamp(3, 30);
        let mut x = 0u64;
        for mut p in row
            .get("panels")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
        {
            let span = p.get("span").and_then(Value::as_f64).unwrap_or(12.0);
            let w = ((span * 2.0).round() as u64).clamp(1, 24);
            if x + w > 24 {
                x = 0;
                y += h;
            }
            if let Value::Object(o) = &mut p {
                o.insert("gridPos".into(), json!({"x": x, "y": y, "w": w, "h": h}));
            }
            x += w;
            out.push(p);
        }
        y += h;
    }
    out
}

fn map_panel_type(t: &str) -> Option<&'static str> {
    Some(match t {
        "graph" | "timeseries" | "trend" => "timeseries",
        "singlestat" | "stat" => "stat",
        "gauge" => "gauge",
        "bargauge" | "barchart" => "bar",
        "table" | "table-old" => "table",
        "logs" => "logs",
        "traces" => "traces",
        _ => return None,
    })
}

fn import_panel(
    i: usize,
    p: Value,
    inputs: &HashMap<String, String>,
    dropped: &mut Vec<String>,
) -> Option<Value> {
    let Value::Object(p) = p else {
        dropped.push(format!("panel {i}: not an object"));
        return None;
    };
    let title = p
        .get("title")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let gtype = p.get("type").and_then(Value::as_str).unwrap_or("");
    let Some(ty) = map_panel_type(gtype) else {
        dropped.push(format!(
            "panel {:?}: unsupported panel type {gtype:?}",
            label(&title, i)
        ));
        return None;
    };
    let mut out = Map::new();
    if let Some(id) = p.get("id").filter(|v| v.is_i64()) {
        out.insert("id".into(), id.clone());
    }
    out.insert("type".into(), Value::String(ty.into()));
    out.insert("title".into(), Value::String(title.clone()));
    if let Some(g) = grid_pos(p.get("gridPos")) {
        out.insert("gridPos".into(), g);
    }
    if let Some(d) = p.get("description").filter(|d| d.is_string()) {
        out.insert("description".into(), d.clone());
    }
    // the panel's minimum interval: its step floor and the scrape interval of
    // `$__rate_interval`
    if let Some(d) = p.get("interval").filter(|d| d.is_string()) {
        out.insert("interval".into(), d.clone());
    }
    let mut field_config = p
        .get("fieldConfig")
        .filter(|v| v.is_object())
        .cloned()
        .unwrap_or_else(|| json!({"defaults": {}}));
    // old panels keep their unit and thresholds elsewhere
    legacy_field_config(&p, &mut field_config);
    out.insert("fieldConfig".into(), field_config);
    let mut options = p
        .get("options")
        .filter(|v| v.is_object())
        .cloned()
        .unwrap_or_else(|| json!({}));
    if gtype == "bargauge"
        && let Value::Object(o) = &mut options
    {
        o.entry("displayMode").or_insert(json!("gauge"));
    }
    out.insert("options".into(), options);
    let panel_ds = p.get("datasource");
    let mut targets = Vec::new();
    for (j, t) in p
        .get("targets")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        match import_target(t, panel_ds, inputs, ty) {
            Ok(t) => targets.push(t),
            Err(why) => dropped.push(format!(
                "panel {:?} target {}: {why}",
                label(&title, i),
                t.get("refId")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .unwrap_or(j.to_string())
            )),
        }
    }
    out.insert("targets".into(), Value::Array(targets));
    Some(Value::Object(out))
}

fn label(title: &str, i: usize) -> String {
    if title.is_empty() {
        format!("#{i}")
    } else {
        title.to_string()
    }
}

fn grid_pos(v: Option<&Value>) -> Option<Value> {
    let g = v?.as_object()?;
    let n = |k: &str, d: u64| g.get(k).and_then(Value::as_u64).unwrap_or(d);
    let x = n("x", 0).min(23);
    let w = n("w", 12).clamp(1, 24);
    Some(json!({"x": x, "y": n("y", 0).min(10_000), "w": w, "h": n("h", 8).clamp(1, 10_000)}))
}

/// `format`/`thresholds` of graph and singlestat panels into `fieldConfig.defaults`.
fn legacy_field_config(p: &Map<String, Value>, fc: &mut Value) {
    let Some(defaults) = fc
        .as_object_mut()
        .map(|o| o.entry("defaults").or_insert_with(|| json!({})))
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    if let Some(Value::String(f)) = p.get("format")
        && !defaults.contains_key("unit")
    {
        defaults.insert("unit".into(), Value::String(f.clone()));
    }
    if let Some(Value::String(t)) = p.get("thresholds")
        && !defaults.contains_key("thresholds")
    {
        let colors = ["green", "orange", "red"];
        let mut steps = vec![json!({"value": null, "color": colors[0]})];
        for (k, v) in t
            .split(',')
            .filter_map(|s| s.trim().parse::<f64>().ok())
            .enumerate()
        {
            steps.push(json!({"value": v, "color": colors[(k + 1).min(2)]}));
        }
        defaults.insert(
            "thresholds".into(),
            json!({"mode": "absolute", "steps": steps}),
        );
    }
}

/// The datasource type a reference names, if it names one.
fn ds_type(v: Option<&Value>, inputs: &HashMap<String, String>) -> Option<String> {
    let name = match v? {
        Value::Object(o) => {
            if let Some(t) = o.get("type").and_then(Value::as_str) {
                return Some(t.to_string());
            }
            o.get("uid").and_then(Value::as_str)?
        }
        Value::String(s) => s.as_str(),
        _ => return None,
    };
    let inner = name
        .strip_prefix("${")
        .and_then(|s| s.strip_suffix('}'))
        .or_else(|| name.strip_prefix('$'));
    if let Some(input) = inner {
        return inputs.get(input).cloned().or_else(|| named_type(input));
    }
    named_type(name)
}

/// A datasource name that says its type (`Prometheus`, `DS_LOKI`, `-- Grafana --`).
fn named_type(name: &str) -> Option<String> {
    let l = name.to_ascii_lowercase();
    for t in [
        "prometheus",
        "loki",
        "tempo",
        "mixed",
        "grafana",
        "jaeger",
        "elasticsearch",
        "influxdb",
    ] {
        if l.contains(t) {
            return Some(t.to_string());
        }
    }
    None
}

/// Whether `expr` is LogQL rather than PromQL: it has a log pipeline stage.
fn looks_like_logql(expr: &str) -> bool {
    let compact: String = expr.chars().filter(|c| !c.is_whitespace()).collect();
    compact.contains('{')
        && [
            "|=",
            "|~",
            "|json",
            "|logfmt",
            "|pattern",
            "|regexp",
            "|line_format",
            "|label_format",
            "|unwrap",
            "|decolorize",
            "|drop",
            "|keep",
        ]
        .iter()
        .any(|p| compact.contains(p))
}

fn import_target(
    t: &Value,
    panel_ds: Option<&Value>,
    inputs: &HashMap<String, String>,
    panel_type: &str,
) -> Result<Value, String> {
    let Value::Object(t) = t else {
        return Err("not an object".into());
    };
    let expr = t.get("expr").and_then(Value::as_str);
    let query = t.get("query").and_then(Value::as_str);
    let mut ty = ds_type(t.get("datasource"), inputs)
        .filter(|d| d != "mixed")
        .or_else(|| ds_type(panel_ds, inputs).filter(|d| d != "mixed"));
    if ty.is_none() {
        ty = match (expr, query) {
            (Some(e), _) if panel_type == "logs" || looks_like_logql(e) => Some("loki".into()),
            (Some(_), _) => Some("prometheus".into()),
            (None, Some(_)) => Some("tempo".into()),
            (None, None) => None,
        };
    }
    let ty = ty.ok_or_else(|| "no query and no datasource".to_string())?;
    if !model::DATASOURCE_TYPES.contains(&ty.as_str()) {
        return Err(format!("unsupported datasource type {ty:?}"));
    }
    let text = if ty == "tempo" { query.or(expr) } else { expr };
    let Some(text) = text.filter(|s| !s.trim().is_empty()) else {
        return Err(format!("{ty} target without a query"));
    };
    let mut out = Map::new();
    out.insert("expr".into(), Value::String(text.to_string()));
    for k in ["refId", "legendFormat"] {
        if let Some(v) = t.get(k).filter(|v| v.is_string()) {
            out.insert(k.into(), v.clone());
        }
    }
    out.insert("datasource".into(), json!({ "type": ty }));
    let instant = t.get("instant").and_then(Value::as_bool) == Some(true)
        && t.get("range").and_then(Value::as_bool) != Some(true);
    if let Some(q) = t.get("queryType").and_then(Value::as_str) {
        out.insert("queryType".into(), Value::String(q.to_string()));
    } else if instant
        || t.get("format").and_then(Value::as_str) == Some("table") && panel_type == "table"
    {
        out.insert("queryType".into(), Value::String("instant".into()));
    }
    if t.get("hide").and_then(Value::as_bool) == Some(true) {
        out.insert("hide".into(), Value::Bool(true));
    }
    Ok(Value::Object(out))
}

fn import_variables(t: Option<&Value>, dropped: &mut Vec<String>) -> Vec<Value> {
    let mut out = Vec::new();
    for v in t
        .and_then(|t| t.get("list"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(name) = v.get("name").and_then(Value::as_str) else {
            dropped.push("variable without a name".into());
            continue;
        };
        let ty = v.get("type").and_then(Value::as_str).unwrap_or("");
        if !model::VARIABLE_TYPES.contains(&ty) {
            dropped.push(format!(
                "variable {name:?}: unsupported variable type {ty:?}"
            ));
            continue;
        }
        let mut o = Map::new();
        o.insert("name".into(), Value::String(name.to_string()));
        o.insert("type".into(), Value::String(ty.to_string()));
        for k in ["label", "regex", "auto_min", "auto_count"] {
            if let Some(x) = v.get(k).filter(|x| x.is_string() || x.is_number()) {
                o.insert(k.into(), x.clone());
            }
        }
        for k in ["multi", "includeAll", "auto"] {
            if let Some(x) = v.get(k).filter(|x| x.is_boolean()) {
                o.insert(k.into(), x.clone());
            }
        }
        let query = match v.get("query") {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Object(q)) => q.get("query").and_then(Value::as_str).map(str::to_string),
            _ => None,
        };
        if let Some(q) = query {
            o.insert("query".into(), Value::String(q));
        }
        if let Some(c) = v.get("current").filter(|c| c.is_object()) {
            let mut cur = Map::new();
            if let Some(val) = c.get("value").filter(|x| x.is_string() || x.is_array()) {
                cur.insert("value".into(), val.clone());
            }
            o.insert("current".into(), Value::Object(cur));
        }
        out.push(Value::Object(o));
    }
    out
}
