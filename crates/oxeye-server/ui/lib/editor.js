// The query editor shared by PromQL, LogQL and TraceQL: a textarea with an autocomplete
// list (ARIA combobox pattern) and an inline syntax error line. Language knowledge comes
// from the caller: `complete(text, cursor)` and `validate(text)`.

import { h } from './dom.js';

let nextId = 0;

/**
 * createEditor({label, value, placeholder, complete, validate, onRun}) -> {el, value(),
 * setValue(s), focus(), showError(msg)}.
 * - complete(text, cursor) -> Promise<{from, items: [{label, detail?, insert?}]}|null>:
 *   accepting an item replaces text[from, cursor) with `insert ?? label`.
 * - validate(text) -> Promise<null | {message, position?}>, run 300 ms after typing stops.
 * - onRun(text): Ctrl/Shift+Enter, or Enter when no suggestion is open and the query is
 *   one line.
 */
export function createEditor(opts) {
  const id = `ed${nextId++}`;
  const ta = h('textarea', {
    id, rows: 1, spellcheck: 'false', autocomplete: 'off', placeholder: opts.placeholder || '',
    'aria-label': opts.label || 'Query', role: 'combobox', 'aria-autocomplete': 'list',
    'aria-expanded': 'false', 'aria-controls': `${id}-list`,
  });
  ta.value = opts.value || '';
  const list = h('ul', { id: `${id}-list`, class: 'suggest', role: 'listbox', hidden: true, 'aria-label': 'Suggestions' });
  const err = h('div', { class: 'syntax error', role: 'status', 'aria-live': 'polite', id: `${id}-err` });
  const el = h('div', { class: 'editor' }, ta, list, err);
  let items = []; let active = -1; let from = 0; let seq = 0; let vTimer = null;

  function close() {
    list.hidden = true; items = []; active = -1;
    ta.setAttribute('aria-expanded', 'false'); ta.removeAttribute('aria-activedescendant');
  }
  function highlight(i) {
    active = i;
    [...list.children].forEach((li, j) => li.setAttribute('aria-selected', String(j === i)));
    if (i >= 0) { ta.setAttribute('aria-activedescendant', `${id}-opt${i}`); list.children[i].scrollIntoView({ block: 'nearest' }); }
  }
  function accept(i) {
    const it = items[i];
    if (!it) return;
    const ins = it.insert ?? it.label;
    const cur = ta.selectionStart;
    ta.value = ta.value.slice(0, from) + ins + ta.value.slice(cur);
    const pos = from + ins.length;
    ta.setSelectionRange(pos, pos);
    close();
    ta.focus();
    schedule();
    ta.dispatchEvent(new Event('input'));
  }
  async function suggest() {
    if (!opts.complete) return;
    const mine = ++seq;
    let res = null;
    try { res = await opts.complete(ta.value, ta.selectionStart); } catch { res = null; }
    if (mine !== seq) return;
    if (!res || !res.items || res.items.length === 0) { close(); return; }
    items = res.items.slice(0, 200); from = res.from;
    list.replaceChildren(...items.map((it, i) => h('li', {
      id: `${id}-opt${i}`, role: 'option', 'aria-selected': 'false',
      onmousedown: (e) => { e.preventDefault(); accept(i); },
    }, h('span', {}, it.label), it.detail ? h('span', { class: 'detail' }, it.detail) : null)));
    list.hidden = false; ta.setAttribute('aria-expanded', 'true');
    highlight(0);
  }
  let stale = false;
  ta.addEventListener('focus', () => { if (stale) { stale = false; schedule(); } });
  function schedule() {
    clearTimeout(vTimer);
    if (!opts.validate) return;
    vTimer = setTimeout(async () => {
      // out of the page (the page was left, or a tab hides the editor): no request now; the
      // check runs when the editor is used again
      if (!ta.isConnected) { stale = true; return; }
      const text = ta.value;
      let r = null;
      try { r = text.trim() ? await opts.validate(text) : null; } catch (e) { r = { message: String(e.message || e) }; }
      if (text !== ta.value) return;
      showError(r);
    }, 300);
  }
  function showError(r) {
    if (!r) { err.textContent = ''; ta.removeAttribute('aria-invalid'); ta.removeAttribute('aria-describedby'); return; }
    err.textContent = typeof r === 'string' ? r : r.message;
    ta.setAttribute('aria-invalid', 'true'); ta.setAttribute('aria-describedby', err.id);
  }
  function grow() { ta.style.height = 'auto'; ta.style.height = `${Math.min(200, ta.scrollHeight + 2)}px`; }

  ta.addEventListener('input', (e) => { grow(); if (e.isTrusted) { suggest(); schedule(); } });
  ta.addEventListener('blur', () => setTimeout(close, 150));
  ta.addEventListener('keydown', (e) => {
    const open = !list.hidden && items.length > 0;
    if (open && e.key === 'ArrowDown') { e.preventDefault(); highlight((active + 1) % items.length); return; }
    if (open && e.key === 'ArrowUp') { e.preventDefault(); highlight((active + items.length - 1) % items.length); return; }
    if (open && (e.key === 'Tab' || (e.key === 'Enter' && !e.ctrlKey && !e.shiftKey)) && active >= 0) { e.preventDefault(); accept(active); return; }
    if (open && e.key === 'Escape') { e.preventDefault(); close(); return; }
    if (!open && e.key === ' ' && e.ctrlKey) { e.preventDefault(); suggest(); return; }
    if (e.key === 'Enter' && (e.ctrlKey || e.shiftKey || !ta.value.includes('\n'))) {
      e.preventDefault(); close(); opts.onRun && opts.onRun(ta.value);
    }
  });
  setTimeout(grow, 0);
  return {
    el,
    value: () => ta.value,
    setValue: (s) => { ta.value = s; grow(); schedule(); },
    focus: () => ta.focus(),
    showError,
    textarea: ta,
  };
}

/** The identifier-like word ending at `cursor` (for completion): {from, word}. */
export function wordBefore(text, cursor, re = /[a-zA-Z0-9_:.]/) {
  let i = cursor;
  while (i > 0 && re.test(text[i - 1])) i--;
  return { from: i, word: text.slice(i, cursor) };
}
