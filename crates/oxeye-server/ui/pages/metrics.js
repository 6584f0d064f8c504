// Explore metrics: a PromQL editor (completion from the API, inline parse errors), a graph
// of `/api/v1/query_range` over the chosen range and step (lines or stacked, legend
// toggling, exemplars from `/api/v1/query_exemplars` as buttons that open their trace), and
// a table of the instant query at the range's end.
//
// The URL holds the whole view: `expr`, `from`, `to`, `step` (empty: automatic), `mode`
// (lines|stacked), `tab` (graph|table) and `exemplars` (true|false). Loading such a URL
// restores the view and runs the query.

import { h, replace, errorBox, tabs } from '../lib/dom.js';
import { createEditor } from '../lib/editor.js';
import { promqlSupport } from '../lib/promql.js';
import { timePicker } from '../lib/timepicker.js';
import { chartLibrary, timeSeriesChart, matrixToSeries, seriesName, PALETTE } from '../lib/chart.js';
import { alignToStep, autoStep, parseDuration, fmtTime, fmtValue } from '../lib/time.js';

const OFF = new Set(['0', 'false', 'off', 'no']);
/** Exemplars drawn at most (each is a button over the plot). */
const MAX_EXEMPLARS = 1000;

/** `30`, `30s`, `1m30s` -> seconds; NaN when not a positive duration. */
export function stepSeconds(s) {
  const str = String(s).trim();
  const n = /^\d+(\.\d+)?$/.test(str) ? parseFloat(str) : parseDuration(str) / 1000;
  return n > 0 ? n : NaN;
}

/** The trace id an exemplar carries (`trace_id` as OTLP gives it, or `traceID`). */
export function exemplarTraceId(labels) {
  return (labels && (labels.trace_id || labels.traceID || labels.traceId)) || '';
}

const sameLabels = (a, b) => {
  const ka = Object.keys(a); const kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k) => a[k] === b[k]);
};

