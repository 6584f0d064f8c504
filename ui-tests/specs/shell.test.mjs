// The shell: every page is reachable from the navigation by keyboard, the tenant chosen
// is sent with API calls, and unknown routes land on Explore.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, open, screenshot, assertLabelled, tabTo } from '../lib.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test('navigation reaches every page by keyboard and the tenant goes with each request', async () => {
  const page = await open(browser, '/nowhere', 'shell-tenant');
  await page.waitForURL(/#\/explore\/metrics/);
  const seen = [];
  page.on('request', (r) => { if (r.url().includes('/api/')) seen.push(r.headers()['x-scope-orgid']); });
  for (const prefix of ['explore/logs', 'traces', 'dashboards', 'alerts', 'slos', 'status', 'explore/metrics']) {
    await tabTo(page, `#nav a[data-prefix="${prefix}"]`);
    await page.keyboard.press('Enter');
    await page.locator(`#nav a[aria-current=page][data-prefix="${prefix}"]`).waitFor();
    await assertLabelled(page);
  }
  assert.equal(await page.inputValue('#tenant'), 'shell-tenant');
  await page.waitForLoadState('networkidle');
  assert.ok(seen.length > 0, 'pages call the API');
  assert.ok(seen.every((t) => t === 'shell-tenant'), `tenant header on every call: ${seen}`);
  await screenshot(page, 'shell');
  page.assertClean();
});

test('the tenant field offers the tenants that hold data once it is used, not at start', async () => {
  const page = await open(browser, '/alerts', 'shell-tenant');
  const asked = [];
  page.on('request', (r) => { if (r.url().includes('/api/v1/status/tenants')) asked.push(r.url()); });
  await page.locator('#nav a[aria-current=page][data-prefix="alerts"]').waitFor();
  await page.waitForLoadState('networkidle');
  assert.equal(await page.locator('#tenant-list option').count(), 0);
  await page.focus('#tenant');
  await page.waitForFunction(() => document.querySelectorAll('#tenant-list option').length > 0);
  assert.equal(asked.length, 1);
  page.assertClean();
});
