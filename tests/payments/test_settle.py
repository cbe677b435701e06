"""Settlement: only a verified, matching capture is credited, once; every outcome is logged with why."""

from datetime import timedelta

import pytest

from radbill.errors import NotFound, ValidationError
from radbill.payments.gateway import FAILED, PAID, PENDING, UNKNOWN, Verification
from radbill.payments.settle import create_intent, gateways_for, mask_username, settle
from tests import factories as f
from tests.payments.helpers import NOW, add_gateway, unbalanced_ledger_txns, world


def paid(intent, **changes) -> Verification:
    values = {"status": PAID, "gateway_txn_id": "TRX1", "amount_minor": intent["amount_minor"],
              "currency": "BDT", "reference": intent["reference"], **changes}
    return Verification(**values)


async def events(db, intent_id):
    return await db.fetch("SELECT source, outcome, reason FROM payment_events WHERE intent_id = $1 ORDER BY id",
                          intent_id)


async def test_a_verified_capture_pays_the_bill_reactivates_and_moves_reseller_money(db):
    w = await world(db)
    intent = await create_intent(db, w.system, w.customer["id"], w.bill["id"], None, w.gateway["id"], now=NOW)
    assert intent["amount_minor"] == 50000 and intent["status"] == "created"
    result = await settle(db, intent["id"], paid(intent), "callback", now=NOW)
    assert result.outcome == "credited" and result.payment_id
    pay = await db.fetchrow("SELECT * FROM payments WHERE id = $1", result.payment_id)
    assert (pay["method"], pay["gateway_id"], pay["txn_id"], pay["collected_by"], pay["amount_minor"]) == (
        "gateway", w.gateway["id"], "TRX1", None, 50000)
    assert await db.fetchval("SELECT status FROM bills WHERE id = $1", w.bill["id"]) == "paid"
    assert await db.fetchval("SELECT status FROM customers WHERE id = $1", w.customer["id"]) == "active"
    row = await db.fetchrow("SELECT * FROM payment_intents WHERE id = $1", intent["id"])
    assert (row["status"], row["payment_id"], row["gateway_txn_id"]) == ("paid", pay["id"], "TRX1")
    # the sub-operator: credited what its customer paid into the operator's merchant account, debited wholesale
    assert await db.fetchval("SELECT balance_minor FROM operators WHERE id = $1", w.sub["id"]) == 50000 - 35000
    assert not await unbalanced_ledger_txns(db)
    kinds = await db.fetch("SELECT e.kind, a.kind AS account, a.operator_id, e.amount_minor FROM ledger_entries e"
                           " JOIN ledger_accounts a ON a.id = e.account_id WHERE e.payment_id = $1 ORDER BY e.id",
                           pay["id"])
    lines = {(k["kind"], k["account"], k["operator_id"], k["amount_minor"]) for k in kinds}
    assert ("gateway_reseller_credit", "gateway_clearing", w.operator["id"], 50000) in lines
    assert ("gateway_reseller_credit", "operator_balance", w.sub["id"], -50000) in lines
    assert ("payment", "gateway_clearing", w.sub["id"], 50000) in lines
    assert ("wholesale_debit", "operator_balance", w.sub["id"], 35000) in lines
    assert await db.fetchval("SELECT action FROM audit_log WHERE object_kind = 'payment' AND object_id = $1",
                             pay["id"]) == "payment.online"
    assert [tuple(e) for e in await events(db, intent["id"])] == [
        ("start", "started", "intent created"), ("callback", "credited", "")]


async def test_the_operators_own_customer_posts_to_its_clearing_with_no_reseller_credit(db):
    w = await world(db, owner="operator")
    intent = await create_intent(db, w.system, w.customer["id"], w.bill["id"], None, w.gateway["id"], now=NOW)
    result = await settle(db, intent["id"], paid(intent), "callback", now=NOW)
    accounts = await db.fetch("SELECT DISTINCT e.kind, a.kind AS account, a.operator_id FROM ledger_entries e"
                              " JOIN ledger_accounts a ON a.id = e.account_id WHERE e.payment_id = $1",
                              result.payment_id)
    assert {(a["kind"], a["account"]) for a in accounts} == {
        ("payment", "gateway_clearing"), ("payment", "customer_receivable")}
    assert not await unbalanced_ledger_txns(db)


async def test_the_same_capture_twice_is_one_payment(db):
    w = await world(db)
    intent = await create_intent(db, w.system, w.customer["id"], w.bill["id"], None, w.gateway["id"], now=NOW)
    first = await settle(db, intent["id"], paid(intent), "callback", now=NOW)
    again = await settle(db, intent["id"], paid(intent), "ipn", now=NOW)
    assert (again.outcome, again.payment_id) == ("duplicate", first.payment_id)
    assert await db.fetchval("SELECT count(*) FROM payments WHERE customer_id = $1", w.customer["id"]) == 1


