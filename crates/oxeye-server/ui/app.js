// The UI shell: navigation, the tenant chooser and a hash router. Each page is a module
// under pages/ exporting `mount(root, ctx)`, which may return an unmount function.
// The URL (`#/<page>/<rest>?<params>`) holds a page's whole state so a view can be shared.

import * as api from './lib/api.js';
import { h, errorBox } from './lib/dom.js';

const PAGES = [
  // [path prefix, nav label, module]
  ['explore/metrics', 'Metrics', './pages/metrics.js'],
  ['explore/logs', 'Logs', './pages/logs.js'],
  ['traces', 'Traces', './pages/traces.js'],
  ['dashboards', 'Dashboards', './pages/dashboards.js'],
  ['alerts', 'Alerts', './pages/alerts.js'],
  ['slos', 'SLOs', './pages/slos.js'],
  ['status', 'Status', './pages/status.js'],
];

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const tenantIn = document.getElementById('tenant');
let unmount = null;
let mountedKey = null;

/** Splits the hash into {path, params}. */
function parseHash() {
  const raw = location.hash.replace(/^#\/?/, '');
  const q = raw.indexOf('?');
  const path = (q < 0 ? raw : raw.slice(0, q)).replace(/\/+$/, '');
  const params = new URLSearchParams(q < 0 ? '' : raw.slice(q + 1));
  return { path, params };
}

function hashFor(path, params) {
  const p = new URLSearchParams(params);
  if (api.tenant()) p.set('tenant', api.tenant()); else p.delete('tenant');
  const s = p.toString();
  return `#/${path}${s ? `?${s}` : ''}`;
}

function route(path) {
  const page = PAGES.find(([prefix]) => path === prefix || path.startsWith(`${prefix}/`));
  if (!page) return null;
  const rest = path.slice(page[0].length).split('/').filter(Boolean).map(decodeURIComponent);
  return { page, rest };
}

async function render() {
  const { path, params } = parseHash();
  if (params.has('tenant') && params.get('tenant') !== api.tenant()) {
    api.setTenant(params.get('tenant'));
    tenantIn.value = api.tenant();
    localStorage.setItem('oxeye.tenant', api.tenant());
  }
  const r = route(path);
  if (!r) { location.replace(hashFor('explore/metrics', {})); return; }
  const [prefix, label, module] = r.page;
  for (const a of nav.querySelectorAll('a')) {
    if (a.dataset.prefix === prefix) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  document.title = `${label} · oxeye`;
  if (unmount) { try { unmount(); } catch (e) { console.error(e); } unmount = null; }
  mountedKey = `${path}?${params}`;
  const root = h('div', { class: `page page-${prefix.replace('/', '-')}` });
  main.replaceChildren(root);
  const ctx = {
    api,
    params,
    rest: r.rest,
    tenant: api.tenant(),
    /** Updates the URL's params without re-mounting the page. */
    setParams(obj, { push = false } = {}) {
      const p = new URLSearchParams();
      for (const [k, v] of Object.entries(obj)) {
        if (v === undefined || v === null || v === '') continue;
        if (Array.isArray(v)) v.forEach((x) => p.append(k, x)); else p.set(k, String(v));
      }
      const url = hashFor(path, p);
      mountedKey = `${path}?${new URLSearchParams(url.split('?')[1] || '')}`;
      history[push ? 'pushState' : 'replaceState'](null, '', url);
    },
    /** Goes to another page (a new history entry). */
    navigate(toPath, toParams = {}) { location.hash = hashFor(toPath, toParams).slice(1); },
    /** A link target for another page. */
    href(toPath, toParams = {}) { return hashFor(toPath, toParams); },
  };
  try {
    const mod = await import(module);
    unmount = (await mod.mount(root, ctx)) || null;
  } catch (e) {
    console.error(e);
    root.replaceChildren(errorBox(e));
  } finally {
    // what index.html fetched early was for the first page only: never serve it later
    window.oxeyeEarly = [];
  }
}

function buildNav() {
  nav.replaceChildren(...PAGES.map(([prefix, label]) => h('li', {},
    h('a', { href: `#/${prefix}`, 'data-prefix': prefix }, label))));
}

async function loadTenants() {
  try {
    const data = (await api.get('/api/v1/status/tenants')).data;
    const list = document.getElementById('tenant-list');
    list.replaceChildren(...(data || []).map((t) => h('option', { value: t.tenant || t })));
  } catch { /* the list is a convenience: free text still works */ }
}

tenantIn.value = localStorage.getItem('oxeye.tenant') || '';
api.setTenant(tenantIn.value);
tenantIn.addEventListener('change', () => {
  api.setTenant(tenantIn.value);
  localStorage.setItem('oxeye.tenant', api.tenant());
  const { path, params } = parseHash();
  location.hash = hashFor(path || 'explore/metrics', params).slice(1);
});
window.addEventListener('hashchange', () => {
  const { path, params } = parseHash();
  if (`${path}?${params}` === mountedKey) return;
  render();
});
buildNav();
// the tenant list is a typing aid: asked for when the field is first used, so it does not
// compete with the opened page's own requests
tenantIn.addEventListener('focus', loadTenants, { once: true });
render();
