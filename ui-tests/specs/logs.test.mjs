// Explore logs: completion from the Loki API, inline syntax errors, log lines with
// their labels, the volume histogram, a line's details and filters, trace links,
// metric queries, live tail over the WebSocket and the URL as the view's state.
// Data lives in tenant `ui-logs`, pushed through /loki/api/v1/push.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { BASE, launch, open, screenshot, assertLabelled, seedLogs } from '../lib.mjs';

const TENANT = 'ui-logs';
const TRACE_MD = '4bf92f3577b34da6a3ce929d0e0e4736';
const TRACE_JSON = '0af7651916cd43dd8448eb211c80319c';
const now = Date.now();
const ns = (minAgo) => `${now - minAgo * 60000}000000`;

const LINES = {
  placed: 'level=info msg="order placed" order_id=1001 duration=120ms',
  declined: 'level=error msg="payment declined" order_id=1002',
  slow: `{"level":"warn","msg":"slow cart","items":3,"trace_id":"${TRACE_JSON}"}`,
  viewed: '{"level":"info","msg":"cart viewed","items":1}',
  warm: 'debug: warming cache',
};

// one page for the whole file (each test goes to its own URL): a browser context per
// test costs seconds
let browser;
let page;
/**
 * Goes to `#hashPath` in the shared page (the router mounts the page afresh), forgetting
 * the errors earlier tests logged there: each test checks its own.
 */
async function go(hashPath) {
  await page.goto(`${BASE}/#${hashPath}`);
  await page.locator('.page-explore-logs textarea').waitFor();
  page.forgetProblems();
}
before(async () => {
  browser = await launch();
  page = await open(browser, '/explore/logs', TENANT);
  await seedLogs(TENANT, [
    {
      stream: { service_name: 'checkout', env: 'prod' },
      values: [
        [ns(20), LINES.placed, { user: 'alice' }],
        [ns(10), LINES.declined, { trace_id: TRACE_MD, user: 'bob' }],
      ],
    },
    {
      stream: { service_name: 'cart', env: 'prod' },
      values: [[ns(15), LINES.slow], [ns(5), LINES.viewed]],
    },
    { stream: { service_name: 'checkout', env: 'staging' }, values: [[ns(8), LINES.warm]] },
  ]);
});
after(async () => { await browser?.close(); });

// The tests run in any order: each starts from `go` (its own errors only), and the live
// tail's lines carry no `env` label, which the tests that count lines select on.

/**
 * Console errors other than the 400s of `/loki/api/v1/format_query`, which the browser
 * reports for every incomplete query the editor checks while typing.
 */
function watchConsole(page) {
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('response', (r) => { if (r.status() >= 400 && !r.url().includes('/loki/api/v1/format_query')) errors.push(`${r.status()} ${r.url()}`); });
  return () => errors.filter((e) => !/status of 400 \(Bad Request\)/.test(e));
}

const rowTexts = (page) => page.locator('ol.loglines li .logrow .text').allTextContents();

