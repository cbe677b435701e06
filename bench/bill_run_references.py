"""The scheduler's bill run with migration 0064's set-based reference checks against the per-row foreign keys they
replaced, on the same seeded data, interleaved.

    python -m bench.bill_run_references --customers 300000 --rounds 3

Seeds like `make bench-billing` once. Each round copies the seeded database twice (CREATE DATABASE ... TEMPLATE)
and runs `bill_run.generate_bills_in_batches` (the scheduled job: batches of 100,000 over two connections) in each
copy, one with the schema as migrated ("0064": statement-level reference checks, the outbox's wake-up per statement,
its destination trigger only where none is given, the two new indexes, no txn_id index) and one as before 0064
("main": the eleven foreign keys put back NOT VALID so that adding them reads nothing, the per-row outbox triggers,
the txn_id index, neither new index). The order alternates between rounds. With --next-period the copy also bills
the next month (accounts exist then, as in every month after the first). Prints each run and the medians.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from datetime import UTC, datetime

import asyncpg

from bench.billing import seed
from bench.db import throwaway_database
from radbill.db.pool import SYSTEM, create_pool
from radbill.services.bill_run import generate_bills_in_batches

KEYS = [  # (table, column, referenced table, constraint) as before 0064
    ("bills", "customer_id", "customers", "bills_customer_id_fkey"),
    ("ledger_accounts", "customer_id", "customers", "ledger_accounts_customer_id_fkey"),
    ("bills", "operator_id", "operators", "bills_operator_id_fkey"),
    ("bills", "package_id", "packages", "bills_package_id_fkey"),
    ("bills", "vat_profile_id", "vat_profiles", "bills_vat_profile_id_fkey"),
    ("bills", "voided_by", "accounts", "bills_voided_by_fkey"),
    ("ledger_accounts", "operator_id", "operators", "ledger_accounts_operator_id_fkey"),
    ("ledger_entries", "account_id", "ledger_accounts", "ledger_entries_account_id_fkey"),
    ("ledger_entries", "bill_id", "bills", "ledger_entries_bill_id_fkey"),
    ("ledger_entries", "payment_id", "payments", "ledger_entries_payment_id_fkey"),
    ("ledger_entries", "created_by", "accounts", "ledger_entries_created_by_fkey"),
]
CHECKS = [("bills", "bills_check_references"), ("bills", "bills_check_references_changed"),
          ("ledger_accounts", "ledger_accounts_check_references"),
          ("ledger_accounts", "ledger_accounts_check_references_changed"),
          ("ledger_entries", "ledger_entries_check_references"), ("outbox", "outbox_notify_inserted")]
INDEXES = ("CREATE INDEX IF NOT EXISTS bills_customer ON bills (customer_id, period_start, id);"
           " CREATE INDEX IF NOT EXISTS ledger_entries_bill ON ledger_entries (bill_id) WHERE bill_id IS NOT NULL")
ROW_NOTIFY = ("CREATE TRIGGER outbox_notify_rows AFTER INSERT ON outbox FOR EACH ROW WHEN (NEW.done_at IS NULL"
              " AND NEW.failed_at IS NULL AND NEW.next_attempt_at <= now()) EXECUTE FUNCTION notify_outbox()")


async def set_mode(url: str, mode: str) -> None:
    """'main': the schema as before 0064 (per-row foreign keys, outbox NOTIFY and destination per row, neither new
    index); '0064': as migrated. Idempotent, so rounds may repeat a mode."""
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            for table, _, _, name in KEYS:
                await conn.execute(f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {name}")
            await conn.execute("DROP TRIGGER IF EXISTS outbox_notify_rows ON outbox")
            await conn.execute("DROP TRIGGER outbox_destination ON outbox")
            for table, name in CHECKS:
                await conn.execute(f"ALTER TABLE {table} {'DISABLE' if mode == 'main' else 'ENABLE'} TRIGGER {name}")
            if mode == "main":
                for table, column, target, name in KEYS:
                    await conn.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} FOREIGN KEY ({column})"
                                       f" REFERENCES {target}(id) NOT VALID")
                await conn.execute(ROW_NOTIFY)
                await conn.execute("CREATE TRIGGER outbox_destination BEFORE INSERT ON outbox FOR EACH ROW"
                                   " EXECUTE FUNCTION outbox_set_destination()")
                await conn.execute("DROP INDEX IF EXISTS bills_customer; DROP INDEX IF EXISTS ledger_entries_bill;"
                                   " CREATE INDEX IF NOT EXISTS ledger_entries_txn ON ledger_entries (txn_id)")
            else:
                await conn.execute("CREATE TRIGGER outbox_destination BEFORE INSERT ON outbox FOR EACH ROW"
                                   " WHEN (NEW.destination IS NULL) EXECUTE FUNCTION outbox_set_destination()")
                await conn.execute(INDEXES + "; DROP INDEX IF EXISTS ledger_entries_txn")
    finally:
        await conn.close()


def _with_db(url: str, name: str) -> str:
    head, _, tail = url.rpartition("/")
    query = tail.partition("?")[2]
    return f"{head}/{name}" + (f"?{query}" if query else "")


async def one_run(url: str, template: str, copy: str, next_period: bool) -> tuple[float, float | None, int]:
    admin = await asyncpg.connect(_with_db(url, "postgres"))
    try:
        await admin.execute(f'CREATE DATABASE "{copy}" TEMPLATE "{template}"')
    finally:
        await admin.close()
    pool = await create_pool(_with_db(url, copy), max_size=3, default_scope=SYSTEM)
    try:
        started = time.perf_counter()
        bills = await generate_bills_in_batches(pool, datetime(2024, 4, 2, 6, 0, tzinfo=UTC))
        first = time.perf_counter() - started
        later = None
        if next_period:
            async with pool.acquire() as conn:
                await conn.execute("VACUUM ANALYZE")  # what autovacuum does between two monthly runs
            started = time.perf_counter()
            await generate_bills_in_batches(pool, datetime(2024, 5, 2, 6, 0, tzinfo=UTC))
            later = time.perf_counter() - started
        return first, later, bills
    finally:
        await pool.close()
        admin = await asyncpg.connect(_with_db(url, "postgres"))
        try:
            await admin.execute(f'DROP DATABASE "{copy}"')
        finally:
            await admin.close()


async def bench(url: str, customers: int, rounds: int, next_period: bool) -> None:
    template = url.rpartition("/")[2].partition("?")[0]
    conn = await asyncpg.connect(url)
    try:
        await seed(conn, customers)
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()
    times: dict[str, list] = {"main": [], "0064": []}
    for n in range(rounds):
        for mode in (("main", "0064") if n % 2 == 0 else ("0064", "main")):
            await set_mode(url, mode)
            load = open("/proc/loadavg").read().split()[:3]  # noqa: ASYNC230, SIM115 -- one line, before the run
            first, later, bills = await one_run(url, template, f"copy_{mode}_{n}", next_period)
            times[mode].append((first, later))
            print(f"round {n + 1} {mode:>4}: first run {first:7.1f} s ({bills} bills)"
                  + (f", next period {later:7.1f} s" if later is not None else "") + f"  load {' '.join(load)}",
                  flush=True)
    for mode, runs in times.items():
        line = f"median {mode:>4}: first run {statistics.median(r[0] for r in runs):7.1f} s"
        if next_period:
            line += f", next period {statistics.median(r[1] for r in runs):7.1f} s"
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=300_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--next-period", action="store_true")
    args = parser.parse_args()
    with throwaway_database() as url:
        asyncio.run(bench(url, args.customers, args.rounds, args.next_period))


if __name__ == "__main__":
    main()
