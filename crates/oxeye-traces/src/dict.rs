//! Per-block dictionaries: attribute names and their distinct scalar values per scope,
//! and operations (service, span name, kind). Written to the block's `dict` file and read
//! for `tag_names`, `tag_values` and `operations` without decoding any span.
//!
//! The same data feeds the block's hint filter ([`HintFilter`], kept in memory): a bloom
//! filter over `(scope, key, value)` and span names, the keys with too many values to
//! list (which can never prune), and the longest span duration, so a scan skips blocks
//! that cannot satisfy a [`ScanHint`].

use std::collections::BTreeSet;
use std::sync::Arc;

use oxeye_core::trace::{AnyValue, AttrScope, KeyValue, Operation, ScanHint, SpanKind};

use crate::bloom::{Bloom, hash_bytes};
use crate::enc::{Dec, Inline, get_value, put_bytes, put_uvarint, put_value};
use crate::error::DecodeError;
use crate::head::{FastMap, FastSet};
use crate::model::{ResEntry, StoredSpan};

/// Distinct values listed per attribute key and block; keys with more are marked overflowed.
pub(crate) const MAX_VALUES_PER_KEY: usize = 5_000;
/// Distinct operations listed per block before span names stop pruning.
const MAX_OPERATIONS: usize = 100_000;
const DICT_VERSION: u8 = 1;

#[derive(Debug, Default, Clone)]
pub(crate) struct KeyValues {
    pub values: Vec<AnyValue>,
    seen: FastSet<u64>,
    pub overflow: bool,
}

/// A hash identifying a scalar value (type included); `None` for other values.
fn value_key(v: &AnyValue) -> Option<u64> {
    let mut b = [0u8; 9];
    let bytes: &[u8] = match v {
        AnyValue::String(s) => return Some(hash_bytes(s.as_bytes()) ^ 0x5555),
        AnyValue::Int(i) => {
            b[0] = 1;
            b[1..].copy_from_slice(&i.to_le_bytes());
            &b
        }
        AnyValue::Bool(x) => {
            b[0] = 2;
            b[1] = u8::from(*x);
            &b[..2]
        }
        AnyValue::Double(d) => {
            b[0] = 3;
            b[1..].copy_from_slice(&d.to_bits().to_le_bytes());
            &b
        }
        _ => return None,
    };
    Some(hash_bytes(bytes))
}

impl KeyValues {
    fn add(&mut self, v: &AnyValue) {
        if self.overflow {
            return;
        }
        let Some(k) = value_key(v) else {
            match v {
                // TraceQL's `=` on an array matches any element: list the elements
                AnyValue::Array(items) => {
                    for item in items {
                        if value_key(item).is_some() {
                            self.add(item);
                        } else {
                            self.overflow = true;
                        }
                    }
                }
                AnyValue::Empty => {}
                // values hints cannot describe: never prune on this key
                _ => self.overflow = true,
            }
            if self.overflow {
                self.seen = FastSet::default();
            }
            return;
        };
        if self.seen.contains(&k) {
            return;
        }
        if self.values.len() >= MAX_VALUES_PER_KEY {
            self.overflow = true;
            self.seen = FastSet::default();
            return;
        }
        self.seen.insert(k);
        self.values.push(v.clone());
    }
}

/// A block's dictionaries.
#[derive(Debug, Default, Clone)]
pub(crate) struct Dict {
    pub resource: FastMap<String, KeyValues>,
    pub span: FastMap<String, KeyValues>,
    pub operations: BTreeSet<(String, String, u8)>,
    seen_ops: FastSet<u64>,
    pub ops_overflow: bool,
    pub max_duration: u64,
    /// Resources added recently; held so pointer comparison stays sound.
    recent_res: Vec<Arc<ResEntry>>,
}

const RECENT_RESOURCES: usize = 64;

fn add_attrs(map: &mut FastMap<String, KeyValues>, attrs: &[KeyValue]) {
    for kv in attrs {
        match map.get_mut(&kv.key) {
            Some(kvs) => kvs.add(&kv.value),
            None => {
                let mut kvs = KeyValues::default();
                kvs.add(&kv.value);
                map.insert(kv.key.clone(), kvs);
            }
        }
    }
}

