"""Rules the database itself enforces: hierarchy paths, append-only ledger, money guards, policy NOTIFY."""

import asyncio
import uuid
from datetime import UTC, date, datetime

import asyncpg
import pytest

from tests import factories as f


async def test_operator_paths_follow_the_hierarchy(db):
    isp = await f.isp(db)
    assert str(isp.root["path"]) == f"{isp.root['id']}"
    assert str(isp.sub["path"]) == f"{isp.root['id']}.{isp.operator['id']}.{isp.sub['id']}"


async def test_a_supplied_path_is_ignored(db):
    root = await f.operator(db, "group_admin", path="99.98")
    assert root["path"] == str(root["id"])
    await db.execute("UPDATE operators SET path = '1.2.3' WHERE id = $1", root["id"])
    assert await db.fetchval("SELECT path::text FROM operators WHERE id = $1", root["id"]) == str(root["id"])


async def test_moving_an_operator_moves_its_subtree(db):
    isp = await f.isp(db)
    other_root = await f.operator(db, "group_admin")
    await db.execute("UPDATE operators SET parent_id = $1 WHERE id = $2", other_root["id"], isp.operator["id"])
    paths = dict(await db.fetch("SELECT id, path::text FROM operators WHERE id = ANY($1)",
                                [isp.operator["id"], isp.sub["id"]]))
    assert paths[isp.operator["id"]] == f"{other_root['id']}.{isp.operator['id']}"
    assert paths[isp.sub["id"]] == f"{other_root['id']}.{isp.operator['id']}.{isp.sub['id']}"


@pytest.mark.parametrize(
    ("kind", "parent"),
    [("operator", None), ("sub_operator", "root"), ("operator", "operator"), ("sub_operator", "sub"),
     ("group_admin", "root")],
)
async def test_hierarchy_kinds_are_enforced(db, kind, parent):
    isp = await f.isp(db)
    parent_id = {"root": isp.root, "operator": isp.operator, "sub": isp.sub}[parent]["id"] if parent else None
    with pytest.raises(asyncpg.CheckViolationError):
        await f.operator(db, kind, parent_id)


async def test_operator_kind_cannot_change(db):
    isp = await f.isp(db)
    with pytest.raises(asyncpg.CheckViolationError, match="kind cannot change"):
        await db.execute("UPDATE operators SET kind = 'sub_operator' WHERE id = $1", isp.operator["id"])


async def test_account_role_must_match_operator_kind(db):
    isp = await f.isp(db)
    good_hash = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaA"
    await f.insert(db, "accounts", {"operator_id": isp.operator["id"], "role": "manager", "username": "mgr1",
                                    "password_hash": good_hash})
    with pytest.raises(asyncpg.CheckViolationError, match="sub_operator login cannot belong to a operator"):
        async with db.transaction():  # a savepoint, so the test goes on
            await f.insert(db, "accounts", {"operator_id": isp.operator["id"], "role": "sub_operator",
                                            "username": "bad1", "password_hash": good_hash})
    with pytest.raises(asyncpg.CheckViolationError):
        async with db.transaction():  # a savepoint, so the test goes on
            await f.insert(db, "accounts", {"operator_id": isp.sub["id"], "role": "manager", "username": "bad2",
                                            "password_hash": good_hash})
    with pytest.raises(asyncpg.CheckViolationError):  # only argon2id hashes are stored
        await f.insert(db, "accounts", {"operator_id": isp.operator["id"], "role": "operator",
                                        "username": "bad3", "password_hash": "plaintext"})


