"""Operators' online gateway accounts (payment_gateways): list, add, edit. Credentials are sealed JSON
(context 'payment_gateways.credentials:<id>'); no query here selects them for a page, and audit rows name only
which credential fields changed. Settlement opens them with `credentials_of`."""

from __future__ import annotations

import json
from collections.abc import Mapping

import asyncpg

from radbill.errors import NotFound, ValidationError
from radbill.i18n import _
from radbill.payments import gateway_config as gc
from radbill.services import audit, sealed
from radbill.tenancy import Scope

GATEWAY_SELECT = """
    SELECT g.id, g.operator_id, g.kind, g.label, g.mode, g.base_url, g.fee_basis_points, g.enabled, g.created_at,
           g.updated_at, g.credentials_sealed IS NOT NULL AS has_credentials, o.name AS operator_name
      FROM payment_gateways g JOIN operators o ON o.id = g.operator_id
"""


def credentials_of(row_id: int, credentials_sealed: str | None) -> dict[str, str]:
    """The opened credentials of one gateway account ({} when none are stored)."""
    opened = sealed.open_for(sealed.PAYMENT_CREDENTIALS, row_id, credentials_sealed)
    return json.loads(opened) if opened else {}


async def list_gateways(conn: asyncpg.Connection, scope: Scope) -> list[asyncpg.Record]:
    """Accounts owned inside the caller's subtree."""
    return await conn.fetch(GATEWAY_SELECT + " WHERE o.path <@ $1::ltree ORDER BY o.path, g.label", scope.path)


async def get_gateway(conn: asyncpg.Connection, scope: Scope, gateway_id: int) -> asyncpg.Record:
    """An account owned inside the caller's subtree (never its credentials)."""
    row = await conn.fetchrow(GATEWAY_SELECT + " WHERE g.id = $1 AND o.path <@ $2::ltree", gateway_id, scope.path)
    if row is None:
        raise NotFound(_("No such payment gateway."))
    return row


def _taken() -> ValidationError:
    message = _("You already have a gateway with this name. Choose another name.")
    return ValidationError(message, {"label": message})


def _detail(settings: gc.GatewaySettings) -> dict:
    return {"kind": settings.kind, "label": settings.label, "mode": settings.mode, "base_url": settings.base_url,
            "fee_basis_points": settings.fee_basis_points, "enabled": settings.enabled}


async def create_gateway(conn: asyncpg.Connection, scope: Scope, form: Mapping, ip: str | None = None) -> int:
    """A new gateway account of the caller's operator, every credential of its kind required."""
    settings = gc.parse_form(form, require_credentials=True)
    try:
        async with conn.transaction():
            gateway_id = await conn.fetchval(
                "INSERT INTO payment_gateways (operator_id, kind, label, mode, base_url, fee_basis_points, enabled)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id", scope.operator_id, settings.kind,
                settings.label, settings.mode, settings.base_url, settings.fee_basis_points, settings.enabled)
            await _store_credentials(conn, gateway_id, settings.credentials)
            await audit.record(conn, scope, "payment_gateway.create", "payment_gateway", gateway_id,
                               {**_detail(settings), "credentials": sorted(settings.credentials)}, ip)
    except asyncpg.UniqueViolationError:
        raise _taken() from None
    return gateway_id


async def update_gateway(conn: asyncpg.Connection, scope: Scope, gateway_id: int, form: Mapping,
                         ip: str | None = None) -> None:
    """Edit an account; an empty credential field keeps the stored value (a change of kind needs them all)."""
    try:
        async with conn.transaction():
            old = await conn.fetchrow(
                "SELECT g.* FROM payment_gateways g JOIN operators o ON o.id = g.operator_id"
                " WHERE g.id = $1 AND o.path <@ $2::ltree FOR UPDATE OF g", gateway_id, scope.path)
            if old is None:
                raise NotFound(_("No such payment gateway."))
            kind_changed = str(form.get("kind") or "").strip() != old["kind"]
            settings = gc.parse_form(form, require_credentials=kind_changed or old["credentials_sealed"] is None)
            await conn.execute(
                "UPDATE payment_gateways SET kind = $2, label = $3, mode = $4, base_url = $5, fee_basis_points = $6,"
                " enabled = $7, updated_at = now() WHERE id = $1", gateway_id, settings.kind, settings.label,
                settings.mode, settings.base_url, settings.fee_basis_points, settings.enabled)
            if settings.credentials:
                kept = {} if kind_changed else credentials_of(gateway_id, old["credentials_sealed"])
                await _store_credentials(conn, gateway_id, {**kept, **settings.credentials})
            detail = audit.changes(dict(old), _detail(settings))
            if settings.credentials:
                detail["credentials_changed"] = sorted(settings.credentials)
            await audit.record(conn, scope, "payment_gateway.edit", "payment_gateway", gateway_id, detail, ip,
                               operator_id=old["operator_id"])
    except asyncpg.UniqueViolationError:
        raise _taken() from None


async def _store_credentials(conn, gateway_id: int, credentials: dict[str, str]) -> None:
    # sealed for this row: the id exists before the value is sealed
    value = sealed.seal_for(sealed.PAYMENT_CREDENTIALS, gateway_id, json.dumps(credentials, sort_keys=True))
    await conn.execute("UPDATE payment_gateways SET credentials_sealed = $2 WHERE id = $1", gateway_id, value)
