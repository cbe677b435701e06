"""What a paid bill buys (rules 1-3 in radbill.billing) against the real database: a bill's period is what it
charges for, and paying it extends service to the end of the paid period(s) — part periods, fixed-day and
validity cycles, prepaid and postpaid, partial payments, advance over several periods, early and late payment."""

from datetime import UTC, date, datetime, timedelta

import pytest

from radbill.services import billing, payments
from tests.billing.helpers import bills_of, customer, expiry, isp, local


async def pay(db, w, c, amount, at, **kw):
    return await payments.record_cash_payment(db, w.system, c["id"], amount, now=at, **kw)


async def test_a_part_period_bill_charges_and_buys_only_its_days(db):
    """The issue's case: added on 27 Nov on "monthly on the 1st, prepaid" -> bill 27 Nov - 1 Dec, 66.67 of 500;
    paid, the expiry is 1 Dec (not 27 Dec)."""
    w = await isp(db, billing_day=1, credit_limit_minor=10**9)
    c = await customer(db, w, billing_anchor=date(2024, 11, 27))
    at = datetime(2024, 11, 27, 6, tzinfo=UTC)
    await billing.generate_bills(db, at, w.system, [c["id"]])
    assert await billing.generate_bills(db, at + timedelta(hours=1), w.system, [c["id"]]) == 0  # still idempotent
    (bill,) = await bills_of(db, c["id"])
    assert (bill["period_start"], bill["period_end"], bill["total_minor"]) == (date(2024, 11, 27), date(2024, 12, 1),
                                                                                 6667)
    out = await pay(db, w, c, 6667, at + timedelta(hours=2))
    assert out.bills_paid == (bill["id"],) and out.expires_at == local(date(2024, 12, 1))
    assert await expiry(db, c["id"]) == local(date(2024, 12, 1))
    # the next run bills December in full, from the 1st
    await billing.generate_bills(db, datetime(2024, 12, 1, 6, tzinfo=UTC), w.system, [c["id"]])
    dec = (await bills_of(db, c["id"]))[-1]
    assert (dec["period_start"], dec["period_end"], dec["total_minor"]) == (date(2024, 12, 1), date(2025, 1, 1), 50000)


@pytest.mark.parametrize(("old_expiry", "new_expiry"), [
    (None, local(date(2024, 4, 1))),                                  # never had one: from the period start
    (local(date(2024, 3, 1)), local(date(2024, 4, 1))),               # expired at the period start, paid on the 25th
    (datetime(2024, 1, 20, tzinfo=UTC), local(date(2024, 4, 1))),     # lapsed long ago: no days for the cut-off time
    (local(date(2024, 3, 13)), local(date(2024, 3, 13)) + timedelta(days=31)),  # paid early: from the expiry
])
async def test_paying_late_or_early_buys_exactly_the_period(db, old_expiry, new_expiry):
    w = await isp(db, billing_day=1, credit_limit_minor=10**9)
    c = await customer(db, w, billing_anchor=date(2024, 1, 1), expires_at=old_expiry)
    await billing.generate_bills(db, datetime(2024, 3, 1, 6, tzinfo=UTC), w.system, [c["id"]])
    paid_at = datetime(2024, 3, 25, 6, tzinfo=UTC) if old_expiry is None or old_expiry < local(date(2024, 3, 2)) \
        else datetime(2024, 3, 2, 6, tzinfo=UTC)
    out = await pay(db, w, c, 50000, paid_at)
    assert out.expires_at == new_expiry == await expiry(db, c["id"])


async def test_a_partial_payment_extends_nothing_until_the_bill_is_paid(db):
    w = await isp(db, billing_day=1, credit_limit_minor=10**9)
    c = await customer(db, w, billing_anchor=date(2024, 1, 1), expires_at=local(date(2024, 3, 1)))
    await billing.generate_bills(db, datetime(2024, 3, 1, 6, tzinfo=UTC), w.system, [c["id"]])
    out = await pay(db, w, c, 20000, datetime(2024, 3, 2, tzinfo=UTC))
    assert out.bills_paid == () and await expiry(db, c["id"]) == local(date(2024, 3, 1))
    out = await pay(db, w, c, 30000, datetime(2024, 3, 3, tzinfo=UTC))
    assert len(out.bills_paid) == 1 and await expiry(db, c["id"]) == local(date(2024, 4, 1))


async def test_one_payment_for_two_open_bills_chains_them_oldest_first(db):
    w = await isp(db, billing_day=1, credit_limit_minor=10**9)
    c = await customer(db, w, billing_anchor=date(2024, 1, 1), expires_at=local(date(2024, 3, 1)))
    for month in (3, 4):
        await billing.generate_bills(db, datetime(2024, month, 1, 6, tzinfo=UTC), w.system, [c["id"]])
    out = await pay(db, w, c, 100000, datetime(2024, 4, 10, tzinfo=UTC))
    assert len(out.bills_paid) == 2 and await expiry(db, c["id"]) == local(date(2024, 5, 1))


