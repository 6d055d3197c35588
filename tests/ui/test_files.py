"""Reading files: a big file opens at its end on whole lines, First/Earlier/Later/Last, the
offset in the URL, an exact range label, Follow for a growing file, and a log file's link to
its live view."""

import os
import re

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC

from conftest import css, open_ui, shoot, text_of

LINE = 12  # "line 000000\n"


def write_big(agent, name, lines):
    path = os.path.join(agent.alloc_dir(), "alloc", "data", name)
    with open(path, "w") as f:
        f.write("".join(f"line {i:06d}\n" for i in range(lines)))
    return lines * LINE


def shown(browser):
    """(start, last byte, size) from the range label, and the lines of the window."""
    label = text_of(browser, ".pager .range")
    found = re.search(r"bytes (\d+)–(\d+) of (\d+)", label)
    assert found, label
    start, last, size = map(int, found.groups())
    lines = browser.driver.execute_script("return document.querySelector('pre.content').textContent")
    return (start, last, size), lines.split("\n")


def button(browser, name):
    return browser.driver.find_element(By.XPATH, f"//p[@class='pager']/button[text()='{name}']")


def test_a_big_file_opens_at_its_end_on_whole_lines(browser, agent):
    size = write_big(agent, "huge.log", 700_000)  # 8.4 MB
    open_ui(browser, agent, f"#/alloc/{agent.demo_alloc}/files/alloc%2Fdata%2Fhuge.log")
    browser.wait(EC.text_to_be_present_in_element(css(".pager .range"), "bytes"))
    (start, last, total), lines = shown(browser)
    assert (last, total) == (size - 1, size)
    # Whole lines: the first shown is the line that starts at `start`, the last the file's last.
    assert lines[0] == f"line {start // LINE:06d}" and start % LINE == 0
    assert lines[-2:] == ["line 699999", ""]
    # Scrolled to its end.
    browser.wait(lambda d: d.execute_script(
        "const p = document.querySelector('pre.content');"
        "return p.scrollTop > 0 && p.scrollTop + p.clientHeight >= p.scrollHeight - 2"))
    assert button(browser, "Later").get_attribute("disabled") and button(browser, "Last").get_attribute("disabled")
    shoot(browser, "file-end")
    # The offset is in the URL: a reload shows the same window.
    assert browser.driver.current_url.endswith(f"?offset={start}")
    browser.driver.refresh()
    browser.wait(EC.text_to_be_present_in_element(css(".pager .range"), f"bytes {start}–"))

    button(browser, "First").click()
    browser.wait(EC.text_to_be_present_in_element(css(".pager .range"), "bytes 0–"))
    (start, last, _), lines = shown(browser)
    assert lines[0] == "line 000000" and lines[-1] == "" and (last + 1) % LINE == 0
    assert lines[-2] == f"line {last // LINE:06d}"
    assert button(browser, "Earlier").get_attribute("disabled")
    button(browser, "Later").click()
    browser.wait(EC.text_to_be_present_in_element(css(".pager .range"), f"bytes {last + 1}–"))
    assert shown(browser)[1][0] == f"line {(last + 1) // LINE:06d}"
    assert browser.driver.current_url.endswith(f"?offset={last + 1}")
    button(browser, "Last").click()
    browser.wait(EC.text_to_be_present_in_element(css(".pager .range"), f"–{size - 1} of"))


def test_follow_shows_what_a_growing_file_gets(browser, agent):
    path = os.path.join(agent.alloc_dir(), "alloc", "data", "grow.txt")
    with open(path, "w") as f:
        f.write("first\n")
    open_ui(browser, agent, f"#/alloc/{agent.demo_alloc}/files/alloc%2Fdata%2Fgrow.txt")
    browser.wait(EC.text_to_be_present_in_element(css("pre.content"), "first"))
    follow = button(browser, "Follow")
    follow.click()
    browser.wait(lambda _: follow.get_attribute("aria-pressed") == "true")
    with open(path, "a") as f:
        f.write("appended later\n")
    browser.wait(EC.text_to_be_present_in_element(css("pre.content"), "appended later"))
    browser.wait(EC.text_to_be_present_in_element(css(".pager .range"), "bytes 0–20 of 21"))
    follow.click()
    browser.wait(lambda _: follow.get_attribute("aria-pressed") == "false")


def test_a_log_file_links_to_its_live_view(browser, agent):
    open_ui(browser, agent, f"#/alloc/{agent.demo_alloc}/files/alloc%2Flogs%2Fdemo.stdout.0")
    browser.wait(EC.element_to_be_clickable((By.LINK_TEXT, "Live stdout of demo"))).click()
    browser.wait(lambda d: d.find_elements(By.CSS_SELECTOR, ".log div"))
    assert "/logs/demo/stdout" in browser.driver.current_url
