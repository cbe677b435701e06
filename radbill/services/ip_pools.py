"""IP pools: named IPv4 ranges of an operator (optionally on one of its routers), their usage, and the next free
address for a static-IP customer.

Overlaps are refused by the database (an exclusion constraint over the operator's ranges), so two staff saving at
once cannot both win. Free addresses are allocated under a per-pool advisory lock taken by
`radbill_next_free_ips`, inside the caller's transaction that saves the customers; the unique static_ip is the net.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping

import asyncpg

from radbill.errors import NotFound, ValidationError
from radbill.i18n import _
from radbill.services import audit
from radbill.tenancy import Scope

_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
MAX_SIZE = 1 << 20  # a /12: larger ranges are a typo, and the free-address search walks the range

_SELECT = """
    SELECT p.id, p.operator_id, p.nas_id, p.name, host(p.start_ip) AS start_ip, host(p.end_ip) AS end_ip,
           p.end_ip - p.start_ip + 1 AS size, p.description, o.name AS operator_name, n.shortname AS router_name
      FROM ip_pools p JOIN operators o ON o.id = p.operator_id LEFT JOIN nas n ON n.id = p.nas_id
"""


def parse_range(text: str) -> tuple[str, str]:
    """'10.0.0.10-10.0.0.200', '10.0.0.0/24' (its usable hosts) or one address → (first, last)."""
    text = text.strip().replace(" ", "")
    try:
        if "-" in text:
            first, last = (ipaddress.IPv4Address(part) for part in text.split("-", 1))
        elif "/" in text:
            net = ipaddress.IPv4Network(text, strict=False)
            hosts = (net.network_address + 1, net.broadcast_address - 1) if net.prefixlen <= 30 else (
                net.network_address, net.broadcast_address)
            first, last = hosts
        else:
            first = last = ipaddress.IPv4Address(text)
    except ValueError:
        raise ValueError(_("Enter a range like 10.10.0.10-10.10.0.200 or a network like 10.10.0.0/24.")) from None
    if first > last:
        raise ValueError(_("The first address must not come after the last one."))
    if int(last) - int(first) + 1 > MAX_SIZE:
        raise ValueError(_("A pool may hold at most %(count)s addresses; split it into smaller pools.",
                           count=MAX_SIZE))
    return str(first), str(last)


def pool_values(form: Mapping) -> dict:
    """Validate the pool form; ValidationError names each wrong field."""
    text = {k: str(form.get(k) or "").strip() for k in ("name", "range", "nas_id", "description")}
    errors: dict[str, str] = {}
    values: dict = {"name": text["name"], "nas_id": None, "description": text["description"][:200] or None}
    if not _NAME.match(values["name"]):
        errors["name"] = _("1–64 letters, digits, dot, dash or underscore (the pool's name on the router).")
    try:
        values["start_ip"], values["end_ip"] = parse_range(text["range"])
    except ValueError as exc:
        errors["range"] = str(exc)
    if text["nas_id"]:
        if not text["nas_id"].isdigit():
            errors["nas_id"] = _("Choose one of your routers or none.")
        else:
            values["nas_id"] = int(text["nas_id"])
    if errors:
        raise ValidationError(_("Please correct the pool."), errors)
    return values


async def list_pools(conn: asyncpg.Connection, scope: Scope, readable: bool = False) -> list[dict]:
    """Pools owned in the caller's subtree (or, `readable`, also its ancestors': a reseller's customers take
    addresses from its operator's pools), each with its usage."""
    rows = await conn.fetch(_SELECT + " WHERE o.path <@ $1::ltree OR ($2 AND o.path @> $1::ltree)"
                            " ORDER BY lower(p.name), p.id", scope.path, readable)
    usage = {r["pool_id"]: r for r in await conn.fetch(
        "SELECT * FROM radbill_ip_pool_usage($1::bigint[])", [r["id"] for r in rows])}
    out = []
    for row in rows:
        u = usage.get(row["id"])
        used = u["used"] if u else 0
        out.append({**dict(row), "sessions": u["sessions"] if u else 0, "statics": u["statics"] if u else 0,
                    "used": used, "free": row["size"] - used})
    return out


async def get_pool(conn: asyncpg.Connection, scope: Scope, pool_id: int, for_update: bool = False) -> asyncpg.Record:
    """A pool owned inside the caller's subtree; NotFound for a missing or foreign one."""
    row = await conn.fetchrow(_SELECT + " WHERE p.id = $1 AND o.path <@ $2::ltree"
                              + (" FOR UPDATE OF p" if for_update else ""), pool_id, scope.path)
    if row is None:
        raise NotFound("No such IP pool.")
    return row


async def _check_router(conn, scope: Scope, nas_id: int | None) -> None:
    if nas_id is not None and not await conn.fetchval(
            "SELECT 1 FROM nas n JOIN operators o ON o.id = n.operator_id WHERE n.id = $1 AND o.path <@ $2::ltree",
            nas_id, scope.path):
        raise ValidationError(_("Please correct the pool."), {"nas_id": _("Choose one of your routers or none.")})


