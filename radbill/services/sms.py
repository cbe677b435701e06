"""Sending SMS: the outbox 'sms' handler, the per-message send (balance debit, gateway, rate limit, result),
and delivery reports.

An outbox 'sms' row carries either an event (payload {event, customer_id, ...}: rendered here from the
nearest template up the operator path) or a ready message (payload {message_id}: broadcasts). Each row makes at
most one sms_messages row (UNIQUE outbox_id), so a retried or re-leased row never makes a second SMS. The
sending operator's SMS balance is debited once per message by a guarded UPDATE (never below zero) before the
provider is called, and refunded when the message finally fails.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import aiohttp
import asyncpg

from radbill.billing.money import format_minor
from radbill.catalog_forms import format_gigabytes
from radbill.errors import NotFound
from radbill.i18n import _
from radbill.secretbox import SecretBoxError
from radbill.services import otp_sms, sealed, sms_events, webhooks, whatsapp_channel
from radbill.services.outbox import DispatchSettings, Outcome, register
from radbill.sms import (
    EVENTS,
    GatewayConfig,
    SendResult,
    build_request,
    count_segments,
    interpret_response,
    parse_delivery_report,
    render,
)
from radbill.sms.text import ALWAYS_ON, DEFAULT_TEMPLATES, ON_BY_DEFAULT

log = logging.getLogger("radbill.sms")

# Stored on the message in English (the balance page counts failures with LIKE 'SMS balance exhausted%'), and
# translated when shown (shown_error) into the reader's language.
NO_GATEWAY = "No SMS gateway is configured: ask your operator to add one under SMS → Gateways."
NO_BALANCE = ("SMS balance exhausted: this message costs {cost} and the balance is {balance}. "
              "Ask your parent operator to top up your SMS balance.")
_NO_BALANCE_STORED = re.compile(r"^SMS balance exhausted: this message costs (?P<cost>.+?) and the balance is "
                                r"(?P<balance>.+?)\. Ask your parent operator to top up your SMS balance\.$")


def shown_error(error: str | None) -> str | None:
    """A stored failure as the reader's language says it; a provider's own words stay as they came."""
    if error == NO_GATEWAY:
        return _("No SMS gateway is configured: ask your operator to add one under SMS → Gateways.")
    match = _NO_BALANCE_STORED.match(error or "")
    if match:
        return _("SMS balance exhausted: this message costs %(cost)s and the balance is %(balance)s. Ask your "
                 "parent operator to top up your SMS balance.", cost=match["cost"], balance=match["balance"])
    return error

GATEWAY_FOR = """
    SELECT g.* FROM radbill_line($1) l JOIN sms_gateways g ON g.operator_id = l.operator_id
     WHERE g.is_default AND g.active
     ORDER BY l.distance LIMIT 1
"""

EVENT_CONTEXT = """
    SELECT c.id, c.name, c.username, c.mobile, c.expires_at, c.operator_id, p.name AS package, o.timezone,
           o.currency, o.kind AS operator_kind, o.sms_segment_price_minor AS price,
           coalesce(isp.business_name, o.name) AS isp_name, t.body AS template, t.enabled AS template_enabled
      FROM customers c JOIN operators o ON o.id = c.operator_id JOIN packages p ON p.id = c.package_id
      LEFT JOIN LATERAL (SELECT a.business_name FROM radbill_line(o.id) l JOIN operators a ON a.id = l.operator_id
                          WHERE coalesce(btrim(a.business_name), '') <> ''
                          ORDER BY l.distance LIMIT 1) isp ON true
      LEFT JOIN LATERAL (SELECT t.body, t.enabled FROM radbill_line(o.id) l JOIN sms_templates t
                                 ON t.operator_id = l.operator_id
                          WHERE t.event = $2 ORDER BY l.distance LIMIT 1) t ON true
     WHERE c.id = $1
