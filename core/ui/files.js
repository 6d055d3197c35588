// The file browser of one allocation: directories through fs/ls, files through fs/stat and
// then fs/readat, a window at a time (a binary file only as a download). A window starts and
// ends on whole lines; its offset is in the URL (`?offset=N`), so a reload or a shared link
// shows the same bytes. Contents only ever reach the page as textContent.

import { followFrames, getJSON, query, request, decodeBase64 } from './api.js';
import { bytes, h, link, notice, table, when } from './dom.js';
import { failure } from './session.js';

/** Text files up to this size are shown whole; bigger ones a window at a time. */
const WHOLE = 256 * 1024;
const WINDOW = 64 * 1024;
/** How much a followed file keeps in the page. */
const KEEP = 4 * WINDOW;

const TEXT = /^(text\/|application\/(json|xml|javascript|x-sh)|image\/svg\+xml)/;
/** `alloc/logs/TASK.TYPE.N`: a task's log file, which has a live view. */
const LOG_FILE = /^alloc\/logs\/(.+)\.(stdout|stderr)\.\d+$/;
/** Files read from their end. */
const LOGS = /^alloc\/logs\/|\.(log|stdout|stderr)(\.\d+)?$/;

const parentOf = (path) => path.split('/').slice(0, -1).join('/');
const NEWLINE = 10;

function crumbs(id, path) {
  const parts = path ? path.split('/') : [];
  const out = [link([], 'Allocations'), ' / ', link(['alloc', id], id.slice(0, 8), { class: 'mono' }), ' / ',
    link(['alloc', id, 'files', ''], 'files')];
  parts.forEach((part, i) => {
    const here = parts.slice(0, i + 1).join('/');
    out.push(' / ', i === parts.length - 1 ? h('span', { 'aria-current': 'page' }, part) : link(['alloc', id, 'files', here], part));
  });
  return h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, out);
}

export async function filesView(ctx, view, id, path) {
  const body = h('div');
  view.replaceChildren(crumbs(id, path), h('h1', null, path ? `/${path}` : 'Files'), body);
  const q = (extra) => query({ path: `/${path}`, ...extra });
  const fs = (op, extra) => `/v1/client/fs/${op}/${encodeURIComponent(id)}${q(extra)}`;
  try {
    const info = await getJSON(fs('stat'), { signal: ctx.signal });
    if (info.IsDir) {
      const entries = await getJSON(fs('ls'), { signal: ctx.signal });
      entries.sort((a, b) => (b.IsDir - a.IsDir) || a.Name.localeCompare(b.Name));
      const rows = entries.map((e) => {
        const child = path ? `${path}/${e.Name}` : e.Name;
        return [link(['alloc', id, 'files', child], e.IsDir ? `${e.Name}/` : e.Name, { class: e.IsDir ? 'dir' : 'file' }),
          e.IsDir ? '' : bytes(e.Size), h('span', { class: 'mono' }, e.FileMode), when(e.ModTime, true)];
      });
      if (path) rows.unshift([link(['alloc', id, 'files', parentOf(path)], '../', { class: 'dir' }), '', '', '']);
      body.replaceChildren(h('div', { class: 'scroll' },
        table(`${entries.length} entries`, ['Name', 'Size', 'Mode', 'Modified'], rows, { class: 'files' })));
      return;
    }
    const type = info.ContentType || 'application/octet-stream';
    const live = LOG_FILE.exec(path);
    const facts = h('p', { class: 'meta' }, `${bytes(info.Size)} · ${type} · ${info.FileMode} · modified ${when(info.ModTime, true)} `,
      h('button', { type: 'button', onclick: () => download(fs('cat'), info.Name, body) }, 'Download'),
      live && [' ', link(['alloc', id, 'logs', live[1], live[2]], `Live ${live[2]} of ${live[1]}`, { class: 'button' })]);
    if (!TEXT.test(type)) {
      body.replaceChildren(facts, notice('Binary file: not shown. Use Download to save it.', 'info'));
      return;
    }
    const pager = new Pager(ctx, fs, info.Size, path);
    body.replaceChildren(facts, pager.bar, pager.pre);
    // Opened afresh, a log or a big file shows its end (where it grows); a link's offset wins.
    const asked = ctx.params.get('offset');
    const atEnd = asked === null && (info.Size > WHOLE || LOGS.test(path));
    await pager.show(asked === null ? Math.max(0, info.Size - pager.window) : Number(asked) || 0, atEnd);
  } catch (err) {
    if (err.name !== 'AbortError') body.replaceChildren(failure(err));
  }
}

