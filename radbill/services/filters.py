"""SQL WHERE clauses for scoped lists, built from fixed fragments and numbered parameters."""

from __future__ import annotations

import asyncpg

from radbill import validate
from radbill.tenancy import Scope


async def subtree_operator_ids(conn: asyncpg.Connection, scope: Scope) -> list[int]:
    """The ids of the operators in the scope's subtree, for `operator_id = ANY($n::bigint[])` predicates.

    Why not `o.path <@ $n` in the big queries: under row-level security Postgres uses a column's statistics only
    for LEAKPROOF operators, and ltree's are not, so it guesses one operator for every scope and plans nested
    loops over 100,000 customers for the group admin. int8eq is LEAKPROOF: with the ids as a constant the
    estimates, and so the plans, are what they were without row-level security."""
    return await conn.fetchval("SELECT coalesce(array_agg(id ORDER BY id), '{}') FROM operators"
                               " WHERE path <@ $1::ltree", scope.path)


def _typed(text: str) -> tuple[int | None, str | None, str]:
    """What a customer search text may be: an ID (a plain number), a mobile (as E.164), and always a piece of
    name / username / mobile (an escaped ILIKE pattern)."""
    typed_id = int(text) if text.isascii() and text.isdecimal() and len(text) <= 9 else None
    try:
        mobile = validate.mobile(text)
    except ValueError:
        mobile = None
    return typed_id, mobile, "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


class ScopedWhere:
    """Numbered parameters and fixed SQL fragments; typed text only ever travels as a parameter (so queries
    that carry `where.sql` are safe to format, and are marked noqa: S608 where ruff cannot tell).

    The scope is `column <@ scope.path`, or, given `operator_ids` (subtree_operator_ids), `column = ANY(ids)`
    with `column` naming the operator id (the form the planner can estimate under row-level security)."""

    def __init__(self, scope: Scope, column: str, operator_ids: list[int] | None = None):
        if operator_ids is None:
            self.args: list = [scope.path]
            self.conditions = [f"{column} <@ $1::ltree"]
        elif len(operator_ids) == 1:
            # One operator (most sub-operators): an equality, so an index led by the operator's id can return its
            # rows in order. With `= ANY` Postgres 15 cannot, and a page of a rare filter ("suspended" where there
            # are none) walked every customer backwards by id: 0.8 s at 1,000,000 customers. ($1 stays the array.)
            self.args = [operator_ids]
            self.conditions = [f"{column} = ($1::bigint[])[1]"]
        else:
            self.args = [operator_ids]
            self.conditions = [f"{column} = ANY ($1::bigint[])"]

    def arg(self, value) -> str:
        self.args.append(value)
        return f"${len(self.args)}"

    def add(self, fragment: str) -> None:
        self.conditions.append(fragment)

    def customer(self, text: str) -> None:
        """Only the customers (the row `c`) the customer search finds for `text` (ID, exact mobile, a piece of
        name / username / mobile), for lists with an order of their own (tickets, bills, payments, a manual bill
        run): radbill_customer_found (sql/migrations/0061) is radbill_customer_search's matches, the customer
        list's one search (customer_search), as an array, so the ids drive an index scan. Wrapped in (SELECT ...)
        so it runs once per query, not once per row."""
        args = self._search_args(text)
        if args is not None:
            self.add(f"c.id = ANY ((SELECT radbill_customer_found({args}))::bigint[])")

    def customer_search(self, text: str) -> tuple[str, str] | None:
        """The customer search for what was typed: (`FROM` fragment with columns id and rank in the page's order,
        condition the page adds), or None when nothing was typed. radbill_customer_search (sql/migrations/0053)
        finds the matches (ID, exact mobile, a piece of name / username / mobile) and ranks them by
        radbill_customer_rank: the customer with that ID, then that exact username, then usernames starting
        with it, then the others; newest first within a rank. The page reads rows in that order and stops when it
        is full; a candidate found by a piece of the text is checked against the whole text as the page reads it."""
        args = self._search_args(text)
        if args is None:
            return None
        pattern_ref = args.split(",", 1)[0]
        source = f"(SELECT m.id, m.rank, m.sure FROM radbill_customer_search({args}) m ORDER BY m.rank, m.id DESC)"  # noqa: S608 - numbered parameters only
        return source, f"(m.sure OR (c.name || ' ' || c.username || ' ' || coalesce(c.mobile, '')) ILIKE {pattern_ref})"

    def _search_args(self, text: str) -> str | None:
        """The search functions' arguments for what was typed (the escaped pattern first), or None when nothing
        was.

        Why functions and not `... ILIKE pattern` here: under row-level security ILIKE (not LEAKPROOF) may only
        run after the policy, row by row over the whole scope, never through the trigram index; the functions
        find the ids in the caller's scope through the index, and the rows are still read under the policies."""
        text = (text or "").strip()
        if not text:
            return None
        typed_id, mobile, pattern = _typed(text)
        return (f"{self.arg(pattern)}, {self.arg(text)}, {self.arg(text.lower())}, {self.arg(typed_id)}::bigint,"
                f" {self.arg(mobile)}::text")

    @property
    def sql(self) -> str:
        return " AND ".join(self.conditions)
