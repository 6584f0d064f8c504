// LogQL language support for the editor: completion and validation, plus the small
// amount of query analysis the logs page needs (is it a log query, where does its
// selector end, adding a label filter) and client-side parsing of json/logfmt lines.
//
// Completion works on the text before the cursor, scanned once: the scanner tracks
// strings, braces, brackets and parentheses, so it knows whether the cursor is inside a
// stream selector (label names; values after `name=`/`name="`), a range `[...]`
// (durations), after a pipe (parsers, stages, line filters, label names) or at the top
// level (range functions and aggregations). Names and values come from the Loki API.

import { wordBefore } from './editor.js';

export const RANGE_FUNCTIONS = [
  ['count_over_time', 'lines per stream in the range'],
  ['rate', 'lines per second'],
  ['bytes_over_time', 'bytes of lines in the range'],
  ['bytes_rate', 'bytes per second'],
  ['absent_over_time', '1 when the range has no lines'],
  ['sum_over_time', 'sum of unwrapped values'],
  ['avg_over_time', 'average of unwrapped values'],
  ['min_over_time', 'minimum of unwrapped values'],
  ['max_over_time', 'maximum of unwrapped values'],
  ['first_over_time', 'first unwrapped value'],
  ['last_over_time', 'last unwrapped value'],
  ['stddev_over_time', 'standard deviation of unwrapped values'],
  ['stdvar_over_time', 'variance of unwrapped values'],
  ['quantile_over_time', 'φ-quantile of unwrapped values'],
  ['rate_counter', 'rate of an unwrapped counter'],
];

export const AGGREGATIONS = [
  ['sum', 'sum over series'], ['avg', 'average over series'], ['min', 'minimum over series'],
  ['max', 'maximum over series'], ['count', 'number of series'], ['stddev', 'standard deviation'],
  ['stdvar', 'variance'], ['topk', 'largest k series'], ['bottomk', 'smallest k series'],
  ['sort', 'ascending by value'], ['sort_desc', 'descending by value'],
];

/** What may follow `|`: [label, detail, insert]. */
export const PIPE_ITEMS = [
  ['json', 'parser: JSON fields as labels', 'json'],
  ['logfmt', 'parser: key=value fields as labels', 'logfmt'],
  ['regexp', 'parser: named groups as labels', 'regexp ""'],
  ['pattern', 'parser: <field> placeholders', 'pattern ""'],
  ['unpack', 'parser: packed JSON', 'unpack'],
  ['line_format', 'rewrite the line with a template', 'line_format ""'],
  ['label_format', 'rename or template labels', 'label_format '],
  ['drop', 'drop labels', 'drop '],
  ['keep', 'keep only these labels', 'keep '],
  ['decolorize', 'strip ANSI colours', 'decolorize'],
  ['unwrap', 'a label as the sample value', 'unwrap '],
  ['= "…"', 'line filter: contains', '= ""'],
  ['~ "…"', 'line filter: matches regex', '~ ""'],
];

export const DURATIONS = ['1m', '5m', '10m', '30m', '1h', '6h', '1d'];

