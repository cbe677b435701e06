"""Fair usage through a real FreeRADIUS: tiers crossed mid-session change the rate by CoA (and queue the
tier-crossed SMS once per tier per window); a top-up lifts the throttle; new logins get the tier's rate."""

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta

from radbill.policy.rates import Speeds
from tests import factories as f
from tests.radius.test_accounting import acct, session_id
from tests.radius.test_authorize import login, login_when, new_customer

FULL, TIER1, TIER2 = "5120k/10240k", "2M/4M", "500k/1M"


def mikrotik(payload: dict) -> str:
    """A CoA's vendor-neutral speeds as the MikroTik rate the dispatcher would write for them."""
    return Speeds(**payload["speeds"]).rate_limit()


async def tiered_customer(db, radius, **values):
    pkg = await f.package(db, radius.isp.operator["id"], data_cap_bytes=10_000, throttled_download_kbps=4000,
                          throttled_upload_kbps=2000)
    await f.insert(db, "package_cap_tiers", {"package_id": pkg["id"], "operator_id": radius.isp.operator["id"],
                                             "after_bytes": 20_000, "download_kbps": 1000, "upload_kbps": 500})
    return await new_customer(db, radius, package_id=pkg["id"], mobile="+8801711000001",
                              expires_at=datetime.now(UTC) + timedelta(days=20), **values)


async def outbox_rows(db, kind, username, count, seconds=3.0):
    """The outbox rows of `kind` for the user once at least `count` are there (the worker flushes ~10x/s)."""
    deadline = time.monotonic() + seconds
    while True:
        rows = await db.fetch("SELECT payload, dedupe_key FROM outbox WHERE kind = $1 AND payload->>'username' = $2"
                              " ORDER BY id", kind, username) if kind != "sms" else await db.fetch(
            "SELECT payload, dedupe_key FROM outbox WHERE kind = 'sms' AND payload->>'customer_id' ="
            " (SELECT id::text FROM customers WHERE username = $1) ORDER BY id", username)
        if len(rows) >= count or time.monotonic() > deadline:
            return [json.loads(r["payload"]) for r in rows]
        await asyncio.sleep(0.05)


async def test_crossing_tier_1_then_tier_2_changes_the_rate_by_coa_and_texts_once_per_tier(radius, radius_db):
    c = await tiered_customer(radius_db, radius)
    user, pw = c["username"], c["radius_password"]
    assert login_when(radius, user, pw, lambda r: r.first("Mikrotik-Rate-Limit") == FULL)
    sid = session_id()
    acct(radius, user, sid, "Start")
    acct(radius, user, sid, "Interim-Update", Acct_Input_Octets=6000, Acct_Output_Octets=6000)  # 12,000: tier 1
    coa = await outbox_rows(radius_db, "coa", user, 1)
    assert [(p["tier"], mikrotik(p)) for p in coa] == [(1, TIER1)]
    assert login(radius, user, pw).first("Mikrotik-Rate-Limit") == TIER1

    acct(radius, user, sid, "Interim-Update", Acct_Input_Octets=7000, Acct_Output_Octets=7000)  # 14,000: still 1
    acct(radius, user, sid, "Interim-Update", Acct_Input_Octets=11000, Acct_Output_Octets=11000)  # 22,000: tier 2
    coa = await outbox_rows(radius_db, "coa", user, 2)
    assert [(p["tier"], mikrotik(p)) for p in coa] == [(1, TIER1), (2, TIER2)]
    assert login(radius, user, pw).first("Mikrotik-Rate-Limit") == TIER2

    # the same session sent again (a NAS retransmit after a lost ack) and a second session in the same window
    acct(radius, user, sid, "Interim-Update", Acct_Input_Octets=11000, Acct_Output_Octets=11000)
    sms = await outbox_rows(radius_db, "sms", user, 3, seconds=1.0)
    assert [(p["event"], p["tier"], p["rate"]) for p in sms] == [("cap_tier_crossed", 1, TIER1),
                                                                ("cap_tier_crossed", 2, TIER2)]
    assert all(p["customer_id"] == c["id"] for p in sms)


