"""The demo ISP's online payments: a bKash gateway pointing at the local fake bKash (generated merchant credentials,
sealed like real ones), an unpaid bill for the suspended demo customer and a pay link for it."""

from __future__ import annotations

import json
import secrets

import asyncpg

from radbill import clock, secretbox
from radbill.payments.links import create_pay_link, pay_url
from radbill.payments.registry import credentials_context
from radbill.services import billing
from radbill.tenancy import Scope

DEMO_GATEWAY_LABEL = "bKash (local test gateway)"
DEMO_SSLCOMMERZ_LABEL = "SSLCommerz (local test gateway)"


def sealing_available() -> bool:
    """Credentials are stored only sealed: without a data key (RADBILL_DATA_KEYS) the demo has no gateway."""
    try:
        secretbox.seal("probe", "probe")
    except secretbox.SecretBoxError:
        return False
    return True


async def seed_demo_payments(conn: asyncpg.Connection, operator_id: int, root, customer_id: int, bkash_url: str,
                             portal_url: str, sslcommerz_url: str | None = None) -> dict:
    """Inside seed_demo's transaction; the customer is still active (only active customers are billed)."""
    now = clock.now()
    credentials = {"username": "demo-merchant", "password": secrets.token_urlsafe(12),
                   "app_key": secrets.token_hex(8), "app_secret": secrets.token_hex(16)}
    gateway_id = await conn.fetchval(
        "INSERT INTO payment_gateways (operator_id, kind, label, mode, base_url) VALUES ($1, 'bkash', $2, 'sandbox',"
        " $3) RETURNING id", operator_id, DEMO_GATEWAY_LABEL, bkash_url)
    await conn.execute("UPDATE payment_gateways SET credentials_sealed = $2 WHERE id = $1", gateway_id,
                       secretbox.seal(json.dumps(credentials), credentials_context(gateway_id)))
    found = {}
    if sslcommerz_url:  # cards, Nagad, Rocket through the local fake aggregator (fixed demo store credentials)
        from radbill.payments.fakes.sslcommerz import DEMO_STORE_ID, DEMO_STORE_PASSWD

        ssl_id = await conn.fetchval(
            "INSERT INTO payment_gateways (operator_id, kind, label, mode, base_url) VALUES ($1, 'sslcommerz', $2,"
            " 'sandbox', $3) RETURNING id", operator_id, DEMO_SSLCOMMERZ_LABEL, sslcommerz_url)
        store = {"store_id": DEMO_STORE_ID, "store_passwd": DEMO_STORE_PASSWD}
        await conn.execute("UPDATE payment_gateways SET credentials_sealed = $2 WHERE id = $1", ssl_id,
                           secretbox.seal(json.dumps(store), credentials_context(ssl_id)))
        found["sslcommerz"] = {"url": sslcommerz_url, **store}
    # a bill for this month: the service started on the 1st and the paid time ran out yesterday
    await conn.execute("UPDATE customers SET billing_anchor = date_trunc('month', $2::timestamptz)::date,"
                       " expires_at = $2 - interval '1 day' WHERE id = $1", customer_id, now)
    await billing.generate_bills(conn, now, Scope.system(root["id"], str(root["path"])), [customer_id])
    bill_id = await conn.fetchval("SELECT id FROM bills WHERE customer_id = $1 AND status = 'unpaid'"
                                  " ORDER BY period_start LIMIT 1", customer_id)
    token = await create_pay_link(conn, customer_id, bill_id)
    return {"pay_link": pay_url(portal_url, token), "bkash": {"url": bkash_url, **credentials}, **found}
