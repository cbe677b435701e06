"""/healthz, /metrics and `radbill status` against a real FreeRADIUS (its loopback Status-Server listener) and a
real database: all good → 200 and exit 0; a stopped scheduler or a stuck outbox lane → 503 and exit 1; FreeRADIUS's
own counters and the post-auth log's results reach /metrics; a caller that is neither local nor holds the token
is refused."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from admin.app import create_app
from radbill import clock, health
from radbill.config import Config, DatabaseUrl, Secret
from radbill.passwords import generate_nas_secret
from radbill.services import alerts, ops_report
from tests import factories as f
from tests.support.db import app_url
from tests.support.radius import running_radius, seed
from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "t" * 40


@pytest.fixture(scope="module")
def lab(pg_server, tmp_path_factory):
    """A database with a small ISP and one customer, FreeRADIUS on it, and the env /healthz reads."""
    url = pg_server.create_database(f"radbill_health_{os.getpid()}")
    secret = generate_nas_secret()
    isp = asyncio.run(seed(url, secret))
    var = Path(pg_server.base) / "health-var"
    with running_radius(url, var / "radius", secret, isp) as radius:
        env = {"RADBILL_RADIUS_STATUS_PORT": str(radius.settings.status_port),
               "RADBILL_RADIUS_STATUS_SECRET": radius.settings.status_secret, "RADBILL_VAR_DIR": str(var),
               "RADBILL_METRICS_TOKEN": TOKEN}
        yield radius, url, env
    pg_server.drop_database(f"radbill_health_{os.getpid()}")


@pytest.fixture
async def conn(lab):
    conn = await asyncpg.connect(lab[1])
    await conn.execute("DELETE FROM scheduler_heartbeats; DELETE FROM outbox")
    await conn.execute("INSERT INTO scheduler_heartbeats (replica) VALUES ('test:1')")
    yield conn
    await conn.close()


@pytest.fixture
async def client(lab, monkeypatch):
    for key, value in lab[2].items():
        monkeypatch.setenv(key, value)
    config = Config(database_url=DatabaseUrl(app_url(lab[1])), migrate_database_url=DatabaseUrl(lab[1]),
                    secret_key=Secret("k" * 64), cookie_secure=False)
    client = TestClient(TestServer(create_app(config)))
    await client.start_server()
    yield client
    await client.close()


async def test_healthz_is_200_when_everything_answers(client, conn):
    response = await client.get("/healthz")
    report = await response.json()
    assert response.status == 200, report
    assert report["ok"] and set(report["checks"]) == {"database", "radius", "postauth_spool", "accounting_spool",
                                                      "scheduler", "radius_nodes", "accounting_fold", "outbox",
                                                      "backup"}
    assert report["checks"]["radius"]["ok"] and report["checks"]["scheduler"]["heartbeat_age_seconds"] < 60


async def test_a_dead_scheduler_or_a_stuck_lane_is_503(client, conn, lab):
    isp = lab[0].isp
    await conn.execute("UPDATE scheduler_heartbeats SET beat_at = now() - interval '5 minutes'")
    report = await (await client.get("/healthz")).json()
    assert not report["ok"] and not report["checks"]["scheduler"]["ok"]
    assert report["checks"]["outbox"]["ok"]
    await conn.execute("UPDATE scheduler_heartbeats SET beat_at = now()")
    await conn.execute("INSERT INTO outbox (kind, operator_id, payload, destination, next_attempt_at)"
                       " VALUES ('sms', $1, '{}', 'sms:1', now() - interval '1 hour')", isp.operator["id"])
    response = await client.get("/healthz")
    report = await response.json()
    assert response.status == 503 and report["checks"]["outbox"]["lanes"]["sms:1"]["pending"] == 1
    assert [name for name, c in report["checks"].items() if not c["ok"]] == ["outbox"]


async def test_a_radius_node_that_stopped_without_leaving_is_named(client, conn):
    await conn.execute("INSERT INTO radius_nodes (instance, name, seen_at) VALUES"
                       " ('gone1', 'radius2', now() - interval '10 minutes')")
    try:
        response = await client.get("/healthz")
        report = await response.json()
        assert response.status == 503 and "radius2" in report["checks"]["radius_nodes"]["summary"]
        assert [name for name, c in report["checks"].items() if not c["ok"]] == ["radius_nodes"]
        # the same node started again (a new instance, the same name): healthy, the stale row notwithstanding
        await conn.execute("INSERT INTO radius_nodes (instance, name) VALUES ('back1', 'radius2')")
        report = await (await client.get("/healthz")).json()
        assert report["ok"] and report["checks"]["radius_nodes"]["seen_seconds_ago"]["radius2"] < 60
    finally:
        await conn.execute("DELETE FROM radius_nodes WHERE instance IN ('gone1', 'back1')")


async def test_a_radius_node_that_beats_but_does_not_answer_is_named_and_alerted(client, conn):
    """Its module beats (seen_at now) but its supervisor's probe got no answer for 2 minutes (radius_probe.py)."""
    await conn.execute("INSERT INTO radius_nodes (instance, name, probed_at, answered_at, round_trip_ms) VALUES"
                       " ('mute1', 'radius3', now(), now() - interval '2 minutes', 1.5)")
    try:
        response = await client.get("/healthz")
        report = await response.json()
        nodes = report["checks"]["radius_nodes"]
        assert response.status == 503 and "radius3" in nodes["summary"] and "not answered" in nodes["summary"]
        assert nodes["not_answering_seconds"]["radius3"] >= 120 and nodes["round_trip_ms"]["radius3"] == 1.5
        assert await ops_report.alert_radius_nodes(conn, clock.now()) == ["radius3"]
        alert = await conn.fetchrow("SELECT * FROM alerts WHERE kind = 'radius_node_down'")
        assert alert["cause"] == "radius3" and "not answered" in alert["message"]
        assert alerts.shown(alert)["title"] == "RADIUS node radius3 does not answer routers"
        assert alerts.shown(alert)["fix_url"] == "/system"
        # answering again: healthy, and no further occurrence is counted
        await conn.execute("UPDATE radius_nodes SET answered_at = now() WHERE instance = 'mute1'")
        assert (await (await client.get("/healthz")).json())["ok"]
        assert await ops_report.alert_radius_nodes(conn, clock.now()) == []
        assert await conn.fetchval("SELECT occurrences FROM alerts WHERE kind = 'radius_node_down'") == 1
    finally:
        await conn.execute("DELETE FROM radius_nodes WHERE instance = 'mute1';"
                           " DELETE FROM alerts WHERE kind = 'radius_node_down'")


