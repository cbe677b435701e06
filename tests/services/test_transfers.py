"""radbill.services.transfers: a reported mobile-wallet transfer is confirmed into exactly one payment (through the
cash path), a TrxID is claimed once per wallet, and only staff who can read the wallet's statement decide."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

import asyncpg
import pytest

from radbill.errors import NotFound, PermissionDenied, ValidationError
from radbill.services import billing, transfers, wallets
from radbill.tenancy import Scope
from tests import factories as f
from tests.billing.helpers import customer, isp

NOW = datetime(2024, 3, 10, 6, 0, tzinfo=UTC)


def staff(op, account, role=None, permissions=()) -> Scope:
    return Scope(account_id=account["id"], operator_id=op["id"], path=str(op["path"]), role=role or op["kind"],
                 permissions=frozenset(permissions))


async def login(db, op, role=None):
    return await f.insert(db, "accounts", {"operator_id": op["id"], "role": role or op["kind"],
                                           "username": f"staff{await db.fetchval('SELECT count(*) FROM accounts')}"
                                                       f"-{op['id']}", "password_hash": "$argon2id$x"})


async def setup(db):
    """ISP tree; a suspended customer of the sub-operator with a 500.00 bill; the operator's bKash wallet."""
    w = await isp(db, credit_limit_minor=100000)
    w.op_login = await login(db, w.operator)
    w.sub_login = await login(db, w.sub)
    w.op = staff(w.operator, w.op_login)
    w.c = await customer(db, w, billing_anchor=date(2024, 1, 1), mobile="+8801711111111")
    await billing.generate_bills(db, NOW - timedelta(days=9), w.system, [w.c["id"]])
    await db.execute("UPDATE bills SET due_at = $2 WHERE customer_id = $1", w.c["id"], NOW - timedelta(days=5))
    await db.execute("UPDATE customers SET status = 'suspended', status_reason = 'unpaid' WHERE id = $1", w.c["id"])
    w.wallet_id = await wallets.create_wallet(db, w.op, {"kind": "bkash", "number": "01811-000000",
                                                          "label": "Office bKash", "enabled": "on"})
    return w


def claim(w, **over) -> dict:
    return {"wallet_id": str(w.wallet_id), "sender_number": "01711111111", "amount": "500", "trxid": "8n7a6d5ee7",
            **over}


async def test_submit_then_confirm_pays_the_bill_reactivates_and_is_one_payment(db):
    w = await setup(db)
    sub = staff(w.sub, w.sub_login)
    t = await transfers.submit(db, sub, w.c["id"], claim(w))
    assert (t["status"], t["trxid"], t["amount_minor"], t["sender_number"]) == ("unverified", "8N7A6D5EE7", 50000,
                                                                                "+8801711111111")
    assert t["submitted_by"] == w.sub_login["id"] and t["origin"] == "staff"
    first = await transfers.confirm(db, w.op, t["id"])
    again = await transfers.confirm(db, w.op, t["id"])
    assert first.payment_id and again.duplicate and again.payment_id == first.payment_id and first.reactivated
    rows = await db.fetch("SELECT * FROM payments WHERE customer_id = $1", w.c["id"])
    assert len(rows) == 1
    assert (rows[0]["method"], rows[0]["txn_id"], rows[0]["amount_minor"]) == ("mobile_wallet", "8N7A6D5EE7", 50000)
    assert "8N7A6D5EE7" in rows[0]["note"] and rows[0]["collected_by"] == w.op_login["id"]
    assert await db.fetchval("SELECT status FROM customers WHERE id = $1", w.c["id"]) == "active"
    assert await db.fetchval("SELECT status FROM bills WHERE customer_id = $1", w.c["id"]) == "paid"
    decided = await transfers.get_transfer(db, w.op, t["id"])
    assert (decided["status"], decided["payment_id"], decided["decided_by"]) == ("confirmed", rows[0]["id"],
                                                                                 w.op_login["id"])
    # the ledger balances and the audit trail names both steps
    assert await db.fetchval("SELECT sum(amount_minor) FROM ledger_entries WHERE payment_id = $1", rows[0]["id"]) == 0
    actions = await db.fetch("SELECT action FROM audit_log WHERE action LIKE 'transfer.%' ORDER BY id")
    assert [a["action"] for a in actions] == ["transfer.submit", "transfer.confirm"]


async def test_same_trxid_twice_for_one_wallet_is_refused_in_any_case(db):
    w = await setup(db)
    await transfers.submit(db, w.op, w.c["id"], claim(w))
    with pytest.raises(ValidationError) as exc:
        await transfers.submit(db, w.op, w.c["id"], claim(w, trxid="8N7A-6D5E-E7", amount="100"))
    assert "already reported" in str(exc.value) and "trxid" in exc.value.fields
    assert await db.fetchval("SELECT count(*) FROM wallet_transfers") == 1
    # another wallet may see the same id (each provider numbers its own transactions)
    other = await wallets.create_wallet(db, w.op, {"kind": "nagad", "number": "01811000000", "enabled": "on"})
    assert (await transfers.submit(db, w.op, w.c["id"], claim(w, wallet_id=str(other))))["status"] == "unverified"


