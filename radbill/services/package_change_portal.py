"""The customer's side of a package change (portal): what they may choose, a request to staff, an upgrade paid
online. Every change itself goes through radbill.services.package_change — the same preview, the same service.

Per operator (`operators.portal_package_change`):
- off: the portal lists the packages and prices only;
- request: choosing one opens a support ticket (category 'other') naming the package and the previewed figures,
  with the admin page that applies it; staff approve by applying it there (preview + confirmation as always);
- pay_now: an upgrade that applies now and costs something is paid online (a payment intent for the charge,
  carrying the package); settlement applies the change exactly once (apply_paid_change, called by
  radbill.payments.settle under the intent's lock) and pays the charge with the captured money. Anything else
  (a cheaper package, one that waits for the next period) is sent as a request.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg

from radbill import clock
from radbill.errors import ValidationError
from radbill.i18n import _
from radbill.payments.settle import create_intent
from radbill.services import package_change, package_change_text, tickets
from radbill.tenancy import CustomerScope, Scope

PACKAGES_SQL = """
SELECT p.id, p.name, p.download_kbps, p.upload_kbps, p.burst_download_kbps, p.burst_upload_kbps,
       p.burst_threshold_download_kbps, p.burst_threshold_upload_kbps, p.burst_time_seconds,
       coalesce(c.custom_price_minor, pa.retail_price_minor, p.price_minor) AS price_minor, p.id = c.package_id AS current
  FROM customers c
  JOIN packages p ON radbill_sellable('package', p.id, c.operator_id)
  LEFT JOIN package_assignments pa ON pa.operator_id = c.operator_id AND pa.package_id = p.id
 WHERE c.id = $1 AND p.status = 'active' AND c.connection_type = ANY (p.connection_types)
 ORDER BY 10, p.name
"""
PAY_TTL = timedelta(minutes=30)


async def operator_scope(conn: asyncpg.Connection, customer_id: int) -> tuple[Scope, str]:
    """The system acting inside the customer's own operator (the portal session names the customer; never a
    form), and that operator's portal setting."""
    row = await conn.fetchrow("SELECT o.id, o.path::text AS path, o.portal_package_change FROM customers c"
                              " JOIN operators o ON o.id = c.operator_id WHERE c.id = $1", customer_id)
    return Scope.system(row["id"], row["path"]), row["portal_package_change"]


async def packages_for_customer(conn: asyncpg.Connection, customer_id: int) -> list[asyncpg.Record]:
    """The active packages the customer's operator sells for this connection, at the customer's price."""
    return await conn.fetch(PACKAGES_SQL, customer_id)


def pays_online(setting: str, plan: package_change.ChangePlan) -> bool:
    """The one rule of which choice is paid at once: an operator on pay_now, a change that applies now and costs."""
    return setting == "pay_now" and plan.terms.applies == "now" and plan.charge_minor > 0


async def request_change(conn: asyncpg.Connection, customer: CustomerScope, plan: package_change.ChangePlan,
                         ip: str | None = None) -> asyncpg.Record:
    """A ticket to staff asking for the change, with the figures the customer was shown and where to apply it.
    `conn` must be scoped to the customer (the ticket is theirs)."""
    c = plan.customer
    subject = _("Package change request: %(old)s to %(new)s", old=plan.old_package_name, new=plan.package["name"])
    page = f"/customers/{c['id']}/package?package_id={plan.package['id']}"
    lines = [*package_change_text.sentences(plan, for_customer=True),
             _("Staff: apply it on the customer's package page: %(path)s", path=page)]
    return await tickets.open_ticket(conn, customer, c["id"], "other", subject[:tickets.MAX_SUBJECT],
                                     "\n".join(lines), ip=ip)


async def start_paid_change(conn: asyncpg.Connection, scope: Scope, customer_id: int, package_id: int,
                            gateway_id: int, now: datetime | None = None) -> asyncpg.Record:
    """A payment intent for the upgrade's charge, carrying the package (settlement applies it)."""
    now = now or clock.now()
    plan = await package_change.preview_change(conn, scope, customer_id, package_id, now)
    if not pays_online("pay_now", plan):
        raise ValidationError(_("This change is not paid online: send it to your provider as a request."),
                              {"package_id": _("not an upgrade paid now")})
    async with conn.transaction():
        intent = await create_intent(conn, scope, customer_id, None, plan.charge_minor, gateway_id, "portal",
                                     PAY_TTL, now=now)
        return await conn.fetchrow("UPDATE payment_intents SET package_id = $2 WHERE id = $1 RETURNING *",
                                   intent["id"], package_id)