/** A window of a text file: First, Earlier, Later, Last, Follow; the range shown is exact. */
class Pager {
  constructor(ctx, fs, size, path) {
    Object.assign(this, { ctx, fs, size, path, start: 0, end: 0, following: null });
    this.window = size <= WHOLE ? WHOLE : WINDOW;
    this.pre = h('pre', { class: 'content', tabindex: '0', 'aria-label': `Contents of ${path}` });
    this.label = h('span', { class: 'range', role: 'status' });
    const button = (text, onclick) => h('button', { type: 'button', onclick }, text);
    this.first = button('First', () => this.show(0));
    this.earlier = button('Earlier', () => this.show(Math.max(0, this.start - this.window)));
    this.later = button('Later', () => this.show(this.end));
    this.last = button('Last', () => this.show(Math.max(0, this.size - this.window), true));
    this.follow = h('button', { type: 'button', 'aria-pressed': 'false', onclick: () => this.toggleFollow() }, 'Follow');
    this.bar = h('p', { class: 'pager' }, this.first, this.earlier, this.label, this.later, this.last, this.follow);
    ctx.onLeave(() => this.following?.abort());
  }

  /** Show the whole lines of [offset, offset + window); `atEnd` scrolls to the last line. */
  async show(offset, atEnd = false) {
    this.stopFollowing();
    const stat = await getJSON(this.fs('stat'), { signal: this.ctx.signal });
    this.size = stat.Size;
    offset = Math.max(0, Math.min(offset, this.size));
    // One byte before the window too: whether `offset` starts a line.
    const base = Math.max(0, offset - 1);
    const limit = Math.min(this.window + offset - base, this.size - base);
    const data = limit > 0
      ? new Uint8Array(await (await request(this.fs('readat', { offset: base, limit }), { signal: this.ctx.signal })).arrayBuffer())
      : new Uint8Array();
    // Whole lines only: the window begins after the first newline at or after `offset - 1`
    // and, short of the file's end, ends after its last newline (a window without any newline,
    // part of one long line, is shown as it is).
    let from = offset - base;
    let to = data.length;
    const first = data.indexOf(NEWLINE);
    const last = data.lastIndexOf(NEWLINE);
    if (first >= 0) {
      if (offset > 0) from = first + 1;
      if (base + data.length < this.size && last >= from) to = last + 1;
    }
    this.start = base + from;
    this.end = base + to;
    this.pre.textContent = new TextDecoder().decode(data.subarray(from, to));
    this.update();
    this.pre.scrollTop = atEnd ? this.pre.scrollHeight : 0;
  }

  /** The range label, the buttons that can move, and the offset in the URL. */
  update() {
    this.label.textContent = this.start === this.end ? ` empty (${this.size} bytes) `
      : ` bytes ${this.start}–${this.end - 1} of ${this.size} `;
    this.first.disabled = this.earlier.disabled = this.start === 0;
    this.later.disabled = this.last.disabled = this.end >= this.size;
    // The whole file needs no offset: opened again, it shows the same.
    const whole = this.start === 0 && this.end >= this.size;
    const [route] = location.hash.split('?');
    history.replaceState(null, '', whole ? route : `${route}?offset=${this.start}`);
  }

  async toggleFollow() {
    if (this.following) {
      this.stopFollowing();
      return;
    }
    await this.show(Math.max(0, this.size - this.window), true);
    const following = new AbortController();
    this.ctx.signal.addEventListener('abort', () => following.abort());
    this.following = following;
    this.follow.setAttribute('aria-pressed', 'true');
    this.follow.textContent = 'Following…';
    this.update();
    const decoder = new TextDecoder();
    followFrames(this.fs('stream', { offset: this.end, origin: 'start' }), following.signal, (frame) => {
      if (!frame.Data) return;
      const chunk = decodeBase64(frame.Data);
      const stick = this.pre.scrollHeight - this.pre.scrollTop - this.pre.clientHeight < 8;
      this.pre.append(decoder.decode(chunk, { stream: true }));
      this.end += chunk.length;
      this.size = Math.max(this.size, this.end);
      this.trim();
      this.update();
      if (stick) this.pre.scrollTop = this.pre.scrollHeight;
    }).catch((err) => {
      if (err.name !== 'AbortError') this.pre.after(failure(err));
    }).finally(() => this.stopFollowing(following));
  }

  /** A followed file keeps its last KEEP bytes in the page, cut on a line. */
  trim() {
    if (this.end - this.start <= KEEP) return;
    const text = this.pre.textContent;
    const encoded = new TextEncoder().encode(text);
    const cut = encoded.indexOf(NEWLINE, encoded.length - KEEP);
    if (cut < 0) return;
    this.pre.textContent = new TextDecoder().decode(encoded.subarray(cut + 1));
    this.start += cut + 1;
  }

  stopFollowing(which = this.following) {
    if (!which || which !== this.following) return;
    this.following.abort();
    this.following = null;
    this.follow.setAttribute('aria-pressed', 'false');
    this.follow.textContent = 'Follow';
  }
}

/** Fetch with the token and hand the bytes to the browser as a download (never rendered). */
async function download(path, name, body) {
  try {
    const blob = await (await request(path)).blob();
    const url = URL.createObjectURL(new Blob([blob], { type: 'application/octet-stream' }));
    const a = h('a', { href: url, download: name, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (err) {
    body.prepend(notice(err.message));
  }
}
