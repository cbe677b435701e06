"""Verified mobile-wallet transfers: the customer sent money to an operator's wallet number and reports the TrxID;
the claim waits as *unverified* until staff who can read that wallet's statement confirm it or reject it.

Rules:
- A TrxID can be claimed once per wallet (the database's unique index; case-insensitive, stored upper-case).
- Confirming records the payment through the cash path (radbill.services.payments.record_cash_payment, method
  'mobile_wallet', txn_id = the TrxID) in the same transaction that marks the claim confirmed: bills paid, advance
  for the rest, reactivation, expiry, SMS, ledger and audit exactly as for cash. A second confirm finds the claim
  confirmed and records nothing.
- Who may confirm or reject is `decision_refusal` (one rule; pages ask it for their buttons).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import asyncpg

from radbill import clock
from radbill.billing.money import parse_amount
from radbill.errors import NotFound, PermissionDenied, ValidationError
from radbill.i18n import _
from radbill.services import audit, payments, wallets
from radbill.services.customers import get_customer
from radbill.tenancy import Scope

PERMISSION = "payments.manage"
ORIGINS = ("staff", "customer")
STATUSES = ("unverified", "confirmed", "rejected")
# bKash/Nagad/Rocket/Upay transaction ids are 8-12 letters and digits today; a little room either side
TRXID = re.compile(r"^[A-Z0-9]{6,20}$")

TRANSFER_SELECT = """
    SELECT t.*, w.kind AS wallet_kind, w.number AS wallet_number, w.label AS wallet_label,
           w.operator_id AS wallet_operator_id, wo.path::text AS wallet_owner_path, wo.name AS wallet_owner_name,
           c.username, c.name AS customer_name, o.name AS operator_name,
           sa.username AS submitted_by_name, da.username AS decided_by_name
      FROM wallet_transfers t
      JOIN operator_wallets w ON w.id = t.wallet_id
      JOIN operators wo ON wo.id = w.operator_id
      JOIN customers c ON c.id = t.customer_id
      JOIN operators o ON o.id = t.operator_id
      LEFT JOIN accounts sa ON sa.id = t.submitted_by
      LEFT JOIN accounts da ON da.id = t.decided_by
"""


def _within(path: str, ancestor: str) -> bool:
    return path == ancestor or path.startswith(ancestor + ".")


def decision_refusal(scope: Scope, wallet_owner_path: str) -> str | None:
    """Why the caller may not confirm or reject a transfer into this wallet (None: it may). Only staff who can
    read the wallet's statement can tell whether the money arrived: the wallet's owner and those above it (a
    sub-operator only for a wallet of its own), managers only with the payments permission."""
    if not scope.can(PERMISSION):
        return _("Confirming transfers needs the payments permission: ask your operator to grant it.")
    if not _within(wallet_owner_path, scope.path):
        return _("This money went to your parent operator's wallet: only they can check their statement and "
                 "confirm it.")
    return None


def normalise_trxid(text: str) -> str:
    """The TrxID as the wallet's statement shows it: letters and digits, upper-case (spaces and dashes dropped)."""
    trxid = re.sub(r"[\s-]", "", text or "").upper()
    if not TRXID.match(trxid):
        raise ValueError(_("Enter the TrxID from the payment message: 6–20 letters and digits, like 8N7A6D5EE7."))
    return trxid


@dataclass(frozen=True)
class Decision:
    """What confirm did: the payment it recorded (or found, when the transfer was already confirmed)."""

    transfer: asyncpg.Record
    payment_id: int | None
    duplicate: bool = False
    reactivated: bool = False


