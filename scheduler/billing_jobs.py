"""Billing jobs: the bill run and auto-suspension. Each is idempotent, so a missed or doubled run is harmless."""

from __future__ import annotations

from radbill import clock
from radbill.services import bill_run, billing, package_change
from scheduler.context import JobContext


async def generate_due_bills(ctx: JobContext) -> int:
    """Bill every customer whose period is due now (prepaid: also the next one inside its lead window, so that
    advance credit extends the expiry before the boundary): set-based, in batches of customers over two connections
    (bill_run); a period billed before is skipped."""
    return await bill_run.generate_bills_in_batches(ctx.pool, clock.now())


async def suspend_overdue(ctx: JobContext) -> dict:
    """Suspend customers past due + grace, or whose prepaid validity expired (billing.suspend_overdue)."""
    async with ctx.pool.acquire() as conn:
        return await billing.suspend_overdue(conn, clock.now())


async def apply_waiting_package_changes(ctx: JobContext) -> int:
    """Switch the customers whose package change waited for the next period (package_change.apply_due_changes);
    run just before the hour's bill run, so the switch and the new period's bill come together."""
    async with ctx.pool.acquire() as conn:
        return await package_change.apply_due_changes(conn, clock.now())
