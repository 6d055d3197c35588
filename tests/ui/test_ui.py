"""The web UI end to end: a real agent, a real headless Chromium, the page's own requests."""

import os
import uuid

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC

from conftest import MANAGEMENT, READER, REFUSED, Agent, css, open_ui, samples, shoot, text_of, use_token


# --- the document itself -------------------------------------------------------------------

def test_the_page_and_its_files_carry_a_strict_policy(agent):
    status, headers, body = agent.get("/ui/")
    assert status == 200
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    policy = headers["Content-Security-Policy"]
    for directive in ["default-src 'self'", "script-src 'self'", "style-src 'self'",
                      "frame-ancestors 'none'", "object-src 'none'", "base-uri 'none'"]:
        assert directive in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert b"<script>" not in body and b"style=" not in body
    status, headers, _ = agent.get("/ui/app.js")
    assert (status, headers["Content-Type"]) == (200, "text/javascript; charset=utf-8")
    assert headers["Content-Security-Policy"] == policy
    assert agent.get("/ui/nope.js")[0] == 404


def test_a_disabled_ui_is_404(tmp_path):
    agent = Agent(str(tmp_path), config="ui {\n  enabled = false\n}\n")
    try:
        for path in ["/ui/", "/ui/app.js", "/ui"]:
            status, _, body = agent.get(path)
            assert status == 404, path
            assert b"disabled" in body
        # The API is still served.
        assert agent.get("/v1/client/metadata")[0] == 200
    finally:
        agent.discard()


# --- views, without ACLs -------------------------------------------------------------------

def test_allocations_list_shows_status_and_tasks(browser, agent):
    open_ui(browser, agent)
    row = browser.wait(EC.presence_of_element_located(
        (By.XPATH, f"//table[contains(@class,'allocs')]//a[@title='{agent.demo_alloc}']/ancestor::tr")))
    assert "running" in row.text and "demo" in row.text
    shoot(browser, "allocations")
    row.find_element(By.TAG_NAME, "a").click()
    browser.wait(EC.presence_of_element_located(css("table.task-table")))
    assert "demo" in text_of(browser, "table.task-table")


def test_browse_to_a_file_and_see_its_content_as_text(browser, agent):
    data = os.path.join(agent.alloc_dir(), "alloc", "data")
    markup = "<b id=injected>bold?</b> & <script>alert(1)</script>\nsecond line\n"
    with open(os.path.join(data, "page.html"), "w") as f:
        f.write(markup)
    with open(os.path.join(data, "blob.bin"), "wb") as f:
        f.write(bytes(range(256)) * 8)
    with open(os.path.join(data, "big.log"), "w") as f:
        f.write("".join(f"line {i:06d}\n" for i in range(40000)))
        f.write("the very end\n")
    open_ui(browser, agent, f"#/alloc/{agent.demo_alloc}")
    browser.wait(EC.element_to_be_clickable((By.LINK_TEXT, "Browse files"))).click()
    browser.wait(EC.element_to_be_clickable((By.LINK_TEXT, "alloc/"))).click()
    browser.wait(EC.element_to_be_clickable((By.LINK_TEXT, "data/"))).click()
    browser.wait(EC.presence_of_element_located((By.LINK_TEXT, "page.html")))
    shoot(browser, "files")
    browser.driver.find_element(By.LINK_TEXT, "page.html").click()
    pre = browser.wait(EC.presence_of_element_located(css("pre.content")))
    browser.wait(lambda _: pre.text.startswith("<b id=injected>"))
    assert "second line" in pre.text
    # Shown, never interpreted.
    assert browser.driver.find_elements(By.ID, "injected") == []
    assert pre.find_elements(By.XPATH, "./*") == []
    shoot(browser, "file")

    # A binary file is offered for download, not shown.
    browser.driver.get(f"{agent.url}/ui/#/alloc/{agent.demo_alloc}/files/alloc%2Fdata%2Fblob.bin")
    browser.wait(EC.text_to_be_present_in_element(css("main"), "Binary file"))
    assert browser.driver.find_elements(By.CSS_SELECTOR, "pre.content") == []
    assert browser.driver.find_element(By.XPATH, "//button[text()='Download']").is_displayed()

    # A big file: its end through readat, then earlier windows.
    browser.driver.get(f"{agent.url}/ui/#/alloc/{agent.demo_alloc}/files/alloc%2Fdata%2Fbig.log")
    browser.wait(EC.text_to_be_present_in_element(css("pre.content"), "the very end"))
    browser.driver.find_element(By.XPATH, "//button[text()='Earlier']").click()
    browser.wait(lambda _: "the very end" not in text_of(browser, "pre.content")
                 and "line 0" in text_of(browser, "pre.content"))

    # A missing file: a clear 404 sentence.
    browser.allowed = REFUSED
    browser.driver.get(f"{agent.url}/ui/#/alloc/{agent.demo_alloc}/files/alloc%2Fnope")
    browser.wait(EC.text_to_be_present_in_element(css(".notice.error"), "Not found"))


