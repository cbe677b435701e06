"""Each login's language: its own choice, else its operator's default, else (before login) Accept-Language; the
switch is a CSRF-checked POST kept on the account, and the operator's setting lives on the ISP page."""

from __future__ import annotations

import asyncpg
import pytest

from radbill import i18n


@pytest.fixture(autouse=True)
def catalogs():
    i18n.load_catalogs()


async def fetch(url: str, sql: str, *args):
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchrow(sql, *args)
    finally:
        await conn.close()


async def test_the_login_page_follows_accept_language(make_client):
    c = await make_client()
    bangla = await (await c.get("/login", headers={"Accept-Language": "bn-BD,bn;q=0.9,en;q=0.5"})).text()
    assert '<html lang="bn">' in bangla and "লগইন করুন" in bangla
    english = await (await c.get("/login", headers={"Accept-Language": "fr-FR,en;q=0.5"})).text()
    assert '<html lang="en">' in english and "Log in" in english and "লগইন করুন" not in english


async def test_the_switch_keeps_the_choice_on_the_account(make_client, tree, fresh_db_url):
    c = await make_client("suba1")
    assert "Dashboard" in await (await c.get("/")).text()
    response = await c.post("/profile/language", {"locale": "bn", "next": "/customers"})
    assert response.status == 303 and response.headers["Location"] == "/customers"
    page = await (await c.get("/customers")).text()
    assert '<html lang="bn">' in page and "সব গ্রাহক" in page and 'class="flash ok"' in page
    row = await fetch(fresh_db_url, "SELECT locale FROM accounts WHERE username = 'suba1'")
    assert row["locale"] == "bn"
    audit = await fetch(fresh_db_url, "SELECT detail FROM audit_log WHERE object_kind = 'account' AND action = 'edit'"
                                      " ORDER BY id DESC LIMIT 1")
    assert '"locale"' in audit["detail"]
    other = await make_client("suba2")  # another login of the same kind is not affected
    assert "Dashboard" in await (await other.get("/")).text()
    await c.post("/profile/language", {"locale": "", "next": "/"})  # back to the operator's default
    assert (await fetch(fresh_db_url, "SELECT locale FROM accounts WHERE username = 'suba1'"))["locale"] is None
    assert "Dashboard" in await (await c.get("/")).text()


async def test_a_bad_choice_is_refused_with_a_sentence(make_client, fresh_db_url):
    c = await make_client("suba1")
    response = await c.post("/profile/language", {"locale": "xx", "next": "/profile"})
    assert response.status == 303
    page = await (await c.get("/profile")).text()
    assert "Choose one of the languages offered." in page
    assert (await fetch(fresh_db_url, "SELECT locale FROM accounts WHERE username = 'suba1'"))["locale"] is None
    # without the CSRF token: refused, nothing changed
    response = await c.post("/profile/language", {"locale": "bn", "csrf_token": "forged"})
    assert response.status == 403
    assert (await fetch(fresh_db_url, "SELECT locale FROM accounts WHERE username = 'suba1'"))["locale"] is None


async def test_the_operator_default_and_digits_apply_to_its_logins(make_client, tree, fresh_db_url):
    c = await make_client("suba1")
    response = await c.post("/isp/language", {"default_locale": "bn", "bengali_digits": "1"}, token_from="/isp")
    assert response.status == 303
    row = await fetch(fresh_db_url, "SELECT default_locale, bengali_digits FROM operators WHERE id = $1",
                      tree.ops["sub_a1"]["id"])
    assert tuple(row) == ("bn", True)
    page = await (await c.get(f"/customers/{tree.customers['a1']['id']}")).text()
    assert "বিস্তারিত" in page and "৳০.০০" in page  # Bangla, taka sign, Bengali digits
    dashboard = await (await c.get("/")).text()
    assert '<div class="tile"><b>১</b>' in dashboard  # counts too: its one customer
    other = await make_client("suba2")  # another operator keeps English
    assert "Dashboard" in await (await other.get("/")).text()
    await c.post("/profile/language", {"locale": "en", "next": "/"})  # a login's own choice wins
    page = await (await c.get(f"/customers/{tree.customers['a1']['id']}")).text()
    assert "Details" in page and "BDT 0.00" in page


async def test_a_bad_operator_setting_is_refused_and_managers_cannot_change_it(make_client, tree, fresh_db_url):
    c = await make_client("opa")
    response = await c.post("/isp/language", {"default_locale": "fr"}, token_from="/isp")
    assert response.status == 303
    assert "Choose one of the languages offered." in await (await c.get("/isp")).text()
    manager = await make_client("mgr_all")
    response = await manager.post("/isp/language", {"default_locale": "bn"})
    assert response.status == 403
    row = await fetch(fresh_db_url, "SELECT default_locale FROM operators WHERE id = $1", tree.ops["op_a"]["id"])
    assert row["default_locale"] == "en"


async def test_one_connection_does_not_carry_a_locale_to_the_next_request(make_client, fresh_db_url):
    """aiohttp serves a keep-alive connection's requests in one task: the locale is set afresh on each."""
    c = await make_client("suba1")
    await c.post("/profile/language", {"locale": "bn", "next": "/"})
    assert "ড্যাশবোর্ড" in await (await c.get("/")).text()
    await c.post("/logout", {})
    page = await (await c.get("/login")).text()
    assert '<html lang="en">' in page and "Log in" in page
