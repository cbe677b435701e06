"""The scheduled bill run in batches over two connections (radbill.services.bill_run) writes what one
`generate_bills` writes, and a batch that fails loses nothing and bills nobody twice.

The book is test_bill_run_equal's (operators and resellers, every cycle kind, VAT, proration, package changes,
advance wallets, a reseller that cannot cover its wholesale debit). Batches commit on their own connections, so the
database is a fresh one, and ids are assigned in whatever order the batches ran: rows are compared by what they
are (a bill by its customer and period, an account by its kind and owner, a ledger transaction by its lines).
"""

from __future__ import annotations

import json
import re

import asyncpg
import pytest

from radbill.db.pool import SYSTEM, create_pool
from radbill.services import bill_run, billing
from tests.billing import test_bill_run_equal as equal
from tests.support.db import app_url

RUNS = (equal.T1, equal.T2, equal.T2)
NOW_COLUMNS = {"id", "created_at", "next_attempt_at", "updated_at"}  # ids, and now() of whichever transaction


@pytest.fixture
async def seeded(fresh_db_url):
    conn = await asyncpg.connect(fresh_db_url)
    await equal.seed(conn)
    yield conn
    await conn.close()


@pytest.fixture
async def pool(fresh_db_url):
    pool = await create_pool(app_url(fresh_db_url), max_size=3, default_scope=SYSTEM)
    yield pool
    await pool.close()


def _plain(row, keys: dict[str, dict]) -> str:
    """The row without its id and now() columns, references to bills and accounts as their keys."""
    out = {}
    for column, value in row.items():
        if column in NOW_COLUMNS:
            continue
        if column in keys and value is not None:
            value = keys[column][value]
        out[column] = value
    return repr(sorted(out.items()))


async def book(conn) -> dict[str, list]:
    bills = await conn.fetch("SELECT * FROM bills")
    bill_keys = {b["id"]: (b["customer_id"], str(b["period_start"]), b["kind"]) for b in bills}
    account_keys = {a["id"]: (a["kind"], a["operator_id"], a["customer_id"], a["currency"])
                    for a in await conn.fetch("SELECT * FROM ledger_accounts")}
    keys = {"bill_id": bill_keys, "account_id": account_keys}
    txns: dict = {}
    for e in await conn.fetch("SELECT * FROM ledger_entries"):
        txns.setdefault(e["txn_id"], []).append(_plain({k: v for k, v in e.items() if k != "txn_id"}, keys))
    outbox = []
    for m in await conn.fetch("SELECT * FROM outbox"):
        m = dict(m)
        payload = json.loads(m["payload"])
        if payload.get("bill_id") is not None:
            payload["bill_id"] = bill_keys[payload["bill_id"]]
        m["payload"] = sorted(payload.items())
        m["dedupe_key"] = re.sub(r"(?<=^sms:bill_generated:)\d+$", lambda d: repr(bill_keys.get(int(d.group()), d.group())), m["dedupe_key"] or "")
        outbox.append(_plain(m, {}))
    return {"bills": sorted(_plain(b, {}) for b in bills),
            "ledger_accounts": sorted(map(repr, account_keys.values())),
            "ledger_transactions": sorted(repr(sorted(lines)) for lines in txns.values()),
            "outbox": sorted(outbox),
            **{t: sorted(_plain(r, {}) for r in await conn.fetch(f"SELECT * FROM {t}"))  # noqa: S608
               for t in ("audit_log", "customers", "operators")},
            # counters are deltas, one row per statement and operator: what they add up to must agree
            "counters": [tuple(r) for r in await conn.fetch(
                "SELECT 'bills', operator_id, NULL, sum(n), sum(due_minor) FROM dashboard_bill_counts GROUP BY 2"
                " UNION ALL SELECT status, operator_id, expires_hour, sum(n), NULL FROM dashboard_customer_counts"
                " GROUP BY 1, 2, 3 HAVING sum(n) <> 0 ORDER BY 1, 2, 3")]}


async def one_run_book(conn) -> tuple[list[int], dict]:
    """What one connection's generate_bills writes for RUNS, rolled back."""
    tx = conn.transaction()
    await tx.start()
    try:
        return [await billing.generate_bills(conn, at) for at in RUNS], await book(conn)
    finally:
        await tx.rollback()


async def test_batches_over_two_connections_write_what_one_run_writes(seeded, pool):
    counts, expected = await one_run_book(seeded)
    batched = [await bill_run.generate_bills_in_batches(pool, at, workers=2, batch=17) for at in RUNS]
    got = await book(seeded)
    assert counts[0] > 150 and counts[1] > 100 and len(expected["ledger_transactions"]) > 300
    assert batched == counts
    assert {t: [r for r in got[t] if r not in expected[t]] for t in got} == {t: [] for t in got}  # readable diff
    assert got == expected


REFUSE_ONE = """
CREATE FUNCTION refuse_customer() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.customer_id = {victim} THEN RAISE EXCEPTION 'refused for the test'; END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER refuse_customer BEFORE INSERT ON bills FOR EACH ROW EXECUTE FUNCTION refuse_customer();
"""


async def test_a_failed_batch_rolls_back_alone_and_the_next_run_bills_it_once(seeded, pool):
    counts, expected = await one_run_book(seeded)
    failing = bill_run.batches(await seeded.fetch(bill_run._BILLABLE_SQL, None, None), 17)[3]
    due = {r["customer_id"] for r in await billing.preview_bills(seeded, equal.T1)}
    await seeded.execute(REFUSE_ONE.format(victim=int(next(c for c in failing if c in due))))
    with pytest.raises(asyncpg.RaiseError, match="refused for the test"):
        await bill_run.generate_bills_in_batches(pool, equal.T1, workers=2, batch=17)
    billed = {r["customer_id"] for r in await seeded.fetch("SELECT DISTINCT customer_id FROM bills")}
    assert billed and not billed & set(failing)  # the failed batch wrote nothing, every other batch committed
    assert await seeded.fetchval("SELECT count(*) FROM bills b WHERE b.total_minor > 0 AND NOT EXISTS"
                                 " (SELECT 1 FROM ledger_entries e WHERE e.bill_id = b.id)") == 0
    before = await seeded.fetchval("SELECT count(*) FROM bills")
    await seeded.execute("DROP TRIGGER refuse_customer ON bills")
    assert before + await bill_run.generate_bills_in_batches(pool, equal.T1, batch=17) == counts[0]
    assert await bill_run.generate_bills_in_batches(pool, equal.T1, batch=17) == 0
    assert [await bill_run.generate_bills_in_batches(pool, at, batch=17) for at in RUNS[1:]] == counts[1:]
    assert await book(seeded) == expected
