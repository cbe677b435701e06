"""Which channel an event message goes by, and moving it there: the one place the SMS/WhatsApp choice is made.

Every event message enters the outbox as an 'sms' row (queue_event, the set-based bill and reminder writers
alike); the 'sms' handler asks `route_event` first. When the customer's operator (or the nearest one above it
with WhatsApp set up) chose WhatsApp for the event, the row becomes one 'whatsapp' row in that sender's lane and
sends no SMS. A WhatsApp message that finally fails comes back as one 'sms' row (`queue_fallback`) when the
choice was WhatsApp-then-SMS; both keys are used once for ever, so an event reaches a customer by at most one
WhatsApp message and one fallback SMS.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from radbill.services.outbox_queue import enqueue
from radbill.sms.whatsapp import Channel, choose_channel

# the nearest operator up the customer's line with WhatsApp settings: its credentials send, its choice decides
CHOICE = """
    SELECT s.operator_id, s.access_token IS NOT NULL AS has_token, e.channel, e.template_name, e.language
      FROM customers c CROSS JOIN LATERAL radbill_line(c.operator_id) l
      JOIN whatsapp_settings s ON s.operator_id = l.operator_id
      LEFT JOIN whatsapp_events e ON e.operator_id = s.operator_id AND e.event = $2
     WHERE c.id = $1
     ORDER BY l.distance LIMIT 1
"""

# payload keys the routing adds (a fallback SMS drops them again)
ROUTING_KEYS = ("sms_outbox_id", "sender_operator_id", "channel", "template", "language")


@dataclass(frozen=True)
class Choice:
    channel: Channel
    sender_operator_id: int | None = None
    template: str = ""
    language: str = "bn"


async def channel_for(conn: asyncpg.Connection, customer_id: int, event: str) -> Choice:
    """How `event` reaches this customer (SMS unless a WhatsApp sender above it chose otherwise)."""
    row = await conn.fetchrow(CHOICE, customer_id, event)
    channel = choose_channel(event, bool(row and row["has_token"]), row["channel"] if row else None)
    if channel == "sms":
        return Choice("sms")
    return Choice(channel, row["operator_id"], row["template_name"], row["language"])


async def route_event(conn: asyncpg.Connection, row: asyncpg.Record, payload: dict) -> dict | None:
    """For an 'sms' outbox row about to make its event SMS: when the event goes by WhatsApp, queue the WhatsApp
    row instead and say so (the 'sms' row is then done); None when it stays an SMS."""
    if payload.get("fallback_of") or payload.get("message_id") or not payload.get("customer_id"):
        return None
    choice = await channel_for(conn, int(payload["customer_id"]), str(payload.get("event")))
    if choice.channel == "sms":
        return None
    routed = {**payload, "sms_outbox_id": row["id"], "sender_operator_id": choice.sender_operator_id,
              "channel": choice.channel, "template": choice.template, "language": choice.language}
    outbox_id = await enqueue(conn, "whatsapp", row["operator_id"], routed, f"whatsapp:{row['id']}")
    return {"routed": "whatsapp", "channel": choice.channel, "whatsapp_outbox_id": outbox_id}


async def queue_fallback(conn: asyncpg.Connection, message: asyncpg.Record, payload: dict) -> int | None:
    """The SMS for a WhatsApp message that failed, when its event chose WhatsApp-then-SMS; once per message."""
    if payload.get("channel") != "whatsapp_then_sms":
        return None
    plain = {k: v for k, v in payload.items() if k not in ROUTING_KEYS}
    return await enqueue(conn, "sms", message["operator_id"], {**plain, "fallback_of": message["id"]},
                         f"sms:fallback:{message['id']}")
