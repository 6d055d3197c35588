"""Streaming endpoints through real clients: nomadpy's frame decoder and python-nomad."""

import os
import time

from nomadpy.api import Client, default_config

from conftest import PATIENCE


def nomadpy_client(agent, monkeypatch):
    """nomadpy configured only through Nomad's NOMAD_* environment, as the Go `api` package is."""
    for name in ("NOMAD_ADDR", "NOMAD_CACERT", "NOMAD_CLIENT_CERT", "NOMAD_CLIENT_KEY", "NOMAD_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name, value in agent.nomad_environment().items():
        monkeypatch.setenv(name, value)
    return Client(default_config())


def append(agent, relative, data):
    with open(os.path.join(agent.data_dir, "alloc", agent.demo_alloc, relative), "ab") as f:
        f.write(data)


def test_nomadpy_follows_a_file(agent, monkeypatch):
    append(agent, "alloc/data/py-follow.log", b"one\n")
    frames = nomadpy_client(agent, monkeypatch).alloc_fs.stream(agent.demo_alloc, "alloc/data/py-follow.log", "start", 0, timeout=PATIENCE)
    first = next(frames)
    assert first.data_bytes == b"one\n"
    assert first.offset == 4 and first.file == "alloc/data/py-follow.log"
    append(agent, "alloc/data/py-follow.log", b"two\n")
    # The append reaches the client on the open stream (heartbeats, which nomadpy skips,
    # keep it alive); how soon is not asserted.
    second = next(frames)
    assert second.data_bytes == b"two\n" and second.offset == 8
    frames.close()


def test_python_nomad_reads_a_stream_to_its_end_without_follow(agent, client):
    append(agent, "alloc/data/py-once.log", b"abc")
    # python-nomad's stream_file never sends follow (so it would follow forever); the
    # underlying endpoint with follow=false ends at EOF.
    import requests

    url = f"{agent.base}/v1/client/fs/stream/{agent.demo_alloc}"
    params = {"path": "alloc/data/py-once.log", "follow": "False"}
    body = requests.get(url, params=params, timeout=PATIENCE, **agent.requests_options()).text
    assert body == '{"Data":"YWJj","File":"alloc/data/py-once.log","Offset":3}'


def wait_for_stderr_tick(client, agent):
    from nomad.api import exceptions

    deadline = time.monotonic() + PATIENCE
    while True:
        try:
            text = client.client.stream_logs.stream(agent.demo_alloc, "demo", "stderr", plain=True)
            if "tick" in text:
                return text
        except exceptions.URLNotFoundNomadException:
            pass
        assert time.monotonic() < deadline, "the demo task never logged"
        time.sleep(0.2)


def test_python_nomad_reads_logs(agent, client):
    import base64
    import json

    plain = wait_for_stderr_tick(client, agent)
    assert plain.startswith("tick\n")
    framed = client.client.stream_logs.stream(agent.demo_alloc, "demo", "stderr", follow=False)
    # python-nomad hands back the raw concatenated frames; split them as its users do.
    frames = [json.loads(part) for part in framed.replace("}{", "}\n{").split("\n")]
    data = b"".join(base64.b64decode(f["Data"]) for f in frames if "Data" in f)
    assert data.startswith(b"tick\n")
    assert frames[0]["File"] == "alloc/logs/demo.stderr.0"
    tail = client.client.stream_logs.stream(agent.demo_alloc, "demo", "stderr", origin="end", offset=5, plain=True)
    assert tail == "tick\n"


def test_nomadpy_reads_logs(agent, client, monkeypatch):
    wait_for_stderr_tick(client, agent)
    frames = list(nomadpy_client(agent, monkeypatch).alloc_fs.logs(agent.demo_alloc, False, "demo", "stderr", "start", 0, timeout=PATIENCE))
    data = b"".join(f.data_bytes for f in frames)
    assert data.startswith(b"tick\n")
    assert all(f.file == "alloc/logs/demo.stderr.0" for f in frames if f.data)
