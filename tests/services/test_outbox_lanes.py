"""Per-destination dispatch without a network: a fair claim, and the circuit breaker of a silent destination.
(The same through real UDP, a silent port and the NAS simulator, is bench/outbox.py.)"""

from __future__ import annotations

import asyncio
import time

import asyncpg
import pytest

from radbill.services import outbox
from radbill.services.outbox import DispatchSettings, Outcome, RetryPolicy

DEAD, HEALTHY = "192.0.2.1", "192.0.2.2"


async def _backlog(conn, dead_rows: int) -> None:
    """`dead_rows` disconnects for one router, queued first, then one for another router and one SMS."""
    await conn.execute(
        "SELECT radbill_enqueue('disconnect', NULL, jsonb_build_object('nas_ip', $1::text, 'username', 'u' || g), NULL)"
        "  FROM generate_series(1, $2) g", DEAD, dead_rows)
    await conn.execute("SELECT radbill_enqueue('disconnect', NULL, jsonb_build_object('nas_ip', $1::text), NULL)",
                       HEALTHY)
    await conn.execute("SELECT radbill_enqueue('sms', NULL, '{}', NULL)")


async def test_a_backlog_on_one_router_does_not_keep_others_out_of_the_first_claim(fresh_db_url):
    conn = await asyncpg.connect(fresh_db_url)
    try:
        await _backlog(conn, 1000)
        rows = await outbox.claim(conn, ["disconnect", "sms"], DispatchSettings(batch_size=50, per_destination=5))
        destinations = [r["destination"] for r in rows]
        assert f"nas:{HEALTHY}" in destinations and "sms" in destinations
        assert destinations.count(f"nas:{DEAD}") == 5  # the router's own lane, no more
    finally:
        await conn.close()


class Routers:
    """A handler: the dead router never answers (each attempt waits `wait` s), the rest ACK at once."""

    def __init__(self, wait: float):
        self.wait, self.dead = wait, True
        self.in_flight = self.most_in_flight_after_open = 0
        self.opened = False
        self.acked: dict[str, float] = {}
        self.first_timeout: float | None = None
        self.started = time.monotonic()

    async def __call__(self, conn, row, settings) -> Outcome:
        if row["destination"] != f"nas:{DEAD}" or not self.dead:
            self.acked.setdefault(row["destination"], time.monotonic() - self.started)
            return Outcome("ack")
        self.in_flight += 1
        if self.opened:
            self.most_in_flight_after_open = max(self.most_in_flight_after_open, self.in_flight)
        await asyncio.sleep(self.wait)
        self.in_flight -= 1
        if self.first_timeout is None:
            self.first_timeout = time.monotonic() - self.started
        return Outcome("timeout", error="no answer")


@pytest.mark.parametrize("dead_rows", [300])
async def test_a_silent_router_opens_its_breaker_and_delays_no_one(fresh_db_url, dead_rows):
    pool = await asyncpg.create_pool(fresh_db_url, min_size=2, max_size=16)
    try:
        async with pool.acquire() as conn:
            await _backlog(conn, dead_rows)
        # 0.8 s: the healthy rows are claimed with the first batch and ACK at once, but a loaded 2-core box can
        # take a few hundred ms to schedule them (measured: 0.45 s at load 13, which failed a 0.3-s wait)
        routers = Routers(wait=0.8)
        settings = DispatchSettings(retry=RetryPolicy(max_attempts=100, base_delay=0.05, max_delay=0.05),
                                    concurrency=10, per_destination=5, breaker_after=3, poll_interval=0.02)
        handlers = {"disconnect": routers, "sms": routers}
        run = asyncio.create_task(outbox.drain(pool, settings, max_seconds=2.5, handlers=handlers))
        async with pool.acquire() as conn:
            for _ in range(100):  # the first timeouts open the breaker
                if await conn.fetchval("SELECT opened_at FROM outbox_breakers WHERE destination = $1", f"nas:{DEAD}"):
                    break
                await asyncio.sleep(0.02)
            routers.opened = True
        await asyncio.sleep(1.0)  # the breaker stays open: one probe at a time
        # the others were answered before the silent router's first attempt even timed out: nothing of theirs
        # waited behind it (relative, not a wall-clock bound, so a loaded machine cannot fail it wrongly)
        assert routers.acked[f"nas:{HEALTHY}"] < routers.first_timeout
        assert routers.acked["sms"] < routers.first_timeout
        assert routers.most_in_flight_after_open <= 1
        routers.dead = False  # the router answers the next probe: its breaker closes and the backlog flows
        await run
        await outbox.drain(pool, settings, max_seconds=5, handlers=handlers)
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT count(*) FROM outbox WHERE done_at IS NULL") == 0
            breaker = await conn.fetchrow("SELECT * FROM outbox_breakers WHERE destination = $1", f"nas:{DEAD}")
            assert breaker["opened_at"] is None and breaker["consecutive_timeouts"] == 0
            # while open, only the probes spent attempts: the backlog was not burnt through
            assert await conn.fetchval("SELECT max(attempts) FROM outbox WHERE destination = $1", f"nas:{DEAD}") < 10
    finally:
        await pool.close()
