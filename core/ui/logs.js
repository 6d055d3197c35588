// A task's log, followed live through fs/logs frames. Lines are collected as they arrive and
// drawn once per animation frame, and only the newest MAX_LINES stay in the page, so a task
// writing thousands of lines a second cannot freeze the tab.

import { decodeBase64, followFrames, query } from './api.js';
import { h, link, notice, when } from './dom.js';

export const MAX_LINES = 5000;
/** How much of the end of the log to show first. */
const TAIL = 64 * 1024;

class LogPane {
  constructor(status) {
    this.status = status;
    this.el = h('div', { class: 'log', role: 'log', tabindex: '0', 'aria-label': 'Log lines', 'aria-live': 'off' });
    this.pending = [];
    this.dropped = 0;
    this.total = 0;
    this.paused = false;
    this.stick = true; // keep the newest line in view until the reader scrolls up
    this.scheduled = false;
    this.el.addEventListener('scroll', () => {
      const { scrollTop, scrollHeight, clientHeight } = this.el;
      this.stick = scrollHeight - scrollTop - clientHeight < 8;
    });
  }

  /** Queue lines (`[text, source, time]`); drawn at the next frame. */
  add(lines) {
    this.total += lines.length;
    for (const line of lines) this.pending.push(line);
    if (this.pending.length > MAX_LINES) {
      this.dropped += this.pending.length - MAX_LINES;
      this.pending.splice(0, this.pending.length - MAX_LINES);
    }
    this.schedule();
  }

  schedule() {
    if (this.scheduled || this.paused) return;
    this.scheduled = true;
    requestAnimationFrame(() => this.flush());
  }

  flush() {
    this.scheduled = false;
    const batch = this.paused ? [] : this.pending;
    if (!this.paused) this.pending = [];
    if (batch.length) {
      const frag = document.createDocumentFragment();
      for (const [text, source, time] of batch) {
        const line = document.createElement('div');
        line.textContent = text;
        if (source !== 'stdout') line.className = source;
        if (time) line.setAttribute('data-t', time);
        frag.append(line);
      }
      this.el.append(frag);
      const excess = this.el.childElementCount - MAX_LINES;
      if (excess > 0) {
        const range = document.createRange();
        range.setStartBefore(this.el.firstElementChild);
        range.setEndBefore(this.el.children[excess]);
        range.deleteContents();
      }
      if (this.stick) this.el.scrollTop = this.el.scrollHeight;
    }
    this.el.setAttribute('data-lines', String(this.el.childElementCount));
    this.status.textContent = `${this.total} lines received, ${this.el.childElementCount} shown`
      + (this.dropped ? ` (${this.dropped} skipped to keep up)` : '')
      + (this.paused ? ', paused' : '');
  }

  setPaused(paused) {
    this.paused = paused;
    if (!paused) this.schedule();
    this.flush();
  }
}

/** Bytes of one file type (stdout or stderr) to lines, keeping a partial last line. */
class LineSplitter {
  constructor(source, pane) {
    this.source = source;
    this.pane = pane;
    this.decoder = new TextDecoder();
    this.carry = '';
    this.live = false; // lines are stamped once the backlog is read (the first heartbeat)
  }

  frame(frame) {
    if (frame.FileEvent) {
      this.flushCarry();
      this.pane.add([[`— ${frame.FileEvent}: ${frame.File || ''} —`, 'event', null]]);
      return;
    }
    if (!frame.Data) {
      this.live = true; // a heartbeat: caught up
      return;
    }
    const text = this.carry + this.decoder.decode(decodeBase64(frame.Data), { stream: true });
    const parts = text.split('\n');
    this.carry = parts.pop();
    const time = this.live ? when(new Date()) : null;
    this.pane.add(parts.map((p) => [p, this.source, time]));
  }

  flushCarry() {
    if (this.carry) this.pane.add([[this.carry, this.source, null]]);
    this.carry = '';
  }
}

export function logsView(ctx, view, id, task, type) {
  const status = h('span', { class: 'log-status', role: 'status' }, 'Connecting…');
  const pane = new LogPane(status);
  const errors = h('div');
  const pause = h('button', { type: 'button', 'aria-pressed': 'false' }, 'Pause');
  pause.addEventListener('click', () => {
    const paused = !pane.paused;
    pane.setPaused(paused);
    pause.textContent = paused ? 'Resume' : 'Pause';
    pause.setAttribute('aria-pressed', String(paused));
  });
  const bottom = h('button', { type: 'button', onclick: () => { pane.stick = true; pane.el.scrollTop = pane.el.scrollHeight; } }, 'Newest');
  view.replaceChildren(
    h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, link([], 'Allocations'), ' / ',
      link(['alloc', id], id.slice(0, 8), { class: 'mono' }), ' / ', `${task} logs`),
    h('h1', null, `${task} `, h('small', null, type)),
    h('div', { class: 'toolbar' },
      h('span', { class: 'links', role: 'group', 'aria-label': 'Output' }, ['stdout', 'stderr', 'both'].map((t) =>
        link(['alloc', id, 'logs', task, t], t, { 'aria-current': t === type ? 'page' : null }))),
      pause, bottom, status),
    errors, pane.el,
  );
  const sources = type === 'both' ? ['stdout', 'stderr'] : [type];
  for (const source of sources) {
    const splitter = new LineSplitter(source, pane);
    const path = `/v1/client/fs/logs/${encodeURIComponent(id)}${query({ task, type: source, follow: 'true', origin: 'end', offset: TAIL })}`;
    followFrames(path, ctx.signal, (frame) => splitter.frame(frame))
      .then(() => {
        splitter.flushCarry();
        errors.append(notice(`The ${source} stream ended.`, 'info'));
      })
      .catch((err) => {
        if (err.name !== 'AbortError') errors.append(notice(`${source}: ${err.message}`));
      });
  }
  pane.flush();
}