async def _ledger_pair(db, isp, amount=500):
    cash = await f.insert(db, "ledger_accounts", {"kind": "cash", "operator_id": isp.operator["id"], "currency": "BDT"})
    revenue = await f.insert(db, "ledger_accounts", {"kind": "revenue", "operator_id": isp.operator["id"],
                                                     "currency": "BDT"})
    txn = uuid.uuid4()
    await db.execute(  # one transaction, one statement: that is how radbill writes the ledger
        "INSERT INTO ledger_entries (txn_id, account_id, amount_minor, currency, kind)"
        " VALUES ($1, $2, $4, 'BDT', 'test'), ($1, $3, -$4, 'BDT', 'test')", txn, cash["id"], revenue["id"], amount)
    return txn, cash, revenue


@pytest.mark.parametrize("statement", [
    "UPDATE ledger_entries SET amount_minor = 1",
    "DELETE FROM ledger_entries",
    "TRUNCATE ledger_entries CASCADE",
])
async def test_ledger_is_append_only_for_the_app_role(db, statement):
    isp = await f.isp(db)
    await _ledger_pair(db, isp)
    assert await db.fetchval("SELECT current_user") == "radbill"
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
        await db.execute(statement)


async def test_audit_log_is_append_only(db):
    await db.execute("INSERT INTO audit_log (action, object_kind) VALUES ('test', 'thing')")
    for statement in ("UPDATE audit_log SET action = 'changed'", "DELETE FROM audit_log"):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            async with db.transaction():
                await db.execute(statement)


async def test_an_unbalanced_ledger_statement_is_refused(db):
    isp = await f.isp(db)
    txn, cash, revenue = await _ledger_pair(db, isp)
    for rows in ([(uuid.uuid4(), cash["id"], 700)],  # one leg only
                 [(txn, cash["id"], 5)]):  # adding to a balanced transaction unbalances it
        with pytest.raises(asyncpg.CheckViolationError, match="does not balance"):
            async with db.transaction():
                await db.executemany(
                    "INSERT INTO ledger_entries (txn_id, account_id, amount_minor, currency, kind)"
                    " VALUES ($1, $2, $3, 'BDT', 'x')", rows)
    assert await db.fetchval("SELECT count(*) FROM ledger_entries") == 2


async def test_credit_limit_guard_is_one_statement(db):
    isp = await f.isp(db)
    await db.execute("UPDATE operators SET credit_limit_minor = 1000 WHERE id = $1", isp.sub["id"])
    debit = "UPDATE operators SET balance_minor = balance_minor - $2 WHERE id = $1 RETURNING balance_minor"
    assert await db.fetchval(debit, isp.sub["id"], 800) == -800
    with pytest.raises(asyncpg.CheckViolationError, match="operators_credit_limit"):
        await db.fetchval(debit, isp.sub["id"], 300)


async def test_one_bill_per_customer_and_period(db):
    isp = await f.isp(db)
    c = await f.customer(db, isp.sub["id"], isp.package["id"], isp.profile["id"])
    bill = {"customer_id": c["id"], "operator_id": isp.sub["id"], "period_start": date(2026, 1, 1),
            "period_end": date(2026, 2, 1), "currency": "BDT", "amount_minor": 50000,
            "total_minor": 50000, "due_at": datetime(2026, 1, 8, tzinfo=UTC)}
    await f.insert(db, "bills", bill)
    inserted = await db.fetchval(
        "INSERT INTO bills (customer_id, operator_id, period_start, period_end, currency, amount_minor, total_minor,"
        " due_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING RETURNING id", *bill.values())
    assert inserted is None


async def test_payment_txn_id_is_unique_per_method(db):
    isp = await f.isp(db)
    c = await f.customer(db, isp.sub["id"], isp.package["id"], isp.profile["id"])
    payment = {"customer_id": c["id"], "operator_id": isp.sub["id"], "amount_minor": 100, "currency": "BDT",
               "method": "gateway", "txn_id": "TXN-1"}
    await f.insert(db, "payments", payment)
    with pytest.raises(asyncpg.UniqueViolationError):
        async with db.transaction():  # a savepoint, so the test goes on
            await f.insert(db, "payments", payment)
    await f.insert(db, "payments", {**payment, "method": "bank"})


