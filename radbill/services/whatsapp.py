"""Sending WhatsApp template messages (the outbox 'whatsapp' handler) and the platform's status webhooks.

A 'whatsapp' row (queued by whatsapp_channel.route_event) makes at most one sms_messages row with channel
'whatsapp' (UNIQUE outbox_id), holding the template and its parameters, so a retried row sends the same values.
The sender's access token is opened only to send. A 5xx, 429 or timeout is retried by the dispatcher; anything
else, or the last retry, fails the message, and WhatsApp-then-SMS queues the SMS once (whatsapp_channel).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import aiohttp
import asyncpg

from radbill import clock
from radbill.errors import RadbillError
from radbill.secretbox import SecretBoxError
from radbill.services import sealed, sms
from radbill.services.outbox import DispatchSettings, Outcome, register
from radbill.services.whatsapp_channel import queue_fallback
from radbill.sms import SendResult
from radbill.sms.whatsapp import (
    TEMPLATE_PARAMETERS,
    StatusUpdate,
    interpret_answer,
    messages_url,
    parse_statuses,
    phone_number_ids,
    signature_valid,
    template_body,
)

log = logging.getLogger("radbill.whatsapp")

SEND_TIMEOUT_SECONDS = 10.0
# stored in English like the SMS errors (the history shows the platform's own words as they came)
NOT_SET_UP = "WhatsApp is not set up for this operator: add the access token under WhatsApp."

INSERT_MESSAGE = """
    INSERT INTO sms_messages (operator_id, customer_id, to_number, body, segments, event, outbox_id, cost_minor,
                              channel, wa_template)
    VALUES ($1, $2, $3, $4, 1, $5, $6, 0, 'whatsapp', $7::jsonb)
    ON CONFLICT (outbox_id) DO NOTHING RETURNING *
"""


# the admin's "Send test" (whatsapp_config.send_test): sent at once, not through the outbox, and kept in the same
# history as every other message, with what WhatsApp answered; a status webhook for its wamid updates it as usual
INSERT_TEST = """
    INSERT INTO sms_messages (operator_id, to_number, body, segments, event, cost_minor, channel, wa_template,
                              status, wamid, provider_message_id, sent_at, error, attempts)
    VALUES ($1, $2, $3, 1, 'test', 0, 'whatsapp', $4::jsonb, $5, $6, $6, CASE WHEN $5 = 'sent' THEN now() END, $7, 1)
    RETURNING *
"""


async def record_test(conn: asyncpg.Connection, operator_id: int, to_number: str, template: str, language: str,
                      sent: SendResult) -> asyncpg.Record:
    """The history row of a test send, with WhatsApp's answer (sent with its wamid, or failed with the error)."""
    return await conn.fetchrow(INSERT_TEST, operator_id, to_number, f"{template} ({language})",
                               json.dumps({"name": template, "language": language, "parameters": []}),
                               "sent" if sent.ok else "failed", sent.provider_message_id if sent.ok else None,
                               None if sent.ok else sent.error)


class SignatureRefused(RadbillError):
    """A status webhook whose X-Hub-Signature-256 no known sender's app secret made."""


def _payload(row) -> dict:
    value = row["payload"]
    return json.loads(value) if isinstance(value, str) else dict(value)


async def make_message(conn: asyncpg.Connection, outbox_id: int, payload: dict) -> asyncpg.Record | str:
    """The history row for a 'whatsapp' outbox row, or a sentence saying why nothing is sent."""
    event = str(payload.get("event"))
    if event not in TEMPLATE_PARAMETERS:
        return f"no WhatsApp message is sent for {event}"
    ctx = await conn.fetchrow(sms.EVENT_CONTEXT, int(payload.get("customer_id") or 0), event)
    if ctx is None:
        return "the customer no longer exists"
    if not ctx["mobile"]:
        return "the customer has no mobile number"
    names = TEMPLATE_PARAMETERS[event]
    # a pay link is made only for a template that carries one (event_values asks the SMS template text)
    values = await sms.event_values(conn, {**dict(ctx), "template": "{pay_link}" if "pay_link" in names else ""},
                                    event, payload)
    parameters = [str(values.get(name) or "") for name in names]
    template = {"name": payload.get("template") or "", "language": payload.get("language") or "bn",
                "parameters": parameters}
    body = f"{template['name']} ({template['language']}): " + " · ".join(p or "-" for p in parameters)
    row = await conn.fetchrow(INSERT_MESSAGE, ctx["operator_id"], ctx["id"], ctx["mobile"], body, event, outbox_id,
                              json.dumps(template))
    return row or await conn.fetchrow("SELECT * FROM sms_messages WHERE outbox_id = $1", outbox_id)