async def test_advance_covering_several_periods_pays_each_as_it_is_billed(db):
    w = await isp(db, billing_day=1, credit_limit_minor=10**9)
    c = await customer(db, w, billing_anchor=date(2024, 1, 1), expires_at=local(date(2024, 3, 1)))
    await payments.add_advance_payment(db, w.system, c["id"], 150000, now=datetime(2024, 2, 20, tzinfo=UTC))
    ends = []
    for month in (3, 4, 5):
        await billing.generate_bills(db, datetime(2024, month, 1, 6, tzinfo=UTC), w.system, [c["id"]])
        ends.append(await expiry(db, c["id"]))
    assert ends == [local(date(2024, 4, 1)), local(date(2024, 5, 1)), local(date(2024, 6, 1))]
    assert [b["status"] for b in await bills_of(db, c["id"])] == ["paid"] * 3


async def test_a_validity_cycle_bill_runs_to_its_period_end(db):
    w = await isp(db, cycle_kind="validity_days", billing_day=None, validity_days=30, credit_limit_minor=10**9)
    c = await customer(db, w, billing_anchor=date(2024, 1, 1))
    await billing.generate_bills(db, datetime(2024, 3, 10, tzinfo=UTC), w.system, [c["id"]])
    (bill,) = await bills_of(db, c["id"])
    assert (bill["period_start"], bill["period_end"]) == (date(2024, 3, 1), date(2024, 3, 31))
    out = await pay(db, w, c, 50000, datetime(2024, 3, 20, tzinfo=UTC))  # late: the period still ends on the 31st
    assert out.expires_at == local(date(2024, 3, 31))


@pytest.mark.parametrize(("old_expiry", "new_expiry"), [
    (None, None),  # postpaid service is used before it is billed: no expiry appears for paying
    (local(date(2024, 3, 20)), local(date(2024, 4, 9))),  # one it has grows by the 20 days paid for
])
async def test_postpaid_pays_for_the_period_that_ended(db, old_expiry, new_expiry):
    w = await isp(db, billing_day=1, billing_type="postpaid", credit_limit_minor=10**9)
    c = await customer(db, w, billing_anchor=date(2024, 2, 10), expires_at=old_expiry)
    await billing.generate_bills(db, datetime(2024, 3, 2, tzinfo=UTC), w.system, [c["id"]])
    (bill,) = await bills_of(db, c["id"])  # joined on 10 Feb: charged 10 Feb - 1 Mar, 20 of 29 days
    assert (bill["period_start"], bill["period_end"], bill["total_minor"]) == (date(2024, 2, 10), date(2024, 3, 1),
                                                                                 34483)
    out = await pay(db, w, c, 34483, datetime(2024, 3, 5, tzinfo=UTC))
    assert out.expires_at == new_expiry == await expiry(db, c["id"])


@pytest.mark.parametrize("paid_from", ["cash", "advance"])
async def test_a_reseller_pays_the_part_periods_share_of_the_wholesale_price(db, paid_from):
    w = await isp(db, billing_day=1, wholesale_minor=35000, credit_limit_minor=10**9)
    c = await customer(db, w, billing_anchor=date(2024, 11, 27))  # a sub-operator's customer
    at = datetime(2024, 11, 27, 6, tzinfo=UTC)
    if paid_from == "advance":
        await payments.add_advance_payment(db, w.system, c["id"], 6667, now=at)
    await billing.generate_bills(db, at, w.system, [c["id"]])
    (bill,) = await bills_of(db, c["id"])
    assert (bill["period_end"] - bill["period_start"]).days == 4 and bill["cycle_days"] == 30
    if paid_from == "cash":
        assert (await pay(db, w, c, 6667, at)).wholesale_minor == 4667
    assert (await bills_of(db, c["id"]))[0]["status"] == "paid"
    assert await db.fetchval("SELECT balance_minor FROM operators WHERE id = $1", w.sub["id"]) == -4667  # 4/30 of 350


async def test_migration_0015_moves_old_part_period_bills_to_their_service_start(db):
    from radbill.db.migrate import discover
    (migration,) = [m for m in discover() if m.version.startswith("0015_")]
    w = await isp(db, billing_day=1)
    joined = await customer(db, w, billing_anchor=date(2024, 11, 27))
    longer = await customer(db, w, billing_anchor=date(2024, 1, 1))
    for c, total in ((joined, 6667), (longer, 50000)):  # rows as the bill run wrote them before the fix
        await db.execute("INSERT INTO bills (customer_id, operator_id, package_id, period_start, period_end, currency,"
                         " amount_minor, total_minor, due_at) VALUES ($1, $2, $3, '2024-11-01', '2024-12-01', 'BDT',"
                         " $4, $4, now())", c["id"], c["operator_id"], c["package_id"], total)
    await db.execute(migration.sql)
    await db.execute(migration.sql)  # a second run changes nothing
    assert [(b["period_start"], b["period_end"], b["cycle_days"]) for b in await bills_of(db, joined["id"])] == [
        (date(2024, 11, 27), date(2024, 12, 1), 30)]
    assert [(b["period_start"], b["cycle_days"]) for b in await bills_of(db, longer["id"])] == [
        (date(2024, 11, 1), None)]
