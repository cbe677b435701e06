"""Corrections: void a bill, reverse a payment — each posted as reversing ledger entries in one transaction.

Rules (README "Corrections"):
- The ledger stays append-only: a void posts the exact negation of the bill's own entries, a reversal credits the
  account the payment's money came into and debits the customer; no ledger row is ever updated or deleted.
- An unpaid bill is voided outright. A part-paid bill is voided and what was paid on it moves to the customer's
  advance wallet (it bought no service, so nothing is taken back). A paid bill cannot be voided: it bought a
  period of service, and taking service back is the reversal's job (one place for it) — reverse its payment first.
- A reversal takes money back per radbill.billing.corrections (the bills the payment paid, the wallet, the other
  bills); a bill that stops being paid gives its period back (expiry) and its wholesale back to the sub-operator;
  a customer left with a due bill open is suspended through radbill.services.customers (which queues the
  disconnect). At most what is left of the payment can be reversed (payments.reversed_minor, CHECKed).
- Double submits: the customer's row lock serialises corrections; a reversal's form key is UNIQUE (the second
  submit returns the first reversal) and a bill already void is a no-op.
- preview=True runs the very same code and rolls it back: what the preview shows is what confirming does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import asyncpg

from radbill import clock
from radbill.billing.corrections import HeldBill, plan_take_back, take_back_expiry
from radbill.billing.money import check_amount, format_minor
from radbill.billing.service import PaidSpan
from radbill.errors import NotFound, ValidationError
from radbill.i18n import _
from radbill.services import audit, payments, webhooks
from radbill.services.customers import activate_customer, suspend_customer
from radbill.services.ledger import BalanceInsufficient, Entry, account_id, load_customer, post
from radbill.tenancy import Scope

REASON_MAX = 500
CUSTOMER_KINDS = ("customer_receivable", "customer_advance", "operator_balance", "wholesale")


class _Preview(Exception):  # noqa: N818 -- control flow: carries the outcome out of the rolled-back transaction
    def __init__(self, outcome):
        super().__init__("preview")
        self.outcome = outcome


@dataclass(frozen=True, slots=True)
class Effects:
    """What a correction changes for the customer and its reseller (before, after)."""

    due_minor: tuple[int, int]
    advance_minor: tuple[int, int]
    expires_at: tuple[datetime | None, datetime | None]
    status: tuple[str, str]
    reseller_balance_minor: tuple[int, int] | None = None  # a sub-operator customer's reseller


@dataclass(frozen=True, slots=True)
class ReversalOutcome:
    payment_id: int
    customer_id: int
    amount_minor: int
    currency: str
    reversal_id: int | None
    effects: Effects | None
    reopened: tuple[tuple[int, int], ...] = ()  # (bill id, amount) taken back from each bill
    unpaid_bills: tuple[int, ...] = ()  # bills that were paid in full and no longer are
    from_wallet_minor: int = 0
    wholesale_returned_minor: int = 0
    duplicate: bool = False


@dataclass(frozen=True, slots=True)
class VoidOutcome:
    bill_id: int
    customer_id: int
    currency: str
    effects: Effects | None
    moved_to_advance_minor: int = 0
    duplicate: bool = False
    detail: dict = field(default_factory=dict)


def clean_reason(reason: str | None) -> str:
    """The reason is required (it is shown on the receipt/bill and the timeline) and at most REASON_MAX long."""
    text = " ".join(str(reason or "").split())
    if not text:
        raise ValidationError(_("Say why (for example \"cheque bounced\"): the reason is printed on the receipt."),
                              {"reason": _("required")})
    if len(text) > REASON_MAX:
        raise ValidationError(_("Keep the reason under %(n)s characters.", n=REASON_MAX), {"reason": _("too long")})
    return text


async def _customer_state(conn, customer_id: int, operator_id: int) -> tuple:
    row = await conn.fetchrow(
        "SELECT c.status, c.expires_at, o.kind, o.balance_minor,"
        "       coalesce((SELECT sum(e.amount_minor) FROM ledger_entries e JOIN ledger_accounts a"
        "                  ON a.id = e.account_id WHERE a.customer_id = c.id"
        "                 AND a.kind = 'customer_receivable'), 0)::bigint AS due,"
        "       coalesce((SELECT -sum(e.amount_minor) FROM ledger_entries e JOIN ledger_accounts a"
        "                  ON a.id = e.account_id WHERE a.customer_id = c.id"
        "                 AND a.kind = 'customer_advance'), 0)::bigint AS advance"
        "  FROM customers c JOIN operators o ON o.id = $2 WHERE c.id = $1", customer_id, operator_id)
    return (row["due"], row["advance"], row["expires_at"], row["status"],
            row["balance_minor"] if row["kind"] == "sub_operator" else None)


def _effects(before: tuple, after: tuple) -> Effects:
    reseller = (before[4], after[4]) if before[4] is not None else None
    return Effects((before[0], after[0]), (before[1], after[1]), (before[2], after[2]), (before[3], after[3]),
                   reseller)


async def _run(conn, preview: bool, body):
    """Run `body()` in a transaction; on preview, roll it back and return what it would have done."""
    try:
        async with conn.transaction():
            outcome = await body()
            if preview:
                raise _Preview(outcome)
    except _Preview as done:
        return done.outcome
    return outcome


async def _suspend_if_due_open(conn, scope: Scope, customer, now: datetime, why: str) -> None:
    """A customer left with a due bill open is suspended like the auto-suspend job would (the one status path)."""
    status = await conn.fetchval("SELECT status FROM customers WHERE id = $1", customer["id"])
    if status == "active" and await payments.due_bill_open(conn, customer["id"], now):
        await suspend_customer(conn, scope, customer["id"], why)


# ---- reversing a payment --------------------------------------------------------------------------------

async def scoped_payment(conn: asyncpg.Connection, scope: Scope, payment_id: int) -> asyncpg.Record:
    """The payment if its customer is in the scope's subtree (else NotFound, like a missing one)."""
    row = await conn.fetchrow(
        "SELECT p.*, p.amount_minor - p.reversed_minor AS left_minor FROM payments p"
        "  JOIN customers c ON c.id = p.customer_id JOIN operators o ON o.id = c.operator_id"
        " WHERE p.id = $1 AND o.path <@ $2::ltree", payment_id, scope.path)
    if row is None:
        raise NotFound(_("Payment %(id)s was not found.", id=payment_id))
    return row


