"""The references migration 0064 checks per statement instead of per row (bills, ledger accounts, ledger entries)
hold exactly as the foreign keys they replace: a missing key is refused with the foreign key's own name, a referenced
row cannot be deleted, bills and ledger accounts are never deleted, and an insert and a delete naming the same row
at once wait for each other instead of leaving an orphan."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime

import asyncpg
import pytest

from radbill.errors import constraint_field
from tests import factories as f

HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaA"
MISSING = 2_000_000_000


async def world(conn) -> dict:
    w = await f.isp(conn)
    c = await f.customer(conn, w.operator["id"], w.package["id"], w.profile["id"])
    vat = await f.insert(conn, "vat_profiles", {"operator_id": w.operator["id"], "name": f"VAT {uuid.uuid4().hex[:6]}",
                                                "rate_basis_points": 500})
    staff = await f.insert(conn, "accounts", {"operator_id": w.operator["id"], "role": "manager",
                                              "username": f"m{uuid.uuid4().hex[:8]}", "password_hash": HASH})
    cash = await account(conn, "cash", w.operator["id"])
    revenue = await account(conn, "revenue", w.operator["id"])
    payment = await f.insert(conn, "payments", {"customer_id": c["id"], "operator_id": w.operator["id"],
                                                "amount_minor": 500, "currency": "BDT", "method": "cash"})
    return {"isp": w, "customer": c, "vat": vat, "staff": staff, "cash": cash, "revenue": revenue,
            "payment": payment}


async def account(conn, kind: str, operator_id: int):
    return await f.insert(conn, "ledger_accounts", {"kind": kind, "operator_id": operator_id, "currency": "BDT"})


async def bill(conn, w: dict, **values):
    row = {"customer_id": w["customer"]["id"], "operator_id": w["isp"].operator["id"],
           "package_id": w["isp"].package["id"], "vat_profile_id": w["vat"]["id"], "period_start": date(2026, 1, 1),
           "period_end": date(2026, 2, 1), "currency": "BDT", "amount_minor": 100, "total_minor": 100,
           "due_at": datetime(2026, 1, 8, tzinfo=UTC), "kind": "package_change", **values}
    return await f.insert(conn, "bills", row)


async def entries(conn, w: dict, **values):
    """One balanced transaction of two legs; `values` go on the first leg (the cash one, unless account_id)."""
    first = {"account_id": w["cash"]["id"], "bill_id": None, "payment_id": None, "created_by": None, **values}
    return await conn.execute(
        "INSERT INTO ledger_entries (txn_id, account_id, amount_minor, currency, kind, bill_id, payment_id, created_by)"
        " VALUES ($1, $2, 100, 'BDT', 'payment', $3, $4, $5), ($1, $6, -100, 'BDT', 'payment', NULL, NULL, NULL)",
        uuid.uuid4(), first["account_id"], first["bill_id"], first["payment_id"], first["created_by"],
        w["revenue"]["id"])


# (table, column, the foreign key it was, the referenced row of `world` that satisfies it)
REFERENCES = [
    ("bills", "customer_id", "bills_customer_id_fkey", lambda w: w["customer"]["id"]),
    ("bills", "operator_id", "bills_operator_id_fkey", lambda w: w["isp"].sub["id"]),
    ("bills", "package_id", "bills_package_id_fkey", lambda w: w["isp"].package["id"]),
    ("bills", "vat_profile_id", "bills_vat_profile_id_fkey", lambda w: w["vat"]["id"]),
    ("bills", "voided_by", "bills_voided_by_fkey", lambda w: w["staff"]["id"]),
    ("ledger_accounts", "operator_id", "ledger_accounts_operator_id_fkey", lambda w: w["isp"].sub["id"]),
    ("ledger_accounts", "customer_id", "ledger_accounts_customer_id_fkey", lambda w: w["customer"]["id"]),
    ("ledger_entries", "account_id", "ledger_entries_account_id_fkey", lambda w: w["cash"]["id"]),
    ("ledger_entries", "bill_id", "ledger_entries_bill_id_fkey", lambda w: None),  # a bill made in the test
    ("ledger_entries", "payment_id", "ledger_entries_payment_id_fkey", lambda w: w["payment"]["id"]),
    ("ledger_entries", "created_by", "ledger_entries_created_by_fkey", lambda w: w["staff"]["id"]),
]


async def write(conn, w: dict, table: str, column: str, value: int):
    if table == "bills":
        extra = {"voided_at": datetime.now(UTC), "status": "void", "void_reason": "wrong"} if column == "voided_by" else {}
        return await bill(conn, w, **{column: value}, **extra)
    if table == "ledger_accounts" and column == "customer_id":
        return await f.insert(conn, "ledger_accounts", {"kind": "customer_advance", "customer_id": value,
                                                        "operator_id": w["isp"].operator["id"], "currency": "BDT"})
    if table == "ledger_accounts":
        return await f.insert(conn, "ledger_accounts", {"kind": "wholesale", "operator_id": value, "currency": "BDT"})
    return await entries(conn, w, **{column: value})


@pytest.mark.parametrize(("table", "column", "constraint", "good"), REFERENCES, ids=[r[2] for r in REFERENCES])
async def test_a_missing_key_is_refused_with_the_foreign_keys_name_and_a_present_one_is_not(db, table, column,
                                                                                             constraint, good):
    w = await world(db)
    present = good(w) if column != "bill_id" else (await bill(db, w))["id"]
    await write(db, w, table, column, present)
    with pytest.raises(asyncpg.ForeignKeyViolationError) as refused:
        async with db.transaction():
            await write(db, w, table, column, MISSING)
    assert refused.value.constraint_name == constraint
    assert constraint_field(refused.value.constraint_name, refused.value.table_name) == column
    assert str(MISSING) in refused.value.detail


async def test_one_missing_key_among_many_rows_refuses_the_whole_statement(db):
    w = await world(db)
    before = await db.fetchval("SELECT count(*) FROM bills")
    with pytest.raises(asyncpg.ForeignKeyViolationError, match="bills_package_id_fkey"):
        async with db.transaction():
            await db.execute(
                "INSERT INTO bills (customer_id, operator_id, package_id, period_start, period_end, currency,"
                "                   amount_minor, total_minor, due_at, kind)"
                " SELECT $1, $2, CASE WHEN n = 37 THEN $4::bigint ELSE $3::bigint END, DATE '2026-01-01',"
                "        DATE '2026-02-01', 'BDT', 1, 1, now(), 'package_change' FROM generate_series(1, 100) n",
                w["customer"]["id"], w["isp"].operator["id"], w["isp"].package["id"], MISSING)
    assert await db.fetchval("SELECT count(*) FROM bills") == before


@pytest.mark.parametrize("column", ["customer_id", "operator_id", "package_id", "vat_profile_id", "voided_by"])
async def test_changing_a_bills_key_to_a_missing_row_is_refused(db, column):
    w = await world(db)
    b = await bill(db, w)
    await db.execute("UPDATE bills SET note = 'x', total_minor = total_minor WHERE id = $1", b["id"])  # no key: fine
    with pytest.raises(asyncpg.ForeignKeyViolationError, match=f"bills_{column}_fkey"):
        async with db.transaction():
            await db.execute(f"UPDATE bills SET {column} = $2 WHERE id = $1", b["id"], MISSING)  # noqa: S608


async def test_moving_a_ledger_account_to_a_missing_operator_is_refused(db):
    w = await world(db)
    with pytest.raises(asyncpg.ForeignKeyViolationError, match="ledger_accounts_operator_id_fkey"):
        await db.execute("UPDATE ledger_accounts SET operator_id = $2 WHERE id = $1", w["cash"]["id"], MISSING)


# (referenced table, how the test refers to a fresh row of it, the foreign key the refusal names)
async def _fresh_operator(conn, w):
    return (await f.operator(conn, "sub_operator", w["isp"].operator["id"]))["id"]


async def _fresh_customer(conn, w):
    return (await f.customer(conn, w["isp"].operator["id"], w["isp"].package["id"], w["isp"].profile["id"]))["id"]


async def _fresh_package(conn, w):
    return (await f.package(conn, w["isp"].operator["id"]))["id"]


async def _fresh_vat(conn, w):
    return (await f.insert(conn, "vat_profiles", {"operator_id": w["isp"].operator["id"],
                                                  "name": f"VAT {uuid.uuid4().hex[:6]}", "rate_basis_points": 0}))["id"]


async def _fresh_staff(conn, w):
    return (await f.insert(conn, "accounts", {"operator_id": w["isp"].operator["id"], "role": "manager",
                                              "username": f"m{uuid.uuid4().hex[:8]}", "password_hash": HASH}))["id"]


async def _fresh_payment(conn, w):
    return (await f.insert(conn, "payments", {"customer_id": w["customer"]["id"], "operator_id": w["isp"].operator["id"],
                                              "amount_minor": 1, "currency": "BDT", "method": "cash"}))["id"]


REFERENCED = [
    ("customers", _fresh_customer, "bills", "customer_id", "bills_customer_id_fkey"),
    ("customers", _fresh_customer, "ledger_accounts", "customer_id", "ledger_accounts_customer_id_fkey"),
    ("operators", _fresh_operator, "bills", "operator_id", "bills_operator_id_fkey"),
    ("operators", _fresh_operator, "ledger_accounts", "operator_id", "ledger_accounts_operator_id_fkey"),
    ("packages", _fresh_package, "bills", "package_id", "bills_package_id_fkey"),
    ("vat_profiles", _fresh_vat, "bills", "vat_profile_id", "bills_vat_profile_id_fkey"),
    ("accounts", _fresh_staff, "bills", "voided_by", "bills_voided_by_fkey"),
    ("accounts", _fresh_staff, "ledger_entries", "created_by", "ledger_entries_created_by_fkey"),
    ("payments", _fresh_payment, "ledger_entries", "payment_id", "ledger_entries_payment_id_fkey"),
]


@pytest.mark.parametrize(("target", "fresh", "table", "column", "constraint"), REFERENCED,
                         ids=[f"{r[0]}<-{r[4]}" for r in REFERENCED])
async def test_a_referenced_row_cannot_be_deleted_and_an_unreferenced_one_can(db, target, fresh, table, column,
                                                                              constraint):
    w = await world(db)
    loose, used = await fresh(db, w), await fresh(db, w)
    await write(db, w, table, column, used)
    assert await db.execute(f"DELETE FROM {target} WHERE id = $1", loose) == "DELETE 1"  # noqa: S608
    with pytest.raises(asyncpg.ForeignKeyViolationError) as refused:
        async with db.transaction():
            await db.execute(f"DELETE FROM {target} WHERE id = $1", used)  # noqa: S608
    assert refused.value.constraint_name == constraint
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        async with db.transaction():
            await db.execute(f"TRUNCATE {target} CASCADE")  # noqa: S608


@pytest.mark.parametrize("table", ["bills", "ledger_accounts"])
async def test_bills_and_ledger_accounts_are_permanent(db, table):
    w = await world(db)
    row = await bill(db, w) if table == "bills" else w["revenue"]
    for statement in (f"DELETE FROM {table} WHERE id = $1", f"UPDATE {table} SET id = DEFAULT WHERE id = $1"):  # noqa: S608
        with pytest.raises(asyncpg.RestrictViolationError, match="permanent"):
            async with db.transaction():
                await db.execute(statement, row["id"])
    assert await db.fetchval(f"SELECT count(*) FROM {table} WHERE id = $1", row["id"]) == 1  # noqa: S608


async def test_no_per_row_reference_trigger_is_left_on_the_bill_runs_tables(db):
    """What 0064 is for: the bill run's inserts fire no per-row foreign key trigger (bench/README.md, the bill run
    at 1,000,000 customers; python -m bench.bill_run_references)."""
    keys = await db.fetch(
        "SELECT conrelid::regclass::text AS tbl, a.attname FROM pg_constraint c"
        " JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)"
        " WHERE c.contype = 'f' AND c.conrelid IN ('bills'::regclass, 'ledger_entries'::regclass,"
        "                                          'ledger_accounts'::regclass) ORDER BY 1, 2")
    assert [(k["tbl"], k["attname"]) for k in keys] == []


# ---- an insert and a delete naming the same row at once ------------------------------------------------------

async def waiting_for_lock(watcher, pid: int) -> None:
    for _ in range(400):
        if await watcher.fetchval("SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1", pid):
            return
        await asyncio.sleep(0.025)
    raise AssertionError(f"backend {pid} never waited for a lock")


@pytest.mark.parametrize("first", ["insert", "delete", "insert rolled back"])
async def test_an_insert_and_a_delete_of_its_package_at_once_never_leave_an_orphan(fresh_db_url, first):
    inserter, deleter, watcher = [await asyncpg.connect(fresh_db_url) for _ in range(3)]
    try:
        w = await world(watcher)
        package = await _fresh_package(watcher, w)
        if first.startswith("insert"):
            tx = inserter.transaction()
            await tx.start()
            await bill(inserter, w, package_id=package)
            delete = asyncio.create_task(deleter.execute("DELETE FROM packages WHERE id = $1", package))
            await waiting_for_lock(watcher, deleter.get_server_pid())
            if first == "insert":
                await tx.commit()
                with pytest.raises(asyncpg.ForeignKeyViolationError, match="bills_package_id_fkey"):
                    await delete
            else:
                await tx.rollback()
                assert await delete == "DELETE 1"
        else:
            tx = deleter.transaction()
            await tx.start()
            assert await deleter.execute("DELETE FROM packages WHERE id = $1", package) == "DELETE 1"
            insert = asyncio.create_task(bill(inserter, w, package_id=package))
            await waiting_for_lock(watcher, inserter.get_server_pid())
            await tx.commit()
            with pytest.raises(asyncpg.ForeignKeyViolationError, match="bills_package_id_fkey"):
                await insert
        orphans = await watcher.fetchval("SELECT count(*) FROM bills b WHERE b.package_id IS NOT NULL"
                                         " AND NOT EXISTS (SELECT 1 FROM packages p WHERE p.id = b.package_id)")
        assert orphans == 0
        assert await watcher.fetchval("SELECT count(*) FROM packages WHERE id = $1", package) == (
            1 if first == "insert" else 0)
    finally:
        for conn in (inserter, deleter, watcher):
            await conn.close()
