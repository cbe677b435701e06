"""The bill run against a real database: which period, which price, VAT, proration, advance, idempotency."""

from datetime import UTC, date, datetime

import pytest

from radbill.billing.periods import Cycle, billable_periods, local_midnight_utc
from radbill.billing.pricing import apply_vat, customer_price, first_period_price, share_of_period
from radbill.services import billing, payments
from radbill.services.ledger import customer_balance
from tests import factories as f
from tests.billing.helpers import customer, isp

NOW = datetime(2024, 3, 10, 6, 0, tzinfo=UTC)  # 12:00 in Dhaka


async def bills_of(db, customer_id):
    return await db.fetch("SELECT * FROM bills WHERE customer_id = $1 ORDER BY period_start", customer_id)


async def test_prepaid_bills_the_period_that_started_due_at_its_start(db):
    w = await isp(db, billing_day=5, due_days=7)
    c = await customer(db, w, billing_anchor=date(2024, 1, 1))
    assert await billing.generate_bills(db, NOW, w.system, [c["id"]]) == 1
    (bill,) = await bills_of(db, c["id"])
    assert (bill["period_start"], bill["period_end"]) == (date(2024, 3, 5), date(2024, 4, 5))
    assert bill["due_at"] == local_midnight_utc(date(2024, 3, 5), "Asia/Dhaka")
    assert bill["due_at"] == datetime(2024, 3, 4, 18, 0, tzinfo=UTC)
    assert (bill["amount_minor"], bill["vat_minor"], bill["total_minor"], bill["status"]) == (50000, 0, 50000, "unpaid")


async def test_postpaid_bills_the_period_that_just_ended(db):
    w = await isp(db, billing_day=5, due_days=7, billing_type="postpaid")
    c = await customer(db, w, billing_anchor=date(2024, 1, 1))
    await billing.generate_bills(db, NOW, w.system, [c["id"]])
    (bill,) = await bills_of(db, c["id"])
    assert (bill["period_start"], bill["period_end"]) == (date(2024, 2, 5), date(2024, 3, 5))
    assert bill["due_at"] == local_midnight_utc(date(2024, 3, 12), "Asia/Dhaka")


async def test_free_disabled_and_suspended_customers_are_not_billed(db):
    w = await isp(db)
    free = await f.billing_profile(db, w.operator["id"], billing_type="free")
    a = await f.customer(db, w.sub["id"], w.package["id"], free["id"], billing_anchor=date(2024, 1, 1))
    b = await customer(db, w, status="disabled", billing_anchor=date(2024, 1, 1))
    c = await customer(db, w, status="suspended", billing_anchor=date(2024, 1, 1))
    assert await billing.generate_bills(db, NOW, w.system, [a["id"], b["id"], c["id"]]) == 0


async def test_validity_cycles_count_from_the_anchor(db):
    w = await isp(db, cycle_kind="validity_days", billing_day=None, validity_days=30)
    c = await customer(db, w, billing_anchor=date(2024, 1, 1))
    later = await customer(db, w, billing_anchor=date(2024, 4, 1))  # starts in the future: nothing to bill
    assert await billing.generate_bills(db, NOW, w.system, [c["id"], later["id"]]) == 1
    (bill,) = await bills_of(db, c["id"])
    assert (bill["period_start"], bill["period_end"]) == (date(2024, 3, 1), date(2024, 3, 31))


async def test_custom_price_overrides_retail_and_package_price(db):
    w = await isp(db, billing_day=1)
    await db.execute("UPDATE package_assignments SET retail_price_minor = 60000 WHERE operator_id = $1", w.sub["id"])
    retail = await customer(db, w, billing_anchor=date(2024, 1, 1))
    custom = await customer(db, w, billing_anchor=date(2024, 1, 1), custom_price_minor=45050)
    direct = await customer(db, w, owner=w.operator, billing_anchor=date(2024, 1, 1))
    await billing.generate_bills(db, NOW, w.system, [retail["id"], custom["id"], direct["id"]])
    totals = {r["customer_id"]: r["total_minor"] for r in await db.fetch("SELECT * FROM bills WHERE customer_id = ANY($1)",
                                                                         [retail["id"], custom["id"], direct["id"]])}
    assert totals == {retail["id"]: 60000, custom["id"]: 45050, direct["id"]: 50000}
    wholesale = dict(await db.fetch("SELECT customer_id, wholesale_minor FROM bills WHERE customer_id = ANY($1)",
                                    [retail["id"], custom["id"], direct["id"]]))
    assert wholesale == {retail["id"]: 35000, custom["id"]: 35000, direct["id"]: 0}  # the operator's own: none
    assert customer_price(50000, 60000, 45050) == 45050


