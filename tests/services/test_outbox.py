"""radbill.services.outbox without a network: backoff, the handler registry, claiming, giving up."""

from __future__ import annotations

import json

import asyncpg
import pytest

from radbill.services import outbox
from radbill.services.outbox import DispatchSettings, Outcome, RetryPolicy
from radbill.services.outbox_queue import enqueue


@pytest.mark.parametrize(("attempt", "expected"), [(1, 10), (2, 20), (3, 40), (7, 640), (8, 900), (30, 900)])
def test_backoff_doubles_up_to_the_cap(attempt, expected):
    assert RetryPolicy().delay(attempt, rand=lambda: 0.5) == expected


def test_jitter_stays_within_its_share():
    policy = RetryPolicy(base_delay=10, jitter=0.2)
    assert policy.delay(1, rand=lambda: 0.0) == pytest.approx(8)
    assert policy.delay(1, rand=lambda: 1.0) == pytest.approx(12)


def test_router_commands_have_handlers():
    # the scheduler loads the rest through scheduler.registry (tests/scheduler/test_registry.py)
    assert {"disconnect", "coa"} <= set(outbox.HANDLERS)


async def test_only_kinds_with_a_handler_are_claimed_and_each_row_once(fresh_db_url):
    pool = await asyncpg.create_pool(fresh_db_url, min_size=1, max_size=4)
    try:
        async with pool.acquire() as conn:
            await conn.executemany("INSERT INTO outbox (kind, payload) VALUES ($1, '{}')",
                                   [("sms",), ("webhook",)] + [("disconnect",)] * 5)
        seen = []

        async def handler(conn, row, settings):
            seen.append(row["id"])
            return Outcome("ack", {"by": "test"})

        settings = DispatchSettings(batch_size=2)
        handled = [await outbox.dispatch_due(pool, settings, {"disconnect": handler}) for _ in range(4)]
        assert handled == [2, 2, 1, 0] and len(set(seen)) == 5
        async with pool.acquire() as conn:
            left = await conn.fetch("SELECT kind FROM outbox WHERE done_at IS NULL ORDER BY id")
            assert [r["kind"] for r in left] == ["sms", "webhook"]
            assert await conn.fetchval("SELECT sum(attempts) FROM outbox") == 5
            assert json.loads(await conn.fetchval("SELECT result FROM outbox WHERE kind = 'disconnect' LIMIT 1")) == {
                "status": "ack", "attempt": 1, "by": "test"}
    finally:
        await pool.close()


async def test_a_crashing_handler_or_a_missing_router_gives_up_with_an_alert(fresh_db_url):
    pool = await asyncpg.create_pool(fresh_db_url, min_size=1, max_size=4)
    try:
        async with pool.acquire() as conn:
            await conn.execute("INSERT INTO outbox (kind, payload) VALUES ('disconnect', $1::jsonb)",
                               json.dumps({"username": "ghost", "acct_session_id": "s1", "nas_ip": "192.0.2.99"}))
        await outbox.dispatch_due(pool)  # the real handler: no such router -> no point retrying
        async with pool.acquire() as conn:
            row = await conn.fetchrow("SELECT * FROM outbox")
            assert row["failed_at"] is not None and "not in the routers list" in row["last_error"]
            alert = await conn.fetchrow("SELECT * FROM audit_log WHERE action = 'alert'")
            assert (alert["object_kind"], alert["object_id"]) == ("outbox", row["id"])

            await conn.execute("INSERT INTO outbox (kind, payload) VALUES ('coa', '{}')")

        async def broken(conn, row, settings):
            raise RuntimeError("bug")

        once = DispatchSettings(retry=RetryPolicy(max_attempts=1))
        await outbox.dispatch_due(pool, once, {"coa": broken})
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT last_error FROM outbox WHERE kind = 'coa'") == "RuntimeError: bug"
            assert await conn.fetchval("SELECT count(*) FROM audit_log WHERE action = 'alert'") == 2
    finally:
        await pool.close()


