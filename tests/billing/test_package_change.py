"""radbill.services.package_change: the money, the expiry, the reseller and the schedule of a package change,
against the real database."""

from datetime import UTC, date, datetime, timedelta

import pytest

from radbill.errors import ValidationError
from radbill.services import billing, ledger, package_change, payments
from tests import factories as f
from tests.billing.helpers import customer, isp, local, scope_of

NOW = datetime(2026, 11, 11, 6, 0, tzinfo=UTC)  # 11 Nov in Dhaka: 20 of November's 30 days left
DEC = local(date(2026, 12, 1))


async def world(db, pay=True, **profile):
    """A sub-operator's customer on the 500.00 package, November billed and (prepaid, `pay`) paid; a 800.00 and a
    300.00 package also assigned (wholesale 560.00 and 210.00)."""
    w = await isp(db, credit_limit_minor=10**9, **profile)
    w.fast = await f.package(db, w.operator["id"], price_minor=80000, download_kbps=20480)
    w.slow = await f.package(db, w.operator["id"], price_minor=30000, download_kbps=5120)
    for package, wholesale in ((w.fast, 56000), (w.slow, 21000)):
        await f.insert(db, "package_assignments", {"operator_id": w.sub["id"], "package_id": package["id"],
                                                   "wholesale_price_minor": wholesale})
    w.c = await customer(db, w, billing_anchor=date(2026, 1, 1), expires_at=local(date(2026, 11, 1)))
    await billing.generate_bills(db, NOW, w.system, [w.c["id"]])
    if pay and profile.get("billing_type", "prepaid") == "prepaid":
        await payments.record_cash_payment(db, w.system, w.c["id"], 50000, now=NOW)
    w.scope = scope_of(w.sub, "sub_operator")
    return w


async def balances(db, w):
    b = await ledger.customer_balance(db, w.system, w.c["id"])
    reseller = await db.fetchval("SELECT balance_minor FROM operators WHERE id = $1", w.sub["id"])
    return b.due_minor, b.advance_minor, reseller


async def assert_ledger_balanced(db):
    assert await db.fetch("SELECT txn_id FROM ledger_entries GROUP BY txn_id HAVING sum(amount_minor) <> 0") == []
    assert await db.fetchval(
        "SELECT bool_and(o.balance_minor = -coalesce((SELECT sum(e.amount_minor) FROM ledger_entries e JOIN"
        " ledger_accounts a ON a.id = e.account_id WHERE a.kind = 'operator_balance' AND a.operator_id = o.id), 0))"
        " FROM operators o WHERE o.kind = 'sub_operator'")


async def test_a_prepaid_upgrade_charges_the_rest_of_the_period_as_a_bill_that_buys_no_days(db):
    w = await world(db)
    expires = await db.fetchval("SELECT expires_at FROM customers WHERE id = $1", w.c["id"])
    assert expires == DEC
    _, _, reseller_before = await balances(db, w)
    preview = await package_change.preview_change(db, w.scope, w.c["id"], w.fast["id"], NOW)
    assert (preview.charge_minor, preview.credit_minor, preview.terms.days) == (20000, 0, 20)
    plan = await package_change.change_package_billed(db, w.scope, w.c["id"], w.fast["id"], now=NOW,
                                                      expected_minor=20000)
    assert plan.charge_minor == 20000
    row = await db.fetchrow("SELECT package_id, expires_at FROM customers WHERE id = $1", w.c["id"])
    assert (row["package_id"], row["expires_at"]) == (w.fast["id"], DEC)
    bill = await db.fetchrow("SELECT * FROM bills WHERE customer_id = $1 AND kind = 'package_change'", w.c["id"])
    assert (bill["period_start"], bill["period_end"], bill["total_minor"], bill["status"], bill["wholesale_minor"]) == (
        date(2026, 11, 11), date(2026, 12, 1), 20000, "unpaid", 37333 - 23333)
    assert (await balances(db, w))[:2] == (20000, 0)
    outcome = await payments.record_cash_payment(db, w.system, w.c["id"], 20000, now=NOW)
    assert outcome.bills_paid == (bill["id"],) and outcome.wholesale_minor == 14000
    assert await db.fetchval("SELECT expires_at FROM customers WHERE id = $1", w.c["id"]) == DEC
    assert await balances(db, w) == (0, 0, reseller_before - 14000)
    await assert_ledger_balanced(db)


async def test_an_upgrade_is_drawn_from_advance_credit_at_once(db):
    w = await world(db)
    await payments.add_advance_payment(db, w.system, w.c["id"], 30000, now=NOW)
    await package_change.change_package_billed(db, w.scope, w.c["id"], w.fast["id"], now=NOW)
    assert await db.fetchval("SELECT status FROM bills WHERE customer_id = $1 AND kind = 'package_change'",
                             w.c["id"]) == "paid"
    assert (await balances(db, w))[:2] == (0, 10000)
    assert await db.fetchval("SELECT expires_at FROM customers WHERE id = $1", w.c["id"]) == DEC
    await assert_ledger_balanced(db)


async def test_a_prepaid_downgrade_credits_the_advance_and_gives_the_reseller_its_wholesale_back(db):
    w = await world(db)
    _, _, reseller_before = await balances(db, w)
    plan = await package_change.change_package_billed(db, w.scope, w.c["id"], w.slow["id"], now=NOW)
    assert (plan.charge_minor, plan.credit_minor) == (0, 33333 - 20000)
    assert await balances(db, w) == (0, 13333, reseller_before + 23333 - 14000)
    assert await db.fetchval("SELECT count(*) FROM bills WHERE customer_id = $1", w.c["id"]) == 1
    await assert_ledger_balanced(db)