/** Tokens of LogQL relevant to context: strings, brackets, pipes, words. */
function scan(text) {
  const stack = []; // open brackets: {kind, pos}
  let i = 0;
  let inString = null; // {quote, start}
  const tokens = [];
  while (i < text.length) {
    const c = text[i];
    if (inString) {
      if (c === '\\' && inString.quote !== '`') { i += 2; continue; }
      if (c === inString.quote) { tokens.push({ t: 'str', start: inString.start, end: i + 1 }); inString = null; }
      i++; continue;
    }
    if (c === '"' || c === '`') { inString = { quote: c, start: i }; i++; continue; }
    if (c === '#') { while (i < text.length && text[i] !== '\n') i++; continue; }
    if ('{[('.includes(c)) { stack.push({ kind: c, pos: i }); tokens.push({ t: c, start: i, end: i + 1 }); i++; continue; }
    if ('}])'.includes(c)) { stack.pop(); tokens.push({ t: c, start: i, end: i + 1 }); i++; continue; }
    if (/\s/.test(c)) { i++; continue; }
    if (/[a-zA-Z_]/.test(c)) {
      const s = i; while (i < text.length && /[a-zA-Z0-9_.]/.test(text[i])) i++;
      tokens.push({ t: 'word', start: s, end: i, v: text.slice(s, i) }); continue;
    }
    if (/[0-9]/.test(c)) {
      const s = i; while (i < text.length && /[0-9a-zA-Z.]/.test(text[i])) i++;
      tokens.push({ t: 'num', start: s, end: i, v: text.slice(s, i) }); continue;
    }
    const two = text.slice(i, i + 2);
    if (['|=', '|~', '!=', '!~', '=~', '==', '>=', '<='].includes(two)) { tokens.push({ t: 'op', start: i, end: i + 2, v: two }); i += 2; continue; }
    tokens.push({ t: c === '|' ? '|' : 'op', start: i, end: i + 1, v: c }); i++;
  }
  return { stack, inString, tokens };
}

