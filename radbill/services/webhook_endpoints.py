"""Webhook endpoints as staff manage them: add, edit, rotate the secret (shown once), enable/disable, send a test
event, read the deliveries log and redeliver by hand. Every lookup is scoped (a foreign id is NotFound).
"""

from __future__ import annotations

import ipaddress
import json
from datetime import datetime
from urllib.parse import urlsplit

import asyncpg

from radbill.errors import NotFound, ValidationError
from radbill.i18n import _
from radbill.services import audit, sealed
from radbill.services.outbox_queue import enqueue
from radbill.services.webhooks import EVENTS, TEST_EVENT, new_secret
from radbill.tenancy import Scope

MAX_URL = 500
MAX_DESCRIPTION = 200
LOOPBACK_NAMES = {"localhost"}


def _is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def clean_url(url: str | None) -> str:
    """The endpoint address if it is acceptable: https (http only to this machine, for development), a host,
    no user name or password in it, at most MAX_URL characters."""
    url = (url or "").strip()
    problem = None
    parts = urlsplit(url) if len(url) <= MAX_URL else None
    if parts is None:
        problem = _("The address is too long: use at most %(n)s characters.", n=MAX_URL)
    elif parts.scheme not in ("https", "http") or not parts.hostname:
        problem = _("Enter the full address of the receiving server, starting with https://.")
    elif parts.username or parts.password:
        problem = _("Do not put a user name or password in the address: each delivery is signed with the "
                    "endpoint's secret instead.")
    elif parts.scheme == "http" and not _is_loopback(parts.hostname):
        problem = _("Use an https:// address: deliveries carry customer data and must be encrypted.")
    if problem:
        raise ValidationError(problem, {"url": problem})
    return url


def clean_events(events) -> list[str]:
    chosen = [e for e in EVENTS if e in set(events or ())]
    if not chosen:
        problem = _("Choose at least one event to send.")
        raise ValidationError(problem, {"events": problem})
    return chosen


def clean_description(text: str | None) -> str:
    text = (text or "").strip()
    if len(text) > MAX_DESCRIPTION:
        problem = _("The description is too long: use at most %(n)s characters.", n=MAX_DESCRIPTION)
        raise ValidationError(problem, {"description": problem})
    return text


GET = ("SELECT e.*, o.name AS operator_name, o.timezone FROM webhook_endpoints e JOIN operators o ON o.id = e.operator_id"
       " WHERE e.id = $1 AND o.path <@ $2::ltree")
GET_FOR_UPDATE = GET + " FOR UPDATE OF e"


async def get_endpoint(conn: asyncpg.Connection, scope: Scope, endpoint_id: int, for_update: bool = False
                       ) -> asyncpg.Record:
    row = await conn.fetchrow(GET_FOR_UPDATE if for_update else GET, endpoint_id, scope.path)
    if row is None:
        raise NotFound(_("No such webhook endpoint."))
    return row


async def list_endpoints(conn: asyncpg.Connection, scope: Scope) -> list[asyncpg.Record]:
    """The endpoints in the scope's subtree with their health (last success, failing since, waiting rows)."""
    return await conn.fetch(
        "SELECT e.*, o.name AS operator_name, o.timezone,"
        "       (SELECT count(*) FROM webhook_deliveries d WHERE d.endpoint_id = e.id AND d.delivered_at IS NULL)"
        "         AS undelivered"
        "  FROM webhook_endpoints e JOIN operators o ON o.id = e.operator_id"
        " WHERE o.path <@ $1::ltree ORDER BY e.id", scope.path)


