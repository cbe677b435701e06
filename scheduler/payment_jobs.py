"""Online payments: the reconciliation job asks the gateway about intents left open (the customer paid but the
callback never came, or radbill was down) until they are final; settle() credits them exactly once."""

from __future__ import annotations

from radbill.payments.flow import reconcile_open
from scheduler.context import JobContext


async def reconcile_payments(ctx: JobContext) -> dict:
    """One pass over the open intents that are due a check (backoff per intent: radbill.payments.flow)."""
    return await reconcile_open(ctx.pool)