async def test_vat_is_added_to_the_charge_as_the_bill_run_adds_it(db):
    w = await world(db)
    vp = await f.insert(db, "vat_profiles", {"operator_id": w.operator["id"], "name": "VAT",
                                             "rate_basis_points": 1500})
    await db.execute("UPDATE operators SET vat_profile_id = $2 WHERE id = $1", w.operator["id"], vp["id"])
    plan = await package_change.change_package_billed(db, w.scope, w.c["id"], w.fast["id"], now=NOW)
    assert (plan.amounts.net_minor, plan.amounts.vat_minor, plan.charge_minor) == (20000, 3000, 23000)
    await assert_ledger_balanced(db)


async def test_a_custom_price_stays_so_the_change_moves_no_money(db):
    w = await world(db)
    await db.execute("UPDATE customers SET custom_price_minor = 40000 WHERE id = $1", w.c["id"])
    plan = await package_change.change_package_billed(db, w.scope, w.c["id"], w.fast["id"], now=NOW)
    assert plan.custom_price and (plan.charge_minor, plan.credit_minor) == (0, 0)
    # the reseller's wholesale still moves: its cost of the faster package is higher
    assert plan.terms.wholesale_delta_minor == 14000
    await assert_ledger_balanced(db)


async def test_a_postpaid_upgrade_credits_the_days_used_and_the_period_bill_charges_the_new_price(db):
    w = await world(db, billing_type="postpaid")
    plan = await package_change.change_package_billed(db, w.scope, w.c["id"], w.fast["id"], now=NOW)
    assert (plan.terms.basis, plan.terms.days, plan.credit_minor) == ("days_used", 10, 26667 - 16667)
    await billing.generate_bills(db, DEC + timedelta(hours=1), w.system, [w.c["id"]])
    nov = await db.fetchrow("SELECT * FROM bills WHERE customer_id = $1 AND kind = 'period' AND period_start = $2",
                            w.c["id"], date(2026, 11, 1))
    assert nov["total_minor"] == 80000
    # 10 days at 500.00 and 20 at 800.00, within a poisha of rounding
    assert nov["total_minor"] - plan.credit_minor == 16667 + 53333
    await assert_ledger_balanced(db)


async def test_next_period_waits_and_the_bill_run_prices_the_next_period_with_the_new_package(db):
    w = await world(db)
    await db.execute("UPDATE billing_profiles SET change_billing = 'next_period' WHERE id = $1", w.profile["id"])
    plan = await package_change.change_package_billed(db, w.scope, w.c["id"], w.fast["id"], now=NOW)
    assert (plan.terms.applies, plan.applies_at, plan.router, plan.charge_minor) == ("next_period", DEC, "later", 0)
    row = await db.fetchrow("SELECT * FROM customers WHERE id = $1", w.c["id"])
    assert (row["package_id"], row["next_package_id"], row["next_package_at"]) == (
        w.package["id"], w.fast["id"], DEC)
    await billing.generate_bills(db, DEC - timedelta(hours=2), w.system, [w.c["id"]])  # the lead window
    dec = await db.fetchrow("SELECT * FROM bills WHERE customer_id = $1 AND period_start = $2", w.c["id"],
                            date(2026, 12, 1))
    assert (dec["package_id"], dec["total_minor"]) == (w.fast["id"], 80000)
    assert await package_change.apply_due_changes(db, DEC - timedelta(seconds=1)) == 0
    assert await package_change.apply_due_changes(db, DEC) == 1
    row = await db.fetchrow("SELECT * FROM customers WHERE id = $1", w.c["id"])
    assert (row["package_id"], row["next_package_id"]) == (w.fast["id"], None)


async def test_upgrade_now_waits_for_a_downgrade_only(db):
    w = await world(db)
    await db.execute("UPDATE billing_profiles SET change_billing = 'upgrade_now' WHERE id = $1", w.profile["id"])
    down = await package_change.preview_change(db, w.scope, w.c["id"], w.slow["id"], NOW)
    up = await package_change.preview_change(db, w.scope, w.c["id"], w.fast["id"], NOW)
    assert (down.terms.applies, down.credit_minor) == ("next_period", 0)
    assert (up.terms.applies, up.charge_minor) == ("now", 20000)


async def test_a_changed_figure_since_the_preview_is_refused_and_nothing_changes(db):
    w = await world(db)
    with pytest.raises(ValidationError, match="changed since the preview"):
        await package_change.change_package_billed(db, w.scope, w.c["id"], w.fast["id"], now=NOW,
                                                   expected_minor=19000)
    assert await db.fetchval("SELECT package_id FROM customers WHERE id = $1", w.c["id"]) == w.package["id"]
    assert await db.fetchval("SELECT count(*) FROM bills WHERE customer_id = $1", w.c["id"]) == 1


async def test_the_same_package_is_refused_with_a_sentence(db):
    w = await world(db)
    with pytest.raises(ValidationError, match="already has this package"):
        await package_change.preview_change(db, w.scope, w.c["id"], w.package["id"], NOW)


async def test_two_changes_on_one_day_are_two_charges_and_the_way_back_cancels(db):
    w = await world(db)
    await package_change.change_package_billed(db, w.scope, w.c["id"], w.fast["id"], now=NOW)
    await package_change.change_package_billed(db, w.scope, w.c["id"], w.package["id"], now=NOW)
    due, advance, _ = await balances(db, w)
    assert (due, advance) == (0, 0)  # the credit paid the charge (tests/billing/test_package_change_reverse.py)
    await assert_ledger_balanced(db)