@pytest.mark.parametrize(("rate", "inclusive", "price"), [(1500, False, 50000), (1500, True, 50000), (750, False, 33333),
                                                           (500, True, 10001), (0, False, 999)])
async def test_vat_of_the_nearest_operator_profile_matches_the_pure_rule(db, rate, inclusive, price):
    w = await isp(db, billing_day=1)
    vp = await f.insert(db, "vat_profiles", {"operator_id": w.operator["id"], "name": "VAT",
                                             "rate_basis_points": rate, "price_includes_vat": inclusive})
    await db.execute("UPDATE operators SET vat_profile_id = $1 WHERE id = $2", vp["id"], w.operator["id"])
    c = await customer(db, w, billing_anchor=date(2024, 1, 1), custom_price_minor=price)
    await billing.generate_bills(db, NOW, w.system, [c["id"]])
    (bill,) = await bills_of(db, c["id"])
    expected = apply_vat(price, rate, inclusive)
    assert (bill["amount_minor"], bill["vat_minor"], bill["total_minor"]) == (
        expected.net_minor, expected.vat_minor, expected.total_minor)


@pytest.mark.parametrize("start", [date(2024, 3, 1), date(2024, 3, 2), date(2024, 3, 10), date(2024, 3, 31)])
async def test_a_mid_period_start_is_prorated_like_the_pure_rule(db, start):
    w = await isp(db, billing_day=1)
    c = await customer(db, w, billing_anchor=start, custom_price_minor=50001)
    await billing.generate_bills(db, datetime(2024, 3, 31, 12, tzinfo=UTC), w.system, [c["id"]])
    bill, april = await bills_of(db, c["id"])  # 31 Mar is inside April's lead window (due days 0: one day ahead)
    march, _ = billable_periods(Cycle("fixed_day", 1), "prepaid", datetime(2024, 3, 31, 12, tzinfo=UTC), "Asia/Dhaka", 0)
    assert bill["total_minor"] == first_period_price(50001, march.period, start)
    assert (april["period_start"], april["total_minor"]) == (date(2024, 4, 1), 50001)
    # the sub-operator's wholesale (350.00) is fixed on each bill when issued, prorated like the price
    assert bill["wholesale_minor"] == share_of_period(35000, (bill["period_end"] - bill["period_start"]).days,
                                                      bill["cycle_days"])
    assert april["wholesale_minor"] == 35000


async def test_running_twice_bills_once_and_preview_shows_what_is_left(db):
    w = await isp(db, billing_day=1)
    cs = [await customer(db, w, billing_anchor=date(2024, 1, 1)) for _ in range(3)]
    ids = [c["id"] for c in cs]
    preview = await billing.preview_bills(db, NOW, w.system, ids)
    assert [r["customer_id"] for r in preview] == ids
    assert await db.fetchval("SELECT count(*) FROM bills WHERE customer_id = ANY($1)", ids) == 0
    assert await billing.generate_bills(db, NOW, w.system, ids) == 3
    assert await billing.generate_bills(db, NOW, w.system, ids) == 0
    assert await billing.preview_bills(db, NOW, w.system, ids) == []


async def test_a_bill_posts_balanced_receivable_revenue_and_vat(db):
    w = await isp(db, billing_day=1)
    vp = await f.insert(db, "vat_profiles", {"operator_id": w.operator["id"], "name": "VAT", "rate_basis_points": 1500})
    await db.execute("UPDATE operators SET vat_profile_id = $1 WHERE id = $2", vp["id"], w.operator["id"])
    c = await customer(db, w, billing_anchor=date(2024, 1, 1))
    await billing.generate_bills(db, NOW, w.system, [c["id"]])
    rows = await db.fetch("SELECT a.kind, e.amount_minor FROM ledger_entries e JOIN ledger_accounts a ON a.id = e.account_id"
                          " JOIN bills b ON b.id = e.bill_id WHERE b.customer_id = $1 ORDER BY a.kind", c["id"])
    assert [tuple(r) for r in rows] == [("customer_receivable", 57500), ("revenue", -50000), ("vat_payable", -7500)]
    balance = await customer_balance(db, w.system, c["id"])
    assert (balance.due_minor, balance.advance_minor, balance.net_minor) == (57500, 0, 57500)


