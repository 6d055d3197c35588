// Runner 2 of the shared test vectors: the core component transpiled by jco, on Node.
//
// Every tests/vectors/*.json vector (format: docs/vectors.md) runs in a fresh instance whose
// imports are an in-memory host built from the file's fixture (host.js). The wasmtime runner
// (tests/vectors/wasmtime.rs) runs the same files, so both runtimes must give the same answers.
// As there, each file also gets a test that changes every expected value, one at a time, and
// requires each change to fail: a comparison that checked nothing would pass vacuously.
//
// Run with scripts/test-jco, which builds the component and transpiles it into CARAVAN_JCO_CORE.

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { MemHost } from './host.js';

const here = dirname(fileURLToPath(import.meta.url));
const vectorsDir = resolve(here, '../vectors');
const coreJs = resolve(process.env.CARAVAN_JCO_CORE ?? join(here, '../../target/jco/core.js'));

const { instantiate } = await import(pathToFileURL(coreJs).href);
const modules = new Map();
/** jco asks for each core module by name; compile each once, instantiate per vector. */
async function getCoreModule(name) {
  if (!modules.has(name)) {
    modules.set(name, await WebAssembly.compile(await readFile(join(dirname(coreJs), name))));
  }
  return modules.get(name);
}

const decoder = new TextDecoder('utf-8', { fatal: false });
const text = (bytes) => decoder.decode(bytes);
const bytesOf = (expected, field) => {
  if ((expected[field] === undefined) === (expected[`${field}_base64`] === undefined)) {
    throw new Error(`needs exactly one of ${field}, ${field}_base64`);
  }
  return expected[field] !== undefined
    ? Buffer.from(expected[field], 'utf8')
    : Buffer.from(expected[`${field}_base64`], 'base64');
};

/** Header names compare case-insensitively; order does not matter, repetitions do. */
function sameHeaders(want, got) {
  const norm = (pairs) => pairs.map(([n, v]) => `${n.toLowerCase()}: ${v}`).sort();
  assert.deepEqual(norm(got.map((p) => [p.name, p.value])), norm(want), 'headers');
}

function checkStep(want, got, label) {
  if (want === 'end' && got.tag === 'end') return;
  if (typeof want === 'object' && want !== null && Object.keys(want).length === 1) {
    if (got.tag === 'data' && ('data' in want || 'data_base64' in want)) {
      assert.equal(text(got.val), text(bytesOf(want, 'data')), label);
      assert.deepEqual(Buffer.from(got.val), bytesOf(want, 'data'), label);
      return;
    }
    if (got.tag === 'wait' && typeof want.wait === 'number' && want.wait === got.val) return;
  }
  const shown = got.tag === 'data' ? `data ${JSON.stringify(text(got.val))}` : `${got.tag} ${got.val ?? ''}`;
  assert.fail(`${label}: expected ${JSON.stringify(want)}, got ${shown}`);
}

async function checkAction(core, host, action, vector) {
  const expect = vector.expect;
  if (action.tag === 'respond') {
    const r = action.val;
    assert.ok(expect.respond, `unexpected response ${r.status} ${JSON.stringify(text(r.body))}`);
    assert.equal(r.status, expect.respond.status, 'status');
    sameHeaders(expect.respond.headers, r.headers);
    assert.equal(text(r.body), text(bytesOf(expect.respond, 'body')), 'body');
    assert.deepEqual(Buffer.from(r.body), bytesOf(expect.respond, 'body'), 'body bytes');
  } else if (action.tag === 'send-file') {
    const s = action.val;
    const want = expect.send_file;
    assert.ok(want, `unexpected send-file of ${s.path}`);
    assert.equal(s.allocId, want.alloc_id, 'alloc_id');
    assert.equal(s.path, want.path, 'path');
    assert.equal(s.offset, BigInt(want.offset), 'offset');
    assert.equal(s.limit, want.limit === null ? undefined : BigInt(want.limit), 'limit');
    sameHeaders(want.headers, s.headers);
    if (want.vanished !== undefined) {
      assert.equal(s.vanished.status, want.vanished.status, 'vanished status');
      sameHeaders(want.vanished.headers, s.vanished.headers);
      assert.deepEqual(Buffer.from(s.vanished.body), bytesOf(want.vanished, 'body'), 'vanished body');
    }
  } else if (action.tag === 'exec') {
    const e = action.val;
    const want = expect.exec;
    assert.ok(want, `unexpected exec of ${JSON.stringify(e.command)}`);
    assert.equal(e.allocId, want.alloc_id, 'alloc_id');
    assert.equal(e.task, want.task, 'task');
    assert.deepEqual(e.command, want.command, 'command');
    assert.equal(e.tty, want.tty, 'tty');
    assert.equal(e.notRunning.status, want.not_running.status, 'not_running status');
    sameHeaders(want.not_running.headers, e.notRunning.headers);
    assert.deepEqual(Buffer.from(e.notRunning.body), bytesOf(want.not_running, 'body'), 'not_running body');
  } else {
    const start = action.val;
    const want = expect.stream;
    assert.ok(want, `unexpected stream with status ${start.status}`);
    assert.equal(start.status, want.status, 'status');
    sameHeaders(want.headers, start.headers);
    try {
      (vector.steps ?? []).forEach((step, i) => {
        if (step.pull === undefined) {
          host.change(step);
          return;
        }
        checkStep(step.expect, start.body.next(BigInt(step.pull)), `step ${i} (pull at ${step.pull} ms)`);
      });
    } finally {
      start.body[Symbol.dispose ?? Symbol.for('dispose')]();
    }
    assert.equal(host.liveSubscriptions, 0, 'dropping the body did not drop its subscriptions');
    assert.equal(host.liveListings, 0, 'the core left a directory listing open');
    if (want.watched !== undefined) assert.deepEqual(host.watched, want.watched, 'watched');
  }
}

