"""Signed webhooks: the one `emit` every service calls inside its own transaction, and the Standard Webhooks
signature (https://www.standardwebhooks.com/): `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`
keyed by the base64-decoded part of the endpoint's `whsec_...` secret.

Who hears an event is decided in SQL by `radbill_webhook_emit` (migration 0048): the enabled endpoints subscribed
to it whose owner's subtree holds the event's operator. The accounting fold's session events reach it through
statement triggers on radacct, so the rule lives in one place for both writers.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Mapping

import asyncpg

from radbill.i18n import lazy_gettext

# the events whose features exist, in the order the admin shows them
EVENTS = {
    "customer.created": lazy_gettext("A customer was created"),
    "customer.updated": lazy_gettext("A customer's details changed"),
    "customer.status_changed": lazy_gettext("A customer was suspended, disabled or activated"),
    "customer.package_changed": lazy_gettext("A customer moved to another package"),
    "customer.deleted": lazy_gettext("A customer was removed (an import rolled back)"),
    "bill.created": lazy_gettext("A bill was created"),
    "payment.received": lazy_gettext("A payment was received"),
    "payment.reversed": lazy_gettext("A payment was reversed"),
    "session.started": lazy_gettext("An internet session started"),
    "session.stopped": lazy_gettext("An internet session stopped"),
    "sms.delivered": lazy_gettext("An SMS delivery report arrived"),
    "ticket.updated": lazy_gettext("A support ticket changed"),
}
SECRET_PREFIX = "whsec_"
TEST_EVENT = "webhook.test"  # sent by hand from the admin to one endpoint; never emitted by a service


class SignatureError(Exception):
    """A webhook whose headers are missing, too old or too new, or whose signature matches no secret given."""


async def emit(conn: asyncpg.Connection, event_type: str, operator_id: int, data: Mapping) -> int:
    """Queue `event_type` for every endpoint that hears events of `operator_id`; call it inside the transaction
    that makes the change, so the event exists exactly when the change does. Returns how many were queued.
    `data` carries ids and the changed fields, never a password or a secret."""
    if event_type not in EVENTS:
        raise ValueError(f"unknown webhook event {event_type!r}")
    return await conn.fetchval("SELECT radbill_webhook_emit($1, $2, $3::jsonb)", event_type, operator_id,
                               json.dumps(dict(data), default=str))


async def emit_many(conn: asyncpg.Connection, event_type: str, events: list[tuple[int, Mapping]]) -> int:
    """`emit` for many events of one type, each (operator id, data), in one statement (an import's thousands of
    new customers); with no endpoint subscribed to the type, one probe and nothing more."""
    if event_type not in EVENTS:
        raise ValueError(f"unknown webhook event {event_type!r}")
    if not events or not await conn.fetchval("SELECT radbill_webhook_subscribed(ARRAY[$1::text])", event_type):
        return 0
    return await conn.fetchval("SELECT radbill_webhook_emit_many($1::text[], $2::bigint[], $3::jsonb[])",
                               [event_type] * len(events), [operator_id for operator_id, _data in events],
                               [json.dumps(dict(data), default=str) for _op, data in events])


def customer_update(customer_id: int, changes: Mapping) -> dict:
    """customer.updated's data, the one shape every service that edits a customer sends: `changes` is
    {field: [old, new]}; a new RADIUS password is said to have changed, never shown."""
    return {"customer_id": customer_id, "changes": {k: v for k, v in changes.items() if k != "radius_password"},
            "password_changed": "radius_password" in changes}


async def customer_updated(conn: asyncpg.Connection, operator_id: int, customer_id: int, changes: Mapping) -> int:
    """customer.updated for one customer (`customer_update`; set-based writers use emit_many with it)."""
    return await emit(conn, "customer.updated", operator_id, customer_update(customer_id, changes))


def changed_fields(before: Mapping, after: Mapping, fields) -> dict:
    """{field: [old, new]} for the fields whose value differs (what a *.updated event carries)."""
    return {f: [before.get(f), after.get(f)] for f in fields if before.get(f) != after.get(f)}


def new_secret() -> str:
    """A fresh endpoint secret in the Standard Webhooks form: 'whsec_' + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header value for one message."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(_key(secret), signed, hashlib.sha256).digest()).decode()


def signed_headers(secret: str, msg_id: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(secret, msg_id, timestamp, body), "content-type": "application/json"}


def verify(secret: str, headers: Mapping[str, str], body: bytes, tolerance: int = 300,
           now: float | None = None) -> dict:
    """Check a received webhook and return its parsed body; SignatureError when it is not from the holder of
    `secret` or its timestamp is more than `tolerance` seconds away (a replay). Header names are matched
    case-insensitively; a signature header may carry several space-separated signatures (during a rotation)."""
    lower = {k.lower(): v for k, v in headers.items()}
    try:
        msg_id, stamp, given = lower["webhook-id"], int(lower["webhook-timestamp"]), lower["webhook-signature"]
    except (KeyError, ValueError) as exc:
        raise SignatureError("missing or malformed webhook headers") from exc
    if abs((time.time() if now is None else now) - stamp) > tolerance:
        raise SignatureError("webhook timestamp outside the tolerance")
    expected = sign(secret, msg_id, stamp, body).partition(",")[2]
    for candidate in given.split():
        version, _, value = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(value, expected):
            return json.loads(body)
    raise SignatureError("no matching signature")


# one statement for a whole bill run; the subscription test is a one-time filter, so without a listener the
# statement reads no bill at all
EMIT_BILLS = """
    SELECT coalesce(radbill_webhook_emit_many(array_agg('bill.created'::text), array_agg(b.operator_id), array_agg(
               jsonb_build_object('bill_id', b.id, 'customer_id', b.customer_id, 'kind', b.kind,
                                  'period_start', b.period_start, 'period_end', b.period_end,
                                  'total_minor', b.total_minor, 'currency', b.currency, 'due_at', b.due_at,
                                  'status', b.status))), 0)
      FROM bills b WHERE b.id = ANY ($1::bigint[]) AND radbill_webhook_subscribed(ARRAY['bill.created'])
"""


async def emit_bills(conn: asyncpg.Connection, bill_ids: list[int]) -> int:
    """bill.created for each of `bill_ids` (set-based: bill runs create thousands at once)."""
    return await conn.fetchval(EMIT_BILLS, bill_ids) if bill_ids else 0
