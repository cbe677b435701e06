"""Portal login both ways, sessions, CSRF and the cookie that is the portal's own (real HTTP, real Postgres)."""

import re

from tests.support.portal import Portal


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


async def _login_form(p: Portal) -> str:
    async with p.http.get(f"{p.url}/login") as r:
        assert r.status == 200
        return _csrf(await r.text())


async def _post(p: Portal, path: str, data: dict, origin: bool = True):
    headers = {"Origin": p.url} if origin else {}
    return await p.http.post(f"{p.url}{path}", data=data, headers=headers, allow_redirects=False)


async def test_password_login_shows_the_customer_home_and_logout_ends_it(portal: Portal):
    c = portal.w.customer
    async with portal.http.get(f"{portal.url}/", allow_redirects=False) as r:
        assert r.status == 303 and r.headers["Location"] == "/login"
    token = await _login_form(portal)
    r = await _post(portal, "/login", {"csrf_token": token, "username": c["username"], "password": "wrong"})
    wrong = await r.text()
    assert r.status == 401
    r = await _post(portal, "/login", {"csrf_token": token, "username": "nobody-here", "password": "x"})
    unknown = await r.text()
    assert r.status == 401
    # the same sentence whether the user exists or not
    assert re.search(r'id="error">([^<]+)<', wrong).group(1) == re.search(r'id="error">([^<]+)<', unknown).group(1)
    r = await _post(portal, "/login", {"csrf_token": token, "username": c["username"],
                                       "password": c["radius_password"]})
    assert r.status == 303
    assert "radbill_portal" in {m.key for m in portal.http.cookie_jar}
    assert "radbill_session" not in {m.key for m in portal.http.cookie_jar}  # never the admin's cookie
    async with portal.http.get(f"{portal.url}/") as home:
        html = await home.text()
        assert home.status == 200 and c["username"] in html
    session_token = _csrf(html)
    r = await _post(portal, "/logout", {"csrf_token": "forged"})
    assert r.status == 403
    r = await _post(portal, "/logout", {"csrf_token": session_token}, origin=False)
    assert r.status == 403  # no Origin/Referer: refused
    r = await _post(portal, "/logout", {"csrf_token": session_token})
    assert r.status == 303
    async with portal.http.get(f"{portal.url}/", allow_redirects=False) as r:
        assert r.status == 303


async def test_mobile_code_login(portal: Portal):
    c = portal.w.customer
    await portal.owner.execute("UPDATE customers SET mobile = '+8801712345678' WHERE id = $1", c["id"])
    token = await _login_form(portal)
    r = await _post(portal, "/login/code/send", {"csrf_token": token, "mobile": "01712345678"})
    assert r.status == 200 and 'id="code-login"' in await r.text()
    code_hash = await portal.owner.fetchval("SELECT code_hash FROM portal_otps WHERE customer_id = $1", c["id"])
    assert code_hash is not None
    from radbill.services.portal_auth import _code_hash
    code = next(f"{n:06d}" for n in range(10**6) if _code_hash(c["id"], f"{n:06d}") == code_hash)
    wrong = "000000" if code != "000000" else "000001"
    r = await _post(portal, "/login/code", {"csrf_token": token, "mobile": "01712345678", "code": wrong})
    assert r.status == 401
    r = await _post(portal, "/login/code", {"csrf_token": token, "mobile": "01712345678", "code": code})
    assert r.status == 303
    async with portal.http.get(f"{portal.url}/") as home:
        assert c["username"] in await home.text()


async def test_login_form_without_its_cookie_or_from_another_site_is_refused(portal: Portal):
    c = portal.w.customer
    token = await _login_form(portal)
    r = await portal.http.post(f"{portal.url}/login", data={"csrf_token": token, "username": c["username"],
                               "password": c["radius_password"]}, headers={"Origin": "http://evil.example"},
                               allow_redirects=False)
    assert r.status == 403
    portal.http.cookie_jar.clear()
    r = await _post(portal, "/login", {"csrf_token": token, "username": c["username"],
                                       "password": c["radius_password"]})
    assert r.status == 403


async def test_a_disabled_customer_cannot_log_in_either_way(portal: Portal):
    """Disabled is the operator's "closed": refused with the very sentence a wrong password gets."""
    c = portal.w.customer
    await portal.owner.execute("UPDATE customers SET status = 'disabled', mobile = '+8801712345678' WHERE id = $1",
                               c["id"])
    token = await _login_form(portal)
    r = await _post(portal, "/login", {"csrf_token": token, "username": c["username"], "password": "wrong"})
    wrong = re.search(r'id="error">([^<]+)<', await r.text()).group(1)
    r = await _post(portal, "/login", {"csrf_token": token, "username": c["username"],
                                       "password": c["radius_password"]})
    assert r.status == 401
    assert re.search(r'id="error">([^<]+)<', await r.text()).group(1) == wrong
    r = await _post(portal, "/login/code/send", {"csrf_token": token, "mobile": "01712345678"})
    assert r.status == 200
    # no code is made for a disabled customer (the page still says the same as for an unknown number)
    assert await portal.owner.fetchval("SELECT count(*) FROM portal_otps WHERE customer_id = $1", c["id"]) == 0
    assert await portal.owner.fetchval("SELECT count(*) FROM portal_sessions WHERE customer_id = $1", c["id"]) == 0


async def test_throttled_logins_say_so_on_the_page(portal: Portal):
    c = portal.w.customer
    token = await _login_form(portal)
    for _ in range(10):
        r = await _post(portal, "/login", {"csrf_token": token, "username": c["username"], "password": "wrong"})
        assert r.status == 401
    r = await _post(portal, "/login", {"csrf_token": token, "username": c["username"],
                                       "password": c["radius_password"]})
    html = await r.text()
    assert r.status == 401 and "Too many attempts. Wait 15 minutes" in html and 'role="alert"' in html
