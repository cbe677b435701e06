"""session.started / session.stopped come from the accounting fold (set-based statement triggers on radacct)."""

from __future__ import annotations

import asyncpg

from tests.support.db import radius_url
from tests.support.webhooks import register, settle

JOURNAL = """INSERT INTO radacct_journal (status, acctsessionid, acctuniqueid, username, nasipaddress, event_time,
                                          sessiontime, inputoctets, outputoctets)
             VALUES ($1, 's1', 'u1', $2, '10.0.1.1', now(), $3, 100, 200)"""


async def _fold(url: str, status: str, username: str, seconds: int = 0) -> None:
    """As the RADIUS module's worker does it: rlm_sql's INSERT, then the fold, as the radius role."""
    conn = await asyncpg.connect(radius_url(url))
    try:
        await conn.execute(JOURNAL, status, username, seconds)
        await conn.fetchval("SELECT count(*) FROM radbill_fold_accounting(100)")
    finally:
        await conn.close()


async def test_a_folded_start_and_stop_reach_the_subscribed_endpoint_of_the_customers_tree(pool, tree, receiver,
                                                                                                fresh_db_url):
    await register(pool, receiver, tree.ops["op_a"], "sessions", events=["session.started", "session.stopped"])
    await register(pool, receiver, tree.ops["op_b"], "other", events=["session.started", "session.stopped"])
    await register(pool, receiver, tree.ops["op_a"], "bills", events=["bill.created"])
    await _fold(fresh_db_url, "Start", "cust-a1")
    await _fold(fresh_db_url, "Interim-Update", "cust-a1", 60)
    await _fold(fresh_db_url, "Stop", "cust-a1", 120)
    await settle(pool)
    # a lane sends several rows at once, so arrival order is not event order: the event's timestamp is
    got = sorted((r.verified for r in receiver.at("sessions")), key=lambda e: e["timestamp"])
    assert [g["type"] for g in got] == ["session.started", "session.stopped"]
    assert all(g["data"]["customer_id"] == tree.customers["a1"]["id"] and g["data"]["acct_session_id"] == "s1"
               for g in got)
    assert got[1]["data"]["session_seconds"] == 120 and got[1]["data"]["stopped_at"]
    assert receiver.at("other") == [] and receiver.at("bills") == []


async def test_the_fold_queues_nothing_when_no_endpoint_listens_to_sessions(pool, tree, receiver, fresh_db_url):
    await register(pool, receiver, tree.ops["op_a"], "bills", events=["bill.created"])
    await _fold(fresh_db_url, "Start", "cust-a1")
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM radacct") == 1
        assert await conn.fetchval("SELECT count(*) FROM webhook_deliveries") == 0
