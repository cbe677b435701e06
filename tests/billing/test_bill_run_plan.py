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


async def test_every_batch_is_planned_for_its_own_customers_whatever_the_connections_plan_cache_mode(db):
    # A connection left at plan_cache_mode=auto switches a prepared statement to a generic plan after five runs; for
    # the candidates INSERT that plan cannot see which of `$2 IS NULL OR c.id = ANY($2)` holds, so it scans and
    # filters every customer: batches 6-10 of a one-connection run took 57-71 s instead of 3.2 s each at 300,000
    # customers (bench/bill_run_probe.py). The run plans each batch for its own ids whatever the caller's setting.
    await db.execute("SET plan_cache_mode = auto")
    await equal.seed(db)
    ids = [r["id"] for r in await db.fetch("SELECT id FROM customers ORDER BY id")]
    for i in range(8):
        await billing.generate_bills(db, equal.T1, customer_ids=ids[i::8])
    plan = await db.fetchrow("SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement = $1",
                             billing._INSERT_SQL)
    assert (plan["generic_plans"], plan["custom_plans"]) == (0, 8)
