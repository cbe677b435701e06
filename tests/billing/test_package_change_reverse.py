"""Reversing an immediate package change (a change, then the change back): money is never created or lost, every
ledger account comes back where it was when nothing was used, and the sub-operator's balance ends where it would
be had the change not happened, less the wholesale of the days the customer kept the dearer package."""

from datetime import timedelta

from radbill.services import package_change, payments
from tests import factories as f
from tests.billing.test_package_change import NOW, assert_ledger_balanced, balances, world

LATER = NOW + timedelta(days=10)  # 21 Nov in Dhaka: 10 of November's days left


async def account_sums(db, w) -> dict[tuple, int]:
    """Every ledger account of this ISP (operators' and the customer's) with the sum of its entries."""
    rows = await db.fetch(
        "SELECT a.kind, a.operator_id, a.customer_id, coalesce(sum(e.amount_minor), 0)::bigint AS total"
        "  FROM ledger_accounts a LEFT JOIN ledger_entries e ON e.account_id = a.id"
        " WHERE a.operator_id = ANY($1::bigint[]) GROUP BY a.id", [w.root["id"], w.operator["id"], w.sub["id"]])
    return {(r["kind"], r["operator_id"], r["customer_id"]): r["total"] for r in rows if r["total"]}


async def test_a_change_reversed_the_same_day_before_its_charge_is_paid_leaves_every_account_as_it_was(db):
    w = await world(db)
    before, wallets = await account_sums(db, w), await balances(db, w)
    up = await package_change.change_package_billed(db, w.scope, w.c["id"], w.fast["id"], now=NOW)
    assert up.charge_minor == 20000
    back = await package_change.change_package_billed(db, w.scope, w.c["id"], w.package["id"], now=NOW)
    assert back.credit_minor == 20000
    assert await balances(db, w) == wallets  # nothing due, no advance, the reseller's balance unchanged
    assert await account_sums(db, w) == before
    assert await db.fetchval("SELECT status FROM bills WHERE id = $1", up.bill_id) == "paid"  # by the credit
    await assert_ledger_balanced(db)


async def test_with_vat_the_same_day_reverse_leaves_revenue_and_vat_as_they_were(db):
    w = await world(db)
    vp = await f.insert(db, "vat_profiles", {"operator_id": w.operator["id"], "name": "VAT",
                                             "rate_basis_points": 1500})
    await db.execute("UPDATE operators SET vat_profile_id = $2 WHERE id = $1", w.operator["id"], vp["id"])
    before, wallets = await account_sums(db, w), await balances(db, w)
    await package_change.change_package_billed(db, w.scope, w.c["id"], w.fast["id"], now=NOW)
    await package_change.change_package_billed(db, w.scope, w.c["id"], w.package["id"], now=NOW)
    assert await balances(db, w) == wallets
    assert await account_sums(db, w) == before


async def test_a_change_reversed_days_later_costs_the_reseller_only_the_wholesale_of_the_days_used(db):
    w = await world(db)
    _, _, reseller = await balances(db, w)
    up = await package_change.change_package_billed(db, w.scope, w.c["id"], w.fast["id"], now=NOW)
    back = await package_change.change_package_billed(db, w.scope, w.c["id"], w.package["id"], now=LATER)
    assert (up.charge_minor, back.credit_minor) == (20000, 10000)
    # the charge is not paid in full yet, so no wholesale was taken for it and none can come back
    assert await balances(db, w) == (10000, 0, reseller)
    await payments.record_cash_payment(db, w.system, w.c["id"], 10000, now=LATER)
    # 10 days of the 800.00 package instead of the 500.00: 100.00 retail, 70.00 wholesale (21000 * 10 / 30)
    assert await balances(db, w) == (0, 0, reseller - 7000)
    await assert_ledger_balanced(db)


async def test_a_paid_change_reversed_the_same_day_gives_the_customer_and_the_reseller_their_money_back(db):
    w = await world(db)
    _, _, reseller = await balances(db, w)
    await package_change.change_package_billed(db, w.scope, w.c["id"], w.fast["id"], now=NOW)
    await payments.record_cash_payment(db, w.system, w.c["id"], 20000, now=NOW)
    assert (await balances(db, w))[2] == reseller - 14000
    await package_change.change_package_billed(db, w.scope, w.c["id"], w.package["id"], now=NOW)
    assert await balances(db, w) == (0, 20000, reseller)  # the cash paid waits in the advance for the next bill
    await assert_ledger_balanced(db)


async def test_up_then_down_below_the_start_equals_the_one_change_down(db):
    w = await world(db)
    direct = await world(db)
    _, _, reseller = await balances(db, w)
    _, _, direct_reseller = await balances(db, direct)
    await package_change.change_package_billed(db, w.scope, w.c["id"], w.fast["id"], now=NOW)
    await package_change.change_package_billed(db, w.scope, w.c["id"], w.slow["id"], now=NOW)
    await package_change.change_package_billed(db, direct.scope, direct.c["id"], direct.slow["id"], now=NOW)
    due, advance, after = await balances(db, w)
    d_due, d_advance, d_after = await balances(db, direct)
    assert (due, advance, after - reseller) == (d_due, d_advance, d_after - direct_reseller) == (0, 13333, 9333)
    await assert_ledger_balanced(db)


async def test_a_postpaid_change_reversed_the_same_day_leaves_every_account_as_it_was(db):
    w = await world(db, billing_type="postpaid")  # November's bill comes at its end: the used days are settled now
    before, wallets = await account_sums(db, w), await balances(db, w)
    down = await package_change.change_package_billed(db, w.scope, w.c["id"], w.slow["id"], now=NOW)
    assert (down.terms.basis, down.charge_minor, down.terms.wholesale_delta_minor) == ("days_used", 6667, 4667)
    await package_change.change_package_billed(db, w.scope, w.c["id"], w.package["id"], now=NOW)
    assert await balances(db, w) == wallets
    assert await account_sums(db, w) == before
    await assert_ledger_balanced(db)


async def test_a_partly_paid_charge_is_paid_off_by_the_reverse_and_the_part_paid_waits_in_the_advance(db):
    w = await world(db)
    _, _, reseller = await balances(db, w)
    up = await package_change.change_package_billed(db, w.scope, w.c["id"], w.fast["id"], now=NOW)
    await payments.record_cash_payment(db, w.system, w.c["id"], 5000, up.bill_id, now=NOW)
    await package_change.change_package_billed(db, w.scope, w.c["id"], w.package["id"], now=NOW)
    bill = await db.fetchrow("SELECT status, paid_minor, total_minor FROM bills WHERE id = $1", up.bill_id)
    assert (bill["status"], bill["paid_minor"]) == ("paid", bill["total_minor"])
    assert await balances(db, w) == (0, 5000, reseller)  # the 50.00 paid is the customer's; no wholesale moved
    await assert_ledger_balanced(db)
