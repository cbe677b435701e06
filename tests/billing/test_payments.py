"""Cash and advance payments: one transaction each, idempotent, scoped, with reseller debits and side effects."""

import json
from datetime import UTC, date, datetime, timedelta

import pytest

from radbill.errors import NotFound, ValidationError
from radbill.services import billing, ledger, payments
from radbill.services.ledger import BALANCE_INSUFFICIENT, BalanceInsufficient, customer_balance
from tests import factories as f
from tests.billing.helpers import customer, isp, scope_of

NOW = datetime(2024, 3, 10, 6, 0, tzinfo=UTC)


async def billed(db, w, **values):
    c = await customer(db, w, billing_anchor=date(2024, 1, 1), **values)
    await billing.generate_bills(db, NOW, w.system, [c["id"]])
    bill = await db.fetchrow("SELECT * FROM bills WHERE customer_id = $1", c["id"])
    return c, bill


async def test_full_cash_payment_pays_extends_reactivates_and_queues(db):
    w = await isp(db, credit_limit_minor=100000)
    c, bill = await billed(db, w, expires_at=NOW + timedelta(days=3))
    await db.execute("UPDATE customers SET status = 'suspended', status_reason = 'unpaid' WHERE id = $1", c["id"])
    account = await f.insert(db, "accounts", {"operator_id": w.sub["id"], "role": "sub_operator", "username": "cashier1",
                                              "password_hash": "$argon2id$x"})
    scope = scope_of(w.sub, "sub_operator")
    out = await payments.record_cash_payment(db, scope, c["id"], 50000, bill["id"], idempotency_key="k1",
                                             collected_by=account["id"], note="at the office", now=NOW)
    assert out.bills_paid == (bill["id"],) and out.reactivated and out.wholesale_minor == 35000
    row = await db.fetchrow("SELECT * FROM customers WHERE id = $1", c["id"])
    assert (row["status"], row["status_reason"]) == ("active", "payment received")  # via activate_customer
    assert row["expires_at"] == NOW + timedelta(days=3 + 31)  # March's 31 days, from the expiry (past its start)
    bill = await db.fetchrow("SELECT * FROM bills WHERE id = $1", bill["id"])
    assert (bill["status"], bill["paid_minor"], bill["paid_at"]) == ("paid", 50000, NOW)
    assert await db.fetchval("SELECT balance_minor FROM operators WHERE id = $1", w.sub["id"]) == -35000
    sms = await db.fetchrow("SELECT * FROM outbox WHERE kind = 'sms' AND operator_id = $1"
                            " AND payload->>'event' = 'payment_received'", w.sub["id"])
    payload = json.loads(sms["payload"])
    assert (payload["event"], payload["customer_id"], payload["amount_minor"]) == ("payment_received", c["id"], 50000)
    audit = await db.fetchrow("SELECT * FROM audit_log WHERE object_kind = 'payment' AND object_id = $1",
                              out.payment["id"])
    assert (audit["action"], audit["operator_id"]) == ("payment.cash", w.sub["id"])
    assert out.payment["collected_by"] == account["id"] and out.payment["note"] == "at the office"


async def test_partial_payment_keeps_the_customer_suspended_and_the_expiry(db):
    w = await isp(db, credit_limit_minor=100000)
    c, bill = await billed(db, w, status="active")
    await db.execute("UPDATE customers SET status = 'suspended' WHERE id = $1", c["id"])
    out = await payments.record_cash_payment(db, w.system, c["id"], 20000, idempotency_key="p", now=NOW)
    assert out.bills_paid == () and not out.reactivated and out.wholesale_minor == 0
    row = await db.fetchrow("SELECT status, expires_at FROM customers WHERE id = $1", c["id"])
    assert (row["status"], row["expires_at"]) == ("suspended", None)
    assert (await db.fetchrow("SELECT status, paid_minor FROM bills WHERE id = $1", bill["id"]))["status"] == "partial"


async def test_overpayment_becomes_advance_credit(db):
    w = await isp(db, credit_limit_minor=100000)
    c, bill = await billed(db, w)
    out = await payments.record_cash_payment(db, w.system, c["id"], 80000, now=NOW)
    assert (out.applied_minor, out.advance_minor) == (50000, 30000)
    balance = await customer_balance(db, w.system, c["id"])
    assert (balance.due_minor, balance.advance_minor, balance.net_minor) == (0, 30000, -30000)
    running = await ledger.customer_ledger(db, w.system, c["id"])
    assert running[-1]["balance_minor"] == -30000


async def test_the_same_idempotency_key_returns_the_first_payment(db):
    w = await isp(db, credit_limit_minor=100000)
    c, _ = await billed(db, w)
    first = await payments.record_cash_payment(db, w.system, c["id"], 50000, idempotency_key="form-1", now=NOW)
    again = await payments.record_cash_payment(db, w.system, c["id"], 50000, idempotency_key="form-1", now=NOW)
    assert again.duplicate and again.payment["id"] == first.payment["id"]
    assert await db.fetchval("SELECT count(*) FROM payments WHERE customer_id = $1", c["id"]) == 1
    assert (await customer_balance(db, w.system, c["id"])).advance_minor == 0
    other, _ = await billed(db, w)
    with pytest.raises(ValidationError):
        await payments.record_cash_payment(db, w.system, other["id"], 50000, idempotency_key="form-1", now=NOW)


