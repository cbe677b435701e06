"""Exactly-once settlement of online payments: the one place that decides whether gateway money is credited.

Rules (the money rule lives here and nowhere else):
- An intent is created for one attempt: the bill's open amount (or a given advance amount), through an enabled
  gateway of the customer's operator or, failing that, of its nearest ancestor that has one.
- settle() credits ONLY a Verification with status PAID whose amount, currency and reference equal the intent's and
  that names a gateway transaction id. Everything else (forged, mismatched, pending, failed) credits nothing.
- The intent row is locked FOR UPDATE, so concurrent callbacks/IPNs/queries for one attempt settle one at a time;
  an intent already paid answers 'duplicate'. UNIQUE (gateway_id, txn_id) on payments is the last net.
- Expiry stops us from *starting* a payment, never from crediting one: money the gateway verified as captured is
  credited even when it arrives after the intent expired (or after a cancel/failure was reported), because losing
  captured money is worse than a late reactivation. The event says "credited after expiry".
- Every outcome writes a payment_events row with the reason, in the same transaction as its effect.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import asyncpg

from radbill import clock
from radbill.billing.money import check_amount
from radbill.errors import NotFound, ValidationError
from radbill.payments.gateway import FAILED, PAID, IntentView, Verification
from radbill.services import package_change
from radbill.services.customers import get_customer
from radbill.services.payments import DuplicateTransaction, GatewayCapture, record_gateway_payment
from radbill.tenancy import Scope

Outcome = Literal["credited", "duplicate", "pending", "failed", "rejected", "error", "started", "refunded"]
DEFAULT_TTL = timedelta(minutes=30)


@dataclass(frozen=True, slots=True)
class Settled:
    """What one callback/IPN/redirect/query concluded (also written as a payment_events row)."""

    outcome: Outcome
    reason: str = ""
    intent_id: int | None = None
    reference: str | None = None
    payment_id: int | None = None


NEAREST_GATEWAYS = """
SELECT g.* FROM payment_gateways g JOIN operators o ON o.id = g.operator_id
 WHERE g.enabled AND o.path = (
    SELECT o2.path FROM payment_gateways g2 JOIN operators o2 ON o2.id = g2.operator_id
     WHERE g2.enabled AND o2.path @> (SELECT path FROM operators WHERE id = $1)
     ORDER BY nlevel(o2.path) DESC LIMIT 1)
 ORDER BY g.id"""


async def gateways_for(conn: asyncpg.Connection, operator_id: int) -> list[asyncpg.Record]:
    """The enabled gateways a customer of `operator_id` pays through: its own, else its nearest ancestor's."""
    return await conn.fetch(NEAREST_GATEWAYS, operator_id)


async def log_event(conn, gateway: dict | asyncpg.Record, intent_id: int | None, source: str, outcome: Outcome,
                    reason: str, params: dict | None = None) -> None:
    """Append one payment_events row (what arrived or was answered, what we concluded, why)."""
    await conn.execute(
        "INSERT INTO payment_events (operator_id, gateway_id, intent_id, source, outcome, reason, params)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)", gateway["operator_id"], gateway["id"], intent_id, source,
        outcome, reason[:1000], json.dumps(params or {}, default=str))


async def create_intent(conn: asyncpg.Connection, scope: Scope, customer_id: int, bill_id: int | None,
                        amount_minor: int | None, gateway_id: int, origin: str = "pay_link",
                        ttl: timedelta = DEFAULT_TTL, *, created_by: int | None = None,
                        now: datetime | None = None) -> asyncpg.Record:
    """A new payment intent for the customer's open bill (its open amount) or an advance of `amount_minor`."""
    now = now or clock.now()
    async with conn.transaction():
        customer = await get_customer(conn, scope, customer_id)
        if bill_id is not None:
            bill = await conn.fetchrow("SELECT * FROM bills WHERE id = $1 AND customer_id = $2", bill_id, customer_id)
            if bill is None:
                raise NotFound("bill not found")
            if bill["status"] not in ("unpaid", "partial"):
                raise ValidationError("this bill is already paid: nothing to pay", {"bill_id": bill["status"]})
            amount_minor = bill["total_minor"] - bill["paid_minor"]
        elif amount_minor is None:
            raise ValidationError("enter the amount to pay", {"amount": "required"})
        check_amount(amount_minor, customer["currency"])
        gateway = next((g for g in await gateways_for(conn, customer["operator_id"]) if g["id"] == gateway_id), None)
        if gateway is None:
            raise NotFound("payment gateway not found")
        intent = await conn.fetchrow(
            "INSERT INTO payment_intents (reference, operator_id, customer_id, bill_id, gateway_id, amount_minor,"
            " currency, origin, created_by, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9,"
            " $10, $11) RETURNING *", secrets.token_urlsafe(18), customer["operator_id"], customer_id, bill_id,
            gateway_id, amount_minor, customer["currency"], origin, created_by, now, now + ttl)
        await log_event(conn, gateway, intent["id"], "start", "started", "intent created",
                        {"amount_minor": amount_minor, "origin": origin})
    return intent


