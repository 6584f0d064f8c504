// Explore metrics: completion from the API, inline syntax errors, the graph's legend and
// stacking, the table's exact values, exemplars that open their trace, and the URL holding
// the whole view. Data is seeded into tenant `ui-metrics` with timestamps in the last hour.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, open, screenshot, assertLabelled, tabTo, seedMetricsText, seedOtlpMetrics, seedTraces, BASE } from '../lib.mjs';
import { promqlContext, quoteValue, regexEscape } from '../../crates/oxeye-server/ui/lib/promql.js';

const TENANT = 'ui-metrics';
const TRACE_ID = '5b8efff798038103d269b633813fc60c';
const HIST_TRACE_ID = '0af7651916cd43dd8448eb211c80319c';
const NOW = Date.now();
const KITCHEN = '21.5';
const ATTIC = '30.25';

let browser;

function otlpBody() {
  const ns = (ms) => String(BigInt(ms) * 1000000n);
  const start = ns(NOW - 40 * 60000);
  const sumPoints = [25, 20, 15, 10, 5].map((agoMin, i) => ({
    attributes: [{ key: 'route', value: { stringValue: '/pay' } }],
    startTimeUnixNano: start, timeUnixNano: ns(NOW - agoMin * 60000), asDouble: 10 * (i + 1),
    exemplars: i === 3 ? [{
      timeUnixNano: ns(NOW - agoMin * 60000 - 1000), asDouble: 27,
      traceId: TRACE_ID, spanId: '051581bf3cb55c13',
    }] : [],
  }));
  return {
    resourceMetrics: [{
      resource: { attributes: [{ key: 'service.name', value: { stringValue: 'checkout' } }] },
      scopeMetrics: [{
        scope: { name: 'ui-test' },
        metrics: [
          { name: 'ui.checkout.requests', sum: { aggregationTemporality: 2, isMonotonic: true, dataPoints: sumPoints } },
          {
            name: 'ui.checkout.latency', unit: 's',
            histogram: {
              aggregationTemporality: 2,
              dataPoints: [{
                startTimeUnixNano: start, timeUnixNano: ns(NOW - 6 * 60000),
                count: '3', sum: 0.9, bucketCounts: ['1', '2', '0'], explicitBounds: [0.1, 0.5],
                exemplars: [{ timeUnixNano: ns(NOW - 6 * 60000), asDouble: 0.3, traceId: HIST_TRACE_ID }],
              }],
            },
          },
        ],
      }],
    }],
  };
}

/** The trace the counter's exemplar points at: one span of `checkout`. */
function traceBody() {
  const ns = (ms) => String(BigInt(ms) * 1000000n);
  const at = NOW - 10 * 60000 - 1200;
  return {
    resourceSpans: [{
      resource: { attributes: [{ key: 'service.name', value: { stringValue: 'checkout' } }] },
      scopeSpans: [{
        scope: { name: 'ui-test' },
        spans: [{
          traceId: TRACE_ID, spanId: '051581bf3cb55c13', name: 'POST /pay', kind: 2,
          startTimeUnixNano: ns(at), endTimeUnixNano: ns(at + 350),
        }],
      }],
    }],
  };
}

async function exemplarsOf(query) {
  const u = new URL('/api/v1/query_exemplars', BASE);
  u.searchParams.set('query', query);
  u.searchParams.set('start', String((NOW - 3600000) / 1000));
  u.searchParams.set('end', String(NOW / 1000 + 60));
  const res = await fetch(u, { headers: { 'X-Scope-OrgID': TENANT } });
  assert.equal(res.status, 200, await res.clone().text());
  return (await res.json()).data;
}

before(async () => {
  const lines = [];
  for (let m = 50; m >= 1; m -= 1) {
    const t = NOW - m * 60000;
    lines.push(`ui_temperature_celsius{site="home",room="kitchen"} ${KITCHEN} ${t}`);
    lines.push(`ui_temperature_celsius{site="home",room="attic"} ${ATTIC} ${t}`);
  }
  await seedMetricsText(TENANT, `${lines.join('\n')}\n`);
  await seedOtlpMetrics(TENANT, otlpBody());
  await seedTraces(TENANT, traceBody());
  // the server stores the exemplars with their trace ids before the page is asked to show them
  const sum = await exemplarsOf('ui_checkout_requests_total');
  assert.deepEqual(sum.flatMap((s) => s.exemplars.map((e) => e.labels.trace_id)), [TRACE_ID]);
  assert.equal(Number(sum[0].exemplars[0].value), 27);
  const hist = await exemplarsOf('ui_checkout_latency_seconds_bucket');
  assert.deepEqual(hist.flatMap((s) => s.exemplars.map((e) => e.labels.trace_id)), [HIST_TRACE_ID]);
  browser = await launch();
});
after(async () => { await browser?.close(); });

