// Status page: the fixture's unreachable scrape target grouped under its job, the storage
// figures of the tenants seeded here (7 series of 3 samples and 3 log streams in one, a
// trace of 4 spans in another) next to other tenants', its cardinality, the configuration text and the build.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  BASE, launch, open, screenshot, assertLabelled, seedMetricsText, seedLogs, seedTraces,
} from '../lib.mjs';

const TENANT = 'ui-status';
// Spans go to a tenant of their own: span metrics derived from them would otherwise add
// series to TENANT every 15 s and make its series count depend on timing.
const TRACE_TENANT = 'ui-status-traces';
let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

async function seed() {
  const now = Date.now();
  const lines = [];
  for (let room = 1; room <= 7; room++) {
    for (let i = 2; i >= 0; i--) lines.push(`ui_status_temp{room="r${room}"} ${20 + room} ${now - i * 10000}`);
  }
  await seedMetricsText(TENANT, `${lines.join('\n')}\n`);
  const ns = BigInt(now) * 1000000n;
  await seedLogs(TENANT, ['api', 'db', 'web'].map((app, i) => ({
    stream: { app, env: 'ui' },
    values: [[String(ns + BigInt(i)), `${app} started`], [String(ns + 1000n + BigInt(i)), `${app} ready`]],
  })));
  const traceId = randomBytes(16).toString('hex');
  const root = randomBytes(8).toString('hex');
  const spans = ['GET /', 'auth', 'query', 'render'].map((name, i) => ({
    traceId, spanId: i === 0 ? root : randomBytes(8).toString('hex'), parentSpanId: i === 0 ? undefined : root,
    name, kind: 2, startTimeUnixNano: String(ns + BigInt(i) * 1000000n), endTimeUnixNano: String(ns + BigInt(i + 1) * 1000000n),
  }));
  await seedTraces(TRACE_TENANT, {
    resourceSpans: [{
      resource: { attributes: [{ key: 'service.name', value: { stringValue: 'ui-status-svc' } }] },
      scopeSpans: [{ spans }],
    }],
  });
}

const cell = (row, col) => row.locator(`td[data-col="${col}"]`).innerText();

test('targets, per-tenant storage figures, cardinality, configuration and build', async () => {
  await seed();
  const build = (await (await fetch(`${BASE}/api/v1/status/buildinfo`)).json()).data;
  const tenants = (await (await fetch(`${BASE}/api/v1/status/tenants`)).json()).data;
  assert.ok(tenants.some((t) => t.tenant === TENANT && t.metrics && t.logs), JSON.stringify(tenants));
  assert.ok(tenants.some((t) => t.tenant === TRACE_TENANT && t.traces), JSON.stringify(tenants));

  const page = await open(browser, '/status', TENANT);
  // targets: the unreachable job, down with its error and labels
  const pool = page.locator('section[aria-label="Job ui-unreachable"]');
  await pool.waitFor();
  await pool.locator('.badge', { hasText: 'down' }).waitFor({ timeout: 8000 }).catch(async () => {
    await page.getByRole('button', { name: 'Refresh' }).click();
    await pool.locator('.badge', { hasText: 'down' }).waitFor();
  });
  const target = await pool.innerText();
  assert.match(target, /http:\/\/127\.0\.0\.1:9\/metrics/);
  assert.match(target, /team="ui"/);
  assert.match(target, /job="ui-unreachable"/);
  assert.match(target, /refused|connect/i, 'the scrape error is shown');
  await page.getByLabel('Target health').selectOption('up');
  await page.waitForURL(/health=up/);
  await page.getByText('No target matches the filters.').waitFor();
  await page.getByLabel('Target health').selectOption('');
  await screenshot(page, 'status-targets');

  // storage, reached with the arrow keys on the tabs
  await page.locator('#tab-targets').focus();
  await page.keyboard.press('ArrowRight');
  await page.waitForURL(/tab=storage/);
  const metrics = page.locator(`table.storage-metrics tr[data-tenant="${TENANT}"]`);
  await metrics.waitFor();
  assert.equal(await metrics.getAttribute('aria-current'), 'true', 'the selected tenant is marked');
  assert.equal(await cell(metrics, 'head_series'), '7');
  assert.equal(await cell(metrics, 'head_samples'), '21');
  assert.equal(await cell(metrics, 'samples_appended'), '21');
  assert.equal(await cell(metrics, 'block_series'), '0');
  const logs = page.locator(`table.storage-logs tr[data-tenant="${TENANT}"]`);
  assert.equal(await cell(logs, 'streams'), '3');
  assert.equal(await cell(logs, 'entries_ingested'), '6');
  const traces = page.locator(`table.storage-traces tr[data-tenant="${TRACE_TENANT}"]`);
  assert.equal(await cell(traces, 'spans_ingested'), '4');
  const held = Number(await cell(traces, 'head_spans')) + Number(await cell(traces, 'block_spans'));
  assert.equal(held, 4, 'the trace store holds the 4 spans, in the head or a block');
  // other tenants are listed on their own rows (the alerts and SLO specs seed `anonymous`)
  const others = await page.locator('table.storage-metrics tbody tr').evaluateAll((rs) => rs.map((r) => r.dataset.tenant));
  assert.ok(others.length >= 1 && others.every((t, i) => i === 0 || others[i - 1] < t), `sorted tenants: ${others}`);
  await screenshot(page, 'status-storage');
  await assertLabelled(page);

  // cardinality of the selected tenant
  await page.getByRole('tab', { name: 'Cardinality' }).click();
  const top = page.locator('section[aria-label="Top metrics by series"] tbody tr');
  await top.first().waitFor();
  assert.deepEqual(await top.allInnerTexts(), ['ui_status_temp\t7']);
  assert.match(await page.locator('section[aria-label="Head"]').innerText(), /Series\s+7/);

  // configuration text
  await page.getByRole('tab', { name: 'Configuration' }).press('Enter');
  const cfg = page.locator('pre.config');
  await cfg.waitFor();
  const yaml = await cfg.innerText();
  for (const want of ['evaluation_interval: 1s', 'rule_files:', 'slo_files:', 'job_name: ui-unreachable']) {
    assert.ok(yaml.includes(want), `config shows ${want}`);
  }

  // build and runtime
  await page.getByRole('tab', { name: 'Runtime & build' }).click();
  const buildBox = page.locator('section.build-info');
  await buildBox.waitFor();
  assert.ok(build.version, 'buildinfo has a version');
  assert.match(await buildBox.innerText(), new RegExp(`Version\\s+${build.version.replace(/\./g, '\\.')}`));
  assert.match(await page.locator('section.runtime-info').innerText(), /Configuration reload\s+successful/);
  assert.match(await page.locator('table.flags').innerText(), /--storage\.path/);
  await screenshot(page, 'status-runtime');
  await assertLabelled(page);
  page.assertClean();
});
