"""Refunds of online payments (full or partial, with a reason): staff ask, the gateway moves the money back, the
ledger records the reversal. Money model (README "Online payments"):

- The refunded part of the payment is reversed through radbill.services.corrections.reverse_payment, the one rule
  for taking money back: the bills it paid are open again, the period they bought is taken back (expiry, status,
  the sub-operator's wholesale), and the advance wallet never goes below zero. A refund is refused up front when
  more would be taken back than is left of the payment (what staff reversed already, refunds asked for and done).
- 'gateway_reseller_refund' (a sub-operator's customer): the reversal debits the sub-operator's balance the amount
  and credits the gateway owner's clearing (the mirror of the reseller credit; corrections decides it for staff
  reversals and refunds alike). It is checked before the gateway is asked, so a refund the sub-operator's balance
  cannot take is refused up front.
"""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp
import asyncpg

from radbill import clock
from radbill.billing.money import check_amount, format_minor
from radbill.errors import NotFound, PermissionDenied, ValidationError
from radbill.i18n import _
from radbill.payments.registry import adapter_for
from radbill.payments.settle import intent_view, log_event
from radbill.services import audit
from radbill.services.corrections import reverse_payment
from radbill.services.ledger import BalanceInsufficient
from radbill.tenancy import Scope


@dataclass(frozen=True, slots=True)
class RefundOutcome:
    ok: bool
    refund_id: int
    message: str


async def refundable(conn: asyncpg.Connection, scope: Scope, payment_id: int) -> asyncpg.Record:
    """The online payment in scope with its intent, customer and how much can still be refunded."""
    row = await conn.fetchrow(
        "SELECT p.id AS payment_id, p.amount_minor, p.currency, p.customer_id, p.operator_id, p.txn_id,"
        "       i.id AS intent_id, i.refunded_minor, i.gateway_id, c.username, o.kind AS operator_kind,"
        "       g.operator_id AS owner_id, go.path <@ $2::ltree AS owner_in_scope,"
        "       p.amount_minor - greatest(i.refunded_minor, p.reversed_minor) - coalesce((SELECT sum(r.amount_minor) FROM payment_refunds r"
        "           WHERE r.intent_id = i.id AND r.status = 'requested'), 0)::bigint AS available_minor"
        "  FROM payments p JOIN payment_intents i ON i.payment_id = p.id"
        "  JOIN payment_gateways g ON g.id = i.gateway_id JOIN operators go ON go.id = g.operator_id"
        "  JOIN customers c ON c.id = p.customer_id JOIN operators o ON o.id = c.operator_id"
        " WHERE p.id = $1 AND o.path <@ $2::ltree", payment_id, scope.path)
    if row is None:
        raise NotFound(_("This online payment was not found."))
    return row


def check_refund(payment: asyncpg.Record, amount_minor: int, reason: str) -> None:
    """Whether this refund may be asked for (the money comes out of the gateway owner's merchant account, so only
    the owner or someone above it refunds)."""
    if not payment["owner_in_scope"]:
        raise PermissionDenied(_("This payment went into a parent operator's merchant account: ask them to refund "
                                 "it."), "gateway_owner")
    check_amount(amount_minor, payment["currency"])
    if amount_minor > payment["available_minor"]:
        raise ValidationError(_("At most %(amount)s of this payment can still be refunded.",
                                amount=format_minor(payment["available_minor"], payment["currency"].strip())),
                              {"amount": "too much"})
    if not reason.strip() or len(reason) > 500:
        raise ValidationError(_("Write why the money is refunded (up to 500 characters)."), {"reason": "required"})


