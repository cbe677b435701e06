"""The REST API's housekeeping: Idempotency-Keys older than a day are deleted (radbill.services.idempotency)."""

from __future__ import annotations

from radbill import clock
from radbill.services import idempotency
from scheduler.context import JobContext


async def purge_idempotency_keys(ctx: JobContext) -> int:
    async with ctx.pool.acquire() as conn:
        return await idempotency.purge(conn, clock.now())
