"""API clients: machine logins for /api/v1 with a scope, a permission subset and an address allow-list."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import string
from dataclasses import dataclass

import asyncpg

from radbill.errors import NotFound, ValidationError
from radbill.i18n import _
from radbill.services import audit
from radbill.services.auth import MANAGER_PERMISSIONS
from radbill.tenancy import Scope

TOKEN_PREFIX = "rbk_"
_PREFIX_ALPHABET = string.ascii_lowercase + string.digits
MAX_CIDRS = 20


def new_token() -> tuple[str, str, bytes]:
    """(token, its public prefix, its hash). The prefix finds the row; only the hash of the whole token is kept."""
    prefix = "".join(secrets.choice(_PREFIX_ALPHABET) for _ in range(10))
    token = f"{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    return token, prefix, token_hash(token)


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def split_token(token: str) -> str | None:
    """The prefix of a well-formed token, else None (a malformed one is refused before any database work)."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 120:
        return None
    prefix, sep, _rest = token[len(TOKEN_PREFIX):].partition("_")
    if not sep or len(prefix) != 10 or not all(ch in _PREFIX_ALPHABET for ch in prefix):
        return None
    return prefix


@dataclass(frozen=True)
class ApiClient:
    """An authenticated client: who it is and the Scope its calls run in."""

    id: int
    name: str
    operator_id: int
    scope: Scope
    allowed_cidrs: tuple
    last_used_at: object

    def admits(self, address: str | None) -> bool:
        """Whether the allow-list lets `address` in (an empty list lets everyone in)."""
        if not self.allowed_cidrs:
            return True
        try:
            ip = ipaddress.ip_address(address or "")
        except ValueError:
            return False
        return any(ip.version == net.version and ip in net for net in self.allowed_cidrs)


async def authenticate(conn: asyncpg.Connection, token: str, generic_plans: bool = False) -> ApiClient | None:
    """The live client a bearer token names, or None (unknown, wrong secret, revoked, operator disabled); the
    caller answers every None the same way, so a token's owner is never hinted at.

    The same round trip puts `conn` in the client's row-level-security scope (radbill.db.pool.SET_SCOPE's
    setting) and, with `generic_plans` (admin.api.registry.ApiRoute.generic_plans), lets Postgres cache its
    plans, so a checkout serves the call with no query of its own. On None the caller must not use `conn` for
    anything but giving it back to its pool, whose reset (RESET ALL) puts both settings back."""
    prefix = split_token(token)
    if prefix is None:
        return None
    row = await conn.fetchrow(
        "SELECT k.*, set_config('radbill.scope_path', k.scope_path, false) AS _scoped,"
        "       set_config('plan_cache_mode', $2, false) AS _plans"
        "  FROM radbill_api_client($1) k", prefix, "auto" if generic_plans else "force_custom_plan")
    if row is None or not hmac.compare_digest(bytes(row["token_hash"]), token_hash(token)):
        return None
    if row["revoked_at"] is not None or not row["active"]:
        return None
    role = row["scope_kind"]  # the scope operator's own role limits what the client may do (Scope.can adds the subset)
    scope = Scope(None, row["scope_operator_id"], row["scope_path"], role, frozenset(row["permissions"]),
                  api_client_id=row["id"])
    return ApiClient(row["id"], row["name"], row["operator_id"], scope,
                     tuple(ipaddress.ip_network(c) for c in row["allowed_cidrs"]), row["last_used_at"])


async def mark_used(conn: asyncpg.Connection, client_id: int, ip: str | None) -> None:
    await conn.execute("SELECT radbill_api_client_used($1, $2::inet)", client_id, ip)


# ---- management (the admin's /api-clients pages) ------------------------------------------------------------

def parse_cidrs(text: str) -> list[str]:
    """One address or network per line or comma; ValueError with a sentence for the first bad one."""
    items = [part.strip() for line in (text or "").splitlines() for part in line.split(",") if part.strip()]
    if len(items) > MAX_CIDRS:
        raise ValueError(_("List at most %(n)s addresses or networks.", n=MAX_CIDRS))
    networks = []
    for item in items:
        try:
            networks.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            raise ValueError(_("%(value)s is not an address or network (write e.g. 203.0.113.7 or 203.0.113.0/24).",
                               value=item[:60])) from None
    return networks


