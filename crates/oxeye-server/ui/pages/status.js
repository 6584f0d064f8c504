// Status page: scrape targets by job (`/api/v1/targets`), storage figures per tenant for
// metrics, logs and traces (`/api/v1/status/storage`), the tenant's cardinality
// (`/api/v1/status/tsdb`), the configuration (`/api/v1/status/config`) and build and
// runtime information with the flags (`buildinfo`, `runtimeinfo`, `flags`).
//
// URL state: tab=targets|storage|cardinality|config|runtime, health=up|down|unknown, q=<text>.

import { h, replace, errorBox, tabs } from '../lib/dom.js';
import { fmtTime, fmtDurationMs } from '../lib/time.js';

const TABS = [['targets', 'Targets'], ['storage', 'Storage'], ['cardinality', 'Cardinality'],
  ['config', 'Configuration'], ['runtime', 'Runtime & build']];

export function fmtBytes(n) {
  if (!Number.isFinite(n)) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0; let v = n;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
}

const int = (n) => (Number.isFinite(n) ? n.toLocaleString('en-US') : '—');

function labelChips(labels) {
  const e = Object.entries(labels || {}).sort(([a], [b]) => a.localeCompare(b));
  return h('ul', { class: 'chips' }, e.map(([k, v]) => h('li', { class: 'label' }, `${k}="${v}"`)));
}

function dl(entries) {
  return h('dl', { class: 'kv' }, entries.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v === '' || v === undefined || v === null ? '—' : String(v))]));
}

