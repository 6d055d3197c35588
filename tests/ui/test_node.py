"""The node page: what the node is, charts with their scale, and a chart's minute kept when
the reader goes to another view and comes back."""

import json

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC

from conftest import css, open_ui, samples, text_of

# Leave for the allocations, come back to the node, and read the CPU chart's samples as soon
# as the view is drawn (the page's own hashchange listener, registered first, draws it).
ROUND_TRIP = """
const done = arguments[arguments.length - 1];
window.addEventListener('hashchange', () => {
  window.addEventListener('hashchange', () => done(document.querySelector('figure.chart').dataset.samples), { once: true });
  location.hash = '#/node';
}, { once: true });
location.hash = '#/';
"""


def test_the_node_says_what_it_is(browser, agent):
    node = json.loads(agent.get("/v1/nodes")[2])[0]
    node_record = json.loads(agent.get(f"/v1/node/{node['ID']}")[2])
    open_ui(browser, agent, "#/node")
    facts = browser.wait(EC.presence_of_element_located(css("dl.node-facts")))
    pairs = dict(zip([e.text for e in facts.find_elements(By.TAG_NAME, "dt")],
                     [e.text for e in facts.find_elements(By.TAG_NAME, "dd")]))
    assert (pairs["Name"], pairs["ID"], pairs["Datacenter"]) == (node["Name"], node["ID"], node["Datacenter"])
    assert pairs["Drivers"] == ", ".join(sorted(node_record["Drivers"])) == "raw_exec"


def test_charts_have_a_scale_and_keep_their_minute_across_views(browser, agent):
    open_ui(browser, agent, "#/node")
    browser.wait(lambda _: samples(browser, 0) >= 3 and samples(browser, 1) >= 3)
    assert text_of(browser, "figure.chart .y-max") == "100.0 %"
    assert text_of(browser, "figure.chart .y-zero") == "0.0 %"
    memory = browser.driver.find_elements(By.CSS_SELECTOR, "figure.chart")[1]
    total = memory.find_element(By.CSS_SELECTOR, "output").text.split(" of ")[1]
    assert memory.find_element(By.CSS_SELECTOR, ".y-max").text == total
    assert "60 s ago" in memory.find_element(By.CSS_SELECTOR, ".x-axis").text
    before = samples(browser, 0)
    assert int(browser.driver.execute_async_script(ROUND_TRIP)) >= before