async def test_advance_credit_pays_new_bills_fully_or_partly(db):
    w = await isp(db, billing_day=1, credit_limit_minor=10**9)
    rich = await customer(db, w, billing_anchor=date(2024, 1, 1))
    poor = await customer(db, w, billing_anchor=date(2024, 1, 1))
    await payments.add_advance_payment(db, w.system, rich["id"], 70000, now=NOW)
    await payments.add_advance_payment(db, w.system, poor["id"], 20000, now=NOW)
    await billing.generate_bills(db, NOW, w.system, [rich["id"], poor["id"]])
    (r,), (p,) = await bills_of(db, rich["id"]), await bills_of(db, poor["id"])
    assert (r["status"], r["paid_minor"], p["status"], p["paid_minor"]) == ("paid", 50000, "partial", 20000)
    assert (await customer_balance(db, w.system, rich["id"])).advance_minor == 20000
    assert (await customer_balance(db, w.system, poor["id"])).net_minor == 30000
    sub = await db.fetchrow("SELECT balance_minor FROM operators WHERE id = $1", w.sub["id"])
    assert sub["balance_minor"] == -35000  # one period activated: the wholesale price
    expires = await db.fetchval("SELECT expires_at FROM customers WHERE id = $1", rich["id"])
    assert expires == local_midnight_utc(date(2024, 4, 1), "Asia/Dhaka")  # the paid period's end, not now + 30 days


async def test_an_uncovered_reseller_leaves_advance_unapplied_but_still_bills(db):
    w = await isp(db, billing_day=1, credit_limit_minor=0)
    c = await customer(db, w, billing_anchor=date(2024, 1, 1))
    await payments.add_advance_payment(db, w.system, c["id"], 50000, now=NOW)
    assert await billing.generate_bills(db, NOW, w.system, [c["id"]]) == 1
    (bill,) = await bills_of(db, c["id"])
    assert (bill["status"], bill["paid_minor"]) == ("unpaid", 0)


async def test_scope_limits_the_run(db):
    w = await isp(db, billing_day=1)
    other = await isp(db, billing_day=1)
    mine = await customer(db, w, billing_anchor=date(2024, 1, 1))
    theirs = await customer(db, other, billing_anchor=date(2024, 1, 1))
    from tests.billing.helpers import scope_of
    await billing.generate_bills(db, NOW, scope_of(w.sub, "sub_operator"), [mine["id"], theirs["id"]])
    assert len(await bills_of(db, mine["id"])) == 1 and await bills_of(db, theirs["id"]) == []


async def test_suspension_candidates_are_data(db):
    w = await isp(db, billing_day=1, due_days=5, grace_days=2)
    late = await customer(db, w, billing_anchor=date(2024, 1, 1))
    expired = await customer(db, w, billing_anchor=date(2024, 1, 1), expires_at=datetime(2024, 3, 1, tzinfo=UTC))
    await billing.generate_bills(db, NOW, w.system, [late["id"]])
    # prepaid: due when the period starts (Mar 1), grace 2 -> candidate from Mar 3 00:00 Dhaka (Mar 2 18:00 UTC)
    before = await billing.suspension_candidates(db, datetime(2024, 3, 2, 17, 59, tzinfo=UTC), w.system)
    after = await billing.suspension_candidates(db, datetime(2024, 3, 2, 18, 0, tzinfo=UTC), w.system)
    assert [(c.customer_id, c.reason) for c in before] == [(expired["id"], "expired")]
    assert {(c.customer_id, c.reason) for c in after} == {(expired["id"], "expired"), (late["id"], "unpaid_bill")}
    await db.execute("UPDATE billing_profiles SET auto_suspend = false WHERE id = $1", w.profile["id"])
    after = await billing.suspension_candidates(db, datetime(2024, 3, 9, tzinfo=UTC), w.system)
    assert [(c.customer_id, c.reason) for c in after] == [(expired["id"], "expired")]
