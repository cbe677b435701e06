"""The REST API's housekeeping: Idempotency-Keys older than a day are deleted (radbill.services.idempotency)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from radbill import clock
from radbill.services import idempotency

if TYPE_CHECKING:  # scheduler.jobs imports this module to register JOBS
    from scheduler.jobs import JobContext


async def purge_idempotency_keys(ctx: JobContext) -> int:
    async with ctx.pool.acquire() as conn:
        return await idempotency.purge(conn, clock.now())


JOBS = [
    ("api.idempotency_purge", purge_idempotency_keys, "cron", {"minute": 41, "timezone": "UTC"}),
]
