// SLOs page: every SLO of `/api/v1/slos`, lowest error budget remaining first, with its
// objective, SLI now, budget bar, burn rates per window and alerts; and per SLO a chart of
// its burn rates over time from the series its generated rules record
// (`slo:sli_error:ratio_rate<window>{sloth_id=...}` divided by the error budget), with the
// page and ticket thresholds of the multi-window multi-burn-rate alerts.
//
// URL state: from, to (the chart range), slo=<id> (repeated: the SLOs whose chart is open).

import { h, replace, errorBox } from '../lib/dom.js';
import { fmtValue, autoStep } from '../lib/time.js';
import { timePicker } from '../lib/timepicker.js';
import { chartLibrary, timeSeriesChart } from '../lib/chart.js';

const WINDOWS = ['5m', '30m', '1h', '2h', '6h', '1d', '3d', '30d'];
/** Burn rate factors of the alerts Sloth generates (budget share over the long window). */
const THRESHOLDS = [
  ['page (5m & 1h)', 14.4], ['page (30m & 6h)', 6], ['ticket (2h & 1d)', 3], ['ticket (6h & 3d)', 1],
];

function pct(v, digits = 3) {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  return `${+(v * 100).toFixed(digits)}%`;
}

function burn(v) {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  return `${fmtValue(+v.toPrecision(4))}×`;
}

/** Budget remaining first (unknown last), then by id, so the worst SLO leads. */
export function budgetOrder(a, b) {
  const x = a.error_budget_remaining; const y = b.error_budget_remaining;
  const ux = x === null || x === undefined; const uy = y === null || y === undefined;
  if (ux !== uy) return ux ? 1 : -1;
  if (!ux && x !== y) return x - y;
  return a.id.localeCompare(b.id);
}