function checkPolicy(compile, expect) {
  const hasCompiled = expect.compiled !== undefined;
  if (hasCompiled === (expect.error !== undefined)) throw new Error('expect needs exactly one of compiled, error');
  let policy;
  try {
    policy = compile();
  } catch (e) {
    if (!('payload' in e)) throw e;
    assert.ok(!hasCompiled, `expected a policy, got the error ${JSON.stringify(e.payload)}`);
    assert.equal(e.payload, expect.error, 'error');
    return;
  }
  assert.ok(hasCompiled, `compiled, but expected the error ${JSON.stringify(expect.error)}`);
  const want = expect.compiled;
  assert.equal(policy.name, want.name, 'name');
  assert.deepEqual(
    policy.namespaces.map((r) => [r.pattern, r.capabilities]),
    want.namespaces.map((r) => [r.pattern, r.capabilities]),
    'namespaces',
  );
  assert.equal(policy.node, want.node ?? undefined, 'node');
  assert.equal(policy.agent, want.agent ?? undefined, 'agent');
}

function checkState(host, expect) {
  const state = expect.state ?? {};
  if (state.dynamic_meta !== undefined) {
    const sorted = (entries) => Object.fromEntries([...entries].sort(([a], [b]) => (a < b ? -1 : 1)));
    assert.deepEqual(sorted(host.dynamicMeta.entries()), sorted(Object.entries(state.dynamic_meta)), 'dynamic_meta');
  }
  if (state.collected !== undefined) assert.deepEqual(host.collected, state.collected, 'collected');
  if (state.registered !== undefined) assert.deepEqual(host.registered, state.registered, 'registered');
  if (state.lifecycle !== undefined) assert.deepEqual(host.lifecycle, state.lifecycle, 'lifecycle');
  if (state.bootstrapped !== undefined) assert.equal(host.bootstrapped, state.bootstrapped, 'bootstrapped');
  if (expect.logs !== undefined) assert.deepEqual(host.logs, expect.logs, 'logs');
}

/** Run one vector in a fresh instance; throws on the first difference. */
async function run(fixture, vector) {
  const host = new MemHost(fixture);
  const core = (await instantiate(getCoreModule, host.imports())).handler;
  for (const [name, source] of Object.entries(fixture.acl?.policies ?? {})) {
    host.compiled.push(core.compilePolicy(name, source));
  }
  if (vector.compile_policy) {
    checkPolicy(() => core.compilePolicy(vector.compile_policy.name, vector.compile_policy.text), vector.expect);
  } else {
    const r = vector.request;
    const body = r.body_base64 !== undefined ? Buffer.from(r.body_base64, 'base64') : Buffer.from(r.body ?? '', 'utf8');
    const action = core.handle({
      method: r.method ?? 'GET',
      path: r.path,
      query: r.query ?? '',
      headers: (r.headers ?? []).map(([name, value]) => ({ name, value })),
      body: new Uint8Array(body),
    });
    await checkAction(core, host, action, vector);
  }
  checkState(host, vector.expect);
}

/** Every expected value changed once: strings get a `~`, numbers grow by one, booleans flip. */
function mutations(vector) {
  const leaves = [];
  const collect = (value, path) => {
    if (Array.isArray(value)) value.forEach((v, i) => collect(v, [...path, i]));
    else if (value !== null && typeof value === 'object') Object.entries(value).forEach(([k, v]) => collect(v, [...path, k]));
    else if (value !== null) leaves.push(path);
  };
  collect(vector.expect, ['expect']);
  (vector.steps ?? []).forEach((step, i) => {
    if (step.expect !== undefined) collect(step.expect, ['steps', i, 'expect']);
  });
  return leaves.map((path) => {
    const changed = structuredClone(vector);
    const parent = path.slice(0, -1).reduce((o, k) => o[k], changed);
    const key = path[path.length - 1];
    const leaf = parent[key];
    parent[key] = typeof leaf === 'string' ? `${leaf}~` : typeof leaf === 'boolean' ? !leaf : leaf + 1;
    return ['/' + path.join('/'), changed];
  });
}

const files = (await readdir(vectorsDir)).filter((f) => f.endsWith('.json')).sort();
const suites = await Promise.all(
  files.map(async (file) => [file, JSON.parse(await readFile(join(vectorsDir, file), 'utf8'))]),
);

test('the suite has at least 40 vectors', () => {
  const count = suites.reduce((n, [, suite]) => n + suite.vectors.length, 0);
  assert.ok(count >= 40, `only ${count} vectors`);
});

for (const [file, suite] of suites) {
  describe(file, () => {
    for (const vector of suite.vectors) {
      test(vector.name, () => run(suite.fixture, vector));
    }
    test('every changed expected value fails', async () => {
      const undetected = [];
      for (const vector of suite.vectors) {
        for (const [pointer, changed] of mutations(vector)) {
          const failed = await run(suite.fixture, changed).then(
            () => false,
            () => true,
          );
          if (!failed) undetected.push(`${vector.name} ${pointer}`);
        }
      }
      assert.deepEqual(undetected, [], 'changes that still passed');
    });
  });
}
