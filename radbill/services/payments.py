"""Payments: cash against bills (overpayment becomes advance credit) and advance deposits, each in one transaction.

Rules:
- An idempotency key seen before returns the first payment and records nothing new.
- A payment is spread over the customer's open bills oldest first (or only over `bill_id` when given); what
  is left goes to the advance wallet.
- A bill that becomes fully paid activates its period: the expiry moves over it by rule 3 of radbill.billing
  (max(expiry, min(period start, now)) + the period's length; a partial payment extends nothing), and a sub-operator's
  balance is debited the wholesale the bill carries (fixed when it was issued: bill_wholesale; guarded; when the
  balance cannot cover it, the whole payment rolls back).
- A suspended customer is reactivated when the payment leaves no open bill that is due (a prepaid bill is
  issued ahead of its period and due when it starts: until then it is no reason to stay cut off).
- The same collector recording the same amount for the same customer within REPEAT_WINDOW (a new form key, so
  not a double-click: going Back and submitting again) is refused with RepeatSuspected unless confirmed.
- Gateway money (record_gateway_payment, called only by radbill.payments.settle) follows the same rules; its
  identity is (gateway, transaction id), and its ledger model is in README "Online payments".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from radbill import clock
from radbill.billing.money import check_amount
from radbill.billing.pricing import allocate
from radbill.errors import NotFound, RepeatSuspected, ValidationError
from radbill.i18n import _
from radbill.policy.state import has_expired
from radbill.services import audit, billing, webhooks
from radbill.services.customers import activate_customer, release_walled_sessions
from radbill.services.ledger import Entry, account_id, debit_reseller, load_customer, post
from radbill.services.outbox_queue import enqueue
from radbill.tenancy import Scope


class DuplicateTransaction(ValidationError):
    """The gateway transaction was already credited (the database's last net under settlement's intent lock)."""

    def __init__(self, gateway_id: int, txn_id: str):
        super().__init__("this gateway transaction was already credited", {"txn_id": txn_id})
        self.gateway_id = gateway_id


# Same collector, customer and amount within this window: a second payment must be confirmed (see below).
REPEAT_WINDOW = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class PaymentOutcome:
    """The payment row and what it did (a duplicate did nothing: its first recording did)."""

    payment: asyncpg.Record
    duplicate: bool = False
    bills_paid: tuple[int, ...] = ()
    applied_minor: int = 0
    advance_minor: int = 0
    wholesale_minor: int = 0
    expires_at: datetime | None = None
    reactivated: bool = False


async def _existing(conn, customer_id: int, idempotency_key: str | None) -> asyncpg.Record | None:
    if idempotency_key is None:
        return None
    row = await conn.fetchrow("SELECT * FROM payments WHERE idempotency_key = $1", idempotency_key)
    if row is not None and row["customer_id"] != customer_id:
        raise ValidationError(_("this form was already used for another customer's payment: reload it"),
                              {"idempotency_key": _("already used")})
    return row


async def _refuse_unconfirmed_repeat(conn, customer_id: int, amount_minor: int, collected_by: int | None,
                                     now: datetime, confirmed: bool) -> None:
    """Going Back to the collect form and sending it again carries a fresh form key, so the key cannot tell; the
    same collector taking the same amount from the same customer within REPEAT_WINDOW must confirm it is a
    second payment. Runs under the customer's row lock, so two such submits cannot both pass."""
    if confirmed or collected_by is None:
        return
    first = await conn.fetchrow(
        "SELECT * FROM payments WHERE customer_id = $1 AND collected_by = $2 AND amount_minor = $3"
        " AND received_at > $4 ORDER BY received_at DESC, id DESC LIMIT 1",
        customer_id, collected_by, amount_minor, now - REPEAT_WINDOW)
    if first is not None:
        raise RepeatSuspected(_("You recorded the same amount for this customer a few minutes ago. Record a second "
                              "payment only if you really received the money twice."), first)


