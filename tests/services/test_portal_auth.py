"""radbill.services.portal_auth: one answer for every wrong login, throttles per login and per address, and the
one-time code's 5 minutes, 5 tries and single use; sessions carry the one-customer scope."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from radbill import clock
from radbill.services import otp_sms, sms
from radbill.services import portal_auth as pa
from radbill.tenancy import CustomerScope
from tests import factories as f

IP, OTHER_IP = "192.0.2.10", "192.0.2.99"


@pytest.fixture
async def world(db):
    isp = await f.isp(db)
    isp.customer = await f.customer(db, isp.sub["id"], isp.package["id"], isp.profile["id"], username="rahim.portal",
                                    radius_password="s3cret-Pw", mobile="+8801811000002")
    return isp


async def sent_code(db, customer) -> str:
    row = await db.fetchrow("SELECT payload FROM outbox WHERE payload->>'event' = 'portal_otp'"
                            " AND (payload->>'customer_id')::bigint = $1 ORDER BY id DESC LIMIT 1", customer["id"])
    return otp_sms.code_in(json.loads(row["payload"]))  # sealed in the row: opened with the test's key


async def test_password_login_gives_a_one_customer_session(db, world):
    token, session = await pa.login_with_password(db, "rahim.portal", "s3cret-Pw", IP)
    assert session.scope == CustomerScope(world.customer["id"], world.sub["id"], world.sub["path"])
    loaded = await pa.load_session(db, token)
    assert loaded is not None and loaded.customer_id == world.customer["id"]
    stored = await db.fetchval("SELECT id_hash FROM portal_sessions WHERE customer_id = $1", world.customer["id"])
    assert stored != token.encode() and len(stored) == 32  # only the hash is kept
    assert await pa.load_session(db, token, now=clock.now() + timedelta(hours=3)) is None  # idle too long
    await pa.logout(db, loaded)
    assert await pa.load_session(db, token) is None


async def test_unknown_user_and_wrong_password_get_the_same_answer(db, world):
    answers = set()
    for username, password in (("rahim.portal", "wrong"), ("nobody.here", "s3cret-Pw"), ("rahim.portal", "")):
        with pytest.raises(pa.PortalLoginRefused) as refused:
            await pa.login_with_password(db, username, password, IP)
        answers.add(str(refused.value))
    assert answers == {pa.WRONG_PASSWORD}


async def test_password_guesses_are_throttled_per_username_and_per_address(db, world):
    for n in range(pa.LIMITS["password"][0]):
        with pytest.raises(pa.PortalLoginRefused):
            await pa.login_with_password(db, "rahim.portal", f"guess{n}", f"198.51.100.{n + 1}")
    with pytest.raises(pa.PortalLoginRefused, match="Too many attempts"):  # even the right password, anywhere
        await pa.login_with_password(db, "rahim.portal", "s3cret-Pw", OTHER_IP)
    later = clock.now() + pa.WINDOW + timedelta(seconds=1)
    await pa.login_with_password(db, "rahim.portal", "s3cret-Pw", OTHER_IP, now=later)

    for n in range(pa.LIMITS["password"][1]):  # one address spraying many usernames
        with pytest.raises(pa.PortalLoginRefused):
            await pa.login_with_password(db, f"spray{n}", "x", IP, now=later)
    with pytest.raises(pa.PortalLoginRefused, match="Too many attempts"):
        await pa.login_with_password(db, "rahim.portal", "s3cret-Pw", IP, now=later)
    await pa.login_with_password(db, "rahim.portal", "s3cret-Pw", OTHER_IP, now=later)


async def test_a_code_is_sent_hashed_and_the_answer_is_the_same_for_an_unknown_number(db, world):
    known = await pa.request_code(db, "01811-000002", IP)
    unknown = await pa.request_code(db, "01811-999999", IP)
    assert known == unknown == pa.CODE_SENT
    code = await sent_code(db, world.customer)
    assert len(code) == 6 and code.isdigit()
    stored = await db.fetchval("SELECT code_hash FROM portal_otps WHERE customer_id = $1", world.customer["id"])
    assert code.encode() not in stored
    token, session = await pa.login_with_code(db, "+880 1811 000002", code, IP)
    assert session.customer_id == world.customer["id"] and token
    with pytest.raises(pa.PortalLoginRefused, match="wrong or has expired"):  # used once
        await pa.login_with_code(db, "+8801811000002", code, IP)
    with pytest.raises(pa.PortalLoginRefused, match="wrong or has expired"):  # unknown number: the same words
        await pa.login_with_code(db, "+8801811999999", code, IP)


async def test_a_code_allows_five_tries_and_five_minutes(db, world):
    await pa.request_code(db, "+8801811000002", IP)
    code = await sent_code(db, world.customer)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(pa.CODE_TRIES):
        with pytest.raises(pa.PortalLoginRefused):
            await pa.login_with_code(db, "+8801811000002", wrong, IP)
    with pytest.raises(pa.PortalLoginRefused):  # the right code after five wrong tries
        await pa.login_with_code(db, "+8801811000002", code, IP)

    sent_at = clock.now() + timedelta(minutes=20)  # a fresh window, so the send throttle is not what refuses
    await pa.request_code(db, "+8801811000002", IP, now=sent_at)
    code = await sent_code(db, world.customer)
    with pytest.raises(pa.PortalLoginRefused):
        await pa.login_with_code(db, "+8801811000002", code, IP, now=sent_at + pa.CODE_TTL + timedelta(seconds=1))
    await pa.login_with_code(db, "+8801811000002", code, IP, now=sent_at + pa.CODE_TTL - timedelta(seconds=1))


async def test_sending_codes_is_throttled_per_number_and_per_address(db, world):
    for n in range(pa.LIMITS["otp_send"][0]):
        await pa.request_code(db, "+8801811000002", f"198.51.100.{n + 1}")
    with pytest.raises(pa.PortalLoginRefused, match="Too many attempts"):
        await pa.request_code(db, "+8801811000002", OTHER_IP)
    assert await db.fetchval("SELECT count(*) FROM outbox WHERE payload->>'event' = 'portal_otp'"
                             " AND (payload->>'customer_id')::bigint = $1", world.customer["id"]) == 3
    for n in range(pa.LIMITS["otp_send"][1]):  # unknown numbers from one address count too
        await pa.request_code(db, f"+88017000000{n:02d}", IP)
    with pytest.raises(pa.PortalLoginRefused, match="Too many attempts"):
        await pa.request_code(db, "+8801700000099", IP)


async def test_only_the_latest_code_works(db, world):
    await pa.request_code(db, "+8801811000002", IP)
    first = await sent_code(db, world.customer)
    await pa.request_code(db, "+8801811000002", IP)
    second = await sent_code(db, world.customer)
    if first != second:
        with pytest.raises(pa.PortalLoginRefused):
            await pa.login_with_code(db, "+8801811000002", first, IP)
    await pa.login_with_code(db, "+8801811000002", second, IP)


async def test_the_code_sms_renders_even_when_the_operator_turned_the_template_off(db, world):
    await db.execute("INSERT INTO sms_templates (operator_id, event, body, enabled)"
                     " VALUES ($1, 'portal_otp', 'Code {code} for {isp_name}', false)", world.operator["id"])
    await pa.request_code(db, "+8801811000002", IP)
    code = await sent_code(db, world.customer)
    row = await db.fetchrow("SELECT id, payload FROM outbox WHERE payload->>'event' = 'portal_otp'"
                            " ORDER BY id DESC LIMIT 1")
    message = await sms.make_event_message(db, row["id"], json.loads(row["payload"]))
    assert not isinstance(message, str), message
    assert message["body"].startswith(f"Code {otp_sms.MASK} for ") and message["to_number"] == "+8801811000002"
    sent = otp_sms.text_to_send(message["body"], json.loads(row["payload"]))  # the history keeps it masked
    assert sent.startswith(f"Code {code} for ")
