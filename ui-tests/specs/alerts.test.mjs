// Alerts page: rules from the fixture's rule file (evaluated every second for the default
// tenant `anonymous`, which this spec seeds with `ui_queue_length`), the firing alert with
// its labels and value, and a silence created from that alert through the form, seen in
// the list and in the built-in Alertmanager's alert status, then expired.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { BASE, launch, open, screenshot, assertLabelled, seedMetricsText } from '../lib.mjs';

const TENANT = 'anonymous';
let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

async function api(path, init = {}) {
  const res = await fetch(`${BASE}${path}`, { ...init, headers: { 'X-Scope-OrgID': TENANT, ...(init.headers || {}) } });
  const body = await res.json();
  if (!res.ok) throw new Error(`${path}: ${res.status} ${JSON.stringify(body)}`);
  return body;
}

async function until(what, f, ms = 8000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

test('rules, the firing alert, and a silence created from it then expired', async () => {
  const now = Date.now();
  const lines = [];
  for (let i = 4; i >= 0; i--) {
    lines.push(`ui_queue_length{queue="orders"} 42 ${now - i * 15000}`);
    lines.push(`ui_queue_length{queue="billing"} 7 ${now - i * 15000}`);
  }
  await seedMetricsText(TENANT, `${lines.join('\n')}\n`);
  // the group runs every second: wait for the alert to fire and reach the notifier
  await until('UiQueueTooLong to fire', async () => (await api('/api/v1/alerts')).data.alerts
    .some((a) => a.labels.alertname === 'UiQueueTooLong' && a.state === 'firing'));
  await until('the notifier to hold the alert', async () => (await api('/api/v2/alerts'))
    .some((a) => a.labels.alertname === 'UiQueueTooLong' && a.labels.queue === 'orders'));

  const page = await open(browser, '/alerts?tab=alerts', TENANT);
  const row = page.locator('table.active-alerts tr[data-alert="UiQueueTooLong"]');
  await row.waitFor();
  const text = await row.innerText();
  for (const want of ['firing', 'queue="orders"', 'severity="page"', 'team="ui"', '42', 'queue orders holds 42 items', 'active']) {
    assert.ok(text.includes(want), `alert row shows ${want}: ${text}`);
  }
  const pending = page.locator('table.active-alerts tr[data-alert="UiQueueGrowing"]');
  assert.equal(await pending.count(), 2, 'both queues are pending for UiQueueGrowing');
  assert.match(await pending.first().innerText(), /pending/);

  // the rules tab by keyboard: the tabs take arrow keys
  await page.locator('#tab-alerts').focus();
  await page.keyboard.press('ArrowLeft');
  await page.waitForURL(/tab=rules/);
  const rule = page.locator('table.rules tr[data-rule="UiQueueTooLong"]');
  await rule.waitFor();
  const ruleText = await rule.innerText();
  assert.match(ruleText, /alerting/);
  assert.match(ruleText, /firing/);
  assert.match(ruleText, /\bok\b/);
  assert.match(ruleText, /\d{4}-\d\d-\d\d \d\d:\d\d:\d\d/, 'last evaluation time shown');
  assert.match(ruleText, /\d+(\.\d+)?(µs|ms|s) ago/);
  const link = rule.locator('a', { hasText: 'ui_queue_length > 10' });
  assert.match(await link.getAttribute('href'), /#\/explore\/metrics\?expr=ui_queue_length\+%3E\+10/);
  assert.match(await page.locator('table.rules tr[data-rule="ui:queue_length:sum"]').innerText(), /recording/);
  await page.getByLabel('Filter rules').fill('UiQueue');
  await page.waitForURL(/q=UiQueue/);
  assert.match(await page.locator('.rule-groups .summary').innerText(), /1 firing, 1 pending, 0 inactive/);

  // state filter: only firing rules; text filter narrows to one rule
  await page.getByRole('checkbox', { name: 'pending' }).press('Space');
  await page.getByRole('checkbox', { name: 'inactive' }).uncheck();
  await page.waitForURL(/state=firing/);
  assert.deepEqual(await page.locator('table.rules tbody tr').evaluateAll((rs) => rs.map((r) => r.dataset.rule)), ['UiQueueTooLong']);
  await page.getByRole('checkbox', { name: 'pending' }).check();
  await page.getByLabel('Filter rules').fill('Growing');
  await page.waitForURL(/q=Growing/);
  assert.deepEqual(await page.locator('table.rules tbody tr').evaluateAll((rs) => rs.map((r) => r.dataset.rule)), ['UiQueueGrowing']);
  await screenshot(page, 'alerts-rules');
  await assertLabelled(page);

  // silence the firing alert from its row
  await page.getByRole('tab', { name: 'Alerts' }).click();
  await page.getByLabel('Filter alerts').fill('');
  await page.getByRole('button', { name: 'Silence UiQueueTooLong' }).click();
  const form = page.locator('form.silence-form');
  await form.waitFor();
  await page.waitForURL(/new=1/);
  const names = await form.locator('input[aria-label$="label name"]').evaluateAll((xs) => xs.map((x) => x.value));
  const values = await form.locator('input[aria-label$="value"]').evaluateAll((xs) => xs.map((x) => x.value));
  assert.deepEqual(names, ['alertname', 'queue', 'severity', 'team']);
  assert.deepEqual(values, ['UiQueueTooLong', 'orders', 'page', 'ui']);
  assert.equal(await form.getByLabel('Duration').inputValue(), '2h');
  // drop severity and team: the silence matches on name and queue
  await form.getByRole('button', { name: 'Remove matcher 4' }).click();
  await form.getByRole('button', { name: 'Remove matcher 3' }).click();
  await form.getByLabel('Duration').fill('1h30m');
  await form.getByLabel('Creator').fill('ui-test');
  await form.getByLabel('Comment').fill('orders queue under maintenance');
  await assertLabelled(page);
  await screenshot(page, 'alerts-silence-form');
  await form.getByRole('button', { name: 'Create silence' }).click();
  await form.waitFor({ state: 'detached' });

  const silRow = page.locator('table.silences tbody tr', { hasText: 'orders queue under maintenance' });
  await silRow.waitFor();
  const id = await silRow.getAttribute('data-silence');
  const silText = await silRow.innerText();
  assert.match(silText, /alertname="UiQueueTooLong"/);
  assert.match(silText, /queue="orders"/);
  assert.match(silText, /active/);
  assert.match(silText, /ui-test/);
  const sil = await api(`/api/v2/silence/${id}`);
  assert.equal(sil.status.state, 'active');
  assert.equal(sil.createdBy, 'ui-test');
  const spanMin = (Date.parse(sil.endsAt) - Date.parse(sil.startsAt)) / 60000;
  // the form starts it at the current second; the server moves a start in the past to now
  assert.ok(Math.abs(spanMin - 90) < 0.5, `1h30m silence, got ${spanMin} minutes`);
  assert.deepEqual(sil.matchers.map((m) => [m.name, m.value, m.isRegex, m.isEqual]),
    [['alertname', 'UiQueueTooLong', false, true], ['queue', 'orders', false, true]]);

  // the notifier reports the alert suppressed by the silence, and the page says so
  await until('the alert to be silenced', async () => (await api('/api/v2/alerts?silenced=true'))
    .some((a) => a.labels.alertname === 'UiQueueTooLong' && a.status.state === 'suppressed' && a.status.silencedBy.includes(id)));
  await page.getByRole('tab', { name: 'Alerts' }).click();
  await page.getByRole('button', { name: 'Refresh' }).click();
  await until('the page to show the silence', async () => /suppressed/.test(await row.locator('.am-state').innerText())
    && (await row.locator('.am-state').innerText()).includes(id));
  await screenshot(page, 'alerts-silenced');

  // expire it
  await page.getByRole('tab', { name: 'Silences' }).click();
  await page.getByRole('button', { name: `Expire silence ${id}` }).click();
  await silRow.waitFor({ state: 'detached' });
  assert.equal((await api(`/api/v2/silence/${id}`)).status.state, 'expired');
  await page.getByLabel('Silence state').selectOption('expired');
  await page.locator(`table.silences tr[data-silence="${id}"]`, { hasText: 'expired' }).waitFor();
  assert.equal(await page.getByRole('button', { name: `Expire silence ${id}` }).count(), 0);
  await assertLabelled(page);
  // a bad silence shows the server's message
  await page.getByRole('tab', { name: 'Silences' }).click();
  await page.getByRole('button', { name: 'New silence' }).click();
  await form.getByLabel('Matcher 1 label name').fill('queue');
  await form.getByLabel('Matcher 1 operator').selectOption('=~');
  await form.getByLabel('Matcher 1 value').fill('(');
  await form.getByRole('button', { name: 'Create silence' }).click();
  await form.locator('.error', { hasText: 'invalid regular expression' }).waitFor();
  await form.getByRole('button', { name: 'Cancel' }).click();
  page.assertClean([/status of 400/]);
});
