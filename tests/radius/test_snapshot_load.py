"""The full snapshot load (issue 19 item 4): a helper thread fetches the view's batches while the worker's thread
builds rows. The rows, their order and the data-cap schedule are those of a plain loop over the cursor; a failure
on either side is raised in the worker's thread with the connection free for its reconnect; the cyclic garbage
collector is paused only during the load."""

import gc
import heapq
import threading
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from bench.snapshot import SEED
from radius_module import snapshot as snapshot_module
from radius_module.sessions import OpenSessions
from radius_module.snapshot import POLICY_QUERY, PolicySnapshot, rows_from_tuples, rows_streamed
from radius_module.worker import SET_POLICY_NOW, Worker

CUSTOMERS = 7_000  # several batches of BATCH, the last one short
BATCH = 1_000
NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


@pytest.fixture(scope="module")
def seeded(pg_server):
    """A module-wide database: half the customers capped per calendar month, half per billing period."""
    name = "radbill_snapshot_load"
    url = pg_server.create_database(name)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(SEED, {"customers": CUSTOMERS})
        conn.execute("UPDATE customers SET status = 'suspended' WHERE id % 7 = 0")
    yield url
    pg_server.drop_database(name)


def fetchers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "radbill-snapshot-fetch"]


def load(conn: psycopg.Connection, query: str = POLICY_QUERY, streamed: bool = True) -> list:
    with conn.transaction():
        conn.execute(SET_POLICY_NOW, (NOW.isoformat(),))
        with conn.cursor("load") as cur:
            cur.execute(query)
            if streamed:
                return rows_streamed(cur, BATCH)
            return rows_from_tuples([c.name for c in cur.description], cur.fetchall())


def test_the_streamed_load_gives_a_plain_loops_rows_in_order(seeded):
    with psycopg.connect(seeded, autocommit=True) as conn:
        streamed, plain = load(conn), load(conn, streamed=False)
    assert len(streamed) == CUSTOMERS and streamed == plain
    assert {r.status for r in streamed} == {"active", "suspended"} and not fetchers()


def test_reload_all_schedules_every_window_as_row_by_row_did(seeded):
    worker = Worker(seeded, PolicySnapshot(), OpenSessions(timedelta(minutes=16)), clock=lambda: NOW)
    with psycopg.connect(seeded, autocommit=True) as conn:
        worker.reload_all(conn)
        rows = load(conn)
    assert len(worker.snapshot) == CUSTOMERS and worker.snapshot.get(rows[5].username) == rows[5]
    # the schedule a push per row built (the refresh path's _schedule_resets), popped in the same order
    pushed = Worker(seeded, PolicySnapshot(), OpenSessions(timedelta(minutes=16)), clock=lambda: NOW)
    pushed._schedule_resets(rows)
    assert worker._resets_at == pushed._resets_at and len(set(pushed._resets_at.values())) == 2
    assert [heapq.heappop(worker._resets) for _ in range(CUSTOMERS)] == [
        heapq.heappop(pushed._resets) for _ in range(CUSTOMERS)]


def test_a_failure_while_fetching_reaches_the_worker_and_frees_the_connection(seeded):
    failing = f"SELECT *, 1 / (customer_id - {CUSTOMERS // 2}) AS boom FROM radius_policy ORDER BY customer_id"
    with psycopg.connect(seeded, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.DivisionByZero):
            load(conn, failing)
        assert not fetchers()
        assert conn.execute("SELECT count(*) FROM radius_policy").fetchone()[0] == CUSTOMERS


def test_a_failure_while_building_stops_the_fetcher(seeded, monkeypatch):
    real = snapshot_module.view_row_builder

    def builder(names):
        build, built = real(names), [0]

        def failing(r):
            built[0] += 1
            if built[0] > 2 * BATCH:
                raise ValueError("a row the builder cannot read")
            return build(r)
        return failing

    monkeypatch.setattr(snapshot_module, "view_row_builder", builder)
    monkeypatch.setattr(snapshot_module, "PREFETCH", 1)  # the fetcher would block on a full queue
    with psycopg.connect(seeded, autocommit=True) as conn:
        with pytest.raises(ValueError, match="cannot read"):
            load(conn)
        assert not fetchers()
        assert conn.execute("SELECT 1").fetchone()[0] == 1


def test_the_collector_is_paused_only_during_a_reload(seeded, monkeypatch):
    seen = []
    real = snapshot_module.rows_streamed

    def watching(cur, batch):
        seen.append(gc.isenabled())
        return real(cur, batch)

    monkeypatch.setattr("radius_module.worker.rows_streamed", watching)
    worker = Worker(seeded, PolicySnapshot(), OpenSessions(timedelta(minutes=16)), clock=lambda: NOW)
    with psycopg.connect(seeded, autocommit=True) as conn:
        assert gc.isenabled()
        worker.reload_all(conn)
        assert gc.isenabled() and seen == [False]
        gc.disable()
        try:  # a process that runs without the collector keeps it off
            worker.reload_all(conn)
            assert not gc.isenabled()
        finally:
            gc.enable()
