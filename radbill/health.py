"""What /healthz, `radbill status` and the system page say about a running radbill: one list of checks, each
ok or not with a sentence and its figures. The thresholds live here and nowhere else."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import asyncpg

from radbill import localenv
from radbill.config import EnvReader
from radbill.i18n import gettext
from radbill.services import backups

HEARTBEAT_STALE = 60.0  # seconds; the scheduler beats every 10 (scheduler/app.py)
NODE_SILENT = 60.0  # seconds; a RADIUS node's module beats every 5 (radius_module/peers.py)
NODE_NOT_ANSWERING = 15.0  # seconds without an answer to the supervisor's probe (every 5 s: radbill/radius_probe.py)
FOLD_LAG_LIMIT = 60.0  # seconds an acknowledged accounting packet may wait to reach radacct (folded ~10x/s)
SPOOL_AGE_LIMIT = 60.0  # seconds a taken-over post-auth file may wait to be loaded (loaded within ~1 s)
OUTBOX_OVERDUE_LIMIT = 600.0  # seconds a due message may wait in its lane (retries back off up to minutes)


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    summary: str
    figures: dict = field(default_factory=dict)


@dataclass(frozen=True)
class HealthSettings:
    radius_host: str = "127.0.0.1"
    status_port: int = 18121
    status_secret: str = ""
    spool_dir: Path = Path("var/radius/spool")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> HealthSettings:
        env = os.environ if env is None else env
        return cls(status_port=EnvReader(env).port("RADBILL_RADIUS_STATUS_PORT", cls.status_port),
                   status_secret=env.get("RADBILL_RADIUS_STATUS_SECRET", ""),
                   spool_dir=Path(env.get("RADBILL_VAR_DIR") or localenv.VAR_DIR) / "radius" / "spool")


def radius_statistics(settings: HealthSettings, timeout: float = 1.0) -> dict[str, int] | None:
    """FreeRADIUS's own counters from its loopback Status-Server listener; None when it does not answer."""
    from radbill.radius.client import RadiusClient

    if not settings.status_secret:
        return None
    client = RadiusClient(settings.radius_host, settings.status_port, settings.status_port, settings.status_secret,
                          timeout=timeout, retries=1)
    return client.statistics()


def radius_check(stats: dict[str, int] | None) -> Check:
    if stats is None:
        return Check("radius", False, gettext("FreeRADIUS does not answer a Status-Server request: routers cannot "
                                              "log customers in. Check the FreeRADIUS log."))
    return Check("radius", True, gettext("FreeRADIUS answers."),
                 {"access_requests": stats.get("Total-Access-Requests", 0),
                  "accounting_requests": stats.get("Total-Accounting-Requests", 0)})


def spool_check(spool_dir: Path, now_ns: int | None = None) -> Check:
    """Post-auth log files FreeRADIUS handed over that the module has not loaded yet (radius_module/spool.py)."""
    figures, age, files = _spooled(spool_dir, "postauth.tsv", now_ns)
    if age > SPOOL_AGE_LIMIT:
        return Check("postauth_spool", False, gettext("The login log is not being loaded (%(n)s file(s) waiting): "
                                                      "check the FreeRADIUS log.", n=files), figures)
    return Check("postauth_spool", True, gettext("The login log is loaded."), figures)


def acct_spool_check(spool_dir: Path, now_ns: int | None = None) -> Check:
    """RADBILL_ACCT_WRITE=spool: answered Accounting-Requests not in the database yet (radius_module/acct_spool.py).
    While the database is away the worker still takes the live file over at each retry, so the oldest waiting
    file's name tells how long accounting has waited. Nothing here in "sql" mode."""
    figures, age, files = _spooled(spool_dir, "accounting.tsv", now_ns)
    try:  # the live file: taken over (renamed) between two looks, it is simply not there
        figures["bytes"] += (spool_dir / "accounting.tsv").stat().st_size
    except FileNotFoundError:
        pass
    if age > SPOOL_AGE_LIMIT:
        return Check("accounting_spool", False, gettext(
            "Accounting is answered but not stored (%(n)s spool file(s) waiting): check the database and the "
            "FreeRADIUS log. Nothing is lost while the files wait.", n=files), figures)
    return Check("accounting_spool", True, gettext("Accounting is stored."), figures)


