// Dashboards: `#/dashboards` lists the tenant's dashboards and the built-in ones, with
// import of a Grafana dashboard JSON (pasted or from a file) and delete;
// `#/dashboards/<uid>?from=&to=&var-<name>=&refresh=` shows one: a variable bar, a time
// range, and the panels laid out on a 24-column grid from their gridPos. Variables are
// resolved first (in order, each may use the ones before it), then every panel's queries
// run at once; a panel's error stays inside that panel.

import { h, errorBox, field } from '../lib/dom.js';
import { parseTime, parseDuration, autoStep } from '../lib/time.js';
import { timePicker } from '../lib/timepicker.js';
import { renderPanel, substitute, promDuration } from '../lib/panels.js';

const ROW_PX = 30;
const SCRAPE_S = 15;

export async function mount(root, ctx) {
  if (ctx.rest.length > 0) return view(root, ctx, ctx.rest[0]);
  return list(root, ctx);
}

// ---------- list ----------

async function list(root, ctx) {
  const status = h('div', { role: 'status', 'aria-live': 'polite', class: 'dash-status' });
  const tableBox = h('div', { class: 'dash-list' });
  root.append(h('h1', {}, 'Dashboards'), tableBox, importForm(ctx, status, reload), status);

  async function reload() {
    try {
      const data = await ctx.api.get('/api/v1/dashboards');
      renderList(data.data || []);
    } catch (e) {
      tableBox.replaceChildren(errorBox(e));
    }
  }

  function renderList(items) {
    if (items.length === 0) { tableBox.replaceChildren(h('p', { class: 'muted' }, 'No dashboards.')); return; }
    tableBox.replaceChildren(h('table', { class: 'grid' },
      h('caption', { class: 'sr-only' }, 'Dashboards'),
      h('thead', {}, h('tr', {}, ['Title', 'Tags', 'Kind', 'Actions'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, items.map((d) => h('tr', { 'data-uid': d.uid },
        h('td', {}, h('a', { href: ctx.href(`dashboards/${encodeURIComponent(d.uid)}`) }, d.title)),
        h('td', {}, (d.tags || []).map((t) => h('span', { class: 'badge' }, t))),
        h('td', {}, d.builtin ? 'built-in' : 'stored'),
        h('td', {}, d.builtin ? null : deleteButton(d)))))));
  }

  function deleteButton(d) {
    const cell = h('span', { class: 'dash-actions' });
    const ask = h('button', { type: 'button', 'aria-label': `Delete ${d.title}`, onclick: () => {
      cell.replaceChildren(
        h('span', {}, 'Delete? '),
        h('button', { type: 'button', class: 'danger', 'aria-label': `Confirm delete of ${d.title}`, onclick: async () => {
          try {
            await ctx.api.sendJson('DELETE', `/api/v1/dashboards/${encodeURIComponent(d.uid)}`);
            status.replaceChildren(`Deleted ${d.title}.`);
            await reload();
          } catch (e) { status.replaceChildren(errorBox(e)); }
        } }, 'Yes, delete'),
        h('button', { type: 'button', 'aria-label': `Keep ${d.title}`, onclick: () => cell.replaceChildren(ask) }, 'No'));
      cell.querySelector('button.danger').focus();
    } }, 'Delete');
    cell.append(ask);
    return cell;
  }

  await reload();
}

function importForm(ctx, status, reload) {
  const ta = h('textarea', { rows: 6, class: 'mono', placeholder: '{"title": "...", "panels": [...]}', spellcheck: 'false' });
  const file = h('input', { type: 'file', accept: '.json,application/json' });
  file.addEventListener('change', async () => {
    const f = file.files && file.files[0];
    if (f) ta.value = await f.text();
  });
  const result = h('div', { class: 'dash-import-result' });
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Import');
  const form = h('form', { class: 'panel dash-import', 'aria-label': 'Import a Grafana dashboard' },
    h('h2', {}, 'Import a Grafana dashboard'),
    field('Grafana dashboard JSON', ta),
    h('div', { class: 'toolbar' }, field('Or a file', file), submit),
    result);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    let body;
    try { body = JSON.parse(ta.value); } catch (err) { result.replaceChildren(errorBox(`not valid JSON: ${err.message}`)); return; }
    submit.disabled = true;
    try {
      const res = await ctx.api.sendJson('POST', '/api/v1/dashboards/import', body);
      const d = res.data.dashboard;
      const dropped = res.data.dropped || [];
      result.replaceChildren(
        h('p', {}, 'Imported ', h('a', { href: ctx.href(`dashboards/${encodeURIComponent(d.uid)}`) }, d.title), ` (${d.panels.length} panels).`),
        dropped.length ? h('div', {}, h('p', {}, 'Left out:'), h('ul', { class: 'dropped' }, dropped.map((x) => h('li', {}, x)))) : null);
      status.replaceChildren(`Imported ${d.title}.`);
      ta.value = '';
      await reload();
    } catch (err) {
      result.replaceChildren(errorBox(err));
    } finally { submit.disabled = false; }
  });
  return form;
}

