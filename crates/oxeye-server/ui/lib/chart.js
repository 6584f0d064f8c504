// Charts on uPlot (loaded globally from /ui/vendor/uplot): time series as lines, stacked
// areas or bars, with a legend whose entries toggle their series.

import { h, replace } from './dom.js';
import { fmtValue, fmtTime } from './time.js';

export const PALETTE = ['#2f6fdb', '#e5493a', '#2e9e5b', '#f0a000', '#8e5bd6', '#00a3b4',
  '#d6478f', '#6b8e23', '#8c6d31', '#4b5563', '#1f9fe0', '#c2410c'];

/**
 * Resolves once uPlot, which index.html loads with `async`, has run; rejects when it could
 * not be loaded. Await it before the first timeSeriesChart of a page.
 */
export function chartLibrary() {
  if (window.uPlot) return Promise.resolve();
  const el = document.getElementById('uplot');
  if (!el || window.oxeyeChartsFailed) return Promise.reject(new Error('the chart library (uPlot) could not be loaded'));
  return new Promise((resolve, reject) => {
    el.addEventListener('load', () => resolve(), { once: true });
    el.addEventListener('error', () => reject(new Error('the chart library (uPlot) could not be loaded')), { once: true });
  });
}

/** `{__name__: "up", job: "x"}` -> `up{job="x"}`. */
export function seriesName(labels, legendFormat) {
  if (legendFormat) {
    return legendFormat.replace(/\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}/g, (_, k) => labels[k] ?? '');
  }
  const name = labels.__name__ || '';
  const rest = Object.entries(labels).filter(([k]) => k !== '__name__')
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(', ');
  return rest ? `${name}{${rest}}` : (name || '{}');
}

/**
 * Aligns series of [tsSeconds, value] points on one x axis (the union of timestamps);
 * missing points become null so lines break at gaps.
 */
export function align(series) {
  // the sorted union of the timestamps (a typed array sorts numbers natively)
  let n = 0;
  for (const s of series) n += s.points.length;
  const all = new Float64Array(n);
  let k = 0;
  for (const s of series) for (const p of s.points) if (Number.isFinite(p[0])) all[k++] = p[0];
  const sorted = all.subarray(0, k).sort();
  const xs = [];
  for (let i = 0; i < sorted.length; i++) if (i === 0 || sorted[i] !== sorted[i - 1]) xs.push(sorted[i]);
  // a series' points come in time order, so one forward walk places them
  const ys = series.map((s) => {
    const col = new Array(xs.length).fill(null);
    let j = 0;
    for (const [t, v] of s.points) {
      if (!Number.isFinite(t)) continue;
      if (j >= xs.length || xs[j] > t) j = lowerBound(xs, t);
      while (xs[j] < t) j++;
      col[j] = v;
    }
    return col;
  });
  return [xs, ...ys];
}

/** The first index of sorted `xs` whose value is not below `t`. */
function lowerBound(xs, t) {
  let lo = 0; let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (xs[mid] < t) lo = mid + 1; else hi = mid;
  }
  return lo;
}

function stack(data, shown) {
  const out = [data[0]];
  const acc = new Array(data[0].length).fill(0);
  for (let i = 1; i < data.length; i++) {
    if (!shown[i - 1]) { out.push(data[i]); continue; }
    out.push(data[i].map((v, j) => (v === null ? null : (acc[j] += v))));
  }
  return out;
}

