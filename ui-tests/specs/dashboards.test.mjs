// Dashboards: a stored dashboard with every panel type shows the seeded values, variables
// change the queries, a Grafana JSON imported through the page opens, both built-ins open
// without errors, and the URL keeps the time range and variables.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  BASE, launch, open, screenshot, assertLabelled, tabTo, seedMetricsText, seedLogs, seedTraces, flush,
} from '../lib.mjs';

const TENANT = 'ui-dash';
const TRACE_ID = '5b8aa5a2d2c872e8321cf37308d69df2';
let browser;

async function api(method, path, body) {
  const res = await fetch(`${BASE}${path}`, {
    method,
    headers: { 'X-Scope-OrgID': TENANT, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.json();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

const prom = (expr, extra = {}) => ({ refId: 'A', expr, datasource: { type: 'prometheus' }, ...extra });

const DASHBOARD = {
  uid: 'ui-dash-all',
  title: 'Every panel',
  tags: ['test'],
  time: { from: 'now-1h', to: 'now' },
  templating: {
    list: [
      { name: 'job', type: 'query', label: 'Job', query: 'label_values(dash_requests_total, job)', includeAll: true, current: { value: '$__all' } },
      { name: 'room', type: 'custom', label: 'Room', query: 'lab,office', current: { value: 'lab' } },
    ],
  },
  panels: [
    // the seeded counters have a sample a minute: the panel's minimum interval makes
    // $__rate_interval hold two of them (4 x 1m) and the step no finer than the data
    { id: 1, type: 'timeseries', title: 'Requests', gridPos: { x: 0, y: 0, w: 12, h: 8 }, interval: '1m',
      targets: [prom('sum by (job) (rate(dash_requests_total{job=~"$job"}[$__rate_interval]))', { legendFormat: '{{job}} rps' })],
      fieldConfig: { defaults: { unit: 'reqps' } } },
    { id: 2, type: 'stat', title: 'Temperature', gridPos: { x: 12, y: 0, w: 6, h: 4 },
      targets: [prom('dash_temperature{room="$room"}')] },
    { id: 3, type: 'gauge', title: 'Ratio', gridPos: { x: 18, y: 0, w: 6, h: 4 },
      targets: [prom('dash_ratio')],
      fieldConfig: { defaults: { unit: 'percentunit', min: 0, max: 1, thresholds: { mode: 'absolute', steps: [{ value: null, color: 'green' }, { value: 0.8, color: 'red' }] } } } },
    { id: 4, type: 'bar', title: 'Queues (bar)', gridPos: { x: 12, y: 4, w: 12, h: 4 },
      targets: [prom('dash_queue', { legendFormat: '{{queue}}' })] },
    { id: 5, type: 'table', title: 'Queues (table)', gridPos: { x: 0, y: 8, w: 8, h: 6 },
      targets: [prom('sum by (queue) (dash_queue)', { queryType: 'instant' })] },
    { id: 6, type: 'logs', title: 'Checkout logs', gridPos: { x: 8, y: 8, w: 16, h: 6 },
      targets: [{ refId: 'A', expr: '{app="dash"} |= "checkout"', datasource: { type: 'loki' } }] },
    { id: 7, type: 'traces', title: 'Traces', gridPos: { x: 0, y: 14, w: 24, h: 5 },
      targets: [{ refId: 'A', expr: '{ resource.service.name = "dash-svc" }', datasource: { type: 'tempo' } }] },
  ],
};

const GRAFANA = {
  __inputs: [{ name: 'DS_PROM', label: 'Prometheus', type: 'datasource', pluginId: 'prometheus' }],
  title: 'Imported from Grafana',
  uid: 'ui-dash-imported',
  time: { from: 'now-1h', to: 'now' },
  panels: [
    { id: 1, type: 'singlestat', title: 'Lab temperature', datasource: '${DS_PROM}', gridPos: { x: 0, y: 0, w: 8, h: 4 },
      targets: [{ expr: 'dash_temperature{room="lab"}', refId: 'A' }] },
    { id: 2, type: 'graph', title: 'Requests (graph)', datasource: { type: 'prometheus', uid: '${DS_PROM}' }, gridPos: { x: 8, y: 0, w: 16, h: 8 },
      targets: [{ expr: 'sum by (job) (rate(dash_requests_total[5m]))', legendFormat: '{{job}}', refId: 'A' }] },
    { id: 3, type: 'heatmap', title: 'Heat', gridPos: { x: 0, y: 4, w: 8, h: 4 }, targets: [] },
  ],
};

before(async () => {
  const now = Date.now();
  const lines = [];
  for (let i = 30; i >= 0; i--) {
    const t = now - i * 60000 - 2000;
    const n = 30 - i;
    lines.push(`dash_requests_total{job="api"} ${n * 60} ${t}`);
    lines.push(`dash_requests_total{job="web"} ${n * 120} ${t}`);
    lines.push(`dash_temperature{room="lab"} 21.5 ${t}`);
    lines.push(`dash_temperature{room="office"} 19 ${t}`);
    lines.push(`dash_ratio 0.42 ${t}`);
    lines.push(`dash_queue{queue="q1"} 7 ${t}`);
    lines.push(`dash_queue{queue="q2"} 3 ${t}`);
  }
  await seedMetricsText(TENANT, `${lines.join('\n')}\n`);
  const ns = (ms) => `${BigInt(ms) * 1000000n}`;
  await seedLogs(TENANT, [{
    stream: { app: 'dash', level: 'info' },
    values: [
      [ns(now - 120000), `checkout done order=17 trace_id=${TRACE_ID}`],
      [ns(now - 60000), 'checkout started order=18'],
      [ns(now - 30000), 'cart viewed'],
    ],
  }]);
  const start = now - 90000;
  await seedTraces(TENANT, {
    resourceSpans: [{
      resource: { attributes: [{ key: 'service.name', value: { stringValue: 'dash-svc' } }] },
      scopeSpans: [{ spans: [{
        traceId: TRACE_ID, spanId: '051581bf3cb55c13', name: 'GET /checkout', kind: 2,
        startTimeUnixNano: ns(start), endTimeUnixNano: ns(start + 250),
      }] }],
    }],
  });
  await flush();
  await api('PUT', `/api/v1/dashboards/${DASHBOARD.uid}`, DASHBOARD);
  browser = await launch();
});
after(async () => { await browser?.close(); });

const panel = (page, id) => page.locator(`.dpanel[data-panel-id="${id}"]`);
const done = (page) => page.locator('.dash-grid[data-state=done]').waitFor();

test('a dashboard shows every panel type with the seeded values and variables change the queries', async () => {
  const page = await open(browser, '/dashboards/ui-dash-all?from=now-1h&to=now', TENANT);
  await done(page);
  assert.equal(await page.locator('.dpanel[data-state=error]').count(), 0, await page.locator('.dpanel[data-state=error]').allInnerTexts().then(String));
  await page.locator('h1', { hasText: 'Every panel' }).waitFor();

  const legend = panel(page, 1).locator('.legend');
  assert.deepEqual(await legend.locator('button').allInnerTexts(), ['api rps', 'web rps']);
  assert.equal(await panel(page, 2).locator('.stat-value').innerText(), '21.5');
  assert.equal(await panel(page, 3).locator('.gauge-value').innerText(), '42%');
  assert.deepEqual(await panel(page, 4).locator('.bar-name').allInnerTexts(), ['q1', 'q2']);
  assert.deepEqual(await panel(page, 4).locator('.bar-value').allInnerTexts(), ['7', '3']);
  const rows = await panel(page, 5).locator('tbody tr').evaluateAll((trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
  assert.deepEqual(rows, [['q1', '7'], ['q2', '3']]);
  assert.deepEqual(await panel(page, 5).locator('th').allInnerTexts(), ['queue', 'Value']);
  const logLines = await panel(page, 6).locator('.log-line').allInnerTexts();
  assert.deepEqual(logLines, ['checkout started order=18', `checkout done order=17 trace_id=${TRACE_ID}`]);
  assert.equal(await panel(page, 6).locator('a.log-trace').getAttribute('href'), `#/traces/${TRACE_ID}?tenant=${TENANT}`);
  const traceRow = panel(page, 7).locator('tbody tr');
  assert.equal(await traceRow.count(), 1);
  assert.match(await traceRow.innerText(), /dash-svc\s+GET \/checkout/);
  assert.equal(await traceRow.locator('a').getAttribute('href'), `#/traces/${TRACE_ID}?tenant=${TENANT}`);
  await screenshot(page, 'dashboards-every-panel');

  // the custom variable: another room, another value; the URL keeps it with the range
  await tabTo(page, 'select[aria-label="Room"]');
  await page.selectOption('select[aria-label="Room"]', 'office');
  await page.waitForFunction(() => document.querySelector('.dpanel[data-panel-id="2"] .stat-value')?.textContent === '19');
  // the label_values variable: only the chosen job's series remain
  const jobs = await page.locator('select[aria-label="Job"] option').allInnerTexts();
  assert.deepEqual(jobs, ['All', 'api', 'web']);
  await page.selectOption('select[aria-label="Job"]', 'web');
  await page.waitForFunction(() => [...document.querySelectorAll('.dpanel[data-panel-id="1"] .legend button')].map((b) => b.textContent).join() === 'web rps');
  await done(page);
  const url = new URL(page.url().replace('#/', ''));
  assert.equal(url.searchParams.get('from'), 'now-1h');
  assert.equal(url.searchParams.get('to'), 'now');
  assert.equal(url.searchParams.get('var-room'), 'office');
  assert.equal(url.searchParams.get('var-job'), 'web');

  // the time range picker changes the range in the URL and re-runs the panels
  await page.selectOption('select[aria-label="Quick time range"]', 'now-3h');
  await page.waitForFunction(() => location.hash.includes('from=now-3h'));
  await done(page);
  assert.equal(await panel(page, 2).locator('.stat-value').innerText(), '19');

  // a shared URL opens the same view
  const shared = await open(browser, `/dashboards/ui-dash-all?from=now-1h&to=now&var-room=office&var-job=api`, TENANT);
  await done(shared);
  assert.equal(await panel(shared, 2).locator('.stat-value').innerText(), '19');
  assert.deepEqual(await panel(shared, 1).locator('.legend button').allInnerTexts(), ['api rps']);
  assert.equal(await shared.inputValue('select[aria-label="Room"]'), 'office');
  await assertLabelled(page);
  page.assertClean();
  shared.assertClean();
});

test('opening a dashboard asks for its JSON once, for the tenant in the URL, and again on the next visit', async () => {
  // the JSON is requested by index.html before the modules load; the page takes that answer
  // instead of asking a second time, and only when it was for the tenant the page uses
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  await context.addInitScript(() => localStorage.setItem('oxeye.tenant', 'someone-else'));
  const page = await context.newPage();
  const asked = [];
  const ranges = [];
  page.on('request', (r) => {
    const path = new URL(r.url()).pathname;
    if (path === `/api/v1/dashboards/${DASHBOARD.uid}`) asked.push(r.headers()['x-scope-orgid']);
    if (path === '/api/v1/query_range') ranges.push(new URLSearchParams(r.postData() || '').get('query'));
  });
  await page.goto(`${BASE}/#/dashboards/${DASHBOARD.uid}?from=now-1h&to=now&tenant=${TENANT}`);
  await done(page);
  assert.equal(await page.locator('h1').innerText(), DASHBOARD.title);
  assert.deepEqual(asked, [TENANT]);
  // it was asked for before the page's module had loaded, not after
  const [json, mod] = await page.evaluate((uid) => [
    performance.getEntriesByName(`${location.origin}/api/v1/dashboards/${uid}`)[0],
    performance.getEntriesByName(`${location.origin}/ui/pages/dashboards.js`)[0],
  ].map((e) => e && { startTime: e.startTime, responseEnd: e.responseEnd }), DASHBOARD.uid);
  assert.ok(json && mod && json.startTime < mod.responseEnd, `dashboard JSON at ${json?.startTime} ms, module loaded at ${mod?.responseEnd} ms`);
  // a panel's Explore link runs the query the panel ran (with the panel's own step)
  const href = await panel(page, 1).locator('a.dpanel-explore').getAttribute('href');
  const expr = new URLSearchParams(href.split('?')[1]).get('expr');
  assert.ok(ranges.includes(expr), `explore link query ${expr} among the panel queries ${ranges}`);
  await page.locator('a', { hasText: 'Dashboards' }).first().click();
  await page.locator('.dash-list table').waitFor();
  await page.locator(`.dash-list a`, { hasText: DASHBOARD.title }).click();
  await done(page);
  assert.deepEqual(asked, [TENANT, TENANT]);
  await context.close();
});

test('a panel whose query fails shows its error and the others still render', async () => {
  const broken = { ...DASHBOARD, uid: 'ui-dash-broken', title: 'Broken one', templating: { list: [] },
    panels: [
      { id: 1, type: 'stat', title: 'Bad', gridPos: { x: 0, y: 0, w: 12, h: 4 }, targets: [prom('sum(rate(dash_ratio[5m]')] },
      { id: 2, type: 'stat', title: 'Good', gridPos: { x: 12, y: 0, w: 12, h: 4 }, targets: [prom('dash_ratio')] },
    ] };
  await api('PUT', `/api/v1/dashboards/${broken.uid}`, broken);
  const page = await open(browser, `/dashboards/${broken.uid}`, TENANT);
  await done(page);
  assert.equal(await panel(page, 1).getAttribute('data-state'), 'error');
  assert.match(await panel(page, 1).locator('[role=alert]').innerText(), /parse|unclosed|expected/i);
  assert.equal(await panel(page, 2).locator('.stat-value').innerText(), '0.42');
  // the API answered 400 for the bad query: expected, not a page error
  await assertLabelled(page);
});

test('a Grafana dashboard imported through the page opens, and can be deleted', async () => {
  const page = await open(browser, '/dashboards', TENANT);
  await page.locator('table.grid a', { hasText: 'Every panel' }).waitFor();
  for (const builtin of ['oxeye health', 'Service RED']) {
    const row = page.locator('tbody tr', { has: page.locator('a', { hasText: builtin }) });
    assert.match(await row.innerText(), /built-in/);
    assert.equal(await row.locator('button').count(), 0, 'built-ins cannot be deleted');
  }
  await page.fill('textarea[placeholder^="{"]', JSON.stringify(GRAFANA));
  await page.click('button[type=submit]');
  await page.locator('.dash-import-result a', { hasText: 'Imported from Grafana' }).waitFor();
  assert.match(await page.locator('.dropped').innerText(), /panel "Heat": unsupported panel type "heatmap"/);
  await screenshot(page, 'dashboards-list-import');
  await assertLabelled(page);
  await page.click('.dash-import-result a');
  await page.waitForURL(/#\/dashboards\/ui-dash-imported/);
  await done(page);
  assert.equal(await page.locator('.dpanel[data-state=error]').count(), 0);
  assert.equal(await page.locator('.dpanel-stat .stat-value').innerText(), '21.5');
  assert.deepEqual(await page.locator('.dpanel-timeseries .legend button').allInnerTexts(), ['api', 'web']);

  await page.goto(`${BASE}/#/dashboards?tenant=${TENANT}`);
  const row = page.locator('tbody tr[data-uid="ui-dash-imported"]');
  await row.locator('button', { hasText: 'Delete' }).click();
  await row.locator('button', { hasText: 'Yes, delete' }).click();
  await row.waitFor({ state: 'detached' });
  const res = await fetch(`${BASE}/api/v1/dashboards/ui-dash-imported`, { headers: { 'X-Scope-OrgID': TENANT } });
  assert.equal(res.status, 404);
  page.assertClean();
});

async function instant(expr) {
  const res = await fetch(`${BASE}/api/v1/query?query=${encodeURIComponent(expr)}`, { headers: { 'X-Scope-OrgID': TENANT } });
  const json = await res.json();
  if (!res.ok) throw new Error(`query ${expr}: ${res.status} ${JSON.stringify(json)}`);
  return json.data.result;
}

/** Polls the span metrics of dash-svc until their call count reaches `n`. */
async function spanCallsReach(n) {
  const deadline = Date.now() + 20000;
  const expr = 'sum(traces_spanmetrics_calls_total{service="dash-svc"})';
  for (;;) {
    const r = await instant(expr);
    if (r.length && Number(r[0].value[1]) >= n) return;
    if (Date.now() > deadline) throw new Error(`${expr} did not reach ${n}: ${JSON.stringify(r)}`);
    await new Promise((ok) => setTimeout(ok, 250));
  }
}

test('both built-in dashboards open without errors', async () => {
  // span metrics are written on the generator's interval as cumulative counters: a rate
  // needs two samples that differ, so a second span lands after the first one was written
  await spanCallsReach(1);
  const ns = (ms) => `${BigInt(ms) * 1000000n}`;
  const start = Date.now() - 1000;
  await seedTraces(TENANT, {
    resourceSpans: [{
      resource: { attributes: [{ key: 'service.name', value: { stringValue: 'dash-svc' } }] },
      scopeSpans: [{ spans: [{
        traceId: '6c9bb6b3e3d983f9432de48419e7a0e3', spanId: '162692cf4dc66d24', name: 'GET /checkout', kind: 2,
        startTimeUnixNano: ns(start), endTimeUnixNano: ns(start + 120),
      }] }],
    }],
  });
  await spanCallsReach(2);
  for (const uid of ['oxeye-health', 'service-red']) {
    const page = await open(browser, `/dashboards/${uid}?from=now-1h&to=now`, TENANT);
    await done(page);
    const errors = await page.locator('.dpanel[data-state=error]').allInnerTexts();
    assert.deepEqual(errors, [], `${uid} panels in error`);
    assert.ok(await page.locator('.dpanel').count() >= 10, `${uid} has its panels`);
    if (uid === 'service-red') {
      // the seeded service's RED figures from its span metrics
      assert.deepEqual(await page.locator('select[aria-label="Service"] option').allInnerTexts(), ['All', 'dash-svc']);
      const byTitle = (t) => page.locator('.dpanel', { has: page.locator('h2', { hasText: t }) });
      assert.deepEqual(await byTitle('Request rate by service').locator('.legend button').allInnerTexts(), ['dash-svc']);
      assert.match(await byTitle('Requests / s').locator('.stat-value').innerText(), /^[0-9.]+ req\/s$/);
      assert.notEqual(await byTitle('Requests / s').locator('.stat-value').innerText(), '0 req/s');
      assert.deepEqual(await byTitle('Error ratio by service').locator('.legend button').allInnerTexts(), ['dash-svc']);
      const ops = await byTitle('Operations over the range').locator('tbody tr td').allInnerTexts();
      assert.deepEqual(ops.slice(0, 2), ['dash-svc', 'GET /checkout']);
    }
    await screenshot(page, `dashboards-builtin-${uid}`);
    await assertLabelled(page);
    page.assertClean();
  }
});