async def _insert_payment(conn, customer, amount_minor: int, method: str, bill_id: int | None,
                          idempotency_key: str | None, collected_by: int | None, note: str | None,
                          now: datetime, capture: GatewayCapture | None = None,
                          txn_id: str | None = None) -> asyncpg.Record:
    try:
        payment = await conn.fetchrow(
            "INSERT INTO payments (customer_id, operator_id, bill_id, amount_minor, currency, method,"
            " idempotency_key, collected_by, received_at, note, gateway_id, txn_id)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
            " RETURNING *", customer["id"], customer["operator_id"], bill_id, amount_minor, customer["currency"],
            method, idempotency_key, collected_by, now, note,
            capture.gateway_id if capture else None, capture.txn_id if capture else txn_id)
    except asyncpg.UniqueViolationError as exc:
        if capture is not None and exc.constraint_name in ("payments_gateway_txn", "payments_method_txn_id_key"):
            raise DuplicateTransaction(capture.gateway_id, capture.txn_id) from None
        if exc.constraint_name == "payments_method_txn_id_key":
            raise ValidationError(_("This transaction ID is already recorded for another payment: check the ID."),
                                  {"txn_id": "already used"}) from None
        raise ValidationError(_("this form was already used for another payment: reload it"),
                              {"idempotency_key": _("already used")}) from None
    # every payment (cash, mobile wallet, gateway, advance) is inserted here and nowhere else
    await webhooks.emit(conn, "payment.received", customer["operator_id"], {
        "payment_id": payment["id"], "customer_id": customer["id"], "bill_id": bill_id, "method": method,
        "amount_minor": amount_minor, "currency": payment["currency"], "received_at": payment["received_at"],
        "txn_id": payment["txn_id"]})
    return payment


async def _queue_sms(conn, customer, event: str, payment, **extra) -> None:
    payload = {"event": event, "customer_id": customer["id"], "username": customer["username"],
               "mobile": customer["mobile"], "amount_minor": payment["amount_minor"],
               "currency": payment["currency"], "payment_id": payment["id"], "bill_id": payment["bill_id"], **extra}
    await enqueue(conn, "sms", customer["operator_id"], payload, f"sms:{event}:{payment['id']}")


async def _open_bills(conn, customer_id: int, bill_id: int | None) -> list[asyncpg.Record]:
    if bill_id is not None:
        bill = await conn.fetchrow("SELECT * FROM bills WHERE id = $1 AND customer_id = $2 FOR UPDATE",
                                   bill_id, customer_id)
        if bill is None:
            raise NotFound("bill not found")
        if bill["status"] not in ("unpaid", "partial"):
            raise ValidationError(_("This bill is %(status)s: record an advance payment instead.", status=bill["status"]),
                                  {"bill_id": bill["status"]})
        return [bill]
    return await conn.fetch("SELECT * FROM bills WHERE customer_id = $1 AND status IN ('unpaid', 'partial')"
                            " ORDER BY period_start, id FOR UPDATE", customer_id)


def bill_wholesale(bills) -> int:
    """What paying `bills` in full takes from the sub-operator: the sum of the wholesale each bill carries, fixed
    when it was issued (a period bill its days' share of the assigned price, a package change charge the wholesale
    difference) and lowered only by a package change's credit; 0 on an operator's own customer's bills. The one
    figure payment takes and a reversal gives back."""
    return sum(b["wholesale_minor"] for b in bills)


@dataclass(frozen=True, slots=True)
class GatewayCapture:
    """Money a gateway verified as captured: which gateway (and its owner, whose merchant account holds it)."""

    gateway_id: int
    owner_operator_id: int
    txn_id: str


async def record_cash_payment(conn: asyncpg.Connection, scope: Scope, customer_id: int, amount_minor: int,
                              bill_id: int | None = None, *, idempotency_key: str | None = None,
                              collected_by: int | None = None, note: str | None = None,
                              now: datetime | None = None, confirm_repeat: bool = False,
                              method: str = "cash", txn_id: str | None = None) -> PaymentOutcome:
    """Record cash collected from a customer, in one transaction (see the module rules). RepeatSuspected when
    the same collector recorded the same amount for this customer minutes ago, unless `confirm_repeat`.
    `method`/`txn_id`: money that reached the operator another way but is settled exactly like cash (a verified
    mobile-wallet transfer: 'mobile_wallet' and its TrxID)."""
    now = now or clock.now()
    collected_by = collected_by if collected_by is not None else scope.account_id
    async with conn.transaction():
        customer = await load_customer(conn, scope, customer_id, lock=True)
        check_amount(amount_minor, customer["currency"])
        first = await _existing(conn, customer_id, idempotency_key)
        if first is not None:
            return PaymentOutcome(first, duplicate=True)
        await _refuse_unconfirmed_repeat(conn, customer_id, amount_minor, collected_by, now, confirm_repeat)
        return await _apply_payment(conn, scope, customer, amount_minor, bill_id, now, idempotency_key=idempotency_key,
                                    collected_by=collected_by, note=note, method=method, txn_id=txn_id)