/** The smallest and largest finite value of the shown columns of uPlot `data`. */
function extent(data, shown) {
  let lo = Infinity; let hi = -Infinity;
  for (let i = 1; i < data.length; i++) {
    if (!shown[i - 1]) continue;
    for (const v of data[i]) {
      if (v === null || !Number.isFinite(v)) continue;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  }
  return lo <= hi ? [lo, hi] : null;
}

/**
 * What the y axis must hold: the shown data's `lo` to `hi`, the markers' values `marks`, and
 * zero for stacked areas. Null for no data or a flat line at zero, which Grafana draws on a
 * 0 to 1 axis (uPlot's own choice is 0 to 100). The caller pads it as uPlot does (10 %,
 * zero kept in view when near).
 */
export function yBounds(lo, hi, marks = [], stacked = false) {
  const a = Math.min(lo ?? Infinity, ...marks, stacked ? 0 : Infinity);
  const b = Math.max(hi ?? -Infinity, ...marks, stacked ? 0 : -Infinity);
  if (!Number.isFinite(a) || !Number.isFinite(b) || (a === 0 && b === 0)) return null;
  return [a, b];
}

function hookList(hooks, name) {
  const v = hooks && hooks[name];
  return v ? [].concat(v) : [];
}

/**
 * timeSeriesChart(container, {series: [{name, points: [[tsSec, v], ...]}], mode: 'lines'|
 * 'stacked'|'bars', height, title, hooks, xRange, markers}) -> {destroy(), u, legend, chartEl}.
 * - hooks: uPlot hooks ({draw: fn | [fn]}), for chart extensions such as thresholds.
 * - xRange: [startSec, endSec] the x axis spans (default: the data's extent).
 * - markers: [{x: tsSec, y: value, label, title?, color?, onClick}] drawn as focusable
 *   buttons over the plot at their (x, y), e.g. exemplars; the y axis grows to hold them.
 * - yFormat: v -> text for the y axis' ticks (a unit); the axis grows to its longest label.
 * - width: the container's width when the caller knows it (saves a layout per chart).
 * - lineWidth: the series' line width in px (1 by default).
 * The chart's accessible name says the series count, mode and the value range shown.
 */
export function timeSeriesChart(container, opts) {
  const { series, mode = 'lines', height = 260 } = opts;
  const markers = opts.markers || [];
  const shown = series.map(() => true);
  const raw = align(series);
  const width = Math.max(300, opts.width || container.clientWidth || 800);
  const bars = mode === 'bars' ? window.uPlot.paths.bars({ size: [0.8, 64] }) : null;
  const data = () => (mode === 'stacked' ? stack(raw, shown) : raw);
  const uSeries = [{ value: (u, v) => (v == null ? '' : fmtTime(v * 1000)) }];
  series.forEach((s, i) => {
    // a series may bring its own `color` and `fill` (e.g. log levels)
    const color = s.color || PALETTE[i % PALETTE.length];
    uSeries.push({
      // 1 px lines, as Grafana draws by default: a fractional width costs several times
      // more to rasterise on a software-rendered canvas
      label: s.name, stroke: color, width: opts.lineWidth > 0 ? opts.lineWidth : 1, spanGaps: false,
      fill: s.fill || (mode === 'stacked' || mode === 'bars' ? color + '55' : undefined),
      paths: bars || undefined,
      points: { show: s.points.length < 3 },
      value: (u, v) => (v == null ? '' : fmtValue(v)),
    });
  });
  const chartEl = h('div', { class: 'chart', role: 'img' });
  function describe() {
    const e = extent(data(), shown);
    const n = shown.filter(Boolean).length;
    const parts = [opts.title || 'time series chart',
      `${n} of ${series.length} series shown`, mode];
    if (e) parts.push(`values from ${fmtValue(e[0])} to ${fmtValue(e[1])}`);
    if (markers.length) parts.push(`${markers.length} exemplar${markers.length === 1 ? '' : 's'}`);
    chartEl.setAttribute('aria-label', parts.join(', '));
  }
  const ys = markers.map((m) => m.y).filter(Number.isFinite);
  const scales = {};
  if (opts.xRange) {
    const [x0, x1] = opts.xRange;
    scales.x = { time: true, range: () => [x0, x1] };
  }
  const stacked = mode === 'stacked';
  const soft = { pad: 0.1, soft: 0, mode: 3 };
  scales.y = {
    range: (u, lo, hi) => {
      const b = yBounds(lo, hi, ys, stacked);
      return b ? window.uPlot.rangeNum(b[0], b[1], { min: soft, max: soft }) : [0, 1];
    },
  };
  function stackBands() {
    const bands = [];
    let below = -1;
    shown.forEach((on, i) => {
      if (!on) return;
      if (below >= 0) bands.push({ series: [i + 1, below + 1] });
      below = i;
    });
    return bands;
  }
  const layer = h('div', { class: 'markers' });
  layer.addEventListener('mousedown', (e) => e.stopPropagation());
  const buttons = markers.map((m) => {
    const b = h('button', {
      type: 'button', class: 'marker', 'aria-label': m.label, title: m.title || m.label,
      style: m.color ? `--marker:${m.color}` : null,
      onclick: () => m.onClick && m.onClick(m),
    });
    layer.append(b);
    return b;
  });
  function place(u) {
    const w = u.bbox.width / window.uPlot.pxRatio;
    const hgt = u.bbox.height / window.uPlot.pxRatio;
    markers.forEach((m, i) => {
      const left = u.valToPos(m.x, 'x');
      const top = u.valToPos(m.y, 'y');
      const inside = Number.isFinite(left) && Number.isFinite(top)
        && left >= -1 && left <= w + 1 && top >= -1 && top <= hgt + 1;
      buttons[i].hidden = !inside;
      if (inside) { buttons[i].style.left = `${left}px`; buttons[i].style.top = `${top}px`; }
    });
  }
  // the hover readout: time and each shown series' value under the cursor (the table
  // view and the chart's description serve keyboard and screen reader users)
  const tip = h('div', { class: 'tip', 'aria-hidden': 'true', hidden: true });
  function showTip(u) {
    const { left, top, idx } = u.cursor;
    if (idx == null || left == null || left < 0) { tip.hidden = true; return; }
    const rows = [];
    series.forEach((s, i) => {
      // a series drawn pre-stacked gives its own value at a time with `tipValue(tsSec)`
      const v = s.tipValue ? s.tipValue(raw[0][idx]) : raw[i + 1][idx];
      if (!shown[i] || v == null) return;
      rows.push([v, h('div', {}, h('span', { class: 'swatch', style: `background:${s.color || PALETTE[i % PALETTE.length]}` }),
        `${s.name} `, h('b', {}, fmtValue(v)))]);
    });
    if (!rows.length) { tip.hidden = true; return; }
    rows.sort((a, b) => b[0] - a[0]);
    const more = rows.length > 12 ? h('div', {}, `${rows.length - 12} more`) : null;
    replace(tip, h('div', { class: 'when' }, fmtTime(raw[0][idx] * 1000)), rows.slice(0, 12).map((r) => r[1]), more);
    tip.hidden = false;
    const w = u.bbox.width / window.uPlot.pxRatio;
    const flip = left > w / 2;
    tip.style.left = flip ? '' : `${left + 14}px`;
    tip.style.right = flip ? `${w - left + 14}px` : '';
    tip.style.top = `${Math.max(0, top - 10)}px`;
  }
  const hooks = { ...(opts.hooks || {}) };
  if (markers.length) hooks.draw = [...hookList(opts.hooks, 'draw'), place];
  hooks.setCursor = [...hookList(opts.hooks, 'setCursor'), showTip];
  const u = new window.uPlot({
    width, height,
    series: uSeries,
    scales,
    bands: stacked ? stackBands() : undefined,
    legend: { show: false },
    cursor: { drag: { x: true, y: false } },
    axes: [{}, opts.yFormat ? {
      values: (u, vals) => vals.map(opts.yFormat),
      size: (u, vals) => Math.max(56, 18 + 8 * Math.max(0, ...(vals || []).map((v) => String(v).length))),
    } : { values: (u, vals) => vals.map(fmtValue), size: 60 }],
    hooks,
  }, data(), chartEl);
  u.over.append(tip);
  if (markers.length) u.over.append(layer);
  u.over.addEventListener('mouseleave', () => { tip.hidden = true; });
  describe();
  const legend = h('ul', { class: 'legend', 'aria-label': 'Legend' });
  series.forEach((s, i) => {
    const b = h('button', { type: 'button', 'aria-pressed': 'true', title: 'Show or hide this series' },
      h('span', { class: 'swatch', style: `background:${s.color || PALETTE[i % PALETTE.length]}` }), s.name);
    b.addEventListener('click', () => {
      shown[i] = !shown[i];
      b.setAttribute('aria-pressed', String(shown[i]));
      u.setSeries(i + 1, { show: shown[i] });
      if (stacked) {
        // each shown series fills down to the shown one below it
        u.delBand(null);
        stackBands().forEach((band) => u.addBand(band));
        u.setData(data());
      }
      describe();
    });
    legend.append(h('li', {}, b));
  });
  container.append(chartEl, legend);
  const ro = new ResizeObserver(() => {
    const w = container.clientWidth;
    if (w > 0 && Math.abs(w - u.width) > 4) u.setSize({ width: w, height });
  });
  ro.observe(container);
  return {
    u, legend, chartEl,
    destroy() { ro.disconnect(); u.destroy(); chartEl.remove(); legend.remove(); },
  };
}

/** Prometheus matrix result -> chart series. */
export function matrixToSeries(result, legendFormat) {
  return (result || []).map((r) => ({
    name: seriesName(r.metric || {}, legendFormat),
    labels: r.metric || {},
    points: (r.values || []).map(([t, v]) => [Number(t), Number(v)]),
  }));
}
