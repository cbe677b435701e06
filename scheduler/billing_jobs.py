"""Billing jobs: the bill run and auto-suspension. Each is idempotent, so a missed or doubled run is harmless."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from radbill import clock
from radbill.errors import RadbillError
from radbill.services import billing
from radbill.services.customers import suspend_customer
from radbill.tenancy import Scope

if TYPE_CHECKING:  # scheduler.jobs imports this module to register JOBS; a runtime import would be circular
    from scheduler.jobs import JobContext

log = logging.getLogger("radbill.scheduler.billing")

REASONS = {"unpaid_bill": "auto-suspended: bill #{bill} unpaid after its due date and grace days",
           "expired": "auto-suspended: prepaid validity expired"}


async def generate_due_bills(ctx: JobContext) -> int:
    """Bill every customer whose period is due now: one set-based run (a period billed before is skipped)."""
    async with ctx.pool.acquire() as conn:
        return await billing.generate_bills(conn, clock.now())


async def suspend_overdue(ctx: JobContext) -> dict:
    """Suspend each candidate through suspend_customer, the admin button's path (open sessions get a disconnect
    in the outbox), acting as the system within the customer's own operator."""
    now = clock.now()
    done = {"suspended": 0, "failed": 0}
    async with ctx.pool.acquire() as conn:
        candidates = await billing.suspension_candidates(conn, now)
        paths = {r["id"]: r["path"] for r in await conn.fetch(
            "SELECT id, path::text AS path FROM operators WHERE id = ANY($1::bigint[])",
            sorted({c.operator_id for c in candidates}))}
        for c in candidates:
            scope = Scope.system(c.operator_id, paths[c.operator_id])
            try:
                await suspend_customer(conn, scope, c.customer_id, REASONS[c.reason].format(bill=c.bill_id))
                done["suspended"] += 1
            except RadbillError as exc:  # e.g. disabled meanwhile: the next customer must still be handled
                log.warning("auto-suspend of customer %s (%s) failed: %s", c.customer_id, c.username, exc)
                done["failed"] += 1
    return done


# (name, run, trigger, trigger_args): the JobSpec fields; scheduler.jobs wraps them.
# Hourly: fixed-day periods start at local midnight, which is a different UTC hour per operator time zone.
JOBS = [
    ("billing.generate", generate_due_bills, "cron", {"minute": 5, "timezone": "UTC"}),
    ("billing.suspend_overdue", suspend_overdue, "cron", {"minute": 20, "timezone": "UTC"}),
]
