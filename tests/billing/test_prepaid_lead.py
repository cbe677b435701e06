"""Prepaid bills are issued ahead of their period (radbill.billing rule 1): `max(due_days, 1)` days before it
starts, due when it starts. So advance credit moves the expiry past a period boundary before the boundary comes,
a customer without credit can pay before expiry, and a new customer inside the lead window gets both bills."""

from datetime import UTC, date, datetime, timedelta

import pytest

from radbill.services import billing, payments
from tests.billing.helpers import bills_of, customer, expiry, isp, local

LEAD = 3  # the profile's due days


@pytest.mark.parametrize(("cycle", "current", "boundary", "next_end"), [
    ({"billing_day": 1}, date(2024, 3, 1), date(2024, 4, 1), date(2024, 5, 1)),
    ({"cycle_kind": "validity_days", "billing_day": None, "validity_days": 30},  # from 1 Jan: ... 1 Mar, 31 Mar
     date(2024, 3, 1), date(2024, 3, 31), date(2024, 4, 30)),
])
async def test_advance_credit_moves_the_expiry_past_the_boundary_before_it_comes(db, cycle, current, boundary,
                                                                                next_end):
    w = await isp(db, due_days=LEAD, credit_limit_minor=10**9, **cycle)
    c = await customer(db, w, billing_anchor=date(2024, 1, 1), expires_at=local(current))
    await payments.add_advance_payment(db, w.system, c["id"], 100000, now=local(current) - timedelta(days=5))
    await billing.generate_bills(db, local(current) + timedelta(hours=1), w.system, [c["id"]])
    assert await expiry(db, c["id"]) == local(boundary)
    # the first hourly run inside the lead window bills and pays the next period: service never stops
    run_at = local(boundary) - timedelta(days=LEAD) + timedelta(hours=1)
    assert await billing.generate_bills(db, run_at, w.system, [c["id"]]) == 1
    assert await expiry(db, c["id"]) == local(next_end)
    assert [(b["period_start"], b["status"]) for b in await bills_of(db, c["id"])] == [(current, "paid"),
                                                                                      (boundary, "paid")]
    assert await billing.suspension_candidates(db, local(boundary) + timedelta(hours=1), w.system) == []


async def test_without_credit_the_bill_comes_ahead_and_paying_the_day_before_keeps_service(db):
    w = await isp(db, billing_day=1, due_days=LEAD, credit_limit_minor=10**9)
    c = await customer(db, w, billing_anchor=date(2024, 1, 1), expires_at=local(date(2024, 3, 1)),
                       mobile="+8801712345678")
    await billing.generate_bills(db, local(date(2024, 3, 1)) + timedelta(hours=1), w.system, [c["id"]])
    await payments.record_cash_payment(db, w.system, c["id"], 50000, now=local(date(2024, 3, 2)))
    assert await expiry(db, c["id"]) == local(date(2024, 4, 1))  # March paid
    before_lead = local(date(2024, 3, 29)) - timedelta(minutes=55)  # 28 Mar 23:05 Dhaka: not yet
    assert await billing.generate_bills(db, before_lead, w.system, [c["id"]]) == 0
    issued = local(date(2024, 3, 29)) + timedelta(minutes=5)  # the run at boundary - lead
    assert await billing.generate_bills(db, issued, w.system, [c["id"]]) == 1
    april = (await bills_of(db, c["id"]))[-1]
    assert (april["period_start"], april["period_end"], april["issued_at"]) == (date(2024, 4, 1), date(2024, 5, 1),
                                                                                issued)
    assert april["due_at"] == local(date(2024, 4, 1))  # due when the period starts
    assert await db.fetchval("SELECT count(*) FROM outbox WHERE dedupe_key = $1",
                             f"sms:bill_generated:{april['id']}") == 1  # the customer is told at once
    out = await payments.record_cash_payment(db, w.system, c["id"], 50000, now=local(date(2024, 3, 31)))
    assert out.bills_paid == (april["id"],)  # paid the day before the boundary
    assert await expiry(db, c["id"]) == local(date(2024, 5, 1))  # straight across the boundary
    assert await billing.suspension_candidates(db, local(date(2024, 4, 1)) + timedelta(hours=1), w.system) == []
    assert await billing.generate_bills(db, local(date(2024, 4, 1)) + timedelta(hours=1), w.system, [c["id"]]) == 0


async def test_an_unpaid_prepaid_bill_is_due_at_its_period_start_and_suspends_after_grace(db):
    w = await isp(db, billing_day=1, due_days=LEAD, grace_days=2, credit_limit_minor=10**9)
    c = await customer(db, w, billing_anchor=date(2024, 1, 1))
    await billing.generate_bills(db, local(date(2024, 3, 29)) + timedelta(minutes=5), w.system, [c["id"]])
    april = (await bills_of(db, c["id"]))[-1]
    assert april["period_start"] == date(2024, 4, 1)

    async def unpaid_april(at):
        found = await billing.suspension_candidates(db, at, w.system)
        return [x.bill_id for x in found if x.reason == "unpaid_bill"] == [april["id"]]

    await db.execute("UPDATE bills SET status = 'paid', paid_minor = total_minor WHERE id <> $1 AND customer_id = $2",
                     april["id"], c["id"])
    assert not await unpaid_april(local(date(2024, 4, 3)) - timedelta(seconds=1))
    assert await unpaid_april(local(date(2024, 4, 3)))  # due 1 Apr + 2 grace days