async def _money_account(conn, payment) -> int:
    """The account the payment's money came into (cash for cash; a gateway's own account if it posts to one).
    Only the payment's own lines: a sub-operator's online payment also debits the gateway owner's clearing
    (gateway_reseller_credit), which is the reseller's side of the money, not the customer's."""
    found = await conn.fetchval(
        "SELECT e.account_id FROM ledger_entries e JOIN ledger_accounts a ON a.id = e.account_id"
        " WHERE e.payment_id = $1 AND e.kind IN ('payment', 'advance') AND e.amount_minor > 0"
        "   AND a.kind <> ALL($2::text[]) ORDER BY e.id LIMIT 1",
        payment["id"], list(CUSTOMER_KINDS))
    return found or await account_id(conn, "cash", payment["operator_id"], payment["currency"])


async def _held_bills(conn, customer_id: int, payment_id: int) -> list[asyncpg.Record]:
    """The customer's bills holding money, newest period first (locked), with what this payment put on each."""
    return await conn.fetch(
        "SELECT b.*, greatest(coalesce((SELECT -sum(e.amount_minor) FROM ledger_entries e"
        "                                 JOIN ledger_accounts a ON a.id = e.account_id"
        "                                WHERE e.payment_id = $2 AND e.bill_id = b.id"
        "                                  AND a.kind = 'customer_receivable'), 0), 0)::bigint AS by_payment"
        "  FROM bills b WHERE b.customer_id = $1 AND b.paid_minor > 0"
        " ORDER BY b.period_start DESC, b.id DESC FOR UPDATE OF b", customer_id, payment_id)


