"""The policy snapshot: username -> PolicyRow, loaded from the `radius_policy` view."""

from __future__ import annotations

from collections.abc import Iterable

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

    def replace_all(self, rows: Iterable[PolicyRow]) -> None:
        self._rows = {row.username: row for row in rows}
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