def mask_username(username: str) -> str:
    """'rahman' -> 'ra***an': enough for the customer to recognise, too little to be useful to anyone else."""
    if len(username) <= 4:
        return username[:1] + "***"
    return f"{username[:2]}***{username[-2:]}"


async def intent_view(conn, intent: asyncpg.Record) -> IntentView:
    username = await conn.fetchval("SELECT username FROM customers WHERE id = $1", intent["customer_id"])
    return IntentView(intent["id"], intent["reference"], intent["amount_minor"], intent["currency"].strip(),
                      mask_username(username or ""), intent["gateway_payment_id"], intent["expires_at"])


def mismatch(intent: asyncpg.Record, v: Verification) -> str | None:
    """Why a PAID verification does not prove this intent was paid, or None when it does."""
    if v.reference != intent["reference"]:
        return f"reference mismatch: the gateway reports {v.reference!r}"
    if v.currency != intent["currency"].strip():
        return f"currency mismatch: the gateway reports {v.currency!r}, the intent is {intent['currency']}"
    if v.amount_minor != intent["amount_minor"]:
        return f"amount mismatch: the gateway reports {v.amount_minor}, the intent is {intent['amount_minor']}"
    if not v.gateway_txn_id:
        return "the gateway reports no transaction id"
    return None


async def settle(conn: asyncpg.Connection, intent_id: int, verification: Verification, source: str, *,
                 params: dict | None = None, now: datetime | None = None) -> Settled:
    """Apply one verification to one intent, exactly once (see the module rules); one transaction."""
    now = now or clock.now()
    async with conn.transaction():
        intent = await conn.fetchrow("SELECT * FROM payment_intents WHERE id = $1 FOR UPDATE", intent_id)
        if intent is None:
            raise NotFound("payment intent not found")
        gateway = await conn.fetchrow(
            "SELECT g.*, o.path AS owner_path FROM payment_gateways g JOIN operators o ON o.id = g.operator_id"
            " WHERE g.id = $1", intent["gateway_id"])
        result = await _decide_and_apply(conn, intent, gateway, verification, now)
        logged = {"verification": {"status": verification.status, "txn_id": verification.gateway_txn_id,
                                   "amount_minor": verification.amount_minor, "currency": verification.currency,
                                   "reference": verification.reference, "raw": dict(verification.raw)},
                  "incoming": dict(params or {})}
        await log_event(conn, gateway, intent["id"], source, result.outcome, result.reason, logged)
    return result


async def _decide_and_apply(conn, intent, gateway, v: Verification, now: datetime) -> Settled:
    ref = intent["reference"]
    if intent["status"] == "paid":
        if v.status == PAID and v.gateway_txn_id and v.gateway_txn_id != intent["gateway_txn_id"]:
            return Settled("error", f"a second captured transaction {v.gateway_txn_id} for a paid intent: refund"
                           " it at the gateway", intent["id"], ref, intent["payment_id"])
        return Settled("duplicate", "already paid", intent["id"], ref, intent["payment_id"])
    if v.status != PAID:
        if v.status == FAILED:
            await conn.execute("UPDATE payment_intents SET status = 'failed' WHERE id = $1", intent["id"])
            return Settled("failed", v.reason or "the gateway reports the payment failed", intent["id"], ref)
        await conn.execute("UPDATE payment_intents SET status = 'pending' WHERE id = $1 AND status = 'created'",
                           intent["id"])
        return Settled("pending", v.reason or f"the gateway reports {v.status}", intent["id"], ref)
    wrong = mismatch(intent, v)
    if wrong is not None:
        return Settled("rejected", wrong, intent["id"], ref)
    scope = Scope.system(gateway["operator_id"], str(gateway["owner_path"]))
    capture = GatewayCapture(gateway["id"], gateway["operator_id"], v.gateway_txn_id)
    try:
        async with conn.transaction():  # a refused payment must not leave a paid-for package change behind
            bill_id = await package_change.apply_paid_change(conn, scope, intent, now)
            out = await record_gateway_payment(conn, scope, intent["customer_id"], intent["amount_minor"],
                                               bill_id, capture, now=now, note=f"online {ref}")
    except DuplicateTransaction:
        return Settled("rejected", f"transaction {v.gateway_txn_id} was already credited to another payment",
                       intent["id"], ref)
    await conn.execute(
        "UPDATE payment_intents SET status = 'paid', payment_id = $2, gateway_txn_id = $3, settled_at = $4"
        " WHERE id = $1", intent["id"], out.payment["id"], v.gateway_txn_id, now)
    late = intent["expires_at"] <= now or intent["status"] in ("failed", "expired")
    return Settled("credited", "credited after expiry" if late else "", intent["id"], ref, out.payment["id"])