async def _conflict(conn, operator_id: int, values: dict, pool_id: int | None) -> ValidationError:
    """The sentence for a refused save: which pool of the operator overlaps, or that the name is taken."""
    other = await conn.fetchrow(
        "SELECT name, host(start_ip) AS start_ip, host(end_ip) AS end_ip FROM ip_pools"
        " WHERE operator_id = $1 AND id IS DISTINCT FROM $4"
        "   AND inetrange(start_ip, end_ip, '[]') && inetrange($2::inet, $3::inet, '[]') LIMIT 1",
        operator_id, values["start_ip"], values["end_ip"], pool_id)
    if other:
        return ValidationError(_("Please correct the pool."), {"range": _(
            "Overlaps pool %(pool)s (%(first)s–%(last)s); pools may not share addresses.", pool=other["name"],
            first=other["start_ip"], last=other["end_ip"])})
    return ValidationError(_("Please correct the pool."), {"name": _("You already have a pool with this name.")})


async def create_pool(conn: asyncpg.Connection, scope: Scope, form: Mapping, ip: str | None = None) -> int:
    """A new pool owned by the caller's operator; returns its id."""
    values = pool_values(form)
    await _check_router(conn, scope, values["nas_id"])
    try:
        async with conn.transaction():
            pool_id = await conn.fetchval(
                "INSERT INTO ip_pools (operator_id, nas_id, name, start_ip, end_ip, description)"
                " VALUES ($1, $2, $3, $4::inet, $5::inet, $6) RETURNING id", scope.operator_id, values["nas_id"],
                values["name"], values["start_ip"], values["end_ip"], values["description"])
            await audit.record(conn, scope, "ip_pool.create", "ip_pool", pool_id, values, ip)
    except (asyncpg.ExclusionViolationError, asyncpg.UniqueViolationError):
        raise await _conflict(conn, scope.operator_id, values, None) from None
    return pool_id


async def update_pool(conn: asyncpg.Connection, scope: Scope, pool_id: int, form: Mapping,
                      ip: str | None = None) -> None:
    """Edit a pool (its owner stays)."""
    values = pool_values(form)
    old = await get_pool(conn, scope, pool_id)
    await _check_router(conn, scope, values["nas_id"])
    try:
        async with conn.transaction():
            await conn.execute(
                "UPDATE ip_pools SET nas_id = $2, name = $3, start_ip = $4::inet, end_ip = $5::inet,"
                " description = $6, updated_at = now() WHERE id = $1", pool_id, values["nas_id"], values["name"],
                values["start_ip"], values["end_ip"], values["description"])
            await audit.record(conn, scope, "ip_pool.edit", "ip_pool", pool_id, audit.changes(dict(old), values), ip,
                               operator_id=old["operator_id"])
    except (asyncpg.ExclusionViolationError, asyncpg.UniqueViolationError):
        raise await _conflict(conn, old["operator_id"], values, pool_id) from None


async def delete_pool(conn: asyncpg.Connection, scope: Scope, pool_id: int, ip: str | None = None) -> str:
    """Delete a pool (customers keep their addresses; only radbill's record of the range goes). Returns its name."""
    async with conn.transaction():
        old = await get_pool(conn, scope, pool_id, for_update=True)
        await conn.execute("DELETE FROM ip_pools WHERE id = $1", pool_id)
        await audit.record(conn, scope, "ip_pool.delete", "ip_pool", pool_id,
                           {"name": old["name"], "range": f"{old['start_ip']}-{old['end_ip']}"}, ip,
                           operator_id=old["operator_id"])
    return old["name"]


async def next_free_addresses(conn: asyncpg.Connection, pool_id: int, wanted: int) -> list[str]:
    """Up to `wanted` next free addresses of a pool the caller may read, lowest first, reserved for the rest of the
    caller's transaction (call it inside the transaction that saves the customers): radbill_next_free_ips, the one
    rule for a single save and the import alike. Fewer when the pool runs out; none for an unknown pool."""
    if not conn.is_in_transaction():
        raise RuntimeError("next_free_addresses must run inside the transaction that stores the addresses")
    return [r[0] for r in await conn.fetch(
        "SELECT host(t.address) FROM radbill_next_free_ips($1, $2) WITH ORDINALITY AS t(address, n) ORDER BY t.n",
        pool_id, wanted)]


async def no_address_left(conn: asyncpg.Connection, pool_id: int) -> ValidationError:
    """Why a customer got no address from this pool: it is not one the caller may use, or it is full."""
    name = await conn.fetchval("SELECT name FROM ip_pools WHERE id = $1", pool_id)
    if name is None:
        return ValidationError(_("Please correct the customer."), {"static_pool": _("Choose one of the pools.")})
    return ValidationError(_("Please correct the customer."), {"static_pool": _(
        "Pool %(pool)s has no free address left; choose another pool or enter an address.", pool=name)})


async def next_free_address(conn: asyncpg.Connection, pool_id: int) -> str:
    """The next free address of a pool the caller may read, reserved for the rest of the caller's transaction.
    ValidationError when the pool is unknown or full."""
    addresses = await next_free_addresses(conn, pool_id, 1)
    if not addresses:
        raise await no_address_left(conn, pool_id)
    return addresses[0]
