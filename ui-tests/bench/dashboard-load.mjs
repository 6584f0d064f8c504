// Times a dashboard in headless Debian Chromium: from navigation to every panel drawn.
//
// node dashboard-load.mjs <base-url> <tenant> <uid> <runs> [hash-params]
//
// Chromium runs without CAP_SYS_NICE when this runs as root (see chromium-unboosted.sh).
// New windows do not build their address-bar dropdown (below; OXEYE_BENCH_OMNIBOX=1 keeps it).
// One first load (the server's caches cold when nothing was asked before), then <runs>
// loads each in a fresh browser context (no browser cache). For
// each load it prints the time from navigation start to the moment the dashboard marks
// every panel done, and the panels' own query time; the last line is JSON with the runs
// and the query requests the page sent (so the caller can time them server-side).

import { existsSync } from 'node:fs';
import { chromium } from 'playwright-core';

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
const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ...(keepOmnibox ? [] : ['--disable-features=WebUIOmniboxPopup,WebUIOmniboxFullPopup,WebUIOmniboxAimPopup'])],
});
console.log(keepOmnibox ? 'window address-bar dropdown built with every window (OXEYE_BENCH_OMNIBOX=1)'
  : 'window address-bar dropdown not built per window (as in a desktop window opened before)');

async function load(i) {
  const context = await browser.newContext({ viewport: { width: 1600, height: 1000 } });
  await context.addInitScript((t) => {
    localStorage.setItem('oxeye.tenant', t);
    // Resolves when the dashboard marks every panel done. Waiting on this from the test
    // side needs no selector engine injected into the page while it loads, which would
    // take the page's main thread for tens of milliseconds and skew the figure.
    window.dashboardDone = new Promise((resolve) => {
      const seen = () => document.querySelector('.dash-grid[data-state=done]');
      new MutationObserver((_, obs) => { if (seen()) { obs.disconnect(); resolve(); } })
        .observe(document, { subtree: true, attributes: true, attributeFilter: ['data-state'] });
    });
  }, tenant);
  const page = await context.newPage();
  page.setDefaultTimeout(60000);
  const queries = [];
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('request', (r) => {
    const u = new URL(r.url());
    if (/\/api\/v1\/(query|query_range|label\/)/.test(u.pathname)) {
      queries.push({ method: r.method(), path: u.pathname, query: u.search.slice(1), body: r.postData() || '' });
    }
  });
  await page.goto(`${base}/#/dashboards/${uid}?${params}&tenant=${encodeURIComponent(tenant)}`);
  await page.evaluate('window.dashboardDone');
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
  console.log(`${i === 0 ? 'warm-up' : `run ${i}`}: ${m.doneAtMs.toFixed(0)} ms from navigation to ${m.panels} panels drawn (panel queries and drawing ${m.panelsMs} ms), ${m.failed.length} failed, ${m.nodata} without data`);
  if (m.failed.length || errors.length) console.log(`  failed: ${[...m.failed, ...errors].join(' | ')}`);
  return { ...m, errors, queries };
}

const out = [];
let queries = [];
let first = null;
const summary = (r) => ({ doneAtMs: r.doneAtMs, panelsMs: r.panelsMs, panels: r.panels, failed: r.failed.length + r.errors.length, nodata: r.nodata });
for (let i = 0; i <= runs; i++) {
  const r = await load(i);
  if (i === 0) { queries = r.queries; first = summary(r); continue; }
  out.push(summary(r));
}
await browser.close();
console.log(JSON.stringify({ first, runs: out, queries }));
