"""The in-memory host of runner 3: a vector file's fixture offered to the core component through
wasmtime-py's component API (records as objects with the WIT field names as attributes, variants
as `Variant`, u64 as int, list<u8> as bytes, option as None). It follows the host rules of
docs/vectors.md, as the wasmtime and jco runners' hosts do, so every runtime sees the same machine.
"""

import base64

from wasmtime.component import Record, ResourceHost, ResourceType, Variant

MAX_SYMLINK_HOPS = 40
STEP_INODE_BASE = 1_000_000
DEFAULT_MODIFIED = {"seconds": 1700000000, "nanoseconds": 500000000}
DEFAULT_NOW = {"seconds": 1800000000, "nanoseconds": 0}
TYPE_BITS = {"file": 0o100000, "dir": 0o040000, "symlink": 0o120000, "fifo": 0o010000}
#: The host-defined type of `follow.subscription`.
SUBSCRIPTION = 1
#: The host-defined type of `filesystem.listing`.
LISTING = 2
# What the vector host answers to an ACL API write.
NO_WRITES = "the vector host stores no ACL changes"


def rec(**fields):
    """A WIT record: attribute names are the WIT field names (kebab-case)."""
    record = Record()
    for name, value in fields.items():
        setattr(record, name.replace("_", "-"), value)
    return record


def time(t):
    return rec(seconds=t["seconds"], nanoseconds=t["nanoseconds"])


def optional_time(t):
    return None if t is None else time(t)


def components(path):
    return [c for c in path.split("/") if c not in ("", ".")]


def parent_of(path):
    return path.rsplit("/", 1)[0] if "/" in path else ""


class FsError(Exception):
    """An `fs-error` returned from an import (as the `err` of its result)."""

    def __init__(self, tag, val=None):
        super().__init__(tag)
        self.variant = Variant(tag, val)


