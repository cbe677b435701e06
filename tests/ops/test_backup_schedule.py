"""The scheduled backup: recorded, kept 7 daily / 4 weekly (here fewer), a failure recorded with its reason, the
group admin alerted when the newest success is older than 26 hours; and the scheduler's heartbeat and job runs."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg

from radbill.services import backups
from radbill.services.outbox import DispatchSettings
from scheduler.app import SchedulerProcess
from scheduler.jobs import JobSpec
from tests import factories as f
from tests.support.db import app_url

DAY0 = datetime(2026, 11, 1, 21, 0, tzinfo=UTC)


async def test_daily_runs_are_kept_by_retention_and_recorded(fresh_db_url, tmp_path):
    settings = backups.BackupSettings(directory=tmp_path / "backups", keep_daily=2, keep_weekly=1)
    conn = await asyncpg.connect(fresh_db_url)
    try:
        results = [await backups.run_scheduled(conn, fresh_db_url, settings, DAY0 + timedelta(days=n))
                   for n in range(5)]
        rows = await conn.fetch("SELECT kind, ok, path, size_bytes, pruned_at FROM backups ORDER BY started_at")
    finally:
        await conn.close()
    assert all(r["ok"] for r in results)
    assert [r["kind"] for r in rows] == ["weekly", "daily", "daily", "daily", "daily"]
    kept = sorted(p.name for p in settings.directory.glob("radbill-*"))
    assert kept == sorted(r["path"].rsplit("/", 1)[1] for r in rows if r["pruned_at"] is None)
    assert len(kept) == 3 and sum(r["pruned_at"] is not None for r in rows) == 2  # 1 weekly + the 2 newest dailies
    assert all(r["size_bytes"] > 0 for r in rows)


async def test_a_failed_backup_is_recorded_with_its_reason(fresh_db_url, tmp_path):
    settings = backups.BackupSettings(directory=tmp_path)
    conn = await asyncpg.connect(fresh_db_url)
    try:
        wrong = fresh_db_url.replace("/radbill_t", "/no_such_db_")
        result = await backups.run_scheduled(conn, wrong, settings, DAY0)
        row = await conn.fetchrow("SELECT ok, error, path FROM backups")
    finally:
        await conn.close()
    assert not result["ok"] and not row["ok"] and row["path"] is None
    assert "pg_dump failed" in row["error"] and "does not exist" in row["error"]


async def test_the_group_admin_is_alerted_when_the_newest_backup_is_too_old(fresh_db_url):
    conn = await asyncpg.connect(fresh_db_url)
    try:
        isp = await f.isp(conn)
        now = datetime.now(UTC)
        await conn.execute("INSERT INTO backups (started_at, finished_at, kind, ok, path, size_bytes)"
                           " VALUES ($1, $1, 'daily', true, '/x', 10)", now - timedelta(hours=25))
        assert not await backups.alert_if_stale(conn, now)
        assert await conn.fetchval("SELECT count(*) FROM alerts") == 0
        assert await backups.alert_if_stale(conn, now + timedelta(hours=2))
        alert = await conn.fetchrow("SELECT operator_id, kind, message FROM alerts")
    finally:
        await conn.close()
    assert (alert["operator_id"], alert["kind"]) == (isp.root["id"], "backup_stale")
    assert "No backup has succeeded since" in alert["message"]


async def test_the_scheduler_beats_and_records_each_job_run(fresh_db_url):
    ran = asyncio.Event()

    async def job(ctx):
        ran.set()
        return "done"

    async def failing(ctx):
        raise RuntimeError("boom")

    jobs = [JobSpec("test.ok", job, "interval", {"seconds": 1}),
            JobSpec("test.fail", failing, "interval", {"seconds": 1})]
    process = SchedulerProcess(app_url(fresh_db_url), DispatchSettings(), jobs)
    stop = asyncio.Event()
    task = asyncio.create_task(process.run(stop))
    conn = await asyncpg.connect(fresh_db_url)
    try:
        await asyncio.wait_for(ran.wait(), 10)
        for _ in range(50):
            runs = {r["name"]: r for r in await conn.fetch("SELECT * FROM job_runs")}
            if {"test.ok", "test.fail"} <= set(runs):
                break
            await asyncio.sleep(0.1)
        beat = await conn.fetchval("SELECT max(beat_at) FROM scheduler_heartbeats")
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        await conn.close()
    assert runs["test.ok"]["runs"] >= 1 and runs["test.ok"]["failures"] == 0 and runs["test.ok"]["last_ok"]
    assert runs["test.fail"]["failures"] >= 1 and runs["test.fail"]["last_ok"] is False
    assert beat is not None and datetime.now(UTC) - beat < timedelta(seconds=30)
