// The node: CPU and memory charts from /v1/client/stats, and its metadata, editable through
// POST /v1/client/metadata by a token that may write the node. On a server, any known node.

import { ApiError, getJSON, query, request } from './api.js';
import { Chart, every, percent } from './chart.js';
import { bytes, h, link, notice, table } from './dom.js';
import { failure } from './session.js';

export function nodeView(ctx, view, nodeId) {
  const picker = h('div');
  const chartError = h('div');
  const cpu = new Chart('CPU', percent);
  const memory = new Chart('Memory used', (v, max) => `${bytes(v)} of ${bytes(max)}`);
  const facts = h('p', { class: 'meta' });
  const meta = h('div');
  view.replaceChildren(
    h('h1', null, 'Node'), picker,
    h('section', { 'aria-labelledby': 'node-usage' }, h('h2', { id: 'node-usage' }, 'Resource usage'),
      chartError, h('div', { class: 'charts' }, cpu.el, memory.el), facts),
    h('section', { 'aria-labelledby': 'node-meta' }, h('h2', { id: 'node-meta' }, 'Metadata'), meta),
  );
  const nodeQuery = (extra = {}) => query({ node_id: nodeId, ...extra });

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

  const load = async () => {
    try {
      showMeta(await getJSON(`/v1/client/metadata${nodeQuery()}`, { signal: ctx.signal }));
    } catch (err) {
      if (err.name !== 'AbortError') meta.replaceChildren(failure(err));
    }
  };

  const apply = async (changes, message) => {
    const result = h('div', { class: 'result' });
    meta.querySelector('.result')?.replaceWith(result);
    try {
      const res = await request(`/v1/client/metadata${nodeQuery()}`, {
        method: 'POST', body: JSON.stringify({ Meta: changes }), signal: ctx.signal,
      });
      showMeta(await res.json());
      meta.querySelector('.result').replaceChildren(notice(message, 'ok'));
    } catch (err) {
      if (err.name === 'AbortError') return;
      const text = err instanceof ApiError && err.status === 403
        ? `${err.message} Writing metadata needs node:write.` : err.message;
      result.replaceChildren(notice(text));
    }
  };

  function showMeta(m) {
    const keys = Object.keys({ ...m.Static, ...m.Dynamic }).sort();
    const rows = keys.map((key) => {
      const dynamic = Object.hasOwn(m.Dynamic || {}, key);
      const shown = Object.hasOwn(m.Meta || {}, key);
      const value = shown ? m.Meta[key] : '(hidden)';
      const remove = h('button', {
        type: 'button', class: 'small', 'aria-label': `Remove ${key}`,
        onclick: () => apply({ [key]: null }, `Removed ${key}.`),
      }, 'Remove');
      return [h('span', { class: 'mono' }, key), h('span', { class: 'mono' }, value),
        dynamic ? 'dynamic' : 'static', shown ? remove : ''];
    });
    const keyInput = h('input', { id: 'meta-key', required: true, spellcheck: 'false', autocomplete: 'off' });
    const valueInput = h('input', { id: 'meta-value', spellcheck: 'false', autocomplete: 'off' });
    const form = h('form', { class: 'meta-form', 'aria-label': 'Set a metadata key' },
      h('label', { for: 'meta-key' }, 'Key'), keyInput,
      h('label', { for: 'meta-value' }, 'Value'), valueInput,
      h('button', { type: 'submit' }, 'Set'));
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const key = keyInput.value.trim();
      if (key) apply({ [key]: valueInput.value }, `Set ${key}.`);
    });
    meta.replaceChildren(table(`${keys.length} keys`, ['Key', 'Value', 'Source', ''], rows, { class: 'meta-table' }),
      form, h('div', { class: 'result' }));
  }
  load();
}
