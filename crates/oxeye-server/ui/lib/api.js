// The HTTP client every page uses: oxeye's public APIs, with the chosen tenant sent as
// X-Scope-OrgID. Errors of each API family (Prometheus JSON, Loki/Tempo plain text,
// Alertmanager JSON) become ApiError with the server's message.

let currentTenant = '';

export function setTenant(t) { currentTenant = (t || '').trim(); }
export function tenant() { return currentTenant; }

export class ApiError extends Error {
  constructor(status, message, errorType) {
    super(message);
    this.status = status;
    this.errorType = errorType || '';
  }
}

function headers(extra) {
  const h = new Headers(extra || {});
  if (currentTenant) h.set('X-Scope-OrgID', currentTenant);
  return h;
}

function qs(params) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v === undefined || v === null || v === '') continue;
    if (Array.isArray(v)) v.forEach((x) => p.append(k, x));
    else p.append(k, String(v));
  }
  const s = p.toString();
  return s ? `?${s}` : '';
}

async function decode(res) {
  const text = await res.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { body = null; }
  if (res.ok && !(body && body.status === 'error')) return body === null ? text : body;
  // Alertmanager answers errors as a bare JSON string
  const msg = (typeof body === 'string' && body) || (body && (body.error || body.message))
    || text.trim() || `${res.status} ${res.statusText}`;
  throw new ApiError(res.status, msg, body && body.errorType);
}

/**
 * The response to a GET of `url` that index.html started before the modules loaded, if
 * it was for this tenant; each is handed out once, so a later GET asks again.
 */
function takeEarly(url) {
  const early = window.oxeyeEarly || [];
  const i = early.findIndex((e) => e.url === url && e.tenant === currentTenant);
  if (i < 0) return null;
  return early.splice(i, 1)[0].response;
}

/** GET `path` with query `params`; returns parsed JSON (or text). */
export async function get(path, params, opts = {}) {
  const url = path + qs(params);
  const early = opts.headers ? null : takeEarly(url);
  const res = await (early || fetch(url, { headers: headers(opts.headers), signal: opts.signal }));
  return decode(res);
}

/** POST a form (Prometheus and Loki query endpoints accept both GET and POST). */
export async function postForm(path, params, opts = {}) {
  const res = await fetch(path, {
    method: 'POST',
    headers: headers({ 'Content-Type': 'application/x-www-form-urlencoded' }),
    body: qs(params).slice(1),
    signal: opts.signal,
  });
  return decode(res);
}

/** Sends JSON with `method` (POST, PUT, DELETE). */
export async function sendJson(method, path, body, opts = {}) {
  const res = await fetch(path, {
    method,
    headers: headers(body === undefined ? {} : { 'Content-Type': 'application/json' }),
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: opts.signal,
  });
  return decode(res);
}

/** Prometheus-style API (`/api/v1/...`, `/loki/api/v1/...`): returns `data`. */
export async function prom(path, params, opts) {
  const body = await postForm(path, params, opts);
  return body && typeof body === 'object' && 'data' in body ? body.data : body;
}

/**
 * The WebSocket URL for `path`. A browser cannot set headers on a WebSocket, so the
 * tenant goes as the `orgId` query parameter, which the tail endpoint accepts.
 */
export function wsUrl(path, params) {
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const all = { ...(params || {}) };
  if (currentTenant && !('orgId' in all)) all.orgId = currentTenant;
  return `${proto}//${location.host}${path}${qs(all)}`;
}
