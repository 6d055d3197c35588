// The in-memory host of runner 2: a vector file's fixture offered to the core component as its
// imports, the way jco's transpiled bindings expect them (u64 as BigInt, list<u8> as Uint8Array,
// option as undefined, result errors thrown with a `payload`). It follows the host rules of
// docs/vectors.md, as the wasmtime runner's host does, so both runtimes see the same machine.

const MAX_SYMLINK_HOPS = 40;
const STEP_INODE_BASE = 1_000_000;
const DEFAULT_MODIFIED = { seconds: 1700000000, nanoseconds: 500000000 };
const TYPE_BITS = { file: 0o100000, dir: 0o040000, symlink: 0o120000, fifo: 0o010000 };

/** A result error as jco expects it from an import: a thrown value carrying the payload. */
class HostError extends Error {
  constructor(payload) {
    super(typeof payload === 'string' ? payload : JSON.stringify(payload));
    this.payload = payload;
  }
}

/** What the vector host answers to an ACL API write. */
const NO_WRITES = 'the vector host stores no ACL changes';

const fsError = (tag, val) => new HostError(val === undefined ? { tag } : { tag, val });

const DEFAULT_NOW = { seconds: 1800000000, nanoseconds: 0 };
const time = (t) => ({ seconds: BigInt(t.seconds), nanoseconds: t.nanoseconds });
const optionalTime = (t) => (t == null ? undefined : time(t));

/** Interest in a path: dropping it (the core drops its handle) ends the interest. */
export class Subscription {
  constructor(host) {
    this.host = host;
  }

  [Symbol.dispose ?? Symbol.for('dispose')]() {
    this.host.liveSubscriptions -= 1;
  }
}

/** A directory's entries, handed out a page at a time; dropping it ends the listing. */
export class Listing {
  constructor(host, entries) {
    this.host = host;
    this.entries = entries;
    this.read = 0;
    host.liveListings += 1;
  }

  next(max) {
    const page = this.entries.slice(this.read, this.read + max);
    this.read += page.length;
    return page;
  }

  [Symbol.dispose ?? Symbol.for('dispose')]() {
    this.host.liveListings -= 1;
  }
}

/** Byte order of UTF-8 names, the contract's order (JavaScript's own sort compares UTF-16). */
const byteOrder = (a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b));

/** Path components without empty ones and `.`; `..` is kept for the resolver. */
const components = (path) => path.split('/').filter((c) => c !== '' && c !== '.');
const baseName = (path) => path.split('/').pop();
const parentOf = (path) => (path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : '');

export class MemHost {
  constructor(fixture) {
    this.fixture = fixture;
    this.modified = fixture.modified ?? DEFAULT_MODIFIED;
    this.dynamicMeta = new Map(Object.entries(fixture.dynamic_meta ?? {}));
    this.allocations = (fixture.allocations ?? []).map((a) => ({
      namespace: 'default',
      job_id: '',
      task_group: '',
      client_status: 'running',
      tasks: [],
      files: [],
      ...a,
    }));
    this.trees = new Map(this.allocations.map((a) => [a.id, this.buildTree(a)]));
    this.collected = [];
    this.registered = [];
    this.lifecycle = [];
    this.bootstrapped = false;
    this.compiled = [];
    this.logs = [];
    this.watched = [];
    this.liveSubscriptions = 0;
    this.liveListings = 0;
    this.nextStepInode = STEP_INODE_BASE;
  }

  buildTree(alloc) {
    const tree = new Map([['', this.dirEntry()]]);
    alloc.files.forEach((f, i) => {
      let entry;
      if (f.dir) entry = { kind: 'dir', perm: 0o755 };
      else if (f.symlink !== undefined) entry = { kind: 'symlink', target: f.symlink, perm: 0o777 };
      else if (f.fifo) entry = { kind: 'fifo', perm: 0o644 };
      else if (f.base64 !== undefined) entry = { kind: 'file', data: Buffer.from(f.base64, 'base64'), perm: 0o644 };
      else entry = { kind: 'file', data: Buffer.from(f.text ?? '', 'utf8'), perm: 0o644 };
      if (f.perm !== undefined) entry.perm = parseInt(f.perm, 8);
      entry.modified = f.modified ?? this.modified;
      entry.inode = f.inode ?? i + 1;
      entry.readError = f.read_error;
      entry.marks = f.marks;
      this.addParents(tree, f.path);
      tree.set(f.path, entry);
    });
    return tree;
  }

  dirEntry() {
    return { kind: 'dir', perm: 0o755, modified: this.modified, inode: 0 };
  }

