"""The job view (issue 30): every allocation of a job, merged and followed live, one colour per
allocation, paused, and filtered by allocation and by task."""

import json
import os
import uuid

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from conftest import open_ui, text_of


def place_in_job(agent, job, alloc_id, tasks):
    """An allocation of `job` (conftest's `place` puts everything in job `ui`)."""
    specs = os.path.join(agent.data_dir, "specs")
    spec = {"ID": alloc_id, "JobID": job, "TaskGroup": job, "Tasks": tasks}
    tmp = os.path.join(specs, f".{alloc_id}.tmp")
    with open(tmp, "w") as f:
        json.dump(spec, f)
    os.rename(tmp, os.path.join(specs, f"{alloc_id}.json"))


def lines(browser):
    return browser.driver.find_elements(By.CSS_SELECTOR, ".job-log div")


def shown_allocs(browser):
    return {el.get_attribute("data-alloc") for el in lines(browser) if el.is_displayed()}


def test_a_jobs_view_merges_its_allocations_live_and_filters_them(browser, agent):
    job = f"fleet-{uuid.uuid4().hex[:6]}"
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    for alloc, word in [(first, "alpha"), (second, "beta")]:
        place_in_job(agent, job, alloc, [
            {"Name": "say", "Command": "/bin/sh",
             "Args": ["-c", f"while :; do echo {word}; echo {word}-err >&2; sleep 0.2; done"]},
        ])
    # Linked from the allocations list by its job.
    open_ui(browser, agent, "#/")
    browser.wait(lambda d: d.find_elements(By.LINK_TEXT, job))
    browser.driver.find_element(By.LINK_TEXT, job).click()
    browser.wait(lambda _: shown_allocs(browser) >= {first, second})

    # Tagged with the short allocation id and the task, one colour per allocation.
    tags = {}
    for el in lines(browser):
        who = el.find_element(By.CSS_SELECTOR, ".who")
        tags.setdefault(el.get_attribute("data-alloc"), set()).add((who.text, who.value_of_css_property("color")))
    assert {who for who, _ in tags[first]} == {f"{first[:8]} say"}
    # Stable: every line of an allocation has its one colour; two allocations, two colours
    # (unless their ids hash to the same hue).
    assert len(tags[first]) == len(tags[second]) == 1
    hue = lambda a: browser.driver.execute_script(  # noqa: E731
        "return (await import('/ui/joblogs.js')).hueOf(arguments[0])", a)
    if hue(first) != hue(second):
        assert tags[first] != tags[second]
    # stderr lines are marked; the text is the task's.
    browser.wait(lambda d: d.find_elements(By.CSS_SELECTOR, ".job-log div.stderr"))
    assert any(el.text.endswith(" alpha") for el in lines(browser))

    # Filtered by allocation, then back to every one.
    pick = Select(browser.driver.find_element(By.CSS_SELECTOR, "select[aria-label=Allocation]"))
    pick.select_by_value(second)
    browser.wait(lambda _: shown_allocs(browser) == {second})
    pick.select_by_value("")
    browser.wait(lambda _: shown_allocs(browser) >= {first, second})
    tasks = Select(browser.driver.find_element(By.CSS_SELECTOR, "select[aria-label=Task]"))
    assert [o.text for o in tasks.options] == ["Every task", "say"]

    # Paused: lines keep being counted but none is drawn; resumed, they come.
    pause = browser.driver.find_element(By.XPATH, "//button[text()='Pause']")
    pause.click()
    browser.wait(lambda _: "paused" in text_of(browser, ".log-status"))
    drawn = len(lines(browser))
    counted = int(text_of(browser, ".log-status").split()[0])
    browser.wait(lambda _: int(text_of(browser, ".log-status").split()[0]) > counted + 4)
    assert len(lines(browser)) == drawn
    pause.click()
    browser.wait(lambda _: len(lines(browser)) > drawn)

    # An allocation collected while following is told once, in the log.
    # Collected by this call once terminal (400 until then), or already by the agent's own
    # collector (404): on a machine whose disk is over gc_disk_usage_threshold it may be first.
    os.remove(os.path.join(agent.data_dir, "specs", f"{second}.json"))
    browser.wait(lambda _: agent.get(f"/v1/client/allocation/{second}/gc")[0] in (200, 404))
    browser.wait(lambda d: [el for el in d.find_elements(By.CSS_SELECTOR, ".job-log div.event")
                            if el.get_attribute("data-alloc") == second])
    gone = [el.text for el in browser.driver.find_elements(By.CSS_SELECTOR, ".job-log div.event")]
    assert sum("allocation gone" in t for t in gone) == 1, gone
