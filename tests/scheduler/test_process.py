"""`python -m scheduler` as a process: dispatches through LISTEN/NOTIFY, one job run across replicas, clean stop."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

import asyncpg
import pytest

from radbill.config import PROJECT_ROOT
from radbill.errors import ConfigError
from radbill.services.customers import suspend_customer
from scheduler.app import dispatch_settings
from scheduler.jobs import lock_key, run_exclusively
from tests.scheduler.test_dispatcher import _closed, online_customer, scope_of
from tests.support.db import app_url
from tests.support.waiting import eventually


def start_scheduler(env_extra: dict, log_path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update({"RADBILL_SECRET_KEY": "k" * 40, "PYTHONUNBUFFERED": "1", **env_extra})
    out = open(log_path, "wb")
    return subprocess.Popen([sys.executable, "-m", "scheduler"], cwd=PROJECT_ROOT, env=env, stdout=out,
                            stderr=subprocess.STDOUT)


async def test_the_process_disconnects_at_once_and_stops_cleanly_on_sigterm(lab, lab_db, tmp_path):
    log = tmp_path / "scheduler.log"
    # the safety-net poll is two minutes away, so a disconnect within seconds can only have come from the
    # NOTIFY (a wall-clock bound under the 1-second poll failed on loaded machines; measured ~30 ms idle)
    proc = start_scheduler({"DATABASE_URL": app_url(lab.db_url), "RADBILL_COA_TIMEOUT": "0.5",
                            "RADBILL_OUTBOX_POLL_SECONDS": "120"}, log)
    try:
        assert await eventually(lambda: "listening on radbill_outbox" in log.read_text(), within=15), \
            log.read_text()
        c, session = await online_customer(lab, lab_db, lab.mikrotik)
        started = time.monotonic()
        await suspend_customer(lab_db, scope_of(lab.isp.sub), c["id"], "unpaid")
        assert await eventually(lambda: _closed(lab_db, c), within=30), log.read_text()
        assert time.monotonic() - started < 60
        assert len(lab.mikrotik.requests_for(session)) == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(15)
    text = log.read_text()
    assert code == 0, text
    assert "scheduler stopped" in text and "Traceback" not in text


def test_a_missing_database_url_is_named(tmp_path):
    log = tmp_path / "scheduler.log"
    proc = start_scheduler({}, log)
    assert proc.wait(15) == 2
    assert "DATABASE_URL is not set" in log.read_text()


def test_bad_tuning_is_named():
    assert dispatch_settings({"RADBILL_OUTBOX_MAX_ATTEMPTS": "3"}).retry.max_attempts == 3
    with pytest.raises(ConfigError, match="RADBILL_COA_TIMEOUT must be a number"):
        dispatch_settings({"RADBILL_COA_TIMEOUT": "soon"})


async def test_a_job_runs_on_one_replica_at_a_time(lab_pool, coa_lab):
    other_replica = await asyncpg.create_pool(coa_lab.db_url, min_size=1, max_size=2)
    try:
        inside = asyncio.Event()
        release = asyncio.Event()

        async def slow():
            inside.set()
            await release.wait()
            return "done"

        first = asyncio.create_task(run_exclusively(lab_pool, "billing.test", slow))
        await inside.wait()
        assert await run_exclusively(other_replica, "billing.test", slow) == (False, None)
        assert (await run_exclusively(other_replica, "another.job", lambda: asyncio.sleep(0, "x"))) == (True, "x")
        release.set()
        assert await first == (True, "done")
        assert await run_exclusively(other_replica, "billing.test", lambda: asyncio.sleep(0, 1)) == (True, 1)
        assert lock_key("billing.test") == lock_key("billing.test") != lock_key("another.job")
    finally:
        await other_replica.close()
