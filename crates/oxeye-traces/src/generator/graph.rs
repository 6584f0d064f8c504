//! Service-graph edges: client and server halves of one request paired in memory.
//!
//! A client (or producer) span opens or completes the edge keyed by (trace id, its span
//! id); a server (or consumer) span the edge keyed by (trace id, its parent span id), so a
//! server span meets the client span that is its parent. An edge is complete once both
//! halves are known; a client span to a database (`db.namespace`, `db.name` or `db.system`)
//! completes at once, the database being the server. Edges wait at most the configured
//! time; on expiry a root server span with no client gets the client `user` (or its peer
//! attribute), a client span with a peer attribute (`peer.service`, `db.name`...) gets
//! that peer as server, both with connection type `virtual_node`; other expired halves are
//! counted and dropped.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use oxeye_core::trace::{
    AnyValue, Resource, Span, SpanId, SpanKind, SpanStatusCode, TraceId, attr,
};

/// How the two sides of an edge are connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum ConnType {
    /// A direct call.
    Direct,
    /// Through a messaging system (producer -> consumer).
    Messaging,
    /// A database call.
    Database,
    /// One side was inferred after the edge expired.
    Virtual,
}

impl ConnType {
    /// The `connection_type` label value (empty for direct calls).
    pub fn label(self) -> &'static str {
        match self {
            ConnType::Direct => "",
            ConnType::Messaging => "messaging_system",
            ConnType::Database => "database",
            ConnType::Virtual => "virtual_node",
        }
    }
}

/// One half of an edge.
#[derive(Debug, Clone)]
struct Side {
    service: Arc<str>,
    secs: f64,
}

#[derive(Debug, Clone)]
struct Edge {
    client: Option<Side>,
    server: Option<Side>,
    conn: ConnType,
    failed: bool,
    /// The peer named by the client span (or a root server span), for virtual nodes.
    peer: Option<Arc<str>>,
    /// The server half is a root span.
    root: bool,
    /// The span whose id goes into exemplars.
    span_id: SpanId,
    deadline_ms: i64,
}

/// A request between two services, ready to be counted.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub client: Arc<str>,
    pub server: Arc<str>,
    pub conn: ConnType,
    pub failed: bool,
    pub client_secs: f64,
    pub server_secs: f64,
    pub trace_id: TraceId,
    pub span_id: SpanId,
}

type Key = (TraceId, SpanId);

/// Edges waiting for their other half, for one tenant.
#[derive(Debug)]
pub(crate) struct PendingEdges {
    edges: HashMap<Key, Edge>,
    /// (deadline, key) in creation order; entries of completed edges are skipped.
    queue: VecDeque<(i64, Key)>,
    names: HashSet<Arc<str>>,
    max: usize,
    wait_ms: i64,
    /// Edges that expired without both halves.
    pub expired: u64,
    /// Spans not paired because too many edges were pending.
    pub dropped: u64,
}

const USER: &str = "user";
/// Interned names kept at most (services, peers, databases).
const MAX_NAMES: usize = 100_000;
const DB_NAME_KEYS: [&str; 3] = ["db.namespace", "db.name", "db.system"];

/// The value of `key` on the resource, else on the span.
fn find<'a>(resource: &'a Resource, span: &'a Span, key: &str) -> Option<&'a AnyValue> {
    attr(&resource.attributes, key).or_else(|| attr(&span.attributes, key))
}

fn text(v: &AnyValue) -> Option<String> {
    let s = v.to_text();
    (!s.is_empty()).then_some(s)
}

impl PendingEdges {
    pub fn new(max: usize, wait_ms: i64) -> Self {
        Self {
            edges: HashMap::new(),
            queue: VecDeque::new(),
            names: HashSet::new(),
            max,
            wait_ms,
            expired: 0,
            dropped: 0,
        }
    }

    /// Edges waiting.
    pub fn len(&self) -> usize {
        self.edges.len()
    }

    /// Whether no edge is waiting.
    pub fn is_empty(&self) -> bool {
        self.edges.is_empty()
    }

    fn intern(&mut self, s: &str) -> Arc<str> {
        if let Some(a) = self.names.get(s) {
            return a.clone();
        }
        if self.names.len() >= MAX_NAMES {
            // names still in use live on in their edges and series
            self.names.clear();
        }
        let a: Arc<str> = Arc::from(s);
        self.names.insert(a.clone());
        a
    }

    fn peer(&mut self, span: &Span, peer_keys: &[String]) -> Option<Arc<str>> {
        let v = peer_keys
            .iter()
            .find_map(|k| attr(&span.attributes, k).and_then(text))?;
        Some(self.intern(&v))
    }

