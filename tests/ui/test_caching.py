"""Coming back costs nothing: the page names its files under the UI's version, the browser
keeps them for good, and only the page itself is revalidated."""

from selenium.webdriver.support import expected_conditions as EC

from conftest import css, open_ui

FILES = ("return performance.getEntriesByType('resource')"
         ".filter((e) => /\\/ui\\/[0-9a-f]{12}\\//.test(e.name))"
         ".map((e) => [e.name, e.transferSize])")


def test_a_second_visit_downloads_no_file_again(browser, agent):
    open_ui(browser, agent)
    browser.wait(EC.presence_of_element_located(css("table.allocs")))
    first = browser.driver.execute_script(FILES)
    assert len(first) >= 10, first
    open_ui(browser, agent)
    browser.wait(EC.presence_of_element_located(css("table.allocs")))
    again = browser.driver.execute_script(FILES)
    # Chromium may not even list what it took from its memory cache; what it lists came from a cache.
    assert any(n.endswith("/app.js") for n, _ in again), again
    assert [n for n, size in again if size != 0] == [], "fetched again"