async def _return_wholesale(conn, scope: Scope, customer, bills: list, payment_id: int) -> int:
    """Give a sub-operator back the wholesale debited when these bills were paid: what each bill carries
    (payments.bill_wholesale, the figure payment took)."""
    amount = payments.bill_wholesale(bills) if customer["operator_kind"] == "sub_operator" else 0
    if amount <= 0:
        return 0
    currency = customer["currency"]
    await conn.execute("UPDATE operators SET balance_minor = balance_minor + $2 WHERE id = $1",
                       customer["operator_id"], amount)
    reseller = await account_id(conn, "operator_balance", customer["operator_id"], currency)
    wholesale = await account_id(conn, "wholesale", customer["operator_parent_id"], currency)
    await post(conn, [Entry(wholesale, amount), Entry(reseller, -amount)], currency, "wholesale_return",
               memo=f"customer {customer['username']}: {len(bills)} period(s) reversed", payment_id=payment_id,
               created_by=scope.account_id)
    return amount


async def _take_back_reseller_credit(conn, scope: Scope, customer, payment_id: int, amount_minor: int,
                                     reason: str) -> int:
    """Take back from a sub-operator what an online payment of its customer credited it (gateway_reseller_credit):
    the reversed part of it, never more than is left of the credit (what earlier reversals or refunds took back is
    counted from the ledger, so each taka is taken back once). The one place for it: a refund is a reversal.
    Guarded like any reseller debit: BalanceInsufficient rolls the whole reversal back."""
    lines = await conn.fetch(
        "SELECT e.kind, e.account_id, a.kind AS account_kind, e.amount_minor FROM ledger_entries e"
        " JOIN ledger_accounts a ON a.id = e.account_id WHERE e.payment_id = $1"
        "   AND e.kind IN ('gateway_reseller_credit', 'gateway_reseller_refund')", payment_id)
    credited = -sum(r["amount_minor"] for r in lines if r["account_kind"] == "operator_balance"
                    and r["kind"] == "gateway_reseller_credit")
    taken = sum(r["amount_minor"] for r in lines if r["account_kind"] == "operator_balance"
                and r["kind"] == "gateway_reseller_refund")
    amount = min(amount_minor, credited - taken)
    clearing = next((r["account_id"] for r in lines if r["account_kind"] == "gateway_clearing"), None)
    if amount <= 0 or clearing is None:
        return 0
    try:
        await conn.execute("UPDATE operators SET balance_minor = balance_minor - $2 WHERE id = $1",
                           customer["operator_id"], amount)
    except asyncpg.CheckViolationError as exc:
        if exc.constraint_name == "operators_credit_limit":
            raise BalanceInsufficient() from None
        raise
    reseller = await account_id(conn, "operator_balance", customer["operator_id"], customer["currency"])
    await post(conn, [Entry(reseller, amount), Entry(clearing, -amount)], customer["currency"],
               "gateway_reseller_refund", memo=reason, payment_id=payment_id, created_by=scope.account_id)
    return amount


