// The file browser of one allocation: directories through fs/ls, files through fs/stat and
// then fs/cat (small text), fs/readat (a window of a big text file) or a download (binary).
// Contents only ever reach the page as textContent.

import { getJSON, query, request } from './api.js';
import { bytes, h, link, notice, table, when } from './dom.js';
import { failure } from './session.js';

/** Text files up to this size are shown whole; bigger ones a window at a time. */
const WHOLE = 256 * 1024;
const WINDOW = 64 * 1024;

const TEXT = /^(text\/|application\/(json|xml|javascript|x-sh)|image\/svg\+xml)/;

const parentOf = (path) => path.split('/').slice(0, -1).join('/');

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
      body.replaceChildren(table(`${entries.length} entries`, ['Name', 'Size', 'Mode', 'Modified'], rows, { class: 'files' }));
      return;
    }
    const type = info.ContentType || 'application/octet-stream';
    const facts = h('p', { class: 'meta' }, `${bytes(info.Size)} · ${type} · ${info.FileMode} · modified ${when(info.ModTime, true)} `,
      h('button', { type: 'button', onclick: () => download(fs('cat'), info.Name, body) }, 'Download'));
    if (!TEXT.test(type)) {
      body.replaceChildren(facts, notice('Binary file: not shown. Use Download to save it.', 'info'));
      return;
    }
    const pre = h('pre', { class: 'content', tabindex: '0', 'aria-label': `Contents of ${info.Name}` });
    if (info.Size <= WHOLE) {
      pre.textContent = await (await request(fs('cat'), { signal: ctx.signal })).text();
      body.replaceChildren(facts, pre);
      return;
    }
    // A big file: a window of it through readat, the end first (where logs grow).
    const pager = h('p', { class: 'pager' });
    const show = async (offset) => {
      offset = Math.max(0, Math.min(offset, info.Size - WINDOW));
      const res = await request(fs('readat', { offset, limit: WINDOW }), { signal: ctx.signal });
      pre.textContent = await res.text();
      pager.replaceChildren(
        h('button', { type: 'button', disabled: offset === 0, onclick: () => show(offset - WINDOW) }, 'Earlier'),
        ` bytes ${offset}–${offset + WINDOW} of ${info.Size} `,
        h('button', { type: 'button', disabled: offset + WINDOW >= info.Size, onclick: () => show(offset + WINDOW) }, 'Later'));
    };
    body.replaceChildren(facts, pager, pre);
    await show(info.Size - WINDOW);
  } catch (err) {
    if (err.name !== 'AbortError') body.replaceChildren(failure(err));
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
    body.prepend(failure(err));
  }
}
