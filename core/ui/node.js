// The node: CPU and memory charts from /v1/client/stats, and its metadata, editable through
// POST /v1/client/metadata by a token that may write the node. On a server, any known node.

import { getJSON, query } from './api.js';
import { Chart, every, percent } from './chart.js';
import { bytes, h, link } from './dom.js';
import { metadataSection } from './metadata.js';
import { failure } from './session.js';

export function nodeView(ctx, view, nodeId) {
  const picker = h('div');
  const chartError = h('div');
  const cpu = new Chart('CPU', percent);
  const memory = new Chart('Memory used', (v, max) => `${bytes(v)} of ${bytes(max)}`);
  const facts = h('p', { class: 'meta' });
  view.replaceChildren(
    h('h1', null, 'Node'), picker,
    h('section', { 'aria-labelledby': 'node-usage' }, h('h2', { id: 'node-usage' }, 'Resource usage'),
      chartError, h('div', { class: 'charts' }, cpu.el, memory.el), facts),
  );
  const nodeQuery = (extra = {}) => query({ node_id: nodeId, ...extra });
  view.append(h('section', { 'aria-labelledby': 'node-meta' }, h('h2', { id: 'node-meta' }, 'Metadata'), metadataSection(ctx, nodeQuery)));

  // A server knows several nodes; a client only itself (and /v1/nodes needs node:read).
  getJSON('/v1/nodes', { signal: ctx.signal }).then((nodes) => {
    if (nodes.length < 2) return;
    picker.replaceChildren(h('nav', { class: 'links', 'aria-label': 'Nodes' }, 'Node: ', nodes.map((n) =>
      link(['node', n.ID], `${n.Name} (${n.ID.slice(0, 8)}, ${n.Status})`,
        { 'aria-current': n.ID === nodeId ? 'page' : null }))));
  }).catch(() => {});

  every(ctx, 1, async () => {
    const s = await getJSON(`/v1/client/stats${nodeQuery()}`, { signal: ctx.signal });
    const cpus = s.CPU || [];
    const busy = cpus.length ? cpus.reduce((sum, c) => sum + c.TotalPercent, 0) / cpus.length : 0;
    cpu.push(busy, 100);
    memory.push(s.Memory?.Used ?? 0, s.Memory?.Total ?? 0);
    facts.textContent = `${cpus.length} CPUs · up ${Math.floor((s.Uptime || 0) / 3600)} h`
      + (s.AllocDirStats ? ` · alloc dir ${s.AllocDirStats.UsedPercent.toFixed(1)} % used` : '');
  }, (err) => chartError.replaceChildren(err ? failure(err) : ''));
}
