"""radacct by month (migration 0043): partitions made ahead, the fold across months, old closed sessions archived."""

from datetime import UTC, datetime

import asyncpg
import pytest

from radbill.db.migrate import MIGRATIONS_DIR, migrate
from radbill.services import radacct_storage
from scheduler.jobs import all_jobs
from tests.support.db import app_url, radius_url

COLUMNS = "acctsessionid, acctuniqueid, username, nasipaddress, acctstarttime, acctstoptime, acctinputoctets"


def month_start(months_back: int) -> datetime:
    now = datetime.now(UTC)
    index = now.year * 12 + now.month - 1 - months_back
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


async def session(conn, uid: str, start: datetime | None, stop: datetime | None, octets: int = 1000) -> None:
    await conn.execute(f"INSERT INTO radacct ({COLUMNS}) VALUES ($1, $1, 'arch-user', '10.9.9.1', $2, $3, $4)",
                       uid, start, stop, octets)


async def uids(conn, table: str) -> set[str]:
    return {r[0] for r in await conn.fetch(f"SELECT acctuniqueid FROM {table}")}  # noqa: S608 (fixed names)


async def recent_usage(conn) -> list:
    return await conn.fetch("SELECT acctuniqueid, acctinputoctets FROM radacct WHERE acctstarttime >= $1"
                            " ORDER BY 1", month_start(1))


@pytest.fixture
async def owner(fresh_db_url):
    conn = await asyncpg.connect(fresh_db_url)
    yield conn
    await conn.close()


@pytest.fixture
async def app(fresh_db_url):
    conn = await asyncpg.connect(app_url(fresh_db_url))
    yield conn
    await conn.close()


async def test_the_coming_months_exist_and_an_insert_never_fails_for_a_missing_month(owner, app):
    made = await radacct_storage.prepare_partitions(app)  # as the scheduler: the app role owns nothing
    assert made == [f"radacct_{m:%Y_%m}" for m in (month_start(0), month_start(-1), month_start(-2))]
    far = month_start(-40)
    await session(owner, "far-future", far.replace(day=3), None)
    await session(owner, "no-start", None, None)
    assert await uids(owner, "radacct_default") == {"far-future", "no-start"}
    # the month's partition made later takes the default partition's rows for it
    await owner.execute("SELECT radbill_radacct_partition($1)", far)
    assert await uids(owner, f"radacct_{far:%Y_%m}") == {"far-future"}
    assert await uids(owner, "radacct_default") == {"no-start"}
    indexes = {r[0] for r in await owner.fetch("SELECT indexdef FROM pg_indexes WHERE tablename = $1",
                                                f"radacct_{far:%Y_%m}")}
    assert any("(framedipaddress) WHERE (acctstoptime IS NULL)" in d for d in indexes), indexes  # 0033's index
    assert len(indexes) == 9  # every index radacct has, and the session key


async def test_moving_rows_into_a_new_month_is_not_hearing_them(owner):
    """heard_at (simultaneous use counts sessions heard lately) survives the move out of the default partition
    (migration 0058); a plain insert or update is still stamped now."""
    far = month_start(-41)
    await session(owner, "silent", far.replace(day=5), None)
    await owner.execute("ALTER TABLE radacct DISABLE TRIGGER radacct_heard")  # as if last heard long ago
    await owner.execute("UPDATE radacct SET heard_at = '2020-01-01T00:00Z' WHERE acctuniqueid = 'silent'")
    await owner.execute("ALTER TABLE radacct ENABLE TRIGGER radacct_heard")
    await owner.execute("SELECT radbill_radacct_partition($1)", far)
    moved = await owner.fetchrow("SELECT heard_at, tableoid::regclass::text AS part FROM radacct"
                                 " WHERE acctuniqueid = 'silent'")
    assert moved["part"] == f"radacct_{far:%Y_%m}"
    assert moved["heard_at"] == datetime(2020, 1, 1, tzinfo=UTC)
    await session(owner, "fresh", far.replace(day=6), None)
    await owner.execute("UPDATE radacct SET acctinputoctets = 5 WHERE acctuniqueid = 'silent'")
    stamped = await owner.fetch("SELECT heard_at > now() - interval '1 minute' FROM radacct ORDER BY acctuniqueid")
    assert [r[0] for r in stamped] == [True, True]


async def test_the_fold_finds_an_open_session_in_an_old_month_and_never_duplicates_a_closed_one(owner, fresh_db_url):
    old = month_start(3)
    await owner.execute("SELECT radbill_radacct_partition($1)", old)
    await session(owner, "old-open", old.replace(day=2), None)
    await session(owner, "old-closed", old.replace(day=2), old.replace(day=3))
    radius = await asyncpg.connect(radius_url(fresh_db_url))
    try:
        for status, uid in (("Stop", "old-open"), ("Interim-Update", "old-closed"), ("Start", "old-closed")):
            await radius.execute(
                "INSERT INTO radacct_journal (status, acctsessionid, acctuniqueid, username, nasipaddress, event_time,"
                " sessiontime, inputoctets, outputoctets) VALUES ($1, $2, $2, 'arch-user', '10.9.9.1', now(), 60,"
                " 5, 5)", status, uid)
        await radius.fetch("SELECT * FROM radbill_fold_accounting()")
    finally:
        await radius.close()
    rows = await owner.fetch("SELECT acctuniqueid, acctstoptime IS NOT NULL AS closed, tableoid::regclass::text AS part"
                             " FROM radacct ORDER BY 1")
    assert [tuple(r) for r in rows] == [("old-closed", True, f"radacct_{old:%Y_%m}"),
                                        ("old-open", True, f"radacct_{old:%Y_%m}")]