// ---------- one dashboard ----------

/** The options of a variable, from the API when it is a query. */
async function variableOptions(v, vars, ctx, range) {
  const sub = (s) => substitute(s || '', vars, range.builtins);
  const q = typeof v.query === 'object' && v.query ? v.query.query : v.query;
  if (v.type === 'custom') return splitList(sub(q));
  if (v.type === 'interval') return splitList(q);
  if (v.type === 'constant' || v.type === 'textbox') return [sub(q)];
  const text = sub(q).trim();
  const se = { start: Math.floor(range.startMs / 1000), end: Math.ceil(range.endMs / 1000) };
  let m;
  let values;
  if ((m = /^label_values\(\s*(.+?)\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)$/.exec(text))) {
    values = (await ctx.api.get(`/api/v1/label/${encodeURIComponent(m[2])}/values`, { 'match[]': m[1], ...se })).data;
  } else if ((m = /^label_values\(\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)$/.exec(text))) {
    values = (await ctx.api.get(`/api/v1/label/${encodeURIComponent(m[1])}/values`, se)).data;
  } else if ((m = /^label_names\(\s*\)$/.exec(text))) {
    values = (await ctx.api.get('/api/v1/labels', se)).data;
  } else if ((m = /^metrics\((.*)\)$/.exec(text))) {
    const re = new RegExp(m[1].trim() || '.*');
    values = (await ctx.api.get('/api/v1/label/__name__/values', se)).data.filter((n) => re.test(n));
  } else if ((m = /^query_result\((.+)\)$/s.exec(text))) {
    const d = await ctx.api.prom('/api/v1/query', { query: m[1], time: range.endMs / 1000 });
    const rows = d.resultType === 'scalar' ? [{ metric: {}, value: d.result }] : (d.result || []);
    values = rows.map((r) => {
      const labels = Object.entries(r.metric || {}).filter(([k]) => k !== '__name__').map(([k, val]) => `${k}="${val}"`).join(',');
      return `${(r.metric && r.metric.__name__) || ''}{${labels}} ${r.value[1]} ${Math.round(r.value[0] * 1000)}`;
    });
  } else if (text) {
    const series = (await ctx.api.get('/api/v1/series', { 'match[]': text, ...se })).data;
    values = series.map((s) => `${s.__name__ || ''}{${Object.entries(s).filter(([k]) => k !== '__name__').map(([k, val]) => `${k}="${val}"`).join(',')}}`);
  } else values = [];
  if (v.regex) {
    const rm = /^\/(.*)\/([gimsuy]*)$/.exec(v.regex);
    const re = rm ? new RegExp(rm[1], rm[2].replace('g', '')) : new RegExp(v.regex);
    values = values.map((x) => { const r = re.exec(x); return r ? (r.length > 1 ? r[1] : r[0]) : null; }).filter((x) => x !== null);
  }
  return [...new Set(values)].sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
}

