"""Start a real caravan agent (the binary named by CARAVAN_BIN) for python-nomad tests."""

import json
import os
import re
import shutil
import subprocess
import threading
import time
import uuid

import pytest

# How long any test waits for a state: a guard against a stuck agent, not a performance
# bound (a loaded machine may take long). No test asserts how long something took.
PATIENCE = 120


class Tls:
    """A test CA (trustme), the agent's certificate for 127.0.0.1 and a client certificate,
    as PEM files: the agent runs with mutual TLS, so every client must present the latter."""

    def __init__(self, directory):
        import trustme

        ca = trustme.CA()
        self.ca = os.path.join(directory, "ca.pem")
        ca.cert_pem.write_to_path(self.ca)
        server = ca.issue_cert("127.0.0.1", "localhost")
        self.server_cert = os.path.join(directory, "server.pem")
        self.server_key = os.path.join(directory, "server-key.pem")
        server.cert_chain_pems[0].write_to_path(self.server_cert)
        server.private_key_pem.write_to_path(self.server_key)
        client = ca.issue_cert("cli.global.nomad")
        self.client_cert = os.path.join(directory, "client.pem")
        self.client_key = os.path.join(directory, "client-key.pem")
        client.cert_chain_pems[0].write_to_path(self.client_cert)
        client.private_key_pem.write_to_path(self.client_key)

    def config(self):
        return (
            "tls {\n"
            "  http = true\n"
            f'  ca_file = "{self.ca}"\n'
            f'  cert_file = "{self.server_cert}"\n'
            f'  key_file = "{self.server_key}"\n'
            "  verify_https_client = true\n"
            "}\n"
        )


class Agent:
    def __init__(self, data_dir, tls=None):
        self.data_dir = data_dir
        self.specs_dir = os.path.join(data_dir, "specs")
        self.tls = tls
        binary = os.environ.get("CARAVAN_BIN", "target/debug/caravan")
        args = [binary, "agent", "-dev", "-http-port=0", f"-data-dir={data_dir}"]
        if tls:
            config = os.path.join(data_dir, "tls.hcl")
            with open(config, "w") as f:
                f.write(tls.config())
            args.append(f"-config={config}")
        self.proc = subprocess.Popen(
            args,
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
            served = re.match(r"Serving HTTPS? on (https?)://([^/]+)/", line)
            if served:
                self.scheme, self.addr = served.group(1), served.group(2)
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

    @property
    def base(self):
        return f"{self.scheme}://{self.addr}"

    def requests_options(self):
        """What `requests` needs to reach this agent: the CA and, under mutual TLS, our identity."""
        if not self.tls:
            return {}
        return {"verify": self.tls.ca, "cert": (self.tls.client_cert, self.tls.client_key)}

    def nomad_environment(self):
        """The NOMAD_* variables Nomad's CLI and Go `api` package read to reach this agent."""
        env = {"NOMAD_ADDR": self.base}
        if self.tls:
            env.update(
                NOMAD_CACERT=self.tls.ca,
                NOMAD_CLIENT_CERT=self.tls.client_cert,
                NOMAD_CLIENT_KEY=self.tls.client_key,
            )
        return env

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

    def discard(self):
        """Stop the agent and remove its data dir. Tasks outlive their agent by design; their
        executors stop them once the data dir is gone, so no test leaves a task running."""
        self.close()
        shutil.rmtree(self.data_dir, ignore_errors=True)


@pytest.fixture(scope="session", params=["http", "mutual-tls"])
def agent(request, tmp_path_factory):
    """Every test runs twice: against a plain-HTTP agent and against one with mutual TLS."""
    tls = Tls(str(tmp_path_factory.mktemp("tls"))) if request.param == "mutual-tls" else None
    agent = Agent(str(tmp_path_factory.mktemp("caravan")), tls)
    yield agent
    agent.discard()


@pytest.fixture
def client(agent):
    import nomad

    if agent.tls:
        # python-nomad's own TLS options: https, the CA to verify with, our certificate.
        return nomad.Nomad(
            host=agent.host,
            port=agent.port,
            secure=True,
            verify=agent.tls.ca,
            cert=(agent.tls.client_cert, agent.tls.client_key),
            timeout=PATIENCE,
        )
    return nomad.Nomad(host=agent.host, port=agent.port, timeout=PATIENCE)
