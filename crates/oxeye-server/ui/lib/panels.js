// Dashboard panels: time series, stat, gauge, bar, table, logs and trace list, plus the
// template substitution every panel query goes through.
//
// renderPanel(body, panel, ctx) runs the panel's targets (all at once) against the
// public APIs (Prometheus query/query_range, Loki query_range, Tempo /api/search) and
// draws the result into `body`; it throws on a failed query so the caller can show the
// error inside that panel only.

import { h } from './dom.js';
import { alignToStep, fmtValue, fmtTime, fmtDurationMs } from './time.js';
import { chartLibrary, timeSeriesChart, matrixToSeries, seriesName, PALETTE } from './chart.js';

export const PANEL_TYPES = ['timeseries', 'stat', 'gauge', 'bar', 'table', 'logs', 'traces'];

/** A duration in seconds as PromQL writes it: 90 -> "90s", 3600 -> "1h". */
export function promDuration(sec) {
  const s = Math.max(1, Math.round(sec));
  if (s % 86400 === 0) return `${s / 86400}d`;
  if (s % 3600 === 0) return `${s / 3600}h`;
  if (s % 60 === 0) return `${s / 60}m`;
  return `${s}s`;
}

/** Escapes a value for a regex matcher inside a PromQL string (Grafana's rule). */
function regexEscape(v) {
  return String(v).replace(/\\/g, '\\\\\\\\').replace(/[$^*{}[\]'+?.()|]/g, '\\\\$&');
}

/**
 * Replaces `$var`, `${var}`, `${var:raw}`, `[[var]]` and the built-ins `$__interval`,
 * `$__interval_ms`, `$__rate_interval`, `$__range`, `$__range_s`, `$__range_ms` in
 * `text`. `vars` maps a name to {value: string|string[], all: string[]} ; several values
 * (a multi-value or "All" selection) become a regex alternation `(a|b)`.
 */
export function substitute(text, vars, builtins = {}) {
  const lookup = (name, fmt) => {
    if (name in builtins) return String(builtins[name]);
    const v = vars[name];
    if (!v) return null;
    let vals = Array.isArray(v.value) ? v.value : [v.value];
    const isAll = vals.includes('$__all');
    if (isAll) {
      if (v.allValue) return v.allValue;
      if (!v.all || v.all.length === 0) return '.*';
      vals = v.all;
    }
    if (fmt === 'csv' || fmt === 'raw') return vals.join(',');
    if (vals.length === 1 && !isAll) return fmt === 'regex' ? regexEscape(vals[0]) : String(vals[0] ?? '');
    return `(${vals.map(regexEscape).join('|')})`;
  };
  return String(text).replace(/\$\{(\w+)(?::(\w+))?\}|\[\[(\w+)\]\]|\$(\w+)/g, (m, a, fmt, b, c) => {
    const name = a || b || c;
    const r = lookup(name, fmt);
    return r === null ? m : r;
  });
}

// ---- units and thresholds ----

const COLORS = {
  green: '#2e9e5b', red: '#e5493a', orange: '#f08c00', yellow: '#e0b400', blue: '#2f6fdb',
  purple: '#8e5bd6', 'dark-green': '#1b6e3c', 'dark-red': '#b0261a', 'semi-dark-green': '#27864c',
  'semi-dark-red': '#c8372a', text: '#1d2126',
};
const color = (c) => COLORS[c] || c || PALETTE[0];

function defaults(panel) { return (panel.fieldConfig && panel.fieldConfig.defaults) || {}; }

/** The threshold color of `v` (steps sorted by value, the first has value null). */
export function thresholdColor(panel, v) {
  const steps = defaults(panel).thresholds?.steps || [];
  let c = null;
  for (const s of steps) {
    if (s.value === null || s.value === undefined || v >= Number(s.value)) c = s.color;
  }
  return c ? color(c) : null;
}

/** `v` in the panel's unit (bytes, s, ms, percent, percentunit, reqps, short). */
export function fmtUnit(v, unit, decimals) {
  if (v === null || v === undefined || Number.isNaN(v)) return 'no data';
  const fix = (x) => (decimals !== undefined && decimals !== null ? Number(x).toFixed(decimals) : fmtValue(+Number(x).toPrecision(4)));
  switch (unit) {
    case 'bytes': case 'decbytes': {
      const k = unit === 'bytes' ? 1024 : 1000;
      const names = unit === 'bytes' ? ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'] : ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
      let i = 0; let x = Math.abs(v);
      while (x >= k && i < names.length - 1) { x /= k; i++; }
      return `${v < 0 ? '-' : ''}${fix(x)} ${names[i]}`;
    }
    case 's': return Math.abs(v) < 1e-9 && v !== 0 ? `${fix(v * 1e9)} ns` : fmtDurationMs(v * 1000);
    case 'ms': return fmtDurationMs(v);
    case 'percentunit': return `${fix(v * 100)}%`;
    case 'percent': return `${fix(v)}%`;
    case 'reqps': return `${fix(v)} req/s`;
    case 'ops': return `${fix(v)} ops/s`;
    default: return decimals !== undefined && decimals !== null ? Number(v).toFixed(decimals) : fmtValue(v);
  }
}

/** Reduces points to one value by Grafana's calc names. */
export function reduce(points, calc = 'lastNotNull') {
  const vals = points.map((p) => p[1]).filter((v) => v !== null && !Number.isNaN(v));
  if (vals.length === 0) return null;
  switch (calc) {
    case 'mean': return vals.reduce((a, b) => a + b, 0) / vals.length;
    case 'max': return Math.max(...vals);
    case 'min': return Math.min(...vals);
    case 'sum': return vals.reduce((a, b) => a + b, 0);
    case 'first': case 'firstNotNull': return vals[0];
    case 'count': return vals.length;
    default: return vals[vals.length - 1];
  }
}

// ---- queries ----

function dsType(t) { return (t.datasource && t.datasource.type) || 'prometheus'; }

/** The panel's targets with their expressions substituted, hidden ones left out. */
function targetsOf(panel, ctx) {
  return (panel.targets || []).filter((t) => !t.hide && (t.expr || '').trim())
    .map((t) => ({ ...t, ds: dsType(t), q: ctx.substitute(t.expr) }));
}

async function promRange(ctx, t) {
  if (t.ds === 'loki') {
    const d = await ctx.api.prom('/loki/api/v1/query_range', {
      query: t.q, start: `${ctx.startMs}000000`, end: `${ctx.endMs}000000`, step: `${ctx.step}s`,
    }, { signal: ctx.signal });
    return d.result || [];
  }
  const { start, end } = alignToStep(ctx.startMs, ctx.endMs, ctx.step);
  const d = await ctx.api.prom('/api/v1/query_range', {
    query: t.q, start, end, step: ctx.step,
  }, { signal: ctx.signal });
  if (d.resultType !== 'matrix') throw new Error(`expected a range vector, got ${d.resultType}`);
  return d.result || [];
}

async function promInstant(ctx, t) {
  const path = t.ds === 'loki' ? '/loki/api/v1/query' : '/api/v1/query';
  const time = t.ds === 'loki' ? `${ctx.endMs}000000` : ctx.endMs / 1000;
  const d = await ctx.api.prom(path, { query: t.q, time }, { signal: ctx.signal });
  if (d.resultType === 'scalar') return [{ metric: {}, value: d.result }];
  if (d.resultType !== 'vector') throw new Error(`expected an instant vector, got ${d.resultType}`);
  return d.result || [];
}

function checkTargets(ts, panel, kinds) {
  if (ts.length === 0) throw new Error('this panel has no query');
  const bad = ts.find((t) => !kinds.includes(t.ds));
  if (bad) throw new Error(`a ${panel.type} panel cannot query ${bad.ds} (target ${bad.refId || ''})`);
}

/** Range results of all targets (concurrently) as chart series. */
async function rangeSeries(panel, ctx) {
  const ts = targetsOf(panel, ctx);
  checkTargets(ts, panel, ['prometheus', 'loki']);
  const results = await Promise.all(ts.map((t) => promRange(ctx, t)));
  return results.flatMap((r, i) => matrixToSeries(r, ts[i].legendFormat));
}

/** Instant results of all targets (concurrently): [{target, rows}]. */
async function instantResults(panel, ctx) {
  const ts = targetsOf(panel, ctx);
  checkTargets(ts, panel, ['prometheus', 'loki']);
  const results = await Promise.all(ts.map((t) => promInstant(ctx, t)));
  return results.map((rows, i) => ({ target: ts[i], rows }));
}

// ---- panel types ----

function chartHeight(ctx) { return Math.max(80, ctx.height - 40); }

async function timeseries(body, panel, ctx) {
  const [series] = await Promise.all([rangeSeries(panel, ctx), chartLibrary()]);
  if (series.length === 0) { body.append(h('p', { class: 'muted nodata' }, 'No data')); return; }
  const custom = defaults(panel).custom || {};
  const stacked = custom.stacking && custom.stacking.mode && custom.stacking.mode !== 'none';
  const mode = custom.drawStyle === 'bars' ? 'bars' : (stacked ? 'stacked' : 'lines');
  const unit = defaults(panel).unit;
  const c = timeSeriesChart(body, {
    series, mode, height: Math.max(60, chartHeight(ctx) - 14 * Math.ceil(series.length / 3)), title: panel.title || 'time series',
    // every panel spans the dashboard's time range, not just the extent of its data
    xRange: [ctx.startMs / 1000, ctx.endMs / 1000],
    yFormat: unit ? (v) => fmtUnit(v, unit) : undefined,
    width: ctx.width,
    lineWidth: Number(custom.lineWidth),
  });
  return c;
}

function sparkline(points, stroke) {
  const w = 200; const hgt = 40;
  const vals = points.map((p) => p[1]).filter((v) => Number.isFinite(v));
  if (points.length < 2 || vals.length < 2) return null;
  const x0 = points[0][0]; const x1 = points[points.length - 1][0];
  const lo = Math.min(...vals); const hi = Math.max(...vals);
  const pts = points.filter((p) => Number.isFinite(p[1])).map((p) => {
    const x = ((p[0] - x0) / (x1 - x0 || 1)) * w;
    const y = hgt - ((p[1] - lo) / (hi - lo || 1)) * (hgt - 4) - 2;
    return `${x.toFixed(1)},${y.toFixed(1)}`;
  });
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('viewBox', `0 0 ${w} ${hgt}`);
  svg.setAttribute('preserveAspectRatio', 'none');
  svg.setAttribute('class', 'spark');
  svg.setAttribute('aria-hidden', 'true');
  const pl = document.createElementNS('http://www.w3.org/2000/svg', 'polyline');
  pl.setAttribute('points', pts.join(' '));
  pl.setAttribute('fill', 'none');
  pl.setAttribute('stroke', stroke);
  pl.setAttribute('stroke-width', '1.5');
  pl.setAttribute('vector-effect', 'non-scaling-stroke');
  svg.append(pl);
  return svg;
}

async function stat(body, panel, ctx) {
  const series = await rangeSeries(panel, ctx);
  if (series.length === 0) { body.append(h('p', { class: 'muted nodata' }, 'No data')); return; }
  const calc = panel.options?.reduceOptions?.calcs?.[0] || 'lastNotNull';
  const d = defaults(panel);
  const wrap = h('div', { class: 'stats' });
  for (const s of series.slice(0, 12)) {
    const v = reduce(s.points, calc);
    const c = thresholdColor(panel, v);
    const box = h('div', { class: 'stat' },
      series.length > 1 ? h('div', { class: 'stat-name' }, s.name) : null,
      h('div', { class: 'stat-value', style: c ? `color:${c}` : null }, fmtUnit(v, d.unit, d.decimals)));
    if (panel.options?.graphMode !== 'none') {
      const sp = sparkline(s.points, c || PALETTE[0]);
      if (sp) box.append(sp);
    }
    wrap.append(box);
  }
  body.append(wrap);
}

/** A value for gauge and bar panels: instant queries unless a target asks for range. */
async function lastValues(panel, ctx) {
  const res = await instantResults(panel, ctx);
  return res.flatMap(({ target, rows }) => rows.map((r) => ({
    name: seriesName(r.metric || {}, target.legendFormat),
    value: Number(r.value ? r.value[1] : NaN),
  })));
}

function arcPath(cx, cy, r, a0, a1) {
  const p = (a) => [cx + r * Math.cos(a), cy + r * Math.sin(a)];
  const [x0, y0] = p(a0); const [x1, y1] = p(a1);
  const large = a1 - a0 > Math.PI ? 1 : 0;
  return `M ${x0.toFixed(2)} ${y0.toFixed(2)} A ${r} ${r} 0 ${large} 1 ${x1.toFixed(2)} ${y1.toFixed(2)}`;
}

async function gauge(body, panel, ctx) {
  const vals = await lastValues(panel, ctx);
  if (vals.length === 0) { body.append(h('p', { class: 'muted nodata' }, 'No data')); return; }
  const d = defaults(panel);
  const wrap = h('div', { class: 'gauges' });
  for (const { name, value } of vals.slice(0, 8)) {
    const min = d.min ?? 0;
    const max = d.max ?? Math.max(100, value);
    const frac = Math.min(1, Math.max(0, (value - min) / (max - min || 1)));
    const A0 = Math.PI * 0.75; const SPAN = Math.PI * 1.5;
    const ns = 'http://www.w3.org/2000/svg';
    const svg = document.createElementNS(ns, 'svg');
    // the viewBox is the arc's own extent (center 60,58, outer ring radius 50 with its
    // stroke, lowest points at +-45 degrees below the center) and the drawing is as tall
    // as the panel's body, so the whole arc fits the panel whatever its size
    svg.setAttribute('viewBox', '8 6 104 90');
    svg.setAttribute('preserveAspectRatio', 'xMidYMid meet');
    svg.setAttribute('class', 'gauge-svg');
    svg.setAttribute('style', `height:${Math.max(40, Math.floor(ctx.height) - 4)}px;width:100%`);
    svg.setAttribute('aria-hidden', 'true');
    const path = (dd, stroke, width) => {
      const e = document.createElementNS(ns, 'path');
      e.setAttribute('d', dd); e.setAttribute('stroke', stroke); e.setAttribute('stroke-width', width);
      e.setAttribute('fill', 'none');
      svg.append(e);
    };
    // threshold bands on the outer ring
    const steps = (d.thresholds?.steps || []).map((s) => ({ v: s.value === null || s.value === undefined ? min : Number(s.value), c: color(s.color) }));
    steps.forEach((s, i) => {
      const from = Math.max(min, s.v); const to = Math.min(max, i + 1 < steps.length ? steps[i + 1].v : max);
      if (to <= from) return;
      const a = A0 + SPAN * ((from - min) / (max - min || 1)); const b = A0 + SPAN * ((to - min) / (max - min || 1));
      path(arcPath(60, 58, 48, a, b), s.c, 4);
    });
    path(arcPath(60, 58, 40, A0, A0 + SPAN), '#e6e9ee', 10);
    if (frac > 0) path(arcPath(60, 58, 40, A0, A0 + SPAN * Math.max(frac, 0.002)), thresholdColor(panel, value) || PALETTE[0], 10);
    wrap.append(h('figure', { class: 'gauge' }, svg,
      h('figcaption', {},
        h('span', { class: 'gauge-value' }, fmtUnit(value, d.unit, d.decimals)),
        vals.length > 1 ? h('span', { class: 'gauge-name' }, name) : null)));
  }
  body.append(wrap);
}

async function bar(body, panel, ctx) {
  const vals = await lastValues(panel, ctx);
  if (vals.length === 0) { body.append(h('p', { class: 'muted nodata' }, 'No data')); return; }
  const d = defaults(panel);
  const max = d.max ?? Math.max(...vals.map((v) => v.value).filter(Number.isFinite), 0);
  const min = d.min ?? 0;
  const list = h('ul', { class: 'bars', 'aria-label': panel.title || 'bars' });
  vals.forEach(({ name, value }, i) => {
    const frac = Math.min(1, Math.max(0, (value - min) / (max - min || 1)));
    const c = thresholdColor(panel, value) || PALETTE[i % PALETTE.length];
    list.append(h('li', {},
      h('span', { class: 'bar-name' }, name),
      h('span', { class: 'bar-track' }, h('span', { class: 'bar-fill', style: `width:${(frac * 100).toFixed(1)}%;background:${c}` })),
      h('span', { class: 'bar-value' }, fmtUnit(value, d.unit, d.decimals))));
  });
  body.append(list);
}

/** Instant results of several targets merged into rows by label set (Grafana's merge). */
export function mergeRows(results) {
  const keys = new Set();
  const rows = new Map();
  const valueCols = [];
  results.forEach(({ target, rows: rs }, i) => {
    const col = results.length === 1 ? (target.legendFormat && !target.legendFormat.includes('{{') ? target.legendFormat : 'Value')
      : (target.legendFormat && !target.legendFormat.includes('{{') ? target.legendFormat : `Value #${target.refId || i}`);
    valueCols.push(col);
    for (const r of rs) {
      const m = { ...(r.metric || {}) };
      if (results.length > 1 || Object.keys(m).length > 1) delete m.__name__;
      Object.keys(m).forEach((k) => keys.add(k));
      const id = JSON.stringify(Object.entries(m).sort());
      if (!rows.has(id)) rows.set(id, { labels: m, values: [] });
      rows.get(id).values[i] = Number(r.value ? r.value[1] : NaN);
    }
  });
  const labelCols = [...keys].sort((a, b) => (a === '__name__' ? -1 : b === '__name__' ? 1 : a.localeCompare(b)));
  return { labelCols, valueCols, rows: [...rows.values()] };
}

function nodeGraph(edges) {
  // services on a circle, edges as arrows thickness by rate, red by error ratio
  const names = [...new Set(edges.flatMap((e) => [e.client, e.server]))].sort();
  if (names.length === 0 || names.length > 40) return null;
  const W = 520; const H = 320; const R = Math.min(W, H) / 2 - 40;
  const pos = new Map(names.map((n, i) => {
    const a = (2 * Math.PI * i) / names.length - Math.PI / 2;
    return [n, [W / 2 + R * Math.cos(a), H / 2 + R * Math.sin(a)]];
  }));
  const ns = 'http://www.w3.org/2000/svg';
  const el = (tag, attrs, text) => {
    const e = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  };
  const svg = el('svg', { viewBox: `0 0 ${W} ${H}`, class: 'nodegraph', role: 'img', 'aria-label': `service graph: ${edges.map((e) => `${e.client} to ${e.server}`).join(', ')}` });
  const defs = el('defs', {});
  defs.append(el('marker', { id: 'ng-arrow', viewBox: '0 0 10 10', refX: '10', refY: '5', markerWidth: '6', markerHeight: '6', orient: 'auto-start-reverse' }));
  defs.firstChild.append(el('path', { d: 'M 0 0 L 10 5 L 0 10 z', fill: '#5b6470' }));
  svg.append(defs);
  const maxRate = Math.max(...edges.map((e) => e.rate || 0), 1e-9);
  for (const e of edges) {
    const [x0, y0] = pos.get(e.client); const [x1, y1] = pos.get(e.server);
    const dx = x1 - x0; const dy = y1 - y0; const len = Math.hypot(dx, dy) || 1;
    const off = 22;
    svg.append(el('line', {
      x1: x0 + (dx / len) * off, y1: y0 + (dy / len) * off, x2: x1 - (dx / len) * off, y2: y1 - (dy / len) * off,
      stroke: (e.errors || 0) > 0.05 ? COLORS.red : '#5b6470', 'stroke-width': (1 + 4 * ((e.rate || 0) / maxRate)).toFixed(1), 'marker-end': 'url(#ng-arrow)',
    }));
  }
  for (const n of names) {
    const [x, y] = pos.get(n);
    svg.append(el('circle', { cx: x, cy: y, r: 18, fill: '#e3ecfb', stroke: COLORS.blue }));
    svg.append(el('text', { x, y: y + 32, 'text-anchor': 'middle', 'font-size': '11' }, n));
  }
  return svg;
}

async function table(body, panel, ctx) {
  const res = await instantResults(panel, ctx);
  const { labelCols, valueCols, rows } = mergeRows(res);
  if (rows.length === 0) { body.append(h('p', { class: 'muted nodata' }, 'No data')); return; }
  const d = defaults(panel);
  rows.sort((a, b) => labelCols.map((k) => String(a.labels[k] ?? '').localeCompare(String(b.labels[k] ?? ''))).find((x) => x !== 0) || 0);
  const t = h('table', { class: 'grid' },
    h('caption', { class: 'sr-only' }, panel.title || 'table'),
    h('thead', {}, h('tr', {}, [...labelCols, ...valueCols].map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, rows.map((r) => h('tr', {},
      labelCols.map((k) => h('td', {}, r.labels[k] ?? '')),
      valueCols.map((_, i) => h('td', { class: 'num' }, r.values[i] === undefined ? '' : fmtUnit(r.values[i], d.unit, d.decimals)))))));
  if (panel.options?.nodeGraph && labelCols.includes('client') && labelCols.includes('server')) {
    const edges = rows.map((r) => ({ client: r.labels.client, server: r.labels.server, rate: r.values[0], errors: r.values[1] }));
    const g = nodeGraph(edges);
    if (g) body.append(h('div', { class: 'ng-wrap' }, g));
  }
  body.append(h('div', { class: 'table-wrap' }, t));
}

const TRACE_ID = /\b(?:trace_?id|traceID|traceId)["']?\s*[=:]\s*["']?([0-9a-fA-F]{16,32})\b/;

async function logs(body, panel, ctx) {
  const ts = targetsOf(panel, ctx);
  checkTargets(ts, panel, ['loki']);
  const limit = panel.options?.limit || 100;
  const results = await Promise.all(ts.map((t) => ctx.api.prom('/loki/api/v1/query_range', {
    query: t.q, start: `${ctx.startMs}000000`, end: `${ctx.endMs}000000`, limit, direction: 'backward',
  }, { signal: ctx.signal })));
  const lines = [];
  for (const d of results) {
    if (d.resultType !== 'streams') throw new Error(`a logs panel needs a log query, got ${d.resultType}`);
    for (const s of d.result || []) {
      for (const v of s.values || []) lines.push({ ns: BigInt(v[0]), line: v[1], stream: s.stream || {} });
    }
  }
  lines.sort((a, b) => (a.ns < b.ns ? 1 : a.ns > b.ns ? -1 : 0));
  if (lines.length === 0) { body.append(h('p', { class: 'muted nodata' }, 'No log lines')); return; }
  const showLabels = panel.options?.showLabels !== false;
  const list = h('ol', { class: 'loglines', 'aria-label': `${panel.title || 'log'} lines` });
  for (const l of lines.slice(0, limit)) {
    const m = TRACE_ID.exec(l.line);
    list.append(h('li', {},
      h('span', { class: 'log-time' }, fmtTime(Number(l.ns / 1000000n))),
      showLabels ? h('span', { class: 'log-labels' }, Object.entries(l.stream).map(([k, v]) => `${k}=${v}`).join(' ')) : null,
      h('span', { class: 'log-line' }, l.line),
      m ? h('a', { class: 'log-trace', href: ctx.href(`traces/${m[1]}`) }, `trace ${m[1].slice(0, 8)}…`) : null));
  }
  body.append(list);
}

async function traces(body, panel, ctx) {
  const ts = targetsOf(panel, ctx);
  checkTargets(ts, panel, ['tempo']);
  const limit = panel.options?.limit || 20;
  const results = await Promise.all(ts.map((t) => ctx.api.get('/api/search', {
    q: t.q, limit, start: Math.floor(ctx.startMs / 1000), end: Math.ceil(ctx.endMs / 1000),
  }, { signal: ctx.signal })));
  const found = results.flatMap((r) => r.traces || []);
  found.sort((a, b) => Number(BigInt(b.startTimeUnixNano || 0) - BigInt(a.startTimeUnixNano || 0)));
  if (found.length === 0) { body.append(h('p', { class: 'muted nodata' }, 'No traces')); return; }
  body.append(h('div', { class: 'table-wrap' }, h('table', { class: 'grid' },
    h('caption', { class: 'sr-only' }, panel.title || 'traces'),
    h('thead', {}, h('tr', {}, ['Trace', 'Service', 'Name', 'Start', 'Duration'].map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, found.map((t) => h('tr', {},
      h('td', {}, h('a', { href: ctx.href(`traces/${t.traceID}`), class: 'mono' }, t.traceID)),
      h('td', {}, t.rootServiceName || ''),
      h('td', {}, t.rootTraceName || ''),
      h('td', {}, fmtTime(Number(BigInt(t.startTimeUnixNano || 0) / 1000000n))),
      h('td', { class: 'num' }, fmtDurationMs(t.durationMs || 0))))))));
}

const RENDERERS = { timeseries, stat, gauge, bar, table, logs, traces };

/**
 * Draws `panel` into `body`. ctx: {api, startMs, endMs, step (s), height (px), width (px),
 * substitute(text), href(path), signal}. Returns an object with destroy() when the
 * panel holds a chart. Throws the query's error.
 */
export async function renderPanel(body, panel, ctx) {
  const r = RENDERERS[panel.type];
  if (!r) throw new Error(`unknown panel type ${JSON.stringify(panel.type)}`);
  return r(body, panel, ctx);
}