def test_follow_a_task_log_and_see_a_new_line(browser, agent):
    open_ui(browser, agent, f"#/alloc/{agent.demo_alloc}/logs/demo/stdout")
    browser.wait(lambda d: d.find_elements(By.CSS_SELECTOR, ".log div"))
    first = browser.driver.find_elements(By.CSS_SELECTOR, ".log div")[-1].text
    # The demo task prints the date every second: a new last line arrives.
    browser.wait(lambda d: d.find_elements(By.CSS_SELECTOR, ".log div")[-1].text != first)
    # Lines that arrive live carry their time.
    browser.wait(lambda d: d.find_elements(By.CSS_SELECTOR, ".log div[data-t]"))
    shoot(browser, "logs")
    pause = browser.driver.find_element(By.XPATH, "//button[text()='Pause']")
    pause.click()
    browser.wait(lambda _: pause.get_attribute("aria-pressed") == "true"
                 and "paused" in text_of(browser, ".log-status"))
    pause.click()
    browser.wait(lambda _: pause.get_attribute("aria-pressed") == "false")

    # Both outputs: stderr lines ("tick") are marked.
    browser.driver.find_element(By.LINK_TEXT, "both").click()
    browser.wait(lambda d: d.find_elements(By.CSS_SELECTOR, ".log div.stderr"))
    browser.wait(lambda d: d.find_elements(By.CSS_SELECTOR, ".log div:not(.stderr)"))


def test_a_flood_of_lines_keeps_the_tab_responsive(browser, agent):
    alloc = str(uuid.uuid4())
    # Bursts of 20,000 lines every second (more than 10k lines/s).
    agent.place(alloc, [{"Name": "flood", "Command": "/bin/sh",
                         "Args": ["-c", "while :; do seq 1 20000; sleep 1; done"]}])
    browser.wait(lambda _: os.path.exists(os.path.join(agent.alloc_dir(alloc), "alloc", "logs", "flood.stdout.0")))
    open_ui(browser, agent, f"#/alloc/{alloc}/logs/flood/stdout")

    def received(_):
        status = text_of(browser, ".log-status")
        return status.split()[0].isdigit() and int(status.split()[0]) >= 100000

    browser.wait(received, "100,000 lines")
    # Still answering scripts, and only a bounded number of lines in the page.
    limit = browser.driver.execute_script("return (await import('/ui/logs.js')).MAX_LINES")
    rendered = browser.driver.execute_script("return document.querySelectorAll('.log div').length")
    assert 0 < rendered <= limit


