"""Operations: the daily backup (radbill.services.backups, with retention) and the hourly check that alerts the
group admin when the newest backup is older than 26 hours; the minutely check that alerts the group admin when a
RADIUS node stopped or does not answer (radbill.services.ops_report)."""

from __future__ import annotations

import os

from radbill import clock
from radbill.config import EnvReader
from radbill.services import backups, ops_report
from scheduler.context import JobContext


async def daily_backup(ctx: JobContext) -> dict:
    # pg_dump must run as the schema owner: the app's role sees rows through row-level security only
    owner_url = os.environ.get("MIGRATE_DATABASE_URL")
    async with ctx.pool.acquire() as conn:
        if not owner_url:
            await backups.record(conn, "daily", clock.now(), None, None,
                                 "MIGRATE_DATABASE_URL is not set: the scheduler cannot dump the database")
            return {"ok": False}
        return await backups.run_scheduled(conn, owner_url, backups.BackupSettings.from_env(), clock.now())


async def check_backups(ctx: JobContext) -> bool:
    async with ctx.pool.acquire() as conn:
        return await backups.alert_if_stale(conn, clock.now())


async def check_radius_nodes(ctx: JobContext) -> list[str]:
    async with ctx.pool.acquire() as conn:
        return await ops_report.alert_radius_nodes(conn, clock.now())


def backup_hour() -> int:
    # 21:00 UTC is 03:00 in Dhaka: the quietest hour of an ISP's day
    return int(EnvReader(os.environ).integer("RADBILL_BACKUP_HOUR_UTC", 21, 0, 23))