fn kind_u8(k: SpanKind) -> u8 {
    k as u8
}

impl Dict {
    pub fn add(&mut self, s: &StoredSpan) {
        if !self.recent_res.iter().any(|r| Arc::ptr_eq(r, &s.res)) {
            add_attrs(&mut self.resource, &s.res.resource.attributes);
            if self.recent_res.len() >= RECENT_RESOURCES {
                self.recent_res.remove(0);
            }
            self.recent_res.push(s.res.clone());
        }
        add_attrs(&mut self.span, &s.span.attributes);
        self.max_duration = self.max_duration.max(s.span.duration_nanos());
        if !self.ops_overflow {
            let svc = s.res.resource.service_name().unwrap_or_default();
            let mut key = Vec::with_capacity(svc.len() + s.span.name.len() + 2);
            key.extend_from_slice(svc.as_bytes());
            key.push(0xff);
            key.extend_from_slice(s.span.name.as_bytes());
            key.push(kind_u8(s.span.kind));
            if self.seen_ops.insert(hash_bytes(&key)) {
                if self.operations.len() >= MAX_OPERATIONS {
                    self.ops_overflow = true;
                } else {
                    self.operations.insert((
                        svc.to_owned(),
                        s.span.name.clone(),
                        kind_u8(s.span.kind),
                    ));
                }
            }
        }
    }

    /// Adds everything `other` lists (its overflowed keys stay overflowed).
    pub fn merge(&mut self, other: &Dict) {
        for (mine, theirs) in [
            (&mut self.resource, &other.resource),
            (&mut self.span, &other.span),
        ] {
            for (k, kvs) in theirs {
                let entry = mine.entry(k.clone()).or_default();
                if kvs.overflow {
                    entry.overflow = true;
                    entry.values.clear();
                    entry.seen = FastSet::default();
                    continue;
                }
                for v in &kvs.values {
                    entry.add(v);
                }
            }
        }
        for op in &other.operations {
            if self.operations.len() >= MAX_OPERATIONS {
                self.ops_overflow = true;
                break;
            }
            self.operations.insert(op.clone());
        }
        self.ops_overflow |= other.ops_overflow;
        self.max_duration = self.max_duration.max(other.max_duration);
    }

    pub fn operations(&self) -> impl Iterator<Item = Operation> + '_ {
        self.operations
            .iter()
            .map(|(service, name, kind)| Operation {
                service: service.clone(),
                name: name.clone(),
                kind: SpanKind::from_i32(i32::from(*kind)),
            })
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut buf = vec![DICT_VERSION];
        for map in [&self.resource, &self.span] {
            put_uvarint(&mut buf, map.len() as u64);
            let mut keys: Vec<(&String, &KeyValues)> = map.iter().collect();
            keys.sort_unstable_by(|a, b| a.0.cmp(b.0));
            for (k, kvs) in keys {
                put_bytes(&mut buf, k.as_bytes());
                buf.push(u8::from(kvs.overflow));
                put_uvarint(&mut buf, kvs.values.len() as u64);
                for v in &kvs.values {
                    put_value(&mut buf, &mut Inline, v);
                }
            }
        }
        buf.push(u8::from(self.ops_overflow));
        put_uvarint(&mut buf, self.operations.len() as u64);
        for (svc, name, kind) in &self.operations {
            put_bytes(&mut buf, svc.as_bytes());
            put_bytes(&mut buf, name.as_bytes());
            buf.push(*kind);
        }
        put_uvarint(&mut buf, self.max_duration);
        buf
    }

    pub fn decode(raw: &[u8]) -> Result<Dict, DecodeError> {
        let mut d = Dec::new(raw);
        let v = d.u8()?;
        if v != DICT_VERSION {
            return Err(DecodeError(format!("unknown dictionary version {v}")));
        }
        let mut dict = Dict::default();
        for i in 0..2 {
            let n = d.count(3)?;
            let mut map = FastMap::default();
            for _ in 0..n {
                let key = d.str()?.to_owned();
                let overflow = d.u8()? != 0;
                let nv = d.count(1)?;
                let mut values = Vec::with_capacity(nv);
                for _ in 0..nv {
                    values.push(get_value(&mut d, &Inline, 0)?);
                }
                map.insert(
                    key,
                    KeyValues {
                        values,
                        seen: FastSet::default(),
                        overflow,
                    },
                );
            }
            if i == 0 {
                dict.resource = map;
            } else {
                dict.span = map;
            }
        }
        dict.ops_overflow = d.u8()? != 0;
        let n = d.count(3)?;
        for _ in 0..n {
            let svc = d.str()?.to_owned();
            let name = d.str()?.to_owned();
            let kind = d.u8()?;
            dict.operations.insert((svc, name, kind));
        }
        dict.max_duration = d.uvarint()?;
        Ok(dict)
    }

    /// The in-memory filter for scan hints.
    pub fn hint_filter(&self) -> HintFilter {
        let mut hashes = Vec::new();
        let mut overflow = Vec::new();
        for (tag, map) in [(b'r', &self.resource), (b's', &self.span)] {
            for (k, kvs) in map {
                if kvs.overflow {
                    overflow.push((tag, k.clone()));
                    continue;
                }
                for v in &kvs.values {
                    hashes.push(pair_hash(tag, k, &v.to_text()));
                }
            }
        }
        for (_, name, _) in &self.operations {
            hashes.push(pair_hash(b'n', "", name));
        }
        HintFilter {
            bloom: Bloom::from_hashes(&hashes),
            overflow,
            names_overflow: self.ops_overflow,
            max_duration: self.max_duration,
        }
    }
}

