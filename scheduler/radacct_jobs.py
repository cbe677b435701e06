"""Accounting storage: radacct's coming months made ahead, and closed sessions past the kept months archived
(radbill.services.radacct_storage; RADBILL_RADACCT_KEEP_MONTHS, default 12)."""

from __future__ import annotations

import logging
from dataclasses import asdict

from radbill.services import radacct_storage
from scheduler.context import JobContext

log = logging.getLogger(__name__)


async def prepare_partitions(ctx: JobContext) -> list[str]:
    async with ctx.pool.acquire() as conn:
        return await radacct_storage.prepare_partitions(conn)


async def archive_sessions(ctx: JobContext) -> list[dict]:
    settings = radacct_storage.StorageSettings.from_env()
    async with ctx.pool.acquire() as conn:
        done = await radacct_storage.archive_old_sessions(conn, settings.keep_months)
    for part in done:
        log.info("radacct archive: %s: %d sessions archived%s", part.partition, part.archived,
                 ", partition dropped" if part.dropped else "")
    return [asdict(part) for part in done]
