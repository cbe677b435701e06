"""Routers (NAS): the RADIUS clients FreeRADIUS accepts, each with its own shared secret.

The secret is generated here, returned once to the caller that created or replaced it, and never read back: no
query below selects it, and audit rows only say that it changed. The same holds for the RouterOS API password. A
change to the nas table NOTIFYs radbill_nas; the supervisor restarts FreeRADIUS only if the clients file changes.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping

import asyncpg

from radbill import validate
from radbill.errors import NotFound, ValidationError
from radbill.i18n import _
from radbill.passwords import generate_nas_secret
from radbill.policy import vendors
from radbill.services import audit
from radbill.tenancy import Scope

TYPES = vendors.TYPES  # the router types (policy/vendors.py says what each is sent)
STATUSES = ("active", "disabled")
_SHORTNAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_HOST = re.compile(r"^[A-Za-z0-9.:-]{1,253}$")
# what the form edits; secret and api_password are handled apart and never echoed
COLUMNS = ("shortname", "nasname", "type", "coa_port", "require_message_authenticator", "api_host", "api_port",
           "api_username", "description")

ROUTER_SELECT = """
    SELECT n.id, n.nasname, n.shortname, n.type, n.coa_port, n.require_message_authenticator, n.api_host, n.api_port,
           n.api_username, n.api_password IS NOT NULL AS has_api_password, n.description, n.status, n.operator_id,
           n.created_at, n.updated_at, o.name AS operator_name
      FROM nas n JOIN operators o ON o.id = n.operator_id
"""


def type_label(router_type: str) -> str:
    """What people read for a router type ("Huawei (ME60 / NE)"); an unknown one shows as itself."""
    found = vendors.VENDORS.get(router_type)
    return str(found.label) if found else router_type


def type_labels() -> list[tuple[str, str]]:
    """The router form's choices, (type, label), in the table's order."""
    return [(t, type_label(t)) for t in TYPES]


def nas_address(text: str) -> str:
    """A router's source address as FreeRADIUS matches it: one IPv4 or IPv6 host, normalised."""
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        raise ValueError(_("Enter the router's IP address, like 10.20.0.1 or 2001:db8::1.")) from None
    if address.is_unspecified or address.is_multicast:
        raise ValueError(_("Enter the router's own (unicast) address."))
    return str(address)


def router_values(form: Mapping) -> dict:
    """Validate the router form; ValidationError names each wrong field."""
    text = {key: str(form.get(key) or "").strip() for key in (*COLUMNS, "api_password")}
    errors: dict[str, str] = {}
    values: dict = {"shortname": text["shortname"], "type": text["type"] or "mikrotik",
                    "require_message_authenticator": text["require_message_authenticator"] != "no",
                    "api_host": text["api_host"] or None, "api_username": text["api_username"][:64] or None,
                    "description": text["description"][:200] or None, "nasname": None, "coa_port": 3799,
                    "api_port": None}
    if not _SHORTNAME.match(values["shortname"]):
        errors["shortname"] = _("1–64 letters, digits, dot, dash or underscore.")
    try:
        values["nasname"] = nas_address(text["nasname"])
    except ValueError as exc:
        errors["nasname"] = str(exc)
    if values["type"] not in TYPES:
        errors["type"] = _("Choose the router's type from the list.")
    for key in ("coa_port", "api_port"):
        if text[key]:
            try:
                values[key] = validate.positive_int(text[key], 1, 65535)
            except ValueError as exc:
                errors[key] = str(exc)
    if values["api_host"] and not _HOST.match(values["api_host"]):
        errors["api_host"] = _("A host name or IP address.")
    if not values["api_host"] and (values["api_username"] or values["api_port"] or text["api_password"]):
        errors["api_host"] = _("Enter the router's API address too, or leave the API fields empty.")
    if len(text["api_password"]) > 128:
        errors["api_password"] = _("At most 128 characters.")
    if errors:
        raise ValidationError(_("Please correct the router."), errors)
    return values


async def list_routers(conn: asyncpg.Connection, scope: Scope) -> list[asyncpg.Record]:
    """Routers owned inside the caller's subtree with their open sessions (radacct rows without a stop)."""
    return await conn.fetch(
        "SELECT n.id, n.nasname, n.shortname, n.type, n.coa_port, n.require_message_authenticator, n.api_host,"
        "       n.api_port, n.api_username, n.description, n.status, n.operator_id, o.name AS operator_name,"
        "       (SELECT count(*) FROM radacct a WHERE a.nasipaddress = n.nasname::inet"
        "           AND a.acctstoptime IS NULL) AS online"
        "  FROM nas n JOIN operators o ON o.id = n.operator_id"
        " WHERE o.path <@ $1::ltree ORDER BY lower(n.shortname), n.id", scope.path)


async def get_router(conn: asyncpg.Connection, scope: Scope, router_id: int,
                     for_update: bool = False) -> asyncpg.Record:
    """A router owned inside the caller's subtree (never its secrets)."""
    row = await conn.fetchrow(ROUTER_SELECT + " WHERE n.id = $1 AND o.path <@ $2::ltree"
                              + (" FOR UPDATE OF n" if for_update else ""), router_id, scope.path)
    if row is None:
        raise NotFound("No such router.")
    return row


