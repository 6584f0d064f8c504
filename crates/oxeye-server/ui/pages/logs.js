// Explore logs: a LogQL editor with completion from the Loki API and the server's syntax
// check, then either log lines (with a log volume histogram above them, each line
// expandable into its labels, structured metadata and parsed fields) or, for a metric
// query, a graph and a table. Live tail streams new lines over a WebSocket.
//
// Data flow: the URL holds query, from, to, limit and direction; running writes them
// back (ctx.setParams). Log queries go to /loki/api/v1/query_range with the
// `categorize-labels` encoding flag so stream labels, structured metadata and parsed
// labels arrive apart; the volume is `sum by (detected_level) (count_over_time(...))`
// over the same range. Tail uses /loki/api/v1/tail with the tenant as `orgId`.

import { h, replace, errorBox, field } from '../lib/dom.js';
import { createEditor } from '../lib/editor.js';
import { timePicker } from '../lib/timepicker.js';
import { autoStep, fmtTime, fmtValue } from '../lib/time.js';
import { chartLibrary, timeSeriesChart, matrixToSeries, PALETTE } from '../lib/chart.js';
import * as lq from '../lib/logql.js';

const CATEGORIZE = { 'X-Loki-Response-Encoding-Flags': 'categorize-labels' };
const DEFAULT_LIMIT = 1000;
const MAX_LIMIT = 5000;
const MAX_TAIL_ROWS = 1000;

/** Levels in display order (most severe first) with their colours. */
const LEVELS = [
  ['critical', '#8e24aa'], ['fatal', '#8e24aa'], ['error', '#e5493a'], ['warn', '#f0a000'],
  ['warning', '#f0a000'], ['info', '#2e9e5b'], ['debug', '#2f6fdb'], ['trace', '#00a3b4'],
  ['unknown', '#8c96a3'],
];
const LEVEL_COLOR = new Map(LEVELS);
const LEVEL_ORDER = new Map(LEVELS.map(([l], i) => [l, i]));

function levelKey(v) { return String(v || '').toLowerCase(); }

/** ms since epoch -> ns as a decimal string (exact: no float multiplication). */
function nsOf(ms) { return `${Math.round(ms)}000000`; }

function fmtTs(ns) {
  const ms = Number(String(ns).slice(0, -6) || 0);
  return `${fmtTime(ms)}.${String(ms % 1000).padStart(3, '0')}`;
}

function clampLimit(v) {
  const n = parseInt(v, 10);
  return Number.isFinite(n) && n > 0 ? Math.min(n, MAX_LIMIT) : DEFAULT_LIMIT;
}

/** Entries of `obj` as [name, value] pairs. */
function pairs(obj) { return Object.entries(obj || {}).map(([k, v]) => [k, String(v)]); }

