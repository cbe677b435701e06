"""Property, against the real database: for any sequence of bill runs, cash and advance payments, the service a
customer gets is never more than the fully paid bills' periods, and those are the money's worth (rule 4 in
radbill.billing: each bill's price is its days' share of the period price)."""

import asyncio
import itertools
from datetime import UTC, date, datetime, timedelta

import asyncpg
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from radbill.billing.periods import Cycle, local_midnight_utc, period_containing
from radbill.services import billing, payments
from tests.billing.helpers import customer, isp

PRICE = 50000
_keys = itertools.count()

cycles = st.one_of(
    st.builds(lambda day: ("fixed_day", day, None), st.integers(1, 31)),
    st.builds(lambda days: ("validity_days", None, days), st.integers(7, 40)),
)
events = st.lists(st.tuples(st.integers(1, 24 * 25),                       # hours since the previous event
                            st.sampled_from(["run", "run", "cash", "advance"]),
                            st.integers(1, 3 * PRICE)), min_size=1, max_size=14)


def served(timeline: list[tuple[datetime, datetime]], end: datetime) -> timedelta:
    """Service actually available: between consecutive events, the time before the expiry then in force, plus
    whatever the last expiry still holds after the last event."""
    total = timedelta(0)
    for (at, expires), (following, _) in itertools.pairwise([*timeline, (end, None)]):
        total += max(timedelta(0), min(following, expires) - at)
    return total + max(timedelta(0), timeline[-1][1] - end)


async def scenario(url: str, cycle_kind, billing_day, validity_days, billing_type, anchor_offset, timezone, steps,
                   due_days=0):
    conn = await asyncpg.connect(url)
    tx = conn.transaction()
    await tx.start()
    try:
        w = await isp(conn, timezone=timezone, cycle_kind=cycle_kind, billing_day=billing_day,
                      validity_days=validity_days, billing_type=billing_type, due_days=due_days)
        anchor = date(2024, 1, 1) + timedelta(days=anchor_offset)
        start = local_midnight_utc(anchor, timezone)  # nothing served before the first bill is paid
        c = await customer(conn, w, owner=w.operator, billing_anchor=anchor, expires_at=start)
        at, money_in, timeline = start + timedelta(minutes=1), 0, []
        timeline.append((start, start))
        for hours, kind, amount in steps:
            at += timedelta(hours=hours)
            if kind == "run":
                await billing.generate_bills(conn, at, w.system, [c["id"]])
            else:
                pay = payments.record_cash_payment if kind == "cash" else payments.add_advance_payment
                await pay(conn, w.system, c["id"], amount, idempotency_key=f"p{next(_keys)}", now=at)
                money_in += amount
            timeline.append((at, await conn.fetchval("SELECT expires_at FROM customers WHERE id = $1", c["id"])))
        paid = await conn.fetch("SELECT * FROM bills WHERE customer_id = $1 AND status = 'paid'", c["id"])
        cycle = Cycle(cycle_kind, billing_day, validity_days, anchor if cycle_kind == "validity_days" else None)
        bought, worth = timedelta(0), 0.0
        for b in paid:
            bought += local_midnight_utc(b["period_end"], timezone) - local_midnight_utc(b["period_start"], timezone)
            whole = period_containing(cycle, b["period_start"])
            assert whole.end == b["period_end"] and whole.start <= b["period_start"]  # a bill never spans periods
            assert b["cycle_days"] == (None if whole.start == b["period_start"] else whole.days)
            days = (b["period_end"] - b["period_start"]).days
            assert abs(b["total_minor"] * whole.days - PRICE * days) * 2 <= whole.days  # its days' share, half-up
            worth += PRICE * days / whole.days
        assert served(timeline, at) <= bought, "served more than the fully paid periods"
        assert sum(b["total_minor"] for b in paid) <= money_in
        assert worth <= money_in + 0.5 * len(paid)  # the days granted are no more than the money buys
        final = timeline[-1][1]
        assert final - start >= bought  # and the paid days are all there: none lost to paying early or late
    finally:
        await tx.rollback()
        await conn.close()


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cycles, st.sampled_from(["prepaid", "postpaid"]), st.integers(0, 27),
       st.sampled_from(["Asia/Dhaka", "Europe/London"]), events, st.sampled_from([0, 3, 10]))
@example(("fixed_day", 1, None), "prepaid", 0, "Asia/Dhaka",  # January unpaid, February paid ahead from credit
         [(1, "run", 1), (1, "run", 1), (1, "advance", 50000), (501, "run", 1)], 10)
def test_service_granted_is_never_more_than_the_money_paid(shared_db_url, cycle, billing_type, anchor_offset, timezone,
                                                           steps, due_days):
    """Prepaid runs inside a lead window (due days, at least one, before a period) bill the next period too."""
    cycle_kind, billing_day, validity_days = cycle
    asyncio.run(scenario(shared_db_url, cycle_kind, billing_day, validity_days, billing_type, anchor_offset, timezone,
                         steps, due_days))


def test_served_counts_only_time_before_the_expiry_in_force():
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    timeline = [(t0, t0), (t0 + timedelta(days=2), t0 + timedelta(days=10)), (t0 + timedelta(days=5), t0)]
    assert served(timeline, t0 + timedelta(days=6)) == timedelta(days=3)
    assert served(timeline[:2], t0 + timedelta(days=4)) == timedelta(days=8)