test('the completion context follows strings, braces, groupings and ranges', () => {
  const at = (t) => {
    const c = promqlContext(t, t.length);
    return [c.kind, t.slice(c.from), c.metric ?? null, c.label ?? null, c.matchers ?? null];
  };
  assert.deepEqual(at('rate(http_re'), ['metric', 'http_re', null, null, null]);
  assert.deepEqual(at('up{'), ['labelName', '', 'up', null, []]);
  assert.deepEqual(at('up{job="a", inst'), ['labelName', 'inst', 'up', null, ['job="a"']]);
  assert.deepEqual(at('up{job="a", env=~"pr'), ['labelValue', 'pr', 'up', 'env', ['job="a"']]);
  assert.deepEqual(at('up{job='), ['labelValue', '', 'up', 'job', []]);
  assert.deepEqual(at('{job="a,}", x="'), ['labelValue', '', '', 'x', ['job="a,}"']]);
  assert.deepEqual(at('sum without (ins'), ['grouping', 'ins', null, null, null]);
  assert.deepEqual(at('rate(up[5'), ['duration', '5', null, null, null]);
  assert.equal(at('up{job="a b').at(0), 'labelValue');
  assert.equal(at('foo # a comment').at(0), null);
  assert.equal(at('up + 1').at(0), null);
  // the metric names of the whole expression scope `by (...)` completions
  const t = 'sum by () (rate(http_requests_total{code="500"}[5m])) / on() node_up';
  assert.deepEqual(promqlContext(`${t} `, t.length + 1).selectors, ['http_requests_total', 'node_up']);
  assert.equal(quoteValue('a"b\\c'), 'a\\"b\\\\c');
  assert.equal(regexEscape('a.b+c'), 'a\\.b\\+c');
});

// the browser notes each 400 answer of /api/v1/format_query to a half-typed or bad query
const BAD_REQUEST = [/status of 400 \(Bad Request\)/];
const editorOf = (page) => page.locator('textarea[aria-label="PromQL query"]');
const options = (page) => page.locator('[role=listbox]:visible [role=option]');

/** Moves the suggestion highlight to the option labelled `label` with the arrow keys. */
async function pick(page, label) {
  await options(page).first().waitFor();
  const labels = await options(page).locator('span:first-child').allTextContents();
  const i = labels.indexOf(label);
  assert.ok(i >= 0, `${label} is offered: ${labels.join(', ')}`);
  for (let k = 0; k < i; k++) await page.keyboard.press('ArrowDown');
  const active = await page.locator('[role=option][aria-selected=true] span:first-child').textContent();
  assert.equal(active, label);
  await page.keyboard.press('Enter');
}

test('completion offers metric names, label names and values, accepted with the keyboard', async () => {
  const page = await open(browser, '/explore/metrics', TENANT);
  const ed = editorOf(page);
  await tabTo(page, 'textarea[aria-label="PromQL query"]');
  await page.keyboard.type('ui_temp');
  await pick(page, 'ui_temperature_celsius');
  assert.equal(await ed.inputValue(), 'ui_temperature_celsius');
  await page.keyboard.type('{');
  await options(page).first().waitFor();
  assert.deepEqual((await options(page).locator('span:first-child').allTextContents()).sort(), ['room', 'site']);
  await page.keyboard.type('ro');
  await pick(page, 'room');
  await page.keyboard.type('="');
  await options(page).first().waitFor();
  assert.deepEqual((await options(page).locator('span:first-child').allTextContents()).sort(), ['attic', 'kitchen']);
  await pick(page, 'attic');
  assert.equal(await ed.inputValue(), 'ui_temperature_celsius{room="attic"');
  await page.keyboard.type(', s');
  await options(page).first().waitFor();
  await page.keyboard.press('Escape');
  await page.locator('[role=listbox]').waitFor({ state: 'hidden' });
  assert.equal(await ed.getAttribute('aria-expanded'), 'false');
  await page.keyboard.type('ite="home"}');
  await page.keyboard.press('Escape');
  await page.keyboard.press('Enter'); // runs the query
  await page.locator('.legend button').first().waitFor();
  assert.deepEqual(await page.locator('.legend button').allTextContents(),
    ['ui_temperature_celsius{room="attic", site="home"}']);
  assert.match(page.url(), /expr=ui_temperature_celsius%7Broom%3D%22attic%22%2C\+site%3D%22home%22%7D/);
  // functions come with their signature
  await ed.fill('');
  await ed.focus();
  await page.keyboard.type('histogram_q');
  await options(page).first().waitFor();
  const first = options(page).first();
  assert.equal(await first.locator('span:first-child').textContent(), 'histogram_quantile');
  assert.match(await first.locator('.detail').textContent(), /histogram_quantile\(φ scalar, b instant-vector\)/);
  await page.keyboard.press('Enter');
  assert.equal(await ed.inputValue(), 'histogram_quantile(');
  await assertLabelled(page);
  page.assertClean(BAD_REQUEST);
});