@pytest.mark.parametrize(("field", "value"), [
    ("sender_number", "12345"), ("sender_number", "+447700900123"), ("trxid", "abc"), ("trxid", "8N7A6D5EE7';--"),
    ("amount", "0"), ("amount", "-5"), ("amount", "1e3"), ("wallet_id", "999999999"), ("wallet_id", "x"),
])
async def test_bad_claims_name_the_field_and_store_nothing(db, field, value):
    w = await setup(db)
    with pytest.raises(ValidationError) as exc:
        await transfers.submit(db, w.op, w.c["id"], claim(w, **{field: value}))
    assert field in exc.value.fields
    assert await db.fetchval("SELECT count(*) FROM wallet_transfers") == 0


async def test_a_sub_operator_confirms_only_into_its_own_wallet_and_managers_need_the_permission(db):
    w = await setup(db)
    t = await transfers.submit(db, w.op, w.c["id"], claim(w))
    sub = staff(w.sub, w.sub_login)
    with pytest.raises(PermissionDenied) as exc:
        await transfers.confirm(db, sub, t["id"])
    assert "parent operator" in str(exc.value)
    manager = await login(db, w.operator, "manager")
    with pytest.raises(PermissionDenied):
        await transfers.reject(db, staff(w.operator, manager, "manager"), t["id"], "not seen")
    assert await db.fetchval("SELECT count(*) FROM payments") == 0
    assert (await transfers.get_transfer(db, w.op, t["id"]))["status"] == "unverified"
    # a sub-operator with a wallet of its own holds that statement: it may confirm what was sent there
    own = await wallets.create_wallet(db, sub, {"kind": "rocket", "number": "01911000000", "enabled": "on"})
    mine = await transfers.submit(db, sub, w.c["id"], claim(w, wallet_id=str(own), trxid="R0CKET123"))
    assert (await transfers.confirm(db, sub, mine["id"])).payment_id
    allowed = staff(w.operator, manager, "manager", ["payments.manage"])
    assert (await transfers.reject(db, allowed, t["id"], "not on the statement"))["status"] == "rejected"


async def test_reject_needs_a_reason_and_a_rejected_transfer_cannot_be_confirmed(db):
    w = await setup(db)
    t = await transfers.submit(db, w.op, w.c["id"], claim(w))
    with pytest.raises(ValidationError):
        await transfers.reject(db, w.op, t["id"], "  ")
    rejected = await transfers.reject(db, w.op, t["id"], "not on the statement")
    assert (rejected["status"], rejected["reason"]) == ("rejected", "not on the statement")
    with pytest.raises(ValidationError):
        await transfers.confirm(db, w.op, t["id"])
    assert await db.fetchval("SELECT count(*) FROM payments") == 0


async def test_foreign_transfer_and_customer_are_not_found(db):
    w = await setup(db)
    t = await transfers.submit(db, w.op, w.c["id"], claim(w))
    other = await f.operator(db, "operator", w.root["id"])
    foreign = staff(other, await login(db, other))
    for call in (transfers.get_transfer(db, foreign, t["id"]), transfers.confirm(db, foreign, t["id"]),
                 transfers.reject(db, foreign, t["id"], "x"),
                 transfers.submit(db, foreign, w.c["id"], claim(w))):
        with pytest.raises(NotFound):
            await call
    with pytest.raises(NotFound):
        await wallets.get_wallet(db, foreign, w.wallet_id)


async def test_a_customer_origin_claim_names_no_staff(db):
    w = await setup(db)
    t = await transfers.submit(db, w.system, w.c["id"], claim(w), origin="customer")
    assert (t["origin"], t["submitted_by"]) == ("customer", None)


async def test_two_simultaneous_confirms_record_one_payment(fresh_db_url):
    conn = await asyncpg.connect(fresh_db_url)
    try:
        w = await setup(conn)
        t = await transfers.submit(conn, w.op, w.c["id"], claim(w))
    finally:
        await conn.close()
    conns = [await asyncpg.connect(fresh_db_url) for _ in range(4)]
    try:
        results = await asyncio.gather(*(transfers.confirm(c, w.op, t["id"]) for c in conns))
        assert len({r.payment_id for r in results}) == 1 and sum(not r.duplicate for r in results) == 1
        assert await conns[0].fetchval("SELECT count(*) FROM payments WHERE customer_id = $1", w.c["id"]) == 1
    finally:
        for c in conns:
            await c.close()
