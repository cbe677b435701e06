"""Reversing an immediate package change (a change, then the change back): money is never created or lost, every
ledger account comes back where it was when nothing was used, and the sub-operator's balance ends where it would
be had the change not happened, less the wholesale of the days the customer kept the dearer package."""

from datetime import date, timedelta

from radbill.services import billing, corrections, package_change, payments
from tests import factories as f
from tests.billing.test_package_change import DEC, NOW, assert_ledger_balanced, balances, world

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


# Hypothesis's counterexamples of session 8 (tests/billing/test_package_change_stateful.py, ReverseMachine): a credit
# returned the wholesale of days whose period bill was still unpaid, i.e. wholesale never taken

async def test_prepaid_up_then_down_and_up_again_with_the_period_unpaid_returns_no_wholesale_never_taken(db):
    w = await world(db, pay=False)  # November's 500.00 bill (wholesale 350.00) unpaid
    _, _, reseller = await balances(db, w)
    await package_change.change_package_billed(db, w.scope, w.c["id"], w.fast["id"], now=NOW)
    for package in (w.slow, w.fast):  # down below the start and back up, the same minute
        await package_change.change_package_billed(db, w.scope, w.c["id"], package["id"], now=NOW)
        assert (await balances(db, w))[2] == reseller  # nothing paid in full, so nothing taken nor given back
    period = await db.fetchrow("SELECT wholesale_minor, wholesale_cut_minor FROM bills WHERE customer_id = $1"
                               " AND kind = 'period'", w.c["id"])
    assert tuple(period) == (35000, 0)  # the down cut it by 93.33, the way back up put that back first
    due, _, _ = await balances(db, w)
    await payments.record_cash_payment(db, w.system, w.c["id"], int(due), now=NOW)
    # November on the 500.00 package, its 20 days left on the 800.00: 350.00 + 140.00 of wholesale
    assert await balances(db, w) == (0, 0, reseller - 35000 - 14000)
    await assert_ledger_balanced(db)


async def test_postpaid_down_a_run_then_up_and_down_again_returns_no_wholesale_never_taken(db):
    w = await world(db, billing_type="postpaid")  # November's bill comes at its end
    _, _, reseller = await balances(db, w)
    await package_change.change_package_billed(db, w.scope, w.c["id"], w.slow["id"], now=NOW)  # 10 days used
    await billing.generate_bills(db, NOW + timedelta(days=1), w.system, [w.c["id"]])
    for package in (w.package, w.slow):  # a day later: 11 days used, back up and down again, the same minute
        await package_change.change_package_billed(db, w.scope, w.c["id"], package["id"],
                                                   now=NOW + timedelta(days=1))
        assert (await balances(db, w))[2] == reseller
    assert await db.fetchval("SELECT wholesale_credit_minor FROM customers WHERE id = $1", w.c["id"]) == 0
    await billing.generate_bills(db, DEC + timedelta(hours=1), w.system, [w.c["id"]])
    november = await db.fetchrow("SELECT * FROM bills WHERE customer_id = $1 AND kind = 'period'"
                                 " AND period_start = $2", w.c["id"], date(2026, 11, 1))
    assert november["wholesale_minor"] == 21000  # the 300.00 package's, as billed
    due, _, _ = await balances(db, w)
    await payments.record_cash_payment(db, w.system, w.c["id"], int(due), now=DEC + timedelta(hours=1))
    # October (350.00), November on the 300.00 package (210.00), and its 10 days used on the 500.00 (46.67)
    assert await balances(db, w) == (0, 0, reseller - 35000 - 21000 - 4667)
    await assert_ledger_balanced(db)


async def test_a_postpaid_upgrade_credit_waits_for_the_period_bill_and_the_run_takes_it_off(db):
    w = await world(db, billing_type="postpaid")
    _, _, reseller = await balances(db, w)
    up = await package_change.change_package_billed(db, w.scope, w.c["id"], w.fast["id"], now=NOW)
    assert (up.terms.basis, up.credit_minor, up.terms.wholesale_delta_minor) == ("days_used", 10000, -7000)
    assert (await balances(db, w))[2] == reseller  # November's wholesale is not taken yet: nothing to give back
    waiting = await db.fetchrow("SELECT wholesale_credit_minor, wholesale_credit_until FROM customers WHERE id = $1",
                                w.c["id"])
    assert tuple(waiting) == (7000, date(2026, 12, 1))
    await billing.generate_bills(db, DEC + timedelta(hours=1), w.system, [w.c["id"]])
    november = await db.fetchrow("SELECT * FROM bills WHERE customer_id = $1 AND kind = 'period'"
                                 " AND period_start = $2", w.c["id"], date(2026, 11, 1))
    # the 800.00 package's 560.00 for the month, less its 10 days used on the 500.00 package (70.00)
    assert (november["total_minor"], november["wholesale_minor"], november["wholesale_cut_minor"]) == (
        80000, 49000, 7000)
    assert await db.fetchval("SELECT wholesale_credit_until FROM customers WHERE id = $1", w.c["id"]) is None
    due, _, _ = await balances(db, w)
    await payments.record_cash_payment(db, w.system, w.c["id"], int(due), now=DEC + timedelta(hours=1))
    assert await balances(db, w) == (0, 0, reseller - 35000 - 49000)  # October, then November
    await assert_ledger_balanced(db)