async def reverse_payment(conn: asyncpg.Connection, scope: Scope, payment_id: int, amount_minor: int, reason: str,
                          *, idempotency_key: str | None = None, now: datetime | None = None,
                          preview: bool = False) -> ReversalOutcome:
    """Take `amount_minor` of a payment back (bounced, mistyped, refunded), in one transaction (module rules).
    A gateway refund calls this with the refunded amount once the gateway confirms it."""
    reason = clean_reason(reason)
    now = now or clock.now()
    first = await scoped_payment(conn, scope, payment_id)

    async def body() -> ReversalOutcome:
        customer = await load_customer(conn, scope, first["customer_id"], lock=True)
        if idempotency_key is not None:
            done = await conn.fetchrow("SELECT * FROM payment_reversals WHERE idempotency_key = $1", idempotency_key)
            if done is not None:
                if done["payment_id"] != payment_id:
                    raise ValidationError(_("This form was already used for another reversal: reload it."),
                                          {"idempotency_key": _("already used")})
                return ReversalOutcome(payment_id, customer["id"], done["amount_minor"], done["currency"], done["id"],
                                       None, duplicate=True)
        payment = await conn.fetchrow("SELECT * FROM payments WHERE id = $1 FOR UPDATE", payment_id)
        check_amount(amount_minor, payment["currency"])
        left = payment["amount_minor"] - payment["reversed_minor"]
        if amount_minor > left:
            raise ValidationError(_("At most %(left)s of this payment is left to reverse.",
                                    left=format_minor(left, payment["currency"])), {"amount": _("too large")})
        before = await _customer_state(conn, customer["id"], customer["operator_id"])
        held = await _held_bills(conn, customer["id"], payment_id)
        own_advance = await conn.fetchval(
            "SELECT coalesce(-sum(e.amount_minor), 0)::bigint FROM ledger_entries e JOIN ledger_accounts a"
            " ON a.id = e.account_id WHERE e.payment_id = $1 AND a.kind = 'customer_advance'", payment_id)
        plan = plan_take_back(amount_minor, [HeldBill(b["id"], b["paid_minor"], b["by_payment"]) for b in held],
                              before[1], own_advance)
        taken = dict(plan.from_bills)
        unpaid = [b for b in held if b["id"] in taken and b["status"] == "paid"]
        currency = payment["currency"]
        receivable = await account_id(conn, "customer_receivable", customer["operator_id"], currency, customer["id"])
        advance = await account_id(conn, "customer_advance", customer["operator_id"], currency, customer["id"])
        await post(conn, [Entry(await _money_account(conn, payment), -amount_minor),
                          *(Entry(receivable, a, bill_id) for bill_id, a in plan.from_bills),
                          Entry(advance, plan.from_wallet)], currency, "payment_reversal", memo=reason,
                   payment_id=payment_id, created_by=scope.account_id)
        if taken:
            await conn.execute(
                "UPDATE bills b SET paid_minor = b.paid_minor - t.amount, paid_at = NULL,"
                " status = CASE WHEN b.paid_minor = t.amount THEN 'unpaid' ELSE 'partial' END"
                " FROM unnest($1::bigint[], $2::bigint[]) AS t(id, amount) WHERE b.id = t.id",
                list(taken), list(taken.values()))
        await conn.execute("UPDATE payments SET reversed_minor = reversed_minor + $2 WHERE id = $1",
                           payment_id, amount_minor)
        wholesale = await _return_wholesale(conn, scope, customer, unpaid, payment_id)
        # after the wholesale came back: a sub-operator can give back a period's margin it never had to spend
        credit_back = await _take_back_reseller_credit(conn, scope, customer, payment_id, amount_minor, reason)
        expires = take_back_expiry(customer["expires_at"], [_length(b, customer["timezone"]) for b in unpaid], now)
        if expires != customer["expires_at"]:
            await conn.execute("UPDATE customers SET expires_at = $2 WHERE id = $1", customer["id"], expires)
            await webhooks.customer_updated(conn, customer["operator_id"], customer["id"],
                                            {"expires_at": [customer["expires_at"], expires]})
        await _suspend_if_due_open(conn, scope, customer, now, f"payment #{payment_id} reversed: {reason}")
        detail = {"customer_id": customer["id"], "payment_id": payment_id, "amount_minor": amount_minor,
                  "reason": reason, "bills": [[i, a] for i, a in plan.from_bills],
                  "unpaid_bills": [b["id"] for b in unpaid], "from_wallet_minor": plan.from_wallet,
                  "wholesale_returned_minor": wholesale, "reseller_credit_taken_back_minor": credit_back,
                  "expires_at": [customer["expires_at"], expires]}
        reversal_id = await conn.fetchval(
            "INSERT INTO payment_reversals (operator_id, customer_id, payment_id, amount_minor, currency, reason,"
            " idempotency_key, detail, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $10)"
            " RETURNING id", customer["operator_id"], customer["id"], payment_id, amount_minor, currency, reason,
            idempotency_key, _json(detail), scope.account_id, now)
        await audit.record(conn, scope, "payment.reverse", "customer", customer["id"], detail,
                           operator_id=customer["operator_id"])
        await webhooks.emit(conn, "payment.reversed", customer["operator_id"], {
            "payment_id": payment_id, "customer_id": customer["id"], "reversal_id": reversal_id,
            "amount_minor": amount_minor, "currency": currency, "reason": reason,
            "unpaid_bills": [b["id"] for b in unpaid]})
        after = await _customer_state(conn, customer["id"], customer["operator_id"])
        return ReversalOutcome(payment_id, customer["id"], amount_minor, currency, reversal_id,
                               _effects(before, after), plan.from_bills, tuple(b["id"] for b in unpaid),
                               plan.from_wallet, wholesale)

    return await _run(conn, preview, body)


