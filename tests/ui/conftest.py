"""A real caravan agent and a real headless Chromium (Debian's, driven by Selenium)."""

import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request

import pytest
from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

# How long a test waits for a state: a guard against a stuck agent or browser, not a
# performance bound. No test asserts how long anything took.
PATIENCE = 60

MANAGEMENT = "secret-management-ui"
READER = "secret-reader-ui"

# Chromium logs every non-2xx fetch as a console error; a test that expects refusals names them.
REFUSED = re.compile(r"status of (403|404) ")


class Agent:
    """`caravan agent -dev` on a free port, with optional extra flags and config."""

    def __init__(self, data_dir, *args, config=None, acl=False, port=0):
        self.data_dir = data_dir
        if acl and not os.path.exists(os.path.join(data_dir, "acl")):
            write_acl(data_dir)
            args = (*args, "-acl-enabled")
        if config is not None:
            path = os.path.join(data_dir, "agent.hcl")
            with open(path, "w") as f:
                f.write(config)
            args = (*args, f"-config={path}")
        binary = os.environ.get("CARAVAN_BIN", "target/debug/caravan")
        self.proc = subprocess.Popen(
            [binary, "agent", "-dev", f"-http-port={port}", f"-data-dir={data_dir}", *args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        self.lines = []
        self.addr = self.demo_alloc = None
        while self.addr is None:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("agent exited:\n" + "".join(self.lines))
            self.lines.append(line)
            if found := re.search(r"demo allocation ([0-9a-f-]{36})", line):
                self.demo_alloc = found.group(1)
            if served := re.match(r"Serving HTTP on http://([^/]+)/", line):
                self.addr = served.group(1)
        threading.Thread(target=lambda: self.lines.extend(self.proc.stdout), daemon=True).start()
        self.url = f"http://{self.addr}"

    def alloc_dir(self, alloc_id=None):
        return os.path.join(self.data_dir, "alloc", alloc_id or self.demo_alloc)

    def place(self, alloc_id, tasks):
        """Write an allocation spec atomically; its tasks start when the agent sees it."""
        specs = os.path.join(self.data_dir, "specs")
        spec = {"ID": alloc_id, "JobID": "ui", "TaskGroup": "ui", "Tasks": tasks}
        tmp = os.path.join(specs, f".{alloc_id}.tmp")
        with open(tmp, "w") as f:
            json.dump(spec, f)
        os.rename(tmp, os.path.join(specs, f"{alloc_id}.json"))

    def get(self, path, token=None):
        """(status, headers, body) of a GET."""
        req = urllib.request.Request(self.url + path)
        if token:
            req.add_header("X-Nomad-Token", token)
        try:
            with urllib.request.urlopen(req, timeout=PATIENCE) as res:
                return res.status, res.headers, res.read()
        except urllib.error.HTTPError as err:
            return err.code, err.headers, err.read()

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


def write_acl(data_dir):
    """A management token and a reader (node read, namespace read) before the agent starts."""
    acl = os.path.join(data_dir, "acl")
    os.makedirs(os.path.join(acl, "policies"))
    os.makedirs(os.path.join(acl, "tokens"))
    with open(os.path.join(acl, "policies", "reader.hcl"), "w") as f:
        f.write('namespace "*" {\n policy = "read"\n capabilities = ["read-logs", "read-fs"]\n}\n'
                'node {\n policy = "read"\n}\n')
    for secret, kind, policies in [(MANAGEMENT, "management", []), (READER, "client", ["reader"])]:
        with open(os.path.join(acl, "tokens", f"{kind}.json"), "w") as f:
            json.dump({"AccessorID": f"accessor-{secret}", "SecretID": secret, "Name": kind,
                       "Type": kind, "Policies": policies}, f)


@pytest.fixture(scope="module")
def agent(tmp_path_factory):
    agent = Agent(str(tmp_path_factory.mktemp("caravan")))
    yield agent
    agent.discard()


@pytest.fixture(scope="module")
def acl_agent(tmp_path_factory):
    agent = Agent(str(tmp_path_factory.mktemp("caravan-acl")), acl=True)
    yield agent
    agent.discard()


class Browser:
    def __init__(self):
        self.profile = tempfile.TemporaryDirectory(prefix="caravan-ui-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = "/usr/bin/chromium"
        for flag in ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                     "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync",
                     "--window-size=1200,800", "--force-device-scale-factor=1",
                     f"--user-data-dir={self.profile.name}"]:
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.driver = webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
        self.driver.set_script_timeout(PATIENCE)
        self.allowed = None

    def wait(self, condition, message=""):
        # The page re-renders as answers arrive: an element may go stale between polls.
        return WebDriverWait(self.driver, PATIENCE, poll_frequency=0.05,
                             ignored_exceptions=(NoSuchElementException, StaleElementReferenceException),
                             ).until(condition, message)

    def console_errors(self):
        """Console errors since the last call, less the refusals the test said it expects."""
        entries = self.driver.get_log("browser")
        return [e["message"] for e in entries if e["level"] == "SEVERE"
                and not (self.allowed and self.allowed.search(e["message"]))]

    def close(self):
        self.driver.quit()
        self.profile.cleanup()


@pytest.fixture(scope="session")
def browser_session():
    browser = Browser()
    yield browser
    browser.close()


@pytest.fixture
def browser(browser_session):
    """The shared browser; every test ends with no console error it did not expect."""
    browser_session.console_errors()
    browser_session.allowed = None
    yield browser_session
    errors = browser_session.console_errors()
    browser_session.driver.get("about:blank")
    assert errors == [], errors


def shoot(browser, name):
    """Save a screenshot for docs/ui.md when CARAVAN_UI_SHOTS names a directory."""
    target = os.environ.get("CARAVAN_UI_SHOTS")
    if target:
        os.makedirs(target, exist_ok=True)
        browser.driver.save_screenshot(os.path.join(target, f"{name}.png"))


def css(selector):
    return (By.CSS_SELECTOR, selector)


def text_of(browser, selector):
    return browser.driver.find_element(By.CSS_SELECTOR, selector).text


def open_ui(browser, agent, fragment="#/"):
    """Load the page afresh (a new fragment alone would not reload it) and wait for its start."""
    browser.driver.get("about:blank")
    browser.driver.get(f"{agent.url}/ui/{fragment}")
    browser.wait(EC.presence_of_element_located(css("body[data-ready]")))


def use_token(browser, secret):
    """Use a token from the header and wait for the page's answer (the view drawn again)."""
    browser.driver.execute_script("document.getElementById('status').textContent = ''")
    field = browser.driver.find_element(By.ID, "token")
    field.clear()
    if secret:
        field.send_keys(secret)
    browser.driver.find_element(By.CSS_SELECTOR, "#token-form button[type=submit]").click()
    browser.wait(lambda d: d.find_element(By.ID, "status").text)


def samples(browser, index):
    charts = browser.driver.find_elements(By.CSS_SELECTOR, "figure.chart")
    return int(charts[index].get_attribute("data-samples")) if len(charts) > index else 0
