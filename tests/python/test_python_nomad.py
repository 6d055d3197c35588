"""python-nomad 2.1.0, unmodified, against a real caravan agent."""

import os
import time

import pytest
from nomad.api import exceptions

from conftest import PATIENCE


def test_list_files(agent, client):
    entries = client.client.ls.list_files(agent.demo_alloc, "alloc/logs")
    names = [e["Name"] for e in entries]
    assert names == sorted(names)
    assert "demo.stdout.0" in names
    entry = next(e for e in entries if e["Name"] == "demo.stdout.0")
    assert entry["IsDir"] is False and entry["Size"] > 0
    assert entry["FileMode"] == "-rw-r--r--"


def test_list_root_by_default(agent, client):
    names = {e["Name"] for e in client.client.ls.list_files(agent.demo_alloc)}
    assert {"alloc", "demo"} <= names


def test_stat_file(agent, client):
    info = client.client.stat.stat_file(agent.demo_alloc, "alloc/data/config.json")
    assert info["Name"] == "config.json"
    assert info["ContentType"] == "application/json"
    root = client.client.stat.stat_file(agent.demo_alloc, "/")
    assert root["Name"] == agent.demo_alloc and root["IsDir"] is True


def demo_stdout(agent):
    with open(os.path.join(agent.logs_dir, "demo.stdout.0")) as f:
        return f.read()


def test_cat_file(agent, client):
    text = client.client.cat.read_file(agent.demo_alloc, "alloc/logs/demo.stdout.0")
    # The demo task prints `date` every second: what cat returns is the file so far.
    assert text and text.endswith("\n")
    assert demo_stdout(agent).startswith(text)


def test_cat_of_a_directory_is_a_bad_request(agent, client):
    with pytest.raises(exceptions.BadRequestNomadException):
        client.client.cat.read_file(agent.demo_alloc, "/")


def test_read_at(agent, client):
    text = client.client.read_at.read_file_offset(agent.demo_alloc, 5, 4, "alloc/logs/demo.stdout.0")
    assert text == demo_stdout(agent)[5:9]
    rest = client.client.read_at.read_file_offset(agent.demo_alloc, 5, -1, "alloc/logs/demo.stdout.0")
    assert demo_stdout(agent)[5:].startswith(rest) and rest.endswith("\n")


def test_secrets_are_refused(agent, client):
    with pytest.raises(exceptions.URLNotAuthorizedNomadException):
        client.client.cat.read_file(agent.demo_alloc, "demo/secrets/token")


def test_unknown_allocation_is_not_found(client):
    with pytest.raises(exceptions.URLNotFoundNomadException):
        client.client.ls.list_files("5fc98185-17ff-26bc-a802-0c74fa471c99")


def test_host_stats(client):
    stats = client.client.stats.read_stats()
    assert stats["Timestamp"] > 0
    assert stats["Memory"]["Total"] > 0
    assert stats["CPU"] and all(0.0 <= c["TotalPercent"] <= 100.0 for c in stats["CPU"])
    assert stats["AllocDirStats"]["Size"] > 0


def test_host_stats_for_another_node_is_not_found(client):
    with pytest.raises(exceptions.URLNotFoundNomadException):
        client.client.stats.read_stats(node_id="00000000-0000-0000-0000-000000000000")


def test_allocation_stats(agent, client):
    usage = client.client.allocation.read_allocation_stats(agent.demo_alloc)
    assert set(usage) == {"ResourceUsage", "Tasks", "Timestamp"}
    assert set(usage["ResourceUsage"]) == {"CpuStats", "DeviceStats", "MemoryStats"}
    # The demo task runs: once sampled, it shows with its processes.
    agent.wait_for(lambda: "demo" in client.client.allocation.read_allocation_stats(agent.demo_alloc)["Tasks"])
    usage = client.client.allocation.read_allocation_stats(agent.demo_alloc)
    assert usage["ResourceUsage"]["MemoryStats"]["RSS"] > 0
    assert usage["Tasks"]["demo"]["Pids"]


def test_gc_of_a_running_allocation_is_refused(agent, client):
    alloc = agent.place()
    with pytest.raises(exceptions.BadRequestNomadException):
        client.client.gc_allocation.garbage_collect(alloc)
    assert client.client.ls.list_files(alloc)


def test_gc_allocation(agent, client):
    alloc = agent.place()
    agent.stop(alloc)
    # The allocation turns terminal once the agent notices the spec is gone.
    deadline = time.monotonic() + PATIENCE
    while True:
        try:
            client.client.gc_allocation.garbage_collect(alloc)
            break
        except exceptions.BadRequestNomadException:
            assert time.monotonic() < deadline, "allocation never became terminal"
            time.sleep(0.05)
    with pytest.raises(exceptions.URLNotFoundNomadException):
        client.client.ls.list_files(alloc)


def test_gc_all_allocations(agent, client):
    stopped, running = agent.place(), agent.place()
    agent.stop(stopped)
    deadline = time.monotonic() + PATIENCE
    while True:
        client.client.gc_all_allocations.garbage_collect()
        try:
            client.client.ls.list_files(stopped)
        except exceptions.URLNotFoundNomadException:
            break
        assert time.monotonic() < deadline, "terminal allocation was never collected"
        time.sleep(0.05)
    assert client.client.ls.list_files(running), "running allocations are untouched"


def test_mutual_tls_gives_no_answer_without_a_client_certificate(agent):
    if not agent.tls:
        pytest.skip("the plain-HTTP agent asks for no certificate")
    import requests

    # The handshake fails: no status, no body, not even a 4xx.
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{agent.base}/v1/client/stats", verify=agent.tls.ca, timeout=PATIENCE)