async def test_inserting_a_due_row_notifies_the_dispatcher(fresh_db_url):
    conn = await asyncpg.connect(fresh_db_url)
    try:
        heard = []
        await conn.add_listener(outbox.CHANNEL, lambda *args: heard.append(args[-1]))
        await conn.execute("INSERT INTO outbox (kind, payload) VALUES ('coa', '{}')")
        await conn.execute("INSERT INTO outbox (kind, payload, next_attempt_at) VALUES"
                           " ('coa', '{}', now() + interval '1 hour')")
        for _ in range(50):
            if heard:
                break
            await conn.execute("SELECT 1")
        assert heard == ["coa"]
    finally:
        await conn.close()


async def test_one_statement_of_many_rows_notifies_once_per_due_kind_and_a_retry_brought_forward_notifies(
        fresh_db_url):
    """Migration 0064: the insert's wake-up is per statement (the bill run queues a million SMS in one INSERT)."""
    conn = await asyncpg.connect(fresh_db_url)
    try:
        heard = []
        await conn.add_listener(outbox.CHANNEL, lambda *args: heard.append(args[-1]))

        async def settle():
            for _ in range(50):
                await conn.execute("SELECT 1")

        await conn.execute(
            "INSERT INTO outbox (kind, payload, next_attempt_at)"
            " SELECT k, '{}', CASE WHEN k = 'webhook' THEN now() + interval '1 hour' ELSE now() END"
            "   FROM unnest(ARRAY['sms', 'coa', 'webhook']) k, generate_series(1, 200)")
        await settle()
        assert sorted(heard) == ["coa", "sms"]
        heard.clear()
        await conn.execute("UPDATE outbox SET next_attempt_at = now() - interval '1 second'"
                           " WHERE kind = 'webhook' AND id = (SELECT min(id) FROM outbox WHERE kind = 'webhook')")
        await settle()
        assert heard == ["webhook"]
    finally:
        await conn.close()


async def test_the_one_enqueue_rule(fresh_db_url):
    """radbill_enqueue: a key suppresses only while pending; a finished command is enqueued again as a new row;
    a message key is used once for ever; a disconnect supersedes the session's pending CoA; NULL never dedupes."""
    conn = await asyncpg.connect(fresh_db_url)
    try:
        session = {"acct_unique_id": "u1", "nas_ip": "192.0.2.7", "username": "u"}
        first = await enqueue(conn, "disconnect", None, session, "disconnect:u1:suspended")
        assert await enqueue(conn, "disconnect", None, session, "disconnect:u1:suspended") is None
        await conn.execute("UPDATE outbox SET done_at = now() WHERE id = $1", first)  # ACKed, session kept
        again = await enqueue(conn, "disconnect", None, session, "disconnect:u1:suspended")
        assert again not in (None, first)
        await conn.execute("UPDATE outbox SET failed_at = now() WHERE id = $1", again)
        assert await enqueue(conn, "disconnect", None, session, "disconnect:u1:suspended") is not None

        sms = await enqueue(conn, "sms", None, {"event": "bill_generated"}, "sms:bill_generated:1")
        await conn.execute("UPDATE outbox SET done_at = now() WHERE id = $1", sms)
        assert await enqueue(conn, "sms", None, {"event": "bill_generated"}, "sms:bill_generated:1") is None
        assert None not in [await enqueue(conn, "sms", None, {}) for _ in range(2)]

        coa = await enqueue(conn, "coa", None, {**session, "acct_unique_id": "u2"}, "coa:data_cap:u2")
        await enqueue(conn, "disconnect", None, {**session, "acct_unique_id": "u2"}, "disconnect:u2:expired")
        assert json.loads(await conn.fetchval("SELECT result FROM outbox WHERE id = $1", coa)) == {
            "superseded_by": "disconnect:u2:expired"}
        assert await conn.fetchval("SELECT destination FROM outbox WHERE id = $1", first) == "nas:192.0.2.7"
        assert await conn.fetchval("SELECT destination FROM outbox WHERE id = $1", sms) == "sms"
    finally:
        await conn.close()