async def _request(conn, scope: Scope, payment_id: int, amount_minor: int, reason: str):
    async with conn.transaction():
        payment = await refundable(conn, scope, payment_id)
        await conn.execute("SELECT 1 FROM payment_intents WHERE id = $1 FOR UPDATE", payment["intent_id"])
        payment = await refundable(conn, scope, payment_id)  # again, under the lock: concurrent requests count
        check_refund(payment, amount_minor, reason)
        if payment["operator_id"] != payment["owner_id"] and not await conn.fetchval(
                "SELECT balance_minor - $2 >= -credit_limit_minor FROM operators WHERE id = $1",
                payment["operator_id"], amount_minor):
            raise BalanceInsufficient()
        refund_id = await conn.fetchval(
            "INSERT INTO payment_refunds (operator_id, intent_id, payment_id, amount_minor, reason, requested_by)"
            " VALUES ($1, $2, $3, $4, $5, $6) RETURNING id", payment["operator_id"], payment["intent_id"],
            payment_id, amount_minor, reason.strip(), scope.account_id)
    return payment, refund_id


async def refund_payment(conn: asyncpg.Connection, scope: Scope, payment_id: int, amount_minor: int, reason: str,
                         session: aiohttp.ClientSession) -> RefundOutcome:
    """Refund part or all of an online payment at its gateway, then record it (see the module's money model).
    The request is committed before the gateway is asked, so a crash in between leaves a visible 'requested' row."""
    payment, refund_id = await _request(conn, scope, payment_id, amount_minor, reason)
    gateway = await conn.fetchrow("SELECT * FROM payment_gateways WHERE id = $1", payment["gateway_id"])
    intent = await conn.fetchrow("SELECT * FROM payment_intents WHERE id = $1", payment["intent_id"])
    try:
        result = await adapter_for(gateway, session).refund(await intent_view(conn, intent), payment["txn_id"],
                                                            amount_minor, reason)
    except Exception as exc:  # noqa: BLE001 - recorded as failed with the reason, never a 500
        result, why = None, f"{type(exc).__name__}: {exc}"
    else:
        why = result.reason
    async with conn.transaction():
        if result is None or not result.ok:
            await conn.execute("UPDATE payment_refunds SET status = 'failed', finished_at = $2 WHERE id = $1",
                               refund_id, clock.now())
            await log_event(conn, gateway, intent["id"], "refund", "failed", why, {"refund_id": refund_id})
            return RefundOutcome(False, refund_id, _("The gateway refused the refund: %(why)s", why=why))
        await _record(conn, scope, payment, intent, gateway, refund_id, amount_minor, reason, result)
    return RefundOutcome(True, refund_id, _("Refunded. The gateway's refund ID is %(id)s.",
                                            id=result.gateway_refund_id))


async def _record(conn, scope, payment, intent, gateway, refund_id: int, amount_minor: int, reason: str,
                  result) -> None:
    now = clock.now()
    await conn.execute("UPDATE payment_refunds SET status = 'done', gateway_refund_id = $2, finished_at = $3"
                       " WHERE id = $1", refund_id, result.gateway_refund_id, now)
    await conn.execute("UPDATE payment_intents SET refunded_minor = refunded_minor + $2 WHERE id = $1",
                       intent["id"], amount_minor)
    # the same rule as any reversal (its own savepoint), which also takes the sub-operator's credit back; the key
    # makes a second recording reverse nothing more. Checked before the gateway was asked; staff reversing the
    # payment or the sub-operator spending its balance meanwhile is logged for staff, the refund stands.
    try:
        await reverse_payment(conn, scope, payment["payment_id"], amount_minor, reason,
                              idempotency_key=f"refund:{refund_id}", now=now)
    except ValidationError as exc:
        await log_event(conn, gateway, intent["id"], "refund", "error",
                        f"the refunded payment could not be reversed ({exc}): settle it by hand",
                        {"refund_id": refund_id})
    await log_event(conn, gateway, intent["id"], "refund", "refunded", reason,
                    {"refund_id": refund_id, "amount_minor": amount_minor, "raw": dict(result.raw)})
    await audit.record(conn, scope, "payment.refund", "customer", payment["customer_id"],
                       {"payment_id": payment["payment_id"], "amount_minor": amount_minor, "reason": reason,
                        "gateway_refund_id": result.gateway_refund_id}, operator_id=payment["operator_id"])
