"""Runner 3 of the shared test vectors: the built core component on wasmtime-py.

Every tests/vectors/*.json vector (format: docs/vectors.md) runs in a fresh store and instance
whose imports are an in-memory host built from the file's fixture (host.py). The wasmtime (Rust)
and jco (Node) runners run the same files. As there, each file also gets a test that changes every
expected value, one at a time, and requires each change to fail.

Run with scripts/test-wasmtime-py, which writes the component to CARAVAN_CORE_WASM.
"""

import base64
import copy
import json
import os
from pathlib import Path

import pytest
import wasmtime
from wasmtime.component import Component, Linker, Record, ResourceType, Variant

from host import LISTING, SUBSCRIPTION, MemHost, rec

HERE = Path(__file__).resolve().parent
VECTORS = HERE.parent / "vectors"
CORE = Path(os.environ.get("CARAVAN_CORE_WASM", HERE.parent.parent / "target" / "core.wasm"))

ENGINE = wasmtime.Engine()
COMPONENT = Component.from_file(ENGINE, str(CORE))
#: The host of the vector being run: the linker's functions are defined once and call into it.
CURRENT = {}


def delegate(interface, name):
    return lambda store, *args: CURRENT["funcs"][interface][name](store, *args)


def build_linker():
    linker = Linker(ENGINE)
    interfaces = {
        "log": ["write"],
        "node": ["node-id", "static-meta", "dynamic-meta", "apply-meta"],
        "allocations": ["get", "list", "collect", "restart", "signal"],
        "filesystem": ["stat", "list", "[method]listing.next", "read-at", "log-marks", "now"],
        "follow": ["watch"],
        "acl": ["enabled", "resolve-token", "policies", "bootstrap", "list-policies", "put-policy",
                "delete-policy", "list-tokens", "create-token", "update-token", "delete-token"],
        "stats": ["host", "allocation"],
        "cluster": ["roles", "node", "nodes", "find-allocation", "all-allocations", "register"],
        "relay": ["open", "take", "close"],
    }
    with linker.root() as root:
        for interface, names in interfaces.items():
            with root.add_instance(f"caravan:client/{interface}@0.1.0") as instance:
                if interface == "follow":
                    instance.add_resource("subscription", ResourceType.host(SUBSCRIPTION),
                                          lambda store, rep: CURRENT["host"].drop_subscription(store, rep))
                if interface == "filesystem":
                    instance.add_resource("listing", ResourceType.host(LISTING),
                                          lambda store, rep: CURRENT["host"].drop_listing(store, rep))
                for name in names:
                    instance.add_func(name, delegate(interface, name))
    return linker


LINKER = build_linker()


class Core:
    """One instance of the component over one host."""

    def __init__(self, host):
        CURRENT["host"] = host
        CURRENT["funcs"] = {
            "log": host.log_funcs(), "node": host.node_funcs(),
            "allocations": host.allocation_funcs(), "filesystem": host.filesystem_funcs(),
            "follow": host.follow_funcs(), "acl": host.acl_funcs(), "stats": host.stats_funcs(),
            "cluster": host.cluster_funcs(), "relay": host.relay_funcs(),
        }
        self.store = wasmtime.Store(ENGINE)
        self.instance = LINKER.instantiate(self.store, COMPONENT)
        handler = self.instance.get_export_index(self.store, "caravan:client/handler@0.1.0")
        self.funcs = {
            name: self.instance.get_func(self.store, self.instance.get_export_index(self.store, name, handler))
            for name in ("handle", "compile-policy", "[method]body-stream.next")
        }

    def call(self, name, *args):
        func = self.funcs[name]
        result = func(self.store, *args)
        func.post_return(self.store)
        return result


def text(data):
    return bytes(data).decode("utf-8", errors="replace")


def expected_bytes(expected, field):
    if (field in expected) == (f"{field}_base64" in expected):
        raise AssertionError(f"needs exactly one of {field}, {field}_base64")
    if field in expected:
        return expected[field].encode()
    return base64.b64decode(expected[f"{field}_base64"])


def same_headers(want, got):
    """Header names compare case-insensitively; order does not matter, repetitions do."""
    norm = lambda pairs: sorted(f"{n.lower()}: {v}" for n, v in pairs)
    assert norm([(p.name, p.value) for p in got]) == norm(want), "headers"


def check_step(want, got, label):
    if want == "end" and got is None:
        return
    if isinstance(want, dict) and len(want) == 1:
        if isinstance(got, bytes) and ("data" in want or "data_base64" in want):
            assert text(got) == text(expected_bytes(want, "data")), label
            assert got == expected_bytes(want, "data"), label
            return
        if isinstance(got, int) and not isinstance(got, bool) and want.get("wait") == got:
            return
    raise AssertionError(f"{label}: expected {json.dumps(want)}, got {got!r}")