async def test_a_reseller_without_balance_rolls_the_whole_payment_back(db):
    w = await isp(db, credit_limit_minor=10000)
    c, bill = await billed(db, w)
    with pytest.raises(BalanceInsufficient) as exc:
        await payments.record_cash_payment(db, w.system, c["id"], 50000, idempotency_key="x", now=NOW)
    assert str(exc.value) == BALANCE_INSUFFICIENT == "balance insufficient, contact your parent operator"
    assert isinstance(exc.value, ValidationError)
    assert await db.fetchval("SELECT count(*) FROM payments WHERE customer_id = $1", c["id"]) == 0
    assert await db.fetchval("SELECT count(*) FROM outbox WHERE payload->>'customer_id' = $1", str(c["id"])) == 0
    assert (await db.fetchrow("SELECT status FROM bills WHERE id = $1", bill["id"]))["status"] == "unpaid"
    assert await db.fetchval("SELECT balance_minor FROM operators WHERE id = $1", w.sub["id"]) == 0


async def test_a_customer_outside_the_scope_is_not_found(db):
    w = await isp(db)
    other = await isp(db)
    c, bill = await billed(db, other)
    for call in (payments.record_cash_payment(db, scope_of(w.operator), c["id"], 100, idempotency_key="a"),
                 payments.add_advance_payment(db, scope_of(w.sub, "sub_operator"), c["id"], 100),
                 customer_balance(db, scope_of(w.operator), c["id"])):
        with pytest.raises(NotFound):
            await call
    mine, _ = await billed(db, w)
    with pytest.raises(NotFound):  # someone else's bill id
        await payments.record_cash_payment(db, w.system, mine["id"], 100, bill["id"])


@pytest.mark.parametrize("amount", [0, -5])
async def test_amounts_must_be_positive(db, amount):
    w = await isp(db)
    c, _ = await billed(db, w)
    with pytest.raises(ValidationError):
        await payments.record_cash_payment(db, w.system, c["id"], amount)


async def test_advance_payment_credits_the_wallet_idempotently(db):
    w = await isp(db)
    c = await customer(db, w)
    first = await payments.add_advance_payment(db, w.system, c["id"], 12345, idempotency_key="adv")
    again = await payments.add_advance_payment(db, w.system, c["id"], 12345, idempotency_key="adv")
    assert again.duplicate and again.payment["id"] == first.payment["id"] and first.payment["method"] == "advance"
    assert (await customer_balance(db, w.system, c["id"])).advance_minor == 12345


async def test_payment_without_bill_pays_open_bills_oldest_first(db):
    w = await isp(db, credit_limit_minor=10**6)
    c, march = await billed(db, w)
    await billing.generate_bills(db, datetime(2024, 4, 2, tzinfo=UTC), w.system, [c["id"]])
    out = await payments.record_cash_payment(db, w.system, c["id"], 70000, now=NOW)
    statuses = [(r["period_start"], r["status"], r["paid_minor"])
                for r in await db.fetch("SELECT * FROM bills WHERE customer_id = $1 ORDER BY period_start", c["id"])]
    assert statuses == [(date(2024, 3, 1), "paid", 50000), (date(2024, 4, 1), "partial", 20000)]
    assert out.bills_paid == (march["id"],) and out.payment["bill_id"] is None


async def test_top_up_credit_limit_and_statement(db):
    w = await isp(db)
    scope = scope_of(w.operator)
    assert await ledger.top_up_reseller(db, scope, w.sub["id"], 100000, "April float") == 100000
    await ledger.set_credit_limit(db, scope, w.sub["id"], 20000)
    c, _ = await billed(db, w)
    await payments.record_cash_payment(db, scope, c["id"], 50000, now=NOW)
    statement = await ledger.reseller_statement(db, scope_of(w.sub, "sub_operator"), w.sub["id"])
    assert [(r["kind"], r["amount_minor"], r["balance_minor"]) for r in statement] == [
        ("reseller_top_up", 100000, 100000), ("wholesale_debit", -35000, 65000)]
    with pytest.raises(NotFound):  # a sub-operator cannot top itself up
        await ledger.top_up_reseller(db, scope_of(w.sub, "sub_operator"), w.sub["id"], 100)
    with pytest.raises(NotFound):
        await ledger.top_up_reseller(db, scope_of((await isp(db)).operator), w.sub["id"], 100)
    await db.execute("UPDATE operators SET balance_minor = -15000 WHERE id = $1", w.sub["id"])
    with pytest.raises(ValidationError):
        await ledger.set_credit_limit(db, scope, w.sub["id"], 10000)
