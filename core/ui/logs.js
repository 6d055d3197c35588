// A task's log: its tail followed live, or its head; earlier lines loaded as the reader
// scrolls up and later ones (from the head) as they scroll down, by arrival time; reconnected
// from the last line after a cut. Every line comes from `fs/logs?timestamps=true` (stdout and
// stderr merged by arrival with `type=all`), so the backlog has its times as live lines do.

import { ApiError, decodeBase64, followFrames, query } from './api.js';
import { h, link, notice } from './dom.js';
import { LogPane, MAX_LINES, parseLine } from './logpane.js';
import { failure } from './session.js';

export { MAX_LINES };
/** Lines shown first from the end, and lines per page when scrolling. */
const TAIL = 1000;
const PAGE = 500;
/** Reconnect delays (ms) after a cut, the last one repeated. */
const BACKOFF = [500, 1000, 2000, 5000];

/** Read `path`'s frames as parsed lines, until `enough` of them say stop or the stream ends. */
async function readLines(path, signal, source, onLines) {
  const decoder = new TextDecoder();
  let carry = '';
  const stop = new AbortController();
  signal.addEventListener('abort', () => stop.abort());
  try {
    await followFrames(path, stop.signal, (frame) => {
      if (!frame.Data || stop.signal.aborted) return;
      const parts = (carry + decoder.decode(decodeBase64(frame.Data), { stream: true })).split('\n');
      carry = parts.pop();
      if (onLines(parts.map((p) => parseLine(p, source))) === false) stop.abort();
    });
  } catch (err) {
    if (!(err.name === 'AbortError' && !signal.aborted)) throw err;
  }
  if (carry && !stop.signal.aborted) onLines([parseLine(carry, source)]);
}

/** Lines that repeat the `same` already shown at time `t` (the edge of a page) are skipped. */
function skipSeen(lines, { t, same }, fromEnd) {
  const list = fromEnd ? [...lines].reverse() : lines;
  let n = 0;
  while (n < same && n < list.length && list[n].t === t) n += 1;
  const rest = list.slice(n);
  return fromEnd ? rest.reverse() : rest;
}