async def test_a_new_customer_in_the_lead_window_gets_the_prorated_bill_and_the_next(db):
    w = await isp(db, billing_day=1, due_days=LEAD, credit_limit_minor=10**9)
    joined = datetime(2024, 11, 29, 4, tzinfo=UTC)  # 29 Nov 10:00 Dhaka, inside December's lead window
    exact = await customer(db, w, created_at=joined)
    short = await customer(db, w, created_at=joined)
    await payments.add_advance_payment(db, w.system, exact["id"], 3333 + 50000, now=joined)
    await payments.add_advance_payment(db, w.system, short["id"], 40000, now=joined)
    assert await billing.generate_bills(db, joined + timedelta(minutes=1), w.system, [exact["id"], short["id"]]) == 4
    assert await billing.generate_bills(db, joined + timedelta(hours=1), w.system, [exact["id"], short["id"]]) == 0
    rows = {cid: [(b["period_start"], b["period_end"], b["total_minor"], b["paid_minor"], b["status"])
                  for b in await bills_of(db, cid)] for cid in (exact["id"], short["id"])}
    nov, dec = (date(2024, 11, 29), date(2024, 12, 1), 3333), (date(2024, 12, 1), date(2025, 1, 1), 50000)
    assert rows[exact["id"]] == [(*nov, 3333, "paid"), (*dec, 50000, "paid")]
    # the wallet pays the oldest first and never more than it holds
    assert rows[short["id"]] == [(*nov, 3333, "paid"), (*dec, 40000 - 3333, "partial")]
    assert await expiry(db, exact["id"]) == local(date(2025, 1, 1))
    assert await expiry(db, short["id"]) == local(date(2024, 12, 1))
    advance = "SELECT -coalesce(sum(e.amount_minor), 0) FROM ledger_entries e JOIN ledger_accounts a" \
              " ON a.id = e.account_id WHERE a.kind = 'customer_advance' AND a.customer_id = $1"
    assert [await db.fetchval(advance, cid) for cid in (exact["id"], short["id"])] == [0, 0]


async def test_paying_the_overdue_bill_reactivates_though_the_next_is_already_issued(db):
    """A bill issued ahead and not yet due does not keep a suspended customer cut off once what is due is paid."""
    w = await isp(db, billing_day=1, due_days=LEAD, grace_days=30, credit_limit_minor=10**9)
    # the operator gave them until 1 Apr by hand; March is billed on 1 Mar and left unpaid
    c = await customer(db, w, billing_anchor=date(2024, 1, 1), expires_at=local(date(2024, 4, 1)))
    await billing.generate_bills(db, local(date(2024, 3, 1)) + timedelta(hours=1), w.system, [c["id"]])
    await billing.generate_bills(db, local(date(2024, 3, 29)) + timedelta(hours=1), w.system, [c["id"]])
    march, april = await bills_of(db, c["id"])
    assert april["due_at"] == local(date(2024, 4, 1))
    assert await billing.suspend_overdue(db, local(date(2024, 3, 31)) + timedelta(hours=1)) == {"suspended": 1,
                                                                                                  "failed": 0}
    out = await payments.record_cash_payment(db, w.system, c["id"], 50000, now=local(date(2024, 3, 31)) +
                                             timedelta(hours=3))
    assert out.bills_paid == (march["id"],) and out.reactivated  # April, not yet due, is no reason to stay cut off
    assert await db.fetchval("SELECT status FROM customers WHERE id = $1", c["id"]) == "active"


async def test_a_lapsed_customer_paying_the_next_period_ahead_gets_its_days_from_now_not_a_free_gap(db):
    """Found by the Hypothesis property: January unpaid (cut off since 1 Jan), credit arrives, and the run on
    22 Jan issues February and pays it from the credit. Expiry 1 Mar would serve 22 Jan - 1 Feb unpaid."""
    w = await isp(db, billing_day=1, due_days=10, credit_limit_minor=10**9)
    c = await customer(db, w, billing_anchor=date(2024, 1, 1), expires_at=local(date(2024, 1, 1)))
    await billing.generate_bills(db, local(date(2024, 1, 1)) + timedelta(hours=1), w.system, [c["id"]])
    await payments.add_advance_payment(db, w.system, c["id"], 50000, now=local(date(2024, 1, 1)) + timedelta(hours=2))
    run_at = local(date(2024, 1, 22)) + timedelta(minutes=5)
    assert await billing.generate_bills(db, run_at, w.system, [c["id"]]) == 1
    january, february = await bills_of(db, c["id"])
    assert (january["status"], february["status"]) == ("unpaid", "paid")
    assert await expiry(db, c["id"]) == run_at + timedelta(days=29)  # February's 29 days, served from now