fn pair_hash(tag: u8, key: &str, value: &str) -> u64 {
    let mut b = Vec::with_capacity(key.len() + value.len() + 3);
    b.push(tag);
    b.extend_from_slice(key.as_bytes());
    b.push(0);
    b.extend_from_slice(value.as_bytes());
    hash_bytes(&b)
}

/// What a block keeps in memory to answer "could this block satisfy these hints".
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct HintFilter {
    bloom: Bloom,
    overflow: Vec<(u8, String)>,
    names_overflow: bool,
    max_duration: u64,
}

impl HintFilter {
    /// False only when the block certainly holds no span satisfying every hint.
    pub fn may_match(&self, hints: &[ScanHint]) -> bool {
        hints.iter().all(|h| self.may_match_one(h))
    }

    fn may_match_one(&self, hint: &ScanHint) -> bool {
        match hint {
            ScanHint::AttrEquals { scope, key, value } => {
                let tags: &[u8] = match scope {
                    Some(AttrScope::Resource) => b"r",
                    Some(AttrScope::Span) => b"s",
                    None => b"rs",
                };
                tags.iter().any(|&t| {
                    self.overflow.iter().any(|(ot, k)| *ot == t && k == key)
                        || self.bloom.may_contain(pair_hash(t, key, value))
                })
            }
            ScanHint::SpanName(n) => {
                self.names_overflow || self.bloom.may_contain(pair_hash(b'n', "", n))
            }
            ScanHint::MinSpanDuration(d) => self.max_duration >= *d,
        }
    }

    pub fn encode(&self, buf: &mut Vec<u8>) {
        self.bloom.encode(buf);
        put_uvarint(buf, self.overflow.len() as u64);
        for (t, k) in &self.overflow {
            buf.push(*t);
            put_bytes(buf, k.as_bytes());
        }
        buf.push(u8::from(self.names_overflow));
        put_uvarint(buf, self.max_duration);
    }

    pub fn decode(d: &mut Dec<'_>) -> Result<HintFilter, DecodeError> {
        let bloom = Bloom::decode(d)?;
        let n = d.count(2)?;
        let mut overflow = Vec::with_capacity(n);
        for _ in 0..n {
            let t = d.u8()?;
            overflow.push((t, d.str()?.to_owned()));
        }
        Ok(HintFilter {
            bloom,
            overflow,
            names_overflow: d.u8()? != 0,
            max_duration: d.uvarint()?,
        })
    }

    pub fn bytes(&self) -> usize {
        self.bloom.bytes()
            + self
                .overflow
                .iter()
                .map(|(_, k)| k.len() + 32)
                .sum::<usize>()
    }
}
