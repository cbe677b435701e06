"""Builders for billing tests: an ISP with a reseller, customers on chosen cycles, a system scope."""

from __future__ import annotations

from datetime import date, datetime
from types import SimpleNamespace

from radbill.billing.periods import local_midnight_utc
from radbill.tenancy import Scope
from tests import factories as f


def scope_of(op, role="operator") -> Scope:
    return Scope(account_id=None, operator_id=op["id"], path=str(op["path"]), role=role)


async def isp(conn, timezone="Asia/Dhaka", credit_limit_minor=0, wholesale_minor=35000, **profile):
    """Group admin -> operator -> sub-operator, a 500.00 package (30 days) sold by the sub at `wholesale_minor`."""
    root = await f.operator(conn, "group_admin", timezone=timezone)
    op = await f.operator(conn, "operator", root["id"], timezone=timezone)
    sub = await f.operator(conn, "sub_operator", op["id"], timezone=timezone, credit_limit_minor=credit_limit_minor)
    pkg = await f.package(conn, op["id"])
    await f.insert(conn, "package_assignments", {"operator_id": sub["id"], "package_id": pkg["id"],
                                                 "wholesale_price_minor": wholesale_minor})
    prof = await f.billing_profile(conn, op["id"], **profile)
    return SimpleNamespace(root=root, operator=op, sub=sub, package=pkg, profile=prof,
                           system=Scope.system(root["id"], str(root["path"])))


async def customer(conn, world, owner=None, **values):
    owner = owner or world.sub
    return await f.customer(conn, owner["id"], world.package["id"], world.profile["id"], **values)


def local(day: date, timezone: str = "Asia/Dhaka") -> datetime:
    """Local midnight of `day` in the operator's zone, as the UTC instant the billing code works in."""
    return local_midnight_utc(day, timezone)


async def bills_of(conn, customer_id):
    return await conn.fetch("SELECT * FROM bills WHERE customer_id = $1 ORDER BY period_start", customer_id)


async def expiry(conn, customer_id):
    return await conn.fetchval("SELECT expires_at FROM customers WHERE id = $1", customer_id)