@register("whatsapp")
async def send_whatsapp_row(conn: asyncpg.Connection, row: asyncpg.Record, settings: DispatchSettings) -> Outcome:
    """Outbox handler: make (or find) the row's message and send it; retries come from the dispatcher."""
    payload = _payload(row)
    message = await conn.fetchrow("SELECT * FROM sms_messages WHERE outbox_id = $1", row["id"])
    if message is None:
        made = await make_message(conn, row["id"], payload)
        if isinstance(made, str):
            return Outcome("ack", {"skipped": made})
        message = made
    return await send_message(conn, message, payload, final=row["attempts"] >= settings.retry.max_attempts)


async def send_message(conn: asyncpg.Connection, message: asyncpg.Record, payload: dict, final: bool) -> Outcome:
    """Send through the sender's Cloud API number and record the result; `final`: no retry follows."""
    result = {"sms_message_id": message["id"], "channel": "whatsapp"}
    if message["status"] != "queued":
        return Outcome("ack", {**result, "status": message["status"]})
    sender = await conn.fetchrow("SELECT * FROM whatsapp_settings WHERE operator_id = $1",
                                 int(payload.get("sender_operator_id") or 0))
    template = json.loads(message["wa_template"]) if isinstance(message["wa_template"], str) \
        else dict(message["wa_template"] or {})
    sent = await post_template(sender, message["to_number"], template["name"], template["language"],
                               template["parameters"])
    if sent.ok:
        await conn.execute(
            "UPDATE sms_messages SET status = 'sent', wamid = $2, provider_message_id = $2, sent_at = now(),"
            " error = NULL, attempts = attempts + 1, updated_at = now() WHERE id = $1 AND status = 'queued'",
            message["id"], sent.provider_message_id)
        return Outcome("ack", {**result, "wamid": sent.provider_message_id})
    if sent.transient and not final:
        await conn.execute("UPDATE sms_messages SET error = $2, attempts = attempts + 1, updated_at = now()"
                           " WHERE id = $1", message["id"], sent.error)
        return Outcome("error", result, error=sent.error)
    fallback = await fail_message(conn, message, sent.error or "WhatsApp refused the message", payload)
    if fallback is not None:  # the customer still hears by SMS: nothing for staff to do
        return Outcome("ack", {**result, "failed": sent.error, "fallback_outbox_id": fallback})
    return Outcome("nak", result, error=sent.error, retry=False)


async def post_template(sender: asyncpg.Record | None, to_number: str, name: str, language: str,
                        parameters: list[str]) -> SendResult:
    """One call to the messages endpoint with the sender's own credentials."""
    if sender is None or sender["access_token"] is None:
        return SendResult(False, error=NOT_SET_UP)
    try:
        token = sealed.open_for(sealed.WHATSAPP_TOKEN, sender["operator_id"], sender["access_token"])
    except SecretBoxError as exc:  # a key dropped too early: retrying cannot help
        return SendResult(False, error=f"cannot open the stored WhatsApp access token ({exc}): enter it again "
                                       "under WhatsApp, or restore the key in RADBILL_DATA_KEYS")
    url = messages_url(sender["base_url"], sender["api_version"], sender["phone_number_id"])
    try:
        async with sms.http_session().post(
                url, json=template_body(to_number, name, language, parameters),
                headers={"Authorization": f"Bearer {token}"},
                timeout=aiohttp.ClientTimeout(total=SEND_TIMEOUT_SECONDS)) as response:
            body = await response.text()
    except TimeoutError:
        return SendResult(False, error=f"no answer from WhatsApp within {SEND_TIMEOUT_SECONDS:g} s", transient=True)
    except aiohttp.ClientError as exc:
        return SendResult(False, error=f"cannot reach WhatsApp: {type(exc).__name__}: {exc}"[:300], transient=True)
    return interpret_answer(response.status, body)


