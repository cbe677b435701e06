"""No dead ends, on a phone in real Chromium: an operator-menu URL a sub-operator may not open answers a page that
says what to do (ask the parent operator), and an empty package change says whom to ask."""

from tests.browser.test_admin import login
from tests.support.admin import PASSWORD


def test_sub_operator_and_operator_meet_pages_not_dead_ends(admin_server, browser, artifacts):
    base, tree = admin_server
    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = phone.new_page()
    login(page, base, "suba1", PASSWORD)
    page.wait_for_selector("h1:has-text('Dashboard')")
    response = page.goto(f"{base}/whatsapp")
    assert response.status == 403
    assert page.locator("h1").inner_text() == "Ask your parent operator"
    assert page.locator("li", has_text="IP pools").count() == 1
    # built: sections a sub-operator may not open, listed as such
    assert page.locator("li", has_text="Webhooks").count() == 1
    assert page.locator("li", has_text="API clients").count() == 1
    page.screenshot(path=str(artifacts / "ask-parent-whatsapp-390.png"), full_page=True)

    page.goto(f"{base}/customers/{tree.customers['a1']['id']}/package")
    assert page.locator("select[name=package_id]").count() == 0
    assert page.get_by_text("Ask your parent operator to assign another package to you").is_visible()
    page.screenshot(path=str(artifacts / "package-none-390.png"), full_page=True)
    page.click("button:has-text('Log out')")

    login(page, base, "opa", PASSWORD)
    page.wait_for_selector("h1:has-text('Dashboard')")
    response = page.goto(f"{base}/webhooks")
    assert response.status == 200  # built: the operator's own page, no longer "not available yet"
    assert "not available yet" not in page.locator("h1").inner_text()
    phone.close()