async def submit(conn: asyncpg.Connection, scope: Scope, customer_id: int, form: Mapping, *,
                 origin: str = "staff", ip: str | None = None) -> asyncpg.Record:
    """Record a customer's claim (wallet_id, sender_number, amount, trxid) as unverified. `origin` 'customer' is
    the customer's own claim (the portal; `scope` is then the customer's, and no staff account is named)."""
    if origin not in ORIGINS:
        raise ValueError(f"unknown origin {origin!r}")
    customer = await get_customer(conn, scope, customer_id)
    values = await _claim_values(conn, customer, form)
    submitted_by = scope.account_id if origin == "staff" else None
    if origin == "staff" and submitted_by is None:
        raise ValueError("a staff submission needs the staff member's account")
    try:
        async with conn.transaction():
            row = await conn.fetchrow(
                "INSERT INTO wallet_transfers (operator_id, customer_id, wallet_id, sender_number, amount_minor,"
                " currency, trxid, origin, submitted_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
                customer["operator_id"], customer_id, values["wallet_id"], values["sender_number"],
                values["amount_minor"], customer["currency"], values["trxid"], origin, submitted_by)
            await audit.record(conn, scope, "transfer.submit", "customer", customer_id,
                               {**values, "transfer_id": row["id"], "origin": origin}, ip,
                               operator_id=customer["operator_id"])
    except asyncpg.UniqueViolationError:
        message = _("This TrxID was already reported for this wallet. Check the number in the payment message.")
        raise ValidationError(message, {"trxid": message}) from None
    return await get_transfer(conn, scope, row["id"])


async def _claim_values(conn, customer, form: Mapping) -> dict:
    text = {k: str(form.get(k) or "").strip() for k in ("wallet_id", "sender_number", "amount", "trxid")}
    errors: dict[str, str] = {}
    values: dict = {}
    offered = {w["id"]: w for w in await wallets.wallets_for_customer(conn, customer)}
    wallet_id = int(text["wallet_id"]) if text["wallet_id"].isascii() and text["wallet_id"].isdigit() else None
    if wallet_id not in offered:
        errors["wallet_id"] = _("Choose the wallet number the money was sent to.")
    values["wallet_id"] = wallet_id
    try:
        values["sender_number"] = wallets.bd_wallet_number(text["sender_number"])
    except ValueError as exc:
        errors["sender_number"] = str(exc)
    try:
        values["amount_minor"] = parse_amount(text["amount"], customer["currency"], allow_zero=False)
    except ValidationError as exc:
        errors["amount"] = str(exc)
    try:
        values["trxid"] = normalise_trxid(text["trxid"])
    except ValueError as exc:
        errors["trxid"] = str(exc)
    if errors:
        raise ValidationError(_("Please correct the transfer."), errors)
    return values


async def get_transfer(conn: asyncpg.Connection, scope: Scope, transfer_id: int,
                       lock: bool = False) -> asyncpg.Record:
    """A transfer of a customer inside the caller's subtree (NotFound otherwise)."""
    row = await conn.fetchrow(TRANSFER_SELECT + " WHERE t.id = $1 AND o.path <@ $2::ltree"
                              + (" FOR UPDATE OF t" if lock else ""), transfer_id, scope.path)
    if row is None:
        raise NotFound(_("No such transfer."))
    return row


@dataclass(frozen=True)
class TransferFilters:
    status: str = ""
    wallet_id: int | None = None
    q: str = ""

    @classmethod
    def from_query(cls, query: Mapping) -> TransferFilters:
        status = str(query.get("status") or "")
        wallet = str(query.get("wallet_id") or "")
        return cls(status if status in STATUSES else "",
                   int(wallet) if wallet.isascii() and wallet.isdigit() and len(wallet) < 18 else None,
                   str(query.get("q") or "").strip()[:64])


async def list_transfers(conn: asyncpg.Connection, scope: Scope, filters: TransferFilters,
                         limit: int = 200) -> list[asyncpg.Record]:
    """The queue: unverified first (oldest first, the order they must be checked in), then decided ones, newest
    first."""
    like = "%" + filters.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    return await conn.fetch(
        TRANSFER_SELECT + " WHERE o.path <@ $1::ltree AND ($2 = '' OR t.status = $2)"
        " AND ($3::bigint IS NULL OR t.wallet_id = $3) AND ($4 = '%%' OR t.trxid ILIKE $4 OR c.username ILIKE $4"
        "      OR c.name ILIKE $4 OR t.sender_number ILIKE $4)"
        " ORDER BY t.status <> 'unverified', CASE WHEN t.status = 'unverified' THEN t.submitted_at END,"
        "          t.decided_at DESC, t.id DESC LIMIT $5",
        scope.path, filters.status, filters.wallet_id, like, limit)