export async function mount(root, ctx) {
  const open = new Set(ctx.params.getAll('slo'));
  let from = ctx.params.get('from') || 'now-1h';
  let to = ctx.params.get('to') || 'now';
  const charts = new Map();
  const save = () => ctx.setParams({ from: from === 'now-1h' ? '' : from, to: to === 'now' ? '' : to, slo: [...open] });

  const status = h('span', { class: 'muted', role: 'status', 'aria-live': 'polite' });
  const picker = timePicker({
    from, to,
    onChange: (r) => { from = r.from; to = r.to; save(); redrawCharts(); },
    onRefresh: () => load(),
  });
  const list = h('div', { class: 'slo-list' });
  root.append(h('div', { class: 'toolbar' }, h('h1', {}, 'SLOs'), picker, status), list);
  let slos = [];

  async function load() {
    status.textContent = 'Loading…';
    try {
      slos = ((await ctx.api.prom('/api/v1/slos')) || []).slice().sort(budgetOrder);
      status.textContent = `${slos.length} SLOs`;
      draw();
    } catch (e) {
      status.textContent = '';
      replace(list, errorBox(e));
    }
  }

  function budgetBar(v) {
    if (v === null || v === undefined) return h('span', { class: 'muted' }, 'no data');
    const shown = Math.max(0, Math.min(1, v));
    const cls = v <= 0 ? 'spent' : v < 0.25 ? 'low' : 'fine';
    return h('div', { class: 'budget' },
      h('div', {
        class: `bar ${cls}`, role: 'meter', 'aria-valuemin': '0', 'aria-valuemax': '100',
        'aria-valuenow': String(+(shown * 100).toFixed(1)), 'aria-label': 'Error budget remaining',
      }, h('span', { style: `width:${(shown * 100).toFixed(1)}%` })),
      h('span', { class: 'num' }, pct(v, 1)));
  }

  function draw() {
    for (const c of charts.values()) c.destroy();
    charts.clear();
    if (!slos.length) {
      replace(list, h('p', { class: 'muted' }, 'No SLOs are loaded (slo_files in the configuration).'));
      return;
    }
    const table = h('table', { class: 'grid slos' },
      h('thead', {}, h('tr', {},
        ['SLO', 'Objective', 'SLI now', 'Error budget remaining', ...WINDOWS.map((w) => `Burn ${w}`), 'Alerts', '']
          .map((c) => h('th', { scope: 'col' }, c || h('span', { class: 'sr-only' }, 'Chart'))))),
      h('tbody', {}, slos.map((s) => {
        const rowId = `slo-${s.id}`;
        const chartRow = h('tr', { class: 'slo-chart-row', hidden: !open.has(s.id) },
          h('td', { colspan: String(WINDOWS.length + 6) }, h('div', { class: 'slo-chart', id: `${rowId}-chart` })));
        const toggle = h('button', {
          type: 'button', 'aria-expanded': String(open.has(s.id)), 'aria-controls': `${rowId}-chart`,
          'aria-label': `Burn rate chart of ${s.service} ${s.slo}`,
          onclick: () => {
            if (open.has(s.id)) open.delete(s.id); else open.add(s.id);
            toggle.setAttribute('aria-expanded', String(open.has(s.id)));
            chartRow.hidden = !open.has(s.id);
            save();
            if (open.has(s.id)) drawChart(s, chartRow.querySelector('.slo-chart'));
            else { charts.get(s.id)?.destroy(); charts.delete(s.id); }
          },
        }, 'Chart');
        const rates = s.burn_rates || {};
        const row = h('tr', { 'data-slo': s.id },
          h('th', { scope: 'row' }, h('div', {}, `${s.service} / ${s.slo}`),
            s.description ? h('div', { class: 'muted' }, s.description) : null),
          h('td', { class: 'num' }, `${s.objective}%`),
          h('td', { class: 'num' }, pct(s.sli)),
          h('td', {}, budgetBar(s.error_budget_remaining)),
          WINDOWS.map((w) => {
            const v = rates[w];
            const hot = Number.isFinite(v) && v >= 1;
            return h('td', { class: `num${hot ? ' hot' : ''}`, 'data-window': w }, burn(v));
          }),
          h('td', {}, (s.alerts || []).length
            ? h('ul', { class: 'chips' }, s.alerts.map((a) => h('li', {},
              h('span', { class: `badge ${a.state}` }, `${a.state}`), ` ${a.name} (${a.severity})`)))
            : h('span', { class: 'muted' }, 'none')),
          h('td', {}, toggle));
        return [row, chartRow];
      })));
    replace(list, table);
    for (const s of slos) {
      if (open.has(s.id)) drawChart(s, document.getElementById(`slo-${s.id}-chart`));
    }
  }

  function redrawCharts() {
    for (const s of slos) {
      if (open.has(s.id)) drawChart(s, document.getElementById(`slo-${s.id}-chart`));
    }
  }

  async function drawChart(s, el) {
    if (!el) return;
    charts.get(s.id)?.destroy();
    charts.delete(s.id);
    const r = picker.range();
    const step = autoStep(r.startMs, r.endMs, 200);
    const budget = (100 - s.objective) / 100;
    const sel = `{__name__=~"slo:sli_error:ratio_rate(${WINDOWS.join('|')})",sloth_id=${JSON.stringify(s.id)}}`;
    replace(el, h('p', { class: 'muted' }, 'Loading…'));
    try {
      const [data] = await Promise.all([ctx.api.prom('/api/v1/query_range', {
        query: sel, start: r.startMs / 1000, end: r.endMs / 1000, step,
      }), chartLibrary()]);
      const byWindow = new Map();
      for (const m of data.result || []) {
        const w = m.metric.sloth_window || m.metric.__name__.replace('slo:sli_error:ratio_rate', '');
        byWindow.set(w, (m.values || []).map(([t, v]) => [Number(t), Number(v) / budget]));
      }
      const series = WINDOWS.filter((w) => byWindow.has(w)).map((w) => ({ name: `burn rate ${w}`, points: byWindow.get(w) }));
      if (!series.length) {
        replace(el, h('p', { class: 'muted' }, 'The SLO rules have not recorded any burn rate in this range yet.'));
        return;
      }
      // the threshold lines span the whole range asked, which also sets the x axis
      const xs = [...new Set([r.startMs / 1000, r.endMs / 1000, ...series.flatMap((x) => x.points.map((p) => p[0]))])]
        .sort((a, b) => a - b);
      for (const [name, v] of THRESHOLDS) series.push({ name: `${name} threshold ${v}×`, points: xs.map((x) => [x, v]) });
      replace(el, h('h3', {}, `${s.service} / ${s.slo}: burn rate (1× spends the budget in 30d)`),
        h('p', { class: 'muted mono' }, h('a', {
          href: ctx.href('explore/metrics', { expr: `${sel} / ${budget}`, from, to }),
        }, 'Open the query in Explore')));
      charts.set(s.id, timeSeriesChart(el, { series, height: 220, title: `Burn rate of ${s.service} ${s.slo}` }));
    } catch (e) {
      replace(el, errorBox(e));
    }
  }

  await load();
  const timer = setInterval(() => { if (document.visibilityState === 'visible') load(); }, 30000);
  return () => { clearInterval(timer); for (const c of charts.values()) c.destroy(); };
}
