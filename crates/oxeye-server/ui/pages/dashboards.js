// Dashboards page.

import { h } from '../lib/dom.js';

export async function mount(root) {
  root.append(h('h1', {}, 'Dashboards'));
}