"""

BILL_FOR = """
    SELECT id, total_minor, total_minor - paid_minor AS due_minor, due_at, currency FROM bills
     WHERE customer_id = $1 AND (id = $2 OR ($2 IS NULL AND status IN ('unpaid', 'partial')))
     ORDER BY period_start, id LIMIT 1
"""

INSERT_MESSAGE = """
    INSERT INTO sms_messages (operator_id, customer_id, gateway_id, to_number, body, segments, event, outbox_id,
                              cost_minor, fallback_of)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
    ON CONFLICT (outbox_id) DO NOTHING RETURNING *
"""

# One statement: the debit, its balance entry and the message's mark commit together, and the operator's row is
# locked only for this statement. A broadcast's sends all debit that one row; charged in three round trips, each
# send held it ~3x longer and 2,500 sends queued on it (measured: 113 ms average wait per debit).
CHARGE = """
    WITH debit AS (
        UPDATE operators SET sms_balance = sms_balance - $2 WHERE id = $1 AND sms_balance >= $2 RETURNING sms_balance
    ), entry AS (
        INSERT INTO sms_balance_entries (operator_id, kind, amount_minor, balance_after, sms_message_id)
        SELECT $1, 'send', -$2, d.sms_balance, $3 FROM debit d
    ), mark AS (
        UPDATE sms_messages SET charged = true WHERE id = $3 AND EXISTS (SELECT FROM debit)
    )
    SELECT sms_balance FROM debit
"""
REFUND = "UPDATE operators SET sms_balance = sms_balance + $2 WHERE id = $1 RETURNING sms_balance"


def segment_price(operator_kind: str, price_minor: int) -> int:
    """What one segment costs an operator: the group admin owns the gateways and pays nobody."""
    return 0 if operator_kind == "group_admin" else price_minor


def local_date(moment: datetime | None, timezone: str) -> str:
    return moment.astimezone(ZoneInfo(timezone)).strftime("%d %b %Y") if moment else ""


def _payload(row) -> dict:
    value = row["payload"]
    return json.loads(value) if isinstance(value, str) else dict(value)


async def gateway_for(conn: asyncpg.Connection, operator_id: int) -> asyncpg.Record | None:
    """The default active gateway of the operator or, failing that, of the nearest operator above it."""
    return await conn.fetchrow(GATEWAY_FOR, operator_id)


async def event_values(conn: asyncpg.Connection, ctx: asyncpg.Record, event: str, payload: dict) -> dict:
    """Placeholder values for one customer and event, dates in the operator's time zone."""
    bill = await conn.fetchrow(BILL_FOR, ctx["id"], int(payload["bill_id"]) if payload.get("bill_id") else None)
    currency = payload.get("currency") or ctx["currency"]
    if event == "payment_received" and payload.get("amount_minor") is not None:
        amount = format_minor(int(payload["amount_minor"]), currency)
    elif bill is not None:
        amount = format_minor(bill["total_minor"] if event == "bill_generated" else bill["due_minor"], bill["currency"])
    else:
        amount = ""
    expires = payload.get("expires_at")
    expires_at = datetime.fromisoformat(expires) if isinstance(expires, str) and expires else ctx["expires_at"]
    pay_link = await sms_events.pay_link_for(conn, event, ctx["template"], ctx["id"], bill["id"] if bill else None)
    return {"customer_name": ctx["name"], "username": ctx["username"], "amount": amount,
            "due_date": local_date(bill["due_at"], ctx["timezone"]) if bill else "",
            "expiry": local_date(expires_at, ctx["timezone"]), "package": ctx["package"], "isp_name": ctx["isp_name"],
            "pay_link": pay_link,
            "ticket": f"#{payload['ticket_id']} {payload.get('subject') or ''}".strip() if payload.get("ticket_id") else "",
            "code": otp_sms.shown_code(payload), **cap_values(payload)}