  /** Directories implied by a path exist even when the fixture does not list them. */
  addParents(tree, path) {
    const parts = path.split('/');
    for (let end = 1; end < parts.length; end++) {
      const dir = parts.slice(0, end).join('/');
      if (!tree.has(dir)) tree.set(dir, this.dirEntry());
    }
  }

  tree(allocId) {
    const tree = this.trees.get(allocId);
    if (!tree || this.collected.includes(allocId)) throw fsError('not-found');
    return tree;
  }

  /** Follow symlinks (the last one only if `followLast`), never above the root or to `/`. */
  resolve(tree, path, followLast) {
    const pending = components(path);
    const current = [];
    let hops = 0;
    while (pending.length > 0) {
      const part = pending.shift();
      if (part === '..') {
        if (current.length === 0) throw fsError('escapes-alloc-dir');
        current.pop();
        continue;
      }
      const entry = tree.get([...current, part].join('/'));
      if (!entry) throw fsError('not-found');
      if (entry.kind === 'symlink' && (pending.length > 0 || followLast)) {
        hops += 1;
        if (hops > MAX_SYMLINK_HOPS) throw fsError('io', 'too many levels of symbolic links');
        if (entry.target.startsWith('/')) throw fsError('escapes-alloc-dir');
        pending.unshift(...components(entry.target));
      } else if (entry.kind === 'dir' || pending.length === 0) {
        current.push(part);
      } else {
        throw fsError('not-a-directory');
      }
    }
    return current.join('/');
  }

  info(entry, name) {
    const size = { file: () => entry.data?.length ?? 0, dir: () => 4096, symlink: () => entry.target.length, fifo: () => 0 };
    return {
      name,
      size: BigInt(size[entry.kind]()),
      mode: TYPE_BITS[entry.kind] | entry.perm,
      modified: time(entry.modified),
      inode: BigInt(entry.inode),
    };
  }

  /** A step's change to the first allocation's directory. */
  change(step) {
    const alloc = this.allocations[0];
    if (!alloc) throw new Error('a step changes files but the fixture has no allocation');
    const tree = this.trees.get(alloc.id);
    const fresh = () => {
      this.nextStepInode += 1;
      return { kind: 'file', perm: 0o644, modified: this.modified, inode: this.nextStepInode };
    };
    if (step.append) {
      const { path, text } = step.append;
      const entry = tree.get(path);
      if (entry && entry.kind !== 'file') throw new Error(`append: ${path} is not a file`);
      if (entry) {
        entry.data = Buffer.concat([entry.data, Buffer.from(text, 'utf8')]);
      } else {
        this.addParents(tree, path);
        tree.set(path, { ...fresh(), data: Buffer.from(text, 'utf8') });
      }
    } else if (step.write) {
      const entry = tree.get(step.write.path);
      if (!entry || entry.kind !== 'file') throw new Error(`write: ${step.write.path} is not an existing file`);
      entry.data = Buffer.from(step.write.text, 'utf8');
    } else if (step.replace) {
      this.addParents(tree, step.replace.path);
      tree.set(step.replace.path, { ...fresh(), data: Buffer.from(step.replace.text, 'utf8') });
    } else if (step.remove !== undefined) {
      if (!tree.delete(step.remove)) throw new Error(`remove: ${step.remove} does not exist`);
    } else {
      throw new Error('a step must pull or change a file');
    }
  }

  metaEntries() {
    return [...this.dynamicMeta.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([key, value]) => ({ key, value: value ?? undefined }));
  }

  allocation(a) {
    return {
      id: a.id,
      namespace: a.namespace,
      jobId: a.job_id,
      taskGroup: a.task_group,
      clientStatus: a.client_status,
      tasks: a.tasks.map((t) => ({
        name: t.name,
        state: t.state ?? 'running',
        failed: t.failed ?? false,
        startedAt: optionalTime(t.started_at),
        finishedAt: optionalTime(t.finished_at),
        restarts: t.restarts ?? 0,
        lastRestart: optionalTime(t.last_restart),
      })),
    };
  }

  /** This fixture's node, as the cluster interface describes it. */
  localNode() {
    return {
      id: this.fixture.node_id,
      name: 'vectors',
      datacenter: 'dc1',
      httpAddr: '127.0.0.1:4646',
      status: 'ready',
      staticMeta: Object.entries(this.fixture.static_meta ?? {}).map(([name, value]) => ({ name, value })),
      dynamicMeta: this.metaEntries(),
      lastSeen: { seconds: 0n, nanoseconds: 0 },
      secretSha256: undefined,
    };
  }

