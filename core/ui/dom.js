// Building the page without ever parsing markup: every string becomes a text node or an
// attribute value, so nothing an allocation writes can turn into HTML.

/** An element with properties (`class`, `text`, `on<event>`, attributes) and children. */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key === 'class') el.className = value;
    else if (key === 'text') el.textContent = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  add(el, children);
  return el;
}

/** Append children (nodes, strings, numbers, arrays of them; null and false are skipped). */
export function add(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

/** A fragment link to a view of this page. */
export const link = (parts, text, props = {}) =>
  h('a', { href: '#/' + parts.map(encodeURIComponent).join('/'), ...props }, text);

/** A message in the page (role=alert for errors, so screen readers hear it). */
export const notice = (message, kind = 'error') =>
  h('p', { class: `notice ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, message);

/** A table with a caption, header cells and rows of cells. */
export function table(caption, headers, rows, props = {}) {
  return h('table', props,
    h('caption', null, caption),
    h('thead', null, h('tr', null, headers.map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', null, rows.map((cells) => h('tr', null, cells.map((c) => h('td', null, c))))));
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** 1536 → "1.5 KiB". */
export function bytes(n) {
  let i = 0;
  while (n >= 1024 && i < UNITS.length - 1) { n /= 1024; i += 1; }
  return `${i ? n.toFixed(1) : n} ${UNITS[i]}`;
}

/** A status word as a badge (colour and text, never colour alone). */
export const badge = (status) => h('span', { class: `badge ${status}` }, status);

/** The local time of an RFC 3339 text or a Date, as HH:MM:SS or a full date. */
export function when(value, full = false) {
  if (!value) return '';
  const date = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  return full ? date.toLocaleString() : date.toLocaleTimeString([], { hour12: false });
}
