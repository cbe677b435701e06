"""Data caps reset at the window boundary: the module's worker (a real thread on real Postgres, with a clock the
test moves) reloads each capped customer when the window ends; usage after the boundary counts only the new window,
and a throttled live session gets its speed back by CoA."""

import itertools
from datetime import UTC, datetime, timedelta

import asyncpg
import psycopg
import pytest

from radbill.policy import Request, Speeds, decide
from radbill.policy.vendors import rate_attributes
from radius_module.sessions import OpenSessions, Session
from radius_module.snapshot import PolicySnapshot
from radius_module.worker import Worker
from tests import factories as f
from tests.support.waiting import wait_until

_n = itertools.count(1)
FULL, THROTTLED = "5120k/10240k", "500k/1M"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def capped_customer(url: str, cap_period: str, profile: dict):
    conn = await asyncpg.connect(url)
    try:
        isp = await f.isp(conn)  # operators default to Asia/Dhaka (UTC+6)
        pkg = await f.package(conn, isp.operator["id"], data_cap_bytes=10_000, throttled_download_kbps=1000,
                              throttled_upload_kbps=500, cap_period=cap_period)
        bp = await f.billing_profile(conn, isp.operator["id"], **profile)
        return await f.customer(conn, isp.sub["id"], pkg["id"], bp["id"], username=f"reset{next(_n)}")
    finally:
        await conn.close()


def radacct(url: str, username: str, start: datetime, stop: datetime | None, octets: int, update=None) -> str:
    uid = f"u{next(_n)}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, acctstarttime,"
                     " acctupdatetime, acctstoptime, acctinputoctets, acctoutputoctets)"
                     " VALUES (%s, %s, %s, '127.0.0.1', %s, %s, %s, %s, 0)",
                     (uid, uid, username, start, update, stop, octets))
    return uid


def rate(snapshot, sessions, username, now) -> str:
    row = snapshot.get(username)
    used = row.usage_bytes + sessions.closed_octets.get(username, 0) + sessions.open_octets(username)
    from dataclasses import replace

    decision = decide(replace(row, usage_bytes=used), Request(username=username), now)
    assert decision.accept, decision
    return dict(decision.reply)["Mikrotik-Rate-Limit"]


@pytest.mark.parametrize(("cap_period", "profile", "boundary"), [
    # Dhaka is UTC+6: December begins there at 18:00 UTC on Nov 30
    ("calendar_month", {}, "2026-11-30T18:00Z"),
    # billing day 10: the cycle turns at local midnight of Dec 10
    ("billing_cycle", {"billing_day": 10}, "2026-12-09T18:00Z"),
])
async def test_the_worker_resets_usage_at_the_boundary(fresh_db_url, cap_period, profile, boundary):
    c = await capped_customer(fresh_db_url, cap_period, profile)
    user, edge = c["username"], at(boundary)
    radacct(fresh_db_url, user, edge - timedelta(hours=3), edge - timedelta(hours=2), 8000)  # closed, old window
    uid = radacct(fresh_db_url, user, edge - timedelta(hours=1), None, 4000, update=edge - timedelta(minutes=5))
    clock = Clock(edge - timedelta(minutes=1))
    snapshot, sessions = PolicySnapshot(), OpenSessions(timedelta(days=365))
    worker = Worker(fresh_db_url, snapshot, sessions, clock=clock)
    worker.start()
    try:
        assert worker.connected.wait(10)
        assert snapshot.get(user).usage_resets_at == edge
        assert rate(snapshot, sessions, user, clock.now) == THROTTLED  # 8000 closed + 4000 open > 10,000

        clock.now = edge + timedelta(seconds=1)
        assert wait_until(lambda: snapshot.get(user).usage_resets_at > edge, timeout=5), "no refresh at the boundary"
        assert snapshot.get(user).usage_bytes == 0
        assert sessions.open_octets(user) == 0  # what the open session carried belongs to the old window
        assert rate(snapshot, sessions, user, clock.now) == FULL

        # the router is told: the live session gets the package's own rate back, once
        def coa():
            with psycopg.connect(fresh_db_url) as conn:
                return conn.execute("SELECT payload FROM outbox WHERE kind = 'coa' AND payload->>'username' = %s",
                                    (user,)).fetchall()
        found = wait_until(coa, timeout=5)
        assert len(found) == 1 and rate_attributes("mikrotik", Speeds(**found[0][0]["speeds"])) \
            == {"Mikrotik-Rate-Limit": FULL}
        assert found[0][0]["acct_unique_id"] == uid

        # traffic after the boundary counts in the new window only
        sessions.touch(uid, Session(user, "127.0.0.1", uid, None, clock.now, 4000 + 9000))
        assert sessions.open_octets(user) == 9000 and rate(snapshot, sessions, user, clock.now) == FULL
        sessions.touch(uid, Session(user, "127.0.0.1", uid, None, clock.now, 4000 + 10_000))
        assert rate(snapshot, sessions, user, clock.now) == THROTTLED
        sessions.stop(uid, user, 4000 + 10_500)
        assert sessions.closed_octets[user] == 10_500
    finally:
        worker.stop()


