// The trace waterfall: span tree, timing bars, span details and the critical path.
//
// Data flow: `parseTrace(json)` takes Tempo's OTLP JSON of one trace (`{batches}` from
// `/api/traces/<id>`, `{trace: {resourceSpans}}` from v2, or plain `{resourceSpans}`),
// decodes ids (base64 or hex) to lowercase hex, times (nanosecond strings) to BigInt and to
// milliseconds relative to the trace's first span, and links spans into a tree: children
// under their parent sorted by start; a span whose parent is not in the trace is a root.
// `criticalPath(trace)` computes the critical path over that tree; `renderWaterfall()`
// draws one row per span (indented by depth, service colour, a bar placed by start and
// duration on the trace's time axis) as an ARIA tree; `spanDetails()` builds the details
// pane of one span.
//
// Critical path (the chain of spans that determined the trace's end-to-end duration, as
// Jaeger computes it). Walking backwards in time from the end of the root span:
//   1. Each child's window is first clipped to its parent's window; a child entirely
//      outside its parent is ignored.
//   2. At a span with a time bound `b` (initially its own end), take the child that
//      finishes last among the children not yet taken that finish at or before `b`.
//      The part of the span between that child's end and `b` is on the path (the span
//      itself was working then); descend into the child with the child's end as its
//      bound, and on return continue at the parent with `b` = that child's start, so
//      children overlapped by a later-finishing sibling only count for the time before
//      that sibling started.
//   3. When no child finishes at or before `b`, the span's part from its start to `b` is
//      on the path and the walk returns to the parent.
// The result is a list of sections {spanId, start, end} (ms from the trace start) that
// tile the root span's duration; the spans the walk visits are the critical spans. The walk
// is iterative (an explicit stack), so deep traces cannot overflow the call stack.

import { h } from './dom.js';
import { fmtDurationMs, fmtTime } from './time.js';

/** Service colours (no red: red marks errors). */
export const SERVICE_COLORS = ['#2f6fdb', '#2e9e5b', '#f0a000', '#8e5bd6', '#00a3b4',
  '#d6478f', '#6b8e23', '#8c6d31', '#1f9fe0', '#4b5563', '#c2410c', '#5b8def'];

const KINDS = {
  SPAN_KIND_UNSPECIFIED: 'unspecified', SPAN_KIND_INTERNAL: 'internal', SPAN_KIND_SERVER: 'server',
  SPAN_KIND_CLIENT: 'client', SPAN_KIND_PRODUCER: 'producer', SPAN_KIND_CONSUMER: 'consumer',
  0: 'unspecified', 1: 'internal', 2: 'server', 3: 'client', 4: 'producer', 5: 'consumer',
};
const STATUS = { STATUS_CODE_UNSET: 'unset', STATUS_CODE_OK: 'ok', STATUS_CODE_ERROR: 'error', 0: 'unset', 1: 'ok', 2: 'error' };

/** An id as lowercase hex: OTLP/JSON writes hex, Tempo's jsonpb writes base64. */
export function idToHex(s) {
  if (!s) return '';
  if (/^[0-9a-fA-F]+$/.test(s) && (s.length === 16 || s.length === 32)) return s.toLowerCase();
  try {
    const bin = atob(s);
    let out = '';
    for (let i = 0; i < bin.length; i++) out += bin.charCodeAt(i).toString(16).padStart(2, '0');
    return out;
  } catch {
    return String(s);
  }
}

/** An OTLP AnyValue as a JS value (ints stay strings: they may exceed 2^53). */
export function anyValue(v) {
  if (!v || typeof v !== 'object') return '';
  if ('stringValue' in v) return v.stringValue;
  if ('intValue' in v) return String(v.intValue);
  if ('doubleValue' in v) return v.doubleValue;
  if ('boolValue' in v) return v.boolValue;
  if ('arrayValue' in v) return ((v.arrayValue && v.arrayValue.values) || []).map(anyValue);
  if ('kvlistValue' in v) return Object.fromEntries(attrs((v.kvlistValue && v.kvlistValue.values) || []));
  if ('bytesValue' in v) return v.bytesValue;
  return '';
}

