"""Voiding bills and reversing payments: reversing ledger entries, service taken back, reseller refunded, scoped."""

import asyncio
import json
from datetime import UTC, date, datetime, timedelta

import asyncpg
import pytest

from radbill.billing.corrections import HeldBill, plan_take_back, take_back_expiry
from radbill.errors import NotFound, ValidationError
from radbill.services import billing, corrections, payments
from radbill.services.customers import customer_timeline
from radbill.services.ledger import customer_balance
from radbill.timeline import sentences
from tests.billing.helpers import customer, isp, local, scope_of

NOW = datetime(2024, 3, 10, 6, 0, tzinfo=UTC)
APRIL = local(date(2024, 4, 1))


async def billed(db, w, **values):
    """A sub-operator's customer with March billed (500.00, due 1 Mar)."""
    c = await customer(db, w, billing_anchor=date(2024, 1, 1), **values)
    await billing.generate_bills(db, NOW, w.system, [c["id"]])
    return c, await db.fetchrow("SELECT * FROM bills WHERE customer_id = $1", c["id"])


async def balanced(db):
    return await db.fetchval("SELECT count(*) FROM (SELECT txn_id FROM ledger_entries GROUP BY txn_id"
                             " HAVING sum(amount_minor) <> 0) x") == 0


async def row(db, table, id_):
    return await db.fetchrow(f"SELECT * FROM {table} WHERE id = $1", id_)  # noqa: S608 -- fixed table names


# ---- pure rules ------------------------------------------------------------------------------------------

def test_take_back_order_own_advance_then_its_bills_then_wallet_then_other_bills():
    bills = [HeldBill(3, 500, 0), HeldBill(2, 500, 500), HeldBill(1, 300, 0)]
    assert plan_take_back(100, bills, wallet_minor=200, own_advance_minor=100).from_bills == ()
    plan = plan_take_back(700, bills, wallet_minor=300, own_advance_minor=100)
    assert (plan.from_wallet, plan.from_bills) == (200, ((2, 500),))
    plan = plan_take_back(1200, bills, wallet_minor=300, own_advance_minor=100)
    assert (plan.from_wallet, plan.from_bills) == (300, ((3, 400), (2, 500)))
    with pytest.raises(ValueError):
        plan_take_back(2000, bills, 300)


def test_expiry_moves_back_by_the_period_but_never_before_now_nor_forward():
    now = datetime(2024, 3, 10, tzinfo=UTC)
    assert take_back_expiry(now + timedelta(days=40), [timedelta(days=31)], now) == now + timedelta(days=9)
    assert take_back_expiry(now + timedelta(days=20), [timedelta(days=31)], now) == now  # used days stay used
    assert take_back_expiry(now - timedelta(days=5), [timedelta(days=31)], now) == now - timedelta(days=5)
    assert take_back_expiry(None, [timedelta(days=31)], now) is None  # postpaid without an expiry


# ---- reversing a payment ---------------------------------------------------------------------------------

async def test_reversing_a_payment_that_paid_a_period_takes_it_back_suspends_and_refunds_the_reseller(db):
    w = await isp(db, credit_limit_minor=100000)
    c, bill = await billed(db, w)
    paid = await payments.record_cash_payment(db, w.system, c["id"], 50000, idempotency_key="p1", now=NOW)
    assert await db.fetchval("SELECT expires_at FROM customers WHERE id = $1", c["id"]) == APRIL
    scope = scope_of(w.operator)
    out = await corrections.reverse_payment(db, scope, paid.payment["id"], 50000, "cheque bounced",
                                            idempotency_key="r1", now=NOW)
    assert out.unpaid_bills == (bill["id"],) and out.wholesale_returned_minor == 35000
    assert out.effects.status == ("active", "suspended") and out.effects.expires_at == (APRIL, NOW)
    assert out.effects.reseller_balance_minor == (-35000, 0) and out.effects.due_minor == (0, 50000)
    b = await row(db, "bills", bill["id"])
    assert (b["status"], b["paid_minor"], b["paid_at"]) == ("unpaid", 0, None)
    cust = await row(db, "customers", c["id"])
    assert (cust["status"], cust["expires_at"]) == ("suspended", NOW)
    assert "cheque bounced" in cust["status_reason"]
    assert (await row(db, "payments", paid.payment["id"]))["reversed_minor"] == 50000
    assert await balanced(db)
    kinds = [r["kind"] for r in await db.fetch("SELECT DISTINCT kind FROM ledger_entries WHERE payment_id = $1",
                                               paid.payment["id"])]
    assert sorted(kinds) == ["payment", "payment_reversal", "wholesale_debit", "wholesale_return"]
    audit = await db.fetchrow("SELECT * FROM audit_log WHERE action = 'payment.reverse' AND object_id = $1", c["id"])
    assert json.loads(audit["detail"])["reason"] == "cheque bounced"
    said = [e["sentence"] for e in sentences(await customer_timeline(db, scope, c["id"]), "Asia/Dhaka")]
    assert f"BDT 500.00 of payment #{paid.payment['id']} reversed by radbill (automatic): cheque bounced." \
        f" Unpaid again: bill #{bill['id']}." in said


