"""The deliveries log is purged by age: delivered rows after 30 days, undelivered after 90, attempts with them,
in batches, never a delivery still waiting in the outbox."""

from __future__ import annotations

from datetime import timedelta

import asyncpg

from radbill import clock
from radbill.services.outbox_queue import enqueue
from radbill.services.webhook_retention import RetentionSettings, purge_deliveries
from scheduler import registry, webhook_jobs

# (name, age in days, delivered) -> kept after the purge with the default 30/90
ROWS = {"new_delivered": (5, True, True), "old_delivered": (31, True, False),
        "mid_failed": (45, False, True), "old_failed": (91, False, False), "older_delivered": (400, True, False)}


async def _endpoint(conn: asyncpg.Connection, operator_id: int) -> int:
    return await conn.fetchval("INSERT INTO webhook_endpoints (operator_id, url, events, secret_sealed)"
                               " VALUES ($1, 'http://127.0.0.1:9/x', '{customer.created}', 'x') RETURNING id",
                               operator_id)


async def _delivery(conn, endpoint_id: int, operator_id: int, name: str, age_days: int, delivered: bool) -> int:
    created = clock.now() - timedelta(days=age_days)
    delivery_id = await conn.fetchval(
        "INSERT INTO webhook_deliveries (endpoint_id, operator_id, event_id, event_type, payload, created_at,"
        " delivered_at) VALUES ($1, $2, $3, 'customer.created', '{}', $4, $5) RETURNING id",
        endpoint_id, operator_id, f"msg_{name}", created, created + timedelta(seconds=1) if delivered else None)
    await conn.execute("INSERT INTO webhook_attempts (delivery_id, operator_id, at, status_code, duration_ms)"
                       " VALUES ($1, $2, $3, 200, 5)", delivery_id, operator_id, created)
    return delivery_id


async def test_old_deliveries_and_their_attempts_go_the_recent_and_the_waiting_stay(pool, fresh_db_url, tree):
    # `pool` connects as the scheduler does (the app's role, row-level security on, the system's scope)
    op = tree.ops["op_a"]["id"]
    owner = await asyncpg.create_pool(fresh_db_url, min_size=1, max_size=2)
    try:
        async with owner.acquire() as conn:
            endpoint = await _endpoint(conn, op)
            for name, (age, delivered, _kept) in ROWS.items():
                await _delivery(conn, endpoint, op, name, age, delivered)
            # an old failed delivery sent again by hand, still waiting for the dispatcher: kept
            waiting = await _delivery(conn, endpoint, op, "waiting", 200, False)
            await enqueue(conn, "webhook", op, {"webhook_id": endpoint, "delivery_id": waiting, "by_hand": True})
        # batch=1: the loop must go on past a full batch
        assert await purge_deliveries(pool, RetentionSettings(), batch=1) == 3
        async with pool.acquire() as conn:
            left = {r["event_id"] for r in await conn.fetch("SELECT event_id FROM webhook_deliveries")}
            attempts = await conn.fetchval("SELECT count(*) FROM webhook_attempts")
        assert left == {f"msg_{n}" for n, (_a, _d, kept) in ROWS.items() if kept} | {"msg_waiting"}
        assert attempts == len(left), "a purged delivery's attempts are purged with it"
        assert await purge_deliveries(pool, RetentionSettings(keep_delivered_days=1, keep_failed_days=40)) == 2
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT array_agg(event_id) FROM webhook_deliveries") == ["msg_waiting"]
    finally:
        await owner.close()


def test_retention_days_come_from_the_environment():
    settings = RetentionSettings.from_env({"RADBILL_WEBHOOK_KEEP_DELIVERED_DAYS": "7",
                                           "RADBILL_WEBHOOK_KEEP_FAILED_DAYS": "14"})
    assert settings == RetentionSettings(keep_delivered_days=7, keep_failed_days=14)
    assert RetentionSettings.from_env({}) == RetentionSettings(30, 90)


def test_the_purge_is_a_scheduled_job():
    [spec] = [s for s in registry.JOBS if s.run is webhook_jobs.purge_webhook_deliveries]
    assert spec.trigger == "cron"