async def test_a_reload_splits_an_open_session_that_began_in_the_old_window(fresh_db_url):
    c = await capped_customer(fresh_db_url, "calendar_month", {})
    edge = at("2026-11-30T18:00Z")
    radacct(fresh_db_url, c["username"], edge - timedelta(hours=1), None, 9000, update=edge + timedelta(hours=2))
    snapshot, sessions = PolicySnapshot(), OpenSessions(timedelta(days=365))
    worker = Worker(fresh_db_url, snapshot, sessions, clock=Clock(edge + timedelta(hours=2)))
    with psycopg.connect(fresh_db_url, autocommit=True) as conn:
        worker.reload_all(conn)
    assert sessions.open_octets(c["username"]) == 6000  # two of its three hours are in December


@pytest.mark.parametrize("cap_period", ["calendar_month", "billing_cycle"])
async def test_through_freeradius_only_the_current_window_counts(radius, radius_db, cap_period):
    """Real FreeRADIUS, real clock: usage from before the window start (the billing day, here today in Dhaka,
    or the month start) never throttles; usage inside it does, once over the cap."""
    from radbill.billing.periods import Cycle, cap_window, local_date
    from tests.radius.test_accounting import acct, session_id
    from tests.radius.test_authorize import login_when

    now, tz = datetime.now(UTC), radius.isp.sub["timezone"]
    today = local_date(now, tz)
    bp = await f.billing_profile(radius_db, radius.isp.operator["id"], billing_day=today.day)
    start, _ = cap_window(cap_period, Cycle("fixed_day", today.day), now, tz)
    pkg = await f.package(radius_db, radius.isp.operator["id"], data_cap_bytes=10_000, throttled_download_kbps=1000,
                          throttled_upload_kbps=500, cap_period=cap_period)
    username = f"window{next(_n)}-{int(now.timestamp()) % 100000}"
    # the hour before the window: yesterday evening in Dhaka (billing cycle), or last month (calendar month)
    await radius_db.execute(
        "INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, acctstarttime, acctstoptime,"
        " acctinputoctets, acctoutputoctets) VALUES ($1, $1, $2, '127.0.0.1', $3, $4, 50000, 0)",
        f"old-{username}", username, start - timedelta(hours=1), start - timedelta(seconds=1))
    c = await f.customer(radius_db, radius.isp.sub["id"], pkg["id"], bp["id"], username=username)
    assert login_when(radius, username, c["radius_password"], lambda r: r.accepted).first("Mikrotik-Rate-Limit") \
        == FULL, "usage from the previous window throttled the customer"
    sid = session_id()
    acct(radius, username, sid, "Start")
    acct(radius, username, sid, "Stop", Acct_Input_Octets=6000, Acct_Output_Octets=5000, Acct_Session_Time=60)
    assert login_when(radius, username, c["radius_password"],
                      lambda r: r.first("Mikrotik-Rate-Limit") == THROTTLED), "usage in this window did not count"


async def test_explain_counts_a_spanning_session_as_the_worker_does(fresh_db_url):
    """`radbill explain` and the worker agree on usage when an open session began in the previous window."""
    from radbill.billing.periods import cap_window
    from radbill.config import Config, DatabaseUrl, Secret
    from radbill.diagnostics import explain

    c = await capped_customer(fresh_db_url, "calendar_month", {})
    now = datetime.now(UTC)
    start, _ = cap_window("calendar_month", None, now, "Asia/Dhaka")
    radacct(fresh_db_url, c["username"], start - timedelta(hours=1), None, 9000, update=now)
    snapshot, sessions = PolicySnapshot(), OpenSessions(timedelta(days=365))
    with psycopg.connect(fresh_db_url, autocommit=True) as conn:
        Worker(fresh_db_url, snapshot, sessions).reload_all(conn)
    served = snapshot.get(c["username"]).usage_bytes + sessions.window_octets(c["username"])
    _, row = explain(Config(DatabaseUrl(fresh_db_url), Secret("x" * 32)), c["username"])
    assert 0 < served < 9000 and row.usage_bytes == served