export async function mount(root, ctx) {
  const { api } = ctx;
  const p = ctx.params;
  const st = {
    expr: p.get('expr') || '',
    from: p.get('from') || 'now-1h',
    to: p.get('to') || 'now',
    step: p.get('step') || '',
    mode: p.get('mode') === 'stacked' ? 'stacked' : 'lines',
    tab: p.get('tab') === 'table' ? 'table' : 'graph',
    exemplars: !OFF.has((p.get('exemplars') || '').toLowerCase()),
  };
  const support = promqlSupport(api);
  let ctl = null; // the running query's AbortController
  let chart = null;
  let graphData = null; // {series, markers} of the last graph answer
  let seq = 0;

  const saveUrl = (push) => ctx.setParams({
    expr: st.expr, from: st.from, to: st.to, step: st.step, mode: st.mode, tab: st.tab,
    exemplars: String(st.exemplars),
  }, { push });

  const editor = createEditor({
    label: 'PromQL query',
    value: st.expr,
    placeholder: 'PromQL, e.g. rate(http_requests_total[5m]) (Ctrl+Space for suggestions)',
    complete: support.complete,
    validate: support.validate,
    onRun: () => run({ push: true }),
  });
  const runBtn = h('button', { type: 'button', class: 'primary', onclick: () => run({ push: true }) }, 'Run query');
  const picker = timePicker({
    from: st.from, to: st.to,
    onChange: ({ from, to }) => { st.from = from; st.to = to; updateStepHint(); run({ push: true }); },
    onRefresh: () => run(),
  });
  const stepIn = h('input', { id: 'metrics-step', size: 10, value: st.step, autocomplete: 'off', 'aria-describedby': 'metrics-step-err' });
  const stepErr = h('span', { id: 'metrics-step-err', class: 'error', role: 'status' });
  const stepField = h('span', { class: 'metrics-step' }, h('label', { for: 'metrics-step' }, 'Step'), ' ', stepIn, stepErr);
  // Enter commits a changed value through `change`; on an unchanged one it runs again
  stepIn.addEventListener('change', () => { if (readStep()) run({ push: true }); });
  stepIn.addEventListener('keydown', (e) => { if (e.key === 'Enter' && stepIn.value.trim() === st.step) run(); });

  const modeBtns = ['lines', 'stacked'].map((m) => h('button', {
    type: 'button', 'aria-pressed': String(st.mode === m), 'data-mode': m,
    onclick: () => setMode(m),
  }, m === 'lines' ? 'Lines' : 'Stacked'));
  const modeGroup = h('span', { class: 'metrics-mode', role: 'group', 'aria-label': 'Graph style' }, modeBtns);
  const exBox = h('input', { type: 'checkbox', id: 'metrics-exemplars', checked: st.exemplars });
  exBox.addEventListener('change', () => { st.exemplars = exBox.checked; saveUrl(false); if (st.tab === 'graph') run(); });
  const exField = h('label', { for: 'metrics-exemplars', class: 'metrics-exemplars' }, exBox, ' Exemplars');

  const tabBar = tabs('Result view', [['graph', 'Graph'], ['table', 'Table']], st.tab, (id) => {
    st.tab = id;
    panel.setAttribute('aria-labelledby', `tab-${id}`);
    graphOnly.forEach((el) => { el.hidden = id !== 'graph'; });
    saveUrl(false);
    run();
  });
  for (const b of tabBar.querySelectorAll('[role=tab]')) b.setAttribute('aria-controls', 'metrics-result');
  const summary = h('p', { class: 'metrics-summary muted', role: 'status', 'aria-live': 'polite' });
  const notes = h('div', { class: 'metrics-notes' });
  const body = h('div', { class: 'metrics-body' });
  const panel = h('div', { id: 'metrics-result', class: 'panel metrics-result', role: 'tabpanel', 'aria-labelledby': `tab-${st.tab}` },
    summary, notes, body);
  const graphOnly = [stepField, modeGroup, exField];
  graphOnly.forEach((el) => { el.hidden = st.tab !== 'graph'; });

  root.append(
    h('h1', {}, 'Explore metrics'),
    h('div', { class: 'panel metrics-query' },
      h('div', { class: 'toolbar' }, editor.el, runBtn),
      h('div', { class: 'toolbar' }, picker, stepField, modeGroup, exField)),
    tabBar,
    panel,
  );

  function updateStepHint() {
    const r = picker.range();
    const auto = Number.isNaN(r.startMs) || Number.isNaN(r.endMs) ? null : autoStep(r.startMs, r.endMs);
    stepIn.placeholder = auto ? `auto (${auto}s)` : 'auto';
    return auto;
  }

  /** Reads the step field into st.step; false (with a message) when it is invalid. */
  function readStep() {
    const v = stepIn.value.trim();
    if (v && Number.isNaN(stepSeconds(v))) {
      stepErr.textContent = `invalid step "${v}": use seconds or a duration such as 30s or 1m`;
      stepIn.setAttribute('aria-invalid', 'true');
      return false;
    }
    stepErr.textContent = '';
    stepIn.removeAttribute('aria-invalid');
    st.step = v;
    return true;
  }

  function setMode(m) {
    st.mode = m;
    modeBtns.forEach((b) => b.setAttribute('aria-pressed', String(b.dataset.mode === m)));
    saveUrl(false);
    if (graphData) drawGraph();
  }

  function clearChart() { if (chart) { chart.destroy(); chart = null; } }

  function showNotes(list) {
    replace(notes, list.length ? h('ul', { class: 'muted' }, list.map((w) => h('li', {}, w))) : null);
  }

  async function run({ push = false } = {}) {
    st.expr = editor.value().trim();
    if (!readStep()) return;
    const r = picker.range();
    st.from = r.from; st.to = r.to;
    saveUrl(push);
    if (ctl) ctl.abort();
    ctl = new AbortController();
    const mine = ++seq;
    const { signal } = ctl;
    if (!st.expr) {
      clearChart(); graphData = null; showNotes([]);
      summary.textContent = '';
      replace(body, h('p', { class: 'muted' }, 'Enter a PromQL expression and run it.'));
      return;
    }
    if (Number.isNaN(r.startMs) || Number.isNaN(r.endMs) || r.startMs >= r.endMs) {
      replace(body, errorBox('invalid time range'));
      return;
    }
    panel.setAttribute('aria-busy', 'true');
    summary.textContent = 'Loading…';
    try {
      if (st.tab === 'graph') await runGraph(r, signal, mine); else await runTable(r, signal, mine);
    } catch (e) {
      if (e.name === 'AbortError' || mine !== seq) return;
      clearChart(); graphData = null; showNotes([]);
      summary.textContent = '';
      replace(body, errorBox(e));
    } finally {
      if (mine === seq) panel.removeAttribute('aria-busy');
    }
  }

  async function runGraph(r, signal, mine) {
    const step = st.step ? stepSeconds(st.step) : updateStepHint();
    const { start, end } = alignToStep(r.startMs, r.endMs, step);
    const exemplars = st.exemplars
      ? api.prom('/api/v1/query_exemplars', { query: st.expr, start, end }, { signal })
        .then((d) => ({ data: d || [] }), (e) => (e.name === 'AbortError' ? Promise.reject(e) : { error: e }))
      : Promise.resolve({ data: [] });
    const [res, ex] = await Promise.all([
      api.postForm('/api/v1/query_range', { query: st.expr, start, end, step }, { signal }),
      exemplars,
      chartLibrary(),
    ]);
    if (mine !== seq) return;
    const series = matrixToSeries(res.data && res.data.result);
    const markers = [];
    for (const s of Array.isArray(ex.data) ? ex.data : []) {
      const idx = series.findIndex((x) => sameLabels(x.labels, s.seriesLabels || {}));
      for (const e of s.exemplars || []) {
        const traceId = exemplarTraceId(e.labels);
        const value = Number(e.value);
        const t = Number(e.timestamp);
        markers.push({
          x: t, y: value, traceId, series: seriesName(s.seriesLabels || {}),
          color: idx >= 0 ? PALETTE[idx % PALETTE.length] : null,
          label: traceId
            ? `Exemplar of trace ${traceId}, value ${fmtValue(value)} at ${fmtTime(t * 1000)}`
            : `Exemplar ${seriesName(e.labels || {})}, value ${fmtValue(value)} at ${fmtTime(t * 1000)}`,
          onClick: (m) => {
            if (m.traceId) ctx.navigate(`traces/${encodeURIComponent(m.traceId)}`);
            else showNotes([`exemplar of ${m.series}: ${m.label}`]);
          },
        });
      }
    }
    const total = markers.length;
    markers.splice(MAX_EXEMPLARS);
    graphData = { series, markers, step, range: [start, end] };
    const notesList = [...(res.warnings || []), ...(res.infos || [])];
    if (ex.error) notesList.push(`exemplars: ${ex.error.message}`);
    if (total > MAX_EXEMPLARS) notesList.push(`showing the first ${MAX_EXEMPLARS} of ${total} exemplars`);
    showNotes(notesList);
    drawGraph();
  }

  function drawGraph() {
    clearChart();
    const { series, markers, step, range } = graphData;
    const shownMarkers = st.exemplars ? markers : [];
    const parts = [`${series.length} series`, `step ${fmtValue(step)}s`];
    if (st.exemplars) parts.push(`${shownMarkers.length} exemplar${shownMarkers.length === 1 ? '' : 's'}`);
    summary.textContent = parts.join(' · ');
    if (series.length === 0 && shownMarkers.length === 0) {
      replace(body, h('p', { class: 'muted' }, 'No data in this time range.'));
      return;
    }
    const box = h('div', { class: 'metrics-graph' });
    replace(body, box);
    chart = timeSeriesChart(box, {
      series, mode: st.mode, height: 320, title: `Graph of ${st.expr}`, markers: shownMarkers, xRange: range,
    });
  }

  async function runTable(r, signal, mine) {
    const time = r.endMs / 1000;
    const res = await api.postForm('/api/v1/query', { query: st.expr, time }, { signal });
    if (mine !== seq) return;
    clearChart(); graphData = null;
    showNotes([...(res.warnings || []), ...(res.infos || [])]);
    const { resultType, result } = res.data || {};
    const at = `at ${fmtTime(r.endMs)}`;
    if (resultType === 'scalar' || resultType === 'string') {
      summary.textContent = `${resultType} ${at}`;
      replace(body, h('table', { class: 'grid metrics-table' },
        h('caption', { class: 'muted' }, `Instant query result (${resultType})`),
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Type'), h('th', { scope: 'col' }, 'Value'))),
        h('tbody', {}, h('tr', {}, h('td', {}, resultType), h('td', { class: 'mono' }, String(result[1]))))));
      return;
    }
    const rows = result || [];
    summary.textContent = `${rows.length} series ${at}`;
    if (rows.length === 0) {
      replace(body, h('p', { class: 'muted' }, 'No data at the end of this time range.'));
      return;
    }
    const names = [...new Set(rows.flatMap((x) => Object.keys(x.metric || {})))]
      .sort((a, b) => (a === '__name__' ? -1 : b === '__name__' ? 1 : a.localeCompare(b)));
    const matrix = resultType === 'matrix';
    const valueCell = (x) => (matrix
      ? h('td', { class: 'mono' }, (x.values || []).map(([t, v]) => h('div', {}, `${v} @${t}`)))
      : h('td', { class: 'mono' }, x.value ? String(x.value[1]) : ''));
    replace(body, h('div', { class: 'metrics-table-wrap' }, h('table', { class: 'grid metrics-table' },
      h('caption', { class: 'muted' }, `Instant query result (${resultType})`),
      h('thead', {}, h('tr', {}, names.map((n) => h('th', { scope: 'col' }, n)),
        h('th', { scope: 'col' }, matrix ? 'Values' : 'Value'))),
      h('tbody', {}, rows.map((x) => h('tr', {},
        names.map((n) => h('td', { class: 'mono' }, (x.metric || {})[n] ?? '')),
        valueCell(x)))))));
  }

  updateStepHint();
  support.prefetch();
  if (st.expr) {
    editor.setValue(st.expr);
    run();
  } else {
    replace(body, h('p', { class: 'muted' }, 'Enter a PromQL expression and run it.'));
  }
  return () => { if (ctl) ctl.abort(); seq++; clearChart(); };
}