async def create_endpoint(conn: asyncpg.Connection, scope: Scope, url: str, description: str, events,
                          ip: str | None = None) -> tuple[asyncpg.Record, str]:
    """Register an endpoint owned by the caller's operator; returns it and its secret (shown this once)."""
    url, description, events = clean_url(url), clean_description(description), clean_events(events)
    secret = new_secret()
    async with conn.transaction():
        endpoint_id = await conn.fetchval(
            "INSERT INTO webhook_endpoints (operator_id, url, description, events, secret_sealed)"
            " VALUES ($1, $2, $3, $4, 'unsealed') RETURNING id", scope.operator_id, url, description, events)
        await conn.execute("UPDATE webhook_endpoints SET secret_sealed = $2 WHERE id = $1", endpoint_id,
                           sealed.seal_for(sealed.WEBHOOK_SECRET, endpoint_id, secret))
        await audit.record(conn, scope, "webhook.create", "webhook_endpoint", endpoint_id,
                           {"url": url, "events": events}, ip)
        return await get_endpoint(conn, scope, endpoint_id), secret


async def update_endpoint(conn: asyncpg.Connection, scope: Scope, endpoint_id: int, url: str, description: str,
                          events, ip: str | None = None) -> asyncpg.Record:
    url, description, events = clean_url(url), clean_description(description), clean_events(events)
    async with conn.transaction():
        old = await get_endpoint(conn, scope, endpoint_id, for_update=True)
        await conn.execute("UPDATE webhook_endpoints SET url = $2, description = $3, events = $4 WHERE id = $1",
                           endpoint_id, url, description, events)
        changes = {k: [old[k] if k != "events" else list(old[k]), v] for k, v in
                   (("url", url), ("description", description), ("events", events))
                   if (list(old[k]) if k == "events" else old[k]) != v}
        await audit.record(conn, scope, "webhook.edit", "webhook_endpoint", endpoint_id, changes, ip)
        return await get_endpoint(conn, scope, endpoint_id)


async def rotate_secret(conn: asyncpg.Connection, scope: Scope, endpoint_id: int, ip: str | None = None) -> str:
    """Give the endpoint a new secret (returned, shown once); deliveries from now on are signed with it."""
    secret = new_secret()
    async with conn.transaction():
        await get_endpoint(conn, scope, endpoint_id, for_update=True)
        await conn.execute("UPDATE webhook_endpoints SET secret_sealed = $2 WHERE id = $1", endpoint_id,
                           sealed.seal_for(sealed.WEBHOOK_SECRET, endpoint_id, secret))
        await audit.record(conn, scope, "webhook.rotate", "webhook_endpoint", endpoint_id, {}, ip)
    return secret


async def set_enabled(conn: asyncpg.Connection, scope: Scope, endpoint_id: int, enabled: bool,
                      ip: str | None = None) -> asyncpg.Record:
    """Enable (clearing its failure record) or disable an endpoint; a disabled one hears no new events."""
    async with conn.transaction():
        old = await get_endpoint(conn, scope, endpoint_id, for_update=True)
        if old["enabled"] == enabled:
            return old
        await conn.execute(
            "UPDATE webhook_endpoints SET enabled = $2, disabled_reason = CASE WHEN $2 THEN NULL ELSE 'by_hand' END,"
            " failing_since = CASE WHEN $2 THEN NULL ELSE failing_since END WHERE id = $1", endpoint_id, enabled)
        await audit.record(conn, scope, "webhook.enable" if enabled else "webhook.disable", "webhook_endpoint",
                           endpoint_id, {"url": old["url"]}, ip)
        return await get_endpoint(conn, scope, endpoint_id)


async def send_test(conn: asyncpg.Connection, scope: Scope, endpoint_id: int, ip: str | None = None) -> int:
    """Queue a 'webhook.test' event to this one endpoint (enabled or not); returns the delivery id."""
    async with conn.transaction():
        endpoint = await get_endpoint(conn, scope, endpoint_id)
        delivery_id = await conn.fetchval(
            "INSERT INTO webhook_deliveries (endpoint_id, operator_id, event_id, event_type, payload)"
            " SELECT $1, $2, id, $3, jsonb_build_object('type', $3::text, 'timestamp',"
            "        to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),"
            "        'data', jsonb_build_object('endpoint_id', $1::bigint))"
            "   FROM (SELECT 'msg_' || replace(gen_random_uuid()::text, '-', '') AS id) m RETURNING id",
            endpoint_id, endpoint["operator_id"], TEST_EVENT)
        await _queue(conn, endpoint_id, endpoint["operator_id"], delivery_id)
        await audit.record(conn, scope, "webhook.test", "webhook_endpoint", endpoint_id, {}, ip)
        return delivery_id


