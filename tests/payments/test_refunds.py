"""Refunds: full and partial at the (fake) bKash, never more than was paid, the ledger reversed and balanced, the
sub-operator's credit taken back, audited on the customer's timeline; a refused refund moves nothing."""

from dataclasses import replace
from datetime import timedelta

import aiohttp
import pytest

from radbill import clock
from radbill.errors import NotFound, PermissionDenied, ValidationError
from radbill.payments.bkash import BkashAdapter
from radbill.payments.gateway import ReturnUrls
from radbill.payments.refunds import refund_payment
from radbill.payments.settle import create_intent, intent_view, settle
from radbill.services.corrections import reverse_payment
from radbill.services.ledger import BalanceInsufficient, customer_balance
from tests.billing.helpers import scope_of
from tests.payments.bkash_steps import press
from tests.payments.helpers import NOW, unbalanced_ledger_txns, world

URLS = ReturnUrls("http://127.0.0.1:1/r", "http://127.0.0.1:1/r", "http://127.0.0.1:1/r")


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


async def paid_online(db, fake, http, **world_args):
    w = await world(db, fake.base_url, fake.credentials, **world_args)
    return w, await pay_online(db, fake, http, w)


async def pay_online(db, fake, http, w):
    """The world's customer pays its bill through the fake bKash (settled like a callback); the payment's id."""
    intent = await create_intent(db, w.system, w.customer["id"], w.bill["id"], None, w.gateway["id"], now=NOW)
    adapter = BkashAdapter(fake.base_url, fake.credentials, "sandbox", http)
    view = await intent_view(db, intent)
    started = await adapter.start(view, URLS)
    await db.execute("UPDATE payment_intents SET gateway_payment_id = $2 WHERE id = $1", intent["id"],
                     started.gateway_payment_id)
    params = await press(http, started.redirect_url)
    verification = await adapter.verify(replace(view, gateway_payment_id=started.gateway_payment_id), params)
    result = await settle(db, intent["id"], verification, "callback", now=NOW)
    return result.payment_id


async def test_partial_then_full_refund_reverses_the_ledger(db, fake_bkash, http):
    w, payment_id = await paid_online(db, fake_bkash, http)
    scope = scope_of(w.operator)
    await db.execute("UPDATE operators SET credit_limit_minor = 100000 WHERE id = $1", w.sub["id"])
    sub_before = await db.fetchval("SELECT balance_minor FROM operators WHERE id = $1", w.sub["id"])
    first = await refund_payment(db, scope, payment_id, 20000, "customer asked", http)
    assert first.ok and "refund ID" in first.message
    with pytest.raises(ValidationError, match="At most"):
        await refund_payment(db, scope, payment_id, 30001, "too much", http)
    assert (await refund_payment(db, scope, payment_id, 30000, "the rest", http)).ok
    assert await db.fetchval("SELECT refunded_minor FROM payment_intents WHERE payment_id = $1", payment_id) == 50000
    assert [r["status"] for r in await db.fetch("SELECT status FROM payment_refunds ORDER BY id")] == ["done", "done"]
    # the refund took the sold period back, so the sub-operator has its wholesale back (35000) and gives the 50000
    assert await db.fetchval("SELECT balance_minor FROM operators WHERE id = $1", w.sub["id"]) == sub_before - 15000
    assert not await unbalanced_ledger_txns(db)
    kinds = {r["kind"] for r in await db.fetch("SELECT kind FROM ledger_entries WHERE payment_id = $1", payment_id)}
    assert {"payment_reversal", "wholesale_return", "gateway_reseller_refund"} <= kinds
    clearing = await db.fetch("SELECT a.operator_id, sum(e.amount_minor) AS net FROM ledger_entries e"
                              " JOIN ledger_accounts a ON a.id = e.account_id WHERE a.kind = 'gateway_clearing'"
                              " GROUP BY 1")
    assert all(r["net"] == 0 for r in clearing)  # every clearing account gave back exactly what it received
    audit = await db.fetch("SELECT * FROM audit_log WHERE action = 'payment.refund' AND object_kind = 'customer'"
                           " AND object_id = $1", w.customer["id"])
    assert len(audit) == 2
    assert len(fake_bkash.payments[next(iter(fake_bkash.payments))].refunds) == 2