async def test_a_mistyped_overpayment_is_corrected_from_its_advance_without_touching_the_period(db):
    w = await isp(db, credit_limit_minor=100000)
    c, bill = await billed(db, w)
    paid = await payments.record_cash_payment(db, w.system, c["id"], 60000, idempotency_key="p1", now=NOW)
    out = await corrections.reverse_payment(db, w.system, paid.payment["id"], 10000, "typed 600 for 500", now=NOW)
    assert (out.from_wallet_minor, out.reopened, out.unpaid_bills) == (10000, (), ())
    assert out.effects.advance_minor == (10000, 0) and out.effects.status == ("active", "active")
    assert (await row(db, "bills", bill["id"]))["status"] == "paid"
    assert await db.fetchval("SELECT expires_at FROM customers WHERE id = $1", c["id"]) == APRIL
    assert await balanced(db)


async def test_a_reversal_cannot_exceed_what_is_left_and_a_double_submit_reverses_once(db):
    w = await isp(db, credit_limit_minor=100000)
    c, _ = await billed(db, w)
    p = (await payments.record_cash_payment(db, w.system, c["id"], 50000, idempotency_key="p1", now=NOW)).payment
    await corrections.reverse_payment(db, w.system, p["id"], 20000, "refund part", idempotency_key="r1", now=NOW)
    again = await corrections.reverse_payment(db, w.system, p["id"], 20000, "refund part", idempotency_key="r1",
                                              now=NOW)
    assert again.duplicate and again.amount_minor == 20000
    assert (await row(db, "payments", p["id"]))["reversed_minor"] == 20000
    with pytest.raises(ValidationError, match="At most BDT 300.00"):
        await corrections.reverse_payment(db, w.system, p["id"], 30001, "too much", now=NOW)
    await corrections.reverse_payment(db, w.system, p["id"], 30000, "the rest", now=NOW)
    assert (await row(db, "payments", p["id"]))["reversed_minor"] == 50000
    assert (await customer_balance(db, w.system, c["id"])).due_minor == 50000


async def test_reason_is_required_preview_changes_nothing_and_foreign_ids_are_not_found(db):
    w = await isp(db, credit_limit_minor=100000)
    c, bill = await billed(db, w)
    p = (await payments.record_cash_payment(db, w.system, c["id"], 50000, idempotency_key="p1", now=NOW)).payment
    with pytest.raises(ValidationError, match="Say why"):
        await corrections.reverse_payment(db, w.system, p["id"], 50000, "  ", now=NOW)
    entries = await db.fetchval("SELECT count(*) FROM ledger_entries")
    preview = await corrections.reverse_payment(db, w.system, p["id"], 50000, "bounced", now=NOW, preview=True)
    assert preview.unpaid_bills == (bill["id"],) and preview.effects.status == ("active", "suspended")
    assert await db.fetchval("SELECT count(*) FROM ledger_entries") == entries
    assert (await row(db, "customers", c["id"]))["status"] == "active"
    assert await db.fetchval("SELECT count(*) FROM payment_reversals") == 0
    other = await isp(db)
    with pytest.raises(NotFound):
        await corrections.reverse_payment(db, scope_of(other.operator), p["id"], 100, "x", now=NOW)
    with pytest.raises(NotFound):
        await corrections.void_bill(db, scope_of(other.operator), bill["id"], "x", now=NOW)


