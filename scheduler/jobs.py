"""What the scheduler runs: a list of job specs, each a thin wrapper over one radbill.services function."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from radbill.services import outbox


@dataclass(frozen=True)
class JobContext:
    pool: asyncpg.Pool
    dispatch: outbox.DispatchSettings


@dataclass(frozen=True)
class JobSpec:
    """`name` is the job id and its advisory-lock key; `trigger` and `trigger_args` go to APScheduler's add_job
    (e.g. 'interval', {'seconds': 1} or 'cron', {'hour': 0, 'minute': 5, 'timezone': 'UTC'})."""

    name: str
    run: Callable[[JobContext], Awaitable[Any]]
    trigger: str
    trigger_args: dict = field(default_factory=dict)


OUTBOX_JOB = "outbox.dispatch"


async def dispatch_outbox(ctx: JobContext) -> int:
    return await outbox.drain(ctx.pool, ctx.dispatch)


CORE_JOBS: list[JobSpec] = [
    JobSpec(OUTBOX_JOB, dispatch_outbox, "interval", {"seconds": 1}),
]

# Billing jobs (bill generation, auto-suspension after grace, expiry reminders) are registered here by the billing
# work: each a JobSpec whose `run` calls one radbill.services function that is idempotent (safe to run twice).
BILLING_JOBS: list[JobSpec] = []


def all_jobs() -> list[JobSpec]:
    return CORE_JOBS + BILLING_JOBS


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


# SMS: importing radbill.services.sms registers the outbox 'sms' handler in the scheduler process.
from radbill import clock  # noqa: E402
from radbill.services import sms as _sms_handler  # noqa: E402,F401
from radbill.services import webhook_delivery as _webhook_handler  # noqa: E402,F401
from radbill.services.sms_reminders import queue_reminders  # noqa: E402


async def queue_sms_reminders(ctx: JobContext) -> dict:
    """Queue the due-date and expiry reminders due now (operators inside their sending hours)."""
    async with ctx.pool.acquire() as conn:
        return await queue_reminders(conn, clock.now())


# every 15 minutes: a slot is queued once (dedupe key), and operators outside their sending hours are skipped
SMS_JOBS: list[JobSpec] = [
    JobSpec("sms.reminders", queue_sms_reminders, "cron", {"minute": "*/15", "timezone": "UTC"}),
]
BILLING_JOBS.extend(SMS_JOBS)

# Bill run and auto-suspension (scheduler/billing_jobs.py).
from scheduler.billing_jobs import JOBS as _BILLING  # noqa: E402

BILLING_JOBS.extend(JobSpec(*spec) for spec in _BILLING)

# Online payments: reconciliation of open intents (scheduler/payment_jobs.py).
from scheduler.payment_jobs import JOBS as _PAYMENTS  # noqa: E402

BILLING_JOBS.extend(JobSpec(*spec) for spec in _PAYMENTS)

# Operations: the daily backup with retention and the stale-backup alert (scheduler/ops_jobs.py).
from scheduler.ops_jobs import JOBS as _OPS  # noqa: E402

BILLING_JOBS.extend(JobSpec(*spec) for spec in _OPS)
