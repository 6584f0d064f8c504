//! Prometheus-compatible alert templates (Go `text/template` via `gotmpl`).
//!
//! Rule labels and annotations are expanded with `$labels`, `$value`,
//! `$externalLabels`, `$externalURL` (and `.Labels`, `.Value`, `.ExternalLabels`,
//! `.ExternalURL`) and Prometheus's functions: `humanize`, `humanize1024`,
//! `humanizeDuration`, `humanizePercentage`, `humanizeTimestamp`, `toTime`, `query`,
//! `first`, `value`, `label`, `strvalue`, `sortByLabel`, `printf`, `reReplaceAll`,
//! `match`, `toUpper`, `toLower`, `title`, `args`, `safeHtml`, `pathPrefix`,
//! `externalURL`, `graphLink`, `tableLink`, `parseDuration`, `stripPort`, `stripDomain`,
//! `toDuration`.
//!
//! Data flow of [`expand`]: Prometheus's preamble (`{{$labels := .Labels}}...`) is put
//! before the text, which is parsed with the functions above; every printing action's
//! pipeline then gets a last step that prints floats as Go does (`1e+06`, `+Inf`) and
//! missing label values as empty strings (Prometheus runs with `missingkey=zero`). The
//! `query` function must call the rule's [`QueryFunc`], which is only borrowed: the
//! template then runs on a scoped thread and sends its queries back to the caller's
//! thread, which answers them at the evaluation time.

mod funcs;
pub(crate) mod gofmt;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::mpsc;

use gotmpl::parse::{CommandNode, Expr, ListNode, Node, PipeNode};
use gotmpl::{FuncMap, MissingKey, Template, Value};
use oxeye_core::TenantId;

use crate::RulesError;
use crate::alert::LabelSet;
use crate::query::{QueryFunc, Vector};

/// What a template sees.
#[derive(Debug, Clone, Default)]
pub struct TemplateData {
    /// The alert's labels (`$labels`).
    pub labels: LabelSet,
    /// The alert's value (`$value`).
    pub value: f64,
    /// `global.external_labels` (`$externalLabels`).
    pub external_labels: LabelSet,
    /// `--web.external-url` (`externalURL`; its path is `pathPrefix`).
    pub external_url: String,
}

/// Variables Prometheus defines before every alert template.
const PREAMBLE: &str = "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}";

/// The function appended to printing pipelines.
const PRINT_FN: &str = "__oxeye_print";

/// The name the rewritten main body is stored under.
const BODY: &str = "__oxeye_body";

/// Name of templates expanded without one (Prometheus names alert templates
/// `__alert_<alertname>`).
const DEFAULT_NAME: &str = "__alert";

/// Expands `text` at `t_ms`; `query` serves the `query` function (absent: it fails).
pub fn expand(
    text: &str,
    data: &TemplateData,
    t_ms: i64,
    query: Option<(&dyn QueryFunc, &TenantId)>,
) -> Result<String, RulesError> {
    expand_named(DEFAULT_NAME, text, data, t_ms, query)
}

/// [`expand`] with the template's name used in error messages, e.g. `__alert_HighLoad`.
pub fn expand_named(
    name: &str,
    text: &str,
    data: &TemplateData,
    t_ms: i64,
    query: Option<(&dyn QueryFunc, &TenantId)>,
) -> Result<String, RulesError> {
    if !text.contains("{{") {
        return Ok(text.to_string());
    }
    let value = data_value(data);
    let uses_query = text.contains("query");
    let Some((qf, tenant)) = query.filter(|_| uses_query) else {
        let tmpl = compile(name, text, &data.external_url, None)?;
        return execute(name, &tmpl, &value);
    };
    // The query function answers on this thread while the template runs on another.
    let (tx, rx) = mpsc::channel::<QueryRequest>();
    std::thread::scope(|scope| {
        let worker = scope.spawn(move || {
            let tmpl = compile(name, text, &data.external_url, Some(tx))?;
            execute(name, &tmpl, &value)
        });
        while let Ok((expr, reply)) = rx.recv() {
            let result = qf.instant(tenant, &expr, t_ms).map_err(|e| e.to_string());
            // The template may have stopped waiting; nothing to do then.
            let _ = reply.send(result);
        }
        worker.join().unwrap_or_else(|_| {
            Err(RulesError::Template(format!(
                "error expanding template {name}: template execution panicked"
            )))
        })
    })
}

