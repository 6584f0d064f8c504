// Alerts page: rule groups and rules (`/api/v1/rules`), firing and pending alerts
// (`/api/v1/alerts`, with their state in the built-in Alertmanager from `/api/v2/alerts`)
// and silences (`/api/v2/silences`: list, create, expire).
//
// URL state: tab=rules|alerts|silences, state=<firing,pending,inactive> (rule filter),
// type=alerting|recording, q=<text filter>, silences=active|pending|expired|all, and for
// the silence form new=1 with matcher=<name><op><value> (repeated), duration, comment.

import { h, replace, field, errorBox, tabs } from '../lib/dom.js';
import { fmtTime, fmtDurationMs, fmtValue, parseDuration } from '../lib/time.js';

const STATES = ['firing', 'pending', 'inactive'];
const OPS = ['=', '!=', '=~', '!~'];

/** `{a="1", b="2"}` chips for a label map. */
function labelChips(labels, cls = 'label') {
  const entries = Object.entries(labels || {}).sort(([a], [b]) => a.localeCompare(b));
  if (!entries.length) return h('span', { class: 'muted' }, '—');
  return h('ul', { class: 'chips' }, entries.map(([k, v]) => h('li', { class: cls }, `${k}="${v}"`)));
}

function timeCell(iso) {
  const ms = Date.parse(iso);
  if (!iso || Number.isNaN(ms) || ms <= 0) return h('span', { class: 'muted' }, 'never');
  return h('time', { datetime: iso, title: iso }, fmtTime(ms));
}

function ago(iso) {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms) || ms <= 0) return '';
  return `${fmtDurationMs(Math.max(0, Date.now() - ms))} ago`;
}

/** `name="value"` / `name=~"re"` matcher text -> {name, op, value}; null when malformed. */
export function parseMatcher(s) {
  const m = /^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*(.*)$/.exec(s);
  if (!m) return null;
  let v = m[3].trim();
  if (v.startsWith('"') && v.endsWith('"') && v.length >= 2) {
    try { v = JSON.parse(v); } catch { v = v.slice(1, -1); }
  }
  return { name: m[1], op: m[2], value: v };
}

function matcherText(m) {
  const op = m.isRegex ? (m.isEqual === false ? '!~' : '=~') : (m.isEqual === false ? '!=' : '=');
  return `${m.name}${op}${JSON.stringify(m.value)}`;
}

