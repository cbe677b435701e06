"""The API's per-client rate limit holds across admin workers (RADBILL_ADMIN_WORKERS > 1: `radbill run` starts that
many `python -m admin` on one port and the kernel spreads connections over them). Two real worker processes, each
asked directly on a port of its own so both surely serve, together answer no more than the burst; and the shared
bucket (radbill_api_take, 0065) does the in-memory bucket's arithmetic."""

from __future__ import annotations

import asyncio
import os
import tempfile
import urllib.error
import urllib.request

import asyncpg

from radbill.db.cluster import free_port
from radbill.services import api_clients
from radbill.tenancy import Scope
from tests import factories as f
from tests.admin.test_workers import start, wait_listening
from tests.support.db import app_url

BURST = 5


async def _client(url: str) -> tuple[int, str]:
    conn = await asyncpg.connect(url)
    try:
        root = await f.operator(conn, "group_admin")
        account = await f.insert(conn, "accounts", {"operator_id": root["id"], "role": "group_admin",
                                                    "username": "ratelimit", "password_hash": "$argon2id$unused"})
        scope = Scope(account["id"], root["id"], str(root["path"]), "group_admin")
        row, token = await api_clients.create_client(conn, scope, {"name": "erp", "permissions": ["customers.view"],
                                                                   "allowed_cidrs": ""}, None)
        return row["id"], token
    finally:
        await conn.close()


def _status(port: int, token: str) -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/customers?limit=1",
                                     headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_two_workers_together_answer_no_more_than_the_burst(fresh_db_url):
    _, token = asyncio.run(_client(fresh_db_url))
    ports = [free_port(), free_port()]
    base = {**os.environ, "DATABASE_URL": app_url(fresh_db_url), "MIGRATE_DATABASE_URL": fresh_db_url,
            "RADBILL_SECRET_KEY": "w" * 64, "RADBILL_COOKIE_SECURE": "false", "RADBILL_ADMIN_WORKERS": "2",
            "RADBILL_API_RATE": "1", "RADBILL_API_BURST": str(BURST)}
    with tempfile.TemporaryFile() as log:
        workers = [start({**base, "RADBILL_ADMIN_PORT": str(port)}, log) for port in ports]
        try:
            for port, worker in zip(ports, workers, strict=True):
                wait_listening(port, [worker])
            statuses = [_status(ports[n % 2], token) for n in range(2 * BURST)]  # both workers, in turn
        finally:
            for worker in workers:
                worker.terminate()
                worker.wait(10)
    # at 1 a second a slow box may refill one token while the calls go out; two buckets would answer all ten
    assert BURST <= statuses.count(200) <= BURST + 1, statuses
    assert statuses[:BURST] == [200] * BURST and statuses[-1] == 429, statuses


async def test_the_shared_bucket_does_the_memory_buckets_arithmetic(fresh_db_url):
    client_id, _ = await _client(fresh_db_url)
    conn = await asyncpg.connect(app_url(fresh_db_url))  # as the admin connects: only the function is granted
    try:
        take = "SELECT radbill_api_take($1, $2, $3)"
        assert [await conn.fetchval(take, client_id, 0.5, 2) for _ in range(2)] == [0, 0]
        assert await conn.fetchval(take, client_id, 0.5, 2) == 2  # one token takes 2 s at 0.5/s
        await asyncio.sleep(0.01)
        assert await conn.fetchval(take, client_id, 1000.0, 2) == 0  # 10 ms refill 10 tokens at 1000/s
        assert await conn.fetchval("SELECT has_table_privilege('api_rate_buckets', 'SELECT')") is False
    finally:
        await conn.close()