test('a syntax error shows under the editor until it is fixed', async () => {
  const page = await open(browser, '/explore/metrics', TENANT);
  const ed = editorOf(page);
  await ed.focus();
  await page.keyboard.type('sum(ui_temperature_celsius');
  await page.keyboard.press('Escape');
  await page.waitForSelector('textarea[aria-label="PromQL query"][aria-invalid=true]');
  const msg = await page.locator('.editor .syntax').textContent();
  assert.match(msg, /unclosed|expected|unexpected/i);
  assert.equal(await ed.getAttribute('aria-describedby'), await page.locator('.editor .syntax').getAttribute('id'));
  await page.keyboard.type(')');
  await page.waitForSelector('textarea[aria-label="PromQL query"]:not([aria-invalid])');
  assert.equal(await page.locator('.editor .syntax').textContent(), '');
  // running a bad query shows the server's error where the results go
  await ed.fill('sum(');
  await page.getByRole('button', { name: 'Run query' }).click();
  await page.locator('.metrics-result [role=alert]').waitFor();
  assert.match(await page.locator('.metrics-result [role=alert]').textContent(), /parse error/);
  page.assertClean(BAD_REQUEST);
});

test('the graph names the seeded series, toggles them and stacks', async () => {
  const page = await open(browser, '/explore/metrics?expr=ui_temperature_celsius&from=now-1h&to=now', TENANT);
  const legend = page.locator('.legend button');
  await legend.first().waitFor();
  assert.deepEqual(await legend.allTextContents(), [
    'ui_temperature_celsius{room="attic", site="home"}',
    'ui_temperature_celsius{room="kitchen", site="home"}',
  ]);
  const chart = page.locator('.metrics-graph .chart');
  assert.match(await chart.getAttribute('aria-label'), /2 of 2 series shown, lines, values from 21\.5 to 30\.25/);
  assert.match(await page.locator('.metrics-summary').textContent(), /2 series · step 15s/);
  await page.waitForFunction(() => document.querySelector('.metrics-graph canvas')?.width > 0);
  // hovering reads the values under the cursor
  const plot = await page.locator('.metrics-graph .u-over').boundingBox();
  await page.mouse.move(plot.x + plot.width * 0.6, plot.y + plot.height / 2);
  const tip = page.locator('.metrics-graph .tip');
  await tip.waitFor();
  assert.match(await tip.textContent(), /room="attic", site="home"\} 30\.25.*room="kitchen", site="home"\} 21\.5/);
  await screenshot(page, 'metrics-graph');
  await page.mouse.move(plot.x + plot.width / 2, plot.y + plot.height + 60);
  await tip.waitFor({ state: 'hidden' });

  const kitchen = legend.filter({ hasText: 'kitchen' });
  await kitchen.click();
  assert.equal(await kitchen.getAttribute('aria-pressed'), 'false');
  assert.match(await chart.getAttribute('aria-label'), /1 of 2 series shown, lines, values from 30\.25 to 30\.25/);
  await kitchen.click();
  assert.equal(await kitchen.getAttribute('aria-pressed'), 'true');

  await page.getByRole('button', { name: 'Stacked' }).click();
  assert.equal(await page.getByRole('button', { name: 'Stacked' }).getAttribute('aria-pressed'), 'true');
  const stacked = page.locator('.metrics-graph .chart');
  assert.match(await stacked.getAttribute('aria-label'), /stacked, values from 30\.25 to 51\.75/);
  assert.match(page.url(), /mode=stacked/);
  // a user-chosen step goes to the query and the URL
  await page.getByLabel('Step').fill('2m');
  await page.getByLabel('Step').press('Enter');
  await page.waitForFunction(() => /step 120s/.test(document.querySelector('.metrics-summary')?.textContent));
  assert.match(page.url(), /step=2m/);
  await assertLabelled(page);
  page.assertClean();
});