/// Checks that `text` parses as a template (used by `oxeye check rules`).
pub fn check(text: &str) -> Result<(), RulesError> {
    compile(DEFAULT_NAME, text, "", None).map(|_| ())
}

type QueryRequest = (String, mpsc::SyncSender<Result<Vector, String>>);

fn label_map(labels: &LabelSet) -> Value {
    let map: BTreeMap<Arc<str>, Value> = labels
        .iter()
        .map(|(k, v)| (Arc::from(k.as_str()), funcs::string(v.as_str())))
        .collect();
    Value::Map(Arc::new(map))
}

fn data_value(data: &TemplateData) -> Value {
    let mut m: BTreeMap<Arc<str>, Value> = BTreeMap::new();
    m.insert(Arc::from("Labels"), label_map(&data.labels));
    m.insert(
        Arc::from("ExternalLabels"),
        label_map(&data.external_labels),
    );
    m.insert(
        Arc::from("ExternalURL"),
        funcs::string(data.external_url.as_str()),
    );
    m.insert(Arc::from("Value"), Value::Float(data.value));
    Value::Map(Arc::new(m))
}

/// A query result as templates see it: a list of `{Labels, Value}` maps.
fn vector_value(v: Vector) -> Value {
    let items: Vec<Value> = v
        .into_iter()
        .map(|(labels, value)| {
            let map: BTreeMap<Arc<str>, Value> = labels
                .iter()
                .map(|l| (Arc::from(l.name.as_str()), funcs::string(l.value.as_str())))
                .collect();
            let mut s: BTreeMap<Arc<str>, Value> = BTreeMap::new();
            s.insert(Arc::from("Labels"), Value::Map(Arc::new(map)));
            s.insert(Arc::from("Value"), Value::Float(value));
            Value::Map(Arc::new(s))
        })
        .collect();
    Value::List(Arc::from(items))
}

fn all_funcs(external_url: &str, query: Option<mpsc::Sender<QueryRequest>>) -> FuncMap {
    let mut m = funcs::func_map(external_url);
    let query = query.map(parking_lot::Mutex::new);
    let mut q = FuncMap::new();
    q.insert(
        "query".into(),
        Arc::new(move |a: &[Value]| {
            let [Value::String(expr)] = a else {
                return Err(funcs::err("query: expects one string argument"));
            };
            let Some(tx) = &query else {
                return Err(funcs::err(format!(
                    "error executing query {expr:?}: no query function"
                )));
            };
            let (reply_tx, reply_rx) = mpsc::sync_channel(1);
            tx.lock()
                .send((expr.to_string(), reply_tx))
                .map_err(|_| funcs::err("query function is gone"))?;
            let vector = reply_rx
                .recv()
                .map_err(|_| funcs::err("query function is gone"))?
                .map_err(funcs::err)?;
            Ok(vector_value(vector))
        }),
    );
    m.extend(funcs::named_errors(q));
    m.insert(
        PRINT_FN.into(),
        Arc::new(|a: &[Value]| match a.last() {
            Some(Value::Float(f)) => Ok(funcs::string(gofmt::float_v(*f))),
            Some(Value::Nil) | None => Ok(funcs::string("")),
            Some(other) => Ok(other.clone()),
        }),
    );
    m
}

