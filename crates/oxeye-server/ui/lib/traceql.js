// TraceQL language support for the editor: completion and validation, and the search
// form's fields turned into TraceQL.
//
// Completion looks at the text before the cursor: outside a spanset (`{ ... }`) it offers
// a new spanset and the spanset operators and pipeline stages; inside one, after an
// attribute and a comparison operator it offers that attribute's values
// (`/api/v2/search/tag/<tag>/values`, strings quoted, keywords such as `error` bare);
// after an attribute and a space it offers operators; otherwise intrinsics, scopes and the
// attribute names the server knows for the time range (`/api/v2/search/tags`).
// Validation checks brackets and quotes locally, then asks the server to parse the query
// (a search over a range that holds no data, so nothing is scanned) and reports its
// message.

import { wordBefore } from './editor.js';

/** Intrinsics (Tempo's names) with what they are. */
export const INTRINSICS = [
  ['name', 'span name'], ['status', 'span status: ok, error, unset'], ['statusMessage', 'span status message'],
  ['kind', 'span kind'], ['duration', 'span duration'], ['rootName', 'root span name'],
  ['rootServiceName', 'root service'], ['traceDuration', 'trace duration'],
  ['event:name', 'event name'], ['link:traceID', 'linked trace id'], ['link:spanID', 'linked span id'],
  ['span:id', 'span id'], ['span:parentID', 'parent span id'], ['trace:id', 'trace id'],
  ['instrumentation:name', 'scope name'], ['instrumentation:version', 'scope version'],
];
export const SCOPES = [
  ['resource.', 'resource attribute'], ['span.', 'span attribute'], ['.', 'any scope'],
  ['event.', 'event attribute'], ['link.', 'link attribute'], ['instrumentation.', 'scope attribute'],
];
export const OPERATORS = ['=', '!=', '=~', '!~', '>', '>=', '<', '<='];
const PIPELINE = [
  ['| count() > 1', 'spansets with more than one span'], ['| avg(duration) > 100ms', 'aggregate'],
  ['| select(span.http.method)', 'extra attributes in results'], ['| by(resource.service.name)', 'group'],
  ['&& { }', 'both spansets in a trace'], ['|| { }', 'either spanset'], ['>> { }', 'descendant'],
  ['> { }', 'child'], ['~ { }', 'sibling'],
];
const DURATIONS = ['100ms', '500ms', '1s', '5s', '30s'];