async def test_a_top_up_lifts_the_throttle_of_the_live_session(radius, radius_db):
    c = await tiered_customer(radius_db, radius)
    user, pw = c["username"], c["radius_password"]
    assert login_when(radius, user, pw, lambda r: r.accepted)
    sid = session_id()
    acct(radius, user, sid, "Start")
    acct(radius, user, sid, "Interim-Update", Acct_Input_Octets=6000, Acct_Output_Octets=6000)  # 12,000: tier 1
    assert len(await outbox_rows(radius_db, "coa", user, 1)) == 1
    window = await radius_db.fetchrow("SELECT cap_window_start, cap_window_end FROM radius_policy WHERE username = $1",
                                      user)
    await f.insert(radius_db, "data_topups", {"operator_id": c["operator_id"], "customer_id": c["id"], "name": "5 KB",
                                              "bytes": 5000, "price_minor": 100, "currency": "BDT",
                                              "window_start": window["cap_window_start"],
                                              "window_end": window["cap_window_end"]})
    coa = await outbox_rows(radius_db, "coa", user, 2)
    assert [(p["reason"], mikrotik(p)) for p in coa] == [("data_cap", TIER1),
                                                                                   ("data_topup", FULL)]
    assert login_when(radius, user, pw, lambda r: r.first("Mikrotik-Rate-Limit") == FULL)
    # the raised threshold holds: 14,000 < 10,000 + 5,000 stays fast; 16,000 crosses tier 1 again
    acct(radius, user, sid, "Interim-Update", Acct_Input_Octets=7000, Acct_Output_Octets=7000)
    acct(radius, user, sid, "Interim-Update", Acct_Input_Octets=8000, Acct_Output_Octets=8000)
    coa = await outbox_rows(radius_db, "coa", user, 3)
    assert [mikrotik(p) for p in coa] == [TIER1, FULL, TIER1]
    # but the tier-1 SMS went once this window
    assert [p["tier"] for p in await outbox_rows(radius_db, "sms", user, 2, seconds=0.5)] == [1]


async def test_at_the_window_boundary_tier_2_and_its_top_up_end_and_full_speed_returns(fresh_db_url):
    """The module's worker on a moved clock: at local midnight of Dec 1 in Dhaka (18:00 UTC Nov 30) a customer in
    tier 2 with a top-up of the old window gets the package's speed back by one CoA; the old top-up counts no more."""
    import asyncpg
    import psycopg

    from radius_module.sessions import OpenSessions
    from radius_module.snapshot import PolicySnapshot
    from radius_module.worker import Worker
    from tests.radius.test_cap_reset import Clock, at, radacct, rate
    from tests.support.waiting import wait_until

    edge = at("2026-11-30T18:00Z")
    conn = await asyncpg.connect(fresh_db_url)
    try:
        isp = await f.isp(conn)
        pkg = await f.package(conn, isp.operator["id"], data_cap_bytes=10_000, throttled_download_kbps=4000,
                              throttled_upload_kbps=2000)
        await f.insert(conn, "package_cap_tiers", {"package_id": pkg["id"], "operator_id": isp.operator["id"],
                                                   "after_bytes": 20_000, "download_kbps": 1000, "upload_kbps": 500})
        c = await f.customer(conn, isp.sub["id"], pkg["id"], isp.profile["id"], username="rollover-tiers")
        await f.insert(conn, "data_topups", {"operator_id": c["operator_id"], "customer_id": c["id"], "name": "5 KB",
                                             "bytes": 5000, "price_minor": 100, "currency": "BDT",
                                             "window_start": at("2026-10-31T18:00Z"), "window_end": edge})
    finally:
        await conn.close()
    user = c["username"]
    radacct(fresh_db_url, user, edge - timedelta(hours=5), edge - timedelta(hours=4), 22_000)
    uid = radacct(fresh_db_url, user, edge - timedelta(hours=1), None, 4000, update=edge - timedelta(minutes=5))
    clock = Clock(edge - timedelta(minutes=1))
    snapshot, sessions = PolicySnapshot(), OpenSessions(timedelta(days=365))
    worker = Worker(fresh_db_url, snapshot, sessions, clock=clock)
    worker.start()
    try:
        assert worker.connected.wait(10)
        assert snapshot.get(user).topup_bytes == 5000
        assert rate(snapshot, sessions, user, clock.now) == TIER2  # 26,000 - 5,000 topped up >= 20,000
        clock.now = edge + timedelta(seconds=1)
        assert wait_until(lambda: snapshot.get(user).usage_resets_at > edge, timeout=5), "no refresh at the boundary"
        assert snapshot.get(user).topup_bytes == 0 and rate(snapshot, sessions, user, clock.now) == FULL

        def coa():
            with psycopg.connect(fresh_db_url) as db:
                return db.execute("SELECT payload FROM outbox WHERE kind = 'coa' AND payload->>'username' = %s",
                                  (user,)).fetchall()
        found = wait_until(coa, timeout=5)
        assert [(p["reason"], mikrotik(p), p["acct_unique_id"]) for (p,) in found] == [
            ("data_cap_reset", FULL, uid)]
    finally:
        worker.stop()
