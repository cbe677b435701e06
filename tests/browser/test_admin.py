"""The admin in real headless Chromium: 2FA login, dashboard, password change, a refused page."""

from radbill import clock, totp
from tests.support.admin import PASSWORD


def login(page, base, username, password):
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button:has-text('Log in')")


def test_two_factor_login_dashboard_and_password_change(admin_server, browser, artifacts):
    base, _ = admin_server
    page = browser.new_page()
    login(page, base, "opa", PASSWORD)
    page.wait_for_selector("h1:has-text('Dashboard')")

    page.goto(f"{base}/profile/2fa")
    page.click("button:has-text('Set up two-factor login')")
    secret = page.inner_text("#totp-key").strip()
    assert page.locator("img.qr").count() == 1
    page.fill("input[name=code]", totp.code_at(secret, totp.step_of(clock.now())))
    page.click("button:has-text('Turn on')")
    page.wait_for_selector("text=Two-factor login is on")
    page.click("button:has-text('Log out')")

    login(page, base, "opa", PASSWORD)
    page.wait_for_selector("h1:has-text('Enter your code')")
    page.fill("input[name=code]", totp.code_at(secret, totp.step_of(clock.now()) + 1))
    page.click("button:has-text('Continue')")
    page.wait_for_selector("h1:has-text('Dashboard')")
    assert page.locator(".tile").count() >= 9
    assert page.locator("svg.chart rect").count() == 30
    assert page.locator("svg.chart text.value").count() == 30
    page.screenshot(path=str(artifacts / "dashboard.png"), full_page=True)

    page.goto(f"{base}/password/change")
    page.fill("input[name=current_password]", PASSWORD)
    page.fill("input[name=new_password]", "a brand new passphrase")
    page.fill("input[name=confirm_password]", "a brand new passphrase")
    page.click("button:has-text('Change password')")
    page.wait_for_selector("text=Your password was changed")
    page.click("button:has-text('Log out')")
    login(page, base, "opa", PASSWORD)
    page.wait_for_selector("text=Wrong username or password.")


def test_sub_operator_is_refused_an_operator_page_on_a_phone(admin_server, browser, artifacts):
    base, _ = admin_server
    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = phone.new_page()
    login(page, base, "suba1", PASSWORD)
    page.wait_for_selector("h1:has-text('Dashboard')")
    page.screenshot(path=str(artifacts / "dashboard-phone.png"))
    response = page.goto(f"{base}/routers")
    assert response.status == 403
    assert page.locator("h1").inner_text() == "Ask your parent operator"
    assert page.locator("text=Routers (NAS)").count() >= 1
    phone.close()
