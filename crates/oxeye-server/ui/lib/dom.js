// Small DOM helpers: h() builds elements, text() escapes by construction.

/**
 * h('button', {class: 'primary', onclick: fn, 'aria-label': 'Run'}, 'Run')
 * Attributes starting with "on" become listeners; `false`/`null` attributes are skipped;
 * children may be strings, nodes, arrays or null.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === false || v === null || v === undefined) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'value') el.value = v;
    else if (k === 'checked') el.checked = !!v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Replaces the children of `el`. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A labelled form field: <label>text <control></label>. */
export function field(text, control) {
  return h('label', { class: 'field' }, text, ' ', control);
}

/** A message shown where results would be. */
export function errorBox(err) {
  return h('div', { class: 'error', role: 'alert' }, String(err && err.message ? err.message : err));
}

/** Tabs with role=tablist; `onSelect(id)` is called on change. */
export function tabs(label, items, selected, onSelect) {
  const bar = h('div', { class: 'tabs', role: 'tablist', 'aria-label': label });
  const buttons = items.map(([id, text]) => h('button', {
    role: 'tab', id: `tab-${id}`, 'aria-selected': String(id === selected),
    tabindex: id === selected ? '0' : '-1',
    onclick: () => select(id),
  }, text));
  function select(id) {
    for (const b of buttons) {
      const on = b.id === `tab-${id}`;
      b.setAttribute('aria-selected', String(on));
      b.tabIndex = on ? 0 : -1;
    }
    onSelect(id);
  }
  bar.addEventListener('keydown', (e) => {
    if (e.key !== 'ArrowRight' && e.key !== 'ArrowLeft') return;
    const i = buttons.indexOf(document.activeElement);
    if (i < 0) return;
    const next = buttons[(i + (e.key === 'ArrowRight' ? 1 : buttons.length - 1)) % buttons.length];
    next.focus();
    next.click();
  });
  bar.append(...buttons);
  return bar;
}