export function logsView(ctx, view, id, task, type) {
  const head = ctx.params.get('from') === 'head';
  const source = type === 'both' ? 'all' : type;
  const status = h('span', { class: 'log-status', role: 'status' }, 'Connecting…');
  const pane = new LogPane(status, { gutter: source === 'all', follows: !head });
  const errors = h('div');
  const url = (extra) => `/v1/client/fs/logs/${encodeURIComponent(id)}${query({ task, type: source, timestamps: 'true', ...extra })}`;
  let live = null; // the followed stream's controller
  let busy = false;
  let atStart = head;
  let atEnd = false;

  const pause = h('button', { type: 'button', 'aria-pressed': 'false' }, 'Pause');
  pause.addEventListener('click', () => {
    const paused = !pane.paused;
    pane.setPaused(paused);
    pause.textContent = paused ? 'Resume' : 'Pause';
    pause.setAttribute('aria-pressed', String(paused));
  });
  const newest = h('button', { type: 'button', hidden: head }, 'Newest');
  newest.addEventListener('click', () => {
    if (pane.detached) {
      restart();
      return;
    }
    pane.stick = true;
    pane.el.scrollTop = pane.el.scrollHeight;
  });
  const search = h('input', { type: 'search', placeholder: 'Filter', 'aria-label': 'Filter lines', spellcheck: 'false' });
  const only = h('input', { type: 'checkbox' });
  const refilter = () => pane.filter(search.value, only.checked);
  search.addEventListener('input', refilter);
  only.addEventListener('change', refilter);
  const here = (t, props = {}) => link(['alloc', id, 'logs', task, t], t, props);
  const modeLink = (name, from) => h('a', {
    href: `#/${['alloc', id, 'logs', task, type].map(encodeURIComponent).join('/')}${from ? `?from=${from}` : ''}`,
    'aria-current': (from === 'head') === head ? 'page' : null,
  }, name);
  view.replaceChildren(
    h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, link([], 'Allocations'), ' / ',
      link(['alloc', id], id.slice(0, 8), { class: 'mono' }), ' / ', `${task} logs`),
    h('h1', null, `${task} `, h('small', null, type)),
    h('div', { class: 'toolbar' },
      h('span', { class: 'links', role: 'group', 'aria-label': 'Output' }, ['stdout', 'stderr', 'both'].map((t) =>
        here(t, { 'aria-current': t === type ? 'page' : null }))),
      h('span', { class: 'links', role: 'group', 'aria-label': 'Where to start' }, modeLink('Tail', null), modeLink('Head', 'head')),
      pause, newest, search, h('label', { class: 'check' }, only, ' only matching'), status),
    errors, pane.el,
  );

  /** Lines before the first shown: the last PAGE up to its time, less those already shown. */
  async function earlier() {
    if (busy || atStart) return;
    const edge = pane.edge(false);
    if (!edge.t) return;
    busy = true;
    try {
      const lines = [];
      await readLines(url({ until: edge.t, lines: PAGE + edge.same }), ctx.signal, source, (got) => { lines.push(...got); });
      const fresh = skipSeen(lines, edge, true);
      if (fresh.length < PAGE) {
        atStart = true;
        fresh.unshift({ text: '— the start of the log —', kind: 'event', t: undefined });
      }
      pane.total += fresh.length;
      pane.prepend(fresh);
    } catch (err) {
      if (err.name !== 'AbortError') errors.replaceChildren(failure(err));
    } finally {
      busy = false;
    }
  }

  /** From the head: the next PAGE lines after the last shown. */
  async function later() {
    if (busy || atEnd) return;
    const edge = pane.edge(true);
    busy = true;
    try {
      const lines = [];
      const want = PAGE + edge.same;
      await readLines(url(edge.t ? { since: edge.t } : {}), ctx.signal, source, (got) => {
        lines.push(...got);
        return lines.length < want;
      });
      const fresh = skipSeen(lines.slice(0, want), edge, false);
      if (lines.length < want) {
        atEnd = true;
        fresh.push({ text: '— the end of the log: Tail follows it —', kind: 'event', t: undefined });
      }
      pane.total += fresh.length;
      pane.append(fresh);
    } catch (err) {
      if (err.name !== 'AbortError') errors.replaceChildren(failure(err));
    } finally {
      busy = false;
    }
  }

  /** Follow the end: the last TAIL lines first, or after a cut from the last line shown. */
  async function follow(attempt = 0) {
    live?.abort();
    const controller = new AbortController();
    ctx.signal.addEventListener('abort', () => controller.abort());
    live = controller;
    const edge = pane.edge(true);
    const resume = attempt > 0 && edge.t;
    let seen = resume ? { ...edge } : { same: 0 };
    const path = url(resume ? { follow: 'true', since: edge.t } : { follow: 'true', lines: TAIL });
    if (attempt > 0) status.textContent = 'Reconnecting…';
    let cut;
    try {
      await readLines(path, controller.signal, source, (lines) => {
        if (seen.same) {
          const fresh = skipSeen(lines, seen, false);
          seen = fresh.length || lines.some((l) => l.t !== seen.t) ? { same: 0 } : { ...seen, same: seen.same - lines.length };
          lines = fresh;
        }
        errors.replaceChildren();
        attempt = 0;
        pane.add(lines);
      });
      cut = new ApiError(0, 'the stream ended');
    } catch (err) {
      if (err.name === 'AbortError' || controller.signal.aborted) return;
      if (err.status && err.status !== 0) {
        errors.replaceChildren(failure(err));
        return;
      }
      cut = err;
    }
    if (controller !== live || ctx.signal.aborted) return;
    // Cut (the agent restarted, the network dropped, the stream ended): try again from the
    // last line shown, and let the reader try at once.
    const wait = BACKOFF[Math.min(attempt, BACKOFF.length - 1)];
    const retry = h('button', { type: 'button', onclick: () => { clearTimeout(timer); follow(attempt + 1); } }, 'Retry now');
    errors.replaceChildren(h('p', { class: 'notice info', role: 'status' },
      `The log stream was cut (${cut.text || cut.message}); reconnecting from the last line shown. `, retry));
    const timer = setTimeout(() => follow(attempt + 1), wait);
    ctx.onLeave(() => clearTimeout(timer));
  }

  function restart() {
    pane.el.replaceChildren();
    pane.detached = false;
    pane.held = 0;
    pane.stick = true;
    atStart = false;
    follow();
  }

  pane.el.addEventListener('scroll', () => {
    const { scrollTop, scrollHeight, clientHeight } = pane.el;
    if (scrollTop < clientHeight / 2) earlier();
    if (head && scrollHeight - scrollTop - clientHeight < clientHeight / 2) later();
  });
  ctx.onLeave(() => live?.abort());
  if (head) later();
  else follow();
  pane.flush();
}
