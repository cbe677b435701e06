"""Test session: a throwaway PostgreSQL cluster in /tmp, migrated once into a template database.

Fixtures:
- `db`: an asyncpg connection inside a transaction that is rolled back after the test (fast, no commits).
- `fresh_db_url`: a database of its own cloned from the template, for tests that must commit
  (NOTIFY, other processes such as FreeRADIUS); dropped afterwards.
- `module_db_url`: the same, shared by one test module: for a module whose tests only read what its module
  fixtures committed (a role matrix sweeping every page), so the world is built once instead of once per test.

Fixtures several directories use are defined once in tests/fixtures (listed in `pytest_plugins` below: pytest
reads it only here); plain helpers live in tests/support. Nothing imports a conftest (tests/test_layering.py).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import psycopg
import pytest
from argon2 import PasswordHasher
from hypothesis import settings
from psycopg import sql

from radbill import passwords, secretbox
from radbill.db.cluster import ClusterCredentials, LocalCluster, free_port
from radbill.db.migrate import migrate_url
from tests.support.db import TEMPLATE, register_cluster

pytest_plugins = ["tests.fixtures.admin"]  # fixtures shared by several directories: one definition each

# stored secrets are sealed (radbill.secretbox); production reads the key from var/radbill.env, tests make one
os.environ.setdefault("RADBILL_DATA_KEYS", secretbox.new_key_entry("test"))

# No per-example deadline (a shared 2-core CI box is slow at times, and the stateful ledger test talks to
# PostgreSQL); on CI, the same examples every run, so a red build can be reproduced.
settings.register_profile("radbill", deadline=None, derandomize=bool(os.environ.get("CI")), print_blob=True)
settings.load_profile("radbill")

# The suite signs in hundreds of times; production argon2id parameters cost ~0.15 s per hash or check on a 2-core
# box. Tests keep the algorithm (argon2id) with its cheapest parameters, in this process only: servers started
# as subprocesses (make run, the backup/restore round trip) hash and check with the real ones. A stored hash
# names its own parameters, so checking one made either way works with both hashers.
passwords._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def pytest_addoption(parser):
    parser.addoption("--write-schema", action="store_true", help="rewrite sql/schema.sql instead of comparing")


@dataclass
class TestServer:
    cluster: LocalCluster
    creds: ClusterCredentials
    base: Path

    def url(self, database: str, user: str = "radbill") -> str:
        return self.creds.url(database, user)

    def admin(self) -> psycopg.Connection:
        return psycopg.connect(self.url("postgres", "postgres"), autocommit=True)

    def create_database(self, name: str, template: str = TEMPLATE) -> str:
        with self.admin() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {} OWNER radbill").format(
                sql.Identifier(name), sql.Identifier(template)))
        return self.url(name)

    def drop_database(self, name: str) -> None:
        with self.admin() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def pg_server():
    base = Path(tempfile.mkdtemp(prefix="radbill-test-"))
    base.chmod(0o755)  # the postgres OS user must traverse it
    cluster = LocalCluster(base / "pg", free_port())
    creds = cluster.init()
    # durability is irrelevant for a throwaway cluster; fsync off makes CREATE DATABASE fast
    cluster.start(log=base / "postgres.log", settings={"fsync": "off", "synchronous_commit": "off",
                                                       "full_page_writes": "off"})
    server = TestServer(cluster, creds, base)
    register_cluster(creds)
    with server.admin() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER radbill").format(sql.Identifier(TEMPLATE)))
    asyncio.run(migrate_url(server.url(TEMPLATE)))
    yield server
    cluster.destroy()
    shutil.rmtree(base, ignore_errors=True)


_db_counter = itertools.count(1)


@pytest.fixture(scope="session")
def shared_db_url(pg_server) -> str:
    return pg_server.create_database("radbill_test")


@pytest.fixture
async def db(shared_db_url):
    conn = await asyncpg.connect(shared_db_url)
    tx = conn.transaction()
    await tx.start()
    try:
        yield conn
    finally:
        await tx.rollback()
        await conn.close()


@pytest.fixture
def fresh_db_url(pg_server):
    name = f"radbill_t{os.getpid()}_{next(_db_counter)}"
    url = pg_server.create_database(name)
    yield url
    pg_server.drop_database(name)


@pytest.fixture(scope="module")
def module_db_url(pg_server):
    name = f"radbill_m{os.getpid()}_{next(_db_counter)}"
    url = pg_server.create_database(name)
    yield url
    pg_server.drop_database(name)
