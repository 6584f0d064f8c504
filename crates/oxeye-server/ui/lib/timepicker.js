// The time range picker: quick ranges plus free "from"/"to" fields (`now-1h`, dates),
// and a refresh button. Values stay as typed so a URL can hold `now-1h`.

import { h } from './dom.js';
import { QUICK_RANGES, parseTime } from './time.js';

/**
 * timePicker({from, to, onChange({from, to}), onRefresh()}) -> element.
 * The element has `.range()` giving {from, to, startMs, endMs} resolved now.
 */
export function timePicker({ from = 'now-1h', to = 'now', onChange, onRefresh }) {
  const quick = h('select', { 'aria-label': 'Quick time range' },
    h('option', { value: '' }, 'Custom'),
    QUICK_RANGES.map(([v, t]) => h('option', { value: v }, t)));
  const fromIn = h('input', { 'aria-label': 'From', value: from, size: 16 });
  const toIn = h('input', { 'aria-label': 'To', value: to, size: 16 });
  const err = h('span', { class: 'error', role: 'status' });
  const sync = () => { quick.value = toIn.value.trim() === 'now' && QUICK_RANGES.some(([v]) => v === fromIn.value.trim()) ? fromIn.value.trim() : ''; };
  sync();
  function changed() {
    const r = el.range();
    if (Number.isNaN(r.startMs) || Number.isNaN(r.endMs) || r.startMs >= r.endMs) {
      err.textContent = 'invalid time range';
      return;
    }
    err.textContent = '';
    sync();
    onChange && onChange({ from: r.from, to: r.to });
  }
  quick.addEventListener('change', () => {
    if (!quick.value) return;
    fromIn.value = quick.value;
    toIn.value = 'now';
    changed();
  });
  for (const i of [fromIn, toIn]) {
    i.addEventListener('change', changed);
    i.addEventListener('keydown', (e) => { if (e.key === 'Enter') changed(); });
  }
  const refresh = h('button', { type: 'button', 'aria-label': 'Refresh', title: 'Refresh', onclick: () => onRefresh && onRefresh() }, '↻');
  const el = h('div', { class: 'timepicker', role: 'group', 'aria-label': 'Time range' },
    quick, fromIn, h('span', { 'aria-hidden': 'true' }, '→'), toIn, refresh, err);
  el.range = () => {
    const now = Date.now();
    return { from: fromIn.value.trim(), to: toIn.value.trim(), startMs: parseTime(fromIn.value, now), endMs: parseTime(toIn.value, now) };
  };
  el.set = (f, t) => { fromIn.value = f; toIn.value = t; sync(); };
  return el;
}