async def _address_taken(conn, nasname: str, router_id: int | None) -> bool:
    # unique system-wide, so asked of a function that sees past the caller's row-level policies
    return await conn.fetchval("SELECT radbill_taken('nas_address', $1, $2)", nasname, router_id)


_TAKEN = ValidationError(_("Another router already uses this address."),
                         {"nasname": _("already used by another router (addresses are unique system-wide)")})


async def create_router(conn: asyncpg.Connection, scope: Scope, form: Mapping,
                        ip: str | None = None) -> tuple[asyncpg.Record, str]:
    """A new router owned by the caller's operator; returns it and its generated secret (show it once)."""
    values = router_values(form)
    api_password = str(form.get("api_password") or "").strip() or None
    secret = generate_nas_secret()
    try:
        async with conn.transaction():
            if await _address_taken(conn, values["nasname"], None):
                raise _TAKEN
            router_id = await conn.fetchval(
                "INSERT INTO nas (operator_id, secret, api_password, shortname, nasname, type, coa_port,"
                " require_message_authenticator, api_host, api_port, api_username, description)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
                scope.operator_id, secret, api_password, *(values[c] for c in COLUMNS))
            await audit.record(conn, scope, "router.create", "router", router_id,
                               {**values, "secret": "generated", "api_password": "set" if api_password else None}, ip)
    except asyncpg.UniqueViolationError:
        raise _TAKEN from None
    return await get_router(conn, scope, router_id), secret


async def update_router(conn: asyncpg.Connection, scope: Scope, router_id: int, form: Mapping,
                        ip: str | None = None) -> asyncpg.Record:
    """Edit a router. An empty API password keeps the stored one; `clear_api_password` removes it."""
    values = router_values(form)
    new_password = str(form.get("api_password") or "").strip() or None
    clear_password = str(form.get("clear_api_password") or "") in ("1", "on", "yes")
    try:
        async with conn.transaction():
            old = await get_router(conn, scope, router_id, for_update=True)
            if await _address_taken(conn, values["nasname"], router_id):
                raise _TAKEN
            await conn.execute(
                "UPDATE nas SET shortname = $2, nasname = $3, type = $4, coa_port = $5,"
                " require_message_authenticator = $6, api_host = $7, api_port = $8, api_username = $9,"
                " description = $10 WHERE id = $1", router_id, *(values[c] for c in COLUMNS))
            detail = audit.changes(dict(old), values)
            if new_password:
                await conn.execute("UPDATE nas SET api_password = $2 WHERE id = $1", router_id, new_password)
                detail["api_password"] = "changed"
            elif clear_password and old["has_api_password"]:
                await conn.execute("UPDATE nas SET api_password = NULL WHERE id = $1", router_id)
                detail["api_password"] = "removed"
            await audit.record(conn, scope, "router.edit", "router", router_id, detail, ip,
                               operator_id=old["operator_id"])
    except asyncpg.UniqueViolationError:
        raise _TAKEN from None
    return await get_router(conn, scope, router_id)


async def new_router_secret(conn: asyncpg.Connection, scope: Scope, router_id: int,
                            ip: str | None = None) -> tuple[asyncpg.Record, str]:
    """Replace a router's shared secret; returns the new one (show it once; the router must be updated too)."""
    secret = generate_nas_secret()
    async with conn.transaction():
        old = await get_router(conn, scope, router_id, for_update=True)
        await conn.execute("UPDATE nas SET secret = $2 WHERE id = $1", router_id, secret)
        await audit.record(conn, scope, "router.new_secret", "router", router_id, {"secret": "replaced"}, ip,
                           operator_id=old["operator_id"])
    return old, secret


async def set_router_status(conn: asyncpg.Connection, scope: Scope, router_id: int, status: str,
                            ip: str | None = None) -> None:
    """Disable (FreeRADIUS stops answering it) or enable a router. The router is looked up first, so a foreign id
    is a 404 whatever was posted with it."""
    async with conn.transaction():
        old = await get_router(conn, scope, router_id, for_update=True)
        if status not in STATUSES:
            raise ValidationError(_("Choose active or disabled for the router (reload the page and use its buttons)."),
                                  {"status": _("active or disabled")})
        await conn.execute("UPDATE nas SET status = $2 WHERE id = $1", router_id, status)
        await audit.record(conn, scope, "router.disable" if status == "disabled" else "router.enable", "router",
                           router_id, {"status": [old["status"], status]}, ip, operator_id=old["operator_id"])


async def delete_router(conn: asyncpg.Connection, scope: Scope, router_id: int, ip: str | None = None) -> None:
    """Delete a router with no open sessions (disconnects and CoA for them still need its secret)."""
    async with conn.transaction():
        old = await get_router(conn, scope, router_id, for_update=True)
        online = await conn.fetchval("SELECT count(*) FROM radacct WHERE nasipaddress = $1::inet"
                                     " AND acctstoptime IS NULL", old["nasname"])
        if online:
            raise ValidationError(_("%(router)s has %(count)s open sessions: disable it and delete it once they "
                                    "have ended.", router=old["shortname"], count=online))
        await conn.execute("DELETE FROM nas WHERE id = $1", router_id)
        await audit.record(conn, scope, "router.delete", "router", router_id,
                           {"shortname": old["shortname"], "nasname": old["nasname"]}, ip,
                           operator_id=old["operator_id"])
