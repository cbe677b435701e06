"""One mobile number, several connections (migration 0059, portal_auth.siblings/switch): an SMS code logs in the
newest and offers the others; a switch is only to a customer sharing the number the code went to, never after a
password login (real HTTP, real Postgres)."""

import re

from radbill.services.portal_auth import _code_hash
from tests import factories as f
from tests.portal.test_login import _csrf, _login_form, _post
from tests.support.portal import Portal

NUMBER = "+8801712345678"


async def _code_login(p: Portal, customer_id: int) -> None:
    token = await _login_form(p)
    r = await _post(p, "/login/code/send", {"csrf_token": token, "mobile": "01712345678"})
    assert r.status == 200
    code_hash = await p.owner.fetchval("SELECT code_hash FROM portal_otps WHERE customer_id = $1"
                                       " ORDER BY id DESC LIMIT 1", customer_id)
    code = next(f"{n:06d}" for n in range(10**6) if _code_hash(customer_id, f"{n:06d}") == code_hash)
    r = await _post(p, "/login/code", {"csrf_token": token, "mobile": "01712345678", "code": code})
    assert r.status == 303


async def _home(p: Portal) -> str:
    async with p.http.get(f"{p.url}/") as home:
        assert home.status == 200
        return await home.text()


async def test_a_shared_number_opens_each_of_its_connections(portal: Portal):
    older = portal.w.customer
    await portal.owner.execute("UPDATE customers SET mobile = $2 WHERE id = $1", older["id"], NUMBER)
    newer = await f.customer(portal.owner, older["operator_id"], older["package_id"], older["billing_profile_id"],
                             mobile=NUMBER, name="Second Line")
    closed = await f.customer(portal.owner, older["operator_id"], older["package_id"], older["billing_profile_id"],
                              mobile=NUMBER, status="disabled")
    stranger = await f.customer(portal.owner, older["operator_id"], older["package_id"],
                                older["billing_profile_id"], mobile="+8801812345678")
    await _code_login(portal, newer["id"])  # the newest that may log in holds the code
    html = await _home(portal)
    assert f'id="username">{newer["username"]}<' in html
    assert f'id="switch-{older["id"]}"' in html
    assert f'id="switch-{closed["id"]}"' not in html and f'id="switch-{newer["id"]}"' not in html
    csrf = _csrf(html)
    for refused in (stranger["id"], closed["id"], 999999999, "x"):
        r = await _post(portal, "/switch", {"csrf_token": csrf, "customer_id": str(refused)})
        assert r.status == 403, refused
    assert f'id="username">{newer["username"]}<' in await _home(portal)  # a refusal keeps the session
    r = await _post(portal, "/switch", {"csrf_token": "forged", "customer_id": str(older["id"])})
    assert r.status == 403
    r = await _post(portal, "/switch", {"csrf_token": csrf, "customer_id": str(older["id"])})
    assert r.status == 303
    html = await _home(portal)
    assert f'id="username">{older["username"]}<' in html and f'id="switch-{newer["id"]}"' in html
    # the old session is gone, the new one remembers the number
    rows = await portal.owner.fetch("SELECT customer_id, verified_mobile FROM portal_sessions")
    assert [(r["customer_id"], r["verified_mobile"]) for r in rows] == [(older["id"], NUMBER)]


async def test_a_password_login_offers_no_other_connection(portal: Portal):
    c = portal.w.customer
    await portal.owner.execute("UPDATE customers SET mobile = $2 WHERE id = $1", c["id"], NUMBER)
    other = await f.customer(portal.owner, c["operator_id"], c["package_id"], c["billing_profile_id"], mobile=NUMBER)
    token = await _login_form(portal)
    r = await _post(portal, "/login", {"csrf_token": token, "username": c["username"],
                                       "password": c["radius_password"]})
    assert r.status == 303
    html = await _home(portal)
    assert "other-connections" not in html
    r = await _post(portal, "/switch", {"csrf_token": _csrf(html), "customer_id": str(other["id"])})
    assert r.status == 403
    assert re.search(r'id="username">([^<]+)<', await _home(portal)).group(1) == c["username"]


async def test_switching_needs_a_session(portal: Portal):
    token = await _login_form(portal)
    r = await _post(portal, "/switch", {"csrf_token": token, "customer_id": str(portal.w.customer["id"])})
    assert r.status == 303 and r.headers["Location"] == "/login"
