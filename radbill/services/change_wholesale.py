"""The sub-operator's side of a package change (radbill.services.package_change applies the rule; its `_credit`
docstring states it): where the wholesale difference of a credit or a charge lands among the customer's bills of
the period (bills.wholesale_minor, the figure paying a bill takes, and bills.wholesale_cut_minor, what credits took
off it) and the credit waiting for a period's bill not issued yet (customers.wholesale_credit_minor)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import asyncpg

if TYPE_CHECKING:
    from radbill.services.package_change import ChangePlan

# the customer's bills that cover the current period or a later one (not void): its package change charges (a
# charge's bill period lies within the period it was made in: the days left, the days used, or the day a later
# period's difference was charged), the period's own bill and a later period's already issued. In the order a
# credit lowers their wholesale: the charges not paid in full first, oldest first (the order the credit's wallet
# pays them in, and a bill paid takes the wholesale it still carries), the charges paid, then the period bills
# not paid in full and those paid
COVERING_BILLS_SQL = """
SELECT id, kind, status, wholesale_minor, wholesale_cut_minor FROM bills
 WHERE customer_id = $1 AND status <> 'void' AND period_end > $2
 ORDER BY kind = 'period', status = 'paid', period_start, id FOR UPDATE
"""
# one statement for the bills touched, not one per bill; `cut` positive lowers, negative puts back
_CUT_WHOLESALE_SQL = """
UPDATE bills b SET wholesale_minor = b.wholesale_minor - t.cut, wholesale_cut_minor = b.wholesale_cut_minor + t.cut
  FROM unnest($1::bigint[], $2::bigint[]) AS t(id, cut) WHERE b.id = t.id
"""


async def covering_bills(conn: asyncpg.Connection, customer_id: int, period_start) -> list[asyncpg.Record]:
    """The customer's bills covering the period starting `period_start` or a later one, locked, in the order a credit lowers them."""
    return await conn.fetch(COVERING_BILLS_SQL, customer_id, period_start)


# a credit waiting for the bill of the period ending on `until` (customers.wholesale_credit_until; two periods
# waiting at once, a change made before the run issued the last period's bill, keep the earlier one: the first
# bill issued takes both)
_WAIT_CREDIT_SQL = """
UPDATE customers SET wholesale_credit_minor = wholesale_credit_minor + $2,
       wholesale_credit_until = least(wholesale_credit_until, $3::date)
 WHERE id = $1
"""
_TAKE_BACK_CREDIT_SQL = """
UPDATE customers SET wholesale_credit_minor = wholesale_credit_minor - $2,
       wholesale_credit_until = CASE WHEN wholesale_credit_minor = $2 THEN NULL ELSE wholesale_credit_until END
 WHERE id = $1
"""


async def lower(conn, plan: ChangePlan, bills, amount_minor: int, *, wait: bool) -> int:
    """Lower the wholesale `bills` carry by up to `amount_minor`, in their order; for the days used of a period not
    billed yet (`wait`), the rest waits for that period's bill. Returns what must go back now: the cuts on bills
    already paid (they took it) and whatever is left over."""
    ids, cuts, returned = [], [], 0
    for bill in bills:
        cut = min(bill["wholesale_minor"], amount_minor - sum(cuts))
        if cut > 0:
            ids.append(bill["id"])
            cuts.append(cut)
            returned += cut if bill["status"] == "paid" else 0
    if ids:
        await conn.execute(_CUT_WHOLESALE_SQL, ids, cuts)
    rest = amount_minor - sum(cuts)
    if rest > 0 and wait and plan.terms.basis == "days_used" and plan.period_end is not None:
        await conn.execute(_WAIT_CREDIT_SQL, plan.customer["id"], rest, plan.period_end)
        rest = 0
    return returned + rest


async def raise_open_period_bill(conn, covering, amount_minor: int) -> int:
    """Add `amount_minor` to the wholesale of the oldest period bill of `covering` not paid in full; how much."""
    bill = next((b for b in covering if b["kind"] == "period" and b["status"] != "paid"), None)
    if bill is None or amount_minor <= 0:
        return 0
    await conn.execute("UPDATE bills SET wholesale_minor = wholesale_minor + $2 WHERE id = $1", bill["id"],
                       amount_minor)
    return amount_minor


async def restore_cut(conn, plan: ChangePlan, amount_minor: int) -> tuple[int, int]:
    """A charge's wholesale difference first puts back what credits took off the period's bills (their
    wholesale_cut_minor), then a credit waiting for the period's bill. Returns (how much it put back, the part of
    it on bills already paid: the sub-operator had that back, so it pays it again now). The rest the charge
    carries itself, also what credits cut from other charges: the credit's wallet pays those first, so putting it
    back there would have the wallet pay a charge's wholesale the change and its reverse never moved."""
    if plan.period_start is None or amount_minor <= 0:
        return 0, 0
    ids, back, paid = [], [], 0
    for bill in await covering_bills(conn, plan.customer["id"], plan.period_start):
        put = min(bill["wholesale_cut_minor"], amount_minor + sum(back)) if bill["kind"] == "period" else 0
        if put > 0:
            ids.append(bill["id"])
            back.append(-put)
            paid += put if bill["status"] == "paid" else 0
    if ids:
        await conn.execute(_CUT_WHOLESALE_SQL, ids, back)
    waiting = await conn.fetchval("SELECT wholesale_credit_minor FROM customers WHERE id = $1", plan.customer["id"])
    taken = min(waiting, amount_minor + sum(back))
    if taken > 0:
        await conn.execute(_TAKE_BACK_CREDIT_SQL, plan.customer["id"], taken)
    return taken - sum(back), paid