# a send of this delivery still waiting in its endpoint's lane (the lane index finds it among the pending rows)
WAITING_SEND = """
    SELECT id FROM outbox WHERE destination = 'webhook:' || $2::bigint AND done_at IS NULL AND failed_at IS NULL
       AND kind = 'webhook' AND (payload->>'delivery_id')::bigint = $1 ORDER BY id LIMIT 1
"""


async def redeliver(conn: asyncpg.Connection, scope: Scope, delivery_id: int, ip: str | None = None
                    ) -> tuple[int, bool]:
    """Send a logged delivery again, by hand: the same id and body (a receiver dedupes on webhook-id). Returns
    (outbox id, queued now): while a send of it is still waiting, a repeat (a double click, a reloaded form)
    queues nothing and gets that send's id."""
    async with conn.transaction():
        # the row lock puts racing requests in line: the second sees the first one's send once it commits
        delivery = await get_delivery(conn, scope, delivery_id, for_update=True)
        waiting = await conn.fetchval(WAITING_SEND, delivery_id, delivery["endpoint_id"])
        if waiting is not None:
            return waiting, False
        outbox_id = await _queue(conn, delivery["endpoint_id"], delivery["operator_id"], delivery_id)
        await audit.record(conn, scope, "webhook.redeliver", "webhook_endpoint", delivery["endpoint_id"],
                           {"delivery_id": delivery_id, "event_id": delivery["event_id"]}, ip)
        return outbox_id, True


async def _queue(conn, endpoint_id: int, operator_id: int, delivery_id: int) -> int:
    # no dedupe key: a hand-made send is meant, and the outbox never sends a webhook key twice
    return await enqueue(conn, "webhook", operator_id,
                         {"webhook_id": endpoint_id, "delivery_id": delivery_id, "by_hand": True})


GET_DELIVERY = ("SELECT d.* FROM webhook_deliveries d JOIN operators o ON o.id = d.operator_id"
                " WHERE d.id = $1 AND o.path <@ $2::ltree")
GET_DELIVERY_FOR_UPDATE = GET_DELIVERY + " FOR UPDATE OF d"


async def get_delivery(conn: asyncpg.Connection, scope: Scope, delivery_id: int, for_update: bool = False
                       ) -> asyncpg.Record:
    row = await conn.fetchrow(GET_DELIVERY_FOR_UPDATE if for_update else GET_DELIVERY, delivery_id, scope.path)
    if row is None:
        raise NotFound(_("No such webhook delivery."))
    return row


async def deliveries(conn: asyncpg.Connection, scope: Scope, endpoint_id: int, limit: int = 50
                     ) -> list[dict]:
    """The endpoint's newest deliveries, each with its attempts (newest first)."""
    await get_endpoint(conn, scope, endpoint_id)
    rows = await conn.fetch(
        "SELECT d.id, d.event_id, d.event_type, d.created_at, d.delivered_at, d.payload::text AS body,"
        "       coalesce((SELECT jsonb_agg(jsonb_build_object('at', a.at, 'status_code', a.status_code,"
        "                 'duration_ms', a.duration_ms, 'response', a.response_excerpt, 'error', a.error)"
        "                 ORDER BY a.id DESC) FROM webhook_attempts a WHERE a.delivery_id = d.id), '[]') AS attempts"
        "  FROM webhook_deliveries d WHERE d.endpoint_id = $1 ORDER BY d.id DESC LIMIT $2", endpoint_id, limit)
    return [{**dict(r), "attempts": [{**a, "at": datetime.fromisoformat(a["at"])} for a in json.loads(r["attempts"])]}
            for r in rows]
