"""`python -m scheduler`: APScheduler on asyncio, a LISTEN on radbill_outbox for near-instant dispatch, clean
stop on SIGTERM/SIGINT (running jobs finish, so a claimed outbox row gets its result recorded)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import time
from collections.abc import Mapping
from datetime import UTC, datetime

import asyncpg
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from radbill import i18n
from radbill.config import Config, EnvReader
from radbill.db.pool import SYSTEM, create_pool
from radbill.errors import ConfigError
from radbill.services import ops_state, outbox
from scheduler.jobs import OUTBOX_JOB, JobContext, JobSpec, all_jobs, run_exclusively
from scheduler.registry import load_outbox_handlers

log = logging.getLogger("radbill.scheduler")
HEARTBEAT_SECONDS = 10  # /healthz calls the scheduler dead after HEARTBEAT_STALE (radbill/health.py)


def dispatch_settings(env: Mapping[str, str]) -> outbox.DispatchSettings:
    """Outbox tuning from RADBILL_OUTBOX_MAX_ATTEMPTS, RADBILL_OUTBOX_RETRY_SECONDS, RADBILL_COA_TIMEOUT and
    RADBILL_WEBHOOK_DISABLE_DAYS."""
    number = EnvReader(env).number

    default = outbox.DispatchSettings()
    retry = outbox.RetryPolicy(
        max_attempts=int(number("RADBILL_OUTBOX_MAX_ATTEMPTS", default.retry.max_attempts, 1, 100)),
        base_delay=number("RADBILL_OUTBOX_RETRY_SECONDS", default.retry.base_delay, 0.01, 3600))
    return outbox.DispatchSettings(retry=retry, radius_timeout=number("RADBILL_COA_TIMEOUT", default.radius_timeout,
                                                                      0.05, 30),
                                   webhook_disable_days=number("RADBILL_WEBHOOK_DISABLE_DAYS",
                                                               default.webhook_disable_days, 0.01, 365))


class SchedulerProcess:
    """Owns the pool, the APScheduler instance and the LISTEN connection of one scheduler replica."""

    def __init__(self, url: str, dispatch: outbox.DispatchSettings, jobs: list[JobSpec] | None = None):
        self.url = url
        self.dispatch = dispatch
        self.jobs = all_jobs() if jobs is None else jobs
        load_outbox_handlers()
        self.pool: asyncpg.Pool | None = None
        self.listener: asyncpg.Connection | None = None
        self.aps = AsyncIOScheduler(timezone=UTC, job_defaults={"coalesce": True, "max_instances": 1,
                                                                "misfire_grace_time": 60})
        self.running: set[str] = set()
        self.again: set[str] = set()
        self.idle = asyncio.Event()
        self.idle.set()
        self.replica = f"{socket.gethostname()}:{os.getpid()}"

    async def run(self, stop: asyncio.Event) -> None:
        self.pool = await self._connect(stop)
        if self.pool is None:
            return
        try:
            ctx = JobContext(self.pool, self.dispatch)
            for spec in self.jobs:
                self.aps.add_job(self._runner(spec, ctx), spec.trigger, id=spec.name, name=spec.name,
                                 **spec.trigger_args)
            self.aps.add_job(self._ensure_listener, "interval", seconds=5, id="outbox.listen",
                             next_run_time=datetime.now(UTC))
            # every replica beats (not under a job lock): /healthz asks whether any scheduler is alive
            self.aps.add_job(self._beat, "interval", seconds=HEARTBEAT_SECONDS, id="scheduler.heartbeat",
                             next_run_time=datetime.now(UTC))
            self.aps.start()
            log.info("scheduler running: %s", ", ".join(spec.name for spec in self.jobs))
            await stop.wait()
        finally:
            log.info("scheduler stopping")
            if self.aps.running:
                self.aps.pause()  # no new runs; shutdown() would cancel the running ones mid-transaction
            try:
                await asyncio.wait_for(self.idle.wait(), 30)  # let a running dispatch record its results
            except TimeoutError:
                log.warning("jobs still running after 30 s: %s", ", ".join(sorted(self.running)))
            if self.aps.running:
                self.aps.shutdown(wait=False)
            if self.listener is not None and not self.listener.is_closed():
                await self.listener.close()
            await self.pool.close()
            log.info("scheduler stopped")

    async def _connect(self, stop: asyncio.Event) -> asyncpg.Pool | None:
        """A pool, waiting for the database with backoff (the supervisor stops a process that keeps crashing)."""
        delay = 0.5
        while not stop.is_set():
            try:
                return await create_pool(self.url, min_size=1, max_size=self.dispatch.concurrency + 6, default_scope=SYSTEM)
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("database not reachable (%s); retrying in %.1fs", exc, delay)
                try:
                    await asyncio.wait_for(stop.wait(), delay)
                except TimeoutError:
                    pass
                delay = min(delay * 2, 10.0)
        return None

    async def _beat(self) -> None:
        try:
            async with self.pool.acquire() as conn:
                await ops_state.beat(conn, self.replica)
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning("heartbeat not written (%s)", exc)

    async def _timed(self, spec: JobSpec, ctx: JobContext) -> None:
        """One run of a job (if no other replica runs it), its duration and outcome recorded for /metrics."""
        started = time.monotonic()
        ok = False
        try:
            ran, result = await run_exclusively(self.pool, spec.name, lambda: spec.run(ctx))
            ok = True
            if ran and result:
                log.debug("job %s: %s", spec.name, result)
        finally:
            if not ok or ran:
                try:
                    async with self.pool.acquire() as conn:
                        await ops_state.record_run(conn, spec.name, time.monotonic() - started, ok)
                except (OSError, asyncpg.PostgresError) as exc:
                    log.warning("job %s: its run was not recorded (%s)", spec.name, exc)

    def _runner(self, spec: JobSpec, ctx: JobContext):
        async def run() -> None:
            self.running.add(spec.name)
            self.idle.clear()
            try:
                while True:
                    self.again.discard(spec.name)
                    await self._timed(spec, ctx)
                    if spec.name not in self.again:
                        break
            except Exception:
                log.exception("job %s failed", spec.name)
            finally:
                self.running.discard(spec.name)
                if not self.running:
                    self.idle.set()
        return run

    async def _ensure_listener(self) -> None:
        """(Re)open the LISTEN connection; without it dispatch still runs every second."""
        if self.listener is not None and not self.listener.is_closed():
            return
        try:
            self.listener = await asyncpg.connect(self.url)
            await self.listener.add_listener(outbox.CHANNEL, self._on_outbox)
            log.info("listening on %s: an enqueued row is dispatched at once", outbox.CHANNEL)
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning("cannot LISTEN on %s (%s); dispatching every second only", outbox.CHANNEL, exc)

    def _on_outbox(self, _conn, _pid, _channel, _payload) -> None:
        if OUTBOX_JOB in self.running:
            self.again.add(OUTBOX_JOB)  # the running dispatch goes round once more
        elif self.aps.running and self.aps.get_job(OUTBOX_JOB) is not None:
            self.aps.modify_job(OUTBOX_JOB, next_run_time=datetime.now(UTC))


async def serve(url: str, dispatch: outbox.DispatchSettings, jobs: list[JobSpec] | None = None) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await SchedulerProcess(url, dispatch, jobs).run(stop)
    return 0


def main() -> int:
    """Entry point of `python -m scheduler`: settings from the environment, run until SIGTERM/SIGINT."""
    logging.basicConfig(level=os.environ.get("RADBILL_LOG_LEVEL", "INFO").upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # it logs every run of the 1-second job
    try:
        config = Config.from_env()
        dispatch = dispatch_settings(os.environ)
    except ConfigError as exc:
        log.error("%s", exc)
        return 2
    log.info("database: %s", config.database_url)
    i18n.load_catalogs()  # SMS and timeline sentences are rendered here, in each operator's language
    return asyncio.run(serve(config.database_url.reveal(), dispatch))