class MemHost:
    def __init__(self, fixture):
        self.fixture = fixture
        self.modified = fixture.get("modified", DEFAULT_MODIFIED)
        self.dynamic_meta = dict(fixture.get("dynamic_meta", {}))
        self.allocations = [
            {"namespace": "default", "job_id": "", "task_group": "", "client_status": "running",
             "tasks": [], "files": [], **a}
            for a in fixture.get("allocations", [])
        ]
        self.trees = {a["id"]: self.build_tree(a) for a in self.allocations}
        self.collected = []
        self.registered = []
        self.lifecycle = []
        self.bootstrapped = False
        self.compiled = []
        self.logs = []
        self.watched = []
        self.live_subscriptions = 0
        self.next_subscription = 0
        # Open listings: handle -> [entries, how many were handed out].
        self.listings = {}
        self.next_listing = 0
        self.next_step_inode = STEP_INODE_BASE

    def dir_entry(self):
        return {"kind": "dir", "perm": 0o755, "modified": self.modified, "inode": 0}

    def build_tree(self, alloc):
        tree = {"": self.dir_entry()}
        for i, f in enumerate(alloc["files"]):
            if f.get("dir"):
                entry = {"kind": "dir", "perm": 0o755}
            elif "symlink" in f:
                entry = {"kind": "symlink", "target": f["symlink"], "perm": 0o777}
            elif f.get("fifo"):
                entry = {"kind": "fifo", "perm": 0o644}
            elif "base64" in f:
                entry = {"kind": "file", "data": base64.b64decode(f["base64"]), "perm": 0o644}
            else:
                entry = {"kind": "file", "data": f.get("text", "").encode(), "perm": 0o644}
            if "perm" in f:
                entry["perm"] = int(f["perm"], 8)
            entry["modified"] = f.get("modified", self.modified)
            entry["inode"] = f.get("inode", i + 1)
            entry["read_error"] = f.get("read_error")
            entry["marks"] = f.get("marks")
            self.add_parents(tree, f["path"])
            tree[f["path"]] = entry
        return tree

    def add_parents(self, tree, path):
        parts = path.split("/")
        for end in range(1, len(parts)):
            tree.setdefault("/".join(parts[:end]), self.dir_entry())

    def tree(self, alloc_id):
        if alloc_id not in self.trees or alloc_id in self.collected:
            raise FsError("not-found")
        return self.trees[alloc_id]

    def resolve(self, tree, path, follow_last):
        pending = components(path)
        current = []
        hops = 0
        while pending:
            part = pending.pop(0)
            if part == "..":
                if not current:
                    raise FsError("escapes-alloc-dir")
                current.pop()
                continue
            entry = tree.get("/".join(current + [part]))
            if entry is None:
                raise FsError("not-found")
            if entry["kind"] == "symlink" and (pending or follow_last):
                hops += 1
                if hops > MAX_SYMLINK_HOPS:
                    raise FsError("io", "too many levels of symbolic links")
                if entry["target"].startswith("/"):
                    raise FsError("escapes-alloc-dir")
                pending = components(entry["target"]) + pending
            elif entry["kind"] == "dir" or not pending:
                current.append(part)
            else:
                raise FsError("not-a-directory")
        return "/".join(current)

    def info(self, entry, name):
        size = {"file": lambda: len(entry.get("data", b"")), "dir": lambda: 4096,
                "symlink": lambda: len(entry["target"]), "fifo": lambda: 0}[entry["kind"]]()
        return rec(name=name, size=size, mode=TYPE_BITS[entry["kind"]] | entry["perm"],
                   modified=time(entry["modified"]), inode=entry["inode"])

    def change(self, step):
        """A step's change to the first allocation's directory."""
        tree = self.trees[self.allocations[0]["id"]]

        def fresh(text):
            self.next_step_inode += 1
            return {"kind": "file", "perm": 0o644, "modified": self.modified,
                    "inode": self.next_step_inode, "data": text.encode(), "read_error": None}

        if "append" in step:
            path, text = step["append"]["path"], step["append"]["text"]
            if path in tree:
                tree[path]["data"] += text.encode()
            else:
                self.add_parents(tree, path)
                tree[path] = fresh(text)
        elif "write" in step:
            tree[step["write"]["path"]]["data"] = step["write"]["text"].encode()
        elif "replace" in step:
            self.add_parents(tree, step["replace"]["path"])
            tree[step["replace"]["path"]] = fresh(step["replace"]["text"])
        elif "remove" in step:
            del tree[step["remove"]]
        else:
            raise ValueError("a step must pull or change a file")

    def meta_entries(self):
        return [rec(key=k, value=v) for k, v in sorted(self.dynamic_meta.items())]

    def allocation(self, a):
        return rec(id=a["id"], namespace=a["namespace"], job_id=a["job_id"],
                   task_group=a["task_group"], client_status=a["client_status"],
                   tasks=[rec(name=t["name"], state=t.get("state", "running"),
                              failed=t.get("failed", False),
                              started_at=optional_time(t.get("started_at")),
                              finished_at=optional_time(t.get("finished_at")),
                              restarts=t.get("restarts", 0),
                              last_restart=optional_time(t.get("last_restart")))
                          for t in a["tasks"]])

    # The imports, by interface; each takes the store first, as wasmtime-py calls them.

    def node_funcs(self):
        faults = self.fixture.get("faults", {})

        def apply_meta(_store, changes):
            if "apply_meta" in faults:
                return faults["apply_meta"]
            for change in changes:
                op = change.op
                if op.tag == "set":
                    self.dynamic_meta[change.key] = op.payload
                elif op.tag == "tombstone":
                    self.dynamic_meta[change.key] = None
                else:
                    self.dynamic_meta.pop(change.key, None)
            return self.meta_entries()

        return {
            "node-id": lambda _s: self.fixture["node_id"],
            "static-meta": lambda _s: [rec(name=k, value=v)
                                       for k, v in self.fixture.get("static_meta", {}).items()],
            "dynamic-meta": lambda _s: self.meta_entries(),
            "apply-meta": apply_meta,
        }

    def local_node(self):
        return rec(id=self.fixture["node_id"], name="vectors", datacenter="dc1",
                   http_addr="127.0.0.1:4646", status="ready",
                   static_meta=[rec(name=k, value=v)
                                for k, v in self.fixture.get("static_meta", {}).items()],
                   dynamic_meta=self.meta_entries(), last_seen=rec(seconds=0, nanoseconds=0),
                   secret_sha256=None)

    def cluster_funcs(self):
        # The fixture's agent knows no other node: it is the only one (when it is a client).
        def register(_s, r):
            node = r.node
            self.registered.append({
                "id": node.id, "name": node.name, "datacenter": node.datacenter,
                "http_addr": getattr(node, "http-addr"),
                "static_meta": {p.name: p.value for p in getattr(node, "static-meta")},
                "dynamic_meta": {e.key: e.value for e in getattr(node, "dynamic-meta")},
                "allocations": [[a.id, a.namespace, getattr(a, "client-status"), len(a.tasks)]
                                for a in r.allocations],
            })
            certificate = getattr(r, "certificate-sha256")
            if certificate is not None:
                self.registered[-1]["certificate_sha256"] = certificate
            return None

        def placed():
            return [rec(node_id=self.fixture["node_id"], allocation=self.allocation(a))
                    for a in self.allocations if a["id"] not in self.collected]

        return {
            "roles": lambda _s: rec(**{"server": False, "client": True, "ui": True,
                                        **self.fixture.get("roles", {})}),
            "register": register,
            "node": lambda _s, node_id: self.local_node() if node_id == self.fixture["node_id"] else None,
            "nodes": lambda _s: [self.local_node()],
            "find-allocation": lambda _s, alloc_id: next(
                (p for p in placed() if p.allocation.id == alloc_id), None),
            "all-allocations": lambda _s: placed(),
        }

    def relay_funcs(self):
        # No other node to read (the fixture's agent knows none, so no vector opens a relay).
        def open_relay(_s, node_id, target, token):
            raise RuntimeError("the vector host has no other node to read")

        return {
            "open": open_relay,
            "take": lambda _s, relay_id: Variant("failed", "no such relay"),
            "close": lambda _s, relay_id: None,
        }

    def allocation_funcs(self):
        faults = self.fixture.get("faults", {})

        def listed(_s=None):
            return [self.allocation(a) for a in self.allocations if a["id"] not in self.collected]

        def collect(_s, alloc_id):
            fault = faults.get("collect")
            if isinstance(fault, str):
                return Variant(fault, None)
            if fault is not None:
                return Variant("io", fault["io"])
            self.collected.append(alloc_id)
            return None

        def lifecycle_fault():
            fault = faults.get("lifecycle")
            if isinstance(fault, str):
                return Variant(fault, None)
            if fault is not None:
                return Variant("io", fault["io"])
            return None

        def restart(_s, alloc_id, task):
            fault = lifecycle_fault()
            if fault is None:
                self.lifecycle.append(["restart", alloc_id, task])
            return fault

        def signal(_s, alloc_id, task, sig):
            fault = lifecycle_fault()
            if fault is None:
                self.lifecycle.append(["signal", alloc_id, task, sig])
            return fault

        return {
            "get": lambda _s, alloc_id: next((a for a in listed() if a.id == alloc_id), None),
            "list": listed,
            "collect": collect,
            "restart": restart,
            "signal": signal,
        }

    def filesystem_funcs(self):
        def stat(_s, alloc_id, path):
            try:
                tree = self.tree(alloc_id)
                return self.info(tree[self.resolve(tree, path, True)], path.split("/")[-1])
            except FsError as e:
                return e.variant

        def listing(_s, alloc_id, path):
            try:
                tree = self.tree(alloc_id)
                real = self.resolve(tree, path, True)
                if tree[real]["kind"] != "dir":
                    raise FsError("not-a-directory")
            except FsError as e:
                return e.variant
            # In byte order of the names (code point order is UTF-8's byte order).
            children = sorted(p for p in tree if p and parent_of(p) == real)
            self.next_listing += 1
            self.listings[self.next_listing] = [
                [self.info(tree[p], p.split("/")[-1]) for p in children], 0]
            return ResourceHost.own(self.next_listing, LISTING)

        def listing_next(store, listing, max_entries):
            entries = self.listings[listing.to_host(store).rep]
            page = entries[0][entries[1]:entries[1] + max_entries]
            entries[1] += len(page)
            return page

        def read_at(_s, alloc_id, path, offset, length):
            try:
                tree = self.tree(alloc_id)
                real = self.resolve(tree, path, True)
                entry = tree[real]
                if entry["kind"] == "dir":
                    raise FsError("is-a-directory")
                if entry["kind"] != "file":
                    raise FsError("not-regular-file")
                first, _, rest = real.partition("/")
                second = rest.split("/")[0] if rest else None
                is_task = any(a["id"] == alloc_id and any(t["name"] == first for t in a["tasks"])
                              for a in self.allocations)
                if is_task and second == "secrets":
                    raise FsError("secret-file")
                if is_task and second == "private":
                    raise FsError("private-file")
                if entry["read_error"] is not None:
                    raise FsError("io", entry["read_error"])
            except FsError as e:
                return e.variant
            return bytes(entry["data"][offset:offset + length])

        def log_marks(_s, alloc_id, path, start, end):
            try:
                tree = self.tree(alloc_id)
                entry = tree[self.resolve(tree, path, True)]
            except FsError as e:
                return e.variant
            marks = entry.get("marks") or []
            # The last mark at or before `start`, then every later one before `end`.
            first = max([i for i, m in enumerate(marks) if m["offset"] <= start], default=0)
            return [rec(offset=m["offset"], time=time(m["time"])) for m in marks[first:]
                    if m["offset"] <= start or m["offset"] < end]

        def now(_s):
            return time(self.fixture.get("now", DEFAULT_NOW))

        return {"stat": stat, "list": listing, "[method]listing.next": listing_next,
                "read-at": read_at, "log-marks": log_marks, "now": now}

    def follow_funcs(self):
        def watch(_s, alloc_id, path):
            try:
                self.resolve(self.tree(alloc_id), path, True)
            except FsError as e:
                return e.variant
            self.watched.append(path)
            self.live_subscriptions += 1
            self.next_subscription += 1
            return ResourceHost.own(self.next_subscription, SUBSCRIPTION)

        return {"watch": watch}

    def drop_subscription(self, _store, _rep):
        self.live_subscriptions -= 1

    def drop_listing(self, _store, rep):
        del self.listings[rep]

    def acl_funcs(self):
        acl = self.fixture.get("acl", {})

        def resolve_token(_s, secret):
            token = next((t for t in acl.get("tokens", []) if t["secret"] == secret), None)
            if token is None:
                return "not-found"
            if token.get("expired"):
                return "expired"
            return rec(accessor_id=token["accessor_id"], name=token.get("name", ""),
                       token_type=token["type"], policies=token.get("policies", []),
                       create_time=time(token["create_time"]),
                       expiration_time=optional_time(token.get("expiration_time")),
                       expiration_ttl=0, create_index=0, modify_index=0, from_file=True,
                       **{"global": False})

        # `bootstrap-error` has one unit case and one string case, so wasmtime-py takes it
        # untagged: `None` is `already-done` and a string is `failed(string)`.
        def bootstrap(_s):
            faults = self.fixture.get("faults", {})
            if "bootstrap" in faults:
                return faults["bootstrap"]
            if self.bootstrapped or any(t["type"] == "management" for t in acl.get("tokens", [])):
                return None
            minted = acl.get("bootstrap")
            if minted is None:
                return "no acl.bootstrap in the fixture"
            self.bootstrapped = True
            token = rec(accessor_id=minted["accessor_id"], name="Bootstrap Token",
                        token_type="management", policies=[],
                        create_time=time(minted["create_time"]), expiration_time=None,
                        expiration_ttl=0, create_index=0, modify_index=0, from_file=False,
                        **{"global": True})
            return rec(token=token, secret_id=minted["secret"])

        return {
            "bootstrap": bootstrap,
            "enabled": lambda _s: acl.get("enabled", False),
            "resolve-token": resolve_token,
            "policies": lambda _s, names: [p for n in names for p in self.compiled if p.name == n],
            # The ACL API's writes are exercised against real agents (tests/e2e/acl_api.rs);
            # results are untagged here: a string is the error case.
            "list-policies": lambda _s: [],
            "put-policy": lambda _s, _p, _c: NO_WRITES,
            "delete-policy": lambda _s, _n: NO_WRITES,
            "list-tokens": lambda _s: [],
            "create-token": lambda _s, _t: NO_WRITES,
            "update-token": lambda _s, _t: NO_WRITES,
            "delete-token": lambda _s, _a: NO_WRITES,
        }

    def stats_funcs(self):
        def disk(d):
            return rec(device=d["device"], mountpoint=d["mountpoint"], size=d["size"],
                       used=d["used"], available=d["available"],
                       used_percent=float(d["used_percent"]),
                       inodes_used_percent=float(d["inodes_used_percent"]))

        def host(_s):
            s = self.fixture.get("host_stats")
            if s is None:
                return None
            return rec(memory=rec(**s["memory"]),
                       cpu=[rec(name=c["name"], user=float(c["user"]), system=float(c["system"]),
                                idle=float(c["idle"]), total_percent=float(c["total_percent"]),
                                total_ticks=float(c["total_ticks"])) for c in s["cpu"]],
                       disks=[disk(d) for d in s["disks"]], alloc_dir=disk(s["alloc_dir"]),
                       uptime=s["uptime"], cpu_ticks_consumed=float(s["cpu_ticks_consumed"]),
                       taken_at=time(s["taken_at"]))

        def allocation(_s, alloc_id):
            return [rec(task=t["task"],
                        processes=[rec(pid=p["pid"], rss=p["rss"], swap=p["swap"],
                                       cpu_percent=float(p["cpu_percent"]),
                                       user_mode=float(p["user_mode"]),
                                       system_mode=float(p["system_mode"]),
                                       total_ticks=float(p["total_ticks"]))
                                   for p in t["processes"]],
                        taken_at=time(t["taken_at"]))
                    for t in self.fixture.get("task_usage", {}).get(alloc_id, [])]

        return {"host": host, "allocation": allocation}

    def log_funcs(self):
        return {"write": lambda _s, level, message: self.logs.append([level, message])}
