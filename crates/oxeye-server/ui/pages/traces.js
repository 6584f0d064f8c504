// Traces page: search (a form of service, operation, tags and durations, or a TraceQL
// query) over Tempo's `/api/search`, a sortable result table, and one trace
// (`#/traces/<id>`, from `/api/traces/<id>`) as a waterfall with span details, the
// critical path and jumps to the trace's logs and its service's span metrics.
//
// URL state: `q` (TraceQL; its presence selects the TraceQL tab), `service`, `operation`,
// `tags` (logfmt), `minDuration`, `maxDuration`, `limit`, `from`, `to`, `sort`, `dir`;
// loading such a URL runs the search. A trace view keeps `span` (selected span) and
// `cp=0` (critical path hidden).

import { h, replace, field, errorBox, tabs } from '../lib/dom.js';
import { createEditor } from '../lib/editor.js';
import { timePicker } from '../lib/timepicker.js';
import { fmtTime, fmtDurationMs } from '../lib/time.js';
import { traceqlLanguage, formToTraceQL, quote } from '../lib/traceql.js';
import { parseTrace, renderWaterfall, spanDetails } from '../lib/waterfall.js';

const LAST_SEARCH = 'oxeye.traces.search';

export async function mount(root, ctx) {
  if (ctx.rest.length > 0) return mountTrace(root, ctx, ctx.rest[0]);
  return mountSearch(root, ctx);
}

// ---------------------------------------------------------------- search

