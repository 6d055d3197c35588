"""Reading logs: tail and head, earlier lines as one scrolls up, the reading place kept while
lines come and go, a filter, stdout and stderr merged with a text gutter and times on every
line, reconnecting after a cut, and no endless polling of a missing allocation."""

import os
import re
import uuid

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC

from conftest import REFUSED, Agent, css, open_ui, shoot, text_of

LINES = "return [...document.querySelectorAll('.log div')].map((d) => d.textContent)"
# The line at the top of the log's box, whatever the page's own bookkeeping says.
TOP_LINE = ("const log = document.querySelector('.log'); const r = log.getBoundingClientRect();"
            "return document.elementFromPoint(r.left + 20, r.top + 12).textContent")


def place(agent, script, task="t"):
    alloc = str(uuid.uuid4())
    agent.place(alloc, [{"Name": task, "Command": "/bin/sh", "Args": ["-c", script]}])
    return alloc


def log_has(agent, alloc, text, task="t"):
    path = os.path.join(agent.alloc_dir(alloc), "alloc", "logs", f"{task}.stdout.0")
    return os.path.exists(path) and text in open(path).read()


def lines(browser):
    return browser.driver.execute_script(LINES)


def scroll(browser, where):
    browser.driver.execute_script(
        "const log = document.querySelector('.log');"
        f"log.scrollTop = {where}; log.dispatchEvent(new Event('scroll'))")


def received(browser):
    return int(text_of(browser, ".log-status").split()[0])


def test_tail_then_earlier_lines_back_to_the_start(browser, agent):
    alloc = place(agent, "seq -f 'n %g' 1 3000; exec sleep 1000")
    browser.wait(lambda _: log_has(agent, alloc, "n 3000\n"))
    open_ui(browser, agent, f"#/alloc/{alloc}/logs/t/stdout")
    browser.wait(lambda _: lines(browser)[-1:] == ["n 3000"])
    assert lines(browser)[0] == "n 2001"
    while "— the start of the log —" not in lines(browser):
        before = len(lines(browser))
        # Scrolled to the top: its scroll event asks for the earlier lines.
        top = browser.driver.execute_script(
            "const log = document.querySelector('.log'); log.scrollTop = 0; return document.querySelector('.log div').textContent")
        browser.wait(lambda _: len(lines(browser)) > before)
        # The line that was at the top is still there: earlier lines went above it.
        assert browser.driver.execute_script(TOP_LINE) == top
    assert lines(browser) == ["— the start of the log —"] + [f"n {i}" for i in range(1, 3001)]
    # Every line has its arrival time, the backlog too.
    assert browser.driver.execute_script(
        "return [...document.querySelectorAll('.log div:not(.event)')].every((d) => d.dataset.t)")


def test_head_then_later_lines_and_a_filter(browser, agent):
    alloc = place(agent, "seq -f 'n %g' 1 3000; exec sleep 1000")
    browser.wait(lambda _: log_has(agent, alloc, "n 3000\n"))
    open_ui(browser, agent, f"#/alloc/{alloc}/logs/t/stdout?from=head")
    browser.wait(lambda _: len(lines(browser)) == 500)
    assert lines(browser)[:2] == ["n 1", "n 2"]
    assert browser.driver.find_element(By.LINK_TEXT, "Head").get_attribute("aria-current") == "page"
    scroll(browser, "log.scrollHeight")
    browser.wait(lambda _: len(lines(browser)) == 1000)
    assert lines(browser)[-1] == "n 1000"
    field = browser.driver.find_element(By.CSS_SELECTOR, "input[type=search]")
    field.send_keys("n 99")
    browser.wait(EC.text_to_be_present_in_element(css(".log-status"), "11 matching"))  # 99, 990..999
    marks = browser.driver.execute_script("return [...document.querySelectorAll('.log mark')].map((m) => m.textContent)")
    assert marks == ["n 99"] * 11
    browser.driver.find_element(By.XPATH, "//label[contains(., 'only matching')]/input").click()
    browser.wait(lambda d: d.execute_script(
        "return [...document.querySelectorAll('.log div')].filter((d) => d.offsetParent).length") == 11)
    shoot(browser, "logs-head-filter")


