"""Billing jobs: the bill run and auto-suspension. Each is idempotent, so a missed or doubled run is harmless."""

from __future__ import annotations

from typing import TYPE_CHECKING

from radbill import clock
from radbill.services import billing, package_change

if TYPE_CHECKING:  # scheduler.jobs imports this module to register JOBS; a runtime import would be circular
    from scheduler.jobs import JobContext

async def generate_due_bills(ctx: JobContext) -> int:
    """Bill every customer whose period is due now (prepaid: also the next one inside its lead window, so that
    advance credit extends the expiry before the boundary): one set-based run; a period billed before is skipped."""
    async with ctx.pool.acquire() as conn:
        return await billing.generate_bills(conn, clock.now())


async def suspend_overdue(ctx: JobContext) -> dict:
    """Suspend customers past due + grace, or whose prepaid validity expired (billing.suspend_overdue)."""
    async with ctx.pool.acquire() as conn:
        return await billing.suspend_overdue(conn, clock.now())


async def apply_waiting_package_changes(ctx: JobContext) -> int:
    """Switch the customers whose package change waited for the next period (package_change.apply_due_changes);
    run just before the hour's bill run, so the switch and the new period's bill come together."""
    async with ctx.pool.acquire() as conn:
        return await package_change.apply_due_changes(conn, clock.now())


# (name, run, trigger, trigger_args): the JobSpec fields; scheduler.jobs wraps them.
# Hourly: fixed-day periods (and prepaid issue dates, due days before them) start at local midnight, which is a
# different UTC hour per operator time zone.
JOBS = [
    ("billing.generate", generate_due_bills, "cron", {"minute": 5, "timezone": "UTC"}),
    ("billing.package_changes", apply_waiting_package_changes, "cron", {"minute": 1, "timezone": "UTC"}),
    ("billing.suspend_overdue", suspend_overdue, "cron", {"minute": 20, "timezone": "UTC"}),
]
