"""An operator's receiving mobile-wallet numbers (bKash, Nagad, Rocket, Upay personal/merchant numbers) that
customers "Send Money" to before they report the TrxID (radbill.services.transfers).

A wallet is owned by one operator and lent down the tree: a sub-operator's customers may pay into their
operator's number. Only the owner (or anyone above it) edits it.
"""

from __future__ import annotations

from collections.abc import Mapping

import asyncpg

from radbill import validate
from radbill.errors import NotFound, ValidationError
from radbill.i18n import _, lazy_gettext
from radbill.services import audit
from radbill.tenancy import Scope

KINDS = {"bkash": "bKash", "nagad": "Nagad", "rocket": "Rocket", "upay": "Upay"}

WALLET_SELECT = """
    SELECT w.*, o.name AS operator_name, o.path::text AS operator_path
      FROM operator_wallets w JOIN operators o ON o.id = w.operator_id
"""
_NUMBER_HELP = lazy_gettext("Enter the wallet's Bangladesh mobile number, like 01712345678.")


def bd_wallet_number(text: str) -> str:
    """A Bangladesh mobile number in E.164 (+8801XNNNNNNNN); wallets exist only on Bangladeshi numbers."""
    try:
        number = validate.mobile(text or "")
    except ValueError as exc:
        raise ValueError(str(exc)) from None
    if not number.startswith("+880"):
        raise ValueError(str(_NUMBER_HELP))
    return number


def wallet_values(form: Mapping) -> dict:
    """Validate the wallet form; ValidationError names each wrong field."""
    text = {k: str(form.get(k) or "").strip() for k in ("kind", "number", "label")}
    errors: dict[str, str] = {}
    values = {"kind": text["kind"], "number": None, "label": text["label"],
              "enabled": str(form.get("enabled") or "") in ("1", "on", "yes")}
    if values["kind"] not in KINDS:
        errors["kind"] = _("Choose bKash, Nagad, Rocket or Upay.")
    try:
        values["number"] = bd_wallet_number(text["number"])
    except ValueError as exc:
        errors["number"] = str(exc)
    if len(values["label"]) > 80:
        errors["label"] = _("At most 80 characters.")
    if errors:
        raise ValidationError(_("Please correct the wallet."), errors)
    return values


async def list_wallets(conn: asyncpg.Connection, scope: Scope) -> list[asyncpg.Record]:
    """Wallets owned inside the caller's subtree."""
    return await conn.fetch(WALLET_SELECT + " WHERE o.path <@ $1::ltree ORDER BY o.path, w.kind, w.number",
                            scope.path)


async def wallets_for_customer(conn: asyncpg.Connection, customer: asyncpg.Record) -> list[asyncpg.Record]:
    """The enabled wallets a customer may pay into: its own operator's and its ancestors' (nearest first)."""
    return await conn.fetch(WALLET_SELECT + " JOIN radbill_line($1) l ON l.operator_id = w.operator_id"
                            " WHERE w.enabled ORDER BY l.distance, w.kind, w.number", customer["operator_id"])


async def get_wallet(conn: asyncpg.Connection, scope: Scope, wallet_id: int, lock: bool = False) -> asyncpg.Record:
    """A wallet owned inside the caller's subtree (NotFound otherwise: an ancestor's wallet is not the caller's
    to edit)."""
    row = await conn.fetchrow(WALLET_SELECT + " WHERE w.id = $1 AND o.path <@ $2::ltree"
                              + (" FOR UPDATE OF w" if lock else ""), wallet_id, scope.path)
    if row is None:
        raise NotFound(_("No such wallet."))
    return row


_TAKEN = ValidationError(lazy_gettext("This number is already listed for this wallet kind."),
                         {"number": lazy_gettext("already listed")})


async def create_wallet(conn: asyncpg.Connection, scope: Scope, form: Mapping, ip: str | None = None) -> int:
    """A new receiving number of the caller's operator."""
    values = wallet_values(form)
    try:
        async with conn.transaction():
            wallet_id = await conn.fetchval(
                "INSERT INTO operator_wallets (operator_id, kind, number, label, enabled)"
                " VALUES ($1, $2, $3, $4, $5) RETURNING id", scope.operator_id, values["kind"], values["number"],
                values["label"], values["enabled"])
            await audit.record(conn, scope, "wallet.create", "wallet", wallet_id, values, ip)
    except asyncpg.UniqueViolationError:
        raise ValidationError(str(_TAKEN), dict(_TAKEN.fields)) from None
    return wallet_id


async def update_wallet(conn: asyncpg.Connection, scope: Scope, wallet_id: int, form: Mapping,
                        ip: str | None = None) -> None:
    """Edit a wallet (a disabled one is no longer offered; its past transfers stay as they are)."""
    values = wallet_values(form)
    try:
        async with conn.transaction():
            old = await get_wallet(conn, scope, wallet_id, lock=True)
            await conn.execute("UPDATE operator_wallets SET kind = $2, number = $3, label = $4, enabled = $5,"
                               " updated_at = now() WHERE id = $1", wallet_id, values["kind"], values["number"],
                               values["label"], values["enabled"])
            await audit.record(conn, scope, "wallet.edit", "wallet", wallet_id, audit.changes(dict(old), values),
                               ip, operator_id=old["operator_id"])
    except asyncpg.UniqueViolationError:
        raise ValidationError(str(_TAKEN), dict(_TAKEN.fields)) from None
