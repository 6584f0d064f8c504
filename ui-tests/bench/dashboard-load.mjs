// Times a dashboard in headless Debian Chromium: from navigation to every panel drawn.
//
// node dashboard-load.mjs <base-url> <tenant> <uid> <runs> [hash-params]
//
// Chromium runs without CAP_SYS_NICE when this runs as root (see chromium-unboosted.sh).
// New windows do not build their address-bar dropdown (below; OXEYE_BENCH_OMNIBOX=1 keeps it).
// One first load (the server's caches cold when nothing was asked before), then <runs>
// loads each in a fresh browser context (no browser cache), then <runs> reloads in one tab
// (the browser's cache warm). For
// each load it prints the time from navigation start to the moment the dashboard marks
// every panel done, and the panels' own query time; the last line is JSON with the runs
// and the query requests the page sent (so the caller can time them server-side).

import { existsSync, readFileSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { launchWithout, EXTRA_DISABLED_FEATURES } from '../lib.mjs';

const [base, tenant, uid, runsArg, params = 'from=now-24h&to=now'] = process.argv.slice(2);
if (!base || !uid) {
  console.error('usage: dashboard-load.mjs <base-url> <tenant> <uid> <runs> [hash-params]');
  process.exit(2);
}
const runs = Number(runsArg || 5);

// As root, Chromium would raise its own threads above the server's (see the wrapper);
// a desktop browser runs without that privilege, so the bench does too.
const unboosted = new URL('./chromium-unboosted.sh', import.meta.url).pathname;
const asRoot = process.getuid && process.getuid() === 0 && existsSync('/usr/bin/setpriv');
const executablePath = process.env.CHROMIUM || (asRoot ? unboosted : '/usr/bin/chromium');
if (executablePath === unboosted) console.log('started without CAP_SYS_NICE, as a desktop user runs it');
// Each fresh context opens a new headless window, and Chromium builds every new window's
// address-bar dropdown (a WebUI page of some forty modules in a renderer of its own) while
// our page loads. On two cores that doubled the figure. A desktop window has its dropdown
// built already when a dashboard is opened in it, so the bench leaves it out, unless
// OXEYE_BENCH_OMNIBOX=1 asks to keep it (to see the difference).
const keepOmnibox = process.env.OXEYE_BENCH_OMNIBOX === '1';
const launchOpts = {
  executablePath,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
};
// with Playwright's own --disable-features list kept (see launchWithout)
const browser = keepOmnibox ? await chromium.launch(launchOpts) : await launchWithout(launchOpts, EXTRA_DISABLED_FEATURES);
console.log(keepOmnibox ? 'window address-bar dropdown built with every window (OXEYE_BENCH_OMNIBOX=1)'
  : 'window address-bar dropdown not built per window (as in a desktop window opened before)');

/**
 * The machine's CPU time so far (jiffies), and how much of it the hypervisor gave to other
 * guests ("steal"). On a shared virtual machine that share swings from minute to minute and
 * the figures with it, so each load reports it. Null where /proc/stat is not there.
 */
function cpuTimes() {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    return { steal: f[7] || 0, total: f.slice(0, 8).reduce((a, b) => a + b, 0) };
  } catch { return null; }
}

function stealPct(a, b) {
  if (!a || !b || b.total <= a.total) return null;
  return Math.round((100 * (b.steal - a.steal)) / (b.total - a.total));
}

/** A fresh context and tab with the tenant chosen, whose page says when it is done. */
async function freshTab() {
  const context = await browser.newContext({ viewport: { width: 1600, height: 1000 } });
  await context.addInitScript((t) => {
    localStorage.setItem('oxeye.tenant', t);
    // Says on the console when the dashboard marks every panel done. Hearing it from the
    // test side evaluates nothing in the page: a selector engine or Playwright's evaluation
    // helper, injected while the page loads, takes its main thread for tens of milliseconds.
    new MutationObserver((_, obs) => {
      if (!document.querySelector('.dash-grid[data-state=done]')) return;
      obs.disconnect();
      console.log('oxeye-dashboard-done');
    }).observe(document, { subtree: true, attributes: true, attributeFilter: ['data-state'] });
  }, tenant);
  const page = await context.newPage();
  page.setDefaultTimeout(60000);
  return { context, page };
}

