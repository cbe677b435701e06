"""radacct's month partitions: made ahead of need, and closed sessions past the kept months archived.

The rules live in SQL (migration 0043: radbill_radacct_prepare, radbill_radacct_archive); these are the calls the
scheduler's daily jobs make (scheduler/radacct_jobs.py), and what they report.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

import asyncpg

from radbill.config import EnvReader

KEEP_MONTHS_ENV = "RADBILL_RADACCT_KEEP_MONTHS"
MONTHS_AHEAD = 2  # a month's partition exists two months before its first session: a missed run or two costs nothing


@dataclass(frozen=True)
class StorageSettings:
    keep_months: int = 12

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> StorageSettings:
        reader = EnvReader(os.environ if env is None else env)
        return cls(keep_months=reader.integer(KEEP_MONTHS_ENV, 12, 1, 1200))


@dataclass(frozen=True)
class ArchivedPartition:
    partition: str
    archived: int  # sessions moved to radacct_archive
    dropped: bool  # the month had no open session left: detached and dropped


async def prepare_partitions(conn: asyncpg.Connection, months_ahead: int = MONTHS_AHEAD) -> list[str]:
    """Make sure this UTC month and the next `months_ahead` have their partition; their names."""
    async with conn.transaction():
        rows = await conn.fetch("SELECT p::text AS name FROM radbill_radacct_prepare($1) AS p", months_ahead)
    return [r["name"] for r in rows]


async def archive_old_sessions(conn: asyncpg.Connection, keep_months: int) -> list[ArchivedPartition]:
    """Archive closed sessions that started before the month `keep_months` back; open sessions stay."""
    async with conn.transaction():
        rows = await conn.fetch(
            "SELECT partition_name, archived, dropped FROM radbill_radacct_archive($1)", keep_months)
    return [ArchivedPartition(r["partition_name"], r["archived"], r["dropped"]) for r in rows]
