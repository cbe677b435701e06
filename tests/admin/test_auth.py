"""Login, sessions, CSRF, throttling and TOTP through the real app."""

from datetime import timedelta

import asyncpg
import pytest

from radbill import clock, totp
from tests.support.admin import PASSWORD


async def test_login_sets_a_fresh_httponly_session_and_shows_the_dashboard(make_client):
    c = await make_client()
    before = {k.key: k.value for k in c.client.session.cookie_jar}
    response = await c.login("opa")
    assert response.status == 303 and response.headers["Location"] == "/"
    cookie = response.cookies["radbill_session"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and cookie["path"] == "/"
    assert cookie.value not in before.values()
    page = await c.get("/")
    assert page.status == 200 and "Dashboard" in await page.text()


async def test_secure_cookie_uses_the_host_prefix(admin_config, tree):
    from dataclasses import replace

    from aiohttp.test_utils import TestClient, TestServer

    from admin.app import create_app
    from tests.support.admin import CSRF

    client = TestClient(TestServer(create_app(replace(admin_config, cookie_secure=True))))
    await client.start_server()
    try:
        page = await client.get("/login")
        login_cookie = page.cookies["radbill_login_csrf"]
        assert login_cookie["secure"]
        token = CSRF.search(await page.text()).group(1)
        # a plain-http test client never sends Secure cookies back, so send it by hand as a browser on https would
        response = await client.post("/login", data={"username": "opa", "password": PASSWORD, "csrf_token": token},
                                     headers={"Origin": str(client.make_url("/")).rstrip("/"),
                                              "Cookie": f"radbill_login_csrf={login_cookie.value}"},
                                     allow_redirects=False)
        assert response.status == 303
        cookie = response.cookies["__Host-radbill"]
        assert cookie["secure"] and cookie["httponly"] and cookie["path"] == "/" and not cookie["domain"]
    finally:
        await client.close()


async def test_wrong_password_and_unknown_user_get_the_same_answer(make_client):
    c = await make_client()
    wrong = await c.login("opa", "nope-nope-nope")
    unknown = await c.login("nobody", "nope-nope-nope")
    assert wrong.status == unknown.status == 401
    assert "Wrong username or password." in await wrong.text()
    assert "Wrong username or password." in await unknown.text()


async def test_session_fixation_a_planted_cookie_is_not_kept(make_client):
    c = await make_client()
    c.client.session.cookie_jar.update_cookies({"radbill_session": "attacker-chosen-value"})
    response = await c.login("opa")
    assert response.cookies["radbill_session"].value != "attacker-chosen-value"


async def test_logout_ends_the_session_at_once(make_client):
    c = await make_client("opa")
    token = {k.key: k.value for k in c.client.session.cookie_jar}["radbill_session"]
    assert (await c.post("/logout")).status == 303
    other = await make_client()
    other.client.session.cookie_jar.update_cookies({"radbill_session": token})
    assert (await other.get("/")).headers.get("Location", "").startswith("/login")


async def test_disabling_an_account_ends_its_sessions(make_client, tree):
    victim = await make_client("suba1")
    boss = await make_client("opa")
    response = await boss.post("/accounts/{}/status".format(tree.accounts["suba1"]["id"]), {"status": "disabled"})
    assert response.status == 303
    assert (await victim.get("/")).status == 303  # back to the login page
    assert (await victim.login("suba1")).status == 401


@pytest.mark.parametrize("origin", [None, "http://evil.example", "null"])
async def test_post_without_same_origin_is_refused(make_client, origin):
    c = await make_client("opa")
    response = await c.post("/profile", {"full_name": "Changed"}, origin=origin)
    assert response.status == 403


async def test_post_with_a_wrong_csrf_token_is_refused(make_client, fresh_db_url, tree):
    c = await make_client("opa")
    response = await c.post("/profile", {"full_name": "Changed"}, token="forged")
    assert response.status == 403
    conn = await asyncpg.connect(fresh_db_url)
    assert await conn.fetchval("SELECT full_name FROM accounts WHERE username = 'opa'") == "OPA"
    await conn.close()


async def test_a_non_ascii_csrf_token_is_a_403_not_a_crash(make_client):
    c = await make_client("opa")
    assert (await c.post("/profile", {"full_name": "X"}, token="টোকেন")).status == 403
    anonymous = await make_client()
    await anonymous.get("/login")
    response = await anonymous.post("/login", {"username": "opa", "password": PASSWORD}, token="টোকেন")
    assert response.status == 403


async def test_login_form_needs_its_csrf_cookie(make_client):
    c = await make_client()
    response = await c.post("/login", {"username": "opa", "password": PASSWORD, "csrf_token": "x"})
    assert response.status == 403


async def test_get_never_changes_data(make_client):
    c = await make_client("opa")
    for path in ("/logout", "/profile/2fa/start", "/accounts/new"):
        response = await c.get(path)
        assert response.status in (200, 405), path
    assert (await c.get("/")).status == 200  # still logged in: GET /logout did nothing


async def test_throttling_per_account_and_ip_without_locking_out_other_addresses(make_client, fresh_db_url):
    c = await make_client()
    for _ in range(5):
        assert (await c.login("opa", "wrong-password-x")).status == 401
    blocked = await c.login("opa")  # even the right password waits now, from this address
    assert blocked.status == 401 and "Too many failed logins" in await blocked.text()
    conn = await asyncpg.connect(fresh_db_url)
    try:
        # the same user from another address is not locked out by this attacker
        await conn.execute("UPDATE login_attempts SET ip = '198.51.100.7' WHERE NOT succeeded")
        assert (await c.login("opa")).status == 303
        # and the pause ends by itself
        await conn.execute("UPDATE login_attempts SET ip = '127.0.0.1', at = at - interval '6 minutes'")
        other = await make_client()
        assert (await other.login("opa")).status == 303
    finally:
        await conn.close()


async def test_concurrent_wrong_passwords_get_at_most_the_allowed_checks(tree, fresh_db_url):
    """The throttle's decision and the attempt's record are one step: 100 guesses at once check 5 passwords."""
    import asyncio

    from radbill.services import auth

    pool = await asyncpg.create_pool(fresh_db_url, min_size=20, max_size=20)
    try:
        async def guess(n):
            async with pool.acquire() as conn:
                try:
                    await auth.login(conn, "opa", f"wrong-password-{n}", "203.0.113.9", None)
                except auth.LoginRefused as exc:
                    return str(exc)
        outcomes = await asyncio.gather(*(guess(n) for n in range(100)))
        checked = await pool.fetchval("SELECT count(*) FROM audit_log WHERE action = 'login_failed'")
        throttled = await pool.fetchval("SELECT count(*) FROM audit_log WHERE action = 'login_throttled'")
    finally:
        await pool.close()
    assert checked <= auth.PAIR_LIMIT and checked + throttled == 100, (checked, throttled)
    assert outcomes.count("Wrong username or password.") == checked


async def _enable_totp(c) -> str:
    await c.post("/profile/2fa/start", token_from="/profile/2fa")
    page = await (await c.get("/profile/2fa")).text()
    secret = page.split('id="totp-key">')[1].split("<")[0]
    code = totp.code_at(secret, totp.step_of(clock.now()))
    response = await c.post("/profile/2fa/confirm", {"code": code}, token_from="/profile/2fa")
    assert response.status == 303, await response.text()
    return secret


async def test_totp_enrolment_login_and_replay_rejection(make_client):
    c = await make_client("opa")
    secret = await _enable_totp(c)
    fresh = await make_client()
    response = await fresh.login("opa")
    assert response.headers["Location"] == "/login/totp"
    assert (await fresh.get("/")).headers["Location"] == "/login/totp"  # password alone opens nothing
    # the code used to confirm enrolment was consumed: a replay is refused
    step = totp.step_of(clock.now())
    replay = await fresh.post("/login/totp", {"code": totp.code_at(secret, step)}, token_from="/login/totp")
    next_code = totp.code_at(secret, step + 1)
    assert replay.status == 401 and "already used" in await replay.text()
    ok = await fresh.post("/login/totp", {"code": next_code}, token_from="/login/totp")
    assert ok.status == 303 and ok.headers["Location"] == "/"
    assert (await fresh.get("/")).status == 200
    third = await make_client()
    await third.login("opa")
    again = await third.post("/login/totp", {"code": next_code}, token_from="/login/totp")
    assert again.status == 401


def test_totp_window_is_plus_minus_one_step():
    secret = totp.new_secret()
    now = clock.now()
    step = totp.step_of(now)
    assert totp.verify(secret, totp.code_at(secret, step - 1), now, None) == step - 1
    assert totp.verify(secret, totp.code_at(secret, step + 1), now, None) == step + 1
    assert totp.verify(secret, totp.code_at(secret, step + 2), now, None) is None
    assert totp.verify(secret, totp.code_at(secret, step - 2), now, None) is None
    assert totp.verify(secret, totp.code_at(secret, step), now, last_used_step=step) is None
    assert totp.verify(secret, totp.code_at(secret, step), now + timedelta(seconds=0), None) == step


def test_totp_refuses_non_ascii_digits_without_crashing():
    secret = totp.new_secret()
    assert totp.verify(secret, "১২৩৪৫৬", clock.now(), None) is None


def test_a_tampered_flash_cookie_is_ignored(admin_config):
    from admin.app import create_app
    from admin.web import _unsign

    assert _unsign(create_app(admin_config), "e30=.টেম্পার") is None


def test_totp_matches_the_rfc_6238_vector():
    import base64
    from datetime import UTC, datetime

    secret = base64.b32encode(b"12345678901234567890").decode()
    assert totp.code_at(secret, totp.step_of(datetime.fromtimestamp(59, UTC))) == "287082"
    assert totp.code_at(secret, totp.step_of(datetime.fromtimestamp(1111111109, UTC))) == "081804"


async def test_issued_password_must_be_changed_at_first_login(make_client):
    boss = await make_client("opa")
    response = await boss.post("/accounts/new", {"kind": "child", "name": "Reseller X", "username": "resx",
                                                 "full_name": "Res X"}, token_from="/accounts/new")
    page = await response.text()
    assert response.status == 200
    issued = page.split('class="issued">')[1].split("<")[0]
    newbie = await make_client()
    assert (await newbie.login("resx", issued)).headers["Location"] == "/password/change"
    assert (await newbie.get("/")).headers["Location"] == "/password/change"
    weak = await newbie.post("/password/change", {"current_password": issued, "new_password": "short",
                                                  "confirm_password": "short"}, token_from="/password/change")
    assert weak.status == 422 and "at least 10 characters" in await weak.text()
    done = await newbie.post("/password/change", {"current_password": issued, "new_password": "a much better one",
                                                  "confirm_password": "a much better one"},
                             token_from="/password/change")
    assert done.status == 303
    assert (await newbie.get("/")).status == 200