async def test_archive_moves_old_closed_sessions_drops_closed_months_and_keeps_open_sessions(owner, app):
    a, b, now = month_start(14), month_start(13), month_start(0)
    for month in (a, b, now):
        await owner.execute("SELECT radbill_radacct_partition($1)", month)
    await session(owner, "a1", a.replace(day=2), a.replace(day=3))
    await session(owner, "a2", a.replace(day=20), b.replace(day=2))  # ended in the next month: still month a's
    await session(owner, "b1", b.replace(day=5), b.replace(day=6))
    await session(owner, "b-open", b.replace(day=9), None)
    await session(owner, "ancient", month_start(40), month_start(40).replace(day=2))  # no partition: default
    await session(owner, "ancient-open", month_start(40), None)
    await session(owner, "recent-open", now, None)
    await session(owner, "recent", now, now.replace(day=2), octets=777)
    await session(owner, "last-year", month_start(11), month_start(11).replace(day=2))  # inside the 12 kept months
    usage_before = await recent_usage(owner)

    done = await radacct_storage.archive_old_sessions(app, keep_months=12)

    assert done == [radacct_storage.ArchivedPartition(f"radacct_{a:%Y_%m}", 2, True),
                    radacct_storage.ArchivedPartition(f"radacct_{b:%Y_%m}", 1, False),
                    radacct_storage.ArchivedPartition("radacct_default", 1, False)]
    assert await owner.fetchval("SELECT to_regclass($1)", f"radacct_{a:%Y_%m}") is None
    assert await uids(owner, "radacct_archive") == {"a1", "a2", "b1", "ancient"}
    assert await uids(owner, "radacct") == {"b-open", "ancient-open", "recent-open", "recent", "last-year"}
    assert await recent_usage(owner) == usage_before
    archived = await owner.fetchrow("SELECT acctstarttime, acctstoptime, acctinputoctets FROM radacct_archive"
                                    " WHERE acctuniqueid = 'a2'")
    assert tuple(archived) == (a.replace(day=20), b.replace(day=2), 1000)

    assert await radacct_storage.archive_old_sessions(app, keep_months=12) == []  # nothing more to do
    await owner.execute("UPDATE radacct SET acctstoptime = $1 WHERE acctuniqueid = 'b-open'", now)
    assert await radacct_storage.archive_old_sessions(app, keep_months=12) == [
        radacct_storage.ArchivedPartition(f"radacct_{b:%Y_%m}", 1, True)]
    assert "b-open" in await uids(owner, "radacct_archive")


async def test_archive_refuses_to_keep_no_month(app):
    with pytest.raises(asyncpg.RaiseError, match="at least 1"):
        await radacct_storage.archive_old_sessions(app, keep_months=0)


def test_the_scheduler_runs_both_jobs_and_the_setting_is_checked():
    assert {"radacct.partitions", "radacct.archive"} <= {job.name for job in all_jobs()}
    assert radacct_storage.StorageSettings.from_env({}).keep_months == 12
    assert radacct_storage.StorageSettings.from_env({radacct_storage.KEEP_MONTHS_ENV: "3"}).keep_months == 3
    with pytest.raises(Exception, match="RADBILL_RADACCT_KEEP_MONTHS"):
        radacct_storage.StorageSettings.from_env({radacct_storage.KEEP_MONTHS_ENV: "0"})


@pytest.fixture
def empty_db_url(pg_server):
    pg_server.create_database("radbill_radacct_migrate", template="template0")
    yield pg_server.url("radbill_radacct_migrate")
    pg_server.drop_database("radbill_radacct_migrate")


async def test_0043_moves_existing_sessions_into_months_keeping_every_column(tmp_path, empty_db_url):
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        if path.name < "0043":
            (tmp_path / path.name).write_text(path.read_text())
    conn = await asyncpg.connect(empty_db_url)
    try:
        await migrate(conn, tmp_path)
        old = month_start(5)
        await session(conn, "before-1", old.replace(day=4), old.replace(day=5))
        await session(conn, "before-2", month_start(0), None)
        await conn.execute("UPDATE radacct SET heard_at = '2020-01-01Z'")
        before = [dict(r) for r in await conn.fetch("SELECT * FROM radacct ORDER BY radacctid")]
        assert "0043_radacct_partitioned" in await migrate(conn)
        after = [dict(r) for r in await conn.fetch("SELECT * FROM radacct ORDER BY radacctid")]
        assert after == before  # heard_at included: the trigger came after the copy
        parts = {r[0] for r in await conn.fetch("SELECT tableoid::regclass::text FROM radacct")}
        assert parts == {f"radacct_{old:%Y_%m}", f"radacct_{month_start(0):%Y_%m}"}
        await session(conn, "after", month_start(0), None)
        ids = [r[0] for r in await conn.fetch("SELECT radacctid FROM radacct ORDER BY radacctid")]
        assert ids[-1] > ids[-2]  # the same sequence goes on
        assert await conn.fetchval("SELECT count(*) FROM radius_policy") == 0  # the view reads the new table
    finally:
        await conn.close()
