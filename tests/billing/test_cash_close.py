"""Cash close: a collector's day by method, handed over vs expected, locked once closed, later changes shown as
adjustments; scoped (a manager sees only their own)."""

from datetime import UTC, date, datetime, timedelta

import asyncpg
import pytest

from radbill.errors import NotFound, PermissionDenied, ValidationError
from radbill.services import billing, cash_close, corrections, payments
from radbill.tenancy import Scope
from tests import factories as f
from tests.billing.helpers import customer, isp, scope_of

NOW = datetime(2024, 3, 10, 6, 0, tzinfo=UTC)  # 12:00 in Dhaka
DAY = date(2024, 3, 10)


async def world_with_collector(db, role="manager"):
    w = await isp(db, credit_limit_minor=10**9)
    who = await f.insert(db, "accounts", {"operator_id": w.operator["id"], "role": role, "username": f"col-{role}",
                                          "password_hash": "$argon2id$x"})
    c = await customer(db, w, billing_anchor=date(2024, 1, 1))
    await billing.generate_bills(db, NOW, w.system, [c["id"]])
    return w, who, c


async def test_a_day_by_method_closes_once_and_later_corrections_are_adjustments(db):
    w, who, c = await world_with_collector(db)
    pay = await payments.record_cash_payment(db, w.system, c["id"], 50000, collected_by=who["id"], now=NOW)
    await payments.add_advance_payment(db, w.system, c["id"], 20000, collected_by=who["id"], now=NOW)
    # the next local day (00:30 in Dhaka) is not this day
    await payments.add_advance_payment(db, w.system, c["id"], 7000, collected_by=who["id"],
                                       now=datetime(2024, 3, 10, 18, 30, tzinfo=UTC))
    op = scope_of(w.operator)
    day = await cash_close.day_close(db, op, who["id"], DAY)
    assert [(x.method, x.count, x.net_minor) for x in day.live] == [("advance", 1, 20000), ("cash", 1, 50000)]
    assert day.expected_minor == 70000 and day.closed is None

    closed = await cash_close.close_day(db, op, who["id"], DAY, 69000, "short by 10", now=NOW + timedelta(hours=6))
    assert (closed.closed["expected_minor"], closed.closed["handed_over_minor"]) == (70000, 69000)
    with pytest.raises(ValidationError, match="already closed"):
        await cash_close.close_day(db, op, who["id"], DAY, 70000, now=NOW + timedelta(hours=7))

    await corrections.reverse_payment(db, w.system, pay.payment["id"], 50000, "cheque bounced",
                                      now=NOW + timedelta(hours=8))
    later = await cash_close.day_close(db, op, who["id"], DAY)
    assert later.closed["expected_minor"] == 70000  # the closed figures never change
    assert [(x.method, x.net_minor) for x in later.closed_lines] == [("advance", 20000), ("cash", 50000)]
    assert later.adjustments == (("cash", -50000),)
    with pytest.raises(asyncpg.InsufficientPrivilegeError):  # the app may not rewrite a close (append-only)
        await db.execute("SET LOCAL ROLE radbill_app; UPDATE cash_closes SET handed_over_minor = 0")


async def test_cash_close_is_scoped_and_managers_cannot_close(db):
    w, who, c = await world_with_collector(db)
    await payments.record_cash_payment(db, w.system, c["id"], 50000, collected_by=who["id"], now=NOW)
    other = await f.insert(db, "accounts", {"operator_id": w.operator["id"], "role": "manager", "username": "col-2",
                                            "password_hash": "$argon2id$x"})
    mine = Scope(who["id"], w.operator["id"], str(w.operator["path"]), "manager", frozenset({"billing.collect"}))
    assert (await cash_close.day_close(db, mine, who["id"], DAY)).expected_minor == 50000
    with pytest.raises(NotFound):
        await cash_close.day_close(db, mine, other["id"], DAY)  # another collector's day
    assert [r["id"] for r in await cash_close.day_list(db, mine, DAY)] == [who["id"]]
    with pytest.raises(PermissionDenied):
        await cash_close.close_day(db, mine, who["id"], DAY, 50000, now=NOW)
    with pytest.raises(NotFound):
        await cash_close.day_close(db, scope_of(w.sub, "sub_operator"), who["id"], DAY)  # above its subtree
    rows = await cash_close.day_list(db, scope_of(w.operator), DAY)
    assert [(r["id"], r["in_hand_minor"]) for r in rows] == [(who["id"], 50000)]
    with pytest.raises(ValidationError, match="has not ended"):
        await cash_close.close_day(db, scope_of(w.operator), who["id"], DAY + timedelta(days=1), 0, now=NOW)
