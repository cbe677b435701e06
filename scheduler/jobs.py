"""The scheduler's job machinery: the declared jobs (scheduler.registry) and the advisory lock that lets one
replica at a time run each of them."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from scheduler.context import JobContext, JobSpec
from scheduler.registry import JOBS, OUTBOX_JOB

__all__ = ["OUTBOX_JOB", "JobContext", "JobSpec", "all_jobs", "lock_key", "run_exclusively"]


def all_jobs() -> list[JobSpec]:
    return list(JOBS)


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory-lock key for a job name."""
    return int.from_bytes(hashlib.sha256(f"radbill.job:{name}".encode()).digest()[:8], "big", signed=True)


async def run_exclusively(pool: asyncpg.Pool, name: str, func: Callable[[], Awaitable[Any]]) -> tuple[bool, Any]:
    """Run `func` only if no other scheduler (replica) is running the job `name`: (ran, result)."""
    async with pool.acquire() as conn:
        key = lock_key(name)
        if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", key):
            return False, None
        try:
            return True, await func()
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", key)
