"""The SMS dispatcher run to the end in tests: fast retries, and draining until no SMS row is pending."""

from __future__ import annotations

from radbill.services.outbox import DispatchSettings, RetryPolicy, drain

FAST = DispatchSettings(retry=RetryPolicy(max_attempts=3, base_delay=0.01, factor=1.0, max_delay=0.01, jitter=0.0),
                        batch_size=200, concurrency=20, sms_lane=20)


async def settle(pool, settings: DispatchSettings = FAST, rounds: int = 50) -> int:
    """Dispatch until no SMS row is pending (retries included); bounded."""
    import asyncio

    total = 0
    for _ in range(rounds):
        total += await drain(pool, settings, max_seconds=60)
        async with pool.acquire() as c:
            pending = await c.fetchval("SELECT count(*) FROM outbox WHERE done_at IS NULL AND failed_at IS NULL")
        if not pending:
            return total
        await asyncio.sleep(0.02)
    raise AssertionError(f"{pending} outbox rows still pending")