    /// The database server a client span calls, if it calls one: `peer.service`,
    /// `server.address`, `network.peer.address[:port]`, else the database's name.
    fn database(&mut self, resource: &Resource, span: &Span) -> Option<Arc<str>> {
        let db = DB_NAME_KEYS
            .iter()
            .find_map(|k| find(resource, span, k).and_then(text))?;
        let named = ["peer.service", "server.address"]
            .iter()
            .find_map(|k| find(resource, span, k).and_then(text));
        let name = match named {
            Some(n) => n,
            None => match find(resource, span, "network.peer.address").and_then(text) {
                Some(host) => match find(resource, span, "network.peer.port").and_then(text) {
                    Some(port) => format!("{host}:{port}"),
                    None => host,
                },
                None => db,
            },
        };
        Some(self.intern(&name))
    }

    /// Adds one span of `service`; returns the request it completes, if any. Spans that are
    /// not client, producer, server or consumer are ignored.
    pub fn observe(
        &mut self,
        resource: &Resource,
        service: &str,
        span: &Span,
        now_ms: i64,
        peer_keys: &[String],
    ) -> Option<Request> {
        let client_side = match span.kind {
            SpanKind::Client | SpanKind::Producer => true,
            SpanKind::Server | SpanKind::Consumer => false,
            _ => return None,
        };
        let key = if client_side {
            (span.trace_id, span.span_id)
        } else {
            (span.trace_id, span.parent_span_id)
        };
        let is_new = !self.edges.contains_key(&key);
        if is_new && self.edges.len() >= self.max {
            self.dropped += 1;
            return None;
        }
        let side = Side {
            service: self.intern(service),
            secs: span.duration_nanos() as f64 / 1e9,
        };
        let messaging = matches!(span.kind, SpanKind::Producer | SpanKind::Consumer);
        let failed = span.status_code == SpanStatusCode::Error;
        let (peer, database) = if client_side {
            (self.peer(span, peer_keys), self.database(resource, span))
        } else if span.is_root() {
            (self.peer(span, peer_keys), None)
        } else {
            (None, None)
        };
        let deadline_ms = now_ms.saturating_add(self.wait_ms);
        let edge = self.edges.entry(key).or_insert_with(|| Edge {
            client: None,
            server: None,
            conn: ConnType::Direct,
            failed: false,
            peer: None,
            root: false,
            span_id: span.span_id,
            deadline_ms,
        });
        if is_new {
            self.queue.push_back((deadline_ms, key));
        }
        edge.failed |= failed;
        if messaging {
            edge.conn = ConnType::Messaging;
        }
        if client_side {
            if let Some(p) = peer {
                edge.peer = Some(p);
            }
            if let Some(db) = database {
                edge.conn = ConnType::Database;
                edge.server = Some(Side {
                    service: db,
                    secs: side.secs,
                });
            }
            edge.client = Some(side);
        } else {
            edge.root = span.is_root();
            if edge.peer.is_none() {
                edge.peer = peer;
            }
            edge.span_id = span.span_id;
            edge.server = Some(side);
        }
        if edge.client.is_none() || edge.server.is_none() {
            return None;
        }
        let edge = self.edges.remove(&key)?;
        complete(key.0, edge)
    }

    /// Expires edges whose wait is over at `now_ms`, pushing the requests inferred from
    /// them (virtual nodes) to `out`.
    pub fn expire(&mut self, now_ms: i64, out: &mut Vec<Request>) {
        while let Some(&(deadline, key)) = self.queue.front() {
            if deadline > now_ms {
                break;
            }
            self.queue.pop_front();
            let Some(edge) = self.edges.get(&key) else {
                continue;
            };
            if edge.deadline_ms != deadline {
                continue;
            }
            let Some(mut edge) = self.edges.remove(&key) else {
                continue;
            };
            self.expired += 1;
            match (&edge.client, &edge.server) {
                (None, Some(server)) if edge.root => {
                    let client = edge.peer.clone().unwrap_or_else(|| self.intern(USER));
                    edge.client = Some(Side {
                        service: client,
                        secs: server.secs,
                    });
                }
                (Some(client), None) => {
                    let Some(peer) = edge.peer.clone() else {
                        continue;
                    };
                    edge.server = Some(Side {
                        service: peer,
                        secs: client.secs,
                    });
                }
                _ => continue,
            }
            edge.conn = ConnType::Virtual;
            out.extend(complete(key.0, edge));
        }
        if self.edges.is_empty() {
            self.queue.clear();
            self.names.clear();
        }
    }
}

fn complete(trace_id: TraceId, e: Edge) -> Option<Request> {
    let client = e.client?;
    let server = e.server?;
    Some(Request {
        client: client.service,
        server: server.service,
        conn: e.conn,
        failed: e.failed,
        client_secs: client.secs,
        server_secs: server.secs,
        trace_id,
        span_id: e.span_id,
    })
}