/** Display text of an attribute value. */
export function valueText(v) {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

function attrs(list) {
  return (list || []).map((kv) => [kv.key, anyValue(kv.value)]);
}

function nanos(s) {
  try { return BigInt(s || 0); } catch { return 0n; }
}

/**
 * Tempo/OTLP JSON of one trace -> {traceId, spans, roots, root, byId, services, startNs,
 * endNs, startMs (epoch), duration (ms), depth, errors}. Each span: {id, parentId, traceId,
 * name, kind, service, color, resource, scope, attributes, events, links, status, error,
 * startNs, endNs, start (ms from trace start), duration (ms), depth, children, parent}.
 */
export function parseTrace(json) {
  const batches = (json && (json.batches || json.resourceSpans || (json.trace && json.trace.resourceSpans))) || [];
  const spans = [];
  for (const rs of batches) {
    const resource = attrs(rs.resource && rs.resource.attributes);
    const svc = resource.find(([k]) => k === 'service.name');
    const service = svc ? valueText(svc[1]) : 'unknown_service';
    for (const ss of rs.scopeSpans || rs.instrumentationLibrarySpans || []) {
      const sc = ss.scope || ss.instrumentationLibrary || {};
      for (const s of ss.spans || []) {
        const startNs = nanos(s.startTimeUnixNano);
        const endNs = nanos(s.endTimeUnixNano) < startNs ? startNs : nanos(s.endTimeUnixNano);
        const status = { code: STATUS[(s.status && s.status.code) || 0] || 'unset', message: (s.status && s.status.message) || '' };
        const attributes = attrs(s.attributes);
        spans.push({
          id: idToHex(s.spanId), parentId: idToHex(s.parentSpanId), traceId: idToHex(s.traceId),
          name: s.name || '', kind: KINDS[s.kind || 0] || String(s.kind), service, resource,
          scope: { name: sc.name || '', version: sc.version || '' },
          attributes, status,
          error: status.code === 'error' || attributes.some(([k, v]) => k === 'error' && (v === true || v === 'true')),
          startNs, endNs,
          start: 0, duration: 0, end: 0, color: '',
          events: s.events || [], links: (s.links || []).map((l) => ({
            traceId: idToHex(l.traceId), spanId: idToHex(l.spanId), attributes: attrs(l.attributes),
          })),
          children: [], parent: null, depth: 0,
        });
      }
    }
  }
  if (spans.length === 0) return null;
  let startNs = spans[0].startNs; let endNs = spans[0].endNs;
  for (const s of spans) { if (s.startNs < startNs) startNs = s.startNs; if (s.endNs > endNs) endNs = s.endNs; }
  const ms = (ns) => Number(ns - startNs) / 1e6;
  const byId = new Map();
  for (const s of spans) {
    s.start = ms(s.startNs);
    s.duration = Number(s.endNs - s.startNs) / 1e6;
    s.end = s.start + s.duration;
    s.events = s.events.map((e) => ({
      name: e.name || '', offset: Number(nanos(e.timeUnixNano) - s.startNs) / 1e6, attributes: attrs(e.attributes),
    })).sort((a, b) => a.offset - b.offset);
    if (!byId.has(s.id)) byId.set(s.id, s);
  }
  const roots = [];
  for (const s of byId.values()) {
    const p = s.parentId && s.parentId !== s.id ? byId.get(s.parentId) : null;
    if (p) { s.parent = p; p.children.push(s); } else roots.push(s);
  }
  const order = (a, b) => a.start - b.start || a.end - b.end || a.name.localeCompare(b.name);
  roots.sort((a, b) => (a.parentId ? 1 : 0) - (b.parentId ? 1 : 0) || order(a, b));
  // depth-first order, iteratively; a parent cycle leaves spans unreached, added as roots
  const ordered = [];
  const seen = new Set();
  const visit = (r) => {
    const stack = [[r, 0]];
    while (stack.length) {
      const [s, d] = stack.pop();
      if (seen.has(s)) continue;
      seen.add(s); s.depth = d; ordered.push(s);
      s.children.sort(order);
      for (let i = s.children.length - 1; i >= 0; i--) stack.push([s.children[i], d + 1]);
    }
  };
  roots.forEach(visit);
  for (const s of byId.values()) {
    if (seen.has(s)) continue;
    // a root now: off its old parent's children, or walks down the tree would loop
    if (s.parent) s.parent.children = s.parent.children.filter((c) => c !== s);
    s.parent = null;
    roots.push(s);
    visit(s);
  }
  const services = [];
  for (const s of ordered) if (!services.includes(s.service)) services.push(s.service);
  for (const s of ordered) s.color = SERVICE_COLORS[services.indexOf(s.service) % SERVICE_COLORS.length];
  return {
    traceId: ordered[0].traceId, spans: ordered, roots, root: roots[0], byId, services,
    startNs, endNs, startMs: Number(startNs / 1000000n), duration: Number(endNs - startNs) / 1e6,
    depth: ordered.reduce((m, s) => Math.max(m, s.depth), 0) + 1,
    errors: ordered.filter((s) => s.error).length,
  };
}

/**
 * The critical path from `root` (default: the trace's root), as described in the module
 * doc: {sections: [{spanId, start, end}] latest first, spans: Set of span ids}.
 */
export function criticalPath(trace, root = trace && trace.root) {
  const sections = [];
  const spans = new Set();
  const owning = new Set();
  const push = (sec) => { sections.push(sec); owning.add(sec.spanId); };
  if (!root) return { sections, spans };
  const clipped = (node) => node.span.children
    .filter((c) => c.end >= node.s && c.start <= node.e)
    .map((c) => ({ span: c, s: Math.max(c.start, node.s), e: Math.min(c.end, node.e) }))
    .sort((a, b) => b.e - a.e || b.s - a.s);
  const frame = (node) => ({ node, bound: node.e, kids: clipped(node), next: 0 });
  const stack = [frame({ span: root, s: root.start, e: root.end })];
  while (stack.length) {
    const f = stack[stack.length - 1];
    const id = f.node.span.id;
    spans.add(id);
    let i = f.next;
    while (i < f.kids.length && f.kids[i].e > f.bound) i++;
    if (i < f.kids.length) {
      const pick = f.kids[i];
      if (pick.e < f.bound) push({ spanId: id, start: pick.e, end: f.bound });
      f.next = i + 1;
      f.bound = pick.s;
      stack.push(frame(pick));
    } else {
      if (f.node.s < f.bound || !owning.has(id)) {
        push({ spanId: id, start: f.node.s, end: Math.max(f.node.s, f.bound) });
      }
      stack.pop();
    }
  }
  return { sections, spans };
}

function pct(v, total) { return total > 0 ? (v / total) * 100 : 0; }

/** Axis ticks: `n` + 1 evenly spaced labels over [0, duration]. */
function axis(duration, n = 5) {
  return h('div', { class: 'wf-axis', 'aria-hidden': 'true' },
    h('div', { class: 'wf-name' }, 'Service & operation'),
    h('div', { class: 'wf-ticks' }, Array.from({ length: n + 1 }, (_, i) => h('span', {
      class: 'wf-tick', style: `left:${(i / n) * 100}%`,
    }, i === 0 ? '0' : fmtDurationMs((duration * i) / n)))));
}

/**
 * Height of one waterfall row in px at the default font size. The stylesheet sizes rows in
 * `em`, so a reader's larger minimum font size makes them taller: the tree measures a built
 * row and places rows by that height.
 */
export const ROW_PX = 25;
/** Rows built beyond each edge of the viewport, so a quick scroll shows no blank rows. */
const OVERSCAN = 30;

/**
 * Which of the rows `[0, count)` of a tree whose top is `top` px from the viewport's top
 * are built when the viewport is `height` px tall: the ones in view and `OVERSCAN` rows
 * beyond each edge, as `[first, end)`.
 */
export function rowWindow(top, height, count, rowPx = ROW_PX) {
  const from = Math.floor(-top / rowPx) - OVERSCAN;
  const to = Math.ceil((height - top) / rowPx) + OVERSCAN;
  const first = Math.max(0, Math.min(count, from));
  return [first, Math.max(first, Math.min(count, to))];
}

/**
 * The waterfall of `trace` as an ARIA tree. opts: {onSelect(span), critical (bool),
 * selected (span id)}. Returns {el, select(id, focus), setCritical(on), expandAll(),
 * collapseAll(), critical, destroy()}; `destroy` stops following the page's scrolling. Keyboard: Up/Down move, Home/End, Right expands or goes to the
 * first child, Left collapses or goes to the parent, Enter/Space select.
 *
 * Rows are built only near the viewport (see `rowWindow`): the tree is as tall as all its
 * shown rows, each row is placed at its position, and scrolling builds the rows that come
 * into view and drops those far out of it. A trace of tens of thousands of spans opens as
 * fast as a small one. The focused row is always kept (a collapse that hides it hands focus
 * to its nearest shown ancestor), so the tree is always reachable by Tab;
 * `aria-posinset`/`aria-setsize` tell assistive technology where a row sits among its
 * siblings, since not all of them are in the document.
 */
export function renderWaterfall(trace, opts = {}) {
  const total = trace.duration;
  const cp = criticalPath(trace);
  const collapsed = new Set();
  const built = new Map(); // span id -> its row, built once when first shown
  let shown = []; // the spans not under a collapsed one, in tree order
  const position = new Map(); // span id -> index in `shown`
  let current = null; // the span whose row takes focus (tabindex 0)
  let selected = null;
  const bySpan = new Map();
  for (const sec of cp.sections) {
    if (!bySpan.has(sec.spanId)) bySpan.set(sec.spanId, []);
    bySpan.get(sec.spanId).push(sec);
  }
  const tree = h('div', { class: 'wf-tree', role: 'tree', 'aria-label': 'Spans of the trace' });
  let rowPx = ROW_PX; // measured from a built row once the tree is in the page
  let measured = false;

  function build(s) {
    const left = pct(s.start, total);
    const width = pct(s.duration, total);
    const segs = (bySpan.get(s.id) || []).filter((x) => x.end > x.start).map((x) => h('span', {
      class: 'wf-cp',
      style: `left:${s.duration > 0 ? pct(x.start - s.start, s.duration) : 0}%;width:${s.duration > 0 ? pct(x.end - x.start, s.duration) : 100}%`,
    }));
    const durLabel = h('span', { class: 'wf-dur' }, fmtDurationMs(s.duration));
    if (left + width > 80) durLabel.style.right = `${100 - left + 0.5}%`; else durLabel.style.left = `calc(${left + width}% + 4px)`;
    const twisty = h('span', { class: 'wf-twisty', 'aria-hidden': 'true' }, s.children.length ? '▾' : '');
    const siblings = s.parent ? s.parent.children : trace.roots;
    const row = h('div', {
      class: `wf-row${s.error ? ' wf-error' : ''}`, role: 'treeitem', tabindex: '-1',
      'aria-level': String(s.depth + 1), 'aria-selected': 'false', 'data-span-id': s.id,
      'aria-setsize': String(siblings.length), 'aria-posinset': String(siblings.indexOf(s) + 1),
      'data-critical': cp.spans.has(s.id) ? 'true' : 'false',
    },
    h('div', { class: 'wf-name', style: `padding-left:${s.depth * 14 + 4}px` },
      twisty,
      h('span', { class: 'wf-swatch', style: `background:${s.color}`, 'aria-hidden': 'true' }),
      h('span', { class: 'wf-service' }, s.service),
      h('span', { class: 'wf-op' }, s.name),
      s.error ? h('span', { class: 'badge err wf-errmark', title: 'error' }, 'error') : null),
    h('div', { class: 'wf-timeline' },
      h('div', { class: 'wf-bar', style: `left:${left}%;width:max(2px, ${width}%);background:${s.color}` }, segs),
      durLabel));
    twisty.addEventListener('click', (e) => { e.stopPropagation(); toggle(s, !collapsed.has(s.id)); });
    row.addEventListener('click', () => select(s.id, true));
    built.set(s.id, row);
    return row;
  }

  /** A built row brought up to date with the tree's state and its place. */
  function refresh(s) {
    const row = built.get(s.id) || build(s);
    row.style.top = `${position.get(s.id) * rowPx}px`;
    row.tabIndex = s.id === current ? 0 : -1;
    row.setAttribute('aria-selected', String(s.id === selected));
    if (s.children.length) {
      const open = !collapsed.has(s.id);
      row.setAttribute('aria-expanded', String(open));
      row.querySelector('.wf-twisty').textContent = open ? '▾' : '▸';
    }
    return row;
  }

  /** The rows to show change: after a collapse or an expand. */
  function relist() {
    shown = [];
    position.clear();
    let under = -1; // depth of the collapsed span whose subtree is being skipped
    for (const s of trace.spans) {
      if (under >= 0 && s.depth > under) continue;
      under = collapsed.has(s.id) ? s.depth : -1;
      position.set(s.id, shown.length);
      shown.push(s);
    }
    // the row that takes focus went under a collapsed span: its nearest shown ancestor does
    let keep = trace.byId.get(current);
    while (keep && !position.has(keep.id)) keep = keep.parent;
    current = keep ? keep.id : shown[0].id;
    tree.style.height = `${shown.length * rowPx}px`;
    draw();
  }

  /** Builds the rows near the viewport (and the focused one) and drops the others. */
  function draw() {
    const top = tree.isConnected ? tree.getBoundingClientRect().top : 0;
    const [first, end] = rowWindow(top, window.innerHeight || 800, shown.length, rowPx);
    const want = shown.slice(first, end);
    const keep = current !== null && position.has(current) ? trace.byId.get(current) : null;
    if (keep && !want.includes(keep)) {
      want.push(keep);
      want.sort((x, y) => position.get(x.id) - position.get(y.id));
    }
    const wanted = new Set(want.map((s) => s.id));
    // drop first, so the rows that stay never move in the document (a moved row would lose
    // focus), then insert the new ones in tree order
    for (const row of [...tree.children]) if (!wanted.has(row.dataset.spanId)) row.remove();
    let next = tree.firstElementChild;
    for (const s of want) {
      const row = refresh(s);
      if (row === next) { next = next.nextElementSibling; continue; }
      tree.insertBefore(row, next);
    }
    if (!measured && tree.isConnected && tree.firstElementChild) {
      measured = true;
      const px = tree.firstElementChild.getBoundingClientRect().height;
      if (px > 0 && Math.abs(px - rowPx) > 0.5) { rowPx = px; relist(); }
    }
  }

  let pending = false;
  function onScroll(e) {
    if (e && e.type === 'resize') measured = false; // a zoom may change the row height
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => { pending = false; draw(); });
  }
  function destroy() {
    window.removeEventListener('resize', onScroll);
    document.removeEventListener('scroll', onScroll, true);
  }

  function toggle(s, collapse) {
    if (!s.children.length) return;
    if (collapse) collapsed.add(s.id); else collapsed.delete(s.id);
    relist();
  }
  function focusRow(id) {
    current = id;
    draw();
    // focusing scrolls the row into view, and the scroll builds the rows around it
    built.get(id).focus();
  }
  function select(id, focus) {
    const s = trace.byId.get(id);
    if (!s) return;
    // show it: expand its collapsed ancestors
    let opened = false;
    for (let p = s.parent; p; p = p.parent) if (collapsed.delete(p.id)) opened = true;
    selected = id;
    if (opened) relist();
    if (focus) focusRow(id); else { current = id; draw(); }
    opts.onSelect && opts.onSelect(s);
  }
  tree.addEventListener('keydown', (e) => {
    const id = current || trace.spans[0].id;
    const s = trace.byId.get(id);
    const i = position.get(id) ?? 0;
    let to = null;
    switch (e.key) {
      case 'ArrowDown': to = shown[Math.min(shown.length - 1, i + 1)]; break;
      case 'ArrowUp': to = shown[Math.max(0, i - 1)]; break;
      case 'Home': to = shown[0]; break;
      case 'End': to = shown[shown.length - 1]; break;
      case 'ArrowRight':
        if (s.children.length && collapsed.has(id)) toggle(s, false); else if (s.children.length) to = s.children[0];
        break;
      case 'ArrowLeft':
        if (s.children.length && !collapsed.has(id)) toggle(s, true); else if (s.parent) to = s.parent;
        break;
      case 'Enter': case ' ': select(id, true); break;
      default: return;
    }
    e.preventDefault();
    if (to) focusRow(to.id);
  });
  tree.addEventListener('focusin', (e) => {
    const row = e.target.closest('.wf-row');
    if (row) current = row.dataset.spanId;
  });
  const el = h('div', { class: 'waterfall' }, axis(total), tree);
  const setCritical = (on) => el.classList.toggle('wf-show-cp', !!on);
  setCritical(opts.critical !== false);
  current = opts.selected && trace.byId.get(opts.selected) ? opts.selected : trace.spans[0].id;
  relist();
  if (opts.selected && trace.byId.get(opts.selected)) select(opts.selected, false);
  window.addEventListener('resize', onScroll);
  document.addEventListener('scroll', onScroll, { capture: true, passive: true });
  // the caller puts `el` in the page after this returns: build for its real place then
  requestAnimationFrame(draw);
  return {
    el, critical: cp, select, setCritical, destroy,
    expandAll: () => { collapsed.clear(); relist(); },
    collapseAll: () => {
      for (const s of trace.spans) if (s.parent && s.children.length) collapsed.add(s.id);
      relist();
    },
  };
}