/** Resolves when the tab's page says every panel is done (see `freshTab`). */
function dashboardDone(page) {
  return page.waitForEvent('console', { predicate: (msg) => msg.text() === 'oxeye-dashboard-done' });
}

async function load(i) {
  const cpu0 = cpuTimes();
  const { context, page } = await freshTab();
  const queries = [];
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('request', (r) => {
    const u = new URL(r.url());
    if (/\/api\/v1\/(query|query_range|label\/)/.test(u.pathname)) {
      queries.push({ method: r.method(), path: u.pathname, query: u.search.slice(1), body: r.postData() || '' });
    }
  });
  const done = dashboardDone(page);
  await Promise.all([
    done,
    page.goto(`${base}/#/dashboards/${uid}?${params}&tenant=${encodeURIComponent(tenant)}`, { waitUntil: 'commit' }),
  ]);
  const m = await page.evaluate(() => {
    const g = document.querySelector('.dash-grid');
    return {
      doneAtMs: Number(g.dataset.doneAt),
      panelsMs: Number(g.dataset.renderMs),
      panels: document.querySelectorAll('.dpanel').length,
      failed: [...document.querySelectorAll('.dpanel[data-state=error]')].map((p) => `${p.querySelector('h2')?.textContent}: ${p.querySelector('.dpanel-body')?.textContent}`),
      nodata: document.querySelectorAll('.dpanel .nodata').length,
    };
  });
  await context.close();
  m.stealPct = stealPct(cpu0, cpuTimes());
  const steal = m.stealPct === null ? '' : `, CPU stolen by the hypervisor ${m.stealPct} %`;
  console.log(`${i === 0 ? 'warm-up' : `run ${i}`}: ${m.doneAtMs.toFixed(0)} ms from navigation to ${m.panels} panels drawn (panel queries and drawing ${m.panelsMs} ms), ${m.failed.length} failed, ${m.nodata} without data${steal}`);
  if (m.failed.length || errors.length) console.log(`  failed: ${[...m.failed, ...errors].join(' | ')}`);
  return { ...m, errors, queries };
}

const out = [];
let queries = [];
let first = null;
const summary = (r) => ({ doneAtMs: r.doneAtMs, panelsMs: r.panelsMs, panels: r.panels, failed: r.failed.length + r.errors.length, nodata: r.nodata, stealPct: r.stealPct });
let cpuRuns = null;
for (let i = 0; i <= runs; i++) {
  if (i === 1) cpuRuns = cpuTimes();
  const r = await load(i);
  if (i === 0) { queries = r.queries; first = summary(r); continue; }
  out.push(summary(r));
}
const runsStealPct = stealPct(cpuRuns, cpuTimes());

/**
 * After the fresh loads (so they are measured alone, as before), `n` reloads in one tab, as
 * a user refreshing an open dashboard: the browser has the UI's files, revalidates them
 * (304) and keeps what it compiled from them.
 */
async function reloads(n) {
  const { context, page } = await freshTab();
  let revalidated = 0;
  page.on('response', (r) => { if (r.status() === 304 && new URL(r.url()).pathname.startsWith('/ui/')) revalidated++; });
  const out = [];
  for (let i = 0; i <= n; i++) {
    const done = dashboardDone(page);
    revalidated = 0;
    await Promise.all([done, i === 0
      ? page.goto(`${base}/#/dashboards/${uid}?${params}&tenant=${encodeURIComponent(tenant)}`, { waitUntil: 'commit' })
      : page.reload({ waitUntil: 'commit' })]);
    if (i === 0) continue;
    const ms = await page.evaluate(() => Number(document.querySelector('.dash-grid').dataset.doneAt));
    console.log(`reload ${i} in the same tab: ${ms.toFixed(0)} ms, ${revalidated} of the UI's files revalidated (304)`);
    out.push(ms);
  }
  await context.close();
  return out;
}
const reloadMs = await reloads(runs);
await browser.close();
console.log(JSON.stringify({ first, runs: out, runsStealPct, reloadMs, queries }));
