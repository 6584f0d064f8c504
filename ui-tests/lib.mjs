// Shared helpers of the UI's end-to-end tests: the browser, seeding data through oxeye's
// public ingest APIs, screenshots and the accessibility checks every page must pass.
//
// OXEYE_URL is the server under test; OXEYE_SCREENSHOTS the directory screenshots go to.
// Each spec file seeds its own tenant so specs never see each other's data.

import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

export const BASE = process.env.OXEYE_URL || 'http://127.0.0.1:9700';
const SHOTS = process.env.OXEYE_SCREENSHOTS || 'screenshots';

/** Chromium features Playwright's own launch leaves on that the tests and the bench turn off. */
export const EXTRA_DISABLED_FEATURES = ['WebUIOmniboxPopup', 'WebUIOmniboxFullPopup', 'WebUIOmniboxAimPopup'];

/** The switches the browser process was started with, as its chrome://version page shows. */
async function commandLine(browser) {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    await page.goto('chrome://version');
    return (await page.locator('#command_line').textContent()).split(/\s+/);
  } finally { await context.close(); }
}

/**
 * Launches Chromium with `opts` and, beyond Playwright's own `--disable-features` list,
 * `extra` features off. Chromium honours only the last `--disable-features` switch, so a
 * second one would switch Playwright's list back on: the list Playwright passes is read
 * from a first launch, and the browser is launched again with one switch holding both.
 */
export async function launchWithout(opts, extra) {
  const probe = await chromium.launch(opts);
  const spawned = await commandLine(probe);
  await probe.close();
  const own = spawned.find((a) => a.startsWith('--disable-features='));
  const theirs = own ? own.slice('--disable-features='.length).split(',').filter(Boolean) : [];
  const merged = `--disable-features=${[...theirs, ...extra].join(',')}`;
  const browser = await chromium.launch({
    ...opts, ignoreDefaultArgs: own ? [own] : undefined, args: [...(opts.args || []), merged],
  });
  const switches = (await commandLine(browser)).filter((a) => a.startsWith('--disable-features='));
  assert.deepEqual(switches, [merged], 'one --disable-features switch, holding both lists');
  return browser;
}

/**
 * Headless Debian Chromium with the flags a closed network needs. Each test's fresh context
 * is a new window, and Chromium would build that window's address-bar dropdown (a WebUI
 * page in a renderer of its own) beside the page under test; the tests never use it.
 */
export async function launch() {
  return launchWithout({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  }, EXTRA_DISABLED_FEATURES);
}

/**
 * A new page at `hashPath` (e.g. `/explore/metrics?expr=up`) with `tenant` chosen.
 * Uncaught page errors and console errors fail the test at `page.assertClean(allowed?)`.
 */
export async function open(browser, hashPath, tenant) {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  if (tenant) {
    await context.addInitScript((t) => localStorage.setItem('oxeye.tenant', t), tenant);
  }
  const page = await context.newPage();
  page.setDefaultTimeout(10000);
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console error: ${m.text()}`); });
  // `allowed`: patterns of messages a test provokes on purpose (e.g. the browser's note of a
  // 400 answer to a query the test made invalid)
  page.assertClean = (allowed = []) => assert.deepEqual(
    problems.filter((p) => !allowed.some((re) => re.test(p))), [], 'the page logged errors');
  // a spec that shares one page between its tests starts each test with a clean slate, so
  // the errors one test provokes on purpose never fail another, whatever their order
  page.forgetProblems = () => { problems.length = 0; };
  await page.goto(`${BASE}/#${hashPath}`);
  return page;
}

/** Saves a full-page screenshot as `<name>.png` in OXEYE_SCREENSHOTS. */
export async function screenshot(page, name) {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

/**
 * Every visible control (button, link, input, select, textarea, [role=tab|option|...]) has
 * an accessible name and can take keyboard focus.
 */
export async function assertLabelled(page) {
  const bad = await page.evaluate(() => {
    const sel = 'button, a[href], input:not([type=hidden]), select, textarea, [role=button], [role=tab], [role=checkbox], [role=switch]';
    const out = [];
    for (const el of document.querySelectorAll(sel)) {
      if (!el.offsetParent && getComputedStyle(el).position !== 'fixed') continue;
      const id = el.id;
      const labelled = (el.getAttribute('aria-label') || '').trim()
        || (el.getAttribute('aria-labelledby') && document.getElementById(el.getAttribute('aria-labelledby'))?.textContent.trim())
        || (id && document.querySelector(`label[for="${CSS.escape(id)}"]`)?.textContent.trim())
        || el.closest('label')?.textContent.trim()
        || (el.getAttribute('title') || '').trim()
        || (['INPUT', 'SELECT', 'TEXTAREA'].includes(el.tagName) ? '' : el.textContent.trim());
      const focusable = el.tabIndex >= 0 || el.getAttribute('role') === 'tab' || el.getAttribute('role') === 'option';
      if (!labelled) out.push(`unlabelled ${el.outerHTML.slice(0, 120)}`);
      if (!focusable && !el.disabled) out.push(`not focusable ${el.outerHTML.slice(0, 120)}`);
    }
    return out;
  });
  assert.deepEqual(bad, [], 'controls without a name or focus');
}

/** Presses Tab until the focused element matches `predicate(el)` (run in the page). */
export async function tabTo(page, selector, max = 60) {
  for (let i = 0; i < max; i++) {
    await page.keyboard.press('Tab');
    if (await page.evaluate((s) => document.activeElement?.matches(s), selector)) return;
  }
  assert.fail(`Tab never reached ${selector}`);
}

async function send(path, tenant, body, contentType) {
  const res = await fetch(`${BASE}${path}`, {
    method: 'POST',
    headers: { 'Content-Type': contentType, ...(tenant ? { 'X-Scope-OrgID': tenant } : {}) },
    body,
  });
  if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
}

/** Prometheus text with explicit ms timestamps, e.g. `up{job="a"} 1 1700000000000`. */
export async function seedMetricsText(tenant, text) {
  await send('/api/v1/import/prometheus', tenant, text, 'text/plain');
}

/** Loki push JSON: [{stream: {...}, values: [[nsString, line, {metadata}?], ...]}]. */
export async function seedLogs(tenant, streams) {
  await send('/loki/api/v1/push', tenant, JSON.stringify({ streams }), 'application/json');
}

/** OTLP/JSON traces: {resourceSpans: [...]}. */
export async function seedTraces(tenant, body) {
  await send('/v1/traces', tenant, JSON.stringify(body), 'application/json');
}

/** OTLP/JSON metrics (for exemplars): {resourceMetrics: [...]}. */
export async function seedOtlpMetrics(tenant, body) {
  await send('/v1/metrics', tenant, JSON.stringify(body), 'application/json');
}

/** Makes everything ingested so far visible to queries (flushes heads where needed). */
export async function flush() {
  const res = await fetch(`${BASE}/api/v1/admin/tsdb/flush`, { method: 'POST' });
  if (!res.ok && res.status !== 204) throw new Error(`flush: ${res.status}`);
}