def cap_values(payload: dict) -> dict:
    """{data_used} and {speed} of a cap_tier_crossed SMS: '212.5 GB', and the download half of the rate the
    RADIUS module sent ('2M/10M' is upload/download, as RouterOS reads it) as '10Mbps'."""
    used, rate = payload.get("usage_bytes"), str(payload.get("rate") or "")
    return {"data_used": f"{format_gigabytes(int(used))} GB" if used is not None else "",
            "speed": f"{rate.split('/')[1].split()[0]}bps" if "/" in rate else ""}


async def make_event_message(conn: asyncpg.Connection, outbox_id: int, payload: dict) -> asyncpg.Record | str:
    """The sms_messages row for an event outbox row, or a sentence saying why no SMS is due."""
    event = payload.get("event")
    if event not in EVENTS:
        return f"no SMS is sent for {event}"
    ctx = await conn.fetchrow(EVENT_CONTEXT, int(payload.get("customer_id") or 0), event)
    if ctx is None:
        return "the customer no longer exists"
    template = event_template(event, ctx["template"], ctx["template_enabled"])
    if template is None and payload.get("fallback_of") and not ctx["template"]:
        template = DEFAULT_TEMPLATES[event]  # chosen as WhatsApp's fallback: an SMS without a saved text is due
    if template is None:
        return f"the {EVENTS[event]} SMS is turned off"
    if not ctx["mobile"]:
        return "the customer has no mobile number"
    body = render(template, await event_values(conn, ctx, event, payload))  # a login code masked: otp_sms
    segments = count_segments(otp_sms.text_to_send(body, payload)).count
    gateway = await gateway_for(conn, ctx["operator_id"])
    cost = segments * segment_price(ctx["operator_kind"], ctx["price"])
    row = await conn.fetchrow(INSERT_MESSAGE, ctx["operator_id"], ctx["id"], gateway["id"] if gateway else None,
                              ctx["mobile"], body, segments, event, outbox_id, cost,
                              int(payload["fallback_of"]) if payload.get("fallback_of") else None)
    return row or await conn.fetchrow("SELECT * FROM sms_messages WHERE outbox_id = $1", outbox_id)


def event_template(event: str, saved: str | None, enabled: bool | None) -> str | None:
    """The text to send for `event` given the nearest saved template, or None when the SMS is off: a saved
    template decides (except for ALWAYS_ON events); without one, ON_BY_DEFAULT events use the suggested text."""
    if saved:
        return saved if enabled or event in ALWAYS_ON else None
    return DEFAULT_TEMPLATES[event] if event in ON_BY_DEFAULT else None


@register("sms")
async def send_sms_row(conn: asyncpg.Connection, row: asyncpg.Record, settings: DispatchSettings) -> Outcome:
    """Outbox handler: make (or find) the row's message and send it; retries come from the dispatcher."""
    payload = _payload(row)
    if payload.get("message_id"):
        message = await conn.fetchrow("SELECT * FROM sms_messages WHERE id = $1", int(payload["message_id"]))
        if message is None:
            return Outcome("ack", {"skipped": "the message was removed"})
    else:
        message = await conn.fetchrow("SELECT * FROM sms_messages WHERE outbox_id = $1", row["id"])
        if message is None:
            routed = await whatsapp_channel.route_event(conn, row, payload)
            if routed is not None:  # this event goes by WhatsApp: its own row in its sender's lane
                return Outcome("ack", routed)
            made = await make_event_message(conn, row["id"], payload)
            if isinstance(made, str):
                return Outcome("ack", {"skipped": made})
            message = made
    return await send_message(conn, message, final=row["attempts"] >= settings.retry.max_attempts, payload=payload)


