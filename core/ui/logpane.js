// The lines of a log in the page: drawn once per animation frame, at most MAX_LINES kept, the
// reader's place kept while lines are added above or below or trimmed, a filter that marks
// its matches, and each line's arrival time and (merged) its output in a text gutter.

import { h } from './dom.js';

export const MAX_LINES = 5000;

const STAMP = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z) /;
const SOURCE = /^(stdout|stderr): /;

/**
 * One line of `fs/logs?timestamps=true` (`type=all` adds `stdout: `/`stderr: `) as
 * `{ text, source, t }`; `t` is the arrival time as sent (fixed width, so it sorts as text),
 * null for a line written before the agent kept times.
 */
export function parseLine(raw, source) {
  let t = null;
  let text = raw;
  const stamp = STAMP.exec(text);
  if (stamp) {
    t = stamp[1];
    text = text.slice(stamp[0].length);
  }
  if (source === 'all') {
    const tagged = SOURCE.exec(text);
    source = tagged ? tagged[1] : 'stdout';
    if (tagged) text = text.slice(tagged[0].length);
  }
  return { text, source, t };
}

let lastStamp = '';
let lastShown = '';
/** HH:MM:SS.mmm in local time (one Date per distinct stamp: a burst shares one). */
function clock(t) {
  if (t !== lastStamp) {
    const d = new Date(`${t.slice(0, 23)}Z`);
    const two = (n) => String(n).padStart(2, '0');
    lastShown = `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, '0')}`;
    lastStamp = t;
  }
  return lastShown;
}

export class LogPane {
  /** `gutter`: show each line's output (merged logs); `follows`: keep to the newest line. */
  constructor(status, { gutter = false, follows = true } = {}) {
    this.status = status;
    this.gutter = gutter;
    this.follows = follows;
    this.el = h('div', { class: 'log', role: 'log', tabindex: '0', 'aria-label': 'Log lines', 'aria-live': 'off' });
    this.pending = [];
    this.dropped = 0;
    this.total = 0;
    this.held = 0; // live lines not drawn because the page no longer reaches the newest
    this.paused = false;
    this.detached = false;
    this.stick = follows; // keep the newest line in view until the reader scrolls up
    this.scheduled = false;
    this.term = '';
    this.el.addEventListener('scroll', () => {
      const { scrollTop, scrollHeight, clientHeight } = this.el;
      this.stick = this.follows && !this.detached && scrollHeight - scrollTop - clientHeight < 8;
    });
  }

  /** Queue live lines; drawn at the next frame. */
  add(lines) {
    this.total += lines.length;
    if (this.detached) {
      this.held += lines.length;
      this.report();
      return;
    }
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
    if (!this.paused && this.pending.length) {
      const batch = this.pending;
      this.pending = [];
      this.append(batch);
    }
    this.report();
  }

  /** Lines below the last one (live, or a later page); the oldest trimmed, the place kept. */
  append(lines) {
    this.keepPlace(() => {
      this.el.append(this.fragment(lines));
      const excess = this.el.childElementCount - MAX_LINES;
      // Scrolled up, only lines above what the reader sees go.
      const room = this.stick ? excess : Math.min(excess, this.firstVisible() - 1);
      if (room > 0) this.remove(0, room);
      // A reader who stays up there: newer lines wait (counted) until they ask for the newest.
      if (this.el.childElementCount > 2 * MAX_LINES) this.detached = true;
    });
    if (this.stick) this.el.scrollTop = this.el.scrollHeight;
    this.report();
  }

  /** Earlier lines above the first one; past MAX_LINES the newest go (and live lines wait). */
  prepend(lines) {
    this.keepPlace(() => {
      this.el.prepend(this.fragment(lines));
      const excess = this.el.childElementCount - MAX_LINES;
      if (excess > 0) {
        const keep = Math.max(MAX_LINES, this.firstVisible() + Math.ceil(this.el.clientHeight / 10));
        const count = this.el.childElementCount;
        if (count > keep) {
          this.remove(keep, count);
          this.detached = true;
          this.stick = false;
        }
      }
    });
    this.report();
  }

  fragment(lines) {
    const frag = document.createDocumentFragment();
    for (const line of lines) frag.append(this.lineElement(line));
    return frag;
  }

  lineElement({ text, source, t, kind }) {
    const el = document.createElement('div');
    el.t = t;
    if (kind) el.className = kind;
    else if (source === 'stderr') el.className = 'stderr';
    if (t) el.setAttribute('data-t', clock(t));
    if (this.gutter && !kind) el.setAttribute('data-g', source === 'stderr' ? 'err' : 'out');
    this.mark(el, text);
    return el;
  }

  /** The line's text, its matches of the filter in <mark>. */
  mark(el, text) {
    el.replaceChildren();
    const term = this.term;
    const lower = term ? text.toLowerCase() : '';
    let at = term ? lower.indexOf(term) : -1;
    el.classList.toggle('hit', at >= 0);
    if (at < 0) {
      el.textContent = text;
      return;
    }
    let from = 0;
    while (at >= 0) {
      if (at > from) el.append(text.slice(from, at));
      el.append(h('mark', null, text.slice(at, at + term.length)));
      from = at + term.length;
      at = lower.indexOf(term, from);
    }
    if (from < text.length) el.append(text.slice(from));
  }

  /** Mark `term` (case-insensitive) in every line; `only` hides the others. */
  filter(term, only) {
    this.term = term.toLowerCase();
    this.el.classList.toggle('only', Boolean(term) && only);
    this.keepPlace(() => {
      for (const el of this.el.children) if (!el.classList.contains('event')) this.mark(el, el.textContent);
    });
    this.report();
  }

  /** Run `change`, then scroll so that the line first in view before stays where it was. */
  keepPlace(change) {
    if (this.stick || !this.el.firstElementChild) {
      change();
      return;
    }
    const anchor = this.el.children[this.firstVisible()];
    const before = anchor.offsetTop - this.el.scrollTop;
    change();
    if (anchor.isConnected) this.el.scrollTop = anchor.offsetTop - before;
  }

  /** The index of the first line at least partly in view. */
  firstVisible() {
    const lines = this.el.children;
    const top = this.el.scrollTop;
    let lo = 0;
    let hi = lines.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (lines[mid].offsetTop + lines[mid].offsetHeight <= top) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  remove(from, to) {
    const range = document.createRange();
    range.setStartBefore(this.el.children[from]);
    if (to >= this.el.childElementCount) range.setEndAfter(this.el.lastElementChild);
    else range.setEndBefore(this.el.children[to]);
    range.deleteContents();
  }

  /** The time of the first or last timed line, and how many lines at its edge share it. */
  edge(last) {
    const lines = [...this.el.children].filter((el) => el.t !== undefined && el.className !== 'event');
    if (last) lines.reverse();
    const t = lines.length ? lines[0].t : null;
    let same = 0;
    while (t && same < lines.length && lines[same].t === t) same += 1;
    return { t, same };
  }

  setPaused(paused) {
    this.paused = paused;
    if (!paused) this.schedule();
    this.flush();
  }

  report() {
    const count = this.el.childElementCount;
    const hits = this.term ? this.el.querySelectorAll('.hit').length : 0;
    this.el.setAttribute('data-lines', String(count));
    this.status.textContent = `${this.total} lines received, ${count} shown`
      + (this.term ? `, ${hits} matching` : '')
      + (this.dropped ? ` (${this.dropped} skipped to keep up)` : '')
      + (this.held ? `, ${this.held} newer not shown` : '')
      + (this.paused ? ', paused' : '');
  }
}