async def test_voiding_the_period_bill_after_a_credit_leaves_the_reseller_where_it_would_be_without_the_change(db):
    w = await world(db, pay=False)
    unchanged = await world(db, pay=False)
    _, _, reseller = await balances(db, w)
    _, _, unchanged_reseller = await balances(db, unchanged)
    await package_change.change_package_billed(db, w.scope, w.c["id"], w.slow["id"], now=NOW)  # a credit of 133.33
    for x in (w, unchanged):
        bill_id = await db.fetchval("SELECT id FROM bills WHERE customer_id = $1 AND kind = 'period'", x.c["id"])
        await corrections.void_bill(db, x.system, bill_id, "billed by mistake", now=NOW)
    assert (await balances(db, w))[2] - reseller == (await balances(db, unchanged))[2] - unchanged_reseller == 0
    await assert_ledger_balanced(db)


async def test_a_bill_keeps_the_wholesale_it_was_issued_with_when_the_price_changes_before_it_is_paid(db):
    w = await world(db, pay=False)
    _, _, reseller = await balances(db, w)
    await db.execute("UPDATE package_assignments SET wholesale_price_minor = 40000 WHERE operator_id = $1"
                     " AND package_id = $2", w.sub["id"], w.package["id"])
    outcome = await payments.record_cash_payment(db, w.system, w.c["id"], 50000, now=NOW)
    assert outcome.wholesale_minor == 35000
    assert (await balances(db, w))[2] == reseller - 35000
    await corrections.reverse_payment(db, w.system, outcome.payment["id"], 50000, "bounced", now=NOW)
    assert (await balances(db, w))[2] == reseller  # the reversal gives back what was taken, not today's price
    await assert_ledger_balanced(db)


async def test_a_custom_price_change_moves_the_wholesale_on_the_unpaid_period_bill_and_back(db):
    w = await world(db, pay=False)
    await db.execute("UPDATE customers SET custom_price_minor = 45000 WHERE id = $1", w.c["id"])
    _, _, reseller = await balances(db, w)
    up = await package_change.change_package_billed(db, w.scope, w.c["id"], w.fast["id"], now=NOW)
    assert (up.charge_minor, up.credit_minor, up.terms.wholesale_delta_minor) == (0, 0, 14000)
    assert (await balances(db, w))[2] == reseller  # November's bill is unpaid: it takes the difference when paid
    assert await db.fetchval("SELECT wholesale_minor FROM bills WHERE customer_id = $1", w.c["id"]) == 49000
    await package_change.change_package_billed(db, w.scope, w.c["id"], w.package["id"], now=NOW)
    assert (await balances(db, w))[2] == reseller
    await payments.record_cash_payment(db, w.system, w.c["id"], 50000, now=NOW)  # November, billed before
    assert (await balances(db, w))[2] == reseller - 35000
    await assert_ledger_balanced(db)


async def test_down_and_back_up_with_the_period_paid_takes_back_at_once_what_the_down_gave_back(db):
    w = await world(db)  # November paid: its 350.00 of wholesale taken
    await package_change.change_package_billed(db, w.scope, w.c["id"], w.fast["id"], now=NOW)  # charge unpaid
    _, _, reseller = await balances(db, w)
    await package_change.change_package_billed(db, w.scope, w.c["id"], w.slow["id"], now=NOW)
    # the charge's 140.00 is lowered (never taken); November's paid bill gives back 93.33 of what it took
    assert (await balances(db, w))[2] == reseller + 9333
    await package_change.change_package_billed(db, w.scope, w.c["id"], w.fast["id"], now=NOW)
    assert (await balances(db, w))[2] == reseller  # the way back up takes those 93.33 again at once
    assert await db.fetchval("SELECT wholesale_minor FROM bills WHERE customer_id = $1 AND kind = 'period'",
                             w.c["id"]) == 35000
    due, _, _ = await balances(db, w)
    await payments.record_cash_payment(db, w.system, w.c["id"], int(due), now=NOW)
    assert (await balances(db, w))[2] == reseller - 14000  # November's 20 days left on the 800.00 package
    await assert_ledger_balanced(db)


async def test_a_credit_committed_while_the_run_issues_its_bill_is_taken_off_that_bill(fresh_db_url):
    """The bill run's INSERT read the customer before a package change committed a waiting credit (it then waited for
    the change's lock on the customer): the credit is taken off the bill it just issued, not dropped."""
    import asyncio

    import asyncpg

    changer, runner = await asyncpg.connect(fresh_db_url), await asyncpg.connect(fresh_db_url)
    try:
        w = await world(changer, billing_type="postpaid")
        tx = changer.transaction()
        await tx.start()
        up = await package_change.change_package_billed(changer, w.scope, w.c["id"], w.fast["id"], now=NOW)
        assert up.terms.wholesale_delta_minor == -7000  # waits for November's bill (the test above)
        run = asyncio.create_task(billing.generate_bills(runner, DEC + timedelta(hours=1), w.system, [w.c["id"]]))
        await asyncio.sleep(1.0)
        assert not run.done(), "the run did not wait for the change's lock: this ordering cannot be tested here"
        await tx.commit()
        await run
        november = await changer.fetchrow("SELECT wholesale_minor, wholesale_cut_minor FROM bills WHERE customer_id"
                                          " = $1 AND kind = 'period' AND period_start = $2", w.c["id"], date(2026, 11, 1))
        # issued from what the run saw (the 500.00 package, 350.00 wholesale), less the credit committed meanwhile
        assert tuple(november) == (35000 - 7000, 7000)
        waiting = await changer.fetchrow("SELECT wholesale_credit_minor, wholesale_credit_until FROM customers"
                                         " WHERE id = $1", w.c["id"])
        assert tuple(waiting) == (0, None)
    finally:
        await changer.close()
        await runner.close()
