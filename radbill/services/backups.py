"""The scheduled backup: one archive a day (radbill.backup.dump), recorded in `backups`, pruned to the newest 7
daily and 4 weekly; the newest success for the dashboard and /healthz; an alert when it is older than 26 hours."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import asyncpg

from radbill import localenv
from radbill.config import EnvReader
from radbill.i18n import gettext

STALE_AFTER = timedelta(hours=26)  # a daily backup that is a couple of hours late is not yet an emergency
WEEKLY_EVERY = timedelta(days=7)


@dataclass(frozen=True)
class BackupSettings:
    directory: Path
    keep_daily: int = 7
    keep_weekly: int = 4
    passphrase_file: Path | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> BackupSettings:
        env = os.environ if env is None else env
        reader = EnvReader(env)
        passphrase = env.get("RADBILL_BACKUP_PASSPHRASE_FILE") or None
        return cls(directory=backup_dir(env), keep_daily=reader.integer("RADBILL_BACKUP_KEEP_DAILY", 7, 1, 365),
                   keep_weekly=reader.integer("RADBILL_BACKUP_KEEP_WEEKLY", 4, 0, 520),
                   passphrase_file=Path(passphrase) if passphrase else None)


def backup_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    return Path(env.get("RADBILL_BACKUP_DIR") or localenv.VAR_DIR / "backups")


async def next_kind(conn: asyncpg.Connection, now: datetime) -> str:
    """'weekly' when no kept weekly backup is younger than a week (minus an hour of slack), else 'daily'."""
    recent = await conn.fetchval("SELECT exists(SELECT 1 FROM backups WHERE kind = 'weekly' AND ok AND pruned_at IS"
                                 " NULL AND started_at > $1)", now - WEEKLY_EVERY + timedelta(hours=1))
    return "daily" if recent else "weekly"


async def record(conn: asyncpg.Connection, kind: str, started_at: datetime, path: Path | None, size: int | None,
                 error: str | None) -> int:
    return await conn.fetchval(
        "INSERT INTO backups (started_at, finished_at, kind, ok, path, size_bytes, error)"
        " VALUES ($1, now(), $2, $3, $4, $5, $6) RETURNING id",
        started_at, kind, error is None, str(path) if path else None, size, error)


async def prune(conn: asyncpg.Connection, settings: BackupSettings) -> list[str]:
    """Delete the archives past retention (newest N of each kind kept); the rows stay, marked pruned."""
    rows = await conn.fetch(
        "SELECT id, path FROM (SELECT id, path, row_number() OVER (PARTITION BY kind ORDER BY started_at DESC) AS n,"
        "   kind FROM backups WHERE ok AND pruned_at IS NULL AND kind IN ('daily', 'weekly')) b"
        " WHERE (kind = 'daily' AND n > $1) OR (kind = 'weekly' AND n > $2)",
        settings.keep_daily, settings.keep_weekly)
    removed = []
    for row in rows:
        if row["path"]:
            await asyncio.to_thread(Path(row["path"]).unlink, missing_ok=True)
            removed.append(row["path"])
        await conn.execute("UPDATE backups SET pruned_at = now() WHERE id = $1", row["id"])
    return removed


async def run_scheduled(conn: asyncpg.Connection, owner_url: str, settings: BackupSettings, now: datetime) -> dict:
    """Take today's backup (pg_dump in a thread: it runs for minutes on a big database), record it, prune."""
    from radbill.backup.archive import BackupError
    from radbill.backup.dump import take_backup

    kind = await next_kind(conn, now)
    try:
        passphrase = settings.passphrase_file.read_text().strip("\r\n") if settings.passphrase_file else None
        result = await asyncio.to_thread(take_backup, owner_url, settings.directory, passphrase, now=now, label=kind)
    except (BackupError, OSError) as exc:
        await record(conn, kind, now, None, None, str(exc)[:1000] or type(exc).__name__)
        return {"ok": False, "error": str(exc)}
    await record(conn, kind, now, result.path, result.size, None)
    return {"ok": True, "path": str(result.path), "size": result.size, "pruned": await prune(conn, settings)}


async def newest(conn: asyncpg.Connection) -> dict | None:
    """The newest successful backup (finished_at, size_bytes, path, kind), or None."""
    row = await conn.fetchrow("SELECT finished_at, size_bytes, path, kind FROM backups WHERE ok"
                              " ORDER BY finished_at DESC LIMIT 1")
    return dict(row) if row else None


async def is_stale(conn: asyncpg.Connection, now: datetime) -> tuple[bool, datetime | None]:
    """(stale, newest success time). With no backup yet, stale once the database is older than the limit (a
    fresh install is not alarmed before its first night)."""
    last = await newest(conn)
    if last is not None:
        return now - last["finished_at"] > STALE_AFTER, last["finished_at"]
    born = await conn.fetchval("SELECT min(applied_at) FROM schema_migrations")
    return born is not None and now - born > STALE_AFTER, None


async def alert_if_stale(conn: asyncpg.Connection, now: datetime) -> bool:
    """Raise (or count again) the group admin's 'backup_stale' alert when the newest backup is too old."""
    from radbill.services.alerts import raise_installation_alert

    stale, last = await is_stale(conn, now)
    if not stale:
        return False
    message = (gettext("No backup has succeeded since %(when)s.", when=last.strftime("%Y-%m-%d %H:%M UTC"))
               if last else gettext("No backup has succeeded yet."))
    async with conn.transaction():
        await raise_installation_alert(conn, "backup_stale", "", message,
                                       {"last_backup_at": last.isoformat() if last else None})
    return True