test('a log query shows the seeded lines, labels, volume by level, details and trace links', async () => {
  await go(`/explore/logs?query=${encodeURIComponent('{env="prod"}')}&from=now-1h&to=now`);
  await page.waitForFunction(() => document.querySelectorAll('ol.loglines li').length === 4);
  // newest first by default
  assert.deepEqual(await rowTexts(page), [LINES.viewed, LINES.declined, LINES.slow, LINES.placed]);
  assert.deepEqual(await page.locator('.common-labels .chip').allTextContents(), ['env=prod']);
  const chips = await page.locator('ol.loglines li .logrow .chips').allTextContents();
  assert.deepEqual(chips, ['service_name=cart', 'service_name=checkout', 'service_name=cart', 'service_name=checkout']);

  // the volume histogram: one series per detected level
  const legend = await page.locator('.logs-volume .legend button').allTextContents();
  assert.deepEqual(legend, ['error', 'warn', 'info']);
  const aria = await page.locator('.logs-volume .chart').getAttribute('aria-label');
  assert.match(aria, /error 1/);
  assert.match(aria, /info 2/);

  // trace ids: from structured metadata and from a JSON line
  const links = page.locator('ol.loglines a.trace-link');
  assert.equal(await links.count(), 2);
  const hrefs = await links.evaluateAll((as) => as.map((a) => a.getAttribute('href')));
  assert.ok(hrefs.some((x) => x.startsWith(`#/traces/${TRACE_MD}`)), `${hrefs}`);
  assert.ok(hrefs.some((x) => x.startsWith(`#/traces/${TRACE_JSON}`)), `${hrefs}`);

  // expand "payment declined" by keyboard
  await page.locator('button.logrow').first().focus();
  await page.keyboard.press('ArrowDown');
  assert.match(await page.evaluate(() => document.activeElement.textContent), /payment declined/);
  await page.keyboard.press('Enter');
  const detail = page.locator('ol.loglines li').nth(1).locator('.logdetail');
  await detail.waitFor();
  const text = await detail.textContent();
  for (const want of ['Stream labels', 'Structured metadata', `trace_id${TRACE_MD}`, 'userbob',
    'Parsed fields (logfmt, parsed here)', 'order_id1002', 'msgpayment declined', 'levelerror']) {
    assert.ok(text.includes(want), `details have ${want}: ${text}`);
  }
  assert.equal(await page.locator('ol.loglines li').nth(1).locator('.logrow').getAttribute('aria-expanded'), 'true');
  assert.ok((await detail.locator('a.trace-link').getAttribute('href')).startsWith(`#/traces/${TRACE_MD}`));
  await screenshot(page, 'logs');
  await assertLabelled(page);

  // "filter for this value" on a field parsed here adds the parser and a label filter
  await detail.getByRole('button', { name: 'Filter for order_id="1002"' }).click();
  await page.waitForFunction(() => document.querySelectorAll('ol.loglines li').length === 1);
  const q = await page.getByRole('combobox', { name: 'LogQL query' }).inputValue();
  assert.equal(q, '{env="prod"} | logfmt | order_id="1002"');
  assert.deepEqual(await rowTexts(page), [LINES.declined]);
  // and on a stream label, into the selector
  await page.locator('ol.loglines li .logrow').first().click();
  await page.getByRole('button', { name: 'Filter out service_name="checkout"' }).click();
  await page.waitForFunction(() => document.querySelector('.logs-summary')?.textContent.startsWith('0 lines'));
  assert.equal(await page.getByRole('combobox', { name: 'LogQL query' }).inputValue(),
    '{env="prod", service_name!="checkout"} | logfmt | order_id="1002"');
  page.assertClean();
});

test('the URL holds query, range, limit and direction; reloading restores the view', async () => {
  await go(`/explore/logs?query=${encodeURIComponent('{service_name="checkout", env!=""}')}&from=now-1h&to=now`);
  await page.waitForFunction(() => document.querySelectorAll('ol.loglines li').length === 3);
  await page.getByLabel('Order').selectOption('forward');
  await page.waitForFunction(() => document.querySelector('ol.loglines li .text')?.textContent.includes('order placed'));
  await page.getByLabel('Line limit').fill('2');
  await page.getByLabel('Line limit').press('Enter');
  await page.getByLabel('Line limit').blur();
  await page.waitForFunction(() => document.querySelectorAll('ol.loglines li').length === 2);
  const url = new URL(page.url());
  const params = new URLSearchParams(url.hash.split('?')[1]);
  assert.equal(params.get('query'), '{service_name="checkout", env!=""}');
  assert.equal(params.get('from'), 'now-1h');
  assert.equal(params.get('to'), 'now');
  assert.equal(params.get('limit'), '2');
  assert.equal(params.get('direction'), 'forward');
  await page.reload();
  await page.waitForFunction(() => document.querySelectorAll('ol.loglines li').length === 2);
  assert.deepEqual(await rowTexts(page), [LINES.placed, LINES.declined]);
  assert.equal(await page.getByLabel('Order').inputValue(), 'forward');
  assert.equal(await page.getByLabel('Line limit').inputValue(), '2');
  assert.match(await page.locator('.logs-summary').textContent(), /limit of 2 reached/);
  page.assertClean();
});

