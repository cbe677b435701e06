"""Cancelling a package change that waits for the next period (package_change.cancel_waiting_change): the
current package stays, and what scheduling it moved up front is reversed exactly, ledger balanced."""

from datetime import timedelta

import pytest

from radbill.errors import ValidationError
from radbill.services import billing, package_change, payments
from tests.billing.test_package_change import DEC, NOW, assert_ledger_balanced, balances, world

LATE = DEC - timedelta(hours=2)  # 30 Nov in Dhaka: December's prepaid bill is issued ahead, at the old price


async def next_period_world(db, *, december_billed: bool):
    w = await world(db)
    await db.execute("UPDATE billing_profiles SET change_billing = 'next_period' WHERE id = $1", w.profile["id"])
    if december_billed:
        await billing.generate_bills(db, LATE, w.system, [w.c["id"]])
    return w


async def waiting(db, w):
    return tuple(await db.fetchrow("SELECT package_id, next_package_id, next_package_at FROM customers"
                                   " WHERE id = $1", w.c["id"]))


async def test_a_waiting_change_is_cancelled_moving_no_money_and_audited(db):
    w = await next_period_world(db, december_billed=False)
    await package_change.change_package_billed(db, w.scope, w.c["id"], w.fast["id"], now=NOW)
    before, entries = await balances(db, w), await db.fetchval("SELECT count(*) FROM ledger_entries")
    preview = await package_change.preview_cancel(db, w.scope, w.c["id"], NOW)
    assert (preview.signed_minor, preview.old_package_name, preview.package["id"]) == (0, w.fast["name"],
                                                                                        w.package["id"])
    await package_change.cancel_waiting_change(db, w.scope, w.c["id"], now=NOW, expected_minor=0)
    assert await waiting(db, w) == (w.package["id"], None, None)
    assert await balances(db, w) == before
    assert await db.fetchval("SELECT count(*) FROM ledger_entries") == entries
    detail = await db.fetchval("SELECT detail FROM audit_log WHERE action = 'customer.package_change_cancelled'"
                               " AND object_id = $1", w.c["id"])
    assert detail is not None and w.fast["name"] in detail
    assert await package_change.apply_due_changes(db, DEC) == 0  # nothing switches at the period's start
    with pytest.raises(ValidationError, match="nothing to cancel"):
        await package_change.cancel_waiting_change(db, w.scope, w.c["id"], now=NOW)


async def test_cancelling_voids_the_unpaid_charge_scheduling_made(db):
    w = await next_period_world(db, december_billed=True)
    before = await balances(db, w)
    plan = await package_change.change_package_billed(db, w.scope, w.c["id"], w.fast["id"], now=LATE)
    assert (plan.terms.applies, plan.charge_minor) == ("next_period", 30000)  # December's difference, up front
    assert (await package_change.preview_cancel(db, w.scope, w.c["id"], LATE)).credit_minor == 30000
    with pytest.raises(ValidationError, match="changed since the preview"):
        await package_change.cancel_waiting_change(db, w.scope, w.c["id"], now=LATE, expected_minor=0)
    await package_change.cancel_waiting_change(db, w.scope, w.c["id"], now=LATE, expected_minor=-30000)
    assert await db.fetchval("SELECT status FROM bills WHERE id = $1", plan.bill_id) == "void"
    assert await balances(db, w) == before  # due, advance and the reseller's balance as before scheduling
    assert (await waiting(db, w))[1:] == (None, None)
    await assert_ledger_balanced(db)


async def test_cancelling_after_the_charge_was_paid_credits_it_and_the_resellers_wholesale(db):
    w = await next_period_world(db, december_billed=True)
    plan = await package_change.change_package_billed(db, w.scope, w.c["id"], w.fast["id"], now=LATE)
    await payments.record_cash_payment(db, w.system, w.c["id"], 50000 + 30000, now=LATE)  # December and the charge
    paid = await balances(db, w)
    wholesale = await db.fetchval("SELECT wholesale_minor FROM bills WHERE id = $1", plan.bill_id)
    assert paid[:2] == (0, 0) and wholesale > 0
    await package_change.cancel_waiting_change(db, w.scope, w.c["id"], now=LATE, expected_minor=-30000)
    assert await balances(db, w) == (0, 30000, paid[2] + wholesale)
    await assert_ledger_balanced(db)


async def test_cancelling_a_waiting_downgrade_charges_back_its_credit_from_the_advance(db):
    w = await next_period_world(db, december_billed=True)
    before = await balances(db, w)
    plan = await package_change.change_package_billed(db, w.scope, w.c["id"], w.slow["id"], now=LATE)
    assert plan.credit_minor == 20000
    cancelled = await package_change.cancel_waiting_change(db, w.scope, w.c["id"], now=LATE, expected_minor=20000)
    assert await db.fetchval("SELECT status FROM bills WHERE id = $1", cancelled.bill_id) == "paid"
    assert await balances(db, w) == before
    await assert_ledger_balanced(db)
