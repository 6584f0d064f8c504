// Traces: search by form and by TraceQL, the result table, one trace's waterfall with its
// critical path, span details, jumps to logs and metrics, and keyboard use of the tree.
//
// Seeded in tenant `ui-traces` (times relative to 5 minutes ago, in ms):
//
//   A frontend  GET /checkout   [0, 1000]   server, http.status_code=500
//   ├ B frontend  auth            [10, 100]
//   ├ J frontend  fetch flags     [20, 115]
//   ├ C checkout  POST /orders    [120, 950]  link to the health trace
//   │ ├ D inventory reserve stock [150, 450]
//   │ ├ E payment   charge card   [160, 800]
//   │ │ ├ F payment fraud check   [200, 450]
//   │ │ └ G payment db query      [400, 780]  error "connection reset by peer", event retry at 500
//   │ └ H checkout  write order   [810, 930]
//   └ I frontend  render page     [955, 990]
//
// Critical path by hand, walking back from A's end (1000): A's last-finishing child is I
// (990) -> I. Back in A before I's start (955): C ends 950 -> C. In C (bound 950): H ends
// 930 -> H. Back in C before 810: E ends 800 -> E. In E (bound 800): G ends 780 -> G. Back
// in E before G's start (400): F ends 450 > 400, so F is overlapped by G and is not on
// the path; E works alone [160, 400]. Back in C before 160: D ends 450 > 160, not on the
// path. Back in A before C's start (120): J ends 115 -> J. Back in A before 20: B ends 100
// > 20, not on the path. Critical spans: A, I, C, H, E, G, J; not B, D, F.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { launch, open, screenshot, assertLabelled, tabTo, seedTraces } from '../lib.mjs';
import { criticalPath, parseTrace, rowWindow, ROW_PX } from '../../crates/oxeye-server/ui/lib/waterfall.js';

const TENANT = 'ui-traces';
// the browser's note of the 400 answers to the invalid input these tests type on purpose
const BAD_REQUEST = [/status of 400 \(Bad Request\)/];
const hex = (n) => `a${randomBytes(n).toString('hex').slice(1)}`;
const TRACE = hex(16);
const HEALTH = hex(16);
const SYNC = hex(16);
const base = BigInt(Date.now() - 5 * 60 * 1000) * 1000000n;
const ns = (ms, at = base) => (at + BigInt(Math.round(ms * 1000)) * 1000n).toString();
const str = (key, v) => ({ key, value: { stringValue: v } });
const int = (key, v) => ({ key, value: { intValue: String(v) } });

const SPANS = [
  // key, parent, service, name, start, end, kind
  ['A', null, 'frontend', 'GET /checkout', 0, 1000, 2],
  ['B', 'A', 'frontend', 'auth', 10, 100, 1],
  ['J', 'A', 'frontend', 'fetch flags', 20, 115, 3],
  ['C', 'A', 'checkout', 'POST /orders', 120, 950, 2],
  ['D', 'C', 'inventory', 'reserve stock', 150, 450, 2],
  ['E', 'C', 'payment', 'charge card', 160, 800, 2],
  ['F', 'E', 'payment', 'fraud check', 200, 450, 1],
  ['G', 'E', 'payment', 'db query', 400, 780, 3],
  ['H', 'C', 'checkout', 'write order', 810, 930, 1],
  ['I', 'A', 'frontend', 'render page', 955, 990, 1],
];
const ORDER = ['GET /checkout', 'auth', 'fetch flags', 'POST /orders', 'reserve stock', 'charge card',
  'fraud check', 'db query', 'write order', 'render page'];
const DURATIONS = ['1s', '90ms', '95ms', '830ms', '300ms', '640ms', '250ms', '380ms', '120ms', '35ms'];
const CRITICAL = ['GET /checkout', 'fetch flags', 'POST /orders', 'charge card', 'db query', 'write order', 'render page'];
const ids = Object.fromEntries(SPANS.map(([k]) => [k, hex(8)]));
const HEALTH_ROOT = hex(8);

