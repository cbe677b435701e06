"""Access-Request end to end: pyrad (as the NAS) -> FreeRADIUS -> our module -> reply."""

import itertools
import time
from datetime import UTC, datetime, timedelta

import pytest

from radbill.policy import MESSAGES
from tests import factories as f
from tests.support.waiting import wait_until

_n = itertools.count(1)


async def new_customer(conn, radius, **values):
    username = values.pop("username", f"auth{next(_n)}-{int(time.time() * 1000) % 100000}")
    values.setdefault("expires_at", datetime.now(UTC) + timedelta(days=30))
    package_id = values.pop("package_id", radius.isp.package["id"])
    return await f.customer(conn, radius.isp.sub["id"], package_id, radius.isp.profile["id"],
                            username=username, **values)


def login(radius, username, password, method="pap", **attrs):
    client = radius.client()
    return client.send(client.access_request(username, password, method=method, **attrs))


def login_when(radius, username, password, predicate, **kw):
    """Retry a login until `predicate(reply)` holds (the change travels by NOTIFY, ~1 ms)."""
    return wait_until(lambda: (r := login(radius, username, password, **kw)) is not None and predicate(r) and r)


@pytest.mark.parametrize("method", ["pap", "chap", "mschap"])
async def test_active_customer_is_accepted_with_every_method(radius, radius_db, method):
    c = await new_customer(radius_db, radius)
    reply = login_when(radius, c["username"], c["radius_password"], lambda r: r.accepted, method=method)
    assert reply, f"{method} login was not accepted"
    assert reply.first("Mikrotik-Rate-Limit") == "5120k/10240k"
    assert reply.first("Acct-Interim-Interval") == 60
    assert 29 * 86400 < reply.first("Session-Timeout") <= 30 * 86400
    assert reply.has_message_authenticator
    if method == "mschap":
        assert reply.first("MS-CHAP2-Success")


@pytest.mark.parametrize("method", ["pap", "chap", "mschap"])
async def test_wrong_password_is_rejected_without_accept_attributes(radius, radius_db, method):
    c = await new_customer(radius_db, radius)
    wait_until(lambda: login(radius, c["username"], c["radius_password"]).accepted)
    reply = login(radius, c["username"], "not-the-password", method=method)
    assert reply.code == "Access-Reject"
    assert "Mikrotik-Rate-Limit" not in reply.attributes
    assert "Session-Timeout" not in reply.attributes
    assert reply.first("Reply-Message")


async def test_unknown_user_is_rejected_with_a_message(radius):
    reply = login(radius, "nobody-here", "x")
    assert reply.code == "Access-Reject"
    assert reply.first("Reply-Message") == MESSAGES["unknown_user"]


@pytest.mark.parametrize(("values", "reason"), [
    ({"status": "disabled"}, "disabled"),
    ({"status": "suspended"}, "suspended"),
    ({"expires_at": datetime.now(UTC) - timedelta(hours=1)}, "expired"),
    ({"mac_address": "aa:bb:cc:dd:ee:ff"}, "mac_mismatch"),
])
async def test_rejects_carry_a_reason_message(radius, radius_db, values, reason):
    c = await new_customer(radius_db, radius, **values)
    reply = login_when(radius, c["username"], c["radius_password"],
                       lambda r: r.first("Reply-Message") == MESSAGES[reason],
                       Calling_Station_Id="11:22:33:44:55:66")
    assert reply and reply.code == "Access-Reject"


async def test_mac_binding_accepts_the_bound_device(radius, radius_db):
    c = await new_customer(radius_db, radius, mac_address="aa:bb:cc:dd:ee:ff")
    reply = login_when(radius, c["username"], c["radius_password"], lambda r: r.accepted,
                       Calling_Station_Id="AA-BB-CC-DD-EE-FF")
    assert reply


