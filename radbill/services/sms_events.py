"""Queue event SMS from other services, inside their transaction (the outbox 'sms' handler renders and sends).

Kept free of the sending machinery so customers.py and billing.py can import it without import cycles.
"""

from __future__ import annotations

import asyncpg

from radbill.config import portal_base_url_from_env
from radbill.payments.links import DEFAULT_TTL as DEFAULT_PAY_LINK_TTL
from radbill.payments.links import create_pay_link
from radbill.services.outbox_queue import enqueue

# one row per bill, all in one radbill_enqueue_many call (migration 0050: radbill_enqueue's rule, for a set), in bill
# id order; customers without a mobile get none (the handler would skip them anyway)
QUEUE_BILLS = """
WITH nb AS MATERIALIZED (
    SELECT b.id, b.operator_id, b.customer_id, b.total_minor, b.currency
      FROM bills b JOIN customers c ON c.id = b.customer_id
     WHERE b.id = ANY($1::bigint[]) AND c.mobile IS NOT NULL
)
SELECT count(*) FROM radbill_enqueue_many(
    'sms',
    (SELECT array_agg(operator_id ORDER BY id) FROM nb),
    (SELECT array_agg(jsonb_build_object('event', 'bill_generated', 'customer_id', customer_id, 'bill_id', id,
                                         'amount_minor', total_minor, 'currency', currency) ORDER BY id) FROM nb),
    (SELECT array_agg('sms:bill_generated:' || id ORDER BY id) FROM nb))
"""

STATUS_EVENTS = {"suspended": "account_suspended", "active": "account_activated"}


async def queue_event(conn: asyncpg.Connection, operator_id: int, customer_id: int, event: str,
                      dedupe_key: str | None = None, **extra) -> int | None:
    """Queue one event SMS for a customer; returns the outbox id (None when `dedupe_key` was queued before)."""
    payload = {"event": event, "customer_id": customer_id, **extra}
    return await enqueue(conn, "sms", operator_id, payload, dedupe_key)


async def queue_status_sms(conn: asyncpg.Connection, customer: asyncpg.Record, new_status: str) -> int | None:
    """After a status change to suspended/active: queue account_suspended/account_activated (other statuses:
    nothing). Call it in the same transaction as the UPDATE; one call per change is one SMS."""
    event = STATUS_EVENTS.get(new_status)
    if event is None:
        return None
    return await queue_event(conn, customer["operator_id"], customer["id"], event)


async def queue_bill_sms(conn: asyncpg.Connection, bill_ids: list[int]) -> None:
    """Queue bill_generated for new bills, set-based (one statement for the whole run); safe to repeat."""
    if bill_ids:
        await conn.execute(QUEUE_BILLS, list(bill_ids))


# the SMS events that ask for money (a suspension says "pay to reconnect"); their templates may carry {pay_link}
PAY_LINK_EVENTS = frozenset({"bill_generated", "due_reminder", "expiry_reminder", "account_suspended"})


def portal_url() -> str:
    """Where customers reach the portal (RADBILL_PORTAL_URL, e.g. https://pay.example.net; else the portal's own
    host and port, as radbill.config decides for the portal itself)."""
    return portal_base_url_from_env()


async def pay_link_for(conn: asyncpg.Connection, event: str, template: str, customer_id: int,
                       bill_id: int | None) -> str:
    """The {pay_link} value: a short link to pay `bill_id` (an advance top-up when None), made only when the
    template uses it (a link is a row: none is made for a message that would not carry it)."""
    if event not in PAY_LINK_EVENTS or "{pay_link}" not in (template or ""):
        return ""
    token = await create_pay_link(conn, customer_id, bill_id, DEFAULT_PAY_LINK_TTL)
    return f"{portal_url()}/pay/{token}"