function kvTable(caption, list) {
  if (!list.length) return null;
  return h('table', { class: 'grid wf-kv' },
    h('caption', {}, caption),
    h('tbody', {}, list.map(([k, v]) => h('tr', {}, h('th', { scope: 'row' }, k), h('td', { class: 'mono' }, valueText(v))))));
}

/**
 * The details pane of `span`: fields, attributes, resource attributes, events with their
 * offsets, links to other traces, status. `href(traceId)` makes a trace link; `extra` are
 * nodes appended at the top (jump links).
 */
export function spanDetails(span, trace, { href, extra } = {}) {
  const abs = trace.startMs + span.start;
  const fields = [
    ['Service', span.service], ['Name', span.name], ['Kind', span.kind],
    ['Span ID', span.id], ['Parent ID', span.parentId || '(root)'], ['Trace ID', span.traceId],
    ['Start', `${fmtTime(abs)}.${String(Math.floor(abs % 1000)).padStart(3, '0')} (+${fmtDurationMs(span.start)})`],
    ['Duration', fmtDurationMs(span.duration)],
    ['Status', span.status.code], ['Status message', span.status.message],
  ];
  if (span.scope.name) fields.push(['Instrumentation', `${span.scope.name}${span.scope.version ? ` ${span.scope.version}` : ''}`]);
  const events = span.events.length ? h('section', {},
    h('h3', {}, `Events (${span.events.length})`),
    h('ol', { class: 'wf-events' }, span.events.map((e) => h('li', {},
      h('span', { class: 'wf-evoff mono' }, `+${fmtDurationMs(e.offset)}`), ' ',
      h('strong', {}, e.name),
      kvTable(`${e.name} attributes`, e.attributes))))) : null;
  const links = span.links.length ? h('section', {},
    h('h3', {}, `Links (${span.links.length})`),
    h('ul', { class: 'wf-links' }, span.links.map((l) => h('li', {},
      h('a', { href: href ? href(l.traceId) : `#/traces/${l.traceId}`, class: 'mono' }, `trace ${l.traceId}`),
      l.spanId ? h('span', { class: 'muted mono' }, ` span ${l.spanId}`) : null,
      kvTable('link attributes', l.attributes))))) : null;
  return h('div', { class: `wf-details${span.error ? ' wf-error' : ''}` },
    h('h2', {}, h('span', { class: 'wf-swatch', style: `background:${span.color}`, 'aria-hidden': 'true' }), `${span.service}: ${span.name}`),
    extra || null,
    h('table', { class: 'grid wf-kv wf-fields' }, h('caption', {}, 'Span'),
      h('tbody', {}, fields.filter(([, v]) => v !== '').map(([k, v]) => h('tr', {},
        h('th', { scope: 'row' }, k),
        h('td', { class: k.endsWith('ID') ? 'mono' : (k.startsWith('Status') && span.error ? 'error' : '') }, v))))),
    kvTable('Attributes', span.attributes),
    kvTable('Resource attributes', span.resource),
    events, links);
}