function span([k, parent, , name, start, end, kind]) {
  const s = {
    traceId: TRACE, spanId: ids[k], name, kind,
    startTimeUnixNano: ns(start), endTimeUnixNano: ns(end), attributes: [],
  };
  if (parent) s.parentSpanId = ids[parent];
  if (k === 'A') s.attributes = [str('http.method', 'GET'), str('http.route', '/checkout'), int('http.status_code', 500)];
  if (k === 'C') {
    s.attributes = [str('order.id', 'o-42')];
    s.links = [{ traceId: HEALTH, spanId: HEALTH_ROOT, attributes: [str('link.reason', 'health probe')] }];
  }
  if (k === 'G') {
    s.attributes = [str('db.system', 'postgresql'), str('db.statement', 'UPDATE accounts SET balance = balance - $1')];
    s.status = { code: 2, message: 'connection reset by peer' };
    s.events = [{ timeUnixNano: ns(500), name: 'retry', attributes: [int('attempt', 2)] }];
  }
  return s;
}

function body() {
  const services = [...new Set(SPANS.map((s) => s[2]))];
  const resourceSpans = services.map((svc) => ({
    resource: { attributes: [str('service.name', svc), str('service.version', '1.4.2'), str('deployment.environment', 'test')] },
    scopeSpans: [{ scope: { name: 'shop-tracer', version: '0.9' }, spans: SPANS.filter((s) => s[2] === svc).map(span) }],
  }));
  const other = (svc, traceId, spanId, name, durMs, agoMs) => ({
    resource: { attributes: [str('service.name', svc)] },
    scopeSpans: [{ spans: [{ traceId, spanId, name, kind: 2, startTimeUnixNano: ns(0, base - BigInt(agoMs) * 1000000n), endTimeUnixNano: ns(durMs, base - BigInt(agoMs) * 1000000n) }] }],
  });
  resourceSpans.push(other('frontend', HEALTH, HEALTH_ROOT, 'GET /health', 5, 60000));
  resourceSpans.push(other('inventory', SYNC, hex(8), 'sync stock', 250, 120000));
  // outside the page's default range (the last hour): not among the operations offered
  resourceSpans.push(other('payment', hex(16), hex(8), 'refund', 20, 3 * 3600 * 1000));
  return { resourceSpans };
}

let browser;
before(async () => {
  await seedTraces(TENANT, body());
  browser = await launch();
});
after(async () => { await browser?.close(); });

const optionTexts = (page, sel) => page.$$eval(`${sel} option`, (os) => os.map((o) => o.value).filter(Boolean));
const rowIds = (page) => page.$$eval('.tr-table tbody tr', (rs) => rs.map((r) => r.dataset.traceId));

test('the critical path skips children overlapped by a later-finishing sibling and clips overflowing children', () => {
  // the same walk, without a browser: a child running past its parent's end is clipped
  const mk = (id, parent, s, e) => ({ spanId: id, parentSpanId: parent || undefined, name: id, startTimeUnixNano: String(s * 1e6), endTimeUnixNano: String(e * 1e6) });
  const t = parseTrace({ batches: [{ scopeSpans: [{ spans: [
    mk('aaaaaaaaaaaaaaa1', null, 0, 100), mk('aaaaaaaaaaaaaaa2', 'aaaaaaaaaaaaaaa1', 10, 150),
    mk('aaaaaaaaaaaaaaa3', 'aaaaaaaaaaaaaaa1', 5, 60), mk('aaaaaaaaaaaaaaa4', 'aaaaaaaaaaaaaaa1', 1, 8)] }] }] });
  const cp = criticalPath(t);
  assert.deepEqual([...cp.spans].sort(), ['aaaaaaaaaaaaaaa1', 'aaaaaaaaaaaaaaa2', 'aaaaaaaaaaaaaaa4']);
  // the sections tile the root's duration
  assert.equal(cp.sections.reduce((n, s) => n + s.end - s.start, 0), 100);
  assert.deepEqual(cp.sections.find((s) => s.spanId === 'aaaaaaaaaaaaaaa2'), { spanId: 'aaaaaaaaaaaaaaa2', start: 10, end: 100 });
});