/** A TraceQL/LogQL/PromQL double-quoted string. */
export function quote(s) {
  return `"${String(s).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
}

/** Splits logfmt (`a=1 b="x y"`) into [key, value] pairs; throws on bad input. */
export function parseLogfmt(s) {
  const out = [];
  let i = 0;
  const str = String(s || '');
  while (i < str.length) {
    while (i < str.length && /\s/.test(str[i])) i++;
    if (i >= str.length) break;
    let key = '';
    while (i < str.length && str[i] !== '=' && !/\s/.test(str[i])) key += str[i++];
    if (str[i] !== '=') throw new Error(`tag "${key}" has no value, expected key=value`);
    if (!key) throw new Error('empty tag name before "="');
    i++;
    let value = '';
    if (str[i] === '"') {
      i++;
      while (i < str.length && str[i] !== '"') {
        if (str[i] === '\\' && i + 1 < str.length) i++;
        value += str[i++];
      }
      if (str[i] !== '"') throw new Error(`unterminated quoted value of tag "${key}"`);
      i++;
    } else {
      while (i < str.length && !/\s/.test(str[i])) value += str[i++];
    }
    out.push([key, value]);
  }
  return out;
}

const STATUS_WORDS = { ok: 'ok', error: 'error', unset: 'unset', status_code_ok: 'ok', status_code_error: 'error', status_code_unset: 'unset' };
const KIND_WORDS = ['unspecified', 'internal', 'server', 'client', 'producer', 'consumer'];

function tagCondition(key, value) {
  const v = value.toLowerCase();
  if (key === 'service.name' || key === 'service') return `resource.service.name = ${quote(value)}`;
  if (key === 'name' || key === 'operation') return `name = ${quote(value)}`;
  if (key === 'status' || key === 'status.code') {
    if (!STATUS_WORDS[v]) throw new Error(`invalid value "${value}" for tag ${key}: expected ok, error or unset`);
    return `status = ${STATUS_WORDS[v]}`;
  }
  if (key === 'error' && v === 'true') return 'status = error';
  if ((key === 'kind' || key === 'span.kind') && KIND_WORDS.includes(v.replace(/^span_kind_/, ''))) {
    return `kind = ${v.replace(/^span_kind_/, '')}`;
  }
  const attr = /^(span|resource|event|link|instrumentation)?\./.test(key) ? key : `.${key}`;
  if (!/^[a-z]*\.[A-Za-z0-9_.\-/:]+$/.test(attr)) throw new Error(`invalid tag name "${key}"`);
  // numbers and booleans may be stored typed or as text: match either
  if (/^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(value) || value === 'true' || value === 'false') {
    return `(${attr} = ${value} || ${attr} = ${quote(value)})`;
  }
  return `${attr} = ${quote(value)}`;
}

/**
 * The search form as exact TraceQL: service, operation and logfmt tags ANDed in one
 * spanset; `{}` when empty. Throws with a message when the tags are malformed.
 */
export function formToTraceQL({ service, operation, tags }) {
  const conds = [];
  if (service) conds.push(tagCondition('service.name', service));
  if (operation) conds.push(tagCondition('name', operation));
  for (const [k, v] of parseLogfmt(tags)) conds.push(tagCondition(k, v));
  return conds.length ? `{ ${conds.join(' && ')} }` : '{}';
}

/** Unbalanced braces, parentheses or an unterminated string: {message, position} or null. */
export function checkBalance(text) {
  const stack = [];
  const pairs = { '}': '{', ')': '(' };
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"' || c === '`') {
      const q = c; const at = i;
      for (i++; i < text.length && text[i] !== q; i++) if (q === '"' && text[i] === '\\') i++;
      if (i >= text.length) return { message: `unterminated string starting at column ${at + 1}`, position: at };
    } else if (c === '{' || c === '(') stack.push([c, i]);
    else if (c === '}' || c === ')') {
      const top = stack.pop();
      if (!top || top[0] !== pairs[c]) return { message: `unexpected "${c}" at column ${i + 1}`, position: i };
    }
  }
  if (stack.length) {
    const [c, i] = stack[stack.length - 1];
    return { message: `"${c}" at column ${i + 1} is never closed`, position: i };
  }
  return null;
}

/** Whether `cursor` is inside a spanset `{ }` (outside strings) and inside a string. */
function context(text, cursor) {
  let depth = 0; let inString = -1;
  for (let i = 0; i < cursor; i++) {
    const c = text[i];
    if (inString >= 0) {
      if (c === '\\') i++;
      else if (c === '"') inString = -1;
    } else if (c === '"') inString = i;
    else if (c === '{') depth++;
    else if (c === '}') depth = Math.max(0, depth - 1);
  }
  return { inSpanset: depth > 0, stringStart: inString };
}

const startsWith = (s, p) => s.toLowerCase().startsWith(p.toLowerCase());

/**
 * The editor's language: traceqlLanguage(api, range) -> {complete, validate};
 * `range()` gives {startMs, endMs} of the page's time picker.
 */
