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
from radius_module.worker import SET_POLICY_NOW, WINDOW_BATCH, Worker

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
    assert len(streamed) == CUSTOMERS and list(streamed.values()) == plain
    assert list(streamed) == [r.username for r in plain]
    assert {r.status for r in plain} == {"active", "suspended"} and not fetchers()


def test_reload_all_schedules_every_window_as_row_by_row_did(seeded):
    worker = Worker(seeded, PolicySnapshot(), OpenSessions(timedelta(minutes=16)), clock=lambda: NOW)
    with psycopg.connect(seeded, autocommit=True) as conn:
        worker.reload_all(conn)
        rows = load(conn, streamed=False)
    assert len(worker.snapshot) == CUSTOMERS and worker.snapshot.get(rows[5].username) == rows[5]
    # the schedule a push per row builds (the refresh path's _schedule_resets), one entry per window end here
    pushed = Worker(seeded, PolicySnapshot(), OpenSessions(timedelta(minutes=16)), clock=lambda: NOW)
    pushed._schedule_resets(rows)
    assert worker._resets_at == pushed._resets_at and len(worker._resets) == 2 == len(set(pushed._resets_at.values()))
    assert sorted(popped(worker)) == sorted(popped(pushed))


def popped(worker: Worker) -> list[tuple]:
    """(window end, username) of every entry of the worker's schedule, in the order they come up."""
    out = []
    while worker._resets:
        at, _, usernames = heapq.heappop(worker._resets)
        out += [(at, u) for u in usernames]
    return out


def test_customers_sharing_a_window_end_are_refreshed_a_batch_per_turn(seeded):
    """The customers sharing a window end are one schedule entry: a boundary still refreshes WINDOW_BATCH of
    them per turn of the worker's loop (folding never waits long), and every one of them in the end."""
    clock = Clock(NOW)
    worker = Worker(seeded, PolicySnapshot(), OpenSessions(timedelta(minutes=16)), clock=clock)
    with psycopg.connect(seeded, autocommit=True) as conn:
        worker.reload_all(conn)
        ends = sorted(set(worker._resets_at.values()))
        due = sum(1 for at in worker._resets_at.values() if at == ends[0])
        clock.now = ends[0] + timedelta(seconds=1)
        turns = []
        while turn := worker.refresh_windows(conn):
            turns.append(turn)
    assert due > 2 * WINDOW_BATCH and sum(turns) == due and max(turns) == WINDOW_BATCH
    assert all(at > ends[0] for at in worker._resets_at.values()) and len(worker._resets_at) == CUSTOMERS


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


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


def test_a_reload_puts_the_rows_out_of_the_collectors_walks(seeded):
    """A full collection walks every object it tracks with the GIL held (every Access-Request waits): after a
    reload the snapshot's rows are frozen out of those walks (gc.freeze), and reference counting still frees them."""
    worker = Worker(seeded, PolicySnapshot(), OpenSessions(timedelta(minutes=16)), clock=lambda: NOW)
    gc.unfreeze()
    try:
        with psycopg.connect(seeded, autocommit=True) as conn:
            worker.reload_all(conn)
            frozen = gc.get_freeze_count()
            assert frozen >= CUSTOMERS
            row = next(iter(worker.snapshot._rows.values()))
            assert not any(o is row for generation in range(3) for o in gc.get_objects(generation))
            worker.reload_all(conn)  # replaces every row: the frozen ones leave, they do not pile up
            assert gc.get_freeze_count() < frozen + CUSTOMERS // 2
    finally:
        gc.unfreeze()