async def test_healthz_and_metrics_refuse_a_forwarded_caller_without_the_token(client, conn):
    for path in ("/healthz", "/metrics"):
        refused = await client.get(path, headers={"X-Forwarded-For": "203.0.113.9"})
        assert refused.status == 401
        wrong = await client.get(path, headers={"X-Forwarded-For": "203.0.113.9", "Authorization": "Bearer nope"})
        assert wrong.status == 401
        allowed = await client.get(path, headers={"X-Forwarded-For": "203.0.113.9",
                                                  "Authorization": f"Bearer {TOKEN}"})
        assert allowed.status == 200


async def test_metrics_carry_freeradius_counters_and_login_results(client, conn, lab):
    radius = lab[0]
    c = await f.customer(conn, radius.isp.sub["id"], radius.isp.package["id"], radius.isp.profile["id"])
    radius_client = radius.client()
    wait_until(lambda: radius_client.send(radius_client.access_request(c["username"], c["radius_password"]))
               .accepted)
    radius_client.send(radius_client.access_request(c["username"], "wrong password"))
    await conn.execute("INSERT INTO job_runs (name, runs, seconds_total, last_seconds) VALUES ('x.job', 3, 1.5, .5)"
                       " ON CONFLICT DO NOTHING")
    await conn.execute("INSERT INTO outbox (kind, payload, destination, done_at) VALUES"
                       " ('sms', '{}', 'sms:9', NULL), ('sms', '{}', 'sms:9', now()),"
                       " ('sms', '{}', 'sms:9', now() - interval '2 hours')")

    async def scrape() -> str:
        return await (await client.get("/metrics")).text()

    def samples(text: str) -> dict:
        return {(s.name, tuple(sorted(s.labels.items()))): s.value
                for family in text_string_to_metric_families(text) for s in family.samples}

    rejected = ("radbill_access_requests_recent", (("reason", "bad_credentials"), ("result", "Access-Reject")))
    for _ in range(50):  # the module loads the post-auth log about once a second
        found = samples(await scrape())
        if rejected in found:
            break
        await asyncio.sleep(0.2)
    assert found.get(rejected) == 1
    assert found[("radbill_access_requests_recent", (("reason", "ok"), ("result", "Access-Accept")))] >= 1
    assert found[("radbill_freeradius_access_requests_total", ())] >= 2
    assert found[("radbill_job_runs_total", (("job", "x.job"),))] == 3
    assert found[("radbill_outbox_pending", (("destination", "sms:9"), ("kind", "sms")))] == 1
    assert found[("radbill_outbox_finished_last_hour", (("destination", "sms:9"), ("kind", "sms"),
                                                        ("state", "sent")))] == 1  # not the one 2 hours ago
    assert found[("radbill_health_ok", (("check", "radius"),))] == 1