test('search by service and operation lists the seeded trace', async () => {
  const page = await open(browser, '/traces', TENANT);
  await page.waitForFunction(() => document.querySelectorAll('#tr-service option[value="payment"]').length === 1);
  assert.deepEqual(await optionTexts(page, '#tr-service'), ['checkout', 'frontend', 'inventory', 'payment']);
  await page.selectOption('#tr-service', 'payment');
  await page.waitForFunction(() => document.querySelectorAll('#tr-operation option').length > 1);
  // the span names of the range only: the payment span of three hours ago is left out
  assert.deepEqual(await optionTexts(page, '#tr-operation'), ['charge card', 'db query', 'fraud check']);
  await page.selectOption('#tr-operation', 'db query');
  await page.fill('#tr-tags', 'db.system=postgresql');
  assert.equal(await page.textContent('.tr-generated'),
    '{ resource.service.name = "payment" && name = "db query" && .db.system = "postgresql" }');
  await page.click('text=Run query');
  const row = page.locator(`.tr-table tr[data-trace-id="${TRACE}"]`);
  await row.waitFor();
  const cells = await row.locator('td').allTextContents();
  assert.equal(cells[0], TRACE);
  assert.deepEqual(cells.slice(1, 3), ['frontend', 'GET /checkout']);
  assert.equal(cells[4], '1s');
  assert.equal(cells[5], '1', 'one span matched');
  assert.deepEqual(await rowIds(page), [TRACE]);
  const url = new URL(page.url().replace('#/', ''));
  assert.equal(url.searchParams.get('service'), 'payment');
  assert.equal(url.searchParams.get('operation'), 'db query');
  assert.equal(url.searchParams.get('tags'), 'db.system=postgresql');
  // the URL holds the search: loading it again runs it
  await page.reload();
  await row.waitFor();
  assert.deepEqual(await rowIds(page), [TRACE]);
  assert.equal(await page.inputValue('#tr-service'), 'payment');
  assert.equal(await page.inputValue('#tr-operation'), 'db query');
  assert.equal(await page.inputValue('#tr-tags'), 'db.system=postgresql');
  // a bad duration shows the server's message
  await page.fill('#tr-min', 'soon');
  await page.click('text=Run query');
  await page.locator('.tr-results [role=alert]', { hasText: 'invalid minDuration' }).waitFor();
  await page.fill('#tr-min', '500ms');
  await page.click('text=Run query');
  await row.waitFor();
  await screenshot(page, 'traces-search');
  await assertLabelled(page);
  // the trace id opens the trace
  await row.locator('a').click();
  await page.locator('.wf-row').first().waitFor();
  assert.match(page.url(), new RegExp(`#/traces/${TRACE}`));
  page.assertClean(BAD_REQUEST);
});

test('a TraceQL URL runs its search; results sort by duration; the editor completes and shows errors', async () => {
  const q = '{ resource.service.name = "payment" && status = error }';
  const page = await open(browser, `/traces?q=${encodeURIComponent(q)}`, TENANT);
  const row = page.locator(`.tr-table tr[data-trace-id="${TRACE}"]`);
  await row.waitFor();
  const cells = await row.locator('td').allTextContents();
  assert.deepEqual([cells[1], cells[2], cells[4], cells[5]], ['frontend', 'GET /checkout', '1s', '1']);
  assert.equal(await page.getAttribute('#tab-traceql', 'aria-selected'), 'true');

  // every trace, sorted by duration
  const editor = page.getByRole('combobox', { name: 'TraceQL query' });
  await editor.fill('{}');
  await page.click('text=Run query');
  await page.waitForFunction(() => document.querySelectorAll('.tr-table tbody tr').length === 3);
  await page.click('button[data-sort=duration]');
  assert.deepEqual(await rowIds(page), [TRACE, SYNC, HEALTH]);
  assert.equal(await page.getAttribute('th:has(button[data-sort=duration])', 'aria-sort'), 'descending');
  await page.keyboard.press('Enter'); // the sort button keeps focus: ascending
  assert.deepEqual(await rowIds(page), [HEALTH, SYNC, TRACE]);
  assert.match(page.url(), /sort=duration/);
  assert.match(page.url(), /dir=asc/);

  // autocomplete: attribute names, then values from the API
  await editor.fill('');
  await editor.focus();
  await page.keyboard.type('{ resource.serv');
  await page.getByRole('option', { name: /resource\.service\.name/ }).waitFor();
  await page.keyboard.press('Tab');
  assert.equal(await editor.inputValue(), '{ resource.service.name');
  await page.keyboard.type(' = "pay');
  await page.getByRole('option', { name: /payment/ }).waitFor();
  await page.keyboard.press('Enter');
  assert.equal(await editor.inputValue(), '{ resource.service.name = "payment"');
  await page.keyboard.type(' && st');
  await page.getByRole('option', { name: /^status\b/ }).first().waitFor();
  await page.keyboard.press('Escape');
  // an invalid query: the server's parse error inline
  await editor.fill('');
  await page.keyboard.type('{ name = }');
  await page.locator('.editor .syntax', { hasText: /invalid TraceQL query|parse error/ }).waitFor();
  assert.equal(await editor.getAttribute('aria-invalid'), 'true');
  await assertLabelled(page);
  page.assertClean(BAD_REQUEST);
});

