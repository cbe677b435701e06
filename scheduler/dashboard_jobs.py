"""The dashboard's counters (migration 0049): the triggers append a delta row per statement; folding them into one
row per operator and hour keeps a dashboard load reading few rows (radbill.services.dashboard.compact); the
online figure is counted once a minute for everyone rather than on every load."""

from __future__ import annotations

from radbill.services import dashboard
from scheduler.context import JobContext


async def compact_counters(ctx: JobContext) -> int:
    async with ctx.pool.acquire() as conn:
        return await dashboard.compact(conn)


async def count_online(ctx: JobContext) -> int:
    async with ctx.pool.acquire() as conn:
        return await dashboard.count_online(conn)