@pytest.mark.parametrize(("changes", "why"), [
    ({"amount_minor": 49900}, "amount mismatch"),
    ({"currency": "USD"}, "currency mismatch"),
    ({"reference": "someone-elses-reference"}, "reference mismatch"),
    ({"gateway_txn_id": None}, "no transaction id"),
])
async def test_a_mismatched_capture_credits_nothing_and_says_why(db, changes, why):
    w = await world(db)
    intent = await create_intent(db, w.system, w.customer["id"], w.bill["id"], None, w.gateway["id"], now=NOW)
    result = await settle(db, intent["id"], paid(intent, **changes), "callback", now=NOW)
    assert result.outcome == "rejected" and why in result.reason
    assert await db.fetchval("SELECT count(*) FROM payments WHERE customer_id = $1", w.customer["id"]) == 0
    assert await db.fetchval("SELECT status FROM payment_intents WHERE id = $1", intent["id"]) == "created"
    assert (await events(db, intent["id"]))[-1]["outcome"] == "rejected"


@pytest.mark.parametrize(("status", "outcome", "intent_status"), [
    (PENDING, "pending", "pending"), (UNKNOWN, "pending", "pending"), (FAILED, "failed", "failed")])
async def test_not_paid_yet_credits_nothing(db, status, outcome, intent_status):
    w = await world(db)
    intent = await create_intent(db, w.system, w.customer["id"], w.bill["id"], None, w.gateway["id"], now=NOW)
    result = await settle(db, intent["id"], Verification(status, reason="bKash reports Initiated"), "query", now=NOW)
    assert result.outcome == outcome
    assert await db.fetchval("SELECT status FROM payment_intents WHERE id = $1", intent["id"]) == intent_status
    assert await db.fetchval("SELECT count(*) FROM payments WHERE customer_id = $1", w.customer["id"]) == 0


async def test_captured_money_is_credited_even_after_expiry_or_a_failure_report(db):
    w = await world(db)
    intent = await create_intent(db, w.system, w.customer["id"], w.bill["id"], None, w.gateway["id"],
                                 ttl=timedelta(minutes=5), now=NOW)
    await settle(db, intent["id"], Verification(FAILED, reason="cancelled"), "callback", now=NOW)
    late = NOW + timedelta(hours=2)
    result = await settle(db, intent["id"], paid(intent), "query", now=late)
    assert (result.outcome, result.reason) == ("credited", "credited after expiry")


async def test_one_gateway_transaction_cannot_pay_two_intents(db):
    w = await world(db)
    first = await create_intent(db, w.system, w.customer["id"], None, 10000, w.gateway["id"], now=NOW)
    second = await create_intent(db, w.system, w.customer["id"], None, 10000, w.gateway["id"], now=NOW)
    assert (await settle(db, first["id"], paid(first), "callback", now=NOW)).outcome == "credited"
    result = await settle(db, second["id"], paid(second), "callback", now=NOW)  # same TRX1: a replay
    assert result.outcome == "rejected" and "already credited" in result.reason
    assert await db.fetchval("SELECT count(*) FROM payments WHERE customer_id = $1", w.customer["id"]) == 1
    assert not await unbalanced_ledger_txns(db)


async def test_advance_payment_goes_to_the_wallet(db):
    w = await world(db)
    intent = await create_intent(db, w.system, w.customer["id"], None, 70000, w.gateway["id"], now=NOW)
    result = await settle(db, intent["id"], paid(intent), "callback", now=NOW)
    assert result.outcome == "credited"
    # an advance still pays the open bill first (the same rule as cash), the rest waits in the wallet
    assert await db.fetchval("SELECT status FROM bills WHERE id = $1", w.bill["id"]) == "paid"
    assert not await unbalanced_ledger_txns(db)


async def test_intents_use_the_nearest_ancestors_enabled_gateway_only(db):
    w = await world(db)
    assert [g["id"] for g in await gateways_for(db, w.sub["id"])] == [w.gateway["id"]]
    root_gw = await add_gateway(db, w.root["id"], "http://127.0.0.1:9/", {"username": "x"}, label="root bKash")
    with pytest.raises(NotFound):  # the operator's own gateway is nearer than the group admin's
        await create_intent(db, w.system, w.customer["id"], w.bill["id"], None, root_gw["id"], now=NOW)
    await db.execute("UPDATE payment_gateways SET enabled = false WHERE id = $1", w.gateway["id"])
    assert [g["id"] for g in await gateways_for(db, w.sub["id"])] == [root_gw["id"]]
    other = await f.operator(db, "operator", w.root["id"])
    foreign = await add_gateway(db, other["id"], "http://127.0.0.1:9/", {"username": "x"})
    with pytest.raises(NotFound):
        await create_intent(db, w.system, w.customer["id"], w.bill["id"], None, foreign["id"], now=NOW)


async def test_a_paid_bill_or_a_missing_amount_is_refused(db):
    w = await world(db)
    await db.execute("UPDATE bills SET status = 'paid', paid_minor = total_minor WHERE id = $1", w.bill["id"])
    with pytest.raises(ValidationError):
        await create_intent(db, w.system, w.customer["id"], w.bill["id"], None, w.gateway["id"], now=NOW)
    with pytest.raises(ValidationError):
        await create_intent(db, w.system, w.customer["id"], None, None, w.gateway["id"], now=NOW)


def test_usernames_are_masked():
    assert mask_username("rahman") == "ra***an" and mask_username("abc") == "a***"
