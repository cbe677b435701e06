"""The outbox handler 'webhook': POST one delivery, signed, to its endpoint; log the attempt; keep the endpoint's
health; disable an endpoint that has failed for `webhook_disable_days` without one success, with an alert.

Retries, backoff and giving up are the outbox's own (radbill.services.outbox): a failed attempt returns a
retrying Outcome. Redirects are never followed (a signed body must not wander to another host), and a silence
counts against the endpoint's circuit breaker like a router's.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import timedelta

import aiohttp
import asyncpg

from radbill import clock
from radbill.i18n import _, use_locale
from radbill.services import alerts, sealed
from radbill.services.outbox import DispatchSettings, Outcome, register
from radbill.services.recipient_locale import operator_locale
from radbill.services.webhooks import signed_headers

log = logging.getLogger("radbill.webhooks")
EXCERPT = 1024  # characters of the response kept per attempt
ALERT_KIND = "webhook_failing"

DELIVERY = """
    SELECT d.id, d.endpoint_id, d.operator_id, d.event_id, d.event_type, d.payload::text AS body,
           e.url, e.secret_sealed, e.enabled, e.failing_since
      FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
     WHERE d.id = $1
"""
ATTEMPT = """INSERT INTO webhook_attempts (delivery_id, operator_id, at, status_code, duration_ms, response_excerpt,
                                           error) VALUES ($1, $2, $3, $4, $5, $6, $7)"""


@register("webhook")
async def send_webhook(conn: asyncpg.Connection, row: asyncpg.Record, settings: DispatchSettings) -> Outcome:
    """Send one queued delivery; the outcome goes back to the outbox (ack, or a retry with backoff)."""
    payload = json.loads(row["payload"]) if isinstance(row["payload"], str) else dict(row["payload"])
    delivery = await conn.fetchrow(DELIVERY, int(payload["delivery_id"]))
    # 'gone' finishes the row without an alert: the owner removed or disabled the endpoint on purpose (an
    # endpoint disabled for failing has had its alert already)
    if delivery is None:
        return Outcome("gone", {"skipped": "the webhook endpoint was deleted"})
    if not delivery["enabled"] and not payload.get("by_hand"):
        return Outcome("gone", {"skipped": "the webhook endpoint is disabled"})
    secret = sealed.open_for(sealed.WEBHOOK_SECRET, delivery["endpoint_id"], delivery["secret_sealed"])
    body = delivery["body"].encode()
    status, excerpt, error, took = await post(delivery["url"], signed_headers(secret, delivery["event_id"], body),
                                              body, settings.webhook_timeout)
    ok = status is not None and 200 <= status < 300
    async with conn.transaction():
        await conn.execute(ATTEMPT, delivery["id"], delivery["operator_id"], clock.now(), status, took, excerpt,
                           error)
        if ok:
            await conn.execute("UPDATE webhook_deliveries SET delivered_at = $2 WHERE id = $1", delivery["id"],
                               clock.now())
            await conn.execute("UPDATE webhook_endpoints SET failing_since = NULL, last_success_at = $2"
                               " WHERE id = $1", delivery["endpoint_id"], clock.now())
        else:
            await _failed(conn, delivery, settings)
    result = {"webhook_id": delivery["endpoint_id"], "status_code": status, "duration_ms": took}
    if ok:
        return Outcome("ack", result)
    kind = "timeout" if error == "timeout" else ("nak" if status is not None else "error")
    return Outcome(kind, result, error=error or f"HTTP {status}", alert=ALERT_KIND)


async def post(url: str, headers: dict, body: bytes, seconds: float) -> tuple[int | None, str | None, str | None, int]:
    """(status code, response excerpt, error, milliseconds) of one POST; never raises for a network failure."""
    started = time.monotonic()
    status = excerpt = error = None
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=seconds)) as session, \
                session.post(url, data=body, headers=headers, allow_redirects=False) as response:
            status = response.status
            excerpt = (await response.content.read(EXCERPT)).decode("utf-8", "replace")[:EXCERPT]
            if 300 <= status < 400:
                error = f"HTTP {status}: redirects are not followed"
    except TimeoutError:
        error = "timeout"
    except aiohttp.ClientError as exc:
        error = f"{type(exc).__name__}: {exc}"[:500]
    return status, excerpt, error, int((time.monotonic() - started) * 1000)


async def _failed(conn, delivery, settings: DispatchSettings) -> None:
    """Mark the endpoint failing (from its first failure on); past the limit, disable it and alert its owner."""
    now = clock.now()
    since = await conn.fetchval(
        "UPDATE webhook_endpoints SET failing_since = coalesce(failing_since, $2) WHERE id = $1"
        " RETURNING failing_since", delivery["endpoint_id"], now)
    if not delivery["enabled"] or since is None or now - since < timedelta(days=settings.webhook_disable_days):
        return
    await disable_failing(conn, delivery["endpoint_id"], delivery["operator_id"], delivery["url"], since)


async def disable_failing(conn, endpoint_id: int, operator_id: int, url: str, since) -> None:
    """Disable an endpoint that has not accepted a delivery since `since`, and alert its owner."""
    done = await conn.fetchval(
        "UPDATE webhook_endpoints SET enabled = false, disabled_reason = 'failing' WHERE id = $1 AND enabled"
        " RETURNING id", endpoint_id)
    if done is None:
        return
    with use_locale(await operator_locale(conn, operator_id)):
        message = _("The webhook endpoint %(url)s has failed every delivery since %(since)s, so it was disabled. "
                    "Fix the receiving server, then enable the endpoint again under Webhooks.",
                    url=url, since=since.strftime("%Y-%m-%d %H:%M UTC"))
    log.error("webhook endpoint %s (%s) disabled: failing since %s", endpoint_id, url, since)
    await alerts.raise_alert(conn, operator_id, ALERT_KIND, f"endpoint:{endpoint_id}", message,
                             {"webhook_id": endpoint_id, "url": url}, "webhook_endpoint", endpoint_id)
