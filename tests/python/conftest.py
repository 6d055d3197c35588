"""Start a real caravan agent (the binary named by CARAVAN_BIN) for python-nomad tests."""

import json
import os
import re
import subprocess
import threading
import time
import uuid

import pytest

# How long any test waits for a state: a guard against a stuck agent, not a performance
# bound (a loaded machine may take long). No test asserts how long something took.
PATIENCE = 120


class Agent:
    def __init__(self, data_dir):
        self.data_dir = data_dir
        self.specs_dir = os.path.join(data_dir, "specs")
        binary = os.environ.get("CARAVAN_BIN", "target/debug/caravan")
        self.proc = subprocess.Popen(
            [binary, "agent", "-dev", "-http-port=0", f"-data-dir={data_dir}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines = []
        self.addr = None
        self.demo_alloc = None
        deadline = time.monotonic() + PATIENCE
        while self.addr is None:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("agent exited:\n" + "".join(self.lines))
            if time.monotonic() > deadline:
                raise RuntimeError("agent did not start:\n" + "".join(self.lines))
            self.lines.append(line)
            found = re.search(r"demo allocation ([0-9a-f-]{36})", line)
            if found:
                self.demo_alloc = found.group(1)
            served = re.match(r"Serving HTTP on http://([^/]+)/", line)
            if served:
                self.addr = served.group(1)
        # Keep draining the agent's output so it never blocks on a full pipe.
        threading.Thread(target=self._drain, daemon=True).start()
        # The demo task writes a line each second; tests read its first lines.
        logs = os.path.join(data_dir, "alloc", self.demo_alloc, "alloc", "logs")
        self.wait_for(lambda: all(
            os.path.exists(os.path.join(logs, f)) and os.path.getsize(os.path.join(logs, f)) > 0
            for f in ("demo.stdout.0", "demo.stderr.0")
        ))
        self.logs_dir = logs
        self.host, port = self.addr.rsplit(":", 1)
        self.port = int(port)

    def _drain(self):
        for line in self.proc.stdout:
            self.lines.append(line)

    def place(self, tasks=("web",)):
        """Write a spec whose tasks run until stopped; return its allocation id once placed."""
        alloc_id = str(uuid.uuid4())
        spec = {
            "ID": alloc_id,
            "JobID": "pytest",
            "TaskGroup": "pytest",
            "Tasks": [{"Name": t, "Command": "/bin/sleep", "Args": ["3600"]} for t in tasks],
        }
        tmp = os.path.join(self.specs_dir, f".{alloc_id}.tmp")
        with open(tmp, "w") as f:
            json.dump(spec, f)
        os.rename(tmp, os.path.join(self.specs_dir, f"{alloc_id}.json"))
        self.wait_for(lambda: os.path.isdir(os.path.join(self.data_dir, "alloc", alloc_id, "alloc")))
        return alloc_id

    def stop(self, alloc_id):
        """Remove a spec: its allocation becomes terminal."""
        os.remove(os.path.join(self.specs_dir, f"{alloc_id}.json"))

    @staticmethod
    def wait_for(check, timeout=PATIENCE):
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise TimeoutError("condition not met")
            time.sleep(0.05)

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture(scope="session")
def agent(tmp_path_factory):
    agent = Agent(str(tmp_path_factory.mktemp("caravan")))
    yield agent
    agent.close()


@pytest.fixture
def client(agent):
    import nomad

    return nomad.Nomad(host=agent.host, port=agent.port, timeout=PATIENCE)
