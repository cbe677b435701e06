"""What the scheduler tells the rest about itself: a heartbeat per replica and per-job run statistics (read by
/healthz, `radbill status` and /metrics, which live in other processes)."""

from __future__ import annotations

import asyncpg

BEAT = """
    INSERT INTO scheduler_heartbeats (replica) VALUES ($1)
    ON CONFLICT (replica) DO UPDATE SET beat_at = now()
"""
# a replica gone for a day is history, not a replica
FORGET = "DELETE FROM scheduler_heartbeats WHERE beat_at < now() - interval '1 day'"

RUN = """
    INSERT INTO job_runs AS j (name, runs, failures, seconds_total, last_seconds, last_started_at, last_ok)
    VALUES ($1, 1, CASE WHEN $3 THEN 0 ELSE 1 END, $2, $2, now() - make_interval(secs => $2), $3)
    ON CONFLICT (name) DO UPDATE SET runs = j.runs + 1, failures = j.failures + excluded.failures,
           seconds_total = j.seconds_total + excluded.seconds_total, last_seconds = excluded.last_seconds,
           last_started_at = excluded.last_started_at, last_ok = excluded.last_ok
"""


async def beat(conn: asyncpg.Connection, replica: str) -> None:
    await conn.execute(BEAT, replica)
    await conn.execute(FORGET)


async def record_run(conn: asyncpg.Connection, name: str, seconds: float, ok: bool) -> None:
    await conn.execute(RUN, name, seconds, ok)
