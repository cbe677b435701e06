"""The bill run's candidates statement reads the customers once (hash joins to the periods, not a loop per period
row), and its planner hint ends with the statement."""

from __future__ import annotations

import json

from radbill.services import billing
from tests.billing import test_bill_run_equal as equal


def _scans(node: dict, relation: str) -> list[dict]:
    found = [node] if node.get("Relation Name") == relation else []
    for child in node.get("Plans", []):
        found += _scans(child, relation)
    return found


async def test_the_candidates_read_each_customer_once_and_the_hint_ends_with_the_statement(db):
    await equal.seed(db)
    plan = await billing._plan(db, equal.T1, None, None)
    explained = await billing._candidates(db, "EXPLAIN (ANALYZE, FORMAT JSON) " + billing._CANDIDATES_SQL, *plan)
    root = json.loads(explained[0][0])[0]["Plan"]
    scans = _scans(root, "customers")
    assert scans and all(s["Actual Loops"] == 1 for s in scans), [(s["Node Type"], s["Actual Loops"]) for s in scans]
    assert await db.fetchval("SELECT current_setting('enable_nestloop')") == "on"
    assert await billing.generate_bills(db, equal.T1) > 150
    assert await db.fetchval("SELECT current_setting('enable_nestloop')") == "on"
    assert await db.fetchval("SELECT current_setting('jit')") == "off"  # for the rest of the caller's transaction