def test_charts_update_every_second(browser, agent):
    # Screenshots for the docs are worth a longer history.
    enough = 20 if os.environ.get("CARAVAN_UI_SHOTS") else 3
    open_ui(browser, agent, "#/node")
    browser.wait(lambda _: samples(browser, 0) >= enough and samples(browser, 1) >= enough, "node charts")
    assert "%" in text_of(browser, "figure.chart output")
    shoot(browser, "node")
    open_ui(browser, agent, f"#/alloc/{agent.demo_alloc}")
    browser.wait(lambda _: samples(browser, 0) >= enough and samples(browser, 1) >= enough, "allocation charts")
    shoot(browser, "allocation")


def test_metadata_can_be_edited_without_acls(browser, agent):
    open_ui(browser, agent, "#/node")
    browser.wait(EC.presence_of_element_located((By.ID, "meta-key"))).send_keys("ui-test")
    browser.driver.find_element(By.ID, "meta-value").send_keys("one")
    browser.driver.find_element(By.XPATH, "//form[contains(@class,'meta-form')]//button").click()
    browser.wait(EC.text_to_be_present_in_element(css("table.meta-table"), "ui-test"))
    browser.wait(EC.text_to_be_present_in_element(css(".notice.ok"), "Set ui-test"))
    browser.driver.find_element(By.CSS_SELECTOR, "button[aria-label='Remove ui-test']").click()
    browser.wait(lambda _: "ui-test" not in text_of(browser, "table.meta-table"))


def test_an_unknown_view_says_so(browser, agent):
    open_ui(browser, agent, "#/nowhere")
    browser.wait(EC.text_to_be_present_in_element(css(".notice.error"), "Not found"))


# --- with ACLs -----------------------------------------------------------------------------

def test_with_acls_anonymous_callers_are_told_to_give_a_token(browser, acl_agent):
    browser.allowed = REFUSED
    open_ui(browser, acl_agent, "#/node")
    use_token(browser, "")
    browser.wait(EC.text_to_be_present_in_element(css(".notice.error"), "this needs an ACL token"))


def test_with_acls_a_reader_may_look_but_not_write_metadata(browser, acl_agent):
    browser.allowed = REFUSED
    open_ui(browser, acl_agent, "#/node")
    use_token(browser, READER)
    browser.wait(lambda _: samples(browser, 0) >= 1)
    browser.wait(EC.presence_of_element_located((By.ID, "meta-key"))).send_keys("denied")
    browser.driver.find_element(By.ID, "meta-value").send_keys("x")
    browser.driver.find_element(By.XPATH, "//form[contains(@class,'meta-form')]//button").click()
    browser.wait(EC.text_to_be_present_in_element(css(".result .notice.error"), "Permission denied"))
    assert "node:write" in text_of(browser, ".result .notice.error")
    assert "denied" not in text_of(browser, "table.meta-table")


def test_with_acls_a_management_token_sees_and_edits_everything(browser, acl_agent):
    open_ui(browser, acl_agent, "#/node")
    use_token(browser, MANAGEMENT)
    browser.wait(EC.presence_of_element_located((By.ID, "meta-key"))).send_keys("rack")
    browser.driver.find_element(By.ID, "meta-value").send_keys("r9")
    browser.driver.find_element(By.XPATH, "//form[contains(@class,'meta-form')]//button").click()
    browser.wait(EC.text_to_be_present_in_element(css("table.meta-table"), "r9"))
    browser.wait(lambda _: samples(browser, 0) >= 2)
    # The token stays for the tab's session: the allocations and a followed log need it too.
    browser.driver.get(f"{acl_agent.url}/ui/#/")
    browser.wait(EC.presence_of_element_located((By.XPATH, f"//a[@title='{acl_agent.demo_alloc}']")))
    browser.driver.get(f"{acl_agent.url}/ui/#/alloc/{acl_agent.demo_alloc}/logs/demo/stderr")
    browser.wait(lambda d: d.find_elements(By.CSS_SELECTOR, ".log div.stderr"))
    assert browser.driver.execute_script("return sessionStorage.getItem('caravan.token')") == MANAGEMENT