async def fail_message(conn: asyncpg.Connection, message: asyncpg.Record, reason: str, payload: dict) -> int | None:
    """Mark the message failed (once) and queue its fallback SMS when chosen; the fallback's outbox id."""
    async with conn.transaction():
        failed = await conn.fetchrow(
            "UPDATE sms_messages SET status = 'failed', error = $2, attempts = attempts + 1, updated_at = now()"
            " WHERE id = $1 AND status IN ('queued', 'sent') RETURNING *", message["id"], reason[:500])
        return await queue_fallback(conn, failed, payload) if failed else None


# --- status webhooks ----------------------------------------------------------------------------------------

async def verify_handshake(conn: asyncpg.Connection, mode: str | None, token: str | None) -> bool:
    """The subscription handshake: mode 'subscribe' and a verify token some operator set (compared by hash)."""
    if mode != "subscribe" or not token:
        return False
    return bool(await conn.fetchval("SELECT true FROM whatsapp_settings WHERE verify_token_hash = $1",
                                    sms.token_hash(token)))


async def record_statuses(conn: asyncpg.Connection, raw_body: bytes, signature: str | None) -> int:
    """Apply a signed status webhook; every sender it names must have signed it with its app secret, else
    SignatureRefused and nothing changes. Returns how many messages changed (0 for repeats and unknown ids)."""
    try:
        payload = json.loads(raw_body)
    except ValueError:
        raise SignatureRefused("the body is not JSON") from None
    senders = {}
    for phone in phone_number_ids(payload):
        sender = await conn.fetchrow("SELECT s.operator_id, s.app_secret, o.path FROM whatsapp_settings s"
                                     " JOIN operators o ON o.id = s.operator_id WHERE s.phone_number_id = $1", phone)
        try:
            secret = sealed.open_for(sealed.WHATSAPP_APP_SECRET, sender["operator_id"], sender["app_secret"]) \
                if sender else None
        except SecretBoxError:
            secret = None
        if not secret or not signature_valid(secret, raw_body, signature):
            raise SignatureRefused(f"no valid signature for phone number id {phone}")
        senders[phone] = sender
    changed = 0
    async with conn.transaction():
        for update in parse_statuses(payload):
            changed += await apply_status(conn, senders[update.phone_number_id], update)
    return changed


# One statement per status; a status never moves a message backwards (a late 'sent' after 'read' changes
# nothing), and only messages the sender itself sent (its subtree's customers) are touched.
STATUS_SQL = {
    "sent": "status = CASE WHEN m.status = 'queued' THEN 'sent' ELSE m.status END, sent_at = coalesce(m.sent_at, v.at)",
    "delivered": "status = 'delivered', delivered_at = v.at",
    "read": "status = 'read', read_at = v.at, delivered_at = coalesce(m.delivered_at, v.at)",
    "failed": "status = 'failed', error = coalesce(v.error, 'WhatsApp could not deliver the message')",
}
STATUS_FROM = {"sent": ("queued", "sent"), "delivered": ("queued", "sent"), "read": ("queued", "sent", "delivered"),
               "failed": ("queued", "sent")}


async def apply_status(conn: asyncpg.Connection, sender: asyncpg.Record, update: StatusUpdate) -> int:
    message = await conn.fetchrow(
        "WITH v (at, error) AS (SELECT $3::timestamptz, $4::text)"  # noqa: S608 -- SET from the fixed STATUS_SQL
        f" UPDATE sms_messages m SET {STATUS_SQL[update.status]}, updated_at = now()"
        "  FROM operators o, v WHERE o.id = m.operator_id AND o.path <@ $2::ltree AND m.channel = 'whatsapp'"
        "   AND m.wamid = $1 AND m.status = ANY($5::text[]) RETURNING m.*",
        update.wamid, sender["path"], _moment(update.timestamp), update.error, list(STATUS_FROM[update.status]))
    if message is None:
        return 0
    if update.status == "failed":
        payload = await conn.fetchval("SELECT payload FROM outbox WHERE id = $1", message["outbox_id"])
        if payload is not None:
            await queue_fallback(conn, message, json.loads(payload) if isinstance(payload, str) else dict(payload))
    return 1


def _moment(timestamp: int | None) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC) if timestamp else clock.now()
