"""SMS reminders: the due-date and expiry reminders due now (operators inside their sending hours)."""

from __future__ import annotations

from radbill import clock
from radbill.services.sms_reminders import queue_reminders
from scheduler.context import JobContext


async def queue_sms_reminders(ctx: JobContext) -> dict:
    async with ctx.pool.acquire() as conn:
        return await queue_reminders(conn, clock.now())
