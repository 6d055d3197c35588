"""A 420 px window: the header wraps, nothing is wider than the window, and tables scroll in
their own box."""

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC

from conftest import css, open_ui, samples, shoot

WIDTH = 420
OVERFLOW = ("return [document.documentElement.scrollWidth, window.innerWidth,"
            " Math.max(...[...document.querySelectorAll('header *')].map((e) => e.getBoundingClientRect().right))]")


@pytest.fixture
def narrow(browser):
    driver = browser.driver
    size = driver.get_window_size()
    driver.set_window_size(WIDTH, 800)
    yield browser
    driver.set_window_size(size["width"], size["height"])


def fits(browser):
    page, window, header = browser.driver.execute_script(OVERFLOW)
    assert window <= WIDTH
    assert page <= window, f"the page is {page} px wide in a {window} px window"
    assert header <= window, f"the header reaches {header} px"


def test_every_view_fits_a_narrow_window(narrow, agent):
    browser = narrow
    open_ui(browser, agent)
    browser.wait(EC.presence_of_element_located(css("table.allocs")))
    fits(browser)
    shoot(browser, "narrow")
    # The table scrolls in its own box when it is wider than the window.
    table = browser.driver.find_element(By.CSS_SELECTOR, "table.allocs")
    assert browser.driver.execute_script(
        "const s = getComputedStyle(arguments[0]); return s.overflowX === 'auto' && s.display === 'block'", table)
    open_ui(browser, agent, f"#/alloc/{agent.demo_alloc}")
    browser.wait(EC.presence_of_element_located(css("table.task-table")))
    fits(browser)
    open_ui(browser, agent, "#/node")
    browser.wait(EC.presence_of_element_located(css("table.meta-table")))
    browser.wait(lambda _: samples(browser, 0) >= 1)
    fits(browser)
    open_ui(browser, agent, f"#/alloc/{agent.demo_alloc}/logs/demo/both")
    browser.wait(lambda d: d.find_elements(By.CSS_SELECTOR, ".log div"))
    fits(browser)
    open_ui(browser, agent, f"#/alloc/{agent.demo_alloc}/files/alloc")
    browser.wait(EC.presence_of_element_located(css("table.files")))
    fits(browser)
