"""The double-entry ledger: accounts, balanced postings, balances and statements; reseller balances.

Sign convention: amount_minor > 0 is a debit. Accounts and what their sum means:
- customer_receivable (per customer): what the customer owes on bills (debit balance).
- customer_advance (per customer): credit the customer holds with its operator (credit balance, so the wallet
  is -sum).
- cash, revenue, vat_payable (per operator): money collected, earned and owed to the tax office.
- operator_balance (per sub-operator): the sub-operator's balance with its parent (credit balance:
  operators.balance_minor == -sum of its entries).
- wholesale (per parent operator): what the parent earned from its sub-operators' sales.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from radbill.billing.money import check_amount
from radbill.errors import NotFound, ValidationError
from radbill.i18n import _
from radbill.services import audit
from radbill.services.customers import get_customer
from radbill.tenancy import Scope

BALANCE_INSUFFICIENT = "balance insufficient, contact your parent operator"


class BalanceInsufficient(ValidationError):
    """A sub-operator's balance cannot cover a wholesale debit without passing its credit limit."""

    def __init__(self):
        super().__init__(BALANCE_INSUFFICIENT, {"balance": "insufficient"})


@dataclass(frozen=True, slots=True)
class Entry:
    """One line of a ledger transaction (debit > 0, credit < 0)."""

    account_id: int
    amount_minor: int
    bill_id: int | None = None


async def account_id(conn: asyncpg.Connection, kind: str, operator_id: int, currency: str,
                     customer_id: int | None = None) -> int:
    """Get or create the ledger account (kind, operator, customer, currency); safe under concurrency."""
    row_id = await conn.fetchval(
        "INSERT INTO ledger_accounts (kind, operator_id, customer_id, currency) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT DO NOTHING RETURNING id", kind, operator_id, customer_id, currency)
    if row_id is None:
        row_id = await conn.fetchval(
            "SELECT id FROM ledger_accounts WHERE kind = $1 AND operator_id = $2"
            " AND customer_id IS NOT DISTINCT FROM $3 AND currency = $4", kind, operator_id, customer_id, currency)
    return row_id


async def post(conn: asyncpg.Connection, entries: Sequence[Entry], currency: str, kind: str, *,
               memo: str | None = None, payment_id: int | None = None, created_by: int | None = None) -> uuid.UUID:
    """Insert one balanced ledger transaction (zero lines are dropped); returns its txn id."""
    lines = [e for e in entries if e.amount_minor != 0]
    if sum(e.amount_minor for e in lines) != 0:
        raise ValueError(f"ledger transaction {kind!r} does not balance")
    txn = uuid.uuid4()
    if lines:
        await conn.execute(
            "INSERT INTO ledger_entries (txn_id, account_id, amount_minor, currency, kind, memo, bill_id,"
            " payment_id, created_by)"
            " SELECT $1, a, m, $4, $5, $6, b, $7, $8 FROM unnest($2::bigint[], $3::bigint[], $9::bigint[]) AS t(a, m, b)",
            txn, [e.account_id for e in lines], [e.amount_minor for e in lines], currency, kind, memo,
            payment_id, created_by, [e.bill_id for e in lines])
    return txn


async def load_customer(conn: asyncpg.Connection, scope: Scope, customer_id: int, *, lock: bool = False):
    """The scoped customer (customers.get_customer). lock=True takes the row FOR NO KEY UPDATE: the one lock
    that serialises every money change of a customer (payments, wallet, bill run), taken before bills and
    operators."""
    return await get_customer(conn, scope, customer_id, lock="no key update" if lock else None)


async def load_operator(conn: asyncpg.Connection, scope: Scope, operator_id: int, *, lock: bool = False):
    """An operator inside the scope (else NotFound)."""
    sql = "SELECT * FROM operators WHERE id = $1 AND path <@ $2::ltree"
    row = await conn.fetchrow(sql + " FOR UPDATE" if lock else sql, operator_id, scope.path)
    if row is None:
        raise NotFound("operator not found")
    return row


async def debit_reseller(conn: asyncpg.Connection, sub_operator_id: int, parent_id: int, currency: str,
                         amount_minor: int, *, memo: str, payment_id: int | None = None,
                         created_by: int | None = None) -> int:
    """Take `amount_minor` from a sub-operator's balance in one guarded UPDATE (the CHECK on
    balance >= -credit_limit is the guard) and post it; raises BalanceInsufficient. Returns the new balance."""
    if amount_minor <= 0:
        return await conn.fetchval("SELECT balance_minor FROM operators WHERE id = $1", sub_operator_id)
    try:
        balance = await conn.fetchval(
            "UPDATE operators SET balance_minor = balance_minor - $2 WHERE id = $1 RETURNING balance_minor",
            sub_operator_id, amount_minor)
    except asyncpg.CheckViolationError as exc:
        if exc.constraint_name == "operators_credit_limit":
            raise BalanceInsufficient() from None
        raise
    reseller = await account_id(conn, "operator_balance", sub_operator_id, currency)
    wholesale = await account_id(conn, "wholesale", parent_id, currency)
    await post(conn, [Entry(reseller, amount_minor), Entry(wholesale, -amount_minor)], currency,
               "wholesale_debit", memo=memo, payment_id=payment_id, created_by=created_by)
    return balance