async def test_a_refused_refund_is_recorded_failed_and_moves_nothing(db, fake_bkash, http):
    w, payment_id = await paid_online(db, fake_bkash, http, owner="operator")
    await db.execute("UPDATE payments SET txn_id = 'NOT-BKASH' WHERE id = $1", payment_id)  # bKash will refuse
    outcome = await refund_payment(db, scope_of(w.operator), payment_id, 10000, "test", http)
    assert not outcome.ok and "refused" in outcome.message
    assert await db.fetchval("SELECT status FROM payment_refunds WHERE id = $1", outcome.refund_id) == "failed"
    assert await db.fetchval("SELECT count(*) FROM ledger_entries WHERE kind = 'payment_reversal'") == 0


async def test_refunds_are_scoped_and_guarded(db, fake_bkash, http):
    w, payment_id = await paid_online(db, fake_bkash, http)
    other = await world(db)
    with pytest.raises(NotFound):
        await refund_payment(db, scope_of(other.operator), payment_id, 100, "not mine", http)
    with pytest.raises(ValidationError, match="why"):
        await refund_payment(db, scope_of(w.operator), payment_id, 100, "  ", http)
    # the sub-operator's balance (15000 after the sale) cannot take a 20000 refund with no credit limit
    with pytest.raises(BalanceInsufficient):
        await refund_payment(db, scope_of(w.operator), payment_id, 20000, "too much for the reseller", http)
    assert await db.fetchval("SELECT count(*) FROM payment_refunds") == 0


async def test_only_the_gateway_owner_or_above_refunds(db, fake_bkash, http):
    w, payment_id = await paid_online(db, fake_bkash, http)  # the operator's gateway, the sub's customer
    with pytest.raises(PermissionDenied, match="parent operator"):
        await refund_payment(db, scope_of(w.sub, "sub_operator"), payment_id, 100, "mine?", http)
    await db.execute("UPDATE operators SET credit_limit_minor = 100000 WHERE id = $1", w.sub["id"])
    assert (await refund_payment(db, scope_of(w.root, "group_admin"), payment_id, 100, "from above", http)).ok


async def test_a_refund_takes_the_paid_period_back_and_never_leaves_the_wallet_negative(db, fake_bkash, http):
    """A refunded payment is a reversed payment (corrections.reverse_payment, one rule): the bill it paid is open
    again, the expiry moves back, the customer is cut off, and the advance wallet never goes below zero."""
    w, payment_id = await paid_online(db, fake_bkash, http, owner="operator")
    cid = w.customer["id"]
    paid = await db.fetchrow("SELECT status, expires_at FROM customers WHERE id = $1", cid)
    assert paid["status"] == "active"
    with clock.frozen(NOW + timedelta(days=1)):
        assert (await refund_payment(db, scope_of(w.operator), payment_id, 50000, "customer left", http)).ok
    after = await db.fetchrow("SELECT status, expires_at FROM customers WHERE id = $1", cid)
    assert after["status"] == "suspended"
    assert after["expires_at"] == NOW + timedelta(days=1)  # the days not used yet are taken back
    assert await db.fetchval("SELECT status FROM bills WHERE id = $1", w.bill["id"]) == "unpaid"
    balance = await customer_balance(db, scope_of(w.operator), cid)
    assert balance.advance_minor == 0 and balance.due_minor == 50000
    assert await db.fetchval("SELECT reversed_minor FROM payments WHERE id = $1", payment_id) == 50000
    assert not await unbalanced_ledger_txns(db)