test('the trace waterfall: spans in order, durations, critical path, details, jumps and keyboard', async () => {
  const page = await open(browser, `/traces/${TRACE}`, TENANT);
  await page.locator('.wf-row').first().waitFor();
  const names = await page.$$eval('.wf-row .wf-op', (es) => es.map((e) => e.textContent));
  assert.deepEqual(names, ORDER);
  assert.deepEqual(await page.$$eval('.wf-row .wf-dur', (es) => es.map((e) => e.textContent)), DURATIONS);
  const levels = await page.$$eval('.wf-row', (rs) => rs.map((r) => Number(r.getAttribute('aria-level'))));
  assert.deepEqual(levels, [1, 2, 2, 2, 3, 3, 4, 4, 3, 2]);
  assert.deepEqual(await page.$$eval('.wf-row[data-critical=true] .wf-op', (es) => es.map((e) => e.textContent)), CRITICAL);
  assert.deepEqual(await page.$$eval('.wf-row.wf-error .wf-op', (es) => es.map((e) => e.textContent)), ['db query']);
  // bars are placed by start and duration: G starts at 40% of the trace and spans 38%
  const g = page.locator('.wf-row', { hasText: 'db query' }).locator('.wf-bar');
  const style = await g.getAttribute('style');
  assert.match(style, /left:40%/);
  assert.match(style, /38%/);

  // jumps
  const hashParams = async (sel) => {
    const href = await page.getAttribute(sel, 'href');
    return new URLSearchParams(href.split('?')[1]);
  };
  const logs = await hashParams('a.tr-logs');
  assert.equal(logs.get('query'), `{service_name=~"frontend|checkout|inventory|payment"} | trace_id="${TRACE}"`);
  assert.match(await page.getAttribute('a.tr-logs', 'href'), /^#\/explore\/logs\?/);
  const metrics = await hashParams('a.tr-metrics');
  assert.equal(metrics.get('expr'), 'sum by (span_name, status_code) (rate(traces_spanmetrics_calls_total{service="frontend"}[5m]))');
  assert.match(await page.getAttribute('a.tr-metrics', 'href'), /^#\/explore\/metrics\?/);

  // details of the error span
  await page.locator('.wf-row', { hasText: 'db query' }).click();
  const details = page.locator('.tr-details');
  await details.locator('h2', { hasText: 'payment: db query' }).waitFor();
  const text = await details.textContent();
  for (const want of ['db.system', 'postgresql', 'UPDATE accounts SET balance = balance - $1', 'connection reset by peer',
    'retry', '+100ms', 'attempt', 'service.version', '1.4.2', 'deployment.environment', 'client', ids.G, ids.E, '380ms']) {
    assert.ok(text.includes(want), `details show ${want}: ${text}`);
  }
  const spanLogs = await hashParams('a.tr-span-logs');
  assert.equal(spanLogs.get('query'), `{service_name="payment"} | trace_id="${TRACE}"`);
  assert.match(page.url(), new RegExp(`span=${ids.G}`));
  await screenshot(page, 'traces-waterfall');

  // the link of C opens the linked trace
  await page.locator('.wf-row', { hasText: 'POST /orders' }).click();
  const link = details.locator('.wf-links a');
  assert.match(await link.getAttribute('href'), new RegExp(`^#/traces/${HEALTH}`));
  assert.ok((await details.textContent()).includes('health probe'));

  // keyboard: rows are focusable, arrows move, left/right collapse and expand, Enter opens
  await page.locator('.wf-row').first().focus();
  const focused = () => page.evaluate(() => document.activeElement.querySelector('.wf-op')?.textContent);
  await page.keyboard.press('ArrowDown');
  assert.equal(await focused(), 'auth');
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('ArrowDown');
  assert.equal(await focused(), 'POST /orders');
  await page.keyboard.press('ArrowLeft');
  assert.equal(await page.getAttribute('.wf-row[aria-level="2"]:has-text("POST /orders")', 'aria-expanded'), 'false');
  assert.equal(await page.locator('.wf-row:visible').count(), 5);
  await page.keyboard.press('ArrowDown');
  assert.equal(await focused(), 'render page');
  await page.keyboard.press('ArrowUp');
  await page.keyboard.press('ArrowRight');
  assert.equal(await page.locator('.wf-row:visible').count(), 10);
  await page.keyboard.press('ArrowRight');
  assert.equal(await focused(), 'reserve stock');
  await page.keyboard.press('ArrowLeft');
  assert.equal(await focused(), 'POST /orders');
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('Enter');
  await details.locator('h2', { hasText: 'payment: charge card' }).waitFor();

  // Collapse all keeps the roots' children; the focusable row moves up from the hidden
  // "charge card" to its parent, so Tab still reaches the tree; Expand all shows all again
  await page.getByRole('button', { name: 'Collapse all' }).click();
  assert.deepEqual(await page.$$eval('.wf-row .wf-op', (es) => es.map((e) => e.textContent)),
    ['GET /checkout', 'auth', 'fetch flags', 'POST /orders', 'render page']);
  assert.deepEqual(await page.$$eval('.wf-row[tabindex="0"] .wf-op', (es) => es.map((e) => e.textContent)), ['POST /orders']);
  await page.getByRole('button', { name: 'Expand all' }).click();
  assert.deepEqual(await page.$$eval('.wf-row .wf-op', (es) => es.map((e) => e.textContent)), ORDER);

  // the critical path toggles, and the URL keeps it
  const cp = page.locator('button.tr-cp-toggle');
  assert.equal(await cp.getAttribute('aria-pressed'), 'true');
  assert.ok(await page.locator('.waterfall.wf-show-cp').count() === 1);
  await tabTo(page, 'button.tr-cp-toggle');
  await page.keyboard.press('Enter');
  assert.equal(await cp.getAttribute('aria-pressed'), 'false');
  assert.equal(await page.locator('.waterfall.wf-show-cp').count(), 0);
  assert.match(page.url(), /cp=0/);
  await assertLabelled(page);
  page.assertClean();
});

test('an unknown trace id shows the server\'s answer', async () => {
  const page = await open(browser, '/traces/0123456789abcdef0123456789abcdef', TENANT);
  await page.locator('[role=alert]', { hasText: 'trace not found' }).waitFor();
});

test('spans whose parents form a cycle still make a tree, and the critical path ends', () => {
  const span = (id, parent, start, end) => ({ traceId: TRACE, spanId: id, parentSpanId: parent, name: id,
    startTimeUnixNano: ns(start), endTimeUnixNano: ns(end) });
  const [a, b, c] = [hex(8), hex(8), hex(8)];
  // a and b are each other's parent, c is b's child: no true root
  const trace = parseTrace({ resourceSpans: [{ resource: { attributes: [str('service.name', 'loop')] },
    scopeSpans: [{ spans: [span(a, b, 0, 100), span(b, a, 10, 90), span(c, b, 20, 80)] }] }] });
  assert.equal(trace.spans.length, 3);
  assert.equal(trace.roots.length, 1);
  const [root] = trace.roots;
  assert.equal(root.parent, null);
  for (const s of trace.spans) assert.ok(!s.children.includes(root), 'the root is nobody\'s child');
  const cp = criticalPath(trace);
  assert.ok(cp.spans.has(root.id));
  assert.ok(cp.spans.size <= 3);
});

test('the rows built are those in view and thirty beyond each edge', () => {
  // a tree 100 px below the top of a 900 px viewport: rows 0 to 31 are in view
  assert.deepEqual(rowWindow(100, 900, 3000), [0, 62]);
  // scrolled so that row 1000 is at the top
  assert.deepEqual(rowWindow(-1000 * ROW_PX, 900, 3000), [970, 1066]);
  // the end of the tree in view, and a tree shorter than the viewport
  assert.deepEqual(rowWindow(-2990 * ROW_PX, 900, 3000), [2960, 3000]);
  assert.deepEqual(rowWindow(50, 900, 10), [0, 10]);
  // the whole tree more than thirty rows below the viewport: none yet (scrolling builds them)
  assert.deepEqual(rowWindow(5000, 900, 3000), [0, 0]);
});

test('a trace of 3,000 spans builds only the rows near the viewport, and keys reach every span', async () => {
  const tenant = 'ui-traces-big';
  const trace = hex(16);
  const root = hex(8);
  const spans = [{ traceId: trace, spanId: root, name: 'batch', kind: 2, startTimeUnixNano: ns(0), endTimeUnixNano: ns(3000) }];
  for (let i = 1; i < 3000; i++) {
    spans.push({ traceId: trace, spanId: hex(8), parentSpanId: root, name: `item ${i}`, kind: 1,
      startTimeUnixNano: ns(i), endTimeUnixNano: ns(i + 0.5) });
  }
  await seedTraces(tenant, { resourceSpans: [{ resource: { attributes: [str('service.name', 'bulk')] }, scopeSpans: [{ spans }] }] });
  const page = await open(browser, `/traces/${trace}`, tenant);
  await page.locator('.wf-row').first().waitFor();
  assert.equal(await page.locator('.wf-tree').evaluate((t) => t.style.height), `${3000 * ROW_PX}px`, 'the tree is as tall as all rows');
  const built = () => page.locator('.wf-row').count();
  assert.ok(await built() < 100, `rows built: ${await built()}`);
  const focused = () => page.evaluate(() => {
    const r = document.activeElement;
    return [r.querySelector('.wf-op')?.textContent, r.getAttribute('aria-posinset'), r.getAttribute('aria-setsize')];
  });

  // End: the last span is built, focused and scrolled into view; the first rows are gone
  await page.locator('.wf-row').first().focus();
  await page.keyboard.press('End');
  assert.deepEqual(await focused(), ['item 2999', '2999', '2999']);
  await page.waitForFunction(() => !document.querySelector('.wf-row[aria-posinset="1"][aria-level="2"]'));
  assert.ok(await page.evaluate(() => { const b = document.activeElement.getBoundingClientRect(); return b.top >= 0 && b.bottom <= innerHeight; }));
  assert.ok(await built() < 100, `rows built at the end: ${await built()}`);
  await page.keyboard.press('ArrowUp');
  assert.deepEqual(await focused(), ['item 2998', '2998', '2999']);

  // scrolling to the middle builds the rows there
  await page.evaluate((px) => window.scrollTo(0, px), 1500 * ROW_PX);
  await page.locator('.wf-row', { hasText: 'item 1500' }).waitFor();

  // Home, then Left collapses the root: one row, a tree one row tall
  await page.keyboard.press('Home');
  assert.deepEqual(await focused(), ['batch', '1', '1']);
  await page.keyboard.press('ArrowLeft');
  assert.equal(await built(), 1);
  assert.equal(await page.locator('.wf-tree').evaluate((t) => t.style.height), `${ROW_PX}px`);
  await page.keyboard.press('ArrowRight');
  await page.keyboard.press('ArrowDown');
  assert.deepEqual(await focused(), ['item 1', '1', '2999']);

  // a larger font (a reader's minimum font size): rows grow, and are placed by their height
  await page.evaluate(() => {
    document.querySelector('.waterfall').style.fontSize = '26px';
    window.dispatchEvent(new Event('resize'));
  });
  await page.waitForFunction((n) => document.querySelector('.wf-tree').style.height === `${n * 50}px`, 3000);
  const tops = await page.$$eval('.wf-row', (rs) => rs.map((r) => parseFloat(r.style.top)));
  assert.ok(tops.every((t) => t % 50 === 0), `row tops: ${tops.slice(0, 5)}`);
  await assertLabelled(page);
  page.assertClean();
});