async def _child_of_scope(conn: asyncpg.Connection, scope: Scope, sub_operator_id: int):
    sub = await load_operator(conn, scope, sub_operator_id, lock=True)
    if sub["kind"] != "sub_operator" or sub["id"] == scope.operator_id:
        raise NotFound("sub-operator not found")
    return sub


async def top_up_reseller(conn: asyncpg.Connection, scope: Scope, sub_operator_id: int, amount_minor: int,
                          note: str | None = None) -> int:
    """The parent (or anyone above it) adds money to a sub-operator's balance; returns the new balance."""
    async with conn.transaction():
        sub = await _child_of_scope(conn, scope, sub_operator_id)
        check_amount(amount_minor, sub["currency"])
        balance = await conn.fetchval(
            "UPDATE operators SET balance_minor = balance_minor + $2 WHERE id = $1 RETURNING balance_minor",
            sub_operator_id, amount_minor)
        cash = await account_id(conn, "cash", sub["parent_id"], sub["currency"])
        reseller = await account_id(conn, "operator_balance", sub_operator_id, sub["currency"])
        await post(conn, [Entry(cash, amount_minor), Entry(reseller, -amount_minor)], sub["currency"],
                   "reseller_top_up", memo=note, created_by=scope.account_id)
        await audit.record(conn, scope, "reseller.top_up", "operator", sub_operator_id,
                           {"amount_minor": amount_minor, "balance_minor": balance, "note": note})
    return balance


async def set_credit_limit(conn: asyncpg.Connection, scope: Scope, sub_operator_id: int,
                           credit_limit_minor: int) -> None:
    """The parent sets how far below zero a sub-operator's balance may go."""
    async with conn.transaction():
        sub = await _child_of_scope(conn, scope, sub_operator_id)
        check_amount(credit_limit_minor, sub["currency"], "credit_limit", allow_zero=True)
        if sub["balance_minor"] < -credit_limit_minor:
            raise ValidationError(_("the sub-operator already owes more than this limit: top up first"),
                                  {"credit_limit": _("below what is owed")})
        await conn.execute("UPDATE operators SET credit_limit_minor = $2 WHERE id = $1",
                           sub_operator_id, credit_limit_minor)
        await audit.record(conn, scope, "reseller.credit_limit", "operator", sub_operator_id,
                           {"credit_limit_minor": [sub["credit_limit_minor"], credit_limit_minor]})


async def reseller_statement(conn: asyncpg.Connection, scope: Scope, operator_id: int) -> list[asyncpg.Record]:
    """A sub-operator's balance movements, oldest first, with the running balance after each (its own view:
    a top-up is positive, a wholesale debit negative)."""
    await load_operator(conn, scope, operator_id)
    return await conn.fetch(
        "SELECT e.id, e.created_at, e.kind, e.memo, e.payment_id, -e.amount_minor AS amount_minor, e.currency,"
        "       -sum(e.amount_minor) OVER (ORDER BY e.id) AS balance_minor"
        "  FROM ledger_entries e JOIN ledger_accounts a ON a.id = e.account_id"
        " WHERE a.kind = 'operator_balance' AND a.operator_id = $1 ORDER BY e.id", operator_id)


@dataclass(frozen=True, slots=True)
class CustomerBalance:
    """What a customer owes on bills and holds as advance credit, from the ledger."""

    due_minor: int
    advance_minor: int
    currency: str

    @property
    def net_minor(self) -> int:
        """Positive: the customer owes this much; negative: the customer is in credit."""
        return self.due_minor - self.advance_minor


async def customer_balance(conn: asyncpg.Connection, scope: Scope, customer_id: int) -> CustomerBalance:
    """Sum of the customer's receivable and advance entries."""
    customer = await load_customer(conn, scope, customer_id)
    row = await conn.fetchrow(
        "SELECT coalesce(sum(e.amount_minor) FILTER (WHERE a.kind = 'customer_receivable'), 0) AS due,"
        "       coalesce(-sum(e.amount_minor) FILTER (WHERE a.kind = 'customer_advance'), 0) AS advance"
        "  FROM ledger_accounts a JOIN ledger_entries e ON e.account_id = a.id WHERE a.customer_id = $1",
        customer_id)
    return CustomerBalance(row["due"], row["advance"], customer["currency"])


async def customer_ledger(conn: asyncpg.Connection, scope: Scope, customer_id: int) -> list[asyncpg.Record]:
    """The customer's entries, oldest first, with the running net balance (positive: owes)."""
    await load_customer(conn, scope, customer_id)
    return await conn.fetch(
        "SELECT e.id, e.created_at, e.kind, a.kind AS account_kind, e.amount_minor, e.currency, e.memo,"
        "       e.bill_id, e.payment_id, sum(e.amount_minor) OVER (ORDER BY e.id) AS balance_minor"
        "  FROM ledger_entries e JOIN ledger_accounts a ON a.id = e.account_id"
        " WHERE a.customer_id = $1 ORDER BY e.id", customer_id)