def _length(bill, timezone: str) -> timedelta:
    """A bill's period as paying it measured it (local midnight to local midnight: the same time comes back);
    a package change charge bought no days, so taking it back takes none."""
    if bill["kind"] != "period":
        return timedelta(0)
    span = PaidSpan.of_bill(bill["period_start"], bill["period_end"], timezone)
    return span.end_at - span.start_at


def _json(detail: dict) -> str:
    return json.dumps(detail, default=str)


# ---- voiding a bill ---------------------------------------------------------------------------------------

async def scoped_bill(conn: asyncpg.Connection, scope: Scope, bill_id: int) -> asyncpg.Record:
    """The bill if its customer is in the scope's subtree (else NotFound, like a missing one)."""
    row = await conn.fetchrow(
        "SELECT b.* FROM bills b JOIN customers c ON c.id = b.customer_id JOIN operators o ON o.id = c.operator_id"
        " WHERE b.id = $1 AND o.path <@ $2::ltree", bill_id, scope.path)
    if row is None:
        raise NotFound(_("Bill %(id)s was not found.", id=bill_id))
    return row


async def void_bill(conn: asyncpg.Connection, scope: Scope, bill_id: int, reason: str, *,
                    now: datetime | None = None, preview: bool = False) -> VoidOutcome:
    """Void an unpaid or part-paid bill (what was paid on it becomes advance credit), in one transaction."""
    reason = clean_reason(reason)
    now = now or clock.now()
    first = await scoped_bill(conn, scope, bill_id)

    async def body() -> VoidOutcome:
        customer = await load_customer(conn, scope, first["customer_id"], lock=True)
        bill = await conn.fetchrow("SELECT * FROM bills WHERE id = $1 FOR UPDATE", bill_id)
        if bill["status"] == "void":
            return VoidOutcome(bill_id, customer["id"], bill["currency"], None, duplicate=True)
        if bill["status"] == "paid":
            raise ValidationError(_("This bill is paid: it bought a period of service. Reverse its payment first "
                                    "(that takes the period back), then void the bill."), {"bill": _("paid")})
        before = await _customer_state(conn, customer["id"], customer["operator_id"])
        currency, moved = bill["currency"], bill["paid_minor"]
        posted = await conn.fetch("SELECT account_id, amount_minor FROM ledger_entries WHERE bill_id = $1"
                                  " AND kind = 'bill' ORDER BY id", bill_id)
        receivable = await account_id(conn, "customer_receivable", customer["operator_id"], currency, customer["id"])
        advance = await account_id(conn, "customer_advance", customer["operator_id"], currency, customer["id"])
        await post(conn, [*(Entry(e["account_id"], -e["amount_minor"], bill_id) for e in posted),
                          Entry(receivable, moved, bill_id), Entry(advance, -moved)], currency, "bill_void",
                   memo=reason, created_by=scope.account_id)
        await conn.execute("UPDATE bills SET status = 'void', paid_minor = 0, voided_at = $2, voided_by = $3,"
                           " void_reason = $4 WHERE id = $1", bill_id, now, scope.account_id, reason)
        reactivated = (customer["status"] == "suspended" and bill["due_at"] <= now
                       and not await payments.due_bill_open(conn, customer["id"], now))
        if reactivated:  # the payments rule: no due bill left open, no reason to stay cut off
            await activate_customer(conn, scope, customer["id"], f"bill #{bill_id} voided")
        detail = {"customer_id": customer["id"], "bill_id": bill_id, "reason": reason,
                  "total_minor": bill["total_minor"], "moved_to_advance_minor": moved, "reactivated": reactivated}
        await audit.record(conn, scope, "bill.void", "customer", customer["id"], detail,
                           operator_id=customer["operator_id"])
        after = await _customer_state(conn, customer["id"], customer["operator_id"])
        return VoidOutcome(bill_id, customer["id"], currency, _effects(before, after), moved, detail=detail)

    return await _run(conn, preview, body)
