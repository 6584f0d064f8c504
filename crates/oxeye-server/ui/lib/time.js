// Time ranges as Grafana writes them (`now-1h`, `now`, epoch ms, RFC 3339), steps and
// human formatting of times, durations and values.

export const QUICK_RANGES = [
  ['now-5m', 'Last 5 minutes'], ['now-15m', 'Last 15 minutes'], ['now-1h', 'Last 1 hour'],
  ['now-3h', 'Last 3 hours'], ['now-6h', 'Last 6 hours'], ['now-12h', 'Last 12 hours'],
  ['now-24h', 'Last 24 hours'], ['now-2d', 'Last 2 days'], ['now-7d', 'Last 7 days'],
];

const UNITS = { ms: 1, s: 1000, m: 60000, h: 3600000, d: 86400000, w: 604800000, y: 31536000000 };

/** Parses a Prometheus duration such as `1h30m` or `250ms` to ms; NaN when invalid. */
export function parseDuration(s) {
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)/gy;
  let total = 0; let m; let seen = false;
  const str = String(s).trim();
  while ((m = re.exec(str)) !== null) { total += parseFloat(m[1]) * UNITS[m[2]]; seen = true; if (re.lastIndex === str.length) break; }
  return seen && re.lastIndex === str.length ? total : NaN;
}

/** `now`, `now-1h`, `now+5m`, epoch seconds or ms, or a date string -> epoch ms. */
export function parseTime(s, now = Date.now()) {
  const str = String(s ?? '').trim();
  if (str === '' || str === 'now') return now;
  const m = /^now([+-])(.+)$/.exec(str);
  if (m) {
    const d = parseDuration(m[2]);
    return Number.isNaN(d) ? NaN : now + (m[1] === '-' ? -d : d);
  }
  if (/^\d+(\.\d+)?$/.test(str)) {
    const n = parseFloat(str);
    return n < 1e11 ? n * 1000 : n; // seconds or ms
  }
  const t = Date.parse(str);
  return Number.isNaN(t) ? NaN : t;
}

/** A step in seconds giving about `points` points over [start, end] ms, rounded up nicely. */
export function autoStep(startMs, endMs, points = 250) {
  const raw = Math.max(1, (endMs - startMs) / 1000 / points);
  const nice = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400];
  return nice.find((n) => n >= raw) || Math.ceil(raw / 86400) * 86400;
}

/**
 * The range query bounds (seconds) for `startMs`..`endMs` at `stepS`, on multiples of the
 * step so that a range sliding with the clock keeps asking for the same instants and the
 * server can answer earlier steps from its results cache. The start is floored, as
 * Grafana does; the end is raised to the next multiple, so the newest samples (less than a
 * step old) are still in the last step's window.
 */
export function alignToStep(startMs, endMs, stepS) {
  const stepMs = Math.round(stepS * 1000);
  if (!(stepMs > 0)) return { start: startMs / 1000, end: endMs / 1000 };
  const start = Math.floor(startMs / stepMs) * stepMs;
  const end = Math.max(start, Math.ceil(endMs / stepMs) * stepMs);
  return { start: start / 1000, end: end / 1000 };
}

export function fmtTime(ms) {
  const d = new Date(ms);
  const p = (n, w = 2) => String(n).padStart(w, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** 1234.5 ms -> "1.23s"; 0.25 -> "250µs". */
export function fmtDurationMs(ms) {
  if (!Number.isFinite(ms)) return String(ms);
  if (ms < 1) return `${Math.round(ms * 1000)}µs`;
  if (ms < 1000) return `${+ms.toFixed(2)}ms`;
  if (ms < 60000) return `${+(ms / 1000).toFixed(2)}s`;
  if (ms < 3600000) return `${+(ms / 60000).toFixed(1)}m`;
  return `${+(ms / 3600000).toFixed(1)}h`;
}

/** Numbers as Prometheus shows them: up to 6 significant digits, exponents when huge. */
export function fmtValue(v) {
  if (typeof v === 'string') v = Number(v);
  if (!Number.isFinite(v)) return String(v);
  if (v !== 0 && (Math.abs(v) >= 1e9 || Math.abs(v) < 1e-4)) return v.toExponential(3);
  return String(+v.toPrecision(6));
}