/// Parses the preamble and `text`, then rewrites printing actions to print as Go does.
fn compile(
    name: &str,
    text: &str,
    external_url: &str,
    query: Option<mpsc::Sender<QueryRequest>>,
) -> Result<Template, RulesError> {
    let funcs = all_funcs(external_url, query);
    let src = format!("{PREAMBLE}{text}");
    let parse_err = |e: gotmpl::TemplateError| {
        RulesError::Template(format!("error parsing template {name}: {e}"))
    };
    let parsed = Template::new(name)
        .funcs(funcs.clone())
        .parse(&src)
        .map_err(parse_err)?;
    let mut out = Template::new(name)
        .missing_key(MissingKey::ZeroValue)
        .funcs(funcs.clone())
        .parse(&format!("{{{{template \"{BODY}\" .}}}}"))
        .map_err(parse_err)?;
    for tname in parsed.templates() {
        let Some(tree) = parsed.lookup(tname) else {
            continue;
        };
        let mut unknown = None;
        check_funcs_list(tree, &funcs, &mut unknown);
        if let Some(f) = unknown {
            return Err(RulesError::Template(format!(
                "error parsing template {name}: template: {name}: function {f:?} not defined"
            )));
        }
        let mut tree = tree.clone();
        rewrite_list(&mut tree);
        let target = if tname == name { BODY } else { tname };
        out = out.add_parse_tree(target, tree);
    }
    Ok(out)
}

fn execute(name: &str, tmpl: &Template, data: &Value) -> Result<String, RulesError> {
    tmpl.execute_to_string(data).map_err(|e| {
        RulesError::Template(format!(
            "error executing template {name}: {}",
            e.to_string()
                .trim_start_matches("execution error: ")
                .replace(BODY, name)
        ))
    })
}

/// Go's built-in template functions (gotmpl resolves functions at execution only).
const BUILTINS: [&str; 18] = [
    "and", "or", "not", "len", "index", "slice", "print", "printf", "println", "html", "js",
    "urlquery", "call", "eq", "ne", "lt", "le", "gt",
];

fn known(f: &str, funcs: &FuncMap) -> bool {
    f == "ge" || BUILTINS.contains(&f) || funcs.contains_key(f)
}

/// Finds a function the templates call that is not defined (Go rejects it at parse time).
fn check_funcs_list(list: &ListNode, funcs: &FuncMap, unknown: &mut Option<String>) {
    for node in &list.nodes {
        match node {
            Node::Action(a) => check_funcs_pipe(&a.pipe, funcs, unknown),
            Node::If(b) | Node::Range(b) | Node::With(b) => {
                check_funcs_pipe(&b.pipe, funcs, unknown);
                check_funcs_list(&b.body, funcs, unknown);
                if let Some(e) = &b.else_body {
                    check_funcs_list(e, funcs, unknown);
                }
            }
            Node::Template(t) => {
                if let Some(p) = &t.pipe {
                    check_funcs_pipe(p, funcs, unknown);
                }
            }
            Node::List(l) => check_funcs_list(l, funcs, unknown),
            Node::Define(d) => check_funcs_list(&d.body, funcs, unknown),
            _ => {}
        }
    }
}

fn check_funcs_pipe(pipe: &PipeNode, funcs: &FuncMap, unknown: &mut Option<String>) {
    for cmd in &pipe.commands {
        for arg in &cmd.args {
            check_funcs_expr(arg, funcs, unknown);
        }
    }
}

fn check_funcs_expr(e: &Expr, funcs: &FuncMap, unknown: &mut Option<String>) {
    match e {
        Expr::Identifier(_, f) if unknown.is_none() && !known(f, funcs) => {
            *unknown = Some(f.to_string());
        }
        Expr::Pipe(_, p) => check_funcs_pipe(p, funcs, unknown),
        Expr::Chain(_, inner, _) => check_funcs_expr(inner, funcs, unknown),
        _ => {}
    }
}

fn rewrite_list(list: &mut ListNode) {
    for node in &mut list.nodes {
        rewrite_node(node);
    }
}

fn rewrite_node(node: &mut Node) {
    match node {
        Node::Action(action) if action.pipe.decl.is_empty() => append_print(&mut action.pipe),
        Node::If(b) | Node::Range(b) | Node::With(b) => {
            rewrite_list(&mut b.body);
            if let Some(e) = &mut b.else_body {
                rewrite_list(e);
            }
        }
        Node::List(l) => rewrite_list(l),
        Node::Define(d) => rewrite_list(&mut d.body),
        _ => {}
    }
}

fn append_print(pipe: &mut PipeNode) {
    let pos = pipe.pos;
    pipe.commands.push(CommandNode {
        pos,
        args: vec![Expr::Identifier(pos, PRINT_FN.into())],
    });
}

#[cfg(test)]
mod tests;
