"""Where the bill run's time goes: each statement of generate_bills under EXPLAIN (ANALYZE, BUFFERS), rolled back.

    python -m bench.billing_explain --customers 300000

Seeds like `make bench-billing`, then runs the run's statements one by one in a single transaction that is rolled
back, printing each statement's execution time and its "Trigger ...: time=... calls=..." lines (FK checks, counter
triggers, the outbox's per-row triggers), so the per-row constraint work shows separately from the query itself.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import time
from datetime import UTC, datetime

import asyncpg

from bench.billing import seed
from bench.db import throwaway_database
from radbill.services import billing, sms_events, webhooks


async def explain(conn: asyncpg.Connection, label: str, sql: str, *args) -> float:
    started = time.perf_counter()
    plan = [r[0] for r in await conn.fetch("EXPLAIN (ANALYZE, BUFFERS) " + sql, *args)]
    seconds = time.perf_counter() - started
    print(f"{label:>22}: {seconds:7.2f} s")
    for line in plan:
        if line.startswith(("Trigger", "Execution Time", "Planning Time")) or re.match(r"^\S", line):
            print(f"{'':>24}{line.strip()}")
    return seconds


async def run(url: str, customers: int) -> None:
    conn = await asyncpg.connect(url)
    try:
        await seed(conn, customers)
        now = datetime(2024, 4, 2, 6, 0, tzinfo=UTC)
        tx = conn.transaction()
        await tx.start()
        try:
            total = 0.0
            plan = await billing._plan(conn, now, None, None)
            total += await explain(conn, "bills INSERT", billing._INSERT_SQL, *plan, now)
            ids = [r[0] for r in await conn.fetch("SELECT id FROM bills ORDER BY id")]
            print(f"{'bills':>22}: {len(ids)}")
            total += await explain(conn, "ledger accounts", billing._ACCOUNTS_SQL, ids)
            total += await explain(conn, "ledger entries", billing._BILL_ENTRIES_SQL, ids)
            started = time.perf_counter()
            await billing.apply_advance(conn, ids, now)
            total += time.perf_counter() - started
            print(f"{'advance':>22}: {time.perf_counter() - started:7.2f} s")
            total += await explain(conn, "bill SMS", sms_events.QUEUE_BILLS, ids)
            total += await explain(conn, "webhooks", webhooks.EMIT_BILLS, ids)
            print(f"{'total':>22}: {total:7.2f} s")
        finally:
            await tx.rollback()
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=300_000)
    args = parser.parse_args()
    with throwaway_database("radbill-bench-billing-explain-") as url:
        asyncio.run(run(url, args.customers))


if __name__ == "__main__":
    main()