async def send_message(conn: asyncpg.Connection, message: asyncpg.Record, final: bool,
                       payload: dict | None = None) -> Outcome:
    """Charge, send through the gateway, record the result on the message; `final`: no retry follows.
    `payload`: the outbox row's, which holds a login code the stored body only shows masked."""
    result = {"sms_message_id": message["id"]}
    if message["status"] != "queued":
        return Outcome("ack", {**result, "status": message["status"]})
    gateway = await conn.fetchrow("SELECT * FROM sms_gateways WHERE id = $1 AND active", message["gateway_id"]) \
        if message["gateway_id"] else None
    if gateway is None:
        await finish_failed(conn, message, NO_GATEWAY)
        return Outcome("error", result, error=NO_GATEWAY, retry=False, alert="sms_no_gateway")
    if not message["charged"] and message["cost_minor"] > 0:
        shortfall = await charge(conn, message)
        if shortfall:
            await finish_failed(conn, message, shortfall)
            return Outcome("error", result, error=shortfall, retry=False, alert="sms_no_balance")
    config = GatewayConfig.from_json(gateway["config"])
    await LIMITER.wait(gateway["id"], config.rate_per_second)
    sent = await deliver(gateway, config, message, otp_sms.text_to_send(message["body"], payload))
    if sent.ok:
        await conn.execute(
            "UPDATE sms_messages SET status = 'sent', provider_message_id = $2, sent_at = now(), error = NULL,"
            " attempts = attempts + 1, updated_at = now() WHERE id = $1 AND status = 'queued'",
            message["id"], sent.provider_message_id)
        return Outcome("ack", {**result, "provider_message_id": sent.provider_message_id})
    if sent.transient and not final:
        await conn.execute("UPDATE sms_messages SET error = $2, attempts = attempts + 1, updated_at = now()"
                           " WHERE id = $1", message["id"], sent.error)
        return Outcome("error", result, error=sent.error)
    await finish_failed(conn, message, sent.error or "the provider refused the message")
    return Outcome("nak", result, error=sent.error, retry=False)


async def charge(conn: asyncpg.Connection, message: asyncpg.Record) -> str | None:
    """Debit the message's cost from its operator's SMS balance (guarded); the reason when it cannot."""
    balance = await conn.fetchval(CHARGE, message["operator_id"], message["cost_minor"], message["id"])
    if balance is None:
        row = await conn.fetchrow("SELECT sms_balance, currency FROM operators WHERE id = $1", message["operator_id"])
        return NO_BALANCE.format(cost=format_minor(message["cost_minor"], row["currency"]),
                                 balance=format_minor(row["sms_balance"], row["currency"]))
    return None


async def finish_failed(conn: asyncpg.Connection, message: asyncpg.Record, reason: str) -> None:
    """Mark the message failed with the reason; give back what it was charged."""
    async with conn.transaction():
        # old.charged is the value before this UPDATE (the subquery reads the row as it was)
        charged = await conn.fetchval(
            "UPDATE sms_messages m SET status = 'failed', error = $2, charged = false, attempts = m.attempts + 1,"
            " updated_at = now() FROM (SELECT id, charged FROM sms_messages WHERE id = $1 FOR UPDATE) old"
            " WHERE m.id = old.id AND m.status = 'queued' RETURNING old.charged", message["id"], reason[:500])
        if charged and message["cost_minor"] > 0:
            balance = await conn.fetchval(REFUND, message["operator_id"], message["cost_minor"])
            await conn.execute("INSERT INTO sms_balance_entries (operator_id, kind, amount_minor, balance_after,"
                               " sms_message_id, memo) VALUES ($1, 'refund', $2, $3, $4, 'not delivered')",
                               message["operator_id"], message["cost_minor"], balance, message["id"])


