// SLOs page: the fixture's Sloth SLOs (evaluated for the default tenant `anonymous`) over
// an hour of seeded request counters: checkout fails 5% of requests against a 99.9%
// objective (budget overspent, burn rate 50), search 0.5% against 99% (burn rate 0.5,
// half the budget left). The list leads with the worst budget and a burn-rate chart opens.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { BASE, launch, open, screenshot, assertLabelled, seedMetricsText, tabTo } from '../lib.mjs';

const TENANT = 'anonymous';
let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

async function slos() {
  const res = await fetch(`${BASE}/api/v1/slos`, { headers: { 'X-Scope-OrgID': TENANT } });
  return (await res.json()).data;
}

test('SLOs in budget order with their numbers and a burn-rate chart', async () => {
  const now = Date.now();
  const lines = [];
  // [handler, code, increase per 15 s]
  const series = [['checkout', '200', 95], ['checkout', '500', 5], ['search', '200', 199], ['search', '500', 1]];
  for (let i = 240; i >= 0; i--) {
    const t = now - i * 15000;
    for (const [handler, code, step] of series) {
      lines.push(`ui_http_requests_total{handler="${handler}",code="${code}"} ${(240 - i) * step} ${t}`);
    }
  }
  await seedMetricsText(TENANT, `${lines.join('\n')}\n`);
  const end = Date.now() + 10000;
  for (;;) {
    const d = await slos();
    if (d.length === 2 && d.every((s) => s.error_budget_remaining !== null && s.sli !== null)) break;
    assert.ok(Date.now() < end, `the SLO rules record budgets: ${JSON.stringify(d)}`);
    await new Promise((r) => setTimeout(r, 250));
  }

  const page = await open(browser, '/slos', TENANT);
  const rows = page.locator('table.slos tbody tr[data-slo]');
  await rows.first().waitFor();
  assert.deepEqual(await rows.evaluateAll((rs) => rs.map((r) => r.dataset.slo)),
    ['ui-shop-checkout-availability', 'ui-shop-search-availability'], 'lowest budget first');

  const checkout = page.locator('tr[data-slo="ui-shop-checkout-availability"]');
  const c = await checkout.innerText();
  assert.match(c, /ui-shop \/ checkout-availability/);
  assert.match(c, /99\.9%/);
  assert.match(c, /\b95%/, 'SLI now');
  assert.match(c, /-4900%/, 'budget remaining: 1 - 0.05 / 0.001');
  assert.equal(await checkout.locator('td[data-window="5m"]').innerText(), '50×');
  assert.equal(await checkout.locator('td[data-window="1h"]').innerText(), '50×');
  assert.match(c, /UiCheckoutErrorBudgetBurn \(page\)/);
  assert.equal(await checkout.getByRole('meter').getAttribute('aria-valuenow'), '0');

  const search = page.locator('tr[data-slo="ui-shop-search-availability"]');
  const s = await search.innerText();
  assert.match(s, /99%/);
  assert.match(s, /99\.5%/);
  assert.match(s, /\b50%/, 'half the budget left');
  assert.equal(await search.locator('td[data-window="5m"]').innerText(), '0.5×');
  assert.match(s, /none/, 'no alert');
  assert.equal(await search.getByRole('meter').getAttribute('aria-valuenow'), '50');

  // open the checkout chart by keyboard
  await tabTo(page, 'button[aria-label="Burn rate chart of ui-shop checkout-availability"]');
  await page.keyboard.press('Enter');
  await page.waitForURL(/slo=ui-shop-checkout-availability/);
  const chart = page.locator('#slo-ui-shop-checkout-availability-chart');
  const legend = chart.locator('.legend');
  await legend.waitFor();
  const names = await legend.locator('button').allInnerTexts();
  for (const want of ['burn rate 5m', 'burn rate 1h', 'burn rate 3d', 'page (5m & 1h) threshold 14.4×',
    'page (30m & 6h) threshold 6×', 'ticket (2h & 1d) threshold 3×', 'ticket (6h & 3d) threshold 1×']) {
    assert.ok(names.some((n) => n.trim() === want), `legend has ${want}: ${names}`);
  }
  assert.equal(await chart.locator('canvas').count() > 0, true, 'uPlot drew the chart');
  await legend.getByRole('button', { name: 'burn rate 5m' }).click();
  assert.equal(await legend.getByRole('button', { name: 'burn rate 5m' }).getAttribute('aria-pressed'), 'false');
  await screenshot(page, 'slos');
  await assertLabelled(page);
  page.assertClean();
});
