// A job's logs: every allocation's lines merged by arrival time (`GET /v1/job/:job_id/logs`;
// on a server every node's), followed live from ten minutes back. Each line carries its
// allocation and task, one colour per allocation; Pause, and filters by allocation and task.
// Allocations that appear or go are told as lines of their own.

import { decodeBase64, followFrames, query } from './api.js';
import { h, link } from './dom.js';
import { failure } from './session.js';

/** Lines kept in the page: the oldest go first. */
export const MAX_LINES = 5000;

const short = (id) => id.slice(0, 8);

/** The same hue for an allocation every time (FNV-1a of its id). */
export function hueOf(alloc) {
  let hash = 0x811c9dc5;
  for (let i = 0; i < alloc.length; i += 1) hash = Math.imul(hash ^ alloc.charCodeAt(i), 0x01000193) >>> 0;
  return (hash % 12) * 30;
}

export function jobLogsView(ctx, view, job, namespace) {
  const status = h('span', { class: 'log-status', role: 'status' }, 'Connecting…');
  const pause = h('button', { type: 'button', 'aria-pressed': 'false' }, 'Pause');
  const allocs = h('select', { 'aria-label': 'Allocation' }, h('option', { value: '' }, 'Every allocation'));
  const tasks = h('select', { 'aria-label': 'Task' }, h('option', { value: '' }, 'Every task'));
  const pane = h('div', { class: 'log job-log', role: 'log', tabindex: '0' });
  const errors = h('div');
  view.replaceChildren(
    h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, link([], 'Allocations'), ' / job ', h('span', { class: 'mono' }, job)),
    h('h1', null, 'Logs of job ', h('span', { class: 'mono' }, job)),
    h('div', { class: 'toolbar' }, pause, ' ', allocs, ' ', tasks, ' ', status),
    errors, pane);

  let queue = [];
  let paused = false;
  let drawing = false;
  let received = 0;
  const seen = { alloc: new Set(), task: new Set() };
  const decoders = new Map();

  const shown = (el) => (!allocs.value || el.dataset.alloc === allocs.value)
    && (!tasks.value || el.dataset.task === tasks.value);
  const refilter = () => { for (const el of pane.children) el.hidden = !shown(el); };
  allocs.addEventListener('change', refilter);
  tasks.addEventListener('change', refilter);
  pause.addEventListener('click', () => {
    paused = !paused;
    pause.textContent = paused ? 'Resume' : 'Pause';
    pause.setAttribute('aria-pressed', String(paused));
    tell();
    if (!paused) schedule();
  });

  function tell() {
    status.textContent = `${received} line${received === 1 ? '' : 's'}${paused ? ', paused' : ''}`;
  }

  function option(select, kind, value, label) {
    if (seen[kind].has(value)) return;
    seen[kind].add(value);
    select.append(h('option', { value }, label));
  }

  function schedule() {
    if (drawing || paused) return;
    drawing = true;
    requestAnimationFrame(draw);
  }

  // Once per frame: the queued lines as one fragment, the oldest beyond MAX_LINES removed.
  function draw() {
    drawing = false;
    if (paused || !queue.length) return;
    const atEnd = pane.scrollTop + pane.clientHeight >= pane.scrollHeight - 4;
    const fragment = document.createDocumentFragment();
    for (const line of queue.splice(0).slice(-MAX_LINES)) {
      const el = h('div', { class: line.cls, 'data-alloc': line.alloc, 'data-task': line.task });
      const tag = h('span', { class: 'who' }, line.who);
      tag.style.color = `hsl(${hueOf(line.alloc)} 70% 38%)`;
      el.append(tag, ' ', line.text);
      el.hidden = !shown(el);
      fragment.append(el);
    }
    pane.append(fragment);
    while (pane.childElementCount > MAX_LINES) pane.firstElementChild.remove();
    if (atEnd) pane.scrollTop = pane.scrollHeight;
  }

  function onFrame(frame) {
    if (!frame.Alloc) return;
    const alloc = frame.Alloc;
    option(allocs, 'alloc', alloc, short(alloc));
    if (frame.FileEvent) {
      const why = frame.Message ? `: ${frame.Message}` : '';
      queue.push({ alloc, task: '', who: short(alloc), text: `${frame.FileEvent}${why}`, cls: 'event' });
    } else {
      const task = frame.Task || '';
      option(tasks, 'task', task, task);
      // One decoder per allocation and output, so a character split across lines survives.
      const key = `${alloc} ${task} ${frame.Type}`;
      if (!decoders.has(key)) decoders.set(key, new TextDecoder());
      const text = decoders.get(key).decode(decodeBase64(frame.Data || ''), { stream: true }).replace(/\n$/, '');
      const stderr = frame.Type === 'stderr';
      queue.push({ alloc, task, who: `${short(alloc)} ${task}`, text, cls: stderr ? 'stderr' : '' });
      received += 1;
    }
    if (queue.length > MAX_LINES) queue = queue.slice(-MAX_LINES);
    tell();
    schedule();
  }

  const path = `/v1/job/${encodeURIComponent(job)}/logs${query({ namespace, follow: 'true', since: '10m' })}`;
  followFrames(path, ctx.signal, onFrame).then(() => {
    status.textContent = `${received} lines; the stream ended`;
  }, (err) => {
    if (err.name === 'AbortError') return;
    status.textContent = '';
    errors.replaceChildren(failure(err));
  });
  tell();
}
