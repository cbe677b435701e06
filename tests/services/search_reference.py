"""The customer search as it was before migration 0053 (the page ranked every match, then kept 50): the reference
tests/services/test_search_equal.py holds the search to, row for row and in order, and bench/customers.py times
as the baseline in the same run. Its SQL (radbill_customer_matches, 0021) is still in the schema."""

from __future__ import annotations

from datetime import datetime

from radbill import clock
from radbill.policy.state import DISPLAY_STATES, display_state_sql, state_condition
from radbill.services.customer_records import CONNECTION_TYPES, ONLINE_SQL, PAGE_SIZE
from radbill.services.filters import ScopedWhere, subtree_operator_ids

SEARCH_SQL = """
    WITH page AS MATERIALIZED (
        SELECT c.id, {rank} AS rank FROM customers c
         WHERE {where} ORDER BY 2, c.id DESC LIMIT {limit} OFFSET {offset})
    SELECT page.rank, c.id, c.username, c.name, c.mobile, c.status, {state} AS state, c.connection_type, c.expires_at,
           p.name AS package, z.name AS zone, o.name AS operator_name, {online} AS online
      FROM page JOIN customers c ON c.id = page.id JOIN operators o ON o.id = c.operator_id
      JOIN packages p ON p.id = c.package_id LEFT JOIN zones z ON z.id = c.zone_id
     ORDER BY page.rank, c.id DESC
"""


def _rank(where: ScopedWhere, text: str) -> str:
    text = (text or "").strip()
    if not text:
        return "0"
    exact_id = "false"
    if text.isascii() and text.isdecimal() and len(text) <= 9:
        exact_id = f"c.id = {where.arg(int(text))}"
    typed = where.arg(text.lower())
    return (f"CASE WHEN {exact_id} THEN 0 WHEN lower(c.username) = {typed} THEN 1"
            f" WHEN starts_with(lower(c.username), {typed}) THEN 2 ELSE 3 END")


async def search_reference(conn, scope, query: str = "", status: str | None = None,
                           connection_type: str | None = None, package_id: int | None = None,
                           billing_profile_id: int | None = None, zone_id: int | None = None, page: int = 1,
                           online: bool = False, now: datetime | None = None, limit: int = PAGE_SIZE,
                           after: tuple[int, int] | None = None):
    where = ScopedWhere(scope, "c.operator_id", await subtree_operator_ids(conn, scope))
    arg = where.arg
    where.customer(query)
    rank = _rank(where, query)
    if after is not None:
        where.add(f"({rank}, -c.id) > ({arg(int(after[0]))}::int, -{arg(int(after[1]))}::bigint)")
    now_ref = arg(now or clock.now())
    if status in DISPLAY_STATES:
        where.add(state_condition(status, now_ref))
    if online:
        where.add(ONLINE_SQL)
    if connection_type in CONNECTION_TYPES:
        where.add(f"c.connection_type = {arg(connection_type)}")
    for column, value in (("package_id", package_id), ("billing_profile_id", billing_profile_id),
                          ("zone_id", zone_id)):
        if value is not None:
            where.add(f"c.{column} = {arg(value)}")
    offset = (max(page, 1) - 1) * limit if after is None else 0
    rows = await conn.fetch(SEARCH_SQL.format(state=display_state_sql(now_ref), online=ONLINE_SQL, where=where.sql,
                                              rank=rank, limit=int(limit) + 1, offset=int(offset)), *where.args)
    return list(rows[:limit]), len(rows) > limit
