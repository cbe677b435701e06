"""Migration 0066: bills issued before it get the wholesale paying them takes (or took), fixed from then on."""

from datetime import UTC, date, datetime

import asyncpg
import pytest

from radbill.db.migrate import MIGRATIONS_DIR, migrate
from tests import factories as f


@pytest.fixture
def empty_db_url(pg_server):
    pg_server.create_database("radbill_migrate_0066", template="template0")
    yield pg_server.url("radbill_migrate_0066")
    pg_server.drop_database("radbill_migrate_0066")


async def bill(conn, customer, **values):
    return await f.insert(conn, "bills", {
        "customer_id": customer["id"], "operator_id": customer["operator_id"], "package_id": customer["package_id"],
        "period_start": date(2026, 1, 1), "period_end": date(2026, 2, 1), "currency": "BDT", "amount_minor": 50000,
        "vat_minor": 0, "total_minor": 50000, "due_at": datetime(2026, 1, 1, tzinfo=UTC), **values})


async def test_0066_fixes_each_bills_wholesale_from_the_assigned_price_and_keeps_change_charges(tmp_path, empty_db_url):
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        if path.name < "0066":
            (tmp_path / path.name).write_text(path.read_text())
    conn = await asyncpg.connect(empty_db_url)
    try:
        await migrate(conn, tmp_path)
        root = await f.operator(conn)
        op = await f.operator(conn, "operator", root["id"])
        sub = await f.operator(conn, "sub_operator", op["id"])
        pkg = await f.package(conn, op["id"])
        await f.insert(conn, "package_assignments", {"operator_id": sub["id"], "package_id": pkg["id"],
                                                     "wholesale_price_minor": 35000})
        profile = await f.billing_profile(conn, op["id"])
        theirs = await f.customer(conn, sub["id"], pkg["id"], profile["id"])
        own = await f.customer(conn, op["id"], pkg["id"], profile["id"])
        whole = await bill(conn, theirs)
        part = await bill(conn, theirs, period_start=date(2026, 1, 16), cycle_days=31,
                          status="paid", paid_minor=50000, total_minor=50000)
        charge = await bill(conn, theirs, period_start=date(2026, 1, 10), kind="package_change", wholesale_minor=700)
        direct = await bill(conn, own)
        assert "0066_period_bill_wholesale" in await migrate(conn)
        figures = dict(await conn.fetch("SELECT id, wholesale_minor FROM bills"))
        # a whole period its price; 16 of January's 31 days, half-up (18,064.5); a charge keeps its own; 0 for an
        # operator's own customer
        assert [figures[b["id"]] for b in (whole, part, charge, direct)] == [35000, 18065, 700, 0]
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute("UPDATE bills SET wholesale_minor = -1 WHERE id = $1", whole["id"])
    finally:
        await conn.close()
