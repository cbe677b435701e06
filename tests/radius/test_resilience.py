"""A Postgres restart: FreeRADIUS keeps answering from the snapshot, then catches up after reconnecting."""

import asyncio
import shutil
import tempfile
from pathlib import Path

import asyncpg
import psycopg
import pytest

from radbill.db.cluster import LocalCluster, free_port
from radbill.db.migrate import migrate_url
from radbill.passwords import generate_nas_secret
from tests import factories as f
from tests.support.db import register_cluster
from tests.support.radius import running_radius, seed
from tests.support.waiting import wait_until


@pytest.fixture
def own_cluster():
    base = Path(tempfile.mkdtemp(prefix="radbill-restart-"))
    base.chmod(0o755)
    cluster = LocalCluster(base / "pg", free_port())
    creds = cluster.init()
    register_cluster(creds)
    cluster.start(log=base / "postgres.log", settings={"fsync": "off"})
    asyncio.run(migrate_url(creds.url()))
    yield cluster, creds.url(), base
    cluster.destroy()
    shutil.rmtree(base, ignore_errors=True)


def login(server, username, password):
    client = server.client(timeout=1.0)
    return client.send(client.access_request(username, password))


async def add_customer(url, isp, username, **values):
    conn = await asyncpg.connect(url)
    try:
        return await f.customer(conn, isp.sub["id"], isp.package["id"], isp.profile["id"], username=username,
                                **values)
    finally:
        await conn.close()


def test_postgres_restart_keeps_answering_and_catches_up(own_cluster):
    cluster, url, base = own_cluster
    secret = generate_nas_secret()
    isp = asyncio.run(seed(url, secret))
    asyncio.run(add_customer(url, isp, "steady", radius_password="pw1"))
    with running_radius(url, base / "radius", secret, isp) as server:
        assert wait_until(lambda: login(server, "steady", "pw1").accepted)

        cluster.stop()
        for _ in range(5):  # answered from memory while the database is down
            reply = login(server, "steady", "pw1")
            assert reply is not None and reply.accepted
        assert login(server, "steady", "bad").code == "Access-Reject"

        cluster.start(log=base / "postgres.log", settings={"fsync": "off"})
        asyncio.run(add_customer(url, isp, "newcomer", radius_password="pw2"))
        # the worker reconnects (backoff <= 10 s) and reloads everything it may have missed
        assert wait_until(lambda: login(server, "newcomer", "pw2").accepted, timeout=20, interval=0.2)
        assert "lost the database" in server.log

        def logged():  # the post-auth log written while the database was down is loaded after the reconnect
            with psycopg.connect(url) as conn:
                return dict(conn.execute("SELECT reason, count(*) FROM radpostauth WHERE username = 'steady'"
                                         " GROUP BY reason").fetchall())
        assert wait_until(lambda: (r := logged()).get("ok", 0) >= 6 and r.get("bad_credentials") == 1, timeout=5,
                          interval=0.1), logged()