# ---- voiding a bill --------------------------------------------------------------------------------------

async def test_voiding_an_unpaid_bill_reverses_its_entries_and_reactivates(db):
    w = await isp(db)
    c, bill = await billed(db, w)
    await db.execute("UPDATE customers SET status = 'suspended', status_reason = 'unpaid' WHERE id = $1", c["id"])
    out = await corrections.void_bill(db, scope_of(w.operator), bill["id"], "billed by mistake", now=NOW)
    assert out.effects.due_minor == (50000, 0) and out.effects.status == ("suspended", "active")
    b = await row(db, "bills", bill["id"])
    assert (b["status"], b["void_reason"], b["voided_at"]) == ("void", "billed by mistake", NOW)
    assert await db.fetchval("SELECT coalesce(sum(amount_minor), 0) FROM ledger_entries WHERE bill_id = $1",
                             bill["id"]) == 0  # every account the bill touched is back where it was
    assert await db.fetchval("SELECT count(*) FROM ledger_entries WHERE bill_id = $1", bill["id"]) > 0  # appended
    again = await corrections.void_bill(db, w.system, bill["id"], "again", now=NOW)
    assert again.duplicate


async def test_voiding_a_part_paid_bill_moves_its_money_to_advance_and_a_paid_bill_is_refused(db):
    w = await isp(db, credit_limit_minor=100000)
    c, bill = await billed(db, w)
    await payments.record_cash_payment(db, w.system, c["id"], 20000, idempotency_key="p1", now=NOW)
    out = await corrections.void_bill(db, w.system, bill["id"], "wrong package", now=NOW)
    assert out.moved_to_advance_minor == 20000 and out.effects.advance_minor == (0, 20000)
    assert (await customer_balance(db, w.system, c["id"])).due_minor == 0
    assert await balanced(db)
    c2, bill2 = await billed(db, w)
    await payments.record_cash_payment(db, w.system, c2["id"], 50000, idempotency_key="p2", now=NOW)
    with pytest.raises(ValidationError, match="Reverse its payment first"):
        await corrections.void_bill(db, w.system, bill2["id"], "oops", now=NOW)
    assert (await row(db, "bills", bill2["id"]))["status"] == "paid"


# ---- races (separate connections, committed) --------------------------------------------------------------

async def test_concurrent_reversals_never_take_back_more_than_the_payment(fresh_db_url):
    setup = await asyncpg.connect(fresh_db_url)
    try:
        w = await isp(setup, credit_limit_minor=100000)
        c, _ = await billed(setup, w)
        p = (await payments.record_cash_payment(setup, w.system, c["id"], 50000, idempotency_key="p", now=NOW)).payment
    finally:
        await setup.close()
    conns = await asyncio.gather(*(asyncpg.connect(fresh_db_url) for _ in range(6)))
    try:  # three forms sent twice each (same key twice), each for the whole payment
        results = await asyncio.gather(
            *(corrections.reverse_payment(conn, w.system, p["id"], 50000, "bounced", idempotency_key=f"k{i // 2}",
                                          now=NOW) for i, conn in enumerate(conns)), return_exceptions=True)
        done = [r for r in results if isinstance(r, corrections.ReversalOutcome) and not r.duplicate]
        refused = [r for r in results if isinstance(r, ValidationError)]
        assert len(done) == 1 and len(done) + len(refused) + sum(
            1 for r in results if isinstance(r, corrections.ReversalOutcome) and r.duplicate) == 6, results
        db = conns[0]
        assert await db.fetchval("SELECT reversed_minor FROM payments WHERE id = $1", p["id"]) == 50000
        assert await db.fetchval("SELECT count(*) FROM payment_reversals") == 1
        assert await balanced(db)
    finally:
        await asyncio.gather(*(conn.close() for conn in conns))
