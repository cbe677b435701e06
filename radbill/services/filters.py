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
        """Customer ID, exact mobile, or a piece of name / username / mobile."""
        text = (text or "").strip()
        if not text:
            return
        alternatives = []
        if text.isascii() and text.isdecimal() and len(text) <= 9:
            alternatives.append(f"c.id = {self.arg(int(text))}")
        try:
            alternatives.append(f"c.mobile = {self.arg(validate.mobile(text))}")
        except ValueError:
            pass
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        # Not `... ILIKE pattern` here: under row-level security ILIKE (not LEAKPROOF) may only run after the
        # policy, row by row over the whole scope, never through the trigram index. radbill_customer_matches
        # (sql/migrations/0021) finds the ids in the caller's scope through the index; the rows themselves are
        # still read under the policies. Wrapped in (SELECT ...) so it runs once per query, not once per row.
        alternatives.append(f"c.id = ANY ((SELECT radbill_customer_matches({self.arg(pattern)}))::bigint[])")
        self.add("(" + " OR ".join(alternatives) + ")")

    def customer_rank(self, text: str) -> str:
        """The ORDER BY key that puts what was typed first: the customer with that ID, then that exact username,
        then usernames starting with it, then the other matches ("0" when nothing was typed; newest first
        follows). Evaluated only on the rows the WHERE kept, so these non-LEAKPROOF functions cost no index."""
        text = (text or "").strip()
        if not text:
            return "0"
        exact_id = "false"
        if text.isascii() and text.isdecimal() and len(text) <= 9:
            exact_id = f"c.id = {self.arg(int(text))}"
        typed = self.arg(text.lower())
        return (f"CASE WHEN {exact_id} THEN 0 WHEN lower(c.username) = {typed} THEN 1"
                f" WHEN starts_with(lower(c.username), {typed}) THEN 2 ELSE 3 END")

    @property
    def sql(self) -> str:
        return " AND ".join(self.conditions)