def _check_decider(scope: Scope, transfer) -> None:
    refusal = decision_refusal(scope, transfer["wallet_owner_path"])
    if refusal:
        raise PermissionDenied(refusal, "wallet")


async def confirm(conn: asyncpg.Connection, scope: Scope, transfer_id: int, ip: str | None = None) -> Decision:
    """Confirm a transfer seen on the wallet's statement: the payment is recorded as for cash, once."""
    async with conn.transaction():
        # lock order: the transfer, then (inside record_cash_payment) the customer; nothing locks the other way
        transfer = await get_transfer(conn, scope, transfer_id, lock=True)
        _check_decider(scope, transfer)
        if transfer["status"] == "confirmed":
            return Decision(transfer, transfer["payment_id"], duplicate=True)
        if transfer["status"] == "rejected":
            raise ValidationError(_("This transfer was rejected; it cannot be confirmed. Ask the customer to "
                                    "report the payment again if it did arrive."), {"status": "rejected"})
        note = _("%(wallet)s transfer from %(sender)s to %(number)s, TrxID %(trxid)s",
                 wallet=wallets.KINDS[transfer["wallet_kind"]], sender=transfer["sender_number"],
                 number=transfer["wallet_number"], trxid=transfer["trxid"])
        outcome = await payments.record_cash_payment(
            conn, scope, transfer["customer_id"], transfer["amount_minor"], method="mobile_wallet",
            txn_id=transfer["trxid"], note=note, idempotency_key=f"wallet-transfer-{transfer_id}",
            confirm_repeat=True)  # a distinct TrxID is proof enough that this is another payment
        now = clock.now()
        await conn.execute("UPDATE wallet_transfers SET status = 'confirmed', decided_by = $2, decided_at = $3,"
                           " payment_id = $4 WHERE id = $1", transfer_id, scope.account_id, now,
                           outcome.payment["id"])
        await audit.record(conn, scope, "transfer.confirm", "customer", transfer["customer_id"],
                           {"transfer_id": transfer_id, "trxid": transfer["trxid"],
                            "amount_minor": transfer["amount_minor"], "payment_id": outcome.payment["id"]}, ip,
                           operator_id=transfer["operator_id"])
    return Decision(await get_transfer(conn, scope, transfer_id), outcome.payment["id"],
                    reactivated=outcome.reactivated)


async def reject(conn: asyncpg.Connection, scope: Scope, transfer_id: int, reason: str,
                 ip: str | None = None) -> asyncpg.Record:
    """Reject a transfer not found on the wallet's statement; the reason is kept and shown to staff."""
    reason = (reason or "").strip()
    if not 1 <= len(reason) <= 500:
        message = _("Say why the transfer is rejected (at most 500 characters), e.g. \"not on the statement\".")
        raise ValidationError(message, {"reason": message})
    async with conn.transaction():
        transfer = await get_transfer(conn, scope, transfer_id, lock=True)
        _check_decider(scope, transfer)
        if transfer["status"] == "rejected":
            return transfer
        if transfer["status"] == "confirmed":
            raise ValidationError(_("This transfer was already confirmed and its payment recorded; it cannot be "
                                    "rejected now."), {"status": "confirmed"})
        await conn.execute("UPDATE wallet_transfers SET status = 'rejected', reason = $2, decided_by = $3,"
                           " decided_at = $4 WHERE id = $1", transfer_id, reason, scope.account_id, clock.now())
        await audit.record(conn, scope, "transfer.reject", "customer", transfer["customer_id"],
                           {"transfer_id": transfer_id, "trxid": transfer["trxid"], "reason": reason}, ip,
                           operator_id=transfer["operator_id"])
    return await get_transfer(conn, scope, transfer_id)
