"""A real FreeRADIUS (raddb/, our python3 module, rlm_sql) on free ports, against a database of its own.
The server, its seed and the polling helpers are in tests/support/radius.py and tests/support/waiting.py."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path

import asyncpg
import pytest

from radbill.db.cluster import LocalCluster, free_port
from radbill.db.migrate import migrate_url
from radbill.passwords import generate_nas_secret
from tests.support.db import register_cluster
from tests.support.radius import running_radius, seed


@pytest.fixture(scope="session")
def radius_db_url(pg_server):
    return pg_server.create_database("radbill_radius")


@pytest.fixture(scope="session")
def radius_sql(pg_server, radius_db_url):
    secret = generate_nas_secret()
    isp = asyncio.run(seed(radius_db_url, secret))
    with running_radius(radius_db_url, Path(pg_server.base) / "radius", secret, isp) as server:
        yield server


@pytest.fixture(scope="session")
def radius(radius_sql):
    """The RADIUS server most tests use: accounting through rlm_sql (RADBILL_ACCT_WRITE's default)."""
    return radius_sql


@pytest.fixture(scope="session")
def radius_spool(pg_server):
    """The same server with RADBILL_ACCT_WRITE=spool, on a database of its own."""
    url = pg_server.create_database("radbill_radius_spool")
    secret = generate_nas_secret()
    isp = asyncio.run(seed(url, secret))
    with running_radius(url, Path(pg_server.base) / "radius_spool", secret, isp, acct_write="spool") as server:
        yield server


@pytest.fixture
async def radius_db(radius):
    """A committed-writes connection to the RADIUS test database (changes reach FreeRADIUS via NOTIFY)."""
    conn = await asyncpg.connect(radius.db_url)
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture
def own_cluster():
    """A Postgres of the test's own, migrated, to stop and start: (cluster, url, base directory)."""
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
