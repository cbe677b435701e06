"""Webhook tests' helpers: fast retries, an endpoint registered at the local receiver, draining the webhook rows."""

from __future__ import annotations

import asyncio

from radbill.services import webhook_delivery, webhook_endpoints
from radbill.services.outbox import DispatchSettings, RetryPolicy, drain
from radbill.services.webhooks import EVENTS
from tests.support.scopes import scope_of
from tests.webhook_receiver import WebhookReceiver

FAST = DispatchSettings(retry=RetryPolicy(max_attempts=3, base_delay=0.01, factor=1.0, max_delay=0.01, jitter=0.0),
                        webhook_timeout=2.0)
HANDLERS = {"webhook": webhook_delivery.send_webhook}


async def register(pool, receiver: WebhookReceiver, operator, name: str, events=tuple(EVENTS)) -> int:
    """An endpoint of `operator` pointing at the receiver's /name, whose secret the receiver knows."""
    async with pool.acquire() as conn:
        endpoint, secret = await webhook_endpoints.create_endpoint(conn, scope_of(operator), receiver.url(name),
                                                                   f"test {name}", list(events))
    receiver.secrets[f"/{name}"] = secret
    return endpoint["id"]


async def settle(pool, settings: DispatchSettings = FAST, rounds: int = 50) -> None:
    """Dispatch until no webhook row is pending (retries included); bounded."""
    for _ in range(rounds):
        await drain(pool, settings, max_seconds=30, handlers=HANDLERS)
        async with pool.acquire() as c:
            pending = await c.fetchval("SELECT count(*) FROM outbox WHERE kind = 'webhook'"
                                       " AND done_at IS NULL AND failed_at IS NULL")
        if not pending:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{pending} webhook rows still pending")
