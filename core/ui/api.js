// The agent's HTTP API as the page uses it: the token from session storage in
// X-Nomad-Token, errors as plain sentences, and Nomad's framed streams.

const KEY = 'caravan.token';

/**
 * The ACL token: the tab's (session storage, gone when the tab closes), or the browser's
 * (local storage) only when the reader asked to be remembered.
 */
export const token = {
  get: () => sessionStorage.getItem(KEY) || localStorage.getItem(KEY) || '',
  remembered: () => Boolean(localStorage.getItem(KEY)),
  set(value, remember = false) {
    if (value) sessionStorage.setItem(KEY, value);
    else sessionStorage.removeItem(KEY);
    if (value && remember) localStorage.setItem(KEY, value);
    else localStorage.removeItem(KEY);
  },
};

/**
 * Whose token is in use: `{ acl: false }` when the agent runs without ACLs, else
 * `{ acl: true, self }` with the token's `/v1/acl/token/self` (null when anonymous or refused,
 * with `error` saying why).
 */
export async function whoAmI(signal) {
  try {
    return { acl: true, self: await getJSON('/v1/acl/token/self', { signal }) };
  } catch (err) {
    if (err.status === 400) return { acl: false };
    if (err.status === 403) return { acl: true, self: null, error: err.text };
    throw err;
  }
}

/** A refused or failed request, with a sentence fit for the page. */
export class ApiError extends Error {
  constructor(status, text) {
    super(explain(status, text));
    this.status = status;
    this.text = text;
  }
}

function explain(status, text) {
  const detail = text && text !== 'Permission denied' ? ` (${text})` : '';
  if (status === 403) {
    return token.get()
      ? `Permission denied${detail}: the ACL token in use may not do this.`
      : `Permission denied${detail}: this needs an ACL token; sign in with one.`;
  }
  if (status === 404) return `Not found: ${text || 'no such page or resource'}.`;
  if (status === 0) return `The agent could not be reached (${text}).`;
  return `The agent answered ${status}${text ? `: ${text}` : ''}.`;
}

/** fetch() with the token; throws ApiError unless the answer is 2xx. */
export async function request(path, { method = 'GET', body, signal } = {}) {
  const headers = {};
  const secret = token.get();
  if (secret) headers['X-Nomad-Token'] = secret;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(path, { method, headers, body, signal, cache: 'no-store', credentials: 'omit' });
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    throw new ApiError(0, err.message);
  }
  if (!res.ok) throw new ApiError(res.status, (await res.text()).trim());
  return res;
}

export const getJSON = async (path, options) => (await request(path, options)).json();

/** A query string from an object, leaving out empty values. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, v);
  const text = q.toString();
  return text ? `?${text}` : '';
}

/**
 * Nomad's stream frames: JSON objects written back to back with no separator
 * (`{"Offset":..,"Data":"base64",..}`, heartbeats `{}`). Fed text in any chunking, it
 * returns the complete objects; a partial one waits for the next chunk.
 */
export class FrameParser {
  constructor() {
    this.buf = '';
    this.depth = 0;
    this.inString = false;
    this.escaped = false;
    this.scanned = 0;
  }

  push(text) {
    this.buf += text;
    const frames = [];
    let start = 0;
    const buf = this.buf;
    for (let i = this.scanned; i < buf.length; i += 1) {
      const c = buf.charCodeAt(i);
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === 92) this.escaped = true; // backslash
        else if (c === 34) this.inString = false; // quote
      } else if (c === 34) {
        this.inString = true;
      } else if (c === 123) {
        this.depth += 1;
      } else if (c === 125) {
        this.depth -= 1;
        if (this.depth === 0) {
          frames.push(JSON.parse(buf.slice(start, i + 1)));
          start = i + 1;
        }
      } else if (this.depth === 0 && c > 32) {
        throw new Error(`unexpected ${buf[i]} between frames`);
      }
    }
    this.buf = buf.slice(start);
    this.scanned = this.buf.length;
    return frames;
  }
}

/** Base64 to bytes. */
export function decodeBase64(text) {
  const raw = atob(text);
  const out = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i += 1) out[i] = raw.charCodeAt(i);
  return out;
}

/** Follow a framed stream, calling onFrame for each object until it ends or is aborted. */
export async function followFrames(path, signal, onFrame) {
  const res = await request(path, { signal });
  const reader = res.body.getReader();
  const text = new TextDecoder();
  const parser = new FrameParser();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    for (const frame of parser.push(text.decode(value, { stream: true }))) onFrame(frame);
  }
}
