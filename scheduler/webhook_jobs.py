"""Webhooks' housekeeping: the deliveries log past retention is purged in batches
(radbill.services.webhook_retention; RADBILL_WEBHOOK_KEEP_DELIVERED_DAYS / _KEEP_FAILED_DAYS)."""

from __future__ import annotations

import logging

from radbill.services import webhook_retention
from scheduler.context import JobContext

log = logging.getLogger(__name__)


async def purge_webhook_deliveries(ctx: JobContext) -> int:
    purged = await webhook_retention.purge_deliveries(ctx.pool, webhook_retention.RetentionSettings.from_env())
    if purged:
        log.info("webhook deliveries purged: %d", purged)
    return purged