  /** The component's imports, keyed as jco's transpiled bindings look them up. */
  imports() {
    const host = this;
    const fixture = this.fixture;
    const acl = fixture.acl ?? {};
    const faults = fixture.faults ?? {};
    const lifecycleFault = () => {
      const fault = faults.lifecycle;
      if (typeof fault === 'string') throw new HostError({ tag: fault });
      if (fault !== undefined) throw new HostError({ tag: 'io', val: fault.io });
    };
    const listAllocations = () =>
      host.allocations.filter((a) => !host.collected.includes(a.id)).map((a) => host.allocation(a));
    const disk = (d) => ({
      device: d.device,
      mountpoint: d.mountpoint,
      size: BigInt(d.size),
      used: BigInt(d.used),
      available: BigInt(d.available),
      usedPercent: d.used_percent,
      inodesUsedPercent: d.inodes_used_percent,
    });
    return {
      'caravan:client/log': {
        write: (level, message) => host.logs.push([level, message]),
      },
      'caravan:client/node': {
        nodeId: () => fixture.node_id,
        staticMeta: () => Object.entries(fixture.static_meta ?? {}).map(([name, value]) => ({ name, value })),
        dynamicMeta: () => host.metaEntries(),
        applyMeta: (changes) => {
          if (faults.apply_meta !== undefined) throw new HostError(faults.apply_meta);
          for (const { key, op } of changes) {
            if (op.tag === 'set') host.dynamicMeta.set(key, op.val);
            else if (op.tag === 'tombstone') host.dynamicMeta.set(key, null);
            else host.dynamicMeta.delete(key);
          }
          return host.metaEntries();
        },
      },
      'caravan:client/allocations': {
        get: (id) => listAllocations().find((a) => a.id === id),
        list: listAllocations,
        collect: (id) => {
          const fault = faults.collect;
          if (typeof fault === 'string') throw new HostError({ tag: fault });
          if (fault !== undefined) throw new HostError({ tag: 'io', val: fault.io });
          host.collected.push(id);
        },
        restart: (allocId, task) => {
          lifecycleFault();
          host.lifecycle.push(['restart', allocId, task ?? null]);
        },
        signal: (allocId, task, signal) => {
          lifecycleFault();
          host.lifecycle.push(['signal', allocId, task ?? null, signal]);
        },
      },
      'caravan:client/filesystem': {
        Listing,
        stat: (allocId, path) => {
          const tree = host.tree(allocId);
          return host.info(tree.get(host.resolve(tree, path, true)), baseName(path));
        },
        list: (allocId, path) => {
          const tree = host.tree(allocId);
          const real = host.resolve(tree, path, true);
          if (tree.get(real).kind !== 'dir') throw fsError('not-a-directory');
          const entries = [...tree.keys()]
            .filter((p) => p !== '' && parentOf(p) === real)
            .sort(byteOrder)
            .map((p) => host.info(tree.get(p), baseName(p)));
          return new Listing(host, entries);
        },
        readAt: (allocId, path, offset, length) => {
          const tree = host.tree(allocId);
          const real = host.resolve(tree, path, true);
          const entry = tree.get(real);
          if (entry.kind === 'dir') throw fsError('is-a-directory');
          if (entry.kind !== 'file') throw fsError('not-regular-file');
          const [first, second] = real.split('/');
          const isTask = host.allocations.some((a) => a.id === allocId && a.tasks.some((t) => t.name === first));
          if (isTask && second === 'secrets') throw fsError('secret-file');
          if (isTask && second === 'private') throw fsError('private-file');
          if (entry.readError !== undefined) throw fsError('io', entry.readError);
          const start = offset > BigInt(entry.data.length) ? entry.data.length : Number(offset);
          return new Uint8Array(entry.data.subarray(start, start + length));
        },
        logMarks: (allocId, path, start, end) => {
          const tree = host.tree(allocId);
          const entry = tree.get(host.resolve(tree, path, true));
          if (entry.marks === undefined) return [];
          // The last mark at or before `start`, then every later one before `end`.
          let first = 0;
          entry.marks.forEach((m, i) => {
            if (BigInt(m.offset) <= start) first = i;
          });
          return entry.marks
            .slice(first)
            .filter((m) => BigInt(m.offset) <= start || BigInt(m.offset) < end)
            .map((m) => ({ offset: BigInt(m.offset), time: time(m.time) }));
        },
        now: () => time(fixture.now ?? DEFAULT_NOW),
      },
      'caravan:client/follow': {
        Subscription,
        watch: (allocId, path) => {
          host.resolve(host.tree(allocId), path, true);
          host.watched.push(path);
          host.liveSubscriptions += 1;
          return new Subscription(host);
        },
      },
      'caravan:client/acl': {
        enabled: () => acl.enabled ?? false,
        resolveToken: (secret) => {
          const token = (acl.tokens ?? []).find((t) => t.secret === secret);
          if (!token) throw new HostError('not-found');
          if (token.expired) throw new HostError('expired');
          return {
            accessorId: token.accessor_id,
            name: token.name ?? '',
            tokenType: token.type,
            policies: token.policies ?? [],
            createTime: time(token.create_time),
            expirationTime: optionalTime(token.expiration_time),
            expirationTtl: 0n,
            global: false,
            createIndex: 0n,
            modifyIndex: 0n,
            fromFile: true,
          };
        },
        policies: (names) => names.flatMap((n) => host.compiled.filter((p) => p.name === n)),
        bootstrap: () => {
          if (faults.bootstrap !== undefined) throw new HostError({ tag: 'failed', val: faults.bootstrap });
          if (host.bootstrapped || (acl.tokens ?? []).some((t) => t.type === 'management')) {
            throw new HostError({ tag: 'already-done' });
          }
          const minted = acl.bootstrap;
          if (!minted) throw new HostError({ tag: 'failed', val: 'no acl.bootstrap in the fixture' });
          host.bootstrapped = true;
          return {
            token: {
              accessorId: minted.accessor_id,
              name: 'Bootstrap Token',
              tokenType: 'management',
              policies: [],
              createTime: time(minted.create_time),
              expirationTime: undefined,
              expirationTtl: 0n,
              global: true,
              createIndex: 0n,
              modifyIndex: 0n,
              fromFile: false,
            },
            secretId: minted.secret,
          };
        },
        // The ACL API's writes are exercised against real agents (tests/e2e/acl_api.rs).
        listPolicies: () => [],
        putPolicy: () => { throw new HostError(NO_WRITES); },
        deletePolicy: () => { throw new HostError(NO_WRITES); },
        listTokens: () => [],
        createToken: () => { throw new HostError(NO_WRITES); },
        updateToken: () => { throw new HostError(NO_WRITES); },
        deleteToken: () => { throw new HostError(NO_WRITES); },
      },
      // The fixture's agent knows no other node: it is the only one (when it is a client).
      // No other node to read: a relay cannot start (as a node that left).
      'caravan:client/relay': {
        open: () => {
          throw new HostError('no such node');
        },
        take: () => ({ tag: 'failed', val: 'no such relay' }),
        close: () => {},
      },
      'caravan:client/cluster': {
        roles: () => ({ server: false, client: true, ui: true, ...fixture.roles }),
        register: (r) => {
          const certificate = r.certificateSha256 === undefined ? {} : { certificate_sha256: r.certificateSha256 };
          host.registered.push({
            ...certificate,
            id: r.node.id,
            name: r.node.name,
            datacenter: r.node.datacenter,
            http_addr: r.node.httpAddr,
            static_meta: Object.fromEntries(r.node.staticMeta.map((p) => [p.name, p.value])),
            dynamic_meta: Object.fromEntries(r.node.dynamicMeta.map((e) => [e.key, e.value ?? null])),
            allocations: r.allocations.map((a) => [a.id, a.namespace, a.clientStatus, a.tasks.length]),
          });
        },
        node: (id) => (id === fixture.node_id ? host.localNode() : undefined),
        nodes: () => [host.localNode()],
        findAllocation: (id) => {
          const allocation = listAllocations().find((a) => a.id === id);
          return allocation === undefined ? undefined : { nodeId: fixture.node_id, allocation };
        },
        allAllocations: () => listAllocations().map((allocation) => ({ nodeId: fixture.node_id, allocation })),
      },
      'caravan:client/stats': {
        host: () => {
          const s = fixture.host_stats;
          if (!s) return undefined;
          return {
            memory: {
              total: BigInt(s.memory.total),
              available: BigInt(s.memory.available),
              used: BigInt(s.memory.used),
              free: BigInt(s.memory.free),
            },
            cpu: s.cpu.map((c) => ({
              name: c.name,
              user: c.user,
              system: c.system,
              idle: c.idle,
              totalPercent: c.total_percent,
              totalTicks: c.total_ticks,
            })),
            disks: s.disks.map(disk),
            allocDir: disk(s.alloc_dir),
            uptime: BigInt(s.uptime),
            cpuTicksConsumed: s.cpu_ticks_consumed,
            takenAt: time(s.taken_at),
          };
        },
        allocation: (allocId) =>
          ((fixture.task_usage ?? {})[allocId] ?? []).map((t) => ({
            task: t.task,
            processes: t.processes.map((p) => ({
              pid: p.pid,
              rss: BigInt(p.rss),
              swap: BigInt(p.swap),
              cpuPercent: p.cpu_percent,
              userMode: p.user_mode,
              systemMode: p.system_mode,
              totalTicks: p.total_ticks,
            })),
            takenAt: time(t.taken_at),
          })),
      },
    };
  }
}