function splitList(q) {
  return String(q || '').split(/(?<!\\),/).map((s) => s.replace(/\\,/g, ',').trim()).filter(Boolean)
    .map((s) => { const m = /^(.*?)\s+:\s+(.*)$/.exec(s); return m ? m[2] : s; });
}

function computeRange(from, to, width) {
  const now = Date.now();
  const startMs = parseTime(from, now);
  const endMs = parseTime(to, now);
  if (Number.isNaN(startMs) || Number.isNaN(endMs) || startMs >= endMs) throw new Error(`invalid time range ${from} to ${to}`);
  const step = autoStep(startMs, endMs, Math.max(100, Math.min(1000, Math.round(width / 2))));
  return rangeWith(startMs, endMs, step, SCRAPE_S);
}

/**
 * The range a panel `widthPx` wide queries with. As in Grafana, the panel asks for at most
 * one point per pixel (or its `maxDataPoints`), so a narrow panel asks for fewer steps.
 * A minimum interval (Grafana's panel `interval`, e.g. "1m" or ">1m") raises the step to
 * it and stands for the scrape interval in `$__rate_interval`, so data written less often
 * than every 15 s still has two samples in each rate window.
 */
function panelRange(range, panel, widthPx) {
  const maxPoints = Number(panel.maxDataPoints) > 0 ? Number(panel.maxDataPoints) : Math.round(widthPx);
  const step = autoStep(range.startMs, range.endMs, Math.max(50, Math.min(11000, maxPoints || 1000)));
  const text = typeof panel.interval === 'string' ? panel.interval.trim().replace(/^>/, '') : '';
  const ms = text ? parseDuration(text) : NaN;
  if (!Number.isFinite(ms) || ms < 1000) return rangeWith(range.startMs, range.endMs, step, SCRAPE_S);
  const minS = Math.ceil(ms / 1000);
  return rangeWith(range.startMs, range.endMs, Math.max(step, minS), minS);
}

function rangeWith(startMs, endMs, step, scrapeS) {
  const rateS = Math.max(step + scrapeS, 4 * scrapeS);
  const rangeS = Math.round((endMs - startMs) / 1000);
  return {
    startMs, endMs, step,
    builtins: {
      __interval: promDuration(step), __interval_ms: String(step * 1000),
      __rate_interval: promDuration(rateS), __range: promDuration(rangeS),
      __range_s: String(rangeS), __range_ms: String(rangeS * 1000),
    },
  };
}