async def record_gateway_payment(conn: asyncpg.Connection, scope: Scope, customer_id: int, amount_minor: int,
                                 bill_id: int | None, capture: GatewayCapture, *, now: datetime | None = None,
                                 note: str | None = None) -> PaymentOutcome:
    """Credit money a gateway verified (radbill.payments.settle is the only caller): the same rules as cash, with
    no collector and no repeat check (the gateway's transaction id is the identity: UNIQUE (gateway_id, txn_id)
    refuses a second payment), the money posted to the gateway owner's clearing account, and a sub-operator's
    balance credited the amount (its parent's merchant account holds the money) before the wholesale debit.
    A bill that is no longer open is no reason to refuse captured money: it goes to the advance wallet."""
    now = now or clock.now()
    async with conn.transaction():
        customer = await load_customer(conn, scope, customer_id, lock=True)
        if bill_id is not None and not await conn.fetchval(
                "SELECT exists(SELECT 1 FROM bills WHERE id = $1 AND customer_id = $2"
                " AND status IN ('unpaid', 'partial'))", bill_id, customer_id):
            bill_id = None
        return await _apply_payment(conn, scope, customer, amount_minor, bill_id, now, note=note, capture=capture)


async def _credit_reseller_for_gateway(conn, customer, capture: GatewayCapture, amount_minor: int,
                                       payment_id: int) -> None:
    """The sub-operator's customer paid into an ancestor's merchant account: the ancestor owes the sub-operator
    the amount, so the sub-operator's balance goes up by it (clearing of the owner debited, the sub's balance
    account credited: the same shape as a reseller top-up, where the parent receives the money)."""
    if customer["operator_id"] == capture.owner_operator_id:
        return
    currency = customer["currency"]
    await conn.execute("UPDATE operators SET balance_minor = balance_minor + $2 WHERE id = $1",
                       customer["operator_id"], amount_minor)
    clearing = await account_id(conn, "gateway_clearing", capture.owner_operator_id, currency)
    reseller = await account_id(conn, "operator_balance", customer["operator_id"], currency)
    await post(conn, [Entry(clearing, amount_minor), Entry(reseller, -amount_minor)], currency,
               "gateway_reseller_credit", memo=f"customer {customer['username']}: paid online",
               payment_id=payment_id)


async def _apply_payment(conn, scope: Scope, customer, amount_minor: int, bill_id: int | None, now: datetime, *,
                         idempotency_key: str | None = None, collected_by: int | None = None, note: str | None = None,
                         capture: GatewayCapture | None = None, method: str = "cash",
                         txn_id: str | None = None) -> PaymentOutcome:
    """The one payment rule for cash and gateway money, inside the caller's transaction with the customer locked."""
    method = "gateway" if capture else method
    customer_id = customer["id"]
    bills = await _open_bills(conn, customer_id, bill_id)
    split = allocate(amount_minor, [b["total_minor"] - b["paid_minor"] for b in bills])
    touched = [(b, a, full) for b, a, full in zip(bills, split.applied, split.fully_paid, strict=True) if a > 0]
    paid_now = [b for b, _, full in touched if full]
    single_bill = bill_id if bill_id is not None else (touched[0][0]["id"] if len(touched) == 1 else None)
    payment = await _insert_payment(conn, customer, amount_minor, method, single_bill,
                                    idempotency_key, collected_by, note, now, capture, txn_id)
    if capture is not None:
        await _credit_reseller_for_gateway(conn, customer, capture, amount_minor, payment["id"])

    wholesale = bill_wholesale(paid_now) if customer["operator_kind"] == "sub_operator" else 0
    await debit_reseller(conn, customer["operator_id"], customer["operator_parent_id"], customer["currency"],
                         wholesale, memo=f"customer {customer['username']}: {len(paid_now)} period(s)",
                         payment_id=payment["id"], created_by=collected_by)

    currency = customer["currency"]
    money = await account_id(conn, "gateway_clearing" if capture else "cash", customer["operator_id"], currency)
    receivable = await account_id(conn, "customer_receivable", customer["operator_id"], currency, customer_id)
    advance = await account_id(conn, "customer_advance", customer["operator_id"], currency, customer_id)
    await post(conn, [Entry(money, amount_minor), *(Entry(receivable, -a, b["id"]) for b, a, _ in touched),
                      Entry(advance, -split.remainder)], currency, "payment",
               memo=note, payment_id=payment["id"], created_by=collected_by)
    if touched:
        await conn.execute(
            "UPDATE bills b SET paid_minor = b.paid_minor + t.amount,"
            " status = CASE WHEN b.paid_minor + t.amount = b.total_minor THEN 'paid' ELSE 'partial' END,"
            " paid_at = CASE WHEN b.paid_minor + t.amount = b.total_minor THEN $3 ELSE b.paid_at END"
            " FROM unnest($1::bigint[], $2::bigint[]) AS t(id, amount) WHERE b.id = t.id",
            [b["id"] for b, _, _ in touched], [a for _, a, _ in touched], now)

    expires_at, reactivated = await _activate(conn, scope, customer, [b["id"] for b in paid_now], now)
    applied = amount_minor - split.remainder
    await _queue_sms(conn, customer, "payment_received", payment, bills_paid=[b["id"] for b in paid_now],
                     applied_minor=applied, advance_minor=split.remainder, expires_at=expires_at)
    detail = {"customer_id": customer_id, "method": method, "amount_minor": amount_minor, "applied_minor": applied,
              "advance_minor": split.remainder, "bills_paid": [b["id"] for b in paid_now],
              "wholesale_minor": wholesale, "reactivated": reactivated}
    if capture is not None:
        detail |= {"gateway_id": capture.gateway_id, "txn_id": capture.txn_id}
    await audit.record(conn, scope, "payment.online" if capture else "payment.cash", "payment", payment["id"],
                       detail, operator_id=customer["operator_id"])
    return PaymentOutcome(payment, False, tuple(b["id"] for b in paid_now), applied, split.remainder, wholesale,
                          expires_at, reactivated)