def test_status_prints_the_checks_and_exits_by_their_result(lab, tmp_path):
    radius, url, env = lab
    base = {k: v for k, v in os.environ.items() if not k.startswith("RADBILL_") and not k.endswith("DATABASE_URL")}
    base.update(env, DATABASE_URL=app_url(url), RADBILL_SECRET_KEY="k" * 64, RADBILL_VAR_DIR=env["RADBILL_VAR_DIR"])

    def status() -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "radbill.cli", "status"], cwd=ROOT, env=base,
                              capture_output=True, text=True, timeout=60)

    with asyncpg_connection(url) as run:
        run("DELETE FROM outbox; DELETE FROM scheduler_heartbeats;"
            " INSERT INTO scheduler_heartbeats (replica) VALUES ('t:1')")
        good = status()
        assert good.returncode == 0, good.stdout + good.stderr
        assert "OK  radius" in good.stdout
        run("UPDATE scheduler_heartbeats SET beat_at = now() - interval '1 hour'")
        bad = status()
    assert bad.returncode == 1 and "BAD scheduler" in bad.stdout and "Traceback" not in bad.stderr


class asyncpg_connection:
    def __init__(self, url: str):
        import psycopg

        self.conn = psycopg.connect(url, autocommit=True)

    def __enter__(self):
        return self.conn.execute

    def __exit__(self, *exc):
        self.conn.close()


def test_the_accounting_spool_check_dates_the_oldest_waiting_file(tmp_path):
    """RADBILL_ACCT_WRITE=spool: answered accounting that waits for the database is reported, with its age."""
    now = time.time_ns()
    assert health.acct_spool_check(tmp_path, now).ok  # "sql" mode: no spool at all
    (tmp_path / "accounting.tsv").write_text("x\n")  # the live file: written, loaded within a second
    (tmp_path / f"accounting.tsv.{now - 5 * 10**9}").write_text("y\n")
    check = health.acct_spool_check(tmp_path, now)
    assert check.ok and check.figures == {"files": 1, "bytes": 4, "oldest_seconds": 5.0}
    (tmp_path / f"accounting.tsv.{now - 120 * 10**9}").write_text("z\n")
    check = health.acct_spool_check(tmp_path, now)
    assert not check.ok and check.figures["oldest_seconds"] == 120.0 and "not stored" in check.summary
    assert health.spool_check(tmp_path, now).ok  # the post-auth spool is another file
