"""Metadata: a static key removed only after a confirmation and restorable, values edited in
place, and focus kept where the reader works."""

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC

from conftest import Agent, css, open_ui


@pytest.fixture(scope="module")
def meta_agent(tmp_path_factory):
    agent = Agent(str(tmp_path_factory.mktemp("caravan-meta")),
                  config='client {\n  meta {\n    rack = "r1"\n  }\n}\n')
    yield agent
    agent.discard()


def row(browser, key):
    return browser.driver.find_element(By.XPATH, f"//table[contains(@class,'meta-table')]//tr[td[1]/span[text()='{key}']]")


def cells(browser, key):
    return [td.text for td in row(browser, key).find_elements(By.TAG_NAME, "td")[:3]]


def press(browser, label):
    browser.wait(EC.element_to_be_clickable(css(f"table.meta-table button[aria-label='{label}']"))).click()


def active(browser):
    return browser.driver.switch_to.active_element


def test_a_static_key_is_removed_only_when_confirmed_and_can_be_restored(browser, meta_agent):
    open_ui(browser, meta_agent, "#/node")
    browser.wait(lambda _: cells(browser, "rack") == ["rack", "r1", "static"])
    press(browser, "Remove rack")
    browser.wait(EC.text_to_be_present_in_element(css("table.meta-table"), "Remove it?"))
    # Keep: nothing changes, and focus goes back to the row's Remove.
    browser.driver.find_element(By.XPATH, "//button[text()='Keep']").click()
    browser.wait(lambda _: active(browser).get_attribute("aria-label") == "Remove rack")
    assert cells(browser, "rack") == ["rack", "r1", "static"]
    press(browser, "Remove rack")
    browser.wait(EC.element_to_be_clickable((By.XPATH, "//tr[td[1]/span[text()='rack']]//button[text()='Remove']"))).click()
    browser.wait(lambda _: cells(browser, "rack") == ["rack", "(removed)", "static, removed"])
    press(browser, "Restore rack")
    browser.wait(lambda _: cells(browser, "rack") == ["rack", "r1", "static"])
    assert "Restored rack" in browser.driver.find_element(By.CSS_SELECTOR, ".result").text


def test_a_value_is_edited_in_place_and_focus_stays(browser, meta_agent):
    open_ui(browser, meta_agent, "#/node")
    press(browser, "Edit rack")
    field = browser.wait(lambda _: active(browser) if active(browser).get_attribute("aria-label") == "New value of rack" else None)
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys("r2", Keys.ENTER)
    browser.wait(lambda _: cells(browser, "rack") == ["rack", "r2", "static, changed"])
    browser.wait(lambda _: active(browser).get_attribute("aria-label") == "Edit rack")
    # Set from the form: the form stays, emptied, with focus in its key field for the next one.
    key = browser.driver.find_element(By.ID, "meta-key")
    key.send_keys("zone")
    browser.driver.find_element(By.ID, "meta-value").send_keys("z1", Keys.ENTER)
    browser.wait(lambda _: cells(browser, "zone") == ["zone", "z1", "dynamic"])
    browser.wait(lambda _: active(browser).get_attribute("id") == "meta-key")
    assert key.get_attribute("value") == ""
    # A dynamic key goes at once.
    press(browser, "Remove zone")
    browser.wait(lambda d: not d.find_elements(By.XPATH, "//tr[td[1]/span[text()='zone']]")
                 or cells(browser, "zone")[1] == "(removed)")
