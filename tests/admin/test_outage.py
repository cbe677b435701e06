"""The database goes away under a running admin: a page that says so (503, not 500), then service resumes."""

import asyncio
import shutil
import tempfile
from pathlib import Path

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from admin.app import create_app
from radbill.config import Config, DatabaseUrl, Secret
from radbill.db.cluster import LocalCluster, free_port
from radbill.db.migrate import migrate_url
from tests.support.admin import AdminClient, build_tree


@pytest.fixture
def outage_cluster():
    base = Path(tempfile.mkdtemp(prefix="radbill-outage-"))
    base.chmod(0o755)  # the postgres OS user must traverse it
    cluster = LocalCluster(base / "pg", free_port())
    creds = cluster.init()
    cluster.start(log=base / "postgres.log", settings={"fsync": "off"})
    asyncio.run(migrate_url(creds.url()))
    yield cluster, creds.url(), base
    cluster.destroy()
    shutil.rmtree(base, ignore_errors=True)


async def test_a_database_restart_shows_a_retry_page_then_the_admin_works_again(outage_cluster):
    cluster, url, base = outage_cluster
    conn = await asyncpg.connect(url)
    try:
        await build_tree(conn)
    finally:
        await conn.close()
    app = create_app(Config(database_url=DatabaseUrl(url), secret_key=Secret("k" * 64), cookie_secure=False))
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        admin = AdminClient(client)
        assert (await admin.login("admin")).status == 303
        assert (await admin.get("/customers")).status == 200

        await asyncio.to_thread(cluster.stop)
        down = await admin.get("/customers")
        assert down.status == 503 and "try again" in await down.text()

        await asyncio.to_thread(cluster.start, base / "postgres.log", 30.0, {"fsync": "off"})
        for _ in range(50):  # the pool replaces the connections the restart closed
            if (response := await admin.get("/customers")).status == 200:
                break
            await asyncio.sleep(0.1)
        assert response.status == 200
    finally:
        await client.close()
