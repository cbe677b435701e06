import asyncio

import asyncpg
import pytest

from radbill.db.migrate import discover, migrate
from radbill.errors import MigrationError


@pytest.fixture
def empty_db_url(pg_server):
    pg_server.create_database("radbill_empty_migrate", template="template0")
    yield pg_server.url("radbill_empty_migrate")
    pg_server.drop_database("radbill_empty_migrate")


async def test_applies_all_from_zero_then_nothing(empty_db_url):
    conn = await asyncpg.connect(empty_db_url)
    try:
        first = await migrate(conn)
        assert first == [m.version for m in discover()]
        assert await migrate(conn) == []
        recorded = await conn.fetchval("SELECT count(*) FROM schema_migrations")
        assert recorded == len(first)
    finally:
        await conn.close()


async def test_concurrent_migrators_apply_each_migration_once(empty_db_url):
    conns = [await asyncpg.connect(empty_db_url) for _ in range(3)]
    try:
        results = await asyncio.gather(*(migrate(c) for c in conns))
        applied = sorted(v for r in results for v in r)
        assert applied == sorted(m.version for m in discover())
    finally:
        for c in conns:
            await c.close()


async def test_a_changed_migration_is_refused(tmp_path, empty_db_url):
    (tmp_path / "0001_first.sql").write_text("CREATE TABLE t1 (id int);")
    conn = await asyncpg.connect(empty_db_url)
    try:
        assert await migrate(conn, tmp_path) == ["0001_first"]
        (tmp_path / "0001_first.sql").write_text("CREATE TABLE t1 (id bigint);")
        with pytest.raises(MigrationError, match="changed after it was applied"):
            await migrate(conn, tmp_path)
    finally:
        await conn.close()


async def test_a_failing_migration_leaves_nothing_behind(tmp_path, empty_db_url):
    (tmp_path / "0001_good.sql").write_text("CREATE TABLE good (id int);")
    (tmp_path / "0002_bad.sql").write_text("CREATE TABLE half (id int); SELECT no_such_function();")
    conn = await asyncpg.connect(empty_db_url)
    try:
        with pytest.raises(MigrationError, match="0002_bad.sql failed"):
            await migrate(conn, tmp_path)
        assert await conn.fetchval("SELECT to_regclass('half')") is None
        assert await conn.fetchval("SELECT to_regclass('good')") == "good"
        versions = [r[0] for r in await conn.fetch("SELECT version FROM schema_migrations")]
        assert versions == ["0001_good"]
    finally:
        await conn.close()


async def test_unknown_applied_version_is_refused(tmp_path, empty_db_url):
    (tmp_path / "0001_a.sql").write_text("SELECT 1;")
    (tmp_path / "0002_b.sql").write_text("SELECT 1;")
    conn = await asyncpg.connect(empty_db_url)
    try:
        await migrate(conn, tmp_path)
        (tmp_path / "0002_b.sql").unlink()
        with pytest.raises(MigrationError, match="0002_b"):
            await migrate(conn, tmp_path)
    finally:
        await conn.close()


@pytest.mark.parametrize("name", ["1_short.sql", "0001-dash.sql", "0001_Upper.sql"])
def test_badly_named_files_are_errors(tmp_path, name):
    (tmp_path / name).write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="NNNN_lowercase_name"):
        discover(tmp_path)


def test_duplicate_numbers_are_errors(tmp_path):
    (tmp_path / "0001_a.sql").write_text("SELECT 1;")
    (tmp_path / "0001_b.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="used twice"):
        discover(tmp_path)


async def test_0035_keeps_existing_routers_valid_and_other_becomes_generic(tmp_path, empty_db_url):
    from radbill.db.migrate import MIGRATIONS_DIR

    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        if path.name < "0035":
            (tmp_path / path.name).write_text(path.read_text())
    conn = await asyncpg.connect(empty_db_url)
    try:
        await migrate(conn, tmp_path)
        operator = await conn.fetchval("INSERT INTO operators (kind, name) VALUES ('group_admin', 'Root') RETURNING id")
        for ip, kind in (("192.0.2.1", "mikrotik"), ("192.0.2.2", "other")):
            await conn.execute("INSERT INTO nas (nasname, shortname, secret, operator_id, type)"
                               " VALUES ($1, $2, $3, $4, $5)", ip, f"r{ip[-1]}", "s" * 20, operator, kind)
        assert "0035_router_types" in await migrate(conn)
        types = dict(await conn.fetch("SELECT nasname, type FROM nas"))
        assert types == {"192.0.2.1": "mikrotik", "192.0.2.2": "generic"}
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute("UPDATE nas SET type = 'other'")
    finally:
        await conn.close()