function mountSearch(root, ctx) {
  const p = ctx.params;
  const state = {
    mode: p.has('q') ? 'traceql' : 'search',
    sort: p.get('sort') === 'duration' ? 'duration' : 'start',
    dir: p.get('dir') === 'asc' ? 'asc' : 'desc',
  };
  let results = null;
  let controller = null;

  const picker = timePicker({
    from: p.get('from') || 'now-1h', to: p.get('to') || 'now',
    onChange: () => { loadServices(); run(); }, onRefresh: () => run(),
  });
  const range = () => picker.range();
  const secs = () => ({ start: Math.floor(range().startMs / 1000), end: Math.ceil(range().endMs / 1000) });

  // form fields
  const service = h('select', { id: 'tr-service', name: 'service' }, h('option', { value: '' }, 'All services'));
  const operation = h('select', { id: 'tr-operation', name: 'operation' }, h('option', { value: '' }, 'All operations'));
  const tags = h('input', { id: 'tr-tags', name: 'tags', value: p.get('tags') || '', size: 32, placeholder: 'http.status_code=500 error=true', autocomplete: 'off' });
  const minD = h('input', { id: 'tr-min', name: 'minDuration', value: p.get('minDuration') || '', size: 8, placeholder: 'e.g. 100ms' });
  const maxD = h('input', { id: 'tr-max', name: 'maxDuration', value: p.get('maxDuration') || '', size: 8, placeholder: 'e.g. 1.2s' });
  const limit = h('input', { id: 'tr-limit', name: 'limit', type: 'number', min: 1, max: 10000, value: p.get('limit') || '20', size: 5 });
  const generated = h('code', { class: 'tr-generated' });
  const tagsErr = h('div', { class: 'error', role: 'status', id: 'tr-tags-err' });
  const lang = traceqlLanguage(ctx.api, range);
  const editor = createEditor({
    label: 'TraceQL query', value: p.get('q') || '', placeholder: '{ resource.service.name = "frontend" && status = error }',
    complete: lang.complete, validate: lang.validate, onRun: () => run(),
  });

  const wanted = { service: p.get('service') || '', operation: p.get('operation') || '' };
  // the URL's choices hold until the lists arrive, so a search from the URL uses them
  if (wanted.service) { service.append(h('option', { value: wanted.service }, wanted.service)); service.value = wanted.service; }
  if (wanted.operation) { operation.append(h('option', { value: wanted.operation }, wanted.operation)); operation.value = wanted.operation; }
  async function loadServices() {
    try {
      const r = await ctx.api.get('/api/v2/search/tag/resource.service.name/values', secs());
      const names = ((r && r.tagValues) || []).map((v) => (typeof v === 'string' ? v : v.value));
      const cur = service.value || wanted.service;
      if (cur && !names.includes(cur)) names.push(cur);
      replace(service, h('option', { value: '' }, 'All services'), names.sort().map((n) => h('option', { value: n }, n)));
      service.value = cur;
    } catch (e) {
      console.warn('services', e);
    }
    await loadOperations();
  }
  async function loadOperations() {
    const svc = service.value;
    const cur = operation.value || wanted.operation;
    wanted.operation = '';
    let names = [];
    if (svc) {
      // the span names of the service's spans in the chosen time range (Tempo's value
      // lookup narrowed by a TraceQL filter, as Grafana asks for it)
      try {
        const r = await ctx.api.get('/api/v2/search/tag/name/values', {
          q: `{ resource.service.name = ${JSON.stringify(svc)} }`, ...secs(),
        });
        names = ((r && r.tagValues) || []).map((v) => (typeof v === 'string' ? v : v.value)).sort();
      } catch (e) { console.warn('operations', e); }
    }
    if (cur && !names.includes(cur)) names.push(cur);
    replace(operation, h('option', { value: '' }, 'All operations'), names.map((n) => h('option', { value: n }, n)));
    operation.value = names.includes(cur) ? cur : '';
    showGenerated();
  }
  service.addEventListener('change', () => { operation.value = ''; loadOperations(); });
  operation.addEventListener('change', showGenerated);
  tags.addEventListener('input', showGenerated);
  for (const i of [tags, minD, maxD, limit]) i.addEventListener('keydown', (e) => { if (e.key === 'Enter') { e.preventDefault(); run(); } });

  function formQuery() {
    return formToTraceQL({ service: service.value, operation: operation.value, tags: tags.value });
  }
  function showGenerated() {
    try {
      generated.textContent = formQuery();
      tagsErr.textContent = '';
      tags.removeAttribute('aria-invalid');
    } catch (e) {
      generated.textContent = '';
      tagsErr.textContent = e.message;
      tags.setAttribute('aria-invalid', 'true');
    }
  }

  const form = h('div', { class: 'tr-form', role: 'group', 'aria-label': 'Search by fields' },
    field('Service', service), field('Operation', operation),
    h('label', { class: 'field' }, 'Tags ', tags),
    field('Min duration', minD), field('Max duration', maxD),
    h('div', { class: 'tr-generated-line muted' }, 'TraceQL: ', generated,
      h('button', { type: 'button', onclick: () => { editor.setValue(generated.textContent || '{}'); selectMode('traceql'); } }, 'Edit as TraceQL')),
    tagsErr);
  const traceqlBox = h('div', { class: 'tr-traceql' }, editor.el);
  const modeBody = h('div', { class: 'panel tr-query' });
  function selectMode(m) {
    state.mode = m;
    for (const b of modeTabs.querySelectorAll('[role=tab]')) {
      const on = b.id === `tab-${m}`;
      b.setAttribute('aria-selected', String(on)); b.tabIndex = on ? 0 : -1;
    }
    replace(modeBody, m === 'search' ? form : traceqlBox);
  }
  const modeTabs = tabs('Query type', [['search', 'Search'], ['traceql', 'TraceQL']], state.mode, (id) => selectMode(id));
  const runBtn = h('button', { type: 'button', class: 'primary', onclick: () => run() }, 'Run query');
  const status = h('div', { class: 'muted tr-status', role: 'status' });
  const out = h('div', { class: 'tr-results' });

  root.append(
    h('h1', {}, 'Traces'),
    modeTabs, modeBody,
    h('div', { class: 'toolbar' }, picker, field('Limit', limit), runBtn),
    status, out);
  selectMode(state.mode);
  showGenerated();

  function urlState() {
    const r = range();
    return {
      q: state.mode === 'traceql' ? editor.value() : '',
      service: state.mode === 'search' ? service.value : '',
      operation: state.mode === 'search' ? operation.value : '',
      tags: state.mode === 'search' ? tags.value.trim() : '',
      minDuration: minD.value.trim(), maxDuration: maxD.value.trim(),
      limit: limit.value && limit.value !== '20' ? limit.value : '',
      from: r.from, to: r.to,
      sort: state.sort === 'duration' ? 'duration' : '', dir: state.dir === 'asc' ? 'asc' : '',
    };
  }

  async function run() {
    let q;
    if (state.mode === 'traceql') {
      q = editor.value().trim() || '{}';
    } else {
      try { q = formQuery(); } catch (e) { showGenerated(); status.textContent = ''; replace(out, errorBox(e)); return; }
    }
    const r = range();
    if (Number.isNaN(r.startMs) || Number.isNaN(r.endMs) || r.startMs >= r.endMs) {
      replace(out, errorBox('invalid time range')); return;
    }
    const st = urlState();
    ctx.setParams(st);
    try { sessionStorage.setItem(LAST_SEARCH, JSON.stringify(st)); } catch { /* private mode */ }
    if (controller) controller.abort();
    controller = new AbortController();
    status.textContent = 'Searching…';
    const t0 = performance.now();
    try {
      const body = await ctx.api.get('/api/search', {
        q, ...secs(), limit: limit.value || 20,
        minDuration: minD.value.trim(), maxDuration: maxD.value.trim(),
      }, { signal: controller.signal });
      results = (body && body.traces) || [];
      editor.showError(null);
      const m = (body && body.metrics) || {};
      status.textContent = `${results.length} trace${results.length === 1 ? '' : 's'} found in ${Math.round(performance.now() - t0)} ms` +
        (m.inspectedTraces !== undefined ? ` (${m.inspectedTraces} inspected)` : '');
      renderResults();
    } catch (e) {
      if (e.name === 'AbortError') return;
      status.textContent = '';
      results = null;
      if (state.mode === 'traceql' && e.status === 400 && /TraceQL/.test(e.message)) editor.showError({ message: e.message });
      replace(out, errorBox(e));
    }
  }

  function renderResults() {
    if (!results) return;
    if (results.length === 0) { replace(out, h('p', { class: 'muted' }, 'No traces match this search in the time range.')); return; }
    const key = (t) => (state.sort === 'duration' ? Number(t.durationMs || 0) : Number(BigInt(t.startTimeUnixNano || 0) / 1000000n));
    const rows = [...results].sort((a, b) => (state.dir === 'asc' ? key(a) - key(b) : key(b) - key(a)));
    const sortHeader = (id, text) => {
      const on = state.sort === id;
      return h('th', { 'aria-sort': on ? (state.dir === 'asc' ? 'ascending' : 'descending') : 'none' },
        h('button', {
          type: 'button', class: 'tr-sort', 'data-sort': id,
          onclick: () => {
            if (state.sort === id) state.dir = state.dir === 'asc' ? 'desc' : 'asc'; else { state.sort = id; state.dir = 'desc'; }
            ctx.setParams(urlState());
            renderResults();
            out.querySelector(`[data-sort="${id}"]`).focus();
          },
        }, text, h('span', { 'aria-hidden': 'true' }, on ? (state.dir === 'asc' ? ' ▲' : ' ▼') : '')));
    };
    const matched = (t) => (t.spanSets || (t.spanSet ? [t.spanSet] : [])).reduce((n, s) => n + (s.matched || 0), 0);
    replace(out, h('table', { class: 'grid tr-table' },
      h('caption', { class: 'muted' }, 'Traces found'),
      h('thead', {}, h('tr', {},
        h('th', {}, 'Trace ID'), h('th', {}, 'Root service'), h('th', {}, 'Root span'),
        sortHeader('start', 'Start time'), sortHeader('duration', 'Duration'), h('th', {}, 'Matched spans'))),
      h('tbody', {}, rows.map((t) => h('tr', { 'data-trace-id': t.traceID },
        h('td', {}, h('a', { class: 'mono', href: ctx.href(`traces/${t.traceID}`) }, t.traceID)),
        h('td', {}, t.rootServiceName || h('span', { class: 'muted' }, '<root span not yet received>')),
        h('td', {}, t.rootTraceName || ''),
        h('td', {}, fmtTime(Number(BigInt(t.startTimeUnixNano || 0) / 1000000n))),
        h('td', { class: 'tr-dur' }, t.durationMs ? fmtDurationMs(t.durationMs) : '<1ms'),
        h('td', {}, String(matched(t))))))));
  }

  loadServices();
  // a URL with a search runs it
  if (['q', 'service', 'operation', 'tags', 'minDuration', 'maxDuration'].some((k) => p.has(k))) run();
  return () => { if (controller) controller.abort(); };
}