/** Whether `text` is a log query (a selector and pipeline) rather than a metric query. */
export function isLogQuery(text) {
  const t = String(text || '').replace(/^\s*(#[^\n]*\n\s*)*/, '');
  return t.startsWith('{');
}

/** The [start, end) of the first stream selector `{...}` in `text`, or null. */
export function selectorRange(text) {
  const { tokens } = scan(text);
  const open = tokens.find((t) => t.t === '{');
  if (!open) return null;
  const close = tokens.find((t) => t.t === '}' && t.start > open.start);
  return close ? [open.start, close.end] : null;
}

/** The parsers (`json`, `logfmt`, ...) used after a pipe in `text`. */
export function parsersIn(text) {
  const { tokens } = scan(text);
  const out = [];
  tokens.forEach((t, i) => {
    if (t.t === 'word' && tokens[i - 1]?.t === '|' && ['json', 'logfmt', 'regexp', 'pattern', 'unpack'].includes(t.v)) out.push(t.v);
  });
  return out;
}

/** A LogQL string literal. */
export function quote(s) { return JSON.stringify(String(s)); }

const NAME_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/**
 * `text` with a filter on `name` `op` `value` added. A stream label (`kind` 'stream')
 * goes into the selector; other fields become a label filter stage at the end of the
 * log pipeline, after `parser` (e.g. 'json') when the field only exists once parsed.
 */
export function addFilter(text, { name, value, op = '=', kind = 'stream', parser = null }) {
  if (!NAME_RE.test(name)) return text;
  const matcher = `${name}${op}${quote(value)}`;
  const q = text.trim();
  if (kind === 'stream') {
    const r = selectorRange(q);
    if (!r) return `{${matcher}}`;
    const inner = q.slice(r[0] + 1, r[1] - 1);
    if (inner.split(',').some((m) => m.trim() === matcher)) return q;
    const sep = inner.trim() ? ', ' : '';
    return `${q.slice(0, r[1] - 1).replace(/\s+$/, '')}${sep}${matcher}${q.slice(r[1] - 1)}`;
  }
  const stage = `| ${matcher}`;
  if (q.endsWith(stage)) return q;
  const withParser = parser && !parsersIn(q).includes(parser) ? ` | ${parser}` : '';
  return `${q}${withParser} ${stage}`;
}

/**
 * The completion context at `cursor`:
 * {kind: 'labelName'|'labelValue'|'duration'|'pipe'|'function'|'groupLabel', from, word,
 *  label?, quoted?}.
 */
export function context(text, cursor) {
  const before = text.slice(0, cursor);
  const { stack, inString, tokens } = scan(before);
  const top = stack[stack.length - 1];
  if (inString) {
    // a value being typed: `name="va` (or `=~`, `!=`, `!~`) inside a selector or after a pipe
    const op = [...tokens].reverse().find((t) => t.end <= inString.start);
    const name = op && tokens[tokens.indexOf(op) - 1];
    if (op && op.t === 'op' && ['=', '!=', '=~', '!~'].includes(op.v) && name?.t === 'word') {
      return { kind: 'labelValue', label: name.v, from: inString.start + 1, word: before.slice(inString.start + 1), quoted: true, regex: op.v.includes('~') };
    }
    return null;
  }
  const { from, word } = wordBefore(text, cursor, /[a-zA-Z0-9_]/);
  const prevTokens = tokens.filter((t) => t.end <= from);
  const prev = prevTokens[prevTokens.length - 1];
  if (top && top.kind === '[') return { kind: 'duration', from, word };
  if (top && top.kind === '{') {
    if (prev && prev.t === 'op' && ['=', '!=', '=~', '!~'].includes(prev.v)) {
      const name = prevTokens[prevTokens.length - 2];
      if (name?.t === 'word') return { kind: 'labelValue', label: name.v, from, word, quoted: false, regex: prev.v.includes('~') };
    }
    if (!prev || prev.t === '{' || (prev.t === 'op' && prev.v === ',')) return { kind: 'labelName', from, word };
    return null;
  }
  if (top && top.kind === '(' && prevTokens.length) {
    // `by (` / `without (`: label names
    const open = top.pos;
    const kw = [...tokens].reverse().find((t) => t.end <= open);
    if (kw && kw.t === 'word' && (kw.v === 'by' || kw.v === 'without')) return { kind: 'groupLabel', from, word };
  }
  if (prev && prev.t === '|') return { kind: 'pipe', from, word, adjacent: from === prev.end };
  if (prev && prev.t === 'op' && ['=', '!=', '=~', '!~'].includes(prev.v)) {
    const name = prevTokens[prevTokens.length - 2];
    const pipe = prevTokens[prevTokens.length - 3];
    if (name?.t === 'word' && pipe?.t === '|') return { kind: 'labelValue', label: name.v, from, word, quoted: false, regex: prev.v.includes('~') };
  }
  if (!prev || prev.t === '(' || prev.t === 'op') return { kind: 'function', from, word };
  return null;
}

function byPrefix(items, word) {
  const w = word.toLowerCase();
  const starts = items.filter((it) => it.label.toLowerCase().startsWith(w));
  const contains = items.filter((it) => !it.label.toLowerCase().startsWith(w) && it.label.toLowerCase().includes(w));
  return [...starts, ...contains];
}

/** Escapes a value for a LogQL string, also for regex matchers when `regex`. */
function valueInsert(v, regex, quoted) {
  const raw = regex ? v.replace(/[.*+?^${}()|[\]\\]/g, '\\$&') : v;
  const lit = JSON.stringify(raw);
  return quoted ? lit.slice(1) : lit;
}

/**
 * The editor's `complete` for LogQL. `source` gives names and values:
 * {labels(): Promise<string[]>, values(name): Promise<string[]>, fields?(): string[]}.
 */
export function completer(source) {
  return async function complete(text, cursor) {
    const c = context(text, cursor);
    if (!c) return null;
    let items = [];
    if (c.kind === 'labelName' || c.kind === 'groupLabel') {
      const names = await source.labels();
      const extra = c.kind === 'groupLabel' && source.fields ? source.fields() : [];
      items = [...new Set([...names, ...extra])].map((n) => ({ label: n, detail: 'label' }));
    } else if (c.kind === 'labelValue') {
      const values = await source.values(c.label);
      items = values.map((v) => ({ label: v, detail: c.label, insert: valueInsert(v, c.regex, c.quoted) }));
      const word = c.word;
      const filtered = items.filter((it) => it.label.toLowerCase().includes(word.replace(/\\(.)/g, '$1').toLowerCase()));
      return filtered.length ? { from: c.from, items: filtered } : null;
    } else if (c.kind === 'duration') {
      items = DURATIONS.map((d) => ({ label: d, detail: 'range' }));
    } else if (c.kind === 'pipe') {
      // right after `|`: a line filter (`|=`, `|~`) or a stage after a space
      const sp = c.adjacent ? ' ' : '';
      items = PIPE_ITEMS.map(([label, detail, insert]) => ({ label, detail, insert: /^[=~]/.test(insert) ? insert : sp + insert }));
      const names = source.fields ? source.fields() : [];
      items.push(...names.map((n) => ({ label: n, detail: 'label filter', insert: `${sp}${n}=` })));
      if (c.word || !c.adjacent) items = items.filter((it) => !/^[=~]/.test(it.label));
    } else if (c.kind === 'function') {
      items = [
        ...RANGE_FUNCTIONS.map(([n, d]) => ({ label: n, detail: d, insert: `${n}(` })),
        ...AGGREGATIONS.map(([n, d]) => ({ label: n, detail: d, insert: `${n}(` })),
      ];
      if (!c.word) items.unshift({ label: '{', detail: 'stream selector', insert: '{' });
    }
    const out = byPrefix(items, c.word);
    return out.length ? { from: c.from, items: out } : null;
  };
}

/**
 * The editor's `validate`: the server's parser through `/loki/api/v1/format_query`
 * (a 400 with Loki's `parse error at line L, col C: ...` when the query is wrong).
 */
export function validator(api) {
  return async function validate(text) {
    try {
      await api.postForm('/loki/api/v1/format_query', { query: text });
      return null;
    } catch (e) {
      if (e instanceof api.ApiError && e.status === 400) return { message: e.message };
      throw e;
    }
  };
}

/** Fields of a JSON object line (nested keys joined with `_`, as Loki's json parser does). */
function flattenJson(obj, prefix, out) {
  for (const [k, v] of Object.entries(obj)) {
    const key = (prefix ? `${prefix}_${k}` : k).replace(/[^a-zA-Z0-9_]/g, '_');
    if (v && typeof v === 'object' && !Array.isArray(v)) flattenJson(v, key, out);
    else if (!Array.isArray(v)) out.push([key, v === null ? '' : String(v)]);
  }
  return out;
}

/** `key=value key2="quoted value"` pairs. */
function parseLogfmt(line) {
  const out = [];
  const re = /([^\s=]+)=("(?:[^"\\]|\\.)*"|\S*)/g;
  let m;
  while ((m = re.exec(line)) !== null) {
    let v = m[2];
    if (v.startsWith('"')) { try { v = JSON.parse(v); } catch { v = v.slice(1, -1); } }
    out.push([m[1].replace(/[^a-zA-Z0-9_]/g, '_'), v]);
  }
  return out;
}

/**
 * A line's fields parsed here, for lines whose query used no parser:
 * {parser: 'json'|'logfmt', fields: [[name, value]]} or null.
 */
export function parseLine(line) {
  const t = line.trim();
  if (t.startsWith('{')) {
    try {
      const obj = JSON.parse(t);
      if (obj && typeof obj === 'object' && !Array.isArray(obj)) return { parser: 'json', fields: flattenJson(obj, '', []) };
    } catch { /* not JSON */ }
  }
  const fields = parseLogfmt(t);
  if (fields.length >= 1 && fields.reduce((n, [k, v]) => n + k.length + String(v).length + 1, 0) >= t.replace(/\s+/g, '').length * 0.6) {
    return { parser: 'logfmt', fields };
  }
  return null;
}

export const TRACE_ID_KEYS = ['trace_id', 'traceid', 'traceID', 'traceId', 'TraceId'];

/** The trace id among `fields` ([[name, value]]), or null. */
export function traceIdOf(fields) {
  for (const [k, v] of fields) {
    if (TRACE_ID_KEYS.includes(k) && /^[0-9a-fA-F]{8,64}$/.test(String(v))) return String(v);
  }
  return null;
}