export async function mount(root, ctx) {
  const view = {
    tab: TABS.some(([id]) => id === ctx.params.get('tab')) ? ctx.params.get('tab') : 'targets',
    health: ctx.params.get('health') || '',
    q: ctx.params.get('q') || '',
  };
  // the status endpoints answer GET only, as Prometheus's do
  const getData = async (path, params) => (await ctx.api.get(path, params)).data;
  const save = () => ctx.setParams({ tab: view.tab, health: view.health, q: view.q });
  const body = h('div', { class: 'status-body', role: 'tabpanel' });
  const tabBar = tabs('Status sections', TABS, view.tab, (id) => {
    view.tab = id; save(); show();
  });
  const refresh = h('button', { type: 'button', onclick: () => show() }, 'Refresh');
  root.append(h('div', { class: 'toolbar' }, h('h1', {}, 'Status'), refresh), tabBar, body);

  async function show() {
    body.setAttribute('aria-labelledby', `tab-${view.tab}`);
    replace(body, h('p', { class: 'muted' }, 'Loading…'));
    const draw = { targets, storage, cardinality, config, runtime }[view.tab];
    try {
      await draw();
    } catch (e) {
      replace(body, errorBox(e));
    }
  }

  // ----- targets -----
  async function targets() {
    const data = await getData('/api/v1/targets', { state: 'any' });
    const active = data.activeTargets || [];
    const list = h('div', { class: 'target-pools' });
    const health = h('select', {
      'aria-label': 'Target health',
      onchange: (e) => { view.health = e.target.value; save(); drawList(); },
    }, [['', 'All'], ['up', 'Up'], ['down', 'Down'], ['unknown', 'Unknown']]
      .map(([v, t]) => h('option', { value: v, selected: view.health === v }, t)));
    const text = h('input', {
      type: 'search', value: view.q, placeholder: 'endpoint or label', 'aria-label': 'Filter targets',
      oninput: (e) => { view.q = e.target.value; save(); drawList(); },
    });
    function drawList() {
      const needle = view.q.toLowerCase();
      const shown = active.filter((t) => (!view.health || t.health === view.health)
        && (!needle || `${t.scrapeUrl} ${JSON.stringify(t.labels)}`.toLowerCase().includes(needle)));
      const pools = new Map();
      for (const t of shown) {
        if (!pools.has(t.scrapePool)) pools.set(t.scrapePool, []);
        pools.get(t.scrapePool).push(t);
      }
      const sections = [...pools.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([pool, ts]) => {
        const up = ts.filter((t) => t.health === 'up').length;
        return h('section', { class: 'panel', 'aria-label': `Job ${pool}` },
          h('h2', {}, pool, ' ', h('span', { class: 'muted' }, `(${up}/${ts.length} up)`)),
          h('table', { class: 'grid targets' },
            h('thead', {}, h('tr', {}, ['Endpoint', 'State', 'Labels', 'Last scrape', 'Scrape duration', 'Error']
              .map((c) => h('th', { scope: 'col' }, c)))),
            h('tbody', {}, ts.map((t) => {
              const last = Date.parse(t.lastScrape);
              return h('tr', {},
                h('th', { scope: 'row' }, h('a', { href: t.scrapeUrl, class: 'mono' }, t.scrapeUrl)),
                h('td', {}, h('span', { class: `badge ${t.health === 'up' ? 'ok' : t.health === 'down' ? 'err' : ''}` }, t.health)),
                h('td', {}, labelChips(t.labels)),
                h('td', {}, last > 0 ? [h('time', { datetime: t.lastScrape }, fmtTime(last)),
                  h('div', { class: 'muted' }, `${fmtDurationMs(Math.max(0, Date.now() - last))} ago · every ${t.scrapeInterval}`)]
                  : h('span', { class: 'muted' }, 'never')),
                h('td', {}, fmtDurationMs(t.lastScrapeDuration * 1000)),
                h('td', { class: 'error' }, t.lastError || ''));
            }))));
      });
      const dropped = Object.entries(data.droppedTargetCounts || {}).reduce((n, [, c]) => n + c, 0);
      replace(list,
        h('p', { class: 'muted summary' }, `${active.length} active targets, ${dropped} dropped by relabeling`),
        sections.length ? sections : h('p', { class: 'muted' }, active.length ? 'No target matches the filters.' : 'No scrape targets are configured.'));
    }
    replace(body, h('div', { class: 'toolbar', role: 'group', 'aria-label': 'Target filters' }, health, text), list);
    drawList();
  }

  // ----- storage -----
  async function storage() {
    const data = await getData('/api/v1/status/storage');
    const tenants = data.tenants || [];
    const current = ctx.api.tenant() || 'anonymous';
    const table = (title, key, cols) => {
      const rows = tenants.filter((t) => t[key]);
      return h('section', { class: 'panel', 'aria-label': `${title} storage` },
        h('h2', {}, title),
        rows.length ? h('table', { class: `grid storage storage-${key}` },
          h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Tenant'), cols.map(([c]) => h('th', { scope: 'col', class: 'num' }, c)))),
          h('tbody', {}, rows.map((t) => h('tr', {
            'data-tenant': t.tenant, class: t.tenant === current ? 'current' : null,
            'aria-current': t.tenant === current ? 'true' : null,
          },
          h('th', { scope: 'row' }, t.tenant, t.tenant === current ? h('span', { class: 'muted' }, ' (selected)') : null),
          cols.map(([c, f, fmt]) => h('td', { class: 'num', 'data-col': f }, (fmt || int)(t[key][f])))))))
          : h('p', { class: 'muted' }, `The ${title.toLowerCase()} store holds no data.`));
    };
    const range = (m) => (m.head_min_time == null ? '—' : `${fmtTime(m.head_min_time)} → ${fmtTime(m.head_max_time)}`);
    replace(body,
      h('p', { class: 'muted' }, 'Every tenant\'s figures; the selected tenant is highlighted. Head figures are data in memory not yet cut into blocks.'),
      table('Metrics', 'metrics', [
        ['Head series', 'head_series'], ['Head samples', 'head_samples'], ['Head memory', 'head_bytes', fmtBytes],
        ['Blocks', 'blocks'], ['Block series', 'block_series'], ['Block samples', 'block_samples'],
        ['Block bytes', 'block_bytes', fmtBytes], ['Samples since start', 'samples_appended'], ['Exemplars', 'exemplars'],
      ]),
      tenants.some((t) => t.metrics && t.tenant === current)
        ? h('p', { class: 'muted' }, `Head time range of ${current}: ${range(tenants.find((t) => t.tenant === current).metrics)}`) : null,
      table('Logs', 'logs', [
        ['Streams', 'streams'], ['Chunks', 'chunks'], ['Chunk files', 'chunk_files'], ['Disk bytes', 'disk_bytes', fmtBytes],
        ['Head memory', 'head_bytes', fmtBytes], ['WAL bytes', 'wal_bytes', fmtBytes],
        ['Entries since start', 'entries_ingested'], ['Line bytes since start', 'bytes_ingested', fmtBytes],
      ]),
      table('Traces', 'traces', [
        ['Head traces', 'head_traces'], ['Head spans', 'head_spans'], ['Head memory', 'head_bytes', fmtBytes],
        ['Blocks', 'blocks'], ['Block traces', 'block_traces'], ['Block spans', 'block_spans'],
        ['Block bytes', 'block_bytes', fmtBytes], ['Spans since start', 'spans_ingested'],
      ]));
  }

  // ----- cardinality -----
  async function cardinality() {
    const d = await getData('/api/v1/status/tsdb', { limit: 20 });
    const hs = d.headStats || {};
    const top = (title, rows, { link, bytes } = {}) => h('section', { class: 'panel', 'aria-label': title },
      h('h2', {}, title),
      rows && rows.length ? h('table', { class: 'grid top' },
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Name'), h('th', { scope: 'col', class: 'num' }, bytes ? 'Bytes' : 'Count'))),
        h('tbody', {}, rows.map((r) => h('tr', {},
          h('th', { scope: 'row', class: 'mono' }, link ? h('a', { href: ctx.href('explore/metrics', { expr: link(r.name) }) }, r.name) : r.name),
          h('td', { class: 'num' }, bytes ? fmtBytes(r.value) : int(r.value))))))
        : h('p', { class: 'muted' }, 'No series in the head.'));
    replace(body,
      h('section', { class: 'panel', 'aria-label': 'Head' }, h('h2', {}, `Head of ${ctx.api.tenant() || 'anonymous'}`), dl([
        ['Series', int(hs.numSeries)], ['Label pairs', int(hs.numLabelPairs)], ['Chunks', int(hs.chunkCount)],
        ['Min time', hs.numSeries ? fmtTime(hs.minTime) : '—'], ['Max time', hs.numSeries ? fmtTime(hs.maxTime) : '—'],
      ])),
      h('div', { class: 'top-grid' },
        top('Top metrics by series', d.seriesCountByMetricName, { link: (n) => `count({__name__=${JSON.stringify(n)}})` }),
        top('Label names by value count', d.labelValueCountByLabelName),
        top('Label names by memory', d.memoryInBytesByLabelName, { bytes: true }),
        top('Label pairs by series', d.seriesCountByLabelValuePair)));
  }

  // ----- configuration -----
  async function config() {
    const d = await getData('/api/v1/status/config');
    const pre = h('pre', { class: 'config', tabindex: '0', 'aria-label': 'Configuration YAML' }, d.yaml || '');
    const copy = h('button', {
      type: 'button',
      onclick: async () => {
        try { await navigator.clipboard.writeText(d.yaml || ''); copy.textContent = 'Copied'; } catch { copy.textContent = 'Copy failed'; }
      },
    }, 'Copy');
    replace(body, h('div', { class: 'toolbar' }, copy), d.yaml ? pre : h('p', { class: 'muted' }, 'No configuration file is loaded.'));
  }

  // ----- runtime, build, flags -----
  async function runtime() {
    const [build, rt, flags] = await Promise.all([
      getData('/api/v1/status/buildinfo'),
      getData('/api/v1/status/runtimeinfo'),
      getData('/api/v1/status/flags'),
    ]);
    const t = (s) => { const ms = Date.parse(s); return Number.isNaN(ms) ? s : `${fmtTime(ms)} (${s})`; };
    replace(body,
      h('div', { class: 'top-grid' },
        h('section', { class: 'panel build-info', 'aria-label': 'Build information' }, h('h2', {}, 'Build information'), dl([
          ['Version', build.version], ['Revision', build.revision], ['Branch', build.branch],
          ['Build user', build.buildUser], ['Build date', build.buildDate], ['Toolchain', build.goVersion],
        ])),
        h('section', { class: 'panel runtime-info', 'aria-label': 'Runtime information' }, h('h2', {}, 'Runtime information'), dl([
          ['Start time', t(rt.startTime)], ['Server time', t(rt.serverTime)], ['Working directory', rt.CWD],
          ['Hostname', rt.hostname], ['Configuration reload', rt.reloadConfigSuccess ? 'successful' : 'failed'],
          ['Last configuration load', t(rt.lastConfigTime)], ['Corruptions found', rt.corruptionCount],
          ['Threads', rt.goroutineCount], ['Available parallelism', rt.GOMAXPROCS],
          ['Storage retention', rt.storageRetention],
        ]))),
      h('section', { class: 'panel', 'aria-label': 'Command-line flags' }, h('h2', {}, 'Command-line flags'),
        h('table', { class: 'grid flags' },
          h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Flag'), h('th', { scope: 'col' }, 'Value'))),
          h('tbody', {}, Object.entries(flags || {}).map(([k, v]) => h('tr', {},
            h('th', { scope: 'row', class: 'mono' }, `--${k}`), h('td', { class: 'mono' }, v)))))));
  }

  await show();
}