async def test_a_payment_already_reversed_cannot_be_refunded_again(db, fake_bkash, http):
    """Money taken back once (a bounced transfer reversed by staff) is not refunded a second time."""
    w, payment_id = await paid_online(db, fake_bkash, http, owner="operator")
    await reverse_payment(db, scope_of(w.operator), payment_id, 30000, "charged back", now=NOW)
    with pytest.raises(ValidationError, match="At most"):
        await refund_payment(db, scope_of(w.operator), payment_id, 30000, "and refunded?", http)
    assert (await refund_payment(db, scope_of(w.operator), payment_id, 20000, "the rest", http)).ok
    assert await db.fetchval("SELECT reversed_minor FROM payments WHERE id = $1", payment_id) == 50000
    assert not await unbalanced_ledger_txns(db)


async def sub_balance(db, w) -> int:
    return await db.fetchval("SELECT balance_minor FROM operators WHERE id = $1", w.sub["id"])


async def reseller_ledger(db, w) -> int:
    """The sub-operator's balance as its ledger account says (credits are negative lines)."""
    return -await db.fetchval("SELECT coalesce(sum(e.amount_minor), 0) FROM ledger_entries e JOIN ledger_accounts a"
                              " ON a.id = e.account_id WHERE a.kind = 'operator_balance' AND a.operator_id = $1",
                              w.sub["id"])


async def test_a_staff_reversal_of_an_online_payment_takes_the_resellers_credit_back(db, fake_bkash, http):
    """A chargeback reversed by staff (no gateway refund) is a reversal like a refund: the sub-operator gives
    back the credit the online payment gave it, and gets back the wholesale of the period taken back."""
    w = await world(db, fake_bkash.base_url, fake_bkash.credentials)
    before = await sub_balance(db, w)
    payment_id = await pay_online(db, fake_bkash, http, w)
    assert await sub_balance(db, w) == before + 50000 - 35000  # credited the payment, debited the wholesale
    await reverse_payment(db, w.system, payment_id, 50000, "chargeback", now=NOW)
    assert await sub_balance(db, w) == before == await reseller_ledger(db, w)
    assert not await unbalanced_ledger_txns(db)
    clearing = await db.fetchval("SELECT coalesce(sum(e.amount_minor), 0) FROM ledger_entries e JOIN ledger_accounts a"
                                 " ON a.id = e.account_id WHERE a.kind = 'gateway_clearing'")
    assert clearing == 0  # the owner's merchant account gave back what it received


async def test_a_refund_then_a_staff_reversal_take_the_credit_back_exactly_once(db, fake_bkash, http):
    w = await world(db, fake_bkash.base_url, fake_bkash.credentials)
    await db.execute("UPDATE operators SET credit_limit_minor = 100000 WHERE id = $1", w.sub["id"])
    before = await sub_balance(db, w)
    payment_id = await pay_online(db, fake_bkash, http, w)
    assert (await refund_payment(db, scope_of(w.operator), payment_id, 20000, "customer asked", http)).ok
    assert await sub_balance(db, w) == before + 50000 - 35000 - 20000 + 35000  # the refund reopened the period
    await reverse_payment(db, w.system, payment_id, 30000, "the rest bounced", now=NOW)
    assert await sub_balance(db, w) == before == await reseller_ledger(db, w)
    taken = await db.fetchval("SELECT sum(e.amount_minor) FROM ledger_entries e JOIN ledger_accounts a"
                              " ON a.id = e.account_id WHERE e.payment_id = $1 AND a.kind = 'operator_balance'"
                              " AND e.kind = 'gateway_reseller_refund'", payment_id)
    assert taken == 50000  # the whole credit, taken back in two parts, never more
    assert not await unbalanced_ledger_txns(db)


async def test_a_staff_reversal_the_resellers_balance_cannot_take_is_refused_and_moves_nothing(db, fake_bkash, http):
    w = await world(db, fake_bkash.base_url, fake_bkash.credentials)
    payment_id = await pay_online(db, fake_bkash, http, w)
    await db.execute("UPDATE operators SET balance_minor = 0 WHERE id = $1", w.sub["id"])  # the credit was spent
    with pytest.raises(BalanceInsufficient):
        await reverse_payment(db, w.system, payment_id, 50000, "chargeback", now=NOW)
    assert await db.fetchval("SELECT reversed_minor FROM payments WHERE id = $1", payment_id) == 0
    assert await db.fetchval("SELECT count(*) FROM payment_reversals") == 0