def _spooled(spool_dir: Path, name: str, now_ns: int | None) -> tuple[dict, float, int]:
    """Figures of the taken-over files of one spool, and the oldest one's age in seconds."""
    now_ns = now_ns or time.time_ns()
    files = [p for p in spool_dir.glob(f"{name}.*") if p.name.rpartition(".")[2].isdecimal()]
    oldest = min((int(p.name.rpartition(".")[2]) for p in files), default=None)
    age = 0.0 if oldest is None else max(0.0, (now_ns - oldest) / 1e9)
    size = 0
    for p in files:
        try:
            size += p.stat().st_size
        except FileNotFoundError:  # loaded since the listing
            pass
    return {"files": len(files), "bytes": size, "oldest_seconds": round(age, 1)}, age, len(files)


async def database_checks(conn: asyncpg.Connection, now: datetime) -> list[Check]:
    """Everything read from the database (the caller's connection carries the system scope)."""
    return [await _scheduler(conn, now), await _radius_nodes(conn, now), await _fold(conn), await _outbox(conn),
            await _backup(conn, now)]


NODES = """
    SELECT DISTINCT ON (name) name, seen_at, probed_at, round_trip_ms,
           extract(epoch FROM $1::timestamptz - coalesce(answered_at, started_at))::float AS unanswered
      FROM radius_nodes ORDER BY name, seen_at DESC
"""


@dataclass(frozen=True)
class NodeStates:
    """The RADIUS nodes by name (each one's newest instance): the one reading of radius_nodes that the health
    check and the scheduler's alert both use."""

    seen_seconds_ago: dict[str, float]
    silent: list[str]  # no heartbeat for NODE_SILENT
    not_answering_seconds: dict[str, float]  # beating, probed, but no answer for NODE_NOT_ANSWERING
    round_trip_ms: dict[str, float]


async def radius_node_states(conn: asyncpg.Connection, now: datetime) -> NodeStates:
    """A node that stopped without saying goodbye (a crash, a dead host) stays listed, silent, until it is back
    or for a day (radius_module/peers.py). A node whose module beats but whose FreeRADIUS does not answer its
    supervisor's Status-Server (stuck threads, a stopped process) is not answering (radbill/radius_probe.py); one
    nobody probes (probed_at NULL, or as old as a silent node's beat) is judged by its heartbeat alone."""
    rows = await conn.fetch(NODES, now)
    ages = {r["name"]: round(max((now - r["seen_at"]).total_seconds(), 0.0), 1) for r in rows}
    silent = [name for name, age in ages.items() if age > NODE_SILENT]
    unanswered = {r["name"]: round(max(r["unanswered"], 0.0), 1) for r in rows
                  if r["probed_at"] is not None and (now - r["probed_at"]).total_seconds() <= NODE_SILENT
                  and r["unanswered"] > NODE_NOT_ANSWERING and r["name"] not in silent}
    return NodeStates(ages, silent, unanswered,
                      {r["name"]: round(r["round_trip_ms"], 2) for r in rows if r["round_trip_ms"] is not None})


def node_problems(states: NodeStates) -> dict[str, str]:
    """What is wrong with each node that has a problem, as a sentence that says what to do."""
    problems = {name: gettext("RADIUS node %(name)s stopped: routers ask the other RADIUS servers meanwhile. Check "
                              "that node's log and start it again.", name=name) for name in states.silent}
    for name, seconds in states.not_answering_seconds.items():
        problems[name] = gettext("RADIUS node %(name)s is running but has not answered for %(seconds)s s: routers "
                                 "cannot log customers in through it. Check that node's FreeRADIUS log, and restart "
                                 "it if it stays silent.", name=name, seconds=int(seconds))
    return dict(sorted(problems.items()))


async def _radius_nodes(conn: asyncpg.Connection, now: datetime) -> Check:
    """Every RADIUS node (`make run`'s FreeRADIUS, `radbill radius`) by name."""
    states = await radius_node_states(conn, now)
    figures = {"seen_seconds_ago": states.seen_seconds_ago, "not_answering_seconds": states.not_answering_seconds,
               "round_trip_ms": states.round_trip_ms}
    problems = node_problems(states)
    if problems:
        return Check("radius_nodes", False, " ".join(problems.values()), figures)
    return Check("radius_nodes", True, gettext("%(n)s RADIUS node(s) running.", n=len(states.seen_seconds_ago)),
                 figures)