export function traceqlLanguage(api, range) {
  const cache = new Map();
  const secs = () => {
    const r = range();
    return { start: Math.floor(r.startMs / 1000), end: Math.ceil(r.endMs / 1000) };
  };
  async function cached(key, fn) {
    const hit = cache.get(key);
    if (hit && Date.now() - hit.at < 30000) return hit.value;
    const value = await fn();
    cache.set(key, { at: Date.now(), value });
    return value;
  }
  async function tagNames() {
    const { start, end } = secs();
    return cached(`tags:${start}:${end}`, async () => {
      const r = await api.get('/api/v2/search/tags', { start, end });
      const out = [];
      for (const sc of (r && r.scopes) || []) {
        if (sc.name === 'intrinsic') continue;
        for (const t of sc.tags || []) out.push([`${sc.name}.${t}`, `${sc.name} attribute`]);
      }
      return out;
    });
  }
  async function tagValues(tag) {
    const { start, end } = secs();
    return cached(`values:${tag}:${start}:${end}`, async () => {
      const r = await api.get(`/api/v2/search/tag/${encodeURIComponent(tag)}/values`, { start, end });
      return ((r && r.tagValues) || []).map((v) => (typeof v === 'string' ? { type: 'string', value: v } : v));
    });
  }

  async function complete(text, cursor) {
    const before = text.slice(0, cursor);
    const ctx = context(text, cursor);
    if (!ctx.inSpanset) {
      const w = wordBefore(text, cursor, /[^\s]/);
      const trimmed = before.trimEnd();
      if (trimmed === '' || /(&&|\|\||>>|[>~(]|!>>|!~)$/.test(trimmed) || w.word === '{') {
        return { from: w.from, items: [{ label: '{ }', detail: 'spanset', insert: '{ ' }] };
      }
      // after a spanset and a space: what may follow it
      if (/[})]\s$/.test(before)) {
        return { from: cursor, items: PIPELINE.map(([l, d]) => ({ label: l, detail: d })) };
      }
      return null;
    }
    // a value: `<attr> <op> [partial value]`, the partial value possibly an open string
    const valueRe = /([A-Za-z0-9_.:\-/]+)\s*(=~|!~|!=|>=|<=|=|>|<)\s*("(?:[^"\\]|\\.)*|[^\s"&|)}]*)$/;
    const vm = valueRe.exec(before);
    if (vm && (ctx.stringStart >= 0 || !vm[3].startsWith('"'))) {
      const tag = vm[1];
      const typed = vm[3];
      const from = cursor - typed.length;
      const prefix = typed.replace(/^"/, '');
      if (/(^|:)duration$|^traceDuration$/.test(tag)) {
        return { from, items: DURATIONS.filter((d) => startsWith(d, prefix)).map((d) => ({ label: d, detail: 'duration' })) };
      }
      const values = await tagValues(tag);
      const items = values.filter((v) => startsWith(String(v.value), prefix)).map((v) => ({
        label: String(v.value), detail: v.type,
        insert: v.type === 'string' ? quote(v.value) : String(v.value),
      }));
      return { from, items };
    }
    // an operator after a complete attribute name and a space
    const om = /([A-Za-z0-9_.:\-/]+)\s+$/.exec(before);
    if (om) {
      const known = INTRINSICS.some(([n]) => n === om[1]) || /\./.test(om[1]);
      if (known) return { from: cursor, items: OPERATORS.map((o) => ({ label: o, detail: 'operator', insert: `${o} ` })) };
    }
    const w = wordBefore(text, cursor, /[A-Za-z0-9_.:\-/]/);
    const names = await tagNames().catch(() => []);
    const unscoped = [...new Set(names.map(([n]) => n.slice(n.indexOf('.'))))].map((n) => [n, 'any scope']);
    const all = [...INTRINSICS.map(([n, d]) => [n, `intrinsic: ${d}`]), ...SCOPES, ...names];
    const pool = w.word.startsWith('.') ? unscoped : all;
    const items = pool.filter(([n]) => startsWith(n, w.word) && n !== w.word).map(([n, d]) => ({ label: n, detail: d }));
    return { from: w.from, items };
  }

  async function validate(text) {
    const local = checkBalance(text);
    if (local) return local;
    try {
      // a range with no data: the server parses the query and finds nothing to scan
      await api.get('/api/search', { q: text, start: 1, end: 2, limit: 1 });
      return null;
    } catch (e) {
      if (e && e.status === 400) return { message: e.message };
      return null;
    }
  }

  return { complete, validate };
}