test('a page that reached the line limit loads older lines, then newer ones in forward order', async () => {
  const q = encodeURIComponent('{service_name="checkout", env!=""}');
  await go(`/explore/logs?query=${q}&from=now-1h&to=now&limit=2`);
  await page.waitForFunction(() => document.querySelectorAll('ol.loglines li').length === 2);
  assert.deepEqual(await rowTexts(page), [LINES.warm, LINES.declined]);
  const older = page.getByRole('button', { name: 'Load older lines' });
  await older.click();
  await page.waitForFunction(() => document.querySelectorAll('ol.loglines li').length === 3);
  assert.deepEqual(await rowTexts(page), [LINES.warm, LINES.declined, LINES.placed]);
  assert.equal(await page.locator('.logs-more-bar [role=status]').textContent(), '1 older line loaded');
  assert.match(await page.locator('.logs-summary').textContent(), /^3 lines \(2 pages of 2, the last one full\)/);
  // that page was full again (the boundary line is asked again): one more ask finds the end
  await older.click();
  await page.locator('.logs-more-bar [role=status]', { hasText: 'no older lines in this time range' }).waitFor();
  assert.equal(await older.count(), 0);
  assert.match(await page.locator('.logs-summary').textContent(), /^3 lines · Common labels: service_name=checkout/);
  // env differs between the lines, so each shows its own, the loaded one too
  assert.deepEqual(await page.$$eval('ol.loglines li .chips', (cs) => cs.map((c) => c.textContent)),
    ['env=staging', 'env=prod', 'env=prod']);
  page.assertClean();

  await go(`/explore/logs?query=${q}&from=now-1h&to=now&limit=1&direction=forward`);
  await page.waitForFunction(() => document.querySelectorAll('ol.loglines li').length === 1);
  const newer = page.getByRole('button', { name: 'Load newer lines' });
  await newer.click();
  await page.waitForFunction(() => document.querySelectorAll('ol.loglines li').length === 2);
  await newer.click();
  await page.waitForFunction(() => document.querySelectorAll('ol.loglines li').length === 3);
  assert.deepEqual(await rowTexts(page), [LINES.placed, LINES.declined, LINES.warm]);
  // each page was full (limit 1): one more ask finds nothing newer
  await newer.click();
  await page.locator('.logs-more-bar [role=status]', { hasText: 'no newer lines in this time range' }).waitFor();
  assert.equal(await newer.count(), 0);
  assert.equal(await page.locator('ol.loglines li').count(), 3);
  await assertLabelled(page);
  page.assertClean();
});

test('a metric query shows a graph with a legend and a table', async () => {
  const q = 'sum by (service_name) (count_over_time({env="prod"}[1h]))';
  await go(`/explore/logs?query=${encodeURIComponent(q)}&from=now-1h&to=now`);
  await page.locator('.logs-graph .legend button').first().waitFor();
  const legend = await page.locator('.logs-graph .legend button').allTextContents();
  assert.deepEqual(legend.sort(), ['{service_name="cart"}', '{service_name="checkout"}']);
  const rows = await page.locator('.logs-table tbody tr').allTextContents();
  assert.equal(rows.length, 2);
  assert.ok(rows.some((r) => r.startsWith('{service_name="cart"}2')), `${rows}`);
  assert.equal(await page.locator('ol.loglines').count(), 0);
  await screenshot(page, 'logs-metric');
  await assertLabelled(page);
  page.assertClean();
});