async def test_static_ip_and_pool(radius, radius_db):
    pool_pkg = await f.package(radius_db, radius.isp.operator["id"], ip_pool="gold-pool", download_kbps=20000,
                               upload_kbps=20000)
    pooled = await new_customer(radius_db, radius, package_id=pool_pkg["id"])
    static = await new_customer(radius_db, radius, package_id=pool_pkg["id"], connection_type="static",
                                static_ip="10.77.0.9")
    r1 = login_when(radius, pooled["username"], pooled["radius_password"], lambda r: r.accepted)
    assert r1.first("Framed-Pool") == "gold-pool"
    assert r1.first("Mikrotik-Rate-Limit") == "20M/20M"
    r2 = login_when(radius, static["username"], static["radius_password"], lambda r: r.accepted)
    assert r2.first("Framed-IP-Address") == "10.77.0.9"
    assert "Framed-Pool" not in r2.attributes


async def test_walled_garden_for_suspended_customers(radius, radius_db):
    op = await f.operator(radius_db, "operator", radius.isp.root["id"], suspended_pool="pay-now",
                          suspended_rate_limit="128k/128k", suspended_session_timeout=120)
    sub = await f.operator(radius_db, "sub_operator", op["id"])  # inherits the pool from its operator
    pkg = await f.package(radius_db, op["id"])
    profile = await f.billing_profile(radius_db, op["id"])
    c = await f.customer(radius_db, sub["id"], pkg["id"], profile["id"], username=f"wg{next(_n)}",
                         status="suspended")
    reply = login_when(radius, c["username"], c["radius_password"], lambda r: r.accepted)
    assert reply.first("Framed-Pool") == "pay-now"
    assert reply.first("Mikrotik-Rate-Limit") == "128k/128k"
    assert reply.first("Session-Timeout") == 120
    assert reply.first("Mikrotik-Address-List") == "radbill-suspended"
    assert reply.first("Reply-Message") == MESSAGES["suspended"]


async def test_session_timeout_never_passes_the_expiry(radius, radius_db):
    c = await new_customer(radius_db, radius, expires_at=datetime.now(UTC) + timedelta(seconds=600))
    reply = login_when(radius, c["username"], c["radius_password"], lambda r: r.accepted)
    assert 590 <= reply.first("Session-Timeout") <= 600


@pytest.mark.parametrize("change", [
    "UPDATE customers SET status = 'suspended' WHERE id = $1",
    "UPDATE customers SET expires_at = now() - interval '1 minute' WHERE id = $1",
    "UPDATE customers SET radius_password = 'changed-pw' WHERE id = $1",
])
async def test_a_committed_change_reaches_the_next_request_within_a_second(radius, radius_db, change):
    c = await new_customer(radius_db, radius)
    assert login_when(radius, c["username"], c["radius_password"], lambda r: r.accepted)
    await radius_db.execute(change, c["id"])
    committed = time.monotonic()
    rejected = wait_until(lambda: login(radius, c["username"], c["radius_password"]).code == "Access-Reject",
                          timeout=1.0, interval=0.002)
    delay = time.monotonic() - committed
    assert rejected, "the change was not visible within 1 s"
    print(f"change visible after {delay * 1000:.1f} ms")


async def test_package_change_changes_the_rate_at_once(radius, radius_db):
    c = await new_customer(radius_db, radius)
    assert login_when(radius, c["username"], c["radius_password"], lambda r: r.accepted)
    fast = await f.package(radius_db, radius.isp.operator["id"], download_kbps=50000, upload_kbps=25000)
    await radius_db.execute("UPDATE customers SET package_id = $1 WHERE id = $2", fast["id"], c["id"])
    reply = login_when(radius, c["username"], c["radius_password"],
                       lambda r: r.first("Mikrotik-Rate-Limit") == "25M/50M", )
    assert reply


async def test_payment_extending_expiry_lets_an_expired_customer_back(radius, radius_db):
    c = await new_customer(radius_db, radius, expires_at=datetime.now(UTC) - timedelta(days=1))
    assert login_when(radius, c["username"], c["radius_password"], lambda r: r.code == "Access-Reject")
    await radius_db.execute("UPDATE customers SET expires_at = now() + interval '30 days' WHERE id = $1", c["id"])
    assert login_when(radius, c["username"], c["radius_password"], lambda r: r.accepted, )