async def _scheduler(conn: asyncpg.Connection, now: datetime) -> Check:
    beat = await conn.fetchval("SELECT max(beat_at) FROM scheduler_heartbeats")
    age = None if beat is None else (now - beat).total_seconds()
    if age is None or age > HEARTBEAT_STALE:
        return Check("scheduler", False, gettext("The scheduler is not running: no messages, disconnects or bill "
                                                 "runs go out. Check the scheduler log."),
                     {"heartbeat_age_seconds": None if age is None else round(age, 1)})
    return Check("scheduler", True, gettext("The scheduler is running."), {"heartbeat_age_seconds": round(age, 1)})


async def _fold(conn: asyncpg.Connection) -> Check:
    row = await conn.fetchrow("SELECT count(*) AS waiting, extract(epoch FROM now() - min(event_time))::float AS lag"
                              " FROM radacct_journal")
    figures = {"waiting": row["waiting"], "lag_seconds": round(max(row["lag"] or 0.0, 0.0), 1)}
    if figures["lag_seconds"] > FOLD_LAG_LIMIT:
        return Check("accounting_fold", False, gettext("Accounting is not reaching the sessions table (%(n)s "
                                                       "packet(s) waiting). Check the FreeRADIUS log.",
                                                       n=row["waiting"]), figures)
    return Check("accounting_fold", True, gettext("Accounting is up to date."), figures)


OUTBOX_LANES = """
    SELECT destination, count(*) AS pending,
           extract(epoch FROM now() - min(next_attempt_at) FILTER (WHERE next_attempt_at <= now()))::float AS overdue
      FROM outbox WHERE done_at IS NULL AND failed_at IS NULL GROUP BY destination ORDER BY destination
"""


async def _outbox(conn: asyncpg.Connection) -> Check:
    lanes = {r["destination"]: {"pending": r["pending"], "overdue_seconds": round(r["overdue"] or 0.0, 1)}
             for r in await conn.fetch(OUTBOX_LANES)}
    stuck = sorted(d for d, lane in lanes.items() if lane["overdue_seconds"] > OUTBOX_OVERDUE_LIMIT)
    if stuck:
        return Check("outbox", False, gettext("Messages are waiting too long for %(lanes)s: check those routers "
                                              "or gateways.", lanes=", ".join(stuck)), {"lanes": lanes})
    return Check("outbox", True, gettext("Messages go out."), {"lanes": lanes})


async def _backup(conn: asyncpg.Connection, now: datetime) -> Check:
    stale, _ = await backups.is_stale(conn, now)
    last = await backups.newest(conn)
    figures = {"last_success": last["finished_at"].isoformat() if last else None,
               "size_bytes": last["size_bytes"] if last else None}
    if stale:
        return Check("backup", False, gettext("No backup in the last 26 hours: check the scheduler log, the backup "
                                              "directory and its free space."), figures)
    return Check("backup", True, gettext("Backups are recent.") if last else gettext("No backup yet (the first "
                                                                                      "runs tonight)."), figures)


async def gather(conn: asyncpg.Connection | None, settings: HealthSettings, now: datetime,
                 db_error: str | None = None, stats: dict[str, int] | None = None) -> list[Check]:
    """Every check; `conn` None means the database did not answer (`db_error` says why). `stats`: FreeRADIUS's
    counters if the caller already asked for them (/metrics), else they are asked here."""
    stats = stats if stats is not None else await asyncio.to_thread(radius_statistics, settings)
    checks = [radius_check(stats), await asyncio.to_thread(spool_check, settings.spool_dir),
              await asyncio.to_thread(acct_spool_check, settings.spool_dir)]
    if conn is None:
        return [Check("database", False, gettext("The database does not answer: %(error)s", error=db_error or "?"))
                ] + checks
    await conn.fetchval("SELECT 1")
    return [Check("database", True, gettext("The database answers."))] + checks + await database_checks(conn, now)


def as_json(checks: list[Check]) -> dict:
    return {"ok": all(c.ok for c in checks),
            "checks": {c.name: {"ok": c.ok, "summary": c.summary, **c.figures} for c in checks}}


def as_text(checks: list[Check]) -> str:
    width = max(len(c.name) for c in checks)
    lines = [f"{'OK ' if c.ok else 'BAD'} {c.name:<{width}}  {c.summary}" for c in checks]
    return "\n".join(lines)