@pytest.mark.parametrize(("column", "value"), [
    ("mobile", "01712345678"), ("username", "bad user"), ("username", "x'; DROP"),
    ("connection_type", "dialup"), ("status", "paused"),
])
async def test_customer_constraints(db, column, value):
    isp = await f.isp(db)
    with pytest.raises(asyncpg.CheckViolationError):
        await f.customer(db, isp.sub["id"], isp.package["id"], isp.profile["id"], **{column: value})


async def test_static_customers_need_a_unique_address(db):
    isp = await f.isp(db)
    args = (isp.sub["id"], isp.package["id"], isp.profile["id"])
    with pytest.raises(asyncpg.CheckViolationError):
        async with db.transaction():  # a savepoint, so the test goes on
            await f.customer(db, *args, connection_type="static")
    await f.customer(db, *args, connection_type="static", static_ip="10.9.0.5")
    with pytest.raises(asyncpg.UniqueViolationError):
        async with db.transaction():  # a savepoint, so the test goes on
            await f.customer(db, *args, connection_type="static", static_ip="10.9.0.5")


# ---- NOTIFY radbill_policy: these commit, so each uses a database of its own -------------------------

async def _listen(url):
    conn = await asyncpg.connect(url)
    queue: asyncio.Queue[str] = asyncio.Queue()
    await conn.add_listener("radbill_policy", lambda *args: queue.put_nowait(args[3]))
    return conn, queue


async def _drain(queue, wait=2.0) -> set[str]:
    got = set()
    try:
        while True:
            got.add(await asyncio.wait_for(queue.get(), wait))
            wait = 0.2
    except TimeoutError:
        return got


async def test_policy_notify_fires_with_the_username(fresh_db_url):
    writer = await asyncpg.connect(fresh_db_url)
    listener, queue = await _listen(fresh_db_url)
    try:
        isp = await f.isp(writer)
        alice = await f.customer(writer, isp.sub["id"], isp.package["id"], isp.profile["id"], username="alice")
        await f.customer(writer, isp.sub["id"], isp.package["id"], isp.profile["id"], username="bob")
        assert await _drain(queue) == {"alice", "bob"}

        await writer.execute("UPDATE customers SET status = 'suspended' WHERE id = $1", alice["id"])
        assert await _drain(queue) == {"alice"}

        other = await f.package(writer, isp.operator["id"])
        await writer.execute("UPDATE customers SET package_id = $1 WHERE id = $2", other["id"], alice["id"])
        assert await _drain(queue) == {"alice"}

        await writer.execute("UPDATE customers SET name = 'Alice B.' WHERE id = $1", alice["id"])
        assert await _drain(queue, wait=0.5) == set()  # not policy: no notification

        await writer.execute("UPDATE packages SET download_kbps = 20480 WHERE id = $1", isp.package["id"])
        assert await _drain(queue) == {"bob"}

        await writer.execute("UPDATE operators SET suspended_pool = 'walled' WHERE id = $1", isp.operator["id"])
        assert await _drain(queue) == {"alice", "bob"}

        await writer.execute("UPDATE customers SET username = 'alice2' WHERE id = $1", alice["id"])
        assert await _drain(queue) == {"alice", "alice2"}
    finally:
        await listener.close()
        await writer.close()


async def test_policy_notify_is_not_sent_for_a_rolled_back_change(fresh_db_url):
    writer = await asyncpg.connect(fresh_db_url)
    listener, queue = await _listen(fresh_db_url)
    try:
        isp = await f.isp(writer)
        await f.customer(writer, isp.sub["id"], isp.package["id"], isp.profile["id"], username="carol")
        await _drain(queue)
        tx = writer.transaction()
        await tx.start()
        await writer.execute("UPDATE customers SET status = 'disabled' WHERE username = 'carol'")
        await tx.rollback()
        assert await _drain(queue, wait=0.5) == set()
    finally:
        await listener.close()
        await writer.close()