export async function mount(root, ctx) {
  const { api } = ctx;
  const p = ctx.params;
  const state = {
    query: p.get('query') || '',
    from: p.get('from') || 'now-1h',
    to: p.get('to') || 'now',
    limit: clampLimit(p.get('limit')),
    direction: p.get('direction') === 'forward' ? 'forward' : 'backward',
  };
  let ctl = null; // the running query's AbortController
  let ws = null; // the live tail socket
  let lastFields = new Set(); // field names of the last result, for completion
  const charts = [];

  // ---- completion source: names and values from the API, cached briefly
  const cache = new Map();
  function cached(key, load) {
    const hit = cache.get(key);
    if (hit && Date.now() - hit.at < 30000) return hit.p;
    const pr = load().then((v) => (Array.isArray(v) ? v : []), () => []);
    cache.set(key, { at: Date.now(), p: pr });
    return pr;
  }
  function rangeParams() {
    const r = picker.range();
    return Number.isNaN(r.startMs) || Number.isNaN(r.endMs) ? {} : { start: nsOf(r.startMs), end: nsOf(r.endMs) };
  }
  const source = {
    labels: () => cached('labels', () => api.prom('/loki/api/v1/labels', rangeParams())),
    values: (name) => cached(`values:${name}`, () => api.prom(`/loki/api/v1/label/${encodeURIComponent(name)}/values`, rangeParams())),
    fields: () => [...lastFields],
  };

  // ---- controls
  const editor = createEditor({
    label: 'LogQL query',
    value: state.query,
    placeholder: '{service_name="api"} |= "error"   (Shift+Enter runs)',
    complete: lq.completer(source),
    validate: lq.validator(api),
    onRun: () => run({ push: true }),
  });
  const runBtn = h('button', { type: 'button', class: 'primary', onclick: () => run({ push: true }) }, 'Run query');
  const picker = timePicker({
    from: state.from, to: state.to,
    onChange: () => run({ push: true }),
    onRefresh: () => run({}),
  });
  const limitIn = h('input', { type: 'number', min: 1, max: MAX_LIMIT, step: 1, value: String(state.limit), size: 6 });
  limitIn.addEventListener('change', () => run({ push: true }));
  const dirSel = h('select', {},
    h('option', { value: 'backward' }, 'Newest first'),
    h('option', { value: 'forward' }, 'Oldest first'));
  dirSel.value = state.direction;
  dirSel.addEventListener('change', () => run({ push: true }));
  const tailBtn = h('button', { type: 'button', 'aria-pressed': 'false', class: 'tail-toggle', onclick: () => (ws ? stopTail('stopped') : startTail()) }, 'Start live tail');
  const tailStatus = h('span', { class: 'tail-status muted', role: 'status', 'aria-live': 'polite' });
  const results = h('section', { class: 'logs-results', 'aria-label': 'Results' });

  root.append(
    h('h1', {}, 'Explore logs'),
    h('div', { class: 'toolbar logs-query' }, editor.el, runBtn),
    h('div', { class: 'toolbar logs-options' }, picker,
      field('Line limit', limitIn), field('Order', dirSel), tailBtn, tailStatus),
    results,
  );

  function destroyCharts() { while (charts.length) charts.pop().destroy(); }

  function readState() {
    const r = picker.range();
    state.query = editor.value().trim();
    state.from = r.from; state.to = r.to;
    state.limit = clampLimit(limitIn.value);
    limitIn.value = String(state.limit);
    state.direction = dirSel.value;
    return r;
  }

  function saveParams(push) {
    ctx.setParams({ query: state.query, from: state.from, to: state.to, limit: state.limit, direction: state.direction }, { push });
  }

  // ---- running a query
  async function run({ push = false } = {}) {
    if (ws) stopTail('a query was run');
    const r = readState();
    saveParams(push);
    if (ctl) ctl.abort();
    destroyCharts();
    if (!state.query) {
      replace(results, h('p', { class: 'muted' }, 'Enter a LogQL query, e.g. {service_name="api"}, and press Shift+Enter.'));
      return;
    }
    if (Number.isNaN(r.startMs) || Number.isNaN(r.endMs) || r.startMs >= r.endMs) {
      replace(results, errorBox('invalid time range'));
      return;
    }
    ctl = new AbortController();
    const { signal } = ctl;
    const base = { query: state.query, start: nsOf(r.startMs), end: nsOf(r.endMs) };
    replace(results, h('p', { class: 'muted', role: 'status' }, 'Running…'));
    try {
      if (lq.isLogQuery(state.query)) {
        const volStep = autoStep(r.startMs, r.endMs, 120);
        const volQuery = `sum by (detected_level) (count_over_time(${state.query} | drop __error__ [${volStep}s]))`;
        const [main, vol, charts] = await Promise.allSettled([
          api.get('/loki/api/v1/query_range', { ...base, limit: state.limit, direction: state.direction }, { headers: CATEGORIZE, signal }),
          api.get('/loki/api/v1/query_range', { ...base, query: volQuery, step: `${volStep}s` }, { signal }),
          chartLibrary(),
        ]);
        if (signal.aborted) return;
        if (main.status === 'rejected') throw main.reason;
        // the lines show even when the chart library could not load; the volume says why
        renderLogs(main.value.data, charts.status === 'rejected' ? charts : vol, r, volStep, signal);
      } else {
        const step = autoStep(r.startMs, r.endMs, 250);
        const [body] = await Promise.all([
          api.get('/loki/api/v1/query_range', { ...base, step: `${step}s` }, { signal }),
          chartLibrary(),
        ]);
        if (signal.aborted) return;
        renderMetric(body.data);
      }
    } catch (e) {
      if (e.name === 'AbortError') return;
      if (e instanceof api.ApiError && e.status === 400 && /parse error/.test(e.message)) editor.showError(e.message);
      replace(results, errorBox(e));
    }
  }

  // ---- log lines
  /** Rows of a categorized `streams` result, ordered as asked. */
  function rowsOf(result) {
    const rows = [];
    for (const s of result || []) {
      for (const v of s.values || []) {
        const cat = v[2] || {};
        rows.push({ ts: v[0], line: v[1], stream: s.stream || {}, md: cat.structuredMetadata || {}, parsed: cat.parsed || {} });
      }
    }
    const cmp = (a, b) => (a.ts.length - b.ts.length) || (a.ts < b.ts ? -1 : a.ts > b.ts ? 1 : 0);
    rows.sort((a, b) => (state.direction === 'forward' ? cmp(a, b) : cmp(b, a)));
    return rows;
  }

  function renderLogs(data, vol, r, volStep, signal) {
    const rows = rowsOf(data.result);
    lastFields = new Set();
    for (const row of rows) {
      for (const k of Object.keys(row.md)) lastFields.add(k);
      for (const k of Object.keys(row.parsed)) lastFields.add(k);
    }
    const volPanel = h('section', { class: 'panel logs-volume', 'aria-label': 'Log volume' }, h('h2', {}, 'Log volume'));
    const linesPanel = h('section', { class: 'panel logs-lines', 'aria-label': 'Log lines' });
    replace(results, volPanel, linesPanel);
    renderVolume(volPanel, vol, r, volStep);
    // labels every stream shares are shown once; the others on each line
    const streams = rows.map((x) => x.stream);
    const common = streams.length ? pairs(streams[0]).filter(([k, v]) => streams.every((s) => s[k] === v)) : [];
    const commonLabels = new Map(common);
    const reached = rows.length >= state.limit;
    const count = h('span', {}, countText(rows.length, reached));
    linesPanel.append(h('h2', {}, 'Logs'),
      h('p', { class: 'logs-summary muted' }, count,
        common.length ? [' · Common labels: ', h('span', { class: 'common-labels' }, common.map(([k, v]) => h('span', { class: 'chip' }, `${k}=${v}`)))] : null));
    if (!rows.length) { linesPanel.append(h('p', { class: 'muted' }, 'No log lines in this time range.')); return; }
    const list = h('ol', { class: 'loglines', 'aria-label': 'Log lines' });
    rows.forEach((row, i) => list.append(lineItem(row, `ll${i}`, commonLabels, false)));
    linesPanel.append(list);
    if (reached) linesPanel.append(moreLines(list, count, rows, r, commonLabels, signal));
  }

  /** "N lines", and whether the last page asked for was cut by the line limit. */
  function countText(n, reached, pages = 1) {
    const cut = pages > 1 ? ` (${pages} pages of ${state.limit}, the last one full)` : ` (limit of ${state.limit} reached)`;
    return `${n} line${n === 1 ? '' : 's'}${reached ? cut : ''}`;
  }

  /** One entry's identity: Loki keeps one of the entries equal in all three. */
  function rowKey(row) { return `${row.ts} ${JSON.stringify(row.stream)} ${row.line}`; }

  /**
   * "Load older lines" (newer, when the order is forward) under a page that reached the line
   * limit, as Grafana offers: the same query, up to the last line shown, `limit` lines more.
   * The boundary's own nanosecond is asked again (lines sharing it may have been cut off)
   * and the lines already shown are left out; when that answer holds nothing new but is
   * full, the boundary is passed (Loki's range is [start, end)).
   */
  function moreLines(list, count, first, r, commonLabels, signal) {
    const seen = new Set(first.map(rowKey));
    let edge = first[first.length - 1].ts;
    let total = first.length;
    let pages = 1;
    const older = state.direction !== 'forward';
    const status = h('span', { class: 'muted', role: 'status' });
    const btn = h('button', { type: 'button', class: 'logs-more' }, older ? 'Load older lines' : 'Load newer lines');
    const bar = h('div', { class: 'toolbar logs-more-bar' }, btn, status);
    btn.addEventListener('click', async () => {
      btn.disabled = true;
      status.textContent = 'Loading…';
      const ask = async (withEdge) => {
        const e = BigInt(edge);
        const bounds = older
          ? { start: nsOf(r.startMs), end: String(withEdge ? e + 1n : e) }
          : { start: String(withEdge ? e : e + 1n), end: nsOf(r.endMs) };
        const body = await api.get('/loki/api/v1/query_range',
          { query: state.query, ...bounds, limit: state.limit, direction: state.direction }, { headers: CATEGORIZE, signal });
        return rowsOf(body.data.result);
      };
      try {
        let page = await ask(true);
        let fresh = page.filter((row) => !seen.has(rowKey(row)));
        if (fresh.length === 0 && page.length >= state.limit) {
          page = await ask(false);
          fresh = page.filter((row) => !seen.has(rowKey(row)));
        }
        for (const row of fresh) {
          seen.add(rowKey(row));
          list.append(lineItem(row, `ll${total++}`, commonLabels, false));
        }
        const more = fresh.length > 0 && page.length >= state.limit;
        if (fresh.length) edge = fresh[fresh.length - 1].ts;
        pages += 1;
        count.textContent = countText(total, more, pages);
        status.textContent = fresh.length
          ? `${fresh.length} ${older ? 'older' : 'newer'} line${fresh.length === 1 ? '' : 's'} loaded`
          : `no ${older ? 'older' : 'newer'} lines in this time range`;
        if (more) btn.disabled = false; else btn.remove();
      } catch (e) {
        if (e.name === 'AbortError') return;
        status.replaceChildren(errorBox(e));
        btn.disabled = false;
      }
    });
    return bar;
  }

  function renderVolume(panel, vol, r, step) {
    if (!vol || vol.status === 'rejected') {
      panel.append(errorBox(vol ? vol.reason : 'no volume'));
      return;
    }
    const series = matrixToSeries(vol.value.data.result).map((s) => {
      const level = s.labels.detected_level || 'logs';
      return { ...s, name: level, level: levelKey(level) };
    });
    series.sort((a, b) => (LEVEL_ORDER.get(a.level) ?? 99) - (LEVEL_ORDER.get(b.level) ?? 99) || a.name.localeCompare(b.name));
    if (!series.length) { panel.append(h('p', { class: 'muted' }, 'No logs in this time range.')); return; }
    // every step of the range is on the axis (empty steps have no bar)
    const anchor = series[0].points[0] ? series[0].points[0][0] : Math.floor(r.startMs / 1000);
    const grid = [];
    for (let t = anchor - Math.floor((anchor - r.startMs / 1000) / step) * step; t <= r.endMs / 1000; t += step) grid.push(t);
    for (const s of series) {
      const have = new Map(s.points);
      s.points = [...new Set([...grid, ...have.keys()])].sort((a, b) => a - b).map((t) => [t, have.get(t) ?? null]);
    }
    // stacked bars: each level's bar reaches the sum of itself and the levels after it,
    // and is drawn first, so the less severe levels paint over its lower part
    const totals = new Map();
    const stacked = new Array(series.length);
    for (let i = series.length - 1; i >= 0; i--) {
      const s = series[i];
      const pts = s.points.map(([t, v]) => {
        if (v === null) return [t, totals.get(t) ?? null];
        const acc = (totals.get(t) || 0) + v; totals.set(t, acc); return [t, acc];
      });
      const color = LEVEL_COLOR.get(s.level) || PALETTE[i % PALETTE.length];
      const own = new Map(s.points);
      stacked[i] = { name: s.name, labels: s.labels, points: pts, color, fill: color, tipValue: (t) => own.get(t) ?? null };
    }
    const counts = series.map((s) => `${s.name} ${s.points.reduce((n, [, v]) => n + (v || 0), 0)}`);
    const box = h('div', { class: 'volume-chart' });
    panel.append(box);
    charts.push(timeSeriesChart(box, {
      series: stacked, mode: 'bars', height: 120,
      title: `Log volume by level: ${counts.join(', ')} lines from ${fmtTime(r.startMs)} to ${fmtTime(r.endMs)}`,
    }));
  }

  /** The trace id of a row: structured metadata, parsed labels, or a json/logfmt line. */
  function traceOf(row, clientFields) {
    return lq.traceIdOf(pairs(row.md)) || lq.traceIdOf(pairs(row.parsed)) || lq.traceIdOf(pairs(row.stream))
      || (clientFields ? lq.traceIdOf(clientFields.fields) : null);
  }

  function traceLink(id, text) {
    return h('a', { class: 'trace-link', href: ctx.href(`traces/${encodeURIComponent(id)}`), title: `Open trace ${id}` }, text || id);
  }

  /** One log line: a toggle button, its trace link, and its details (built on expand). */
  /** One line; `commonLabels` (name -> value) are shown once above the list, not on it. */
  function lineItem(row, id, commonLabels, live) {
    const parsedHere = Object.keys(row.parsed).length === 0 && lq.parsersIn(state.query).length === 0 ? lq.parseLine(row.line) : null;
    const level = levelKey(row.md.detected_level || row.stream.detected_level || row.stream.level || row.parsed.level
      || (parsedHere && (parsedHere.fields.find(([k]) => k === 'level') || [])[1]) || '');
    const trace = traceOf(row, parsedHere);
    const own = pairs(row.stream).filter(([k, v]) => commonLabels.get(k) !== v && !(live && k === 'detected_level'));
    const detail = h('div', { id: `${id}-d`, class: 'logdetail', hidden: true });
    const btn = h('button', {
      type: 'button', class: 'logrow', 'aria-expanded': 'false', 'aria-controls': detail.id,
      onclick: () => {
        const open = btn.getAttribute('aria-expanded') !== 'true';
        btn.setAttribute('aria-expanded', String(open));
        if (open && !detail.firstChild) detail.append(details(row, parsedHere, live));
        detail.hidden = !open;
      },
    },
    h('span', { class: `lvl lvl-${LEVEL_COLOR.has(level) ? level : 'other'}`, style: LEVEL_COLOR.has(level) ? `background:${LEVEL_COLOR.get(level)}` : null, title: level || 'no level' }),
    h('span', { class: 'ts' }, fmtTs(row.ts)),
    own.length ? h('span', { class: 'chips' }, own.map(([k, v]) => h('span', { class: 'chip' }, `${k}=${v}`))) : null,
    h('span', { class: 'text' }, row.line));
    return h('li', { class: 'logline', 'data-level': level || null },
      h('div', { class: 'logline-head' }, btn,
        trace ? traceLink(trace, [h('span', { 'aria-hidden': 'true' }, '⇢ '), `Trace ${trace.slice(0, 8)}`]) : null),
      detail);
  }

  /** A row's fields grouped: stream labels, structured metadata, parsed fields. */
  function details(row, parsedHere, live) {
    const groups = [
      [live ? 'Labels' : 'Stream labels', pairs(row.stream), { kind: live ? 'pipeline' : 'stream' }],
      ['Structured metadata', pairs(row.md), { kind: 'pipeline' }],
      ['Parsed fields', pairs(row.parsed), { kind: 'pipeline' }],
    ];
    if (parsedHere) groups.push([`Parsed fields (${parsedHere.parser}, parsed here)`, parsedHere.fields, { kind: 'pipeline', parser: parsedHere.parser }]);
    const body = [];
    for (const [title, fields, how] of groups) {
      if (!fields.length) continue;
      body.push(h('tbody', {},
        h('tr', {}, h('th', { colspan: 3, scope: 'rowgroup', class: 'group' }, title)),
        fields.map(([k, v]) => h('tr', {},
          h('th', { scope: 'row', class: 'mono' }, k),
          h('td', { class: 'mono value' }, lq.TRACE_ID_KEYS.includes(k) && /^[0-9a-fA-F]{8,64}$/.test(v) ? traceLink(v) : v),
          h('td', { class: 'actions' },
            h('button', { type: 'button', 'aria-label': `Filter for ${k}="${v}"`, title: 'Filter for this value', onclick: () => addFilter(k, v, '=', how) }, '+'),
            h('button', { type: 'button', 'aria-label': `Filter out ${k}="${v}"`, title: 'Filter out this value', onclick: () => addFilter(k, v, '!=', how) }, '−'))))));
    }
    return h('table', { class: 'grid fields' },
      h('caption', { class: 'muted' }, `Fields of the line at ${fmtTs(row.ts)}`),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Field'), h('th', { scope: 'col' }, 'Value'), h('th', { scope: 'col' }, 'Actions'))),
      body);
  }

  function addFilter(name, value, op, how) {
    const next = lq.addFilter(editor.value(), { name, value, op, kind: how.kind, parser: how.parser || null });
    editor.setValue(next);
    run({ push: true });
  }

  // ArrowUp/ArrowDown move between lines
  results.addEventListener('keydown', (e) => {
    if (e.key !== 'ArrowDown' && e.key !== 'ArrowUp') return;
    const cur = e.target.closest && e.target.closest('button.logrow');
    if (!cur) return;
    const all = [...results.querySelectorAll('button.logrow')];
    const next = all[all.indexOf(cur) + (e.key === 'ArrowDown' ? 1 : -1)];
    if (next) { e.preventDefault(); next.focus(); }
  });

  // ---- metric queries
  function renderMetric(data) {
    const result = data.resultType === 'vector'
      ? (data.result || []).map((x) => ({ metric: x.metric, values: [x.value] }))
      : (data.result || []);
    if (data.resultType === 'streams') { replace(results, errorBox('expected a metric query')); return; }
    const series = matrixToSeries(result);
    if (!series.length) { replace(results, h('p', { class: 'muted' }, 'No data in this time range.')); return; }
    const graph = h('section', { class: 'panel logs-graph', 'aria-label': 'Graph' }, h('h2', {}, 'Graph'));
    const box = h('div', {});
    graph.append(box);
    const rows = series.map((s) => {
      const last = s.points[s.points.length - 1] || [NaN, NaN];
      const max = s.points.reduce((m, [, v]) => Math.max(m, v), -Infinity);
      return h('tr', {}, h('td', { class: 'mono' }, s.name),
        h('td', {}, fmtValue(last[1])), h('td', {}, fmtValue(max)), h('td', {}, fmtTime(last[0] * 1000)));
    });
    const table = h('section', { class: 'panel logs-table', 'aria-label': 'Table' }, h('h2', {}, 'Table'),
      h('table', { class: 'grid' },
        h('thead', {}, h('tr', {}, ['Series', 'Last value', 'Max', 'Last time'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, rows)));
    replace(results, graph, table);
    charts.push(timeSeriesChart(box, { series, mode: 'lines', height: 260, title: `Graph of ${state.query}` }));
  }

  // ---- live tail
  function setTailStatus(text, cls) {
    tailStatus.textContent = text;
    tailStatus.className = `tail-status ${cls || 'muted'}`;
  }

  function startTail() {
    const r = readState();
    saveParams(true);
    if (!lq.isLogQuery(state.query)) { setTailStatus('live tail needs a log query ({...} with a pipeline)', 'error'); return; }
    if (ctl) ctl.abort();
    destroyCharts();
    const params = { query: state.query, limit: Math.min(state.limit, 100), start: nsOf(Math.max(r.startMs, Date.now() - 3600000)) };
    const list = h('ol', { class: 'loglines live', 'aria-label': 'Live log lines' });
    const count = h('p', { class: 'muted logs-summary' }, '0 lines');
    replace(results, h('section', { class: 'panel logs-lines', 'aria-label': 'Live tail' }, h('h2', {}, 'Live tail'), count, list));
    let opened = false; let n = 0; let seq = 0;
    const sock = new WebSocket(api.wsUrl('/loki/api/v1/tail', params));
    ws = sock;
    tailBtn.textContent = 'Stop live tail';
    tailBtn.setAttribute('aria-pressed', 'true');
    setTailStatus('Connecting…');
    sock.onopen = () => { opened = true; setTailStatus('Live: new lines appear at the top', 'live'); };
    sock.onmessage = (ev) => {
      let msg;
      try { msg = JSON.parse(ev.data); } catch { return; }
      const rows = [];
      for (const s of msg.streams || []) for (const v of s.values || []) rows.push({ ts: v[0], line: v[1], stream: s.stream || {}, md: {}, parsed: {} });
      rows.sort((a, b) => (a.ts.length - b.ts.length) || (a.ts < b.ts ? -1 : a.ts > b.ts ? 1 : 0));
      for (const row of rows) {
        list.prepend(lineItem(row, `lt${seq++}`, new Map(), true));
        n++;
      }
      while (list.children.length > MAX_TAIL_ROWS) list.lastChild.remove();
      count.textContent = `${n} line${n === 1 ? '' : 's'} received`;
    };
    sock.onerror = () => {};
    sock.onclose = async (ev) => {
      if (ws === sock) resetTailButton();
      if (sock.userClosed) return;
      if (opened) { setTailStatus(`Closed by the server${ev.reason ? `: ${ev.reason}` : ` (code ${ev.code})`}`, 'error'); return; }
      // the upgrade was refused: ask again without it to read the server's message
      let why = `code ${ev.code}`;
      try { await api.get('/loki/api/v1/tail', params); } catch (e) { why = e.message; }
      setTailStatus(`Closed: ${why}`, 'error');
    };
  }

  function resetTailButton() {
    ws = null;
    tailBtn.textContent = 'Start live tail';
    tailBtn.setAttribute('aria-pressed', 'false');
  }

  function stopTail(why) {
    const sock = ws;
    resetTailButton();
    if (sock) { sock.userClosed = true; sock.close(1000, 'stopped'); setTailStatus(`Closed: ${why}`); }
  }

  if (state.query) run({});
  else replace(results, h('p', { class: 'muted' }, 'Enter a LogQL query, e.g. {service_name="api"}, and press Shift+Enter.'));

  return () => {
    if (ctl) ctl.abort();
    if (ws) { const s = ws; ws = null; s.userClosed = true; s.close(1000, 'stopped'); }
    destroyCharts();
  };
}
