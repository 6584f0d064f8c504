// Charts on uPlot (loaded globally from /ui/vendor/uplot): time series as lines, stacked
// areas or bars, with a legend whose entries toggle their series.

import { h } from './dom.js';
import { fmtValue, fmtTime } from './time.js';

export const PALETTE = ['#2f6fdb', '#e5493a', '#2e9e5b', '#f0a000', '#8e5bd6', '#00a3b4',
  '#d6478f', '#6b8e23', '#8c6d31', '#4b5563', '#1f9fe0', '#c2410c'];

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
  const xs = [...new Set(series.flatMap((s) => s.points.map((p) => p[0])))].sort((a, b) => a - b);
  const index = new Map(xs.map((x, i) => [x, i]));
  const ys = series.map((s) => {
    const col = new Array(xs.length).fill(null);
    for (const [t, v] of s.points) col[index.get(t)] = v;
    return col;
  });
  return [xs, ...ys];
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

/**
 * timeSeriesChart(container, {series: [{name, points: [[tsSec, v], ...]}], mode: 'lines'|
 * 'stacked'|'bars', height, title}) -> {destroy(), setSize(w), u, legend}.
 * Chart extensions (exemplars, thresholds) hook in through `opts.hooks` and `opts.extraSeries`.
 */
export function timeSeriesChart(container, opts) {
  const { series, mode = 'lines', height = 260 } = opts;
  const shown = series.map(() => true);
  const raw = align(series);
  const width = Math.max(300, container.clientWidth || 800);
  const bars = mode === 'bars' ? window.uPlot.paths.bars({ size: [0.8, 64] }) : null;
  const data = () => (mode === 'stacked' ? stack(raw, shown) : raw);
  const uSeries = [{ value: (u, v) => (v == null ? '' : fmtTime(v * 1000)) }];
  series.forEach((s, i) => {
    // a series may bring its own `color` and `fill` (e.g. log levels)
    const color = s.color || PALETTE[i % PALETTE.length];
    uSeries.push({
      label: s.name, stroke: color, width: 1.5, spanGaps: false,
      fill: s.fill || (mode === 'stacked' || mode === 'bars' ? color + '55' : undefined),
      paths: bars || undefined,
      points: { show: s.points.length < 3 },
      value: (u, v) => (v == null ? '' : fmtValue(v)),
    });
  });
  const chartEl = h('div', { class: 'chart', role: 'img', 'aria-label': opts.title || 'time series chart' });
  const u = new window.uPlot({
    width, height,
    series: uSeries,
    legend: { show: false },
    cursor: { drag: { x: true, y: false } },
    axes: [{}, { values: (u, vals) => vals.map(fmtValue), size: 60 }],
    hooks: opts.hooks || {},
  }, data(), chartEl);
  const legend = h('ul', { class: 'legend', 'aria-label': 'Legend' });
  series.forEach((s, i) => {
    const b = h('button', { type: 'button', 'aria-pressed': 'true', title: 'Show or hide this series' },
      h('span', { class: 'swatch', style: `background:${s.color || PALETTE[i % PALETTE.length]}` }), s.name);
    b.addEventListener('click', () => {
      shown[i] = !shown[i];
      b.setAttribute('aria-pressed', String(shown[i]));
      u.setSeries(i + 1, { show: shown[i] });
      if (mode === 'stacked') u.setData(data());
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