test('live tail over the WebSocket shows a line pushed after it started', async () => {
  await go(`/explore/logs?query=${encodeURIComponent('{tail="yes"}')}`);
  await page.getByRole('button', { name: 'Start live tail' }).click();
  const status = page.getByRole('status').filter({ hasText: /Live|Connecting|Closed/ });
  await page.waitForFunction(() => document.querySelector('.tail-status').textContent.startsWith('Live'));
  const line = `tail line ${Math.random().toString(36).slice(2)}`;
  await seedLogs(TENANT, [{ stream: { service_name: 'checkout', tail: 'yes' }, values: [[`${Date.now()}000000`, line, { trace_id: TRACE_MD }]] }]);
  await page.locator('ol.loglines.live li').first().waitFor();
  assert.equal(await page.locator('ol.loglines.live li .text').first().textContent(), line);
  const second = `${line} again`;
  await seedLogs(TENANT, [{ stream: { service_name: 'checkout', tail: 'yes' }, values: [[`${Date.now()}000000`, second]] }]);
  await page.waitForFunction(() => document.querySelectorAll('ol.loglines.live li').length === 2);
  assert.deepEqual(await rowTexts(page), [second, line], 'new lines at the top');
  assert.ok((await page.locator('ol.loglines.live a.trace-link').getAttribute('href')).startsWith(`#/traces/${TRACE_MD}`));
  await screenshot(page, 'logs-tail');
  await assertLabelled(page);
  await page.getByRole('button', { name: 'Stop live tail' }).click();
  assert.match(await status.textContent(), /^Closed: stopped/);
  assert.equal(await page.getByRole('button', { name: 'Start live tail' }).getAttribute('aria-pressed'), 'false');
  page.assertClean();

  // a query the server refuses: the upgrade fails and the status says why
  const unexpected = watchConsole(page);
  await page.getByRole('combobox', { name: 'LogQL query' }).fill('{tail="yes"} |= ');
  await page.getByRole('button', { name: 'Start live tail' }).click();
  await page.waitForFunction(() => document.querySelector('.tail-status').textContent.startsWith('Closed: parse error'));
  assert.equal(await page.getByRole('button', { name: 'Start live tail' }).getAttribute('aria-pressed'), 'false');
  // besides the syntax check's 400s, the browser reports the refused upgrade and its 400
  assert.deepEqual(unexpected().filter((e) => !/WebSocket connection to .* failed|400 .*\/loki\/api\/v1\/tail/.test(e)), []);
});

test('completion offers seeded labels and values; a syntax error shows inline', async () => {
  await go('/explore/logs');
  const unexpected = watchConsole(page);
  const ta = page.getByRole('combobox', { name: 'LogQL query' });
  await ta.focus();
  await page.keyboard.type('{');
  const options = page.locator('.editor [role=option]');
  await options.filter({ hasText: 'service_name' }).waitFor();
  const names = await options.allTextContents();
  assert.ok(names.some((n) => n.startsWith('env')), `label names: ${names}`);
  await page.keyboard.type('serv');
  await page.keyboard.press('Enter');
  assert.equal(await ta.inputValue(), '{service_name');
  await page.keyboard.type('="');
  await options.filter({ hasText: /^cart/ }).waitFor();
  const values = (await options.allTextContents()).map((v) => v.replace(/service_name$/, ''));
  assert.deepEqual(values.sort(), ['cart', 'checkout']);
  await page.keyboard.type('che');
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('ArrowUp');
  await page.keyboard.press('Tab');
  await page.keyboard.type('} | ');
  assert.equal(await ta.inputValue(), '{service_name="checkout"} | ');
  await options.filter({ hasText: /^logfmt/ }).waitFor();
  await page.keyboard.press('Escape');

  // the server's parser: an error under the editor, aria-invalid on it
  await page.keyboard.type('json |= ');
  const err = page.locator('.editor .syntax');
  await page.waitForFunction(() => document.querySelector('.editor .syntax').textContent.includes('parse error'));
  assert.equal(await ta.getAttribute('aria-invalid'), 'true');
  assert.equal(await ta.getAttribute('aria-describedby'), await err.getAttribute('id'));
  await page.keyboard.type('"declined"');
  await page.waitForFunction(() => !document.querySelector('.editor textarea').hasAttribute('aria-invalid'));
  await page.keyboard.press('Shift+Enter');
  await page.waitForFunction(() => document.querySelectorAll('ol.loglines li').length === 1);
  assert.deepEqual(await rowTexts(page), [LINES.declined]);
  await screenshot(page, 'logs-editor');
  await assertLabelled(page);
  assert.deepEqual(unexpected(), [], 'errors besides the syntax checks');
  // besides the syntax checks' 400s, nothing
  page.assertClean([/status of 400 \(Bad Request\)/]);
});