def check_action(core, host, action, vector):
    expect = vector["expect"]
    val = action.payload
    if action.tag == "respond":
        assert "respond" in expect, f"unexpected response {val.status} {text(val.body)!r}"
        want = expect["respond"]
        assert val.status == want["status"], "status"
        same_headers(want["headers"], val.headers)
        assert text(val.body) == text(expected_bytes(want, "body")), "body"
        assert bytes(val.body) == expected_bytes(want, "body"), "body bytes"
    elif action.tag == "send-file":
        want = expect.get("send_file")
        assert want, f"unexpected send-file of {getattr(val, 'path')}"
        assert getattr(val, "alloc-id") == want["alloc_id"], "alloc_id"
        assert val.path == want["path"], "path"
        assert val.offset == want["offset"], "offset"
        assert val.limit == want["limit"], "limit"
        same_headers(want["headers"], val.headers)
        if "vanished" in want:
            vanished = val.vanished
            assert vanished.status == want["vanished"]["status"], "vanished status"
            same_headers(want["vanished"]["headers"], vanished.headers)
            assert bytes(vanished.body) == expected_bytes(want["vanished"], "body"), "vanished body"
    elif action.tag == "exec":
        want = expect.get("exec")
        assert want, f"unexpected exec of {val.command!r}"
        assert getattr(val, "alloc-id") == want["alloc_id"], "alloc_id"
        assert val.task == want["task"], "task"
        assert list(val.command) == want["command"], "command"
        assert val.tty == want["tty"], "tty"
        not_running = getattr(val, "not-running")
        assert not_running.status == want["not_running"]["status"], "not_running status"
        same_headers(want["not_running"]["headers"], not_running.headers)
        assert bytes(not_running.body) == expected_bytes(want["not_running"], "body"), "not_running body"
    else:
        want = expect.get("stream")
        assert want, f"unexpected stream with status {val.status}"
        assert val.status == want["status"], "status"
        same_headers(want["headers"], val.headers)
        try:
            for i, step in enumerate(vector.get("steps", [])):
                if "pull" not in step:
                    host.change(step)
                    continue
                got = core.call("[method]body-stream.next", val.body, step["pull"])
                check_step(step["expect"], got, f"step {i} (pull at {step['pull']} ms)")
        finally:
            val.body.drop(core.store)
        assert host.live_subscriptions == 0, "dropping the body did not drop its subscriptions"
        assert not host.listings, "the core left a directory listing open"
        if "watched" in want:
            assert host.watched == want["watched"], "watched"


def check_policy(result, expect):
    if ("compiled" in expect) == ("error" in expect):
        raise AssertionError("expect needs exactly one of compiled, error")
    if isinstance(result, str):
        assert "error" in expect, f"expected a policy, got the error {result!r}"
        assert result == expect["error"], "error"
        return
    assert "compiled" in expect, f"compiled, but expected the error {expect['error']!r}"
    want = expect["compiled"]
    assert result.name == want["name"], "name"
    assert [[r.pattern, r.capabilities] for r in result.namespaces] == \
        [[r["pattern"], r["capabilities"]] for r in want["namespaces"]], "namespaces"
    assert result.node == want["node"], "node"
    assert result.agent == want["agent"], "agent"


def check_state(host, expect):
    state = expect.get("state", {})
    if "dynamic_meta" in state:
        assert host.dynamic_meta == state["dynamic_meta"], "dynamic_meta"
    if "collected" in state:
        assert host.collected == state["collected"], "collected"
    if "registered" in state:
        assert host.registered == state["registered"], "registered"
    if "lifecycle" in state:
        assert host.lifecycle == state["lifecycle"], "lifecycle"
    if "bootstrapped" in state:
        assert host.bootstrapped == state["bootstrapped"], "bootstrapped"
    if "logs" in expect:
        assert host.logs == expect["logs"], "logs"


def run(fixture, vector):
    host = MemHost(fixture)
    core = Core(host)
    for name, source in fixture.get("acl", {}).get("policies", {}).items():
        compiled = core.call("compile-policy", name, source)
        assert not isinstance(compiled, str), f"fixture policy {name} does not compile: {compiled}"
        host.compiled.append(compiled)
    if "compile_policy" in vector:
        source = vector["compile_policy"]
        check_policy(core.call("compile-policy", source["name"], source["text"]), vector["expect"])
    else:
        r = vector["request"]
        body = base64.b64decode(r["body_base64"]) if "body_base64" in r else r.get("body", "").encode()
        request = rec(method=r.get("method", "GET"), path=r["path"], query=r.get("query", ""),
                      headers=[rec(name=n, value=v) for n, v in r.get("headers", [])], body=body)
        check_action(core, host, core.call("handle", request), vector)
    check_state(host, vector["expect"])


def mutations(vector):
    """Every expected value changed once: strings get a `~`, numbers grow by one, booleans flip."""
    leaves = []

    def collect(value, path):
        if isinstance(value, list):
            for i, v in enumerate(value):
                collect(v, path + [i])
        elif isinstance(value, dict):
            for k, v in value.items():
                collect(v, path + [k])
        elif value is not None:
            leaves.append(path)

    collect(vector["expect"], ["expect"])
    for i, step in enumerate(vector.get("steps", [])):
        if "expect" in step:
            collect(step["expect"], ["steps", i, "expect"])
    for path in leaves:
        changed = copy.deepcopy(vector)
        parent = changed
        for key in path[:-1]:
            parent = parent[key]
        leaf = parent[path[-1]]
        if isinstance(leaf, bool):
            parent[path[-1]] = not leaf
        elif isinstance(leaf, str):
            parent[path[-1]] = leaf + "~"
        else:
            parent[path[-1]] = leaf + 1
        yield "/" + "/".join(map(str, path)), changed


SUITES = {p.name: json.loads(p.read_text()) for p in sorted(VECTORS.glob("*.json"))}
CASES = [(file, v) for file, suite in SUITES.items() for v in suite["vectors"]]


def test_the_suite_has_at_least_40_vectors():
    assert len(CASES) >= 40


@pytest.mark.parametrize("file,vector", CASES, ids=[f"{f}: {v['name']}" for f, v in CASES])
def test_vector(file, vector):
    run(SUITES[file]["fixture"], vector)


@pytest.mark.parametrize("file", list(SUITES))
def test_every_changed_expected_value_fails(file):
    suite = SUITES[file]
    undetected = []
    for vector in suite["vectors"]:
        for pointer, changed in mutations(vector):
            try:
                run(suite["fixture"], changed)
            except Exception:
                continue
            undetected.append(f"{vector['name']} {pointer}")
    assert undetected == []
