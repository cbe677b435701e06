"""Which sub-operator logins may import PPP secrets from which of their operator's routers.

Reading a router's secrets is router administration, which sub-operators do not have; an operator lends it for
one router to one login at a time (the import wizard only reads, it never changes the router). Grants are owned by
the router's operator, so the sub-operator can neither see nor change them; what it may read comes from the SQL
function radbill_granted_routers, which answers only for the signed-in account.
"""

from __future__ import annotations

import asyncpg

from radbill.errors import NotFound, ValidationError
from radbill.i18n import _
from radbill.services import audit
from radbill.services.routers import get_router
from radbill.tenancy import Scope

ACTIONS = ("grant", "revoke")


async def grantable_accounts(conn: asyncpg.Connection, scope: Scope, router_id: int) -> list[asyncpg.Record]:
    """The sub-operator logins below the router's operator, each with whether it holds the grant."""
    router = await get_router(conn, scope, router_id)
    return await conn.fetch(
        "SELECT a.id, a.username, a.full_name, o.name AS operator_name,"
        "       EXISTS (SELECT 1 FROM router_import_grants g WHERE g.nas_id = $1 AND g.account_id = a.id) AS granted"
        "  FROM accounts a JOIN operators o ON o.id = a.operator_id"
        "  JOIN operators owner ON owner.id = $2"
        " WHERE a.role = 'sub_operator' AND o.path <@ owner.path AND o.id <> owner.id"
        " ORDER BY lower(o.name), lower(a.username)", router_id, router["operator_id"])


async def set_import_grant(conn: asyncpg.Connection, scope: Scope, router_id: int, account_id: int | None,
                           action: str, ip: str | None = None) -> str:
    """Grant or revoke; returns the login's username. A repeated grant or revoke changes nothing."""
    async with conn.transaction():
        router = await get_router(conn, scope, router_id, for_update=True)
        accounts = {a["id"]: a for a in await grantable_accounts(conn, scope, router_id)}
        account = accounts.get(account_id)
        if account is None:
            raise NotFound("No such sub-operator login.")
        if action not in ACTIONS:
            raise ValidationError(_("Choose grant or revoke (reload the page and use its buttons)."))
        detail = {"username": account["username"], "router": router["shortname"]}
        if action == "grant" and not account["granted"]:
            await conn.execute("INSERT INTO router_import_grants (operator_id, nas_id, account_id, granted_by)"
                               " VALUES ($1, $2, $3, $4)", router["operator_id"], router_id, account_id,
                               scope.account_id)
            await audit.record(conn, scope, "router.import_grant", "router", router_id, detail, ip,
                               operator_id=router["operator_id"])
        elif action == "revoke" and account["granted"]:
            await conn.execute("DELETE FROM router_import_grants WHERE nas_id = $1 AND account_id = $2",
                               router_id, account_id)
            await audit.record(conn, scope, "router.import_revoke", "router", router_id, detail, ip,
                               operator_id=router["operator_id"])
    return account["username"]


async def granted_routers(conn: asyncpg.Connection, scope: Scope) -> list[asyncpg.Record]:
    """The routers the signed-in login was granted, with the API login the import uses."""
    if scope.account_id is None:
        return []
    return await conn.fetch("SELECT * FROM radbill_granted_routers($1)", scope.account_id)