def grantable(scope: Scope) -> list[str]:
    """The permissions `scope` may hand to a client: the ones it holds itself."""
    return [p for p in MANAGER_PERMISSIONS if scope.can(p)]


async def create_client(conn: asyncpg.Connection, scope: Scope, form, ip: str | None) -> tuple[asyncpg.Record, str]:
    """Validate and insert; returns (row, token). The token exists only in this return value."""
    errors = {}
    name = str(form.get("name", "") or "").strip()
    if not name or len(name) > 80:
        errors["name"] = _("Name the client (up to 80 characters), e.g. the system that will use it.")
    raw_scope = str(form.get("scope_operator_id", "") or "").strip()
    scope_operator = scope.operator_id
    if raw_scope:
        scope_operator = await conn.fetchval(
            "SELECT id FROM operators WHERE id = $1::bigint AND path <@ $2::ltree"
            " AND (id = $3 OR parent_id = $3)", int(raw_scope) if raw_scope.isdecimal() else -1, scope.path,
            scope.operator_id)
        if scope_operator is None:
            errors["scope_operator_id"] = _("Choose your own operator or one of your sub-operators.")
    permissions = list(dict.fromkeys(str(p) for p in (form.getall("permissions", []) if hasattr(form, "getall")
                                                       else form.get("permissions", []))))
    allowed = grantable(scope)
    if any(p not in allowed for p in permissions):
        errors["permissions"] = _("Choose only permissions your own login has.")
    elif not permissions:
        errors["permissions"] = _("Choose at least one permission.")
    try:
        cidrs = parse_cidrs(str(form.get("allowed_cidrs", "") or ""))
    except ValueError as exc:
        errors["allowed_cidrs"] = str(exc)
    if errors:
        raise ValidationError(_("Please correct the highlighted fields; nothing was saved."), errors)
    token, prefix, hashed = new_token()
    async with conn.transaction():
        row = await conn.fetchrow(
            "INSERT INTO api_clients (operator_id, scope_operator_id, name, permissions, allowed_cidrs, token_prefix,"
            " token_hash, created_by) VALUES ($1, $2, $3, $4, $5::cidr[], $6, $7, $8) RETURNING *",
            scope.operator_id, scope_operator, name, permissions, cidrs, prefix, hashed, scope.account_id)
        await audit.record(conn, scope, "api_client.create", "api_client", row["id"],
                           {"name": name, "scope_operator_id": scope_operator, "permissions": permissions,
                            "allowed_cidrs": cidrs}, ip)
    return row, token


async def list_clients(conn: asyncpg.Connection, scope: Scope) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT k.*, host(k.last_used_ip) AS last_used_ip_text, s.name AS scope_name, o.name AS operator_name"
        "  FROM api_clients k JOIN operators o ON o.id = k.operator_id JOIN operators s ON s.id = k.scope_operator_id"
        " WHERE o.path <@ $1::ltree ORDER BY k.revoked_at IS NOT NULL, k.id DESC", scope.path)


async def get_client(conn: asyncpg.Connection, scope: Scope, client_id: int) -> asyncpg.Record:
    row = await conn.fetchrow(
        "SELECT k.*, s.name AS scope_name FROM api_clients k JOIN operators o ON o.id = k.operator_id"
        "  JOIN operators s ON s.id = k.scope_operator_id WHERE k.id = $1 AND o.path <@ $2::ltree",
        client_id, scope.path)
    if row is None:
        raise NotFound(f"API client {client_id} was not found.")
    return row


async def revoke_client(conn: asyncpg.Connection, scope: Scope, client_id: int, ip: str | None) -> None:
    """Revoke at once: the next call with its token gets 401. Revoking twice changes nothing."""
    async with conn.transaction():
        row = await get_client(conn, scope, client_id)
        if row["revoked_at"] is not None:
            return
        await conn.execute("UPDATE api_clients SET revoked_at = now() WHERE id = $1", client_id)
        await audit.record(conn, scope, "api_client.revoke", "api_client", client_id, {"name": row["name"]}, ip,
                           operator_id=row["operator_id"])
