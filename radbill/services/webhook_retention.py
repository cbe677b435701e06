"""How long the webhook deliveries log is kept: delivered rows for RADBILL_WEBHOOK_KEEP_DELIVERED_DAYS (default
30), undelivered ones for RADBILL_WEBHOOK_KEEP_FAILED_DAYS (default 90, longer: they are what an owner comes back
to investigate); a delivery's attempts go with it (ON DELETE CASCADE).

The purge deletes in batches, each its own short transaction, so a first purge of a year of events never holds
locks on the log (or the endpoint pages reading it) for long. A delivery still waiting in the outbox (a redeliver
by hand) is kept whatever its age.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from radbill import clock
from radbill.config import EnvReader

KEEP_DELIVERED_ENV = "RADBILL_WEBHOOK_KEEP_DELIVERED_DAYS"
KEEP_FAILED_ENV = "RADBILL_WEBHOOK_KEEP_FAILED_DAYS"
BATCH = 1000

# One batch: the oldest expired rows first (by the created_at index, migration 0054); delivered_at >= created_at,
# so every row either clause takes was created before the later of the two cutoffs. SKIP LOCKED: a row the
# dispatcher is writing an attempt for, or a redeliver is queuing, is left to the next run. NOT IN over the few
# pending rows: one hashed set per batch, not a probe of the outbox per candidate.
PURGE_BATCH = """
    DELETE FROM webhook_deliveries WHERE id IN (
        SELECT d.id FROM webhook_deliveries d
         WHERE d.created_at < greatest($1::timestamptz, $2::timestamptz)
           AND (d.delivered_at < $1 OR (d.delivered_at IS NULL AND d.created_at < $2))
           AND d.id NOT IN (SELECT (o.payload->>'delivery_id')::bigint FROM outbox o
                             WHERE o.kind = 'webhook' AND o.done_at IS NULL AND o.failed_at IS NULL
                               AND o.payload->>'delivery_id' IS NOT NULL)
         ORDER BY d.created_at LIMIT $3 FOR UPDATE OF d SKIP LOCKED)
"""


@dataclass(frozen=True)
class RetentionSettings:
    keep_delivered_days: int = 30
    keep_failed_days: int = 90

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RetentionSettings:
        reader = EnvReader(os.environ if env is None else env)
        return cls(keep_delivered_days=reader.integer(KEEP_DELIVERED_ENV, cls.keep_delivered_days, 1, 3650),
                   keep_failed_days=reader.integer(KEEP_FAILED_ENV, cls.keep_failed_days, 1, 3650))


async def purge_deliveries(pool: asyncpg.Pool, settings: RetentionSettings, now: datetime | None = None,
                           batch: int = BATCH) -> int:
    """Delete the deliveries past retention (with their attempts), `batch` rows per transaction; how many."""
    now = now or clock.now()
    delivered_cutoff = now - timedelta(days=settings.keep_delivered_days)
    failed_cutoff = now - timedelta(days=settings.keep_failed_days)
    total = 0
    async with pool.acquire() as conn:
        while True:
            done = int((await conn.execute(PURGE_BATCH, delivered_cutoff, failed_cutoff, batch)).split()[-1])
            total += done
            if done < batch:
                return total