// ---------------------------------------------------------------- one trace

/** LogQL regex alternation of literal values. */
function regexAlt(values) {
  return values.map((v) => v.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|');
}

/** `#/explore/logs` query: the services' logs carrying this trace id. */
export function logsQuery(services, traceId) {
  const sel = services.length === 1 ? `service_name=${quote(services[0])}` : `service_name=~${quote(regexAlt(services))}`;
  return `{${sel}} | trace_id=${quote(traceId)}`;
}

/** `#/explore/metrics` expression: the service's request rate per operation from span metrics. */
export function metricsExpr(service) {
  return `sum by (span_name, status_code) (rate(traces_spanmetrics_calls_total{service=${quote(service)}}[5m]))`;
}

async function mountTrace(root, ctx, id) {
  let last = {};
  try { last = JSON.parse(sessionStorage.getItem(LAST_SEARCH) || '{}'); } catch { last = {}; }
  const back = h('a', { href: ctx.href('traces', last), class: 'tr-back' }, '← Search');
  root.append(h('div', { class: 'toolbar' }, back), h('h1', {}, 'Trace ', h('span', { class: 'mono' }, id)));
  const status = h('div', { class: 'muted', role: 'status' }, 'Loading trace…');
  root.append(status);
  let trace;
  try {
    trace = parseTrace(await ctx.api.get(`/api/traces/${encodeURIComponent(id)}`));
  } catch (e) {
    status.remove();
    root.append(errorBox(e));
    return null;
  }
  status.remove();
  if (!trace) { root.append(errorBox('trace not found')); return null; }
  const rootSpan = trace.root;
  root.querySelector('h1').replaceChildren(
    h('span', { class: 'wf-swatch', style: `background:${rootSpan.color}`, 'aria-hidden': 'true' }),
    `${rootSpan.service}: ${rootSpan.name} `, h('span', { class: 'mono muted tr-id' }, trace.traceId));
  document.title = `${rootSpan.service}: ${rootSpan.name} · oxeye`;

  const state = { span: ctx.params.get('span') || '', cp: ctx.params.get('cp') !== '0' };
  const save = () => ctx.setParams({ span: state.span, cp: state.cp ? '' : '0' });
  const around = (pad) => ({ from: String(trace.startMs - pad), to: String(Math.ceil(trace.startMs + trace.duration) + pad) });
  const logsHref = (services) => ctx.href('explore/logs', { query: logsQuery(services, trace.traceId), ...around(60000) });
  const metricsHref = (svc) => ctx.href('explore/metrics', { expr: metricsExpr(svc), ...around(1800000) });
  const traceHref = (tid) => ctx.href(`traces/${tid}`);

  const details = h('aside', { class: 'tr-details panel', 'aria-label': 'Span details' },
    h('p', { class: 'muted' }, 'Select a span (click, or Enter on a row) to see its details.'));
  const wf = renderWaterfall(trace, {
    critical: state.cp,
    selected: state.span,
    onSelect(span) {
      state.span = span.id;
      save();
      replace(details, spanDetails(span, trace, {
        href: traceHref,
        extra: h('div', { class: 'toolbar tr-span-links' },
          h('a', { href: logsHref([span.service]), class: 'tr-span-logs' }, `Logs of ${span.service} for this trace`),
          h('a', { href: metricsHref(span.service), class: 'tr-span-metrics' }, `Metrics of ${span.service}`)),
      }));
    },
  });
  const cpBtn = h('button', {
    type: 'button', 'aria-pressed': String(state.cp), class: 'tr-cp-toggle', 'aria-describedby': 'tr-cp-note',
  }, 'Critical path');
  cpBtn.addEventListener('click', () => {
    state.cp = !state.cp;
    cpBtn.setAttribute('aria-pressed', String(state.cp));
    wf.setCritical(state.cp);
    save();
  });
  const cpTotal = wf.critical.sections.reduce((n, s) => n + (s.end - s.start), 0);
  const summary = h('dl', { class: 'tr-summary' },
    ...[['Start', fmtTime(trace.startMs)], ['Duration', fmtDurationMs(trace.duration)],
      ['Services', String(trace.services.length)], ['Depth', String(trace.depth)],
      ['Spans', String(trace.spans.length)], ['Errors', String(trace.errors)],
      ['Critical path', `${wf.critical.spans.size} spans, ${fmtDurationMs(cpTotal)}`]]
      .flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
  const legend = h('ul', { class: 'tr-services', 'aria-label': 'Services' },
    trace.services.map((s) => h('li', {}, h('span', {
      class: 'wf-swatch', 'aria-hidden': 'true', style: `background:${trace.spans.find((x) => x.service === s).color}`,
    }), s)));
  root.append(
    summary,
    h('div', { class: 'toolbar tr-trace-tools' },
      cpBtn,
      h('span', { class: 'muted tr-cp-note', id: 'tr-cp-note' }, '◆ on the critical path, hatched: the time it determined'),
      h('button', { type: 'button', onclick: () => wf.expandAll() }, 'Expand all'),
      h('button', { type: 'button', onclick: () => wf.collapseAll() }, 'Collapse all'),
      h('a', { href: logsHref(trace.services), class: 'tr-logs' }, 'Logs of this trace'),
      h('a', { href: metricsHref(rootSpan.service), class: 'tr-metrics' }, 'Metrics of this service'),
      legend),
    h('div', { class: 'tr-body' }, h('div', { class: 'panel tr-waterfall' }, wf.el), details));
  return () => wf.destroy();
}
