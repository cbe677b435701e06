"""VAT profiles: rate, prices inclusive or exclusive of VAT, the registration number printed on invoices; and which
profile an operator or a package names. Which profile taxes a bill is decided in one place, the SQL function
radbill_vat_profile_for (migration 0036): the package's, else the nearest operator's, else none."""

from __future__ import annotations

import re
from collections.abc import Mapping

import asyncpg

from radbill.errors import NotFound, ValidationError
from radbill.i18n import _
from radbill.services import audit
from radbill.tenancy import Scope

_RATE = re.compile(r"^\d{1,3}(\.\d{1,2})?$")
_REGISTRATION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ./-]{0,39}$")
COLUMNS = ("name", "rate_basis_points", "price_includes_vat", "registration_number", "active")


def rate_basis_points(text: str) -> int:
    """'15' or '7.5' (per cent, up to two decimals) → basis points (1500, 750)."""
    text = text.strip().rstrip("%").strip()
    if not _RATE.match(text):
        raise ValueError(_("Enter the rate in per cent, like 15 or 7.5."))
    whole, _dot, fraction = text.partition(".")
    points = int(whole) * 100 + int((fraction + "00")[:2])
    if points > 10000:
        raise ValueError(_("The rate is at most 100 %."))
    return points


def vat_values(form: Mapping) -> dict:
    """Validate the VAT profile form; ValidationError names each wrong field."""
    text = {k: str(form.get(k) or "").strip() for k in ("name", "rate", "price_includes_vat", "registration_number",
                                                         "active")}
    errors: dict[str, str] = {}
    values: dict = {"name": text["name"], "rate_basis_points": None,
                    "price_includes_vat": text["price_includes_vat"] == "yes",
                    "registration_number": text["registration_number"] or None, "active": text["active"] != "no"}
    if not 1 <= len(values["name"]) <= 80:
        errors["name"] = _("Enter a name of up to 80 characters, e.g. VAT 15%.")
    try:
        values["rate_basis_points"] = rate_basis_points(text["rate"])
    except ValueError as exc:
        errors["rate"] = str(exc)
    if values["registration_number"] and not _REGISTRATION.match(values["registration_number"]):
        errors["registration_number"] = _("Up to 40 letters, digits, spaces, dots, slashes or dashes (the BIN).")
    if errors:
        raise ValidationError(_("Please correct the VAT profile."), errors)
    return values


async def list_profiles(conn: asyncpg.Connection, scope: Scope, readable: bool = False) -> list[asyncpg.Record]:
    """Profiles owned in the caller's subtree, or (`readable`) also those of its ancestors, which it may attach."""
    return await conn.fetch("SELECT v.*, o.name AS operator_name, o.path <@ $1::ltree AS own FROM vat_profiles v"
                            "  JOIN operators o ON o.id = v.operator_id"
                            " WHERE o.path <@ $1::ltree OR ($2 AND o.path @> $1::ltree)"
                            " ORDER BY v.active DESC, lower(v.name), v.id", scope.path, readable)


async def get_profile(conn: asyncpg.Connection, scope: Scope, profile_id: int) -> asyncpg.Record:
    """A profile owned inside the caller's subtree; NotFound for a missing or foreign one."""
    row = await conn.fetchrow("SELECT v.* FROM vat_profiles v JOIN operators o ON o.id = v.operator_id"
                              " WHERE v.id = $1 AND o.path <@ $2::ltree", profile_id, scope.path)
    if row is None:
        raise NotFound("No such VAT profile.")
    return row


async def create_profile(conn: asyncpg.Connection, scope: Scope, form: Mapping, ip: str | None = None) -> int:
    values = vat_values(form)
    async with conn.transaction():
        profile_id = await conn.fetchval(
            "INSERT INTO vat_profiles (operator_id, name, rate_basis_points, price_includes_vat, registration_number,"
            " active) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id", scope.operator_id, *(values[c] for c in COLUMNS))
        await audit.record(conn, scope, "vat_profile.create", "vat_profile", profile_id, values, ip)
    return profile_id


async def update_profile(conn: asyncpg.Connection, scope: Scope, profile_id: int, form: Mapping,
                         ip: str | None = None) -> None:
    """Edit a profile: bills issued from now on use it; bills already issued keep their amounts."""
    values = vat_values(form)
    async with conn.transaction():
        old = await get_profile(conn, scope, profile_id)
        await conn.execute("UPDATE vat_profiles SET name = $2, rate_basis_points = $3, price_includes_vat = $4,"
                           " registration_number = $5, active = $6 WHERE id = $1",
                           profile_id, *(values[c] for c in COLUMNS))
        await audit.record(conn, scope, "vat_profile.edit", "vat_profile", profile_id,
                           audit.changes(dict(old), values), ip, operator_id=old["operator_id"])


async def attachable(conn, scope: Scope, profile_id: int | None) -> int | None:
    """`profile_id` if the caller may attach it (its own or an ancestor's), None for "no profile"."""
    if profile_id is None:
        return None
    if not await conn.fetchval("SELECT 1 FROM vat_profiles v JOIN operators o ON o.id = v.operator_id"
                               " WHERE v.id = $1 AND (o.path <@ $2::ltree OR o.path @> $2::ltree)",
                               profile_id, scope.path):
        raise ValidationError(_("Choose one of the VAT profiles listed."),
                              {"vat_profile_id": _("Choose one of the VAT profiles listed.")})
    return profile_id


async def attach_to_operator(conn: asyncpg.Connection, scope: Scope, profile_id: int | None,
                             ip: str | None = None) -> None:
    """The caller's own operator taxes its customers' bills with this profile (packages may name their own)."""
    profile_id = await attachable(conn, scope, profile_id)
    async with conn.transaction():
        old = await conn.fetchval("SELECT vat_profile_id FROM operators WHERE id = $1 FOR UPDATE", scope.operator_id)
        if old == profile_id:
            return
        await conn.execute("UPDATE operators SET vat_profile_id = $2 WHERE id = $1", scope.operator_id, profile_id)
        await audit.record(conn, scope, "edit", "isp_info", scope.operator_id, {"vat_profile_id": [old, profile_id]},
                           ip)
