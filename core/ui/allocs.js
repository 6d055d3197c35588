// Allocations: the list (every node's, on a server) and one allocation with its tasks and
// resource charts.

import { getJSON, query } from './api.js';
import { Chart, every, percent } from './chart.js';
import { badge, bytes, h, link, notice, table, when } from './dom.js';
import { failure } from './session.js';

const short = (id) => id.slice(0, 8);

function taskList(alloc) {
  const names = Object.keys(alloc.TaskStates || {}).sort();
  return h('ul', { class: 'tasks' }, names.map((name) => {
    const state = alloc.TaskStates[name];
    return h('li', null, name, ' ', badge(state.Failed ? 'failed' : state.State));
  }));
}

/** Bytes of memory the allocation reserves (Nomad's AllocatedResources, or the older
 * Resources), 0 when its record says nothing. */
function reservation(a) {
  const tasks = Object.values(a.AllocatedResources?.Tasks || {});
  const mb = tasks.length ? tasks.reduce((sum, t) => sum + (t.Memory?.MemoryMB || 0), 0) : (a.Resources?.MemoryMB || 0);
  return mb * 1024 * 1024;
}

export function allocationsView(ctx, view) {
  const body = h('div');
  view.replaceChildren(h('h1', null, 'Allocations'), body);
  every(ctx, 3, async () => {
    const allocs = await getJSON(`/v1/allocations${query({ namespace: '*' })}`, { signal: ctx.signal });
    if (!allocs.length) {
      body.replaceChildren(notice('No allocations on this agent.', 'info'));
      return;
    }
    body.replaceChildren(table(`${allocs.length} allocation${allocs.length === 1 ? '' : 's'}`,
      ['ID', 'Job', 'Group', 'Namespace', 'Node', 'Status', 'Tasks'],
      allocs.map((a) => [
        link(['alloc', a.ID], short(a.ID), { title: a.ID, class: 'mono' }),
        h('a', { href: `#/job/${encodeURIComponent(a.JobID)}/logs${query({ namespace: a.Namespace })}`, title: `Logs of every allocation of job ${a.JobID}` }, a.JobID),
        a.TaskGroup, a.Namespace, a.NodeName || short(a.NodeID || ''),
        badge(a.ClientStatus), taskList(a),
      ]), { class: 'allocs' }));
  }, (err) => err && body.replaceChildren(failure(err)));
}

export function allocationView(ctx, view, id) {
  const summary = h('div');
  const cpu = new Chart('CPU', percent, `alloc:${id}:cpu`);
  // Against the allocation's memory reservation when its record has one, else its peak.
  let reserved = 0;
  const memory = new Chart('Memory (RSS)', (v, max) => (reserved ? `${bytes(v)} of ${bytes(max)} reserved` : bytes(v)),
    `alloc:${id}:memory`, (v) => bytes(v));
  const chartError = h('div');
  view.replaceChildren(
    h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, link([], 'Allocations'), ' / ', h('span', { class: 'mono' }, id)),
    h('h1', null, 'Allocation ', h('span', { class: 'mono' }, short(id))),
    summary,
    h('section', { 'aria-labelledby': 'usage' }, h('h2', { id: 'usage' }, 'Resource usage'),
      chartError, h('div', { class: 'charts' }, cpu.el, memory.el)),
  );
  every(ctx, 3, async () => {
    const a = await getJSON(`/v1/allocation/${encodeURIComponent(id)}`, { signal: ctx.signal });
    const tasks = Object.keys(a.TaskStates || {}).sort();
    reserved = reservation(a);
    summary.replaceChildren(
      h('dl', { class: 'facts' },
        h('dt', null, 'Status'), h('dd', null, badge(a.ClientStatus)),
        h('dt', null, 'Job'), h('dd', null, `${a.JobID} / ${a.TaskGroup}`),
        h('dt', null, 'Namespace'), h('dd', null, a.Namespace),
        h('dt', null, 'Node'), h('dd', null, a.NodeName || a.NodeID)),
      h('p', null, link(['alloc', id, 'files', ''], 'Browse files', { class: 'button' })),
      table('Tasks', ['Task', 'State', 'Started', 'Finished', 'Logs'], tasks.map((name) => {
        const t = a.TaskStates[name];
        return [name, badge(t.Failed ? 'failed' : t.State), when(t.StartedAt, true), when(t.FinishedAt, true),
          h('span', { class: 'links' }, ['stdout', 'stderr', 'both'].map((type) =>
            link(['alloc', id, 'logs', name, type], type, { 'aria-label': `${name} ${type}` })))];
      }), { class: 'task-table' }),
    );
  }, (err) => err && summary.replaceChildren(failure(err)));
  every(ctx, 1, async () => {
    const usage = await getJSON(`/v1/client/allocation/${encodeURIComponent(id)}/stats`, { signal: ctx.signal });
    const r = usage.ResourceUsage || {};
    cpu.push(r.CpuStats?.Percent ?? 0, 0);
    memory.push(r.MemoryStats?.RSS ?? 0, reserved);
  }, (err) => chartError.replaceChildren(err ? failure(err) : ''));
}