async def deliver(gateway: asyncpg.Record, config: GatewayConfig, message: asyncpg.Record,
                  text: str | None = None) -> SendResult:
    """One provider call with `text` (the stored body unless given); the log gateway only writes the message to
    the log (it stands for the phone: a login code is written as sent)."""
    text = message["body"] if text is None else text
    if gateway["kind"] == "log":
        log.info("SMS (log gateway %s) to %s: %s", gateway["name"], message["to_number"], text)
        return SendResult(True, provider_message_id=f"log-{message['id']}")
    try:
        secret = sealed.open_for(sealed.SMS_SECRET, gateway["id"], gateway["secret"])
    except SecretBoxError as exc:  # a key dropped too early, or a copied row: retrying cannot help
        return SendResult(False, error=f"cannot open the gateway's stored secret ({exc}): enter it again on "
                                       "the gateway's page, or restore the key in RADBILL_DATA_KEYS")
    request = build_request(config, secret, message["to_number"], text)
    try:
        async with http_session().request(
                request.method, request.url, headers=request.headers, params=request.params, data=request.form,
                json=request.json_body, timeout=aiohttp.ClientTimeout(total=config.timeout_seconds)) as response:
            body = await response.text()
    except TimeoutError:
        return SendResult(False, error=f"no answer from the provider within {config.timeout_seconds:g} s",
                          transient=True)
    except aiohttp.ClientError as exc:
        return SendResult(False, error=f"cannot reach the provider: {type(exc).__name__}: {exc}"[:300],
                          transient=True)
    return interpret_response(config, response.status, body)


class RateLimiter:
    """Spaces sends through one gateway at most `rate` per second within this process (each scheduler replica
    has its own, so N replicas may send N times the rate)."""

    def __init__(self):
        self.next_free: dict[int, float] = {}

    async def wait(self, key: int, rate: float) -> None:
        now = time.monotonic()
        slot = max(now, self.next_free.get(key, now))
        self.next_free[key] = slot + 1.0 / max(rate, 0.01)
        if slot > now:
            await asyncio.sleep(slot - now)


LIMITER = RateLimiter()
_sessions: dict[int, aiohttp.ClientSession] = {}


def http_session() -> aiohttp.ClientSession:
    """One client session per event loop (connection reuse across sends)."""
    loop = asyncio.get_running_loop()
    session = _sessions.get(id(loop))
    if session is None or session.closed or session._loop is not loop:  # noqa: SLF001 -- a recycled loop id
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=50))
        _sessions[id(loop)] = session
    return session


async def close_http() -> None:
    """Close this loop's client session (scheduler shutdown, test teardown)."""
    session = _sessions.pop(id(asyncio.get_running_loop()), None)
    if session is not None:
        await session.close()


# --- delivery reports --------------------------------------------------------------------------------------

def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def record_delivery_report(conn: asyncpg.Connection, gateway_id: int, token: str, fields: dict) -> int:
    """Apply a provider's delivery report to the message it names; NotFound when the gateway or its token is
    wrong (indistinguishable). Returns how many messages changed (0 for a repeat or an unknown id)."""
    gateway = await conn.fetchrow("SELECT id, config, callback_token_hash FROM sms_gateways WHERE id = $1",
                                  gateway_id)
    if gateway is None or gateway["callback_token_hash"] is None or \
            not hmac.compare_digest(bytes(gateway["callback_token_hash"]), token_hash(token)):
        raise NotFound("unknown delivery-report address")
    report = parse_delivery_report(GatewayConfig.from_json(gateway["config"]), fields)
    if report is None or report.status == "sent":
        return 0
    changed = await conn.fetch(
        "UPDATE sms_messages SET status = $3, delivered_at = CASE WHEN $3 = 'delivered' THEN now() END,"
        " error = CASE WHEN $3 = 'failed' THEN $4 ELSE error END, updated_at = now()"
        " WHERE gateway_id = $1 AND provider_message_id = $2 AND status = 'sent'"
        " RETURNING id, operator_id, customer_id, event, status, delivered_at, error",
        gateway_id, report.provider_message_id, report.status, report.error)
    for message in changed:  # a failed report is a delivery report too: the event says which
        await webhooks.emit(conn, "sms.delivered", message["operator_id"], {
            "sms_id": message["id"], "customer_id": message["customer_id"], "event": message["event"],
            "status": message["status"], "delivered_at": message["delivered_at"], "error": message["error"]})
    return len(changed)
