// The node: CPU and memory charts from /v1/client/stats, and its metadata, editable through
// POST /v1/client/metadata by a token that may write the node. On a server, any known node.

import { getJSON, query } from './api.js';
import { Chart, every, percent } from './chart.js';
import { bytes, h, link } from './dom.js';
import { metadataSection } from './metadata.js';
import { failure } from './session.js';

/** Name, id, datacenter, pool, class, status, version and drivers of a node record. */
function describe(n) {
  const attrs = n.Attributes || {};
  const drivers = Object.keys(n.Drivers || {}).length ? Object.keys(n.Drivers).sort()
    : Object.keys(attrs).filter((k) => /^driver\.[^.]+$/.test(k)).map((k) => k.slice(7)).sort();
  const facts = [['Name', n.Name], ['ID', h('span', { class: 'mono' }, n.ID)], ['Datacenter', n.Datacenter],
    ['Node pool', n.NodePool], ['Class', n.NodeClass || '(none)'], ['Status', n.Status],
    ['Address', n.HTTPAddr], ['Version', attrs['nomad.version'] || n.Version],
    ['Drivers', drivers.length ? drivers.join(', ') : '(none reported)']];
  return h('dl', { class: 'facts node-facts' }, facts.map(([k, v]) => [h('dt', null, k), h('dd', null, v)]));
}

export function nodeView(ctx, view, nodeId) {
  const picker = h('div');
  const chartError = h('div');
  const cpu = new Chart('CPU', percent, `node:${nodeId || ''}:cpu`);
  const memory = new Chart('Memory used', (v, max) => `${bytes(v)} of ${bytes(max)}`, `node:${nodeId || ''}:memory`, (v) => bytes(v));
  const facts = h('p', { class: 'meta' });
  const about = h('div');
  view.replaceChildren(
    h('h1', null, 'Node'), picker, about,
    h('section', { 'aria-labelledby': 'node-usage' }, h('h2', { id: 'node-usage' }, 'Resource usage'),
      chartError, h('div', { class: 'charts' }, cpu.el, memory.el), facts),
  );
  const nodeQuery = (extra = {}) => query({ node_id: nodeId, ...extra });
  view.append(h('section', { 'aria-labelledby': 'node-meta' }, h('h2', { id: 'node-meta' }, 'Metadata'), metadataSection(ctx, nodeQuery)));

  // A server knows several nodes; a client only itself (and /v1/nodes needs node:read).
  getJSON('/v1/nodes', { signal: ctx.signal }).then(async (nodes) => {
    const here = nodes.find((n) => n.ID === nodeId) || (nodes.length === 1 ? nodes[0] : null);
    if (here) about.replaceChildren(describe(await getJSON(`/v1/node/${encodeURIComponent(here.ID)}`, { signal: ctx.signal })));
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