def test_the_reading_place_is_kept_while_lines_arrive_and_go(browser, agent):
    alloc = place(agent, "i=1; while :; do seq $i $((i+299)); i=$((i+300)); sleep 0.1; done")
    browser.wait(lambda _: log_has(agent, alloc, "300\n"))
    open_ui(browser, agent, f"#/alloc/{alloc}/logs/t/stdout")
    limit = browser.driver.execute_script("return (await import('/ui/logs.js')).MAX_LINES")
    browser.wait(lambda _: len(lines(browser)) >= limit)
    scroll(browser, "log.scrollHeight / 2")
    browser.wait(lambda d: not d.execute_script("return document.querySelector('.log').scrollTop === 0"))
    top = browser.driver.execute_script(TOP_LINE)
    count = received(browser)
    browser.wait(lambda _: received(browser) > count + 3000, "3,000 more lines")
    assert browser.driver.execute_script(TOP_LINE) == top
    # Lines above the reader were trimmed to make room; the newest are still drawn.
    assert int(lines(browser)[0]) > 1


def test_both_outputs_merged_by_arrival_with_a_gutter_and_times(browser, agent):
    open_ui(browser, agent, f"#/alloc/{agent.demo_alloc}/logs/demo/both")
    browser.wait(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".log div[data-g=err]")) >= 2
                 and len(d.find_elements(By.CSS_SELECTOR, ".log div[data-g=out]")) >= 2)
    stamps = browser.driver.execute_script("return [...document.querySelectorAll('.log div')].map((d) => d.t)")
    assert all(stamps) and stamps == sorted(stamps)
    err = browser.driver.find_element(By.CSS_SELECTOR, ".log div[data-g=err]")
    assert err.get_attribute("textContent") == "tick"
    gutter = browser.driver.execute_script("return getComputedStyle(arguments[0], '::before').content", err)
    assert re.fullmatch(r'"\d\d:\d\d:\d\d\.\d{3} err "', gutter), gutter
    shoot(browser, "logs-both")


def test_a_cut_stream_reconnects_from_the_last_line(browser, tmp_path):
    first = Agent(str(tmp_path))
    port = int(first.addr.rsplit(":", 1)[1])
    alloc = place(first, "while :; do date +%s%N; sleep 0.2; done")
    browser.wait(lambda _: log_has(first, alloc, "\n"))
    second = None
    try:
        browser.allowed = re.compile(r"net::ERR_|status of (403|404) ")
        open_ui(browser, first, f"#/alloc/{alloc}/logs/t/stdout")
        browser.wait(lambda _: len(lines(browser)) >= 5)
        first.close()
        browser.wait(EC.presence_of_element_located((By.XPATH, "//button[text()='Retry now']")))
        assert "reconnecting" in text_of(browser, "main")
        seen = len(lines(browser))
        second = Agent(str(tmp_path), port=port)
        browser.wait(lambda _: len(lines(browser)) >= seen + 5)
        numbers = [int(n) for n in lines(browser)]
        assert numbers == sorted(set(numbers)), "no line twice, none out of order"
    finally:
        (second or first).discard()


def test_a_missing_allocation_is_not_polled_forever(browser, agent):
    browser.allowed = REFUSED
    missing = str(uuid.uuid4())
    open_ui(browser, agent, f"#/alloc/{missing}")
    browser.wait(lambda d: len(d.find_elements(By.XPATH, "//*[contains(text(), 'No longer checking')]")) == 2)
    stats = browser.driver.execute_script(
        "return performance.getEntriesByType('resource').filter((e) => e.name.includes('/stats')).length")
    assert stats == 1