test('the table shows the seeded values and the URL restores the view', async () => {
  const page = await open(browser, '/explore/metrics?expr=ui_temperature_celsius', TENANT);
  await page.locator('.legend button').first().waitFor();
  await page.getByLabel('From', { exact: true }).fill('now-45m');
  await page.getByLabel('From', { exact: true }).press('Enter');
  await tabTo(page, '[role=tab][aria-selected=true]');
  await page.keyboard.press('ArrowRight'); // the Table tab
  await page.locator('.metrics-table tbody tr').first().waitFor();
  const rows = async () => page.locator('.metrics-table tbody tr').evaluateAll((trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
  const headers = await page.locator('.metrics-table th').allTextContents();
  assert.deepEqual(headers, ['__name__', 'room', 'site', 'Value']);
  assert.deepEqual(await rows(), [
    ['ui_temperature_celsius', 'attic', 'home', ATTIC],
    ['ui_temperature_celsius', 'kitchen', 'home', KITCHEN],
  ]);
  assert.match(await page.locator('.metrics-summary').textContent(), /^2 series at /);
  await screenshot(page, 'metrics-table');
  const url = page.url();
  assert.match(url, /tab=table/);
  assert.match(url, /from=now-45m/);

  await page.reload();
  await page.locator('.metrics-table tbody tr').first().waitFor();
  assert.equal(await editorOf(page).inputValue(), 'ui_temperature_celsius');
  assert.equal(await page.getByLabel('From', { exact: true }).inputValue(), 'now-45m');
  assert.equal(await page.locator('#tab-table').getAttribute('aria-selected'), 'true');
  assert.deepEqual((await rows()).map((r) => r[3]), [ATTIC, KITCHEN]);

  // a scalar answer is a row of its own
  await editorOf(page).fill('scalar(ui_temperature_celsius{room="attic"}) * 2');
  await page.getByRole('button', { name: 'Run query' }).click();
  await page.waitForFunction(() => /^scalar at /.test(document.querySelector('.metrics-summary')?.textContent));
  assert.deepEqual(await rows(), [['scalar', '60.5']]);

  await page.locator('#tab-graph').click();
  await page.locator('.legend button').first().waitFor();
  await assertLabelled(page);
  page.assertClean();
});

test('an exemplar is a button over the graph that opens its trace', async () => {
  const page = await open(browser, '/explore/metrics?expr=ui_checkout_requests_total&from=now-1h&to=now', TENANT);
  const marker = page.locator(`.metrics-graph button.marker[aria-label*="trace ${TRACE_ID}"]`);
  await marker.waitFor();
  assert.match(await marker.getAttribute('aria-label'), /value 27 at /);
  assert.match(await page.locator('.metrics-summary').textContent(), /1 exemplar/);
  // it sits inside the plot
  const box = await marker.boundingBox();
  const plot = await page.locator('.metrics-graph .u-over').boundingBox();
  assert.ok(box.x >= plot.x - 8 && box.x + box.width <= plot.x + plot.width + 8, 'marker within the plot');
  assert.ok(box.y >= plot.y - 8 && box.y + box.height <= plot.y + plot.height + 8, 'marker within the plot');
  await screenshot(page, 'metrics-exemplars');

  // hidden and shown again with the toggle, kept in the URL
  await page.getByLabel('Exemplars').uncheck();
  await marker.waitFor({ state: 'detached' });
  assert.match(page.url(), /exemplars=false/);
  await page.getByLabel('Exemplars').check();
  await marker.waitFor();

  // a click opens the trace; back restores the graph; so does Enter on the focused marker
  await marker.click();
  await page.waitForURL(new RegExp(`#/traces/${TRACE_ID}`));
  await page.getByRole('tree', { name: 'Spans of the trace' }).getByText('POST /pay').first().waitFor();
  await page.goBack();
  await marker.waitFor();
  assert.equal(await editorOf(page).inputValue(), 'ui_checkout_requests_total');
  await tabTo(page, 'button.marker');
  await page.keyboard.press('Enter');
  await page.waitForURL(new RegExp(`#/traces/${TRACE_ID}`));
  await page.getByRole('tree', { name: 'Spans of the trace' }).getByText('POST /pay').first().waitFor();
  await assertLabelled(page);
  page.assertClean();
});
