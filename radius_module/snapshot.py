"""The policy snapshot: username -> PolicyRow, loaded from the `radius_policy` view."""

from __future__ import annotations

import gc
import queue
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from operator import itemgetter

from radbill.policy import PolicyRow
from radbill.policy.model import view_row_builder

POLICY_QUERY = "SELECT * FROM radius_policy"


row_from_record = PolicyRow.from_view


def rows_from_records(records: Iterable) -> list[PolicyRow]:
    """Rows of one load sharing their packages' speeds and tiers and their repeated strings and times."""
    memo: dict = {}
    return [PolicyRow.from_view(r, memo) for r in records]


def rows_from_tuples(names: list[str], records: Iterable) -> list[PolicyRow]:
    """The same rows as rows_from_records from tuples of the view's columns `names` (a cursor's default rows):
    no dict per row, no key lookup per column (a full load builds every customer's row)."""
    build = view_row_builder(names)
    return [build(r) for r in records]


PREFETCH = 4  # batches fetched ahead of the builder (each LOAD_BATCH rows: a few MB at most)
_END = object()


def rows_streamed(cur, batch: int) -> dict[str, PolicyRow]:
    """username -> row (rows_from_tuples's rows, in the cursor's order) from an executed server-side cursor of the
    view, fetched by a helper thread: while this thread builds one batch's rows, the server computes the next
    (psycopg releases the GIL while it waits), where a plain loop over the cursor left the server idle during the
    building and Python idle during the query."""
    names = [c.name for c in cur.description]
    build, username = view_row_builder(names), itemgetter(names.index("username"))
    batches: queue.Queue = queue.Queue(maxsize=PREFETCH)
    stop = threading.Event()

    def fetch() -> None:
        try:
            while not stop.is_set() and (got := cur.fetchmany(batch)):
                batches.put(got)
        except BaseException as exc:  # handed to the builder, which raises it in the worker's thread
            batches.put(exc)
            return
        batches.put(_END)

    fetcher = threading.Thread(target=fetch, name="radbill-snapshot-fetch", daemon=True)
    fetcher.start()
    rows: dict[str, PolicyRow] = {}
    try:
        while (got := batches.get()) is not _END:
            if isinstance(got, BaseException):
                raise got
            rows.update(zip(map(username, got), map(build, got), strict=True))  # no Python loop per row
    finally:  # the connection is the caller's again only once the fetcher has left it
        stop.set()
        while fetcher.is_alive():
            try:
                batches.get(timeout=0.05)
            except queue.Empty:
                pass
        fetcher.join()
    return rows


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while a full load allocates a million rows: the collector would walk the
    growing heap again and again (it found nothing to free; the rows are freed by reference counting)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class PolicySnapshot:
    """An in-memory map the hooks read without waiting; the worker thread swaps entries in.

    Single dict operations are atomic under the GIL, and a full reload builds a new dict and swaps the
    reference, so a reader never sees a half-loaded snapshot.
    """

    def __init__(self):
        self._rows: dict[str, PolicyRow] = {}
        self.loaded = False
        self.generation = 0

    def get(self, username: str) -> PolicyRow | None:
        return self._rows.get(username)

    def __len__(self) -> int:
        return len(self._rows)

    def replace_all(self, rows: Iterable[PolicyRow] | dict[str, PolicyRow]) -> None:
        """Swap in every row; a dict (username -> row) is taken as it is, not copied (a full load builds one)."""
        self._rows = rows if isinstance(rows, dict) else {row.username: row for row in rows}
        self.loaded = True
        self.generation += 1

    def update(self, usernames: Iterable[str], rows: Iterable[PolicyRow]) -> None:
        """Refresh the given keys: present rows are replaced, absent ones (deleted customers) dropped."""
        fresh = {row.username: row for row in rows}
        for username in usernames:
            row = fresh.get(username)
            if row is None:
                self._rows.pop(username, None)
            else:
                self._rows[username] = row
        self.generation += 1
