"""Signing in: the token checked on entry, who is signed in, a sign-in form wherever ACLs
refuse, and the opt-in "remember in this browser"."""

import json
import urllib.request

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC

from conftest import MANAGEMENT, REFUSED, css, open_ui, shoot, text_of, use_token


def fresh(browser, agent, fragment="#/"):
    """The UI in a tab with nothing stored for this agent."""
    open_ui(browser, agent, fragment)
    browser.driver.execute_script("sessionStorage.clear(); localStorage.clear()")
    open_ui(browser, agent, fragment)


def who(browser):
    return browser.driver.find_element(By.ID, "who")


def test_without_a_token_the_allocations_list_asks_to_sign_in(browser, acl_agent):
    browser.allowed = REFUSED
    fresh(browser, acl_agent)
    form = browser.wait(EC.presence_of_element_located(css("main form.signin")))
    assert "No allocations" not in text_of(browser, "main")
    assert "Permission denied" in text_of(browser, "main")
    assert who(browser).get_attribute("data-state") == "anonymous"
    shoot(browser, "sign-in")
    form.find_element(By.CSS_SELECTOR, "input[type=password]").send_keys(MANAGEMENT)
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    browser.wait(EC.presence_of_element_located((By.XPATH, f"//a[@title='{acl_agent.demo_alloc}']")))
    browser.wait(lambda _: who(browser).get_attribute("data-state") == "signed-in")
    assert "management" in who(browser).text and "never expires" in who(browser).text


def test_a_made_up_token_is_refused_and_not_kept(browser, acl_agent):
    browser.allowed = REFUSED
    fresh(browser, acl_agent)
    browser.wait(EC.presence_of_element_located(css("main form.signin")))
    use_token(browser, "made-up")
    browser.wait(EC.text_to_be_present_in_element((By.ID, "status"), "not accepted"))
    assert "ACL token not found" in text_of(browser, "#status")
    assert browser.driver.execute_script("return sessionStorage.getItem('caravan.token')") is None
    assert who(browser).get_attribute("data-state") == "anonymous"


def test_the_token_is_checked_on_entry_with_its_name_type_and_expiry(browser, acl_agent):
    body = json.dumps({"Name": "short-lived", "Type": "management", "ExpirationTTL": "1h"}).encode()
    req = urllib.request.Request(f"{acl_agent.url}/v1/acl/token", data=body, method="POST",
                                 headers={"X-Nomad-Token": MANAGEMENT})
    with urllib.request.urlopen(req) as res:
        secret = json.load(res)["SecretID"]
    fresh(browser, acl_agent, "#/node")
    browser.driver.execute_script("sessionStorage.setItem('caravan.token', arguments[0])", secret)
    open_ui(browser, acl_agent, "#/node")
    browser.wait(lambda _: who(browser).get_attribute("data-state") == "signed-in")
    assert "short-lived" in who(browser).text and "expires" in who(browser).text
    assert "never" not in who(browser).text
    # A stored token the agent no longer knows is dropped on entry, and said so.
    browser.allowed = REFUSED
    browser.driver.execute_script("sessionStorage.setItem('caravan.token', 'gone')")
    open_ui(browser, acl_agent, "#/node")
    browser.wait(EC.text_to_be_present_in_element((By.ID, "status"), "stored token was not accepted"))
    assert browser.driver.execute_script("return sessionStorage.getItem('caravan.token')") is None


def test_remember_in_this_browser_is_opt_in(browser, acl_agent):
    browser.allowed = REFUSED
    driver = browser.driver
    fresh(browser, acl_agent)
    use_token(browser, MANAGEMENT)
    browser.wait(lambda _: who(browser).get_attribute("data-state") == "signed-in")
    # Not remembered: a new tab is anonymous and asks to sign in.
    first = driver.current_window_handle
    driver.switch_to.new_window("tab")
    open_ui(browser, acl_agent)
    browser.wait(EC.presence_of_element_located(css("main form.signin")))
    driver.close()
    driver.switch_to.window(first)
    driver.find_element(By.ID, "token-remember").click()
    use_token(browser, MANAGEMENT)
    browser.wait(EC.text_to_be_present_in_element((By.ID, "status"), "remembered"))
    driver.switch_to.new_window("tab")
    open_ui(browser, acl_agent)
    browser.wait(EC.presence_of_element_located((By.XPATH, f"//a[@title='{acl_agent.demo_alloc}']")))
    assert who(browser).get_attribute("data-state") == "signed-in"
    # Clear forgets it everywhere.
    driver.find_element(By.ID, "token-clear").click()
    browser.wait(lambda _: who(browser).get_attribute("data-state") == "anonymous")
    assert driver.execute_script("return localStorage.getItem('caravan.token')") is None
    driver.close()
    driver.switch_to.window(first)


def test_the_skip_link_moves_focus_to_the_view(browser, agent):
    open_ui(browser, agent)
    browser.wait(EC.presence_of_element_located(css("table.allocs")))
    body = browser.driver.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.TAB)
    active = browser.driver.switch_to.active_element
    assert active.get_attribute("class") == "skip"
    active.send_keys(Keys.ENTER)
    browser.wait(lambda d: d.switch_to.active_element.get_attribute("id") == "view")
    assert "Not found" not in text_of(browser, "main")
    assert browser.driver.find_elements(By.CSS_SELECTOR, "table.allocs")