async function view(root, ctx, uid) {
  const head = h('div', { class: 'dash-head' });
  const varBar = h('div', { class: 'dash-vars toolbar', role: 'group', 'aria-label': 'Variables' });
  const grid = h('div', { class: 'dash-grid' });
  root.append(head, varBar, grid);
  let doc;
  try {
    const res = await ctx.api.get(`/api/v1/dashboards/${encodeURIComponent(uid)}`);
    doc = res.data.dashboard;
  } catch (e) {
    head.replaceChildren(h('h1', {}, 'Dashboard'), h('p', {}, h('a', { href: ctx.href('dashboards') }, 'All dashboards')));
    grid.replaceChildren(errorBox(e));
    return null;
  }
  document.title = `${doc.title} · oxeye`;
  const state = {
    from: ctx.params.get('from') || doc.time?.from || 'now-6h',
    to: ctx.params.get('to') || doc.time?.to || 'now',
    refresh: ctx.params.has('refresh') ? ctx.params.get('refresh') : (doc.refresh || ''),
    values: {},
  };
  const varDefs = (doc.templating && doc.templating.list) || [];
  for (const v of varDefs) {
    const fromUrl = ctx.params.getAll(`var-${v.name}`);
    if (fromUrl.length) state.values[v.name] = v.multi ? fromUrl : fromUrl[0];
  }
  const vars = {}; // name -> {value, all}
  let seq = 0;
  let timer = null;
  let controller = null;
  const charts = [];

  function writeUrl(push) {
    const p = { from: state.from, to: state.to };
    if (state.refresh) p.refresh = state.refresh;
    for (const v of varDefs) {
      if (vars[v.name] !== undefined && v.type !== 'constant') p[`var-${v.name}`] = vars[v.name].value;
    }
    ctx.setParams(p, { push });
  }

  const picker = timePicker({
    from: state.from, to: state.to,
    onChange: ({ from, to }) => { state.from = from; state.to = to; writeUrl(true); runAll(true); },
    onRefresh: () => runAll(true),
  });
  const refreshSel = h('select', { 'aria-label': 'Auto refresh' },
    ['', '5s', '10s', '30s', '1m', '5m', '15m'].map((r) => h('option', { value: r }, r ? `every ${r}` : 'no auto refresh')));
  if (state.refresh && ![...refreshSel.options].some((o) => o.value === state.refresh)) refreshSel.append(h('option', { value: state.refresh }, `every ${state.refresh}`));
  refreshSel.value = state.refresh;
  refreshSel.addEventListener('change', () => { state.refresh = refreshSel.value; writeUrl(false); schedule(); });
  head.replaceChildren(
    h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, h('a', { href: ctx.href('dashboards') }, 'Dashboards'), ' / '),
    h('h1', {}, doc.title),
    h('div', { class: 'toolbar' }, picker, refreshSel));

  function schedule() {
    clearInterval(timer);
    const ms = parseDuration(state.refresh);
    if (state.refresh && ms >= 1000) timer = setInterval(() => runAll(false), ms);
  }

  /** Resolves variables from index `from` on (the ones after a changed one). */
  async function resolveVars(range, fromIndex = 0) {
    for (let i = fromIndex; i < varDefs.length; i++) {
      const v = varDefs[i];
      let options = [];
      let error = null;
      try { options = await variableOptions(v, vars, ctx, range); } catch (e) { error = e; }
      const want = state.values[v.name] ?? v.current?.value;
      let value;
      const wantList = Array.isArray(want) ? want : (want === undefined || want === null ? [] : [want]);
      if (v.type === 'textbox') value = want ?? options[0] ?? '';
      else if (v.multi) {
        value = wantList.filter((x) => x === '$__all' || options.includes(x));
        if (value.length === 0) value = v.includeAll ? ['$__all'] : options.slice(0, 1);
      } else {
        value = wantList.find((x) => (x === '$__all' && v.includeAll) || options.includes(x));
        if (value === undefined) value = v.includeAll ? '$__all' : (options[0] ?? '');
      }
      vars[v.name] = { value, all: options, allValue: v.allValue || '', error };
    }
  }

  function renderVarBar(range) {
    varBar.replaceChildren(...varDefs.filter((v) => v.type !== 'constant' && v.hide !== 2).map((v, idx) => {
      const cur = vars[v.name];
      const label = v.label || v.name;
      let control;
      if (v.type === 'textbox') {
        control = h('input', { value: cur.value, size: 14, 'aria-label': label });
        control.addEventListener('change', () => changed(v, control.value));
      } else {
        control = h('select', { 'aria-label': label, multiple: v.multi ? true : null, size: v.multi ? Math.min(4, cur.all.length + (v.includeAll ? 1 : 0)) : null },
          v.includeAll ? h('option', { value: '$__all' }, 'All') : null,
          cur.all.map((o) => h('option', { value: o }, o)));
        const selected = Array.isArray(cur.value) ? cur.value : [cur.value];
        for (const o of control.options) o.selected = selected.includes(o.value);
        control.addEventListener('change', () => {
          const vals = [...control.selectedOptions].map((o) => o.value);
          changed(v, v.multi ? vals : vals[0]);
        });
      }
      return h('span', { class: 'dash-var' }, field(label, control), cur.error ? h('span', { class: 'error' }, String(cur.error.message || cur.error)) : null);
    }));
    function changed(v, value) {
      state.values[v.name] = value;
      vars[v.name].value = value;
      const i = varDefs.indexOf(v);
      writeUrl(true);
      (async () => {
        await resolveVars(range, i + 1);
        renderVarBar(range);
        runPanels(range);
      })();
    }
  }

  async function runAll(withVars) {
    let range;
    try { range = computeRange(state.from, state.to, grid.clientWidth || 1200); } catch (e) { grid.replaceChildren(errorBox(e)); return; }
    if (withVars || Object.keys(vars).length < varDefs.length) {
      await resolveVars(range);
      renderVarBar(range);
      writeUrl(false);
    }
    await runPanels(range);
  }

  async function runPanels(range) {
    const mine = ++seq;
    if (controller) controller.abort();
    controller = new AbortController();
    const signal = controller.signal;
    const t0 = performance.now();
    grid.dataset.state = 'loading';
    while (charts.length) { try { charts.pop().destroy(); } catch { /* already gone */ } }
    const panels = (doc.panels || []).slice().sort((a, b) => (a.gridPos?.y ?? 0) - (b.gridPos?.y ?? 0) || (a.gridPos?.x ?? 0) - (b.gridPos?.x ?? 0));
    const nodes = panels.map((p) => panelBox(p));
    grid.replaceChildren(...nodes.map((n) => n.el));
    // one layout for all widths, before any panel draws
    const widths = nodes.map((n) => n.body.clientWidth);
    const ranges = panels.map((p, i) => panelRange(range, p, widths[i]));
    // the Explore link runs the panel's query as the panel does: with its own step
    nodes.forEach((n, i) => {
      if (!n.explore) return;
      const expr = substitute(n.exploreExpr, vars, ranges[i].builtins);
      n.explore.href = ctx.href('explore/metrics', { expr, from: state.from, to: state.to });
    });
    await Promise.all(panels.map(async (p, i) => {
      const n = nodes[i];
      const r = ranges[i];
      try {
        const c = await renderPanel(n.body, p, {
          api: ctx.api, startMs: r.startMs, endMs: r.endMs, step: r.step,
          height: n.height, width: widths[i], signal, href: ctx.href,
          substitute: (s) => substitute(s, vars, r.builtins),
        });
        if (mine !== seq) { c && c.destroy && c.destroy(); return; }
        if (c && c.destroy) charts.push(c);
        n.el.dataset.state = 'done';
      } catch (e) {
        if (mine !== seq || e.name === 'AbortError') return;
        n.body.replaceChildren(errorBox(e));
        n.el.dataset.state = 'error';
      }
    }));
    if (mine !== seq) return;
    grid.dataset.state = 'done';
    grid.dataset.renderMs = String(Math.round(performance.now() - t0));
    grid.dataset.doneAt = String(Math.round(performance.now()));
  }

  function panelBox(p) {
    const g = p.gridPos || {};
    const x = Math.min(23, g.x ?? 0); const w = Math.max(1, Math.min(24 - x, g.w ?? 12)); const hh = Math.max(2, g.h ?? 8);
    const id = `panel-${p.id}`;
    const explore = (p.targets || []).find((t) => !t.hide && t.expr && (t.datasource?.type || 'prometheus') === 'prometheus');
    const body = h('div', { class: 'dpanel-body' });
    // the link's address is set once the panel's width (so its step) is known
    const link = explore ? h('a', { class: 'dpanel-explore', 'aria-label': `Explore ${p.title || 'panel'}`, title: 'Open in Explore',
      href: ctx.href('explore/metrics', { from: state.from, to: state.to }) }, 'Explore') : null;
    const el = h('section', {
      class: `dpanel dpanel-${p.type}`, 'aria-labelledby': id, 'data-panel-id': p.id, 'data-state': 'loading',
      style: `grid-column:${x + 1} / span ${w};grid-row:${(g.y ?? 0) + 1} / span ${hh}`,
    },
    h('header', {}, h('h2', { id }, p.title || p.type), link),
    body);
    return { el, body, height: hh * ROW_PX - 34, explore: link, exploreExpr: explore ? explore.expr : '' };
  }

  schedule();
  await runAll(true);
  return () => {
    clearInterval(timer);
    if (controller) controller.abort();
    while (charts.length) { try { charts.pop().destroy(); } catch { /* already gone */ } }
  };
}