export async function mount(root, ctx) {
  const p = ctx.params;
  const view = {
    tab: p.get('tab') || 'rules',
    states: p.has('state') ? p.get('state').split(',').filter((s) => STATES.includes(s)) : [...STATES],
    type: p.get('type') || '',
    q: p.get('q') || '',
    silences: p.get('silences') || 'active',
    form: p.get('new') === '1' ? {
      matchers: p.getAll('matcher').map(parseMatcher).filter(Boolean),
      duration: p.get('duration') || '2h',
      comment: p.get('comment') || '',
    } : null,
  };
  let data = { groups: [], alerts: [], amAlerts: null, silences: null, errors: {} };

  const save = (push = false) => ctx.setParams({
    tab: view.tab,
    state: view.states.length === STATES.length ? '' : view.states.join(','),
    type: view.type,
    q: view.q,
    silences: view.silences === 'active' ? '' : view.silences,
    new: view.form ? '1' : '',
    matcher: view.form ? view.form.matchers.map((m) => `${m.name}${m.op}${JSON.stringify(m.value)}`) : [],
    duration: view.form && view.form.duration !== '2h' ? view.form.duration : '',
    comment: view.form ? view.form.comment : '',
  }, { push });

  const status = h('span', { class: 'muted', role: 'status', 'aria-live': 'polite' });
  const refreshBtn = h('button', { type: 'button', onclick: () => load() }, 'Refresh');
  const body = h('div', { class: 'alerts-body' });
  const tabBar = tabs('Alerting views', [['rules', 'Rules'], ['alerts', 'Alerts'], ['silences', 'Silences']],
    view.tab, (id) => { view.tab = id; save(true); draw(); });
  root.append(h('div', { class: 'toolbar' }, h('h1', {}, 'Alerts'), refreshBtn, status), tabBar, body);

  async function load() {
    status.textContent = 'Loading…';
    const errors = {};
    const [rules, alerts, amAlerts, silences] = await Promise.all([
      ctx.api.prom('/api/v1/rules').catch((e) => { errors.rules = e; return { groups: [] }; }),
      ctx.api.prom('/api/v1/alerts').catch((e) => { errors.alerts = e; return { alerts: [] }; }),
      ctx.api.get('/api/v2/alerts').catch((e) => { errors.am = e; return null; }),
      ctx.api.get('/api/v2/silences').catch((e) => { errors.silences = e; return null; }),
    ]);
    data = {
      groups: (rules && rules.groups) || [],
      alerts: (alerts && alerts.alerts) || [],
      amAlerts: Array.isArray(amAlerts) ? amAlerts : null,
      silences: Array.isArray(silences) ? silences : null,
      errors,
    };
    status.textContent = `Updated ${fmtTime(Date.now())}`;
    draw();
  }

  function draw() {
    if (view.tab === 'alerts') drawAlerts();
    else if (view.tab === 'silences') drawSilences();
    else drawRules();
  }

  // ----- rules -----
  function matchesText(rule, group) {
    if (!view.q) return true;
    const needle = view.q.toLowerCase();
    const hay = [group.name, group.file, rule.name, rule.query,
      ...Object.entries(rule.labels || {}).map(([k, v]) => `${k}=${v}`)].join('\n').toLowerCase();
    return hay.includes(needle);
  }

  function ruleVisible(rule, group) {
    if (view.type && rule.type !== view.type) return false;
    if (rule.type === 'alerting' && !view.states.includes(rule.state || 'inactive')) return false;
    if (rule.type === 'recording' && view.states.length !== STATES.length && !view.type) return false;
    return matchesText(rule, group);
  }

  function filters() {
    const boxes = STATES.map((s) => h('label', { class: 'check' },
      h('input', {
        type: 'checkbox', checked: view.states.includes(s), name: 'state', value: s,
        onchange: (e) => {
          view.states = STATES.filter((x) => (x === s ? e.target.checked : view.states.includes(x)));
          save(); drawRules();
        },
      }), ` ${s}`));
    const type = h('select', {
      'aria-label': 'Rule type',
      onchange: (e) => { view.type = e.target.value; save(); drawRules(); },
    }, [['', 'All types'], ['alerting', 'Alerting'], ['recording', 'Recording']]
      .map(([v, t]) => h('option', { value: v, selected: view.type === v }, t)));
    const text = h('input', {
      type: 'search', value: view.q, placeholder: 'name, expression, label', 'aria-label': 'Filter rules',
      oninput: (e) => { view.q = e.target.value; save(); drawRulesList(); },
    });
    return h('div', { class: 'toolbar', role: 'group', 'aria-label': 'Rule filters' },
      h('fieldset', { class: 'states' }, h('legend', {}, 'State'), boxes), type, text);
  }

  const rulesList = h('div', { class: 'rule-groups' });
  function drawRules() {
    replace(body, data.errors.rules ? errorBox(data.errors.rules) : null, filters(), rulesList);
    drawRulesList();
  }

  function drawRulesList() {
    const counts = { firing: 0, pending: 0, inactive: 0 };
    // counts of the alerting rules the text filter keeps, whatever their state
    for (const g of data.groups) {
      for (const r of g.rules) if (r.type === 'alerting' && matchesText(r, g)) counts[r.state || 'inactive']++;
    }
    const sections = [];
    for (const g of data.groups) {
      const rules = g.rules.filter((r) => ruleVisible(r, g));
      if (!rules.length) continue;
      sections.push(h('section', { class: 'panel rule-group', 'aria-label': `Rule group ${g.name}` },
        h('h2', {}, g.name, ' ', h('span', { class: 'muted' }, g.file)),
        h('p', { class: 'muted' }, `interval ${g.interval}s · last evaluation `, timeCell(g.lastEvaluation),
          ` · took ${fmtDurationMs((g.evaluationTime || 0) * 1000)}`),
        h('table', { class: 'grid rules' },
          h('thead', {}, h('tr', {}, ['Rule', 'Type', 'State', 'Health', 'Last evaluation', 'Duration',
            'Expression', 'Labels', 'Annotations'].map((c) => h('th', { scope: 'col' }, c)))),
          h('tbody', {}, rules.map((r) => ruleRow(r))))));
    }
    replace(rulesList,
      h('p', { class: 'muted summary' }, `${counts.firing} firing, ${counts.pending} pending, ${counts.inactive} inactive alerting rules`),
      sections.length ? sections : h('p', { class: 'muted' }, data.groups.length ? 'No rule matches the filters.' : 'No rule groups are loaded for this tenant.'));
  }

  function ruleRow(r) {
    const st = r.type === 'alerting' ? (r.state || 'inactive') : '';
    return h('tr', { 'data-rule': r.name },
      h('th', { scope: 'row' }, r.name, r.type === 'alerting' && r.alerts && r.alerts.length
        ? h('div', { class: 'muted' }, `${r.alerts.length} active`) : null),
      h('td', {}, r.type),
      h('td', {}, st ? h('span', { class: `badge ${st}` }, st) : h('span', { class: 'muted' }, '—')),
      h('td', {}, h('span', { class: `badge ${r.health === 'ok' ? 'ok' : r.health === 'err' ? 'err' : ''}` }, r.health),
        r.lastError ? h('div', { class: 'error' }, r.lastError) : null),
      h('td', {}, timeCell(r.lastEvaluation), h('div', { class: 'muted' }, ago(r.lastEvaluation))),
      h('td', {}, fmtDurationMs((r.evaluationTime || 0) * 1000)),
      h('td', {}, h('a', { class: 'mono', href: ctx.href('explore/metrics', { expr: r.query }), title: 'Open in Explore' }, r.query),
        r.duration ? h('div', { class: 'muted' }, `for ${r.duration}s`) : null),
      h('td', {}, labelChips(r.labels)),
      h('td', {}, r.annotations && Object.keys(r.annotations).length ? h('dl', { class: 'annotations' },
        Object.entries(r.annotations).map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)])) : h('span', { class: 'muted' }, '—')));
  }

  // ----- alerts -----
  /** The built-in Alertmanager's view of a rule alert: every label of the alert equal. */
  function amStatus(a) {
    if (!data.amAlerts) return null;
    const hit = data.amAlerts.find((x) => Object.entries(a.labels || {}).every(([k, v]) => (x.labels || {})[k] === v));
    return hit ? hit.status : null;
  }

  const alertsList = h('div', { class: 'alerts-list' });
  function drawAlerts() {
    const text = h('input', {
      type: 'search', value: view.q, placeholder: 'label text', 'aria-label': 'Filter alerts',
      oninput: (e) => { view.q = e.target.value; save(); drawAlertsList(); },
    });
    replace(body, data.errors.alerts ? errorBox(data.errors.alerts) : null,
      h('div', { class: 'toolbar' }, text), alertsList);
    drawAlertsList();
  }

  function drawAlertsList() {
    const rows = data.alerts
      .filter((a) => STATES.includes(a.state) && view.states.includes(a.state))
      .filter((a) => !view.q || JSON.stringify(a.labels).toLowerCase().includes(view.q.toLowerCase()))
      .sort((a, b) => (a.state === b.state ? (a.labels.alertname || '').localeCompare(b.labels.alertname || '') : a.state === 'firing' ? -1 : 1));
    const table = h('table', { class: 'grid active-alerts' },
      h('thead', {}, h('tr', {}, ['Alert', 'State', 'Labels', 'Value', 'Active since', 'Alertmanager', ''].map((c) =>
        h('th', { scope: 'col' }, c || h('span', { class: 'sr-only' }, 'Actions'))))),
      h('tbody', {}, rows.map((a) => {
        const am = amStatus(a);
        return h('tr', { 'data-alert': a.labels.alertname || '' },
          h('th', { scope: 'row' }, a.labels.alertname || ''),
          h('td', {}, h('span', { class: `badge ${a.state}` }, a.state)),
          h('td', {}, labelChips(a.labels),
            a.annotations && a.annotations.summary ? h('div', { class: 'muted' }, a.annotations.summary) : null),
          h('td', { class: 'mono' }, fmtValue(a.value)),
          h('td', {}, timeCell(a.activeAt), h('div', { class: 'muted' }, ago(a.activeAt))),
          h('td', { class: 'am-state' }, am ? [h('span', { class: `badge ${am.state === 'suppressed' ? 'warn' : am.state === 'active' ? 'firing' : ''}` }, am.state),
            (am.silencedBy || []).length ? h('div', { class: 'muted' }, `silenced by ${am.silencedBy.join(', ')}`) : null,
            (am.inhibitedBy || []).length ? h('div', { class: 'muted' }, `inhibited by ${am.inhibitedBy.join(', ')}`) : null]
            : h('span', { class: 'muted' }, a.state === 'pending' ? 'not sent (pending)' : '—')),
          h('td', {}, h('button', {
            type: 'button', 'aria-label': `Silence ${a.labels.alertname || 'alert'}`,
            onclick: () => openForm(Object.entries(a.labels).filter(([k]) => k !== '__name__')
              .map(([name, value]) => ({ name, op: '=', value }))),
          }, 'Silence')));
      })));
    replace(alertsList,
      h('p', { class: 'muted summary' }, `${rows.length} of ${data.alerts.length} alerts`),
      rows.length ? table : h('p', { class: 'muted' }, 'No firing or pending alerts.'));
  }

  // ----- silences -----
  function openForm(matchers) {
    view.tab = 'silences';
    view.form = { matchers: matchers.length ? matchers : [{ name: '', op: '=', value: '' }], duration: '2h', comment: '' };
    for (const b of tabBar.querySelectorAll('[role=tab]')) {
      const on = b.id === 'tab-silences';
      b.setAttribute('aria-selected', String(on)); b.tabIndex = on ? 0 : -1;
    }
    save(true);
    drawSilences();
    body.querySelector('.silence-form input')?.focus();
  }

  function silenceForm() {
    const f = view.form;
    const err = h('div', { class: 'form-error' });
    const rows = h('tbody');
    function drawMatchers() {
      replace(rows, f.matchers.map((m, i) => h('tr', {},
        h('td', {}, h('input', { value: m.name, 'aria-label': `Matcher ${i + 1} label name`, size: 16, oninput: (e) => { m.name = e.target.value; save(); } })),
        h('td', {}, h('select', { 'aria-label': `Matcher ${i + 1} operator`, onchange: (e) => { m.op = e.target.value; save(); } },
          OPS.map((o) => h('option', { value: o, selected: m.op === o }, o)))),
        h('td', {}, h('input', { value: m.value, 'aria-label': `Matcher ${i + 1} value`, size: 28, oninput: (e) => { m.value = e.target.value; save(); } })),
        h('td', {}, h('button', {
          type: 'button', 'aria-label': `Remove matcher ${i + 1}`,
          onclick: () => { f.matchers.splice(i, 1); save(); drawMatchers(); },
        }, '✕')))));
    }
    drawMatchers();
    const starts = h('input', { type: 'datetime-local', step: 1, 'aria-label': 'Starts at' });
    // to the second: a start cut to the minute would lie up to a minute in the past, and
    // the server moves a past start to now, so the silence would end up to a minute short
    const now = new Date(); now.setMilliseconds(0);
    const local = (d) => new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 19);
    starts.value = local(now);
    const duration = h('input', { value: f.duration, size: 8, 'aria-label': 'Duration' });
    const ends = h('input', { type: 'datetime-local', step: 1, 'aria-label': 'Ends at' });
    const syncEnds = () => {
      const d = parseDuration(duration.value);
      const s = Date.parse(starts.value);
      if (!Number.isNaN(d) && !Number.isNaN(s)) ends.value = local(new Date(s + d));
    };
    const syncDuration = () => {
      const s = Date.parse(starts.value); const e = Date.parse(ends.value);
      if (Number.isNaN(s) || Number.isNaN(e) || e <= s) return;
      let ms = e - s; let out = '';
      for (const [u, n] of [['d', 86400000], ['h', 3600000], ['m', 60000], ['s', 1000]]) {
        if (ms >= n) { out += `${Math.floor(ms / n)}${u}`; ms %= n; }
      }
      duration.value = out || '0s'; f.duration = duration.value; save();
    };
    syncEnds();
    duration.addEventListener('input', () => { f.duration = duration.value; save(); syncEnds(); });
    starts.addEventListener('change', syncEnds);
    ends.addEventListener('change', syncDuration);
    const creator = h('input', { value: localStorage.getItem('oxeye.silence.creator') || '', size: 16, 'aria-label': 'Creator', required: true });
    const comment = h('textarea', { rows: 2, cols: 50, 'aria-label': 'Comment' });
    comment.value = f.comment;
    comment.addEventListener('input', () => { f.comment = comment.value; save(); });
    async function submit(e) {
      e.preventDefault();
      const matchers = f.matchers.filter((m) => m.name.trim());
      const s = Date.parse(starts.value); const en = Date.parse(ends.value);
      if (Number.isNaN(s) || Number.isNaN(en)) { replace(err, errorBox('invalid start or end time')); return; }
      const body = {
        matchers: matchers.map((m) => ({ name: m.name.trim(), value: m.value, isRegex: m.op.endsWith('~'), isEqual: !m.op.startsWith('!') })),
        startsAt: new Date(s).toISOString(),
        endsAt: new Date(en).toISOString(),
        createdBy: creator.value.trim(),
        comment: comment.value,
      };
      try {
        const res = await ctx.api.sendJson('POST', '/api/v2/silences', body);
        localStorage.setItem('oxeye.silence.creator', creator.value.trim());
        view.form = null;
        view.silences = 'active';
        save();
        await load();
        if (res && res.silenceID) status.textContent = `Silence ${res.silenceID} created`;
      } catch (ex) {
        replace(err, errorBox(ex));
      }
    }
    return h('form', { class: 'panel silence-form', 'aria-label': 'New silence', onsubmit: submit },
      h('h2', {}, 'New silence'),
      h('table', { class: 'matchers' }, h('caption', { class: 'muted' }, 'Matchers'),
        h('thead', {}, h('tr', {}, ['Label', 'Op', 'Value', ''].map((c) => h('th', { scope: 'col' }, c)))), rows),
      h('button', { type: 'button', onclick: () => { f.matchers.push({ name: '', op: '=', value: '' }); save(); drawMatchers(); } }, 'Add matcher'),
      h('div', { class: 'toolbar' }, field('Starts at', starts), field('Duration', duration), field('Ends at', ends)),
      h('div', { class: 'toolbar' }, field('Creator', creator), field('Comment', comment)),
      err,
      h('div', { class: 'toolbar' },
        h('button', { type: 'submit', class: 'primary' }, 'Create silence'),
        h('button', { type: 'button', onclick: () => { view.form = null; save(); drawSilences(); } }, 'Cancel')));
  }

  function drawSilences() {
    const which = h('select', {
      'aria-label': 'Silence state',
      onchange: (e) => { view.silences = e.target.value; save(); drawSilences(); },
    }, [['active', 'Active'], ['pending', 'Pending'], ['expired', 'Expired'], ['all', 'All']]
      .map(([v, t]) => h('option', { value: v, selected: view.silences === v }, t)));
    const list = (data.silences || [])
      .filter((s) => view.silences === 'all' || s.status.state === view.silences)
      .sort((a, b) => Date.parse(b.endsAt) - Date.parse(a.endsAt));
    const msg = h('div', { class: 'silence-msg' });
    const table = h('table', { class: 'grid silences' },
      h('thead', {}, h('tr', {}, ['Matchers', 'State', 'Starts', 'Ends', 'Created by', 'Comment', 'ID', ''].map((c) =>
        h('th', { scope: 'col' }, c || h('span', { class: 'sr-only' }, 'Actions'))))),
      h('tbody', {}, list.map((s) => h('tr', { 'data-silence': s.id },
        h('td', {}, h('ul', { class: 'chips' }, s.matchers.map((m) => h('li', { class: 'label' }, matcherText(m))))),
        h('td', {}, h('span', { class: `badge ${s.status.state === 'active' ? 'warn' : s.status.state === 'pending' ? 'pending' : ''}` }, s.status.state)),
        h('td', {}, timeCell(s.startsAt)),
        h('td', {}, timeCell(s.endsAt)),
        h('td', {}, s.createdBy),
        h('td', {}, s.comment),
        h('td', { class: 'mono' }, s.id),
        h('td', {}, s.status.state === 'expired' ? null : h('button', {
          type: 'button', 'aria-label': `Expire silence ${s.id}`,
          onclick: async () => {
            try {
              await ctx.api.sendJson('DELETE', `/api/v2/silence/${encodeURIComponent(s.id)}`);
              await load();
            } catch (e) { replace(msg, errorBox(e)); }
          },
        }, 'Expire'))))));
    replace(body,
      data.errors.silences ? errorBox(data.errors.silences) : null,
      view.form ? silenceForm() : null,
      h('div', { class: 'toolbar' }, which,
        view.form ? null : h('button', { type: 'button', class: 'primary', onclick: () => openForm([]) }, 'New silence'),
        h('span', { class: 'muted' }, `${list.length} silences`)),
      msg,
      list.length ? table : h('p', { class: 'muted' }, `No ${view.silences === 'all' ? '' : `${view.silences} `}silences.`));
  }

  draw();
  await load();
  // refresh unless the user is typing in this page
  const timer = setInterval(() => {
    const typing = body.contains(document.activeElement) && document.activeElement.matches('input, textarea, select');
    if (!view.form && !typing && document.visibilityState === 'visible') load();
  }, 15000);
  return () => clearInterval(timer);
}