async def due_bill_open(conn, customer_id: int, now: datetime) -> bool:
    """The one rule of being held back for money: a bill left (partly) unpaid past its due time. A suspended customer
    without one is reactivated (payments, voids); an active customer with one is suspended (reversals)."""
    return await conn.fetchval("SELECT exists(SELECT 1 FROM bills WHERE customer_id = $1"
                               " AND status IN ('unpaid', 'partial') AND due_at <= $2)", customer_id, now)


async def _activate(conn, scope: Scope, customer, paid_bill_ids: list[int],
                    now: datetime) -> tuple[datetime | None, bool]:
    """Extend the expiry over the bills paid in full; reactivate a suspended customer with no due bill left open,
    through the one status write path (audit row, walled-garden sessions disconnected, activation SMS)."""
    expires_at = customer["expires_at"]
    if paid_bill_ids:
        # a package change charge buys no days: paying only such bills leaves the expiry where it is
        expires_at = (await billing.extend_paid_service(conn, paid_bill_ids, now)).get(customer["id"], expires_at)
    reactivate = customer["status"] == "suspended" and not await due_bill_open(conn, customer["id"], now)
    if reactivate:
        await activate_customer(conn, scope, customer["id"], "payment received")
    elif (customer["status"] == "active" and has_expired(customer["expires_at"], now)
          and not has_expired(expires_at, now)):
        # renewed after expiry: no status changes, but the sessions opened since the expiry are walled (RADIUS
        # walls expired customers too) and would stay at the walled rate until their session timeout
        await release_walled_sessions(conn, customer, customer["expires_at"], "renewed")
    return expires_at, reactivate


async def add_advance_payment(conn: asyncpg.Connection, scope: Scope, customer_id: int, amount_minor: int, *,
                              idempotency_key: str | None = None, collected_by: int | None = None,
                              note: str | None = None, now: datetime | None = None,
                              confirm_repeat: bool = False) -> PaymentOutcome:
    """Put money into the customer's advance wallet (the next bill run draws on it), in one transaction;
    RepeatSuspected as for record_cash_payment."""
    now = now or clock.now()
    collected_by = collected_by if collected_by is not None else scope.account_id
    async with conn.transaction():
        customer = await load_customer(conn, scope, customer_id, lock=True)
        check_amount(amount_minor, customer["currency"])
        first = await _existing(conn, customer_id, idempotency_key)
        if first is not None:
            return PaymentOutcome(first, duplicate=True)
        await _refuse_unconfirmed_repeat(conn, customer_id, amount_minor, collected_by, now, confirm_repeat)
        payment = await _insert_payment(conn, customer, amount_minor, "advance", None, idempotency_key,
                                        collected_by, note, now)
        currency = customer["currency"]
        cash = await account_id(conn, "cash", customer["operator_id"], currency)
        advance = await account_id(conn, "customer_advance", customer["operator_id"], currency, customer_id)
        await post(conn, [Entry(cash, amount_minor), Entry(advance, -amount_minor)], currency, "advance",
                   memo=note, payment_id=payment["id"], created_by=collected_by)
        await _queue_sms(conn, customer, "advance_received", payment)
        await audit.record(conn, scope, "payment.advance", "payment", payment["id"],
                           {"customer_id": customer_id, "amount_minor": amount_minor},
                           operator_id=customer["operator_id"])
    return PaymentOutcome(payment, advance_minor=amount_minor)
